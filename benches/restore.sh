#!/usr/bin/env bash
# EPLL denoising with a zoo prior on the first N BSDS300 test images (name order), gray by
# Rec. 601 as the benchmark makes them, white Gaussian noise of seed 0 at σ = 15, 25, 50 (gray
# levels): each σ's mean PSNR and SSIM over the images, the seconds per image and the CPU
# utilisation of the run (process CPU / wall), from one command each.
#
#   benches/restore.sh <data-root> [N=10] [prior=bsds300_full200_kmeans]
set -euo pipefail
root=${1:?usage: benches/restore.sh <data-root> [N] [prior]}
n=${2:-10}
prior=${3:-bsds300_full200_kmeans}
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/gmm-zoo-target}"
cargo build --release --locked --quiet
bin="$CARGO_TARGET_DIR/release/gmmzoo"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/images"
mapfile -t images < <(find "$root/bsds300/test" -maxdepth 1 -name '*.jpg' | sort)
cp "${images[@]:0:$n}" "$work/images/"
echo "prior $prior, $(ls "$work/images" | wc -l) images of $root/bsds300/test, $(nproc) cores"
for sigma in 15 25 50; do
  /usr/bin/time -f "%e %P" -o "$work/time" "$bin" restore "$prior" "$work/images" --sigma "$sigma" \
    --gray --noise-seed 0 --out "$work/s$sigma" --quiet >"$work/log"
  read -r wall cpu <"$work/time"
  python3 - "$work/s$sigma/restore.json" "$sigma" "$wall" "$cpu" <<'PY'
import json, statistics, sys
rows = json.load(open(sys.argv[1]))
psnr = [r["psnr"][1] for r in rows]
ssim = [r["ssim"][1] for r in rows]
secs = [r["seconds"] for r in rows]
se = statistics.stdev(psnr) / len(psnr) ** 0.5 if len(psnr) > 1 else float("nan")
print(f"sigma {sys.argv[2]:>2}: PSNR {statistics.mean(psnr):.2f} ± {se:.2f} dB "
      f"(noisy {statistics.mean(r['psnr'][0] for r in rows):.2f}), SSIM {statistics.mean(ssim):.4f}, "
      f"{statistics.median(secs):.1f} s per image (median), run {sys.argv[3]} s at {sys.argv[4]} CPU")
PY
done
