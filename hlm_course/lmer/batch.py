"""Refitting one model to many responses: the parametric bootstrap's engine.

lme4's ``refit()`` applied many times (``bootMer``, pbkrtest's ``PBmodcomp``)
re-runs the whole fit per response.  With one grouping factor the design's
per-group cross-products do not change from one response to the next (Bates
et al. 2015, §3.2: only ``Z'y``, ``X'y`` and ``y'y`` do), so every refit's
profiled criterion (eqs. 34, 41) is evaluated for all responses at once
(:func:`batch_deviance`) and θ is optimized by vectorized projected Newton
steps (:func:`newton_batch`), with BOBYQA as the fallback.  Fits with several
grouping factors are refitted one by one (:meth:`LmerFitMulti.refit`'s steps).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from .deviance import LOG_2PI, SINGULAR_TOL, CrossProducts, block_inverse_rows, theta_lower
from .errors import MixedModelError
from .fit import LmerFit, one_blas_thread
from .multiterm import LmerFitMulti, refit_many_multi
from .optimize import optimize_theta

__all__ = ["Refits", "refit_many", "batch_deviance", "batch_cross_products", "newton_batch", "progress_bar"]


@dataclass
class Refits:
    """Estimates from refitting one model to many responses."""

    theta: np.ndarray  # (nsim, len θ)
    beta: np.ndarray  # (nsim, p)
    sigma: np.ndarray  # (nsim,)
    criterion: np.ndarray  # (nsim,) REML criterion or deviance
    n_fallback: int = 0  # refits redone one by one with BOBYQA (Newton did not converge)
    vcov: np.ndarray | None = None  # (nsim, p, p): σ̂² (R_X'R_X)⁻¹ of each refit, lme4's vcov


def batch_cross_products(fit: LmerFit, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
    Minv, logdet = block_inverse_rows(M.reshape(q * q, S * J), q)
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


def newton_batch(f, theta0: np.ndarray, lower: np.ndarray, maxit: int = 30, h: float = 1e-4, on_done=None):
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


def progress_bar(progress, total: int, desc: str):
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
    bar = progress_bar(progress, nsim, "refits")
    try:
        with one_blas_thread():  # as lmer: R runs single-threaded, and threads lose on a busy machine
            if isinstance(fit, LmerFitMulti):
                return Refits(*refit_many_multi(fit, Y, reml, bar))
            return _refit_many(fit, Y, reml, bar)
    finally:
        if progress is True and bar is not None:
            bar.close()


def _refit_many(fit: LmerFit, Y: np.ndarray, reml: bool, bar) -> Refits:
    # y and y − Xγ have the same criterion and θ̂ (β̂ shifts by γ): centring on the fitted fixed part keeps
    # y'y − ‖c_u‖² − ‖c_β‖² from cancelling when y is far from zero (e.g. y + 10⁷)
    shift = fit.pls.beta
    Y = Y - (fit.X @ shift)[None, :]
    Zty, Xty, yty = batch_cross_products(fit, Y)
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

    x_hat, crit, done = newton_batch(f, np.tile(fit.theta[free], (nsim, 1)), lower, on_done=finished_inside)
    # Refits that stopped with a variance at zero: search again from a point moved off the
    # boundary (as optimize_theta does for a single fit) and keep the better optimum.
    on_bound = (lower == 0) & (x_hat < SINGULAR_TOL)
    b = np.flatnonzero(done & on_bound.any(axis=1))
    redo = ~done
    if b.size:
        moved = np.where(on_bound[b], 0.3, x_hat[b])
        th2, c2, d2 = newton_batch(lambda th, idx: f(th, b[idx]), moved, lower)
        better = d2 & (c2 < crit[b])
        x_hat[b[better]], crit[b[better]] = th2[better], c2[better]
        redo[b[~d2]] = True
        if bar is not None:
            bar.update(int(np.sum(d2)))
    redo = np.flatnonzero(redo)
    for s in redo:
        xp = CrossProducts(ZtZ=xp0.ZtZ, ZtX=xp0.ZtX, Zty=Zty[:, s].T.copy(), XtX=xp0.XtX, Xty=Xty[s], yty=float(yty[s]),
                           n=xp0.n)
        best = min(optimize_theta(xp, reml, start=fit.theta, free=free), key=lambda r: r.criterion)
        if best.criterion < crit[s]:
            x_hat[s], crit[s] = best.theta[free], best.criterion
        if bar is not None:
            bar.update(1)
    theta = full(x_hat)
    crit, beta, sigma2, V = batch_deviance(theta, xp0, Zty, Xty, yty, reml, full=True, vcov=True)
    return Refits(theta=theta, beta=beta + shift[None, :], sigma=np.sqrt(sigma2), criterion=crit,
                  n_fallback=int(redo.size), vcov=V)
