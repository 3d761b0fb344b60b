"""Beta space: pictures of coefficient vectors (intercept, slope) and ellipses.

A point in beta space is one regression line in data space.  An ellipse
``{β : (β − c)' V⁻¹ (β − c) ≤ r²}`` is a confidence region when V is an
estimated covariance of an estimator (r² = χ²₂ quantile, or 2·F for
F-based regions), and a dispersion ellipse of a population when V is its
covariance (r = 1 gives the "standard" ellipse).

Recipes:

* geometry — :func:`ellipse_radius`, :func:`ellipse_points`,
  :func:`draw_ellipse`, :func:`dispersion_ellipse` (data ellipse of a cloud of
  points), :func:`draw_shadows` (an ellipse's ±1 SD shadows on the axes);
* one school, step by step (Monette (2010), Figs 8–17) — :func:`school_data_space`,
  :func:`school_beta_space` and :func:`school_steps_figure`: the population
  mean line γ and its dispersion T, a school's true line β_j, its data, its
  least-squares line β̂_j with its sampling variance ``V_j = σ²(X_j'X_j)⁻¹``, and
  ``Δ_j = T + V_j`` (Bryk & Raudenbush's notation; Monette (2010) calls Δ_j "V_j");
* shrinkage in the one-way model (Monette (2010), "Fitting the models") —
  :func:`weighted_means_figure` (GLS mean vs overall mean vs mean of means),
  :func:`shrinkage_by_group_plot`, :func:`shrinkage_by_n_plot` (arrows from
  BLUE to BLUP against n), :func:`residuals_vs_fitted_panels` (residuals of
  shrunken and unshrunken fits side by side, Monette's (2010) ``plot(fit.oneway.re)``);
* BLUEs and BLUPs in beta space (Monette (2010), Figs 18–19) —
  :func:`blue_blup_plot`, :func:`blue_blup_figure` (one panel per sector).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["ellipse_points", "ellipse_radius", "draw_ellipse"]


def ellipse_radius(level: float = 0.95, df: int = 2, df_resid: float | None = None) -> float:
    """Radius r of a ``level`` confidence ellipse in ``df`` dimensions.

    χ² based (``r² = χ²_df(level)``) or, when ``df_resid`` is given, F based
    (``r² = df · F_{df, df_resid}(level)``).
    """
    if df_resid is None:
        return float(np.sqrt(stats.chi2.ppf(level, df)))
    return float(np.sqrt(df * stats.f.ppf(level, df, df_resid)))


def ellipse_points(center, cov, radius: float = 1.0, n: int = 181) -> np.ndarray:
    """Points (n × 2) on the ellipse ``(β − c)' V⁻¹ (β − c) = r²``.

    Uses ``c + r · C u`` with ``C C' = V`` (C from the eigendecomposition of V,
    so singular V is allowed) and u on the unit circle.
    """
    cov = np.asarray(cov, dtype=float)
    if cov.shape != (2, 2):
        raise ValueError(f"cov must be 2 × 2, got shape {cov.shape}")
    w, U = np.linalg.eigh(cov)
    if np.any(w < -1e-12 * max(1.0, abs(w).max())):
        raise ValueError("cov is not positive semi-definite")
    root = U * np.sqrt(np.clip(w, 0, None))  # root @ root.T == cov
    t = np.linspace(0, 2 * np.pi, n)
    circle = np.vstack([np.cos(t), np.sin(t)])
    return np.asarray(center, dtype=float) + radius * (root @ circle).T


def draw_ellipse(ax, center, cov, radius: float = 1.0, *, fill: bool = False, center_marker: str | None = "+",
                 **kw):
    """Draw an ellipse on ``ax`` (and its centre); returns the line artist."""
    pts = ellipse_points(center, cov, radius)
    if fill:
        kw.setdefault("alpha", 0.2)
        (line,) = ax.fill(pts[:, 0], pts[:, 1], **kw)
    else:
        (line,) = ax.plot(pts[:, 0], pts[:, 1], **kw)
    if center_marker:
        ax.plot(*np.asarray(center, dtype=float), marker=center_marker, color=line.get_facecolor() if fill
                else line.get_color(), ms=8, ls="none")
    return line


# ---------------------------------------------------------------------------
# colours of the recurring elements (Okabe–Ito)
# ---------------------------------------------------------------------------
#: Colours of the elements of the simulated-school and BLUE/BLUP pictures.
ELEMENT_COLORS = {
    "gamma": "#000000",  # population mean line γ and its dispersion T
    "beta": "#009E73",  # a school's true line β_j (and σ²(X_j'X_j)⁻¹ around it)
    "blue": "#0072B2",  # least-squares line β̂_j (BLUE), and V_j
    "blup": "#D55E00",  # BLUP β̃_j
    "data": "#000000",
}

__all__ += ["ELEMENT_COLORS", "dispersion_ellipse", "draw_shadows", "school_data_space", "school_beta_space",
            "school_steps_figure", "weighted_means_figure", "shrinkage_by_group_plot", "shrinkage_by_n_plot",
            "residuals_vs_fitted_panels", "blue_blup_plot", "blue_blup_figure", "BLUE_BLUP_LABELS"]


def _axes(ax, width=6.4, height=4.4):
    if ax is not None:
        return ax.figure, ax
    from .style import new_figure

    return new_figure(width=width, height=height)


def _as_2(v, what: str) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    if v.shape != (2,):
        raise ValueError(f"{what} must have 2 elements (intercept, slope), got shape {v.shape}")
    return v


def _as_cov(v, what: str) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    if v.shape != (2, 2):
        raise ValueError(f"{what} must be a 2 × 2 matrix, got shape {v.shape}")
    if not np.allclose(v, v.T) or np.linalg.eigvalsh(v).min() < -1e-12 * max(1.0, np.abs(v).max()):
        raise ValueError(f"{what} must be a symmetric positive semi-definite matrix")
    return v


def dispersion_ellipse(ax, points, radius: float = 1.0, **kw):
    """Draw the data ellipse of a cloud of points: centre at their mean, shape
    their sample covariance (``radius=1``: the standard ellipse, whose shadows
    on the axes are the mean ± 1 SD).  ``points`` is (n × 2) or a DataFrame."""
    pts = np.asarray(points, dtype=float)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(f"points must be an n × 2 array, got shape {pts.shape}")
    if len(pts) < 3:
        raise ValueError(f"a dispersion ellipse needs at least 3 points, got {len(pts)}")
    return draw_ellipse(ax, pts.mean(axis=0), np.cov(pts, rowvar=False), radius, **kw)


def draw_shadows(ax, center, cov, radius: float = 1.0, color: str = "#000000", **kw):
    """Shadows of an ellipse on the two axes: its bounding box (dashed) and bars
    along the axes from ``c ± r·sd`` (for ``radius=1`` the mean ± 1 SD of each
    coordinate, Monette (2010) Fig. 13)."""
    c = _as_2(center, "center")
    sd = radius * np.sqrt(np.diag(_as_cov(cov, "cov")))
    lo, hi = c - sd, c + sd
    ax.plot([lo[0], hi[0], hi[0], lo[0], lo[0]], [lo[1], lo[1], hi[1], hi[1], lo[1]], ls=":", lw=0.8,
            color=color, **kw)
    ax.plot([lo[0], hi[0]], [0.01, 0.01], transform=ax.get_xaxis_transform(), lw=4, color=color,
            solid_capstyle="butt", alpha=0.6)
    ax.plot([0.01, 0.01], [lo[1], hi[1]], transform=ax.get_yaxis_transform(), lw=4, color=color,
            solid_capstyle="butt", alpha=0.6)


# ---------------------------------------------------------------------------
# the simulated school, step by step (Monette (2010), Figs 8–17)
# ---------------------------------------------------------------------------
DATA_STEPS = ("gamma", "beta", "data", "ls")
BETA_STEPS = ("gamma", "T", "shadows", "beta", "sampling", "beta_hat", "Delta")


def _line(ax, coef, xlim, **kw):
    xs = np.array(xlim, dtype=float)
    return ax.plot(xs, coef[0] + coef[1] * xs, **kw)[0]


def school_data_space(ax, *, gamma, beta=None, x=None, y=None, beta_hat=None,
                      show=DATA_STEPS, xlim=(-3.0, 3.0)):
    """One school in data space: any of the population mean line γ (``"gamma"``),
    the school's true line β_j (``"beta"``), its data (``"data"``) and its
    least-squares line β̂_j (``"ls"``) — Monette (2010), Figs 8–11."""
    unknown = set(show) - set(DATA_STEPS)
    if unknown:
        raise ValueError(f"unknown data-space element(s) {sorted(unknown)}; choose from {DATA_STEPS}")
    c = ELEMENT_COLORS
    if "gamma" in show:
        _line(ax, _as_2(gamma, "gamma"), xlim, color=c["gamma"], ls="--", lw=1.5, label="γ: population mean line")
    if "beta" in show:
        _line(ax, _as_2(beta, "beta"), xlim, color=c["beta"], lw=2, label=r"$\beta_j$: the school's true line")
    if "data" in show:
        if x is None or y is None:
            raise ValueError("the 'data' element needs x and y")
        ax.plot(x, y, "o", color=c["data"], alpha=0.55, ms=4, label="students")
    if "ls" in show:
        _line(ax, _as_2(beta_hat, "beta_hat"), xlim, color=c["blue"], lw=2, label=r"$\hat\beta_j$: least-squares line")
    ax.set_xlim(xlim)
    ax.set_xlabel("SES")
    ax.set_ylabel("Y (math achievement)")
    ax.axhline(0, color="#000000", lw=0.4, alpha=0.3)
    ax.axvline(0, color="#000000", lw=0.4, alpha=0.3)
    return ax


def school_beta_space(ax, *, gamma, T=None, beta=None, sampling_cov=None, beta_hat=None,
                      show=BETA_STEPS):
    """One school in beta space (intercept, slope): the population mean γ and
    its dispersion ellipse T (``"gamma"``, ``"T"``, ``"shadows"``), the true β_j
    (``"beta"``) with the dispersion ellipse ``V_j = σ²(X_j'X_j)⁻¹`` of its
    least-squares estimate (``"sampling"``), the estimate β̂_j (``"beta_hat"``)
    and the dispersion ellipse ``Δ_j = T + V_j`` of β̂_j around γ (``"Delta"``;
    Monette (2010) writes this matrix V_j) — Monette (2010), Figs 12–17.  Dispersion
    ellipses are standard (radius 1)."""
    unknown = set(show) - set(BETA_STEPS)
    if unknown:
        raise ValueError(f"unknown beta-space element(s) {sorted(unknown)}; choose from {BETA_STEPS}")
    c = ELEMENT_COLORS
    g = _as_2(gamma, "gamma")
    if "gamma" in show:
        ax.plot(*g, "o", color=c["gamma"], ms=7, label="γ")
    if "T" in show:
        draw_ellipse(ax, g, _as_cov(T, "T"), color=c["gamma"], lw=1.5, center_marker=None, label="T")
    if "shadows" in show:
        draw_shadows(ax, g, _as_cov(T, "T"), color=c["gamma"])
    if "beta" in show:
        ax.plot(*_as_2(beta, "beta"), "s", color=c["beta"], ms=7, label=r"$\beta_j$ (true)")
    if "sampling" in show:
        draw_ellipse(ax, _as_2(beta, "beta"), _as_cov(sampling_cov, "sampling_cov"), color=c["beta"], ls="--",
                     lw=1.5, center_marker=None, label=r"$V_j = \sigma^2(X_j'X_j)^{-1}$")
    if "beta_hat" in show:
        ax.plot(*_as_2(beta_hat, "beta_hat"), "^", color=c["blue"], ms=8, label=r"$\hat\beta_j$ (least squares)")
    if "Delta" in show:
        Delta = _as_cov(T, "T") + _as_cov(sampling_cov, "sampling_cov")
        draw_ellipse(ax, g, Delta, color=c["blue"], lw=1.5, center_marker=None, label=r"$\Delta_j = T + V_j$")
    ax.set_xlabel("intercept β₀")
    ax.set_ylabel("slope β₁ (SES)")
    return ax


def _beta_limits(gamma, T, beta, sampling_cov, beta_hat, pad=0.12):
    pts = [ellipse_points(gamma, np.asarray(T) + np.asarray(sampling_cov)), ellipse_points(gamma, T),
           ellipse_points(beta, sampling_cov), np.atleast_2d(beta), np.atleast_2d(beta_hat)]
    pts = np.vstack(pts)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    span = hi - lo
    return (lo[0] - pad * span[0], hi[0] + pad * span[0]), (lo[1] - pad * span[1], hi[1] + pad * span[1])


def school_steps_figure(space: str, stages, *, gamma, T=None, sigma2=None, x=None, y=None, beta=None,
                        beta_hat=None, titles=None, ncols: int | None = None, width: float = 6.8,
                        xlim=(-3.0, 3.0)):
    """A row (or grid) of panels adding elements step by step, on common axes.

    ``space`` is ``"data"`` or ``"beta"``; ``stages`` is a list of element
    tuples, one per panel (see :func:`school_data_space` and
    :func:`school_beta_space`).  In beta space the sampling covariance
    ``V_j = σ²(X_j'X_j)⁻¹`` is computed from ``x`` and ``sigma2``.  Legends are drawn
    in the last panel only.
    """
    from .style import new_figure

    if space not in ("data", "beta"):
        raise ValueError(f"space must be 'data' or 'beta', got {space!r}")
    stages = [tuple(s) for s in stages]
    if not stages:
        raise ValueError("stages must list at least one panel")
    ncols = ncols or len(stages)
    nrows = int(np.ceil(len(stages) / ncols))
    fig, axes = new_figure(nrows, ncols, width=width, height=2.9 * nrows + 0.5, sharex=True, sharey=True,
                           squeeze=False)
    sampling = None
    if space == "beta" and x is not None:
        if sigma2 is None:
            raise ValueError("beta space needs sigma2 to draw σ²(X_j'X_j)⁻¹")
        Xj = np.column_stack([np.ones(len(x)), np.asarray(x, dtype=float)])
        sampling = sigma2 * np.linalg.inv(Xj.T @ Xj)
    for k, ax in enumerate(axes.flat):
        if k >= len(stages):
            ax.set_visible(False)
            continue
        if space == "data":
            school_data_space(ax, gamma=gamma, beta=beta, x=x, y=y, beta_hat=beta_hat, show=stages[k], xlim=xlim)
        else:
            school_beta_space(ax, gamma=gamma, T=T, beta=beta, sampling_cov=sampling, beta_hat=beta_hat,
                              show=stages[k])
        if titles is not None:
            ax.set_title(titles[k])
        if k % ncols:
            ax.set_ylabel("")
        if k < len(stages) - ncols:
            ax.set_xlabel("")
    if space == "beta" and sampling is not None and beta is not None and beta_hat is not None:
        xl, yl = _beta_limits(gamma, T, beta, sampling, beta_hat)
        axes.flat[0].set_xlim(xl)
        axes.flat[0].set_ylim(yl)
    _figure_legend(fig, axes.flat[:len(stages)])
    return fig


def _figure_legend(fig, axes, ncol: int = 4):
    """One legend below all panels, with each label once."""
    seen = {}
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(lab, h)
    rows = int(np.ceil(len(seen) / ncol))
    height = fig.get_size_inches()[1]
    bottom = min(0.4, (0.3 * rows + 0.15) / height)
    fig.tight_layout(rect=(0, bottom, 1, 1))
    if seen:
        fig.legend(list(seen.values()), list(seen.keys()), loc="lower center", ncol=min(ncol, len(seen)),
                   fontsize=8.5, frameon=False)


# ---------------------------------------------------------------------------
# one-way model: weighted means and shrinkage (Monette (2010), "Fitting the models")
# ---------------------------------------------------------------------------
def weighted_means_figure(position, y, lines: dict, *, zoom: float | None = 0.35, colors=None,
                          xlabel: str = "school (Public, then Catholic; by mean SES)", ylabel: str = "mathach"):
    """Each student's score against the position of their school, with
    horizontal lines at several estimates of the overall mean (``lines``:
    label → value).  With ``zoom`` a second panel shows the lines up close
    (± ``zoom`` around their middle), as Monette (2010) does with ``ylim``."""
    from .style import new_figure

    if not lines:
        raise ValueError("lines must give at least one labelled value")
    colors = colors or dict(zip(lines, ["#009E73", "#000000", "#D55E00", "#0072B2", "#CC79A7"]))
    ncols = 2 if zoom else 1
    fig, axes = new_figure(1, ncols, width=7.2 if zoom else 6.4, height=4.0, squeeze=False)
    vals = np.array(list(lines.values()), dtype=float)
    for k, ax in enumerate(axes.flat):
        ax.plot(position, y, "o", ms=2.5, color="#000000", alpha=0.25, label="students")
        for label, v in lines.items():
            ax.axhline(v, color=colors[label], lw=2 if k else 1.5, label=label)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if k == 1:
            mid = (vals.min() + vals.max()) / 2
            half = max(zoom, 0.6 * (vals.max() - vals.min()))
            ax.set_ylim(mid - half, mid + half)
            ax.set_title("close up")
    _figure_legend(fig, axes.flat)
    return fig


def shrinkage_by_group_plot(blue, blup, gamma0: float, *, labels=None, ax=None):
    """BLUE (ȳ_j) and BLUP of each group, side by side in the groups' order, with
    the GLS estimate γ̂00 as a line and a segment from each BLUE to its BLUP."""
    blue, blup = np.asarray(blue, dtype=float), np.asarray(blup, dtype=float)
    if blue.shape != blup.shape or blue.ndim != 1:
        raise ValueError(f"blue and blup must be 1-d of the same length, got {blue.shape} and {blup.shape}")
    fig, ax = _axes(ax, width=8.0, height=4.0)
    pos = np.arange(1, len(blue) + 1)
    c = ELEMENT_COLORS
    ax.axhline(gamma0, color=c["gamma"], lw=1.2, label=r"$\hat\gamma_{00}$ (GLS)")
    ax.vlines(pos, blue, blup, color="#000000", lw=0.8, alpha=0.5)
    ax.plot(pos, blue, "o", color=c["blue"], ms=6, label=r"BLUE: $\bar y_j$")
    ax.plot(pos, blup, "o", color=c["blup"], ms=4.5, label="BLUP")
    if labels is not None:
        ax.set_xticks(pos)
        ax.set_xticklabels(labels, rotation=90, fontsize=7)
    ax.set_xlabel("school")
    ax.set_ylabel("mathach")
    ax.legend(loc="upper left", fontsize=8, ncol=3)
    return fig


def shrinkage_by_n_plot(n, blue, blup, gamma0: float, *, ax=None, min_arrow: float = 1e-3):
    """Shrinking from the BLUE to the BLUP against group size: an arrow from
    each group's ȳ_j to its BLUP, at x = n_j, with γ̂00 as a line (Monette (2010),
    "Shrinking from the BLUE to the BLUP -- relationship with n").  Arrows
    shorter than ``min_arrow`` are skipped."""
    n, blue, blup = (np.asarray(v, dtype=float) for v in (n, blue, blup))
    if not (n.shape == blue.shape == blup.shape) or n.ndim != 1:
        raise ValueError("n, blue and blup must be 1-d arrays of the same length")
    fig, ax = _axes(ax, width=6.8, height=4.4)
    c = ELEMENT_COLORS
    ax.axhline(gamma0, color="#009E73", lw=2, label=r"$\hat\gamma_{00}$ (GLS)")
    for xi, b0, b1 in zip(n, blue, blup):
        if abs(b1 - b0) > min_arrow:
            ax.annotate("", xy=(xi, b1), xytext=(xi, b0),
                        arrowprops=dict(arrowstyle="-|>", color="#000000", lw=0.9, shrinkA=0, shrinkB=0,
                                        mutation_scale=9))
    ax.plot(n, blue, "o", color=c["blue"], ms=6, label=r"BLUE: $\bar y_j$")
    ax.plot(n, blup, "o", color=c["blup"], ms=4.5, label="BLUP")
    ax.plot([], [], color="#000000", lw=0.9, label="shrinkage")
    ax.set_xlabel(r"sample size $n_j$")
    ax.set_ylabel("mathach")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), fontsize=8, ncol=4)
    fig.tight_layout()
    return fig



def residuals_vs_fitted_panels(panels: dict, *, ylabel: str = "standardized residual", width: float = 7.2):
    """Residuals against fitted values, one panel per fit, on a common y axis.

    ``panels`` maps a title to a pair ``(fitted, resid)`` of equal-length
    arrays.  Each panel shows the points, a zero line and the least-squares
    line of the residuals on the fitted values (vermillion): flat for a
    least-squares fit, whose residuals are orthogonal to its fitted values;
    rising for a fit with shrunken random effects, whose schools' mean
    residuals ``(1 − λ_j)(ȳ_j − γ̂00)`` share the sign of ``fitted − γ̂00``
    (Monette (2010), ``plot(fit.oneway.re)``: "note pattern in fitted residuals in
    contrast with OLS").  Returns the figure.
    """
    from .style import new_figure

    if not panels:
        raise ValueError("panels must give at least one (fitted, resid) pair")
    pairs = {}
    for title, (fitted, resid) in panels.items():
        f, r = np.asarray(fitted, dtype=float), np.asarray(resid, dtype=float)
        if f.shape != r.shape or f.ndim != 1 or len(f) < 2:
            raise ValueError(f"panel {title!r}: fitted and resid must be 1-d of the same length (at least 2), "
                             f"got {f.shape} and {r.shape}")
        pairs[title] = (f, r)
    fig, axes = new_figure(1, len(pairs), width=width, height=3.8, sharey=True, squeeze=False)
    for ax, (title, (f, r)) in zip(axes.flat, pairs.items()):
        ax.plot(f, r, "o", ms=2.5, color=ELEMENT_COLORS["blue"], alpha=0.3, label="students")
        ax.axhline(0.0, color="#000000", lw=1)
        slope, intercept = np.polyfit(f, r, 1)
        xs = np.array([f.min(), f.max()])
        ax.plot(xs, intercept + slope * xs, color=ELEMENT_COLORS["blup"], lw=2,
                label="least-squares line of residual on fitted")
        ax.set_title(title)
        ax.set_xlabel("fitted value")
    axes.flat[0].set_ylabel(ylabel)
    _figure_legend(fig, axes.flat, ncol=2)
    return fig


# ---------------------------------------------------------------------------
# BLUEs and BLUPs in beta space (Monette (2010), Figs 18–19)
# ---------------------------------------------------------------------------
#: Legend labels of :func:`blue_blup_plot`'s elements (override any of them with ``labels=``).
BLUE_BLUP_LABELS = {"blue": r"BLUE $\hat\beta_j$", "blup": r"BLUP $\tilde\beta_j$",
                    "center": r"$\hat\gamma$: population line", "T": r"$\hat T$"}


def blue_blup_plot(blue, blup, *, center=None, T=None, ax=None, arrows: bool = True, ellipses: bool = True,
                   show_blue: bool = True, title: str | None = None, labels: dict | None = None):
    """BLUEs β̂_j (open circles) and BLUPs β̃_j (dots) of a set of groups in beta
    space, with an arrow from each BLUE to its BLUP, the population line
    ``center`` (green star), the standard dispersion ellipses of the BLUEs and
    of the BLUPs, and optionally the estimated T around ``center`` (dashed).

    ``labels`` renames legend entries: a dict with any of the keys ``"blue"``,
    ``"blup"``, ``"center"`` and ``"T"`` (defaults in :data:`BLUE_BLUP_LABELS`),
    e.g. ``{"blue": "OLS", "blup": "shrinkage"}`` for a chapter with other notation."""
    blue = np.asarray(blue, dtype=float)
    blup = np.asarray(blup, dtype=float)
    if blue.shape != blup.shape or blue.ndim != 2 or blue.shape[1] != 2:
        raise ValueError(f"blue and blup must both be n × 2 (intercept, slope), got {blue.shape} and {blup.shape}")
    unknown = sorted(set(labels or {}) - set(BLUE_BLUP_LABELS))
    if unknown:
        raise KeyError(f"labels has unknown key(s) {unknown}; use {sorted(BLUE_BLUP_LABELS)}")
    lab = {**BLUE_BLUP_LABELS, **(labels or {})}
    fig, ax = _axes(ax)
    c = ELEMENT_COLORS
    if arrows and show_blue:
        for b0, b1 in zip(blue, blup):
            if np.hypot(*(b1 - b0)) > 1e-9:
                ax.annotate("", xy=b1, xytext=b0, arrowprops=dict(arrowstyle="-|>", color="#000000", lw=0.6,
                                                                  alpha=0.6, shrinkA=0, shrinkB=2,
                                                                  mutation_scale=7))
    if show_blue:
        ax.plot(blue[:, 0], blue[:, 1], "o", mfc="none", mec=c["blue"], ms=6, label=lab["blue"])
    ax.plot(blup[:, 0], blup[:, 1], "o", color=c["blup"], ms=4, label=lab["blup"])
    if ellipses:
        if show_blue:
            dispersion_ellipse(ax, blue, color=c["blue"], lw=1.3, center_marker=None)
        dispersion_ellipse(ax, blup, color=c["blup"], lw=1.3, center_marker=None)
    if center is not None:
        ax.plot(*_as_2(center, "center"), "*", color="#009E73", ms=14, mec="#000000", mew=0.5,
                label=lab["center"])
        if T is not None:
            draw_ellipse(ax, center, _as_cov(T, "T"), color="#009E73", ls="--", lw=1.3, center_marker=None,
                         label=lab["T"])
    ax.set_xlabel("intercept")
    ax.set_ylabel("SES slope")
    if title:
        ax.set_title(title)
    return fig


def blue_blup_figure(blue, blup, panel, *, centers=None, T=None, show_blue: bool = True, width: float = 7.2,
                     labels: dict | None = None):
    """One :func:`blue_blup_plot` panel per level of ``panel`` (e.g. sector),
    on common axes.  ``blue``, ``blup``: DataFrames (groups × 2); ``panel``:
    Series mapping each group to its panel; ``centers``: panel → population line;
    ``labels``: legend labels, as in :func:`blue_blup_plot`."""
    from .style import new_figure

    blue, blup = pd.DataFrame(blue), pd.DataFrame(blup)
    panel = pd.Series(panel)
    missing = blue.index.difference(panel.index)
    if len(missing):
        raise ValueError(f"panel gives no level for group(s) {list(missing[:5])}")
    levels = list(pd.unique(panel.loc[blue.index]))
    if isinstance(panel.dtype, pd.CategoricalDtype):
        levels = [lv for lv in panel.cat.categories if lv in levels]
    fig, axes = new_figure(1, len(levels), width=width, height=4.4, sharex=True, sharey=True, squeeze=False)
    for ax, lv in zip(axes.flat, levels):
        idx = panel.loc[blue.index] == lv
        blue_blup_plot(blue[idx.to_numpy()], blup.loc[blue.index][idx.to_numpy()],
                       center=None if centers is None else centers[lv], T=T, ax=ax, show_blue=show_blue,
                       title=f"{lv} ({int(idx.sum())} schools)", labels=labels)
    for ax in axes.flat[1:]:
        ax.set_ylabel("")
    _figure_legend(fig, axes.flat)
    return fig
