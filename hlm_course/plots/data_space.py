"""Data space: scatterplots of y against x with regression lines.

A regression line is a point (β0, β1) in *beta space* (see ``beta_space``);
here it is drawn as a line in *data space*, over the data it summarizes.
Monette (2010) ("Looking at hierarchical data", Figs 2--3) looks at multilevel
data with *trellis* plots: one small panel per school, with the school's
least-squares line.  The chapters draw those with seaborn (``sns.lmplot``,
``sns.relplot`` with ``col=``), the idiom students will use again; the recipes
here draw what seaborn does not:

* :func:`group_lines` -- many lines (one per group) on one axes, coloured
  by a level-2 variable;
* :func:`sector_panels` -- one panel per level of a level-2 variable
  (sector), points and LS lines per level of a second variable (sex);
* :func:`uniform_quantiles` -- a first look at every variable: its sorted
  values against uniform quantiles, one small panel per column (Monette's (2010)
  Figure 1, spida's ``xqplot(hs, type = 'u')``).

Every recipe returns the matplotlib Figure (or the Axes it drew on) and uses
the Okabe--Ito palette on an opaque white background.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from .style import OKABE_ITO, SECTOR_COLORS, use_book_style

__all__ = ["group_lines", "sector_panels", "uniform_quantiles", "palette_for", "ls_line"]

#: Colour of points when nothing else colours them (neutral, colour-blind safe).
POINT_GREY = "#8c8c8c"


def require_columns(data: pd.DataFrame, cols: Sequence) -> None:
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    missing = [c for c in cols if c is not None and c not in data.columns]
    if missing:
        raise KeyError(f"column(s) {missing} not found in data; available columns: {list(data.columns)}")


def levels_in_order(s: pd.Series) -> list:
    """Levels in their natural order: category order, else sorted."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        return [c for c in s.cat.categories if (s == c).any()]
    return sorted(s.dropna().unique().tolist())


def palette_for(levels: Sequence, palette: Mapping | Sequence | None = None) -> dict:
    """A colour for every level: from ``palette`` (a dict or a list), the
    book's sector colours when the levels are sector names, else the
    Okabe--Ito colours in order (black last)."""
    levels = list(levels)
    if isinstance(palette, Mapping):
        missing = [lev for lev in levels if lev not in palette]
        if missing:
            raise KeyError(f"palette has no colour for {missing}")
        return {lev: palette[lev] for lev in levels}
    if palette is None and levels and all(lev in SECTOR_COLORS for lev in levels):
        return {lev: SECTOR_COLORS[lev] for lev in levels}
    colours = list(palette) if palette is not None else OKABE_ITO[1:] + OKABE_ITO[:1]
    return {lev: colours[k % len(colours)] for k, lev in enumerate(levels)}


def ls_line(x, y) -> tuple[float, float]:
    """Least-squares (intercept, slope) of y on x; NaNs if x is constant or
    there are fewer than two points."""
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    if len(x) < 2:
        return np.nan, np.nan
    sxx = np.sum((x - x.mean()) ** 2)
    if sxx <= 0:
        return np.nan, np.nan
    b1 = np.sum((x - x.mean()) * (y - y.mean())) / sxx
    return float(y.mean() - b1 * x.mean()), float(b1)


def _draw_line(ax, b0, b1, lo, hi, **kw):
    if np.isfinite(b0) and np.isfinite(b1):
        xs = np.array([lo, hi])
        ax.plot(xs, b0 + b1 * xs, **kw)


def group_lines(ax, coefs: pd.DataFrame, xrange=None, *, intercept: str = "intercept", slope: str = "slope",
                color_by: str | None = None, palette: Mapping | Sequence | None = None,
                legend: bool = True, **line_kw):
    """Draw one line per row of ``coefs`` (one per group) on ``ax``.

    Parameters
    ----------
    ax
        A matplotlib Axes.
    coefs
        One row per group with an ``intercept`` and a ``slope`` column (names
        configurable), e.g. :func:`hlm_course.lm_list` or an ``LmerFit``'s
        ``coef`` joined with level-2 variables.
    xrange
        Where each line is drawn: ``(lo, hi)`` for all lines; a DataFrame
        with columns ``xmin``, ``xmax`` indexed like ``coefs`` for each group's
        own range (e.g. ``data.groupby("school").ses.agg(xmin="min",
        xmax="max")``); default: ``coefs[["xmin", "xmax"]]`` if present,
        else the current x limits of ``ax``.
    color_by
        A column of ``coefs`` (typically level-2, e.g. ``Sector``) giving each
        line's colour; ``palette`` as in :func:`palette_for`.
    legend
        Add one legend entry per colour level.
    **line_kw
        Passed to ``ax.plot`` (default ``lw=1``, ``alpha=0.8``).

    Returns
    -------
    The Axes.
    """
    require_columns(coefs, [intercept, slope, color_by])
    if xrange is None:
        xrange = coefs[["xmin", "xmax"]] if {"xmin", "xmax"} <= set(coefs.columns) else ax.get_xlim()
    if isinstance(xrange, pd.DataFrame):
        require_columns(xrange, ["xmin", "xmax"])
        missing = coefs.index.difference(xrange.index)
        if len(missing):
            raise KeyError(f"xrange has no row for groups {list(missing[:5])}")
    elif len(xrange) != 2:
        raise ValueError("xrange must be (lo, hi) or a DataFrame with xmin and xmax columns")
    line_kw.setdefault("lw", 1.0)
    line_kw.setdefault("alpha", 0.8)
    colour_levels = levels_in_order(coefs[color_by]) if color_by else []
    colours = palette_for(colour_levels, palette) if color_by else {}
    default_colour = line_kw.pop("color", "black")
    for key, row in coefs.iterrows():
        lo, hi = (xrange.loc[key, "xmin"], xrange.loc[key, "xmax"]) if isinstance(xrange, pd.DataFrame) else xrange
        colour = colours[row[color_by]] if color_by else default_colour
        _draw_line(ax, row[intercept], row[slope], lo, hi, color=colour, **line_kw)
    if legend and color_by:
        ax.legend(handles=[Line2D([], [], color=colours[lev], lw=1.5, label=str(lev)) for lev in colour_levels],
                  title=color_by, fontsize=8, title_fontsize=8)
    return ax


def sector_panels(data: pd.DataFrame, x: str, y: str, panel: str = "Sector", hue: str | None = None,
                  line: str | None = "ols", *, coefs: pd.DataFrame | None = None, group: str | None = None,
                  palette: Mapping | Sequence | None = None, width: float = 8.0, height: float = 3.6,
                  point_size: float = 5, xlabel: str | None = None, ylabel: str | None = None):
    """One panel per level of ``panel`` (a level-2 variable such as sector).

    Parameters
    ----------
    data
        Long-format data.
    x, y
        Predictor and response columns.
    panel
        Column giving the panels (default ``"Sector"``).
    hue
        Optional column (e.g. ``"Sex"``) colouring the points, with one LS
        line per level in each panel (lattice's ``groups =``).  Without it,
        points are grey and the panel's LS line is drawn in the panel's colour.
    line
        ``"ols"`` for least-squares lines, ``None`` for none.
    coefs
        Optional per-group lines (``intercept``, ``slope`` columns, indexed by
        group, with a ``panel`` column) drawn thinly in their panel over each
        group's own x range; needs ``group``, the grouping column of ``data``.
    palette
        Colours for the levels of ``hue`` (or of ``panel`` when no hue).
    width, height
        Figure size in inches.
    point_size
        Marker area.
    xlabel, ylabel
        Axis labels (default the column names).

    Returns
    -------
    matplotlib.figure.Figure
    """
    require_columns(data, [x, y, panel, hue, group])
    if line not in ("ols", None):
        raise ValueError(f"line must be 'ols' or None, got {line!r}")
    if coefs is not None and group is None:
        raise ValueError("coefs needs group= (the grouping column of data) to find each group's x range")
    panels = levels_in_order(data[panel])
    use_book_style()
    fig, axes = plt.subplots(1, len(panels), figsize=(width, height), sharex=True, sharey=True, squeeze=False)
    hue_levels = levels_in_order(data[hue]) if hue else []
    colours = palette_for(hue_levels if hue else panels, palette)
    for ax, p in zip(axes.flat, panels):
        d = data[data[panel] == p]
        if coefs is not None:
            require_columns(coefs, ["intercept", "slope", panel])
            rng = d.groupby(group, observed=True)[x].agg(xmin="min", xmax="max")
            mine = coefs[coefs[panel] == p]
            group_lines(ax, mine, rng.loc[rng.index.intersection(mine.index)].reindex(mine.index),
                        color="0.55", lw=0.8, alpha=0.7, legend=False)
        if hue:
            for lev in hue_levels:
                dd = d[d[hue] == lev]
                if dd.empty:
                    continue
                ax.scatter(dd[x], dd[y], s=point_size, color=colours[lev], alpha=0.45, linewidths=0,
                           label=str(lev))
                if line == "ols":
                    _draw_line(ax, *ls_line(dd[x], dd[y]), dd[x].min(), dd[x].max(), color=colours[lev], lw=2.2)
        else:
            ax.scatter(d[x], d[y], s=point_size, color=POINT_GREY, alpha=0.5, linewidths=0)
            if line == "ols":
                _draw_line(ax, *ls_line(d[x], d[y]), d[x].min(), d[x].max(), color=colours[p], lw=2.2)
        ax.set_title(f"{panel}: {p}")
        ax.set_xlabel(xlabel if xlabel is not None else x)
    axes.flat[0].set_ylabel(ylabel if ylabel is not None else y)
    if hue:
        handles = [Line2D([], [], color=colours[lev], marker="o", ls="-" if line else "none", label=str(lev))
                   for lev in hue_levels]
        axes.flat[-1].legend(handles=handles, title=hue, fontsize=8, title_fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def _is_categorical_column(s: pd.Series) -> bool:
    return (isinstance(s.dtype, pd.CategoricalDtype) or pd.api.types.is_object_dtype(s.dtype)
            or pd.api.types.is_bool_dtype(s.dtype) or pd.api.types.is_string_dtype(s.dtype))


def uniform_quantiles(data: pd.DataFrame, columns: Sequence | None = None, ncols: int = 4, *,
                      panel_width: float = 1.9, panel_height: float = 1.55, title: str | None = None):
    """Uniform quantile plot of each column: its values sorted from smallest to
    largest, plotted against the fraction of the data below them.

    The "line them up from shortest to tallest" snapshot of Monette's (2010)
    Figure 1 (spida's ``xqplot(hs, type = 'u')``).  The *k*-th smallest of
    *n* non-missing values is plotted at ``(k - 0.5) / n``, the uniform
    quantile (Hazen plotting position), so the x axis runs from 0 to 1 for
    every column and the curve is the column's empirical quantile function:
    flat stretches are ties, steep ones sparse tails.  A categorical (or
    boolean / text) column is drawn as a staircase of its levels, in category
    order, with the levels as tick labels; the width of each step is the
    proportion of rows at that level.

    Parameters
    ----------
    data
        Any DataFrame (e.g. a long multilevel file; a level-2 variable then
        shows one flat step per group, as its value is repeated on every row
        of the group).
    columns
        The columns to show, in panel order (default: all).
    ncols
        Panels per row.
    panel_width, panel_height
        Size of one panel in inches.
    title
        Optional figure title.

    Returns
    -------
    matplotlib.figure.Figure
        One Axes per column (unused grid cells hidden); each Axes' title is
        the column name and its first line holds ``(quantile, value)``.
    """
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    columns = list(data.columns) if columns is None else list(columns)
    require_columns(data, columns)
    if not columns:
        raise ValueError("no columns to plot")
    if ncols < 1:
        raise ValueError(f"ncols must be positive, got {ncols}")
    empty = [c for c in columns if data[c].notna().sum() == 0]
    if empty:
        raise ValueError(f"column(s) {empty} have no non-missing values")

    use_book_style()
    ncols = min(ncols, len(columns))
    nrows = int(np.ceil(len(columns) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_width * ncols + 0.4, panel_height * nrows + 0.6),
                             squeeze=False, layout="constrained")
    for ax, col in zip(axes.flat, columns):
        s = data[col].dropna()
        p = (np.arange(1, len(s) + 1) - 0.5) / len(s)
        if _is_categorical_column(s):
            cat = s.astype("category") if not isinstance(s.dtype, pd.CategoricalDtype) else s
            levels = list(cat.cat.categories)
            codes = np.sort(cat.cat.codes.to_numpy())
            ax.step(p, codes, where="mid", color=OKABE_ITO[5], lw=1.6)
            ax.set_yticks(range(len(levels)), [str(lev) for lev in levels])
            ax.set_ylim(-0.5, len(levels) - 0.5)
        else:
            values = np.sort(s.to_numpy(dtype=float))
            ax.plot(p, values, color=OKABE_ITO[5], lw=1.4)
        ax.set_xlim(0, 1)
        ax.set_title(str(col), fontsize=9, pad=2)
        ax.tick_params(labelsize=7)
    for ax in axes.flat[len(columns):]:
        ax.set_visible(False)
    fig.supxlabel("uniform quantile (fraction of rows with a smaller value)", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=11)
    return fig
