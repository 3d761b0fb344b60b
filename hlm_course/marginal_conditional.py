"""Marginal and conditional views of a mixed model, and multilevel R².

A two-level model in the matrix form of Laird & Ware (1982, *Biometrics*
38, 963–974), ``y_j = X_j γ + Z_j u_j + r_j`` with ``u_j ~ N(0, T)`` (the
book's chapter "The hierarchical model", section "Matrix form"), can be
read in two ways:

* **conditional** on the school's random effects: ``E(y_j | u_j) = X_j γ +
  Z_j u_j``, with independent residuals ``r_j ~ N(0, σ² I)``;
* **marginal**, averaging over schools: ``E(y_j) = X_j γ`` and
  ``Var(y_j) = V_j = Z_j T Z_j' + σ² I``, so students of the
  same school are correlated, the more so the larger ``z_i' T z_k``.

:func:`marginal_fitted` and :func:`marginal_resid` give ``X γ̂`` and
``y − X γ̂`` (lme4's ``predict(m, re.form = NA)``); the conditional ones are
:attr:`LmerFit.fitted <hlm_course.lmer.LmerFit.fitted>` and
:attr:`LmerFit.resid <hlm_course.lmer.LmerFit.resid>`.  :func:`marginal_cov`
builds ``V_j`` (or its correlation matrix) for one group, and
:func:`principal_axes` the eigen-decomposition of ``T``: its axes, and how
flat (near-singular) the ellipsoid of the random effects is.

Two families of R² for linear mixed models:

* **Snijders & Bosker** (1994, *Sociological Methods & Research* 22,
  342–363; 2012, *Multilevel Analysis*, 2nd ed., §7.1), for
  random-intercept models: the proportional reduction of the error of
  predicting a student's score (level 1) and a school's mean (level 2)
  compared with the empty model ``y ~ 1 + (1 | group)``::

      R²₁ = 1 − (σ̂²_F + τ̂_F) / (σ̂²_0 + τ̂_0)
      R²₂ = 1 − (σ̂²_F / n + τ̂_F) / (σ̂²_0 / n + τ̂_0)

  with ``n`` a representative group size, by default the harmonic mean of
  the group sizes (as Snijders & Bosker 1994 recommend for unequal sizes).
* **Nakagawa & Schielzeth** (2013, *Methods in Ecology and Evolution* 4,
  133–142), with Johnson's (2014, *MEE* 5, 944–946) extension to random
  slopes: the shares of the total variance
  ``σ²_f + σ²_u + σ²`` explained by the fixed part alone (marginal R²) and
  by the fixed and random parts together (conditional R²)::

      R²_m = σ²_f / (σ²_f + σ²_u + σ²)
      R²_c = (σ²_f + σ²_u) / (σ²_f + σ²_u + σ²)

  where ``σ²_f`` is the variance of the fitted fixed part ``x_i'γ̂`` over
  the observations and ``σ²_u = mean_i z_i' T̂ z_i`` the average variance
  of the random part (``τ̂_00`` for a random-intercept model).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .lmer import LmerFit, MixedModelError
from ._validate import fitted_model, positive_number, symmetric_matrix

__all__ = [
    "marginal_fitted",
    "marginal_resid",
    "marginal_cov",
    "principal_axes",
    "fixed_part_variance",
    "random_part_variance",
    "nakagawa_r2",
    "snijders_bosker_r2",
]


# ---------------------------------------------------------------------------
# marginal and conditional predictions
# ---------------------------------------------------------------------------
def marginal_fitted(fit: LmerFit) -> pd.Series:
    """The marginal (population-average) fitted values ``X γ̂``, random effects at zero.

    lme4's ``predict(m, re.form = NA)``: the expected score of a student with
    these covariates in a *typical* school (``u_j = 0``).  Indexed like the
    rows the model used (``fit.data.index``).
    """
    fitted_model(fit)
    return pd.Series(fit.X @ fit.pls.beta, index=fit.data.index, name="marginal_fitted")


def marginal_resid(fit: LmerFit) -> pd.Series:
    """Marginal residuals ``y − X γ̂``: the conditional residual plus ``Z û``.

    Unlike the conditional residuals (``fit.resid``) they keep the school
    effects, so residuals of students in the same school are correlated
    (their covariance is ``V_j``, :func:`marginal_cov`).
    """
    fitted_model(fit)
    return pd.Series(fit.y - fit.X @ fit.pls.beta, index=fit.data.index, name="marginal_resid")


def marginal_cov(fit: LmerFit, group, *, corr: bool = False) -> pd.DataFrame:
    """Marginal covariance ``V_j = Z_j T̂ Z_j' + σ̂² I`` of one group's responses.

    Laird & Ware (1982).  Entry ``(i, k)``
    is ``z_i' T̂ z_k`` off the diagonal and ``z_i' T̂ z_i + σ̂²`` on it, so two
    students of the same school covary through the random effects they
    share.  With ``corr=True`` the correlation matrix
    ``V_j[i,k] / √(V_j[i,i] V_j[k,k])`` is returned: the intraclass
    correlation of each pair, which depends on the students' ``z``'s
    unless the model has a random intercept only.

    Parameters
    ----------
    fit
        A fitted model.
    group
        A value of the grouping variable (e.g. a school id) present in the fit.
    corr
        Return correlations instead of covariances.

    Returns
    -------
    DataFrame ``n_j × n_j`` indexed (rows and columns) by the group's rows of
    ``fit.data``.
    """
    fitted_model(fit)
    if group not in fit.groups:
        raise KeyError(f"group {group!r} is not one of the {fit.ngroups} levels of '{fit.group}' in the fit "
                       f"(e.g. {list(fit.groups[:3])})")
    k = fit.groups.get_loc(group)
    rows = np.flatnonzero(fit.codes == k)
    Z = fit.Z[rows]
    V = Z @ fit.tau.to_numpy() @ Z.T + fit.sigma2 * np.eye(len(rows))
    if corr:
        sd = np.sqrt(np.diag(V))
        V = V / np.outer(sd, sd)
    index = fit.data.index[rows]
    return pd.DataFrame(V, index=index, columns=index)


def principal_axes(T) -> pd.DataFrame:
    """Principal axes of a random-effects covariance matrix ``T``.

    The ellipsoid ``{u : u' T⁻¹ u ≤ 1}`` (the "standard" ellipsoid of the
    random effects, whose shadows on the axes are ± one SD) has its axes
    along the eigenvectors of ``T`` with half-lengths ``√λ``.  When the
    smallest eigenvalue is near zero the ellipsoid is flat, a *pancake*:
    ``T`` is nearly singular and one combination of the random effects
    hardly varies between groups.  ``det T = σ²ᑫ ∏ λ_kk(Λθ)²`` is zero
    exactly when a diagonal element of Λθ is (lme4's ``isSingular``).

    Parameters
    ----------
    T
        An :class:`~hlm_course.lmer.LmerFit` (its ``tau``), a DataFrame or a
        square array; it must be symmetric.

    Returns
    -------
    DataFrame with one row per axis (largest first): ``variance`` (the
    eigenvalue λ), ``sd`` (√λ, the half-length of the axis), ``share``
    (λ / trace T), ``ratio`` (λ / λ_max), then the direction (unit
    eigenvector, sign chosen so that its largest entry is positive), one
    column per random effect.

    Raises
    ------
    ValueError
        If ``T`` is not a non-empty square matrix of finite numbers, is not
        symmetric or positive semi-definite, or is zero.
    """
    if isinstance(T, LmerFit):
        T = T.tau
    names = list(T.columns) if isinstance(T, pd.DataFrame) else None
    A = symmetric_matrix(T, "T")
    if not np.any(A):
        raise ValueError("T is zero: the random effects have no variance, so the ellipsoid has no axes")
    names = names or [f"u{k}" for k in range(A.shape[0])]
    w, U = np.linalg.eigh(A)
    w, U = w[::-1], U[:, ::-1]
    w = np.where(np.abs(w) < 1e-12 * max(1.0, np.abs(w).max()), 0.0, w)
    if w.min() < 0:
        raise ValueError(f"T is not positive semi-definite (smallest eigenvalue {w.min():.3g})")
    signs = np.sign(U[np.argmax(np.abs(U), axis=0), np.arange(U.shape[1])])
    U = U * signs
    out = pd.DataFrame({"variance": w, "sd": np.sqrt(w), "share": w / w.sum(), "ratio": w / w[0]},
                       index=pd.Index([f"axis {k + 1}" for k in range(len(w))], name="axis"))
    return pd.concat([out, pd.DataFrame(U.T, index=out.index, columns=names)], axis=1)


# ---------------------------------------------------------------------------
# variance decomposition and R²
# ---------------------------------------------------------------------------
def fixed_part_variance(fit: LmerFit) -> float:
    """``σ²_f``: the sample variance (denominator n − 1, as R's ``var``) of the
    fitted fixed part ``x_i'γ̂`` over the observations (Nakagawa & Schielzeth 2013)."""
    return float(np.var(marginal_fitted(fit), ddof=1))


def random_part_variance(fit: LmerFit) -> float:
    """``σ²_u``: the average variance of the random part, ``mean_i z_i' T̂ z_i``.

    Johnson (2014): with random slopes the variance of ``z_i'u_j`` depends on
    ``z_i``; its mean over the observations generalizes Nakagawa &
    Schielzeth's sum of variance components.  For a random intercept only it
    is ``τ̂_00``.
    """
    fitted_model(fit)
    T = fit.tau.to_numpy()
    return float(np.mean(np.einsum("ij,jk,ik->i", fit.Z, T, fit.Z)))


def nakagawa_r2(fit: LmerFit) -> pd.Series:
    """Marginal and conditional R² of Nakagawa & Schielzeth (2013), with Johnson's (2014) random slopes.

    ``R²_m = σ²_f / (σ²_f + σ²_u + σ̂²)`` is the share of variance explained by
    the fixed effects; ``R²_c = (σ²_f + σ²_u) / (σ²_f + σ²_u + σ̂²)`` the share
    explained by fixed and random effects together (see
    :func:`fixed_part_variance`, :func:`random_part_variance`).  The same
    quantities as R's ``performance::r2_nakagawa`` and
    ``MuMIn::r.squaredGLMM`` for a linear mixed model.

    Returns
    -------
    Series ``marginal``, ``conditional``, ``var_fixed``, ``var_random``, ``var_resid``.
    """
    vf, vr, ve = fixed_part_variance(fit), random_part_variance(fit), fit.sigma2
    total = vf + vr + ve
    return pd.Series({"marginal": vf / total, "conditional": (vf + vr) / total, "var_fixed": vf,
                      "var_random": vr, "var_resid": ve}, name="R2 (Nakagawa & Schielzeth)")


def _intercept_only(fit: LmerFit, what: str) -> float:
    if fit.random_names != ["(Intercept)"]:
        raise MixedModelError(
            f"Snijders & Bosker's R² is defined for random-intercept models, but the {what} model has random "
            f"effects {fit.random_names}; refit it with (1 | {fit.group}) (Snijders & Bosker 2012, §7.1, "
            "advise this: the values hardly change)")
    return float(fit.tau.iloc[0, 0])


def snijders_bosker_r2(null: LmerFit, fit: LmerFit, n: float | None = None) -> pd.Series:
    """Level-1 and level-2 R² of Snijders & Bosker (1994; 2012, §7.1).

    The proportional reduction in the mean squared error of predicting an
    individual outcome (level 1) and a group mean of ``n`` outcomes (level 2)
    when going from the empty model ``null`` (``y ~ 1 + (1 | g)``) to
    ``fit``::

        R²₁ = 1 − (σ̂²_F + τ̂_F) / (σ̂²_0 + τ̂_0)
        R²₂ = 1 − (σ̂²_F / n + τ̂_F) / (σ̂²_0 / n + τ̂_0)

    Unlike the separate reductions of σ² and τ₀₀, these cannot be negative in
    the population; an estimate below zero signals a misspecified model.

    Parameters
    ----------
    null, fit
        Random-intercept fits of the same response to the same rows.
    n
        Representative group size; default the harmonic mean of ``fit``'s
        group sizes.

    Returns
    -------
    Series ``level1``, ``level2``, ``n``.

    Raises
    ------
    ValueError
        (or its subclass :class:`~hlm_course.lmer.MixedModelError`) if ``null``
        is not the empty model, if either model has random slopes, if the two
        were fitted to different responses, rows or groupings, or if ``n`` is
        not a positive number.
    """
    fitted_model(null, "null")
    fitted_model(fit)
    if list(null.fixed_names) != ["(Intercept)"]:
        raise ValueError(f"null must be the empty model y ~ 1 + (1 | {null.group}), but its fixed part has "
                         f"{list(null.fixed_names)}; Snijders & Bosker's R² compares with the empty model")
    t0, t1 = _intercept_only(null, "null"), _intercept_only(fit, "fitted")
    if null.nobs != fit.nobs or not np.array_equal(null.y, fit.y):
        raise MixedModelError("the null and the fitted model must be fitted to the same response on the same rows "
                              f"({null.nobs} and {fit.nobs} observations)")
    if null.group != fit.group or null.ngroups != fit.ngroups:
        raise MixedModelError(f"the null and the fitted model must have the same grouping: '{null.group}' with "
                              f"{null.ngroups} levels and '{fit.group}' with {fit.ngroups}")
    if n is None:
        sizes = np.bincount(fit.codes, minlength=fit.ngroups)
        n = float(len(sizes) / np.sum(1.0 / sizes))
    else:
        n = positive_number(n, "n (a representative group size)")
    s0, s1 = null.sigma2, fit.sigma2
    return pd.Series({"level1": 1 - (s1 + t1) / (s0 + t0), "level2": 1 - (s1 / n + t1) / (s0 / n + t0),
                      "n": float(n)}, name="R2 (Snijders & Bosker)")
