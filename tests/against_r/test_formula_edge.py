"""Issue 24: the formula layer's edge cases and predict(), against lme4 1.1-31.

Reference: tests/r/formula_edge_reference.R (data: tests/r/formula_edge_data.py) →
tests/reference/formula_edge_lme4.json.  Each reproducer of the issue is a case: a fit that must match lme4's
criterion, number of parameters, fixed-effect names and estimates, or an error that must be our own
MixedModelError with a clear message where lme4 stops (often with a cryptic one).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import hlm_course as hc
from hlm_course.lmer import MixedModelError
from conftest import reference

REF = reference("formula_edge_lme4")
PRED = REF["predict"]
DATA = pd.read_csv("tests/reference/formula_edge.csv")
FITS = [k for k, v in REF.items() if isinstance(v, dict) and "formula" in v and "error" not in v]
ERRORS = {  # lme4's error → ours (a MixedModelError naming the problem)
    "poly_degree_25": r"'degree' must be less than number of unique points",
    "zero_bar": r"\(0 \| g\) has no random effect",
    "minus_one_bar": r"\(-1 \| g\) has no random effect",
    "double_bar_outside": r"bar '\|' outside a parenthesized random-effects term",
}


def quiet(formula, data=DATA, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return hc.lmer(formula, data, **kw)


def test_every_error_case_is_covered():
    assert sorted(k for k, v in REF.items() if isinstance(v, dict) and "error" in v) == sorted(ERRORS)


@pytest.mark.parametrize("key", FITS)
def test_fit_matches_lme4(key):
    r = REF[key]
    m = quiet(r["formula"], reml=r["reml"])
    ours = m.reml_criterion if m.reml else m.ml_deviance
    assert ours <= r["criterion"] + 1e-5  # our optimum is never worse than lme4's
    assert ours == pytest.approx(r["criterion"], abs=2e-3)
    assert m.npar == r["npar"]
    assert m.nobs == r["nobs"]
    assert m.aic == pytest.approx(r["aic"], abs=2e-3)
    assert list(m.fixef.index) == (r["fixef_names"] or [])
    for name, value in (r["fixef"] or {}).items():
        assert m.fixef[name] == pytest.approx(value, abs=2e-3 * max(1.0, abs(value)))
    assert m.ml_deviance == pytest.approx(r["ml_deviance"], abs=2e-3)


@pytest.mark.parametrize("key", sorted(ERRORS))
def test_lme4_error_is_our_clear_error(key):
    with pytest.raises(MixedModelError, match=ERRORS[key]):
        quiet(REF[key]["formula"])


def test_issue_reproducer_unused_level_has_no_variance():
    """Issue 24 item 1, verbatim: the level "c" has no response left; lme4: fa and fb only, npar 6, AIC 437.11."""
    rng = np.random.default_rng(3)
    g = np.repeat(np.arange(20), 10)
    d = pd.DataFrame({"g": g, "x": rng.normal(size=200), "f": rng.choice(["a", "b", "c"], 200)})
    d["y"] = 2 + .5 * d.x + rng.normal(size=20)[g] + rng.normal(size=200)
    d.loc[d.f == "c", "y"] = np.nan
    m = quiet("y ~ x + (0 + f | g)", d)
    assert m.npar == 6 and round(m.aic, 2) == 437.11
    assert m.random_names == ["fa", "fb"]
    # a pandas category left unused by a filter is no level either (and the fit is the same)
    d2 = d.dropna().assign(f=lambda t: pd.Categorical(t.f, categories=["a", "b", "c"]))
    m2 = quiet("y ~ x + (0 + f | g)", d2)
    assert m2.random_names == ["fa", "fb"] and m2.reml_criterion == pytest.approx(m.reml_criterion, abs=1e-8)
    # (f | g) fits (was "constant within every group"), the fixed part names no phantom level
    assert quiet("y ~ x + (f | g)", d).random_names == ["(Intercept)", "fb"]
    assert list(quiet("y ~ x + f + (1 | g)", d).fixef.index) == ["(Intercept)", "x", "fb"]


def test_rank_deficient_columns_are_dropped_with_a_warning():
    for key, dropped in [("near_collinear", "xnear"), ("exact_collinear", "I(2 * x)")]:
        r = REF[key]
        assert "rank deficient so dropping 1 column" in r["messages"]
        with pytest.warns(UserWarning, match=r"rank deficient so dropping 1 column / coefficient \['" +
                          dropped.replace("(", r"\(").replace(")", r"\)").replace("*", r"\*")):
            m = hc.lmer(r["formula"], DATA)
        assert dropped not in m.fixef.index


def test_dotted_names_are_columns_never_attributes():
    """Issue 24 item 3: x.index is the column, not the row numbers; y.T is the column, not y transposed."""
    m = quiet("y ~ x + x.index + (1 | g)")
    assert m.fixef["x.index"] == pytest.approx(REF["dotted_fixed"]["fixef"]["x.index"], abs=1e-4)
    assert quiet("y.T ~ x + (1 | g)").reml_criterion == pytest.approx(REF["dotted_response"]["criterion"], abs=1e-3)
    # patsy's Q() and R's backticks name the same column; the coefficient is named as R names it
    crit = REF["dotted_plain"]["criterion"]
    for f in ["y ~ IQ.verb + (1 | g)", "y ~ `IQ.verb` + (1 | g)", "y ~ Q('IQ.verb') + (1 | g)"]:
        m = quiet(f)
        assert list(m.fixef.index) == ["(Intercept)", "IQ.verb"] and m.reml_criterion == pytest.approx(crit, abs=1e-3)
    with pytest.raises(MixedModelError, match=r"\['x\.nothere'\] not found"):
        quiet("y ~ x.nothere + (1 | g)")
    with pytest.raises(MixedModelError, match=r"unknown function x\.index\(\)"):
        quiet("y ~ x.index(x) + (1 | g)")


def test_contrast_spellings():
    ref = REF["contr_sum"]["fixef"]
    for f, name in [("y ~ C(f, contr.sum) + (1 | g)", "C(f, contr.sum)"), ("y ~ C(f, sum) + (1 | g)", "C(f, sum)"),
                    ("y ~ C(f, Sum) + (1 | g)", "C(f, Sum)")]:
        m = quiet(f)
        assert list(m.fixef.index) == ["(Intercept)", f"{name}1", f"{name}2"]
        np.testing.assert_allclose(m.fixef.to_numpy(), list(ref.values()), atol=1e-4)


@pytest.mark.parametrize("formula", ["y ~ 0 + (1 | g)", "y ~ 0 + (1 | g) + (1 | f)", "y ~ -1 + (x || g)"])
def test_no_fixed_effects_fit_is_silent(capfd, formula):
    """No LAPACK 'DTRTRS illegal value' lines; with p = 0 the REML criterion is the ML deviance (lme4's is
    undefined there: it reads log|R_X|² from uninitialized memory, see the R script)."""
    m = quiet(formula)
    out, err = capfd.readouterr()
    assert "DTRTRS" not in out + err
    assert len(m.fixef) == 0
    assert m.reml_criterion == pytest.approx(m.ml_deviance, abs=1e-9)


def test_deviance_of_a_reml_fit_is_named_as_lme4():
    """lme4 1.1-31: deviance(REML fit) is the REML criterion, with a deprecation warning; the ML deviance at the
    REML estimates is deviance(fit, REML = FALSE) — our ml_deviance."""
    r = REF["deviance_reml"]
    m = hc.lmer("y ~ x + (1 | g)", DATA)
    with pytest.warns(FutureWarning, match="reml_criterion.*ml_deviance"):
        dev = m.deviance
    assert dev == pytest.approx(r["deviance"], abs=1e-4) == m.reml_criterion
    assert m.ml_deviance == pytest.approx(r["ml"], abs=1e-4)
    ml = m.refit(reml=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ml.deviance == ml.ml_deviance  # an ML fit: no warning


def test_offset_spellings():
    once = quiet("y ~ x + offset(o) + (1 | g)")
    for f in ["y ~ x + offset(o) + offset(o) + (1 | g)", "y ~ x + (offset(o) | g)", "y ~ x + offset( o ) + offset(o) + (1 | g)"]:
        m = quiet(f)
        assert m.reml_criterion == pytest.approx(once.reml_criterion, abs=1e-9) and m.random_names == ["(Intercept)"]


def test_scale_is_learned_on_all_rows():
    """R evaluates scale(x) before dropping rows with a missing response: the coefficient is x's slope times
    the sd of x over all 200 rows."""
    m = quiet("y2 ~ scale(x) + (1 | g)")
    slope = quiet("y2 ~ x + (1 | g)").fixef["x"]
    assert m.fixef["scale(x)"] == pytest.approx(slope * DATA.x.std(ddof=1), rel=1e-6)
    assert m.fixef["scale(x)"] == pytest.approx(REF["scale_missing"]["fixef"]["scale(x)"], abs=1e-5)


# ---- predict -------------------------------------------------------------------------------------------------------
def _read(name):
    return pd.read_csv(f"tests/reference/multi_{name}")


@pytest.fixture(scope="module")
def sleep_fit():
    return quiet(PRED["sleep"]["formula"], _read("sleepstudy.csv"))


def test_predict_sleepstudy(sleep_fit):
    r = PRED["sleep"]
    nd = pd.DataFrame(r["newdata"])
    np.testing.assert_allclose(sleep_fit.predict(nd, allow_new_levels=True), r["re_all"], atol=2e-3)
    np.testing.assert_allclose(sleep_fit.predict(nd.iloc[:3]), r["re_known"], atol=2e-3)
    for no_re in (False, "NA", "~0"):
        np.testing.assert_allclose(sleep_fit.predict(nd, re_form=no_re), r["re_na"], atol=2e-3)
    np.testing.assert_allclose(sleep_fit.predict().iloc[:5], r["fitted_head"], atol=2e-3)
    np.testing.assert_allclose(sleep_fit.predict(), sleep_fit.fitted, atol=1e-9)
    assert r["new_level_error"] == "new levels detected in newdata: 999"
    with pytest.raises(MixedModelError, match="new levels detected in newdata: 999"):
        sleep_fit.predict(nd)
    # a new level predicts the population value; the index of newdata is kept
    p = sleep_fit.predict(nd.set_index(pd.Index(list("abcde"))), allow_new_levels=True)
    assert list(p.index) == list("abcde")
    assert p["d"] == pytest.approx(sleep_fit.predict(nd.iloc[[3]], re_form=False).iloc[0], abs=1e-12)


def test_predict_partial_re_form_on_one_grouping_factor():
    r = PRED["sleep_uncorr"]
    m = quiet(r["formula"], _read("sleepstudy.csv"))
    nd = pd.DataFrame(r["newdata"])
    for key, rf in [("re_all", None), ("re_intercept", "~(1 | Subject)"), ("re_slope", "~(0 + Days | Subject)")]:
        np.testing.assert_allclose(m.predict(nd, re_form=rf, allow_new_levels=True), r[key], atol=2e-3)
    # (x || g) is the same two terms
    m2 = quiet("Reaction ~ Days + (Days || Subject)", _read("sleepstudy.csv"))
    np.testing.assert_allclose(m2.predict(nd, re_form="~(0 + Days | Subject)", allow_new_levels=True),
                               r["re_slope"], atol=2e-3)


def test_predict_with_scale_and_poly_uses_the_fit_s_parameters():
    r = PRED["sleep_poly"]
    m = quiet(r["formula"], _read("sleepstudy.csv"))
    nd = pd.DataFrame(r["newdata"])
    np.testing.assert_allclose(m.predict(nd, allow_new_levels=True), r["re_all"], atol=1e-5)
    np.testing.assert_allclose(m.predict(nd, re_form=False), r["re_na"], atol=1e-5)


def test_predict_crossed_partial_re_form():
    r = PRED["scotssec"]
    m = quiet(r["formula"], _read("scotssec.csv.gz"))
    nd = pd.DataFrame(r["newdata"])
    for key, rf in [("re_all", None), ("re_primary", "~(1 | primary)"), ("re_second", "~ (1|second)"),
                    ("re_na", False)]:
        np.testing.assert_allclose(m.predict(nd, re_form=rf, allow_new_levels=True), r[key], atol=1e-4)
    np.testing.assert_allclose(m.predict().iloc[:5], r["fitted_head"], atol=1e-4)
    with pytest.raises(MixedModelError, match="not present in original model"):
        m.predict(nd, re_form="~(1 | sex)")
    with pytest.raises(MixedModelError, match="re_form must be"):
        m.predict(nd, re_form=3)


def test_predict_nested_with_slopes():
    r = PRED["egsingle"]
    m = quiet(r["formula"], _read("egsingle.csv.gz"))
    nd = pd.DataFrame(r["newdata"])
    for key, rf in [("re_all", None), ("re_school", "~(year | schoolid)"), ("re_na", False)]:
        np.testing.assert_allclose(m.predict(nd, re_form=rf, allow_new_levels=True), r[key], atol=1e-4)


def test_predict_unused_levels_and_missing_values():
    r = PRED["unused"]
    d = DATA[DATA.f != "c"]
    m = quiet(r["formula"], d)
    np.testing.assert_allclose(m.predict(d.iloc[:6]), r["re_all"], atol=1e-4)
    # lme4 says "non-conformable arguments"; we name the factor and its new level
    with pytest.raises(MixedModelError, match=r"factor 'f' has new level\(s\) \['c'\]"):
        m.predict(DATA.iloc[:6])
    # a missing predictor gives NaN for that row only (lme4's na.pass)
    nd = d.iloc[:4].copy()
    nd.iloc[1, nd.columns.get_loc("x")] = np.nan
    p = m.predict(nd)
    assert np.isnan(p.iloc[1]) and np.isfinite(p.drop(p.index[1])).all()
    with pytest.raises(MixedModelError, match=r"lacks column\(s\) \['x'\]"):
        m.predict(nd.drop(columns="x"))


def test_glmer_predict_speaks_the_same_re_form():
    """GlmerFit.predict takes the same spellings for no random effects and gives lme4's new-level message."""
    d = DATA.assign(yb=(DATA.y > 1).astype(int))
    m = hc.glmer("yb ~ x + (1 | g)", d, family=hc.binomial())
    fixed = m.predict(d.head(3), re_form=False)
    for spelling in ("NA", "~0", "~ 0"):
        np.testing.assert_allclose(m.predict(d.head(3), re_form=spelling), fixed, rtol=1e-12)
    with pytest.raises(MixedModelError, match="new levels detected in newdata: zz"):
        m.predict(d.head(2).assign(g="zz"))
    # a re_form naming the model's only term is re_form=None (partial re_form: tests/against_r/test_afterfit2.py)
    np.testing.assert_allclose(m.predict(d.head(2), re_form="~(1 | g)"), m.predict(d.head(2)), rtol=1e-12)


def test_predict_with_nullable_dtypes_and_missing_groups():
    m = quiet("y ~ x + f + (x | g)", DATA)
    nd = DATA.head(4).astype({"f": "string", "g": "string", "x": "Float64"})
    np.testing.assert_allclose(m.predict(nd), m.fitted.head(4), rtol=1e-12)
    nd.loc[nd.index[1], "x"] = pd.NA
    nd.loc[nd.index[2], "g"] = pd.NA
    with pytest.raises(MixedModelError, match="new levels detected in newdata: NA"):
        m.predict(nd)
    p = m.predict(nd, allow_new_levels=True)  # lme4: a missing group is a new level (population prediction)
    fixed = m.predict(nd, re_form=False)
    assert np.isnan(p.iloc[1]) and np.isnan(fixed.iloc[1])
    assert p.iloc[2] == pytest.approx(fixed.iloc[2], abs=1e-12)
    # a factor given with other categories (and an unused one) maps to the fit's levels
    nd4 = DATA.head(4).assign(f=pd.Categorical(DATA.f.head(4), categories=["c", "b", "a", "zz"]))
    np.testing.assert_allclose(m.predict(nd4), m.fitted.head(4), rtol=1e-12)
