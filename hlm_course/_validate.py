"""Argument checks shared by the package: clear errors that name the argument."""

from __future__ import annotations

import numpy as np

from .lmer import LmerFit, MixedModelError

__all__ = ["NotAFitError", "fitted_model", "positive_number", "symmetric_matrix"]


class NotAFitError(MixedModelError, TypeError):
    """A function that needs a fitted model (an :class:`~hlm_course.lmer.LmerFit`) was given something else.

    The one exception every such function raises; it is a ``MixedModelError`` (the package's error for input
    that cannot define the model) and a ``TypeError`` (the wrong kind of object).
    """


def fitted_model(fit, what: str = "fit") -> LmerFit:
    """``fit`` itself if it is a fitted model from :func:`hlm_course.lmer`, else :class:`NotAFitError`."""
    if not isinstance(fit, LmerFit):
        raise NotAFitError(f"{what} must be a fitted model from hlm_course.lmer (an LmerFit), "
                           f"got {type(fit).__name__}")
    return fit


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


def symmetric_matrix(value, what: str, size: int | None = None) -> np.ndarray:
    """``value`` as a symmetric matrix of finite floats, or a ``ValueError`` naming ``what`` and the problem.

    ``size`` fixes the dimension (e.g. 3 for a 3 × 3 covariance matrix); ``None`` accepts any non-empty
    square matrix.  Positive semi-definiteness is left to the caller, whose tolerance depends on its use.
    """
    shape = f"a {size} × {size} matrix" if size else "a non-empty square matrix"
    try:
        A = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{what} must be {shape} of numbers: {err}") from None
    if A.ndim != 2 or A.shape[0] != A.shape[1] or A.shape[0] == 0 or (size and A.shape[0] != size):
        raise ValueError(f"{what} must be {shape}, got shape {A.shape}")
    if not np.all(np.isfinite(A)):
        raise ValueError(f"{what} has missing or infinite values")
    if not np.allclose(A, A.T, atol=1e-10 * max(1.0, np.abs(A).max())):
        raise ValueError(f"{what} must be symmetric")
    return A
