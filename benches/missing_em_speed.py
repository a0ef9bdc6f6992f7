"""Seconds per EM iteration of a full GMM on BSDS300 rows with values missing at random.

The rows and the removal are those of `benches/missing_values.py` (training rows, the
fraction removed with seed 11, at least one value kept per row). Each repetition fits
`gmmzoo.GaussianMixture(K, tol=0)` for 1 and for `iters + 1` iterations; the difference over
`iters` is one EM iteration's time, without the start. Prints each repetition, the median, the
CPU use (process CPU / wall) and the test log-likelihood ± its standard error, which must not
depend on the build: run it with two builds of the package (PYTHONPATH) to compare them.

    python benches/missing_em_speed.py <data-root> [n_train=50000] [fraction=0.3] [K=10]
        [iters=20] [reps=3]
"""

import statistics
import sys
import time

import gmmzoo
from missing_values import removed, rows, score


def fit(x, k, iterations):
    wall, cpu = time.perf_counter(), time.process_time()
    model = gmmzoo.GaussianMixture(k, max_iter=iterations, tol=0.0, reg_covar=1e-6,
                                   random_state=0).fit(x)
    return model, time.perf_counter() - wall, time.process_time() - cpu


def main():
    root = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 50000
    fraction = float(sys.argv[3]) if len(sys.argv) > 3 else 0.3
    k = int(sys.argv[4]) if len(sys.argv) > 4 else 10
    iters = int(sys.argv[5]) if len(sys.argv) > 5 else 20
    reps = int(sys.argv[6]) if len(sys.argv) > 6 else 3
    train, test = rows(root, n, 20000)
    x = removed(train, fraction, 11)
    per, usage = [], []
    for rep in range(reps):
        _, wall1, cpu1 = fit(x, k, 1)
        model, wall, cpu = fit(x, k, iters + 1)
        per.append((wall - wall1) / iters)
        usage.append((cpu - cpu1) / (wall - wall1))
        print(f"repetition {rep + 1}: {per[-1]:.4f} s per EM iteration at {usage[-1]:.0%} CPU",
              flush=True)
    ll, se = score(model, test)
    print(f"{n} rows, {fraction:.0%} missing, K = {k}: median {statistics.median(per):.4f} s per "
          f"EM iteration ({statistics.median(usage):.0%} CPU); after {iters + 1} iterations "
          f"test {ll:.4f} ± {se:.4f} nats, bound {model.lower_bound_:.4f}")


if __name__ == "__main__":
    main()
