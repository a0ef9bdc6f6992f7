#!/usr/bin/env bash
# Seconds of one EM iteration of the deep GMM [200, 4, 8] (soft beam of 32, 200 Adam steps per
# M-step, floor 3e-8: stage 8 of configs/bsds300_deep_best.toml) on the benchmark's first
# 1,000,000 BSDS300 training rows, started from the shipped bsds300_deep_best, for each gmmzoo
# binary given, one after another in one run. Each run is stopped once its first iteration is
# logged (the exact evaluation that ends a training run is not timed). Prints per binary the
# iteration's seconds, the M-step's, the E-step's (the rest), the process's CPU use up to then
# (process CPU / wall, data loading included) and the log-likelihood, which must not depend on
# the build.
#
#   benches/deep_iteration.sh <data-root> <gmmzoo> [<gmmzoo> …]      (N_TRAIN=1000000 by default)
#
# The M-step's arithmetic: each Adam step evaluates Q and its gradient with four D×D×D products
# per path (K = 6,400, D = 63): 4 · 6,400 · 2 · 63³ = 12.8 GFLOP, for 201 evaluations (the
# start and 200 steps; more where a step is undone).
set -euo pipefail
root=${1:?usage: benches/deep_iteration.sh <data-root> <gmmzoo> [<gmmzoo> …]}
shift
[ $# -ge 1 ] || { echo "name at least one gmmzoo binary" >&2; exit 1; }
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/deep_iteration.toml" <<EOF
name = "deep_iteration"
seed = 1
[data]
dataset = "bsds300"
n_train = ${N_TRAIN:-1000000}
n_test = 1000
[model]
kind = "deep"
nodes = [200, 4, 8]
e_step = "soft_beam"
beam = 32
reg_covar = 3e-8
m_step_iters = 200
init_noise = 1e-6
widen_from = "$here/checkpoints/bsds300_deep_best"
[em]
max_iter = 1
tol = 0.0
batch_size = 8192
[checkpoint]
every = 100
EOF
ticks=$(getconf CLK_TCK)
for bin in "$@"; do
    log="$work/log"
    start=$(date +%s.%N)
    "$bin" train "$work/deep_iteration.toml" --data-dir "$root" --out "$work/run" --overwrite \
        > "$log" 2>&1 &
    pid=$!
    until grep -q "^iter *1/1" "$log" 2>/dev/null; do
        kill -0 "$pid" 2>/dev/null || { echo "$bin stopped before its first iteration:"; cat "$log"; exit 1; }
        sleep 0.2
    done
    wall=$(echo "$(date +%s.%N) - $start" | bc)
    read -r utime stime < <(awk '{print $14, $15}' "/proc/$pid/stat")
    kill "$pid"; wait "$pid" 2>/dev/null || true
    line=$(grep "^iter *1/1" "$log")
    iter_s=$(echo "$line" | awk '{print $(NF-1)}')
    m_s=$(echo "$line" | sed -E 's/.*steps, ([0-9.]+) s\).*/\1/')
    ll=$(echo "$line" | awk '{print $4}')
    cpu=$(echo "100 * ($utime + $stime) / $ticks / $wall" | bc)
    e_s=$(echo "$iter_s - $m_s" | bc)
    gflops=$(echo "201 * 12.8 / $m_s" | bc)
    echo "$bin: iteration ${iter_s} s = E-step ${e_s} s + M-step ${m_s} s (about ${gflops} GFLOP/s);" \
         "CPU ${cpu} % of wall up to then; log-likelihood ${ll} nats/sample"
done
