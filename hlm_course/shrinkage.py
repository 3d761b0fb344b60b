"""Bryk–Raudenbush shrinkage, per-school intervals and HLM-style statistics.

The two-level model in Bryk & Raudenbush's matrix form (Kaplan 2010, eqs.
3.1–3.12; Raudenbush & Bryk 2002, ch. 3):

    level 1   y_j = X_j β_j + r_j,        r_j ~ N(0, σ² I)
    level 2   β_j = W_j γ + u_j,          u_j ~ N(0, T)

``X_j`` holds the *level-1 coefficients'* columns (the random part of an
lme4 formula plus any level-1 predictor whose coefficient is fixed, which
gets a zero row and column in T), and ``W_j`` the level-2 design.  The
per-school OLS estimate ``β̂_j = (X_j'X_j)⁻¹X_j'y_j`` has error dispersion
``V_j = σ²(X_j'X_j)⁻¹`` (eqs. 3.2–3.3), ``Δ_j = T + V_j`` (eq. 3.10), γ̂ is
the GLS estimate (eq. 3.11) with ``Var(γ̂) = (Σ W_j'Δ_j⁻¹W_j)⁻¹`` (eq. 3.12),
and the shrinkage (empirical Bayes) estimator is

    β*_j = Λ_j β̂_j + (I − Λ_j) W_j γ̂,     Λ_j = T (T + V_j)⁻¹      (3.13–3.14)

with dispersion

    V*_j = (V_j⁻¹ + T⁻¹)⁻¹ + (I − Λ_j) W_j Var(γ̂) W_j' (I − Λ_j)'    (3.16)

and the interval ``β*_qj ± z (V*_qqj)^½`` (eq. 3.15).

Every formula is evaluated in *information form* with ``A_j = X_j'X_j`` and
``b_j = X_j'y_j`` and ``M_j = (A_j T + σ² I)⁻¹``:

    Δ_j⁻¹ = M_j A_j,   Δ_j⁻¹ β̂_j = M_j b_j,   Λ_j = T M_j A_j,
    β*_j = W_j γ̂ + T M_j (b_j − A_j W_j γ̂),   (V_j⁻¹ + T⁻¹)⁻¹ = σ² T M_j,

(push-through and Woodbury identities), which needs neither ``(X_j'X_j)⁻¹``
nor ``T⁻¹``.  So a school whose ``X_j'X_j`` is singular (fewer students than
coefficients, or a constant predictor) keeps the information it has — e.g.
one student still tells us about β_0j + β_1j x — exactly as lme4's
conditional modes do, and a model with a fixed (non-random) level-1
coefficient is the special case of a zero row of T.  β*_j then equals
lme4's ``coef`` (W_j = I) or ``W_j γ̂ + ranef`` (general W_j) to rounding.

Kaplan's (2010) appendix function differs from its own eq. 3.16 in one symbol:
it multiplies Var(γ̂) by ``(I − Δ_j)`` instead of ``(I − Λ_j)``.  That
variant is kept behind ``reproduce_appendix=True`` (it reproduces Kaplan's
Table 3.1); :func:`coverage_study` shows which of the two attains its
nominal level.

HLM-program statistics (Raudenbush & Bryk 2002, chs. 3–4; the HLM
program's output): :func:`reliability` (λ_qj averaged over schools),
:func:`variance_tests` (the χ² test of eq. 3.103) and :func:`robust_se`
(cluster-robust "sandwich" standard errors of γ̂).

Checks and comparisons: :func:`henderson_se` computes Var(β*_j − β_j) from
Henderson's mixed-model equations instead (it equals eq. 3.16), and
:func:`at_theta` evaluates a fitted model at other covariance parameters θ
(e.g. another program's estimates) without refitting.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import patsy
from scipy import stats

from ._validate import fitted_model
from .lmer import CrossProducts, LmerFit, MixedModelError, pls_solve, theta_lower

__all__ = [
    "GroupOLS",
    "Level1Structure",
    "level1_structure",
    "group_ols",
    "shrinkage_ci",
    "reliability",
    "variance_tests",
    "robust_se",
    "coverage_study",
    "conditional_coverage",
    "conditional_coverage_sim",
    "at_theta",
    "henderson_se",
]

#: relative tolerance for "constant within every school"
_CONST_TOL = 1e-10


# ---------------------------------------------------------------------------
# 1. The level-1 / level-2 structure of a fitted model
# ---------------------------------------------------------------------------
@dataclass
class Level1Structure:
    """The Bryk–Raudenbush pieces of a fitted two-level model.

    ``names`` are the level-1 coefficients β_qj (q = 0..Q), ``random`` marks
    those with a random effect, ``T`` is the (Q+1) × (Q+1) level-2 covariance
    (zero rows/columns for fixed level-1 coefficients), ``W`` the (J, Q+1, F)
    level-2 designs with ``gamma_names``, ``A``/``b`` the per-school
    ``X_j'X_j`` and ``X_j'y_j``, ``n`` the school sizes.
    """

    names: list[str]
    random: np.ndarray
    T: np.ndarray
    sigma2: float
    W: np.ndarray
    gamma_names: list[str]
    A: np.ndarray
    b: np.ndarray
    n: np.ndarray
    groups: pd.Index
    X: np.ndarray
    codes: np.ndarray
    formula: str = ""

    @property
    def q(self) -> int:
        return len(self.names)

    @property
    def is_identity_W(self) -> bool:
        """True when W_j = I for every school (fixed part = random part)."""
        return self.W.shape[2] == self.q and bool(np.allclose(self.W, np.eye(self.q)))


def _group_constant(v: np.ndarray, codes: np.ndarray, J: int, weight: np.ndarray | None = None):
    """(is v constant within every group, group values) over rows with weight 1."""
    w = np.ones_like(v) if weight is None else weight.astype(float)
    cnt = np.bincount(codes, weights=w, minlength=J)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(cnt > 0, np.bincount(codes, weights=v * w, minlength=J) / np.maximum(cnt, 1), 0.0)
    dev = np.abs(v - mean[codes]) * w
    scale = 1.0 + np.max(np.abs(v * w)) if len(v) else 1.0
    return bool(dev.max(initial=0.0) <= _CONST_TOL * scale), mean


def _auto_level2(model: LmerFit):
    """Level-1 columns and W_j read off the model's fixed part.

    Each fixed-effect column is matched to a level-1 column x_q and a level-2
    variable w_j with ``X[:, k] = x_q · w_j`` (a cross-level term): it is then
    γ_qs with W_j[q, k] = w_j.  A fixed column matching no level-1 column is a
    level-1 predictor with a fixed coefficient: it becomes a new level-1
    column with a zero row in T and W_j[new, k] = 1.
    """
    J = model.ngroups
    cols = {name: model.Z[:, k] for k, name in enumerate(model.random_names)}
    names = list(model.random_names)
    entries = []  # (level-1 name, fixed index, w_j)
    for k, fname in enumerate(model.fixed_names):
        xk = model.X[:, k]
        match = None
        for qname in names:
            zq = cols[qname]
            nz = np.abs(zq) > 0
            if np.any(np.abs(xk[~nz]) > 0):
                continue
            ratio = np.where(nz, xk / np.where(nz, zq, 1.0), 0.0)
            const, w = _group_constant(ratio, model.codes, J, nz)
            if const:
                match = (qname, w)
                break
        if match is None:
            names.append(fname)
            cols[fname] = xk
            match = (fname, np.ones(J))
        entries.append((match[0], k, match[1]))
    order = [c for c in model.coef.columns if c in cols]
    order += [c for c in names if c not in order]
    W = np.zeros((J, len(order), len(model.fixed_names)))
    for qname, k, w in entries:
        W[:, order.index(qname), k] = w
    X1 = np.column_stack([cols[c] for c in order])
    return order, X1, W, list(model.fixed_names)


def _level2_from_formulas(model: LmerFit, names: list[str], spec) -> tuple[np.ndarray, list[str]]:
    """W_j built from level-2 formulas: one formula for every level-1
    coefficient (a string) or one per coefficient (a dict; missing → "~ 1").

    Columns are named like lme4's cross-level terms: ``(Intercept)`` and
    ``sectorCatholic`` for the intercept's row, ``cses`` and
    ``cses:sectorCatholic`` for the ``cses`` slope's row.
    """
    from .lmer import lme4_name

    if isinstance(spec, str):
        spec = {name: spec for name in names}
    if not isinstance(spec, dict):
        raise MixedModelError(f"W must be None, a level-2 formula string or a dict term → formula, "
                              f"got {type(spec).__name__}")
    unknown = sorted(set(spec) - set(names))
    if unknown:
        raise MixedModelError(f"W names {unknown}, which are not level-1 coefficients of the model; "
                              f"they are {names}")
    J = model.ngroups
    data = model.data.reset_index(drop=True)
    blocks, gnames = [], []
    for q, name in enumerate(names):
        rhs = spec.get(name, "1")
        rhs = str(rhs).split("~", 1)[-1].strip() or "1"
        try:
            dm = patsy.dmatrix(rhs, data, return_type="dataframe", NA_action="raise")
        except patsy.PatsyError as err:
            raise MixedModelError(f"cannot build the level-2 design {rhs!r} for {name}: {err}") from err
        D = np.zeros((J, dm.shape[1]))
        for c, col in enumerate(dm.columns):
            const, w = _group_constant(dm[col].to_numpy(float), model.codes, J)
            if not const:
                raise MixedModelError(
                    f"level-2 predictor '{lme4_name(col)}' in the formula for {name} varies within "
                    f"'{model.group}': a level-2 design needs school-level variables")
            D[:, c] = w
        for col in dm.columns:
            col = lme4_name(col)
            if name == "(Intercept)":
                gnames.append(col)
            else:
                gnames.append(name if col == "(Intercept)" else f"{name}:{col}")
        blocks.append(D)
    F = sum(b.shape[1] for b in blocks)
    W = np.zeros((J, len(names), F))
    start = 0
    for q, D in enumerate(blocks):
        W[:, q, start:start + D.shape[1]] = D
        start += D.shape[1]
    return W, gnames


def level1_structure(model: LmerFit, W=None) -> Level1Structure:
    """The Bryk–Raudenbush form (eqs. 3.1 and 3.5) of a fitted ``lmer`` model.

    ``W=None`` reads W_j off the model's fixed part (W_j = I when the fixed
    part equals the random part, as in Kaplan's exam model); a level-2
    formula such as ``"~ sector + mean_ses"`` (for every coefficient) or a
    dict ``{"(Intercept)": "~ sector", "cses": "~ 1"}`` builds W_j from
    school-level variables instead (γ̂ is then re-estimated by GLS, eq. 3.11).
    """
    fitted_model(model, "model")
    names, X1, W_auto, gnames = _auto_level2(model)
    if W is None:
        Wmat = W_auto
    else:
        Wmat, gnames = _level2_from_formulas(model, names, W)
    q = len(names)
    T = np.zeros((q, q))
    idx = [names.index(r) for r in model.random_names]
    T[np.ix_(idx, idx)] = model.tau.to_numpy()
    random = np.zeros(q, dtype=bool)
    random[idx] = True
    xp = CrossProducts.from_arrays(np.zeros((len(model.y), 0)), X1, model.y, model.codes, model.ngroups)
    return Level1Structure(names=names, random=random, T=T, sigma2=model.sigma2, W=Wmat,
                           gamma_names=gnames, A=xp.ZtZ, b=xp.Zty,
                           n=np.bincount(model.codes, minlength=model.ngroups), groups=model.groups,
                           X=X1, codes=model.codes, formula=model.formula)


# ---------------------------------------------------------------------------
# 2. Per-school OLS
# ---------------------------------------------------------------------------
@dataclass
class GroupOLS:
    """Per-school OLS fits (eqs. 3.2–3.3).

    ``coef`` (J × (Q+1) DataFrame) holds β̂_j, NaN for schools whose X_j'X_j is
    singular (``estimable`` False: fewer students than coefficients, or a
    predictor constant within the school); ``V`` is the (J, Q+1, Q+1) array
    σ²(X_j'X_j)⁻¹ (NaN where not estimable); ``n`` the school sizes.
    """

    coef: pd.DataFrame
    V: np.ndarray
    n: pd.Series
    estimable: pd.Series
    sigma2: float
    XtX: np.ndarray
    Xty: np.ndarray

    @property
    def se(self) -> pd.DataFrame:
        """Standard errors √v_qqj of the OLS coefficients."""
        return pd.DataFrame(np.sqrt(np.diagonal(self.V, axis1=1, axis2=2)), index=self.coef.index,
                            columns=self.coef.columns)

    def table(self) -> pd.DataFrame:
        """Tidy table: one row per school × coefficient (group, term, n, estimate, se)."""
        est = self.coef.stack(future_stack=True).rename("estimate")
        se = self.se.stack(future_stack=True).rename("se")
        out = pd.concat([est, se], axis=1).reset_index()
        out.columns = ["group", "term", "estimate", "se"]
        out.insert(2, "n", self.n.reindex(out["group"]).to_numpy())
        return out


def _estimable(A: np.ndarray) -> np.ndarray:
    """Which X_j'X_j are nonsingular (numerical rank = number of columns).

    The HLM program likewise leaves out of its OLS-based statistics the units
    whose X_j'X_j is not invertible (HLM FAQ, "insufficient data").
    """
    return np.linalg.matrix_rank(A, hermitian=True) == A.shape[1]


def _ols_from_crossproducts(A, b, sigma2):
    ok = _estimable(A)
    coef = np.full(b.shape, np.nan)
    V = np.full(A.shape, np.nan)
    if ok.any():
        Ainv = np.linalg.inv(A[ok])
        coef[ok] = np.einsum("jqk,jk->jq", Ainv, b[ok])
        V[ok] = sigma2 * Ainv
    return coef, V, ok


def group_ols(fit_or_data, formula: str | None = None, group: str | None = None,
              sigma2: float | None = None) -> GroupOLS:
    """OLS regression in every school: β̂_j, V_j = σ²(X_j'X_j)⁻¹ and n_j.

    Parameters
    ----------
    fit_or_data
        A fitted ``hlm_course.lmer`` model — its level-1 coefficients (random
        part plus fixed level-1 predictors) and its σ² are used — or a
        DataFrame, with ``formula`` (``"y ~ x"``) and ``group``.
    sigma2
        σ² for V_j. Default: the model's σ̂²; for a DataFrame, the pooled
        within-school residual variance Σ RSS_j / Σ (n_j − p) over the
        estimable schools.

    Schools whose X_j'X_j is singular get NaN estimates and
    ``estimable = False`` instead of an error.
    """
    if isinstance(fit_or_data, LmerFit):
        s = level1_structure(fit_or_data)
        A, b, n, groups, names = s.A, s.b, s.n, s.groups, s.names
        s2 = s.sigma2 if sigma2 is None else float(sigma2)
    elif isinstance(fit_or_data, pd.DataFrame):
        A, b, n, groups, names, s2 = _ols_inputs_from_data(fit_or_data, formula, group, sigma2)
    else:
        raise MixedModelError(f"group_ols needs an lmer fit or a DataFrame, got {type(fit_or_data).__name__}")
    coef, V, ok = _ols_from_crossproducts(A, b, s2)
    return GroupOLS(coef=pd.DataFrame(coef, index=groups, columns=names), V=V,
                    n=pd.Series(n, index=groups, name="n"), estimable=pd.Series(ok, index=groups,
                                                                                name="estimable"),
                    sigma2=s2, XtX=A, Xty=b)


def _ols_inputs_from_data(data, formula, group, sigma2):
    if formula is None or group is None:
        raise MixedModelError("group_ols on a DataFrame needs formula='y ~ x' and group='school'")
    if "~" not in formula:
        raise MixedModelError(f"formula must look like 'y ~ x', got {formula!r}")
    if group not in data.columns:
        raise MixedModelError(f"group column '{group}' not found in data; columns: {list(data.columns)}")
    try:
        yd, Xd = patsy.dmatrices(formula, data, return_type="dataframe", NA_action="raise")
    except patsy.PatsyError as err:
        raise MixedModelError(f"cannot build the design for {formula!r}: {err}") from err
    if data[group].isna().any():
        raise MixedModelError(f"group column '{group}' has missing values")
    from .lmer import lme4_name

    codes, groups = pd.factorize(data[group], sort=True)
    J = len(groups)
    if J < 2:
        raise MixedModelError(f"grouping factor '{group}' has only {J} level: nothing to compare")
    X, y = Xd.to_numpy(float), yd.to_numpy(float)[:, 0]
    xp = CrossProducts.from_arrays(np.zeros((len(y), 0)), X, y, codes, J)
    A, b = xp.ZtZ, xp.Zty
    n = np.bincount(codes, minlength=J)
    if sigma2 is None:
        coef, _, ok = _ols_from_crossproducts(A, b, 1.0)
        if not ok.any():
            raise MixedModelError("no school has a nonsingular X_j'X_j: cannot pool σ²")
        fitted = np.einsum("ip,ip->i", X, np.nan_to_num(coef)[codes])
        rss = np.bincount(codes, weights=(y - fitted) ** 2, minlength=J)
        dfr = (n - X.shape[1])[ok].sum()
        if dfr <= 0:
            raise MixedModelError("no residual degrees of freedom within schools to pool σ²")
        sigma2 = float(rss[ok].sum() / dfr)
    return A, b, n, pd.Index(groups, name=group), [lme4_name(c) for c in Xd.columns], float(sigma2)


# ---------------------------------------------------------------------------
# 3. Shrinkage estimator and intervals
# ---------------------------------------------------------------------------
@dataclass
class _Shrinkage:
    """Everything eqs. 3.10–3.16 compute, for one (T, σ²)."""

    M: np.ndarray  # (J, q, q) (A_j T + σ² I)⁻¹
    P: np.ndarray  # (J, q, q) Δ_j⁻¹ = M_j A_j
    Lam: np.ndarray  # (J, q, q) Λ_j = T Δ_j⁻¹
    Vgamma: np.ndarray  # (F, F) Var(γ̂), eq. 3.12
    post: np.ndarray  # (J, q, q) (V_j⁻¹ + T⁻¹)⁻¹ = σ² T M_j

    def gamma(self, W, b):
        """GLS γ̂ (eq. 3.11) for per-school X_j'y_j ``b`` of shape (..., J, q)."""
        C = np.einsum("rf,jqr,jqk->jfk", self.Vgamma, W, self.M)  # Var(γ̂) W_j' M_j, once
        return np.einsum("jfk,...jk->...f", C, b)

    def beta_star(self, s: Level1Structure, T, b, gamma):
        """β*_j = W_j γ̂ + T M_j (b_j − A_j W_j γ̂) (eq. 3.13 in information form)."""
        Wg = np.einsum("jqr,...r->...jq", s.W, gamma)
        resid = b - np.einsum("jqk,...jk->...jq", s.A, Wg)
        return Wg + np.einsum("jqk,...jk->...jq", T @ self.M, resid)

    def vstar(self, W) -> np.ndarray:
        """Eq. 3.16: (V_j⁻¹ + T⁻¹)⁻¹ + (I − Λ_j) W_j Var(γ̂) W_j' (I − Λ_j)'."""
        G = (np.eye(self.Lam.shape[1]) - self.Lam) @ W
        return self.post + G @ self.Vgamma @ np.swapaxes(G, 1, 2)

    def vstar_appendix(self, T, A, sigma2) -> np.ndarray:
        """Kaplan's (2010) appendix code: (I − Δ_j) where eq. 3.16 has (I − Λ_j), with W_j = I."""
        ok = _estimable(A)
        out = np.full(A.shape, np.nan)
        D = T + sigma2 * np.linalg.inv(A[ok])
        G = np.eye(T.shape[0]) - D
        out[ok] = self.post[ok] + G @ self.Vgamma @ np.swapaxes(G, 1, 2)
        return out


def _shrinkage(s: Level1Structure, T=None, sigma2=None) -> _Shrinkage:
    T = s.T if T is None else T
    sigma2 = s.sigma2 if sigma2 is None else sigma2
    q = s.q
    M = np.linalg.inv(s.A @ T + sigma2 * np.eye(q))
    P = M @ s.A
    P = 0.5 * (P + np.swapaxes(P, 1, 2))
    info = np.einsum("jqr,jqk,jkf->rf", s.W, P, s.W)
    if np.linalg.matrix_rank(info, hermitian=True) < info.shape[0]:
        raise MixedModelError("Σ_j W_j'Δ_j⁻¹W_j is singular: the level-2 design does not identify γ "
                              "(a level-2 predictor constant across schools, or collinear?)")
    Vgamma = np.linalg.inv(info)
    post = sigma2 * T @ M
    post = 0.5 * (post + np.swapaxes(post, 1, 2))
    return _Shrinkage(M=M, P=P, Lam=T @ P, Vgamma=Vgamma, post=post)


def _z(level: float) -> float:
    if not (isinstance(level, (int, float)) and 0 < level < 1):
        raise ValueError(f"level must be a number strictly between 0 and 1, got {level!r}")
    return float(stats.norm.ppf(0.5 + level / 2))


def _check_appendix(s: Level1Structure) -> None:
    if not s.is_identity_W:
        raise MixedModelError("reproduce_appendix=True follows the code in Kaplan's (2010) appendix, which hard-codes W_j = I: "
                              "it needs a model whose fixed part equals its random part "
                              "(e.g. y ~ x + (x | g)); use the default eq. 3.16 intervals instead")
    if not s.random.all() or np.linalg.matrix_rank(s.T) < s.q:
        raise MixedModelError("reproduce_appendix=True needs an invertible T (Kaplan's appendix code inverts it); "
                              "this model has a zero or singular level-2 covariance")


def _select_terms(s: Level1Structure, terms, model_formula: str) -> list[int]:
    if terms is None:
        return [k for k in range(s.q) if s.random[k]]
    if isinstance(terms, str):
        terms = [terms]
    out = []
    for t in terms:
        if t not in s.names:
            raise MixedModelError(f"'{t}' is not a level-1 coefficient of {model_formula!r}; "
                                  f"they are {s.names}")
        k = s.names.index(t)
        if not s.random[k]:
            raise MixedModelError(
                f"'{t}' has no random effect in {model_formula!r}: its coefficient is the same fixed γ in "
                f"every school, so there is nothing to shrink and no per-school interval; "
                f"random terms: {[n for n, r in zip(s.names, s.random) if r]}")
        out.append(k)
    return out


def shrinkage_ci(model: LmerFit, level: float = 0.95, W=None, reproduce_appendix: bool = False,
                 terms=None) -> pd.DataFrame:
    """Shrinkage estimates β*_j and their intervals for every school (eqs. 3.13–3.16).

    Parameters
    ----------
    model
        A fitted ``hlm_course.lmer`` model (its T̂ and σ̂² are used).
    level
        Confidence level of ``β*_qj ± z (V*_qqj)^½`` (eq. 3.15).
    W
        Level-2 design: ``None`` reads it off the model (W_j = I for Kaplan's
        exam model); a formula or dict builds it from school-level variables
        (see :func:`level1_structure`).
    reproduce_appendix
        False (default): V*_j by eq. 3.16.  True: Kaplan's (2010) appendix code,
        which has (I − Δ_j) in place of (I − Λ_j) — kept to reproduce Table 3.1.
        Schools with a singular X_j'X_j get NaN intervals in this mode (the
        appendix code cannot invert X_j'X_j either).
    terms
        Level-1 coefficients to report (default: the random ones).

    Returns
    -------
    DataFrame with one row per school × coefficient: ``group, term, n,
    estimate`` (β*_qj), ``se`` ((V*_qqj)^½), ``lower, upper``, plus ``ols``
    (β̂_qj, NaN if X_j'X_j is singular), ``fixed`` ((W_j γ̂)_q) and
    ``weight`` (Λ_qqj, the weight eq. 3.13 gives the school's own OLS estimate;
    with correlated coefficients it can fall outside [0, 1]).
    ``out.attrs`` holds ``level``, ``method``, ``gamma`` (γ̂ as a dict) and
    ``vcov_gamma`` (Var(γ̂), eq. 3.12, as a dict of dicts).
    """
    z = _z(level)
    s = level1_structure(model, W)
    keep = _select_terms(s, terms, model.formula)
    if reproduce_appendix:
        _check_appendix(s)
    sh = _shrinkage(s)
    gamma = sh.gamma(s.W, s.b)
    bstar = sh.beta_star(s, s.T, s.b, gamma)
    if reproduce_appendix:
        V = sh.vstar_appendix(s.T, s.A, s.sigma2)
        bad = ~_estimable(s.A)
        if bad.any():
            warnings.warn(f"the appendix formula of Kaplan (2010) needs (X_j'X_j)⁻¹: no interval for "
                          f"{list(s.groups[bad])} (singular X_j'X_j)", stacklevel=2)
    else:
        V = sh.vstar(s.W)
    ols, _, _ = _ols_from_crossproducts(s.A, s.b, s.sigma2)
    fixed = np.einsum("jqr,r->jq", s.W, gamma)
    se = np.sqrt(np.clip(np.diagonal(V, axis1=1, axis2=2), 0, None))
    lam = np.diagonal(sh.Lam, axis1=1, axis2=2)
    frames = []
    for k in keep:
        frames.append(pd.DataFrame({
            "group": s.groups, "term": s.names[k], "n": s.n, "estimate": bstar[:, k], "se": se[:, k],
            "lower": bstar[:, k] - z * se[:, k], "upper": bstar[:, k] + z * se[:, k],
            "ols": ols[:, k], "fixed": fixed[:, k], "weight": lam[:, k]}))
    out = pd.concat(frames, ignore_index=True)
    out.attrs.update(level=level, method="appendix" if reproduce_appendix else "eq3.16",
                     gamma=dict(zip(s.gamma_names, gamma.tolist())),
                     vcov_gamma={a: dict(zip(s.gamma_names, row)) for a, row in
                                 zip(s.gamma_names, sh.Vgamma.tolist())})
    return out


# ---------------------------------------------------------------------------
# 4. HLM-program statistics
# ---------------------------------------------------------------------------
def reliability(model: LmerFit, per_group: bool = False):
    """Reliability of the OLS estimates β̂_qj, as the HLM program prints it.

    For each random coefficient q, λ_qj = τ_qq / (τ_qq + v_qqj) with v_qqj the
    q-th diagonal element of V_j = σ̂²(X_j'X_j)⁻¹ (Raudenbush & Bryk 2002,
    chs. 3–4; for a random intercept alone, τ_00/(τ_00 + σ²/n_j)).
    The summary is the mean over the schools whose X_j'X_j is invertible.

    Returns a Series (one value per random term) or, with ``per_group=True``,
    a DataFrame (schools × random terms; NaN for non-estimable schools).
    """
    s = level1_structure(model)
    _, V, ok = _ols_from_crossproducts(s.A, s.b, s.sigma2)
    keep = [k for k in range(s.q) if s.random[k]]
    tau = np.diag(s.T)[keep]
    v = np.diagonal(V, axis1=1, axis2=2)[:, keep]
    lam = pd.DataFrame(tau / (tau + v), index=s.groups, columns=[s.names[k] for k in keep])
    if per_group:
        return lam
    out = lam[ok].mean()
    out.name = "reliability"
    return out


def variance_tests(model: LmerFit, W=None) -> pd.DataFrame:
    """HLM's χ² test that a random coefficient's variance τ_qq is zero.

    χ²_q = Σ_j (β̂_qj − (W_j γ̂)_q)² / v̂_qqj over the J' schools with an
    invertible X_j'X_j ("sufficient data"), referred to χ² with
    J' − (number of γ's in row q of W_j) degrees of freedom, i.e.
    J' − S_q − 1 with S_q level-2 predictors (Raudenbush & Bryk 2002,
    eq. 3.103).  β̂_qj are the per-school OLS estimates, v̂_qqj the diagonal
    of σ̂²(X_j'X_j)⁻¹ and γ̂ the model's (GLS) fixed effects.
    """
    s = level1_structure(model, W)
    sh = _shrinkage(s)
    gamma = sh.gamma(s.W, s.b)
    ols, V, ok = _ols_from_crossproducts(s.A, s.b, s.sigma2)
    Jp = int(ok.sum())
    fixed = np.einsum("jqr,r->jq", s.W, gamma)
    rows = []
    for k in range(s.q):
        if not s.random[k]:
            continue
        chisq = float(np.sum((ols[ok, k] - fixed[ok, k]) ** 2 / V[ok, k, k]))
        npred = int(np.any(s.W[:, k, :] != 0, axis=0).sum())
        df = Jp - npred
        if df < 1:
            raise MixedModelError(
                f"the chi-square test of '{s.names[k]}' needs more schools with an invertible X_j'X_j "
                f"than level-2 coefficients: {Jp} school(s) usable for {npred} coefficient(s) gives "
                f"{df} degrees of freedom")
        rows.append({"term": s.names[k], "variance": s.T[k, k], "chisq": chisq, "df": df,
                     "p": float(stats.chi2.sf(chisq, df)), "groups_used": Jp})
    return pd.DataFrame(rows)


def robust_se(model: LmerFit) -> pd.DataFrame:
    """Cluster-robust (CR0, "sandwich") standard errors of the fixed effects.

    With Σ_j = Z_j T Z_j' + σ² I, e_j = y_j − X_j γ̂ and
    B = (Σ_j X_j'Σ_j⁻¹X_j)⁻¹ (lme4's ``vcov``), the robust covariance is
    B [Σ_j X_j'Σ_j⁻¹ e_j e_j' Σ_j⁻¹ X_j] B — the HLM program's "robust
    standard errors" (Liang & Zeger 1986; Raudenbush & Bryk 2002, ch. 8),
    with no small-sample correction.  Σ_j⁻¹ = σ⁻²(I − Z_j T M_j Z_j') with
    M_j = (Z_j'Z_j T + σ² I)⁻¹, so nothing n_j × n_j is formed.

    Returns a DataFrame indexed by fixed effect: Estimate, Std. Error (model
    based), Robust SE, and the robust t ratio.
    """
    fitted_model(model, "model")
    J, q = model.ngroups, len(model.random_names)
    T = model.tau.to_numpy()
    s2 = model.sigma2
    gamma = model.pls.beta
    e = model.y - model.X @ gamma
    Zte = np.zeros((J, q))
    Xte = np.zeros((J, len(gamma)))
    np.add.at(Zte, model.codes, model.Z * e[:, None])
    np.add.at(Xte, model.codes, model.X * e[:, None])
    M = np.linalg.inv(model.xp.ZtZ @ T + s2 * np.eye(q))
    TMZte = np.einsum("ql,jlk,jk->jq", T, M, Zte)
    g = (Xte - np.einsum("jqp,jq->jp", model.xp.ZtX, TMZte)) / s2  # X_j'Σ_j⁻¹e_j
    meat = g.T @ g
    B = model.vcov.to_numpy()
    Vr = B @ meat @ B
    rse = np.sqrt(np.diag(Vr))
    return pd.DataFrame({"Estimate": gamma, "Std. Error": model.se.to_numpy(), "Robust SE": rse,
                         "t (robust)": gamma / rse}, index=model.fixed_names)


# ---------------------------------------------------------------------------
# 4b. The model at another θ, and Henderson's prediction-error variances
# ---------------------------------------------------------------------------
def at_theta(model: LmerFit, theta) -> LmerFit:
    """The same model and data evaluated at covariance parameters θ, not refitted.

    θ are lme4's parameters (the lower triangle of the relative covariance
    factor Λθ, column by column; ``model.theta`` has the fitted ones).  The
    penalized least-squares problem is solved at θ, so everything derived
    from it — T, σ², γ̂ and its covariance, ranef, coef, the REML criterion
    and deviance — belongs to θ.  Use it to compare with another program's
    estimates (e.g. lme4's θ, or the θ at which an old printout was made)
    without the optimizer's last digits in the way.  The optimizer record
    (``runs``, ``converged``) is the original fit's.
    """
    fitted_model(model, "model")
    theta = np.asarray(theta, dtype=float).ravel()
    k = len(model.theta)
    if theta.shape != (k,):
        raise MixedModelError(f"theta must have {k} elements for {model.formula!r} (lme4's order: the "
                              f"lower triangle of Λθ column by column), got {theta.size}")
    if not np.all(np.isfinite(theta)):
        raise MixedModelError(f"theta must be finite, got {theta.tolist()}")
    if np.any(theta < theta_lower(len(model.random_names))):
        raise MixedModelError(f"the diagonal elements of Λθ (standard deviations relative to σ) must be "
                              f"≥ 0, got theta = {theta.tolist()}")
    return dataclasses.replace(model, pls=pls_solve(theta, model.xp))


def henderson_se(model: LmerFit) -> pd.DataFrame:
    """Prediction-error standard errors of every school's random coefficients,
    from Henderson's mixed-model equations.

    With Z block-diagonal by school and G = I_J ⊗ T, the coefficient matrix of
    Henderson's equations is ``C = [[X'X, X'Z], [Z'X, Z'Z + σ² G⁻¹]]``, and
    ``σ² C⁻¹`` is the covariance matrix of the prediction errors
    ``(γ̂ − γ, û − u)`` (Henderson 1975).  School j's
    coefficient β_qj = (W_j γ)_q + u_qj is the linear combination
    ``K_j = [W_j (row q), e_qj]``, so ``Var(β*_qj − β_qj) = K_j σ² C⁻¹ K_j'``.
    This is Kaplan's (2010) eq. 3.16 computed without the two-stage algebra, and a
    check on it.  T and σ² are the model's; T must be invertible.  C is
    formed densely, (p + Jq) × (p + Jq): fine for hundreds of schools.

    Returns a DataFrame, schools × random terms, of ``√Var(β*_qj − β_qj)``.
    """
    s = level1_structure(model)
    T = model.tau.to_numpy()
    q, p, J = len(model.random_names), len(model.fixed_names), model.ngroups
    if np.linalg.matrix_rank(T, hermitian=True) < q:
        raise MixedModelError("Henderson's equations need T⁻¹, but the level-2 covariance T of this fit is "
                              "singular (a variance estimated as zero or a correlation of ±1)")
    xp, s2 = model.xp, model.sigma2
    C = np.zeros((p + J * q, p + J * q))
    C[:p, :p] = xp.XtX
    Tinv = np.linalg.inv(T)
    for j in range(J):
        blk = slice(p + j * q, p + (j + 1) * q)
        C[blk, :p] = xp.ZtX[j]
        C[:p, blk] = xp.ZtX[j].T
        C[blk, blk] = xp.ZtZ[j] + s2 * Tinv
    Cinv = s2 * np.linalg.inv(C)
    rows = [s.names.index(r) for r in model.random_names]
    Wr = s.W[:, rows, :]  # (J, q, p): the random coefficients' rows of W_j
    out = np.empty((J, q))
    for j in range(J):
        idx = np.r_[0:p, p + j * q:p + (j + 1) * q]
        K = np.hstack([Wr[j], np.eye(q)])
        out[j] = np.sqrt(np.diag(K @ Cinv[np.ix_(idx, idx)] @ K.T))
    return pd.DataFrame(out, index=model.groups, columns=list(model.random_names))


# ---------------------------------------------------------------------------
# 5. Coverage simulation
# ---------------------------------------------------------------------------
def _psd_root(S: np.ndarray) -> np.ndarray:
    """R with R R' = S for (stacks of) symmetric PSD matrices (eigen-based)."""
    w, U = np.linalg.eigh(S)
    return U * np.sqrt(np.clip(w, 0, None))[..., None, :]


def coverage_study(model: LmerFit, nsim: int = 2000, seed=None, level: float = 0.95, W=None,
                   refit: bool = False, terms=None, return_replicates: bool = False):
    """How often do the eq. 3.16 and the appendix intervals cover the true β_j?

    Data are simulated from the fitted model: β_j = W_j γ̂ + u_j with
    u_j ~ N(0, T̂), then y_j = X_j β_j + r_j with r_j ~ N(0, σ̂² I).  We simulate
    our own draws (rather than ``simulate_response``) because the study needs
    the true β_j of every replicate.

    ``refit=False`` (default, fast): the intervals are computed with the
    generating T̂, σ̂² — the setting in which eq. 3.16 is derived.  The
    estimator β*_j depends on the data only through b_j = X_j'y_j, and
    b_j | β_j ~ N(A_j β_j, σ² A_j) exactly, so the replicates draw b_j
    directly (vectorized over replicates and schools, no n-length vectors)
    and V*_j, which does not depend on y, is computed once.
    ``refit=True``: every replicate simulates y, refits the model by REML
    (batched with ``hlm_course.inference.refit_many``) and uses the
    re-estimated T, σ², γ — slower, it adds the uncertainty of estimating T.

    Returns a tidy DataFrame, one row per school × term × method
    (``"eq3.16"``, ``"appendix"``): ``coverage``, its Monte-Carlo standard
    error ``mc_se``, the mean interval ``width`` and ``nsim`` used.

    The coverage is averaged over the school effects u_j: every replicate
    draws them afresh, so it says how often the interval covers in the
    population of schools, not for a school with a given u_j (see
    :func:`conditional_coverage`).

    With ``return_replicates=True`` the result is a pair ``(table,
    replicates)``; ``replicates`` has one row per replicate × term × method
    with the share of schools whose interval covers (column ``coverage``).
    Its mean over replicates is the coverage averaged over schools, and its
    standard deviation / √nsim that average's Monte-Carlo standard error
    (the per-school ``mc_se`` cannot give it: the schools of one replicate
    share γ̂, T̂ and σ̂²).
    """
    if not isinstance(nsim, (int, np.integer)) or nsim < 1:
        raise ValueError(f"nsim must be a positive integer, got {nsim!r}")
    z = _z(level)
    s = level1_structure(model, W)
    keep = _select_terms(s, terms, model.formula)
    _check_appendix(s)
    rng = np.random.default_rng(seed)
    J, q = len(s.groups), s.q
    gamma0 = _shrinkage(s).gamma(s.W, s.b)
    mean_beta = np.einsum("jqr,r->jq", s.W, gamma0)
    if refit:
        est, se316, seapp, truth = _coverage_refit(model, s, mean_beta, nsim, rng)
    else:
        u = rng.standard_normal((nsim, J, q)) @ _psd_root(s.T).T
        truth = mean_beta + u
        rootA = _psd_root(s.A)  # (J, q, q)
        noise = np.sqrt(s.sigma2) * np.einsum("jqk,sjk->sjq", rootA, rng.standard_normal((nsim, J, q)))
        b = np.einsum("jqk,sjk->sjq", s.A, truth) + noise
        sh = _shrinkage(s)
        est = sh.beta_star(s, s.T, b, sh.gamma(s.W, b))
        se316 = np.broadcast_to(np.sqrt(np.diagonal(sh.vstar(s.W), axis1=1, axis2=2)), est.shape)
        seapp = np.broadcast_to(np.sqrt(np.diagonal(sh.vstar_appendix(s.T, s.A, s.sigma2), axis1=1,
                                                    axis2=2)), est.shape)
    frames, reps = [], []
    for method, se in (("eq3.16", se316), ("appendix", seapp)):
        valid = np.isfinite(se)
        cover = (np.abs(est - truth) <= z * se) & valid
        with np.errstate(invalid="ignore", divide="ignore"):
            share = cover.sum(axis=1) / valid.sum(axis=1)  # (nsim, q): share of schools covered
        for k in keep:
            reps.append(pd.DataFrame({"replicate": np.arange(nsim), "term": s.names[k], "method": method,
                                      "coverage": share[:, k]}))
        nval = valid.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            cov = cover.sum(axis=0) / nval
            width = np.where(valid, 2 * z * se, 0).sum(axis=0) / nval
        for k in keep:
            frames.append(pd.DataFrame({
                "group": s.groups, "term": s.names[k], "n": s.n, "method": method,
                "coverage": cov[:, k], "mc_se": np.sqrt(cov[:, k] * (1 - cov[:, k]) / nval[:, k]),
                "width": width[:, k], "nsim": nval[:, k]}))
    out = pd.concat(frames, ignore_index=True)
    out.attrs.update(level=level, refit=refit, seed=seed)
    if return_replicates:
        replicates = pd.concat(reps, ignore_index=True)
        replicates.attrs.update(level=level, refit=refit, seed=seed)
        return out, replicates
    return out


def _conditional_pieces(s: Level1Structure):
    """The pieces of β*_j − β_j = (Λ_j + G_j) e_j + H_j u_j + (others) for known T, σ²:
    H_j (J, q, q), the covariance of the e_j term and of the other schools' term."""
    sh = _shrinkage(s)
    q = s.q
    ImL = np.eye(q) - sh.Lam                                    # (J, q, q)
    B = ImL @ s.W @ sh.Vgamma                                   # (I − Λ_j) W_j Var(γ̂)
    BWt = B @ np.swapaxes(s.W, 1, 2)                            # (I − Λ_j) W_j Var(γ̂) W_j'
    H = BWt @ sh.P - ImL                                        # coefficient of u_j
    K = s.T + BWt                                               # (Λ_j + G_j) = K_j Δ_j⁻¹, Δ_j⁻¹ e_j = M_j X_j'r_j
    KM = K @ sh.M
    var_e = s.sigma2 * KM @ s.A @ np.swapaxes(KM, 1, 2)
    info_rest = np.linalg.inv(sh.Vgamma) - np.swapaxes(s.W, 1, 2) @ sh.P @ s.W  # Σ_{k≠j} W_k'Δ_k⁻¹W_k
    var_rest = B @ info_rest @ np.swapaxes(B, 1, 2)
    return sh, H, var_e + var_rest


def conditional_coverage(model: LmerFit, multiples=(-2, -1, 0, 1, 2), level: float = 0.95, terms=None,
                         W=None) -> pd.DataFrame:
    """Coverage of every school's eq. 3.16 (and appendix) interval *given* its
    school effect, with T and σ² known.

    :func:`coverage_study` averages over the school effects u_j.  Here school
    j's effect on coefficient q is held at ``u_qj = m √τ_qq`` for each ``m`` in
    ``multiples``; its other effects are drawn from their normal distribution
    given u_qj, and the other schools and all students from the model.  Then
    β*_qj − β_qj is normal with a mean that grows with m (shrinkage pulls the
    estimate towards W_j γ, away from a school that is truly far from it) and
    a variance smaller than V*_qqj, and the coverage is computed exactly:
    Φ((z se − μ)/s) − Φ((−z se − μ)/s).  Averaged over m ~ N(0, 1) it is the
    nominal level for eq. 3.16.

    Returns a tidy DataFrame: ``group, term, n, multiple, method, coverage,
    bias`` (the mean of β*_qj − β_qj) and ``sd`` (its standard deviation).
    """
    z = _z(level)
    s = level1_structure(model, W)
    keep = _select_terms(s, terms, model.formula)
    multiples = np.atleast_1d(np.asarray(multiples, dtype=float))
    sh, H, var0 = _conditional_pieces(s)
    ses = {"eq3.16": np.sqrt(np.diagonal(sh.vstar(s.W), axis1=1, axis2=2))}
    if s.is_identity_W and s.random.all() and np.linalg.matrix_rank(s.T) == s.q:
        ses["appendix"] = np.sqrt(np.diagonal(sh.vstar_appendix(s.T, s.A, s.sigma2), axis1=1, axis2=2))
    frames = []
    for k in keep:
        tqq = s.T[k, k]
        direction = s.T[:, k] / np.sqrt(tqq)                       # E(u_j | u_qj = m√τ_qq) = m · direction
        S = s.T - np.outer(s.T[:, k], s.T[:, k]) / tqq             # Var(u_j | u_qj)
        var = var0 + H @ S @ np.swapaxes(H, 1, 2)
        sd = np.sqrt(var[:, k, k])
        mu = multiples[:, None] * (H @ direction)[None, :, k]            # (M, J)
        nm, J = mu.shape
        for method, se in ses.items():
            half = z * se[:, k]
            cov = stats.norm.cdf((half - mu) / sd) - stats.norm.cdf((-half - mu) / sd)
            frames.append(pd.DataFrame({"group": np.tile(s.groups, nm), "term": s.names[k], "n": np.tile(s.n, nm),
                                        "multiple": np.repeat(multiples, J), "method": method,
                                        "coverage": cov.ravel(), "bias": mu.ravel(), "sd": np.tile(sd, nm)}))
    out = pd.concat(frames, ignore_index=True)
    out.attrs.update(level=level)
    return out


def conditional_coverage_sim(model: LmerFit, groups, multiples=(-2, -1, 0, 1, 2), nsim: int = 4000, seed=None,
                             level: float = 0.95, terms=None) -> pd.DataFrame:
    """Monte-Carlo check of :func:`conditional_coverage` for chosen schools.

    For each school in ``groups``, term and multiple m, ``nsim`` data sets are
    simulated as in :func:`coverage_study` (known T, σ²; vectorized over
    replicates) except that the school's effect u_qj is held at m √τ_qq and its
    other effects are drawn given u_qj.  Returns ``group, term, n, multiple,
    coverage, mc_se`` for the eq. 3.16 intervals.
    """
    if not isinstance(nsim, (int, np.integer)) or nsim < 1:
        raise ValueError(f"nsim must be a positive integer, got {nsim!r}")
    z = _z(level)
    s = level1_structure(model)
    keep = _select_terms(s, terms, model.formula)
    groups = list(groups)
    unknown = [g for g in groups if g not in s.groups]
    if unknown:
        raise MixedModelError(f"groups {unknown} are not groups of the model")
    rng = np.random.default_rng(seed)
    J, q = len(s.groups), s.q
    sh = _shrinkage(s)
    se = np.sqrt(np.diagonal(sh.vstar(s.W), axis1=1, axis2=2))
    mean_beta = np.einsum("jqr,r->jq", s.W, sh.gamma(s.W, s.b))
    rootT, rootA = _psd_root(s.T), _psd_root(s.A)
    rows = []
    for g in groups:
        j = list(s.groups).index(g)
        for k in keep:
            tqq = s.T[k, k]
            direction = s.T[:, k] / np.sqrt(tqq)
            rootS = _psd_root(s.T - np.outer(s.T[:, k], s.T[:, k]) / tqq)
            for m in np.atleast_1d(np.asarray(multiples, dtype=float)):
                u = rng.standard_normal((nsim, J, q)) @ rootT.T
                u[:, j] = m * direction + rng.standard_normal((nsim, q)) @ rootS.T
                truth = mean_beta + u
                noise = np.sqrt(s.sigma2) * np.einsum("jqk,sjk->sjq", rootA, rng.standard_normal((nsim, J, q)))
                b = np.einsum("jqk,sjk->sjq", s.A, truth) + noise
                est = sh.beta_star(s, s.T, b, sh.gamma(s.W, b))
                cover = np.abs(est[:, j, k] - truth[:, j, k]) <= z * se[j, k]
                p = cover.mean()
                rows.append({"group": g, "term": s.names[k], "n": int(s.n[j]), "multiple": m, "coverage": p,
                             "mc_se": np.sqrt(p * (1 - p) / nsim)})
    out = pd.DataFrame(rows)
    out.attrs.update(level=level, seed=seed)
    return out


def _coverage_refit(model, s, mean_beta, nsim, rng):
    """Replicates with a REML refit each (``inference.refit_many``, batched):
    returns β*, the two SE arrays and the true β_j, each (nsim, J, q)."""
    from scipy import sparse

    from .inference import refit_many
    from .lmer import lambda_theta

    J, q = len(s.groups), s.q
    truth = mean_beta + rng.standard_normal((nsim, J, q)) @ _psd_root(s.T).T
    n = len(s.codes)
    Y = np.einsum("iq,siq->si", s.X, truth[:, s.codes, :]) + np.sqrt(s.sigma2) * rng.standard_normal((nsim, n))
    fits = refit_many(model, Y)
    S = sparse.csr_matrix((np.ones(n), (s.codes, np.arange(n))), shape=(J, n))
    b = np.stack([(S @ (Y.T * s.X[:, k:k + 1])).T for k in range(q)], axis=-1)  # (nsim, J, q)
    idx = [s.names.index(r) for r in model.random_names]
    est = np.empty((nsim, J, q))
    se316 = np.empty((nsim, J, q))
    seapp = np.full((nsim, J, q), np.nan)
    for i in range(nsim):
        lam = lambda_theta(fits.theta[i], len(idx))
        T = np.zeros((q, q))
        T[np.ix_(idx, idx)] = fits.sigma[i] ** 2 * lam @ lam.T
        si = dataclasses.replace(s, T=T, sigma2=float(fits.sigma[i] ** 2), b=b[i])
        sh = _shrinkage(si)
        est[i] = sh.beta_star(si, T, b[i], sh.gamma(si.W, b[i]))
        se316[i] = np.sqrt(np.diagonal(sh.vstar(si.W), axis1=1, axis2=2))
        if np.linalg.matrix_rank(T, hermitian=True) == q:
            seapp[i] = np.sqrt(np.diagonal(sh.vstar_appendix(T, si.A, si.sigma2), axis1=1, axis2=2))
    return est, se316, seapp, truth
