"""Stepwise EM (``partial_fit`` over chunks) against batch EM, pass by pass, on BSDS300 rows.

Both start from the same parameters: one batch EM iteration from a k-means++ start on the
training rows. Then, for `passes` passes over the training rows:

- batch EM: one EM iteration per pass (``GaussianMixture`` with ``warm_start=True``,
  ``max_iter=1``);
- stepwise EM: ``partial_fit`` on consecutive chunks of `chunk` rows (one M-step per chunk,
  step size ``η_k = (k + 2)^(−α)``, α = `alpha`); with `switch` = S > 0, stepwise for S passes
  and batch EM from its model after that (``fit`` with ``warm_start=True``, ``max_iter=1``).

After every pass each is scored on the held-out rows (mean log-likelihood ± standard error
over rows); the table gives the held-out figure and the seconds spent fitting so far
(scoring not counted), and the run's CPU utilisation (process CPU / wall). The held-out
rows are only reported: nothing is chosen on them.

    python benches/stepwise_vs_batch.py <data-root> [n_train=1000000] [n_held_out=50000]
        [K=50] [passes=8] [chunk=65536] [alpha=0.7] [switch=0]
"""

import copy
import json
import sys
import time

import numpy as np

import gmmzoo


def rows(root, n_train, n_test):
    text = f'seed = 1\n[data]\ndataset = "bsds300"\nn_train = {n_train}\nn_test = {n_test}\n'
    train = gmmzoo.load_data(text, "train", root)[0].astype(np.float64)
    test = gmmzoo.load_data(text, "test", root)[0].astype(np.float64)
    return train, test


def held_out(est, x):
    ll = est.score_samples(x)
    return float(ll.mean()), float(ll.std(ddof=1) / np.sqrt(len(ll)))


def main():
    args = sys.argv[1:]
    root = args[0]
    n_train, n_test, k, passes, chunk = (
        int(a) for a in (args[1:6] + ["1000000", "50000", "50", "8", "65536"][len(args[1:6]) :])
    )
    alpha = float(args[6]) if len(args) > 6 else 0.7
    switch = int(args[7]) if len(args) > 7 else 0
    train, test = rows(root, n_train, n_test)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    t = time.perf_counter()
    start = gmmzoo.GaussianMixture(
        k, init_params="k-means++", max_iter=1, tol=0.0, random_state=0, step_alpha=alpha
    ).fit(train)
    start_seconds = time.perf_counter() - t
    batch, online = copy.deepcopy(start), copy.deepcopy(start)
    batch.warm_start = True
    table = [{"pass": 0, "batch": held_out(start, test), "stepwise": held_out(start, test),
              "batch_s": 0.0, "stepwise_s": 0.0}]
    spent = {"batch": 0.0, "stepwise": 0.0}
    for p in range(1, passes + 1):
        t = time.perf_counter()
        batch.fit(train)
        spent["batch"] += time.perf_counter() - t
        t = time.perf_counter()
        if switch and p > switch:
            online.set_params(warm_start=True, max_iter=1, tol=0.0)
            online.fit(train)
        else:
            for s in range(0, len(train), chunk):
                online.partial_fit(train[s : s + chunk])
        spent["stepwise"] += time.perf_counter() - t
        row = {"pass": p, "batch": held_out(batch, test), "stepwise": held_out(online, test),
               "batch_s": spent["batch"], "stepwise_s": spent["stepwise"]}
        table.append(row)
        print(
            f"pass {p}: batch {row['batch'][0]:.4f} ± {row['batch'][1]:.4f} "
            f"({row['batch_s']:.1f} s)  stepwise {row['stepwise'][0]:.4f} ± "
            f"{row['stepwise'][1]:.4f} ({row['stepwise_s']:.1f} s)",
            flush=True,
        )
    cpu = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
    print(json.dumps({"n_train": len(train), "n_held_out": len(test), "K": k, "chunk": chunk,
                      "alpha": alpha, "switch": switch, "start_seconds": start_seconds, "cpu_utilisation": cpu,
                      "passes": table}))


if __name__ == "__main__":
    main()
