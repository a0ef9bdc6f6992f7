#!/usr/bin/env bash
# The GPU figures of the README, run on a GPU machine from the repository root with a pack
# from benches/gpu_pack.sh (no cargo needed there):
#
#   benches/gpu.sh <pack> [device] [quick]
#
# A `tests` pack: its test binaries with GMM_ZOO_DEVICE=<device>. A `bench` pack: the machine's
# adapters, `gmmzoo bench` on <device> for bsds16, mnist_full32 and bsds300_full200 — the two
# full GMMs with --export — then benches/torch_full_gmm.py (the same full-covariance EM in
# PyTorch float32 from the same rows and initial parameters) for those two, and one table of
# ours against PyTorch. [device]: a --device name, default vulkan (`flex` makes a CPU dry run);
# `quick` times fewer iterations. About 6 minutes on an H100 for the bench pack.
set -uo pipefail
pack=${1:?usage: benches/gpu.sh <pack> [device] [quick]}
dev=${2:-vulkan}
quick=${3:-}
out=/tmp/gmm-gpu
bin_dir=/tmp/gmm-gpu-bin
rm -rf "$out"
mkdir -p "$out" "$bin_dir"
# On the device tool's machine, the whole log also comes back as one file.
if [ -n "${OUT:-}" ]; then exec > >(tee "$OUT/gpu.log") 2>&1; fi
unpack() { python3 -c 'import lzma, shutil, sys
with lzma.open(sys.argv[1]) as src, open(sys.argv[2], "wb") as dst: shutil.copyfileobj(src, dst)' "$1" "$2" && chmod +x "$2"; }
echo "== machine: $(nproc) CPU cores; pack built with --features $(cat "$pack/feature" 2>/dev/null)"
nvidia-smi -L 2>/dev/null || echo "(no nvidia-smi)"
failed=0
if [ -d "$pack/tests" ]; then
  built_in=$(cat "$pack/built_in")
  if [ ! -e "$built_in" ]; then mkdir -p "$(dirname "$built_in")" && ln -s "$PWD" "$built_in"; fi
  for t in "$pack"/tests/*.xz; do
    name=$(basename "$t" .xz)
    unpack "$t" "$bin_dir/$name"
    start=$(date +%s)
    if GMM_ZOO_DEVICE=$dev "$bin_dir/$name" --test-threads 1 >"$out/test-$name.log" 2>&1; then
      echo "$name on $dev: $(grep -E '^test result' "$out/test-$name.log") ($(( $(date +%s) - start )) s)"
    else
      failed=1
      echo "$name on $dev: FAILED"
      grep -vE '^\s*$' "$out/test-$name.log" | tail -n 40
    fi
  done
fi
if [ -f "$pack/gmmzoo.xz" ]; then
  bin=$bin_dir/gmmzoo
  unpack "$pack/gmmzoo.xz" "$bin"
  "$bin" devices
  if [ -n "$quick" ]; then iters=(10 2 2); peer_iters=3; else iters=(50 5 5); peer_iters=6; fi
  configs=(bsds16 mnist_full32 bsds300_full200)
  rows=()
  for i in 0 1 2; do
    c=${configs[$i]}
    echo "== bench $c on $dev (${iters[$i]} iterations)"
    export_dir=""
    [ "$c" != bsds16 ] && export_dir="$out/peer-$c"
    "$bin" bench "configs/$c.toml" --data-dir "$pack/data" --devices "$dev" --iters "${iters[$i]}" \
      --reps 5 ${export_dir:+--export "$export_dir"} 2>&1 | grep -v XDG_RUNTIME | tee "$out/bench-$c.log" || failed=1
    if [ -n "$export_dir" ] && [ -f "$export_dir/ours.json" ]; then
      if python3 -c 'import torch' 2>/dev/null; then
        echo "== PyTorch peer of $c"
        PYTHONUNBUFFERED=1 python3 benches/torch_full_gmm.py "$export_dir" "$peer_iters" | tee "$out/peer-$c.log"
        rows+=("$(grep '^|' "$out/peer-$c.log")")
      else
        echo "(no PyTorch here: peer of $c skipped)"
      fi
      rm -f "$export_dir/data.npy"
    fi
  done
  echo "== ours vs PyTorch: seconds per EM iteration (medians) and iterations 1-3's log-likelihoods (ours/peer)"
  echo "| workload | our device | ours | PyTorch | ours / PyTorch | log-likelihood, iterations 1-3 |"
  echo "|---|---|---|---|---|---|"
  for r in "${rows[@]}"; do echo "$r"; done
  grep -h "EM median\|M-step" "$out"/bench-*.log
fi
exit $failed
