"""Palette and figure defaults shared by every recipe."""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt

__all__ = ["OKABE_ITO", "SECTOR_COLORS", "use_book_style", "new_figure"]

#: Okabe & Ito (2008) colour-blind-safe palette.
OKABE_ITO = ["#000000", "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7"]

#: Fixed colours for the two HSB sectors, used throughout the book.
SECTOR_COLORS = {"Public": "#0072B2", "Catholic": "#D55E00"}


def use_book_style() -> None:
    """Set matplotlib defaults: Okabe–Ito colour cycle, opaque white background
    (readable in dark mode), readable font sizes, no top/right spines."""
    mpl.rcParams.update({
        "axes.prop_cycle": mpl.cycler(color=OKABE_ITO[1:] + OKABE_ITO[:1]),
        "figure.facecolor": "white",
        "axes.facecolor": "white",
        "savefig.facecolor": "white",
        "savefig.transparent": False,
        "figure.dpi": 110,
        "font.size": 10,
        "axes.titlesize": 10,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "legend.frameon": False,
    })


def new_figure(nrows: int = 1, ncols: int = 1, *, width: float = 6.4, height: float | None = None, **kw):
    """A figure with the book's style and a grid of axes (``plt.subplots``)."""
    use_book_style()
    height = height if height is not None else width * 0.62 * nrows / max(ncols, 1) * (ncols ** 0.5)
    return plt.subplots(nrows, ncols, figsize=(width, height), **kw)
