"""gmmzoo from Python: a Gaussian mixture on the shipped MNIST sample, beside scikit-learn's.

    pip install ./python          # or: cd python && maturin develop --release
    python examples/python/quickstart.py

Both fit the same mixture (K = 10, full covariances, 30 principal components of the digits)
by EM from the same start; the script prints their test log-likelihoods ± standard errors
over the rows, their wall times, and, where matplotlib is installed, plots the EM curves.
"""

import gzip
import time

import numpy as np
from sklearn.decomposition import PCA
from sklearn.mixture import GaussianMixture as SkGaussianMixture

import gmmzoo

SAMPLE = gmmzoo.sample_data_dir() / "mnist"  # the digits the package ships


def idx_images(name):
    """An IDX image file of the shipped sample as rows of [0, 1] floats."""
    raw = gzip.open(SAMPLE / name).read()
    n, h, w = (int.from_bytes(raw[i : i + 4], "big") for i in (4, 8, 12))
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, h * w) / 255.0


def mean_and_error(values):
    return values.mean(), values.std(ddof=1) / np.sqrt(len(values))


def main():
    train, test = idx_images("train-images-idx3-ubyte.gz"), idx_images("t10k-images-idx3-ubyte.gz")
    pca = PCA(n_components=30, random_state=0).fit(train)
    X, X_test = pca.transform(train), pca.transform(test)
    k, rng = 10, np.random.default_rng(0)
    start = dict(
        weights_init=np.full(k, 1.0 / k),
        means_init=X[rng.choice(len(X), k, replace=False)],
        precisions_init=np.stack([np.linalg.inv(np.cov(X.T) + 1e-3 * np.eye(30))] * k),
    )
    print(f"{len(X)} training and {len(X_test)} test digits, 30 principal components, K = {k}")
    fitted = {}
    for name, model in [
        ("gmmzoo", gmmzoo.GaussianMixture(k, max_iter=50, reg_covar=1e-3, **start)),
        ("scikit-learn", SkGaussianMixture(k, max_iter=50, reg_covar=1e-3, **start)),
    ]:
        t = time.perf_counter()
        model.fit(X)
        seconds = time.perf_counter() - t
        ll, se = mean_and_error(model.score_samples(X_test))
        print(f"{name:>12}: test {ll:.4f} ± {se:.4f} nats, {model.n_iter_} iterations, {seconds:.2f} s")
        fitted[name] = model
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib is not installed: no plot)")
        return
    plt.plot(fitted["gmmzoo"].lower_bounds_, label="gmmzoo")
    plt.xlabel("EM iteration")
    plt.ylabel("training log-likelihood, nats per digit")
    plt.legend()
    plt.savefig("quickstart_em.png", dpi=120)
    print("wrote quickstart_em.png")


if __name__ == "__main__":
    main()
