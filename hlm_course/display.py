"""How the book shows numbers in tables: p-values and padded, right-aligned styled tables.

R prints a p-value below ``.Machine$double.eps`` (2.2e-16) as ``< 2.2e-16`` (``format.pval``): a
double cannot tell such a p-value from 0, so printing ``0.0`` would claim a certainty the arithmetic
does not have.  :func:`format_p` does the same with a threshold the caller chooses.
"""

from __future__ import annotations

import html
import numbers

import numpy as np
import pandas as pd

__all__ = ["format_p", "format_small", "style_table"]

#: R's ``.Machine$double.eps``: the cut-off below which ``format.pval`` prints ``< 2.2e-16``.
DOUBLE_EPS = float(np.finfo(float).eps)


def format_p(p, digits: int = 3, eps: float = DOUBLE_EPS) -> str:
    """A p-value as text: ``"0.0403"``, ``"3.1e-07"``, or ``"< 2.2e-16"`` below ``eps`` (never ``"0.0"``).

    ``digits`` significant digits (R's ``format.pval`` default is 3 in ``summary`` tables).
    NaN (a test that was not done) prints as an empty string; values outside [0, 1] raise.
    """
    if isinstance(p, (bool, np.bool_)) or not isinstance(p, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"p must be a number, got {type(p).__name__}")
    if isinstance(digits, (bool, np.bool_)) or int(digits) != digits or digits < 1:
        raise ValueError(f"digits must be a positive integer, got {digits!r}")
    p = float(p)
    if np.isnan(p):
        return ""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"a p-value must lie in [0, 1], got {p}")
    if p < eps:
        return f"< {eps:.2g}"
    return f"{p:.{int(digits)}g}" if p < 1 else "1"


def style_table(df: pd.DataFrame, precision: int | None = 3, p_columns=(), caption: str | None = None,
                formatter=None):
    """A pandas ``Styler`` that reads well in the book and in a notebook.

    Cells get horizontal padding (so numbers never run together) and do not wrap, numbers are
    right-aligned in equal-width digits with ``precision`` decimals, missing values are blank, the
    columns named in ``p_columns`` are shown with :func:`format_p`, and ``formatter`` (a format string,
    a callable, or a dict ``{column: format}``) formats the other columns as ``Styler.format`` would.
    """
    missing = [c for c in p_columns if c not in df.columns]
    if missing:
        raise KeyError(f"p-value column(s) {missing} are not in the table; it has {list(df.columns)}")
    styler = df.style.format(precision=precision, na_rep="", escape="html")
    if isinstance(formatter, dict):
        formatter = {c: f for c, f in formatter.items() if c in df.columns and c not in p_columns}
        if formatter:
            styler = styler.format(formatter, subset=list(formatter), precision=precision, na_rep="")
    elif formatter is not None:
        styler = styler.format(formatter, precision=precision, na_rep="")
    if p_columns:
        styler = styler.format(lambda p: html.escape(format_p(p)), subset=list(p_columns))
    styler = styler.set_table_styles([
        {"selector": "th, td", "props": [("padding", "0.25em 0.8em")]},
        {"selector": "td", "props": [("text-align", "right"), ("font-variant-numeric", "tabular-nums"),
                                     ("white-space", "nowrap")]},
        {"selector": "th.col_heading", "props": [("text-align", "right")]},
    ], overwrite=False)
    if caption:
        styler = styler.set_caption(caption)
    return styler


def format_small(x, spec: str = ".0e") -> str:
    """A small number for prose: ``format(x, spec)`` (``"3e-11"``), but ``"0"`` for an exact zero, which
    scientific notation would print as ``"0e+00"``."""
    x = float(x)
    return "0" if x == 0 else format(x, spec)
