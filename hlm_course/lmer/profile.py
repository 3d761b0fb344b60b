"""Profile likelihood: lme4's ``profile()`` and ``confint(method = "profile")`` for linear and generalized linear
mixed models.

Bates et al. (2015), §5.1 ("profile zeta"), and lme4's ``R/profile.R``.  Every profile is on the
**maximum-likelihood** deviance, as lme4's (a REML fit is refitted by ML first, ``refitML``).  For a parameter
ψ with ML estimate ψ̂ and deviance d̂ = −2 ℓ̂,

    ζ(ψ) = sign(ψ − ψ̂) √( min_{other parameters} d(ψ, ·) − d̂ ),

so that ζ is the signed square root of the likelihood-ratio statistic and a level-α interval is
{ψ : |ζ(ψ)| ≤ Φ⁻¹((1 + α)/2)}.

*Variance parameters* are profiled on lme4's standard-deviation/correlation scale: ``.sig01``, ``.sig02`` …
term by term (in each term: the first effect's SD, its correlations with the later effects, the next SD …,
lme4's order) and ``.sigma``.  The deviance as a function of them (lme4's ``devfun2``) has β profiled out but
not σ:

    d(s, σ) = log|L_θ|² + r²_θ / σ² + n log(2π σ²),    Λθ = chol(T(s)) / σ,

with r²_θ the penalized residual sum of squares of eq. 16 at θ — one PLS evaluation
(:func:`~hlm_course.lmer.deviance.pls_at_factor` for one grouping factor, the blocked factor's
:meth:`~hlm_course.lmer.blocked.BlockedProblem.schur` for several).

*Fixed effects* are profiled as lme4 does it — the column of β_j is removed and X_j b becomes an offset — but in
closed form: at a given θ, fixing β_j = b raises the penalized residual sum of squares by exactly
(b − β̂_θ,j)² / V_jj, V = (R_X'R_X)⁻¹ (the quadratic form ‖R_X(β − β̂_θ)‖² minimized over the other β's), so

    d_j(b; θ) = log|L_θ|² + n [1 + log(2π (r²_θ + (b − β̂_θ,j)² / V_jj) / n)]

is minimized over θ alone, with no new model matrices.

*GLMMs* (glmer fits, nAGQ ≥ 1) have no closed forms to use: as lme4's ``profile.merMod`` does for a GLMM, every
parameter — ``.sig01`` … (no ``.sigma``) and every fixed effect — is held in turn while the fit's own deviance
function of (θ, β) (Laplace, or adaptive Gauss–Hermite at the fit's nAGQ: one PIRLS solve for the modes ũ per
evaluation) is minimized over all the others (:class:`_GlmmProfiler`).  The first step away from the estimate is
lme4's for a GLMM (1 %, or 10⁻³ from 0) for fixed effects too.  An nAGQ = 0 fit has no such function (lme4
fails with 'theta size mismatch'); it is refused.

The points at which ζ is computed follow lme4's ``profile.merMod`` (steps of ``δ = cutoff/8`` in ζ predicted
from the last two points, at most ``maxmult`` times the last step, until |ζ| passes
``cutoff = √χ²_{nptot}(1 − alphamax)`` or the parameter reaches its bound).  The interval ends are then the
roots of ζ(ψ) = ±z found by Brent's method on the profile itself between the bracketing points, not read from a
spline through them (lme4's ``confint.thpr`` inverts an interpolating spline); the two agree to the spline's
accuracy, and an end that the profile does not reach before the parameter's bound is that bound (lme4: 0 for an
SD, ±1 for a correlation).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import nlopt
import numpy as np
import pandas as pd
from scipy import linalg, stats

from .blas import one_blas_thread
from .deviance import LOG_2PI, lambda_theta, pls_at_factor, pls_solve, theta_lower, theta_of
from .errors import MixedModelError
from .optimize import finite_recorded
from .reterms import template_index

__all__ = ["profile", "confint", "LmerProfile", "wald_confint", "register_bootstrap"]

_dpotrf, _dtrtri = linalg.lapack.dpotrf, linalg.lapack.dtrtri
#: The inner optimizer's first steps, relative to each parameter (the starts are extrapolated along the
#: profile, so they are close).
_FIRST_STEP = 0.03

#: The parametric bootstrap behind ``confint(method="boot")``: :func:`hlm_course.inference.bootstrap_ci`, which
#: registers itself here when :mod:`hlm_course.inference` is imported (always, with the package) — the engine
#: does not import the course's inference layer, whose refits import the fit classes.
_BOOTSTRAP: list = []


def register_bootstrap(fn) -> None:
    """Set the function ``fn(fit, nsim=, level=, seed=)`` that ``confint(method="boot")`` calls."""
    _BOOTSTRAP[:] = [fn]


def _is_glmm(fit) -> bool:
    return hasattr(fit, "family") and hasattr(fit, "nagq")


def _inv_upper(R: np.ndarray) -> np.ndarray:
    """R⁻¹ of a small upper-triangular matrix (LAPACK dtrtri, no checks)."""
    inv, info = _dtrtri(R, lower=0)
    if info != 0:
        raise np.linalg.LinAlgError("singular R_X")
    return inv


# ---------------------------------------------------------------------------------------------------------------
# the deviance pieces at θ, for one grouping factor or several
# ---------------------------------------------------------------------------------------------------------------
class _SdCorScale:
    """lme4's standard-deviation/correlation scale of the variance parameters, for any fit that gives the blocks
    of Λθ (``templates``, one k × k template per term, and back: ``theta_of``), the terms' sizes ``ks`` and
    their labels ``[(group, columns)]``."""

    ks: list
    labels: list

    def templates(self, theta) -> list[np.ndarray]:  # pragma: no cover - abstract
        raise NotImplementedError

    def theta_of(self, blocks) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- the standard-deviation / correlation scale (lme4's "sdcor") ---------------------------------------------
    def sdcor(self, theta, sigma) -> np.ndarray:
        """.sig01, … (term by term: SD, its correlations with later effects, next SD …) for θ and σ."""
        out = []
        for L in self.templates(theta):
            T = sigma ** 2 * L @ L.T
            sd = np.sqrt(np.diag(T))
            k = len(sd)
            for j in range(k):
                out.append(sd[j])
                for i in range(j + 1, k):
                    out.append(T[i, j] / (sd[i] * sd[j]) if sd[i] * sd[j] > 0 else 0.0)
        return np.asarray(out)

    def theta_of_sdcor(self, s, sigma) -> np.ndarray:
        """θ of SDs and correlations ``s`` and σ (lme4's ``convProfParToPar``): Λ = diag(sd) chol(C) / σ."""
        blocks, pos = [], 0
        for k in self.ks:
            sd, C = np.empty(k), np.eye(k)
            for j in range(k):
                sd[j] = s[pos]
                pos += 1
                for i in range(j + 1, k):
                    C[i, j] = C[j, i] = s[pos]
                    pos += 1
            if k == 1:
                F = np.ones((1, 1))
            elif k == 2:
                F = np.array([[1.0, 0.0], [C[1, 0], np.sqrt(max(0.0, 1.0 - C[1, 0] ** 2))]])
            else:
                F = np.linalg.cholesky(C)
            blocks.append(sd[:, None] * F / sigma)
        return self.theta_of(blocks)

    def names(self) -> tuple[list[str], list[str], np.ndarray, np.ndarray]:
        """lme4's names (.sig01, …), the descriptive names (sd_(Intercept)|Subject, cor_Days.(Intercept)|Subject),
        and the bounds of the variance parameters on the sdcor scale."""
        descr, lo, hi = [], [], []
        for g, cols in self.labels:
            k = len(cols)
            for j in range(k):
                descr.append(f"sd_{cols[j]}|{g}")
                lo.append(0.0)
                hi.append(np.inf)
                for i in range(j + 1, k):
                    descr.append(f"cor_{cols[i]}.{cols[j]}|{g}")
                    lo.append(-1.0)
                    hi.append(1.0)
        sig = [f".sig{m + 1:02d}" for m in range(len(descr))]
        return sig, descr, np.array(lo), np.array(hi)


class _Kernel(_SdCorScale):
    """What profiling needs from a linear mixed model fit at any θ: log|L_θ|², r²_θ and, for fixed effects, β̂_θ
    and R_X; the blocks of Λθ (one k × k template per term) and back; the free elements of θ and their lower
    bounds."""

    def __init__(self, fit):
        self.fit = fit
        if _is_glmm(fit) or not (hasattr(fit, "bp") or hasattr(fit, "xp")):
            raise MixedModelError(f"profile needs a fit from hc.lmer or hc.glmer, got {type(fit).__name__}")
        self.n, self.p = fit.nobs, len(fit.fixed_names)
        if hasattr(fit, "bp"):  # an LmerFitMulti (duck-typed: this module does not import the fit classes)
            self.multi = True
            re = fit.re
            self.ks = [t.k for t in re.terms]
            self.labels = [(t.group, list(t.columns)) for t in re.terms]
            self.free = np.ones(len(fit.theta), bool)
            self.lower = re.lower.copy()
        else:  # an LmerFit: one grouping factor
            self.multi = False
            q = fit.xp.q
            self.q = q
            blocks = np.zeros(q, int) if fit.blocks is None else np.asarray(fit.blocks)
            order = list(dict.fromkeys(blocks.tolist()))
            self.groups = [np.flatnonzero(blocks == b) for b in order]
            self.ks = [len(g) for g in self.groups]
            self.labels = [(fit.group, [fit.random_names[i] for i in g]) for g in self.groups]
            self.free = fit.free
            self.lower = theta_lower(q)[self.free]

    # -- θ <-> per-term templates ------------------------------------------------------------------------------
    def templates(self, theta) -> list[np.ndarray]:
        if self.multi:
            return self.fit.re.templates(theta)
        lam = lambda_theta(theta, self.q)
        return [lam[np.ix_(g, g)] for g in self.groups]

    def theta_of(self, blocks) -> np.ndarray:
        if self.multi:
            return np.concatenate([L[template_index(L.shape[0])] for L in blocks])
        lam = np.zeros((self.q, self.q))
        for g, L in zip(self.groups, blocks):
            lam[np.ix_(g, g)] = L
        return theta_of(lam)

    # -- the PLS at θ ----------------------------------------------------------------------------------------------
    def pieces(self, theta) -> tuple[float, float]:
        """(log|L_θ|², r²_θ) on the original data's scale."""
        fit = self.fit
        if self.multi:
            bp = fit.bp
            logdet1, S = bp.schur(np.asarray(theta, float))
            L22, info = _dpotrf(S, lower=1, clean=0, overwrite_a=1)
            if info != 0:
                raise np.linalg.LinAlgError("not positive definite")
            d = np.diag(L22)
            return logdet1 + 2.0 * float(np.sum(np.log(d[:bp.qr]))), float(d[-1] ** 2) * bp.s ** 2
        sc = fit.xp.scaled
        lam = lambda_theta(theta, self.q)
        if sc is None:
            sol = pls_solve(theta, fit.xp)
            return sol.logdet_L, sol.pwrss
        pwrss_w, logdet_L, _ = pls_at_factor(sc.Binv @ lam, sc.xp, criterion_only=True)
        return float(logdet_L), float(sc.s ** 2 * pwrss_w)

    def fixed_pieces(self, theta) -> tuple[float, float, np.ndarray, np.ndarray]:
        """(log|L_θ|², r²_θ, β̂_θ, V = (R_X'R_X)⁻¹) on the original data's scale."""
        fit = self.fit
        theta = np.asarray(theta, float)
        if self.multi:
            bp = fit.bp
            logdet1, S = bp.schur(theta)
            L22, info = _dpotrf(S, lower=1, clean=1, overwrite_a=1)
            if info != 0:
                raise np.linalg.LinAlgError("not positive definite")
            qr, p = bp.qr, bp.p
            d = np.diag(L22)
            LXX = L22[qr: qr + p, qr: qr + p]
            beta_w = linalg.solve_triangular(LXX, L22[-1, qr: qr + p], lower=True, trans="T")
            beta = bp.gamma + bp.s * (bp.A @ beta_w)
            RXinv = bp.A @ _inv_upper(np.ascontiguousarray(LXX.T))  # (R_X,w A⁻¹)⁻¹
            return (logdet1 + 2.0 * float(np.sum(np.log(d[:qr]))), float(d[-1] ** 2) * bp.s ** 2, beta,
                    RXinv @ RXinv.T)
        sol = pls_solve(theta, fit.xp)
        RXinv = _inv_upper(sol.RX)
        return sol.logdet_L, sol.pwrss, sol.beta, RXinv @ RXinv.T

# ---------------------------------------------------------------------------------------------------------------
# the inner minimizations
# ---------------------------------------------------------------------------------------------------------------
def _minimize(f, x0, lower, upper, typical=None, step=None) -> tuple[np.ndarray, float]:
    """min f over a box (BOBYQA to 1e-9 in the deviance; NaN is a wall); the best point seen is kept.  The first
    steps are 3 % of each parameter (of at least a hundredth of its ``typical`` size: σ̂ for an SD, 1 for a
    correlation or θ), so that the search has the data's units, or ``step`` where it is given (not NaN)."""
    x0 = np.clip(np.asarray(x0, float), lower, upper)
    typical = np.ones(len(x0)) if typical is None else np.asarray(typical, float)
    n = len(x0)
    if n == 0:
        return x0, float(f(x0))
    best = [x0.copy(), np.inf]
    opt = nlopt.opt(nlopt.LN_BOBYQA, n)
    opt.set_lower_bounds(np.asarray(lower, float))
    opt.set_upper_bounds(np.asarray(upper, float))
    opt.set_min_objective(finite_recorded(
        f, best, errors=(np.linalg.LinAlgError, FloatingPointError, ValueError, ZeroDivisionError)))
    opt.set_ftol_abs(1e-9)  # in the deviance: ζ to ~1e-9 where it matters (|ζ| ~ 2)
    opt.set_xtol_rel(1e-7)
    span = np.where(np.isfinite(upper) & np.isfinite(lower), 0.25 * (np.asarray(upper) - np.asarray(lower)), np.inf)
    first = _FIRST_STEP * np.maximum(np.abs(x0), 0.01 * typical)
    if step is not None:
        first = np.where(np.isnan(step), first, step)
    opt.set_initial_step(np.minimum(first, span))
    opt.set_maxeval(20_000)
    try:
        opt.optimize(x0)
    except (nlopt.RoundoffLimited, ValueError, RuntimeError):
        pass
    return best[0], best[1]


def _deviance_rise(dev: float, base: float) -> float:
    """dev − base, the likelihood-ratio statistic ζ²; a deviance clearly below the fit's is an error (lme4's
    'profiling detected new, lower deviance')."""
    diff = dev - base
    if diff < -1e-6 * max(1.0, abs(base)):
        raise MixedModelError(
            f"profiling found a deviance {abs(diff):.3g} below the fit's: the fit did not reach the optimum "
            "(lme4: 'profiling detected new, lower deviance'); refit with a stricter control")
    return diff


@dataclass
class _Profiler:
    """The ζ functions of one ML fit (lme4's ``devfun2`` and ``fe.zeta``)."""

    kernel: _Kernel
    base: float  # the ML deviance at the optimum
    opt: np.ndarray  # all parameters at the optimum: .sig01 …, .sigma, β
    lower: np.ndarray
    upper: np.ndarray
    nvp: int  # variance parameters, σ included
    se: np.ndarray = None  # the fixed effects' standard errors (lme4's first step along their profiles)
    theta_opt: np.ndarray = None  # the free elements of θ at the optimum
    devtol: float = 1e-9

    @property
    def typical(self) -> np.ndarray:
        """The size of each variance parameter for the optimizer's first steps: σ̂ for SDs and σ, 1 for
        correlations."""
        sig = self.opt[self.nvp - 1]
        return np.where(self.lower[:self.nvp] < 0, 1.0, sig)
    evaluations: int = 0

    def done(self) -> None:
        """Nothing to restore after an LMM profile (the kernel's PLS has no state)."""

    def dev_var(self, pars) -> float:
        """lme4's ``devfun2``: the ML deviance at SDs/correlations and σ, β profiled out."""
        self.evaluations += 1
        s, sigma = pars[:-1], pars[-1]
        if not sigma > 0 or np.any(np.abs(s[self.lower[:self.nvp - 1] < 0]) > 1):
            return np.nan
        theta = self.kernel.theta_of_sdcor(s, sigma)[self.kernel.free]
        logdet_L, pwrss = self.kernel.pieces(self._full(theta))
        return logdet_L + pwrss / sigma ** 2 + self.kernel.n * (LOG_2PI + np.log(sigma ** 2))

    def _full(self, x) -> np.ndarray:
        th = np.zeros(len(self.kernel.free))
        th[self.kernel.free] = x
        return th

    def _check(self, dev) -> float:
        return max(_deviance_rise(dev, self.base), self.devtol)

    def zeta_var(self, w: int, value: float, start) -> np.ndarray:
        """The row (ζ, .sig01 …, .sigma, β) with variance parameter w held at ``value``."""
        nvp = self.nvp
        others = [i for i in range(nvp) if i != w]

        def f(x):
            pars = np.empty(nvp)
            pars[w], pars[others] = value, x
            return self.dev_var(pars)

        x, dev = _minimize(f, start, self.lower[others], self.upper[others], self.typical[others])
        if not np.isfinite(dev) or dev >= 1e299:
            return np.full(len(self.opt) + 1, np.nan)
        pars = np.empty(nvp)
        pars[w], pars[others] = value, x
        theta = self._full(self.kernel.theta_of_sdcor(pars[:-1], pars[-1])[self.kernel.free])
        beta = self.kernel.fixed_pieces(theta)[2]
        z = np.sign(value - self.opt[w]) * np.sqrt(self._check(dev))
        return np.concatenate([[z], pars, beta])

    def first_point(self, w: int, delta: float) -> float:
        """lme4's first step away from the estimate: 1 % (10⁻³ from 0) for a variance parameter, δ standard errors
        for a fixed effect."""
        pw = self.opt[w]
        if w < self.nvp:
            return 1e-3 if pw == 0 else pw * 1.01
        return pw + delta * self.se[w - self.nvp]

    def zeta_fun(self, w: int):
        """The row (ζ, parameters) with parameter w held at x, from the row ``prev`` (a neighbour on the
        profile, or an extrapolation along it) as the start: ``f(x, prev)``."""
        nvp = self.nvp
        if w < nvp:
            others = [i for i in range(nvp) if i != w]
            return lambda x, prev: self.zeta_var(w, x, prev[1:][others])
        k, j = self.kernel, w - nvp
        state = {"theta": self.theta_opt}

        def zeta(x, prev):
            sd = np.clip(prev[1:nvp + 1], self.lower[:nvp], self.upper[:nvp])
            start = state["theta"]
            if np.all(np.isfinite(sd)) and sd[-1] > 0:
                try:
                    start = k.theta_of_sdcor(sd[:-1], sd[-1])[k.free]
                except np.linalg.LinAlgError:  # an extrapolated correlation matrix that is not one
                    pass
            row, state["theta"] = self.zeta_fixed(j, x, start)
            return row
        return zeta

    def dev_fixed(self, j: int, b: float, x) -> float:
        self.evaluations += 1
        logdet_L, pwrss, beta, V = self.kernel.fixed_pieces(self._full(x))
        pw = pwrss + (b - beta[j]) ** 2 / V[j, j]
        n = self.kernel.n
        return logdet_L + n * (1.0 + LOG_2PI + np.log(pw / n))

    def zeta_fixed(self, j: int, b: float, start_theta) -> tuple[np.ndarray, np.ndarray]:
        """The row with fixed effect j held at ``b`` (θ re-optimized; σ̂² = r²/n), and the θ reached."""
        k = self.kernel
        x, dev = _minimize(lambda x: self.dev_fixed(j, b, x), start_theta, k.lower, np.full(len(k.lower), np.inf))
        logdet_L, pwrss, beta, V = k.fixed_pieces(self._full(x))
        pw = pwrss + (b - beta[j]) ** 2 / V[j, j]
        sigma = np.sqrt(pw / k.n)
        beta = beta - V[:, j] / V[j, j] * (beta[j] - b)
        est = self.opt[self.nvp + j]
        z = np.sign(b - est) * np.sqrt(self._check(dev))
        return np.concatenate([[z], k.sdcor(self._full(x), sigma), [sigma], beta]), x


# ---------------------------------------------------------------------------------------------------------------
# GLMMs: every parameter against all the others, on the deviance function of (θ, β)
# ---------------------------------------------------------------------------------------------------------------
class _GlmmKernel(_SdCorScale):
    """The blocks of Λθ of a glmer fit (one per random-effects term, :class:`~hlm_course.lmer.pirls.ReBlock`)."""

    def __init__(self, fit):
        self.fit = fit
        self.blocks = fit.blocks
        self.ks = [b.k for b in self.blocks]
        self.labels = [(b.group, list(b.columns)) for b in self.blocks]
        self.p = len(fit.fixed_names)

    def templates(self, theta) -> list[np.ndarray]:
        return [b.lambda_block(theta) for b in self.blocks]

    def theta_of(self, blocks) -> np.ndarray:
        return np.concatenate([L[template_index(L.shape[0])] for L in blocks])


@dataclass
class _GlmmProfiler:
    """The ζ function of every parameter of a glmer fit (lme4's ``devfun2`` for a GLMM: the fit's deviance
    function of (θ, β) at its nAGQ — Laplace, eq. 2.3 of the glmer vignette, or adaptive Gauss–Hermite —
    with θ from the SDs and correlations, no scale parameter).  Unlike the LMM, nothing is profiled out in
    closed form: for each parameter held fixed, lme4 minimizes the deviance over *all* the others, the fixed
    effects included, and so does this.  The β's are searched on the scale of the fit's Hessian (z with
    β = β₀ + R⁻¹ z, R'R the β block of the Hessian of the deviance), as the fit's stage 2, so that BOBYQA sees
    nearly unit, uncorrelated curvature even for collinear coefficients (age, age²)."""

    kernel: _GlmmKernel
    base: float  # the fit's deviance (−2 logLik, at its nAGQ)
    opt: np.ndarray  # .sig01 …, β at the optimum
    lower: np.ndarray
    upper: np.ndarray
    nvp: int  # variance parameters (no σ)
    hbb: np.ndarray  # the curvature of the deviance in β (the fit's Hessian, or 2 R_X'R_X)
    devtol: float = 1e-9
    evaluations: int = 0
    _state: tuple = field(default=None, repr=False)  # the problem's warm start at the fit (restored by done)

    def __post_init__(self):
        prob = self.kernel.fit.problem
        self._state = (None if prob.u is None else prob.u.copy(), None if prob.beta is None else prob.beta.copy())

    def done(self) -> None:
        """Leave the fit's PIRLS problem with the fit's modes as its warm start again."""
        prob = self.kernel.fit.problem
        prob.u = None if self._state[0] is None else self._state[0].copy()
        prob.beta = None if self._state[1] is None else self._state[1].copy()

    def dev(self, pars) -> float:
        """The fit's deviance at SDs/correlations and β ``pars`` (lme4's ``devfun2``)."""
        self.evaluations += 1
        fit, nvp = self.kernel.fit, self.nvp
        s = pars[:nvp]
        if np.any(s < self.lower[:nvp]) or np.any(s > self.upper[:nvp]):
            return np.nan
        theta = self.kernel.theta_of_sdcor(s, 1.0)
        prob = fit.problem
        try:
            return prob.deviance(theta, np.asarray(pars[nvp:], float), fit.nagq)
        except (FloatingPointError, np.linalg.LinAlgError, ValueError, ZeroDivisionError):
            self.done()  # PIRLS lost its way: start the next evaluation from the fit's modes
            return np.nan

    def first_point(self, w: int, delta: float) -> float:
        """lme4's first step for a GLMM, variance parameters and fixed effects alike: 1 % (10⁻³ from 0)."""
        pw = self.opt[w]
        return 1e-3 if pw == 0 else pw * 1.01

    def zeta_fun(self, w: int):
        """``f(x, prev)``: the row (ζ, .sig01 …, β) with parameter w held at x, the others minimizing the
        deviance from their values in ``prev`` (lme4's ``startmethod = "prev"``)."""
        return lambda x, prev: self.zeta_at(w, x, np.asarray(prev, float)[1:])

    def zeta_at(self, w: int, value: float, start) -> np.ndarray:
        try:
            return self._zeta_at(w, value, start)
        finally:
            self.done()  # the fit's PIRLS problem keeps the fit's modes between calls (LmerProfile.zeta too)

    def _zeta_at(self, w: int, value: float, start) -> np.ndarray:
        nvp, npar = self.nvp, len(self.opt)
        ov = [i for i in range(nvp) if i != w]  # the other variance parameters
        ob = [i for i in range(nvp, npar) if i != w]  # the other fixed effects
        b0 = np.where(np.isfinite(start[ob]), start[ob], self.opt[ob])
        hb = self.hbb[np.ix_([i - nvp for i in ob], [i - nvp for i in ob])]
        try:
            Rinv = _inv_upper(np.linalg.cholesky(hb).T) if len(ob) else np.zeros((0, 0))
        except np.linalg.LinAlgError:
            Rinv = np.diag(1.0 / np.sqrt(np.maximum(np.diag(hb), 1e-12)))
        pars = self.opt.copy()
        pars[w] = value

        def f(x):
            pars[ov] = x[:len(ov)]
            pars[ob] = b0 + Rinv @ x[len(ov):]
            return self.dev(pars)

        sv = start[ov]
        x0 = np.concatenate([np.where(np.isfinite(sv), sv, self.opt[ov]), np.zeros(len(ob))])
        lo = np.concatenate([self.lower[ov], np.full(len(ob), -np.inf)])
        hi = np.concatenate([self.upper[ov], np.full(len(ob), np.inf)])
        # first steps: half a unit of z for the β's; at least 0.05 for an SD or a correlation (on the link
        # scale an SD of 0.05 is small): from an SD at or near 0 — a singular fit — the deviance is flat in the
        # SD (it moves with its square), and smaller steps would not see that a fixed effect held away from its
        # estimate pulls the SD off the boundary
        step = np.concatenate([np.maximum(_FIRST_STEP * np.abs(x0[:len(ov)]), 0.05), np.full(len(ob), 0.5)])
        x, dev = _minimize(f, x0, lo, hi, step=step)
        if not np.isfinite(dev) or dev >= 1e299:
            return np.full(npar + 1, np.nan)
        pars[ov] = x[:len(ov)]
        pars[ob] = b0 + Rinv @ x[len(ov):]
        z = np.sign(value - self.opt[w]) * np.sqrt(max(_deviance_rise(dev, self.base), 0.0))
        return np.concatenate([[z], pars])


def _glmm_profiler(fit) -> tuple[_GlmmProfiler, list, dict]:
    """The profiler of a glmer fit, its parameters' names (.sig01 …, fixed effects) and their labels."""
    if fit.nagq < 1:
        raise MixedModelError("profile of a glmer fit needs nAGQ >= 1: an nAGQ = 0 fit optimizes θ alone, with β "
                              "inside PIRLS, so it has no deviance function of (θ, β) to profile (lme4 fails "
                              "too); refit with nagq=1, or use confint(method='Wald') or method='boot'")
    kernel = _GlmmKernel(fit)
    sig, descr, vlo, vhi = kernel.names()
    names = sig + list(fit.fixed_names)
    labels = dict(zip(names, descr + list(fit.fixed_names)))
    nvp, p = len(sig), kernel.p
    est = np.concatenate([kernel.sdcor(fit.theta, 1.0), fit.beta])
    lower = np.concatenate([vlo, np.full(p, -np.inf)])
    upper = np.concatenate([vhi, np.full(p, np.inf)])
    nt = len(fit.theta)
    hbb = None
    if fit.hessian is not None:
        hbb = 0.5 * (fit.hessian[nt:, nt:] + fit.hessian[nt:, nt:].T)
        if not np.all(np.isfinite(hbb)) or np.linalg.eigvalsh(hbb).min() <= 0:
            hbb = None
    if hbb is None:
        R = fit.problem.rx(fit.theta, fit.beta, fit.u)
        hbb = 2.0 * R.T @ R
    pr = _GlmmProfiler(kernel=kernel, base=float(fit.criterion), opt=est, lower=lower, upper=upper, nvp=nvp,
                       hbb=hbb)
    try:
        _basecheck(pr.dev(est), pr.base)
    finally:
        pr.done()
    return pr, names, labels


# ---------------------------------------------------------------------------------------------------------------
# the profile object
# ---------------------------------------------------------------------------------------------------------------
@dataclass
class LmerProfile:
    """lme4's ``thpr``: the profile of every parameter (``table``: ζ and all parameters along each profile,
    ``.par`` the parameter profiled, as ``as.data.frame(profile(fit))``), with :meth:`confint` and
    :meth:`plot`."""

    table: pd.DataFrame
    parameters: list  # lme4's names, in order: .sig01 …, .sigma, fixed effects
    labels: dict  # lme4's name -> descriptive name (sd_(Intercept)|Subject, cor_…, sigma, fixed effects)
    estimate: pd.Series  # ML estimates
    lower: pd.Series
    upper: pd.Series
    ml_deviance: float
    elapsed: float
    evaluations: int
    _profiler: _Profiler = field(repr=False, default=None)
    _exact: dict = field(repr=False, default_factory=dict)

    def points(self, name: str) -> pd.DataFrame:
        """The profile of one parameter: its values and ζ, sorted."""
        d = self.table[self.table[".par"] == name]
        return pd.DataFrame({"value": d[name].to_numpy(), "zeta": d[".zeta"].to_numpy()})

    def zeta(self, name: str, value: float) -> float:
        """ζ at one value of a parameter, computed (not interpolated)."""
        return float(self._row(name, value)[0])

    def _row(self, name: str, value: float) -> np.ndarray:
        """The profile's row at ``value``, started from the nearest point of the profile."""
        pts = self.table[self.table[".par"] == name]
        near = pts.iloc[int(np.argmin(np.abs(pts[name].to_numpy() - value)))]
        prev = near[[".zeta"] + list(self.parameters)].to_numpy(float)
        return self._profiler.zeta_fun(self.parameters.index(name))(value, prev)

    def confint(self, level: float = 0.95, parm=None) -> pd.DataFrame:
        """Profile-likelihood intervals (lme4's ``confint(profile(fit), level)``): columns named as lme4's
        (``2.5 %``, ``97.5 %``), rows ``.sig01`` …, ``.sigma``, fixed effects (``attrs["labels"]`` maps them to
        descriptive names).  Each end is the root of ζ = ±z between the profile's points (Brent's method on
        the profile itself); an end beyond the parameter's bound is the bound."""
        level = _check_level(level)
        profiled = [p for p in self.parameters if p in set(self.table[".par"])]
        parms = _select(parm, self.parameters)
        missing = [p for p in parms if p not in profiled]
        if parm is None:
            parms = profiled
        elif missing:
            raise MixedModelError(f"{missing} not profiled (this profile has {profiled}): profile them with "
                                  "profile(fit, which=...)")
        a = (1 - level) / 2
        zs = stats.norm.ppf([a, 1 - a])
        cols = [_perc(a), _perc(1 - a)]
        rows = []
        for name in parms:
            pts = self.points(name).dropna()
            ends = []
            for z, bound in zip(zs, (self.lower[name], self.upper[name])):
                key = (name, round(float(z), 12))
                if key not in self._exact:
                    self._exact[key] = self._root(name, pts, z, bound)
                ends.append(self._exact[key])
            rows.append(ends)
        out = pd.DataFrame(rows, index=pd.Index(parms, name="parameter"), columns=cols)
        out.attrs["labels"] = {p: self.labels[p] for p in parms}
        out.attrs["method"] = "profile"
        return out

    def _root(self, name, pts, z, bound) -> float:
        v, zz = pts["value"].to_numpy(), pts["zeta"].to_numpy()
        if z < 0:
            below = np.flatnonzero(zz <= z)
            if below.size == 0:
                return float(bound)
            i = below.max()
            a, b = v[i], v[i + 1] if i + 1 < len(v) else v[i]
        else:
            above = np.flatnonzero(zz >= z)
            if above.size == 0:
                return float(bound)
            i = above.min()
            a, b = (v[i - 1] if i > 0 else v[i]), v[i]
        za, zb = np.interp(a, v, zz) - z, np.interp(b, v, zz) - z
        if a == b or za == 0:
            return float(a)
        if zb == 0:
            return float(b)
        with one_blas_thread():
            return _illinois(lambda x: self.zeta(name, x) - z, a, b, za, zb,
                             xtol=1e-9 * max(abs(a), abs(b), abs(b - a)))

    def plot(self, **kwargs):
        """The profile plot (lme4's ``xyplot`` of a profile): ζ against each parameter
        (:func:`hlm_course.plots.profile_plot`)."""
        from ..plots.profile import profile_plot

        return profile_plot(self, **kwargs)

    def __repr__(self) -> str:
        return (f"LmerProfile({len(self.parameters)} parameters, {len(self.table)} points, "
                f"{self.elapsed:.2f} s)")


def _illinois(f, a, b, fa, fb, xtol, ftol=1e-10, maxit=60) -> float:
    """A root of f in [a, b] (fa, fb of opposite signs, already known from the profile's points): regula falsi
    with the Illinois modification — ζ is nearly linear between neighbouring points, so a few evaluations
    suffice."""
    side = 0
    for _ in range(maxit):
        c = (a * fb - b * fa) / (fb - fa)
        fc = f(c)
        if not np.isfinite(fc):
            return float("nan")
        if abs(fc) < ftol or abs(b - a) < xtol:
            return float(c)
        if np.sign(fc) == np.sign(fb):
            b, fb = c, fc
            if side == -1:
                fa /= 2
            side = -1
        else:
            a, fa = c, fc
            if side == 1:
                fb /= 2
            side = 1
    return float(c)


def _perc(a: float) -> str:
    """R's ``format.perc(a, 3)``: '2.5 %', '97.5 %'."""
    return f"{float(f'{100 * a:.3g}'):g} %"


def _check_level(level) -> float:
    if isinstance(level, (bool, np.bool_)) or not isinstance(level, (int, float, np.integer, np.floating)) \
            or not 0 < level < 1:
        raise MixedModelError(f"level must be a number between 0 and 1, got {level!r}")
    return float(level)


def _select(parm, names: list[str]) -> list[str]:
    """lme4's ``get.which`` / ``confint.thpr`` parm: None (all), "theta_" (variance parameters), "beta_" (fixed
    effects), names, or 0-based positions."""
    if parm is None:
        return list(names)
    if isinstance(parm, (str, int, np.integer)):  # one name or position (R's parm = 2)
        parm = [parm]
    out = []
    for p in parm:
        if p == "theta_":
            out += [n for n in names if n.startswith(".sig")]
        elif p == "beta_":
            out += [n for n in names if not n.startswith(".sig")]
        elif isinstance(p, (int, np.integer)) and not isinstance(p, bool):
            if not 0 <= p < len(names):
                raise MixedModelError(f"parameter position {p} is out of range (0 … {len(names) - 1})")
            out.append(names[p])
        elif p in names:
            out.append(p)
        else:
            raise MixedModelError(f"unknown parameter {p!r}: the parameters are {names}")
    return list(dict.fromkeys(out))


def _ml_fit(fit):
    if not fit.reml:
        return fit
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit.refit(reml=False)


def profile(fit, which=None, alphamax: float = 0.01, maxpts: int = 100, delta: float | None = None,
            delta_cutoff: float = 1 / 8, maxmult: float = 10.0) -> LmerProfile:
    """lme4's ``profile(fit)``: the profile ζ of each parameter of a linear (hc.lmer) or generalized linear
    (hc.glmer, nAGQ ≥ 1) mixed model.

    Parameters (lme4's): ``which`` — None (all), ``"theta_"`` (the variance parameters), ``"beta_"`` (the fixed
    effects), names (``".sig01"``, ``".sigma"``, ``"Days"``) or 0-based positions; ``alphamax`` — the profile
    stops past ``cutoff = √χ²_{nptot}(1 − alphamax)``; ``maxpts`` — points per direction; ``delta`` — the step in
    ζ (default ``cutoff × delta_cutoff``); ``maxmult`` — the largest step as a multiple of the last.

    A REML fit is refitted by ML (lme4's ``refitML``): the profile is of the likelihood.  A glmer fit is profiled
    on its own deviance (Laplace or adaptive Gauss–Hermite, the fit's nAGQ), every parameter against all the
    others (:class:`_GlmmProfiler`).  Returns an :class:`LmerProfile` (``confint``, ``plot``, ``table``).
    """
    with one_blas_thread():  # tiny matrices: BLAS threads cost more than they give
        return _profile(fit, which, alphamax, maxpts, delta, delta_cutoff, maxmult)


def _lmm_profiler(fit) -> tuple[_Profiler, list, dict]:
    """The profiler of a linear mixed model (of its ML refit), its parameters' names and their labels."""
    _Kernel(fit)  # (raises for other fits)
    ml = _ml_fit(fit)
    kernel = _Kernel(ml)
    sig, descr, vlo, vhi = kernel.names()
    names = sig + [".sigma"] + list(ml.fixed_names)
    labels = dict(zip(names, descr + ["sigma"] + list(ml.fixed_names)))
    nvp = len(sig) + 1
    est = np.concatenate([kernel.sdcor(ml.theta, ml.sigma), [ml.sigma], ml.pls.beta])
    lower = np.concatenate([vlo, [0.0], np.full(kernel.p, -np.inf)])
    upper = np.concatenate([vhi, [np.inf], np.full(kernel.p, np.inf)])
    base = ml.pls.deviance(reml=False)
    pr = _Profiler(kernel=kernel, base=base, opt=est, lower=lower, upper=upper, nvp=nvp, se=ml.se.to_numpy(),
                   theta_opt=ml.theta[kernel.free])
    _basecheck(pr.dev_var(est[:nvp]), base)
    return pr, names, labels


def _basecheck(check: float, base: float) -> None:
    """lme4's basecheck: the profile's deviance function at the estimate gives the fit's deviance."""
    if not abs(check - base) <= 1e-5 * max(1.0, abs(base)):
        raise MixedModelError(f"internal error: the profile's deviance at the estimate ({check:.6f}) is not the "
                              f"fit's ({base:.6f})")


def _profile(fit, which, alphamax, maxpts, delta, delta_cutoff, maxmult) -> LmerProfile:
    t0 = time.perf_counter()
    pr, names, labels = _glmm_profiler(fit) if _is_glmm(fit) else _lmm_profiler(fit)
    try:
        table = _profile_table(pr, names, _select(which, names), alphamax, maxpts, delta, delta_cutoff, maxmult)
    finally:
        pr.done()
    return LmerProfile(table=table, parameters=names, labels=labels, estimate=pd.Series(pr.opt, index=names),
                       lower=pd.Series(pr.lower, index=names), upper=pd.Series(pr.upper, index=names),
                       ml_deviance=pr.base, elapsed=time.perf_counter() - t0, evaluations=pr.evaluations,
                       _profiler=pr)


def _profile_table(pr, names, parms, alphamax, maxpts, delta, delta_cutoff, maxmult) -> pd.DataFrame:
    """lme4's ``profile.merMod`` loop: for each parameter, points up and down from the estimate (:func:`_fill`),
    as ``as.data.frame(profile(fit))``."""
    nptot = len(names)
    cutoff = float(np.sqrt(stats.chi2.ppf(1 - alphamax, nptot)))
    delta = cutoff * delta_cutoff if delta is None else float(delta)
    row0 = np.concatenate([[0.0], pr.opt])
    pieces = []
    for name in parms:
        w = names.index(name)
        pw, lowcut, upcut = pr.opt[w], pr.lower[w], pr.upper[w]
        zeta = pr.zeta_fun(w)
        r1 = zeta(pr.first_point(w, delta), row0)
        up = _fill([row0, r1], w, lowcut, upcut, zeta, delta, cutoff, maxpts, maxmult)
        down = _fill([r1, row0], w, lowcut, upcut, zeta, delta, cutoff, maxpts, maxmult) if pw > lowcut \
            else [r1, row0]
        rows = np.unique(np.vstack(up + down), axis=0)
        rows = rows[np.argsort(rows[:, w + 1])]
        block = pd.DataFrame(rows, columns=[".zeta"] + names)
        block[".par"] = name
        zz = block[".zeta"].to_numpy()
        if np.any(np.diff(zz[np.isfinite(zz)]) < -1e-2):
            warnings.warn(f"non-monotonic profile for {name}", stacklevel=3)
        pieces.append(block)
    return pd.concat(pieces, ignore_index=True)


def _fill(mat: list, w: int, lowcut: float, upcut: float, zetafun, delta: float, cutoff: float, maxpts: int,
          maxmult: float, minstep: float = 1e-6) -> list:
    """lme4's ``fillmat`` with ``nextpar``: from the last two rows, step δ in ζ along the secant (at most
    ``maxmult`` times the last step), until |ζ| passes the cutoff or the parameter reaches its bound."""
    c = w + 1
    i = 1
    while (len(mat) < maxpts and np.isfinite(mat[i][c]) and lowcut < mat[i][c] < upcut
           and np.isfinite(mat[i][0]) and abs(mat[i][0]) <= cutoff):
        p0, p1 = mat[i - 1][c], mat[i][c]
        z0, z1 = mat[i - 1][0], mat[i][0]
        num, den = p1 - p0, z1 - z0
        if not np.isfinite(den) or den == 0:
            step = minstep
        else:
            step = delta * num / den
            if step < 0:
                step = minstep
            elif abs(step) > abs(maxmult * num):
                step = abs(maxmult * num)
        nxt = min(upcut, max(lowcut, p1 + np.sign(num) * step))
        start = mat[i]
        if num != 0 and np.all(np.isfinite(mat[i - 1])):  # the other parameters, extrapolated along the profile
            start = mat[i] + (mat[i] - mat[i - 1]) * (nxt - p1) / num
        mat.append(zetafun(nxt, start))
        i += 1
    return [r for r in mat if np.isfinite(r[0])]


# ---------------------------------------------------------------------------------------------------------------
# confint
# ---------------------------------------------------------------------------------------------------------------
def wald_confint(fit, level: float = 0.95, parm=None) -> pd.DataFrame:
    """lme4's ``confint(fit, method = "Wald")``: β̂ ± z SE for the fixed effects, NaN (R's NA) for the variance
    parameters."""
    level = _check_level(level)
    a = (1 - level) / 2
    z = stats.norm.ppf([a, 1 - a])
    names, labels = _param_names(fit)
    est, se = np.asarray(fit.fixef, float), np.asarray(fit.se, float)
    nv = len(names) - len(est)
    lo = np.concatenate([np.full(nv, np.nan), est + z[0] * se])
    hi = np.concatenate([np.full(nv, np.nan), est + z[1] * se])
    out = pd.DataFrame({_perc(a): lo, _perc(1 - a): hi}, index=pd.Index(names, name="parameter"))
    parms = _select(parm, names)
    out = out.loc[parms]
    out.attrs["labels"] = {p: labels[p] for p in parms}
    out.attrs["method"] = "Wald"
    return out


def _param_names(fit) -> tuple[list[str], dict]:
    """lme4's parameter names of a fit (.sig01 …, .sigma, fixed effects) and their descriptive names
    (a glmer fit has no .sigma)."""
    if _is_glmm(fit):
        sig, descr, _, _ = _GlmmKernel(fit).names()
        names = sig + list(fit.fixed_names)
        return names, dict(zip(names, descr + list(fit.fixed_names)))
    k = _Kernel(fit)
    sig, descr, _, _ = k.names()
    names = sig + [".sigma"] + list(fit.fixed_names)
    return names, dict(zip(names, descr + ["sigma"] + list(fit.fixed_names)))


def confint(fit, parm=None, level: float = 0.95, method: str = "profile", nsim: int = 500, seed=None,
            profile_fit: LmerProfile | None = None, **kwargs) -> pd.DataFrame:
    """lme4's ``confint(fit, parm, level, method)`` for a linear or generalized linear mixed model.

    ``method="profile"`` (lme4's default): profile-likelihood intervals from :func:`profile` (ML, lme4's
    parameters .sig01 …, .sigma and the fixed effects; a glmer fit has no .sigma and is profiled on its own
    deviance, at its nAGQ); pass ``profile_fit`` to reuse a profile.
    ``method="Wald"``: β̂ ± z SE for the fixed effects and NaN for the variance parameters (lme4's NA).
    ``method="boot"``: parametric bootstrap percentile intervals (:func:`hlm_course.inference.bootstrap_ci`,
    ``nsim`` refits from ``seed``).  Columns as lme4's (``2.5 %``, ``97.5 %``); ``attrs["labels"]`` names the
    parameters (``sd_(Intercept)|Subject`` …).
    """
    m = str(method).lower()
    if m == "wald":
        return wald_confint(fit, level, parm)
    if _is_glmm(fit) and m == "boot":
        return fit.bootstrap_ci(nsim=nsim, level=_check_level(level), seed=seed)
    if m == "profile":
        _check_level(level)  # before the (long) profile
        _select(parm, _param_names(fit)[0])
        pr = profile_fit if profile_fit is not None else profile(fit, which=parm, **kwargs)
        return pr.confint(level=level, parm=parm)
    if m == "boot":
        if not _BOOTSTRAP:  # pragma: no cover - hlm_course.inference is imported with the package
            raise MixedModelError("confint(method='boot') needs hlm_course.inference (import hlm_course)")
        level = _check_level(level)
        b = _BOOTSTRAP[0](fit, nsim=nsim, level=level, seed=seed)
        a = (1 - level) / 2
        names, labels = _param_names(fit)
        out = pd.DataFrame({_perc(a): b["lower"].to_numpy(), _perc(1 - a): b["upper"].to_numpy()},
                           index=pd.Index(list(b["lme4"]), name="parameter"))
        parms = _select(parm, list(out.index))
        out = out.loc[parms]
        out.attrs["labels"] = {p: labels.get(p, p) for p in parms}
        out.attrs["method"] = "boot"
        return out
    raise MixedModelError(f"method must be 'profile', 'Wald' or 'boot', got {method!r}")
