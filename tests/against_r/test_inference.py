"""anova, parametric bootstrap tests and intervals, simulation (seed 000 numbers)."""

from __future__ import annotations

import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import hlm_course as hc
from hlm_course.lmer.batch import batch_cross_products, refit_many
from hlm_course.lmer import CrossProducts, MixedModelError, optimize_theta
from conftest import reference

REF = reference("lme4_reference")


@lru_cache(maxsize=None)
def hsb():
    return hc.load_hsb()


@lru_cache(maxsize=None)
def fits():
    d = hsb()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "int": hc.lmer("mathach ~ cses + (1 | school)", d),
            "int_minority": hc.lmer("mathach ~ cses + minority + (1 | school)", d),
            "rc": hc.lmer("mathach ~ cses + (cses | school)", d),
        }


def test_anova_fixed_effects_refits_with_ml():
    f = fits()
    tab = hc.anova(f["int"], f["int_minority"], names=["mod3_int_null", "mod3_int"])
    ref = REF["anova"]["fixed_minority"]
    assert tab.attrs["refit"]
    np.testing.assert_allclose(tab["deviance"], ref["deviance"], atol=1e-3)
    np.testing.assert_allclose(tab["AIC"], ref["aic"], atol=1e-3)
    np.testing.assert_allclose(tab["BIC"], ref["bic"], atol=1e-3)
    assert tab["Chisq"].iloc[1] == pytest.approx(ref["chisq"], abs=1e-3)
    assert f"{tab['Chisq'].iloc[1]:.2f}" == "207.34"  # seed 000
    assert tab["Df"].iloc[1] == 1
    assert np.isnan(tab["Pr(mixture)"].iloc[1])  # fixed effects differ: no boundary issue


def test_anova_random_slope_reml():
    f = fits()
    tab = hc.anova(f["int"], f["rc"], refit=False, names=["mod3_null", "model3"])
    ref = REF["anova"]["random_cses"]
    assert tab["Chisq"].iloc[1] == pytest.approx(ref["chisq"], abs=1e-3)
    assert f"{tab['Chisq'].iloc[1]:.4f}" == "9.7617" and f"{tab['Pr(>Chisq)'].iloc[1]:.6f}" == "0.007591"
    np.testing.assert_allclose(tab["AIC"], ref["aic"], atol=1e-3)
    # 50:50 mixture of chi2(1) and chi2(2): smaller than the naive p-value
    mix = 0.5 * (np.exp(-ref["chisq"] / 2) + __import__("scipy").stats.chi2.sf(ref["chisq"], 1))
    assert tab["Pr(mixture)"].iloc[1] == pytest.approx(mix, rel=1e-6)
    assert tab["Pr(mixture)"].iloc[1] < tab["Pr(>Chisq)"].iloc[1]


def test_anova_gives_no_mixture_p_value_for_two_random_effects_at_once():
    """(1 | school) against (cses + minority | school): 6 - 1 = 5 new parameters, two new random effects.

    The 50:50 mixture of chi2(4) and chi2(5) is not the null distribution there (Stram & Lee 1994 cover
    adding one random effect), so anova must not print it; a one-step addition still gets it.
    """
    d = hsb()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        both = hc.lmer("mathach ~ cses + minority + (cses + minority | school)", d)
        one = hc.lmer("mathach ~ cses + minority + (cses | school)", d)
    small = fits()["int_minority"]
    tab = hc.anova(small, both, refit=False)
    assert tab["Df"].iloc[1] == 5 and np.isnan(tab["Pr(mixture)"].iloc[1])
    assert tab["Pr(>Chisq)"].iloc[1] < 1e-3  # the naive test is still reported
    step = hc.anova(small, one, both, refit=False)
    assert list(step["Df"].iloc[1:]) == [2, 3]
    assert step["Pr(mixture)"].iloc[1] == pytest.approx(hc.mixture_pvalue(step["Chisq"].iloc[1], 2))
    assert step["Pr(mixture)"].iloc[2] == pytest.approx(hc.mixture_pvalue(step["Chisq"].iloc[2], 3))


def test_anova_rejects_reml_comparison_of_different_fixed_parts():
    f = fits()
    with pytest.raises(MixedModelError, match="not comparable"):
        hc.anova(f["int"], f["int_minority"], refit=False)
    with pytest.raises(MixedModelError, match="at least two"):
        hc.anova()
    # one fit alone is lme4's anova(fit): its fixed effects' table (checked against lme4 in test_afterfit2.py)
    assert list(hc.anova(f["int"]).columns) == ["npar", "Sum Sq", "Mean Sq", "F value"]


def test_mixture_pvalue_edges():
    assert hc.mixture_pvalue(0.0, 1) == pytest.approx(1.0)
    assert hc.mixture_pvalue(3.84, 1) == pytest.approx(0.5 * 0.0500, abs=2e-4)
    with pytest.raises(ValueError, match="df must be at least 1"):
        hc.mixture_pvalue(1.0, 0)


def test_simulate_response_reproducible_and_has_the_model_moments():
    m = fits()["rc"]
    a = hc.simulate_response(m, 3, seed=42)
    b = hc.simulate_response(m, 3, seed=42)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (3, m.nobs)
    Y = hc.simulate_response(m, 400, seed=1)
    # overall mean and variance of the simulated responses match the model's
    Xb = m.X @ m.pls.beta
    T = m.tau.to_numpy()
    var = m.sigma2 + T[0, 0] + 2 * T[0, 1] * m.Z[:, 1] + T[1, 1] * m.Z[:, 1] ** 2
    assert np.mean(Y - Xb) == pytest.approx(0.0, abs=0.05)
    assert np.mean((Y - Xb) ** 2) / np.mean(var) == pytest.approx(1.0, abs=0.02)


def test_refit_many_matches_full_optimization():
    for key in ("int", "rc"):
        m = fits()[key]
        Y = hc.simulate_response(m, 8, seed=7)
        r = refit_many(m, Y)
        Zty, Xty, yty = batch_cross_products(m, Y)
        for s in range(8):
            xp = CrossProducts(m.xp.ZtZ, m.xp.ZtX, Zty[:, s].T.copy(), m.xp.XtX, Xty[s], float(yty[s]), m.nobs)
            best = min(r_.criterion for r_ in optimize_theta(xp, True))
            assert r.criterion[s] <= best + 1e-6
        # and the refit of the observed response reproduces the original fit
        r0 = refit_many(m, m.y[None, :])
        assert r0.criterion[0] == pytest.approx(m.reml_criterion, abs=1e-7)
        np.testing.assert_allclose(r0.beta[0], m.fixef, rtol=1e-7)


@pytest.mark.slow
def test_pb_test_minority_like_pbkrtest():
    f = fits()
    pb = hc.pb_test(f["int"], f["int_minority"], nsim=1000, seed=2024)
    assert f"{pb.lrt:.2f}" == "207.34" and pb.df == 1
    assert pb.extremes == 0 and pb.p_value == pytest.approx(1 / 1001)  # seed: 0.000999, extremes 0
    assert pb.stats.shape == (1000,)
    # under the null the bootstrap LRTs behave like chi2(1): mean near 1, 95% quantile near 3.84
    assert np.mean(pb.stats) == pytest.approx(1.0, abs=0.15)
    assert np.quantile(pb.stats, 0.95) == pytest.approx(3.84, abs=0.6)
    again = hc.pb_test(f["int"], f["int_minority"], nsim=1000, seed=2024)
    np.testing.assert_array_equal(pb.stats, again.stats)
    assert list(pb.table().index) == ["LRT", "PBtest"]


def test_pb_test_argument_order():
    f = fits()
    with pytest.raises(MixedModelError, match="swap the arguments"):
        hc.pb_test(f["int_minority"], f["int"], nsim=10)


@pytest.mark.slow
def test_bootstrap_ci_random_coefficients_model():
    m = fits()["rc"]
    ci = hc.bootstrap_ci(m, nsim=1000, seed=123)
    assert list(ci.index) == ["sd_(Intercept)", "cor_cses.(Intercept)", "sd_cses", "sigma", "(Intercept)", "cses"]
    assert list(ci["lme4"]) == [".sig01", ".sig02", ".sig03", ".sigma", "(Intercept)", "cses"]
    assert (ci["lower"] < ci["estimate"]).all() and (ci["estimate"] < ci["upper"]).all()
    # seed 000's lme4 bootstrap table (another Monte Carlo sample): endpoints agree to Monte Carlo error
    seed = {"sd_(Intercept)": (2.5968018, 3.2927604), "cor_cses.(Intercept)": (-0.3022129, 0.4414194),
            "sd_cses": (0.4346349, 1.1285269), "sigma": (5.9544060, 6.1672046),
            "(Intercept)": (12.1208481, 13.1124875), "cses": (1.9523704, 2.4369979)}
    for name, (lo, hi) in seed.items():
        width = hi - lo
        assert ci.loc[name, "lower"] == pytest.approx(lo, abs=0.12 * width)
        assert ci.loc[name, "upper"] == pytest.approx(hi, abs=0.12 * width)
    # fixed-effect intervals close to the Wald intervals
    for name in ["(Intercept)", "cses"]:
        wald = (m.fixef[name] - 1.96 * m.se[name], m.fixef[name] + 1.96 * m.se[name])
        assert ci.loc[name, "lower"] == pytest.approx(wald[0], abs=0.1 * m.se[name] * 4)
        assert ci.loc[name, "upper"] == pytest.approx(wald[1], abs=0.1 * m.se[name] * 4)
    again = hc.bootstrap_ci(m, nsim=1000, seed=123)
    np.testing.assert_array_equal(ci[["lower", "upper"]].to_numpy(), again[["lower", "upper"]].to_numpy())
    assert ci.attrs["replicates"].shape == (1000, 6)


def test_bootstrap_ci_bad_level():
    with pytest.raises(ValueError, match="level must be between 0 and 1"):
        hc.bootstrap_ci(fits()["int"], nsim=5, level=95)


def test_simulate_two_level_monette_school():
    data, true = hc.simulate_two_level(2000, seed=11)
    assert list(data.columns) == ["group", "x", "y"] and len(true) == 2000
    assert data.groupby("group").size().to_numpy().tolist() == true["n"].tolist()
    assert true["n"].mean() == pytest.approx(30, abs=1)
    np.testing.assert_allclose(true[["intercept", "slope"]].mean(), [12, 2], atol=0.35)  # 3 SE
    # sampling SEs of the covariance entries with 2000 draws are about 0.5-0.8: allow 3 SE
    np.testing.assert_allclose(np.cov(true[["intercept", "slope"]].T.to_numpy()), [[16, 8], [8, 25]], atol=2.4)
    d2, t2 = hc.simulate_two_level(2000, seed=11)
    np.testing.assert_array_equal(data.to_numpy(), d2.to_numpy())
    with pytest.raises(MixedModelError, match="positive semi-definite"):
        hc.simulate_two_level(3, G=[[1, 2], [2, 1]])


def test_refit_many_finds_the_optimum_with_three_random_effects_on_the_boundary():
    """Responses simulated without a random minority gap, refitted with one: many refits end on the boundary.

    Every vectorized refit must reach the criterion BOBYQA (optimize_theta, lme4's method) reaches for that
    response, within 0.01, and (nearly) none may need the slow one-by-one fallback.  The earlier projected
    Newton (full Hessian, negative curvature floored) stopped up to 0.4 above the optimum and fell back on
    BOBYQA for a fifth of the refits.
    """
    from hlm_course.lmer import CrossProducts, optimize_theta

    d = hsb()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        small = hc.lmer("mathach ~ cses + minority + (cses | school)", d, reml=False)
        large = hc.lmer("mathach ~ cses + minority + (cses + minority | school)", d, reml=False)
    Y = hc.simulate_response(small, 30, seed=7)
    bar = _Bar()
    refits = hc.refit_many(large, Y, reml=False, progress=bar)
    assert refits.n_fallback <= 1
    assert bar.n == 30  # boundary re-searches and fallbacks counted once each
    from hlm_course.lmer import theta_lower

    assert ((refits.theta < 1e-4) & (theta_lower(3) == 0)).any(axis=1).sum() >= 5  # the case this tests
    Zty, Xty, yty = batch_cross_products(large, Y)
    xp0 = large.xp
    for s in range(len(Y)):
        xp = CrossProducts(ZtZ=xp0.ZtZ, ZtX=xp0.ZtX, Zty=Zty[:, s].T.copy(), XtX=xp0.XtX, Xty=Xty[s],
                           yty=float(yty[s]), n=xp0.n)
        best = min(r.criterion for r in optimize_theta(xp, False))
        assert refits.criterion[s] <= best + 0.01, f"refit {s}: {refits.criterion[s]:.4f} vs BOBYQA {best:.4f}"


def test_monette_school_is_the_printed_school_and_its_true_line_is_recovered():
    """Seed 001 prints 23 students' SES, epsilon and Y (two decimals); Y - epsilon is the true line."""
    d, beta = hc.monette_school()
    assert d.shape == (23, 3) and list(d.columns) == ["x", "eps", "y"]
    assert (d.iloc[0].tolist(), d.iloc[-1].tolist()) == ([-1.05, 4.46, 14.53], [0.38, -3.61, -0.13])
    X = np.column_stack([np.ones(23), d["x"]])
    # within what rounding three printed numbers allows: |dY| + |d eps| + |beta1| |d SES| <= 0.005 (2 + 4.62)
    assert np.abs(d["y"] - d["eps"] - X @ beta).max() < 0.005 * (2 + abs(beta[1]))
    np.testing.assert_allclose(beta, [5.2426, -4.6147], atol=1e-4)
    u = beta - np.array([12.0, 2.0])
    d2 = u @ np.linalg.solve(np.array([[16.0, 8.0], [8.0, 25.0]]), u)
    assert np.sqrt(d2) == pytest.approx(1.831, abs=1e-3)  # farther out than ~81% of the population


def test_simulate_dispatches_to_a_model_or_to_parameters():
    m = fits()["int"]
    np.testing.assert_array_equal(hc.simulate(m, 2, seed=5), hc.simulate_response(m, 2, seed=5))
    data, truth = hc.simulate(n_groups=3, seed=1)
    data2, truth2 = hc.simulate_two_level(3, seed=1)
    pd.testing.assert_frame_equal(data, data2)
    pd.testing.assert_frame_equal(truth, truth2)
    with pytest.raises(TypeError, match="model must be a fit"):
        hc.simulate(hsb())
    with pytest.raises(ValueError, match="n_groups="):
        hc.simulate(gamma=(1.0, 2.0))
    with pytest.raises(ValueError, match="nsim counts responses"):
        hc.simulate(nsim=5, n_groups=3)


def test_refits_of_uncorrelated_terms_keep_lambda_diagonal_and_match_single_fits():
    """(x || g): the bootstrap refits over Λθ's diagonal only, and each refit is the
    lmer fit of that response (not the correlated model's)."""
    d = hsb()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = hc.lmer("mathach ~ cses + (cses || school)", d)
        Y = hc.simulate_response(m, 5, seed=3)
        r = refit_many(m, Y)
        assert r.theta.shape == (5, 3)
        np.testing.assert_array_equal(r.theta[:, 1], 0.0)  # the correlation stays out
        for s in range(5):
            single = hc.lmer("mathach ~ cses + (cses || school)", d.assign(mathach=Y[s]))
            assert r.criterion[s] == pytest.approx(single.reml_criterion, abs=1e-6)
            np.testing.assert_allclose(r.beta[s], single.fixef, rtol=1e-6)
        # the observed response gives back the fit itself
        r0 = refit_many(m, m.y[None, :])
        assert r0.criterion[0] == pytest.approx(m.reml_criterion, abs=1e-7)


def test_bootstrap_ci_of_uncorrelated_terms_has_no_correlation_row():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = hc.lmer("mathach ~ cses + (cses || school)", hsb())
    ci = hc.bootstrap_ci(m, nsim=40, seed=2)
    assert list(ci.index) == ["sd_(Intercept)", "sd_cses", "sigma", "(Intercept)", "cses"]
    assert list(ci["lme4"]) == [".sig01", ".sig02", ".sigma", "(Intercept)", "cses"]
    assert (ci["lower"] < ci["estimate"]).all() and (ci["estimate"] < ci["upper"]).all()


class _Bar:
    """Stands in for a tqdm bar: records the updates."""

    def __init__(self):
        self.n = 0

    def update(self, k=1):
        assert k >= 0
        self.n += k

    def close(self):
        pass


def test_refit_progress_counts_every_refit_once():
    """The bar reflects the whole run: Newton, boundary re-searches and BOBYQA
    fallbacks each finish a refit once, so it ends at nsim (pb_test: 2 × nsim)."""
    for key in ("int", "rc"):
        bar = _Bar()
        Y = hc.simulate_response(fits()[key], 60, seed=11)
        r = refit_many(fits()[key], Y, progress=bar)
        assert bar.n == 60, (key, bar.n, r.n_fallback)
    small, large = fits()["int"], fits()["int_minority"]
    import hlm_course.inference as inf

    bars = []
    orig = inf.progress_bar
    inf.progress_bar = lambda progress, total, desc: (bars.append((_Bar(), total)) or bars[-1][0]) \
        if progress is True else orig(progress, total, desc)
    try:
        hc.pb_test(small, large, nsim=30, seed=1, progress=True)
    finally:
        inf._progress_bar = orig
    assert len(bars) == 1 and bars[0][1] == 60 and bars[0][0].n == 60
