"""The book's one rounding rule: does our number round to the number an original prints?

An original's number is kept *as printed*, a string (``"0.5878300"`` shows seven decimals; the float
``0.58783`` would not say so), and ours is unrounded. Ours *rounds to the printed value* when it is within half
a unit in the printed value's last place (:func:`rounds_to_printed`). Every comparison with a printed number
(:func:`hlm_course.exam_tables.printed_comparison`, :func:`hlm_course.methods.published_table`,
:func:`hlm_course.ledger.ledger`) uses these functions, and the chapters call :func:`why_not_printed` for the
note a ledger row carries when ours does not round to the printed value.
"""

from __future__ import annotations

import numpy as np

__all__ = ["printed_decimals", "as_printed", "check_printed", "rounds_to_printed", "why_not_printed"]


def printed_decimals(printed: str) -> int:
    """Number of decimals a printed number shows (``"-0.01462"`` → 5, ``"9377"`` → 0,
    ``"2.84e-05"`` → 2, counted in the mantissa)."""
    if not isinstance(printed, str):
        raise TypeError(f"a printed value must be the string as printed, got {printed!r}")
    mantissa = printed.strip().lower().split("e")[0]
    return len(mantissa.split(".")[1]) if "." in mantissa else 0


def _half_unit(printed: str) -> float:
    """Half a unit in the last printed place of ``printed``."""
    value = float(printed)
    d = printed_decimals(printed)
    if "e" in printed.lower():
        return 0.5 * 10.0 ** (np.floor(np.log10(abs(value))) - d) if value else 0.0
    return 0.5 * 10.0 ** (-d)


def as_printed(ours: float, printed: str) -> str:
    """``ours`` with as many digits as ``printed`` shows (and in its notation: ``"2.84e-05"``)."""
    d = printed_decimals(printed)
    return f"{ours:.{d}e}" if "e" in printed.lower() else f"{ours:.{d}f}"


def check_printed(quantity: str, printed) -> None:
    """A number as an original prints it must be that string (its digits set the rounding) and a number."""
    if not isinstance(printed, str):
        raise TypeError(f"{quantity}: the printed value must be the string the original prints (the printed "
                        f"string, whose digits set the rounding), got {printed!r}")
    try:
        float(printed)
    except ValueError:
        raise ValueError(f"{quantity}: the printed value {printed!r} is not a number") from None


def rounds_to_printed(ours, printed) -> np.ndarray:
    """True where our value, rounded to the digits the printed value shows,
    is the printed value: ``|ours − printed| ≤`` half a unit in its last place.

    ``printed`` holds the published numbers *as printed* (strings: ``"0.5878300"``
    shows seven decimals, ``0.58783`` as a float would not); ``ours`` the
    unrounded values, of the same shape.  A value exactly half-way (which
    floating point hardly ever produces) counts as rounding to either side.
    """
    printed_arr = np.asarray(printed, dtype=object)
    ours_arr = np.asarray(ours, dtype=float)
    if printed_arr.shape != ours_arr.shape:
        raise ValueError(f"ours has shape {ours_arr.shape} but printed has shape {printed_arr.shape}")
    flat = printed_arr.ravel()
    values = np.array([float(p) if isinstance(p, str) else np.nan for p in flat])
    if np.isnan(values).any():
        bad = [p for p in flat if not isinstance(p, str)]
        raise TypeError(f"printed values must be the strings as printed, got {bad[:3]!r}")
    half = np.array([_half_unit(p) for p in flat])
    ok = np.abs(ours_arr.ravel() - values) <= half * (1 + 1e-9) + 1e-15
    return ok.reshape(ours_arr.shape)


def why_not_printed(ours: float, printed: str, why: str) -> str:
    """The note of a ledger row: ``""`` when ``ours`` rounds to ``printed``, else ``why`` (the explanation)."""
    return "" if rounds_to_printed([ours], [printed])[0] else why
