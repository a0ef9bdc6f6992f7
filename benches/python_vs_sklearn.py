"""gmmzoo.GaussianMixture against sklearn.mixture.GaussianMixture, in one Python process: the
60,000 MNIST training digits (784 dims), K = 32, reg_covar=1e-3, or with `bsds300` 200,000
BSDS300 training rows (63 dims, drawn by the zoo's `bsds300` data set, seed 1), K = 50,
reg_covar=1e-6; the same start given to both (uniform weights, K seeded random rows as means,
the inverse of the regularised data covariance as every precision: its diagonal for "diag",
their mean for "spherical"), 10 EM iterations (tol = 0) unless told.

    python benches/python_vs_sklearn.py <data-root> [iterations] [covariance_type]
        [mnist|bsds300]

Prints, for each: the wall time of the fit, its process CPU time / wall, seconds per iteration,
and the final mean training log-likelihood (lower_bound_), then the time ratio and the
log-likelihoods' relative difference. The peer gets its best honest setting: float64 as
scikit-learn computes, the CPU's denormals-are-zero flags set when the `daz` package is
installed (pip install daz; without them its E-step's underflowing exp is many times slower),
and `OPENBLAS_CORETYPE` / `OPENBLAS_L2_SIZE` unset for this command (`env -u ...`).
"""
import gzip
import os
import sys
import time
import warnings

if os.environ.get("GMM_PEER_DAZ", "1") != "0":
    try:
        import daz

        daz.set_daz()
        daz.set_ftz()
        DAZ = "denormals-are-zero on"
    except ImportError:
        DAZ = "denormals-are-zero off (pip install daz)"
else:
    DAZ = "denormals-are-zero off (GMM_PEER_DAZ=0)"

import numpy as np
from sklearn.mixture import GaussianMixture as SkGaussianMixture
from threadpoolctl import threadpool_info

import gmmzoo

SEED = 0
# Per data set: components K and reg_covar.
SETTINGS = {"mnist": (32, 1e-3), "bsds300": (50, 1e-6)}
K, REG = SETTINGS["mnist"]


def mnist_train(root):
    raw = gzip.open(os.path.join(root, "mnist", "train-images-idx3-ubyte.gz")).read()
    n = int.from_bytes(raw[4:8], "big")
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, 784) / 255.0


def bsds300_rows(root, n=200_000):
    text = f'seed = 1\n[data]\ndataset = "bsds300"\nn_train = {n}\nn_test = 10\n'
    return gmmzoo.load_data(text, "train", root)[0].astype(np.float64)


def start(X, covariance_type):
    rng = np.random.default_rng(SEED)
    means = X[rng.choice(len(X), K, replace=False)]
    covariance = np.cov(X.T) + REG * np.eye(X.shape[1])
    precisions = {
        "full": lambda: np.stack([np.linalg.inv(covariance)] * K),
        "tied": lambda: np.linalg.inv(covariance),
        "diag": lambda: np.stack([1.0 / np.diag(covariance)] * K),
        "spherical": lambda: np.full(K, 1.0 / np.diag(covariance).mean()),
    }[covariance_type]()
    return dict(weights_init=np.full(K, 1.0 / K), means_init=means, precisions_init=precisions)


def timed(model, X):
    wall, cpu = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: tol = 0
        model.fit(X)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return wall, cpu / wall


def main():
    root = sys.argv[1]
    iterations = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    kind = sys.argv[3] if len(sys.argv) > 3 else "full"
    data = sys.argv[4] if len(sys.argv) > 4 else "mnist"
    global K, REG
    K, REG = SETTINGS[data]
    X = mnist_train(root) if data == "mnist" else bsds300_rows(root)
    given = dict(start(X, kind), covariance_type=kind)
    blas = ", ".join(f"{i['internal_api']} {i['num_threads']} threads" for i in threadpool_info())
    print(f"{data} train {X.shape}, K = {K}, {kind}, reg_covar = {REG}, {iterations} iterations")
    print(f"scikit-learn peer: float64, {DAZ}; BLAS: {blas}")
    results = {}
    for name, model in [
        ("gmmzoo", gmmzoo.GaussianMixture(K, max_iter=iterations, tol=0.0, reg_covar=REG, **given)),
        ("scikit-learn", SkGaussianMixture(K, max_iter=iterations, tol=0.0, reg_covar=REG, **given)),
    ]:
        wall, utilisation = timed(model, X)
        results[name] = (wall, model.lower_bound_)
        print(
            f"{name:>12}: {wall:8.2f} s ({wall / iterations:.2f} s per iteration), "
            f"CPU {100 * utilisation:.0f} %, final log-likelihood {model.lower_bound_:.6f}"
        )
    (ours, ll_ours), (peer, ll_peer) = results["gmmzoo"], results["scikit-learn"]
    print(
        f"gmmzoo takes {ours / peer:.3f} of scikit-learn's time ({peer / ours:.2f}x faster); "
        f"log-likelihoods differ by {abs(ll_ours - ll_peer) / abs(ll_peer):.2e} relative"
    )


if __name__ == "__main__":
    main()
