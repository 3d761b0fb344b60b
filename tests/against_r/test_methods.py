"""Tests of hlm_course.methods: seed 001's six ways of comparing the sectors.

Seed numbers are pinned to the precision the seed prints; the HLM fits and
the MANOVA tests, which the seed does not print, are checked against R
(lme4, nlme, stats::manova) in tests/reference/monette_methods.json, made by
tests/r/monette_methods.R.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

import hlm_course as hc
from hlm_course.methods import (compare_methods, fit_methods, lm_list, manova_tests, method_between,
                                method_pooled, methods_summary)
from hlm_course.wald_tests import FixedEffects, between_within_df, get_fix, wald, wald_test
from conftest import reference

REF = reference("monette_methods")
DIFF_INT, DIFF_SLOPE = "Public - Catholic: intercept", "Public - Catholic: slope"


def half_unit(printed: str) -> float:
    """Tolerance of a number printed with as many decimals as ``printed``."""
    decimals = len(printed.split(".")[1]) if "." in printed else 0
    return 0.5 * 10 ** (-decimals) + 1e-12


def assert_printed(value, printed: str):
    assert value == pytest.approx(float(printed), abs=half_unit(printed)), (value, printed)


@pytest.fixture(scope="module")
def hs():
    return hc.load_hs40()


@pytest.fixture(scope="module")
def res(hs):
    return fit_methods(hs)


# ------------------------------------------------------------ 1. pooled OLS
def test_pooled_matches_seed(res):
    r = res["pooled"]
    fit = r.fit
    beta = get_fix(fit).beta
    for name, est, se in [("(Intercept)", "13.5579", "0.1881"), ("ses", "2.2999", "0.2582"),
                          ("SectorPublic", "-1.4666", "0.2921"), ("ses:SectorPublic", "1.6051", "0.3845")]:
        assert_printed(beta[name], est)
        assert_printed(get_fix(fit).vcov.loc[name, name] ** 0.5, se)
    assert_printed(np.sqrt(fit.scale), "6.344")
    assert_printed(fit.rsquared, "0.1404")
    assert_printed(fit.rsquared_adj, "0.1391")
    assert_printed(fit.fvalue, "107.4")
    assert fit.df_resid == 1973
    t = r.table
    assert_printed(t.loc["Catholic: slope", "Estimate"], "2.2999")
    assert_printed(t.loc[DIFF_INT, "t-value"], "-5.021")
    assert_printed(t.loc[DIFF_SLOPE, "t-value"], "4.174")
    assert t.loc["Public: slope", "Estimate"] == pytest.approx(2.2999 + 1.6051, abs=1e-4)
    np.testing.assert_allclose(beta[REF["pooled"]["names"]], REF["pooled"]["estimate"], rtol=1e-10)


# ---------------------------------------------------------- 2a. school lines
def test_fixed_lines_matches_seed(res):
    t = res["fixed_lines"].table
    for row, est, se, tv in [(DIFF_INT, "-2.027255", "0.351992", "-5.759378"),
                             (DIFF_SLOPE, "1.109995", "0.454114", "2.444309")]:
        assert_printed(t.loc[row, "Estimate"], est)
        assert_printed(t.loc[row, "Std.Error"], se)
        assert_printed(t.loc[row, "t-value"], tv)
        assert t.loc[row, "DF"] == 1897
    assert_printed(t.loc[DIFF_SLOPE, "p-value"], "0.0146")
    test = res["fixed_lines"].tests.iloc[0]
    assert (test["numDF"], test["denDF"]) == (2, 1897)
    assert_printed(test["F-value"], "21.03533")
    ref = REF["fixed_lines"]["sector_means"]
    rows = ["Catholic: intercept", "Public: intercept", "Catholic: slope", "Public: slope"]
    np.testing.assert_allclose(t.loc[rows, "Estimate"], ref["estimate"], rtol=1e-9)
    np.testing.assert_allclose(t.loc[rows, "Std.Error"], ref["se"], rtol=1e-9)


def test_fixed_lines_wald_with_seed_L_matrix(res, hs):
    """The seed's own construction: L averages the 40 school coefficients."""
    fit = res["fixed_lines"].fit
    names = get_fix(fit).beta.index
    sector = hc.up(hs, "school")["Sector"]
    L = pd.DataFrame(0.0, index=["Int", "Slope"], columns=names)
    for school, sec in sector.items():
        w = (1 if sec == "Public" else -1) / (sector == sec).sum()
        L.loc["Int", f"school{school}"] = w
        L.loc["Slope", f"school{school}:ses"] = w
    out = wald(fit, L)
    assert_printed(out.loc["Int", "Estimate"], "-2.027255")
    assert_printed(out.loc["Slope", "Std.Error"], "0.454114")
    assert_printed(out.attrs["test"]["F-value"].iloc[0], "21.03533")
    assert list(out.columns) == ["Estimate", "Std.Error", "DF", "t-value", "p-value", "Lower 0.95",
                                 "Upper 0.95"]


# ------------------------------------------------------ 2b. common slopes
def test_fixed_intercepts_matches_seed(res):
    fit = res["fixed_intercepts"].fit
    out = wald(fit, "ses:Sector")
    assert list(out.index) == ["ses:SectorPublic"]
    row = out.iloc[0]
    assert_printed(row["Estimate"], "1.204719")
    assert_printed(row["Std.Error"], "0.436134")
    assert row["DF"] == 1935
    assert_printed(row["t-value"], "2.762267")
    assert_printed(row["p-value"], "0.00579")
    assert res["fixed_intercepts"].table.loc[DIFF_SLOPE, "Estimate"] == pytest.approx(row["Estimate"])


# ---------------------------------------------------------- 3. two-stage
def test_two_stage_matches_seed_and_R(res):
    r = res["two_stage"]
    t = r.table
    assert_printed(t.loc["Catholic: slope", "Estimate"], "1.6672")
    assert_printed(t.loc["Catholic: slope", "Std.Error"], "0.3506")
    assert_printed(t.loc["Catholic: slope", "t-value"], "4.756")
    assert_printed(t.loc["Catholic: slope", "p-value"], "2.84e-05")
    assert_printed(t.loc[DIFF_SLOPE, "Estimate"], "1.1100")
    assert_printed(t.loc[DIFF_SLOPE, "Std.Error"], "0.5086")
    assert_printed(t.loc[DIFF_SLOPE, "t-value"], "2.182")
    assert_printed(t.loc[DIFF_SLOPE, "p-value"], "0.0353")
    assert (t["DF"] == 38).all()
    ref = REF["two_stage"]
    np.testing.assert_allclose(r.coefs["intercept"], ref["school_coefs"]["intercept"], rtol=1e-10)
    np.testing.assert_allclose(r.coefs["slope"], ref["school_coefs"]["slope"], rtol=1e-10)
    np.testing.assert_allclose(t.loc[["Catholic: intercept", DIFF_INT], "Std.Error"],
                               ref["intercept_response"]["se"], rtol=1e-10)
    for test, vals in ref["manova"].items():
        row = r.tests.loc[test]
        assert row["statistic"] == pytest.approx(vals["statistic"], rel=1e-10)
        assert row["approx F"] == pytest.approx(vals["approx_F"], rel=1e-10)
        assert (row["num Df"], row["den Df"]) == (vals["num_df"], vals["den_df"])
        assert row["Pr(>F)"] == pytest.approx(vals["p"], rel=1e-8)


def test_two_stage_and_fixed_lines_share_centres_not_ses(res):
    """Same equal-weight averages; method 3's SEs include between-school variation."""
    a, b = res["fixed_lines"].table, res["two_stage"].table
    np.testing.assert_allclose(a["Estimate"], b["Estimate"], rtol=1e-10)
    assert (b["Std.Error"] > a["Std.Error"]).all()


def test_manova_general_formulas_match_R_for_three_groups():
    """min(p, q) = 2, where Pillai, Wilks, Hotelling-Lawley and Roy differ:
    R's summary.manova on the data set of tests/r/monette_methods.R."""
    i = np.arange(1, 31)
    g = np.repeat([0, 1, 2], 10)
    Y = np.column_stack([np.sin(i) + np.array([0, 0.5, 0])[g], np.cos(0.7 * i) + np.array([0, 0, 0.8])[g]])
    X = np.column_stack([np.ones(30), g == 1, g == 2]).astype(float)
    B = np.linalg.lstsq(X, Y, rcond=None)[0]
    E = (Y - X @ B).T @ (Y - X @ B)
    E0 = (Y - Y.mean(0)).T @ (Y - Y.mean(0))
    out = manova_tests(E, E0 - E, q=2, df_resid=27)
    for test, vals in REF["manova_three_groups"].items():
        row = out.loc[test]
        assert row["statistic"] == pytest.approx(vals["statistic"], rel=1e-10)
        assert row["approx F"] == pytest.approx(vals["approx_F"], rel=1e-10)
        assert (row["num Df"], row["den Df"]) == pytest.approx((vals["num_df"], vals["den_df"]))
        assert row["Pr(>F)"] == pytest.approx(vals["p"], rel=1e-8)
    assert out.loc["Wilks", "statistic"] == pytest.approx(np.linalg.det(E) / np.linalg.det(E0))


# ---------------------------------------------------------- 4. between
def test_between_matches_seed(hs):
    r = method_between(hs, sector=None)
    t = r.table
    assert_printed(t.loc["intercept", "Estimate"], "12.7926")
    assert_printed(t.loc["intercept", "Std.Error"], "0.2898")
    assert_printed(t.loc["intercept", "t-value"], "44.150")
    assert_printed(t.loc["slope", "Estimate"], "5.7734")
    assert_printed(t.loc["slope", "Std.Error"], "0.6984")
    assert_printed(t.loc["slope", "t-value"], "8.267")
    assert_printed(t.loc["slope", "p-value"], "5.1e-10")
    assert len(r.coefs) == 40 and r.tests.empty


def test_between_with_sector_matches_R(res, hs):
    for weighted, key in [(False, "sector"), (True, "sector_weighted")]:
        r = res["between"] if not weighted else method_between(hs, weighted=True)
        beta = get_fix(r.fit).beta
        np.testing.assert_allclose(beta[REF["between"][key]["names"]], REF["between"][key]["estimate"],
                                   rtol=1e-10)
        np.testing.assert_allclose(np.sqrt(np.diag(get_fix(r.fit).vcov.loc[REF["between"][key]["names"],
                                                                             REF["between"][key]["names"]])),
                                   REF["between"][key]["se"], rtol=1e-9)


def test_pooled_slope_is_weighted_average_of_within_and_between(hs):
    """β_P = (W_xx β_W + B_xx β_B) / (W_xx + B_xx), with the n-weighted between slope."""
    pooled = method_pooled(hs, sector=None).table.loc["slope", "Estimate"]
    within = hc.method_fixed_intercepts(hs, sector=None).table.loc["slope", "Estimate"]
    between = method_between(hs, sector=None, weighted=True).table.loc["slope", "Estimate"]
    wxx = (hc.dvar(hs["ses"], hs["school"]) ** 2).sum()
    bxx = ((hc.cvar(hs["ses"], hs["school"]) - hs["ses"].mean()) ** 2).sum()
    assert pooled == pytest.approx((wxx * within + bxx * between) / (wxx + bxx), rel=1e-10)
    assert within < pooled < between


# ---------------------------------------------------------- 5, 6. HLMs
@pytest.mark.parametrize("key", ["hlm", "hlm_contextual"])
def test_hlm_matches_lme4_and_nlme(res, key):
    r = res[key]
    fit = r.fit
    ref = REF[key]
    assert list(fit.fixef.index) == ref["lme4"]["names"]
    assert fit.reml_criterion <= ref["lme4"]["reml_criterion"] + 1e-6
    np.testing.assert_allclose(fit.fixef, ref["lme4"]["estimate"], atol=1e-4)
    np.testing.assert_allclose(fit.se, ref["lme4"]["se"], atol=1e-4)
    np.testing.assert_allclose(fit.tau, ref["lme4"]["tau"], atol=1e-3)
    assert fit.sigma == pytest.approx(ref["lme4"]["sigma"], abs=1e-5)
    # nlme's between/within df, and its estimates (same REML optimum)
    np.testing.assert_array_equal(between_within_df(fit), ref["nlme"]["df"])
    np.testing.assert_allclose(fit.fixef, ref["nlme"]["estimate"], atol=1e-4)
    np.testing.assert_allclose(fit.se, ref["nlme"]["se"], atol=1e-4)
    coef = wald(fit)
    np.testing.assert_allclose(coef["p-value"], ref["nlme"]["p"], rtol=2e-3, atol=1e-12)


def test_hlm_contextual_rows(res):
    t = res["hlm_contextual"].table
    fx = res["hlm_contextual"].fit.fixef
    assert t.loc["Catholic: slope", "Estimate"] == pytest.approx(fx["cses"])
    assert t.loc["Catholic: between slope", "Estimate"] == pytest.approx(fx["mean_ses"])
    assert t.loc["Catholic: contextual", "Estimate"] == pytest.approx(fx["mean_ses"] - fx["cses"])
    assert t.loc["Public - Catholic: contextual", "Estimate"] == pytest.approx(
        fx["mean_ses:SectorPublic"] - fx["cses:SectorPublic"])
    # a contextual effect is estimated at level 2: df = J - 4 level-2 columns
    assert t.loc["Catholic: contextual", "DF"] == 36


# ---------------------------------------------------------- wald()
def test_wald_forms_of_L(res):
    fit = res["pooled"].fit
    by_regex = wald(fit, "Sector")
    assert list(by_regex.index) == ["SectorPublic", "ses:SectorPublic"]
    by_list = wald(fit, ["SectorPublic", "ses:SectorPublic"])
    pd.testing.assert_frame_equal(by_regex, by_list)
    by_dict = wald(fit, {"Public slope": {"ses": 1, "ses:SectorPublic": 1}})
    assert by_dict.loc["Public slope", "Estimate"] == pytest.approx(2.2999 + 1.6051, abs=1e-4)
    by_array = wald(fit, np.array([0, 0, 1, 1.0]))
    # patsy order: Intercept, Sector, ses, ses:Sector
    assert by_array.iloc[0]["Estimate"] == pytest.approx(by_dict.iloc[0]["Estimate"])
    by_series = wald(fit, pd.Series({"ses": 1.0, "ses:SectorPublic": 1.0}, name="pub"))
    assert by_series.index[0] == "pub"
    every = wald(fit)
    assert len(every) == 4
    ci = every.loc["ses"]
    assert ci["Lower 0.95"] == pytest.approx(fit.conf_int().loc["ses", 0])
    assert "Lower 0.9" in wald(fit, "ses$", level=0.9).columns
    z = wald(fit, "ses$", df=np.inf).iloc[0]
    assert z["p-value"] == pytest.approx(2 * (1 - __import__("scipy").stats.norm.cdf(abs(z["t-value"]))))


def test_wald_joint_test_equals_statsmodels_f_test(res):
    fit = res["pooled"].fit
    ours = wald_test(fit, "Sector").iloc[0]
    sm = fit.f_test("Sector[T.Public] = 0, ses:Sector[T.Public] = 0")
    assert ours["F-value"] == pytest.approx(float(sm.fvalue), rel=1e-10)
    assert ours["p-value"] == pytest.approx(float(sm.pvalue), rel=1e-8)
    # a redundant row does not change the rank
    L = {"a": {"SectorPublic": 1}, "b": {"SectorPublic": 2}, "c": {"ses:SectorPublic": 1}}
    assert wald_test(fit, L).iloc[0]["numDF"] == 2


def test_wald_lmer_uses_smallest_df(res):
    fit = res["hlm"].fit
    out = wald(fit, {"Public intercept": {"(Intercept)": 1, "SectorPublic": 1}, "slope": {"ses": 1}})
    assert list(out["DF"]) == [38, 1935]
    assert wald(fit, "ses", df=np.inf)["DF"].eq(np.inf).all()


def test_wald_errors(res):
    fit = res["pooled"].fit
    with pytest.raises(ValueError, match="no coefficient matches"):
        wald(fit, "minority")
    with pytest.raises(KeyError, match="'sex' not in the model"):
        wald(fit, ["ses", "sex"])
    with pytest.raises(KeyError, match="uses 'sesx'"):
        wald(fit, {"bad": {"sesx": 1}})
    with pytest.raises(ValueError, match="4 columns"):
        wald(fit, np.ones((2, 3)))
    with pytest.raises(ValueError, match="L is zero"):
        wald_test(fit, np.zeros(4))
    with pytest.raises(TypeError, match="cannot extract fixed effects"):
        wald(object(), "ses")
    with pytest.raises(ValueError, match="level must be between"):
        wald(fit, "ses", level=95)


def test_fixed_effects_validates_names():
    b = pd.Series([1.0, 2.0], index=["a", "b"])
    with pytest.raises(ValueError, match="vcov must have"):
        FixedEffects(b, pd.DataFrame(np.eye(2)), pd.Series([1.0, 1.0], index=["a", "b"]))


def test_between_within_df_simple_models(hs):
    fit = hc.lmer("mathach ~ 1 + (1 | school)", hs)
    assert list(between_within_df(fit)) == [1937]  # seed 001: DF 1937 for the one-way model


# ---------------------------------------------------------- lm_list and input errors
def test_lm_list_matches_statsmodels(hs):
    c = lm_list(hs)
    assert c.shape[0] == 40 and {"intercept", "slope", "se_slope", "n", "Sector"} <= set(c.columns)
    one = smf.ols("mathach ~ ses", hs[hs["school"] == 2639]).fit()
    assert c.loc[2639, "slope"] == pytest.approx(one.params["ses"], rel=1e-10)
    assert c.loc[2639, "se_slope"] == pytest.approx(one.bse["ses"], rel=1e-10)
    assert c.loc[2639, "se_intercept"] == pytest.approx(one.bse["Intercept"], rel=1e-10)
    assert c.loc[2639, "cov_int_slope"] == pytest.approx(one.cov_params().loc["Intercept", "ses"], rel=1e-10)


def test_input_errors(hs):
    tiny = pd.concat([hs, pd.DataFrame({"school": [1, 1], "ses": [0.0, 1.0], "mathach": [1.0, 2.0],
                                        "Sector": pd.Categorical(["Public"] * 2, categories=["Catholic",
                                                                                               "Public"])})])
    with pytest.raises(ValueError, match="group 1 of 'school' has only 2 row"):
        lm_list(tiny)
    flat = hs.copy()
    flat.loc[flat["school"] == 1317, "ses"] = 0.5
    with pytest.raises(ValueError, match="singular in group 1317"):
        hc.method_fixed_lines(flat)
    with pytest.raises(KeyError, match=r"\['sector_x'\] not found"):
        method_pooled(hs, sector="sector_x")
    nan = hs.copy()
    nan.loc[3, "ses"] = np.nan
    with pytest.raises(ValueError, match="'ses' has 1 missing"):
        method_pooled(nan)
    with pytest.raises(ValueError, match="must be a level-2 variable"):
        method_pooled(hs, sector="Sex")
    with pytest.raises(ValueError, match="only one group"):
        method_pooled(hs[hs["school"] == 1317])
    with pytest.raises(ValueError, match="single level"):
        method_pooled(hs[hs["Sector"] == "Public"])
    with pytest.raises(ValueError, match="unknown method"):
        fit_methods(hs, methods=["pooled", "bayes"])


# ---------------------------------------------------------- comparison tables
def test_compare_methods_table(res):
    cmp = compare_methods(res)
    assert cmp.shape == (7, 8)
    assert list(cmp.index) == ["1 pooled", "2a fixed lines", "2b fixed intercepts", "3 two-stage", "4 between",
                               "5 HLM", "6 HLM + context"]
    assert_printed(cmp.loc["2b fixed intercepts", (DIFF_SLOPE, "Estimate")], "1.204719")
    assert_printed(cmp.loc["3 two-stage", (DIFF_SLOPE, "Std.Error")], "0.5086")
    summary = methods_summary(res)
    assert summary.attrs["effect"] == DIFF_SLOPE
    assert list(summary.columns) == ["slope estimates", "efficient", "generalizes to", "estimate", "SE", "DF"]
    assert summary["estimate"].iloc[0] == pytest.approx(cmp.iloc[0][(DIFF_SLOPE, "Estimate")])


def test_format_wald(res):
    html = hc.format_wald(res["hlm"].table).to_html()
    assert "1935" in html and "1935.0" not in html
    assert "1.3888" in html
    z = hc.format_wald(wald(res["pooled"].fit, "ses$", df=np.inf)).to_html()
    assert ">inf<" in z


def test_method_result_ellipse(res):
    centre, cov = res["pooled"].ellipse("Catholic")
    np.testing.assert_allclose(centre, [13.5579, 2.2999], atol=5e-5)
    assert cov.shape == (2, 2) and np.allclose(cov, cov.T)
    c2, v2 = res["pooled"].ellipse("Public - Catholic")
    assert c2[1] == pytest.approx(1.6051, abs=5e-5)
    assert v2[1, 1] == pytest.approx(0.3845 ** 2, rel=1e-3)
    with pytest.raises(KeyError, match="not among"):
        res["pooled"].ellipse("Jesuit")
    assert "1. Pooled OLS" in res["pooled"]._repr_html_()


def test_ellipse_radius_f_chi2_and_hotelling(res):
    from scipy import stats

    # univariate methods: r^2 = 2 F(0.95; 2, df), df the smaller of the two rows'
    assert res["pooled"].ellipse_radius("Catholic") == pytest.approx(np.sqrt(2 * stats.f.ppf(0.95, 2, 1973)))
    hlm_df = res["hlm"].table.loc[[DIFF_INT, DIFF_SLOPE], "DF"].min()
    assert hlm_df == 38
    assert res["hlm"].ellipse_radius("Public - Catholic", 0.9) == pytest.approx(
        np.sqrt(2 * stats.f.ppf(0.9, 2, 38)))
    # two-stage: Hotelling's T^2 with nu = 38, r^2 = 76/37 F(0.95; 2, 37) -- not 2 F(0.95; 2, 38)
    r = res["two_stage"].ellipse_radius("Public - Catholic")
    assert r ** 2 == pytest.approx(76 / 37 * stats.f.ppf(0.95, 2, 37), rel=1e-12)
    assert r > np.sqrt(2 * stats.f.ppf(0.95, 2, 38))
    # the exact region is the MANOVA test inverted: T^2 at the origin gives the printed F and p
    centre, cov = res["two_stage"].ellipse("Public - Catholic")
    t2 = centre @ np.linalg.solve(cov, centre)
    hl = res["two_stage"].tests.loc["Hotelling-Lawley"]
    assert t2 * 37 / 76 == pytest.approx(hl["approx F"], rel=1e-10)
    assert (t2 > r ** 2) == (hl["Pr(>F)"] < 0.05)
    # z-based tables (infinite df) use the chi-square radius
    z = res["pooled"]
    z_inf = hc.MethodResult(**{**z.__dict__, "table": z.table.assign(DF=np.inf)})
    assert z_inf.ellipse_radius("Catholic") == pytest.approx(np.sqrt(stats.chi2.ppf(0.95, 2)))
    with pytest.raises(KeyError, match="not among"):
        res["pooled"].ellipse_radius("Jesuit")
    with pytest.raises(ValueError, match="conf must be between 0 and 1"):
        res["pooled"].ellipse_radius("Catholic", conf=95)


def test_published_table_rounds_to_the_printed_precision():
    t = hc.published_table([
        ("(Intercept)", "13.5579", 13.557912),
        ("p", "2.84e-05", 2.8412e-05),
        ("p2", "5.1e-10", 5.3e-10),
        ("DF", "1897", 1897.0),
        ("F", "107.4", 107.46),
    ])
    assert list(t.columns) == ["Monette (2010)", "ours", "match"]
    assert list(hc.published_table([("x", "1.5", 1.5)], source="Kaplan (2010)").columns)[0] == "Kaplan (2010)"
    assert t.index.name == "quantity"
    assert t["ours"].tolist() == ["13.5579", "2.84e-05", "5.3e-10", "1897", "107.5"]
    assert t["match"].tolist() == [True, True, False, True, False]
    with pytest.raises(TypeError, match="printed string"):
        hc.published_table([("x", 1.5, 1.5)])
    with pytest.raises(ValueError, match="not a number"):
        hc.published_table([("x", "n/a", 1.5)])
    with pytest.raises(ValueError, match=r"\(quantity, printed, ours\)"):
        hc.published_table([("x", "1.5")])


def test_published_table_of_method_2a_all_match(res):
    d_int, d_slope = res["fixed_lines"].table.loc[DIFF_INT], res["fixed_lines"].table.loc[DIFF_SLOPE]
    t = hc.published_table([("Int: estimate", "-2.027255", d_int["Estimate"]),
                       ("Slope: SE", "0.454114", d_slope["Std.Error"]),
                       ("Slope: p", "0.0146", d_slope["p-value"])])
    assert t["match"].all(), t
