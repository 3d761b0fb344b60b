"""The profiled deviance: lme4's ``mkLmerDevfun`` in miniature.

Bates et al. (2015), §3 ("Linear mixed models: the objective function").  The
model (§3.1, eqs. 2–3) is

    y | b ~ N(X β + Z b, σ² I),     b = Λθ u,     u ~ N(0, σ² I_q),

for one grouping factor with ``q`` random-effect terms per group, so the
random-effects covariance is ``T = σ² Λθ Λθ'`` and Λθ is block diagonal with one
lower-triangular ``q × q`` template per group (eq. 4).  Because the templates
are identical and ``Z'Z`` is block diagonal, every quantity the paper computes
from the sparse Cholesky factor ``Lθ`` is computed here from per-group
``q × q`` cross-products (:class:`CrossProducts`), batched with numpy: an
evaluation costs O(J q³ + p³), independent of n.

Numerical invariance (:class:`ScaledProblem`).  The criterion is a function of
the model, not of the units of the data: adding a constant to y, shifting or
rescaling a predictor, changing the basis of X change nothing (ML) or a known
constant (REML, through log|R_X|²).  The formula of eq. 16 for the penalized
residual sum of squares, ``r²_θ = y'y − ‖c_u‖² − ‖c_β‖²``, subtracts numbers of
the size of y'y, so with ``y + 10⁷`` it cancels catastrophically; and the
optimizer's steps in θ mean different things when a slope is measured in
seconds rather than days.  So the engine works on an equivalent problem: X
replaced by an orthonormal basis of its columns (times √n), y by its OLS
residuals divided by their RMS (then ``r²_θ`` is a fraction of the residual
sum of squares, not a difference of huge numbers), and Z by centred, scaled
columns.  Estimates are mapped back exactly (below, ``A``, ``B``, ``γ``, ``s``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property, lru_cache

import numpy as np
from scipy import linalg

from .errors import MixedModelError

_dpotrf, _dtrtrs = linalg.lapack.dpotrf, linalg.lapack.dtrtrs  # LAPACK directly: no per-call checks

__all__ = ["LOG_2PI", "SINGULAR_TOL", "CrossProducts", "ScaledProblem", "PLSSolution", "theta_lower",
           "theta_start", "lambda_theta", "free_theta", "block_inverse", "block_inverse_batch", "block_inverse_rows", "pls_at_factor", "theta_index",
           "pls_solve", "thin_qr",
           "profiled_deviance"]

LOG_2PI = np.log(2.0 * np.pi)
#: lme4's isSingular() tolerance on θ components bounded below by zero.
SINGULAR_TOL = 1e-4


# ---------------------------------------------------------------------------
# Per-group cross-products
# ---------------------------------------------------------------------------
@dataclass
class CrossProducts:
    """Per-group cross-products of ``W = [Z | X | y]``.

    ``ZtZ`` is (J, q, q), ``ZtX`` (J, q, p), ``Zty`` (J, q); ``XtX``, ``Xty`` and
    ``yty`` are the totals over groups.  These are all the data the profiled
    deviance needs (§3.2–3.3).  ``scaled``, when set (by ``lmer``), holds the
    equivalent well-conditioned problem on which :func:`pls_solve` computes.
    """

    ZtZ: np.ndarray
    ZtX: np.ndarray
    Zty: np.ndarray
    XtX: np.ndarray
    Xty: np.ndarray
    yty: float
    n: int
    scaled: "ScaledProblem | None" = field(default=None, repr=False)

    @property
    def q(self) -> int:
        return self.ZtZ.shape[1]

    @cached_property
    def _ZtZ_rows(self) -> np.ndarray:
        """Z_j'Z_j with the groups last, one row per element: (q², J), element (a, b) in row a q + b."""
        J, q = self.ZtZ.shape[0], self.q
        return np.ascontiguousarray(self.ZtZ.reshape(J, q * q).T)

    @cached_property
    def _ZtXy_rows(self) -> np.ndarray:
        """Z_j'[X y] with the groups last, flattened to (q, (p + 1) J) for one BLAS product with Λ'."""
        q = self.q
        ZtXy = np.concatenate([self.ZtX, self.Zty[:, :, None]], axis=2)  # (J, q, p + 1)
        return np.ascontiguousarray(np.transpose(ZtXy, (1, 2, 0))).reshape(q, -1)

    @property
    def p(self) -> int:
        return self.XtX.shape[0]

    @cached_property
    def _work(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Work buffers of :func:`_pls`: Λ'Z_j'[X y] and M_j⁻¹Λ'Z_j'[X y] (q, p + 1, J), and one plane."""
        return _work_buffers(self.q, self.p, self.ZtZ.shape[0])

    @cached_property
    def _blocks(self) -> list[tuple[np.ndarray, np.ndarray, tuple]]:
        """The groups in blocks of at most ``_BLOCK``: each block's ``_ZtZ_rows``, ``_ZtXy_rows`` (contiguous)
        and work buffers, for the optimizer's evaluations when there are many groups."""
        J, q, p = self.ZtZ.shape[0], self.q, self.p
        ZtXy = self._ZtXy_rows.reshape(q, p + 1, J)
        out = []
        for start in range(0, J, _BLOCK):
            sl = slice(start, min(start + _BLOCK, J))
            n = sl.stop - sl.start
            out.append((np.ascontiguousarray(self._ZtZ_rows[:, sl]),
                        np.ascontiguousarray(ZtXy[:, :, sl]).reshape(q, -1), _work_buffers(q, p, n)))
        return out

    @classmethod
    def from_arrays(cls, X: np.ndarray, Z: np.ndarray, y: np.ndarray, codes: np.ndarray,
                    ngroups: int) -> "CrossProducts":
        """Accumulate ``Z_j'W_j`` for every group ``j`` in one pass over the data:
        each element is a weighted ``bincount`` over the group codes (q (q + p + 1)
        of them; Z_j'Z_j's symmetric half is copied), so the cost is linear in n
        with no n-sized temporaries beyond one column."""
        codes = np.asarray(codes)
        q, p = Z.shape[1], X.shape[1]
        cols = [np.ascontiguousarray(Z[:, k], dtype=float) for k in range(q)]
        cols += [np.ascontiguousarray(X[:, k], dtype=float) for k in range(p)] + [np.asarray(y, dtype=float)]
        ones = [bool(np.all(c == 1.0)) for c in cols[:q]]
        C = np.empty((ngroups, q, q + p + 1))
        for a in range(q):
            for c in range(a, q + p + 1):
                w = cols[c] if ones[a] else (cols[a] if c < q and ones[c] else cols[a] * cols[c])
                C[:, a, c] = np.bincount(codes, weights=w, minlength=ngroups)
            for c in range(a):
                C[:, a, c] = C[:, c, a]
        return cls(ZtZ=C[:, :, :q].copy(), ZtX=C[:, :, q:-1].copy(), Zty=C[:, :, -1].copy(),
                   XtX=X.T @ X, Xty=X.T @ y, yty=float(y @ y), n=len(y))


def _work_buffers(q: int, p: int, J: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.empty((q, p + 1, J)), np.empty((q, p + 1, J)), np.empty((p + 1, J))


# ---------------------------------------------------------------------------
# The relative covariance factor Λθ
# ---------------------------------------------------------------------------
def theta_lower(q: int) -> np.ndarray:
    """Lower bounds on θ: 0 for diagonal elements of Λθ, -∞ otherwise (§3.1)."""
    rows, cols = np.triu_indices(q)
    return np.where(rows == cols, 0.0, -np.inf)


def theta_start(q: int) -> np.ndarray:
    """lme4's starting value: Λθ = I (diagonal 1, off-diagonal 0)."""
    rows, cols = np.triu_indices(q)
    return np.where(rows == cols, 1.0, 0.0)


def free_theta(blocks) -> np.ndarray:
    """Which elements of the full θ are parameters, for random effects in ``blocks``.

    ``blocks[k]`` is the term random effect ``k`` belongs to: one term ``(1 + x | g)``
    has a full lower-triangular template; ``(x || g)`` = ``(1 | g) + (0 + x | g)``
    has one block per effect, so Λθ is diagonal (§2.2: a term per block).
    """
    blocks = np.asarray(blocks)
    rows, cols = np.triu_indices(len(blocks))
    return blocks[rows] == blocks[cols]


@lru_cache(maxsize=None)
def theta_index(q: int) -> tuple[np.ndarray, np.ndarray]:
    """(row, column) in Λθ of each element of θ (lme4's column-wise lower triangle)."""
    rows, cols = np.triu_indices(q)
    return cols, rows


def lambda_theta(theta: np.ndarray, q: int) -> np.ndarray:
    """The ``q × q`` lower-triangular template of Λθ (eq. 4).

    θ fills the lower triangle column by column, as in lme4: for ``q = 2``,
    ``θ = (λ11, λ21, λ22)``.
    """
    lam = np.zeros((q, q))
    lam[theta_index(q)] = theta
    return lam


def theta_of(lam: np.ndarray) -> np.ndarray:
    """The θ vector of a lower-triangular template (inverse of :func:`lambda_theta`)."""
    rows, cols = np.triu_indices(lam.shape[0])
    return lam[cols, rows].copy()


def lower_factor(M: np.ndarray) -> np.ndarray:
    """A lower-triangular L with non-negative diagonal and ``L L' = M M'``.

    From the QR decomposition ``M' = Q R``: ``M = R'Q'`` and ``L = R'`` (an LQ
    decomposition); this maps a factor of T on one scale to lme4's Λθ on another.
    Block-diagonal M gives block-diagonal L.
    """
    R = np.linalg.qr(M.T, mode="r")
    L = R.T
    d = np.sign(np.diag(L))
    d[d == 0] = 1.0
    return L * d[None, :]


# ---------------------------------------------------------------------------
# Penalized least squares
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
    if q <= 3:  # the closed forms of block_inverse_rows, on the blocks laid out as rows
        rows = np.ascontiguousarray(M.reshape(-1, q * q).T)
        inv, logdet = block_inverse_rows(rows, q)
        return inv.T.reshape(M.shape), logdet.reshape(M.shape[:-2])
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
        return criterion(self.logdet_L, self.logdet_RX, self.pwrss, self.n, self.p, reml)

    def sigma2(self, reml: bool) -> float:
        """Conditional estimate of σ² (eqs. 33 and 40)."""
        return self.pwrss / (self.n - self.p if reml else self.n)


def criterion(logdet_L, logdet_RX, pwrss, n, p, reml):
    """Eq. 34 (ML: log|Lθ|² + n(1 + log(2π r²_θ/n))) or eq. 41 (REML)."""
    if not pwrss > 0:  # a perfect fit (σ → 0) or an evaluation lost to rounding
        return np.nan
    if reml:
        df = n - p
        return logdet_L + logdet_RX + df * (1.0 + LOG_2PI + np.log(pwrss / df))
    return logdet_L + n * (1.0 + LOG_2PI + np.log(pwrss / n))


def block_inverse_rows(M: np.ndarray, q: int) -> tuple[np.ndarray, np.ndarray]:
    """Inverses and log-determinants of SPD ``q × q`` blocks stored as rows:
    ``M[a*q + b]`` is element (a, b) of every block (shape ``(q*q, J)``).

    Closed forms (adjugates) for q ≤ 3 on contiguous rows of length J, so each
    is one vectorized operation however many groups there are; larger q goes
    through :func:`block_inverse_batch`'s Cholesky factors.
    """
    if q == 1:
        return 1.0 / M, np.log(M[0])
    if q == 2:
        a, b, c = M[0], M[1], M[3]
        det = a * c - b * b
        inv = np.empty_like(M)
        np.divide(c, det, out=inv[0])
        np.divide(a, det, out=inv[3])
        np.divide(-b, det, out=inv[1])
        inv[2] = inv[1]
        return inv, np.log(det)
    if q == 3:  # adjugate over determinant
        a, b, c, d, e, f = M[0], M[1], M[2], M[4], M[5], M[8]
        c00, c01, c02, c12 = d * f - e * e, c * e - b * f, b * e - c * d, b * c - a * e
        det = a * c00 + b * c01 + c * c02
        inv = np.stack([c00, c01, c02, c01, a * f - c * c, c12, c02, c12, a * d - b * b])
        return inv / det, np.log(det)
    J = M.shape[1]
    inv, logdet = block_inverse_batch(np.ascontiguousarray(M.T).reshape(J, q, q))
    return np.ascontiguousarray(inv.reshape(J, q * q).T), logdet


#: Groups per block in the optimizer's evaluations when there are more: the (q, p + 1, block) work arrays
#: then stay in the cache while a block is processed.  Measured for q = 2, p = 6: 28 ns per group at
#: J = 16 000 (everything in cache), 59–97 ns at J = 48 000 in one pass, 39 ns in blocks of 16 384 (the
#: inputs no longer fit in the cache, so part of the cost per group is reading them from memory).
_BLOCK = 16384


def _group_sums(lam: np.ndarray, ZtZ_rows: np.ndarray, ZtXy_rows: np.ndarray, work, q: int, p: int):
    """The sums over a set of groups that eqs. 16–19 need (see :func:`_pls`): ``S = Σ_j [X y]'Z_jΛ M_j⁻¹
    Λ'Z_j'[X y]`` and ``Σ_j log|M_j|``, with ``M_j⁻¹`` and ``M_j⁻¹Λ'Z_j'[X y]`` (the latter in ``work``)."""
    J = ZtZ_rows.shape[1]
    if q == 1:  # scalar blocks: M_j = λ² z_j'z_j + 1
        lam2 = lam[0, 0] * lam[0, 0]
        M = lam2 * ZtZ_rows[0] + 1.0  # (J,)
        Minv = (1.0 / M)[None, :]
        logdet_L = float(np.log(M).sum())
        rhs = lam[0, 0] * ZtXy_rows.reshape(1, p + 1, J)
        Mrhs = rhs * Minv[:, None, :]
        return rhs[0] @ Mrhs[0].T, logdet_L, Minv, Mrhs
    lt = lam.T
    K = (lt[:, None, :, None] * lt[None, :, None, :]).reshape(q * q, q * q)  # Λ' ⊗ Λ'
    M = K @ ZtZ_rows  # (q², J): element (a, b) of Λ'Z_j'Z_jΛ in row a q + b
    M[:: q + 1] += 1.0  # + I
    Minv, logdet = block_inverse_rows(M, q)
    logdet_L = float(logdet.sum())
    # the (q, p + 1, J) arrays live in buffers kept with the cross-products: with many groups, fresh
    # allocations of this size on every evaluation cost more (page faults, cache misses) than the algebra
    rhs, Mrhs, tmp = work
    np.matmul(lt, ZtXy_rows, out=rhs.reshape(q, -1))  # Λ'Z_j'[X y]
    for a in range(q):  # M_j⁻¹ Λ'Z_j'[X y], one (p + 1) × J plane at a time
        np.multiply(Minv[a * q], rhs[0], out=Mrhs[a])
        for b in range(1, q):
            np.multiply(Minv[a * q + b], rhs[b], out=tmp)
            Mrhs[a] += tmp
    S = rhs[0] @ Mrhs[0].T  # Σ_j [X y]'Z_jΛ M_j⁻¹ Λ'Z_j'[X y]
    for a in range(1, q):
        S += rhs[a] @ Mrhs[a].T
    return S, logdet_L, Minv, Mrhs


def pls_at_factor(lam: np.ndarray, xp: CrossProducts, criterion_only: bool = False):
    """Penalized least squares at a (not necessarily triangular) factor ``lam`` (eqs. 14–19).

    With ``M_j = Λ'Z_j'Z_jΛ + I = L_j L_j'`` the blocked Cholesky factorization
    (eq. 18) has ``R_ZX'R_ZX = Σ_j X'Z_jΛ M_j⁻¹ Λ'Z_j'X`` and
    ``R_X'R_X = X'X − R_ZX'R_ZX``; ``β̂_θ`` solves
    ``R_X'R_X β = X'y − Σ_j X'Z_jΛ M_j⁻¹ Λ'Z_j'y`` (eq. 19),
    ``u_j = M_j⁻¹ Λ'Z_j'(y − Xβ̂)`` and ``r²_θ = y'y − ‖c_u‖² − ‖c_β‖²`` (eq. 16)
    with ``‖c_u‖² = Σ_j y'Z_jΛ M_j⁻¹ Λ'Z_j'y``.

    Every per-group quantity is stored with the groups on the last axis, so an
    evaluation is a fixed, small number of vectorized operations (about 20),
    whatever J: ``Λ'Z_j'Z_jΛ`` for all j is one ``q² × q²`` product with
    ``Λ' ⊗ Λ'`` and ``Λ'Z_j'[X y]`` one ``q × q`` product.  With
    ``criterion_only`` the function stops at what eqs. 34/41 need:
    ``(r²_θ, log|Lθ|², log|R_X|²)`` (the optimizer's objective).
    """
    q, p = xp.q, xp.p
    J = xp.ZtZ.shape[0]
    if criterion_only and J > _BLOCK:  # many groups: blocks of groups whose arrays stay in the cache
        S, logdet_L = np.zeros((p + 1, p + 1)), 0.0
        for ZtZ_rows, ZtXy_rows, work in xp._blocks:
            S_b, logdet_b, _, _ = _group_sums(lam, ZtZ_rows, ZtXy_rows, work, q, p)
            S += S_b
            logdet_L += logdet_b
    else:
        S, logdet_L, Minv, Mrhs = _group_sums(lam, xp._ZtZ_rows, xp._ZtXy_rows, xp._work, q, p)
    S = 0.5 * (S + S.T)
    A = xp.XtX - S[:p, :p]
    rhs_beta = xp.Xty - S[:p, p]
    RX, info = _dpotrf(A, lower=0, clean=1)
    if info != 0:
        raise MixedModelError("the fixed-effects cross-product R_X'R_X is not positive definite")
    # (p = 0, y ~ 0 + (1 | g): no fixed effects; LAPACK's dtrtrs refuses an empty matrix, loudly)
    cbeta = _dtrtrs(RX, rhs_beta, lower=0, trans=1)[0] if p else np.zeros(0)
    pwrss = xp.yty - float(S[p, p]) - float(cbeta @ cbeta)
    logdet_RX = 2.0 * float(np.log(np.abs(RX.diagonal())).sum())
    if criterion_only:
        return pwrss, logdet_L, logdet_RX
    Mrhs = Mrhs.copy()  # (q > 1: out of the shared buffer)
    beta = _dtrtrs(RX, cbeta, lower=0, trans=0)[0] if p else np.zeros(0)
    u = (Mrhs[:, p, :] - np.tensordot(beta, Mrhs[:, :p, :], axes=(0, 1))).T  # (J, q)
    Minv_v = np.ascontiguousarray(Minv.T).reshape(J, q, q)
    return Minv_v, RX, beta, u, pwrss, logdet_L, logdet_RX


def pls_solve(theta: np.ndarray, xp: CrossProducts) -> PLSSolution:
    """Solve the penalized least squares problem at θ (§3.2–3.3, eqs. 14–19).

    When ``xp`` carries its :class:`ScaledProblem` (fits made by ``lmer``), the
    algebra runs on that well-conditioned equivalent and the solution is mapped
    back; otherwise on ``xp`` itself.
    """
    q = xp.q
    theta = np.asarray(theta, dtype=float)
    lam = lambda_theta(theta, q)
    sc = xp.scaled
    if sc is None:
        Minv, RX, beta, u, pwrss, logdet_L, logdet_RX = pls_at_factor(lam, xp)
    else:
        Minv, RX_w, beta_w, u_w, pwrss_w, logdet_L, logdet_RX_w = pls_at_factor(sc.Binv @ lam, sc.xp)
        beta = sc.gamma + sc.s * (sc.A @ beta_w)
        u = sc.s * u_w
        pwrss = sc.s ** 2 * pwrss_w
        RX = RX_w @ sc.Ainv
        logdet_RX = logdet_RX_w - 2.0 * sc.logdetA
    return PLSSolution(theta=theta, Lambda=lam, Minv=Minv, RX=RX, beta=beta, u=u, pwrss=pwrss,
                       logdet_L=logdet_L, logdet_RX=logdet_RX, n=xp.n, p=xp.p)


def profiled_deviance(theta: np.ndarray, xp: CrossProducts, reml: bool = True) -> float:
    """The objective optimized over θ: REML criterion (eq. 41) or deviance (eq. 34)."""
    return pls_solve(theta, xp).deviance(reml)


# ---------------------------------------------------------------------------
# The well-conditioned equivalent problem
# ---------------------------------------------------------------------------
#: CholeskyQR2 is used when the Cholesky factor of X'X has a condition number below this (then its Q is
#: orthonormal to rounding, Yamamoto et al. 2015); otherwise Householder QR.
_CHOLQR_MAX_COND = 1e6


def thin_qr(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``X = Q R`` with orthonormal ``Q`` (n × p, Fortran order: contiguous
    columns) and upper-triangular ``R``.

    For the tall, skinny model matrices of this engine CholeskyQR2 — ``R₁ =
    chol(X'X)``, ``Q₁ = X R₁⁻¹``, then the same again on ``Q₁`` — costs two
    passes of BLAS-3 over X, several times less than Householder QR (LAPACK's
    dgeqrf + dorgqr), and is as accurate when X is not ill-conditioned
    (Fukaya, Nakatsukasa, Yanagisawa & Yamamoto 2014).  An ill-conditioned or
    rank-deficient X falls back on Householder QR (numpy's ``qr``), whose R
    then reveals the rank.
    """
    n, p = X.shape
    if n >= 2 * p and p > 0:
        try:
            R1 = linalg.cholesky(X.T @ X, lower=False, check_finite=False)
            if np.linalg.cond(R1) < _CHOLQR_MAX_COND:
                eye = np.eye(p)
                # Q₁' = R₁⁻ᵀ X' as a (p, n) C-ordered product, so that Q = (Q')' has contiguous columns
                Q1t = linalg.solve_triangular(R1, eye, check_finite=False).T @ X.T
                R2 = linalg.cholesky(Q1t @ Q1t.T, lower=False, check_finite=False)
                Qt = linalg.solve_triangular(R2, eye, check_finite=False).T @ Q1t
                return Qt.T, R2 @ R1
        except (np.linalg.LinAlgError, linalg.LinAlgError, ValueError):
            pass
    Q, R = np.linalg.qr(X)
    return np.asfortranarray(Q), R
@dataclass
class ScaledProblem:
    """The same model on transformed data, for computing (§3 is invariant to it).

    ``X_w = X A`` (an orthonormal basis of X's columns times √n),
    ``Z_w = Z B`` (non-intercept columns centred — when they share a term with
    the intercept — and scaled to unit SD), ``y_w = (y − X γ) / s`` (the OLS
    residuals over their RMS ``s``).  Then ``β = γ + s A β_w``, ``b = s B b_w``,
    ``Λθ Λθ' = B Λ_w Λ_w' B'``, ``r²_θ = s² r²_w``, ``log|R_X|² = log|R_X,w|² − 2 log|det A|``,
    and ``log|Lθ|²`` is unchanged, so the criterion differs by a constant
    (:meth:`shift`).
    """

    xp: CrossProducts
    A: np.ndarray
    Ainv: np.ndarray
    B: np.ndarray
    Binv: np.ndarray
    gamma: np.ndarray
    s: float
    logdetA: float

    @classmethod
    def from_arrays(cls, X, Z, y, codes, ngroups, blocks=None, qr=None) -> "ScaledProblem":
        n, p = X.shape
        q = Z.shape[1]
        Q, R = thin_qr(X) if qr is None else qr
        d = np.sign(np.diag(R))
        d[d == 0] = 1.0
        Q, R = Q * d[None, :], R * d[:, None]
        sqn = np.sqrt(n)
        Ainv = R / sqn
        A = linalg.solve_triangular(R, np.eye(p)) * sqn
        Xw = Q * sqn
        B = np.eye(q)
        blocks = np.zeros(q, int) if blocks is None else np.asarray(blocks)
        ones = [k for k in range(q) if np.all(Z[:, k] == 1.0)]
        icpt = ones[0] if ones else None
        for k in range(q):
            if k == icpt:
                continue
            z = Z[:, k]
            if icpt is not None and blocks[k] == blocks[icpt]:
                c = float(np.mean(z))
                sd = float(np.sqrt(np.mean((z - c) ** 2)))
                if sd > 0:
                    B[icpt, k], B[k, k] = -c / sd, 1.0 / sd
            else:
                rms = float(np.sqrt(np.mean(z * z)))
                if rms > 0:
                    B[k, k] = 1.0 / rms
        Zw = (B.T @ Z.T).T  # Z B with contiguous columns
        Qty = Q.T @ y
        gamma = linalg.solve_triangular(R, Qty)
        r = y - Q @ Qty
        s = float(np.sqrt(r @ r / n))
        scale_y = float(np.sqrt(np.mean(y * y)))
        if not s > 1e-10 * scale_y:
            raise MixedModelError("the response is constant, or an exact linear function of the fixed-effect "
                                  "predictors: there is no residual variation for a mixed model to describe")
        xp = CrossProducts.from_arrays(Xw, Zw, r / s, codes, ngroups)
        return cls(xp=xp, A=A, Ainv=Ainv, B=B, Binv=np.linalg.inv(B), gamma=gamma, s=s,
                   logdetA=float(p / 2 * np.log(n) - np.sum(np.log(np.diag(R)))))

    def shift(self, reml: bool) -> float:
        """Criterion on the original data minus criterion on the scaled data."""
        n, p = self.xp.n, self.xp.p
        if reml:
            return (n - p) * np.log(self.s ** 2) - 2.0 * self.logdetA
        return n * np.log(self.s ** 2)

    def to_original(self, theta_w: np.ndarray) -> np.ndarray:
        """θ of the original data from θ of the scaled data (``Λθ = lower factor of B Λ_w``)."""
        q = self.xp.q
        return theta_of(lower_factor(self.B @ lambda_theta(theta_w, q)))

    def to_work(self, theta: np.ndarray) -> np.ndarray:
        """θ of the scaled data from θ of the original data."""
        q = self.xp.q
        return theta_of(lower_factor(self.Binv @ lambda_theta(theta, q)))
