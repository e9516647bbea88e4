#!/usr/bin/env bash
# The twin's CNN-LSTM in tch (Rust) against the same architecture in PyTorch 2.11.0, side by
# side on the same thread count: train step at batch 64 and inference on 1,000 windows.
# Not part of `make test`. Installs torch 2.11.0 into a throw-away virtualenv (a large
# download: the PyPI wheel with its CUDA dependencies; the run itself is CPU-only).
#
# Usage: benches/vs_pytorch.sh [THREADS]      (default 2)
# The ratio tch/PyTorch is printed per architecture (goal ≤ 1.0: tch no slower).
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS="${1:-2}"
VENV="${VENV:-target/bench-venv-torch}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet "torch==2.11.0" numpy
fi
make setup >/dev/null
echo "== tch (cargo run --release -p twin --example step_bench -- $THREADS)"
RUST=$(cargo run --quiet --release --locked -p twin --example step_bench -- "$THREADS")
echo "$RUST"
echo "== PyTorch $("$VENV/bin/python" -c 'import torch; print(torch.__version__)') (benches/twin_pytorch.py $THREADS)"
PY=$(CUDA_VISIBLE_DEVICES="" "$VENV/bin/python" benches/twin_pytorch.py "$THREADS")
echo "$PY"
echo "== ratio tch / PyTorch (lower is better for tch)"
for arch in cnn_lstm lstm; do
  r=$(echo "$RUST" | awk -v a="$arch" '$1==a {print $8, $13}')
  p=$(echo "$PY" | awk -v a="$arch" '$1==a {print $8, $13}')
  read -r rs ri <<<"$r"; read -r ps pi <<<"$p"
  awk -v a="$arch" -v rs="$rs" -v ps="$ps" -v ri="$ri" -v pi="$pi" \
    'BEGIN { printf "%-9s train step %.2f   inference %.2f\n", a, rs/ps, ri/pi }'
done
