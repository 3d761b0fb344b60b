"""An exact, small engine for two-level linear mixed models.

The engine follows the computational method of lme4 as set out in

    Bates, D., Mächler, M., Bolker, B. & Walker, S. (2015). Fitting Linear
    Mixed-Effects Models Using lme4. *Journal of Statistical Software* 67(1).

Section and equation numbers in the docstrings refer to that paper.  The
model (§3.1, eqs. 2–3) is

    y | b ~ N(X β + Z b, σ² I),     b = Λθ u,     u ~ N(0, σ² I_q),

for a single grouping factor with ``q`` random-effect terms per group, so the
random-effects covariance is ``T = σ² Λθ Λθ'`` and ``Λθ`` is block diagonal
with one lower-triangular ``q × q`` block per group (eq. 4).  Because the
blocks are identical and ``Z'Z`` is block diagonal, every quantity the paper
computes from the sparse Cholesky factor ``Lθ`` is computed here from
per-group ``q × q`` cross-products, batched with numpy.

Sections of this module:

1. formula parsing (§2.1: the ``(expr | g)`` syntax, one grouping factor);
2. model matrices and per-group cross-products;
3. the relative covariance factor Λθ (§3.1, eq. 4);
4. penalized least squares and the profiled deviance (§3.2–3.4, eqs. 14–42);
5. optimization of the profiled deviance (§3.5–3.6) with a check optimizer;
6. the fitted-model object (§4–5: fixef, ranef, VarCorr, vcov, summary).
"""

from __future__ import annotations

import ast
import re
import warnings
from dataclasses import dataclass, field

import nlopt
import numpy as np
import pandas as pd
import patsy
from scipy import linalg, optimize

__all__ = [
    "lmer",
    "LmerFit",
    "MixedModelError",
    "parse_formula",
    "lambda_theta",
    "profiled_deviance",
    "pls_solve",
]

LOG_2PI = np.log(2.0 * np.pi)
#: lme4's isSingular() tolerance on θ components bounded below by zero.
SINGULAR_TOL = 1e-4


class MixedModelError(ValueError):
    """Raised for input that cannot define the requested mixed model."""


# ---------------------------------------------------------------------------
# 1. Formula parsing
# ---------------------------------------------------------------------------
_BAR = re.compile(r"\(([^()|]*(?:\([^()]*\)[^()|]*)*)\|\s*([A-Za-z_][\w.]*)\s*\)")


@dataclass(frozen=True)
class ParsedFormula:
    """The pieces of an lme4 formula ``y ~ fixed + (random | group)``."""

    response: str
    fixed: str  # right-hand side of the fixed part, patsy syntax
    random: str  # the expression left of the bar, e.g. "1 + cses"
    group: str

    @property
    def fixed_formula(self) -> str:
        return f"{self.response} ~ {self.fixed}"


def parse_formula(formula: str) -> ParsedFormula:
    """Split an lme4 formula into response, fixed part, random part and group.

    Exactly one random-effects term ``(expr | g)`` is supported (a two-level
    model); ``expr`` may be ``1``, ``x``, ``1 + x``, ``0 + x`` or ``x - 1``,
    with the intercept implied unless removed, as in lme4 (§2.1, Table 2).
    """
    if not isinstance(formula, str) or "~" not in formula:
        raise MixedModelError(f"formula must be a string 'y ~ x + (1 | g)', got {formula!r}")
    if "||" in formula:
        raise MixedModelError("the double-bar syntax (x || g) is not supported; write (1 | g) + ... "
                              "is not supported either: use one term (1 + x | g)")
    lhs, rhs = formula.split("~", 1)
    response = lhs.strip()
    if not response:
        raise MixedModelError(f"formula {formula!r} has no response on the left of '~'")
    bars = list(_BAR.finditer(rhs))
    if not bars:
        raise MixedModelError(
            f"formula {formula!r} has no random-effects term: add one such as (1 | school); "
            "for a model without random effects use statsmodels' ols")
    if len(bars) > 1:
        raise MixedModelError(
            f"formula {formula!r} has {len(bars)} random-effects terms; this engine fits two-level "
            "models with a single term (expr | group), e.g. (1 + x | school)")
    bar = bars[0]
    fixed = (rhs[: bar.start()] + rhs[bar.end():]).strip()
    # tidy dangling '+' signs left where the bar term was removed
    fixed = re.sub(r"\+\s*\+", "+", fixed)
    fixed = re.sub(r"^\s*\+|\+\s*$", "", fixed).strip()
    fixed = re.sub(r"\+\s*-", "-", fixed)
    if not fixed:
        fixed = "1"
    random = bar.group(1).strip()
    if not random:
        raise MixedModelError(f"empty random-effects term in {formula!r}")
    return ParsedFormula(response, fixed, random, bar.group(2))


def _formula_variables(expr: str) -> set[str]:
    """Names of data columns referenced by a patsy right-hand side."""
    names: set[str] = set()
    desc = patsy.ModelDesc.from_formula(expr)
    for term in desc.rhs_termlist + desc.lhs_termlist:
        for factor in term.factors:
            code = factor.name()
            try:
                tree = ast.parse(code, mode="eval")
            except SyntaxError:  # pragma: no cover - patsy accepted it
                continue
            called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
            attr_bases = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
            for node in ast.walk(tree):
                if isinstance(node, ast.Name) and id(node) not in called and id(node) not in attr_bases:
                    names.add(node.id)
    return names


# ---------------------------------------------------------------------------
# 2. Model matrices and per-group cross-products
# ---------------------------------------------------------------------------
def lme4_name(patsy_name: str) -> str:
    """Translate a patsy column name into the name lme4 prints.

    ``Intercept`` → ``(Intercept)``, ``sector[T.Catholic]`` → ``sectorCatholic``,
    ``cses:sector[T.Catholic]`` → ``cses:sectorCatholic``.
    """
    if patsy_name == "Intercept":
        return "(Intercept)"
    return re.sub(r"\[(?:T\.)?([^\]]+)\]", r"\1", patsy_name)


@dataclass
class CrossProducts:
    """Per-group cross-products of ``W = [Z | X | y]``.

    ``ZtZ`` is (J, q, q), ``ZtX`` (J, q, p), ``Zty`` (J, q); ``XtX``, ``Xty`` and
    ``yty`` are the totals over groups.  These are all the data the profiled
    deviance needs (§3.2–3.3): an evaluation costs O(J q³ + p³), not O(n).
    """

    ZtZ: np.ndarray
    ZtX: np.ndarray
    Zty: np.ndarray
    XtX: np.ndarray
    Xty: np.ndarray
    yty: float
    n: int

    @property
    def q(self) -> int:
        return self.ZtZ.shape[1]

    @property
    def p(self) -> int:
        return self.XtX.shape[0]

    @classmethod
    def from_arrays(cls, X: np.ndarray, Z: np.ndarray, y: np.ndarray, codes: np.ndarray,
                    ngroups: int) -> "CrossProducts":
        """Accumulate ``W_j'W_j`` for every group ``j`` in one pass."""
        q = Z.shape[1]
        W = np.column_stack([Z, X, y])
        outer = W[:, :q, None] * W[:, None, :]  # (n, q, m): Z rows times W rows
        C = np.zeros((ngroups, q, W.shape[1]))
        np.add.at(C, codes, outer)
        XtX = X.T @ X
        return cls(ZtZ=C[:, :, :q].copy(), ZtX=C[:, :, q:-1].copy(), Zty=C[:, :, -1].copy(),
                   XtX=XtX, Xty=X.T @ y, yty=float(y @ y), n=len(y))


# ---------------------------------------------------------------------------
# 3. The relative covariance factor Λθ
# ---------------------------------------------------------------------------
def theta_lower(q: int) -> np.ndarray:
    """Lower bounds on θ: 0 for diagonal elements of Λθ, -∞ otherwise (§3.1)."""
    rows, cols = np.triu_indices(q)
    return np.where(rows == cols, 0.0, -np.inf)


def theta_start(q: int) -> np.ndarray:
    """lme4's starting value: Λθ = I (diagonal 1, off-diagonal 0)."""
    rows, cols = np.triu_indices(q)
    return np.where(rows == cols, 1.0, 0.0)


def lambda_theta(theta: np.ndarray, q: int) -> np.ndarray:
    """The ``q × q`` lower-triangular template of Λθ (eq. 4).

    θ fills the lower triangle column by column, as in lme4: for ``q = 2``,
    ``θ = (λ11, λ21, λ22)``.
    """
    rows, cols = np.triu_indices(q)
    lam = np.zeros((q, q))
    lam[cols, rows] = theta
    return lam


# ---------------------------------------------------------------------------
# 4. Penalized least squares and the profiled deviance
# ---------------------------------------------------------------------------
def block_inverse(M: np.ndarray) -> tuple[np.ndarray, float]:
    """Inverses and total log-determinant of a stack of SPD ``q × q`` blocks.

    ``M_j = L_j L_j'`` are the diagonal blocks of Lθ Lθ' (eq. 18), so the sum of
    ``log det M_j`` is log |Lθ|².  Closed forms (adjugates) for q ≤ 3 (the
    seeds' models) avoid per-block LAPACK calls.
    """
    inv, logdet = block_inverse_batch(M)
    return inv, float(np.sum(logdet))


def block_inverse_batch(M: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``block_inverse`` over any leading dimensions: returns the inverses and
    the log-determinant of each block (shape ``M.shape[:-2]``)."""
    q = M.shape[-1]
    if q == 1:
        d = M[..., 0, 0]
        return (1.0 / d)[..., None, None], np.log(d)
    if q == 2:
        a, b, c = M[..., 0, 0], M[..., 0, 1], M[..., 1, 1]
        det = a * c - b * b
        inv = np.empty_like(M)
        inv[..., 0, 0] = c / det
        inv[..., 1, 1] = a / det
        inv[..., 0, 1] = inv[..., 1, 0] = -b / det
        return inv, np.log(det)
    if q == 3:
        a, b, c = M[..., 0, 0], M[..., 0, 1], M[..., 0, 2]
        d, e, f = M[..., 1, 1], M[..., 1, 2], M[..., 2, 2]
        c00, c01, c02 = d * f - e * e, c * e - b * f, b * e - c * d
        det = a * c00 + b * c01 + c * c02
        inv = np.empty_like(M)
        inv[..., 0, 0], inv[..., 1, 1], inv[..., 2, 2] = c00, a * f - c * c, a * d - b * b
        inv[..., 0, 1] = inv[..., 1, 0] = c01
        inv[..., 0, 2] = inv[..., 2, 0] = c02
        inv[..., 1, 2] = inv[..., 2, 1] = b * c - a * e
        return inv / det[..., None, None], np.log(det)
    L = np.linalg.cholesky(M)
    Linv = np.linalg.inv(L)
    return np.swapaxes(Linv, -1, -2) @ Linv, 2.0 * np.sum(np.log(np.diagonal(L, axis1=-2, axis2=-1)), axis=-1)


@dataclass
class PLSSolution:
    """Everything §3.2–3.4 computes at one value of θ."""

    theta: np.ndarray
    Lambda: np.ndarray  # q × q template of Λθ
    Minv: np.ndarray  # (J, q, q) inverses of L_j L_j' = Λ'Z_j'Z_jΛ + I (eq. 18)
    RX: np.ndarray  # p × p upper triangular, R_X'R_X = X'X - R_ZX'R_ZX (eq. 18)
    beta: np.ndarray  # conditional estimate β̂_θ (eq. 19)
    u: np.ndarray  # (J, q) conditional modes of the spherical random effects
    pwrss: float  # penalized weighted residual sum of squares r²_θ (eq. 16)
    logdet_L: float  # log |Lθ|²
    logdet_RX: float  # log |R_X|²
    n: int
    p: int

    @property
    def b(self) -> np.ndarray:
        """Conditional modes on the original scale, b_j = Λθ u_j (eq. 3)."""
        return self.u @ self.Lambda.T

    def deviance(self, reml: bool) -> float:
        """Profiled deviance (eq. 34, ML) or REML criterion (eq. 41)."""
        if reml:
            df = self.n - self.p
            return self.logdet_L + self.logdet_RX + df * (1.0 + LOG_2PI + np.log(self.pwrss / df))
        return self.logdet_L + self.n * (1.0 + LOG_2PI + np.log(self.pwrss / self.n))

    def sigma2(self, reml: bool) -> float:
        """Conditional estimate of σ² (eqs. 33 and 40)."""
        return self.pwrss / (self.n - self.p if reml else self.n)


def pls_solve(theta: np.ndarray, xp: CrossProducts) -> PLSSolution:
    """Solve the penalized least squares problem at θ (§3.2–3.3, eqs. 14–19).

    With ``M_j = Λ'Z_j'Z_jΛ + I = L_j L_j'`` the blocked Cholesky factorization
    (eq. 18) has ``R_ZX'R_ZX = Σ_j X'Z_jΛ M_j⁻¹ Λ'Z_j'X`` and
    ``R_X'R_X = X'X − R_ZX'R_ZX``; ``β̂_θ`` solves
    ``R_X'R_X β = X'y − Σ_j X'Z_jΛ M_j⁻¹ Λ'Z_j'y`` (eq. 19),
    ``u_j = M_j⁻¹ Λ'Z_j'(y − Xβ̂)`` and the penalized residual sum of squares
    is ``r²_θ = y'y − ‖c_u‖² − ‖c_β‖²`` (eq. 16) with
    ``‖c_u‖² = Σ_j y'Z_jΛ M_j⁻¹ Λ'Z_j'y``.
    """
    q, p = xp.q, xp.p
    theta = np.asarray(theta, dtype=float)
    lam = lambda_theta(theta, q)
    Minv, logdet_L = block_inverse(lam.T @ xp.ZtZ @ lam + np.eye(q))
    rhs = np.concatenate([lam.T @ xp.ZtX, (lam.T @ xp.Zty[:, :, None])], axis=2)  # Λ'Z_j'[X y]
    Mrhs = Minv @ rhs
    S = np.tensordot(rhs, Mrhs, axes=([0, 1], [0, 1]))  # Σ_j [X y]'Z_jΛ M_j⁻¹ Λ'Z_j'[X y]
    A = xp.XtX - S[:p, :p]
    rhs_beta = xp.Xty - S[:p, p]
    try:
        RX = linalg.cholesky(A, lower=False, check_finite=False)
    except linalg.LinAlgError as err:  # pragma: no cover - guarded by the rank check
        raise MixedModelError("the fixed-effects cross-product R_X'R_X is not positive definite") from err
    cbeta = linalg.solve_triangular(RX, rhs_beta, trans="T", check_finite=False)
    beta = linalg.solve_triangular(RX, cbeta, check_finite=False)
    u = Mrhs[:, :, p] - Mrhs[:, :, :p] @ beta
    pwrss = xp.yty - float(S[p, p]) - float(cbeta @ cbeta)
    logdet_RX = 2.0 * float(np.sum(np.log(np.abs(np.diag(RX)))))
    return PLSSolution(theta=theta, Lambda=lam, Minv=Minv, RX=RX, beta=beta, u=u,
                       pwrss=pwrss, logdet_L=logdet_L, logdet_RX=logdet_RX, n=xp.n, p=p)


def profiled_deviance(theta: np.ndarray, xp: CrossProducts, reml: bool = True) -> float:
    """The objective optimized over θ: REML criterion (eq. 41) or deviance (eq. 34)."""
    return pls_solve(theta, xp).deviance(reml)


# ---------------------------------------------------------------------------
# 5. Optimization
# ---------------------------------------------------------------------------
@dataclass
class OptimizerRun:
    name: str
    start: np.ndarray
    theta: np.ndarray
    criterion: float
    evaluations: int
    status: str


def _nlopt_minimize(fun, x0, lower, algorithm, name, maxeval=10_000) -> OptimizerRun:
    n = len(x0)
    opt = nlopt.opt(algorithm, n)
    opt.set_lower_bounds(lower)
    opt.set_upper_bounds(np.full(n, np.inf))
    count = [0]

    def f(x, grad):
        count[0] += 1
        try:
            return fun(x)
        except (np.linalg.LinAlgError, FloatingPointError, ValueError):
            return np.inf

    opt.set_min_objective(f)
    opt.set_ftol_abs(1e-11)
    opt.set_xtol_abs(1e-10)
    opt.set_maxeval(maxeval)
    opt.set_initial_step(np.where(np.asarray(x0) > 0.25, 0.25 * np.asarray(x0), 0.1))
    x0 = np.maximum(np.asarray(x0, dtype=float), lower)
    try:
        x = opt.optimize(x0)
        status = {1: "success", 3: "ftol reached", 4: "xtol reached", 5: "maxeval reached"}.get(
            opt.last_optimize_result(), f"nlopt code {opt.last_optimize_result()}")
    except nlopt.RoundoffLimited:
        x = x0 if opt.last_optimum_value() is None else x0
        status = "roundoff limited"
    return OptimizerRun(name, np.array(x0), np.asarray(x), float(fun(x)), count[0], status)


def _lbfgsb_minimize(fun, x0, lower) -> OptimizerRun:
    count = [0]

    def f(x):
        count[0] += 1
        try:
            return fun(x)
        except (np.linalg.LinAlgError, FloatingPointError, ValueError):
            return 1e300

    bounds = [(lo if np.isfinite(lo) else None, None) for lo in lower]
    res = optimize.minimize(f, np.maximum(x0, lower), method="L-BFGS-B", bounds=bounds,
                            options={"ftol": 1e-14, "gtol": 1e-8, "maxiter": 2000})
    return OptimizerRun("lbfgsb", np.array(x0, dtype=float), np.asarray(res.x), float(fun(res.x)),
                        count[0], "success" if res.success else str(res.message))


def optimize_theta(xp: CrossProducts, reml: bool, start: np.ndarray | None = None,
                   check: bool = True) -> list[OptimizerRun]:
    """Minimize the profiled criterion over θ (§3.6) with two optimizers and restarts.

    1. BOBYQA from lme4's start (Λθ = I), as lme4's default ``nloptwrap`` does;
    2. L-BFGS-B (scipy, finite-difference gradients) from the same start, the
       check optimizer (lme4's ``allFit`` idea);
    3. if the best θ has a diagonal element at its bound of zero, BOBYQA again
       from that point moved off the boundary: lme4's default can stop at a
       false boundary, and a restart shows whether the boundary is real;
    4. a final BOBYQA polish when the best point did not come from run 1.

    ``check=False`` skips step 2 (used by bootstrap refits, which start at
    the estimate); the boundary restart is always done.
    Returns every run; the caller keeps the one with the smallest criterion.
    """
    q = xp.q
    lower = theta_lower(q)
    x0 = theta_start(q) if start is None else np.asarray(start, dtype=float)

    def fun(th):
        return profiled_deviance(th, xp, reml)

    runs = [_nlopt_minimize(fun, x0, lower, nlopt.LN_BOBYQA, "bobyqa")]
    if check:
        runs.append(_lbfgsb_minimize(fun, x0, lower))
    best = min(runs, key=lambda r: r.criterion)
    diag = lower == 0
    on_bound = diag & (best.theta < SINGULAR_TOL)
    if on_bound.any():
        moved = best.theta.copy()
        moved[on_bound] = 0.3
        runs.append(_nlopt_minimize(fun, moved, lower, nlopt.LN_BOBYQA, "bobyqa_off_boundary"))
        best = min(runs, key=lambda r: r.criterion)
    if best is not runs[0]:
        runs.append(_nlopt_minimize(fun, best.theta, lower, nlopt.LN_BOBYQA, "bobyqa_polish"))
    return runs


# ---------------------------------------------------------------------------
# 6. The fitted model
# ---------------------------------------------------------------------------
@dataclass
class LmerFit:
    """A fitted two-level linear mixed model, with lme4's accessors.

    Bryk–Raudenbush names: ``fixef`` are the γ's, ``tau`` is T, ``sigma2`` is σ²,
    ``ranef`` are the u_j (lme4's conditional modes b_j), ``coef`` the β_j.
    """

    formula: str
    parsed: ParsedFormula
    reml: bool
    data: pd.DataFrame
    X: np.ndarray
    Z: np.ndarray
    y: np.ndarray
    codes: np.ndarray
    groups: pd.Index
    fixed_names: list[str]
    random_names: list[str]
    xp: CrossProducts
    pls: PLSSolution
    runs: list[OptimizerRun]
    n_dropped: int = 0
    _fixed_design_info: object = field(default=None, repr=False)
    _random_design_info: object = field(default=None, repr=False)
    _fixed_r_names: dict = field(default=None, repr=False)  # patsy column -> R's name (r_column_names)

    # -- sizes -------------------------------------------------------------
    @property
    def nobs(self) -> int:
        return self.xp.n

    @property
    def ngroups(self) -> int:
        return len(self.groups)

    @property
    def group(self) -> str:
        return self.parsed.group

    @property
    def theta(self) -> np.ndarray:
        return self.pls.theta

    @property
    def npar(self) -> int:
        """Number of parameters: fixed effects, θ, and σ (as in lme4's logLik df)."""
        return len(self.fixed_names) + len(self.theta) + 1

    # -- criteria ----------------------------------------------------------
    @property
    def reml_criterion(self) -> float:
        """REML criterion at convergence (−2 × REML log-likelihood, eq. 41)."""
        return self.pls.deviance(reml=True)

    @property
    def deviance(self) -> float:
        """lme4's ``deviance()``: for ML fits the deviance −2ℓ (eq. 34); for
        REML fits the ML deviance profiled at the REML estimate of θ."""
        return self.pls.deviance(reml=False)

    @property
    def loglik(self) -> float:
        """log-likelihood as lme4's ``logLik``: REML log-likelihood for REML fits."""
        return -0.5 * self.pls.deviance(self.reml)

    @property
    def aic(self) -> float:
        return -2.0 * self.loglik + 2.0 * self.npar

    @property
    def bic(self) -> float:
        return -2.0 * self.loglik + np.log(self.nobs) * self.npar

    # -- variance components -----------------------------------------------
    @property
    def sigma2(self) -> float:
        """Level-1 variance σ² (eq. 33 for ML, eq. 40 for REML)."""
        return self.pls.sigma2(self.reml)

    @property
    def sigma(self) -> float:
        return float(np.sqrt(self.sigma2))

    @property
    def tau(self) -> pd.DataFrame:
        """Level-2 covariance matrix T = σ² Λθ Λθ' of the random effects."""
        lam = self.pls.Lambda
        return pd.DataFrame(self.sigma2 * lam @ lam.T, index=self.random_names, columns=self.random_names)

    @property
    def corr(self) -> pd.DataFrame:
        """Correlations of the random effects (NaN where a variance is zero)."""
        T = self.tau.to_numpy()
        sd = np.sqrt(np.diag(T))
        with np.errstate(invalid="ignore", divide="ignore"):
            R = T / np.outer(sd, sd)
        return pd.DataFrame(R, index=self.random_names, columns=self.random_names)

    @property
    def varcorr(self) -> pd.DataFrame:
        """lme4's ``VarCorr`` as a table: variance and SD of each random term and
        of the residual, with correlations in columns named after the terms."""
        T = self.tau
        rows = pd.DataFrame({"Groups": self.group, "Name": self.random_names,
                             "Variance": np.diag(T), "Std.Dev.": np.sqrt(np.diag(T))})
        corr = self.corr.to_numpy()
        for k, name in enumerate(self.random_names[:-1]):
            col = np.full(len(self.random_names), np.nan)
            col[k + 1:] = corr[k + 1:, k]
            rows[f"Corr.{name}"] = col
        resid = pd.DataFrame({"Groups": ["Residual"], "Name": [""], "Variance": [self.sigma2],
                              "Std.Dev.": [self.sigma]})
        return pd.concat([rows, resid], ignore_index=True)

    @property
    def singular(self) -> bool:
        """lme4's ``isSingular``: a diagonal element of Λθ below 1e-4."""
        return bool(np.any(self.theta[theta_lower(self.xp.q) == 0] < SINGULAR_TOL))

    # -- fixed effects -----------------------------------------------------
    @property
    def fixef(self) -> pd.Series:
        """Fixed-effects estimates γ̂ (eq. 19), named as lme4 names them."""
        return pd.Series(self.pls.beta, index=self.fixed_names, name="Estimate")

    @property
    def vcov(self) -> pd.DataFrame:
        """σ̂² (R_X'R_X)⁻¹, lme4's ``vcov`` (conditional on θ̂)."""
        RXinv = linalg.solve_triangular(self.pls.RX, np.eye(len(self.fixed_names)))
        V = self.sigma2 * RXinv @ RXinv.T
        return pd.DataFrame(V, index=self.fixed_names, columns=self.fixed_names)

    @property
    def se(self) -> pd.Series:
        return pd.Series(np.sqrt(np.diag(self.vcov)), index=self.fixed_names, name="Std. Error")

    @property
    def coef_table(self) -> pd.DataFrame:
        """lme4's fixed-effects table: Estimate, Std. Error, t value."""
        return pd.DataFrame({"Estimate": self.fixef, "Std. Error": self.se,
                             "t value": self.fixef / self.se})

    # -- random effects ----------------------------------------------------
    @property
    def ranef(self) -> pd.DataFrame:
        """Conditional modes b̂_j = Λθ û_j, one row per group (lme4's ``ranef``)."""
        return pd.DataFrame(self.pls.b, index=self.groups, columns=self.random_names)

    @property
    def cond_var(self) -> np.ndarray:
        """Conditional covariance of each b_j: σ² Λθ (L_j L_j')⁻¹ Λθ', shape (J, q, q).

        This is lme4's ``attr(ranef(m, condVar = TRUE)[[1]], "postVar")``
        (with groups first), conditional on β̂ and θ̂.
        """
        lam = self.pls.Lambda
        return self.sigma2 * lam @ self.pls.Minv @ lam.T

    @property
    def coef(self) -> pd.DataFrame:
        """Per-group coefficients β̂_j: fixed effects plus conditional modes (lme4's ``coef``)."""
        out = pd.DataFrame(np.tile(self.pls.beta, (self.ngroups, 1)), index=self.groups,
                           columns=self.fixed_names)
        b = self.ranef
        for name in self.random_names:
            if name not in out.columns:
                out[name] = 0.0
            out[name] = out[name] + b[name]
        return out

    # -- fitted values and residuals ------------------------------------------
    @property
    def fitted(self) -> pd.Series:
        """Conditional fitted values X β̂ + Z b̂."""
        b = self.pls.b[self.codes]
        return pd.Series(self.X @ self.pls.beta + np.sum(self.Z * b, axis=1), index=self.data.index,
                         name="fitted")

    @property
    def resid(self) -> pd.Series:
        """Level-1 residuals y − X β̂ − Z b̂."""
        return pd.Series(self.y - self.fitted.to_numpy(), index=self.data.index, name="resid")

    @property
    def scaled_resid(self) -> pd.Series:
        return (self.resid / self.sigma).rename("scaled_resid")

    # -- optimizer report ------------------------------------------------------
    @property
    def optimizers(self) -> pd.DataFrame:
        """Every optimizer run: criterion, θ, evaluations and status."""
        return pd.DataFrame({"optimizer": [r.name for r in self.runs],
                             "criterion": [r.criterion for r in self.runs],
                             "theta": [np.round(r.theta, 6) for r in self.runs],
                             "evaluations": [r.evaluations for r in self.runs],
                             "status": [r.status for r in self.runs]})

    @property
    def optimizer_spread(self) -> float:
        """Largest criterion difference between the two independent optimizers
        started from lme4's start (BOBYQA vs L-BFGS-B)."""
        crit = [r.criterion for r in self.runs if r.name in ("bobyqa", "lbfgsb")]
        return float(max(crit) - min(crit))

    @property
    def converged(self) -> bool:
        """True when the run that gave the estimate (the lowest criterion) ended normally.

        A check optimizer that stopped higher (e.g. L-BFGS-B after BOBYQA) does
        not make a good fit unconverged; a best run that hit its evaluation
        limit or a round-off stop does.
        """
        best = min(self.runs, key=lambda r: r.criterion)
        return best.status not in ("maxeval reached", "roundoff limited")

    # -- refitting -------------------------------------------------------------
    def refit(self, reml: bool | None = None, y: np.ndarray | None = None) -> "LmerFit":
        """Refit with the same design: switch REML/ML and/or use a new response."""
        reml = self.reml if reml is None else reml
        if y is None:
            xp = self.xp
            y_new = self.y
        else:
            y_new = np.asarray(y, dtype=float)
            if y_new.shape != self.y.shape:
                raise MixedModelError(f"new response has shape {y_new.shape}, expected {self.y.shape}")
            xp = _replace_response(self.xp, self.X, self.Z, y_new, self.codes)
        runs = optimize_theta(xp, reml, start=self.theta)
        best = min(runs, key=lambda r: r.criterion)
        fit = LmerFit(formula=self.formula, parsed=self.parsed, reml=reml, data=self.data, X=self.X,
                      Z=self.Z, y=y_new, codes=self.codes, groups=self.groups,
                      fixed_names=self.fixed_names, random_names=self.random_names, xp=xp,
                      pls=pls_solve(best.theta, xp), runs=runs, n_dropped=self.n_dropped,
                      _fixed_design_info=self._fixed_design_info,
                      _random_design_info=self._random_design_info, _fixed_r_names=self._fixed_r_names)
        return fit

    # -- printing ----------------------------------------------------------------
    def summary(self) -> str:
        """lme4's ``summary()`` as text (criterion, scaled residuals, random and
        fixed effects, correlation of fixed effects)."""
        lines = [f"Linear mixed model fit by {'REML' if self.reml else 'maximum likelihood'} (hlm_course.lmer)",
                 f"Formula: {self.formula}", ""]
        if self.reml:
            lines.append(f"REML criterion at convergence: {self.reml_criterion:.1f}")
        else:
            lines.append(f"{'AIC':>9}{'BIC':>10}{'logLik':>10}{'deviance':>10}{'df.resid':>10}")
            lines.append(f"{self.aic:9.1f}{self.bic:10.1f}{self.loglik:10.1f}{self.deviance:10.1f}"
                         f"{self.nobs - self.npar:10d}")
        q = np.quantile(self.scaled_resid, [0, 0.25, 0.5, 0.75, 1])
        lines += ["", "Scaled residuals:", "     Min       1Q   Median       3Q      Max",
                  " ".join(f"{v:8.4f}" for v in q), "", "Random effects:"]
        vc = self.varcorr
        header = f" {'Groups':<9}{'Name':<14}{'Variance':>10}{'Std.Dev.':>10}"
        if len(self.random_names) > 1:
            header += " Corr"
        lines.append(header)
        corr = self.corr.to_numpy()
        for k, row in vc.iterrows():
            grp = row["Groups"] if (k == 0 or row["Groups"] == "Residual") else ""
            line = f" {grp:<9}{row['Name']:<14}{row['Variance']:10.4g}{row['Std.Dev.']:10.4f}"
            if row["Groups"] != "Residual" and 0 < k:
                line += " " + " ".join(f"{corr[k, m]:5.2f}" for m in range(k))
            lines.append(line)
        lines.append(f"Number of obs: {self.nobs}, groups:  {self.group}, {self.ngroups}")
        lines += ["", "Fixed effects:", self.coef_table.to_string(float_format=lambda v: f"{v:.4f}")]
        if len(self.fixed_names) > 1:
            V = self.vcov.to_numpy()
            s = np.sqrt(np.diag(V))
            R = V / np.outer(s, s)
            short = [n[:6] for n in self.fixed_names]
            lines += ["", "Correlation of Fixed Effects:",
                      " " * 14 + " ".join(f"{s_:>6}" for s_ in short[:-1])]
            for i in range(1, len(short)):
                lines.append(f"{self.fixed_names[i][:13]:<14}" + " ".join(f"{R[i, j]:6.3f}" for j in range(i)))
        if self.singular:
            lines += ["", "boundary (singular) fit: a variance component is estimated as zero or a "
                      "correlation as ±1"]
        if self.n_dropped:
            lines += [f"{self.n_dropped} observation(s) with missing values were dropped"]
        return "\n".join(lines)

    def __repr__(self) -> str:  # pragma: no cover - convenience
        return self.summary()

    def _repr_html_(self) -> str:  # shown as plain text in notebooks
        from html import escape

        return f"<pre>{escape(self.summary())}</pre>"


def _replace_response(xp: CrossProducts, X, Z, y, codes) -> CrossProducts:
    """Cross-products for a new response with the same X and Z (used by refits
    and the bootstrap): only Z'y, X'y and y'y change."""
    Zty = np.zeros_like(xp.Zty)
    np.add.at(Zty, codes, Z * y[:, None])
    return CrossProducts(ZtZ=xp.ZtZ, ZtX=xp.ZtX, Zty=Zty, XtX=xp.XtX, Xty=X.T @ y,
                         yty=float(y @ y), n=xp.n)


def _check_columns(parsed: ParsedFormula, data: pd.DataFrame) -> None:
    needed = {parsed.response, parsed.group}
    try:
        needed |= _formula_variables(parsed.fixed) | _formula_variables(parsed.random)
    except patsy.PatsyError as err:
        raise MixedModelError(f"cannot parse the formula: {err}") from err
    missing = sorted(v for v in needed if v not in data.columns and v not in _PATSY_NAMES)
    if missing:
        raise MixedModelError(
            f"column(s) {missing} not found in data; available columns: {list(data.columns)}")


_PATSY_NAMES = {"C", "I", "Q", "Treatment", "Sum", "Poly", "Diff", "Helmert", "center", "standardize",
                "scale", "np", "bs", "cr", "cc", "te", "True", "False", "None"}


def _design(formula_rhs: str, data: pd.DataFrame, what: str) -> pd.DataFrame:
    """patsy design matrix with its columns in R's order.

    patsy groups terms by their numeric factors; R's ``model.matrix`` orders
    them by interaction order, then by first appearance.  We reorder so that
    ``fixef`` prints in the order the seeds' lme4 output does.
    """
    try:
        dm = patsy.dmatrix(formula_rhs, data, NA_action="drop", return_type="dataframe")
    except patsy.PatsyError as err:
        raise MixedModelError(f"could not build the {what} design from {formula_rhs!r}: {err}") from err
    info = dm.design_info
    termlist = patsy.ModelDesc.from_formula(formula_rhs).rhs_termlist
    appearance = {t: k for k, t in enumerate(termlist)}
    terms = sorted(info.term_slices, key=lambda t: (len(t.factors), appearance.get(t, len(appearance))))
    cols = [c for t in terms for c in info.column_names[info.term_slices[t]]]
    out = dm[cols]
    out.design_info = info
    out.attrs["r_names"] = r_column_names(info, termlist)
    return out


def r_column_names(info, termlist) -> dict[str, str]:
    """Map each patsy column name to the name R's ``model.matrix`` gives it.

    Besides :func:`lme4_name`'s spelling, R writes the variables of an
    interaction in the order the variables first appear in the formula:
    ``minority * sector + mean_ses * minority`` has the column
    ``minorityYes:mean_ses`` in R, which patsy calls ``mean_ses:minority[T.Yes]``.
    """
    first_seen: dict = {}
    for term in termlist:
        for factor in term.factors:
            first_seen.setdefault(factor, len(first_seen))
    names = {}
    for term, columns in info.term_slices.items():
        k = len(term.factors)
        perm = sorted(range(k), key=lambda i: first_seen.get(term.factors[i], k + i))
        for col in info.column_names[columns]:
            parts = col.split(":")
            if k > 1 and len(parts) == k and perm != list(range(k)):
                col_r = ":".join(parts[i] for i in perm)
            else:
                col_r = col
            names[col] = lme4_name(col_r)
    return names


def lmer(formula: str, data: pd.DataFrame, reml: bool = True) -> LmerFit:
    """Fit a two-level linear mixed model with lme4's method.

    Parameters
    ----------
    formula
        lme4 syntax with one random-effects term, e.g. ``"mathach ~ cses + (cses | school)"``,
        ``"normexam ~ standLRT + (1 | school)"``, ``"y ~ x + (0 + x | g)"``.
        The fixed part uses patsy (factors, ``C()``, ``*`` and ``:`` interactions).
    data
        A pandas DataFrame. Rows with missing values in any variable of the
        model are dropped (lme4's ``na.omit``) and counted in ``n_dropped``.
    reml
        REML (default, as lme4) or maximum likelihood.

    Returns
    -------
    LmerFit
    """
    if not isinstance(data, pd.DataFrame):
        raise MixedModelError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    parsed = parse_formula(formula)
    _check_columns(parsed, data)
    if not pd.api.types.is_numeric_dtype(data[parsed.response]) or pd.api.types.is_bool_dtype(
            data[parsed.response]):
        raise MixedModelError(
            f"response '{parsed.response}' must be numeric, got dtype {data[parsed.response].dtype}")

    Xdf = _design(parsed.fixed, data, "fixed-effects")
    Zdf = _design(parsed.random, data, "random-effects")
    keep = Xdf.index.intersection(Zdf.index)
    keep = keep[data.loc[keep, parsed.response].notna().to_numpy() & data.loc[keep, parsed.group].notna().to_numpy()]
    n_dropped = len(data) - len(keep)
    if n_dropped:
        warnings.warn(f"{n_dropped} row(s) with missing values in the model's variables were dropped "
                      f"(as lme4's na.omit)", stacklevel=2)
    if len(keep) == 0:
        raise MixedModelError("no complete rows: every row has a missing value in a model variable")
    frame = data.loc[keep]
    X = Xdf.loc[keep].to_numpy(dtype=float)
    Z = Zdf.loc[keep].to_numpy(dtype=float)
    y = frame[parsed.response].to_numpy(dtype=float)
    if not np.all(np.isfinite(y)):
        raise MixedModelError(f"response '{parsed.response}' has infinite values")
    codes, groups = pd.factorize(frame[parsed.group], sort=True)
    groups = pd.Index(groups, name=parsed.group)
    J = len(groups)
    fixed_names = [Xdf.attrs["r_names"][c] for c in Xdf.columns]
    random_names = [Zdf.attrs["r_names"][c] for c in Zdf.columns]
    _validate_design(X, Z, codes, J, fixed_names, random_names, parsed)

    xp = CrossProducts.from_arrays(X, Z, y, codes, J)
    runs = optimize_theta(xp, reml)
    best = min(runs, key=lambda r: r.criterion)
    fit = LmerFit(formula=formula, parsed=parsed, reml=reml, data=frame, X=X, Z=Z, y=y, codes=codes,
                  groups=groups, fixed_names=fixed_names, random_names=random_names, xp=xp,
                  pls=pls_solve(best.theta, xp), runs=runs, n_dropped=n_dropped,
                  _fixed_design_info=Xdf.design_info, _random_design_info=Zdf.design_info,
                  _fixed_r_names=Xdf.attrs["r_names"])
    if fit.singular:
        warnings.warn("boundary (singular) fit: a random-effect variance is estimated as zero or a "
                      "correlation as ±1; see the section on checking a fit", stacklevel=2)
    if fit.runs[0].criterion - fit.pls.deviance(reml) > 1e-3:
        warnings.warn(f"BOBYQA from lme4's start stopped {fit.runs[0].criterion - fit.pls.deviance(reml):.3g} "
                      "above the optimum found by the check optimizer or a restart; the best optimum was "
                      "kept (see fit.optimizers)", stacklevel=2)
    return fit


def _validate_design(X, Z, codes, J, fixed_names, random_names, parsed) -> None:
    """Clear errors for designs that cannot define the model (§3: lme4's checks)."""
    n, q = Z.shape
    if J < 2:
        raise MixedModelError(
            f"grouping factor '{parsed.group}' has only {J} level: a random effect needs at least two groups")
    if J * q >= n:
        raise MixedModelError(
            f"number of random effects ({J} groups × {q} terms = {J * q}) must be smaller than the "
            f"number of observations ({n}); the random effects would be unidentifiable")
    rank = np.linalg.matrix_rank(X)
    if rank < X.shape[1]:
        # find columns that are linear combinations of the previous ones
        bad = [fixed_names[k] for k in range(1, X.shape[1])
               if np.linalg.matrix_rank(X[:, : k + 1]) <= np.linalg.matrix_rank(X[:, :k])]
        raise MixedModelError(f"fixed-effects design matrix is rank deficient (rank {rank} < {X.shape[1]} "
                              f"columns): {bad} are linear combinations of earlier columns")
    if q > 1:
        has_int = "(Intercept)" in random_names
        if has_int:
            for k, name in enumerate(random_names):
                if name == "(Intercept)":
                    continue
                counts = np.bincount(codes, minlength=J)
                means = np.bincount(codes, weights=Z[:, k], minlength=J) / counts
                if np.max(np.abs(Z[:, k] - means[codes])) < 1e-12:
                    raise MixedModelError(
                        f"random slope '{name}' is constant within every group of '{parsed.group}': it is a "
                        "level-2 variable, so its random slope cannot be told apart from the random "
                        f"intercept; remove '{name}' from the random part")
