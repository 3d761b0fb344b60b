"""Wald tests of linear hypotheses ``L β = 0`` for any fit (spida's ``wald`` and ``getFix``).

:func:`get_fix` reads the fixed-effect estimates, their covariance and denominator degrees of freedom from a
statsmodels OLS/WLS result, an :class:`~hlm_course.lmer.LmerFit` (nlme's between/within df,
:func:`between_within_df`) or a :class:`FixedEffects`; :func:`hypothesis_matrix` turns a hypothesis (a
regular expression, a dict of coefficients, a matrix) into ``L``; :func:`wald` estimates each row of ``L β``
and :func:`wald_test` tests them jointly (F). :mod:`hlm_course.methods` (the six ways of comparing sectors)
and :mod:`hlm_course.hypotheses` (effect grids, the Hausman test) are built on them.

Coefficients are named as R names them (``(Intercept)``, ``SectorPublic``, ``ses:SectorPublic``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from .display import style_table
from .lmer import LmerFit, lme4_name
from .multilevel import AttrFrame

__all__ = ["FixedEffects", "get_fix", "between_within_df", "wald", "wald_test", "hypothesis_matrix",
           "format_wald"]


# ---------------------------------------------------------------------------
# 1. Fixed-effect estimates of any fit: getFix
# ---------------------------------------------------------------------------
@dataclass
class FixedEffects:
    """Estimates ``beta``, their covariance ``vcov`` and a denominator ``df``
    per coefficient: everything a Wald test needs (spida's ``getFix``)."""

    beta: pd.Series
    vcov: pd.DataFrame
    df: pd.Series

    def __post_init__(self):
        names = list(self.beta.index)
        if list(self.vcov.index) != names or list(self.vcov.columns) != names:
            raise ValueError("vcov must have the coefficient names of beta as its index and columns")
        if list(self.df.index) != names:
            raise ValueError("df must have the coefficient names of beta as its index")


def between_within_df(fit: LmerFit) -> pd.Series:
    """nlme's denominator degrees of freedom for each fixed effect of ``fit``.

    Pinheiro & Bates (2000, §2.4.2), as ``nlme::lme`` computes them: a
    column of X that varies within at least one group is estimated at
    level 1 and gets ``N − J − (number of such columns)``; a column constant
    within every group is a level-2 column and gets ``J − (number of level-2
    columns) − 1``, the 1 being the intercept, which itself gets the larger
    of the two.  (The random-effects structure does not enter.)  These are
    the DF printed by Monette's (2010) ``lme`` and ``glh`` output.
    """
    X = np.asarray(fit.X, dtype=float)
    codes = np.asarray(fit.codes)
    N, J = X.shape[0], fit.ngroups
    tol = np.sqrt(np.finfo(float).eps)
    overall_const = np.all(np.abs(X - X[0]) <= tol * (1 + np.abs(X[0])), axis=0)
    # does the column vary within at least one group?
    first = X[np.unique(codes, return_index=True)[1]][codes]  # each row's group's first row
    inner = np.any(np.abs(X - first) > tol * (1 + np.abs(first)), axis=0)
    df_group, df_resid = float(J), float(N - J)
    not_int = ~overall_const
    df_resid -= np.sum(inner & not_int)
    df_group -= np.sum(~inner & not_int)
    if np.any(overall_const):
        df_group -= 1
    else:
        df_resid += 1
    out = np.where(inner, df_resid, df_group)
    out[overall_const] = max(df_group, df_resid)
    return pd.Series(out, index=fit.fixed_names, name="DF")


def get_fix(fit, df=None) -> FixedEffects:
    """Estimates, covariance and denominator df of a fitted model.

    ``fit`` may be a statsmodels OLS/WLS results object (df: the residual
    df), an :class:`~hlm_course.lmer.LmerFit` (df: :func:`between_within_df`,
    or ``df=np.inf`` for z tests as spida does for lmer), or a
    :class:`FixedEffects`.  A number ``df`` overrides every coefficient's df.
    Coefficient names are translated to R's (``Sector[T.Public]`` →
    ``SectorPublic``).
    """
    if isinstance(fit, FixedEffects):
        fe = fit
    elif isinstance(fit, LmerFit):
        fe = FixedEffects(fit.fixef.rename(None), fit.vcov, between_within_df(fit))
    elif hasattr(fit, "params") and hasattr(fit, "cov_params") and hasattr(fit, "df_resid"):
        names = [lme4_name(str(n)) for n in fit.params.index]
        if len(set(names)) < len(names):
            names = [str(n) for n in fit.params.index]
        beta = pd.Series(np.asarray(fit.params, dtype=float), index=names)
        V = pd.DataFrame(np.asarray(fit.cov_params(), dtype=float), index=names, columns=names)
        fe = FixedEffects(beta, V, pd.Series(float(fit.df_resid), index=names))
    else:
        raise TypeError(f"cannot extract fixed effects from a {type(fit).__name__}: pass a statsmodels "
                        "OLS/WLS result, an LmerFit or a FixedEffects")
    if df is not None:
        fe = FixedEffects(fe.beta, fe.vcov, pd.Series(float(df), index=fe.beta.index))
    return fe


# ---------------------------------------------------------------------------
# 2. Wald tests
# ---------------------------------------------------------------------------
def _row(spec, names: list[str], label) -> np.ndarray:
    """One row of L from a dict {coef: weight}, a coefficient name or a vector."""
    p = len(names)
    if isinstance(spec, str):
        if spec not in names:
            raise KeyError(f"coefficient {spec!r} not in the model; coefficients: {names}")
        v = np.zeros(p)
        v[names.index(spec)] = 1.0
        return v
    if isinstance(spec, pd.Series) and set(spec.index) <= set(names):
        spec = spec.to_dict()
    if isinstance(spec, Mapping):
        v = np.zeros(p)
        for k, w in dict(spec).items():
            if k not in names:
                raise KeyError(f"row {label!r} uses {k!r}, which is not a coefficient; coefficients: {names}")
            v[names.index(k)] += float(w)
        return v
    v = np.asarray(spec, dtype=float)
    if v.shape != (p,):
        raise ValueError(f"row {label!r} has {v.size} entries but the model has {p} coefficients")
    return v


def hypothesis_matrix(L, names: Sequence[str]) -> pd.DataFrame:
    """Turn any of :func:`wald`'s ways of giving ``L`` into a labelled matrix."""
    names = list(names)
    p = len(names)
    if L is None:
        return pd.DataFrame(np.eye(p), index=names, columns=names)
    if isinstance(L, str):
        pattern = re.compile(L)
        hits = [n for n in names if pattern.search(n)]
        if not hits:
            raise ValueError(f"no coefficient matches the pattern {L!r}; coefficients: {names}")
        return pd.DataFrame(np.eye(p)[[names.index(h) for h in hits]], index=hits, columns=names)
    if isinstance(L, pd.DataFrame):
        unknown = [c for c in L.columns if c not in names]
        if unknown:
            raise KeyError(f"L has columns {unknown} that are not coefficients; coefficients: {names}")
        return L.reindex(columns=names, fill_value=0.0).astype(float)
    if isinstance(L, pd.Series):
        return pd.DataFrame([_row(L, names, L.name)], index=[L.name if L.name is not None else "L"],
                            columns=names)
    if isinstance(L, Mapping):
        if not L:
            raise ValueError("L is empty")
        return pd.DataFrame([_row(v, names, k) for k, v in L.items()], index=list(L), columns=names)
    if isinstance(L, (list, tuple)) and L and all(isinstance(v, str) for v in L):
        return pd.DataFrame([_row(v, names, v) for v in L], index=list(L), columns=names)
    arr = np.asarray(L, dtype=float)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != p:
        raise ValueError(f"L must have {p} columns (one per coefficient), got shape {arr.shape}")
    return pd.DataFrame(arr, index=[f"L{k + 1}" for k in range(arr.shape[0])], columns=names)


def _p_two_sided(t: np.ndarray, df: np.ndarray) -> np.ndarray:
    return np.where(np.isinf(df), 2 * stats.norm.sf(np.abs(t)), 2 * stats.t.sf(np.abs(t), np.where(
        np.isinf(df), 1, df)))


def wald(fit, L=None, *, df=None, level: float | None = 0.95) -> pd.DataFrame:
    """Estimates, SEs, t tests and confidence intervals of linear combinations ``L β``.

    spida's ``wald``/``glh`` (Monette (2010) uses it for the fixed-effects
    contrasts of method 2).  Each row of ``L`` gives one combination; its
    t test uses the smallest df of the coefficients it involves.

    Parameters
    ----------
    fit
        statsmodels OLS/WLS results, an ``LmerFit`` or a :class:`FixedEffects`
        (see :func:`get_fix`).
    L
        The hypothesis, in any of these forms:

        * ``None`` -- every coefficient;
        * a string -- a regular expression: every coefficient whose name
          matches (``"ses:Sector"``), as spida;
        * a list of coefficient names;
        * a dict ``{label: {coefficient: weight, ...}}`` (or ``{label:
          vector}``, or ``{label: "name"}``);
        * a DataFrame with coefficient names as columns (missing ones are 0)
          and labels as index; a Series for one row; an array ``(k, p)``.
    df
        Override the denominator df of every coefficient (``np.inf`` for z tests).
    level
        Confidence level of the intervals (``None``: no intervals).

    Returns
    -------
    DataFrame indexed by the rows of ``L`` with columns ``Estimate``,
    ``Std.Error``, ``DF``, ``t-value``, ``p-value`` and ``Lower 0.95``,
    ``Upper 0.95`` (named after ``level``).  ``.attrs["test"]`` holds the
    joint F test of all rows (:func:`wald_test`), ``.attrs["vcov"]`` the
    covariance matrix ``L V L'`` of the estimates.
    """
    fe = get_fix(fit, df)
    Lm = hypothesis_matrix(L, fe.beta.index)
    A = Lm.to_numpy()
    est = A @ fe.beta.to_numpy()
    V = A @ fe.vcov.to_numpy() @ A.T
    se = np.sqrt(np.clip(np.diag(V), 0, None))
    dfs = fe.df.to_numpy()
    row_df = np.array([dfs[row != 0].min() if np.any(row != 0) else np.inf for row in A])
    with np.errstate(divide="ignore", invalid="ignore"):
        t = est / se
    out = pd.DataFrame({"Estimate": est, "Std.Error": se, "DF": row_df, "t-value": t,
                        "p-value": _p_two_sided(t, row_df)}, index=Lm.index)
    if level is not None:
        if not 0 < level < 1:
            raise ValueError(f"level must be between 0 and 1, got {level}")
        q = np.where(np.isinf(row_df), stats.norm.ppf(0.5 + level / 2),
                     stats.t.ppf(0.5 + level / 2, np.where(np.isinf(row_df), 1, row_df)))
        out[f"Lower {level:g}"] = est - q * se
        out[f"Upper {level:g}"] = est + q * se
    out.attrs["test"] = AttrFrame(_joint_test(fe, Lm))
    out.attrs["vcov"] = AttrFrame(V, index=Lm.index, columns=Lm.index)
    return out


def _joint_test(fe: FixedEffects, Lm: pd.DataFrame) -> pd.DataFrame:
    A = Lm.to_numpy()
    # full-row-rank version of L from its SVD, as spida's wald (method = "svd")
    _, d, vt = np.linalg.svd(A, full_matrices=False)
    tol = max(A.shape) * (d.max() if d.size else 0) * np.finfo(float).eps
    rank = int(np.sum(d > tol))
    if rank == 0:
        raise ValueError("L is zero: nothing to test")
    Lf = vt[:rank]
    eta = Lf @ fe.beta.to_numpy()
    VV = Lf @ fe.vcov.to_numpy() @ Lf.T
    F = float(eta @ np.linalg.lstsq(VV, eta, rcond=1e-10)[0]) / rank
    involved = np.any(A != 0, axis=0)
    den = float(fe.df.to_numpy()[involved].min())
    p = stats.chi2.sf(F * rank, rank) if np.isinf(den) else stats.f.sf(F, rank, den)
    return pd.DataFrame({"numDF": [rank], "denDF": [den], "F-value": [F], "p-value": [p]})


def wald_test(fit, L=None, *, df=None) -> pd.DataFrame:
    """Joint Wald F test of ``L β = 0``: one row with ``numDF`` (rank of L),
    ``denDF`` (smallest df of the coefficients involved), ``F-value`` and
    ``p-value``.  Arguments as :func:`wald`; Monette's (2010) method 2a prints
    ``numDF 2, denDF 1897, F 21.03533``."""
    fe = get_fix(fit, df)
    return _joint_test(fe, hypothesis_matrix(L, fe.beta.index))


def format_wald(table: pd.DataFrame, digits: int = 4):
    """A :func:`wald` (or ``MethodResult.table``) table in the book's table style
    (:func:`hlm_course.display.style_table`): estimates, SEs, t values and limits with ``digits``
    decimals, df as whole numbers (``inf`` for z tests) and p-values as R prints them (``< 2.2e-16``)."""
    fmt = {c: f"{{:.{digits}f}}" for c in table.columns if c not in ("DF", "p-value")}
    if "DF" in table.columns:
        fmt["DF"] = lambda v: "inf" if np.isinf(v) else f"{v:.0f}"
    p_cols = ["p-value"] if "p-value" in table.columns else []
    return style_table(table, precision=digits, p_columns=p_cols, formatter=fmt)


# ---------------------------------------------------------------------------
# 3. Per-group least squares (lme4's lmList) and MANOVA tests
