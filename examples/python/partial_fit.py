"""gmmzoo from Python: a Gaussian mixture fitted chunk by chunk from a file it never loads.

    python examples/python/partial_fit.py

Rows of the shipped MNIST sample (30 principal components) are written to a ``.npy`` file and
read back memory-mapped; ``partial_fit`` takes them 500 rows at a time for ten passes
(stepwise EM: one M-step per chunk, ``step_alpha=0.6``), and the held-out log-likelihood after
each pass is printed beside that of ``fit`` on all the rows at once. The sample's 2,000 rows
make four chunks a pass, where stepwise EM has little to gain; on large data it reaches batch
EM's figure in fewer passes (``benches/stepwise_vs_batch.py``, docs/training.md).
"""

import gzip
import tempfile
from pathlib import Path

import numpy as np
from sklearn.decomposition import PCA

import gmmzoo

SAMPLE = gmmzoo.sample_data_dir() / "mnist"


def idx_images(name):
    raw = gzip.open(SAMPLE / name).read()
    n, h, w = (int.from_bytes(raw[i : i + 4], "big") for i in (4, 8, 12))
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, h * w) / 255.0


def main():
    train, test = idx_images("train-images-idx3-ubyte.gz"), idx_images("t10k-images-idx3-ubyte.gz")
    pca = PCA(30, random_state=0).fit(train)
    rng = np.random.default_rng(0)
    rows = pca.transform(train)[rng.permutation(len(train))]  # chunks need shuffled rows
    held_out = pca.transform(test)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rows.npy"
        np.save(path, rows)
        x = np.load(path, mmap_mode="r")  # nothing read until a chunk is taken
        online = gmmzoo.GaussianMixture(n_components=10, random_state=0, step_alpha=0.6)
        for p in range(10):
            for start in range(0, len(x), 500):
                online.partial_fit(x[start : start + 500])
            print(f"pass {p + 1}: held-out log-likelihood {online.score(held_out):.3f} nats/row")
    batch = gmmzoo.GaussianMixture(n_components=10, random_state=0).fit(rows)
    print(f"fit on all rows ({batch.n_iter_} EM iterations): {batch.score(held_out):.3f} nats/row")


if __name__ == "__main__":
    main()
