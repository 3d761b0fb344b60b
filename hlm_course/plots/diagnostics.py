"""Diagnostic plots for fitted mixed models (matplotlib only).

The two-level model assumes (Raudenbush & Bryk 2002, ch. 9; the lme4 course
vignette on Raudenbush & Bryk ch. 4, §8.5)

* level 1: r_ij ~ N(0, σ²), with constant variance across fitted values;
* level 2: u_qj ~ N(0, τ_qq) for each random effect q.

The recipes below draw the standard checks: residuals against fitted values
and normal quantile–quantile (QQ) plots of the level-1 residuals and of each
column of the estimated random effects (lme4's ``ranef``).  One more recipe,
:func:`criterion_line_plot`, draws the optimizer check of
:func:`hlm_course.statsmodels_check.criterion_along_line`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from .style import OKABE_ITO, new_figure

__all__ = ["qq_points", "qq_plot", "resid_fitted_plot", "level1_diagnostics", "level2_qq",
           "criterion_line_plot"]


def qq_points(values) -> tuple[pd.DataFrame, tuple[float, float]]:
    """Theoretical normal quantiles against sorted values, and R's ``qqline``.

    Plotting positions are R's ``ppoints``: ``(i − a)/(n + 1 − 2a)`` with
    ``a = 3/8`` for n ≤ 10 and ``1/2`` otherwise.  The reference line passes
    through the first and third quartiles of both distributions (R's
    ``qqline``), so outliers do not tilt it.

    Returns ``(points, (intercept, slope))`` where ``points`` has columns
    ``theoretical`` and ``sample``.
    """
    x = np.asarray(values, dtype=float)
    if x.ndim != 1:
        raise ValueError(f"values must be one-dimensional, got shape {x.shape}")
    if np.isnan(x).any():
        raise ValueError("values contain NaN")
    n = x.size
    if n < 3:
        raise ValueError(f"a QQ plot needs at least 3 values, got {n}")
    a = 3 / 8 if n <= 10 else 0.5
    theo = stats.norm.ppf((np.arange(1, n + 1) - a) / (n + 1 - 2 * a))
    sample = np.sort(x)
    yq = np.quantile(x, [0.25, 0.75])
    xq = stats.norm.ppf([0.25, 0.75])
    slope = (yq[1] - yq[0]) / (xq[1] - xq[0])
    return pd.DataFrame({"theoretical": theo, "sample": sample}), (float(yq[0] - slope * xq[0]), float(slope))


def qq_plot(values, ax=None, *, title: str | None = None, ylabel: str = "Sample quantiles",
            color: str = OKABE_ITO[5]):
    """Normal QQ plot with R's ``qqline`` on ``ax`` (a new figure if None).

    Points close to the line mean the values look normal; an S shape means
    heavy or light tails, a curve means skewness.  Returns the Axes.
    """
    if ax is None:
        _, ax = new_figure(width=4.2, height=3.8)
    pts, (b0, b1) = qq_points(values)
    s = 6 if len(pts) > 1000 else 14
    ax.scatter(pts["theoretical"], pts["sample"], s=s, color=color, alpha=0.6, linewidths=0)
    lim = np.array([pts["theoretical"].min(), pts["theoretical"].max()])
    ax.plot(lim, b0 + b1 * lim, color=OKABE_ITO[6], lw=1.5)
    ax.set_xlabel("Theoretical normal quantiles")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    return ax


def resid_fitted_plot(fit, ax=None, *, smooth: bool = True):
    """Level-1 residuals against fitted values, with a zero line and a lowess curve.

    A flat band around zero of constant width supports the level-1
    assumptions; a funnel suggests non-constant σ², a curved smooth a
    missing term.  ``fit`` is an :class:`~hlm_course.lmer.LmerFit`.
    """
    if ax is None:
        _, ax = new_figure(width=5.0, height=3.8)
    fitted = fit.fitted.to_numpy()
    resid = fit.resid.to_numpy()
    ax.scatter(fitted, resid, s=4, alpha=0.25, color=OKABE_ITO[5], linewidths=0)
    ax.axhline(0.0, color=OKABE_ITO[0], lw=1)
    if smooth:
        from statsmodels.nonparametric.smoothers_lowess import lowess

        span = float(np.ptp(fitted))
        curve = lowess(resid, fitted, frac=0.3, it=0, delta=0.01 * span)
        ax.plot(curve[:, 0], curve[:, 1], color=OKABE_ITO[6], lw=2, label="lowess smooth")
        ax.legend(loc="upper right")
    ax.set_xlabel("Fitted value (fixed part + school's random effects)")
    ax.set_ylabel("Level-1 residual")
    return ax


def level1_diagnostics(fit):
    """Two panels for level 1: residuals vs fitted, and a QQ plot of the residuals."""
    fig, axes = new_figure(1, 2, width=9.5, height=3.9)
    resid_fitted_plot(fit, axes[0])
    axes[0].set_title("Residuals against fitted values")
    qq_plot(fit.resid, axes[1], title="Normal QQ plot of level-1 residuals", ylabel="Level-1 residual")
    fig.tight_layout()
    return fig


def level2_qq(fit):
    """One normal QQ plot per random effect (columns of ``fit.ranef``)."""
    b = fit.ranef
    q = b.shape[1]
    fig, axes = new_figure(1, q, width=4.4 * q + 0.6, height=3.9)
    axes = np.atleast_1d(axes)
    for k, (ax, name) in enumerate(zip(axes, b.columns)):
        label = "intercept" if name == "(Intercept)" else f"{name} slope"
        qq_plot(b[name], ax, title=f"Random {label}s ({len(b)} {fit.group}s)",
                ylabel=f"Estimated $u_{{{k}j}}$ ({label})")
    fig.tight_layout()
    return fig


def criterion_line_plot(line, ax=None, *, start_label: str = "start", end_label: str = "end"):
    """Criterion along segments between θ's (from ``criterion_along_line``).

    ``line`` is one DataFrame (columns ``t``, ``criterion``) or a dict of
    them keyed by a legend label, e.g. segments from several equivalent
    starting θ's to the same end.  The ends of the first segment are marked
    and labelled (inside the axes, so nothing is clipped); a curve that falls
    from its start shows that the start is not a minimum.  When the recipe
    makes its own figure it also lays it out (``tight_layout``), so the axis
    labels fit.
    """
    lines = line if isinstance(line, dict) else {None: line}
    for df in lines.values():
        if not isinstance(df, pd.DataFrame) or not {"t", "criterion"} <= set(df.columns):
            raise ValueError("line must have columns 't' and 'criterion' (see criterion_along_line)")
    own_figure = ax is None
    if own_figure:
        _, ax = new_figure(width=6.4, height=3.8)
    styles = [(OKABE_ITO[5], "-"), (OKABE_ITO[6], "--"), (OKABE_ITO[2], "-."), (OKABE_ITO[7], ":")]
    for k, (label, df) in enumerate(lines.items()):
        colour, ls = styles[k % len(styles)]
        ax.plot(df["t"], df["criterion"], color=colour, ls=ls, lw=2, label=label)
    first = next(iter(lines.values()))
    ends = first.iloc[[0, -1]]
    ax.scatter(ends["t"], ends["criterion"], color=[OKABE_ITO[6], OKABE_ITO[3]], s=40, zorder=3)
    # Labels stay inside the axes: the start's in the lower left corner with a thin connector (a segment
    # that ends lower than it starts leaves that corner empty), the end's below and to the left of its point.
    start, end = ends.iloc[0], ends.iloc[1]
    ax.annotate(f"{start_label}\n{start['criterion']:.2f}", (start["t"], start["criterion"]), xytext=(0.04, 0.3),
                textcoords="axes fraction", ha="left", va="center", fontsize=9,
                arrowprops={"arrowstyle": "-", "color": "0.45", "lw": 0.8, "shrinkB": 5})
    ax.annotate(f"{end_label}\n{end['criterion']:.2f}", (end["t"], end["criterion"]), xytext=(-6, -8),
                textcoords="offset points", ha="right", va="top", fontsize=9)
    if len(lines) > 1 or None not in lines:
        ax.legend(loc="upper right", fontsize=8)
    ax.set_xlabel("t, position on the segment θ(t) = (1 − t) θ_start + t θ_end")
    ax.set_ylabel("REML criterion")
    ax.ticklabel_format(axis="y", useOffset=False, style="plain")
    ax.margins(x=0.05, y=0.25)
    ax.set_xticks(np.linspace(0, 1, 6))
    if own_figure:
        ax.figure.tight_layout()
    return ax
