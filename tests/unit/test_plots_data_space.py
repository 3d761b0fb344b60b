"""Smoke and shape tests of hlm_course.plots.data_space (group_lines, sector_panels, uniform_quantiles, ...)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import hlm_course as hc  # noqa: E402
from hlm_course.plots import OKABE_ITO, SECTOR_COLORS  # noqa: E402
from hlm_course.plots.data_space import group_lines, ls_line, palette_for, sector_panels  # noqa: E402


@pytest.fixture(scope="module")
def hs():
    return hc.load_hs40()


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def visible_axes(fig):
    return [ax for ax in fig.axes if ax.get_visible()]


def test_group_lines_colours_by_level2(hs):
    c = hc.lm_list(hs)
    fig, ax = plt.subplots()
    group_lines(ax, c, (-2, 2), color_by="Sector")
    assert len(ax.get_lines()) == 40
    colours = {matplotlib.colors.to_hex(ln.get_color()) for ln in ax.get_lines()}
    assert colours == {SECTOR_COLORS["Catholic"].lower(), SECTOR_COLORS["Public"].lower()}
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["Catholic", "Public"]


def test_group_lines_own_ranges(hs):
    c = hc.lm_list(hs)
    rng = hs.groupby("school")["ses"].agg(xmin="min", xmax="max")
    fig, ax = plt.subplots()
    group_lines(ax, c, rng)
    xs = ax.get_lines()[0].get_xdata()
    assert (xs[0], xs[1]) == (rng.iloc[0]["xmin"], rng.iloc[0]["xmax"])
    with pytest.raises(KeyError, match="no row for groups"):
        group_lines(ax, c, rng.iloc[:3])
    with pytest.raises(ValueError, match="xrange must be"):
        group_lines(ax, c, (1, 2, 3))


def test_sector_panels(hs):
    fig = sector_panels(hs, "ses", "mathach", hue="Sex")
    assert len(fig.axes) == 2
    assert [ax.get_title() for ax in fig.axes] == ["Sector: Catholic", "Sector: Public"]
    assert len(fig.axes[0].get_lines()) == 2
    fig = sector_panels(hs, "ses", "mathach", coefs=hc.lm_list(hs), group="school")
    assert len(fig.axes[0].get_lines()) == 21 + 1  # 21 Catholic schools + the sector's LS line
    with pytest.raises(ValueError, match="needs group="):
        sector_panels(hs, "ses", "mathach", coefs=hc.lm_list(hs))


def test_palette_for():
    assert palette_for(["Catholic", "Public"]) == SECTOR_COLORS
    assert palette_for(["a", "b"])["a"] == OKABE_ITO[1]
    assert palette_for(["a"], {"a": "red"}) == {"a": "red"}
    with pytest.raises(KeyError, match="no colour"):
        palette_for(["a", "b"], {"a": "red"})
    assert np.isnan(ls_line([1.0, 1.0], [1.0, 2.0])[0])


def test_uniform_quantiles_numeric_and_categorical(hs):
    from hlm_course.plots.data_space import uniform_quantiles

    cols = ["mathach", "ses", "Sex", "Size", "HIMINTY"]
    fig = uniform_quantiles(hs, cols, ncols=3)
    axes = visible_axes(fig)
    assert [ax.get_title() for ax in axes] == cols
    assert len(fig.axes) == 6 and not fig.axes[5].get_visible()
    assert fig.get_facecolor()[:3] == (1.0, 1.0, 1.0)
    # numeric: the sorted values at the uniform quantiles (k - 0.5) / n
    x, y = axes[0].get_lines()[0].get_data()
    n = len(hs)
    assert len(x) == n == 1977
    assert x[0] == pytest.approx(0.5 / n) and x[-1] == pytest.approx(1 - 0.5 / n)
    np.testing.assert_allclose(y, np.sort(hs["mathach"]))
    # the median of the plotted curve is the median of the column
    assert np.interp(0.5, x, y) == pytest.approx(hs["mathach"].median(), abs=0.05)
    # categorical: a staircase of the level codes with the levels as tick labels
    x, y = axes[2].get_lines()[0].get_data()
    assert [t.get_text() for t in axes[2].get_yticklabels()] == ["Female", "Male"]
    assert np.mean(np.asarray(y) == 0) == pytest.approx((hs["Sex"] == "Female").mean())
    # a level-2 variable in the long file: one flat step per distinct school size
    _, size = axes[3].get_lines()[0].get_data()
    assert len(np.unique(size)) == hs["Size"].nunique()


def test_uniform_quantiles_skips_missing_and_errors(hs):
    from hlm_course.plots.data_space import uniform_quantiles

    d = pd.DataFrame({"a": [3.0, np.nan, 1.0, 2.0], "b": ["x", "y", None, "x"], "c": [True, False, True, True]})
    fig = uniform_quantiles(d)
    x, y = fig.axes[0].get_lines()[0].get_data()
    np.testing.assert_allclose(x, [1 / 6, 1 / 2, 5 / 6])
    np.testing.assert_allclose(y, [1, 2, 3])
    assert [t.get_text() for t in fig.axes[1].get_yticklabels()] == ["x", "y"]
    assert [t.get_text() for t in fig.axes[2].get_yticklabels()] == ["False", "True"]
    with pytest.raises(KeyError, match="not found"):
        uniform_quantiles(hs, ["mathach", "math"])
    with pytest.raises(ValueError, match="no non-missing values"):
        uniform_quantiles(pd.DataFrame({"a": [np.nan, np.nan]}))
    with pytest.raises(ValueError, match="no columns"):
        uniform_quantiles(hs, [])
    with pytest.raises(ValueError, match="ncols must be positive"):
        uniform_quantiles(hs, ["ses"], ncols=0)
    with pytest.raises(TypeError, match="DataFrame"):
        uniform_quantiles(hs["ses"])
