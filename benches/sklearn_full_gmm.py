"""The peer of `gmmzoo bench configs/mnist_full32.toml`: one EM iteration (E-step + M-step,
initialisation excluded) of scikit-learn's GaussianMixture(covariance_type="full",
reg_covar=1e-3) on the 60,000 MNIST training digits (784 dims), K = 32.

    python3 benches/sklearn_full_gmm.py <data-root> [float64|float32]

Prints seconds per iteration (median of the iterations timed) and the peak resident memory.
"""
import gzip
import resource
import statistics
import sys
import time
import warnings

# Subnormal numbers (from exp of very negative log-responsibilities) cost x86 CPUs microcode
# assists, ~50x per operation; gmmzoo flushes them to 0 itself. The peer's best setting is the
# same: with the `daz` package (pip install daz) the CPU's denormals-are-zero and flush-to-zero
# flags are set before numpy starts its BLAS threads, which inherit them. GMM_PEER_DAZ=0 turns
# this off.
import os
if os.environ.get("GMM_PEER_DAZ", "1") != "0":
    try:
        import daz
        daz.set_daz()
        daz.set_ftz()
        DAZ = "denormals-are-zero on"
    except ImportError:
        DAZ = "denormals-are-zero off (pip install daz)"
else:
    DAZ = "denormals-are-zero off"

import numpy as np
import sklearn
from sklearn.mixture import GaussianMixture


def load(root):
    with gzip.open(f"{root}/mnist/train-images-idx3-ubyte.gz") as f:
        raw = f.read()
    n = int.from_bytes(raw[4:8], "big")
    return np.frombuffer(raw[16:], dtype=np.uint8).reshape(n, 784) / 255.0


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "../shared/data"
    dtype = np.dtype(sys.argv[2] if len(sys.argv) > 2 else "float64")
    iters = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    x = load(root).astype(dtype)
    gm = GaussianMixture(32, covariance_type="full", reg_covar=1e-3, max_iter=1,
                         init_params="random_from_data", random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm.fit(x)  # initialisation (and one iteration), not timed
    times = []
    for _ in range(iters):
        t = time.perf_counter()
        _, log_resp = gm._e_step(x)
        gm._m_step(x, log_resp)
        times.append(time.perf_counter() - t)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    from threadpoolctl import threadpool_info
    blas = ", ".join(f"{i['internal_api']} {i.get('version')} {i.get('architecture')} "
                     f"{i['num_threads']} threads" for i in threadpool_info())
    print(f"BLAS: {blas}; {DAZ}; OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")
    print(f"scikit-learn {sklearn.__version__}, numpy {np.__version__}, {dtype}: "
          f"one EM iteration median {statistics.median(times):.1f} s over {iters} "
          f"({', '.join(f'{t:.1f}' for t in times)}); peak resident memory {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
