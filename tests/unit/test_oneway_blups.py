"""Unit tests of hlm_course.oneway_blups: checks, shapes and identities on small data.

The numbers of seed 001 and the comparisons with R are in
tests/against_r/test_monette_models.py.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import hlm_course as hc
from hlm_course import oneway_blups
from hlm_course.lmer import MixedModelError


@pytest.fixture(scope="module")
def hs() -> pd.DataFrame:
    return hc.load_hs40()


@pytest.fixture(scope="module")
def oneway(hs):
    return hc.lmer("mathach ~ 1 + (1 | school)", hs)


@pytest.fixture(scope="module")
def rc(hs):
    return hc.lmer("mathach ~ ses + (1 + ses | school)", hs)


@pytest.fixture(scope="module")
def ancova(hs):
    return hc.lmer("mathach ~ ses + (1 | school)", hs)


@pytest.fixture(scope="module")
def singular():
    rng = np.random.default_rng(2)
    data = pd.DataFrame({"g": np.repeat(np.arange(8), 6), "y": rng.normal(size=48)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = hc.lmer("y ~ 1 + (1 | g)", data)
    assert fit.singular
    return fit


# ---------------------------------------------------------------------------
# input checks
# ---------------------------------------------------------------------------
def test_functions_need_a_fit():
    with pytest.raises(TypeError, match="must be a fitted model from hlm_course.lmer"):
        oneway_blups.nlme_intervals("mathach ~ 1 + (1 | school)")
    with pytest.raises(TypeError, match="must be a fitted model"):
        oneway_blups.gls_fixef(None)


def test_random_intercept_only_functions_reject_slopes(rc, ancova):
    with pytest.raises(MixedModelError, match=r"random-intercept model .* \['\(Intercept\)', 'ses'\]"):
        oneway_blups.intraclass_correlation(rc)
    with pytest.raises(MixedModelError, match=r"one-way model y ~ 1 \+ \(1 \| g\).*\['\(Intercept\)', 'ses'\]"):
        oneway_blups.weighted_means(ancova)
    with pytest.raises(MixedModelError, match="one-way model"):
        oneway_blups.eblup_oneway(ancova)


def test_boundary_fit_has_no_log_scale_interval(singular):
    with pytest.raises(MixedModelError, match="singular .* log-SD is −∞"):
        oneway_blups.nlme_intervals(singular)
    with pytest.raises(MixedModelError, match="singular"):
        oneway_blups.blup_inverse_variance(singular)


def test_bad_level_and_step(oneway):
    with pytest.raises(ValueError, match="level must be between 0 and 1, got 95"):
        oneway_blups.nlme_intervals(oneway, level=95)
    with pytest.raises(ValueError, match="step must be positive"):
        oneway_blups.nlme_apvar(oneway, step=0)


def test_blups_name_groups_with_singular_design():
    rng = np.random.default_rng(0)
    J, n = 12, 10
    code = np.repeat(np.arange(J), n)
    x = rng.normal(size=J * n)
    u0, u1 = rng.normal(0, 2, J), rng.normal(0, 1.5, J)
    y = 1 + u0[code] + (1 + u1[code]) * x + rng.normal(size=J * n)
    data = pd.DataFrame({"g": [f"g{k:02d}" for k in code], "x": x, "y": y})
    data.loc[data.g == "g03", "x"] = 1.5  # no spread of x in school g03
    fit = hc.lmer("y ~ x + (1 + x | g)", data)
    assert not fit.singular
    with pytest.raises(MixedModelError, match=r"singular in 1 group\(s\) of 'g' \(e\.g\. \['g03'\]\)"):
        oneway_blups.blup_inverse_variance(fit)
    with pytest.raises(MixedModelError, match=r"X_j'X_j is singular in 1 group\(s\) of 'g' \(e\.g\. \['g03'\]\)"):
        oneway_blups.blue_blup_error_cov(fit)


def test_blup_formula_needs_every_coefficient_random(ancova):
    with pytest.raises(MixedModelError, match=r"\['ses'\] have no random effect, so T is singular"):
        oneway_blups.blup_inverse_variance(ancova)
    # the population line itself is defined: (γ00, γ10) in every school
    m = oneway_blups.group_population_coef(ancova)
    np.testing.assert_allclose(m.to_numpy(), np.tile(ancova.fixef.to_numpy(), (40, 1)), rtol=1e-12)


def test_group_matrices_unknown_group(oneway):
    with pytest.raises(KeyError, match="group 99 is not a level of 'school'"):
        oneway_blups.group_matrices(oneway, 99)


def test_shrink_toward_checks():
    T = np.array([[4.0, 1.0], [1.0, 2.0]])
    with pytest.raises(ValueError, match=r"T must be 2 × 2 to match beta_hat"):
        oneway_blups.shrink_toward(np.zeros(2), np.eye(2), np.zeros(2), np.eye(3), 1.0)
    with pytest.raises(ValueError, match="sigma2 must be positive"):
        oneway_blups.shrink_toward(np.zeros(2), np.eye(2), np.zeros(2), T, 0.0)
    with pytest.raises(MixedModelError, match="T must be positive definite"):
        oneway_blups.shrink_toward(np.zeros(2), np.eye(2), np.zeros(2), np.array([[1.0, 1.0], [1.0, 1.0]]), 1.0)


# ---------------------------------------------------------------------------
# behaviour
# ---------------------------------------------------------------------------
def test_shrink_toward_limits_and_shapes():
    rng = np.random.default_rng(1)
    X = np.column_stack([np.ones(20), rng.normal(size=20)])
    XtX = X.T @ X
    b_hat, c = np.array([3.0, -1.0]), np.array([1.0, 2.0])
    T = np.array([[4.0, 1.0], [1.0, 2.0]])
    one = oneway_blups.shrink_toward(b_hat, XtX, c, T, 2.0)
    assert one.shape == (2,)
    A = np.linalg.solve(np.linalg.inv(T) + XtX / 2.0, XtX / 2.0)  # weight of the BLUE
    np.testing.assert_allclose(one, A @ b_hat + (np.eye(2) - A) @ c, rtol=1e-12)
    # limits: a huge T trusts the BLUE, a tiny T the population line
    np.testing.assert_allclose(oneway_blups.shrink_toward(b_hat, XtX, c, 1e9 * T, 2.0), b_hat, atol=1e-6)
    np.testing.assert_allclose(oneway_blups.shrink_toward(b_hat, XtX, c, 1e-9 * T, 2.0), c, atol=1e-6)
    many = oneway_blups.shrink_toward(np.tile(b_hat, (5, 1)), np.tile(XtX, (5, 1, 1)), c, T, 2.0)
    assert many.shape == (5, 2)
    np.testing.assert_allclose(many, np.tile(one, (5, 1)), rtol=1e-12)


def test_natural_params_and_apvar(rc):
    phi = oneway_blups.nlme_natural_params(rc)
    assert list(phi.index) == ["sd((Intercept))", "sd(ses)", "cor((Intercept),ses)", "sigma"]
    T = rc.tau.to_numpy()
    r = T[0, 1] / np.sqrt(T[0, 0] * T[1, 1])
    np.testing.assert_allclose(phi, [0.5 * np.log(T[0, 0]), 0.5 * np.log(T[1, 1]), np.log((1 + r) / (1 - r)),
                                     np.log(rc.sigma)], rtol=1e-12)
    V = oneway_blups.nlme_apvar(rc)
    assert V.shape == (4, 4)
    np.testing.assert_allclose(V, V.T, atol=0)
    assert np.linalg.eigvalsh(V).min() > 0
    # the extrapolated and plain central differences agree closely at a good step
    plain = oneway_blups.nlme_apvar(rc, step=1e-3, extrapolate=False)
    np.testing.assert_allclose(plain, V, rtol=1e-4, atol=1e-8)


def test_intervals_layout_and_level(rc):
    iv95 = oneway_blups.nlme_intervals(rc)
    iv80 = oneway_blups.nlme_intervals(rc, level=0.8)
    assert list(iv95.columns) == ["part", "lower", "est.", "upper"]
    assert list(iv95.part) == ["fixed", "fixed", "random", "random", "random", "sigma"]
    assert (iv95.lower < iv95["est."]).all() and (iv95["est."] < iv95.upper).all()
    assert ((iv80.upper - iv80.lower) < (iv95.upper - iv95.lower)).all()
    corr = iv95.loc["cor((Intercept),ses)"]
    assert -1 < corr.lower < corr.upper < 1


def test_criteria_ml_uses_log_n(hs):
    fit = hc.lmer("mathach ~ 1 + (1 | school)", hs, reml=False)
    crit = oneway_blups.nlme_criteria(fit)
    assert crit["BIC"] == pytest.approx(fit.bic, rel=1e-12)
    assert crit["AIC"] == pytest.approx(fit.aic, rel=1e-12)


def test_group_matrices(rc):
    lw = oneway_blups.group_matrices(rc, 1317)
    n = int((rc.data.school == 1317).sum())
    assert lw["X"].shape == (n, 2) and lw["Z"].shape == (n, 2) and lw["y"].shape == (n,)
    assert lw["Sigma"].shape == (n, n)
    Z = lw["Z"].to_numpy()
    np.testing.assert_allclose(lw["Sigma"], Z @ rc.tau.to_numpy() @ Z.T + rc.sigma2 * np.eye(n), rtol=1e-12)


def test_blup_formula_equals_lmer_coef(rc):
    blup = oneway_blups.blup_inverse_variance(rc)
    np.testing.assert_allclose(blup.to_numpy(), rc.coef[["(Intercept)", "ses"]].to_numpy(), atol=1e-10)


def test_icc_of_simulated_data():
    """With many large groups the ICC estimates τ00/(τ00 + σ²) = 0.2."""
    rng = np.random.default_rng(5)
    J, n = 300, 20
    u = rng.normal(0, 1.0, J)
    data = pd.DataFrame({"g": np.repeat(np.arange(J), n)})
    data["y"] = 3 + u[data.g] + rng.normal(0, 2.0, J * n)
    fit = hc.lmer("y ~ 1 + (1 | g)", data)
    assert oneway_blups.intraclass_correlation(fit) == pytest.approx(0.2, abs=0.03)


# ---------------------------------------------------------------------------
# BLUEs against BLUPs by simulation
# ---------------------------------------------------------------------------
def test_blue_blup_error_cov(rc):
    S, pev = oneway_blups.blue_blup_error_cov(rc)
    assert S.shape == pev.shape == (40, 2, 2)
    np.testing.assert_allclose(S, rc.sigma2 * np.linalg.inv(rc.xp.ZtZ), rtol=1e-12)
    # the BLUP's prediction-error variance is lme4's conditional variance
    np.testing.assert_allclose(pev, rc.cond_var, rtol=1e-9, atol=1e-12)
    # and it is smaller than the BLUE's sampling variance in every school
    assert (np.linalg.eigvalsh(S - pev) > 0).all()


def test_simulate_blue_blup_shapes_and_seed(rc):
    a = oneway_blups.simulate_blue_blup(rc, nsim=20, seed=11)
    b = oneway_blups.simulate_blue_blup(rc, nsim=20, seed=11)
    assert set(a) == {"true", "blue", "blup"}
    for key in a:
        assert a[key].shape == (20, 40, 2)
        np.testing.assert_array_equal(a[key], b[key])
    # each BLUP is shrink_toward applied to its BLUE, with the known parameters
    m = oneway_blups.group_population_coef(rc).to_numpy()
    one = oneway_blups.shrink_toward(a["blue"][3], rc.xp.ZtZ, m, rc.tau.to_numpy(), rc.sigma2)
    np.testing.assert_allclose(a["blup"][3], one, rtol=1e-12)


def test_blue_blup_mse_matches_formulas(rc):
    mse = oneway_blups.blue_blup_mse(rc, nsim=300, seed=7)
    assert list(mse.index) == ["(Intercept)", "ses"]
    assert list(mse.columns) == ["BLUE, simulated", "BLUE, MC SE", "BLUE, formula",
                                 "BLUP, simulated", "BLUP, MC SE", "BLUP, formula"]
    for name in ("BLUE", "BLUP"):
        z = (mse[f"{name}, simulated"] - mse[f"{name}, formula"]) / mse[f"{name}, MC SE"]
        assert (z.abs() < 4).all(), z
        assert (mse[f"{name}, MC SE"] < 0.05 * mse[f"{name}, formula"]).all()
    assert (mse["BLUP, simulated"] < mse["BLUE, simulated"]).all()
    S, pev = oneway_blups.blue_blup_error_cov(rc)
    np.testing.assert_allclose(mse["BLUP, formula"], np.diagonal(pev, axis1=1, axis2=2).mean(axis=0), rtol=1e-12)


def test_blue_blup_simulation_checks(ancova, singular, rc):
    with pytest.raises(MixedModelError, match=r"\['ses'\] have no random effect"):
        oneway_blups.blue_blup_mse(ancova)
    with pytest.raises(MixedModelError, match="singular"):
        oneway_blups.blue_blup_error_cov(singular)
    with pytest.raises(ValueError, match="nsim must be an integer of at least 2, got 1"):
        oneway_blups.simulate_blue_blup(rc, nsim=1)
    with pytest.raises(ValueError, match="nsim must be an integer"):
        oneway_blups.blue_blup_mse(rc, nsim=2.5)
