"""Optimizing the profiled criterion over θ, and checking the optimum.

Bates et al. (2015), §3.6 ("Optimizing the profiled deviance") and §5.2
(lme4's ``checkConv``): the criterion of eqs. 34/41 is minimized over θ
subject to Λθ's diagonal being non-negative, with a derivative-free
optimizer (BOBYQA, Powell 2009, in NLopt's implementation — the one lme4's
default ``nloptwrap`` calls).  Then the optimum is *checked*:

* the gradient by central finite differences, scaled by the Cholesky factor
  of the Hessian as lme4 does (``solve(chol(H), g)``, tolerance 0.002), on the
  parameters off the boundary;
* the Hessian (finite differences) of those parameters positive definite;
* at the boundary (a diagonal element of Λθ at zero), the criterion must not
  decrease when the element moves into the interior — lme4 skips its check
  at a singular fit, which is how its default optimizer can stop at a *false*
  boundary unnoticed (the HSB minority model of the vignette).

``converged`` means this check passed.  With the default control the optimizer
runs on the scaled problem of :class:`~hlm_course.lmer.deviance.ScaledProblem`
(units do not matter); a boundary optimum is re-searched from a point moved
off the boundary, and a failed check triggers a polish (BOBYQA, then L-BFGS-B)
from the best point.  ``LmerControl(optimizer="nloptwrap")`` instead runs
lme4 1.1-31's defaults on θ of the original data, once, to show what lme4 does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import nlopt
import numpy as np
from scipy import optimize

from .deviance import (CrossProducts, criterion, lambda_theta, lower_factor, pls_solve, theta_lower,
                       theta_of, theta_start, pls_at_factor, theta_index)
from .errors import MixedModelError

__all__ = ["LmerControl", "OptimizerRun", "ConvergenceCheck", "Optimum", "fit_theta", "optimize_theta",
           "check_optimum", "finite_recorded"]


@dataclass(frozen=True)
class LmerControl:
    """Options of :func:`~hlm_course.lmer` (lme4's ``lmerControl``).

    Parameters
    ----------
    optimizer
        ``"bobyqa"`` (default): BOBYQA on the scaled problem, with the
        convergence check, a restart off any boundary and a polish when the
        check fails.  ``"nloptwrap"``: lme4 1.1-31's default exactly —
        NLopt's BOBYQA from Λθ = I on the original data's θ with
        ``xtol_abs = ftol_abs = 1e-8``, ``maxeval = 1e5`` and NLopt's default
        initial step; no restart.  The check still runs, so a false stop is
        reported (``converged`` False, with a warning), where lme4 is silent.
    maxfun
        Cap on the criterion evaluations of all optimizer runs together
        (lme4's ``optCtrl = list(maxfun = …)``); ``None``: no cap beyond
        100 000.  A fit that hits it is not converged and warns.
    restart
        Re-search from off the boundary and polish failed checks (default
        optimizer only).
    check_tol
        Tolerance on the scaled gradient (lme4's ``check.conv.grad``, 0.002).
    """

    optimizer: str = "bobyqa"
    maxfun: int | None = None
    restart: bool = True
    check_tol: float = 2e-3

    def __post_init__(self):
        if self.optimizer not in ("bobyqa", "nloptwrap"):
            raise MixedModelError(f"LmerControl: optimizer must be 'bobyqa' or 'nloptwrap', got {self.optimizer!r}")
        if self.maxfun is not None:
            if isinstance(self.maxfun, bool) or not isinstance(self.maxfun, (int, np.integer)) or self.maxfun < 1:
                raise MixedModelError(f"LmerControl: maxfun must be a positive integer, got {self.maxfun!r}")
        if not (isinstance(self.check_tol, (int, float)) and self.check_tol > 0):
            raise MixedModelError(f"LmerControl: check_tol must be positive, got {self.check_tol!r}")

    @classmethod
    def lme4(cls, maxfun: int | None = None) -> "LmerControl":
        """lme4's default optimizer, as lme4 1.1-31 runs it (``nloptwrap``)."""
        return cls(optimizer="nloptwrap", maxfun=maxfun, restart=False)


@dataclass
class OptimizerRun:
    """One optimizer run: its start and end (θ of the original data), the
    criterion there, its number of evaluations and how it stopped."""

    name: str
    start: np.ndarray
    theta: np.ndarray
    criterion: float
    evaluations: int
    status: str
    x: np.ndarray | None = field(default=None, repr=False)  # the optimizer's own parameters


@dataclass
class ConvergenceCheck:
    """The check at the optimum (lme4's checkConv, extended to the boundary)."""

    ok: bool
    message: str
    max_grad: float  # lme4's max(min(|scaled gradient|, |gradient|)) off the boundary
    min_eigen: float  # smallest eigenvalue of the Hessian off the boundary (nan if none)
    boundary: np.ndarray  # parameters at their lower bound
    evaluations: int
    gradient: np.ndarray = field(repr=False, default=None)
    hessian: np.ndarray = field(repr=False, default=None)


@dataclass
class Optimum:
    runs: list
    check: ConvergenceCheck
    best: OptimizerRun


# ---------------------------------------------------------------------------
# the objective on the optimizer's parameters
# ---------------------------------------------------------------------------
class Objective:
    """The criterion as a function of the optimizer's parameters ``x``.

    ``x`` are the free elements of θ (all of them, or the diagonal for
    ``(x || g)``), of the scaled problem when ``scaled`` is True.
    """

    def __init__(self, xp: CrossProducts, reml: bool, free: np.ndarray, scaled: bool):
        self.xp, self.reml, self.free = xp, reml, np.asarray(free, bool)
        self.sc = xp.scaled if scaled else None
        self.q = xp.q
        self.lower = theta_lower(self.q)[self.free]
        self._index = tuple(i[self.free] for i in theta_index(self.q))  # where x goes in Λθ
        self.count = 0
        if self.sc is not None:
            self.shift = self.sc.shift(reml)

    def full(self, x) -> np.ndarray:
        th = np.zeros(len(self.free))
        th[self.free] = x
        return th

    def __call__(self, x) -> float:
        self.count += 1
        try:
            if self.sc is None:
                return float(pls_solve(self.full(x), self.xp).deviance(self.reml))
            w = self.sc.xp
            lam = np.zeros((self.q, self.q))
            lam[self._index] = x
            pwrss, logdet_L, logdet_RX = pls_at_factor(lam, w, criterion_only=True)
            return float(criterion(logdet_L, logdet_RX, pwrss, w.n, w.p, self.reml) + self.shift)
        except (np.linalg.LinAlgError, FloatingPointError, ValueError, ZeroDivisionError):
            return np.nan

    def theta(self, x) -> np.ndarray:
        """θ of the original data."""
        th = self.full(x)
        return th if self.sc is None else self.sc.to_original(th)

    def x_of(self, theta) -> np.ndarray:
        """The optimizer's parameters of θ of the original data."""
        th = np.asarray(theta, float)
        if self.sc is not None:
            th = self.sc.to_work(th)
        return np.maximum(th[self.free], self.lower)


def finite_recorded(fun, best, errors: tuple = ()):
    """``fun`` for an optimizer: NaN (an evaluation lost to rounding) becomes 1e300, a wall BOBYQA turns back
    from, and the best point seen is recorded in ``best`` ([x, value]), in case the optimizer ends elsewhere.
    An exception of a class in ``errors`` (a factorization that fails, say) counts as such a lost evaluation."""
    def f(x, grad=None):
        try:
            v = float(fun(np.asarray(x, float)))
        except errors:
            v = np.nan
        if not np.isfinite(v):
            return 1e300
        if v < best[1]:
            best[0], best[1] = np.array(x, float), v
        return v
    return f


def _nlopt_minimize(obj: Objective, x0, name, maxeval=100_000, lme4_defaults=False, xtol_rel=None) -> OptimizerRun:
    n = len(x0)
    x0 = np.maximum(np.asarray(x0, dtype=float), obj.lower)
    opt = nlopt.opt(nlopt.LN_BOBYQA, n)
    opt.set_lower_bounds(obj.lower)
    opt.set_upper_bounds(np.full(n, np.inf))
    best = [x0.copy(), np.inf]
    start_count = obj.count
    opt.set_min_objective(finite_recorded(obj, best))
    if lme4_defaults:  # lme4 1.1-31's nloptwrap: xtol_abs = ftol_abs = 1e-8, NLopt's default initial step
        opt.set_ftol_abs(1e-8)
        opt.set_xtol_abs(1e-8)
        if xtol_rel is not None:  # nloptr's default, which lme4's nloptwrap leaves in place: 1e-4
            opt.set_xtol_rel(xtol_rel)
    else:
        # stop when a step changes the criterion by less than its rounding error (1e-15 relative: about five
        # units in the last place) or θ by 1e-10; the convergence check then verifies the optimum
        opt.set_ftol_abs(1e-11)
        opt.set_ftol_rel(1e-15)
        opt.set_xtol_abs(1e-10)
        opt.set_initial_step(np.where(x0 > 0.25, 0.25 * x0, 0.1))
    opt.set_maxeval(int(maxeval))
    try:
        x = opt.optimize(x0)
        code = opt.last_optimize_result()
        status = {1: "success", 2: "stopval reached", 3: "ftol reached", 4: "xtol reached",
                  5: "maxeval reached"}.get(code, f"nlopt code {code}")
    except nlopt.RoundoffLimited:
        x, status = best[0], "roundoff limited"
    except (ValueError, RuntimeError) as err:
        x, status = best[0], f"nlopt failure: {err}"
    x = np.asarray(x, float)
    evals = obj.count - start_count
    crit = obj(x)
    if best[1] < crit:
        x, crit = best[0], best[1]
    return OptimizerRun(name, obj.theta(x0), obj.theta(x), float(crit), evals, status, x)


def _lbfgsb_minimize(obj: Objective, x0, maxiter=2000) -> OptimizerRun:
    start_count = obj.count
    best = [np.asarray(x0, float), np.inf]
    f = finite_recorded(obj, best)
    bounds = [(lo if np.isfinite(lo) else None, None) for lo in obj.lower]
    res = optimize.minimize(f, np.maximum(x0, obj.lower), method="L-BFGS-B", bounds=bounds,
                            options={"ftol": 1e-14, "gtol": 1e-8, "maxiter": maxiter, "maxfun": maxiter})
    evals = obj.count - start_count
    x, crit = np.asarray(res.x), obj(res.x)
    if best[1] < crit:
        x, crit = best[0], best[1]
    return OptimizerRun("lbfgsb", obj.theta(x0), obj.theta(x), float(crit), evals,
                        "success" if res.success else str(res.message), np.asarray(x))


# ---------------------------------------------------------------------------
# the check
# ---------------------------------------------------------------------------
def scaled_max_gradient(H: np.ndarray, g: np.ndarray) -> float | None:
    """lme4's ``checkConv`` gradient test: max |R⁻ᵀ g| (R the Cholesky factor of the Hessian, H = R'R), each
    element no larger than the raw gradient's; ``None`` when the Hessian is not positive definite."""
    try:
        R = np.linalg.cholesky(H).T
    except np.linalg.LinAlgError:
        return None
    return float(np.max(np.minimum(np.abs(np.linalg.solve(R, g)), np.abs(g))))


def check_optimum(obj: Objective, x, tol: float = 2e-3, h: float = 1e-4, f0: float | None = None) -> ConvergenceCheck:
    """Gradient and Hessian of the criterion at ``x`` by finite differences.

    Off the boundary: central differences for the gradient and the diagonal
    of the Hessian, forward differences for its off-diagonal (1 + 2k +
    k(k − 1)/2 evaluations: 28 for the six parameters of q = 3).  The scaled
    gradient is lme4's ``solve(chol(H), g)``; the test is lme4's:
    ``max(min(|scaled g|, |g|)) < tol``, with H positive definite.  At the
    boundary, one-sided: moving into the interior must not lower the
    criterion by more than ``tol`` per unit.
    """
    x = np.asarray(x, float)
    k = len(x)
    start = obj.count
    f0 = obj(x) if f0 is None else f0
    at_bound = (obj.lower == 0) & (x < h)
    E = np.eye(k) * h
    fp = np.array([obj(x + E[i]) for i in range(k)])
    fm = np.array([obj(x - E[i]) if not at_bound[i] else np.nan for i in range(k)])
    g = np.where(at_bound, (fp - f0) / h, (fp - fm) / (2 * h))
    free = np.flatnonzero(~at_bound)
    H = np.full((k, k), np.nan)
    for a, i in enumerate(free):
        H[i, i] = (fp[i] - 2 * f0 + fm[i]) / h ** 2
        for j in free[a + 1:]:
            H[i, j] = H[j, i] = (obj(x + E[i] + E[j]) - fp[i] - fp[j] + f0) / h ** 2
    evals = obj.count - start
    if not np.isfinite(f0):
        return ConvergenceCheck(False, "the criterion is not finite at the estimate", np.nan, np.nan, at_bound,
                                evals, g, H)
    if not (np.all(np.isfinite(g)) and np.all(np.isfinite(H[np.ix_(free, free)]))):
        return ConvergenceCheck(False, "the criterion is not finite near the estimate (unable to evaluate the "
                                "gradient)", np.nan, np.nan, at_bound, evals, g, H)
    msgs = []
    max_grad, min_eig = 0.0, np.nan
    if free.size:
        Hf, gf = H[np.ix_(free, free)], g[free]
        eig = np.linalg.eigvalsh(Hf)
        min_eig = float(eig.min())
        # At a boundary fit (a diagonal element of Λθ at zero) the column below that element can rotate
        # into the next one without changing T: the Hessian of the other parameters is singular there, so
        # only curvature well beyond rounding (relative 1e-3) counts as negative; inside, lme4's 1e-6.
        rel = 1e-3 if at_bound.any() else 1e-6
        if min_eig < -rel * max(1.0, float(np.abs(eig).max())):
            msgs.append(f"the Hessian has {int(np.sum(eig < 0))} negative eigenvalue(s): a saddle point, or the "
                        "optimizer stopped short of the minimum")
            max_grad = float(np.max(np.abs(gf)))
        else:
            max_grad = scaled_max_gradient(Hf, gf)
            if max_grad is None:
                max_grad = float(np.max(np.abs(gf)))
                if not at_bound.any():  # expected at a boundary fit (see above)
                    msgs.append("the Hessian is numerically singular: parameters are not uniquely determined")
        if max_grad > tol:
            msgs.append(f"max|scaled gradient| = {max_grad:.3g} > tol = {tol:g}")
    inward = g[at_bound]
    if inward.size and np.min(inward) < -tol:
        msgs.append(f"at the boundary the criterion decreases into the interior (slope {np.min(inward):.3g}): "
                    "a variance estimated as zero is not a minimum")
    if at_bound.any():
        drop = cone_slope(obj, x, f0)
        evals += 1
        if drop is not None and drop < -1e-2:
            msgs.append(f"the criterion decreases (slope {drop:.3g}) when T gains variance in the direction it "
                        "lacks: a false boundary, not a minimum of the criterion over covariance matrices")
    return ConvergenceCheck(not msgs, "; ".join(msgs) if msgs else "ok", max_grad, min_eig, at_bound, evals, g, H)


def _cone_point(obj: Objective, x, eps: float):
    """x moved to T + ε v v' (v: T's null direction), or None for block-structured Λθ."""
    if hasattr(obj, "cone_point"):  # an objective that knows its own Λθ structure
        return obj.cone_point(x, eps)
    if not obj.free.all():
        return None
    lam = lambda_theta(obj.full(x), obj.q)
    w, V = np.linalg.eigh(lam @ lam.T)
    scale = max(1.0, float(w[-1]))
    L = lower_factor(np.hstack([lam, np.sqrt(eps * scale) * V[:, :1]]))
    return np.maximum(theta_of(L), obj.lower), eps * scale


def cone_slope(obj: Objective, x, f0) -> float | None:
    """Slope of the criterion when a singular T gains variance along its null vector v
    (T → T + ε v v', ε ≥ 0): the optimality condition over the cone of covariance
    matrices (its first-order KKT condition).  Negative: the boundary is false."""
    out = _cone_point(obj, x, 1e-4)
    if out is None:
        return None
    xe, eps = out
    return (obj(xe) - f0) / eps


# ---------------------------------------------------------------------------
# the whole search
# ---------------------------------------------------------------------------
def _downhill_from_saddle(obj: Objective, x, chk: ConvergenceCheck):
    """A point below a saddle: a step along the Hessian's eigenvector of most
    negative curvature (the direction in which the criterion falls), the
    better of ± and of three step lengths; None if no step goes down."""
    free = ~chk.boundary
    w, V = np.linalg.eigh(chk.hessian[np.ix_(free, free)])
    v = np.zeros(len(x))
    v[free] = V[:, 0]
    f0, best = obj(x), None
    for t in (0.05, 0.2, 0.5):
        for sign in (1.0, -1.0):
            c = np.maximum(x + sign * t * v, obj.lower)
            fc = obj(c)
            if np.isfinite(fc) and fc < f0 and (best is None or fc < best[1]):
                best = (c, fc)
    return None if best is None else best[0]


def search(obj, x0, control: LmerControl, run, lme4_tolerances: bool = False
           ) -> tuple[list, OptimizerRun, ConvergenceCheck]:
    """BOBYQA from ``x0`` and the check; with the default control, BOBYQA again from off a boundary, from
    below a saddle point, and a polish (BOBYQA, then L-BFGS-B) when the check fails (§3.6).  ``run(x0, name)``
    runs BOBYQA on ``obj`` within the shared evaluation budget (``run.budget``, a one-element list).
    ``lme4_tolerances``: the first run and the restart off a boundary stop at lme4's tolerances (nloptwrap's
    1e-8 on the criterion and on θ, with nloptr's relative 1e-4 on θ) rather than at rounding level — for objectives that cost more per evaluation; the
    check still decides whether the optimum is one (a boundary optimum that passes it — one-sided
    derivatives into the interior and the cone condition, :func:`cone_slope` — is not searched again), and
    the polish runs at rounding level."""
    lme4 = control.optimizer == "nloptwrap"
    budget = run.budget
    runs = [run(x0, "bobyqa" if not lme4 else "nloptwrap", lme4_defaults=lme4 or lme4_tolerances,
                xtol_rel=1e-4 if lme4_tolerances else None)]
    best = runs[0]
    chk = check_optimum(obj, best.x, control.check_tol, f0=best.criterion)
    if control.restart and not lme4:
        if chk.boundary.any() and budget[0] > 0 and not (lme4_tolerances and chk.ok):
            moved = best.x.copy()
            moved[chk.boundary] = 0.3
            if not chk.ok and "false boundary" in chk.message:  # leave along the direction that goes down
                moved = _cone_point(obj, best.x, 0.05)[0]
            runs.append(run(moved, "bobyqa_off_boundary", lme4_defaults=lme4_tolerances,
                            xtol_rel=1e-4 if lme4_tolerances else None))
            if runs[-1].criterion < best.criterion:
                best = runs[-1]
                chk = check_optimum(obj, best.x, control.check_tol, f0=best.criterion)
        if not chk.ok and budget[0] > 0 and np.isfinite(best.criterion) and not np.isnan(chk.min_eigen) \
                and chk.min_eigen < 0:
            x1 = _downhill_from_saddle(obj, best.x, chk)
            if x1 is not None:
                runs.append(run(x1, "bobyqa_from_saddle"))
                if runs[-1].criterion < best.criterion:
                    best = runs[-1]
                    chk = check_optimum(obj, best.x, control.check_tol, f0=best.criterion)
        if not chk.ok and budget[0] > 0 and np.isfinite(best.criterion):
            runs.append(run(best.x, "bobyqa_polish"))
            if runs[-1].criterion < best.criterion:
                best = runs[-1]
            chk = check_optimum(obj, best.x, control.check_tol, f0=best.criterion)
            if not chk.ok and budget[0] > 0:
                r = _lbfgsb_minimize(obj, best.x, maxiter=max(min(budget[0], 2000), 1))
                budget[0] -= r.evaluations
                runs.append(r)
                if r.criterion < best.criterion:
                    best = r
                    chk = check_optimum(obj, best.x, control.check_tol, f0=best.criterion)
    return runs, best, chk


def budgeted_runner(obj, control: LmerControl):
    """``run(x0, name, lme4_defaults=False, objective=None)``: one BOBYQA run charged to a budget of
    ``control.maxfun`` evaluations (100 000 without a cap), kept in ``run.budget``."""
    budget = [control.maxfun or 100_000]

    def run(x0, name, lme4_defaults=False, objective=None, xtol_rel=None):
        r = _nlopt_minimize(objective or obj, x0, name, maxeval=max(budget[0], 1), lme4_defaults=lme4_defaults,
                            xtol_rel=xtol_rel)
        budget[0] -= r.evaluations
        return r

    run.budget = budget
    return run


def final_check(best: OptimizerRun, chk: ConvergenceCheck) -> ConvergenceCheck:
    """A run that hit its evaluation limit is never converged, whatever the check says."""
    if best.status == "maxeval reached" and chk.ok:
        return ConvergenceCheck(False, "the optimizer hit its evaluation limit (maxfun)", chk.max_grad,
                                chk.min_eigen, chk.boundary, chk.evaluations, chk.gradient, chk.hessian)
    if best.status == "maxeval reached":
        chk.message = "the optimizer hit its evaluation limit (maxfun); " + chk.message
    return chk


def fit_theta(xp: CrossProducts, reml: bool, start=None, control: LmerControl | None = None,
              free=None) -> Optimum:
    """Minimize the profiled criterion over θ and check the optimum (§3.6).

    Default control: BOBYQA on the scaled problem (when ``xp.scaled`` is set)
    from Λ = I (or from ``start``, θ of the original data); the check; if a
    diagonal element of Λθ ended at zero, BOBYQA again from a point moved off
    the boundary (lme4's default can stop at a false boundary); if the check
    fails, a polish (BOBYQA, then L-BFGS-B) from the best point.
    """
    control = control or LmerControl()
    q = xp.q
    free = np.ones(len(theta_lower(q)), bool) if free is None else np.asarray(free, bool)
    lme4 = control.optimizer == "nloptwrap"
    obj = Objective(xp, reml, free, scaled=(not lme4) and xp.scaled is not None)
    run = budgeted_runner(obj, control)
    budget = run.budget
    x0 = theta_start(q)[free] if start is None else obj.x_of(start)
    runs, best, chk = search(obj, x0, control, run)
    if control.restart and not lme4:
        if (not chk.ok or chk.boundary.any()) and budget[0] > 0 and obj.sc is not None:
            # A singular T can be reached with its zero on a different diagonal element of Λθ depending on
            # the parametrization; the scaled one can end on a boundary saddle that the original one avoids
            # (and vice versa).  Search again in θ of the original data, from lme4's start.
            obj0 = Objective(xp, reml, free, scaled=False)
            r = run(theta_start(q)[free] if start is None else obj0.x_of(start), "bobyqa_original_theta",
                    objective=obj0)
            runs.append(r)
            if r.criterion < best.criterion - 1e-9:
                chk0 = check_optimum(obj0, r.x, control.check_tol, f0=r.criterion)
                if chk0.boundary.any() and budget[0] > 0 and not chk0.ok:
                    moved = r.x.copy()
                    moved[chk0.boundary] = 0.3
                    r2 = run(moved, "bobyqa_original_theta_off_boundary", objective=obj0)
                    runs.append(r2)
                    if r2.criterion < r.criterion:
                        r, chk0 = r2, check_optimum(obj0, r2.x, control.check_tol, f0=r2.criterion)
                best, chk = r, chk0
        if chk.boundary.any() and q > 1 and budget[0] > 0:
            best, chk = _other_face(xp, reml, free, start, control, run, runs, best, chk)
    return Optimum(runs=runs, check=final_check(best, chk), best=best)


def _other_face(xp, reml, free, start, control, run, runs, best, chk):
    """A singular optimum of a ``q × q`` Λθ (``q ≥ 2``) is a zero on one diagonal element, and which one
    depends on the path the optimizer took: a singular T has a face of the boundary for each, and a search can
    stop on a face whose optimum is higher (a new reference level of a factor in ``(f | g)`` changes the path;
    found by the formula properties in the tests).  One more search, lme4's own — BOBYQA at nloptwrap's
    tolerances from Λ = I in θ of the original data — and, if it ends lower, a polish at rounding level from
    there; the lowest criterion is kept."""
    obj0 = Objective(xp, reml, free, scaled=False)
    x0 = theta_start(xp.q)[free] if start is None else obj0.x_of(start)
    r = run(x0, "nloptwrap_other_face", lme4_defaults=True, objective=obj0)
    runs.append(r)
    if not r.criterion < best.criterion - 1e-7:
        return best, chk
    r2 = run(r.x, "bobyqa_other_face_polish", objective=obj0)
    runs.append(r2)
    r = r2 if r2.criterion < r.criterion else r
    return r, check_optimum(obj0, r.x, control.check_tol, f0=r.criterion)


def optimize_theta(xp: CrossProducts, reml: bool, start: np.ndarray | None = None,
                   control: LmerControl | None = None, free=None) -> list[OptimizerRun]:
    """Every optimizer run of :func:`fit_theta`; the caller keeps the one with
    the smallest criterion."""
    return fit_theta(xp, reml, start=start, control=control, free=free).runs
