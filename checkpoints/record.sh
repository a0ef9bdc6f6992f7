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
zoo add runs/quickstart --ship --data-dir data/sample
zoo add runs/mnist_full_sample --data-dir data/sample
for n in bsds8 bsds16 mnist32 mnist128; do zoo add "runs/$n" --ship --data-dir "$root"; done
zoo add runs/mnist_full32 --data-dir "$root"
for n in mnist_stack_std mnist_stack_raw mnist_stack_prob classify_conv; do
  zoo add "runs/$n" --ship --data-dir "$root"
done
for n in classify_full classify_best; do zoo add "runs/$n" --data-dir "$root"; done
zoo add runs/bsds300_gauss --ship --data-dir "$root"
zoo add runs/bsds300_full200 --ship --data-dir "$root"
zoo add runs/bsds300_full300 --ship --data-dir "$root"
zoo add runs/mnist_full32_kmeans --data-dir "$root"
# Shipped: bsds300_deep3_kmeans200 starts from it (first_layer).
zoo add runs/bsds300_full200_kmeans --ship --data-dir "$root"
# 3_flat200_long warm-starts from the shipped 3_flat200, 3_kmeans200_wide_long from the
# shipped 3_kmeans200_wide, 3_kmeans200_wide_3m from the shipped 3_kmeans200_wide_long and
# 3_kmeans200_wide_6m from the shipped 3_kmeans200_wide_3m, 3_kmeans200_wide_6m_lowreg from
# the shipped 3_kmeans200_wide_6m, 3_kmeans200_wide_6m_lowreg_m400 from the shipped
# 3_kmeans200_wide_6m_lowreg, 3_kmeans200_wide_6m_reg3e8 from the shipped
# 3_kmeans200_wide_6m_lowreg_m400, 3_kmeans200_wide_6m_reg3e8_long from the shipped
# 3_kmeans200_wide_6m_reg3e8, 3_kmeans200_wider_6m widens the shipped
# 3_kmeans200_wide_6m_reg3e8_long (widen_from) and 3_kmeans200_wider_6m_long warm-starts from
# the shipped 3_kmeans200_wider_6m, so each is trained after the one it continues is shipped.
for n in 3 2 1 3_long 2_soft 3_wide 3_wide_soft 3_flat200 3_kmeans200 3_flat200_long \
  3_kmeans200_wide 3_kmeans200_wide_long 3_kmeans200_wide_3m 3_kmeans200_wide_6m \
  3_kmeans200_wide_6m_lowreg 3_kmeans200_wide_6m_lowreg_m400 3_kmeans200_wide_6m_reg3e8 \
  3_kmeans200_wide_6m_reg3e8_long 3_kmeans200_wider_6m 3_kmeans200_wider_6m_long; do
  zoo add "runs/bsds300_deep$n" --ship --data-dir "$root"
done
zoo table --write README.md
zoo verify --strict --data-dir "$root"
