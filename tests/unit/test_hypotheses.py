"""hlm_course.hypotheses: prediction grids with bands, differences, the Hausman test."""

from pathlib import Path

import numpy as np
import pytest
import statsmodels.formula.api as smf
from scipy import stats

import hlm_course as hc
from hlm_course import hypotheses as hy
from conftest import reference

REF = reference("lab1_lme4")


@pytest.fixture(scope="module")
def rc(hsb):
    return hc.lmer("mathach ~ ses * sector + (1 + cses | school)", hsb)


@pytest.fixture(scope="module")
def grid():
    return hy.expand_grid(sector=["Public", "Catholic"], ses=np.linspace(-2, 2, 5))


def test_expand_grid():
    g = hy.expand_grid(a=[1, 2, 3], b="x", c=np.array([0.5, 1.5]))
    assert g.shape == (6, 3) and list(g.columns) == ["a", "b", "c"]
    assert g["a"].tolist() == [1, 1, 2, 2, 3, 3] and (g["b"] == "x").all()
    with pytest.raises(ValueError, match="at least one column"):
        hy.expand_grid()
    with pytest.raises(ValueError, match="'a' has no values"):
        hy.expand_grid(a=[])


def test_fixed_design_matches_the_fit(rc):
    X = hy.fixed_design(rc, rc.data.iloc[:50])
    assert list(X.columns) == rc.fixed_names
    np.testing.assert_allclose(X.to_numpy(), rc.X[:50], rtol=0, atol=1e-12)


def test_fixed_design_errors(rc, grid):
    with pytest.raises(KeyError, match=r"lacks column\(s\) \['ses'\]"):
        hy.fixed_design(rc, grid.drop(columns="ses"))
    with pytest.raises(ValueError, match="missing values in \\['ses'\\]"):
        hy.fixed_design(rc, grid.assign(ses=np.nan))
    with pytest.raises(ValueError, match="cannot build"):
        hy.fixed_design(rc, grid.assign(sector="Private"))
    with pytest.raises(ValueError, match="no rows"):
        hy.fixed_design(rc, grid.iloc[:0])
    with pytest.raises(TypeError, match="cannot rebuild the design of a dict"):
        hy.fixed_design({}, grid)


def test_effect_grid_equals_statsmodels_prediction(hsb, grid):
    ols = smf.ols("mathach ~ ses * sector", hsb).fit()
    ours = hy.effect_grid(ols, grid)
    theirs = ols.get_prediction(grid).summary_frame(alpha=0.05)
    np.testing.assert_allclose(ours["estimate"], theirs["mean"], rtol=1e-10)
    np.testing.assert_allclose(ours["se"], theirs["mean_se"], rtol=1e-10)
    np.testing.assert_allclose(ours["lower"], theirs["mean_ci_lower"], rtol=1e-10)
    np.testing.assert_allclose(ours["upper"], theirs["mean_ci_upper"], rtol=1e-10)
    assert list(ours.columns[:2]) == ["sector", "ses"]


def test_effect_grid_for_lmer_is_x_vcov_x(rc, grid):
    g = hy.effect_grid(rc, grid, df=np.inf, level=0.9)
    X = hy.fixed_design(rc, grid).to_numpy()
    np.testing.assert_allclose(g["estimate"], X @ rc.fixef.to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(g["se"], np.sqrt(np.einsum("ij,jk,ik->i", X, rc.vcov.to_numpy(), X)), rtol=1e-12)
    np.testing.assert_allclose(g["upper"] - g["estimate"], stats.norm.ppf(0.95) * g["se"], rtol=1e-12)
    assert g.attrs["band"] == "pointwise" and g.attrs["level"] == 0.9


def test_scheffe_band_is_wider_and_uses_the_rank(rc, grid):
    p = hy.effect_grid(rc, grid, df=np.inf)
    s = hy.effect_grid(rc, grid, df=np.inf, band="scheffe")
    # 10 rows spanning the 4-dimensional space of (1, ses, Catholic, ses:Catholic)
    np.testing.assert_allclose((s["upper"] - s["estimate"]) / s["se"], np.sqrt(stats.chi2.ppf(0.95, 4)))
    assert ((s["upper"] - s["lower"]) > (p["upper"] - p["lower"])).all()
    with pytest.raises(ValueError, match="band must be one of"):
        hy.effect_grid(rc, grid, band="bonferroni")
    with pytest.raises(ValueError, match="level must be between 0 and 1"):
        hy.effect_grid(rc, grid, level=95)


def test_difference_grid_is_the_sector_gap(rc):
    g = hy.expand_grid(ses=[-1.0, 0.0, 1.0])
    d = hy.difference_grid(rc, g.assign(sector="Catholic"), g.assign(sector="Public"))
    b, V = rc.fixef, rc.vcov
    gap = b["sectorCatholic"] + b["ses:sectorCatholic"] * g["ses"]
    np.testing.assert_allclose(d["estimate"], gap, rtol=1e-12)
    L = np.column_stack([np.ones(3), g["ses"]])
    idx = ["sectorCatholic", "ses:sectorCatholic"]
    np.testing.assert_allclose(d["se"], np.sqrt(np.einsum("ij,jk,ik->i", L, V.loc[idx, idx].to_numpy(), L)))
    # the gap at ses = 0 is the sectorCatholic row of wald(), with the same DF and interval
    w = hc.wald(rc, "^sectorCatholic$")
    assert d["lower"].iloc[1] == pytest.approx(w["Lower 0.95"].iloc[0], rel=1e-12)
    with pytest.raises(ValueError, match="same number of rows"):
        hy.difference_grid(rc, g, g.iloc[:2])
    with pytest.raises(ValueError, match="every difference is zero"):
        hy.difference_grid(rc, g.assign(sector="Public"), g.assign(sector="Public"))


def test_hausman_matches_r(hsb):
    """Hausman test of the ses slope on the full HSB data, against R (lm + lme4)."""
    ref = REF["hausman_full"]
    fe = hc.method_fixed_intercepts(hsb, sector=None).fit
    re = hc.lmer("mathach ~ ses + sector + (1 | school)", hsb)
    h = hy.hausman_test(fe, re, ["ses"])
    assert h.table.loc["ses", "FE"] == pytest.approx(ref["fe"], rel=1e-8)
    assert h.table.loc["ses", "RE"] == pytest.approx(ref["re"], rel=1e-5)
    assert h.statistic == pytest.approx(ref["statistic"], rel=1e-3)
    assert h.df == 1 and h.pvalue == pytest.approx(stats.chi2.sf(ref["statistic"], 1), rel=1e-2)
    assert "Hausman chisq" in repr(h) and list(h.frame().columns) == ["chisq", "df", "p-value"]


def test_hausman_vanishes_with_the_group_mean(hsb):
    fe = hc.method_fixed_intercepts(hsb, sector=None).fit
    re = hc.lmer("mathach ~ ses + mean_ses + sector + (1 | school)", hsb)
    h = hy.hausman_test(fe, re, "^ses$")
    assert h.statistic == 0.0 and h.pvalue == 1.0 and "coincide" in h.note
    assert abs(h.table.loc["ses", "FE - RE"]) < 1e-10


def test_hausman_errors(hsb):
    fe = hc.method_fixed_intercepts(hsb, sector=None).fit
    re = hc.lmer("mathach ~ ses + mean_ses + (1 | school)", hsb)
    with pytest.raises(KeyError, match=r"\['mean_ses'\] not in the fixed-effects fit.*anchor it"):
        hy.hausman_test(fe, re, "ses")
    with pytest.raises(ValueError, match="no coefficient matches"):
        hy.hausman_test(fe, re, "minority")
    only_int = hc.lmer("mathach ~ 1 + (1 | school)", hsb)
    with pytest.raises(ValueError, match="share no coefficient"):
        hy.hausman_test(fe, only_int)
    # fits given in the wrong order: V_RE − V_FE is negative, so no Hausman comparison
    re1 = hc.lmer("mathach ~ ses + (1 | school)", hsb)
    with pytest.raises(ValueError, match="no positive eigenvalue"):
        hy.hausman_test(re1, fe, ["ses"])
