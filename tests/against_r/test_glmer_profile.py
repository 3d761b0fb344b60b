"""Profile-likelihood intervals of GLMMs against lme4 1.1-31: ``profile(gm)`` and ``confint(gm)`` (method =
"profile", lme4's default for glmer too) for binomial and Poisson fits, Laplace and adaptive Gauss–Hermite.

Reference: tests/reference/glmer_profile_lme4.json, written by tests/r/glmer_profile_reference.R from the rows of
tests/reference/glmer_{cbpp,contraception,grouseticks}.csv (grouseticks with one grouping factor and with three) and
glmer_profile_{singular,slope}.csv (simulated:
binary data whose fit is singular; Poisson counts with a correlated random slope, so a correlation is profiled).
Tolerances, and why:

* every point: at each of lme4's own profile points our deviance (the fit's plus ζ²) is never above lme4's (by more
  than 1e-6): our inner minimizations reach at least lme4's.  lme4's stop early — its profile uses the fit's
  stage-2 optimizer, Nelder–Mead with FtolAbs 1e-5, and its fits themselves stop up to 6e-4 above ours (cbpp) —
  so its ζ is up to 0.01 farther from 0 (contraception's age; 5e-3 for the random slope); elsewhere the two ζ's
  agree within 2e-3 where |ζ| ≤ 3 (``ZETA_TOL``);
* interval ends within 1e-3 of the interval's width of lme4's (about 0.004 in ζ; measured at most 4e-4 of the
  width), 3e-3 for contraception's age (measured 2.8e-3 at 90 %: lme4's ζ there is 0.009 short, see above).  The
  ends differ in method too: lme4 reads each from an interpolating spline through its points (δ = cutoff/8 apart
  in ζ), ours are roots of the profile itself (Illinois' regula falsi on ζ between the bracketing points, as for
  the LMM profiles of test_after_fit.py); the spline's part of the difference is below 2e-3 in ζ, so our ζ at
  lme4's ends is ±z within 2e-3 (1.2e-2 for contraception's age: measured 9.3e-3);
* a fit on the boundary (lme4's SD exactly 0, ours 5e-8): the lower end of the SD is the bound, 0, as lme4's; so
  is the lower end of LOCATION's SD in the grouseticks model with three grouping factors, whose estimate is not 0
  (its profile stays above −1.96 down to 0);
* the fits' −2 logLik within 1e-3 and never above lme4's; the estimates within 1e-3 relative or 1e-2 SE
  (test_glmer.py's rule: lme4's Nelder–Mead stops early).
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from scipy import stats

import hlm_course as hc
from hlm_course.lmer import MixedModelError
from hlm_course.lmer.profile import LmerProfile
from conftest import reference

REF = reference("glmer_profile_lme4")
MODELS = REF["models"]
REF_DIR = Path(__file__).resolve().parents[1] / "reference"
FORMULA = {"cbpp": "cbind(incidence, size - incidence) ~ period + (1 | herd)"}
#: the profiles that take more than a second or two here
SLOW = {"contraception", "slope", "grouse_three"}
#: |ζ − lme4's ζ| where |ζ| ≤ 3, and |end − lme4's end| / width: where lme4's Nelder–Mead stops short (above)
ZETA_TOL = {"contraception": 1.2e-2, "slope": 6e-3}
END_TOL = {("contraception", "age"): 3e-3}
KEYS = [pytest.param(k, marks=pytest.mark.slow) if k in SLOW else k for k in MODELS]


@lru_cache(maxsize=None)
def load(name: str) -> pd.DataFrame:
    if name == "cbpp":
        return pd.read_csv(REF_DIR / "glmer_cbpp.csv", dtype={"herd": str, "period": str})
    if name == "contra":
        return pd.read_csv(REF_DIR / "glmer_contraception.csv", dtype={"district": str, "livch": str})
    if name == "grouse":
        return pd.read_csv(REF_DIR / "glmer_grouseticks.csv",
                           dtype={"BROOD": str, "YEAR": str, "INDEX": str, "LOCATION": str})
    file = {"sing": "singular", "slope": "slope"}[name]
    return pd.read_csv(REF_DIR / f"glmer_profile_{file}.csv", dtype={"g": str})


@lru_cache(maxsize=None)
def fit(key: str):
    m = MODELS[key]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the singular fit warns so
        return hc.glmer(m["formula"], load(m["data"]), family=m["family"], nagq=m["nAGQ"])


@lru_cache(maxsize=None)
def prof(key: str) -> LmerProfile:
    return hc.profile(fit(key))


def _vec(x) -> np.ndarray:
    return np.atleast_1d(np.asarray(x, float))  # (jsonlite writes a length-1 vector as a number)


@pytest.mark.parametrize("key", KEYS)
def test_the_fit_is_lme4s(key):
    m, ref = fit(key), MODELS[key]
    assert m.criterion == pytest.approx(ref["minus2loglik"], abs=1e-3)
    assert m.criterion <= ref["minus2loglik"] + 1e-6  # never a worse optimum than lme4's
    fe, se = _vec(ref["fixef"]), m.se.to_numpy()
    assert np.all(np.abs(m.fixef.to_numpy() - fe) <= np.maximum(1e-3 * np.abs(fe), 1e-2 * se))
    np.testing.assert_allclose(m.theta, _vec(ref["theta"]), rtol=1e-3, atol=1e-5)
    assert m.singular == ref["singular"]


@pytest.mark.parametrize("key", KEYS)
def test_profile_confint_matches_lme4(key):
    ref, pr = MODELS[key], prof(key)
    for level, name in ((0.95, "profile_ci95"), (0.90, "profile_ci90")):
        ci = pr.confint(level=level)
        r = ref[name]
        assert list(ci.index) == r["parameter"]
        assert list(ci.columns) == (["2.5 %", "97.5 %"] if level == 0.95 else ["5 %", "95 %"])
        z = stats.norm.ppf((1 + level) / 2)
        for p, lo, hi in zip(r["parameter"], r["lower"], r["upper"]):
            tol = END_TOL.get((key, p), 1e-3)
            for col, end, target in ((0, lo, -z), (1, hi, z)):
                ours = ci.loc[p].iloc[col]
                assert abs(ours - end) <= tol * (hi - lo), (p, col, level, ours, end)
                if pr.lower[p] < end < pr.upper[p]:  # an end inside the bounds: lme4's ζ = ±z there is ours
                    zt = 1.2e-2 if (key, p) in END_TOL else 2e-3
                    assert pr.zeta(p, end) == pytest.approx(target, abs=zt), (p, end)


@pytest.mark.parametrize("key", KEYS)
def test_zeta_at_lme4s_profile_points(key):
    """Our ζ, computed at the very values lme4 profiled, is lme4's (or closer to 0: a lower deviance than lme4's
    Nelder–Mead reached)."""
    pr, ref = prof(key), MODELS[key]
    for pts in ref["profile_points"]:
        for v, z in zip(_vec(pts["value"]), _vec(pts["zeta"])):
            ours = pr.zeta(pts["par"], v)
            # the deviance minimized over the other parameters: ours is at most lme4's
            assert pr.ml_deviance + ours ** 2 <= ref["minus2loglik"] + z ** 2 + 1e-6, (pts["par"], v, z, ours)
            if abs(z) <= 3:
                assert ours == pytest.approx(z, abs=ZETA_TOL.get(key, 2e-3)), (pts["par"], v, z, ours)


def test_confint_of_a_glmer_fit_is_lme4s_default_profile():
    m, ref = fit("cbpp"), MODELS["cbpp"]["profile_ci95"]
    ci = m.confint()  # lme4's default method = "profile", for glmer too
    assert ci.attrs["method"] == "profile"
    assert ci.attrs["labels"][".sig01"] == "sd_(Intercept)|herd"
    np.testing.assert_allclose(ci.to_numpy(), np.column_stack([ref["lower"], ref["upper"]]), rtol=3e-4)
    same = hc.confint(m, method="profile")
    pd.testing.assert_frame_equal(ci, same)
    one = m.confint(parm="period2", level=0.9)  # only that parameter is profiled (lme4's which = parm)
    assert list(one.index) == ["period2"]
    assert one.loc["period2"].to_numpy() == pytest.approx(
        np.array([MODELS["cbpp"]["profile_ci90"]["lower"][2], MODELS["cbpp"]["profile_ci90"]["upper"][2]]),
        rel=3e-4)
    assert set(hc.profile(m, which="theta_").table[".par"]) == {".sig01"}
    w = m.confint(method="Wald")
    assert w.loc[".sig01"].isna().all() and w.attrs["method"] == "Wald"


def test_singular_fit_lower_end_is_zero_as_lme4s():
    """A fit on the boundary (lme4's SD is exactly 0): the profile of .sig01 never reaches ζ = −z, so the lower
    end is the bound, 0, as lme4's (its spline has no point below the estimate)."""
    ref = MODELS["singular"]
    assert ref["singular"] and ref["profile_ci95"]["lower"][0] == 0
    ci = prof("singular").confint()
    assert ci.loc[".sig01"].iloc[0] == 0.0
    assert ci.loc[".sig01"].iloc[1] == pytest.approx(ref["profile_ci95"]["upper"][0], rel=2e-4)
    assert prof("singular").points(".sig01")["value"].min() == 0.0  # profiled down to the bound


def test_nagq_above_one_is_profiled_at_its_own_nagq():
    """nAGQ = 9 (cbpp's single scalar term): the profile is of the AGQ deviance, whose intervals differ from the
    Laplace ones by more than the tolerance — so the comparison above checks that the right deviance was used."""
    a, b = MODELS["cbpp"]["profile_ci95"], MODELS["cbpp_agq"]["profile_ci95"]
    assert abs(a["upper"][0] - b["upper"][0]) > 10 * 2e-4 * abs(a["upper"][0])
    assert prof("cbpp_agq").ml_deviance == pytest.approx(fit("cbpp_agq").criterion)


# -- bad input ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("level", [0, 1, 1.5, -0.2, 95, "0.95", True])
def test_level_outside_zero_one_is_refused_before_profiling(level):
    m = fit("cbpp")
    with pytest.raises(MixedModelError, match="level must be a number between 0 and 1"):
        m.confint(level=level)
    with pytest.raises(MixedModelError, match="level must be a number between 0 and 1"):
        prof("cbpp").confint(level=level)


def test_unknown_parameter_is_refused_by_name():
    m = fit("cbpp")
    with pytest.raises(MixedModelError, match=r"unknown parameter 'period5'.*'\.sig01', '\(Intercept\)'"):
        m.confint(parm="period5")
    with pytest.raises(MixedModelError, match="unknown parameter '.sigma'"):  # a GLMM has no .sigma
        hc.profile(m, which=".sigma")
    with pytest.raises(MixedModelError, match="out of range"):
        m.confint(parm=7)
    with pytest.raises(MixedModelError, match="method must be"):
        m.confint(method="likelihood")


def test_nagq_zero_fit_cannot_be_profiled():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m0 = hc.glmer(FORMULA["cbpp"], load("cbpp"), family="binomial", nagq=0)
    with pytest.raises(MixedModelError, match="nAGQ >= 1"):
        m0.confint()


# -- properties ------------------------------------------------------------------------------------------------
def test_profile_leaves_the_fit_as_it_was():
    m = fit("grouseticks")
    before = (m.criterion, m.theta.copy(), m.beta.copy(), m.u.copy(), m.fitted.to_numpy().copy())
    state = m.problem.u.copy()
    pr = prof("grouseticks")
    pr.zeta("YEAR96", 1.5)  # an evaluation far from the estimate
    np.testing.assert_array_equal(m.problem.u, state)
    assert m.criterion == before[0]
    np.testing.assert_array_equal(m.theta, before[1])
    np.testing.assert_array_equal(m.fitted.to_numpy(), before[4])


def test_profile_table_has_zeta_zero_at_the_estimate_and_is_monotone():
    pr = prof("cbpp")
    est = pr.estimate
    assert list(pr.parameters) == [".sig01", "(Intercept)", "period2", "period3", "period4"]
    assert pr.ml_deviance == pytest.approx(MODELS["cbpp"]["minus2loglik"], abs=1e-3)
    for name in pr.parameters:
        pts = pr.points(name)
        assert np.all(np.diff(pts["zeta"]) > 0), name
        at = pts.loc[np.isclose(pts["value"], est[name], rtol=0, atol=1e-12), "zeta"]
        assert len(at) == 1 and at.iloc[0] == 0.0
        assert pts["zeta"].min() < -2.576 or pts["value"].min() == pr.lower[name]
        assert pts["zeta"].max() > 2.576
    # ζ² is the likelihood-ratio statistic: the deviance of the fit with period2 held at a value (the other
    # parameters refitted) minus the fit's
    v = est["period2"] + 0.3
    z = pr.zeta("period2", v)
    refit = hc.glmer("cbind(incidence, size - incidence) ~ period + offset(p2) + (1 | herd)",
                     load("cbpp").assign(p2=lambda d: v * (d.period == "2")).assign(
                         period=lambda d: d.period.replace({"2": "1"})), family="binomial")
    assert z ** 2 == pytest.approx(refit.criterion - pr.ml_deviance, abs=1e-5)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2 ** 31 - 1))
def test_intervals_do_not_depend_on_row_order_or_level_labels(seed):
    rng = np.random.default_rng(seed)
    d = load("cbpp")
    order = rng.permutation(len(d))
    labels = {h: f"h{c}" for h, c in zip(sorted(d.herd.unique()), rng.permutation(d.herd.nunique()))}
    e = d.iloc[order].assign(herd=lambda x: x.herd.map(labels)).reset_index(drop=True)
    m = hc.glmer(FORMULA["cbpp"], e, family="binomial")
    np.testing.assert_allclose(m.confint().to_numpy(), prof("cbpp").confint().to_numpy(), rtol=2e-5, atol=1e-7)


def test_profile_evaluations_are_bounded():
    """Not a timing assertion (machine-dependent): the count of deviance evaluations, which is."""
    pr = prof("cbpp")
    assert pr.evaluations < 30_000
    assert pr.elapsed > 0


def test_profile_plot_of_a_glmer_fit_has_no_sigma_panel():
    fig = prof("cbpp").plot()
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_xlabel() for ax in axes] == [".sig01", "(Intercept)", "period2", "period3", "period4"]
    assert "sd_(Intercept)|herd" in axes[0].get_title() and "sd_(Intercept)|herd" in fig.alt_text
    import matplotlib.pyplot as plt

    plt.close(fig)


@pytest.mark.parametrize("loader, name, cols", [
    (hc.load_contraception, "contra", ["woman", "district", "use", "livch", "age", "urban"]),
    (hc.load_grouseticks, "grouse", ["INDEX", "TICKS", "BROOD", "HEIGHT", "YEAR", "LOCATION"]),
])
def test_the_package_loaders_give_the_rows_lme4_profiled(loader, name, cols):
    """The reference fits read the CSV files R wrote from mlmRev's Contraception and lme4's grouseticks; the
    course's loaders give the same rows with the same coding (Contraception: use N/Y, livch 0/1/2/3+, urban N/Y,
    age centred), so the intervals hold for hc.load_contraception() and hc.load_grouseticks() too."""
    ours, r = loader(), load(name)
    assert len(ours) == len(r)
    for c in cols:
        if r[c].dtype.kind == "f":
            np.testing.assert_allclose(ours[c].to_numpy(float), r[c].to_numpy(float), rtol=0, atol=1e-12)
        else:
            assert (ours[c].astype(str).to_numpy() == r[c].astype(str).to_numpy()).all(), c
    assert list(ours["livch" if name == "contra" else "YEAR"].cat.categories) == (
        ["0", "1", "2", "3+"] if name == "contra" else ["95", "96", "97"])


@pytest.mark.slow
def test_lower_end_at_the_bound_for_an_sd_that_is_not_zero():
    """grouseticks with three grouping factors: LOCATION's SD is 0.53, but its profile stays above ζ = −1.96 down to
    0, so lme4's lower end is the bound, 0 (its spline has no point below −1.96) — and ours."""
    ref, pr = MODELS["grouse_three"], prof("grouse_three")
    assert pr.labels[".sig03"] == "sd_(Intercept)|LOCATION" and pr.estimate[".sig03"] > 0.5
    assert ref["profile_ci95"]["lower"][2] == 0
    pts = pr.points(".sig03")
    assert pts["value"].min() == 0.0 and pts["zeta"].min() > -1.96
    assert pr.confint().loc[".sig03"].iloc[0] == 0.0
