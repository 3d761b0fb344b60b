"""Tests for hlm_course.plots.diagnostics (QQ points against R, figure recipes, errors)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import hlm_course as hc  # noqa: E402
from hlm_course.plots import diagnostics as dg  # noqa: E402
from hlm_course.statsmodels_check import criterion_along_line  # noqa: E402

X12 = [3.1, -0.4, 2.2, 5.0, 1.1, 0.3, -2.5, 4.4, 0.9, 1.7, 2.8, -1.0]
# R 4.2: sort(qqnorm(x)$x) and qqline's intercept and slope (quantile type 7)
R_THEO12 = [-1.7316643961, -1.1503493804, -0.8122178015, -0.5485222827, -0.3186393640, -0.1046334556,
            0.1046334556, 0.3186393640, 0.5485222827, 0.8122178015, 1.1503493804, 1.7316643961]
R_LINE12 = (1.5, 2.0385780504)
R_THEO5 = [-1.1797611176, -0.4972005707, 0.0, 0.4972005707, 1.1797611176]  # ppoints a = 3/8 (n <= 10)


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_qq_points_match_r_qqnorm_and_qqline():
    pts, (b0, b1) = dg.qq_points(X12)
    np.testing.assert_allclose(pts["theoretical"], R_THEO12, atol=1e-9)
    np.testing.assert_allclose(pts["sample"], np.sort(X12))
    assert b0 == pytest.approx(R_LINE12[0], abs=1e-9)
    assert b1 == pytest.approx(R_LINE12[1], abs=1e-9)


def test_qq_points_small_sample_uses_three_eighths():
    pts, _ = dg.qq_points([2, 7, 1, 8, 3])
    np.testing.assert_allclose(pts["theoretical"], R_THEO5, atol=1e-9)


@pytest.mark.parametrize("values, message", [
    ([1.0, np.nan, 2.0, 3.0], "NaN"),
    ([1.0, 2.0], "at least 3"),
    (np.ones((3, 2)), "one-dimensional"),
])
def test_qq_points_bad_input(values, message):
    with pytest.raises(ValueError, match=message):
        dg.qq_points(values)


def test_qq_plot_draws_points_and_line():
    ax = dg.qq_plot(X12, title="t")
    assert ax.get_title() == "t"
    assert len(ax.collections) == 1 and len(ax.collections[0].get_offsets()) == 12
    assert len(ax.lines) == 1


def test_level1_diagnostics(rc):
    fig = dg.level1_diagnostics(rc)
    left, right = fig.axes
    assert len(left.collections[0].get_offsets()) == rc.nobs == 7185
    assert left.get_legend() is not None  # lowess smooth
    assert len(right.collections[0].get_offsets()) == 7185
    assert fig.get_facecolor()[:3] == (1.0, 1.0, 1.0)


def test_resid_fitted_plot_without_smooth(rc):
    ax = dg.resid_fitted_plot(rc, smooth=False)
    assert ax.get_legend() is None
    offsets = ax.collections[0].get_offsets()
    np.testing.assert_allclose(offsets[:, 1], rc.resid.to_numpy())


def test_level2_qq_one_panel_per_random_effect(rc):
    fig = dg.level2_qq(rc)
    assert len(fig.axes) == 2
    assert "intercept" in fig.axes[0].get_title() and "cses" in fig.axes[1].get_title()
    assert all(len(ax.collections[0].get_offsets()) == 160 for ax in fig.axes)
    null = hc.lmer("mathach ~ 1 + (1 | school)", hc.load_hsb())
    assert len(dg.level2_qq(null).axes) == 1


def test_criterion_line_plot(rc):
    line = criterion_along_line(rc, rc.theta * 1.5, num=5)
    ax = dg.criterion_line_plot(line, start_label="a", end_label="b")
    assert len(ax.lines) == 1
    np.testing.assert_allclose(ax.lines[0].get_ydata(), line["criterion"])
    assert line["criterion"].iloc[-1] == pytest.approx(46714.234, abs=1e-3)


def test_criterion_line_plot_several_lines(rc):
    lines = {"a": criterion_along_line(rc, rc.theta * 1.5, num=4), "b": criterion_along_line(rc, rc.theta * 0.5, num=4)}
    ax = dg.criterion_line_plot(lines)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b"]
    assert len(ax.lines) == 2


def test_criterion_line_plot_labels_stay_inside(rc):
    """The end labels lie inside the axes and the axis labels inside the figure (nothing clipped)."""
    lines = {"a": criterion_along_line(rc, rc.theta * 1.5, num=4), "b": criterion_along_line(rc, rc.theta * 0.5, num=4)}
    ax = dg.criterion_line_plot(lines, start_label="vignette (lme4 default)", end_label="hlm_course.lmer")
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    box = ax.get_window_extent(renderer)
    labels = [t for t in ax.texts if t.get_text().startswith(("vignette", "hlm_course"))]
    assert len(labels) == 2
    for text in labels:
        ext = text.get_window_extent(renderer)
        assert box.x0 <= ext.x0 and ext.x1 <= box.x1 and box.y0 <= ext.y0 and ext.y1 <= box.y1, text.get_text()
    fig_box = fig.bbox
    for label in (ax.xaxis.label, ax.yaxis.label):
        ext = label.get_window_extent(renderer)
        assert fig_box.x0 <= ext.x0 and ext.x1 <= fig_box.x1 and fig_box.y0 <= ext.y0 and ext.y1 <= fig_box.y1


def test_criterion_line_plot_needs_columns():
    with pytest.raises(ValueError, match="columns 't' and 'criterion'"):
        dg.criterion_line_plot(pd.DataFrame({"x": [0, 1]}))
