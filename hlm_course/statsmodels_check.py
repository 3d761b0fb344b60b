"""Checking a mixed-model fit: restarts, criterion profiles, and statsmodels' MixedLM.

Two questions share this module.

1. *Did the optimizer find the optimum?*  A mixed-model fit is the minimum
   of the profiled REML criterion over θ (Bates et al. 2015, §3.4–3.6,
   eq. 41).  Optimizers can stop early, for instance at a false boundary
   (a variance of zero, a correlation of ±1), as lme4's default did on
   the lme4 course vignette's model
   ``mathach ~ cses + minority + (cses + minority | school)`` (its §8.2.3).  The checks here are the ones the book teaches:
   evaluate the criterion at someone else's estimates
   (:func:`theta_from_tau`), restart the optimizer from other values
   (:func:`restart_table`), and trace the criterion along the straight line
   between two candidate θ's (:func:`criterion_along_line`).  At a singular
   T the factor Λθ is not unique (:func:`boundary_angle`,
   :func:`rotate_boundary_theta`): from some of the equivalent θ's every
   step off the boundary goes uphill, which is how an optimizer stops at a
   false boundary.

2. *What does statsmodels' MixedLM give on the same model?*  It maximizes
   the same REML log-likelihood, so ``−2 × llf`` must equal lmer's REML
   criterion at the optimum.  :func:`fit_mixedlm` runs MixedLM with the
   warnings captured, :func:`compare_mixedlm` lines several runs up against
   an :class:`~hlm_course.lmer.LmerFit`, :func:`mixedlm_start` turns an lmer
   fit into MixedLM starting values and :func:`score_check` compares
   MixedLM's analytic gradient with a finite-difference one (which exposes
   why its gradient optimizers fail on the HSB data: the analytic score is
   computed at the Cholesky factor with positive diagonal, so at a packed
   point with a negative diagonal element it has the wrong sign).
   :func:`optimizers_tried`, :func:`flag_phrase` and :func:`warnings_phrase`
   turn a run into the words chapter 13 prints, so that its prose says what
   the run did on the reader's machine: whether a failing optimizer reports
   convergence, and how many warnings it raises, changes with the starting
   point and even with the BLAS kernel; the gap to lmer's criterion is what
   the chapter and its tests rely on.

The book never teaches a number from MixedLM; chapter 13 uses this module
to show how to detect and repair its failures.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .lmer import (SINGULAR_TOL, LmerFit, MixedModelError, lambda_theta, lme4_name, optimize_theta, parse_formula,
                   profiled_deviance)

__all__ = [
    "theta_from_tau",
    "boundary_angle",
    "rotate_boundary_theta",
    "criterion_along_line",
    "restart_table",
    "mixedlm_args",
    "MixedLMRun",
    "fit_mixedlm",
    "mixedlm_start",
    "compare_mixedlm",
    "warning_table",
    "DEFAULT_METHODS",
    "optimizers_tried",
    "flag_phrase",
    "warnings_phrase",
    "stopping_point",
    "score_check",
]


# ---------------------------------------------------------------------------
# 1. Checking an lmer fit
# ---------------------------------------------------------------------------
def _psd_cholesky(A: np.ndarray, tol: float = 1e-10) -> np.ndarray:
    """Lower Cholesky factor of a positive *semi*-definite matrix.

    A zero (or slightly negative, from rounding) pivot gives a zero column,
    so a singular T — a correlation of ±1 as printed by a boundary fit —
    still has a factor.  Bates et al. (2015, §3.1) parametrize Λθ this way.
    """
    q = A.shape[0]
    L = np.zeros_like(A, dtype=float)
    scale = max(float(np.max(np.abs(np.diag(A)))), 1e-300)
    for j in range(q):
        d = A[j, j] - L[j, :j] @ L[j, :j]
        if d <= tol * scale:
            if d < -1e-3 * scale:
                raise MixedModelError(f"matrix is not positive semi-definite (pivot {j} is {d:.3g})")
            continue  # zero column: the j-th effect is a combination of earlier ones
        L[j, j] = np.sqrt(d)
        L[j + 1:, j] = (A[j + 1:, j] - L[j + 1:, :j] @ L[j, :j]) / L[j, j]
    return L


def theta_from_tau(tau: pd.DataFrame | np.ndarray, sigma2: float) -> np.ndarray:
    """θ (lme4's order: the lower triangle of Λθ column by column) from T and σ².

    Inverts ``T = σ² Λθ Λθ'`` (Bates et al. 2015, eq. 4 and §3.1), so a
    published table of variances and correlations — for instance a
    document's printed ``VarCorr`` — can be evaluated with
    :func:`hlm_course.lmer.profiled_deviance`.

    Parameters
    ----------
    tau
        The q × q level-2 covariance matrix T (variances on the diagonal).
    sigma2
        The level-1 variance σ².
    """
    T = np.asarray(tau, dtype=float)
    if T.ndim != 2 or T.shape[0] != T.shape[1]:
        raise MixedModelError(f"tau must be a square matrix, got shape {T.shape}")
    if not np.allclose(T, T.T):
        raise MixedModelError("tau must be symmetric")
    if not np.isfinite(sigma2) or sigma2 <= 0:
        raise MixedModelError(f"sigma2 must be a positive number, got {sigma2!r}")
    L = _psd_cholesky(T / sigma2)
    rows, cols = np.triu_indices(T.shape[0])
    return L[cols, rows]


def _boundary_factor(theta, q: int) -> tuple[np.ndarray, int]:
    """Λθ and the first zero diagonal element j < q − 1 (the one a rotation can act on)."""
    lam = lambda_theta(np.asarray(theta, dtype=float), q)
    zero = [j for j in range(q - 1) if lam[j, j] < SINGULAR_TOL]
    if not zero:
        raise MixedModelError("Λθ has no zero diagonal element before the last one: the factor of T is "
                              "unique, there is nothing to rotate")
    return lam, zero[0]


def boundary_angle(theta, q: int) -> float:
    """Angle (degrees, 0–180) of ``(λ_{j+1,j}, λ_{j+1,j+1})`` below a zero diagonal element ``λ_jj``.

    At a singular T the factor Λθ is not unique: when ``λ_jj = 0``, rotating
    columns j and j + 1 of Λθ leaves ``T = σ² Λθ Λθ'`` unchanged (Bates et
    al. 2015, §3.1, eq. 4, with ``Λθ Q Q'Λθ' = Λθ Λθ'``), so one T has a
    whole circle of θ's.  This angle says where on the circle θ sits.
    """
    lam, j = _boundary_factor(theta, q)
    return float(np.degrees(np.arctan2(lam[j + 1, j + 1], lam[j + 1, j])))


def rotate_boundary_theta(theta, q: int, angle: float) -> np.ndarray:
    """An equivalent θ (same T) with ``(λ_{j+1,j}, λ_{j+1,j+1})`` at ``angle`` degrees.

    ``angle`` must lie in [0, 180] so that the diagonal element stays ≥ 0.
    The profiled criterion is the same at every rotation, but its slope in
    the direction that leaves the boundary (``λ_jj > 0``) is not: from some
    rotations every step off the boundary goes uphill, which is how an
    optimizer can stop at a *false boundary*.
    """
    if not 0.0 <= angle <= 180.0:
        raise ValueError(f"angle must be between 0 and 180 degrees, got {angle}")
    lam, j = _boundary_factor(theta, q)
    lam[j, j] = 0.0
    delta = np.radians(angle - boundary_angle(theta, q))
    rot = np.array([[np.cos(delta), np.sin(delta)], [-np.sin(delta), np.cos(delta)]])
    lam[:, j:j + 2] = lam[:, j:j + 2] @ rot
    lam[j + 1, j + 1] = max(lam[j + 1, j + 1], 0.0)  # exact zero at 0° and 180°
    rows, cols = np.triu_indices(q)
    return lam[cols, rows]


def _as_theta(fit: LmerFit, theta) -> np.ndarray:
    theta = np.asarray(theta, dtype=float)
    if theta.shape != fit.theta.shape:
        raise MixedModelError(f"theta has {theta.size} elements; this model needs {fit.theta.size}")
    return theta


def criterion_along_line(fit: LmerFit, theta_from, theta_to=None, num: int = 61) -> pd.DataFrame:
    """The profiled criterion on the segment from ``theta_from`` to ``theta_to``.

    ``θ(t) = (1 − t) θ_from + t θ_to`` for ``t`` in [0, 1]; the segment stays
    in the parameter space because the constraints (diagonal of Λθ ≥ 0) are
    convex.  If the criterion falls as soon as ``t`` leaves 0, ``θ_from`` is
    not a local minimum — the proof that an optimizer stopped too early.
    Criterion: REML (Bates et al. 2015, eq. 41) for REML fits, the deviance
    (eq. 34) for ML fits.

    Returns a DataFrame with columns ``t`` and ``criterion``.
    """
    a = _as_theta(fit, theta_from)
    b = fit.theta if theta_to is None else _as_theta(fit, theta_to)
    if num < 2:
        raise ValueError(f"num must be at least 2, got {num}")
    t = np.linspace(0.0, 1.0, num)
    crit = [profiled_deviance((1 - s) * a + s * b, fit.xp, reml=fit.reml) for s in t]
    return pd.DataFrame({"t": t, "criterion": crit})


def restart_table(fit: LmerFit, starts: dict[str, np.ndarray]) -> pd.DataFrame:
    """Re-optimize the criterion from each named starting θ.

    Every start runs :func:`hlm_course.lmer.optimize_theta` (BOBYQA, the
    L-BFGS-B check optimizer and, at a boundary, a restart off the boundary).
    One row per start: the criterion at the start, the best criterion
    reached, its distance from ``fit``'s criterion, and whether the end
    point is singular.  Agreement from different starts is evidence of the
    global optimum; disagreement means the surface has several stopping
    points and the lowest wins.
    """
    if not starts:
        raise ValueError("starts is empty: give at least one named starting theta")
    rows = []
    own = fit.pls.deviance(fit.reml)
    q = fit.xp.q
    diag = np.triu_indices(q)[0] == np.triu_indices(q)[1]
    for name, start in starts.items():
        start = _as_theta(fit, start)
        runs = optimize_theta(fit.xp, fit.reml, start=start)
        best = min(runs, key=lambda r: r.criterion)
        rows.append({"start": name,
                     "criterion at start": profiled_deviance(start, fit.xp, reml=fit.reml),
                     "criterion reached": best.criterion,
                     "minus this fit": best.criterion - own,
                     "singular": bool(np.any(best.theta[diag] < 1e-4)),
                     "theta reached": np.round(best.theta, 4)})
    return pd.DataFrame(rows).set_index("start")


# ---------------------------------------------------------------------------
# 2. statsmodels' MixedLM
# ---------------------------------------------------------------------------
def mixedlm_args(formula: str) -> dict:
    """Translate an lme4 formula into ``smf.mixedlm`` arguments.

    ``"mathach ~ cses + (cses | school)"`` →
    ``{"formula": "mathach ~ cses", "groups": "school", "re_formula": "~cses"}``;
    a random intercept only, ``(1 | g)``, gives ``re_formula=None`` (MixedLM's
    default).
    """
    parsed = parse_formula(formula)
    random = parsed.random.strip()
    re_formula = None if random == "1" else f"~{random}"
    return {"formula": parsed.fixed_formula, "groups": parsed.group, "re_formula": re_formula}


@dataclass
class MixedLMRun:
    """One MixedLM fit with its captured warnings.

    ``criterion`` is ``−2 × llf``: with ``reml=True`` statsmodels' llf is
    the REML log-likelihood, on the same scale as lmer's REML criterion.
    """

    label: str
    result: object  # statsmodels MixedLMResults
    reml: bool
    elapsed: float
    group: str = "Group"  # MixedLM names the random intercept after the grouping column
    warnings: list[tuple[str, str]] = field(default_factory=list)
    methods: list[str] = field(default_factory=lambda: list(DEFAULT_METHODS))  # the list MixedLM was given

    @property
    def converged(self) -> bool:
        return bool(self.result.converged)

    @property
    def criterion(self) -> float:
        return float(-2.0 * self.result.llf)

    @property
    def random_names(self) -> list[str]:
        """Random-effect names in lme4's spelling ("(Intercept)", "cses", ...)."""
        return _re_names(self.result.model, self.group)

    @property
    def tau(self) -> pd.DataFrame:
        """T as MixedLM estimates it, with lme4's names."""
        names = self.random_names
        return pd.DataFrame(np.asarray(self.result.cov_re, dtype=float), index=names, columns=names)

    @property
    def fixef(self) -> pd.Series:
        fe = self.result.fe_params
        return pd.Series(np.asarray(fe, dtype=float), index=[lme4_name(n) for n in fe.index])


DEFAULT_METHODS = ("bfgs", "lbfgs", "cg")  # MixedLM.fit's sequence when method=None (statsmodels 0.14)


def fit_mixedlm(formula: str, data: pd.DataFrame, *, method=None, reml: bool = True, start=None,
                maxiter: int | None = None, label: str | None = None) -> MixedLMRun:
    """Fit statsmodels' MixedLM from an lme4 formula, capturing its warnings.

    Parameters
    ----------
    formula
        lme4 syntax, translated by :func:`mixedlm_args`.
    method
        Passed to ``MixedLM.fit``: ``None`` (statsmodels' default, the
        sequence bfgs → lbfgs → cg), a scipy method name or a list of names.
    start
        Starting values: an :class:`~hlm_course.lmer.LmerFit` of the same
        model (converted by :func:`mixedlm_start`), a ``MixedLMParams``, or None.
    maxiter
        Iteration bound per method (``None``: statsmodels' default).
    label
        Row label for :func:`compare_mixedlm`; defaults to the method.
    """
    import statsmodels.formula.api as smf

    args = mixedlm_args(formula)
    if args["groups"] not in data.columns:
        raise MixedModelError(f"grouping column '{args['groups']}' not found in data")
    kwargs = {"reml": reml, "method": method, "full_output": True}
    if maxiter is not None:
        kwargs["maxiter"] = int(maxiter)
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = smf.mixedlm(args["formula"], data, groups=args["groups"], re_formula=args["re_formula"])
        kwargs["start_params"] = mixedlm_start(start, model) if isinstance(start, LmerFit) else start
        result = model.fit(**kwargs)
    elapsed = time.perf_counter() - t0
    if label is None:
        label = "default" if method is None else (method if isinstance(method, str) else " → ".join(method))
        if start is not None:
            label += " (lmer start)" if isinstance(start, LmerFit) else " (given start)"
    methods = list(DEFAULT_METHODS) if method is None else ([method] if isinstance(method, str) else list(method))
    return MixedLMRun(label=label, result=result, reml=reml, elapsed=elapsed, group=args["groups"],
                      warnings=[(w.category.__name__, str(w.message)) for w in caught], methods=methods)


def _re_names(model, group: str) -> list[str]:
    """MixedLM's random-effect names in lme4's spelling (its intercept is named after the group)."""
    return ["(Intercept)" if n in (group, "Group") else lme4_name(n) for n in model.data.exog_re_names]


def mixedlm_start(fit: LmerFit, model):
    """MixedLM starting values from an lmer fit.

    MixedLM profiles σ² out of the likelihood and its ``cov_re`` parameter
    is the *relative* covariance T/σ² = Λθ Λθ' — lme4's θ in another
    costume.  Rows and columns are reordered to MixedLM's (patsy's) order of
    the random effects, the fixed effects to its column order (MixedLM
    profiles them out, so only ``cov_re`` steers the fit).

    Parameters
    ----------
    fit
        The lmer fit of the same model.
    model
        The ``MixedLM`` model instance (``smf.mixedlm(...)``).
    """
    from statsmodels.regression.mixed_linear_model import MixedLMParams

    re_names = _re_names(model, fit.group)
    fe_names = [lme4_name(n) for n in model.exog_names]
    if sorted(re_names) != sorted(fit.random_names) or sorted(fe_names) != sorted(fit.fixed_names):
        raise MixedModelError(f"the MixedLM model (fixed {fe_names}, random {re_names}) is not the lmer "
                              f"fit's model (fixed {fit.fixed_names}, random {fit.random_names})")
    lam = fit.pls.Lambda
    rel = pd.DataFrame(lam @ lam.T, index=fit.random_names, columns=fit.random_names)
    rel = rel.loc[re_names, re_names].to_numpy()
    return MixedLMParams.from_components(fe_params=fit.fixef[fe_names].to_numpy(dtype=float), cov_re=rel)


def compare_mixedlm(runs: list[MixedLMRun], fit: LmerFit) -> pd.DataFrame:
    """One row per MixedLM run, plus lmer's fit as the first row.

    Columns: converged flag, −2 × llf, its distance from lmer's criterion,
    the diagonal of T, σ², the fixed effects, the number of warnings and the
    seconds taken.  A run whose criterion is above lmer's has *not* found
    the optimum, whatever its ``converged`` flag says.
    """
    if not runs:
        raise ValueError("runs is empty")
    crit = fit.pls.deviance(fit.reml)
    rows = [{"fit": "lmer", "converged": fit.converged, "-2 logLik": crit, "minus lmer": 0.0,
             **{f"tau {n}": v for n, v in zip(fit.random_names, np.diag(fit.tau))},
             "sigma2": fit.sigma2, **fit.fixef.to_dict(), "warnings": 0, "seconds": np.nan}]
    for run in runs:
        if run.reml != fit.reml:
            raise MixedModelError(f"run '{run.label}' has reml={run.reml} but the lmer fit has reml={fit.reml}")
        tau = run.tau.reindex(index=fit.random_names, columns=fit.random_names)
        rows.append({"fit": f"MixedLM: {run.label}", "converged": run.converged, "-2 logLik": run.criterion,
                     "minus lmer": run.criterion - crit,
                     **{f"tau {n}": v for n, v in zip(fit.random_names, np.diag(tau))},
                     "sigma2": float(run.result.scale), **run.fixef.reindex(fit.fixef.index).to_dict(),
                     "warnings": len(run.warnings), "seconds": run.elapsed})
    return pd.DataFrame(rows).set_index("fit")


def warning_table(run: MixedLMRun, width: int = 90) -> pd.DataFrame:
    """The warnings a run raised, in order, repeated messages counted once."""
    if not run.warnings:
        return pd.DataFrame({"category": [], "message": [], "times": []})
    df = pd.DataFrame(run.warnings, columns=["category", "message"])
    df["message"] = df["message"].str.slice(0, width)
    out = df.groupby(["category", "message"], sort=False).size().rename("times").reset_index()
    return out


def optimizers_tried(run: MixedLMRun) -> list[str]:
    """The optimizers MixedLM ran, in order.

    ``MixedLM.fit`` tries the methods of its list in turn and stops at the
    first that reports convergence; before each retry it warns "Retrying
    MixedLM optimization with <method>".  The run's ``converged`` flag is
    the last method's own verdict: it says nothing about the earlier ones,
    nor about whether the last one moved at all.
    """
    retries = [m.rsplit(" ", 1)[-1] for _, m in run.warnings
               if m.startswith("Retrying MixedLM optimization with ")]
    return list(run.methods[:1]) + retries


def flag_phrase(run: MixedLMRun) -> str:
    """"reports convergence" or "reports a failure": the run's ``converged`` flag in words."""
    return "reports convergence" if run.converged else "reports a failure"


def warnings_phrase(run: MixedLMRun) -> str:
    """"without a single warning", "with 1 warning" or "with n warnings"."""
    n = len(run.warnings)
    return "without a single warning" if n == 0 else f"with {n} warning{'s' if n > 1 else ''}"


def _packed_estimate(run: MixedLMRun) -> np.ndarray:
    """The estimate as MixedLM packs it: the Cholesky factor of T/σ² (positive diagonal), row by row."""
    res = run.result
    L = _psd_cholesky(np.atleast_2d(np.asarray(res.cov_re_unscaled, dtype=float)))
    k = L.shape[0]
    vc = np.sqrt(np.asarray(getattr(res, "vcomp", []), dtype=float) / float(res.scale))
    return np.concatenate([L[np.tril_indices(k)], vc])


def stopping_point(run: MixedLMRun) -> tuple[np.ndarray, str]:
    """The packed parameter vector to examine, and where it comes from.

    ``"stop"``: the point where the last optimizer stopped, read from its
    path (``result.hist``; scipy's BFGS and CG keep one, L-BFGS does not).
    ``"estimate"``: without a path, the estimate itself, packed as MixedLM's
    Cholesky factor with a positive diagonal — the sign of the factor the
    optimizer actually stopped at is then unknown.
    """
    hist = getattr(run.result, "hist", None)
    if hist and isinstance(hist[-1], dict) and len(hist[-1].get("allvecs", [])):
        return np.asarray(hist[-1]["allvecs"][-1], dtype=float), "stop"
    return _packed_estimate(run), "estimate"


def score_check(run: MixedLMRun, point=None, step: float = 1e-6) -> pd.DataFrame:
    """MixedLM's analytic score against a central finite difference.

    Parameters
    ----------
    run
        A MixedLM run (:func:`fit_mixedlm`).
    point
        The packed parameter vector (the Cholesky factor of T/σ², lower
        triangle row by row, as MixedLM optimizes it).  ``None``: the point
        given by :func:`stopping_point` — where the last optimizer stopped
        if the run kept its path, otherwise the estimate.  The table's
        ``attrs["point"]`` says which (``"stop"``, ``"estimate"`` or
        ``"given"``); no run is refused for lacking a path.
    step
        Finite-difference step.

    Returns
    -------
    DataFrame with the packed value, the analytic score, the finite
    difference and ``same sign`` (whether the two agree in sign).  Where
    they disagree the optimizer was steered by a wrong gradient.
    """
    model = run.result.model
    if point is None:
        x, where = stopping_point(run)
    else:
        x, where = np.asarray(point, dtype=float), "given"
    analytic = np.asarray(model.score(x, profile_fe=True), dtype=float)
    numeric = np.array([(model.loglike(x + h, profile_fe=True) - model.loglike(x - h, profile_fe=True)) / (2 * step)
                        for h in np.eye(len(x)) * step])
    k = model.k_re
    rows, cols = np.tril_indices(k)
    names = [f"L[{i},{j}]" for i, j in zip(rows, cols)]
    names += [f"vc{m}" for m in range(len(x) - len(names))]
    out = pd.DataFrame({"packed value": x, "analytic score": analytic, "finite difference": numeric,
                        "same sign": np.sign(analytic) == np.sign(numeric)}, index=names)
    out.attrs["point"] = where
    out.attrs["loglike"] = float(model.loglike(x, profile_fe=True))
    return out
