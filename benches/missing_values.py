"""EM with missing values on BSDS300 rows, against the usual ways round it.

Rows of the BSDS300 benchmark (63 values, the zoo's `bsds300` data set) lose a fraction of
their values at random (seeded; at least one kept per row). Each method fits a full-covariance
mixture of K components on the training rows and is scored on the complete test rows (mean
log-likelihood ± its standard error over rows), and imputes the test rows after the same
fraction is removed from them (RMSE over the removed values, in the rows' units, 1/256 of a
gray level):

- gmm-zoo EM on what each row observes (``GaussianMixture.fit`` with NaN, ``impute``);
- column means, then gmm-zoo EM on the filled rows (imputation: the training columns' means);
- scikit-learn's ``IterativeImputer`` (10 rounds of BayesianRidge), then scikit-learn's
  ``GaussianMixture`` on its filled rows (imputation: the imputer's ``transform``);
- and the reference: gmm-zoo EM on the complete training rows.

Every fit: K components, reg_covar 1e-6, k-means start, tol 1e-3, at most `max_iter`
iterations, random_state 0.

    python benches/missing_values.py <data-root> [n_train=50000] [n_test=20000] [K=50]
        [max_iter=100] [fractions=0.1,0.3,0.5]
"""

import json
import sys
import time

import numpy as np
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer
from sklearn.mixture import GaussianMixture as SkGaussianMixture

import gmmzoo

FRACTIONS = (0.1, 0.3, 0.5)


def rows(root, n_train, n_test):
    text = f'seed = 1\n[data]\ndataset = "bsds300"\nn_train = {n_train}\nn_test = {n_test}\n'
    train = gmmzoo.load_data(text, "train", root)[0].astype(np.float64)
    test = gmmzoo.load_data(text, "test", root)[0].astype(np.float64)
    return train, test


def removed(x, fraction, seed):
    """``x`` with ``fraction`` of its values set to NaN at random, one value kept per row."""
    rng = np.random.default_rng(seed)
    gone = rng.random(x.shape) < fraction
    gone[np.arange(len(x)), rng.integers(0, x.shape[1], len(x))] = False
    out = x.copy()
    out[gone] = np.nan
    return out


def score(model, test):
    s = model.score_samples(test)
    return float(s.mean()), float(s.std(ddof=1) / np.sqrt(len(s)))


def rmse(filled, truth, gone):
    return float(np.sqrt(np.mean((filled[gone] - truth[gone]) ** 2)))


def timed(fit):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fit()
    wall = time.perf_counter() - wall
    return out, wall, (time.process_time() - cpu) / wall


def main():
    root = sys.argv[1]
    given = [int(a) for a in sys.argv[2:6]]
    n_train, n_test, k, max_iter = given + [50000, 20000, 50, 100][len(given):]
    fractions = [float(f) for f in sys.argv[6].split(",")] if len(sys.argv) > 6 else FRACTIONS
    train, test = rows(root, n_train, n_test)
    settings = dict(reg_covar=1e-6, tol=1e-3, max_iter=max_iter, random_state=0)
    print(f"BSDS300 rows: {len(train)} train, {len(test)} test, 63 values; K = {k}")
    results = []

    def report(method, fraction, model, seconds, cpu, filled=None, truth=None, gone=None):
        ll, se = score(model, test)
        row = dict(method=method, missing=fraction, test_ll=ll, se=se, seconds=seconds, cpu=cpu,
                   n_iter=int(model.n_iter_))
        if filled is not None:
            row["rmse"] = rmse(filled, truth, gone)
        results.append(row)
        err = f"RMSE {row['rmse']:.5f}" if "rmse" in row else ""
        print(f"{fraction:>4.0%} {method:<34} test {ll:9.3f} ± {se:.3f} nats  {err:<13} "
              f"{seconds:7.1f} s at {cpu:.0%} CPU, {row['n_iter']} iterations", flush=True)

    model, wall, cpu = timed(lambda: gmmzoo.GaussianMixture(k, **settings).fit(train))
    report("gmm-zoo, complete rows", 0.0, model, wall, cpu)
    for fraction in fractions:
        i = FRACTIONS.index(fraction) if fraction in FRACTIONS else len(FRACTIONS)
        x, t = removed(train, fraction, 10 + i), removed(test, fraction, 20 + i)
        gone = np.isnan(t)
        model, wall, cpu = timed(lambda: gmmzoo.GaussianMixture(k, **settings).fit(x))
        report("gmm-zoo EM on observed values", fraction, model, wall, cpu, model.impute(t), test, gone)
        if len(sys.argv) > 6:
            continue  # the fractions asked for: EM on the observed values alone
        means = np.nanmean(x, axis=0)
        filled = np.where(np.isnan(x), means, x)
        model, wall, cpu = timed(lambda: gmmzoo.GaussianMixture(k, **settings).fit(filled))
        report("column means, then gmm-zoo EM", fraction, model, wall, cpu,
               np.where(gone, means, t), test, gone)

        def iterative():
            imputer = IterativeImputer(max_iter=10, random_state=0).fit(x)
            return imputer, SkGaussianMixture(k, **settings).fit(imputer.transform(x))

        (imputer, model), wall, cpu = timed(iterative)
        report("IterativeImputer, then sklearn GMM", fraction, model, wall, cpu,
               imputer.transform(t), test, gone)
    with open(f"missing_values_{max_iter}.json", "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
