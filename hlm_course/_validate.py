"""Argument checks shared by the package: clear errors that name the argument."""

from __future__ import annotations

import numpy as np


def positive_number(value, what: str) -> float:
    """``value`` as a finite float > 0, or ``ValueError("<what> must be a positive number, got …")``.

    Booleans are refused (``True`` is not a size); strings that parse as numbers are refused too.
    """
    if isinstance(value, (bool, np.bool_, str, bytes)):
        raise ValueError(f"{what} must be a positive number, got {value!r}")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a positive number, got {value!r}") from None
    if not np.isfinite(x) or x <= 0:
        raise ValueError(f"{what} must be a positive number, got {value!r}")
    return x
