#!/usr/bin/env bash
# The GMM libraries users pick today against gmm-zoo, on the same rows from the same start, in
# one run: scikit-learn, pomegranate (PyTorch), GMMX (JAX) and PyCave (PyTorch), CPU only.
#
#   benches/peers.sh <data-root> [iterations] [config ...]
#
# For each config (default: mnist_full32 and bsds300_full200), `gmmzoo bench --export` times
# iterations + 1 of our EM iterations and writes the rows and its start; benches/peers.py then
# runs each peer for `iterations` (default 2) from that start and scores its result. The peers
# are installed from PyPI into two venvs under $PEERS_VENV (default ~/.cache/gmm-zoo-peers):
# PyCave pins numpy < 2, which JAX refuses, so it has its own. Without the registry the peers
# are skipped with a message. PEERS picks some (default: "sklearn pomegranate gmmx pycave").
# OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are unset for the peers.
set -euo pipefail
cd "$(dirname "$0")/.."
root=${1:?usage: benches/peers.sh <data-root> [iterations] [config ...]}
iters=${2:-2}
shift $(( $# > 1 ? 2 : 1 ))
configs=("$@")
[ ${#configs[@]} -gt 0 ] || configs=(mnist_full32 bsds300_full200)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/gmm-zoo-target}"
cargo build --release --locked --quiet
bin="$CARGO_TARGET_DIR/release/gmmzoo"
venvs=${PEERS_VENV:-$HOME/.cache/gmm-zoo-peers}
install() {
  local venv=$1; shift
  [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "$1" 2>/dev/null && return 0
  python3 -m venv "$venv" && "$venv/bin/pip" install -q "${@:2}"
}
if ! install "$venvs/main" "import sklearn, daz, pomegranate, gmmx, jax" \
    "numpy>=2" scikit-learn daz pomegranate gmmx jax; then
  echo "peers skipped: scikit-learn, pomegranate, gmmx and jax could not be installed from PyPI"
  exit 0
fi
peers=(${PEERS:-sklearn pomegranate gmmx pycave})
pycave="pycave=$venvs/pycave/bin/python"
if [[ " ${peers[*]} " == *" pycave "* ]] && ! install "$venvs/pycave" "from pycave.bayes import GaussianMixture" \
    pycave "setuptools<70" six; then
  echo "PyCave skipped: it could not be installed from PyPI"
  pycave=""
fi
list=()
for p in "${peers[@]}"; do
  case $p in
    pycave) [ -n "$pycave" ] && list+=("$pycave") ;;
    *) list+=("$p") ;;
  esac
done
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
for config in "${configs[@]}"; do
  dir=$(mktemp -d)
  echo "== $config: gmmzoo, $((iters + 1)) iterations"
  "$bin" bench "configs/$config.toml" --data-dir "$root" --iters $((iters + 1)) --reps 1 \
    --devices flex --export "$dir" | grep -E 'EM median|peak'
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$venvs/main/bin/python" benches/peers.py \
    "$dir" "$iters" "${list[@]}"
  rm -rf "$dir"
done
