"""hlm_course.influence: leave-one-group-out refits, Cook's distance, DFBETAS (vs lme4 refits in R)."""

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import hlm_course as hc
from hlm_course import influence as inf
from hlm_course.labs import lab1
from conftest import reference

REF = reference("lab1_lme4")["influence"]
CTX = "mathach ~ (cses + mean_ses) * sector + (1 + cses | school)"


@pytest.fixture(scope="module")
def fit():
    return hc.lmer(CTX, lab1.lab_data())


@pytest.fixture(scope="module")
def deletion(fit):
    return inf.leave_one_group_out(fit)


def test_leave_one_out_matches_lme4_refits(fit, deletion):
    names = REF["fixef_names"]
    assert list(deletion.fixef.columns) == names == fit.fixed_names
    ref = pd.DataFrame(REF["fixef"], index=REF["schools"], columns=names).loc[deletion.fixef.index]
    np.testing.assert_allclose(deletion.fixef.to_numpy(), ref.to_numpy(), rtol=1e-4, atol=1e-5)
    assert deletion.fixef.shape == (40, 6) and deletion.vcov.shape == (40, 6, 6)
    assert deletion.converged.all()
    assert (deletion.n == fit.data.groupby("school").size().loc[deletion.n.index]).all()


def test_cooks_distance_matches_r(fit, deletion):
    D = inf.cooks_distance(fit, deletion)
    ref = pd.Series(REF["cooks_distance"], index=REF["schools"]).loc[D.index]
    np.testing.assert_allclose(D.to_numpy(), ref.to_numpy(), rtol=1e-3, atol=1e-6)
    assert D.idxmax() == ref.idxmax()


def test_refit_equals_a_fresh_lmer_fit(fit, deletion):
    data = lab1.lab_data()
    school = inf.cooks_distance(fit, deletion).idxmax()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # without this school the fit may be singular
        fresh = hc.lmer(CTX, data[data["school"] != school])
    np.testing.assert_allclose(deletion.fixef.loc[school], fresh.fixef, rtol=1e-5)
    np.testing.assert_allclose(deletion.se.loc[school], fresh.se, rtol=1e-4)
    assert deletion.criterion[school] == pytest.approx(fresh.reml_criterion, abs=1e-6)
    assert deletion.varcomp.loc[school, "sigma2"] == pytest.approx(fresh.sigma2, rel=1e-5)
    assert list(deletion.varcomp.columns) == ["(Intercept)", "cses", "sigma2"]


def test_dfbetas_and_table(fit, deletion):
    B = inf.dfbetas(fit, deletion)
    k = deletion.fixef.index[0]
    assert B.loc[k, "mean_ses"] == pytest.approx(
        (fit.fixef["mean_ses"] - deletion.fixef.loc[k, "mean_ses"]) / deletion.se.loc[k, "mean_ses"])
    tab = inf.influence_table(fit, deletion)
    assert tab["cooks_d"].is_monotonic_decreasing and len(tab) == 40
    assert list(tab.columns[:4]) == ["n", "cooks_d", "max_abs_dfbetas", "term"]
    assert f"Δ {fit.fixed_names[2]}" in tab.columns
    assert tab["cooks_flag"].sum() == (tab["cooks_d"] > 0.1).sum()


def test_subset_of_groups(fit, deletion):
    part = inf.leave_one_group_out(fit, groups=[2655, 1462])
    np.testing.assert_allclose(part.fixef.to_numpy(), deletion.fixef.loc[[2655, 1462]].to_numpy(), rtol=1e-8)


def test_errors(fit, deletion):
    with pytest.raises(KeyError, match=r"\[1\] not in the fit's 'school' groups"):
        inf.leave_one_group_out(fit, groups=[1])
    with pytest.raises(TypeError, match="must be a fitted model"):
        inf.leave_one_group_out("model")
    other = hc.lmer("mathach ~ cses + (1 | school)", lab1.lab_data())
    with pytest.raises(ValueError, match="another fit"):
        inf.cooks_distance(other, deletion)
    with pytest.raises(TypeError, match="must come from leave_one_group_out"):
        inf.dfbetas(fit, deletion.fixef)
    # a sector with a single school: deleting it leaves sectorCatholic inestimable
    data = lab1.lab_data()
    cath = data.loc[data["sector"] == "Catholic", "school"].unique()
    lone = data[(data["sector"] == "Public") | (data["school"] == cath[0])]
    m = hc.lmer("mathach ~ ses + sector + (1 | school)", lone)
    with pytest.raises(hc.MixedModelError, match=f"without school {cath[0]}.*rank deficient"):
        inf.leave_one_group_out(m, groups=[cath[0]])
    two = data[data["school"].isin(data["school"].unique()[:2])]
    with pytest.raises(hc.MixedModelError, match="fewer than two"):
        inf.leave_one_group_out(hc.lmer("mathach ~ ses + (1 | school)", two))
