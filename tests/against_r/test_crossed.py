"""Chapter 19, "Crossed memberships": every lmer fit of the chapter against lme4 1.1-31
(tests/r/crossed_reference.R -> tests/reference/crossed_lme4.json), the likelihood-ratio tests, the school
effects and their conditional variances, invariances of the crossed fit, and the self-checks of
hlm_course/labs/crossed.py."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

import hlm_course as hc
from hlm_course import labs
from hlm_course.labs import crossed
from conftest import reference

REF = reference("crossed_lme4")
MODELS = REF["models"]


@pytest.fixture(scope="module")
def sco():
    return crossed.crossed_data()


# ---------------------------------------------------------------------------
# the models against lme4 1.1-31
# ---------------------------------------------------------------------------
def test_the_reference_holds_every_model_of_the_chapter():
    assert set(MODELS) == set(crossed.FORMULAS)
    for name, formula in crossed.FORMULAS.items():
        assert MODELS[name]["formula"] == formula
        # lme4 converges everywhere; its only message is the singular contextual fit's
        expected = ["boundary (singular) fit: see help('isSingular')"] if name == "ctx_crossed" else []
        assert MODELS[name]["messages"] == expected and MODELS[name]["singular"] == (name == "ctx_crossed")


@pytest.mark.parametrize("name", list(crossed.FORMULAS))
def test_crossed_models_match_lme4(name):
    """REML criterion within 1e-6 of lme4's and never more than 1e-8 above it, with our convergence check
    passed; fixed effects within 1e-5 relative, SEs within 1e-4; variances within 1e-3 relative or 2e-5
    absolute. The forced hierarchies sit on flat criteria: in null_nested ours is 2e-9 lower than lme4's and the
    secondary variances differ by 2.7e-4 relative; in nested ours is 7e-7 lower and the small secondary
    variance (0.0016) differs by 1.4e-5."""
    ref = MODELS[name]
    fit = crossed.fit(name)
    assert fit.check is not None and fit.check.ok, fit.check
    assert fit.reml_criterion <= ref["reml_criterion"] + 1e-8
    assert fit.reml_criterion == pytest.approx(ref["reml_criterion"], abs=1e-6)
    names = list(ref["fixef"])
    assert list(fit.fixef.index) == names
    np.testing.assert_allclose(fit.fixef[names], list(ref["fixef"].values()), rtol=1e-5)
    np.testing.assert_allclose(fit.se[names], list(ref["se"].values()), rtol=1e-4)
    ours = crossed.variances(fit)
    assert list(ours.index) == list(ref["variances"])  # lme4's group names and order, primary:second for nesting
    np.testing.assert_allclose(ours.to_numpy(), list(ref["variances"].values()), rtol=1e-3, atol=2e-5)
    assert fit.loglik == pytest.approx(ref["loglik"], abs=1e-6)
    ngrps = {g: len(u) for g, u in fit.ranef.items()} if isinstance(fit.ranef, dict) else {fit.group: fit.ngroups}
    assert ngrps == ref["ngrps"]


def test_the_singular_contextual_fit_puts_the_secondary_variance_at_zero():
    fit = crossed.fit("ctx_crossed")
    assert crossed.variances(fit)["second"] < 1e-10 and MODELS["ctx_crossed"]["variances"]["second"] < 1e-10
    assert fit.singular


@pytest.mark.parametrize("key", list(REF["lrt"]))
def test_likelihood_ratio_tests_match_lme4(key):
    ref = REF["lrt"][key]
    small, big = crossed.fit(ref["small"]), crossed.fit(ref["big"])
    table = hc.anova(small, big, refit=False)
    assert table["Chisq"].iloc[1] == pytest.approx(ref["chisq"], abs=2e-6)
    assert table["Df"].iloc[1] == ref["df"] == 1
    assert table["Pr(>Chisq)"].iloc[1] == pytest.approx(ref["p"], rel=1e-4)
    assert list(table["npar"]) == ref["npar"]
    # one variance against none: the boundary mixture of chi2_0 and chi2_1 halves the p-value
    assert table["Pr(mixture)"].iloc[1] == pytest.approx(ref["p"] / 2, rel=1e-4)


@pytest.mark.parametrize("group", ["primary", "second"])
def test_school_effects_and_conditional_variances_match_lme4(group):
    ref = REF["ranef_crossed"][group]
    fit = crossed.fit("crossed")
    u = fit.ranef[group]["(Intercept)"]
    assert list(u.index) == ref["level"]
    np.testing.assert_allclose(u.to_numpy(), ref["mode"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(fit.cond_var[group][:, 0, 0], ref["cond_var"], rtol=1e-4)


# ---------------------------------------------------------------------------
# what the chapter says about ignoring a classification, with lme4's numbers
# ---------------------------------------------------------------------------
def test_ignoring_a_classification_moves_the_variance_and_shrinks_the_se():
    v = {k: MODELS[k]["variances"] for k in ("null", "null_primary", "null_second")}
    assert v["null_primary"]["primary"] > v["null"]["primary"]
    assert v["null_second"]["second"] > v["null"]["second"]
    assert v["null_second"]["Residual"] > v["null"]["Residual"]
    se = {k: MODELS[k]["se"]["(Intercept)"] for k in ("null", "null_primary", "null_second", "null_nested")}
    assert max(se["null_primary"], se["null_second"], se["null_nested"]) < se["null"]
    ctx = MODELS["ctx_second"]["se"]["primary_verbal"] / MODELS["ctx_crossed"]["se"]["primary_verbal"]
    assert ctx < 0.85


def test_crossed_equals_nested_when_labels_are_unique_within_a_nesting(sco):
    """The formula does not say 'crossed': (1 | second) + (1 | primary:second) is the nested model."""
    a = crossed.fit("nested")
    b = hc.lmer("attain ~ verbal + sex + social + (1 | second) + (1 | primary:second)", sco)
    assert b.reml_criterion == pytest.approx(a.reml_criterion, abs=1e-6)
    np.testing.assert_allclose(b.fixef, a.fixef, rtol=1e-6)


@settings(max_examples=5, deadline=None)
@given(shift=st.floats(-20, 20), seed=st.integers(0, 2 ** 16))
def test_shifting_attain_and_shuffling_rows_change_only_the_intercept(sco, shift, seed):
    ref = crossed.fit("crossed")
    order = np.random.default_rng(seed).permutation(len(sco))
    data = sco.iloc[order].reset_index(drop=True).assign(attain=lambda d: d["attain"] + shift)
    fit = hc.lmer(crossed.FORMULAS["crossed"], data)
    assert fit.fixef["(Intercept)"] == pytest.approx(ref.fixef["(Intercept)"] + shift, abs=1e-4)
    np.testing.assert_allclose(fit.fixef.drop("(Intercept)"), ref.fixef.drop("(Intercept)"), rtol=1e-4)
    assert fit.reml_criterion == pytest.approx(ref.reml_criterion, abs=1e-5)
    np.testing.assert_allclose(crossed.variances(fit), crossed.variances(ref), rtol=1e-3)


def test_relabelling_the_schools_changes_nothing(sco):
    ref = crossed.fit("crossed")
    data = sco.assign(primary="P" + sco["primary"].astype(str), second="S" + (100 - sco["second"]).astype(str))
    fit = hc.lmer(crossed.FORMULAS["crossed"], data)
    assert fit.reml_criterion == pytest.approx(ref.reml_criterion, abs=1e-6)
    np.testing.assert_allclose(crossed.variances(fit), crossed.variances(ref), rtol=1e-4)


# ---------------------------------------------------------------------------
# the data and the self-checks
# ---------------------------------------------------------------------------
def test_crossed_data_adds_the_primary_mean_verbal_score(sco):
    means = sco.groupby("primary")["verbal"].mean()
    np.testing.assert_allclose(sco["primary_verbal"], sco["primary"].map(means))
    assert list(sco.columns[:6]) == ["verbal", "attain", "primary", "sex", "social", "second"]


def test_self_checks_accept_right_and_refuse_wrong_answers(sco):
    assert labs.check("crossed-shared-components", {"second"})
    assert not labs.check("crossed-shared-components", {"second", "primary"})
    assert not labs.check("crossed-shared-components", {"primary"})

    counts = pd.crosstab(sco["primary"], sco["second"])
    share = counts.max(axis=1).sum() / len(sco)
    assert 0.9 < share < 0.92  # nearly, but not, nested
    assert labs.check("crossed-main-share", share)
    assert not labs.check("crossed-main-share", 57 / 148)                      # primaries with one secondary
    assert not labs.check("crossed-main-share", counts.max(axis=0).sum() / len(sco))  # the other way round

    v = MODELS["crossed"]["variances"]  # lme4's numbers: the check agrees with R
    total = v["primary"] + v["second"] + v["Residual"]
    assert labs.check("crossed-icc-both", (v["primary"] + v["second"]) / total)
    assert not labs.check("crossed-icc-both", v["primary"] / total)            # the primary only
    v0 = MODELS["null"]["variances"]
    assert not labs.check("crossed-icc-both", (v0["primary"] + v0["second"]) / sum(v0.values()))  # no predictors

    t = REF["lrt"]
    assert labs.check("crossed-lrt-primary", t["primary_variance"]["chisq"])
    assert not labs.check("crossed-lrt-primary", t["second_variance"]["chisq"])
    assert not labs.check("crossed-lrt-primary", t["null_primary_variance"]["chisq"])

    b = MODELS["crossed"]["fixef"]
    r = REF["ranef_crossed"]
    fixed = b["(Intercept)"] + 10 * b["verbal"] + b["sexF"] + 20 * b["social"]
    u_p = r["primary"]["mode"][r["primary"]["level"].index("1")]
    u_s = r["second"]["mode"][r["second"]["level"].index("9")]
    assert labs.check("crossed-predict-pupil", fixed + u_p + u_s)
    assert not labs.check("crossed-predict-pupil", fixed)          # without the schools
    assert not labs.check("crossed-predict-pupil", fixed - b["sexF"] + u_p + u_s)  # a boy


def test_the_answer_key_is_not_handed_out():
    with pytest.raises(Exception):
        crossed._icc_both()
