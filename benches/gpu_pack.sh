#!/usr/bin/env bash
# Builds what benches/gpu.sh runs on a GPU machine that has no Rust toolchain, and packs it
# into a folder to carry there (the device tool: `carry: [".gpu"]`; add the folder to
# .git/info/exclude). The carry limit (64 MiB with the repository) takes one of two packs:
#
#   benches/gpu_pack.sh <data-root> bench [feature] [folder]   # gmmzoo + the training data
#   benches/gpu_pack.sh <data-root> tests [feature] [folder]   # three GPU test binaries
#
# feature: vulkan (default; CubeCL's SPIR-V compiler) or wgpu (WGSL kernels, what CI tests);
# folder: default .gpu. Binaries are release builds, stripped and xz-compressed (86 MB →
# 13 MB each); the bench pack holds MNIST's training digits and BSDS300's training images
# (24 MB). Everything is x86-64 Linux, as the GPU machine is.
set -euo pipefail
cd "$(dirname "$0")/.."
root=${1:?usage: benches/gpu_pack.sh <data-root> bench|tests [feature] [folder]}
what=${2:?usage: benches/gpu_pack.sh <data-root> bench|tests [feature] [folder]}
feature=${3:-vulkan}
out=${4:-.gpu}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/gmm-zoo-target}"
rm -rf "$out"
mkdir -p "$out"
echo "$feature" >"$out/feature"
pack() { strip -o "$out/$2" "$1" && xz -T0 -6 "$out/$2"; }
case $what in
  bench)
    cargo build --release --locked --features "$feature" --quiet
    pack "$CARGO_TARGET_DIR/release/gmmzoo" gmmzoo
    mkdir -p "$out/data/mnist" "$out/data/bsds300"
    cp "$root"/mnist/train-*.gz "$out/data/mnist/"
    cp -r "$root/bsds300/train" "$out/data/bsds300/"
    ;;
  tests)
    # The test binaries find the shipped sample through the path they were built in.
    pwd >"$out/built_in"
    for t in full_gmm conv_density em; do
      exe=$(cargo test --release --locked --features "$feature" --no-run --test "$t" \
              --message-format json 2>/dev/null |
            python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable"):
        print(m["executable"])' | tail -n 1)
      mkdir -p "$out/tests"
      pack "$exe" "tests/$t"
    done
    ;;
  *) echo "benches/gpu_pack.sh: the second argument is bench or tests, not '$what'" >&2; exit 1 ;;
esac
du -sh "$out"
