"""Checks every fit makes, whatever its random-effects structure: a fixed-effects design of full rank
(lme4's ``checkRankX``, as an error naming the columns) and the warning of a fit that failed its convergence
check (lme4's ``checkConv`` messages, with a remedy)."""

from __future__ import annotations

import warnings

import numpy as np

from .errors import MixedModelError

__all__ = ["check_fixed_rank", "warn_convergence"]


def check_fixed_rank(X, fixed_names, R=None) -> None:
    """A rank-deficient X is an error naming the columns that are combinations of earlier ones."""
    R = np.linalg.qr(X, mode="r") if R is None else R  # X's singular values are R's
    rank = np.linalg.matrix_rank(R)
    if rank < X.shape[1]:
        # find columns that are linear combinations of the previous ones
        bad = [fixed_names[k] for k in range(1, X.shape[1])
               if np.linalg.matrix_rank(X[:, : k + 1]) <= np.linalg.matrix_rank(X[:, :k])]
        raise MixedModelError(f"fixed-effects design matrix is rank deficient (rank {rank} < {X.shape[1]} "
                              f"columns): {bad} are linear combinations of earlier columns")


def warn_convergence(fit, stacklevel: int = 2) -> None:
    if fit.converged:
        return
    msg = fit.check.message if fit.check is not None else "the optimizer stopped abnormally"
    if fit.control.optimizer == "nloptwrap":
        remedy = ("refit with the default control (hc.lmer's BOBYQA on internally scaled data, with restarts), "
                  "or rescale predictors whose units differ by orders of magnitude, as lme4 advises")
    elif fit.check is not None and "maxfun" in fit.check.message:
        remedy = "raise LmerControl(maxfun=...) or drop the cap"
    elif np.isfinite(fit.sigma) and fit.sigma < 1e-6 * max(float(np.std(fit.y)), 1e-300):
        remedy = ("the residual SD is collapsing to zero: the response is (nearly) constant within groups, so "
                  "there is no level-1 variation for the model to describe; check the response column")
    else:
        remedy = ("simplify the random part (a variance or correlation the data cannot support), check the "
                  "data for near-constant groups or responses, and compare fits with fit.optimizers")
    warnings.warn(f"Model failed to converge: {msg}. Remedy: {remedy}.", UserWarning, stacklevel=stacklevel + 1)
