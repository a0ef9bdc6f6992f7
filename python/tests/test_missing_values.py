"""GaussianMixture on rows with missing values (NaN): scores of what each row observes and
imputations against closed-form numpy, a fit on 30 % missing values against one on complete
rows, EM's monotone likelihood, and one clear error for a row that observes nothing."""

import numpy as np
import pytest
from gmmzoo import GaussianMixture
from known import mixture_rows


def with_nan(x, fraction, seed):
    """``x`` with a ``fraction`` of its values set to NaN at random, one kept per row."""
    rng = np.random.default_rng(seed)
    x = x.copy()
    gone = rng.random(x.shape) < fraction
    gone[np.arange(len(x)), rng.integers(0, x.shape[1], len(x))] = False
    x[gone] = np.nan
    return x


def log_normal(y, cov):
    _, logdet = np.linalg.slogdet(cov)
    return -0.5 * (len(y) * np.log(2 * np.pi) + logdet + y @ np.linalg.solve(cov, y))


def oracle(gm, row):
    """log p(x_o) and E[x_m | x_o] of one row under a fitted full mixture, by numpy."""
    o, m = ~np.isnan(row), np.isnan(row)
    logs, conds = [], []
    for w, mu, cov in zip(gm.weights_, gm.means_, gm.covariances_):
        s_oo, s_mo = cov[np.ix_(o, o)], cov[np.ix_(m, o)]
        delta = row[o] - mu[o]
        logs.append(np.log(w) + log_normal(delta, s_oo))
        conds.append(mu[m] + s_mo @ np.linalg.solve(s_oo, delta))
    logs = np.array(logs)
    top = logs.max()
    post = np.exp(logs - top) / np.exp(logs - top).sum()
    return top + np.log(np.exp(logs - top).sum()), post @ np.array(conds)


def test_scores_and_imputations_match_numpy():
    x = with_nan(mixture_rows(1500, 1), 0.3, 2)
    gm = GaussianMixture(3, random_state=0).fit(x)
    assert np.isfinite(gm.lower_bound_)
    assert np.all(np.diff(gm.lower_bounds_) >= -1e-6 * np.abs(gm.lower_bounds_[1:]))
    test = with_nan(mixture_rows(200, 3), 0.4, 4)
    scores, filled = gm.score_samples(test), gm.impute(test)
    for row, score, got in zip(test, scores, filled):
        want_score, want_mean = oracle(gm, row)
        assert score == pytest.approx(want_score, rel=1e-4, abs=1e-4)
        np.testing.assert_allclose(got[np.isnan(row)], want_mean, rtol=1e-4, atol=1e-4)
        np.testing.assert_array_equal(got[~np.isnan(row)], row[~np.isnan(row)])


def test_thirty_percent_missing_fits_almost_as_well_as_complete_rows():
    x, test = mixture_rows(3000, 5), mixture_rows(2000, 6)
    complete = GaussianMixture(3, random_state=0).fit(x)
    missing = GaussianMixture(3, random_state=0).fit(with_nan(x, 0.3, 7))
    gap = complete.score(test) - missing.score(test)
    assert abs(gap) < 0.05, gap
    # Mean imputation then EM is the baseline the missing-data EM must beat.
    filled = with_nan(x, 0.3, 7)
    filled = np.where(np.isnan(filled), np.nanmean(filled, axis=0), filled)
    naive = GaussianMixture(3, random_state=0).fit(filled)
    assert missing.score(test) > naive.score(test) + 0.1


def test_draws_are_seeded_and_keep_observed_values():
    x = with_nan(mixture_rows(500, 8), 0.3, 9)
    gm = GaussianMixture(3, random_state=0).fit(x)
    a, b = gm.impute(x, draw=True), gm.impute(x, draw=True)
    np.testing.assert_array_equal(a, b)
    assert not np.isnan(a).any()
    np.testing.assert_array_equal(a[~np.isnan(x)], x[~np.isnan(x)])
    assert not np.allclose(a[np.isnan(x)], gm.impute(x)[np.isnan(x)])


def test_rows_that_observe_nothing_or_hold_inf_are_one_error():
    x = mixture_rows(50, 10)
    x[7] = np.nan
    with pytest.raises(ValueError, match="sample 7: every value is missing"):
        GaussianMixture(2, random_state=0).fit(x)
    x[7] = 1.0
    x[3, 1] = np.inf
    with pytest.raises(ValueError, match="infinity|inf"):
        GaussianMixture(2, random_state=0).fit(x)


def test_load_data_gives_a_data_sets_rows():
    import gmmzoo

    text = 'seed = 1\n[data]\ndataset = "bsds300"\nn_train = 100\nn_test = 40\n'
    x, labels, shape = gmmzoo.load_data(text, "test", gmmzoo.sample_data_dir())
    assert x.shape == (40, 63) and x.dtype == np.float32 and labels is None and shape == (1, 63)
    again, _, _ = gmmzoo.load_data(text, "test", gmmzoo.sample_data_dir())
    np.testing.assert_array_equal(x, again)
    digits = '[data]\ndataset = "mnist"\nn_train = 30\nn_test = 10\n'
    x, labels, shape = gmmzoo.load_data(digits, "train", gmmzoo.sample_data_dir())
    assert x.shape == (30, 784) and labels.shape == (30,) and shape == (28, 28)
    with pytest.raises(ValueError, match="split: 'validation' is not"):
        gmmzoo.load_data(text, "validation", gmmzoo.sample_data_dir())
    with pytest.raises(ValueError, match="set data.n_valid"):
        gmmzoo.load_data(text, "valid", gmmzoo.sample_data_dir())
    # MNIST's validation digits are the training file's last ones, left out of training.
    split = digits.replace("n_train = 30\n", "n_valid = 500\n")
    root = gmmzoo.sample_data_dir()
    every, _, _ = gmmzoo.load_data(split.replace("n_valid = 500\n", ""), "train", root)
    train, _, _ = gmmzoo.load_data(split, "train", root)
    valid, _, _ = gmmzoo.load_data(split, "valid", root)
    np.testing.assert_array_equal(np.concatenate([train, valid]), every)
    assert valid.shape == (500, 784)
    with pytest.raises(ValueError, match="n_train"):
        gmmzoo.load_data(text.replace("100", "0"), "train", gmmzoo.sample_data_dir())
