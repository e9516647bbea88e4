#!/usr/bin/env bash
# Time one 14-day mabtwin batch (15-min sensor output) against InSiliCHO's GrowCHO 12-day
# run, side by side on the same machine. Installs insilicho into a throw-away virtualenv
# under target/ (not part of `make test`). Usage: benches/vs_insilicho.sh [N_REPEATS]
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-20}"
VENV=target/bench-venv
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet "insilicho==1.1.4" matplotlib  # insilicho imports matplotlib without declaring it
cargo build --release --quiet
cargo build --release --quiet -p sim --example bench_run
ours_ms=$(./target/release/examples/bench_run "$N")
ours=$(python3 -c "print($ours_ms/1000)")
theirs=$("$VENV/bin/python" - "$N" <<'PY'
import sys, time
from insilicho import run
n = int(sys.argv[1])
def F(t): return 0.003
def T(t): return 36.4
t0 = time.perf_counter()
for _ in range(n):
    run.GrowCHO({"parameters": {"K_lys": "0.05 1/h"}}, feed_fn=F, temp_fn=T, param_rel_stddev=0.0).execute(
        initial_conditions={"V": "50 mL"}, sampling_stddev=0.0)
print((time.perf_counter() - t0) / n)
PY
)
python3 - "$ours" "$theirs" <<'PY'
import sys
ours, theirs = map(float, sys.argv[1:3])
print(f"mabtwin sim::simulate (14 d, 15-min output, in-process):      {ours*1000:.1f} ms/run")
print(f"insilicho GrowCHO (12 d, in-process):                          {theirs*1000:.1f} ms/run")
print(f"ratio insilicho/mabtwin: {theirs/ours:.1f}x")
PY
