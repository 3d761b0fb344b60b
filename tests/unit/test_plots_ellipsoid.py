"""hlm_course.plots.ellipsoid: the 3-D ellipsoid of a covariance matrix and its shadows."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from hlm_course.plots import ellipsoid  # noqa: E402

T = np.array([[6.0, -0.1, 1.0], [-0.1, 0.5, -0.65], [1.0, -0.65, 1.8]])
FLAT = np.array([[4.0, 2.0, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 1.0]])  # rank 2: u0 = 2 u1


def test_surface_lies_on_the_ellipsoid():
    c = np.array([1.0, -2.0, 0.5])
    x, y, z = ellipsoid.ellipsoid_surface(c, T, radius=2.0, n=12)
    assert x.shape == y.shape == z.shape == (12, 12)
    P = np.stack([x.ravel(), y.ravel(), z.ravel()], axis=1) - c
    q = np.einsum("ij,jk,ik->i", P, np.linalg.inv(T), P)
    np.testing.assert_allclose(q, 4.0, rtol=1e-10)


def test_singular_matrix_gives_a_flat_disc():
    x, y, z = ellipsoid.ellipsoid_surface(np.zeros(3), FLAT)
    null = np.array([1.0, -2.0, 0.0]) / np.sqrt(5)  # FLAT @ null = 0
    P = np.stack([x.ravel(), y.ravel(), z.ravel()], axis=1)
    np.testing.assert_allclose(P @ null, 0.0, atol=1e-12)


@pytest.mark.parametrize("cov, match", [
    (np.eye(2), "3 × 3"),
    (np.array([[1.0, 0.5, 0], [0, 1, 0], [0, 0, 1]]), "symmetric"),
    (np.diag([1.0, -1.0, 1.0]), "positive semi-definite"),
    (np.diag([1.0, np.nan, 1.0]), "missing or infinite"),
])
def test_bad_matrices(cov, match):
    with pytest.raises(ValueError, match=match):
        ellipsoid.ellipsoid_surface(np.zeros(3), cov)


def test_bad_center_and_mesh():
    with pytest.raises(ValueError, match="center must have 3 elements"):
        ellipsoid.ellipsoid_surface(np.zeros(2), T)
    with pytest.raises(ValueError, match="center has missing or infinite"):
        ellipsoid.ellipsoid_surface([0.0, np.inf, 0.0], T)
    with pytest.raises(ValueError, match="center must have 3 numbers"):
        ellipsoid.ellipsoid_surface(["a", "b", "c"], T)
    with pytest.raises(ValueError, match="n must be at least 4"):
        ellipsoid.ellipsoid_surface(np.zeros(3), T, n=3)
    with pytest.raises(ValueError, match="n .* must be an integer"):
        ellipsoid.ellipsoid_surface(np.zeros(3), T, n=10.5)


@pytest.mark.parametrize("radius", [0.0, -1.0, np.nan, "one"])
def test_bad_radius(radius):
    with pytest.raises(ValueError, match="radius must be a positive number"):
        ellipsoid.ellipsoid_surface(np.zeros(3), T, radius=radius)
    with pytest.raises(ValueError, match="radius must be a positive number"):
        ellipsoid.pancake_figure(T, radius=radius)


def test_non_numeric_matrix():
    with pytest.raises(ValueError, match="3 × 3 matrix of numbers"):
        ellipsoid.ellipsoid_surface(np.zeros(3), [["a"] * 3] * 3)


def test_draw_ellipsoid_needs_3d_axes():
    fig, ax = plt.subplots()
    with pytest.raises(TypeError, match="3-D Axes"):
        ellipsoid.draw_ellipsoid(ax, np.zeros(3), T)
    plt.close(fig)
    fig = plt.figure()
    ax3 = fig.add_subplot(projection="3d")
    ellipsoid.draw_ellipsoid(ax3, np.zeros(3), FLAT)
    assert len(ax3.lines) == 2  # the zero axis of a flat disc is not drawn
    plt.close(fig)


def test_pancake_figure_layout_and_edge_view():
    names = ["intercept", "slope", "gap"]
    fig = ellipsoid.pancake_figure({"flat": pd.DataFrame(FLAT, columns=names, index=names), "round": T})
    assert len(fig.axes) == 5
    assert fig.get_facecolor()[:3] == (1.0, 1.0, 1.0)
    ax3, edge, *shadows = fig.axes
    assert ax3.name == "3d" and ax3.get_xlabel() == "intercept" and ax3.get_zlabel() == "gap"
    # seen edge-on, the singular (first) matrix is a segment: no extent along the shortest axis
    flat_line = edge.lines[0]  # one ellipse per matrix, in order, then the reference lines
    assert np.ptp(flat_line.get_ydata()) < 1e-12 and np.ptp(flat_line.get_xdata()) > 1
    assert [a.get_xlabel() for a in shadows] == ["intercept", "intercept", "slope"]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["flat", "round"]
    plt.close(fig)


def test_pancake_figure_single_matrix_and_errors():
    fig = ellipsoid.pancake_figure(T)
    assert fig.axes[0].get_xlabel() == "u0" and not fig.legends
    plt.close(fig)
    open_before = set(plt.get_fignums())  # figures other tests in this process left open
    with pytest.raises(ValueError, match="empty dict"):
        ellipsoid.pancake_figure({})
    with pytest.raises(ValueError, match="at most 4"):
        ellipsoid.pancake_figure({k: T for k in "abcde"})
    with pytest.raises(ValueError, match="names must have 3 entries"):
        ellipsoid.pancake_figure(T, names=["a", "b"])
    with pytest.raises(ValueError, match=r"T\['bad'\] must be a 3 × 3"):
        ellipsoid.pancake_figure({"ok": T, "bad": np.eye(2)})
    with pytest.raises(ValueError, match="center must have 3 elements"):
        ellipsoid.pancake_figure(T, center=[0.0, 0.0])
    with pytest.raises(ValueError, match="width .* must be a positive number"):
        ellipsoid.pancake_figure(T, width=0)
    with pytest.raises(ValueError, match=r"nothing to draw along \['u2'\]"):
        ellipsoid.pancake_figure(np.diag([1.0, 1.0, 0.0]))
    assert set(plt.get_fignums()) == open_before  # no half-drawn figure is left behind
