"""Checks every fit makes, whatever its random-effects structure: a fixed-effects design of full rank
(lme4's ``checkRankX``, as an error naming the columns) and the warning of a fit that failed its convergence
check (lme4's ``checkConv`` messages, with a remedy)."""

from __future__ import annotations

import warnings

import numpy as np

from .errors import MixedModelError

__all__ = ["check_fixed_rank", "drop_dependent_columns", "warn_convergence"]

#: lme4's tolerance of ``chkRank.drop.cols`` (``qr(X, tol = 1e-7, LAPACK = FALSE)``)
RANK_TOL = 1e-7


def drop_dependent_columns(Xdf, stacklevel: int = 3):
    """lme4's ``checkRankX`` default, ``"message+drop.cols"``: the columns of X that R's LINPACK QR at
    tolerance 1e-7 finds (nearly) linear combinations of earlier ones — ``x2 = 2x``, or x plus 1e-9 noise,
    whose coefficients would otherwise be ±1e4 — are dropped, and a warning names them (lme4 prints a
    message).  ``Xdf`` is :func:`~hlm_course.lmer.formula.build_design`'s DataFrame; the result keeps its
    ``design_info`` and R names, and lists the dropped patsy columns in ``attrs["dropped"]``."""
    X = Xdf.to_numpy(dtype=float)
    p = X.shape[1]
    if p == 0:
        return Xdf
    norms = np.linalg.norm(X, axis=0)
    R = np.linalg.qr(X, mode="r") if X.shape[0] >= p else None
    # no column dropped, no pivot: |R_jj| is column j's norm once the earlier columns are projected out
    if R is not None and np.all(np.abs(np.diag(R)) >= 10 * RANK_TOL * np.where(norms > 0, norms, 1.0)):
        return Xdf
    from .formula import linpack_pivot

    pivot, rank = linpack_pivot(X, RANK_TOL)
    if rank == p:
        return Xdf
    keep = np.sort(pivot[:rank])
    dropped = [c for k, c in enumerate(Xdf.columns) if k not in set(keep)]
    names = Xdf.attrs["r_names"]
    warnings.warn(f"fixed-effect model matrix is rank deficient so dropping {p - rank} "
                  f"column{'s' if p - rank > 1 else ''} / coefficient{'s' if p - rank > 1 else ''} "
                  f"{[names[c] for c in dropped]} (as lme4 does): "
                  f"{'they are' if p - rank > 1 else 'it is'} (nearly, to 1e-7) a linear combination of the other "
                  "columns", UserWarning, stacklevel=stacklevel)
    out = Xdf.iloc[:, keep]
    out.design_info = Xdf.design_info
    out.attrs = dict(Xdf.attrs, dropped=dropped)
    return out


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
