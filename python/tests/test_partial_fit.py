"""``GaussianMixture.partial_fit``: chunk by chunk it is the library's stepwise EM over the same
chunks (``[em.stepwise]``, one mini-batch per chunk), it works through a memory-mapped ``.npy``,
passes of it approach ``fit``'s log-likelihood on known data, and bad settings are one clear
error."""

import numpy as np
import pytest
from gmmzoo import ConvGMM, DeepGMM, GaussianMixture, _core
from gmmzoo.mixture import config_text, em_table
from known import mixture_rows


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_chunks_are_the_librarys_stepwise_em(covariance_type):
    x = mixture_rows(2000, 1)
    est = GaussianMixture(3, covariance_type=covariance_type, random_state=0, step_alpha=0.6)
    for chunk in np.split(x, 4):
        est.partial_fit(chunk)
    assert est.n_iter_ == 4 and len(est.lower_bounds_) == 4 and not est.converged_

    # The same four mini-batches in one pass of the library's stepwise EM, from the start the
    # first chunk gave.
    seed = int(np.random.RandomState(0).randint(np.iinfo(np.int32).max))
    model = {"n_components": 3, "covariance_type": covariance_type, "reg_covar": est.reg_covar}
    em = dict(em_table(est, n_init=1), max_iter=1, tol=0.0, batch_size=500)
    em["stepwise"] = {"batches": 1, "alpha": 0.6}
    text = config_text("full", model, em, {"dataset": "array", "train": "rows"}, seed)
    start = _core.initialised(x[:500], (1, 4), text)
    fitted, report = _core.fit_layer(x, (1, 4), text, start=start)
    want = fitted.full_parameters()
    assert report["stepwise"][0] == est._stepwise[0] == 4
    np.testing.assert_allclose(est.weights_, want["weights"], rtol=1e-5)
    np.testing.assert_allclose(est.means_, want["means"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        est.precisions_cholesky_, want["precisions_cholesky"], rtol=1e-4, atol=1e-4
    )
    np.testing.assert_allclose(est._stepwise[1], report["stepwise"][1], rtol=1e-4, atol=1e-6)


def test_passes_over_a_memory_mapped_file_approach_fit(tmp_path):
    x = mixture_rows(6000, 2)
    path = tmp_path / "rows.npy"
    np.save(path, x)
    rows = np.load(path, mmap_mode="r")
    held_out = mixture_rows(2000, 3)
    batch = GaussianMixture(3, random_state=0, max_iter=200, tol=1e-6).fit(x)
    online = GaussianMixture(3, random_state=0)
    for _ in range(3):
        for start in range(0, len(rows), 500):
            online.partial_fit(rows[start : start + 500])
    assert online.n_iter_ == 36
    gap = batch.score(held_out) - online.score(held_out)
    assert abs(gap) < 0.005, f"held-out log-likelihood {online.score(held_out)} vs fit's {batch.score(held_out)}"


def test_fit_then_partial_fit_continues_and_fit_forgets_the_steps():
    x = mixture_rows(1500, 4)
    est = GaussianMixture(3, random_state=0).fit(x[:1000])
    before = est.score(x)
    est.partial_fit(x[1000:])
    assert est.n_iter_ == 1 and hasattr(est, "_stepwise")
    assert np.isfinite(est.score(x)) and abs(est.score(x) - before) < 0.5
    est.fit(x)
    assert not hasattr(est, "_stepwise")


def test_bad_partial_fit_input_is_one_clear_error():
    x = mixture_rows(600, 5)
    with pytest.raises(ValueError, match=r"step_alpha must be in \(0.5, 1\], got 0.3"):
        GaussianMixture(2, step_alpha=0.3).partial_fit(x)
    with pytest.raises(ValueError, match="n_samples >= n_components"):
        GaussianMixture(5).partial_fit(x[:3])
    est = GaussianMixture(2, random_state=0).partial_fit(x)
    with pytest.raises(ValueError, match="features"):
        est.partial_fit(x[:, :3])


def test_conv_and_deep_layers_take_chunks_too():
    rng = np.random.default_rng(7)
    patches = rng.normal(size=(1200, 16)) * np.linspace(0.5, 2.0, 16)
    patches -= patches.mean(axis=1, keepdims=True)
    conv = ConvGMM(4, random_state=0)
    for chunk in np.split(patches, 3):
        conv.partial_fit(chunk)
    assert conv.n_iter_ == 3 and conv._stepwise[0] == 3
    # The library's stepwise EM over the same three mini-batches, from the first chunk's start.
    seed = int(np.random.RandomState(0).randint(np.iinfo(np.int32).max))
    em = dict(em_table(conv, n_init=1), max_iter=1, tol=0.0, batch_size=400)
    em["stepwise"] = {"batches": 1, "alpha": 0.7}
    text = config_text("conv", conv._model_table(), em, conv._data_table(patches[:400]), seed)
    start = _core.initialised(patches[:400], (4, 4), text)
    fitted, _ = _core.fit_layer(patches, (4, 4), text, start=start)
    np.testing.assert_allclose(
        conv.score_samples(patches), fitted.score(patches)[0], rtol=1e-5, atol=1e-4
    )
    deep = DeepGMM((3, 2), m_step_iters=10, random_state=0)
    for chunk in np.split(mixture_rows(900, 8), 3):
        deep.partial_fit(chunk)
    assert deep.n_iter_ == 3 and np.isfinite(deep.score(mixture_rows(200, 9)))
