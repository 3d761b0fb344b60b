"""Generalized linear mixed models: lme4's ``glmer`` for binary and count outcomes.

Bates et al. (2015), §6, and lme4's ``R/lmer.R`` (``glmer``),
``R/modular.R`` (``glFormula``, ``mkGlmerDevfun``, ``optimizeGlmer``,
``updateGlmerDevfun``): the same chain of stages as :func:`~hlm_course.lmer`:

1. **formula** — :func:`parse_glmer_formula`: response (a 0/1 or factor
   column, ``cbind(successes, failures)``, a proportion with ``weights``, a
   count), fixed part, random-effects terms over one or more grouping
   factors, ``offset(...)``;
2. **random-effects terms** — :func:`re_blocks` (lme4's ``mkReTrms``: terms
   ordered by decreasing number of levels, θ column-major per term);
3. **deviance function** — :class:`~hlm_course.lmer.pirls.GlmmProblem`:
   PIRLS, the Laplace approximation, adaptive Gauss–Hermite quadrature;
4. **optimizer** — :func:`optimize_glmer`, lme4's two stages: nAGQ = 0 (θ,
   with β inside PIRLS), then θ and β together on the Laplace or AGQ
   deviance, both by BOBYQA (NLopt; lme4 uses minqa's bobyqa and then
   Nelder–Mead); then lme4's convergence check (gradient and Hessian of the
   deviance by ``deriv12``'s central differences) and, while the check finds
   a gradient, Newton steps with that Hessian (so the estimate is where the
   check says the gradient vanishes, not where BOBYQA's tolerance stopped);
5. **fitted model** — :class:`GlmerFit` with lme4's accessors; standard errors
   from that Hessian, as lme4 1.1-31's ``vcov`` (``use.hessian = TRUE`` when
   the Hessian over θ and β is available: 2 H⁻¹ restricted to β).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from functools import lru_cache

import nlopt
import numpy as np
import pandas as pd
from scipy import stats

from .errors import MixedModelError
from .family import Family, as_family
from .checks import drop_dependent_columns
from .formula import (R_CONSTANTS, build_design, evaluate, expression_variables, formula_variables, model_frame,
                      parse_formula)
from .pirls import GlmmProblem, ReBlock
from .optimize import finite_recorded, scaled_max_gradient
from .reterms import ReTerms, grouping_factor, mk_re_terms
from .simulate import RE_FORM_NA, conditioned_effects
from .update import register_fitter

__all__ = ["glmer", "GlmerFit", "GlmerControl", "parse_glmer_formula", "re_blocks", "anova_glmer", "pb_test_glmer",
           "optimize_glmer", "GlmerOptimum"]

GRAD_TOL = 2e-3  # lme4's check.conv.grad tolerance
DERIV_DELTA = 1e-4  # lme4's deriv12 step


# ---------------------------------------------------------------------------
# 1. the formula
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class GlmerFormula:
    """An lme4 formula as glmer reads it: the engine's :func:`~hlm_course.lmer.formula.parse_formula`
    (random-effects terms over any grouping factors, ``a/b``, ``a:b``, ``||``, ``offset()``) plus a
    ``cbind(successes, failures)`` response."""

    response: str  # as written
    successes: str | None  # cbind(successes, failures)
    failures: str | None
    fixed: str
    terms: tuple  # RandomTerm, expanded as lme4 expands them
    offsets: tuple


def _split_commas(s: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in s:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    parts.append(cur.strip())
    return parts


def parse_glmer_formula(formula: str) -> GlmerFormula:
    """lme4's formula ``response ~ fixed + (expr | g) + ...`` (the engine's parser); the
    response may be ``cbind(successes, failures)``."""
    parsed = parse_formula(formula)
    response = parsed.response
    succ = fail = None
    m = re.fullmatch(r"cbind\s*\((.*)\)", response)
    if m:
        parts = _split_commas(m.group(1))
        if len(parts) != 2 or not all(parts):
            raise MixedModelError(f"cbind() on the left of '~' takes two columns (successes, failures), got "
                                  f"{response!r}")
        succ, fail = parts
    return GlmerFormula(response, succ, fail, parsed.fixed, tuple(parsed.terms), tuple(parsed.offsets))


def _parse_uncached(formula) -> tuple[GlmerFormula, frozenset]:
    parsed = parse_glmer_formula(formula)
    return parsed, frozenset(_variables(parsed))


@lru_cache(maxsize=256)
def _parse_cached(formula: str) -> tuple[GlmerFormula, frozenset]:
    """The parsed formula and the columns it uses, once per formula string (a bootstrap refits one formula)."""
    return _parse_uncached(formula)


def _variables(parsed: GlmerFormula) -> set:
    names = set()
    if parsed.successes is not None:
        names |= expression_variables(parsed.successes) | expression_variables(parsed.failures)
    else:
        names |= expression_variables(parsed.response)
    names |= formula_variables(parsed.fixed)
    for t in parsed.terms:
        names |= formula_variables(t.expr) | set(t.group_columns)
    for o in parsed.offsets:
        names |= expression_variables(o)
    return names


# ---------------------------------------------------------------------------
# 2. the random-effects terms (lme4's mkReTrms)
# ---------------------------------------------------------------------------
def re_blocks(terms, frame: pd.DataFrame) -> tuple[list[ReBlock], list[pd.Index], ReTerms]:
    """The random-effects terms from the engine's :func:`~hlm_course.lmer.reterms.mk_re_terms`
    (lme4's ``mkReTrms``: terms ordered by decreasing number of levels, θ column-major per
    term), as the blocks PIRLS works on."""
    re_terms = mk_re_terms(terms, frame, matrices=False)
    nlev = re_terms.ngrps
    one = [g for g, L in nlev.items() if L < 2]
    if one:
        raise MixedModelError(f"grouping factors must have > 1 sampled level (problems: {', '.join(one)}): a "
                              "random effect needs at least two groups")
    off = re_terms.theta_offsets
    blocks, levels = [], []
    for i, t in enumerate(re_terms.terms):
        blocks.append(ReBlock(t.group, np.asarray(t.codes, np.int64), t.nlevels, np.ascontiguousarray(t.Z),
                              list(t.columns), slice(int(off[i]), int(off[i + 1])), t.expr, t.design_info))
        levels.append(pd.Index(t.levels, name=t.group))
    return blocks, levels, re_terms


def theta_start_lower(blocks) -> tuple[np.ndarray, np.ndarray]:
    """lme4's start (Λ = I) and lower bounds (0 on Λ's diagonal, −∞ below it)."""
    th, lo = [], []
    for b in blocks:
        for j in range(b.k):
            for i in range(j, b.k):
                th.append(1.0 if i == j else 0.0)
                lo.append(0.0 if i == j else -np.inf)
    return np.array(th), np.array(lo)


def theta_names(blocks) -> list[str]:
    """θ's names as lme4's ``getME(fit, "theta")``: ``herd.(Intercept)``, ``district.urbanY.(Intercept)``."""
    out = []
    for b in blocks:
        for j in range(b.k):
            for i in range(j, b.k):
                out.append(f"{b.group}.{b.columns[i]}" if i == j else f"{b.group}.{b.columns[i]}.{b.columns[j]}")
    return out


# ---------------------------------------------------------------------------
# the response
# ---------------------------------------------------------------------------
def _response(parsed: GlmerFormula, frame: pd.DataFrame, family: Family, weights):
    """y on the family's scale, prior weights, binomial trials n (R's family$initialize)."""
    nobs = len(frame)
    prior = np.ones(nobs) if weights is None else weights
    if parsed.successes is not None:
        if family.family != "binomial":
            raise MixedModelError("cbind(successes, failures) is a binomial response: use family='binomial'")
        s = evaluate(parsed.successes, frame, "successes")
        f = evaluate(parsed.failures, frame, "failures")
        if np.any(s < 0) or np.any(f < 0):
            bad = "successes" if np.any(s < 0) else "failures"
            raise MixedModelError(f"cbind({parsed.successes}, {parsed.failures}): negative {bad} (for example "
                                  f"successes > trials when the failures are written as trials − successes); "
                                  "counts must be non-negative")
        if np.any(np.abs(s - np.round(s)) > 1e-3) or np.any(np.abs(f - np.round(f)) > 1e-3):
            warnings.warn("non-integer counts in a binomial glm! (cbind)", stacklevel=3)
        trials = s + f
        y = np.where(trials > 0, s / np.where(trials > 0, trials, 1), 0.0)
        return y, prior * trials, trials
    resp = parsed.response
    if family.family == "binomial" and resp in frame.columns and (
            isinstance(frame[resp].dtype, pd.CategoricalDtype) or frame[resp].dtype == bool):
        col = frame[resp]
        if col.dtype == bool:
            y = col.to_numpy(dtype=float)
        else:
            y = (col.cat.codes.to_numpy() != 0).astype(float)  # R: the first level is failure, all others success
        return y, prior, np.ones(nobs)
    y = evaluate(resp, frame, "response")
    if family.family == "binomial":
        if np.any(y < 0) or np.any(y > 1):
            raise MixedModelError(f"binomial response '{resp}' has values outside [0, 1] (min {y.min():g}, max "
                                  f"{y.max():g}): R says 'y values must be 0 <= y <= 1'; for counts of successes "
                                  "use cbind(successes, failures), for proportions give weights = trials")
        m = prior * y
        if np.any(np.abs(m - np.round(m)) > 1e-3):
            warnings.warn("non-integer #successes in a binomial glm!", stacklevel=3)
        return y, prior, np.ones(nobs)
    if np.any(y < 0):
        raise MixedModelError(f"Poisson response '{resp}' has negative values (min {y.min():g}): R says 'negative "
                              "values not allowed for the Poisson family'")
    if np.any(np.abs(y - np.round(y)) > 1e-7):
        warnings.warn(f"Poisson response '{resp}' has non-integer values: the log-likelihood (R's dpois) is not "
                      "defined for them (R warns 'non-integer x')", stacklevel=3)
    return y, prior, np.ones(nobs)


# ---------------------------------------------------------------------------
# 4. the optimizer and the check
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class GlmerControl:
    """Options of :func:`glmer` (lme4's ``glmerControl``).

    ``nagq0_init``: run the nAGQ = 0 stage first (lme4's ``nAGQ0initStep``);
    ``maxfun``: cap on the evaluations of each stage; ``check_tol``: lme4's
    ``check.conv.grad`` tolerance; ``tol_pirls``: PIRLS stops when u (and β)
    change by less than this (default: 1e-6 for the canonical logit and log
    links, where PIRLS is Newton's method and the next error is the square of
    the step; 1e-11 for probit and cloglog, where it converges linearly).
    """

    nagq0_init: bool = True
    maxfun: int = 100_000
    check_tol: float = GRAD_TOL
    tol_pirls: float | None = None


@dataclass
class StageRun:
    stage: str
    criterion: float
    evaluations: int
    status: str


@dataclass
class GlmerCheck:
    """lme4's ``checkConv`` at the estimate: gradient, Hessian (``deriv12``), verdict and messages."""

    ok: bool
    messages: list
    max_grad: float
    gradient: np.ndarray = field(repr=False)
    hessian: np.ndarray = field(repr=False)
    boundary: np.ndarray = field(repr=False)

    @property
    def message(self) -> str:
        return "; ".join(self.messages) if self.messages else "ok"


def deriv12(fun, x, delta=DERIV_DELTA, fx=None, lower=None):
    """Gradient and Hessian by central differences (lme4's ``deriv12``, steps clipped at the lower bounds).

    The diagonal and the gradient are lme4's three-point formulas; an off-diagonal element uses
    f(x + h e_i + h e_j) and f(x − h e_i − h e_j) with the points already evaluated,
    (f₊₊ − f₊ᵢ − f₊ⱼ + 2f − f₋ᵢ − f₋ⱼ + f₋₋) / 2h² — second-order accurate like lme4's four-point
    formula, with two evaluations per pair instead of four.  Where a parameter sits at its bound
    the forward points are used alone: (f₊₊ − f₊ᵢ − f₊ⱼ + f) / h²."""
    x = np.asarray(x, float)
    k = len(x)
    fx = fun(x) if fx is None else fx
    lower = np.full(k, -np.inf) if lower is None else lower
    ld = np.minimum(delta, x - lower)  # backward step, shortened at the bound
    fp, fm = np.empty(k), np.empty(k)
    H = np.empty((k, k))
    g = np.empty(k)
    for j in range(k):
        xa = x.copy()
        xa[j] += delta
        fp[j] = fun(xa)
        if ld[j] > 0:
            xs = x.copy()
            xs[j] -= ld[j]
            fm[j] = fun(xs)
            H[j, j] = fp[j] / delta ** 2 - 2 * fx / (delta * ld[j]) + fm[j] / ld[j] ** 2
            g[j] = (fp[j] - fm[j]) / (delta + ld[j])
        else:  # at the bound: one-sided
            xa2 = x.copy()
            xa2[j] += 2 * delta
            H[j, j] = (fun(xa2) - 2 * fp[j] + fx) / delta ** 2
            g[j] = (fp[j] - fx) / delta
            fm[j] = np.nan
    for j in range(k):
        for i in range(j):
            xpp = x.copy()
            xpp[i] += delta
            xpp[j] += delta
            fpp = fun(xpp)
            if ld[i] == delta and ld[j] == delta:
                xmm = x.copy()
                xmm[i] -= delta
                xmm[j] -= delta
                fmm = fun(xmm)
                H[i, j] = (fpp - fp[i] - fp[j] + 2 * fx - fm[i] - fm[j] + fmm) / (2 * delta ** 2)
            else:
                H[i, j] = (fpp - fp[i] - fp[j] + fx) / delta ** 2
            H[j, i] = H[i, j]
    return g, H


def check_conv(g, H, boundary, tol=GRAD_TOL) -> GlmerCheck:
    """lme4's checkConv: max(min(|scaled gradient|, |gradient|)) < tol with the
    scaled gradient ``solve(chol(H), g)``; the Hessian positive definite; a
    very large eigenvalue ratio noted as lme4 notes it.  Parameters at their
    bound are judged one-sided: the deviance must not fall into the interior."""
    free = ~boundary
    msgs, ok = [], True
    max_grad = 0.0
    if not (np.all(np.isfinite(g)) and np.all(np.isfinite(H[np.ix_(free, free)]))):
        return GlmerCheck(False, ["the deviance is not finite near the estimate"], np.nan, g, H, boundary)
    if free.any():
        Hf, gf = H[np.ix_(free, free)], g[free]
        ev = np.linalg.eigvalsh(Hf)
        if ev.min() < 0:
            ok = False
            msgs.append(f"Model failed to converge: degenerate Hessian with {int(np.sum(ev < 0))} negative "
                        "eigenvalues")
            max_grad = float(np.max(np.abs(gf)))
        else:
            max_grad = scaled_max_gradient(Hf, gf)
            if max_grad is None:
                max_grad = float(np.max(np.abs(gf)))
            if ev.max() > 0 and ev.min() / ev.max() < 1e-6:
                msgs.append("Model is nearly unidentifiable: very large eigenvalue - Rescale variables?")
        if max_grad > tol:
            ok = False
            comp = int(np.flatnonzero(free)[np.argmax(np.abs(gf))]) + 1
            msgs.insert(0, f"Model failed to converge with max|grad| = {max_grad:.6g} (tol = {tol:g}, "
                           f"component {comp})")
    inward = g[boundary]
    if inward.size and inward.min() < -tol:
        ok = False
        msgs.append(f"at the boundary the deviance decreases into the interior (slope {inward.min():.3g})")
    return GlmerCheck(ok, msgs, max_grad, g, H, boundary)


def _bobyqa(fun, x0, lower, step, maxeval, ftol=1e-10, xtol=1e-9):
    """NLopt's BOBYQA from x0 (``ftol``: absolute change of the deviance; ``xtol``: of the parameters)."""
    n = len(x0)
    best = [np.array(x0, float), np.inf]
    opt = nlopt.opt(nlopt.LN_BOBYQA, n)
    opt.set_lower_bounds(np.where(np.isfinite(lower), lower, -1e300))
    opt.set_upper_bounds(np.full(n, 1e300))
    opt.set_min_objective(finite_recorded(fun, best, errors=(FloatingPointError, np.linalg.LinAlgError, ValueError)))
    opt.set_ftol_abs(ftol)
    opt.set_ftol_rel(1e-15)
    opt.set_xtol_abs(xtol)
    opt.set_initial_step(step)
    opt.set_maxeval(int(maxeval))
    x0 = np.maximum(np.asarray(x0, float), lower)
    try:
        opt.optimize(x0)
        code = opt.last_optimize_result()
        status = {1: "success", 3: "ftol reached", 4: "xtol reached", 5: "maxeval reached"}.get(code, f"code {code}")
    except nlopt.RoundoffLimited:
        status = "roundoff limited"
    except (ValueError, RuntimeError) as err:
        status = f"nlopt failure: {err}"
    return best[0], best[1], opt.get_numevals(), status


# ---------------------------------------------------------------------------
# 5. the fitted model
# ---------------------------------------------------------------------------
@dataclass
class GlmerFit:
    """A fitted GLMM with lme4's accessors (``glmerMod``)."""

    formula: str
    family: Family
    nagq: int
    data: pd.DataFrame
    problem: GlmmProblem = field(repr=False)
    theta: np.ndarray
    beta: np.ndarray
    u: np.ndarray = field(repr=False)
    criterion: float  # the deviance lme4 reports as −2 logLik
    fixed_names: list
    levels: list = field(repr=False)
    runs: list = field(default_factory=list)
    check: GlmerCheck | None = None
    hessian: np.ndarray | None = field(default=None, repr=False)
    n_dropped: int = 0
    parsed: GlmerFormula | None = field(default=None, repr=False)
    _fixed_info: object = field(default=None, repr=False)
    _fixed_order: list = field(default=None, repr=False)
    control: GlmerControl = field(default_factory=GlmerControl, repr=False)
    weights: np.ndarray | None = field(default=None, repr=False)
    _offset_arg: str | None = field(default=None, repr=False)  # glmer(offset=...): a column, or "array"

    # -- sizes -------------------------------------------------------------------------------
    @property
    def blocks(self) -> list[ReBlock]:
        return self.problem.blocks

    @property
    def nobs(self) -> int:
        return self.problem.nobs

    @property
    def ngroups(self) -> dict:
        """Number of levels of each grouping factor (lme4's ``ngrps``)."""
        out = {}
        for b in self.blocks:
            out.setdefault(b.group, b.nlevels)
        return out

    @property
    def npar(self) -> int:
        return len(self.beta) + len(self.theta)

    @property
    def df_resid(self) -> int:
        return self.nobs - self.npar

    @property
    def theta_names(self) -> list[str]:
        return theta_names(self.blocks)

    # -- criteria ----------------------------------------------------------------------------
    @property
    def loglik(self) -> float:
        """lme4's ``logLik``: −½ × the optimized deviance (Laplace: with the family's aic;
        nAGQ > 1: with the deviance residuals, as lme4's ``glmerAGQ``, so the two are on
        different scales and only comparable within the same nAGQ)."""
        return -0.5 * self.criterion

    @property
    def deviance(self) -> float:
        """−2 logLik, the ``deviance`` column of lme4's summary (lme4's ``deviance()``
        function gives the conditional deviance instead: :attr:`deviance_conditional`)."""
        return self.criterion

    @property
    def deviance_conditional(self) -> float:
        """lme4's ``deviance(fit)`` for a GLMM: Σ squared deviance residuals at the conditional modes."""
        return float(np.sum(self.family.dev_resids(self.problem.y, self.mu, self.problem.wt)))

    @property
    def aic(self) -> float:
        return self.criterion + 2 * self.npar

    @property
    def bic(self) -> float:
        return self.criterion + np.log(self.nobs) * self.npar

    # -- fixed effects -----------------------------------------------------------------------
    @property
    def fixef(self) -> pd.Series:
        return pd.Series(self.beta, index=self.fixed_names, name="Estimate")

    def vcov_rx(self) -> np.ndarray:
        RX = self.problem.rx(self.theta, self.beta, self.u)
        Ri = np.linalg.inv(RX)
        return Ri @ Ri.T

    @property
    def vcov(self) -> pd.DataFrame:
        """lme4 1.1-31's ``vcov``: from the finite-difference Hessian H of the deviance over
        (θ, β) at the estimate, V = 2 (H⁻¹)_ββ, when it is available and positive definite
        (``use.hessian = TRUE``); otherwise (nAGQ = 0, or a bad Hessian) (R_X'R_X)⁻¹."""
        V = None
        if self.hessian is not None and self.hessian.shape[0] > len(self.theta):
            try:
                Hi = np.linalg.inv(self.hessian)
                nt = len(self.theta)
                Vh = Hi[nt:, nt:]
                Vh = Vh + Vh.T
                if np.all(np.isfinite(Vh)) and np.linalg.eigvalsh(Vh).min() > 0:
                    V = Vh
            except np.linalg.LinAlgError:
                V = None
        if V is None:
            V = self.vcov_rx()
        return pd.DataFrame(V, index=self.fixed_names, columns=self.fixed_names)

    @property
    def se(self) -> pd.Series:
        return pd.Series(np.sqrt(np.diag(self.vcov.to_numpy())), index=self.fixed_names, name="Std. Error")

    @property
    def coef_table(self) -> pd.DataFrame:
        """lme4's fixed-effects table: Estimate, Std. Error, z value, Pr(>|z|)."""
        se = self.se
        z = self.fixef / se
        return pd.DataFrame({"Estimate": self.fixef, "Std. Error": se, "z value": z,
                             "Pr(>|z|)": 2 * stats.norm.sf(np.abs(z))})

    # -- random effects ------------------------------------------------------------------------
    def _b_blocks(self):
        out, off = [], 0
        for b in self.blocks:
            U = self.u[off:off + b.q].reshape(b.nlevels, b.k)
            out.append(U @ b.lambda_block(self.theta).T)
            off += b.q
        return out

    @property
    def ranef(self) -> dict:
        """Conditional modes b̃ = Λθ ũ per grouping factor (lme4's ``ranef``): {group: DataFrame}."""
        out = {}
        for b, lev, B in zip(self.blocks, self.levels, self._b_blocks()):
            df = pd.DataFrame(B, index=lev, columns=b.columns)
            out[b.group] = pd.concat([out[b.group], df], axis=1) if b.group in out else df
        return out

    @property
    def coef(self) -> dict:
        """Per-level coefficients, fixed effects plus conditional modes (lme4's ``coef``): {group: DataFrame}."""
        out = {}
        for g, re_ in self.ranef.items():
            df = pd.DataFrame(np.tile(self.beta, (len(re_), 1)), index=re_.index, columns=self.fixed_names)
            for c in re_.columns:
                df[c] = (df[c] if c in df.columns else 0.0) + re_[c]
            out[g] = df
        return out

    @property
    def cond_var(self) -> dict:
        """Conditional covariances of b per term (lme4's ``condVar``/``postVar``): {group: (J, k, k)}."""
        V = self.problem.cond_var(self.theta, self.u, self.beta)
        out = {}
        for b, v in zip(self.blocks, V):
            out[b.group] = v if b.group not in out else np.concatenate([out[b.group], v], axis=1)
        return out

    @property
    def varcorr(self) -> pd.DataFrame:
        """lme4's ``VarCorr`` (no residual for these families): Groups, Name, Variance, Std.Dev., Corr."""
        rows = []
        for b in self.blocks:
            T = b.lambda_block(self.theta)
            S = T @ T.T
            sd = np.sqrt(np.diag(S))
            for i, nm in enumerate(b.columns):
                row = {"Groups": b.group, "Name": nm, "Variance": S[i, i], "Std.Dev.": sd[i]}
                for j in range(i):
                    row[f"Corr.{b.columns[j]}"] = S[i, j] / (sd[i] * sd[j]) if sd[i] * sd[j] > 0 else np.nan
                rows.append(row)
        return pd.DataFrame(rows)

    @property
    def singular(self) -> bool:
        """lme4's ``isSingular``: a diagonal element of Λθ below 1e-4."""
        _, lo = theta_start_lower(self.blocks)
        return bool(np.any(self.theta[lo == 0] < 1e-4))

    # -- fitted values -------------------------------------------------------------------------
    @property
    def eta(self) -> np.ndarray:
        p = self.problem
        return p.offset + p.X @ self.beta + p._zlam_u(p._zlam(self.theta), self.u)

    @property
    def mu(self) -> np.ndarray:
        return self.family.linkinv(self.eta)

    @property
    def fitted(self) -> pd.Series:
        """Fitted values on the response scale (lme4's ``fitted``)."""
        return pd.Series(self.mu, index=self.data.index, name="fitted")

    def resid(self, type: str = "deviance") -> pd.Series:
        """Residuals as lme4's ``residuals``: ``"deviance"`` (default), ``"pearson"`` or ``"response"``."""
        p, mu = self.problem, self.mu
        if type == "response":
            r = p.y - mu
        elif type == "pearson":
            r = (p.y - mu) * np.sqrt(p.wt / self.family.variance(mu))
        elif type == "deviance":
            r = np.sign(p.y - mu) * np.sqrt(np.maximum(self.family.dev_resids(p.y, mu, p.wt), 0.0))
        else:
            raise MixedModelError(f"type must be 'deviance', 'pearson' or 'response', got {type!r}")
        return pd.Series(r, index=self.data.index, name=f"{type} residuals")

    def predict(self, newdata: pd.DataFrame | None = None, type: str = "link", re_form=None,
                allow_new_levels: bool = False) -> pd.Series:
        """lme4's ``predict``: the linear predictor (``type="link"``) or the mean (``"response"``),
        conditional on the random effects (``re_form=None``), on none (``re_form=NA``, written
        ``re_form="NA"`` or ``False``) or on some terms (``re_form="~(1 | g)"``: lmer's
        :func:`hlm_course.lmer.predict.predict`).  New levels are an error unless ``allow_new_levels``
        (then their random effects are zero, as lme4)."""
        if type not in ("link", "response"):
            raise MixedModelError(f"type must be 'link' or 'response', got {type!r}")
        from .predict import no_random_effects, predict as predict_terms

        if self._offset_arg == "_glmer_offset_" and newdata is not None:
            raise MixedModelError("the model was fitted with offset= an array: give the offset as a column "
                                  "(offset='name') or an offset() term to predict for new data")
        use_re = re_form is None
        if not use_re and not no_random_effects(re_form):  # some terms: lmer's predict of the linear predictor
            link = predict_terms(self, newdata, re_form=re_form, allow_new_levels=allow_new_levels)
            eta, index = link.to_numpy(), link.index
            if self._offset_arg is not None:
                frame = self.data if newdata is None else newdata.reset_index(drop=True)
                eta = eta + evaluate(self._offset_arg, frame, "offset")
        elif newdata is None:
            eta = self.eta if use_re else self.problem.offset + self.problem.X @ self.beta
            index = self.data.index
        else:
            eta, index = self._new_eta(newdata, use_re, allow_new_levels)
        out = eta if type == "link" else self.family.linkinv(eta)
        return pd.Series(out, index=index, name="fit")

    def _new_eta(self, newdata, use_re, allow_new_levels):
        import patsy

        if not isinstance(newdata, pd.DataFrame):
            raise MixedModelError(f"newdata must be a pandas DataFrame, got {type(newdata).__name__}")
        parsed = self.parsed
        from .predict import is_group_only

        frame = newdata.reset_index(drop=True)
        for c in frame.columns:
            if is_group_only(self, c):  # a new level is a new group, not a missing value
                continue
            if c in self.data.columns and isinstance(self.data[c].dtype, pd.CategoricalDtype):
                frame[c] = pd.Categorical(frame[c], categories=self.data[c].cat.categories)
            elif c in self.data.columns and self.data[c].dtype == object:
                frame[c] = pd.Categorical(frame[c], categories=sorted(self.data[c].dropna().unique()))
        try:
            (Xn,) = patsy.build_design_matrices([self._fixed_info], frame, return_type="dataframe")
        except Exception as err:
            raise MixedModelError(f"could not build the fixed-effects design for newdata: {err}") from err
        Xn = Xn[self._fixed_order].to_numpy(dtype=float)
        eta = Xn @ self.beta
        for o in parsed.offsets:
            eta = eta + evaluate(o, frame, "offset")
        if self._offset_arg is not None:  # (an offset= array was refused by predict)
            eta = eta + evaluate(self._offset_arg, frame, "offset")
        if use_re:
            built = {}
            for t in parsed.terms:
                Zdf = build_design(t.expr, frame, f"random-effects {t}")
                built.setdefault(t.group, {}).update({Zdf.attrs["r_names"][c]: Zdf[c].to_numpy(float)
                                                      for c in Zdf.columns})
            for b, lev, B in zip(self.blocks, self.levels, self._b_blocks()):
                Zn = np.column_stack([built[b.group][c] for c in b.columns])
                f = grouping_factor(b.group, frame)
                keys = np.asarray(f.categories, dtype=object)[f.codes]
                pos = pd.Index(lev).get_indexer(keys)
                if np.any(pos < 0) and not allow_new_levels:
                    from .predict import NEW_LEVELS

                    new = sorted(set(map(str, keys[pos < 0])))[:10]
                    raise MixedModelError(NEW_LEVELS.format(levels=", ".join(new), group=b.group))
                Bn = np.where(pos[:, None] >= 0, B[np.maximum(pos, 0)], 0.0)
                eta = eta + np.sum(Zn * Bn, axis=1)
        return eta, newdata.index

    # -- simulation and refitting --------------------------------------------------------------
    def simulate(self, nsim: int = 1, seed=None, use_u=None, re_form=RE_FORM_NA) -> np.ndarray:
        """Responses simulated from the fitted model (lme4's ``simulate``): an (nsim, n) array on the
        response's scale (proportions for a binomial).  New random effects u ~ N(0, I) (lme4's default
        ``re.form = NA``); ``re_form=None`` or ``use_u=True`` keeps the conditional modes, ``re_form="~(1 | g)"``
        g's modes only (:func:`hlm_course.lmer.simulate.conditioned_effects`)."""
        keep = conditioned_effects(self, re_form, use_u)
        rng = np.random.default_rng(seed)
        p = self.problem
        ZL = p._zlam(self.theta)
        xb = p.offset + p.X @ self.beta
        out = np.empty((int(nsim), p.nobs))
        trials = p.wt if (self.weights is None and p.family.family == "binomial") else p.n
        for s_ in range(int(nsim)):
            u = rng.standard_normal(p.q)
            mu = self.family.linkinv(xb + p._zlam_u(ZL, u if keep is None else np.where(keep, self.u, u)))
            if self.family.family == "poisson":
                out[s_] = rng.poisson(mu)
            else:
                m = np.round(p.wt if np.any(p.n > 1) or self.weights is not None else trials).astype(np.int64)
                k = rng.binomial(np.maximum(m, 0), mu)
                out[s_] = np.where(m > 0, k / np.maximum(m, 1), 0.0)
        return out

    def refit(self, y, derivs: bool = True) -> "GlmerFit":
        """The same model fitted to a new response ``y`` (on the fit's scale: proportions for a
        binomial), as lme4's ``refit``; ``derivs=False`` skips the check's derivatives (bootstrap refits:
        no standard errors, no check)."""
        p = self.problem
        y = np.asarray(y, float)
        if y.shape != (p.nobs,):
            raise MixedModelError(f"new response has shape {y.shape}, expected ({p.nobs},)")
        new = GlmmProblem(p.X, y, p.wt, p.n, p.offset, p.family, p.blocks, tol=p.tol)
        opt = optimize_glmer(new, self.nagq, self.control, derivs=derivs)
        return GlmerFit(formula=self.formula, family=self.family, nagq=self.nagq, data=self.data, problem=new,
                        theta=opt.theta, beta=opt.beta, u=opt.u, criterion=opt.criterion,
                        fixed_names=self.fixed_names, levels=self.levels, runs=opt.runs, check=opt.check,
                        hessian=opt.hessian, n_dropped=self.n_dropped, parsed=self.parsed,
                        _fixed_info=self._fixed_info, _fixed_order=self._fixed_order, control=self.control,
                        weights=self.weights, _offset_arg=self._offset_arg)

    def bootstrap_ci(self, nsim: int = 200, level: float = 0.95, seed=None) -> pd.DataFrame:
        """Parametric bootstrap percentile intervals of θ and β (lme4's ``confint(method = "boot")``):
        ``nsim`` responses simulated from the fit, each refitted (without the check's derivatives)."""
        sims = self.simulate(nsim, seed)
        rows = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for y in sims:
                try:
                    f = self.refit(y, derivs=False)
                    rows.append(np.concatenate([f.theta, f.beta]))
                except MixedModelError:
                    continue
        est = np.array(rows)
        a = (1 - level) / 2
        names = list(self.theta_names) + list(self.fixed_names)
        lo, hi = np.quantile(est, [a, 1 - a], axis=0)
        out = pd.DataFrame({f"{100 * a:g} %": lo, f"{100 * (1 - a):g} %": hi}, index=names)
        out.attrs["nsim_used"] = len(est)
        return out

    def pb_test(self, other: "GlmerFit", nsim: int = 200, seed=None) -> pd.DataFrame:
        """Parametric bootstrap likelihood-ratio test against a nested fit (:func:`pb_test_glmer`)."""
        return pb_test_glmer(self, other, nsim=nsim, seed=seed)

    # -- comparison ----------------------------------------------------------------------------
    def anova(self, *others) -> pd.DataFrame:
        """Likelihood-ratio tests between nested fits (lme4's ``anova``); with no other fit, lme4's one-model
        table of the fixed-effects terms (:func:`hlm_course.lmer.anova.anova_fixed`)."""
        if not others:
            from .anova import anova_fixed

            return anova_fixed(self)
        return anova_glmer(self, *others)

    @property
    def converged(self) -> bool:
        return bool(self.check is not None and self.check.ok and np.all(np.isfinite(self.beta)))

    @property
    def optimizers(self) -> pd.DataFrame:
        return pd.DataFrame([vars(r) for r in self.runs])

    # -- printing ------------------------------------------------------------------------------
    def summary(self) -> str:
        """lme4's ``summary()`` of a glmerMod as text."""
        approx = ("Laplace Approximation" if self.nagq == 1 else
                  f"Adaptive Gauss-Hermite Quadrature, nAGQ = {self.nagq}" if self.nagq > 1 else
                  "nAGQ = 0 (PIRLS estimates of the fixed effects)")
        lines = [f"Generalized linear mixed model fit by maximum likelihood ({approx}) [hlm_course.glmer]",
                 f" Family: {self.family.family}  ( {self.family.link} )", f"Formula: {self.formula}", "",
                 f"{'AIC':>10}{'BIC':>10}{'logLik':>10}{'deviance':>10}{'df.resid':>10}",
                 f"{self.aic:10.1f}{self.bic:10.1f}{self.loglik:10.1f}{self.deviance:10.1f}{self.df_resid:10d}",
                 "", "Random effects:"]
        vc = self.varcorr
        gw = max([10] + [len(str(g)) + 1 for g in vc["Groups"]])  # "region:nation" gets its own column
        lines.append(f" {'Groups':<{gw}}{'Name':<14}{'Variance':>10}{'Std.Dev.':>10}")
        prev = None
        for _, row in vc.iterrows():
            g = row["Groups"] if row["Groups"] != prev else ""
            prev = row["Groups"]
            corr = [f"{row[c]:5.2f}" for c in vc.columns if c.startswith("Corr.") and pd.notna(row[c])]
            lines.append(f" {g:<{gw}}{row['Name']:<14}{row['Variance']:10.4g}{row['Std.Dev.']:10.4f}"
                         + (" " + " ".join(corr) if corr else ""))
        lines.append(f"Number of obs: {self.nobs}, groups:  "
                     + "; ".join(f"{g}, {n}" for g, n in self.ngroups.items()))
        tab = self.coef_table
        lines += ["", "Fixed effects:", tab.to_string(formatters={
            "Estimate": "{:.5f}".format, "Std. Error": "{:.5f}".format, "z value": "{:.3f}".format,
            "Pr(>|z|)": lambda v: f"{v:.3g}" if v >= 2e-16 else "<2e-16"})]
        if self.singular:
            lines += ["", "boundary (singular) fit: see help('isSingular')"]
        if self.check is not None and self.check.messages:
            lines += ["", "Optimizer check: " + self.check.message]
        if self.n_dropped:
            lines += [f"{self.n_dropped} observation(s) with missing values were dropped"]
        return "\n".join(lines)

    def __repr__(self) -> str:  # pragma: no cover - convenience
        return self.summary()

    def _repr_html_(self) -> str:  # pragma: no cover - notebooks
        from html import escape

        return f"<pre>{escape(self.summary())}</pre>"

    # -- after the fit: lme4's update and confint (thin: see update.py, profile.py)
    def update(self, formula: str | None = None, data=None, control=None, **kwargs) -> "GlmerFit":
        """lme4's ``update``: refit with a changed formula (R's dots), data, control, ``family`` or ``nagq``
        (:func:`hlm_course.lmer.update.update`)."""
        from .update import update

        return update(self, formula, data=data, control=control, **kwargs)

    def profile(self, which=None, **kwargs):
        """lme4's ``profile``: the profile ζ of every parameter (.sig01 …, the fixed effects) on the fit's
        deviance at its nAGQ (:func:`hlm_course.lmer.profile.profile`)."""
        from .profile import profile

        return profile(self, which=which, **kwargs)

    def confint(self, parm=None, level: float = 0.95, method: str = "profile", **kwargs) -> pd.DataFrame:
        """lme4's ``confint`` for a GLMM: profile-likelihood (the default, as lme4's), "Wald" or "boot"
        intervals (:func:`hlm_course.lmer.profile.confint`)."""
        from .profile import confint

        return confint(self, parm=parm, level=level, method=method, **kwargs)


def anova_glmer(*fits) -> pd.DataFrame:
    """Likelihood-ratio tests of nested GLMMs fitted to the same rows, in order of npar (lme4's ``anova``)."""
    if len(fits) < 2:
        raise MixedModelError("anova needs at least two fits")
    for f in fits:
        if not isinstance(f, GlmerFit):
            raise MixedModelError(f"anova compares GlmerFits, got {type(f).__name__}")
    if len({f.nobs for f in fits}) > 1:
        raise MixedModelError("models were not all fitted to the same number of observations "
                              f"({[f.nobs for f in fits]})")
    if len({(f.nagq > 1) for f in fits}) > 1:
        raise MixedModelError("fits with nAGQ > 1 and nAGQ ≤ 1 have log-likelihoods on different scales (lme4's "
                              "glmerAGQ drops the family's constant): compare fits with the same nAGQ")
    order = sorted(range(len(fits)), key=lambda i: fits[i].npar)
    fs = [fits[i] for i in order]
    rows = []
    for k, f in enumerate(fs):
        row = {"npar": f.npar, "AIC": f.aic, "BIC": f.bic, "logLik": f.loglik, "deviance": f.deviance,
               "Chisq": np.nan, "Df": np.nan, "Pr(>Chisq)": np.nan}
        if k > 0:
            chisq = max(fs[k - 1].deviance - f.deviance, 0.0)
            df = f.npar - fs[k - 1].npar
            row.update(Chisq=chisq, Df=df, **{"Pr(>Chisq)": stats.chi2.sf(chisq, df) if df > 0 else np.nan})
        rows.append(row)
    return pd.DataFrame(rows, index=[f"model{i + 1}" for i in order])


def pb_test_glmer(small: GlmerFit, large: GlmerFit, nsim: int = 200, seed=None) -> pd.DataFrame:
    """Parametric bootstrap likelihood-ratio test of ``small`` within ``large`` (pbkrtest's ``PBmodcomp``):
    responses simulated from ``small``, both models refitted to each; p = (1 + #{LRT* ≥ LRT}) / (1 + nsim)."""
    if not (isinstance(small, GlmerFit) and isinstance(large, GlmerFit)):
        raise MixedModelError("pb_test_glmer compares two GlmerFits")
    if small.npar >= large.npar:
        small, large = large, small
    if small.nobs != large.nobs:
        raise MixedModelError("the models were fitted to different numbers of observations")
    lrt = max(small.deviance - large.deviance, 0.0)
    sims = small.simulate(nsim, seed)
    stats_ = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for y in sims:
            try:
                d0 = small.refit(y, derivs=False).deviance
                d1 = large.refit(y, derivs=False).deviance
            except MixedModelError:
                continue
            stats_.append(max(d0 - d1, 0.0))
    stats_ = np.array(stats_)
    df = large.npar - small.npar
    p_pb = (1 + np.sum(stats_ >= lrt - 1e-8)) / (1 + len(stats_))
    out = pd.DataFrame({"stat": [lrt, lrt], "df": [df, np.nan],
                        "p.value": [stats.chi2.sf(lrt, df), p_pb]}, index=["LRT", "PBtest"])
    out.attrs["nsim_used"] = len(stats_)
    out.attrs["ref_stats"] = stats_
    return out


# ---------------------------------------------------------------------------
# glmer
# ---------------------------------------------------------------------------
def glmer(formula: str, data: pd.DataFrame, family="binomial", nagq: int = 1, weights=None,
          control: GlmerControl | None = None, nAGQ: int | None = None, offset=None) -> GlmerFit:
    """Fit a generalized linear mixed model by lme4's method.

    Parameters
    ----------
    formula
        lme4 syntax: ``"use ~ age + I(age^2) + urban + livch + (1 | district)"``,
        ``"cbind(incidence, size - incidence) ~ period + (1 | herd)"``,
        ``"deaths ~ uvb + offset(log(expected)) + (1 | region)"``,
        ``"y ~ x + (1 | a) + (1 | b)"`` (crossed), ``(1 | a/b)`` (nested), ``(x || g)``.
    data
        pandas DataFrame; rows with a missing model variable are dropped (lme4's ``na.omit``).
    family
        ``"binomial"`` (logit), ``"poisson"`` (log), ``"binomial(probit)"``, or a
        :class:`~hlm_course.lmer.family.Family` (``hc.binomial("cloglog")``).
    nagq
        1: the Laplace approximation (default); 0: lme4's nAGQ = 0 (β from PIRLS);
        k > 1: adaptive Gauss–Hermite quadrature with k points (one scalar random-effects term only).
    weights
        Prior weights: a column name or an array (for a proportion response, the number of trials).
    control
        :class:`GlmerControl`.
    nAGQ
        lme4's spelling of ``nagq``.
    offset
        An offset as lme4's ``offset`` argument (a column name or an array), added to any ``offset()`` terms.
    """
    if not isinstance(data, pd.DataFrame):
        raise MixedModelError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    fam = as_family(family)
    if nAGQ is not None:  # lme4's spelling
        nagq = nAGQ
    if isinstance(nagq, bool) or not isinstance(nagq, (int, np.integer)) or nagq < 0 or nagq > 100:
        raise MixedModelError(f"nagq must be an integer from 0 to 100, got {nagq!r}")
    nagq = int(nagq)
    control = control or GlmerControl()
    parsed, variables = _parse_cached(formula) if isinstance(formula, str) else _parse_uncached(formula)
    wname = weights if isinstance(weights, str) else None
    if wname is not None:
        variables = variables | {wname}
    oname = offset if isinstance(offset, str) else None
    if oname is not None:
        variables = variables | {oname}
    order = [c for c in data.columns if c in variables] + sorted(v for v in variables if v not in data.columns
                                                                 and v not in R_CONSTANTS)  # (TRUE, pi: R's)
    if offset is not None and oname is None:
        o_all = np.asarray(offset, dtype=float)
        if o_all.shape != (len(data),):
            raise MixedModelError(f"offset must have one value per row of data ({len(data)}), got shape "
                                  f"{o_all.shape}")
        data = data.assign(_glmer_offset_=o_all)
        order.append("_glmer_offset_")
        oname = "_glmer_offset_"
    if weights is not None and wname is None:
        w_all = np.asarray(weights, dtype=float)
        if w_all.shape != (len(data),):
            raise MixedModelError(f"weights must have one value per row of data ({len(data)}), got shape "
                                  f"{w_all.shape}")
        data = data.assign(_glmer_weights_=w_all)
        order.append("_glmer_weights_")
        wname = "_glmer_weights_"
    mf = model_frame(data, order)
    if mf.n_dropped:
        warnings.warn(f"{mf.n_dropped} row(s) with missing values in the model's variables were dropped "
                      "(as lme4's na.omit)", stacklevel=2)
    frame = mf.frame
    if len(frame) == 0:
        raise MixedModelError("no complete rows: every row has a missing value in a model variable")
    w = None
    if wname is not None:
        w = frame[wname].to_numpy(dtype=float)
        if np.any(w < 0) or not np.all(np.isfinite(w)):
            raise MixedModelError("weights must be finite and non-negative (R: 'negative weights not allowed')")
    y, wt, ntrials = _response(parsed, frame, fam, w)
    offset_ = None
    if parsed.offsets:
        offset_ = sum(evaluate(o, frame, "offset") for o in parsed.offsets)
    if oname is not None:
        offset_ = evaluate(oname, frame, "offset") + (0.0 if offset_ is None else offset_)
    Xdf = drop_dependent_columns(build_design(parsed.fixed, frame, "fixed-effects", full=mf.full))  # as lme4
    fixed_names = [Xdf.attrs["r_names"][c] for c in Xdf.columns]
    X = np.asfortranarray(Xdf.to_numpy(dtype=float))
    from .fit import one_blas_thread

    with one_blas_thread():  # a tall, thin X: one thread is fastest
        rank = np.linalg.matrix_rank(np.linalg.qr(X, mode="r"))
    if rank < X.shape[1]:
        bad = [fixed_names[k] for k in range(1, X.shape[1])
               if np.linalg.matrix_rank(X[:, : k + 1]) <= np.linalg.matrix_rank(X[:, :k])]
        raise MixedModelError(f"fixed-effects model matrix is rank deficient (rank {rank} < {X.shape[1]} columns): "
                              f"{bad} are linear combinations of earlier columns (lme4 drops them; remove them)")
    blocks, levels, _ = re_blocks(parsed.terms, frame)
    if nagq > 1 and (len(blocks) != 1 or blocks[0].k != 1):
        raise MixedModelError("nAGQ > 1 is only available for models with a single, scalar random-effects term "
                              "(lme4's rule)")
    if fam.family == "binomial" and np.all(y == y[0]) or fam.family == "poisson" and np.all(y == 0):
        raise MixedModelError(f"the response is constant ({y[0]:g} in every row): there is nothing to model "
                              "(lme4: 'Response is constant')")
    prob = GlmmProblem(X, y, wt, ntrials, offset_, fam, blocks,
                       tol=control.tol_pirls if control.tol_pirls is not None else
                       (1e-6 if fam.link in ("logit", "log") else 1e-11))
    opt = optimize_glmer(prob, nagq, control)
    fit = GlmerFit(formula=formula, family=fam, nagq=nagq, data=data.iloc[np.flatnonzero(mf.keep)]
                   if mf.n_dropped else data, problem=prob, theta=opt.theta, beta=opt.beta, u=opt.u,
                   criterion=opt.criterion, fixed_names=fixed_names, levels=levels, runs=opt.runs, check=opt.check,
                   hessian=opt.hessian,
                   n_dropped=mf.n_dropped, parsed=parsed, _fixed_info=Xdf.design_info,
                   _fixed_order=list(Xdf.columns), control=control, weights=w, _offset_arg=oname)
    _warn_fit(fit)
    return fit


def _newton_decrement(g, H, boundary) -> float:
    """g' H⁻¹ g on the parameters off the boundary: twice the decrease a Newton step predicts."""
    free = ~boundary
    if not free.any():
        return 0.0
    try:
        return float(g[free] @ np.linalg.solve(H[np.ix_(free, free)], g[free]))
    except np.linalg.LinAlgError:
        return np.inf


@dataclass
class GlmerOptimum:
    """What the optimizer stages return: the estimate, the criterion there, the runs, the check and the
    Hessian of the deviance over (θ, β) (None for nAGQ = 0 or without derivatives)."""

    theta: np.ndarray
    beta: np.ndarray
    u: np.ndarray
    criterion: float
    runs: list
    check: GlmerCheck | None
    hessian: np.ndarray | None


def optimize_glmer(prob: GlmmProblem, nagq: int, control: GlmerControl, derivs: bool = True) -> GlmerOptimum:
    """lme4's ``optimizeGlmer`` twice: stage 1 (nAGQ = 0: θ, with β inside PIRLS), then, for nAGQ ≥ 1,
    stage 2 (θ and β on the Laplace or AGQ deviance); then the check (lme4's ``deriv12`` and
    ``checkConv``) unless ``derivs`` is False (refits of a bootstrap)."""
    blocks = prob.blocks
    theta0, lower = theta_start_lower(blocks)
    nt = len(theta0)
    runs = []

    from .fit import one_blas_thread

    with warnings.catch_warnings(), one_blas_thread():
        warnings.simplefilter("ignore", RuntimeWarning)
        # stage 1: nAGQ = 0, θ only, β inside PIRLS
        def dev0(th, tol=None):
            return prob.laplace(th, joint=True, tol=tol)

        step0 = np.full(nt, 0.2)
        # a start for stage 2 needs less precision than a final nAGQ = 0 fit
        # (with several terms its joint PIRLS is the expensive one, and stage 2 re-optimizes θ anyway)
        loose = {} if nagq == 0 else (dict(ftol=1e-2, xtol=1e-2) if len(blocks) > 1 else dict(ftol=1e-4, xtol=1e-3))
        # while the optimizer searches, modes to 1e-4 (a deviance good to ~1e-8) are enough; the estimate and
        # the derivatives of the check use the full precision
        search_tol = max(prob.tol, 1e-4) if prob.family.link in ("logit", "log") else prob.tol
        th1, crit1, ev1, st1 = _bobyqa(lambda th: dev0(th, search_tol), theta0, lower, step0, control.maxfun,
                                       **loose)
        runs.append(StageRun("nAGQ=0 (theta)", crit1, ev1, st1))
        prob.u = None
        prob.beta = None
        try:
            crit1 = dev0(th1)
        except (FloatingPointError, np.linalg.LinAlgError) as err:
            raise MixedModelError(_pirls_failure(prob, err)) from err
        beta1, u1 = prob.beta.copy(), prob.u.copy()
        if nagq == 0:
            theta, beta, u, crit = th1, beta1, u1, crit1
            check = hess = None
            if derivs:
                g, H = deriv12(dev0, th1, fx=crit1, lower=lower)
                prob.u, prob.beta = u1.copy(), beta1.copy()
                check = check_conv(g, H, (lower == 0) & (th1 < DERIV_DELTA), control.check_tol)
        else:
            # stage 2: θ and β together; β in units of its (R_X) standard error, for the optimizer only
            # β = β₁ + R_X⁻¹ x: x has (nearly) identity curvature, so BOBYQA's model is well conditioned even
            # for strongly correlated coefficients (age and age², the levels of a factor)
            try:
                Rinv = np.linalg.inv(np.linalg.cholesky(_rx_crossprod(prob, th1, beta1, u1)).T) * np.sqrt(2.0)
                if not np.all(np.isfinite(Rinv)):
                    raise np.linalg.LinAlgError
            except np.linalg.LinAlgError:
                Rinv = np.eye(len(beta1))

            def dev2(x):
                return prob.deviance(x[:nt], beta1 + Rinv @ x[nt:], nagq, tol=search_tol)

            x0 = np.concatenate([th1, np.zeros(len(beta1))])
            lo2 = np.concatenate([lower, np.full(len(beta1), -np.inf)])
            step2 = np.concatenate([np.where(th1 > 0.5, 0.2 * th1, 0.1), np.full(len(beta1), 0.5)])
            # BOBYQA to 1e-6 in the deviance, then Newton's method with the check's own derivatives: the
            # Hessian (lme4's deriv12, needed for the standard errors anyway) and central-difference gradients
            x2, crit2, ev2, st2 = _bobyqa(dev2, x0, lo2, step2, control.maxfun, ftol=1e-6, xtol=1e-5)
            runs.append(StageRun(f"nAGQ={nagq} (theta, beta)", crit2, ev2, st2))
            theta, beta = x2[:nt], beta1 + Rinv @ x2[nt:]

            def dev_exact(par):
                return prob.deviance(par[:nt], par[nt:], nagq)

            par = np.concatenate([theta, beta])
            lo_raw = np.concatenate([lower, np.full(len(beta), -np.inf)])
            crit = dev_exact(par)
            if not derivs:
                return GlmerOptimum(theta=theta, beta=beta, u=prob.u.copy(), criterion=float(crit), runs=runs,
                                    check=None, hessian=None)
            dev_raw = _ModePredictor(prob, dev_exact, par)
            dev_raw.remember(par, crit)
            g, H = deriv12(dev_raw, par, fx=crit, lower=lo_raw)
            h_at = par.copy()
            bnd = np.concatenate([(lower == 0) & (theta < DERIV_DELTA), np.zeros(len(beta), bool)])
            check = check_conv(g, H, bnd, control.check_tol)
            for it in range(6):
                small = _newton_decrement(g, H, bnd) < 1e-7  # the deviance Newton's step would still gain
                if (check.ok and small) or not np.all(np.isfinite(g)) or not np.all(np.isfinite(H)):
                    break
                par_n = _newton_step(par, g, H, bnd, lo_raw, dev_raw, crit)
                if par_n is None:
                    break
                par, crit = par_n
                runs.append(StageRun("Newton step", crit, 0, "the check's gradient and Hessian"))
                g = _gradient(dev_raw, par, crit, lo_raw)
                bnd = np.concatenate([(lower == 0) & (par[:nt] < DERIV_DELTA), np.zeros(len(beta), bool)])
                check = check_conv(g, H, bnd, control.check_tol)
            moved = np.abs(par - h_at) / np.sqrt(np.maximum(np.abs(np.diag(np.linalg.pinv(H))), 1e-300))
            if np.any(moved > 0.05):  # the Hessian of the SEs at the estimate itself
                g, H = deriv12(dev_raw, par, fx=crit, lower=lo_raw)
                check = check_conv(g, H, bnd, control.check_tol)
            hess = H
            crit = dev_raw(par)  # leave the problem's warm start at the estimate
            u = prob.u.copy()
            theta, beta = par[:nt], par[nt:]
    return GlmerOptimum(theta=np.asarray(theta, float), beta=np.asarray(beta, float), u=u, criterion=float(crit),
                        runs=runs, check=check, hessian=hess)


class _ModePredictor:
    """The deviance for the check's points with PIRLS started from a linear prediction of the modes:
    ũ(x) ≈ ũ(x₀) + Σ_j (x − x₀)_j D_j, D_j = (ũ(x₀ + h e_j) − ũ(x₀)) / h from the forward points deriv12 evaluates
    first.  The points are 1e-4 apart, so the prediction is good to O(h²) and PIRLS usually needs one step where
    the previous point's modes needed two; where no prediction is available the last modes are used, as before.
    PIRLS still iterates to its tolerance: the deviance is the same function, only its start differs."""

    def __init__(self, prob: GlmmProblem, fun, x0):
        self.prob, self.fun, self.x0 = prob, fun, np.array(x0, float)
        self.u0 = prob.u.copy()  # the modes at x0 (fun(x0) was the last evaluation)
        self.D: dict[int, np.ndarray] = {}
        self.memo: dict[bytes, tuple] = {}  # a point evaluated before: its deviance and modes

    def remember(self, x, val):
        """Record that ``fun(x) == val`` with the problem's current modes (x was the last point evaluated)."""
        self.memo[np.asarray(x, float).tobytes()] = (val, self.prob.u.copy())

    def __call__(self, x):
        key = np.asarray(x, float).tobytes()
        if key in self.memo:  # e.g. the estimate itself, evaluated again to leave its modes in the problem
            val, u = self.memo[key]
            self.prob.u = u.copy()
            return val
        d = np.asarray(x, float) - self.x0
        nz = np.flatnonzero(d)
        known = [j for j in nz if j in self.D]
        if known and len(known) == len(nz):
            u = self.u0.copy()
            for j in nz:
                u += d[j] * self.D[j]
            self.prob.u = u
        val = self.fun(x)
        if len(nz) == 1 and nz[0] not in self.D and self.prob.u is not None and len(self.prob.u) == len(self.u0):
            self.D[int(nz[0])] = (self.prob.u - self.u0) / d[nz[0]]
        if self.prob.u is not None:
            self.remember(x, val)
        return val


def _pirls_failure(prob: GlmmProblem, err) -> str:
    """A clear message when PIRLS cannot find the modes (lme4 stops with 'pwrssUpdate did not converge')."""
    msg = (f"PIRLS could not find the conditional modes and fixed effects ({err}; lme4 stops here too: "
           "'pwrssUpdate did not converge in (maxit) iterations')")
    if prob.family.family == "binomial" and prob.beta is not None and np.max(np.abs(prob.beta)) > 15:
        msg += (": the fixed effects diverge, which means complete separation — a predictor (or a combination of "
                "predictors) predicts every outcome exactly, so its coefficient is infinite; remove or merge it, "
                "or use a penalized (Firth / Bayesian) model")
    return msg


def _gradient(fun, x, fx, lower, delta=DERIV_DELTA):
    """Central-difference gradient (deriv12's, without the Hessian)."""
    g = np.empty(len(x))
    for j in range(len(x)):
        xa, xs = x.copy(), x.copy()
        xa[j] += delta
        xs[j] = max(x[j] - delta, lower[j])
        g[j] = (fun(xa) - fun(xs)) / (xa[j] - xs[j])
    return g


def _newton_step(par, g, H, boundary, lower, fun, f0):
    """x − H⁻¹ g on the parameters off the boundary (halved until the deviance falls), or None."""
    free = ~boundary
    try:
        step = np.zeros_like(par)
        step[free] = np.linalg.solve(H[np.ix_(free, free)], g[free])
    except np.linalg.LinAlgError:
        return None
    for _ in range(8):
        x = np.maximum(par - step, lower)
        fx = fun(x)
        if np.isfinite(fx) and fx < f0:
            return x, fx
        step = step / 2
    return None


def _rx_crossprod(prob: GlmmProblem, theta, beta, u) -> np.ndarray:
    RX = prob.rx(theta, beta, u)
    return RX.T @ RX


def _warn_fit(fit: GlmerFit) -> None:
    if fit.check is not None and not fit.check.ok:
        warnings.warn(f"Model failed to converge: {fit.check.message}", UserWarning, stacklevel=3)
    if fit.singular:
        warnings.warn("boundary (singular) fit: see help('isSingular')", UserWarning, stacklevel=3)
    if fit.family.family == "binomial":
        mu = fit.mu
        if np.any((mu < 10 * np.finfo(float).eps * 1e6) | (mu > 1 - 1e-10)) and np.max(np.abs(fit.beta)) > 10:
            warnings.warn("fitted probabilities numerically 0 or 1 occurred: a predictor separates the outcomes "
                          "completely or quasi-completely, so its coefficient and standard error are not "
                          "reliable", UserWarning, stacklevel=3)


register_fitter("glmer", glmer)  # update() refits through it
