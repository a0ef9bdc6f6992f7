"""The GMM libraries users pick today, on the rows and from the start `gmmzoo bench --export`
wrote: scikit-learn (numpy), pomegranate and PyCave (PyTorch), GMMX (JAX), all on the CPU.

    gmmzoo bench configs/<config>.toml --data-dir <root> --iters <N+1> --export DIR
    python benches/peers.py DIR N [peer[=python] ...]   # sklearn pomegranate gmmx pycave

DIR holds data.npy [rows, D] (float32), the start (means.npy, covariances.npy, weights.npy),
meta.json (reg_covar) and ours.json (our seconds and log-likelihood per iteration). Each peer
runs N EM iterations from that start in its own process (its peak resident memory, Linux VmHWM,
is its own; its address space is capped at three quarters of the machine's memory, and its time
at 60 s plus 20 times ours), with its tolerance at 0 so that it runs all N, twice where it compiles (JAX: the
second run is timed); `peer=python` runs it with that interpreter (PyCave needs numpy < 2, so
its own venv). Its final parameters are scored here, in float64 by one function for
every peer, against ours after N iterations (`ours.json`'s log-likelihood of iteration N + 1's
start). A peer that is not installed, or fails, gets a line saying so. Run it with
OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (benches/peers.sh does).
"""

import json
import os
import subprocess
import sys
import time

import numpy as np


def peak_mb():
    with open("/proc/self/status") as f:
        line = next(l for l in f if l.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024 / 1e6


def cap_memory():
    """Caps this (child) process's address space at 3/4 of the machine's memory, so that a
    peer that cannot fit fails with an error instead of exhausting the machine."""
    import resource

    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    resource.setrlimit(resource.RLIMIT_AS, (total * 3 // 4, total * 3 // 4))


def run_sklearn(x, means, covs, weights, reg, iters):
    # Its best setting (as benches/sklearn_full_gmm.py): the CPU's denormals-are-zero flags,
    # set before numpy's BLAS threads start, so that exp of very negative numbers does not
    # underflow into slow subnormals (pip install daz).
    try:
        import daz

        daz.set_daz()
        daz.set_ftz()
        flags = "denormals-are-zero"
    except ImportError:
        flags = "denormals-are-zero off: pip install daz"
    from sklearn.mixture import GaussianMixture

    precisions = np.linalg.inv(covs.astype(np.float64))
    gm = GaussianMixture(
        len(weights), covariance_type="full", reg_covar=reg, max_iter=iters, tol=0.0,
        weights_init=weights, means_init=means, precisions_init=precisions, n_init=1,
    )
    t = time.perf_counter()
    gm.fit(x)
    return time.perf_counter() - t, gm.means_, gm.covariances_, gm.weights_, f"float64, {flags}"


def run_pomegranate(x, means, covs, weights, reg, iters):
    import torch
    from pomegranate.distributions import Normal
    from pomegranate.gmm import GeneralMixtureModel

    torch.set_num_threads(os.cpu_count())
    dists = [Normal(means=torch.tensor(m), covs=torch.tensor(c), covariance_type="full")
             for m, c in zip(means, covs)]
    model = GeneralMixtureModel(dists, priors=torch.tensor(weights), max_iter=iters, tol=0.0,
                                verbose=False)
    t = time.perf_counter()
    model.fit(torch.from_numpy(x))
    seconds = time.perf_counter() - t
    m = np.stack([d.means.numpy() for d in model.distributions])
    c = np.stack([d.covs.numpy() for d in model.distributions])
    w = np.exp(model._log_priors.numpy())
    return seconds, m, c, w, "float32"


def run_gmmx(x, means, covs, weights, reg, iters):
    import jax
    from gmmx import EMFitter, GaussianMixtureModelJax

    gmm = GaussianMixtureModelJax.from_squeezed(means=means, covariances=covs, weights=weights)
    fitter = EMFitter(max_iter=iters, tol=0.0, reg_covar=reg)
    xj = jax.numpy.asarray(x)
    jax.block_until_ready(fitter.fit(xj, gmm))  # compiles
    t = time.perf_counter()
    result = jax.block_until_ready(fitter.fit(xj, gmm))
    seconds = time.perf_counter() - t
    g = result.gmm
    m = np.asarray(g.means_numpy)
    c = np.asarray(g.covariances.values_numpy)
    w = np.asarray(g.weights_numpy)
    return seconds, m, c, w, "float32 (JAX, compiled before timing)"


def run_pycave(x, means, covs, weights, reg, iters):
    import torch
    from pycave.bayes import GaussianMixture

    gm = GaussianMixture(
        len(weights), covariance_type="full", init_strategy="kmeans", init_means=torch.tensor(means),
        convergence_tolerance=0.0, covariance_regularization=reg,
        trainer_params=dict(max_epochs=iters, logger=False, checkpoint_callback=False),
    )
    t = time.perf_counter()
    gm.fit(torch.from_numpy(x))
    seconds = time.perf_counter() - t
    p = gm.model_
    chol = p.precisions_cholesky.numpy().astype(np.float64)  # Σ⁻¹ = L Lᵀ
    covs = np.linalg.inv(chol @ np.transpose(chol, (0, 2, 1)))
    return (seconds, p.means.numpy(), covs, p.component_probs.numpy(),
            "float32 (means only from the start: PyCave takes no initial covariances)")


PEERS = {"sklearn": run_sklearn, "pomegranate": run_pomegranate, "gmmx": run_gmmx,
         "pycave": run_pycave}


def mean_log_likelihood(x, means, covs, weights):
    """(1/N) sum_n log sum_c w_c N(x_n | mu_c, Sigma_c), float64, in chunks of rows."""
    x = x.astype(np.float64)
    k, d = means.shape
    chol = np.linalg.cholesky(covs.astype(np.float64))
    inv = np.linalg.inv(chol)
    half_logdet = -np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(1)
    const = np.log(np.asarray(weights, np.float64)) + half_logdet - 0.5 * d * np.log(2 * np.pi)
    total = 0.0
    for s in range(0, len(x), 20000):
        xb = x[s:s + 20000]
        a = np.empty((len(xb), k))
        for c in range(k):
            z = (xb - means[c]) @ inv[c].T
            a[:, c] = const[c] - 0.5 * (z * z).sum(1)
        top = a.max(1)
        total += (top + np.log(np.exp(a - top[:, None]).sum(1))).sum()
    return total / len(x)


def one(name, folder, iters):
    """Runs peer `name` in this process and writes its result to DIR/peer_<name>.npz."""
    meta = json.load(open(f"{folder}/meta.json"))
    x = np.load(f"{folder}/data.npy")
    start = [np.load(f"{folder}/{f}.npy") for f in ("means", "covariances", "weights")]
    seconds, m, c, w, note = PEERS[name](x, *start, meta["reg_covar"], iters)
    np.savez(f"{folder}/peer_{name}.npz", means=m, covs=c, weights=w, seconds=seconds,
             peak=peak_mb(), note=note)


def main():
    if sys.argv[1] == "--one":
        return one(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    folder, iters = sys.argv[1], int(sys.argv[2])
    names = sys.argv[3:] or list(PEERS)
    ours = json.load(open(f"{folder}/ours.json"))
    if len(ours["log_likelihood"]) <= iters:
        sys.exit(f"ours.json has {len(ours['log_likelihood'])} iterations; run gmmzoo bench "
                 f"with --iters {iters + 1}")
    x = np.load(f"{folder}/data.npy")
    our_ll = ours["log_likelihood"][iters]
    our_s = float(np.median(ours["seconds"][:iters]))
    print(f"N = {x.shape[0]}, D = {x.shape[1]}, {iters} EM iterations from one start")
    print("| library | s per EM iteration | ours vs it | log-likelihood after them | relative to ours | peak MB |")
    print("|---|---|---|---|---|---|")
    print(f"| gmm-zoo ({ours['device']}) | {our_s:.3f} | 1 | {our_ll:.4f} | 0 | — |")
    for item in names:
        name, _, python = item.partition("=")
        out = f"{folder}/peer_{name}.npz"
        if os.path.exists(out):
            os.remove(out)
        command = [python or sys.executable, __file__, "--one", name, folder, str(iters)]
        limit = 60 + 20 * our_s * iters
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=limit,
                                  preexec_fn=cap_memory)
        except subprocess.TimeoutExpired:
            print(f"| {name} | did not finish in {limit:.0f} s | | | | |", flush=True)
            continue
        if done.returncode != 0 or not os.path.exists(out):
            last = (done.stderr.strip().splitlines() or ["no message"])[-1]
            print(f"| {name} | failed: {last[:150]} | | | | |", flush=True)
            continue
        r = np.load(out)
        per = float(r["seconds"]) / iters
        ll = mean_log_likelihood(x, r["means"], r["covs"], r["weights"])
        print(f"| {name}, {r['note']} | {per:.3f} | {per / our_s:.2f}x | {ll:.4f} | "
              f"{(ll - our_ll) / abs(our_ll):.1e} | {float(r['peak']):.0f} |", flush=True)


if __name__ == "__main__":
    main()
