"""The peer of `gmmzoo bench configs/bsds16.toml`: the whole bsds16 job in numpy — decode the
200 BSDS300 training images, draw 200,000 random 16x16 patches (mean removed, std < 0.04
redrawn), their periodograms on the unique bins of the real 2-D FFT, initialisation from K = 32
random samples, and 50 EM iterations of the convolutional GMM (models.md §1) in float32, the
E- and M-step each one BLAS product per batch of 16,384 rows, as gmmzoo computes them.

    python3 benches/numpy_conv_gmm.py <data-root> [iterations]

Prints seconds per EM iteration (median), the whole run's wall time and CPU utilisation
(process CPU time / wall), the BLAS library and its threads (threadpoolctl), and the last
mean log-likelihood (comparable to gmmzoo's up to the patches drawn: another random stream).
"""
import glob
import os
import statistics
import sys
import time

import numpy as np
from PIL import Image

P, N_TRAIN, K, MIN_STD, BATCH = 16, 200_000, 32, 0.04, 16384
NEGLIGIBLE = np.float32(np.log(1e-30))


def load_gray(root):
    """Rec. 709 luma in [0, 1], as gmmzoo's BSDS patches."""
    images = []
    for path in sorted(glob.glob(f"{root}/bsds300/train/*.jpg")):
        rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0
        images.append(np.clip(rgb @ np.array([0.2126, 0.7152, 0.0722], np.float32), 0, 1))
    return images


def sample_patches(images, rng):
    out, kept = np.empty((N_TRAIN, P * P), np.float32), 0
    while kept < N_TRAIN:
        m = 2 * (N_TRAIN - kept)
        which = rng.integers(0, len(images), m)
        batch = np.empty((m, P, P), np.float32)
        for j, im in enumerate(images):
            sel = np.nonzero(which == j)[0]
            top = rng.integers(0, im.shape[0] - P + 1, sel.size)
            left = rng.integers(0, im.shape[1] - P + 1, sel.size)
            rows = top[:, None, None] + np.arange(P)[None, :, None]
            cols = left[:, None, None] + np.arange(P)[None, None, :]
            batch[sel] = im[rows, cols]
        batch = batch.reshape(m, P * P)
        batch -= batch.mean(axis=1, keepdims=True)
        good = batch[batch.std(axis=1) >= MIN_STD][: N_TRAIN - kept]
        out[kept:kept + len(good)] = good
        kept += len(good)
    return out


def unique_bins():
    """One bin of each conjugate pair, DC left out; weight 2 for a pair, 1 if self-conjugate."""
    bins, weights = [], []
    for k1 in range(P):
        for k2 in range(P):
            conj = ((P - k1) % P, (P - k2) % P)
            if (k1, k2) > conj or (k1, k2) == (0, 0):
                continue
            bins.append(k1 * P + k2)
            weights.append(1.0 if (k1, k2) == conj else 2.0)
    return np.array(bins), np.array(weights, np.float32)


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "../shared/data"
    iters = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    wall0, cpu0 = time.perf_counter(), time.process_time()
    rng = np.random.default_rng(1)
    x = sample_patches(load_gray(root), rng)
    bins, w = unique_bins()
    power = (np.abs(np.fft.fft2(x.reshape(-1, P, P)).reshape(-1, P * P)[:, bins]) ** 2)
    power = power.astype(np.float32)
    d, d_cov = P * P, float(w.sum())
    mean = power.mean(axis=0) / d
    spectrum = 0.5 * power[np.sort(rng.choice(N_TRAIN, K, replace=False))] / d + 0.5 * mean
    log_weights = np.full(K, -np.log(K), np.float32)
    times, ll = [], float("nan")
    for _ in range(iters):
        t = time.perf_counter()
        a = (-0.5 / d) * (w[None, :] / spectrum).T.astype(np.float32)
        const = (-0.5 * (w[None, :] * np.log(spectrum)).sum(1)
                 - 0.5 * d_cov * np.log(2 * np.pi) + log_weights).astype(np.float32)
        nk, t_sum, total = np.zeros(K), np.zeros((K, len(bins))), 0.0
        for s in range(0, N_TRAIN, BATCH):
            xb = power[s:s + BATCH]
            logp = xb @ a + const
            m = logp.max(axis=1, keepdims=True)
            # As gmmzoo: terms below 1e-30 of the row's largest are exactly 0, not subnormal
            # numbers (which slow x86 products ~50-fold).
            e = np.maximum(np.exp(np.maximum(logp - m, NEGLIGIBLE)) - np.float32(1e-30), 0)
            z = e.sum(axis=1, keepdims=True)
            resp = e / z
            total += float((np.log(z) + m).sum())
            nk += resp.sum(axis=0)
            t_sum += resp.T @ xb
        ll = total / N_TRAIN
        spectrum = np.maximum(t_sum / (d * nk[:, None]), 1e-6).astype(np.float32)
        log_weights = np.log(nk / N_TRAIN).astype(np.float32)
        times.append(time.perf_counter() - t)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    try:
        from threadpoolctl import threadpool_info
        blas = ", ".join(f"{i['internal_api']} {i.get('version')} {i.get('architecture')} "
                         f"{i['num_threads']} threads" for i in threadpool_info())
    except ImportError:
        blas = "threadpoolctl not installed"
    print(f"numpy {np.__version__} ({blas}); OPENBLAS_CORETYPE="
          f"{os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")
    print(f"numpy conv peer: EM median {statistics.median(times):.4f} s/iter over {iters}; "
          f"whole run {wall:.2f} s at {100 * cpu / wall:.0f} % CPU; last log-likelihood "
          f"{ll:.4f} nats/sample")


if __name__ == "__main__":
    main()
