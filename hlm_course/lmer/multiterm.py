"""Fits with several grouping factors — nested, crossed, three levels: lme4's ``merMod`` for any ``reTrms``.

The chain of lme4's modular functions (Bates et al. 2015, §2–5):
:func:`~hlm_course.lmer.reterms.mk_re_terms` (the random-effects terms, §2.3),
:class:`~hlm_course.lmer.blocked.BlockedProblem` (the profiled criterion for
a general Z, §3), :func:`fit_theta_blocked` (BOBYQA and the convergence
check, §3.6, lme4's ``checkConv``), and :class:`LmerFitMulti` (the accessors,
§4–5, in lme4's meaning: ``ranef``, ``coef`` and ``cond_var`` per grouping
factor, ``varcorr`` laid out as lme4's ``VarCorr``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .blas import one_blas_thread
from .blocked import BlockedProblem, BlockedSolution
from .checks import check_fixed_rank, warn_convergence
from .deviance import SINGULAR_TOL, lower_factor
from .errors import MixedModelError
from .mermod import MerMod
from .optimize import ConvergenceCheck, LmerControl, Optimum, budgeted_runner, final_check, search
from .reterms import ReTerms, check_re_terms, mk_re_terms, template_index

__all__ = ["BlockedObjective", "fit_theta_blocked", "LmerFitMulti"]


class BlockedObjective:
    """The profiled criterion as a function of θ (all of it: each term has its own template) for the
    optimizer; the same interface as :class:`~hlm_course.lmer.optimize.Objective`."""

    def __init__(self, bp: BlockedProblem, reml: bool):
        self.bp, self.reml = bp, reml
        self.lower = bp.re.lower.copy()
        self.count = 0

    def __call__(self, x) -> float:
        self.count += 1
        try:
            return self.bp.objective(np.asarray(x, float), self.reml)
        except (np.linalg.LinAlgError, FloatingPointError, ValueError, ZeroDivisionError):
            return np.nan

    def theta(self, x) -> np.ndarray:
        return np.asarray(x, float).copy()

    def x_of(self, theta) -> np.ndarray:
        return np.maximum(np.asarray(theta, float), self.lower)

    def cone_point(self, x, eps):
        """x moved to T_i + ε v v' in every correlated term i whose T_i is singular (v: its null direction), as
        :func:`~hlm_course.lmer.optimize.cone_slope` needs; None when no such term is singular."""
        x = np.asarray(x, float).copy()
        off = self.bp.re.theta_offsets
        moved, scale_max = False, 1.0
        for i, t in enumerate(self.bp.re.terms):
            if t.k < 2:
                continue
            lam = t.lambda_template(x[off[i]: off[i + 1]])
            if np.min(np.abs(np.diag(lam))) > 1e-4:
                continue
            w, V = np.linalg.eigh(lam @ lam.T)
            scale = max(1.0, float(w[-1]))
            L = lower_factor(np.hstack([lam, np.sqrt(eps * scale) * V[:, :1]]))
            rows, cols = template_index(t.k)
            x[off[i]: off[i + 1]] = L[rows, cols]
            moved, scale_max = True, max(scale_max, scale)
        if not moved:
            return None
        return np.maximum(x, self.lower), eps * scale_max


def fit_theta_blocked(bp: BlockedProblem, reml: bool, control: LmerControl | None = None,
                      start=None) -> Optimum:
    """Minimize the profiled criterion over θ (§3.6) from lme4's start (or ``start``) and check the optimum,
    with the default control's restarts and polish (:func:`~hlm_course.lmer.optimize.search`).  BOBYQA stops
    at lme4's tolerances (an evaluation costs more than on the one-factor path); the check then verifies the
    optimum, and a polish at rounding level follows only when it fails."""
    control = control or LmerControl()
    obj = BlockedObjective(bp, reml)
    run = budgeted_runner(obj, control)
    x0 = bp.re.theta.copy() if start is None else obj.x_of(start)
    runs, best, chk = search(obj, x0, control, run, lme4_tolerances=True)
    return Optimum(runs=runs, check=final_check(best, chk), best=best)


def _unique_names(names: list[str]) -> list[str]:
    """R's ``make.unique``: repeated names get ``.1``, ``.2`` (lme4's VarCorr group names)."""
    seen: dict = {}
    out = []
    for n in names:
        if n in seen:
            seen[n] += 1
            out.append(f"{n}.{seen[n]}")
        else:
            seen[n] = 0
            out.append(n)
    return out


@dataclass(repr=False)
class LmerFitMulti(MerMod):
    """A fitted linear mixed model with any random-effects terms (lme4's ``merMod``).

    ``ranef``, ``coef`` and ``cond_var`` are dicts keyed by grouping factor
    (lme4's ``ranef`` list); ``varcorr`` is lme4's ``VarCorr`` table;
    ``ngrps`` the levels of each factor.
    """

    formula: str
    parsed: object
    reml: bool
    data: pd.DataFrame
    X: np.ndarray
    y: np.ndarray
    re: ReTerms
    fixed_names: list
    bp: BlockedProblem
    pls: BlockedSolution
    runs: list
    check: ConvergenceCheck | None = None
    control: LmerControl = field(default_factory=LmerControl)
    n_dropped: int = 0
    offset: np.ndarray | None = field(default=None, repr=False)
    response: str | None = None
    _fixed_design_info: object = field(default=None, repr=False)
    _fixed_r_names: dict = field(default=None, repr=False)

    # -- sizes -----------------------------------------------------------------------------------
    @property
    def nobs(self) -> int:
        return len(self.y)

    @property
    def ngrps(self) -> dict:
        """Levels of each grouping factor (lme4's ``ngrps``)."""
        return self.re.ngrps

    @property
    def groups(self) -> list:
        return list(self.re.flist)

    @property
    def npar(self) -> int:
        """Fixed effects, θ and σ (lme4's logLik df)."""
        return len(self.fixed_names) + len(self.theta) + 1

    @property
    def free(self) -> np.ndarray:
        return np.ones(len(self.theta), bool)

    # -- variance components ----------------------------------------------------------------------
    @property
    def varcorr(self) -> pd.DataFrame:
        """lme4's ``VarCorr`` as a table: one row per random effect of each term (Groups named as lme4 names
        them, ``g``, ``g.1`` for a second term on ``g``), then the residual; ``Corr`` columns hold each
        effect's correlation with the earlier effects of its term."""
        rows = []
        kmax = max(t.k for t in self.re.terms)
        ncorr = kmax - 1
        cnames = ["Corr"] if ncorr == 1 else [f"Corr.{m + 1}" for m in range(ncorr)]
        names = _unique_names([t.group for t in self.re.terms])
        for gname, t, lam in zip(names, self.re.terms, self.re.templates(self.theta)):
            T = self.sigma2 * lam @ lam.T
            sd = np.sqrt(np.diag(T))
            for a, col in enumerate(t.columns):
                row = {"Groups": gname, "Name": col, "Variance": T[a, a], "Std.Dev.": sd[a]}
                for m in range(ncorr):
                    with np.errstate(invalid="ignore", divide="ignore"):
                        row[cnames[m]] = T[a, m] / (sd[a] * sd[m]) if m < a else np.nan
                rows.append(row)
        rows.append({"Groups": "Residual", "Name": "", "Variance": self.sigma2, "Std.Dev.": self.sigma,
                     **{c: np.nan for c in cnames}})
        return pd.DataFrame(rows)

    @property
    def singular(self) -> bool:
        """lme4's ``isSingular``: an element of θ with lower bound 0 below 1e-4."""
        th, lo = self.theta, self.re.lower
        return bool(np.any(th[lo == 0] < SINGULAR_TOL))

    # -- random effects ---------------------------------------------------------------------------------
    def _per_term(self, values: np.ndarray) -> list[np.ndarray]:
        Gp = self.re.Gp
        return [values[Gp[i]: Gp[i + 1]].reshape(t.nlevels, t.k) for i, t in enumerate(self.re.terms)]

    @property
    def ranef(self) -> dict:
        """Conditional modes b̂ = Λθ û per grouping factor: a DataFrame (levels × effects) for each, the
        effects of every term on that factor side by side (lme4's ``ranef``)."""
        out: dict = {}
        for t, b in zip(self.re.terms, self._per_term(self.pls.b)):
            df = pd.DataFrame(b, index=pd.Index(t.levels, name=t.group), columns=t.columns)
            out[t.group] = df if t.group not in out else out[t.group].join(df, rsuffix=".1")
        return out

    @property
    def cond_var(self) -> dict:
        """Conditional covariances of the random effects per grouping factor, (levels, k, k) (lme4's
        ``condVar``: diagonal blocks of σ² Λθ (L L')⁻¹ Λθ'; effects of separate terms get no covariance)."""
        blocks = self.bp.cond_var_blocks(self.pls, self.sigma2)
        out: dict = {}
        for t, V in zip(self.re.terms, blocks):
            if t.group not in out:
                out[t.group] = V
            else:
                old = out[t.group]
                J, a, b = old.shape[0], old.shape[1], V.shape[1]
                new = np.zeros((J, a + b, a + b))
                new[:, :a, :a], new[:, a:, a:] = old, V
                out[t.group] = new
        return out

    @property
    def coef(self) -> dict:
        """Per grouping factor, fixed effects plus that factor's conditional modes (lme4's ``coef``)."""
        out = {}
        for g, b in self.ranef.items():
            df = pd.DataFrame(np.tile(self.pls.beta, (len(b), 1)), index=b.index, columns=self.fixed_names)
            for name in b.columns:
                if name not in df.columns:
                    df[name] = 0.0
                df[name] = df[name] + b[name]
            out[g] = df
        return out

    # -- fitted values and residuals ------------------------------------------------------------------
    @property
    def fitted(self) -> pd.Series:
        """Conditional fitted values X β̂ + Z b̂ (+ offset)."""
        f = self.X @ self.pls.beta + self.re.Zt.T @ self.pls.b
        if self.offset is not None:
            f = f + self.offset
        return pd.Series(f, index=self.data.index, name="fitted")

    @property
    def resid(self) -> pd.Series:
        r = self.y - self.X @ self.pls.beta - self.re.Zt.T @ self.pls.b
        return pd.Series(r, index=self.data.index, name="resid")

    # -- refitting -----------------------------------------------------------------------------------------
    def refit(self, reml: bool | None = None, y: np.ndarray | None = None) -> "LmerFitMulti":
        """Refit with the same design: switch REML/ML and/or use a new response (offset already removed)."""
        reml = self.reml if reml is None else reml
        y_new = self.y if y is None else np.asarray(y, dtype=float)
        if y_new.shape != self.y.shape:
            raise MixedModelError(f"new response has shape {y_new.shape}, expected {self.y.shape}")
        if not np.all(np.isfinite(y_new)):
            raise MixedModelError("new response has infinite or missing values")
        with one_blas_thread():
            bp = self.bp if y is None else BlockedProblem(self.re, self.X, y_new)
            opt = fit_theta_blocked(bp, reml, control=self.control, start=self.theta)
            pls = bp.solve(opt.best.theta)
        fit = dataclasses.replace(self, reml=reml, y=y_new, bp=bp, pls=pls, runs=opt.runs, check=opt.check)
        warn_convergence(fit, stacklevel=3)
        return fit

    @property
    def random_effects(self) -> list[tuple[str, str]]:
        """(grouping factor, effect) of every random effect, term by term."""
        return [(t.group, c) for t in self.re.terms for c in t.columns]

    @property
    def random_names(self) -> list[str]:
        """Each random effect as ``effect|group`` (``(Intercept)|plate``)."""
        return [f"{c}|{g}" for g, c in self.random_effects]

    def term_size(self, effect: tuple[str, str]) -> int:
        """Number of effects in the term holding ``effect`` (its variance and covariances are that term's)."""
        for t in self.re.terms:
            if t.group == effect[0] and effect[1] in t.columns:
                return t.k
        raise KeyError(effect)

    # -- printing ------------------------------------------------------------------------------------------
    def summary(self) -> str:
        """lme4's ``summary()`` as text."""
        lines = self._criterion_lines()
        vc = self.varcorr
        corr_cols = [c for c in vc.columns if c.startswith("Corr")]
        width = max(9, max(len(g) for g in vc["Groups"]) + 1)
        nwidth = max(12, max(len(n) for n in vc["Name"]) + 1)
        header = f" {'Groups':<{width}}{'Name':<{nwidth}}{'Variance':>10}{'Std.Dev.':>10}"
        if corr_cols:
            header += " Corr"
        lines.append(header)
        prev = None
        for _, row in vc.iterrows():
            grp = row["Groups"] if row["Groups"] != prev else ""
            prev = row["Groups"]
            line = f" {grp:<{width}}{row['Name']:<{nwidth}}{row['Variance']:10.4g}{row['Std.Dev.']:10.4f}"
            vals = [row[c] for c in corr_cols if np.isfinite(row[c])]
            if vals:
                line += " " + " ".join(f"{v:5.2f}" for v in vals)
            lines.append(line)
        ng = "; ".join(f"{g}, {n}" for g, n in self.ngrps.items())
        lines.append(f"Number of obs: {self.nobs}, groups:  {ng}")
        lines += self._fixed_lines() + self._status_lines()
        return "\n".join(lines)


def refit_many_multi(fit: LmerFitMulti, Y: np.ndarray, reml: bool, bar=None):
    """Refit a multi-term model to each row of Y, one by one from θ̂ (BOBYQA and the check): θ (nsim, len θ),
    β (nsim, p), σ (nsim,), the criterion (nsim,), 0 fallbacks (every refit is a full search) and each refit's
    σ̂² (R_X'R_X)⁻¹ (nsim, p, p) — :class:`~hlm_course.lmer.batch.Refits`' fields in order."""
    nsim, p = len(Y), len(fit.fixed_names)
    theta = np.empty((nsim, len(fit.theta)))
    beta = np.empty((nsim, p))
    sigma, crit = np.empty(nsim), np.empty(nsim)
    vcov = np.empty((nsim, p, p))
    for s_, y in enumerate(Y):
        bp = BlockedProblem(fit.re, fit.X, y)
        opt = fit_theta_blocked(bp, reml, control=fit.control, start=fit.theta)
        sol = bp.solve(opt.best.theta)
        theta[s_], beta[s_] = sol.theta, sol.beta
        sigma2 = sol.sigma2(reml)
        sigma[s_], crit[s_] = np.sqrt(sigma2), sol.deviance(reml)
        RXinv = np.linalg.inv(sol.RX)
        vcov[s_] = sigma2 * RXinv @ RXinv.T
        if bar is not None:
            bar.update(1)
    return theta, beta, sigma, crit, 0, vcov


def lmer_multi(formula, parsed, data, mf, reml: bool, control: LmerControl, frame, y, offset, Xdf) -> LmerFitMulti:
    """The multi-term chain: random-effects terms → blocked PLS → optimizer → fitted model."""
    X = np.asfortranarray(Xdf.to_numpy(dtype=float))
    fixed_names = [Xdf.attrs["r_names"][c] for c in Xdf.columns]
    check_fixed_rank(X, fixed_names)
    re = mk_re_terms(parsed.terms, frame, full=mf.full)
    check_re_terms(re, len(frame))
    bp = BlockedProblem(re, X, y)
    opt = fit_theta_blocked(bp, reml, control=control)
    kept = data.iloc[np.flatnonzero(mf.keep)] if mf.n_dropped else data
    return LmerFitMulti(formula=formula, parsed=parsed, reml=reml, data=kept, X=X, y=y, re=re,
                        fixed_names=fixed_names, bp=bp, pls=bp.solve(opt.best.theta), runs=opt.runs,
                        check=opt.check, control=control, n_dropped=mf.n_dropped, offset=offset,
                        response=parsed.response, _fixed_design_info=Xdf.design_info,
                        _fixed_r_names=Xdf.attrs["r_names"])
