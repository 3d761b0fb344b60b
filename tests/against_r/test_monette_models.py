"""Seed 001's numbers for chapters 03-04, and every model of its "From the
simple to the complex" table, against R.

Reference values: ``tests/reference/monette_models.json``, written by
``Rscript tests/r/monette_models.R`` (nlme 3.1-162, lme4 1.1-31).  Seed
numbers are quoted from seed 001's printed ``lme`` output.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import hlm_course as hc
from hlm_course import oneway_blups
from conftest import reference

REF = reference("monette_models")

#: Seed 001, "One way anova with random effect": summary(lme(mathach ~ 1, hs, random = ~1 | sid)).
SEED_ONEWAY = {"intercept": 12.60468, "se": 0.4711941, "df": 1937, "t": 26.75049,
               "sd_school": 2.836278, "sd_resid": 6.296759, "aic": 12985.94, "bic": 13002.71,
               "loglik": -6489.969}
#: Seed 001's intervals(fit.oneway.re).
SEED_INTERVALS = {"fixed": (11.68057, 13.52878), "sd": (2.214072, 3.633338), "sigma": (6.101522, 6.498242)}
#: Seed 001's BLUPs (coef) of ten schools, keyed by school number (sid without its letters).
SEED_BLUP = {8854: 5.356214, 2771: 11.906661, 5640: 13.115900, 7345: 11.440975, 6897: 14.869792,
             4530: 9.313204, 7342: 11.279062, 5720: 14.139565, 7688: 17.935733, 1906: 15.695718}
#: Seed 001's ranef of the first and last schools it prints.
SEED_RANEF = {5762: -7.30651445, 2639: -5.36017663, 8854: -7.24846197, 6484: 0.26973942,
              2208: 2.58744359, 2658: 0.71334861, 1906: 3.09104215, 9586: 2.08485465}

#: Seed 001's coef(fit.oneway.re) of the first and last schools it prints.
SEED_COEF = {5762: 5.298161, 2639: 7.244499, 8854: 5.356214, 5619: 15.220870, 2208: 15.192119,
             2658: 13.318024, 1906: 15.695718, 9586: 14.689530}
#: Seed 001's some(hs1.sid): school -> (ses.sch, n, mathach.ols, blup).
SEED_SOME = {8854: (-0.75675000, 32, 4.239781, 5.356214), 2771: (-0.33945455, 55, 11.844109, 11.906661),
             5640: (-0.17659649, 57, 13.160105, 13.115900), 7345: (0.03325000, 56, 11.338554, 11.440975),
             6897: (0.34955102, 49, 15.097633, 14.869792), 4530: (-0.59688889, 63, 9.055698, 9.313204),
             7342: (-0.44782759, 58, 11.166414, 11.279062), 5720: (0.03256604, 53, 14.282302, 14.139565),
             7688: (0.18588889, 54, 18.422315, 17.935733), 1906: (0.51162264, 53, 15.983170, 15.695718)}
#: Seed 001's glh(fit.oneway.re) F value and the standardized within-group residuals' summary.
SEED_GLH_F = 715.589
SEED_RESID_QUANTILES = (-2.78262694, -0.74562760, 0.03825124, 0.78826675, 2.51105403)

FORMULAS = {name: spec["formula"] for name, spec in REF["lme4"].items()}


@pytest.fixture(scope="module")
def hs() -> pd.DataFrame:
    df = hc.load_hs40()
    df["ses_mean"] = hc.cvar("ses", "school", df)
    df["ses_dev"] = hc.dvar("ses", "school", df)
    return df


@pytest.fixture(scope="module")
def fits(hs) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {name: hc.lmer(formula, hs) for name, formula in FORMULAS.items()}


@pytest.fixture(scope="module")
def oneway(fits):
    return fits["oneway"]


# ---------------------------------------------------------------------------
# the one-way ANOVA with random effects: seed 001's lme output
# ---------------------------------------------------------------------------
def test_oneway_matches_seed_printout(oneway):
    crit = oneway_blups.nlme_criteria(oneway)
    assert oneway.fixef["(Intercept)"] == pytest.approx(SEED_ONEWAY["intercept"], abs=5e-6)
    assert oneway.se["(Intercept)"] == pytest.approx(SEED_ONEWAY["se"], abs=5e-8)
    assert oneway.fixef["(Intercept)"] / oneway.se["(Intercept)"] == pytest.approx(SEED_ONEWAY["t"], abs=5e-5)
    assert np.sqrt(oneway.tau.iloc[0, 0]) == pytest.approx(SEED_ONEWAY["sd_school"], abs=5e-7)
    assert oneway.sigma == pytest.approx(SEED_ONEWAY["sd_resid"], abs=5e-7)
    assert crit["AIC"] == pytest.approx(SEED_ONEWAY["aic"], abs=5e-3)
    assert crit["BIC"] == pytest.approx(SEED_ONEWAY["bic"], abs=5e-3)
    assert crit["logLik"] == pytest.approx(SEED_ONEWAY["loglik"], abs=5e-4)
    assert hc.between_within_df(oneway)["(Intercept)"] == SEED_ONEWAY["df"]


def test_oneway_matches_nlme_to_many_digits(oneway):
    ref = REF["nlme"]["oneway_reml"]
    crit = oneway_blups.nlme_criteria(oneway)
    assert oneway.fixef["(Intercept)"] == pytest.approx(ref["fixef"]["(Intercept)"], rel=1e-9)
    assert oneway.se["(Intercept)"] == pytest.approx(ref["se"]["(Intercept)"], rel=1e-7)
    assert oneway.sigma == pytest.approx(ref["sigma"], rel=1e-8)
    assert crit["logLik"] == pytest.approx(ref["loglik"], abs=1e-6)
    assert crit["AIC"] == pytest.approx(ref["aic"], abs=1e-6)
    assert crit["BIC"] == pytest.approx(ref["bic"], abs=1e-6)
    # lme4 counts BIC with log(N), nlme with log(N - p) for REML
    assert oneway.bic - crit["BIC"] == pytest.approx(oneway.npar * np.log(1977 / 1976), rel=1e-9)


def test_ranef_and_coef_match_seed_and_nlme(oneway):
    ranef = oneway.ranef["(Intercept)"]
    for school, value in SEED_RANEF.items():
        assert ranef[school] == pytest.approx(value, abs=5e-8)
    coef = oneway.coef["(Intercept)"]
    for school, value in SEED_BLUP.items():
        assert coef[school] == pytest.approx(value, abs=5e-7)
    ref = REF["nlme"]["oneway_reml"]
    np.testing.assert_allclose(ranef.loc[ref["ranef"]["school"]], ref["ranef"]["value"], atol=1e-7)
    np.testing.assert_allclose(coef.loc[ref["ranef"]["school"]], ref["coef"], atol=1e-7)


def test_coef_list_and_some_table_match_seed(oneway, hs):
    coef = oneway.coef["(Intercept)"]
    for school, value in SEED_COEF.items():
        assert coef[school] == pytest.approx(value, abs=5e-7)
    e = oneway_blups.eblup_oneway(oneway)
    ses_mean = hs.groupby("school").ses.mean()
    for school, (ses_sch, n, blue, blup) in SEED_SOME.items():
        assert ses_mean[school] == pytest.approx(ses_sch, abs=5e-9)
        assert e.loc[school, "n"] == n
        assert e.loc[school, "blue"] == pytest.approx(blue, abs=5e-7)
        assert e.loc[school, "blup"] == pytest.approx(blup, abs=5e-7)


def test_glh_f_and_standardized_residuals_match_seed(oneway):
    t = oneway.fixef["(Intercept)"] / oneway.se["(Intercept)"]
    assert t ** 2 == pytest.approx(SEED_GLH_F, abs=5e-4)
    # nlme's standardized within-group residuals: (y - fitted at the school level) / sigma
    np.testing.assert_allclose(oneway.scaled_resid, oneway.resid / oneway.sigma, rtol=1e-12)
    q = oneway.scaled_resid.quantile([0, 0.25, 0.5, 0.75, 1]).to_numpy()
    np.testing.assert_allclose(q, SEED_RESID_QUANTILES, atol=5e-9)


def test_icc(oneway):
    icc = oneway_blups.intraclass_correlation(oneway)
    expected = SEED_ONEWAY["sd_school"] ** 2 / (SEED_ONEWAY["sd_school"] ** 2 + SEED_ONEWAY["sd_resid"] ** 2)
    assert icc == pytest.approx(expected, abs=1e-6)
    assert icc == pytest.approx(0.16867, abs=5e-6)


# ---------------------------------------------------------------------------
# nlme's intervals()
# ---------------------------------------------------------------------------
def _ref_intervals(key: str, which: str = "intervals_numderiv") -> pd.DataFrame:
    iv = REF["nlme"][key][which]
    names = np.atleast_1d(iv["fixed"]["names"]).tolist()
    rows = {n: (lo, hi) for n, lo, hi in zip(names, np.atleast_1d(iv["fixed"]["lower"]),
                                                np.atleast_1d(iv["fixed"]["upper"]))}
    rnames = np.atleast_1d(iv["random"]["names"]).tolist()
    rows.update({n: (lo, hi) for n, lo, hi in zip(rnames, np.atleast_1d(iv["random"]["lower"]),
                                                 np.atleast_1d(iv["random"]["upper"]))})
    rows["sigma"] = (iv["sigma"]["lower"], iv["sigma"]["upper"])
    return pd.DataFrame(rows, index=["lower", "upper"]).T


@pytest.mark.parametrize("key,reml", [("oneway_reml", True), ("oneway_ml", False)])
def test_nlme_intervals_match_nlme_with_accurate_hessian(hs, key, reml):
    fit = hc.lmer("mathach ~ 1 + (1 | school)", hs, reml=reml)
    ours = oneway_blups.nlme_intervals(fit)
    ref = _ref_intervals(key)
    np.testing.assert_allclose(ours.loc[ref.index, ["lower", "upper"]].to_numpy(float), ref.to_numpy(float),
                               rtol=2e-7)
    apvar = np.asarray(REF["nlme"][key]["apvar_numderiv"]["matrix"])
    np.testing.assert_allclose(oneway_blups.nlme_apvar(fit).to_numpy(), apvar, rtol=2e-5, atol=1e-9)


def test_nlme_intervals_vs_seed_and_default_nlme(oneway):
    """The fixed-effect and σ intervals equal the seed's to its digits; the
    SD interval differs in the 4th digit, as nlme's own (fdHess) value does."""
    ours = oneway_blups.nlme_intervals(oneway)
    assert tuple(ours.loc["(Intercept)", ["lower", "upper"]]) == pytest.approx(SEED_INTERVALS["fixed"], abs=5e-6)
    assert tuple(ours.loc["sigma", ["lower", "upper"]]) == pytest.approx(SEED_INTERVALS["sigma"], abs=5e-7)
    sd = ours.loc["sd((Intercept))", ["lower", "upper"]].to_numpy(float)
    assert sd == pytest.approx(SEED_INTERVALS["sd"], rel=3e-4)
    assert sd == pytest.approx([2.213875240, 3.633661318], abs=1e-6)
    default = REF["nlme"]["oneway_reml"]["intervals"]["random"]
    assert sd == pytest.approx([default["lower"], default["upper"]], rel=2e-4)
    assert ours.loc["(Intercept)", "part"] == "fixed" and ours.loc["sigma", "part"] == "sigma"


def test_nlme_intervals_random_slopes(fits):
    """q = 2 (log SDs, transformed correlation).  nlme stops at a slightly
    different optimum for this flat likelihood (sd(ses) 0.35628 vs 0.35646), so
    the poorly determined sd(ses) interval agrees only roughly."""
    iso = fits["iso"]
    ours = oneway_blups.nlme_intervals(iso)
    ref = _ref_intervals("iso_reml")
    np.testing.assert_allclose(ours.loc[["(Intercept)", "ses", "sector", "ses:sector"], ["lower", "upper"]]
                               .to_numpy(float), ref.iloc[:4].to_numpy(float), rtol=1e-4)
    np.testing.assert_allclose(ours.loc[["sd((Intercept))", "sigma"], ["lower", "upper"]].to_numpy(float),
                               ref.loc[["sd((Intercept))", "sigma"]].to_numpy(float), rtol=2e-3)
    np.testing.assert_allclose(ours.loc["sd(ses)", ["lower", "upper"]].to_numpy(float),
                               ref.loc["sd(ses)"].to_numpy(float), rtol=0.05)
    np.testing.assert_allclose(ours.loc["cor((Intercept),ses)", ["lower", "upper"]].to_numpy(float),
                               ref.loc["cor((Intercept),ses)"].to_numpy(float), rtol=5e-3)
    assert list(hc.between_within_df(iso)) == [1935, 1935, 38, 1935]


# ---------------------------------------------------------------------------
# weighted means and EBLUPs
# ---------------------------------------------------------------------------
def test_weighted_means(oneway, hs):
    means = oneway_blups.weighted_means(oneway)
    assert means.loc["GLS", "estimate"] == pytest.approx(oneway.fixef["(Intercept)"], rel=1e-10)
    assert means.loc["GLS", "se"] == pytest.approx(oneway.se["(Intercept)"], rel=1e-8)
    assert means.loc["overall mean", "estimate"] == pytest.approx(hs.mathach.mean(), rel=1e-12)
    assert means.loc["mean of means", "estimate"] == pytest.approx(
        hs.groupby("school").mathach.mean().mean(), rel=1e-12)
    # GLS has the smallest variance of the three as an estimator of gamma_00
    assert means.se.idxmin() == "GLS"


def test_eblup_is_inverse_variance_weighting(oneway):
    e = oneway_blups.eblup_oneway(oneway)
    np.testing.assert_allclose(e.blup, oneway.coef["(Intercept)"], atol=1e-10)
    np.testing.assert_allclose(e.ranef, oneway.ranef["(Intercept)"], atol=1e-10)
    tau00, s2 = oneway.tau.iloc[0, 0], oneway.sigma2
    np.testing.assert_allclose(e.weight, (e.n / s2) / (e.n / s2 + 1 / tau00), rtol=1e-12)
    assert e.weight.min() == pytest.approx(0.854732, abs=1e-6)
    assert e.loc[8854, "blue"] == pytest.approx(4.239781, abs=5e-7)  # seed's mathach.ols
    assert e.loc[8854, "n"] == 32


# ---------------------------------------------------------------------------
# every row of "From the simple to the complex", against lme4
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(FORMULAS))
def test_table_rows_match_lme4(fits, name):
    ref = REF["lme4"][name]
    fit = fits[name]
    assert list(fit.fixef.index) == list(ref["fixef"])
    # With a random slope the REML surface is flat and lme4 stops early (on the ISO
    # model with a convergence warning): our criterion is never higher than lme4's,
    # and the estimates agree to lme4's stopping precision.
    slope = len(fit.random_names) > 1
    tol = 3e-4 if slope else 2e-6
    assert fit.reml_criterion <= ref["reml_criterion"] + 1e-8
    assert fit.reml_criterion == pytest.approx(ref["reml_criterion"], abs=1e-5)
    np.testing.assert_allclose(fit.fixef, list(ref["fixef"].values()), rtol=tol, atol=tol)
    np.testing.assert_allclose(fit.se, list(ref["se"].values()), rtol=5 * tol)
    np.testing.assert_allclose(fit.tau.to_numpy(), np.asarray(ref["tau"]), rtol=10 * tol, atol=10 * tol)
    assert fit.sigma == pytest.approx(ref["sigma"], rel=tol)
    assert fit.refit(reml=False).loglik == pytest.approx(ref["ml_loglik"], abs=1e-4)


def test_contextual_models_are_reparametrizations(fits):
    """γ_cvar(raw) = γ_between − γ_within, with identical likelihoods."""
    dev, raw = fits["contextual_dev"], fits["contextual_raw"]
    assert raw.reml_criterion == pytest.approx(dev.reml_criterion, abs=1e-7)
    contextual = raw.fixef["ses_mean"]
    assert contextual == pytest.approx(dev.fixef["ses_mean"] - dev.fixef["ses_dev"], abs=1e-6)
    assert raw.fixef["ses"] == pytest.approx(dev.fixef["ses_dev"], abs=1e-6)
    assert contextual == pytest.approx(REF["lme4"]["contextual_raw"]["fixef"]["ses_mean"], abs=3e-4)


# ---------------------------------------------------------------------------
# BLUEs and BLUPs in beta space (random slopes)
# ---------------------------------------------------------------------------
def test_blues_match_lmlist(fits):
    blue = hc.group_ols(fits["iso"]).coef
    ref = REF["blue"]
    np.testing.assert_allclose(blue.loc[ref["school"]].to_numpy(), np.asarray(ref["values"]), atol=1e-9)


def test_blup_inverse_variance_equals_lmer_coef(fits):
    iso = fits["iso"]
    blup = oneway_blups.blup_inverse_variance(iso)
    population = oneway_blups.group_population_coef(iso)
    np.testing.assert_allclose(blup.to_numpy(), (population + iso.ranef).to_numpy(), atol=1e-10)
    # and lme4's coef(): β0j = (Intercept) + sector·W_j, β1j = ses + ses:sector·W_j
    ref = REF["lme4"]["iso"]["coef"]
    cf = pd.DataFrame(ref["values"], index=ref["school"], columns=ref["columns"])
    W = iso.data.groupby("school").sector.first().loc[cf.index]
    beta0 = cf["(Intercept)"] + W * cf["sector"]
    beta1 = cf["ses"] + W * cf["ses:sector"]
    # lme4 stopped early on this model (see test_table_rows_match_lme4)
    np.testing.assert_allclose(blup.loc[cf.index, "(Intercept)"], beta0, atol=2e-3)
    np.testing.assert_allclose(blup.loc[cf.index, "ses"], beta1, atol=2e-3)


def test_sector_mean_of_blups_is_gamma(fits, hs):
    """The GLS equations make the BLUPs average to the sector's mean line."""
    iso = fits["iso"]
    blup = oneway_blups.blup_inverse_variance(iso)
    sector = hs.groupby("school").sector.first()
    g = iso.fixef
    for w in (0, 1):
        centre = [g["(Intercept)"] + w * g["sector"], g["ses"] + w * g["ses:sector"]]
        np.testing.assert_allclose(blup[sector == w].mean().to_numpy(), centre, atol=1e-9)


def test_gls_by_formula_equals_lmer(fits):
    for name in ("oneway", "iso", "contextual_iso"):
        fit = fits[name]
        gamma, cov = oneway_blups.gls_fixef(fit)
        np.testing.assert_allclose(gamma, fit.fixef, rtol=1e-9, atol=1e-10)
        np.testing.assert_allclose(cov, fit.vcov, rtol=1e-8, atol=1e-12)


def test_conditional_variance_is_prediction_error_variance(fits):
    iso = fits["iso"]
    T = iso.tau.to_numpy()
    pev = np.linalg.inv(np.linalg.inv(T)[None] + iso.xp.ZtZ / iso.sigma2)
    np.testing.assert_allclose(pev, iso.cond_var, rtol=1e-9, atol=1e-12)
