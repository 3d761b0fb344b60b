"""Tests of hlm_course.plots.sectors: the six methods' confidence ellipses in beta space."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from scipy import stats  # noqa: E402

import hlm_course as hc  # noqa: E402
from hlm_course.plots.sectors import method_ellipse  # noqa: E402

DIFF = "Public - Catholic"


@pytest.fixture(scope="module")
def res():
    return hc.fit_methods(hc.load_hs40(), methods=["pooled", "two_stage"])


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def quadratic_form(line, centre, cov):
    pts = np.column_stack(line.get_data()) - centre
    return np.einsum("ij,jk,ik->i", pts, np.linalg.inv(cov), pts)


def test_method_ellipse_default_radius_is_the_methods(res):
    fig, ax = plt.subplots()
    line = method_ellipse(ax, res["pooled"], "Catholic", color="black", label="pooled")
    centre, cov = res["pooled"].ellipse("Catholic")
    np.testing.assert_allclose(quadratic_form(line, centre, cov), 2 * stats.f.ppf(0.95, 2, 1973), rtol=1e-9)
    assert line.get_label() == "pooled"
    # the centre is marked with a "+" in the ellipse's colour
    marker = ax.get_lines()[1]
    assert marker.get_marker() == "+"
    np.testing.assert_allclose(np.ravel(marker.get_data()), centre)
    # centre (13.5579, 2.2999): Monette (2010)'s pooled Catholic intercept and slope
    np.testing.assert_allclose(centre, [13.5579, 2.2999], atol=5e-5)


def test_method_ellipse_two_stage_uses_hotelling(res):
    fig, ax = plt.subplots()
    line = method_ellipse(ax, res["two_stage"], DIFF, center_marker=None)
    centre, cov = res["two_stage"].ellipse(DIFF)
    q = quadratic_form(line, centre, cov)
    np.testing.assert_allclose(q, 76 / 37 * stats.f.ppf(0.95, 2, 37), rtol=1e-9)
    assert len(ax.get_lines()) == 1
    # the origin (no sector difference) lies outside: MANOVA p = 0.000353 < 0.05
    assert centre @ np.linalg.solve(cov, centre) > q[0]


def test_method_ellipse_shadows_radius_and_conf(res):
    fig, ax = plt.subplots()
    t975 = stats.t.ppf(0.975, 38)
    line = method_ellipse(ax, res["two_stage"], DIFF, radius=t975, ls=":")
    x, y = line.get_data()
    centre, cov = res["two_stage"].ellipse(DIFF)
    se = np.sqrt(np.diag(cov))
    # shadows = the 95% t intervals (Monette 2010: slope difference 1.1100, SE 0.5086, p = 0.0353)
    assert y.min() == pytest.approx(centre[1] - t975 * se[1], abs=1e-3 * se[1])
    assert y.min() > 0
    assert x.max() == pytest.approx(centre[0] + t975 * se[0], abs=1e-3 * se[0])
    assert line.get_linestyle() == ":"
    line90 = method_ellipse(ax, res["pooled"], DIFF, conf=0.9)
    c2, v2 = res["pooled"].ellipse(DIFF)
    np.testing.assert_allclose(quadratic_form(line90, c2, v2), 2 * stats.f.ppf(0.9, 2, 1973), rtol=1e-9)


def test_method_ellipse_errors(res):
    fig, ax = plt.subplots()
    with pytest.raises(KeyError, match="not among"):
        method_ellipse(ax, res["pooled"], "Jesuit")
    with pytest.raises(ValueError, match="radius must be positive"):
        method_ellipse(ax, res["pooled"], "Catholic", radius=0)
    with pytest.raises(ValueError, match="conf must be between"):
        method_ellipse(ax, res["pooled"], "Catholic", conf=1.5)
