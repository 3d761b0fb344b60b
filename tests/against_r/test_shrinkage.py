"""Tests of hlm_course.shrinkage (seed 002, ch. 3) and plots.intervals.

Reference numbers:
* the seed's Table 3.1 (printed to 7 significant digits);
* tests/reference/kaplan_shrinkage.json, written by
  tests/r/kaplan_shrinkage.R: the same quantities computed in R from lme4
  fits with dense per-school matrices, Henderson's prediction-error
  variances from the full mixed-model equations, and clubSandwich's CR0
  robust standard errors.  Python is evaluated at lme4's own θ (from
  tests/reference/lme4_reference.json) so the two sides share T, σ², γ
  exactly and formulas can be compared to 1e-9;
* Raudenbush & Bryk (2002) Tables 4.1–4.2 / the HLM program's output for the
  HSB null and random-coefficient models.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

import hlm_course as hc
from hlm_course.lmer import MixedModelError
from hlm_course.exam_tables import _TABLE_3_1
from conftest import reference

matplotlib.use("Agg")

REF = Path(__file__).resolve().parents[1] / "reference"
R = reference("kaplan_shrinkage")
LME4 = reference("lme4_reference")["models"]

NINE = [28, 53, 59, 23, 7, 16, 2, 10, 37]
#: Seed Table 3.1: 95% limits (β0 lower, β0 upper, β1 lower, β1 upper), appendix code; the package's
#: transcription, itself checked against an independent one in test_exam_tables.py.
TABLE_3_1 = _TABLE_3_1
#: Seed Table 2.10: coef(m3) for the nine schools.
TABLE_2_10 = {
    28: (-0.6807917, 0.3690499), 53: (0.6337418, 0.9075559), 59: (-0.7299502, 0.4159633),
    23: (-0.5211349, 0.4405163), 7: (0.3534431, 0.4046149), 16: (-0.3755861, 0.4363625),
    2: (0.4590305, 0.7222757), 10: (-0.3255777, 0.4190209), 37: (-0.3050309, 0.4176832),
}
#: Eq. 3.16 limits (same layout), derived here at lme4 1.1-31's θ and
#: cross-checked in R (kaplan_shrinkage.json); school 48 has n = 2.
EQ_3_16 = {
    28: (-0.8757529, -0.4858490, 0.2116553, 0.5265057),
    53: (0.4656500, 0.8018353, 0.7710279, 1.0440099),
    59: (-0.9528124, -0.5071085, 0.2532801, 0.5787125),
    23: (-0.7775780, -0.2646987, 0.2687735, 0.6122986),
    7: (0.2034333, 0.5034308, 0.2673664, 0.5418229),
    16: (-0.5270589, -0.2241070, 0.2993116, 0.5734532),
    2: (0.2731661, 0.6448870, 0.5903856, 0.8541118),
    10: (-0.5174327, -0.1337257, 0.2529073, 0.5851594),
    37: (-0.6167602, 0.0066562, 0.2343391, 0.6010410),
    48: (-0.5829432, 0.4765296, 0.3103572, 0.7896369),
}
HLM_FORMULA = "normexam ~ standLRT + (standLRT | school)"


at_theta = hc.at_theta


def limits(table: pd.DataFrame, groups) -> np.ndarray:
    w = table.pivot(index="group", columns="term", values=["lower", "upper"]).loc[list(groups)]
    return w[[("lower", "(Intercept)"), ("upper", "(Intercept)"), ("lower", "standLRT"),
              ("upper", "standLRT")]].to_numpy()


def wide(table: pd.DataFrame, col: str) -> pd.DataFrame:
    return table.pivot(index="group", columns="term", values=col)


@pytest.fixture(scope="module")
def exam():
    return hc.load_exam()


@pytest.fixture(scope="module")
def m3(exam):
    return hc.lmer(HLM_FORMULA, exam)


@pytest.fixture(scope="module")
def m3_lme4(m3):
    return at_theta(m3, LME4["exam_hlm_reml"]["theta"])


@pytest.fixture(scope="module")
def m1(exam):
    return hc.lmer("normexam ~ standLRT + (1 | school)", exam)


@pytest.fixture(scope="module")
def m2(exam):
    return hc.lmer("normexam ~ standLRT + (standLRT - 1 | school)", exam)


@pytest.fixture(scope="module")
def small48(exam):
    """School 48 cut to one student: its X_j'X_j (2 × 2, rank 1) is singular."""
    d = exam[~((exam.school == 48) & exam.duplicated("school"))]
    fit = hc.lmer(HLM_FORMULA, d)
    return at_theta(fit, R["exam_small48"]["theta"])


@pytest.fixture(scope="module")
def hsb_fits(hsb):
    specs = {"hsb_null": "mathach ~ 1 + (1 | school)", "hsb_rc": "mathach ~ cses + (cses | school)",
             "hsb_isa": "mathach ~ cses*mean_ses + cses*sector + (cses | school)"}
    out = {}
    for name, formula in specs.items():
        fit = hc.lmer(formula, hsb)
        out[name] = fit
        out[name + "_lme4"] = at_theta(fit, LME4[name + "_reml"]["theta"])
    return out


# ---------------------------------------------------------------- Table 3.1
def test_table_3_1_reproduced_by_appendix_variant(m3):
    got = limits(hc.shrinkage_ci(m3, reproduce_appendix=True), NINE)
    seed = np.array([TABLE_3_1[g] for g in NINE])
    # T and σ² of the 2010 lme4 agree with ours to 6 significant digits, so
    # the 7-digit limits agree to a few units in the 7th digit.
    np.testing.assert_allclose(got, seed, atol=3e-6, rtol=0)


#: θ at which the seed's 2010 lme4 stopped, recovered (chapter 06) by least squares
#: from Table 3.1: its T and σ² round to the seed's printed Table 2.9.
THETA_2010 = [0.40790234812575515, 0.08122015194116236, 0.14296048729796887]


def test_table_3_1_to_every_digit_at_the_2010_theta(m3):
    fit = at_theta(m3, THETA_2010)
    np.testing.assert_allclose(np.round(np.diag(fit.tau), 6), [0.092117, 0.014967], atol=1e-12)
    assert round(fit.sigma2, 6) == 0.553641
    assert fit.reml_criterion - m3.reml_criterion < 1e-6
    got = limits(hc.shrinkage_ci(fit, reproduce_appendix=True), NINE)
    seed = np.array([TABLE_3_1[g] for g in NINE])
    np.testing.assert_allclose(got, seed, atol=5e-8, rtol=0)


def test_table_3_1_is_not_eq_3_16(m3):
    got = limits(hc.shrinkage_ci(m3), NINE)
    seed = np.array([TABLE_3_1[g] for g in NINE])
    assert np.abs(got - seed).max() > 1e-2


def test_table_3_1_midpoints_are_our_coef_not_seed_table_2_10(m3):
    """The seed's two tables disagree with each other; ours agree with Table 3.1."""
    seed = np.array([TABLE_3_1[g] for g in NINE])
    mid = np.column_stack([seed[:, :2].mean(1), seed[:, 2:].mean(1)])
    ours = m3.coef.loc[NINE, ["(Intercept)", "standLRT"]].to_numpy()
    np.testing.assert_allclose(mid, ours, atol=3e-6, rtol=0)
    seed_coef = np.array([TABLE_2_10[g] for g in NINE])
    assert np.abs(mid - seed_coef).max() > 3e-5


def test_eq_3_16_pinned_values(m3_lme4, m3):
    groups = list(EQ_3_16)
    expected = np.array([EQ_3_16[g] for g in groups])
    np.testing.assert_allclose(limits(hc.shrinkage_ci(m3_lme4), groups), expected, atol=1e-7, rtol=0)
    # our own optimum differs from lme4's by ~1e-6 in θ
    np.testing.assert_allclose(limits(hc.shrinkage_ci(m3), groups), expected, atol=5e-6, rtol=0)


def test_school_48_appendix_interval_explodes(m3):
    app = hc.shrinkage_ci(m3, reproduce_appendix=True).set_index(["group", "term"])
    eq = hc.shrinkage_ci(m3).set_index(["group", "term"])
    assert app.loc[(48, "(Intercept)"), "n"] == 2
    np.testing.assert_allclose(app.loc[(48, "(Intercept)"), ["lower", "upper"]], [-4.04912, 3.94271], atol=1e-4)
    np.testing.assert_allclose(app.loc[(48, "standLRT"), ["lower", "upper"]], [-9.07921, 10.17920], atol=1e-4)
    width_ratio = (app["upper"] - app["lower"]) / (eq["upper"] - eq["lower"])
    assert width_ratio.loc[(48, "standLRT")] > 30
    # elsewhere the appendix intervals are only somewhat wider
    others = width_ratio.drop(48, level="group")
    assert 1.0 <= others.min() and others.max() < 2.5
    pd.testing.assert_series_equal(app["estimate"], eq["estimate"])


# ----------------------------------------------------------- cross-checks
def test_against_r_dense_computation(m3_lme4):
    ps = R["exam_hlm"]["per_school"]
    for method, keys in ((False, ("lower316", "upper316", "se316")), (True, ("lowerapp", "upperapp", "seapp"))):
        t = hc.shrinkage_ci(m3_lme4, reproduce_appendix=method)
        for col, key in zip(("lower", "upper", "se"), keys):
            np.testing.assert_allclose(wide(t, col).to_numpy(), np.array([p[key] for p in ps]), atol=1e-9)
    t = hc.shrinkage_ci(m3_lme4)
    np.testing.assert_allclose(wide(t, "estimate").to_numpy(), np.array([p["bstar"] for p in ps]), atol=1e-10)
    np.testing.assert_allclose(wide(t, "ols").to_numpy(), np.array([p["bhat"] for p in ps]), atol=1e-10)
    np.testing.assert_allclose(list(t.attrs["gamma"].values()), R["exam_hlm"]["gamma"], atol=1e-10)
    np.testing.assert_allclose(pd.DataFrame(t.attrs["vcov_gamma"]).to_numpy(), R["exam_hlm"]["vcov_gamma"],
                               atol=1e-12)


def test_eq_3_16_is_hendersons_prediction_error_variance(m3_lme4):
    """V*_j of eq. 3.16 = Var(β*_j − β_j) from the inverse of the full
    mixed-model equations; the appendix variant is not."""
    hend = np.array(R["exam_hlm"]["henderson_se"])
    np.testing.assert_allclose(wide(hc.shrinkage_ci(m3_lme4), "se").to_numpy(), hend, rtol=1e-9)
    app = wide(hc.shrinkage_ci(m3_lme4, reproduce_appendix=True), "se").to_numpy()
    assert np.abs(app - hend).max() > 1


def test_general_w_matches_henderson(hsb_fits):
    fit = hsb_fits["hsb_isa_lme4"]
    t = hc.shrinkage_ci(fit)
    np.testing.assert_allclose(wide(t, "se")[["(Intercept)", "cses"]].to_numpy(),
                               np.array(R["hsb_isa"]["henderson_se"]), rtol=1e-8)
    np.testing.assert_allclose(list(t.attrs["gamma"].values()), R["hsb_isa"]["gamma"], atol=1e-8)


# --------------------------------------------------- β* equals lme4's coef
def test_beta_star_equals_coef_when_w_is_identity(m1, m2, m3):
    for fit in (m1, m2, m3):
        t = hc.shrinkage_ci(fit, terms=fit.random_names)
        b = wide(t, "estimate")
        np.testing.assert_allclose(b.to_numpy(), fit.coef[b.columns].to_numpy(), atol=1e-8, rtol=0)
    s = hc.level1_structure(m3)
    assert s.is_identity_W and s.names == ["(Intercept)", "standLRT"]


def test_gls_gamma_and_its_variance_equal_lmer(m3, hsb_fits):
    for fit in (m3, hsb_fits["hsb_isa"]):
        t = hc.shrinkage_ci(fit)
        g = pd.Series(t.attrs["gamma"])
        np.testing.assert_allclose(g[fit.fixed_names].to_numpy(), fit.fixef.to_numpy(), atol=1e-8)
        V = pd.DataFrame(t.attrs["vcov_gamma"]).loc[fit.fixed_names, fit.fixed_names]
        np.testing.assert_allclose(V.to_numpy(), fit.vcov.to_numpy(), rtol=1e-7, atol=1e-12)


def test_level2_design_from_model_and_from_formula(hsb_fits):
    fit = hsb_fits["hsb_isa"]
    s = hc.level1_structure(fit)
    assert s.names == ["(Intercept)", "cses"] and s.W.shape == (160, 2, 6)
    auto = hc.shrinkage_ci(fit)
    by_formula = hc.shrinkage_ci(fit, W="~ mean_ses + sector")
    np.testing.assert_allclose(auto["estimate"], by_formula["estimate"], atol=1e-9)
    np.testing.assert_allclose(auto["se"], by_formula["se"], atol=1e-10)
    assert by_formula.attrs["gamma"].keys() == set(fit.fixed_names)
    # β*_j = W_j γ̂ + ranef_j
    b = wide(auto, "estimate") - wide(auto, "fixed")
    np.testing.assert_allclose(b.to_numpy(), fit.ranef[b.columns].to_numpy(), atol=1e-8)
    # a simpler level-2 model: γ̂ re-estimated by GLS (eq. 3.11)
    simple = hc.shrinkage_ci(fit, W={"(Intercept)": "~ sector"})
    assert set(simple.attrs["gamma"]) == {"(Intercept)", "sectorCatholic", "cses"}


def test_fixed_level1_coefficient_has_zero_tau(m2):
    s = hc.level1_structure(m2)
    assert list(s.random) == [False, True]
    assert s.T[0, 0] == 0 and s.T[1, 1] == pytest.approx(m2.tau.iloc[0, 0])


# ----------------------------------------------------- singular X_j'X_j
def test_group_ols_flags_singular_school(small48):
    g = hc.group_ols(small48)
    assert not g.estimable.loc[48] and g.estimable.drop(48).all()
    assert g.n.loc[48] == 1
    assert g.coef.loc[48].isna().all() and np.isnan(g.V[list(g.coef.index).index(48)]).all()
    tab = g.table()
    assert tab.shape == (130, 5) and list(tab.columns) == ["group", "term", "n", "estimate", "se"]


def test_singular_school_keeps_its_data_like_lme4(small48):
    t = hc.shrinkage_ci(small48)
    b = wide(t, "estimate")
    np.testing.assert_allclose(b.to_numpy(), np.array(R["exam_small48"]["coef"]), atol=1e-8)
    np.testing.assert_allclose(b.to_numpy(), small48.coef[b.columns].to_numpy(), atol=1e-8)
    np.testing.assert_allclose(wide(t, "se").to_numpy(), np.array(R["exam_small48"]["henderson_se"]),
                               rtol=1e-8)
    assert t.set_index(["group", "term"]).loc[(48, "standLRT"), "ols"] != t.set_index(
        ["group", "term"]).loc[(48, "standLRT"), "ols"]  # NaN: no OLS estimate


def test_singular_school_appendix_gives_nan_with_warning(small48):
    with pytest.warns(UserWarning, match=r"no interval for \[48\]"):
        t = hc.shrinkage_ci(small48, reproduce_appendix=True)
    row = t[t.group == 48]
    assert row["lower"].isna().all() and t[t.group != 48]["lower"].notna().all()


def test_singular_school_left_out_of_hlm_statistics(small48):
    vt = hc.variance_tests(small48)
    assert (vt["groups_used"] == 64).all() and (vt["df"] == 63).all()
    rel = hc.reliability(small48, per_group=True)
    assert rel.loc[48].isna().all()


# ------------------------------------------------------ group_ols on data
def test_group_ols_on_a_dataframe(exam):
    g = hc.group_ols(exam, "normexam ~ standLRT", "school")
    np.testing.assert_allclose(g.coef.to_numpy(), np.array([p["bhat"] for p in R["exam_hlm"]["per_school"]]),
                               atol=1e-10)
    assert list(g.coef.columns) == ["(Intercept)", "standLRT"]
    # pooled within-school σ²: Σ RSS_j / Σ (n_j − 2)
    resid = exam.normexam - (g.coef.loc[exam.school, "(Intercept)"].to_numpy()
                             + g.coef.loc[exam.school, "standLRT"].to_numpy() * exam.standLRT)
    assert g.sigma2 == pytest.approx(float((resid ** 2).sum() / (len(exam) - 2 * 65)), rel=1e-12)
    g2 = hc.group_ols(exam, "normexam ~ standLRT", "school", sigma2=1.0)
    assert g2.V[0, 0, 0] == pytest.approx(np.linalg.inv(g2.XtX[0])[0, 0])


# ------------------------------------------------- HLM-program statistics
def test_hsb_null_model_matches_hlm_output(hsb_fits):
    fit = hsb_fits["hsb_null"]
    # HLM 6 output for this model: reliability 0.901; R&B (2002) Table 4.1:
    # chi-square 1660.23 on 159 df
    assert hc.reliability(fit).loc["(Intercept)"] == pytest.approx(0.901, abs=5e-4)
    vt = hc.variance_tests(fit).set_index("term")
    assert vt.loc["(Intercept)", "chisq"] == pytest.approx(1660.23, abs=0.005)
    assert vt.loc["(Intercept)", "df"] == 159 and vt.loc["(Intercept)", "p"] < 1e-100


def test_hsb_random_coefficient_model(hsb_fits):
    fit = hsb_fits["hsb_rc"]
    rel = hc.reliability(fit)
    # R&B (2002) Table 4.2 prints .907 for the intercept (HLM's own τ̂)
    assert rel.loc["(Intercept)"] == pytest.approx(0.907, abs=2e-3)
    vt = hc.variance_tests(fit).set_index("term")
    # R&B (2002) Table 4.2: 1770.86 and 213.44 on 159 df (with HLM's estimates)
    assert vt.loc["(Intercept)", "chisq"] == pytest.approx(1770.86, abs=0.5)
    assert vt.loc["cses", "chisq"] == pytest.approx(213.44, abs=0.1)
    assert list(vt["df"]) == [159, 159]
    assert vt.loc["cses", "p"] == pytest.approx(0.0026, abs=2e-4)


@pytest.mark.parametrize("name", ["hsb_null", "hsb_rc", "hsb_isa"])
def test_hlm_statistics_against_r(hsb_fits, name):
    fit, ref = hsb_fits[name + "_lme4"], R[name]["stats"]
    np.testing.assert_allclose(hc.reliability(fit).to_numpy(), np.atleast_1d(ref["reliability"]), rtol=1e-9)
    vt = hc.variance_tests(fit)
    np.testing.assert_allclose(vt["chisq"], np.atleast_1d(ref["chisq"]), rtol=1e-9)
    np.testing.assert_array_equal(vt["df"], np.atleast_1d(ref["df"]))
    rob = hc.robust_se(fit)
    np.testing.assert_allclose(rob["Robust SE"], np.atleast_1d(ref["robust_se"]), rtol=1e-7)
    assert list(rob.index) == list(np.atleast_1d(ref["fixef_names"]))


def test_exam_statistics_against_r(m3_lme4):
    ref = R["exam_hlm"]["stats"]
    np.testing.assert_allclose(hc.reliability(m3_lme4), ref["reliability"], rtol=1e-9)
    per = hc.reliability(m3_lme4, per_group=True)
    np.testing.assert_allclose(per.to_numpy(), np.array([p["reliability"] for p in R["exam_hlm"]["per_school"]]),
                               rtol=1e-9)
    np.testing.assert_allclose(hc.variance_tests(m3_lme4)["chisq"], ref["chisq"], rtol=1e-9)
    np.testing.assert_allclose(hc.robust_se(m3_lme4)["Robust SE"], ref["robust_se"], rtol=1e-7)


# ------------------------------------------------------------- coverage
@pytest.mark.slow
def test_coverage_study_is_deterministic_and_settles_the_question(m3):
    a = hc.coverage_study(m3, nsim=3000, seed=11)
    b = hc.coverage_study(m3, nsim=3000, seed=11)
    pd.testing.assert_frame_equal(a, b)
    c = hc.coverage_study(m3, nsim=3000, seed=12)
    assert not np.allclose(a["coverage"], c["coverage"])
    assert a.shape == (2 * 2 * 65, 8)
    mean = a.groupby("method")["coverage"].mean()
    assert mean["eq3.16"] == pytest.approx(0.95, abs=0.003)  # MC s.e. of the mean ≈ 0.0005
    assert mean["appendix"] > 0.955
    s48 = a[(a.group == 48)].set_index(["method", "term"])
    assert (s48.loc["appendix", "coverage"] == 1.0).all()
    assert (s48.loc["appendix", "width"] > 5 * s48.loc["eq3.16", "width"]).all()
    # eq. 3.16 is exact school by school (known T, σ²): within 4 MC s.e.
    eq = a[a.method == "eq3.16"]
    assert (np.abs(eq["coverage"] - 0.95) < 4 * np.sqrt(0.95 * 0.05 / 3000)).all()


def test_coverage_study_with_refits(m3):
    a = hc.coverage_study(m3, nsim=40, seed=3, refit=True)
    b = hc.coverage_study(m3, nsim=40, seed=3, refit=True)
    pd.testing.assert_frame_equal(a, b)
    assert a.attrs["refit"] and (a["nsim"] == 40).all()
    assert 0.85 < a.loc[a.method == "eq3.16", "coverage"].mean() < 1.0


def test_coverage_study_replicates_give_the_mc_se_of_the_average(m3):
    table, reps = hc.coverage_study(m3, nsim=400, seed=21, return_replicates=True)
    pd.testing.assert_frame_equal(table, hc.coverage_study(m3, nsim=400, seed=21))
    assert reps.shape == (400 * 2 * 2, 4) and list(reps.columns) == ["replicate", "term", "method", "coverage"]
    # the mean over replicates of the share covered is the mean over schools of the coverage
    by_rep = reps.groupby(["method", "term"]).coverage.mean()
    by_school = table.groupby(["method", "term"]).coverage.mean()
    np.testing.assert_allclose(by_rep.to_numpy(), by_school.to_numpy(), rtol=1e-12)
    # with T known the schools of a replicate are nearly independent: the MC s.e. of the average is
    # close to that of 400 × 65 independent trials (with refits they share T̂ and it is larger)
    se = reps.groupby(["method", "term"]).coverage.std() / np.sqrt(400)
    naive = np.sqrt(0.95 * 0.05 / (400 * 65))
    np.testing.assert_allclose(se.loc["eq3.16"], naive, rtol=0.25)
    assert reps.attrs["level"] == 0.95


def test_conditional_coverage_averages_to_the_nominal_level(m3):
    """Held at u_qj = m √τ_qq, the eq. 3.16 interval over-covers at m = 0 and
    under-covers far out; over m ~ N(0, 1) it attains 0.95 exactly (known T)."""
    cc = hc.conditional_coverage(m3)
    assert set(cc.multiple) == {-2, -1, 0, 1, 2} and set(cc.method) == {"eq3.16", "appendix"}
    eq = cc[cc.method == "eq3.16"].set_index(["group", "term", "multiple"])
    assert (eq.xs(0.0, level="multiple").coverage > 0.95).all()
    assert (eq.xs(2.0, level="multiple").coverage < 0.95).all()
    np.testing.assert_allclose(eq.xs(2.0, level="multiple").coverage, eq.xs(-2.0, level="multiple").coverage,
                               atol=1e-12)  # symmetric in ±m
    slope2 = eq.xs(("standLRT", 2.0), level=("term", "multiple")).coverage
    assert 0.5 < slope2.min() < 0.55 and slope2.idxmin() == 48  # the two-student school, shrunk the most
    nodes, weights = np.polynomial.hermite_e.hermegauss(160)
    full = hc.conditional_coverage(m3, multiples=nodes)
    piv = full[full.method == "eq3.16"].pivot_table(index=["term", "group"], columns="multiple", values="coverage")
    np.testing.assert_allclose(piv.to_numpy() @ (weights / weights.sum()), 0.95, atol=1e-8)
    # the conditional variance is smaller than V*_j, and with u_j drawn it is V*_j again
    ci = hc.shrinkage_ci(m3).set_index(["group", "term"])
    sd0 = eq.xs(0.0, level="multiple")["sd"]
    assert (sd0 < ci.loc[sd0.index, "se"]).all()


@pytest.mark.slow
def test_conditional_coverage_simulation_agrees_with_the_exact_value(m3):
    sim = hc.conditional_coverage_sim(m3, [5], multiples=[0, 2], nsim=3000, seed=9)
    assert list(sim.columns) == ["group", "term", "n", "multiple", "coverage", "mc_se"]
    exact = hc.conditional_coverage(m3, multiples=[0, 2])
    exact = exact[exact.method == "eq3.16"].set_index(["group", "term", "multiple"]).coverage
    for _, row in sim.iterrows():
        assert abs(row.coverage - exact[(row.group, row.term, row.multiple)]) < 4 * max(row.mc_se, 1e-3)
    with pytest.raises(MixedModelError, match=r"groups \[999\]"):
        hc.conditional_coverage_sim(m3, [999])


def test_level_changes_width(m3):
    w90 = hc.shrinkage_ci(m3, level=0.90)
    w95 = hc.shrinkage_ci(m3)
    ratio = (w90.upper - w90.lower) / (w95.upper - w95.lower)
    np.testing.assert_allclose(ratio, 1.6448536269514722 / 1.959963984540054, rtol=1e-12)


# --------------------------------------------------------------- errors
def test_clear_errors(m1, m2, m3, hsb_fits, exam):
    with pytest.raises(MixedModelError, match="'standLRT' has no random effect"):
        hc.shrinkage_ci(m1, terms="standLRT")
    with pytest.raises(MixedModelError, match="'sex' is not a level-1 coefficient"):
        hc.shrinkage_ci(m3, terms=["sex"])
    with pytest.raises(MixedModelError, match="hard-codes W_j = I"):
        hc.shrinkage_ci(hsb_fits["hsb_isa"], reproduce_appendix=True)
    with pytest.raises(MixedModelError, match="invertible T"):
        hc.shrinkage_ci(m2, reproduce_appendix=True)
    with pytest.raises(MixedModelError, match="invertible T"):
        hc.coverage_study(m1, nsim=10, seed=1)
    with pytest.raises(ValueError, match="level must be"):
        hc.shrinkage_ci(m3, level=95)
    with pytest.raises(ValueError, match="nsim must be a positive integer"):
        hc.coverage_study(m3, nsim=0)
    with pytest.raises(MixedModelError, match="varies within 'school'"):
        hc.shrinkage_ci(hsb_fits["hsb_isa"], W="~ ses")
    with pytest.raises(MixedModelError, match=r"W names \['female'\]"):
        hc.shrinkage_ci(hsb_fits["hsb_isa"], W={"female": "~ 1"})
    with pytest.raises(MixedModelError, match="must be a fitted model"):
        hc.shrinkage_ci(exam)
    with pytest.raises(MixedModelError, match="group column 'schule' not found"):
        hc.group_ols(exam, "normexam ~ standLRT", "schule")
    with pytest.raises(MixedModelError, match="needs formula"):
        hc.group_ols(exam)
    with pytest.raises(MixedModelError, match="only 1 level"):
        hc.group_ols(exam[exam.school == 1], "normexam ~ standLRT", "school")
    bad = exam.copy()
    bad.loc[0, "standLRT"] = np.nan
    with pytest.raises(MixedModelError, match="cannot build the design"):
        hc.group_ols(bad, "normexam ~ standLRT", "school")


# ---------------------------------------------------------------- plots
def test_caterpillar_plot(m3):
    eq = hc.shrinkage_ci(m3)
    app = hc.shrinkage_ci(m3, reproduce_appendix=True)
    fig = hc.plots.caterpillar(eq, compare=app, names=("eq. 3.16", "appendix"), highlight=[48],
                               xlim={"(Intercept)": (-1.3, 1.3), "standLRT": (-0.2, 1.4)})
    axes = fig.get_axes()
    assert len(axes) == 2 and axes[0].get_xlim() == (-1.3, 1.3)
    labels = [t.get_text() for t in axes[0].get_yticklabels()]
    assert len(labels) == 65 and "48" in labels
    matplotlib.pyplot.close(fig)
    fig = hc.plots.caterpillar(eq, terms=["standLRT"], sort_by="n", show_ols=False)
    assert len(fig.get_axes()) == 1
    matplotlib.pyplot.close(fig)
    with pytest.raises(KeyError, match="lacks column"):
        hc.plots.caterpillar(eq.drop(columns="lower"))
    with pytest.raises(KeyError, match=r"terms \['sex'\]"):
        hc.plots.caterpillar(eq, terms=["sex"])


def test_coef_lines_table(m1, m3, exam):
    import statsmodels.formula.api as smf

    ols = smf.ols("normexam ~ standLRT", exam).fit()
    lines = hc.coef_lines({"hlm": m3, "pooled": ols, "vi": m1}, NINE, x="standLRT")
    assert list(lines.columns) == ["group", "intercept", "slope", "label"]
    assert lines.shape == (27, 4) and list(lines["label"].cat.categories) == ["hlm", "pooled", "vi"]
    hlm = lines[lines.label == "hlm"].set_index("group")
    np.testing.assert_allclose(hlm["slope"], m3.coef.loc[NINE, "standLRT"])
    pooled = lines[lines.label == "pooled"]
    np.testing.assert_allclose(pooled["intercept"], ols.params["Intercept"])
    with pytest.raises(ValueError, match="groups= is needed"):
        hc.coef_lines({"pooled": ols}, x="standLRT")
    with pytest.raises(KeyError, match="no coefficient"):
        hc.coef_lines({"hlm": m3}, x="sex")


# ------------------------------------------------------------ at_theta
def test_at_theta_reproduces_lme4_criteria_and_keeps_the_fit(m3, m3_lme4):
    ref = LME4["exam_hlm_reml"]
    # at lme4's θ our criteria are lme4's to rounding
    assert m3_lme4.reml_criterion == pytest.approx(ref["reml_criterion"], abs=1e-7)
    assert m3_lme4.ml_deviance == pytest.approx(ref["ml_deviance_at_reml"], abs=1e-7)
    np.testing.assert_allclose(m3_lme4.fixef.to_numpy(), list(ref["fixef"].values()), atol=1e-10)
    np.testing.assert_allclose(m3_lme4.sigma, ref["sigma"], rtol=1e-10)
    np.testing.assert_allclose(m3_lme4.theta, ref["theta"], rtol=0, atol=0)
    # the original fit is untouched, and at its own θ nothing changes
    assert m3.theta is not m3_lme4.theta and not np.array_equal(m3.theta, m3_lme4.theta)
    same = hc.at_theta(m3, m3.theta)
    assert same.reml_criterion == m3.reml_criterion
    pd.testing.assert_frame_equal(same.coef, m3.coef)
    # away from the optimum the REML criterion is larger
    assert hc.at_theta(m3, m3.theta * 1.1).reml_criterion > m3.reml_criterion


def test_at_theta_errors(m3, exam):
    with pytest.raises(MixedModelError, match="theta must have 3 elements"):
        hc.at_theta(m3, [0.4, 0.1])
    with pytest.raises(MixedModelError, match="must be finite"):
        hc.at_theta(m3, [0.4, np.nan, 0.1])
    with pytest.raises(MixedModelError, match="must be ≥ 0"):
        hc.at_theta(m3, [-0.4, 0.1, 0.1])
    with pytest.raises(MixedModelError, match="must be a fitted model"):
        hc.at_theta(exam, [0.4])


# ------------------------------------------------------- henderson_se
def test_henderson_se_against_r_and_eq_3_16(m3_lme4, m3, hsb_fits):
    h = hc.henderson_se(m3_lme4)
    assert h.shape == (65, 2) and list(h.columns) == ["(Intercept)", "standLRT"]
    assert list(h.index) == list(m3.groups)
    np.testing.assert_allclose(h.to_numpy(), np.array(R["exam_hlm"]["henderson_se"]), rtol=1e-9)
    # general W_j (cross-level interactions): R's dense computation
    hi = hc.henderson_se(hsb_fits["hsb_isa_lme4"])
    np.testing.assert_allclose(hi.to_numpy(), np.array(R["hsb_isa"]["henderson_se"]), rtol=1e-8)
    # and it is eq. 3.16 at our own optimum too
    se = wide(hc.shrinkage_ci(m3), "se")
    np.testing.assert_allclose(hc.henderson_se(m3).to_numpy(), se.to_numpy(), rtol=1e-9)


def test_henderson_se_needs_invertible_t(m3):
    singular = hc.at_theta(m3, [0.4, 0.1, 0.0])  # rank-1 T: correlation 1
    with pytest.raises(MixedModelError, match="T of this fit is singular"):
        hc.henderson_se(singular)


# ------------------------------------------------------ coverage_plot
def test_coverage_plot(m3):
    cov = hc.coverage_study(m3, nsim=200, seed=5)
    fig = hc.plots.coverage_plot(cov, methods={"eq3.16": "eq. 3.16", "appendix": "appendix code"},
                                 term_labels={"(Intercept)": "intercept", "standLRT": "slope"})
    axes = fig.get_axes()
    assert len(axes) == 2 and axes[0].get_title() == "intercept" and axes[0].get_xscale() == "log"
    # one point per school and method
    offsets = [c.get_offsets() for c in axes[1].collections if len(c.get_offsets())]
    assert [len(o) for o in offsets] == [65, 65]
    labels = axes[0].get_legend_handles_labels()[1]
    assert labels == ["0.95 ± 2 MC s.e.", "eq. 3.16", "appendix code"]
    matplotlib.pyplot.close(fig)
    fig = hc.plots.coverage_plot(cov, terms=["standLRT"], methods={"appendix": "appendix"})
    assert len(fig.get_axes()) == 1
    matplotlib.pyplot.close(fig)
    with pytest.raises(KeyError, match="lacks column"):
        hc.plots.coverage_plot(cov.drop(columns="nsim"))
    with pytest.raises(KeyError, match=r"methods \['bayes'\]"):
        hc.plots.coverage_plot(cov, methods={"bayes": "Bayes"})
    with pytest.raises(KeyError, match=r"terms \['sex'\]"):
        hc.plots.coverage_plot(cov, terms=["sex"])


def test_too_few_usable_schools_are_named_not_returned_as_nan():
    """variance_tests and group_ols refuse designs where too few schools have an invertible X_j'X_j."""
    rng = np.random.default_rng(3)
    rows = []
    for g in range(6):
        n = 12
        x = rng.normal(size=n) if g == 0 else np.full(n, float(g))  # only school 0 has varying x
        rows.append(pd.DataFrame({"g": g, "x": x, "y": 1 + 0.5 * x + rng.normal(size=n)}))
    d = pd.concat(rows, ignore_index=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = hc.lmer("y ~ x + (x | g)", d)
    with pytest.raises(MixedModelError, match=r"1 school\(s\) usable for 1 coefficient\(s\) gives 0 degrees"):
        hc.variance_tests(fit)
    with pytest.raises(MixedModelError, match="no school has a nonsingular"):
        hc.group_ols(d[d.g > 0], "y ~ x", "g")


def test_lambda_is_a_weight_only_through_its_eigenvalues(m3):
    """Λ_j = T Δ_j⁻¹: school 48's own-slope weight is negative (−0.014), but every
    Λ_j has real eigenvalues in [0, 1) (it is similar to T^½ Δ_j⁻¹ T^½)."""
    ci = hc.shrinkage_ci(m3).set_index(["group", "term"])
    assert ci.loc[(48, "standLRT"), "weight"] == pytest.approx(-0.01402, abs=5e-5)
    assert (ci["weight"] < 0).sum() == 1
    ols = hc.group_ols(m3)
    T = m3.tau.to_numpy()
    lam = T @ np.linalg.inv(T + ols.V)
    eig = np.linalg.eigvals(lam)
    assert np.abs(eig.imag).max() < 1e-12
    assert 0 <= eig.real.min() < 1e-3 and 0.95 < eig.real.max() < 1


def test_change_of_units_settles_which_formula_is_right(m3, exam):
    """y × 10: eq. 3.16 intervals are exactly 10 times as wide; the appendix code's by 13 to 1007."""
    m10 = hc.lmer("y10 ~ standLRT + (standLRT | school)", exam.assign(y10=10 * exam.normexam))
    r316 = hc.shrinkage_ci(m10).eval("upper - lower") / hc.shrinkage_ci(m3).eval("upper - lower")
    np.testing.assert_allclose(r316, 10, rtol=1e-5)
    rapp = (hc.shrinkage_ci(m10, reproduce_appendix=True).eval("upper - lower")
            / hc.shrinkage_ci(m3, reproduce_appendix=True).eval("upper - lower"))
    assert 13 < rapp.min() < 13.2 and 1000 < rapp.max() < 1010
