"""Per-group interval ("caterpillar") plots.

One horizontal interval per group — an estimate with its lower and upper
limit — sorted so that the spread of the groups is visible at a glance.
The input is a tidy table with columns ``group, term, estimate, lower,
upper`` such as :func:`hlm_course.shrinkage_ci` returns (optional columns
``ols`` and ``fixed`` add the per-group OLS estimate and the level-2
prediction W_j γ̂).  A second table of the same shape can be drawn beside the
first to compare two kinds of interval (e.g. eq. 3.16 and Kaplan's (2010)
appendix formula), and chosen groups can be highlighted.

Intervals that run past the axis limits (``xlim``) are cut at the edge and
marked with an arrowhead, so one huge interval does not flatten the others.

:func:`coverage_plot` draws the result of :func:`hlm_course.coverage_study`:
each group's simulated coverage against its size, one panel per term.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from .style import use_book_style

__all__ = ["caterpillar", "coverage_plot", "INTERVAL_COLORS"]

#: Colours (Okabe–Ito): main intervals, comparison intervals, the band behind
#: highlighted groups, OLS points, reference line.
INTERVAL_COLORS = {"main": "#0072B2", "compare": "#E69F00", "highlight": "#F0E442", "ols": "#009E73",
                   "fixed": "#555555"}

_NEEDED = ["group", "term", "estimate", "lower", "upper"]


def _check_table(table: pd.DataFrame, what: str) -> None:
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"{what} must be a pandas DataFrame, got {type(table).__name__}")
    missing = [c for c in _NEEDED if c not in table.columns]
    if missing:
        raise KeyError(f"{what} lacks column(s) {missing}; it needs {_NEEDED} (as shrinkage_ci returns)")


def _segment(ax, y, lo, hi, xlim, **kw):
    """Horizontal segment [lo, hi] at height y, cut to xlim with arrowheads."""
    left, right = xlim if xlim is not None else (-np.inf, np.inf)
    a, b = max(lo, left), min(hi, right)
    ax.plot([a, b], [y, y], solid_capstyle="butt", **kw)
    colour = kw.get("color")
    if lo < left:
        ax.plot(left, y, marker="<", color=colour, ms=5, clip_on=False)
    if hi > right:
        ax.plot(right, y, marker=">", color=colour, ms=5, clip_on=False)


def _point(ax, x, y, xlim, **kw):
    """A marker at (x, y); at the axis edge, as a triangle, if x is outside xlim."""
    if not np.isfinite(x):
        return
    if xlim is not None and not (xlim[0] <= x <= xlim[1]):
        kw = dict(kw, marker="<" if x < xlim[0] else ">")
        x = xlim[0] if x < xlim[0] else xlim[1]
        kw["clip_on"] = False
    ax.plot(x, y, ls="none", **kw)


def caterpillar(table: pd.DataFrame, terms: Sequence[str] | None = None, *, compare: pd.DataFrame | None = None,
                names: tuple[str, str] = ("interval", "comparison"), highlight: Sequence | None = None,
                sort_by: str = "estimate", show_ols: bool = True, show_fixed: bool = True,
                xlim: Mapping | tuple | None = None, term_labels: Mapping | None = None,
                group_label: str = "group", width: float = 8.0, row_height: float = 0.13,
                label_size: float = 6.0):
    """One panel per term: every group's interval, sorted.

    Parameters
    ----------
    table
        Tidy intervals: ``group, term, estimate, lower, upper`` (+ optional
        ``ols``, ``fixed``), one row per group × term.
    terms
        Which terms get a panel, in order (default: all, in table order).
    compare
        A second table of intervals for the same groups and terms, drawn just
        below each main interval in another colour; ``names`` labels the two
        in the legend.
    highlight
        Groups to pick out: a coloured band behind their rows and bold labels.
    sort_by
        Column of ``table`` giving the vertical order within each panel
        (``"estimate"`` default; ``"n"`` or ``"group"`` also useful).
    show_ols, show_fixed
        Mark each group's OLS estimate (column ``ols``, open circles) and
        draw the level-2 prediction (column ``fixed``; a vertical line when it
        is the same for every group, else small ticks).
    xlim
        Axis limits: one (lo, hi) for all panels or a dict term → (lo, hi).
        Intervals and points outside are cut at the edge with an arrowhead.
    term_labels
        Panel titles per term (default the term names).
    group_label
        Name of the groups in the axis label.
    width, row_height, label_size
        Figure width (inches), height per group row, and font size of the
        group labels.

    Returns
    -------
    matplotlib.figure.Figure
    """
    _check_table(table, "table")
    if compare is not None:
        _check_table(compare, "compare")
    all_terms = list(dict.fromkeys(table["term"]))
    terms = list(terms) if terms is not None else all_terms
    unknown = [t for t in terms if t not in all_terms]
    if unknown:
        raise KeyError(f"terms {unknown} are not in the table; it has {all_terms}")
    if sort_by not in table.columns:
        raise KeyError(f"sort_by column {sort_by!r} not in the table")
    highlight = set(highlight) if highlight is not None else set()
    use_book_style()
    ngroups = table.loc[table["term"] == terms[0], "group"].nunique()
    fig, axes = plt.subplots(1, len(terms), figsize=(width, max(2.5, row_height * ngroups + 1.2)),
                             squeeze=False, layout="constrained")
    offset = 0.22 if compare is not None else 0.0
    for ax, term in zip(axes.flat, terms):
        d = table[table["term"] == term].sort_values([sort_by, "group"]).reset_index(drop=True)
        lim = xlim.get(term) if isinstance(xlim, Mapping) else xlim
        cmp = compare[compare["term"] == term].set_index("group") if compare is not None else None
        if show_fixed and "fixed" in d.columns:
            fx = d["fixed"].to_numpy(float)
            if np.allclose(fx, fx[0]):
                ax.axvline(fx[0], color=INTERVAL_COLORS["fixed"], ls="--", lw=1)
            else:
                ax.plot(fx, np.arange(len(d)), ls="none", marker="|", color=INTERVAL_COLORS["fixed"], ms=6)
        for y, row in d.iterrows():
            hot = row["group"] in highlight
            colour = INTERVAL_COLORS["main"]
            if hot:
                ax.axhspan(y - 0.5, y + 0.5, color=INTERVAL_COLORS["highlight"], alpha=0.45, lw=0, zorder=0)
            _segment(ax, y + offset / 2, row["lower"], row["upper"], lim, color=colour, lw=1.6 if hot else 1.1)
            _point(ax, row["estimate"], y + offset / 2, lim, marker="o", ms=2.8, color=colour)
            if cmp is not None and row["group"] in cmp.index:
                c = cmp.loc[row["group"]]
                _segment(ax, y - offset / 2, c["lower"], c["upper"], lim, color=INTERVAL_COLORS["compare"],
                         lw=1.1)
            if show_ols and "ols" in d.columns:
                _point(ax, row["ols"], y, lim, marker="o", ms=3.5, mfc="none", mew=0.8,
                       color=INTERVAL_COLORS["ols"])
        ax.set_yticks(np.arange(len(d)), [str(g) for g in d["group"]], fontsize=label_size)
        for tick, g in zip(ax.get_yticklabels(), d["group"]):
            if g in highlight:
                tick.set_fontweight("bold")
        ax.set_ylim(-0.8, len(d) - 0.2)
        if lim is not None:
            ax.set_xlim(*lim)
        ax.set_title(term_labels.get(term, term) if term_labels else term)
        ax.set_ylabel(f"{group_label} (sorted by {sort_by})")
        ax.grid(axis="x", color="0.9", lw=0.6)
    handles = [Line2D([], [], color=INTERVAL_COLORS["main"], marker="o", ms=3, lw=1.2, label=names[0])]
    if compare is not None:
        handles.append(Line2D([], [], color=INTERVAL_COLORS["compare"], lw=1.2, label=names[1]))
    if show_ols and "ols" in table.columns:
        handles.append(Line2D([], [], color=INTERVAL_COLORS["ols"], marker="o", mfc="none", ls="none",
                              label="OLS estimate"))
    if show_fixed and "fixed" in table.columns:
        handles.append(Line2D([], [], color=INTERVAL_COLORS["fixed"], ls="--", label="level-2 prediction"))
    if highlight:
        handles.append(Patch(color=INTERVAL_COLORS["highlight"], alpha=0.45, label="highlighted"))
    fig.legend(handles=handles, loc="outside upper center", ncols=len(handles), fontsize=8)
    return fig


def coverage_plot(coverage: pd.DataFrame, terms: Sequence[str] | None = None, *,
                  methods: Mapping[str, str] | None = None, term_labels: Mapping | None = None,
                  band_se: float = 2.0, width: float = 8.0, height: float = 3.4):
    """Simulated coverage of per-group intervals against group size.

    One panel per term, school size n_j on a log axis, one point per group and
    method, and a grey band at the nominal level ± ``band_se`` Monte Carlo
    standard errors, √(level(1 − level)/nsim) with nsim the number of
    replicates (the largest in the table).

    Parameters
    ----------
    coverage
        The tidy table :func:`hlm_course.coverage_study` returns: columns
        ``term, n, method, coverage, nsim``; the level is read from
        ``coverage.attrs["level"]`` (default 0.95).
    methods
        Method → legend label, in drawing order (default: every method in the
        table, labelled by its name).  The first gets the main interval
        colour, the second the comparison colour.
    term_labels
        Panel titles per term (default the term names).
    """
    from .style import new_figure

    if not isinstance(coverage, pd.DataFrame):
        raise TypeError(f"coverage must be a DataFrame, got {type(coverage).__name__}")
    needed = ["term", "n", "method", "coverage", "nsim"]
    missing = [c for c in needed if c not in coverage.columns]
    if missing:
        raise KeyError(f"coverage lacks column(s) {missing}; it needs {needed} (as coverage_study returns)")
    all_terms = list(dict.fromkeys(coverage["term"]))
    terms = list(terms) if terms is not None else all_terms
    unknown = [t for t in terms if t not in all_terms]
    if unknown:
        raise KeyError(f"terms {unknown} are not in the table; it has {all_terms}")
    present = list(dict.fromkeys(coverage["method"]))
    methods = dict(methods) if methods is not None else {m: m for m in present}
    unknown = [m for m in methods if m not in present]
    if unknown:
        raise KeyError(f"methods {unknown} are not in the table; it has {present}")
    colours = [INTERVAL_COLORS["main"], INTERVAL_COLORS["compare"], "#009E73", "#CC79A7", "#000000"]
    level = float(coverage.attrs.get("level", 0.95))
    nsim = int(coverage["nsim"].max())
    band = band_se * np.sqrt(level * (1 - level) / nsim)
    fig, axes = new_figure(1, len(terms), width=width, height=height, sharey=True, squeeze=False)
    for ax, term in zip(axes.flat, terms):
        ax.axhspan(level - band, level + band, color="0.85", lw=0,
                   label=f"{level:g} ± {band_se:g} MC s.e.")
        for (method, label), colour in zip(methods.items(), colours):
            d = coverage[(coverage["term"] == term) & (coverage["method"] == method)]
            ax.scatter(d["n"], d["coverage"], s=14, color=colour, label=label)
        ax.set_xscale("log")
        ax.set_xlabel("students in the school (n_j)")
        ax.set_title(term_labels.get(term, term) if term_labels else term)
    axes.flat[0].set_ylabel(f"coverage of {100 * level:g}% interval")
    axes.flat[0].legend(loc="best", fontsize=8)
    return fig
