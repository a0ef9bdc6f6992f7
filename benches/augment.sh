#!/usr/bin/env bash
# Does augmenting the BSDS300 training patches with the square's symmetries help the test
# images? The README's measurement ("The deep GMM: depth as a density", point (9) of the
# target paragraph), in one run: a flat full GMM (100 components, Lloyd-started, 20 iterations)
# with `augment` = none, mirror and dihedral, then the deep GMM `nodes = [200, 2, 2]` on the
# shipped `bsds300_full200_kmeans` (exact EM, 6 iterations) with none and mirror. Every run
# draws 1,000,000 training rows (seed 1) and scores the benchmark's 250,000 untouched test rows.
#
#   benches/augment.sh <data-root> [threads]
#
# The five runs take about 75 minutes one after another on 2 cores; they print one line each
# (train and test nats per sample, wall time, CPU utilisation).
set -euo pipefail
cd "$(dirname "$0")/.."
root=${1:?usage: benches/augment.sh <data-root> [threads]}
threads=${2:-2}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/gmm-zoo-target}"
cargo build --release --locked --quiet
bin="$CARGO_TARGET_DIR/release/gmmzoo"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# config <name> <augment> <model table> <em table>
config() {
  cat >"$work/$1.toml" <<EOF
name = "$1"
seed = 1

[data]
dataset = "bsds300"
n_train = 1000000
n_test = 250000
augment = "$2"

[model]
$3

[em]
$4

[output]
top_from = "test"
EOF
}
flat='kind = "full"
n_components = 100
reg_covar = 1e-6'
flat_em='max_iter = 20
tol = 1e-3
batch_size = 8192
init = "kmeans"'
deep="kind = \"deep\"
nodes = [200, 2, 2]
e_step = \"soft\"
first_layer = \"$PWD/checkpoints/bsds300_full200_kmeans\""
deep_em='max_iter = 6
tol = 0.0
batch_size = 8192'
for a in none mirror dihedral; do config "flat100_$a" "$a" "$flat" "$flat_em"; done
for a in none mirror; do config "deep222_$a" "$a" "$deep" "$deep_em"; done

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
for run in flat100_none flat100_mirror flat100_dihedral deep222_none deep222_mirror; do
  /usr/bin/time -f "%e %P" -o "$work/$run.time" "$bin" train "$work/$run.toml" --data-dir "$root" \
    --out "$work/runs/$run" --threads "$threads" --quiet >"$work/$run.log"
  read -r wall cpu <"$work/$run.time"
  figures=$(python3 -c "import json,sys; m=json.load(open(sys.argv[1])); \
print(f\"train {m['train']['nats_per_sample']:.4f}  test {m['test']['nats_per_sample']:.4f}\")" \
    "$work/runs/$run/metrics.json")
  echo "$run: $figures nats  ($wall s wall, $cpu CPU)"
done
