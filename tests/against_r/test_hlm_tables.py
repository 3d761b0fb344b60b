"""Tests for hlm_course.hlm_tables: HLM-layout tables (chapter 12) and Monte Carlo bands of
bootstrap percentiles (chapter 08)."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import hlm_course as hc
from hlm_course import hlm_tables as ht
from hlm_course.lmer import MixedModelError

VIGNETTE_BOOT = pd.DataFrame({"lower": [2.5968018, -0.3022129, 0.4346349, 5.9544060, 12.1208481, 1.9523704],
                          "upper": [3.2927604, 0.4414194, 1.1285269, 6.1672046, 13.1124875, 2.4369979]},
                         index=[".sig01", ".sig02", ".sig03", ".sigma", "(Intercept)", "cses"])


@pytest.fixture(scope="module")
def isa(hsb):
    return hc.lmer("mathach ~ cses*mean_ses + cses*sector + (cses | school)", hsb)


# ---------------------------------------------------------------- HLM tables
def test_hlm_fixed_table_random_coefficients(rc):
    tab = ht.hlm_fixed_table(rc)
    assert list(tab.columns) == ["Coefficient", "SE (model)", "SE (robust)", "t-ratio (robust)", "approx. df",
                                 "p-value"]
    assert list(tab.index) == ["(Intercept)", "cses"]
    np.testing.assert_allclose(tab["Coefficient"], [12.6362, 2.1932], atol=5e-5)  # the vignette's lme4 values
    np.testing.assert_allclose(tab["SE (model)"], [0.2445, 0.1283], atol=5e-5)
    rob = hc.robust_se(rc)
    np.testing.assert_allclose(tab["SE (robust)"], rob["Robust SE"])
    assert tab["approx. df"].tolist() == [159, 159]  # J - S - 1 with no level-2 predictors
    t = tab["Coefficient"] / tab["SE (robust)"]
    np.testing.assert_allclose(tab["t-ratio (robust)"], t)
    np.testing.assert_allclose(tab["p-value"], 2 * stats.t.sf(np.abs(t), 159))


def test_hlm_fixed_table_cross_level_df(isa):
    """γ's of the intercept and of the slope equation both have J - 2 - 1 = 157 df."""
    tab = ht.hlm_fixed_table(isa)
    assert list(tab.index) == ["(Intercept)", "cses", "mean_ses", "sectorCatholic", "cses:mean_ses",
                               "cses:sectorCatholic"]
    assert (tab["approx. df"] == 157).all()
    ratio = tab["SE (robust)"] / tab["SE (model)"]
    assert ratio.between(0.8, 1.2).all()
    assert tab.loc["cses:sectorCatholic", "p-value"] < 1e-6


def test_hlm_fixed_table_fixed_level1_coefficient_has_no_df(hsb):
    fit = hc.lmer("mathach ~ cses + minority + (1 | school)", hsb)
    tab = ht.hlm_fixed_table(fit)
    assert tab.loc["(Intercept)", "approx. df"] == 159
    assert tab.loc[["cses", "minorityYes"], "approx. df"].isna().all()
    assert tab.loc[["cses", "minorityYes"], "p-value"].isna().all()


def test_hlm_variance_table(rc, isa):
    tab = ht.hlm_variance_table(rc)
    assert list(tab.index) == ["(Intercept)", "cses", "level-1, r"]
    assert tab.loc["cses", "Variance component"] == pytest.approx(0.694, abs=5e-4)
    assert tab.loc["level-1, r", "Variance component"] == pytest.approx(36.700, abs=5e-4)
    assert tab.loc["level-1, r", "Standard deviation"] == pytest.approx(rc.sigma)
    assert tab["df"].tolist()[:2] == [159, 159] and pd.isna(tab.loc["level-1, r", "df"])
    vt = hc.variance_tests(rc).set_index("term")
    np.testing.assert_allclose(tab["chi-square"].iloc[:2], vt["chisq"])
    assert tab.loc["cses", "p-value"] < 0.01
    tab_isa = ht.hlm_variance_table(isa)
    assert tab_isa.loc["cses", "df"] == 157 and tab_isa.loc["cses", "p-value"] > 0.3


def test_hlm_tables_need_an_lmer_fit():
    with pytest.raises(MixedModelError, match="must be a fitted model"):
        ht.hlm_fixed_table("not a fit")
    with pytest.raises(MixedModelError, match="must be a fitted model"):
        ht.hlm_variance_table(None)


# ---------------------------------------------------------------- Monte Carlo bands
def test_quantile_band_ranks_chapter_08_numbers():
    lo = ht.quantile_band_ranks(1000, 0.025)
    assert lo.mean == 25.0 and lo.sd == pytest.approx(4.937, abs=1e-3)
    assert (lo.lower_rank, lo.upper_rank) == (15, 35)
    hi = ht.quantile_band_ranks(1000, 0.975)
    assert (hi.lower_rank, hi.upper_rank) == (965, 985)
    assert ht.quantile_band_ranks(10, 0.025).lower_rank == 1  # clipped to the smallest replicate


def test_quantile_band_coverage_by_simulation():
    """The band [X_(l), X_(u)] covers the true 2.5% point of N(0, 1) about 95% of the time."""
    rng = np.random.default_rng(1)
    band = ht.quantile_band_ranks(400, 0.025)
    x = np.sort(rng.standard_normal((2000, 400)), axis=1)
    q = stats.norm.ppf(0.025)
    covered = (x[:, band.lower_rank - 1] <= q) & (q <= x[:, band.upper_rank - 1])
    assert covered.mean() == pytest.approx(0.95, abs=0.02)


@pytest.mark.parametrize("args, message", [
    ((0, 0.5), "positive integer"), ((10.5, 0.5), "positive integer"), ((True, 0.5), "positive integer"),
    ((100, 1.0), "prob must be between 0 and 1"), ((100, 0.5, 1.5), "coverage must be between 0 and 1"),
])
def test_quantile_band_ranks_errors(args, message):
    with pytest.raises(ValueError, match=message):
        ht.quantile_band_ranks(*args)


def test_percentile_mc_band_reads_order_statistics():
    reps = pd.DataFrame({"a": np.arange(1000.0)[::-1], "b": np.r_[np.arange(999.0), np.nan]})
    band = ht.percentile_mc_band(reps, 0.025)
    assert band.loc["a"].tolist() == [14.0, 34.0]  # ranks 15 and 35 of 0..999
    b = ht.quantile_band_ranks(999, 0.025)  # NaN dropped: 999 replicates
    assert band.loc["b"].tolist() == [b.lower_rank - 1.0, b.upper_rank - 1.0]
    with pytest.raises(ValueError, match="DataFrame"):
        ht.percentile_mc_band(np.ones((5, 2)), 0.5)
    with pytest.raises(ValueError, match="no replicates"):
        ht.percentile_mc_band(pd.DataFrame({"c": [np.nan, np.nan]}), 0.5)


def test_compare_boot_intervals(rc):
    boot = hc.bootstrap_ci(rc, nsim=200, seed=3)
    out = ht.compare_boot_intervals(boot, VIGNETTE_BOOT)
    assert list(out.index) == list(VIGNETTE_BOOT.index)
    assert list(out.columns.get_level_values(0).unique()) == ["lower", "upper"]
    assert list(out["lower"].columns) == ["ours", "MC band from", "MC band to", "reference", "inside"]
    np.testing.assert_allclose(out[("lower", "ours")], boot.set_index("lme4")["lower"])
    np.testing.assert_allclose(out[("upper", "reference")], VIGNETTE_BOOT["upper"])
    for side in ("lower", "upper"):
        part = out[side]
        assert (part["MC band from"] <= part["ours"]).all() and (part["ours"] <= part["MC band to"]).all()
        inside = (part["MC band from"] <= part["reference"]) & (part["reference"] <= part["MC band to"])
        assert (part["inside"] == inside).all()
    # with 200 replicates the bands are wide: most of the vignette's endpoints fall inside
    assert out.xs("inside", axis=1, level=1).to_numpy().sum() >= 8
    subset = ht.compare_boot_intervals(boot, VIGNETTE_BOOT.loc[["cses"]])
    assert list(subset.index) == ["cses"]


def test_compare_boot_intervals_errors(rc):
    boot = hc.bootstrap_ci(rc, nsim=20, seed=1)
    with pytest.raises(ValueError, match="missing column"):
        ht.compare_boot_intervals(boot, VIGNETTE_BOOT[["lower"]])
    with pytest.raises(ValueError, match="not parameters of the bootstrap"):
        ht.compare_boot_intervals(boot, VIGNETTE_BOOT.rename(index={"cses": "ses"}))
    with pytest.raises(ValueError, match="result of hlm_course.bootstrap_ci"):
        ht.compare_boot_intervals(boot.drop(columns="lme4"), VIGNETTE_BOOT)


# ------------------------------------------------------------- display
def test_styled_pads_aligns_and_formats_p_columns():
    frame = pd.DataFrame({"npar": [4, 5], "AIC": [46728.4123, 46523.0712], "Df": [np.nan, 1.0],
                          "Pr(>Chisq)": [np.nan, 5.2e-47], "p-value": [0.0, 0.0026]}, index=["small", "big"])
    assert ht.p_columns(frame) == ["Pr(>Chisq)", "p-value"]
    html = ht.styled(frame, {"AIC": "{:.1f}", "Df": "{:.0f}", "not a column": "{:.3f}"}).to_html()
    assert "padding" in html and "text-align: right" in html and "white-space: nowrap" in html
    assert ">46728.4<" in html and ">46523.1<" in html
    assert html.count("&lt; 2.2e-16") == 2 and ">0.0026<" in html  # 5.2e-47 and an exact 0 alike
    assert ">nan<" not in html and ">0.0<" not in html and ">0.0000<" not in html
    # a single format for every float column (whole-number columns without decimals); a Series is one column
    html = ht.styled(frame[["AIC", "Df"]], "{:.2f}").to_html()
    assert ">46728.41<" in html and ">1<" in html and ">1.00<" not in html
    assert ">0.00759<" in ht.styled(pd.Series({"naive": 0.007591}, name="p-value")).to_html()
    assert ht.p_columns(pd.DataFrame(columns=["stat", "df", "p.value"])) == ["p.value"]
    assert ht.p_columns(pd.DataFrame(columns=["chisq", "df", "p", "groups_used"])) == ["p"]  # variance_tests
    with pytest.raises(TypeError, match="DataFrame or Series"):
        ht.styled([1, 2])
