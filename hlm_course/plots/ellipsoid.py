"""Ellipsoids of 3 × 3 covariance matrices: the "pancake" picture of a near-singular T.

With three random effects per group (intercept and two slopes) the
covariance matrix ``T`` of the random effects is 3 × 3 and its standard
ellipsoid ``{u : u' T⁻¹ u ≤ r²}`` lives in three dimensions.  Its axes point
along the eigenvectors of ``T`` with half-lengths ``r √λ``
(:func:`hlm_course.marginal_conditional.principal_axes`).  A near-singular ``T`` has one
small eigenvalue: the ellipsoid is squashed into a *pancake*, and an
exactly singular ``T`` (lme4's "boundary (singular) fit") is a flat disc.

The shadow of the ellipsoid on a coordinate plane is the 2-D ellipse of
the corresponding 2 × 2 block of ``T`` (the projection of an ellipsoid is
the ellipse of the marginal covariance), so the three shadows are the
pairwise pictures of ``T``.  A pancake need not look flat in any shadow:
it is flat only when seen edge-on, along its smallest axis.

Recipes:

* :func:`ellipsoid_surface` -- mesh points on the ellipsoid surface;
* :func:`draw_ellipsoid` -- a wire-frame (and its principal axes) on a 3-D Axes;
* :func:`pancake_figure` -- the ellipsoid in 3-D and seen edge-on, above
  its three shadows, for one or several ``T``'s (e.g. two fits of the
  same model).

The picture is the "Near-singularity: a pancake in 3D" topic of Monette's
lab list (chapter "Lab 2: minority status and math achievement").
Okabe–Ito colours on an opaque white background, so the figure stays
readable in dark mode.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .._validate import positive_number, symmetric_matrix
from .beta_space import draw_ellipse
from .style import OKABE_ITO, new_figure

__all__ = ["ellipsoid_surface", "draw_ellipsoid", "pancake_figure"]

_COLOURS = [OKABE_ITO[5], OKABE_ITO[6], OKABE_ITO[3], OKABE_ITO[7]]


def _as_cov3(cov, what: str = "cov") -> np.ndarray:
    A = symmetric_matrix(cov, what, size=3)
    if np.linalg.eigvalsh(A).min() < -1e-10 * max(1.0, np.abs(A).max()):
        raise ValueError(f"{what} must be positive semi-definite")
    return (A + A.T) / 2


def _as_center(center) -> np.ndarray:
    try:
        c = np.asarray(center, dtype=float)
    except (TypeError, ValueError) as err:
        raise ValueError(f"center must have 3 numbers: {err}") from None
    if c.shape != (3,):
        raise ValueError(f"center must have 3 elements, got shape {c.shape}")
    if not np.all(np.isfinite(c)):
        raise ValueError(f"center has missing or infinite values: {c}")
    return c


def _check_radius(radius) -> float:
    return positive_number(radius, "radius")


def _root(A: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Eigenvalues (clipped at 0), eigenvectors and a root ``C`` with ``C C' = A``."""
    w, U = np.linalg.eigh(A)
    w = np.clip(w, 0.0, None)
    return w, U, U * np.sqrt(w)


def ellipsoid_surface(center, cov, radius: float = 1.0, n: int = 30) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points on the ellipsoid ``(u − c)' T⁻¹ (u − c) = r²``, as three ``n × n`` meshes.

    The image ``c + r C s`` of the unit sphere ``s`` under a root ``C C' = T``
    (from the eigen-decomposition, so a singular ``T`` gives a flat disc).
    Returns ``(x, y, z)`` for ``Axes3D.plot_wireframe`` / ``plot_surface``.
    """
    A = _as_cov3(cov)
    c = _as_center(center)
    radius = _check_radius(radius)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise ValueError(f"n (the number of mesh lines) must be an integer, got {n!r}")
    if n < 4:
        raise ValueError(f"n must be at least 4, got {n}")
    _, _, C = _root(A)
    phi, lam = np.meshgrid(np.linspace(0, np.pi, n), np.linspace(0, 2 * np.pi, n))
    sphere = np.stack([np.sin(phi) * np.cos(lam), np.sin(phi) * np.sin(lam), np.cos(phi)])  # (3, n, n)
    pts = c[:, None, None] + radius * np.einsum("ij,jkl->ikl", C, sphere)
    return pts[0], pts[1], pts[2]


def draw_ellipsoid(ax, center, cov, radius: float = 1.0, *, color: str = OKABE_ITO[5], n: int = 24,
                   axes: bool = True, label: str | None = None, alpha: float = 0.35):
    """Draw the ellipsoid of ``cov`` as a wire-frame on a 3-D Axes, with its principal axes.

    ``ax`` must be a 3-D Axes (``fig.add_subplot(projection="3d")``).  The
    principal axes are drawn as thick segments ``c ± r √λ_k e_k``; a zero
    eigenvalue gives no segment.  Returns the wire-frame artist.
    """
    if getattr(ax, "name", "") != "3d":
        raise TypeError("ax must be a 3-D Axes: create it with fig.add_subplot(projection='3d')")
    x, y, z = ellipsoid_surface(center, cov, radius, n)
    wire = ax.plot_wireframe(x, y, z, color=color, lw=0.5, alpha=alpha, label=label)
    if axes:
        w, U, _ = _root(_as_cov3(cov))
        c = np.asarray(center, dtype=float)
        for k in range(3):
            if w[k] <= 0:
                continue
            half = radius * np.sqrt(w[k]) * U[:, k]
            seg = np.vstack([c - half, c + half])
            ax.plot(seg[:, 0], seg[:, 1], seg[:, 2], color=color, lw=2.2)
    return wire


def _names(T, names):
    if names is not None:
        names = list(names)
        if len(names) != 3:
            raise ValueError(f"names must have 3 entries, got {len(names)}")
        return names
    if isinstance(T, pd.DataFrame):
        return [str(c) for c in T.columns]
    return ["u0", "u1", "u2"]


def pancake_figure(T, names: Sequence[str] | None = None, *, radius: float = 1.0, center=None,
                   elev: float = 20.0, azim: float = -60.0, width: float = 9.0):
    """The ellipsoid of a 3 × 3 ``T`` in 3-D and seen edge-on, above its three 2-D shadows.

    Parameters
    ----------
    T
        A 3 × 3 covariance matrix (DataFrame: its column names label the
        axes), or a dict ``{label: T}`` to overlay several (e.g. the same
        model fitted by two optimizers), drawn in Okabe–Ito blue, vermilion,
        green, purple.
    names
        Axis labels (default: the DataFrame's column names).
    radius
        ``r`` of the ellipsoid ``u' T⁻¹ u ≤ r²`` (1: the standard ellipsoid,
        whose shadows span ± one SD on each axis).
    center
        Centre (default the origin: random effects have mean zero).
    elev, azim
        View angles of the 3-D panel (degrees).

    Returns
    -------
    The Figure. Top left, the ellipsoids in 3-D with their principal axes
    (equal units on the three axes). Top right, the ellipsoids *seen
    edge-on*: projected on the plane of the longest and the shortest
    principal axes of the first ``T``, so that the first is as thin as it
    gets (a segment if it is singular). Bottom, the shadows on the planes
    of the first and second, first and third, second and third effects.

    Raises
    ------
    ValueError
        If a matrix is not 3 × 3, symmetric, finite and positive
        semi-definite, if more than four are given, if ``names`` does not have
        three entries, if ``center``, ``radius`` or ``width`` are not valid, or
        if some random effect has zero variance in every matrix.
    """
    Ts = dict(T) if isinstance(T, Mapping) else {None: T}
    if not Ts:
        raise ValueError("T is an empty dict: give at least one matrix")
    if len(Ts) > len(_COLOURS):
        raise ValueError(f"at most {len(_COLOURS)} matrices can be overlaid, got {len(Ts)}")
    first = next(iter(Ts.values()))
    labels = _names(first, names)
    mats = {k: _as_cov3(v, "T" if k is None else f"T[{k!r}]") for k, v in Ts.items()}
    c = np.zeros(3) if center is None else _as_center(center)
    radius = _check_radius(radius)
    width = positive_number(width, "width (in inches)")
    flat = [labels[k] for k in range(3) if all(A[k, k] <= 0 for A in mats.values())]
    if flat:
        raise ValueError(f"nothing to draw along {flat}: the variance is zero in every matrix, so the 3-D box "
                         "would have no extent there")
    fig, _ = new_figure(1, 1, width=width, height=width * 0.8)
    fig.clf()
    grid = fig.add_gridspec(2, 6, height_ratios=[1.3, 1], hspace=0.3, wspace=1.2)
    # 3-D view
    ax3 = fig.add_subplot(grid[0, 0:3], projection="3d")
    half = [max(radius * np.sqrt(A[k, k]) for A in mats.values()) * 1.05 for k in range(3)]
    for A, colour in zip(mats.values(), _COLOURS):
        draw_ellipsoid(ax3, c, A, radius, color=colour)
    ax3.set_xlim(c[0] - half[0], c[0] + half[0])
    ax3.set_ylim(c[1] - half[1], c[1] + half[1])
    ax3.set_zlim(c[2] - half[2], c[2] + half[2])
    ax3.set_box_aspect(tuple(half))  # equal units on the three axes
    ax3.view_init(elev=elev, azim=azim)
    ax3.set_xlabel(labels[0], fontsize=8, labelpad=-10)
    ax3.set_ylabel(labels[1], fontsize=8, labelpad=-10)
    ax3.set_zlabel(labels[2], fontsize=8, labelpad=-10)
    # the shadows below carry the scales; tick labels would crowd the 3-D box
    ax3.set_xticklabels([])
    ax3.set_yticklabels([])
    ax3.set_zticklabels([])
    ax3.set_title("in three dimensions", fontsize=9)
    ax3.set_facecolor("white")
    # edge-on view: coordinates along the first T's longest and shortest axes
    _, U, _ = _root(next(iter(mats.values())))  # eigenvectors, smallest axis first
    basis = U[:, [2, 0]]
    ax_edge = fig.add_subplot(grid[0, 3:6])
    for A, colour in zip(mats.values(), _COLOURS):
        draw_ellipse(ax_edge, np.zeros(2), basis.T @ A @ basis, radius, color=colour, lw=1.8, center_marker=None)
    ax_edge.axhline(0, color=OKABE_ITO[0], lw=0.4, alpha=0.3)
    ax_edge.axvline(0, color=OKABE_ITO[0], lw=0.4, alpha=0.3)
    ax_edge.set_aspect("equal", adjustable="datalim")
    ax_edge.set_xlabel("longest axis", fontsize=9)
    ax_edge.set_ylabel("shortest axis", fontsize=9)
    ax_edge.set_title("seen edge-on", fontsize=9)
    ax_edge.tick_params(labelsize=8)
    # shadows
    pairs = [(0, 1), (0, 2), (1, 2)]
    for k, (i, j) in enumerate(pairs):
        ax = fig.add_subplot(grid[1, 2 * k:2 * k + 2])
        for (key, A), colour in zip(mats.items(), _COLOURS):
            draw_ellipse(ax, c[[i, j]], A[np.ix_([i, j], [i, j])], radius, color=colour, lw=1.8,
                         center_marker=None, label=None if key is None else str(key))
        ax.axhline(c[j], color=OKABE_ITO[0], lw=0.4, alpha=0.3)
        ax.axvline(c[i], color=OKABE_ITO[0], lw=0.4, alpha=0.3)
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_xlabel(labels[i], fontsize=9)
        ax.set_ylabel(labels[j], fontsize=9)
        ax.set_title(f"shadow on ({labels[i]}, {labels[j]})", fontsize=8)
        ax.tick_params(labelsize=8)
    if None not in mats:
        handles, labs = fig.axes[-1].get_legend_handles_labels()
        fig.legend(handles, labs, loc="upper center", ncol=len(labs), fontsize=9, frameon=False)
    return fig
