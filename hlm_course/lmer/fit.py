"""The fitted model: lme4's ``lmer`` and ``merMod`` in miniature.

Bates et al. (2015), §4–5: the fit's accessors — ``fixef`` (eq. 19's β̂),
``ranef`` (the conditional modes b̂ = Λθ û), ``VarCorr`` (T = σ² Λθ Λθ'),
``vcov`` (σ² (R_X'R_X)⁻¹), the criteria (eqs. 34, 41) — and ``lmer`` itself,
which chains the other modules: :mod:`.formula` (model frame and matrices),
:mod:`.deviance` (cross-products and the profiled criterion), :mod:`.optimize`
(BOBYQA and the convergence check).
"""

from __future__ import annotations

import dataclasses
import warnings
from functools import lru_cache
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .blas import one_blas_thread
from .checks import check_fixed_rank, drop_dependent_columns, warn_convergence
from .deviance import (SINGULAR_TOL, CrossProducts, PLSSolution, ScaledProblem, free_theta, pls_solve, theta_lower,
                       thin_qr)
from .errors import MixedModelError
from .formula import (R_CONSTANTS, ParsedFormula, build_design, evaluate, expression_variables, formula_variables,
                      model_frame, parse_formula)
from .mermod import MerMod
from .multiterm import LmerFitMulti, lmer_multi
from .optimize import ConvergenceCheck, LmerControl, OptimizerRun, fit_theta
from .reterms import grouping_factor
from .update import register_fitter

__all__ = ["lmer", "LmerFit"]


@dataclass(repr=False)
class LmerFit(MerMod):
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
    _random_design_infos: tuple = field(default=None, repr=False)  # each term's patsy DesignInfo (predict)
    _fixed_r_names: dict = field(default=None, repr=False)  # patsy column -> R's name (r_column_names)
    check: ConvergenceCheck | None = None  # the convergence check at the estimate (optimize.check_optimum)
    control: LmerControl = field(default_factory=LmerControl)
    blocks: tuple | None = None  # term of each random effect: Λθ's block structure (None: one term)
    offset: np.ndarray | None = field(default=None, repr=False)  # offset(...) terms, already subtracted from y
    response: str | None = None  # the response as written (e.g. "log(Reaction)")

    @property
    def free(self) -> np.ndarray:
        """Which elements of θ are parameters (all, or the diagonal for ``(x || g)``)."""
        q = self.xp.q
        return np.ones(q * (q + 1) // 2, bool) if self.blocks is None else free_theta(self.blocks)

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
    def npar(self) -> int:
        """Number of parameters: fixed effects, θ, and σ (as in lme4's logLik df)."""
        return len(self.fixed_names) + int(np.sum(self.free)) + 1

    # -- variance components -----------------------------------------------
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
        """lme4's ``isSingular`` (a diagonal element of Λθ below 1e-4), judged on
        the scaled problem's Λθ, so that it does not depend on the units of the
        predictors (lme4 would call a slope in seconds singular)."""
        theta = self.theta if self.xp.scaled is None else self.xp.scaled.to_work(self.theta)
        return bool(np.any(theta[theta_lower(self.xp.q) == 0] < SINGULAR_TOL))

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
        fitted = self.X @ self.pls.beta + np.sum(self.Z * b, axis=1)
        if self.offset is not None:
            fitted = fitted + self.offset
        return pd.Series(fitted, index=self.data.index, name="fitted")

    @property
    def resid(self) -> pd.Series:
        """Level-1 residuals y − X β̂ − Z b̂."""
        b = self.pls.b[self.codes]
        return pd.Series(self.y - self.X @ self.pls.beta - np.sum(self.Z * b, axis=1), index=self.data.index,
                         name="resid")

    # -- refitting -------------------------------------------------------------
    def refit(self, reml: bool | None = None, y: np.ndarray | None = None) -> "LmerFit":
        """Refit with the same design: switch REML/ML and/or use a new response."""
        reml = self.reml if reml is None else reml
        y_new = self.y if y is None else np.asarray(y, dtype=float)
        if y_new.shape != self.y.shape:
            raise MixedModelError(f"new response has shape {y_new.shape}, expected {self.y.shape}")
        if not np.all(np.isfinite(y_new)):
            raise MixedModelError("new response has infinite or missing values")
        with one_blas_thread():
            xp = self.xp
            if y is not None:  # only Z'y, X'y and y'y change; the scaled problem is rebuilt for the new y
                xp = _replace_response(self.xp, self.X, self.Z, y_new, self.codes)
                xp.scaled = ScaledProblem.from_arrays(self.X, self.Z, y_new, self.codes, self.ngroups, self.blocks)
            opt = fit_theta(xp, reml, start=self.theta, control=self.control, free=self.free)
            pls = pls_solve(opt.best.theta, xp)
        fit = dataclasses.replace(self, reml=reml, y=y_new, xp=xp, pls=pls, runs=opt.runs, check=opt.check)
        warn_convergence(fit, stacklevel=3)
        return fit

    # -- printing ----------------------------------------------------------------
    def summary(self) -> str:
        """lme4's ``summary()`` as text (criterion, scaled residuals, random and
        fixed effects, correlation of fixed effects)."""
        lines = self._criterion_lines()
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
        lines += self._fixed_lines() + self._status_lines()
        return "\n".join(lines)


def _replace_response(xp: CrossProducts, X, Z, y, codes) -> CrossProducts:
    """Cross-products for a new response with the same X and Z (used by refits
    and the bootstrap): only Z'y, X'y and y'y change."""
    Zty = np.zeros_like(xp.Zty)
    np.add.at(Zty, codes, Z * y[:, None])
    return CrossProducts(ZtZ=xp.ZtZ, ZtX=xp.ZtX, Zty=Zty, XtX=xp.XtX, Xty=X.T @ y,
                         yty=float(y @ y), n=xp.n)


def _validate_design(X, Z, codes, J, fixed_names, random_names, parsed, R=None) -> None:
    """Clear errors for designs that cannot define the model (§3: lme4's checks)."""
    n, q = Z.shape
    if J < 2:
        raise MixedModelError(
            f"grouping factor '{parsed.group}' has only {J} level: a random effect needs at least two groups "
            "(lme4: grouping factors must have > 1 sampled level)")
    if J >= n:
        raise MixedModelError(
            f"number of levels of each grouping factor must be < number of observations (problems: "
            f"{parsed.group}; {J} levels, {n} observations): each row would be its own group, and the random "
            "effect could not be told from the residual")
    if J * q >= n:
        raise MixedModelError(
            f"number of random effects ({J} groups × {q} terms = {J * q}) must be smaller than the "
            f"number of observations ({n}); the random effects would be unidentifiable (lme4: number of "
            f"observations (={n}) <= number of random effects (={J * q}))")
    check_fixed_rank(X, fixed_names, R)
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


def _as_bool(reml, name="reml") -> bool:
    if isinstance(reml, (bool, np.bool_)):
        return bool(reml)
    raise MixedModelError(f"{name} must be True or False, got {reml!r}")


@lru_cache(maxsize=256)
def _parse(formula: str) -> tuple[ParsedFormula, frozenset]:
    """The parsed formula (§2) and the data columns it uses, parsed once per formula string."""
    parsed = parse_formula(formula)
    variables = (set(expression_variables(parsed.response)) | formula_variables(parsed.fixed)
                 | set(parsed.group_columns))
    for term in parsed.terms:
        variables |= formula_variables(term.expr)
    for off in parsed.offsets:
        variables |= expression_variables(off)
    return parsed, frozenset(variables)


def _lmer_one_factor(formula, parsed, data, mf, reml, control, frame, y, offset, Xdf) -> LmerFit:
    """One grouping factor: Z, the per-group cross-products (:class:`CrossProducts`) and their scaled
    problem, the optimizer, the fit."""
    Zparts, blocks, random_names = [], [], []
    for t, term in enumerate(parsed.terms):
        Zt = build_design(term.expr, frame, f"random-effects {term}", full=mf.full)
        Zparts.append(Zt)
        names = [Zt.attrs["r_names"][c] for c in Zt.columns]
        blocks += [t] * len(names)  # one block of Λθ per term ('||' is already split into terms)
        random_names += names
    if len(set(random_names)) < len(random_names):
        raise MixedModelError(f"random-effects terms {', '.join(map(str, parsed.terms))} repeat an effect "
                              f"({random_names}); each effect may appear once")
    blocks = tuple(int(b) for b in pd.factorize(np.asarray(blocks))[0])
    X = np.asfortranarray(Xdf.to_numpy(dtype=float))  # contiguous columns: one pass per column
    Z = np.asfortranarray(np.column_stack([z.to_numpy(dtype=float) for z in Zparts]))
    if len(parsed.group_columns) == 1:
        codes, groups = pd.factorize(frame[parsed.group], sort=True)
    else:  # an interaction a:b as the one grouping factor
        factor = grouping_factor(parsed.group, frame)
        codes, groups = factor.codes.astype(np.intp), factor.categories
    groups = pd.Index(groups, name=parsed.group)
    J = len(groups)
    fixed_names = [Xdf.attrs["r_names"][c] for c in Xdf.columns]
    QR = thin_qr(X)
    _validate_design(X, Z, codes, J, fixed_names, random_names, parsed, R=QR[1])

    xp = CrossProducts.from_arrays(X, Z, y, codes, J)
    xp.scaled = ScaledProblem.from_arrays(X, Z, y, codes, J, blocks, qr=QR)
    one_term = len(set(blocks)) == 1
    free = None if one_term else free_theta(blocks)
    opt = fit_theta(xp, reml, control=control, free=free)
    kept = data.iloc[np.flatnonzero(mf.keep)] if mf.n_dropped else data
    fit = LmerFit(formula=formula, parsed=parsed, reml=reml, data=kept, X=X, Z=Z, y=y, codes=codes,
                  groups=groups, fixed_names=fixed_names, random_names=random_names, xp=xp,
                  pls=pls_solve(opt.best.theta, xp), runs=opt.runs, n_dropped=mf.n_dropped,
                  _fixed_design_info=Xdf.design_info, _random_design_info=Zparts[0].design_info,
                  _random_design_infos=tuple(z.design_info for z in Zparts),
                  _fixed_r_names=Xdf.attrs["r_names"], check=opt.check, control=control,
                  blocks=None if one_term else blocks, offset=offset, response=parsed.response)
    return fit


def lmer(formula: str, data: pd.DataFrame, reml: bool = True,
         control: LmerControl | None = None) -> LmerFit | LmerFitMulti:
    """Fit a linear mixed model with lme4's method.

    The chain of lme4's stages: the formula and model frame (:mod:`.formula`), then for one grouping
    factor the per-group cross-products (:mod:`.deviance`), for several the random-effects terms
    (:mod:`.reterms`) and the blocked Cholesky factor (:mod:`.blocked`); the optimizer and its check
    (:mod:`.optimize`); the fitted model (:class:`LmerFit`, or :class:`LmerFitMulti` for several
    grouping factors).

    Parameters
    ----------
    formula
        lme4 syntax, e.g. ``"mathach ~ cses + (cses | school)"``,
        ``"normexam ~ standLRT + (1 | school)"``, ``"y ~ x + (0 + x | g)"``, ``"y ~ x + (x || g)"``,
        ``"log(y) ~ poly(x, 2) + scale(w) + I(x^2) + offset(o) + (1 | g)"``; several grouping factors:
        crossed ``"y ~ x + (1 | a) + (1 | b)"``, nested ``"y ~ year + (year | school/child)"`` (lme4's
        ``(year | child:school) + (year | school)``), interactions ``(1 | a:b)``.  R's semantics: factors,
        ``C()``, ``*`` and ``:`` interactions, ``I()`` with ``^`` a power, R's ``scale``
        (sd with n − 1), orthogonal ``poly``, ``log``, ``exp``, ``sqrt``, ``offset``.  A name is a column
        or a function, never a Python attribute: dotted columns (``IQ.verb``, ``y.T``) as they are, R's
        backticks (`` `my var` ``) or patsy's ``Q('my var')``; R's contrasts ``C(f, contr.sum)`` /
        ``C(f, sum)`` (and helmert, poly, treatment) or patsy's ``C(f, Sum)``.  As in R's model frame,
        ``scale()`` and ``poly()`` are computed on every row of ``data`` before rows with a missing value
        are dropped, factor levels left without rows are dropped (lme4's ``drop.unused.levels``), and
        fixed-effect columns that are (to 1e-7) linear combinations of earlier ones are dropped with a
        warning (lme4's ``checkRankX``).
    data
        A pandas DataFrame (any index).  Rows with a missing value (NaN, None,
        ``pd.NA``) in any variable of the model are dropped (lme4's
        ``na.omit``) and counted in ``n_dropped``; infinite values are an error.
    reml
        REML (default, as lme4) or maximum likelihood.
    control
        :class:`LmerControl`: the optimizer (``"bobyqa"``, ours, or
        ``"nloptwrap"``, lme4's default as lme4 runs it), a cap on evaluations
        (``maxfun``), restarts, the check's tolerance.

    Returns
    -------
    LmerFit
        ``converged`` is True only when the optimum passed the convergence
        check (``fit.check``); otherwise lmer warns with a remedy.
    """
    if not isinstance(data, pd.DataFrame):
        raise MixedModelError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    reml = _as_bool(reml)
    if control is None:
        control = LmerControl()
    elif not isinstance(control, LmerControl):
        raise MixedModelError(f"control must be an hc.LmerControl, got {type(control).__name__}")
    parsed, variables = _parse(formula) if isinstance(formula, str) else parse_formula(formula)  # (raises)
    order = [c for c in data.columns if c in variables] + sorted(v for v in variables if v not in data.columns
                                                                 and v not in R_CONSTANTS)  # (TRUE, pi: R's)
    mf = model_frame(data, order)
    if mf.n_dropped:
        warnings.warn(f"{mf.n_dropped} row(s) with missing values in the model's variables were dropped "
                      f"(as lme4's na.omit)", stacklevel=2)
    frame = mf.frame
    if len(frame) == 0:
        raise MixedModelError("no complete rows: every row has a missing value in a model variable")
    with one_blas_thread():  # tall-skinny and tiny matrices: threads cost more than they give
        y = evaluate(parsed.response, frame, "response")
        offset = None
        if parsed.offsets:
            offset = sum(evaluate(o, frame, "offset") for o in parsed.offsets)
            y = y - offset
        Xdf = drop_dependent_columns(build_design(parsed.fixed, frame, "fixed-effects", full=mf.full))
        if len(parsed.groups) > 1:  # several grouping factors: the general random-effects terms (lme4's reTrms)
            fit = lmer_multi(formula, parsed, data, mf, reml, control, frame, y, offset, Xdf)
        else:  # one grouping factor: per-group blocks (the fast path of deviance.py)
            fit = _lmer_one_factor(formula, parsed, data, mf, reml, control, frame, y, offset, Xdf)
    if fit.singular:
        warnings.warn("boundary (singular) fit: a random-effect variance is estimated as zero or a "
                      "correlation as ±1; see the section on checking a fit", stacklevel=2)
    warn_convergence(fit)
    first, best = fit.runs[0].criterion, fit.pls.deviance(reml)
    if fit.converged and len(fit.runs) > 1 and first - best > 1e-3:
        warnings.warn(f"the first BOBYQA run stopped {first - best:.3g} above the optimum found by a restart "
                      "or polish; the best optimum was kept (see fit.optimizers)", stacklevel=2)
    fit._source_data = data  # all the rows given, for update() (R re-evaluates the call on its data)
    return fit


register_fitter("lmer", lmer)  # update() refits through it
