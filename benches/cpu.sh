#!/usr/bin/env bash
# The CPU figures of the README, in one run: `gmmzoo bench` for bsds16, mnist_full32 and
# bsds300_full200 at 1 and 2 worker threads (seconds per EM iteration, CPU utilisation), then
# the numpy and scikit-learn peers in the same session.
#
#   benches/cpu.sh <data-root> [quick]
#
# `quick` times fewer iterations (bsds16 10, mnist_full32 2, bsds300_full200 1) and skips
# scikit-learn (about 4 minutes in all instead of about 15). The peers need numpy, pillow,
# scikit-learn, threadpoolctl and (for scikit-learn's best setting) daz from PyPI. They run
# with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (some machines set them for old OpenBLAS
# builds; they slow a current numpy), for the peers' commands only.
set -euo pipefail
cd "$(dirname "$0")/.."
root=${1:?usage: benches/cpu.sh <data-root> [quick]}
quick=${2:-}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/gmm-zoo-target}"
cargo build --release --locked --quiet
bin="$CARGO_TARGET_DIR/release/gmmzoo"
if [ -n "$quick" ]; then iters=(10 2 1); else iters=(50 3 2); fi
configs=(bsds16 mnist_full32 bsds300_full200)
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
for i in 0 1 2; do
  for threads in 1 2; do
    echo "== ${configs[$i]}, $threads thread(s)"
    "$bin" bench "configs/${configs[$i]}.toml" --data-dir "$root" --iters "${iters[$i]}" \
      --reps 3 --threads "$threads" | grep -E 'worker threads|data:|EM median|E-step pass|peak'
  done
done
peer() { env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 "$@"; }
echo "== numpy peer of bsds16 (whole job, 2 BLAS threads)"
peer benches/numpy_conv_gmm.py "$root" "${iters[0]}"
if [ -z "$quick" ]; then
  echo "== scikit-learn peer of mnist_full32 (float64)"
  peer benches/sklearn_full_gmm.py "$root" float64 2
fi
