"""Hand-made effect plots: fitted lines with confidence bands (matplotlib only).

An *effect plot* draws the fitted fixed part of a model against one
predictor, one line per level of another, with a confidence band around
each line; a *difference plot* draws the difference between two such lines
(e.g. the Catholic − Public gap as a function of ses) with its band and the
zero line, so that one can read off where the hypothesis "no difference"
is rejected.  Monette (2010), Lab 1: "Plotting the fitted model: hand-made effect
plots", "Linking the picture and the numbers", "Graphs to show confidence
bounds for hypotheses".

Both recipes draw a table made by :func:`hlm_course.hypotheses.effect_grid`
or :func:`hlm_course.hypotheses.difference_grid` (columns ``estimate``,
``lower``, ``upper`` plus the predictors), so the picture and the numbers
come from the same Wald computation:

* :func:`effect_plot` -- lines and bands, one per level of ``by``, with the
  data optionally as a faint scatter underneath;
* :func:`difference_plot` -- one difference curve with its band(s), a zero
  line and, optionally, the x values where the band crosses zero marked.

Colours follow the book: sector colours for sectors, Okabe–Ito otherwise,
opaque white background.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .data_space import POINT_GREY, levels_in_order, palette_for, require_columns
from .style import OKABE_ITO, new_figure

__all__ = ["effect_plot", "difference_plot", "band_crossings"]

_NEEDED = ("estimate", "lower", "upper")


def _check_grid(grid: pd.DataFrame, x: str, by: str | None = None) -> None:
    require_columns(grid, [x, by, *_NEEDED])
    if grid[x].isna().any() or grid[list(_NEEDED)].isna().any().any():
        raise ValueError("grid has missing values; build it with hlm_course.hypotheses.effect_grid")


def _grid_levels(s: pd.Series) -> list:
    """Levels of ``by`` in category order, else in order of first appearance
    (the order :func:`~hlm_course.hypotheses.expand_grid` was given them)."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        return levels_in_order(s)
    return list(pd.unique(s))


def effect_plot(grid: pd.DataFrame, x: str, by: str | None = None, *, ax=None, data: pd.DataFrame | None = None,
                y: str | None = None, palette: Mapping | Sequence | None = None, band: bool = True,
                band_alpha: float = 0.2, point_alpha: float = 0.15, xlabel: str | None = None,
                ylabel: str | None = None, legend: bool = True, width: float = 6.4, height: float = 4.2):
    """Fitted lines with confidence bands, one per level of ``by``.

    Parameters
    ----------
    grid
        Output of :func:`hlm_course.hypotheses.effect_grid`: one row per
        (``x``, ``by``) combination with ``estimate``, ``lower``, ``upper``.
    x
        Column of ``grid`` on the horizontal axis.
    by
        Column of ``grid`` giving one line per level (e.g. ``sector``), in
        category order or order of appearance; None for a single line.
    ax
        Axes to draw on (a new figure when None).
    data, y
        Optional raw data drawn as a faint scatter of ``y`` against ``x``,
        coloured by ``by`` when ``data`` has that column.
    palette
        Colours per level (see :func:`hlm_course.plots.palette_for`;
        sector names get the book's sector colours).
    band
        Draw the bands (``lower`` to ``upper``) as shaded areas.

    Returns
    -------
    The Axes.
    """
    _check_grid(grid, x, by)
    if data is not None:
        if y is None:
            raise ValueError("pass y= (the response column) to draw the data under the lines")
        require_columns(data, [x, y])
    if ax is None:
        _, ax = new_figure(width=width, height=height)
    levels = _grid_levels(grid[by]) if by is not None else [None]
    colours = palette_for(levels, palette) if by is not None else {None: OKABE_ITO[5]}
    if data is not None:
        if by is not None and by in data.columns:
            for lev in levels:
                d = data[data[by] == lev]
                ax.scatter(d[x], d[y], s=5, color=colours[lev], alpha=point_alpha, linewidths=0)
        else:
            ax.scatter(data[x], data[y], s=5, color=POINT_GREY, alpha=point_alpha, linewidths=0)
    for lev in levels:
        g = grid if lev is None else grid[grid[by] == lev]
        g = g.sort_values(x)
        label = None if lev is None else str(lev)
        ax.plot(g[x], g["estimate"], color=colours[lev], lw=2, label=label)
        if band:
            ax.fill_between(g[x], g["lower"], g["upper"], color=colours[lev], alpha=band_alpha, linewidth=0)
    ax.set_xlabel(xlabel if xlabel is not None else x)
    ax.set_ylabel(ylabel if ylabel is not None else "fitted value")
    if legend and by is not None:
        ax.legend(title=by, fontsize=8, title_fontsize=8)
    return ax


def band_crossings(grid: pd.DataFrame, x: str, column: str = "lower", value: float = 0.0) -> np.ndarray:
    """The ``x`` values where ``grid[column]`` crosses ``value``, by linear
    interpolation between consecutive rows (sorted by ``x``).

    With ``column="lower"`` these are the ends of the region where a
    difference is significantly positive; ``"upper"`` gives those where it
    is significantly negative.  Empty if there is no crossing.
    """
    require_columns(grid, [x, column])
    g = grid.sort_values(x)
    xs = g[x].to_numpy(float)
    v = g[column].to_numpy(float) - value
    out = []
    for k in range(len(v) - 1):
        if v[k] == 0:
            out.append(xs[k])
        elif v[k] * v[k + 1] < 0:
            out.append(xs[k] - v[k] * (xs[k + 1] - xs[k]) / (v[k + 1] - v[k]))
    if len(v) and v[-1] == 0:
        out.append(xs[-1])
    return np.array(out)


def difference_plot(grid: pd.DataFrame, x: str, *, ax=None, simultaneous: pd.DataFrame | None = None,
                    color: str = OKABE_ITO[0], mark_crossings: bool = True, xlabel: str | None = None,
                    ylabel: str | None = None, band_label: str | None = None,
                    simultaneous_label: str = "simultaneous (Scheffé) band", width: float = 6.4,
                    height: float = 4.0):
    """A difference curve with its confidence band and the zero line.

    Parameters
    ----------
    grid
        Output of :func:`hlm_course.hypotheses.difference_grid` (pointwise
        band), one row per ``x`` value.
    x
        Column on the horizontal axis.
    simultaneous
        Optionally the same grid with ``band="scheffe"``: its limits are
        drawn as dashed lines, outside the pointwise band.
    mark_crossings
        Mark with dotted vertical lines the ``x`` values where a limit of
        the pointwise band (lower or upper) crosses zero
        (:func:`band_crossings`): the ends of the intervals where the band
        excludes zero, i.e. where the difference is significant at the
        band's level.

    Returns
    -------
    The Axes.
    """
    _check_grid(grid, x)
    if ax is None:
        _, ax = new_figure(width=width, height=height)
    g = grid.sort_values(x)
    level = grid.attrs.get("level", 0.95)
    ax.axhline(0.0, color=OKABE_ITO[0], lw=0.8, alpha=0.6)
    ax.fill_between(g[x], g["lower"], g["upper"], color=OKABE_ITO[2], alpha=0.35, linewidth=0,
                    label=band_label or f"pointwise {level:.0%} band")
    ax.plot(g[x], g["estimate"], color=color, lw=2, label="estimated difference")
    if simultaneous is not None:
        _check_grid(simultaneous, x)
        s = simultaneous.sort_values(x)
        ax.plot(s[x], s["lower"], color=OKABE_ITO[6], lw=1.3, ls="--", label=simultaneous_label)
        ax.plot(s[x], s["upper"], color=OKABE_ITO[6], lw=1.3, ls="--")
    if mark_crossings:
        for col in ("lower", "upper"):
            for xc in band_crossings(g, x, col):
                ax.axvline(xc, color=OKABE_ITO[0], lw=1, ls=":")
    ax.set_xlabel(xlabel if xlabel is not None else x)
    ax.set_ylabel(ylabel if ylabel is not None else "difference")
    ax.legend(fontsize=8, loc="best")
    return ax
