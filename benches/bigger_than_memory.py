"""A full GMM (K = 200) trained on rows read from disk (`[data] stream = true`): batch EM and
stepwise EM over a float32 .npy of N x 63 rows (20,000,000 rows: 5 GB), each run's peak resident
memory, seconds and held-out log-likelihood.

    python benches/bigger_than_memory.py <gmmzoo binary> <work folder> [rows] [passes]

The rows are drawn from the shipped `bsds300_full200_kmeans` model (63-dimensional BSDS300
patches) with numpy, chunk by chunk into the file (`open_memmap`), so this script never holds
them either; 200,000 more rows drawn the same way are the test file. The two runs are one
`gmmzoo train` each, with its own config written here: batch EM from k-means++ for `passes`
iterations, and stepwise EM (mini-batches of 65,536 rows, alpha = 0.7) for `passes` passes.
Each run's `metrics.json` records its peak resident memory (Linux VmHWM); `/usr/bin/time -v`
measures it again from outside. Needs the `gmmzoo` Python package (for the model's parameters)
and numpy.
"""

import json
import os
import subprocess
import sys
import time

import numpy as np
from numpy.lib.format import open_memmap

CHUNK = 1_000_000


def draw(model, n, path, seed):
    """n rows of the mixture, chunk by chunk into a float32 .npy at path."""
    rng = np.random.default_rng(seed)
    chol = np.linalg.cholesky(model.covariances_)
    out = open_memmap(path, mode="w+", dtype=np.float32, shape=(n, model.means_.shape[1]))
    for start in range(0, n, CHUNK):
        m = min(CHUNK, n - start)
        comp = rng.choice(len(model.weights_), size=m, p=model.weights_ / model.weights_.sum())
        z = rng.standard_normal((m, model.means_.shape[1]))
        rows = np.empty_like(z)
        for c in np.unique(comp):
            at = comp == c
            rows[at] = model.means_[c] + z[at] @ chol[c].T
        out[start : start + m] = rows.astype(np.float32)
    out.flush()
    del out


def config(name, rows, test, passes, stepwise):
    em = f"max_iter = {passes}\ntol = 0.0\nbatch_size = 16384\ninit = \"kmeans++\"\n"
    if stepwise:
        em += "[em.stepwise]\nbatches = 4\nalpha = 0.7\n"
    return (
        f'name = "{name}"\nseed = 1\n[data]\ndataset = "array"\ntrain = "{rows}"\n'
        f'test = "{test}"\nstream = true\n[model]\nkind = "full"\nn_components = 200\n'
        f"reg_covar = 1e-6\n[em]\n{em}[output]\ntop_from = \"test\"\n"
    )


def train(binary, folder, name, text):
    cfg = os.path.join(folder, f"{name}.toml")
    with open(cfg, "w") as f:
        f.write(text)
    out = os.path.join(folder, name)
    cmd = ["/usr/bin/time", "-v", binary, "train", cfg, "--out", out, "--overwrite", "--quiet"]
    t = time.time()
    done = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.time() - t
    if done.returncode != 0:
        sys.exit(f"{name} failed:\n{done.stderr}")
    outside = next(
        int(line.split(":")[1]) / 1000
        for line in done.stderr.splitlines()
        if "Maximum resident set size" in line
    )
    with open(os.path.join(out, "metrics.json")) as f:
        m = json.load(f)
    return m, wall, outside


def main():
    binary, folder = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 20_000_000
    passes = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    os.makedirs(folder, exist_ok=True)
    rows, test = os.path.join(folder, "rows.npy"), os.path.join(folder, "test.npy")
    import gmmzoo

    model = gmmzoo.load("bsds300_full200_kmeans")
    if not os.path.exists(rows) or np.load(rows, mmap_mode="r").shape[0] != n:
        t = time.time()
        draw(model, n, rows, 1)
        draw(model, 200_000, test, 2)
        print(f"drew {n} rows ({os.path.getsize(rows) / 1e9:.2f} GB) in {time.time() - t:.0f} s")
    print("| EM | passes | s in all | s per pass | test nats (± s.e.) | peak MB (run) | peak MB (time -v) | CPU |")
    print("|---|---|---|---|---|---|---|---|")
    for name, stepwise in [("batch", False), ("stepwise", True)]:
        m, wall, outside = train(binary, folder, name, config(name, rows, test, passes, stepwise))
        t = m["timings"]
        test_ll = m["test"]
        print(
            f"| {name} | {len(m['iterations'])} | {t['total']:.0f} | {t['fit'] / max(len(m['iterations']), 1):.0f} | "
            f"{test_ll['nats_per_sample']:.2f} ± {test_ll['standard_error']:.2f} | "
            f"{t['peak_memory_mb']:.0f} | {outside:.0f} | {100 * t['cpu'] / t['total']:.0f} % |",
            flush=True,
        )


if __name__ == "__main__":
    main()
