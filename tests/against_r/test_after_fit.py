"""After the fit, against lme4 1.1-31 (issue 24, item 6): profile-likelihood intervals (``profile``,
``confint(method = "profile")``), Wald intervals, ``anova`` of three and four models, ``update``.

Reference: tests/reference/after_fit_lme4.json, written by tests/r/after_fit_reference.R from the data sets of
tests/r/multi_term_reference.R (lme4's sleepstudy and Penicillin, mlmRev's Exam).  Tolerances:

* one known departure, where ours is right: lme4 reads interval ends from a spline through a few profile
  points, and for the Exam model with two terms the lower end of .sig01 is 0.0228 in lme4 but 0.0197 here;
  our ζ agrees with lme4's at lme4's points, and at lme4's end it is −1.919, not −1.96 (``SPLINE_ERRORS``);

* profile interval ends within 5e-4 relative of lme4's, and our ζ at lme4's ends within 2.5e-3 of ±z — lme4
  reads them from an interpolating spline through its profile points and its inner optimizer stops at
  nloptwrap's tolerances; ours are roots of the profile itself (measured: at most 2.1e-4 relative, at the 90 %
  end of a correlation);
* ζ at each of lme4's own profile points within 2e-3 where |ζ| ≤ 3 (1e-2 for the Exam models, where
  lme4's inner optimizer stops up to 6e-3 short in ζ), and never more than 1e-4 farther from 0
  than lme4's anywhere: where they differ more (far out in the tails) ours is the lower deviance — lme4's inner
  optimizer stopped early;
* criteria, AIC, BIC, logLik, χ² within 1e-3 (issue 21's rule); fixed effects within 1e-5 relative.
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import hlm_course as hc
from hlm_course.lmer.multiterm import LmerFitMulti
from conftest import reference

REF = reference("after_fit_lme4")
REF_DIR = Path(__file__).resolve().parents[1] / "reference"


@lru_cache(maxsize=None)
def load(name: str) -> pd.DataFrame:
    if name == "sleep":
        return pd.read_csv(REF_DIR / "multi_sleepstudy.csv", dtype={"Subject": str})
    if name == "pen":
        return pd.read_csv(REF_DIR / "multi_penicillin.csv", dtype={"plate": str, "sample": str})
    return pd.read_csv(REF_DIR / "multi_exam.csv.gz", dtype={"school": str, "sex": str, "student": str})


@lru_cache(maxsize=None)
def fit(formula: str, data: str, reml: bool = True):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return hc.lmer(formula, load(data), reml=reml)


@lru_cache(maxsize=None)
def prof(key: str):
    ref = REF["profiles"][key]
    return hc.profile(fit(ref["formula"], ref["data"]))


SLOW = {"exam_two_terms"}  # 4 059 rows and two terms: about 10 s on a quiet machine
PROFILES = [pytest.param(k, marks=pytest.mark.slow) if k in SLOW else k for k in REF["profiles"]]
ZETA_TOL = {"exam_slope": 1e-2, "exam_two_terms": 1e-2}  # lme4's inner optimizations stop up to 6e-3 (in ζ)
# above the minimum in these two Exam models (ours is then the lower deviance: the test's first assertion)
# Interval ends where lme4's interpolating spline misses the root of its own profile: the Exam model with two
# terms, .sig01 (the SD of school:sex) — lme4's profile points are 0.0083 (ζ −2.058) and 0.0329 (ζ −1.759), and
# its spline between them puts ζ = −1.96 at 0.0228, where the profile (ours agrees with lme4's at both points
# to 1e-5) is −1.919; the root is 0.0197.  (key, parameter, 0 lower / 1 upper, level)
SPLINE_ERRORS = {("exam_two_terms", ".sig01", 0, 0.95)}


@pytest.mark.parametrize("key", PROFILES)
def test_profile_confint_matches_lme4(key):
    ref = REF["profiles"][key]
    pr = prof(key)
    for level, name in ((0.95, "profile_ci95"), (0.90, "profile_ci90")):
        ci = pr.confint(level=level)
        r = ref[name]
        assert list(ci.index) == r["parameter"]
        z = stats.norm.ppf((1 + level) / 2)
        for p, lo, hi in zip(r["parameter"], r["lower"], r["upper"]):
            for col, end, target in ((0, lo, -z), (1, hi, z)):
                ours = ci.loc[p].iloc[col]
                if (key, p, col, level) in SPLINE_ERRORS:
                    # lme4's spline end is off: ζ there is not ±z; ours is the root of the profile
                    assert abs(pr.zeta(p, end) - target) > 0.02
                    assert pr.zeta(p, ours) == pytest.approx(target, abs=1e-6)
                    continue
                assert ours == pytest.approx(end, rel=5e-4, abs=1e-7), (p, col, level)
                # lme4's ends are (to its spline's accuracy) where our profile ζ is ±z
                if pr.lower[p] < end < pr.upper[p]:
                    assert pr.zeta(p, end) == pytest.approx(target, abs=2.5e-3), (p, end)
    assert list(pr.confint().columns) == ["2.5 %", "97.5 %"]
    assert pr.ml_deviance == pytest.approx(ref["ml_deviance"], abs=1e-3)
    assert pr.estimate[".sigma"] == pytest.approx(ref["ml_sigma"], rel=1e-4)
    fixef = np.atleast_1d(np.asarray(ref["ml_fixef"], float))  # (jsonlite writes a length-1 vector as a number)
    np.testing.assert_allclose(pr.estimate.iloc[-len(fixef):], fixef, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("key", PROFILES)
def test_zeta_at_lme4s_profile_points(key):
    """Our ζ, computed at the very parameter values lme4 profiled, is lme4's (or closer to 0: a lower
    deviance than lme4's inner optimizer reached)."""
    pr = prof(key)
    for pts in REF["profiles"][key]["profile_points"]:
        for v, z in zip(pts["value"], pts["zeta"]):
            ours = pr.zeta(pts["par"], v)
            assert abs(ours) <= abs(z) + 1e-4, (pts["par"], v, z, ours)
            if abs(z) <= 3:
                assert ours == pytest.approx(z, abs=ZETA_TOL.get(key, 2e-3)), (pts["par"], v, z, ours)


def test_profile_of_the_ml_fit_is_the_profile_of_the_reml_fit():
    """lme4 profiles the likelihood: a REML fit is refitted by ML first, so both give the same intervals."""
    ref = REF["profiles"]["sleep_split"]
    ml = hc.profile(fit(ref["formula"], ref["data"], reml=False)).confint()
    pd.testing.assert_frame_equal(ml, prof("sleep_split").confint(), rtol=1e-6)


def test_crossed_fit_is_profiled_through_the_blocked_factor():
    m = fit(REF["profiles"]["penicillin"]["formula"], "pen")
    assert isinstance(m, LmerFitMulti)
    ci = m.confint()  # the method: lme4's default method = "profile"
    assert ci.attrs["labels"][".sig01"] == "sd_(Intercept)|plate"
    assert ci.attrs["labels"][".sig02"] == "sd_(Intercept)|sample"
    np.testing.assert_allclose(ci.to_numpy(), prof("penicillin").confint().to_numpy(), rtol=1e-7)


@pytest.mark.parametrize("key", PROFILES)
def test_wald_confint_matches_lme4(key):
    ref = REF["profiles"][key]
    ci = hc.confint(fit(ref["formula"], ref["data"]), method="Wald")
    r = ref["wald_ci95"]
    assert list(ci.index) == r["parameter"]
    assert list(ci.iloc[:, 0].isna()) == ref["wald_na"]
    ok = ~ci.iloc[:, 0].isna().to_numpy()
    np.testing.assert_allclose(ci.iloc[:, 0].to_numpy()[ok], np.array(r["lower"], float)[ok], rtol=1e-5)
    np.testing.assert_allclose(ci.iloc[:, 1].to_numpy()[ok], np.array(r["upper"], float)[ok], rtol=1e-5)


@pytest.mark.parametrize("key", list(REF["anovas"]))
def test_anova_of_three_or_more_models_matches_lme4(key):
    a = REF["anovas"][key]
    fits = [fit(f, a["data"]) for f in a["formulas"]]
    given = [fits[i - 1] for i in a["given_order"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = hc.anova(*given, names=[f"m{i}" for i in a["given_order"]])
    r = a["table"]
    # lme4 orders by npar, keeping the given order for ties; its row names are the variables' (s0 … / p1 …)
    assert [int(n[1:]) for n in t.index] == [int(n[1:]) + (1 if key == "sleep4" else 0) for n in r["model"]]
    assert list(t["npar"]) == r["npar"]
    for col in ("AIC", "BIC", "logLik", "deviance"):
        np.testing.assert_allclose(t[col], r[col], atol=1e-3)
    ref_chisq = np.array([np.nan if v is None else v for v in r["Chisq"]])
    np.testing.assert_allclose(t["Chisq"], ref_chisq, atol=1e-3)
    np.testing.assert_array_equal(t["Df"].isna(), [v is None for v in r["Df"]])
    ref_p = np.array([np.nan if v is None else v for v in r["p"]])
    np.testing.assert_allclose(t["Pr(>Chisq)"], ref_p, rtol=1e-3)  # NaN where Df = 0 (R's NA), as lme4


def test_anova_names_models_by_keyword_as_r_by_variable():
    a = REF["anovas"]["penicillin3"]
    p1, p2, p3 = (fit(f, "pen") for f in a["formulas"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = hc.anova(p3=p3, p1=p1, p2=p2)
    assert list(t.index) == ["p1", "p2", "p3"]  # by npar; p1 and p2 tie and keep the order given
    t2 = hc.anova(p3=p3, p2=p2, p1=p1)
    assert list(t2.index) == ["p2", "p1", "p3"]


@pytest.mark.parametrize("key", list(REF["updates"]))
def test_update_matches_lme4(key):
    u = REF["updates"][key]
    m = fit(u["start"], u["data"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        new = m.update(reml=False) if u["change"] == "REML = FALSE" else hc.update(m, u["change"])
    if u["change"] != "REML = FALSE":
        assert new.formula == u["formula"]
    assert new.reml == u["reml"]
    crit = new.reml_criterion if new.reml else new.deviance
    assert crit <= u["criterion"] + 1e-3 and crit == pytest.approx(u["criterion"], abs=1e-3)
    names = u["fixef_names"] if isinstance(u["fixef_names"], list) else [u["fixef_names"]]
    fixef = u["fixef"] if isinstance(u["fixef"], list) else [u["fixef"]]
    assert list(new.fixed_names) == names
    np.testing.assert_allclose(new.fixef, fixef, rtol=1e-5)
    assert m.formula == u["start"]  # the old fit is unchanged


def test_profile_is_faster_than_lme4s_on_a_quiet_machine():
    """Not a timing assertion (machine-dependent): the count of deviance evaluations, which is.  The times
    are in the report (benchmarks)."""
    pr = prof("sleep_corr")
    assert pr.evaluations < 20_000
    assert pr.elapsed > 0
