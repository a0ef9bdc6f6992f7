#!/usr/bin/env bash
# Records every trained run of runs/ in checkpoints/manifest.toml (in table order), copying in
# those small enough to ship, then rewrites the README's results table. Train the runs first:
#   gmmzoo train configs/<name>.toml --data-dir <root>     (gmmzoo classify for classify_*)
# Usage: checkpoints/record.sh <full data root>
set -euo pipefail
root=${1:?usage: checkpoints/record.sh <full data root>}
cd "$(dirname "$0")/.."
zoo() { cargo run --release --quiet -- zoo "$@"; }
rm -f checkpoints/manifest.toml
zoo add runs/quickstart --ship --overwrite --data-dir data/sample
zoo add runs/mnist_full_sample --data-dir data/sample
for n in bsds8 bsds16 mnist32 mnist128; do zoo add "runs/$n" --ship --overwrite --data-dir "$root"; done
zoo add runs/mnist_full32 --data-dir "$root"
for n in mnist_stack_std mnist_stack_raw mnist_stack_prob classify_conv; do
  zoo add "runs/$n" --ship --overwrite --data-dir "$root"
done
for n in classify_full classify_best; do zoo add "runs/$n" --data-dir "$root"; done
zoo add runs/bsds300_gauss --ship --overwrite --data-dir "$root"
zoo add runs/bsds300_full200 --ship --overwrite --data-dir "$root"
zoo add runs/mnist_full32_kmeans --data-dir "$root"
zoo add runs/bsds300_full200_kmeans --ship --overwrite --data-dir "$root"
for n in 3 2 1 2_soft; do zoo add "runs/bsds300_deep$n" --ship --overwrite --data-dir "$root"; done
# Staged (configs/bsds300_deep_best.toml): about 15 hours on 2 cores; `--resume` goes on after
# a stop.
zoo add runs/bsds300_deep_best --ship --overwrite --data-dir "$root"
# Staged on the protocol's rows only (configs/bsds300_deep_protocol.toml): about 5.3 hours.
zoo add runs/bsds300_deep_protocol --ship --overwrite --data-dir "$root"
# The two BSDS300 models averaged over the square's eight symmetries (re-recording drops them).
for n in bsds300_full200_kmeans bsds300_deep_protocol; do
  zoo symmetric "$n" --symmetry dihedral --data-dir "$root"
done
zoo table --write README.md
zoo verify --strict --data-dir "$root"
