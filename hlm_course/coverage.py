"""Coverage studies: how often do the shrinkage intervals cover the true β_j?

Kaplan's (2010) eq. 3.16 and her appendix code give different intervals for each school's coefficients
(:func:`hlm_course.shrinkage.shrinkage_ci`); simulating from the fitted model settles which attains its
nominal level. :func:`coverage_study` draws new schools and responses from the fit (optionally refitting each
replicate), :func:`conditional_coverage` gives the exact coverage for a school whose true β_j sits at given
multiples of its prior SD, and :func:`conditional_coverage_sim` checks that by simulation.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from scipy import stats

from .lmer import LmerFit, MixedModelError
from .shrinkage import (Level1Structure, check_appendix_applies, level1_structure, select_terms,
                        shrinkage_pieces, two_sided_z)

__all__ = ["coverage_study", "conditional_coverage", "conditional_coverage_sim"]


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
    z = two_sided_z(level)
    s = level1_structure(model, W)
    keep = select_terms(s, terms, model.formula)
    check_appendix_applies(s)
    rng = np.random.default_rng(seed)
    J, q = len(s.groups), s.q
    gamma0 = shrinkage_pieces(s).gamma(s.W, s.b)
    mean_beta = np.einsum("jqr,r->jq", s.W, gamma0)
    if refit:
        est, se316, seapp, truth = _coverage_refit(model, s, mean_beta, nsim, rng)
    else:
        u = rng.standard_normal((nsim, J, q)) @ _psd_root(s.T).T
        truth = mean_beta + u
        rootA = _psd_root(s.A)  # (J, q, q)
        noise = np.sqrt(s.sigma2) * np.einsum("jqk,sjk->sjq", rootA, rng.standard_normal((nsim, J, q)))
        b = np.einsum("jqk,sjk->sjq", s.A, truth) + noise
        sh = shrinkage_pieces(s)
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
    sh = shrinkage_pieces(s)
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
    z = two_sided_z(level)
    s = level1_structure(model, W)
    keep = select_terms(s, terms, model.formula)
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
    z = two_sided_z(level)
    s = level1_structure(model)
    keep = select_terms(s, terms, model.formula)
    groups = list(groups)
    unknown = [g for g in groups if g not in s.groups]
    if unknown:
        raise MixedModelError(f"groups {unknown} are not groups of the model")
    rng = np.random.default_rng(seed)
    J, q = len(s.groups), s.q
    sh = shrinkage_pieces(s)
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
        sh = shrinkage_pieces(si)
        est[i] = sh.beta_star(si, T, b[i], sh.gamma(si.W, b[i]))
        se316[i] = np.sqrt(np.diagonal(sh.vstar(si.W), axis1=1, axis2=2))
        if np.linalg.matrix_rank(T, hermitian=True) == q:
            seapp[i] = np.sqrt(np.diagonal(sh.vstar_appendix(T, si.A, si.sigma2), axis1=1, axis2=2))
    return est, se316, seapp, truth
