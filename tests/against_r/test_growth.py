"""Chapter 17, "Growth over time": the chapter's growth models against lme4 1.1-31
(tests/r/growth_reference.R -> tests/reference/growth_lme4.json), the egsingle loader, the covariance helper
and the self-checks of hlm_course/labs/growth.py."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

import hlm_course as hc
from hlm_course import labs
from hlm_course.labs import growth
from conftest import reference

ROOT = Path(__file__).resolve().parents[2]
REF = reference("growth_lme4")["models"]


@pytest.fixture(scope="module")
def eg():
    return growth.growth_data()


# ---------------------------------------------------------------------------
# the models against lme4 1.1-31
# ---------------------------------------------------------------------------
def test_the_reference_holds_every_model_of_the_chapter():
    assert set(REF) == set(growth.FORMULAS)
    for name, formula in growth.FORMULAS.items():
        assert REF[name]["formula"] == formula
        assert REF[name]["messages"] == [] and not REF[name]["singular"]


@pytest.mark.parametrize("name", list(growth.FORMULAS))
def test_growth_models_match_lme4(name):
    """Criterion within 1e-3 and never above lme4's (ours stops at or below lme4's optimum, with the
    convergence check passed); fixed effects within 1e-3 relative (they agree to about 2e-5); SEs and
    variance components within 1e-3 relative."""
    ref = REF[name]
    fit = growth.fit(name)
    assert fit.check is not None and fit.check.ok, fit.check
    assert fit.reml_criterion <= ref["reml_criterion"] + 1e-8
    assert fit.reml_criterion == pytest.approx(ref["reml_criterion"], abs=1e-3)
    names = list(ref["fixef"])
    np.testing.assert_allclose(fit.fixef[names], list(ref["fixef"].values()), rtol=1e-3)
    np.testing.assert_allclose(fit.se[names], list(ref["se"].values()), rtol=1e-3)
    assert fit.sigma2 == pytest.approx(ref["sigma2"], rel=1e-3)
    ours = growth.covariances(fit)
    assert set(ours) == set(ref["tau"])  # lme4's names of the grouping factors, childid:schoolid for the nesting
    for group, matrix in ref["tau"].items():
        assert list(ours[group].index) == ref["tau_names"][group]
        np.testing.assert_allclose(ours[group].to_numpy(), np.array(matrix), rtol=1e-3, atol=1e-7)


def test_moving_the_origin_of_time_changes_only_tau00_and_tau01():
    """τ00(c) = τ00 + 2cτ01 + c²τ11 and τ01(c) = τ01 + cτ11, with the lme4 values of both codings."""
    a, b = np.array(REF["ucg"]["tau"]["childid"]), np.array(REF["ucg_first"]["tau"]["childid"])
    c = -2.5
    assert b[0, 0] == pytest.approx(a[0, 0] + 2 * c * a[0, 1] + c ** 2 * a[1, 1], rel=1e-4)
    assert b[0, 1] == pytest.approx(a[0, 1] + c * a[1, 1], rel=1e-3)
    assert b[1, 1] == pytest.approx(a[1, 1], rel=1e-4)
    assert REF["ucg_first"]["reml_criterion"] == pytest.approx(REF["ucg"]["reml_criterion"], abs=1e-5)


def test_the_nesting_is_the_same_as_childid_alone(eg):
    """Each pupil is in one school, so (year | schoolid/childid) equals (year | schoolid) + (year | childid)."""
    nested = growth.fit("ucg3")
    plain = hc.lmer("math ~ year + (year | schoolid) + (year | childid)", eg)
    assert plain.reml_criterion == pytest.approx(nested.reml_criterion, abs=1e-6)
    np.testing.assert_allclose(plain.fixef, nested.fixef, rtol=1e-5)
    assert {k: v.shape for k, v in nested.ranef.items()} == {"childid:schoolid": (1721, 2), "schoolid": (60, 2)}


@settings(max_examples=5, deadline=None)
@given(shift=st.floats(-50, 50))
def test_shifting_math_moves_only_the_intercept(eg, shift):
    ref = growth.fit("ucg")
    fit = hc.lmer(growth.FORMULAS["ucg"], eg.assign(math=eg["math"] + shift))
    assert fit.fixef["(Intercept)"] == pytest.approx(ref.fixef["(Intercept)"] + shift, abs=1e-4)
    assert fit.fixef["year"] == pytest.approx(ref.fixef["year"], rel=1e-5)
    assert fit.reml_criterion == pytest.approx(ref.reml_criterion, abs=1e-5)


def test_covariances_of_a_single_term_fit_are_its_tau():
    fit = growth.fit("ucg")
    pd.testing.assert_frame_equal(growth.covariances(fit)["childid"], fit.tau, check_names=False, rtol=1e-10)


# ---------------------------------------------------------------------------
# the data
# ---------------------------------------------------------------------------
def test_growth_data_adds_years_since_the_first_test(eg):
    assert (eg["year1"] - eg["year"] == 2.5).all()
    assert eg["year1"].min() == 0 and eg["year1"].max() == 5
    assert not ((eg["black"] == 1) & (eg["hispanic"] == 1)).any()  # the chapter's three groups are disjoint


# ---------------------------------------------------------------------------
# the self-checks
# ---------------------------------------------------------------------------
def test_self_checks_accept_right_and_refuse_wrong_answers():
    assert labs.check("growth-unchanged", {"tau11", "sigma2"})
    assert not labs.check("growth-unchanged", {"tau11"})
    assert not labs.check("growth-unchanged", {"tau00", "tau01"})

    T = np.array(REF["ucg"]["tau"]["childid"])  # lme4's numbers: the check agrees with R
    last = T[0, 0] + 5 * T[0, 1] + 6.25 * T[1, 1]
    assert labs.check("growth-tau00-last", last)
    assert not labs.check("growth-tau00-last", T[0, 0])                      # status at year 0
    assert not labs.check("growth-tau00-last", T[0, 0] + 6.25 * T[1, 1])     # forgot the covariance

    b = REF["ethnic"]["fixef"]
    assert labs.check("growth-black-gap-last", b["black"] + 2.5 * b["year:black"])
    assert not labs.check("growth-black-gap-last", b["black"])
    assert not labs.check("growth-black-gap-last", b["black"] - 2.5 * b["year:black"])  # the first test

    before, after = REF["ucg3"]["tau"]["schoolid"][1][1], REF["lowinc3"]["tau"]["schoolid"][1][1]
    assert labs.check("growth-lowinc-explained", (before - after) / before)
    assert not labs.check("growth-lowinc-explained", after / before)
    s_before, s_after = REF["ucg3"]["tau"]["schoolid"][0][0], REF["lowinc3"]["tau"]["schoolid"][0][0]
    assert not labs.check("growth-lowinc-explained", (s_before - s_after) / s_before)  # status, not growth


def test_the_answer_key_is_not_handed_out():
    with pytest.raises(Exception):
        growth._tau00_last()
