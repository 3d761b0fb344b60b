"""Tests of the beta-space figure recipes (hlm_course.plots.beta_space)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402
from scipy import stats  # noqa: E402

from hlm_course.plots import beta_space as bs  # noqa: E402

GAMMA = np.array([12.0, 2.0])
T = np.array([[16.0, 8.0], [8.0, 25.0]])


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def school():
    rng = np.random.default_rng(1)
    x = rng.normal(size=25)
    beta = np.array([7.5, -3.5])
    y = beta[0] + beta[1] * x + rng.normal(0, np.sqrt(20.0), size=25)
    X = np.column_stack([np.ones_like(x), x])
    return {"x": x, "y": y, "beta": beta, "beta_hat": np.linalg.solve(X.T @ X, X.T @ y)}


# ---------------------------------------------------------------------------
# ellipse geometry
# ---------------------------------------------------------------------------
def test_ellipse_radius():
    assert bs.ellipse_radius(0.95) == pytest.approx(np.sqrt(stats.chi2.ppf(0.95, 2)), rel=1e-12)
    assert bs.ellipse_radius(0.95, df_resid=30) == pytest.approx(np.sqrt(2 * stats.f.ppf(0.95, 2, 30)))


def test_ellipse_points_lie_on_the_ellipse():
    pts = bs.ellipse_points(GAMMA, T, radius=2.0, n=50)
    assert pts.shape == (50, 2)
    d = pts - GAMMA
    np.testing.assert_allclose(np.einsum("ni,ij,nj->n", d, np.linalg.inv(T), d), 4.0, rtol=1e-10)
    # shadows: the extremes in each coordinate are centre ± r·sd
    dense = bs.ellipse_points(GAMMA, T, radius=1.0, n=20001)
    np.testing.assert_allclose(dense.max(axis=0) - GAMMA, np.sqrt(np.diag(T)), rtol=1e-6)


def test_ellipse_points_errors():
    with pytest.raises(ValueError, match=r"cov must be 2 × 2, got shape \(3, 3\)"):
        bs.ellipse_points(GAMMA, np.eye(3))
    with pytest.raises(ValueError, match="not positive semi-definite"):
        bs.ellipse_points(GAMMA, np.array([[1.0, 2.0], [2.0, 1.0]]))


def test_dispersion_ellipse_uses_sample_moments():
    rng = np.random.default_rng(3)
    pts = rng.multivariate_normal(GAMMA, T, size=200)
    fig, ax = plt.subplots()
    line = bs.dispersion_ellipse(ax, pts)
    xy = line.get_xydata()
    d = xy - pts.mean(axis=0)
    np.testing.assert_allclose(np.einsum("ni,ij,nj->n", d, np.linalg.inv(np.cov(pts, rowvar=False)), d), 1.0,
                               rtol=1e-8)
    with pytest.raises(ValueError, match="at least 3 points"):
        bs.dispersion_ellipse(ax, pts[:2])
    with pytest.raises(ValueError, match=r"n × 2 array, got shape \(200, 3\)"):
        bs.dispersion_ellipse(ax, np.column_stack([pts, pts[:, 0]]))


def test_draw_shadows_box():
    fig, ax = plt.subplots()
    bs.draw_shadows(ax, GAMMA, T)
    box = ax.lines[0].get_xydata()
    np.testing.assert_allclose(box.min(axis=0), GAMMA - [4, 5])
    np.testing.assert_allclose(box.max(axis=0), GAMMA + [4, 5])
    assert len(ax.lines) == 3  # box and one bar per axis


# ---------------------------------------------------------------------------
# the simulated school, step by step
# ---------------------------------------------------------------------------
def test_data_space_steps(school):
    fig = bs.school_steps_figure("data", [("gamma",), ("gamma", "beta", "data", "ls")], gamma=GAMMA, T=T,
                                 sigma2=20.0, **school)
    a, b = fig.axes[:2]
    assert len(a.lines) == 1 + 2  # γ plus the two reference lines at 0
    assert len(b.lines) == 4 + 2
    gamma_line = a.lines[0].get_xydata()
    np.testing.assert_allclose(gamma_line[:, 1], GAMMA[0] + GAMMA[1] * gamma_line[:, 0])
    ls_line = [ln for ln in b.lines if ln.get_label().startswith(r"$\hat\beta_j$")][0].get_xydata()
    np.testing.assert_allclose(ls_line[:, 1], school["beta_hat"][0] + school["beta_hat"][1] * ls_line[:, 0])
    assert len(fig.legends) == 1
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["γ: population mean line", r"$\beta_j$: the school's true line", "students",
                      r"$\hat\beta_j$: least-squares line"]


def test_beta_space_steps_draw_the_three_ellipses(school):
    fig = bs.school_steps_figure("beta", [("gamma", "T", "beta", "sampling", "beta_hat", "Delta")], gamma=GAMMA,
                                 T=T, sigma2=20.0, **school)
    ax = fig.axes[0]
    by_label = {ln.get_label(): ln for ln in ax.lines}
    X = np.column_stack([np.ones_like(school["x"]), school["x"]])
    S = 20.0 * np.linalg.inv(X.T @ X)
    for label, centre, cov in [("T", GAMMA, T), (r"$V_j = \sigma^2(X_j'X_j)^{-1}$", school["beta"], S),
                               (r"$\Delta_j = T + V_j$", GAMMA, T + S)]:
        d = by_label[label].get_xydata() - centre
        np.testing.assert_allclose(np.einsum("ni,ij,nj->n", d, np.linalg.inv(cov), d), 1.0, rtol=1e-8)
    assert to_hex(by_label[r"$\Delta_j = T + V_j$"].get_color()) == bs.ELEMENT_COLORS["blue"].lower()
    # common limits contain every point drawn
    xl, yl = ax.get_xlim(), ax.get_ylim()
    for p in (school["beta"], school["beta_hat"], GAMMA):
        assert xl[0] < p[0] < xl[1] and yl[0] < p[1] < yl[1]


def test_steps_figure_errors(school):
    with pytest.raises(ValueError, match="space must be 'data' or 'beta'"):
        bs.school_steps_figure("gamma", [("gamma",)], gamma=GAMMA)
    with pytest.raises(ValueError, match="at least one panel"):
        bs.school_steps_figure("data", [], gamma=GAMMA)
    with pytest.raises(ValueError, match=r"unknown beta-space element\(s\) \['ls'\]"):
        bs.school_steps_figure("beta", [("ls",)], gamma=GAMMA, T=T, sigma2=20.0, **school)
    with pytest.raises(ValueError, match="needs sigma2"):
        bs.school_steps_figure("beta", [("gamma",)], gamma=GAMMA, T=T, x=school["x"])
    with pytest.raises(ValueError, match="'data' element needs x and y"):
        bs.school_steps_figure("data", [("data",)], gamma=GAMMA)
    with pytest.raises(ValueError, match=r"gamma must have 2 elements .* got shape \(3,\)"):
        bs.school_steps_figure("data", [("gamma",)], gamma=[1, 2, 3])
    with pytest.raises(ValueError, match="T must be a symmetric positive semi-definite"):
        bs.school_steps_figure("beta", [("T",)], gamma=GAMMA, T=[[1, 2], [2, 1]])


# ---------------------------------------------------------------------------
# shrinkage pictures
# ---------------------------------------------------------------------------
def test_weighted_means_figure():
    pos = np.repeat(np.arange(1, 6), 4)
    y = np.arange(20.0)
    fig = bs.weighted_means_figure(pos, y, {"GLS": 9.4, "overall mean": 9.5, "mean of means": 9.3})
    assert len(fig.axes) == 2
    lo, hi = fig.axes[1].get_ylim()
    assert lo < 9.3 and hi > 9.5 and hi - lo < 2
    with pytest.raises(ValueError, match="at least one labelled value"):
        bs.weighted_means_figure(pos, y, {})


def test_shrinkage_plots():
    n = np.array([10, 20, 40, 80])
    blue = np.array([4.0, 16.0, 12.6, 13.0])
    blup = 12.6 + 0.8 * (blue - 12.6)
    fig = bs.shrinkage_by_n_plot(n, blue, blup, 12.6)
    ax = fig.axes[0]
    arrows = [c for c in ax.get_children() if type(c).__name__ == "Annotation"]
    assert len(arrows) == 3  # the zero-length arrow (blue == γ̂) is skipped
    fig = bs.shrinkage_by_group_plot(blue, blup, 12.6, labels=list("abcd"))
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == list("abcd")
    with pytest.raises(ValueError, match="same length"):
        bs.shrinkage_by_n_plot(n, blue, blup[:3], 12.6)
    with pytest.raises(ValueError, match="1-d of the same length"):
        bs.shrinkage_by_group_plot(blue, blup[:2], 12.6)


def test_blue_blup_figure_panels_and_arrows():
    rng = np.random.default_rng(4)
    groups = [f"s{k}" for k in range(12)]
    blue = pd.DataFrame(rng.normal(size=(12, 2)) * [3, 2] + [12, 2], index=groups, columns=["(Intercept)", "ses"])
    blup = 0.5 * blue + 0.5 * np.array([12, 2])
    panel = pd.Series(pd.Categorical(["Catholic"] * 5 + ["Public"] * 7, categories=["Catholic", "Public"]),
                      index=groups)
    fig = bs.blue_blup_figure(blue, blup, panel, centers={"Catholic": [12, 2], "Public": [12, 2]}, T=np.eye(2))
    cat, pub = fig.axes[:2]
    assert cat.get_title() == "Catholic (5 schools)" and pub.get_title() == "Public (7 schools)"
    assert sum(type(c).__name__ == "Annotation" for c in pub.get_children()) == 7
    fig = bs.blue_blup_figure(blue, blup, panel, show_blue=False)
    assert sum(type(c).__name__ == "Annotation" for c in fig.axes[0].get_children()) == 0
    with pytest.raises(ValueError, match="no level for group"):
        bs.blue_blup_figure(blue, blup, panel.iloc[:10])
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match=r"n × 2 \(intercept, slope\)"):
        bs.blue_blup_plot(blue.to_numpy(), blup.to_numpy()[:, :1], ax=ax)


def test_residuals_vs_fitted_panels():
    rng = np.random.default_rng(4)
    f = np.repeat(rng.normal(size=10), 5)
    r_flat = rng.normal(size=50)
    r_flat -= np.polyval(np.polyfit(f, r_flat, 1), f)  # orthogonal to f, like OLS residuals
    r_tilt = r_flat + 0.5 * (f - f.mean())
    fig = bs.residuals_vs_fitted_panels({"flat": (f, r_flat), "tilted": (f, r_tilt)})
    assert [ax.get_title() for ax in fig.axes] == ["flat", "tilted"]
    slopes = []
    for ax in fig.axes:
        trend = [ln for ln in ax.lines if ln.get_label().startswith("least-squares line")][0].get_xydata()
        slopes.append((trend[1, 1] - trend[0, 1]) / (trend[1, 0] - trend[0, 0]))
    np.testing.assert_allclose(slopes, [0.0, 0.5], atol=1e-10)
    assert len(fig.legends) == 1
    with pytest.raises(ValueError, match="at least one"):
        bs.residuals_vs_fitted_panels({})
    with pytest.raises(ValueError, match=r"panel 'bad': fitted and resid must be 1-d of the same length"):
        bs.residuals_vs_fitted_panels({"bad": (f, r_flat[:-1])})


def test_blue_blup_plot_labels_reach_the_legend():
    rng = np.random.default_rng(5)
    blue = rng.normal(size=(8, 2)) * [3, 2] + [12, 2]
    blup = 0.5 * blue + 0.5 * np.array([12, 2])
    fig, ax = plt.subplots()
    bs.blue_blup_plot(blue, blup, center=[12, 2], T=np.eye(2), ax=ax)
    assert ax.get_legend_handles_labels()[1] == [bs.BLUE_BLUP_LABELS[k] for k in ("blue", "blup", "center", "T")]
    fig, ax = plt.subplots()
    bs.blue_blup_plot(blue, blup, center=[12, 2], ax=ax, labels={"blue": "OLS line", "blup": "shrinkage"})
    handles, labels = ax.get_legend_handles_labels()
    assert labels == ["OLS line", "shrinkage", bs.BLUE_BLUP_LABELS["center"]]
    assert handles[0].get_markerfacecolor() == "none"  # the open circles carry the custom BLUE label
    panel = pd.Series(["a"] * 4 + ["b"] * 4, index=range(8))
    fig = bs.blue_blup_figure(pd.DataFrame(blue), pd.DataFrame(blup), panel, labels={"blup": "BLUP (ours)"})
    assert "BLUP (ours)" in [t.get_text() for t in fig.legends[0].get_texts()]
    with pytest.raises(KeyError, match=r"unknown key\(s\) \['bleu'\]"):
        bs.blue_blup_plot(blue, blup, ax=ax, labels={"bleu": "typo"})
