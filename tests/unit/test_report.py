"""report_table: a fit as a paper reports it, with lme4's numbers and clear errors."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import hlm_course as hc
from hlm_course.book.reference import r_reference


@pytest.fixture(scope="module")
def exam_fit():
    return hc.lmer("normexam ~ standLRT + (standLRT | school)", hc.load_exam())


def test_the_table_holds_lme4s_estimates_and_wald_intervals(exam_fit):
    ref = r_reference("lme4_reference")["models"]["exam_hlm_reml"]
    t = hc.report_table(exam_fit, labels={"standLRT": "reading score"})
    fixed, random, model = t.loc["Fixed effects"], t.loc["Random effects"], t.loc["Model"]
    assert list(fixed.index) == ["(Intercept)", "reading score"]
    np.testing.assert_allclose(fixed["Estimate"], list(ref["fixef"].values()), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(fixed["SE"], list(ref["se"].values()), rtol=1e-4)
    z = stats.norm.ppf(0.975)
    np.testing.assert_allclose(fixed["CI upper"] - fixed["CI lower"], 2 * z * fixed["SE"], rtol=1e-12)
    assert list(random.index) == ["Var((Intercept) | school)", "Var(reading score | school)",
                                  "Corr((Intercept), reading score | school)", "Var(residual)"]
    var = ref["varcorr"]["var"]
    np.testing.assert_allclose(random["Estimate"], [var["(Intercept)"], var["standLRT"],
                                                    ref["varcorr"]["corr"][0][1], var["Residual"]], rtol=1e-3)
    assert random["SE"].isna().all()
    assert model.loc["observations", "Estimate"] == ref["nobs"] == 4059
    assert model.loc["groups: school", "Estimate"] == ref["ngroups"]
    assert model.loc["REML criterion", "Estimate"] == pytest.approx(ref["reml_criterion"], abs=1e-3)


def test_level_changes_only_the_intervals_and_an_ml_fit_reports_its_deviance(exam_fit):
    t90 = hc.report_table(exam_fit, level=0.90).loc["Fixed effects"]
    width = t90["CI upper"] - t90["CI lower"]
    np.testing.assert_allclose(width, 2 * stats.norm.ppf(0.95) * t90["SE"], rtol=1e-12)
    ml = hc.report_table(exam_fit.refit(reml=False)).loc["Model"]
    assert "deviance" in ml.index and "REML criterion" not in ml.index
    assert ml.loc["deviance", "Estimate"] == pytest.approx(
        r_reference("lme4_reference")["models"]["exam_hlm_reml"]["ml_deviance_refit"], abs=1e-2)


def test_several_grouping_factors_get_one_block_each():
    hs = hc.load_hs40()
    fit = hc.lmer("mathach ~ ses + (1 | school) + (1 | Sex)", hs)
    t = hc.report_table(fit)
    rows = list(t.loc["Random effects"].index)
    assert rows[-1] == "Var(residual)" and any("| school" in r for r in rows) and any("| Sex" in r for r in rows)
    model = t.loc["Model"]
    assert model.loc["groups: school", "Estimate"] == 40 and model.loc["groups: Sex", "Estimate"] == 2


def test_bad_input_is_named(exam_fit):
    with pytest.raises(hc.MixedModelError, match="not in the model: 'standlrt'; the model's terms are '\\(Intercept\\)', 'standLRT'"):
        hc.report_table(exam_fit, labels={"standlrt": "reading"})
    with pytest.raises(hc.MixedModelError, match="needs a fitted lmer model, got DataFrame"):
        hc.report_table(pd.DataFrame())
    with pytest.raises(hc.MixedModelError, match="level must be between 0 and 1"):
        hc.report_table(exam_fit, level=95)
