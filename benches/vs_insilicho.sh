#!/usr/bin/env bash
# Time one 14-day mabtwin batch (15-min sensor output) against InSiliCHO's GrowCHO 12-day
# run, side by side on the same machine. Installs insilicho into a throw-away virtualenv
# under target/ (not part of `make test`). Usage: benches/vs_insilicho.sh [N_REPEATS [ROUNDS]]
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-20}"
VENV=target/bench-venv
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet "insilicho==1.1.4" matplotlib  # insilicho imports matplotlib without declaring it
# Only the simulator's example is needed (no libtorch).
cargo build --release --quiet -p sim --example bench_run
ROUNDS="${2:-5}"
# Alternate the two sides in ROUNDS rounds inside one Python process (ours through a
# subprocess that times N runs in-process, theirs N runs in-process), so slow drift of the
# machine hits both; the fastest round of each side is the least disturbed.
"$VENV/bin/python" - "$N" "$ROUNDS" <<'PY'
import subprocess, sys, time
from insilicho import run
n, rounds = int(sys.argv[1]), int(sys.argv[2])
def F(t): return 0.003
def T(t): return 36.4
def theirs():
    t0 = time.perf_counter()
    for _ in range(n):
        run.GrowCHO({"parameters": {"K_lys": "0.05 1/h"}}, feed_fn=F, temp_fn=T, param_rel_stddev=0.0).execute(
            initial_conditions={"V": "50 mL"}, sampling_stddev=0.0)
    return (time.perf_counter() - t0) / n * 1000.0
def ours():
    out = subprocess.run(["./target/release/examples/bench_run", str(n)], capture_output=True, text=True, check=True)
    return float(out.stdout.split()[0])
best_o = best_t = float("inf")
for r in range(1, rounds + 1):
    o, t = ours(), theirs()
    best_o, best_t = min(best_o, o), min(best_t, t)
    print(f"round {r}: mabtwin {o:.1f} ms/run, insilicho {t:.1f} ms/run, ratio {t/o:.1f}x")
print(f"mabtwin sim::simulate (14 d, 15-min output, in-process), fastest round: {best_o:.1f} ms/run")
print(f"insilicho GrowCHO (12 d, in-process), fastest round:                    {best_t:.1f} ms/run")
print(f"ratio insilicho/mabtwin (fastest rounds): {best_t/best_o:.1f}x")
PY
