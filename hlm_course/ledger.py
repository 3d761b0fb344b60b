"""The reproducibility ledger: every number an original document prints, ours and R's beside it.

Each chapter that follows a published document (Monette 2010, Kaplan 2010, the lme4 vignette on
Raudenbush & Bryk 2002) collects the numbers it compares into one table, and the back-matter page
*Reproducibility* shows these tables together.  A row is

    (quantity, printed, ours[, R value[, note[, kind]]])

with ``printed`` the number **as the original prints it** (a string: ``"0.5878300"`` shows seven decimals,
the float 0.58783 would not), ``ours`` our unrounded value, the optional ``R value`` R's (lme4 1.1-31 or nlme
3.1-162 on R 4.2.2, stored by the scripts in ``tests/r/``) and an optional note.  Ours and R's are shown
rounded the way the original printed its number, and ``rounds to printed?`` says whether ours lies within
half a unit of the last printed digit — the rule of :func:`hlm_course.printed.rounds_to_printed`, which
this module uses (and :func:`hlm_course.methods.published_table` too), so the book has one rounding rule.

A row whose value does not round to the printed one must carry a note that says why (the original's
typo, an optimizer that stopped early, a formula the original did not use, …): :func:`ledger` refuses a
silent mismatch.

Every row has a *kind* (:data:`KINDS`), so that a count of rows that do not round says something:

* ``"reproduced"`` (the default): the same computation as the original's, on the same data — ours should
  round to the printed value, and where it does not, the note names the cause (a typo, a truncation or a
  printing rule of the original);
* ``"different optimum"``: the original's computation on the same data, where the printed digits show that
  the original's program (an older lme4, HLM, or lme4 1.1-31's default optimizer) stopped at another point
  of the same criterion — higher than ours, or equal to it within the optimizers' tolerance on a flat
  criterion; the note says which program and, where known, how far.  Only a row that does not round can be
  of this kind (one that rounds is simply reproduced), so a count of these is a count of visible differences
  between optimizers, never of our errors;
* ``"random"``: a simulation (bootstrap endpoints, a bootstrap p-value), which no two runs repeat;
* ``"machine-dependent"``: a run time;
* ``"different formula"``: by design not the original's computation (eq. 3.16 where the original's code
  departs from it; an exact Hessian where the original's program takes finite differences).

Contents: :func:`ledger` (rows → table), :func:`ledger_rows` (the rows of an existing comparison table),
:func:`style_ledger` (the book's table style), :func:`ledger_counts` (numbers compared, rounding, not; and
the rows that do not round, by kind).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .display import style_table
from .printed import as_printed, check_printed, rounds_to_printed

__all__ = ["ledger", "ledger_rows", "style_ledger", "ledger_counts", "ROUNDS", "NOTE", "R_COLUMN", "KIND",
           "KINDS", "KIND_KEYS", "OPTIMUM", "optimum_note", "gap_note"]

#: column of a ledger saying whether ours rounds to the printed value
ROUNDS = "rounds to printed?"
#: column of a ledger with the note
NOTE = "note"
#: column of a ledger with R's value (R 4.2.2: lm, lme4 1.1-31, nlme 3.1-162)
R_COLUMN = "R 4.2.2"
OURS = "ours"
#: column of a ledger with the kind of row
KIND = "kind"
#: the kinds of row: the same computation as the original's; the same, but the original's optimizer stopped
#: elsewhere; a simulation; a run time; a different formula by design
KINDS = ("reproduced", "different optimum", "random", "machine-dependent", "different formula")
OPTIMUM = KINDS[1]
#: each kind's short name in the keys of :func:`ledger_counts` (and so in the glue names of the chapters)
KIND_KEYS = {"reproduced": "reproduced", "different optimum": "optimum", "random": "random", "machine-dependent": "machine",
             "different formula": "formula"}


def _is_number(x) -> bool:
    return isinstance(x, (numbers.Real, np.floating, np.integer)) and not isinstance(x, (bool, np.bool_))


def _row(row) -> tuple[str, str, float, float | None, str, str]:
    if isinstance(row, Mapping):
        unknown = set(row) - {"quantity", "printed", "ours", "r", "note", "kind"}
        if unknown:
            raise ValueError(f"unknown field(s) {sorted(unknown)} in ledger row {row!r}; "
                             "use quantity, printed, ours, r, note, kind")
        row = (row.get("quantity"), row.get("printed"), row.get("ours"), row.get("r"), row.get("note", ""),
               row.get("kind", KINDS[0]))
    if not isinstance(row, (tuple, list)) or not 3 <= len(row) <= 6:
        raise ValueError(f"a ledger row is (quantity, printed, ours[, R value[, note[, kind]]]), got {row!r}")
    quantity, printed, ours, r, note, kind = (list(row) + [None, "", KINDS[0]][len(row) - 3:])[:6]
    if not isinstance(quantity, str) or not quantity.strip():
        raise ValueError(f"the quantity of a ledger row must be a non-empty string, got {quantity!r}")
    check_printed(quantity, printed)
    if not _is_number(ours) or not math.isfinite(float(ours)):
        raise TypeError(f"{quantity}: our value must be a finite number, got {ours!r}")
    if r is not None and (not _is_number(r) or not math.isfinite(float(r))):
        raise TypeError(f"{quantity}: R's value must be a finite number or None, got {r!r}")
    if note is None:
        note = ""
    if not isinstance(note, str):
        raise TypeError(f"{quantity}: the note must be a string, got {note!r}")
    if kind is None:
        kind = KINDS[0]
    if kind not in KINDS:
        raise ValueError(f"{quantity}: the kind of a ledger row must be one of {list(KINDS)}, got {kind!r}")
    return quantity, printed.strip(), float(ours), (None if r is None else float(r)), note.strip(), kind


def ledger(rows, source: str) -> pd.DataFrame:
    """One table of printed numbers against ours (and R's), at the printed digits.

    ``rows`` are ``(quantity, printed, ours[, r[, note[, kind]]])`` tuples or dicts with those keys (see the
    module docstring; ``kind`` is one of :data:`KINDS`, ``"reproduced"`` when not given); ``source`` names
    the original (``"Kaplan (2010)"``).  Returns a DataFrame indexed by ``quantity`` (unique) with the
    columns ``"<source> printed"``, ``"ours"`` and ``R_COLUMN`` (strings, ours and R's rounded as printed;
    R's blank where none is given), ``"kind"``, ``"rounds to printed?"`` (bool) and ``"note"``, in the
    order of ``rows`` (the chapters give them in the original's order).  The unrounded values are in
    ``.attrs["ours"]`` and ``.attrs["r"]``.

    Raises ``ValueError`` for a malformed row, an unknown kind, a repeated quantity, or a row that does not
    round to the printed value and has no note.
    """
    if not isinstance(source, str) or not source.strip():
        raise ValueError(f"source must name the original, got {source!r}")
    parsed = [_row(r) for r in rows]
    if not parsed:
        raise ValueError("a ledger needs at least one row")
    names = [p[0] for p in parsed]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"quantities must be unique in a ledger; repeated: {repeated}")
    printed = [p[1] for p in parsed]
    ours = np.array([p[2] for p in parsed])
    match = rounds_to_printed(ours, printed)
    silent = [p[0] for p, ok in zip(parsed, match) if not ok and not p[4]]
    if silent:
        raise ValueError(f"these numbers do not round to the printed value and have no note saying why: {silent}")
    agreeing = [p[0] for p, ok in zip(parsed, match) if ok and p[5] == OPTIMUM]
    if agreeing:
        raise ValueError(f"these numbers round to the printed value, so they are {KINDS[0]!r}, not {OPTIMUM!r} "
                         f"(that kind is for a visible difference between optimizers): {agreeing}")
    table = pd.DataFrame({
        f"{source} printed": printed,
        OURS: [as_printed(o, p) for o, p in zip(ours, printed)],
        R_COLUMN: ["" if p[3] is None else as_printed(p[3], p[1]) for p in parsed],
        KIND: [p[5] for p in parsed],
        ROUNDS: match,
        NOTE: [p[4] for p in parsed],
    }, index=pd.Index(names, name="quantity"))
    table.attrs["ours"] = ours.tolist()
    table.attrs["r"] = [p[3] for p in parsed]
    table.attrs["source"] = source
    return table


def optimum_note(ours: float, printed: str, why: str) -> tuple[str, str]:
    """The ``(note, kind)`` of a ledger row whose value comes from a fit the original's program may have
    stopped elsewhere: ``("", "reproduced")`` when ``ours`` rounds to ``printed``, else ``(why, "different
    optimum")`` — ``why`` names the program and, where known, how far above ours it stopped."""
    if not isinstance(why, str) or not why.strip():
        raise ValueError("a row that may not round needs the reason it would not: why must be a non-empty string")
    return ("", KINDS[0]) if rounds_to_printed([ours], [printed])[0] else (why, OPTIMUM)


def gap_note(gap: float, criterion: str = "REML criterion", checked_by: str | None = None) -> str:
    """Why a fit's numbers differ from lme4's in their last digits: ``gap`` is our ``criterion`` (the REML
    criterion, or ``"-2 logLik"`` of a GLMM) minus lme4's.  ``gap <= 0``: lme4 stopped that far above our optimum
    (``checked_by`` names the test that checks ours is never the higher); else the two agree to ``gap`` on a
    flat surface.  The note of the chapters' "different optimum" rows (:func:`optimum_note`)."""
    if gap <= 0:
        note = f"lme4 stops {abs(gap):.1e} above our optimum of the {criterion}"
        return note + (f" ({checked_by})" if checked_by else "")
    return (f"the two values of the {criterion} agree to {gap:.1e} (ours the higher): on a flat surface two "
            "optimizers stop at points a rounding error apart")


def ledger_rows(table: pd.DataFrame, prefix: str = "", r: Mapping | Sequence | None = None,
                notes: Mapping[str, str] | None = None, kind: str = KINDS[0],
                kinds: Mapping[str, str] | None = None) -> list[tuple]:
    """The rows of a comparison table the chapters already show, ready for :func:`ledger`.

    ``table`` comes from :func:`hlm_course.methods.published_table` or
    :func:`hlm_course.exam_tables.printed_comparison` (or :func:`~hlm_course.exam_tables.printout_comparison`):
    its first column holds the printed strings and ``.attrs["ours"]`` our unrounded values.  ``prefix`` is
    put before each quantity (``"Table 2.1: "``); ``r`` gives R's values, by quantity (a mapping, missing
    keys left blank) or in row order; ``notes`` maps a quantity (without the prefix) to its note; ``kind``
    (one of :data:`KINDS`) is the kind of every row, except those that ``kinds`` maps (by quantity, without
    the prefix) to another.
    """
    kinds = dict(kinds or {})
    for k in [kind, *kinds.values()]:
        if k not in KINDS:
            raise ValueError(f"the kind of a ledger row must be one of {list(KINDS)}, got {k!r}")
    if not isinstance(table, pd.DataFrame) or "ours" not in table.attrs:
        raise TypeError("expected a table from published_table or printed_comparison (with .attrs['ours'])")
    names = [str(q) for q in table.index]
    notes = dict(notes or {})
    for what, given in (("notes", notes), ("kinds", kinds)):
        unknown = [k for k in given if k not in names]
        if unknown:
            raise KeyError(f"{what} for quantities {unknown} that are not in the table; it has {names}")
    if r is None:
        r_values = [None] * len(names)
    elif isinstance(r, Mapping):
        unknown = [k for k in r if k not in names]
        if unknown:
            raise KeyError(f"R values for quantities {unknown} that are not in the table; it has {names}")
        r_values = [r.get(n) for n in names]
    else:
        r_values = list(r)
        if len(r_values) != len(names):
            raise ValueError(f"{len(r_values)} R values for a table of {len(names)} rows")
    printed = table.iloc[:, 0].tolist()
    return [(prefix + n, p, o, rv, notes.get(n, ""), kinds.get(n, kind))
            for n, p, o, rv in zip(names, printed, table.attrs["ours"], r_values)]


def style_ledger(table: pd.DataFrame, caption: str | None = None):
    """A ledger in the book's table style: ``yes``/``no`` for the match, the note left-aligned and wrapping."""
    if ROUNDS not in table.columns or NOTE not in table.columns:
        raise KeyError(f"expected a table from ledger (columns {ROUNDS!r} and {NOTE!r}); it has {list(table.columns)}")
    flat = table.reset_index()   # the quantity as a column, so that its heading sits with the others
    styler = style_table(flat, precision=None, caption=caption,
                         formatter={ROUNDS: lambda b: "yes" if b else "no"})
    note = flat.columns.get_loc(NOTE)
    return styler.hide(axis="index").set_table_styles([
        {"selector": f"td.col{note}", "props": [("text-align", "left"), ("white-space", "normal"),
                                                ("min-width", "10em"), ("max-width", "28em")]},
        {"selector": "td.col0", "props": [("text-align", "left"), ("white-space", "normal"),
                                          ("min-width", "12em"), ("max-width", "20em")]},
        {"selector": f"th.col_heading.col{note}, th.col_heading.col0", "props": [("text-align", "left")]},
    ], overwrite=False)


def ledger_counts(table: pd.DataFrame) -> dict[str, int]:
    """``{"compared": n, "round": k, "do not round": n − k}`` of a ledger, then for each kind (its short name
    ``s`` in :data:`KIND_KEYS`) ``s``: the number of rows of that kind and ``"s do not round"``: how many of
    them do not round (a ledger without a kind column counts every row as reproduced)."""
    if ROUNDS not in table.columns:
        raise KeyError(f"expected a table from ledger (column {ROUNDS!r})")
    n, k = len(table), int(table[ROUNDS].sum())
    kinds = table[KIND] if KIND in table.columns else pd.Series(KINDS[0], index=table.index)
    counts = {"compared": n, "round": k, "do not round": n - k}
    for kind, short in KIND_KEYS.items():
        of_kind = (kinds == kind).to_numpy()
        counts[short] = int(of_kind.sum())
        counts[f"{short} do not round"] = int((of_kind & ~table[ROUNDS].to_numpy(bool)).sum())
    return counts
