"""Inference for mixed models: likelihood-ratio tables and the parametric bootstrap.

* ``anova(*fits, refit=True)`` — lme4's ``anova()`` table for nested fits;
  REML fits are refitted by ML when fixed effects differ (``refit=True``),
  and a 50:50 χ² mixture p-value is added for variance-component tests,
  whose null value lies on the boundary of the parameter space
  (Self & Liang 1987; Stram & Lee 1994).
* ``pb_test(small, large, nsim, seed)`` — parametric bootstrap
  likelihood-ratio test, as pbkrtest's ``PBmodcomp`` (Halekoh & Højsgaard 2014).
* ``bootstrap_ci(fit, nsim, level, seed)`` — parametric bootstrap percentile
  intervals, as lme4's ``confint(method = "boot")``.

The bootstrap refits reuse the design: only ``Z'y``, ``X'y`` and ``y'y``
change from one simulated response to the next, and they are computed for
all simulations at once with one sparse product; each refit then optimizes
θ from the estimate, at a cost independent of n.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse, stats

from .lmer import (LOG_2PI, SINGULAR_TOL, CrossProducts, LmerFit, MixedModelError,
                   optimize_theta, theta_lower)
from .lmer.deviance import _block_inverse_rows
from .lmer.fit import one_blas_thread
from .multilevel import AttrFrame
from .simulate import simulate_response

def _same_data(fits, what: str) -> None:
    """Refuse models fitted to different data (lme4's anova does, for a different number of rows;
    here also for a different response or rows in a different order)."""
    n = {f.nobs for f in fits}
    if len(n) > 1:
        raise MixedModelError(f"{what}: models were fitted to different numbers of observations: {sorted(n)}")
    y0 = fits[0].y
    for f in fits[1:]:
        if not np.array_equal(f.y, y0):
            raise MixedModelError(
                f"{what}: the models were fitted to different data (their responses differ: "
                f"{fits[0].response or fits[0].parsed.response!r} vs {f.response or f.parsed.response!r}, or "
                "the rows differ); a likelihood-ratio test compares models of the same observations")


def _positive_int(value, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise MixedModelError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


__all__ = ["anova", "mixture_pvalue", "pb_test", "PBTest", "bootstrap_ci", "refit_many", "batch_deviance"]


# ---------------------------------------------------------------------------
# likelihood-ratio tables
# ---------------------------------------------------------------------------
def mixture_pvalue(chisq: float, df: int) -> float:
    """p-value from the 50:50 mixture of χ²_{df−1} and χ²_{df}.

    For adding one random effect to a model with ``df − 1`` others (e.g. a
    random slope next to a random intercept: df = 2), the LRT statistic is
    asymptotically this mixture when the null variance is zero (Stram & Lee
    1994).  χ²_0 is a point mass at zero.
    """
    if df < 1:
        raise ValueError(f"df must be at least 1, got {df}")
    lower = 0.0 if df == 1 else stats.chi2.sf(chisq, df - 1)
    if df == 1:
        lower = float(chisq <= 0)
    return float(0.5 * lower + 0.5 * stats.chi2.sf(chisq, df))


def _adds_one_random_effect(small: LmerFit, big: LmerFit, df: int) -> bool:
    """Whether ``big`` is ``small`` with one more random effect (and its covariances) and nothing else.

    Only then is the 50:50 mixture of χ²_{df−1} and χ²_{df} the null distribution
    of the LRT (Stram & Lee 1994, case 2: q random effects against q + 1, df = q + 1
    new parameters).  Adding two or more random effects at once gives a mixture of
    more χ² components, so no ``Pr(mixture)`` is reported for such a pair.
    """
    added = [name for name in big.random_names if name not in small.random_names]
    return (df > 0 and big.fixed_names == small.fixed_names
            and set(small.random_names) <= set(big.random_names)
            and len(added) == 1 and df == len(big.random_names))


def anova(*fits: LmerFit, refit: bool = True, names: list[str] | None = None) -> pd.DataFrame:
    """Likelihood-ratio comparison of nested fits, like lme4's ``anova()``.

    Models are ordered by number of parameters.  With ``refit=True`` REML
    fits are refitted by maximum likelihood (lme4: "refitting model(s) with
    ML"), which is required when the fixed effects differ.  With
    ``refit=False`` the REML criteria are compared, valid only when the
    fixed parts are identical.  Columns: npar, AIC, BIC, logLik, deviance
    (−2 log L), Chisq, Df, Pr(>Chisq), and Pr(mixture), the boundary-corrected
    p-value, where the larger model adds exactly one random effect (with its
    covariances) to the smaller one and nothing else (NaN otherwise).
    """
    if len(fits) < 2:
        raise MixedModelError("anova needs at least two fitted models to compare")
    _same_data(fits, "anova")
    names = list(names) if names is not None else [f"model{k + 1}" for k in range(len(fits))]
    if len(names) != len(fits):
        raise ValueError("names must have one entry per model")
    fixed_same = len({tuple(f.fixed_names) for f in fits}) == 1
    if not refit and not fixed_same and any(f.reml for f in fits):
        raise MixedModelError("REML criteria of models with different fixed effects are not comparable: "
                              "use refit=True (ML)")
    used = [f.refit(reml=False) if (refit and f.reml) else f for f in fits]
    order = sorted(range(len(used)), key=lambda k: used[k].npar)
    rows = []
    prev = None
    for k in order:
        f = used[k]
        row = {"model": names[k], "npar": f.npar, "AIC": f.aic, "BIC": f.bic, "logLik": f.loglik,
               "deviance": -2.0 * f.loglik, "Chisq": np.nan, "Df": np.nan, "Pr(>Chisq)": np.nan,
               "Pr(mixture)": np.nan}
        if prev is not None:
            chisq = max(2.0 * (f.loglik - prev.loglik), 0.0)
            df = f.npar - prev.npar
            row.update({"Chisq": chisq, "Df": df, "Pr(>Chisq)": stats.chi2.sf(chisq, df) if df > 0 else np.nan})
            if _adds_one_random_effect(prev, f, df):
                row["Pr(mixture)"] = mixture_pvalue(chisq, df)
        rows.append(row)
        prev = f
    out = pd.DataFrame(rows).set_index("model")
    out.attrs["refit"] = refit and any(f.reml for f in fits)
    return out


# ---------------------------------------------------------------------------
# refitting many simulated responses
# ---------------------------------------------------------------------------
@dataclass
class Refits:
    """Estimates from refitting one model to many responses."""

    theta: np.ndarray  # (nsim, len θ)
    beta: np.ndarray  # (nsim, p)
    sigma: np.ndarray  # (nsim,)
    criterion: np.ndarray  # (nsim,) REML criterion or deviance
    vcov: np.ndarray | None = None  # (nsim, p, p): σ̂² (R_X'R_X)⁻¹ of each refit, lme4's vcov


def _batch_cross_products(fit: LmerFit, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``Z_j'y`` (q, nsim, J), ``X'y`` and ``y'y`` for every row of Y (nsim × n) at once."""
    n = fit.nobs
    S = sparse.csr_matrix((np.ones(n), (fit.codes, np.arange(n))), shape=(fit.ngroups, n))
    Zty = np.stack([(S @ (Y.T * fit.Z[:, k:k + 1])) for k in range(fit.Z.shape[1])], axis=-1)  # (J, nsim, q)
    return np.ascontiguousarray(np.transpose(Zty, (2, 1, 0))), Y @ fit.X, np.einsum("si,si->s", Y, Y)  # Zty as (q, S, J)


def batch_deviance(theta: np.ndarray, xp: CrossProducts, Zty: np.ndarray, Xty: np.ndarray, yty: np.ndarray,
                   reml: bool, full: bool = False, vcov: bool = False):
    """Profiled criterion for many (θ, y) pairs at once (eqs. 16–19, 34, 41).

    ``theta`` is (S, k); ``Zty`` (q, S, J), ``Xty`` (S, p), ``yty`` (S,) are the
    response cross-products of S responses sharing X and Z.  The algebra is
    ``lmer.pls_solve``'s, rearranged for speed: with
    ``K_j = Λ M_j⁻¹ Λ'`` (q × q, ``M_j = Λ'Z_j'Z_jΛ + I``),

        R_ZX'R_ZX = Σ_j X'Z_j K_j Z_j'X,   R_ZX'c_u = Σ_j X'Z_j K_j Z_j'y,
        ‖c_u‖² = Σ_j y'Z_j K_j Z_j'y,

    so every sum over groups is a matrix product of an (S, J) "plane" of K
    with fixed per-group cross-products (BLAS), instead of S × J tiny solves.
    With ``full=True`` also returns β̂ (S, p) and σ̂² (S,); with ``vcov=True`` as well,
    also ``σ̂² (R_X'R_X)⁻¹`` (S, p, p), lme4's ``vcov`` of each fit (``R_X'R_X`` is the
    Schur complement ``A`` below).
    """
    q, p, n = xp.q, xp.p, xp.n
    S, J = len(theta), xp.ZtZ.shape[0]
    rows, cols = np.triu_indices(q)
    lam = np.zeros((S, q, q))
    lam[:, cols, rows] = theta
    ZtZ_flat = xp.ZtZ.reshape(J, q * q).T  # (q², J)
    M = np.empty((q, q, S, J))
    for a in range(q):
        for b in range(a, q):
            coef = (lam[:, :, a, None] * lam[:, None, :, b]).reshape(S, q * q)
            M[a, b] = coef @ ZtZ_flat
            if a == b:
                M[a, b] += 1.0
            else:
                M[b, a] = M[a, b]
    # closed-form inverses of the blocks, element planes of length S·J (no strided (…, q, q) views)
    Minv, logdet = _block_inverse_rows(M.reshape(q * q, S * J), q)
    Minv = Minv.reshape(q, q, S, J)
    logdet = logdet.reshape(S, J)
    K = np.zeros((q, q, S, J))
    for e in range(q):
        for f in range(e, q):
            acc = K[e, f]
            for a in range(e + 1):  # Λ is lower triangular: λ_ea = 0 for a > e
                for b in range(f + 1):
                    w = lam[:, e, a] * lam[:, f, b]
                    if np.any(w):
                        acc += w[:, None] * Minv[a, b]
            K[f, e] = acc
    A = np.broadcast_to(xp.XtX, (S, p, p)).copy()
    bvec = Xty.copy()
    yy = yty.copy()
    for e in range(q):
        KZy = sum(K[e, f] * Zty[f] for f in range(q))  # (S, J)
        bvec -= KZy @ xp.ZtX[:, e, :]
        yy -= np.einsum("sj,sj->s", KZy, Zty[e])
        for f in range(q):
            outer = (xp.ZtX[:, e, :, None] * xp.ZtX[:, f, None, :]).reshape(J, p * p)
            A -= (K[e, f] @ outer).reshape(S, p, p)
    L = np.linalg.cholesky(A)
    cbeta = np.linalg.solve(L, bvec[..., None])[..., 0]
    pwrss = yy - np.sum(cbeta * cbeta, axis=1)
    logdet_L = logdet.sum(axis=1)
    if reml:
        df = n - p
        logdet_RX = 2.0 * np.log(np.diagonal(L, axis1=1, axis2=2)).sum(axis=1)
        crit = logdet_L + logdet_RX + df * (1.0 + LOG_2PI + np.log(pwrss / df))
    else:
        df = n
        crit = logdet_L + n * (1.0 + LOG_2PI + np.log(pwrss / n))
    if not full:
        return crit
    beta = np.linalg.solve(np.swapaxes(L, 1, 2), cbeta[..., None])[..., 0]
    if not vcov:
        return crit, beta, pwrss / df
    Linv = np.linalg.inv(L)  # (R_X'R_X)⁻¹ = L⁻ᵀ L⁻¹
    V = (pwrss / df)[:, None, None] * (np.swapaxes(Linv, 1, 2) @ Linv)
    return crit, beta, pwrss / df, V


def _newton_batch(f, theta0: np.ndarray, lower: np.ndarray, maxit: int = 30, h: float = 1e-4, on_done=None):
    """Projected Newton iterations for many independent problems at once.

    ``f(theta, idx)`` evaluates the criterion of problems ``idx`` at rows of
    ``theta``.  Gradient and Hessian by central differences.  A coordinate at
    its lower bound whose gradient points out of the feasible set is held
    fixed, and the Newton step is taken in the others (Bertsekas 1982,
    projected Newton); steps are projected onto the bounds and halved until
    the criterion decreases.
    ``on_done(theta)``, if given, is called after each iteration with the
    estimates of the problems that converged in it (for a progress bar).
    Returns θ, the criterion and a mask of problems that converged.
    """
    S, k = theta0.shape
    theta = np.maximum(theta0.astype(float), lower)
    idx_all = np.arange(S)
    fval = f(theta, idx_all)
    done = np.zeros(S, dtype=bool)
    eye = np.eye(k)
    for _ in range(maxit):
        act = np.flatnonzero(~done)
        if act.size == 0:
            break
        th, f0 = theta[act], fval[act]
        fp = np.stack([f(th + h * eye[i], act) for i in range(k)], axis=1)
        fm = np.stack([f(th - h * eye[i], act) for i in range(k)], axis=1)
        g = (fp - fm) / (2 * h)
        H = np.empty((act.size, k, k))
        for i in range(k):
            H[:, i, i] = (fp[:, i] - 2 * f0 + fm[:, i]) / h ** 2
            for j in range(i + 1, k):
                e = h * (eye[i] + eye[j])
                d = h * (eye[i] - eye[j])
                H[:, i, j] = H[:, j, i] = (f(th + e, act) - f(th + d, act) - f(th - d, act) + f(th - e, act)) / (4 * h * h)
        # Bertsekas' projected Newton: coordinates held at their bound by a gradient pointing out
        # of the feasible set are fixed (zero step); Newton runs on the free coordinates only
        active = (th <= lower + 1e-12) & (g > 0)
        free = (~active).astype(float)
        Hf = H * free[:, :, None] * free[:, None, :] + np.einsum("si,ij->sij", active.astype(float), eye)
        w, V = np.linalg.eigh(Hf)
        # |eigenvalues|: where the finite-difference Hessian has negative curvature (near a boundary
        # of a singular T), step downhill along that direction instead of up (saddle-free Newton)
        w = np.maximum(np.abs(w), 1e-6 * np.maximum(1.0, np.abs(w).max(axis=1, keepdims=True)))
        step = -np.einsum("sij,sj,skj,sk->si", V, 1.0 / w, V, g * free)
        accepted = np.zeros(act.size, dtype=bool)
        new_th, new_f = th.copy(), f0.copy()
        t = 1.0
        for _half in range(12):
            pending = ~accepted
            if not pending.any():
                break
            cand = np.maximum(th[pending] + t * step[pending], lower)
            fc = f(cand, act[pending])
            ok = fc <= f0[pending] + 1e-10
            sel = np.flatnonzero(pending)[ok]
            new_th[sel], new_f[sel] = cand[ok], fc[ok]
            accepted[sel] = True
            t *= 0.5
        moved = np.abs(new_th - th).max(axis=1)
        conv = accepted & (f0 - new_f < 1e-9) & (moved < 1e-6)
        stalled = ~accepted & (np.abs(np.einsum("si,si->s", g, step)) < 1e-8)
        theta[act], fval[act] = new_th, new_f
        done[act[conv | stalled]] = True
        if on_done is not None and (conv | stalled).any():
            on_done(theta[act[conv | stalled]])
    return theta, fval, done


def _progress_bar(progress, total: int, desc: str):
    """A tqdm bar for ``total`` refits when ``progress`` is True, the caller's bar
    when it is one (several refit runs sharing a bar), else None."""
    if progress is True:
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=desc, unit="refit")
    return progress or None


def refit_many(fit: LmerFit, Y: np.ndarray, reml: bool | None = None, progress=False) -> Refits:
    """Refit ``fit``'s model to each simulated response in ``Y`` (nsim × n).

    All refits run at once: vectorized projected Newton iterations on the
    profiled criterion (``batch_deviance``), started at the original θ̂.
    Refits whose θ lies on the boundary (a variance estimated as zero) are
    searched again, also vectorized, from a point moved off the boundary,
    and the better optimum is kept (``optimize_theta``'s guard against
    false boundaries).  Any refit where Newton did not converge is redone
    with ``optimize_theta`` (BOBYQA).  Models with uncorrelated terms
    (``(x || g)``) are refitted over the free elements of θ only (Λθ stays
    block diagonal).

    ``progress``: True shows a bar of finished refits over the whole run
    (Newton, boundary re-searches and BOBYQA fallbacks); a tqdm bar passed
    in is advanced instead (``pb_test`` shares one bar between its two models).
    """
    reml = fit.reml if reml is None else reml
    Y = np.atleast_2d(np.asarray(Y, dtype=float))
    if Y.shape[1] != fit.nobs:
        raise MixedModelError(f"simulated responses have {Y.shape[1]} columns, the model has {fit.nobs} rows")
    nsim = len(Y)
    bar = _progress_bar(progress, nsim, "refits")
    try:
        with one_blas_thread():  # as lmer: R runs single-threaded, and threads lose on a busy machine
            return _refit_many(fit, Y, reml, bar)
    finally:
        if progress is True and bar is not None:
            bar.close()


def _refit_many(fit: LmerFit, Y: np.ndarray, reml: bool, bar) -> Refits:
    # y and y − Xγ have the same criterion and θ̂ (β̂ shifts by γ): centring on the fitted fixed part keeps
    # y'y − ‖c_u‖² − ‖c_β‖² from cancelling when y is far from zero (e.g. y + 10⁷)
    shift = fit.pls.beta
    Y = Y - (fit.X @ shift)[None, :]
    Zty, Xty, yty = _batch_cross_products(fit, Y)
    nsim = len(Y)
    xp0 = fit.xp
    free = fit.free  # elements of θ that are parameters (all, or Λθ's diagonal blocks for (x || g))
    lower = theta_lower(xp0.q)[free]

    def full(x):
        th = np.zeros((len(x), len(free)))
        th[:, free] = x
        return th

    def _one(th, i):
        try:
            return batch_deviance(full(th[None]), xp0, Zty[:, [i]], Xty[[i]], yty[[i]], reml)[0]
        except np.linalg.LinAlgError:
            return np.inf

    def f(x, idx):
        with np.errstate(invalid="ignore", divide="ignore"):
            try:
                crit = batch_deviance(full(x), xp0, Zty[:, idx], Xty[idx], yty[idx], reml)
            except np.linalg.LinAlgError:  # a non-PD R_X'R_X somewhere: evaluate one by one
                crit = np.array([_one(x[i], idx[i]) for i in range(len(idx))])
        return np.where(np.isfinite(crit), crit, np.inf)

    def at_bound(x):
        return ((lower == 0) & (x < SINGULAR_TOL)).any(axis=1)

    def finished_inside(x):  # refits that converged off the boundary are final
        if bar is not None:
            bar.update(int(np.sum(~at_bound(x))))

    x_hat, crit, done = _newton_batch(f, np.tile(fit.theta[free], (nsim, 1)), lower, on_done=finished_inside)
    # Refits that stopped with a variance at zero: search again from a point moved off the
    # boundary (as optimize_theta does for a single fit) and keep the better optimum.
    on_bound = (lower == 0) & (x_hat < SINGULAR_TOL)
    b = np.flatnonzero(done & on_bound.any(axis=1))
    redo = ~done
    if b.size:
        moved = np.where(on_bound[b], 0.3, x_hat[b])
        th2, c2, d2 = _newton_batch(lambda th, idx: f(th, b[idx]), moved, lower)
        better = d2 & (c2 < crit[b])
        x_hat[b[better]], crit[b[better]] = th2[better], c2[better]
        redo[b[~d2]] = True
        if bar is not None:
            bar.update(int(np.sum(d2)))
    redo = np.flatnonzero(redo)
    for s in redo:
        xp = CrossProducts(ZtZ=xp0.ZtZ, ZtX=xp0.ZtX, Zty=Zty[:, s].T.copy(), XtX=xp0.XtX, Xty=Xty[s], yty=float(yty[s]),
                           n=xp0.n)
        best = min(optimize_theta(xp, reml, start=fit.theta, check=False, free=free), key=lambda r: r.criterion)
        if best.criterion < crit[s]:
            x_hat[s], crit[s] = best.theta[free], best.criterion
        if bar is not None:
            bar.update(1)
    theta = full(x_hat)
    crit, beta, sigma2, V = batch_deviance(theta, xp0, Zty, Xty, yty, reml, full=True, vcov=True)
    out = Refits(theta=theta, beta=beta + shift[None, :], sigma=np.sqrt(sigma2), criterion=crit, vcov=V)
    out.n_fallback = int(redo.size)
    return out


# ---------------------------------------------------------------------------
# parametric bootstrap likelihood-ratio test
# ---------------------------------------------------------------------------
@dataclass
class PBTest:
    """Result of ``pb_test``: the observed LRT, its χ² p-value and the bootstrap p-value."""

    lrt: float
    df: int
    p_chisq: float
    p_value: float
    stats: np.ndarray = field(repr=False)
    nsim: int = 0
    extremes: int = 0
    elapsed: float = 0.0

    def table(self) -> pd.DataFrame:
        """pbkrtest's two-row summary: LRT (χ² reference) and PBtest (bootstrap)."""
        return pd.DataFrame({"stat": [self.lrt, self.lrt], "df": [self.df, np.nan],
                             "p.value": [self.p_chisq, self.p_value]}, index=["LRT", "PBtest"])


def pb_test(small: LmerFit, large: LmerFit, nsim: int = 1000, seed=None, progress: bool = False) -> PBTest:
    """Parametric bootstrap likelihood-ratio test of ``small`` within ``large``.

    As pbkrtest's ``PBmodcomp``: both models are (re)fitted by ML; ``nsim``
    responses are simulated from the fitted small model; both models are
    refitted to each; the p-value is ``(1 + #{LRT* ≥ LRT}) / (1 + nsim)``.
    ``progress=True`` shows one bar over all ``2 × nsim`` refits.
    """
    _same_data([small, large], "pb_test")
    nsim = _positive_int(nsim, "nsim")
    if small.npar >= large.npar:
        raise MixedModelError(f"the small model must have fewer parameters than the large one "
                              f"({small.npar} vs {large.npar}); swap the arguments")
    t0 = time.perf_counter()
    small_ml = small.refit(reml=False) if small.reml else small
    large_ml = large.refit(reml=False) if large.reml else large
    lrt = max(2.0 * (large_ml.loglik - small_ml.loglik), 0.0)
    df = large_ml.npar - small_ml.npar
    Y = simulate_response(small_ml, nsim, seed)
    bar = _progress_bar(progress, 2 * nsim, "pb_test refits")
    try:
        crit_small = refit_many(small_ml, Y, reml=False, progress=bar).criterion
        crit_large = refit_many(large_ml, Y, reml=False, progress=bar).criterion
    finally:
        if bar is not None:
            bar.close()
    sims = np.maximum(crit_small - crit_large, 0.0)
    extremes = int(np.sum(sims >= lrt))
    return PBTest(lrt=lrt, df=df, p_chisq=float(stats.chi2.sf(lrt, df)),
                  p_value=(1 + extremes) / (1 + nsim), stats=sims, nsim=nsim, extremes=extremes,
                  elapsed=time.perf_counter() - t0)


# ---------------------------------------------------------------------------
# parametric bootstrap confidence intervals
# ---------------------------------------------------------------------------
def _sd_corr_names(fit: LmerFit) -> list[str]:
    """Names of the random-effect SDs and correlations in lme4's .sigNN order."""
    names, rn = [], fit.random_names
    q = len(rn)
    for j in range(q):
        names.append(f"sd_{rn[j]}")
        for i in range(j + 1, q):
            names.append(f"cor_{rn[i]}.{rn[j]}")
    return names


def sd_corr(theta: np.ndarray, sigma: np.ndarray, q: int) -> np.ndarray:
    """Random-effect SDs and correlations (lme4's .sig01, .sig02, … order) from θ and σ.

    ``T = σ² Λθ Λθ'``; rows of the result follow column-major order of the
    lower triangle, as lme4 lists them (sd of term 1, its correlations with
    later terms, sd of term 2, …).
    """
    from .lmer import lambda_theta

    theta = np.atleast_2d(theta)
    sigma = np.atleast_1d(sigma)
    out = []
    for th, s in zip(theta, sigma):
        lam = lambda_theta(th, q)
        T = s * s * lam @ lam.T
        sd = np.sqrt(np.diag(T))
        vals = []
        for j in range(q):
            vals.append(sd[j])
            for i in range(j + 1, q):
                vals.append(T[i, j] / (sd[i] * sd[j]) if sd[i] * sd[j] > 0 else np.nan)
        out.append(vals)
    return np.asarray(out)


def bootstrap_ci(fit: LmerFit, nsim: int = 1000, level: float = 0.95, seed=None,
                 progress: bool = False) -> pd.DataFrame:
    """Parametric bootstrap percentile intervals, like lme4's ``confint(method = "boot")``.

    Simulates ``nsim`` responses from the fit, refits each (same REML/ML
    setting) and takes the ``(1 − level)/2`` and ``(1 + level)/2`` quantiles of
    each parameter.  Rows, in lme4's order: random-effect SDs and correlations
    (lme4's ``.sig01``, ``.sig02``, …; column ``lme4``), ``sigma`` (lme4's
    ``.sigma``), then the fixed effects named as in ``fixef``.  Columns:
    ``estimate``, ``lower``, ``upper``, ``lme4``.  The replicates are kept in
    ``result.attrs["replicates"]``, the timing in ``result.attrs["elapsed"]``.
    """
    if isinstance(level, (bool, np.bool_)) or not isinstance(level, (int, float, np.integer, np.floating)) \
            or not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1 (a number), got {level!r}")
    level = float(level)
    nsim = _positive_int(nsim, "nsim")
    t0 = time.perf_counter()
    Y = simulate_response(fit, nsim, seed)
    r = refit_many(fit, Y, progress=progress)
    q = fit.xp.q
    free = fit.free  # (x || g): no correlation parameters between separate terms
    rep = np.column_stack([sd_corr(r.theta, r.sigma, q)[:, free], r.sigma, r.beta])
    est = np.concatenate([sd_corr(fit.theta, np.array([fit.sigma]), q)[0][free], [fit.sigma], fit.pls.beta])
    names = [n for n, keep in zip(_sd_corr_names(fit), free) if keep] + ["sigma"] + fit.fixed_names
    nsig = int(np.sum(free))
    lme4 = [f".sig{k + 1:02d}" for k in range(nsig)] + [".sigma"] + fit.fixed_names
    alpha = (1 - level) / 2
    with np.errstate(invalid="ignore"):
        lo = np.nanquantile(rep, alpha, axis=0)
        hi = np.nanquantile(rep, 1 - alpha, axis=0)
    out = pd.DataFrame({"estimate": est, "lower": lo, "upper": hi, "lme4": lme4}, index=pd.Index(names, name="parameter"))
    out.attrs["replicates"] = AttrFrame(rep, columns=names)
    out.attrs["elapsed"] = time.perf_counter() - t0
    out.attrs["nsim"] = nsim
    out.attrs["level"] = level
    return out
