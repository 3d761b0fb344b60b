"""PIRLS, the Laplace approximation and adaptive Gauss–Hermite quadrature.

Bates et al. (2015), §6 ("Generalized linear mixed models") and lme4's
``src/external.cpp`` (``pwrssUpdate``, ``glmerLaplace``, ``glmerAGQ``);
MixedModels.jl's ``src/generalizedlinearmixedmodel.jl`` (``pirls!``,
``deviance``).  For a GLMM with linear predictor

    η = o + Xβ + ZΛθ u,   u ~ N(0, I),

penalized iteratively reweighted least squares (PIRLS) finds the conditional
modes ũ of the spherical random effects: each step solves the penalized
weighted least-squares problem

    (Λθ'Z'WZΛθ + I) u = Λθ'Z'W z,   z = η − o − Xβ + (y − μ)/(dμ/dη)

(W the working weights (dμ/dη)² w / V(μ)), halving the step while the
penalized deviance Σ d_i(y_i, μ_i) + ‖u‖² grows (lme4's step-halving, at most
20 halvings).  With ``joint=True`` (lme4's nAGQ = 0 stage) β is solved for
together with u.  The Laplace approximation to the deviance is then

    −2 ℓ(β, θ) ≈ aic(y, μ̃) + ‖ũ‖² + log |L|²,   L L' = Λθ'Z'W̃ZΛθ + I

(``glmResp::Laplace``: the family's ``aic`` is −2 × the conditional
log-likelihood), and for one scalar random-effects term adaptive
Gauss–Hermite quadrature replaces each group's Laplace factor by a K-point
rule centred at ũ_j with scale 1/L_jj (``glmerAGQ``, where lme4 uses the
deviance residuals instead of ``aic``).

The factor L: the first random-effects term (the one with the most levels —
lme4 and MixedModels.jl order terms so) gives a block-diagonal leading block
of k × k blocks, one per level (diagonal for a scalar term: the fast path);
the other terms form a dense trailing block (MixedModels.jl's blocked
Cholesky, in its simplest form).  Only numpy and scipy are needed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from scipy import linalg, sparse, special
from scipy.linalg import lapack

from .errors import MixedModelError
from .family import Family

__all__ = ["GlmmProblem", "ReBlock", "PirlsResult", "gh_rule"]


@dataclass
class ReBlock:
    """One random-effects term as PIRLS sees it: the level of each observation
    (``codes``), the number of levels, the term's model matrix (n × k) and the
    position of its θ in the model's θ."""

    group: str
    codes: np.ndarray
    nlevels: int
    Z: np.ndarray
    columns: list
    theta_slice: slice
    expr: str = "1"  # the term's expression as parsed ("1 + x"): predict's re_form names terms by it
    design_info: object = None  # patsy DesignInfo of expr (None for a plain intercept): predict's model frame

    @property
    def k(self) -> int:
        return self.Z.shape[1]

    @property
    def q(self) -> int:
        return self.nlevels * self.k

    def lambda_block(self, theta) -> np.ndarray:
        """The k × k lower-triangular block of Λθ (θ column-major, as lme4)."""
        k = self.k
        T = np.zeros((k, k))
        t = np.asarray(theta, float)[self.theta_slice]
        r, c = _lower_index(k)
        T[r, c] = t
        return T


def _lower_index(k):
    """Row and column of θ's elements in a k × k block, column-major (lme4's order)."""
    rows, cols = [], []
    for j in range(k):
        for i in range(j, k):
            rows.append(i)
            cols.append(j)
    return np.array(rows), np.array(cols)


@lru_cache(maxsize=32)
def gh_rule(k: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of the k-point Gauss–Hermite rule for the standard normal
    density (lme4's ``GHrule``: weights summing to one)."""
    z, w = np.polynomial.hermite_e.hermegauss(int(k))
    w = w / w.sum()
    z.flags.writeable = False
    w.flags.writeable = False
    return z, w


@lru_cache(maxsize=32)
def _gh_nodes(k: int):
    """The rule's nodes z ≠ 0, their weights, z²/2, and the weight of the node at 0 (which contributes the
    modes themselves), for :meth:`GlmmProblem.agq`."""
    z, w = gh_rule(k)
    keep = z != 0
    zk, wk = z[keep].copy(), w[keep].copy()
    hz2 = 0.5 * zk ** 2
    for a in (zk, wk, hz2):
        a.flags.writeable = False
    return zk, wk, hz2, float(w[~keep].sum())


@dataclass
class PirlsResult:
    u: np.ndarray
    beta: np.ndarray
    eta: np.ndarray
    mu: np.ndarray
    pdev: float  # Σ deviance residuals + ‖u‖²
    logdet: float  # log |L|² at μ̃
    iterations: int
    Ldiag: np.ndarray | None = field(default=None, repr=False)


def _check_step(pdev: float, oldpdev: float) -> None:
    """lme4's checks after a PIRLS step and its halvings: a NaN deviance, or one that halving could not bring
    down (a rise beyond rounding), stops the loop with lme4's messages."""
    if not np.isfinite(pdev):
        raise FloatingPointError("PIRLS loop resulted in NaN value")
    if pdev - oldpdev > 1e-7 * max(abs(pdev), 1.0):
        raise FloatingPointError("(maxstephalfit) PIRLS step-halvings failed to reduce deviance")


def _step_converged(step: float, tol: float, halvings: int, oldpdev: float, pdev: float) -> bool:
    """PIRLS has converged when the modes moved less than ``tol``, or when a halved step no longer changes the
    penalized deviance beyond rounding."""
    return step < tol or (halvings > 0 and abs(oldpdev - pdev) < 1e-15 * abs(pdev))


def _chol(S) -> np.ndarray:
    """Lower Cholesky factor of S by LAPACK's dpotrf directly (scipy.linalg.cholesky's argument checks and
    array-API wrapping cost more than the factorization for the q × q blocks of a GLMM, called per PIRLS step)."""
    L, info = lapack.dpotrf(S, lower=1, clean=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"{info}-th leading minor of the array is not positive definite")
    return L


def _trsolve(L, b, trans=False) -> np.ndarray:
    """L⁻¹ b (or L'⁻¹ b) for a lower-triangular L by LAPACK's dtrtrs directly."""
    x, info = lapack.dtrtrs(L, b, lower=1, trans=1 if trans else 0)
    if info != 0:
        raise np.linalg.LinAlgError("singular triangular factor")
    return x


class _Factor:
    """L L' = Λ'Z'WZΛ + I in blocks: leading block-diagonal (J1 blocks k1 × k1), trailing dense."""

    def __init__(self, L11, L21, L22):
        self.L11, self.L21, self.L22 = L11, L21, L22  # (J1,k1,k1) or (J1,) if k1 == 1; (q2,q1); (q2,q2)

    def logdet(self) -> float:
        d1 = self.L11 if self.L11.ndim == 1 else np.diagonal(self.L11, axis1=1, axis2=2)
        out = 2.0 * float(np.sum(np.log(d1)))
        if self.L22 is not None and self.L22.size:
            out += 2.0 * float(np.sum(np.log(np.diag(self.L22))))
        return out

    def _l11_solve(self, b, trans=False):
        """Solve L11 x = b (or L11' x = b); b of shape (q1,) or (q1, m)."""
        if self.L11.ndim == 1:
            return b / (self.L11 if b.ndim == 1 else self.L11[:, None])
        J, k, _ = self.L11.shape
        vec = b.ndim == 1
        B = b.reshape(J, k, -1)
        L = np.swapaxes(self.L11, 1, 2) if trans else self.L11
        X = np.linalg.solve(L, B)
        return X.reshape(J * k) if vec else X.reshape(J * k, -1)

    def forward(self, b):
        """Solve L x = b."""
        q1 = self.L11.shape[0] * (1 if self.L11.ndim == 1 else self.L11.shape[1])
        x1 = self._l11_solve(b[:q1])
        if self.L22 is None:
            return x1
        x2 = _trsolve(self.L22, b[q1:] - self.L21 @ x1)
        return np.concatenate([x1, x2])

    def backward(self, b):
        """Solve L' x = b."""
        q1 = self.L11.shape[0] * (1 if self.L11.ndim == 1 else self.L11.shape[1])
        if self.L22 is None:
            return self._l11_solve(b, trans=True)
        x2 = _trsolve(self.L22, b[q1:], trans=True)
        x1 = self._l11_solve(b[:q1] - self.L21.T @ x2, trans=True)
        return np.concatenate([x1, x2])


class _Tri:
    """A lower-triangular factor of the trailing block: dense, or two-level (a diagonal leading block)."""

    def __init__(self, L=None, lb=None, B=None, Lll=None):
        self.L, self.lb, self.B, self.Lll = L, lb, B, Lll

    def logdet(self) -> float:
        if self.L is not None:
            return 2.0 * float(np.sum(np.log(np.diag(self.L))))
        return 2.0 * float(np.sum(np.log(self.lb)) + np.sum(np.log(np.diag(self.Lll))))

    def solve(self, c, trans=False):
        """L⁻¹ c, or L'⁻¹ c with ``trans``."""
        if self.L is not None:
            return _trsolve(self.L, c, trans)
        qb = len(self.lb)
        if not trans:
            xb = c[:qb] / self.lb
            xl = _trsolve(self.Lll, c[qb:] - self.B @ xb)
        else:
            xl = _trsolve(self.Lll, c[qb:], trans=True)
            xb = (c[:qb] - self.B.T @ xl) / self.lb
        return np.concatenate([xb, xl])


def _chol_nested(S, qb, nested: bool) -> _Tri:
    """Cholesky factor of S; when S's leading qb × qb block is diagonal (``nested``: the second term's
    levels are never coupled through a level of the first — nested factors, or crossed ones whose levels
    share no first-factor level; decided once from the design), that block is eliminated first and only
    the rest is factored densely: the blocked Cholesky one level further down."""
    if not nested or qb == S.shape[0]:
        return _Tri(L=_chol(S))
    lb = np.sqrt(np.diagonal(S)[:qb])
    B = S[qb:, :qb] / lb[None, :]
    Lll = _chol(S[qb:, qb:] - B @ B.T)
    return _Tri(lb=lb, B=B, Lll=Lll)


def _term_of(rows, rest) -> np.ndarray:
    """Which trailing term each row of the trailing block belongs to."""
    edges = np.cumsum([b.q for b in rest])
    return np.searchsorted(edges, rows, side="right")


def _compact_schur(sc, q2, qb) -> dict:
    """The entries of the trailing Schur complement A22 − C (all-scalar terms) that the design can make
    non-zero, once: ``inv`` maps the terms of both bincounts onto them; in the nested case (and with a third
    term) their positions in the diagonal leading block, its coupling block and the dense rest."""
    uniq, inv = np.unique(np.concatenate([sc["idx22"], sc["idxS"]]), return_inverse=True)
    out = dict(uniq=uniq, inv=inv.ravel(), compact=False)
    r, c = np.divmod(uniq, q2)
    if sc["nested"] and qb < q2:
        sel_d = (r < qb) & (c < qb)
        if np.all(r[sel_d] == c[sel_d]):
            sel_b = (r >= qb) & (c < qb)
            sel_s = (r >= qb) & (c >= qb)
            out.update(compact=True, sel_d=sel_d, pos_d=r[sel_d], sel_b=sel_b, pos_b=(r[sel_b] - qb) * qb + c[sel_b],
                       sel_s=sel_s, pos_s=(r[sel_s] - qb) * (q2 - qb) + (c[sel_s] - qb), bb=None)
            # B B' through the pairs of B's entries in one column (B's pattern is the design's): for nested
            # factors each column has one entry and B B' is diagonal
            rb, cb = r[sel_b] - qb, c[sel_b]
            order = np.argsort(cb, kind="stable")
            counts = np.bincount(cb, minlength=qb)
            if int(np.sum(counts.astype(np.int64) ** 2)) <= 200_000:
                starts = np.concatenate([[0], np.cumsum(counts)])
                e1, e2 = [], []
                for col in np.flatnonzero(counts):
                    idx = order[starts[col]:starts[col + 1]]
                    e1.append(np.repeat(idx, len(idx)))
                    e2.append(np.tile(idx, len(idx)))
                e1 = np.concatenate(e1) if e1 else np.zeros(0, np.int64)
                e2 = np.concatenate(e2) if e2 else np.zeros(0, np.int64)
                out["bb"] = (e1, e2, rb[e1] * (q2 - qb) + rb[e2])
    return out


class _ScalarFactor(_Factor):
    """The blocked factor when every term is scalar (crossed or nested random intercepts): L11 diagonal,
    L21 = A21 L11⁻¹ applied through the observations (never formed), L22 dense (or two-level).
    A21 = Σ_i a_i e_c(i) v_i' with a_i = w_i (ZΛ)_1i, c(i) the first factor's level of observation i and
    v_i its trailing row."""

    def __init__(self, L11, T22: _Tri, a, codes1, R, Zr, q1, q2):
        super().__init__(L11, None, None)
        self.T22 = T22
        self.a, self.codes1, self.R, self.Zr, self.q1, self.q2 = a, codes1, R, Zr, q1, q2

    def logdet(self) -> float:
        return 2.0 * float(np.sum(np.log(self.L11))) + self.T22.logdet()

    def _a21(self, y):  # A21 y (q2,), y (q1,)
        wts = (self.a * y[self.codes1])[:, None] * self.Zr
        return np.bincount(self.R.ravel(), weights=wts.ravel(), minlength=self.q2)

    def _a21t(self, x):  # A21' x (q1,), x (q2,)
        t = self.a * np.sum(self.Zr * x[self.R], axis=1)
        return np.bincount(self.codes1, weights=t, minlength=self.q1)

    def forward(self, b):
        if b.ndim == 2:
            return np.column_stack([self.forward(b[:, j]) for j in range(b.shape[1])])
        x1 = b[:self.q1] / self.L11
        x2 = self.T22.solve(b[self.q1:] - self._a21(x1 / self.L11))
        return np.concatenate([x1, x2])

    def backward(self, b):
        if b.ndim == 2:
            return np.column_stack([self.backward(b[:, j]) for j in range(b.shape[1])])
        x2 = self.T22.solve(b[self.q1:], trans=True)
        x1 = (b[:self.q1] - self._a21t(x2) / self.L11) / self.L11
        return np.concatenate([x1, x2])


class GlmmProblem:
    """The data of a GLMM and its deviance functions (lme4's ``mkGlmerDevfun`` environment).

    ``y`` is the response on the family's scale (a proportion for the
    binomial), ``wt`` the prior weights (the number of trials for
    ``cbind(s, f)``), ``n`` the binomial trials R's ``aic`` needs, ``offset``
    the offset.  ``blocks`` are the random-effects terms, the first one with
    the most levels.
    """

    def __init__(self, X, y, wt, n, offset, family: Family, blocks: list[ReBlock], mustart=None, tol=1e-6):
        self.X = np.asfortranarray(X, dtype=float)
        self.y, self.wt, self.n = (np.asarray(a, float) for a in (y, wt, n))
        self.offset = np.zeros(len(self.y)) if offset is None else np.asarray(offset, float)
        self.family = family
        self.blocks = blocks
        self.nobs, self.p = self.X.shape
        self.q = sum(b.q for b in blocks)
        self.ntheta = sum(b.theta_slice.stop - b.theta_slice.start for b in blocks)
        self.aic_const = family.aic_constant(self.y, self.n, self.wt)
        self.dev_const = family.dev_constant(self.y, self.wt)
        # aic(μ) = Σ deviance residuals(μ) + a constant, when the binomial counts m·y are whole numbers (always
        # for the Poisson): then the Laplace deviance needs no second pass over the data
        m = self.n if np.any(self.n > 1) else self.wt
        exact = family.family == "poisson" or bool(np.all(np.abs(m * self.y - np.round(m * self.y)) < 1e-9))
        self.aic_shift = float(self.aic_const - np.sum(self.dev_const)) if exact else None
        # Σ d_i(μ) as two (binomial) or two (Poisson) dot products with constants computed once:
        # binomial Σ const_i − (2 wt y)·log μ − (2 wt (1 − y))·log(1 − μ); Poisson Σ const_i + 2 wt·μ − (2 wt y)·log μ
        self._dsum_const = float(np.sum(self.dev_const))
        self._d_a = 2.0 * self.wt * self.y
        self._d_b = 2.0 * self.wt * (1.0 - self.y) if family.family == "binomial" else 2.0 * self.wt
        if mustart is None:  # R's family$initialize
            if family.family == "binomial":
                mustart = (self.wt * self.y + 0.5) / (self.wt + 1)
            else:
                mustart = self.y + 0.1
        self.eta_start = family.linkfun(mustart)
        self.u = None  # the warm start: the last conditional modes
        self.beta = None
        first = blocks[0]
        self._q1 = first.q
        self._rest = blocks[1:]
        if self._rest:  # sparse patterns of the trailing terms (rows: their random effects; columns: observations)
            rows, cols, starts = [], [], []
            off = 0
            for b in self._rest:
                starts.append(off)
                for r in range(b.k):
                    rows.append(off + b.codes * b.k + r)
                    cols.append(np.arange(self.nobs))
                off += b.q
            rows, cols = np.concatenate(rows), np.concatenate(cols)
            self._q2 = off
            # CSR pattern of Λ'Z' for the trailing terms, built once: only its values change with θ
            ids = sparse.csr_matrix((np.arange(1, rows.size + 1, dtype=float), (rows, cols)),
                                    shape=(self._q2, self.nobs))
            self._m2_perm = ids.data.astype(np.int64) - 1
            self._m2_indices, self._m2_indptr = ids.indices, ids.indptr
            self._m2_cache = (None, None)
            # the first term's pattern (k1 == 1): row i of P holds observation i's level
            self._p_indptr = np.arange(self.nobs + 1)
            self._scalar = None
            if first.k == 1 and all(b.k == 1 for b in self._rest):
                m = len(self._rest)
                offs = np.concatenate([[0], np.cumsum([b.q for b in self._rest])])[:-1]
                R = np.column_stack([offs[t] + b.codes for t, b in enumerate(self._rest)]).astype(np.int64)
                # pairs of observations in the same level of the first factor: they make A21 L11⁻² A21'
                order = np.argsort(first.codes, kind="stable")
                counts = np.bincount(first.codes, minlength=first.nlevels)
                npairs = int(np.sum(counts.astype(np.int64) ** 2))
                if npairs * m * m <= 4_000_000:
                    starts = np.concatenate([[0], np.cumsum(counts)])
                    pi, pj = [], []
                    for c in np.flatnonzero(counts):
                        idx = order[starts[c]:starts[c + 1]]
                        pi.append(np.repeat(idx, len(idx)))
                        pj.append(np.tile(idx, len(idx)))
                    pi, pj = np.concatenate(pi), np.concatenate(pj)
                    q2 = self._q2
                    self._scalar = dict(
                        R=R, m=m, pi=pi, pj=pj,
                        idx22=(R[:, :, None] * q2 + R[:, None, :]).ravel(),
                        idxS=(R[pi][:, :, None] * q2 + R[pj][:, None, :]).ravel(),
                        # the second term's levels never meet through a first-factor level (nor through an
                        # observation: one level each), so its block of the Schur complement is diagonal
                        nested=bool(np.all(R[pi, 0] == R[pj, 0])))
                    self._scalar.update(_compact_schur(self._scalar, q2, self._rest[0].q))
                    # the weights of that bincount without θ: w_i Z_is Z_it per observation and −c_ij Z_is Z_jt
                    # per pair, as (index into [w, −c], raw product); θ_s θ_t multiplies each entry afterwards
                    Z0 = np.column_stack([b.Z[:, 0] for b in self._rest])
                    nobs, npair = self.nobs, len(pi)
                    self._scalar.update(
                        Z0=Z0,
                        src=np.concatenate([np.repeat(np.arange(nobs), m * m), nobs + np.repeat(np.arange(npair), m * m)]),
                        raw=np.concatenate([(Z0[:, :, None] * Z0[:, None, :]).ravel(),
                                            (Z0[pi][:, :, None] * Z0[pj][:, None, :]).ravel()]),
                        tpair=_term_of(self._scalar["uniq"] // q2, self._rest) * m
                        + _term_of(self._scalar["uniq"] % q2, self._rest))
        self.evaluations = 0
        self.tol = tol

    # -- ZΛ ------------------------------------------------------------------------------------
    def _zlam(self, theta):
        """Per term, the rows of ZΛθ: (Z_t T_t) (n × k_t)."""
        self._zl_theta = np.asarray(theta, float)  # the θ of the ZΛ the factor will be given
        return [b.Z @ b.lambda_block(theta) for b in self.blocks]

    def _zlam_u(self, ZL, u):
        """ZΛθ u (n,)."""
        out = np.zeros(self.nobs)
        off = 0
        for b, W in zip(self.blocks, ZL):
            U = u[off:off + b.q].reshape(b.nlevels, b.k)
            out += np.einsum("ij,ij->i", W, U[b.codes]) if b.k > 1 else W[:, 0] * U[b.codes, 0]
            off += b.q
        return out

    def _M2(self, ZL):
        """Λ'Z' of the trailing terms as a sparse q2 × n matrix (cached for the current ZΛ)."""
        if self._m2_cache[0] is ZL:
            return self._m2_cache[1]
        data = np.concatenate([W[:, r] for b, W in zip(self._rest, ZL[1:]) for r in range(b.k)])[self._m2_perm]
        M2 = sparse.csr_matrix((data, self._m2_indices, self._m2_indptr), shape=(self._q2, self.nobs))
        self._m2_cache = (ZL, M2)
        return M2

    def _first_cross(self, W1, b, v):
        """Σ_{i in level j} v_i W1_i (J1 × k1) for each column of v (n,) or (n, m)."""
        J, k = b.nlevels, b.k
        if v.ndim == 1:
            out = np.empty((J, k))
            for r in range(k):
                out[:, r] = np.bincount(b.codes, weights=W1[:, r] * v, minlength=J)
            return out.reshape(J * k)
        m = v.shape[1]
        out = np.empty((J, k, m))
        for r in range(k):
            for c in range(m):
                out[:, r, c] = np.bincount(b.codes, weights=W1[:, r] * v[:, c], minlength=J)
        return out.reshape(J * k, m)

    def factor(self, ZL, w) -> _Factor:
        """L of Λ'Z'WZΛ + I with working weights w (the blocked Cholesky)."""
        b = self.blocks[0]
        W1 = ZL[0]
        J, k = b.nlevels, b.k
        if k == 1:
            L11 = np.sqrt(1.0 + np.bincount(b.codes, weights=w * W1[:, 0] ** 2, minlength=J))
        else:
            A = np.empty((J, k, k))
            for r in range(k):
                for c in range(r + 1):
                    A[:, r, c] = A[:, c, r] = np.bincount(b.codes, weights=w * W1[:, r] * W1[:, c], minlength=J)
            A[:, np.arange(k), np.arange(k)] += 1.0
            L11 = np.linalg.cholesky(A)
        if not self._rest:
            return _Factor(L11, None, None)
        if self._scalar is not None:
            sc = self._scalar
            q2 = self._q2
            th = np.array([self._zl_theta[t.theta_slice][0] for t in self._rest])
            Zr = sc["Z0"] * th[None, :]
            a = w * W1[:, 0]
            d = L11 ** 2
            pi, pj = sc["pi"], sc["pj"]
            cpair = a[pi] * a[pj] / d[b.codes[pi]]
            # A22 − C in one bincount over the entries that can be non-zero (fixed by the design), θ_s θ_t after
            vals = np.bincount(sc["inv"], weights=np.concatenate([w, -cpair])[sc["src"]] * sc["raw"],
                               minlength=len(sc["uniq"]))
            vals *= np.outer(th, th).ravel()[sc["tpair"]]
            if sc["compact"]:  # the nested case: diagonal leading block, its coupling B and the dense rest
                qb = self._rest[0].q
                lb2 = np.ones(qb)
                lb2[sc["pos_d"]] += vals[sc["sel_d"]]
                lb = np.sqrt(lb2)
                q3 = q2 - qb
                bv = vals[sc["sel_b"]] / lb[sc["pos_b"] % qb]  # B's entries: the coupling block times L_b⁻¹
                B = np.zeros(q3 * qb)
                B[sc["pos_b"]] = bv
                B = B.reshape(q3, qb)
                S22 = np.zeros(q3 * q3)
                S22[sc["pos_s"]] = vals[sc["sel_s"]]
                S22[::q3 + 1] += 1.0
                if sc["bb"] is not None:
                    e1, e2, pos = sc["bb"]
                    S22 -= np.bincount(pos, weights=bv[e1] * bv[e2], minlength=q3 * q3)
                    S22 = S22.reshape(q3, q3)
                else:
                    S22 = S22.reshape(q3, q3) - B @ B.T
                T22 = _Tri(lb=lb, B=B, Lll=_chol(S22))
                return _ScalarFactor(L11, T22, a, b.codes, sc["R"], Zr, b.q, q2)
            S = np.zeros(q2 * q2)
            S[sc["uniq"]] = vals
            S = S.reshape(q2, q2)
            S[np.diag_indices(q2)] += 1.0
            return _ScalarFactor(L11, _chol_nested(S, self._rest[0].q, sc["nested"]), a, b.codes, sc["R"], Zr, b.q,
                                 q2)
        M2 = self._M2(ZL)
        M2w = sparse.csr_matrix((M2.data * w[M2.indices], M2.indices, M2.indptr), shape=M2.shape)
        A22 = (M2w @ M2.T).toarray()
        A22[np.diag_indices_from(A22)] += 1.0
        q1 = b.q
        if k == 1:  # A21 = M2 W M1' stays sparse; L21 = A21 L11⁻ᵀ is a column scaling of it
            P = sparse.csr_matrix((W1[:, 0], b.codes, self._p_indptr), shape=(self.nobs, q1))
            A21 = (M2w @ P).tocsc()
            A21.data /= np.repeat(L11, np.diff(A21.indptr))
            L21 = A21.tocsr()
            S = A22 - (L21 @ L21.T).toarray()
        else:  # A21 = M2 W M1' : column (level j, effect r) of M1' is W1[:, r] on the rows of level j
            cols1 = b.codes * k
            A21 = np.zeros((self._q2, q1))
            for r in range(k):
                M1r = sparse.csr_matrix((W1[:, r], (np.arange(self.nobs), cols1 + r)), shape=(self.nobs, q1))
                A21 += (M2w @ M1r).toarray()
            f = _Factor(L11, None, None)
            L21 = f._l11_solve(A21.T, trans=False).T  # A21 L11^{-T}
            S = A22 - L21 @ L21.T
        L22 = _chol(S)
        return _Factor(L11, L21, L22)

    def crossprod(self, ZL, v):
        """Λ'Z' v for v (n,) or (n, m)."""
        parts = [self._first_cross(ZL[0], self.blocks[0], v)]
        if self._rest and self._scalar is not None:
            R = self._scalar["R"]
            Zr = np.column_stack([W[:, 0] for W in ZL[1:]])
            if v.ndim == 1:
                parts.append(np.bincount(R.ravel(), weights=(Zr * v[:, None]).ravel(), minlength=self._q2))
            else:
                parts.append(np.column_stack([np.bincount(R.ravel(), weights=(Zr * v[:, j, None]).ravel(),
                                                          minlength=self._q2) for j in range(v.shape[1])]))
        elif self._rest:
            parts.append(self._M2(ZL) @ v)
        return np.concatenate(parts) if v.ndim == 1 else np.vstack(parts)

    # -- the response ------------------------------------------------------------------------
    def _working(self, eta):
        mu, me, w = self.family.working(eta)
        return mu, me, w * self.wt

    def devres(self, mu):
        """Deviance residuals at μ (per observation)."""
        return self.family.dev_fast(self.y, mu, self.wt, self.dev_const)

    def _dev_sum(self, mu) -> float:
        """Σ_i d_i(y_i, μ_i) (the sum of :meth:`devres`) without the per-observation array."""
        if self.family.family == "binomial":
            return self._dsum_const - float(self._d_a @ np.log(mu)) - float(self._d_b @ np.log1p(-mu))
        return self._dsum_const + float(self._d_b @ mu) - float(self._d_a @ np.log(mu))

    def _pdev(self, mu, u):
        return self._dev_sum(mu) + float(u @ u)

    # -- PIRLS ---------------------------------------------------------------------------------
    def pirls(self, theta, beta=None, joint=False, maxit=100, tol=None) -> PirlsResult:
        """Conditional modes ũ (and, ``joint``, β) by PIRLS with lme4's step-halving.

        Stops when the largest change of u (and β) is below ``tol``: Newton's
        method then has ũ to rounding, so the Laplace deviance is a smooth
        function of θ and β (lme4 stops on a relative change of the penalized
        deviance below 1e-7, ``tolPwrss``).
        """
        theta = np.asarray(theta, float)
        tol = self.tol if tol is None else tol
        if len(self.blocks) == 1 and self.blocks[0].k == 1:
            if not joint and beta is not None:
                return self._pirls_scalar(theta, np.asarray(beta, float), maxit, tol)
            if joint:
                return self._pirls_scalar_joint(theta, maxit, tol)
        ZL = self._zlam(theta)
        q = self.q
        u = np.zeros(q) if self.u is None or len(self.u) != q else self.u.copy()
        if joint:
            beta = None if self.beta is None else self.beta.copy()
        beta = np.asarray(beta, float) if beta is not None else None
        if beta is None:  # first joint step: weights and working response from R's mustart
            eta = self.eta_start.copy()
            u = np.zeros(q)
            base = self.offset.copy()
            zlu = eta - self.offset
        else:
            base = self.offset + self.X @ beta
            zlu = self._zlam_u(ZL, u)
            eta = base + zlu
        mu, me, w = self._working(eta)
        oldpdev = np.inf if beta is None else self._pdev(mu, u)
        it = 0
        for it in range(1, maxit + 1):
            r = (self.y - mu) / me  # working residual
            f = self.factor(ZL, w)
            if joint:
                z = zlu + (base - self.offset) + r  # working response without the offset
                wz = w * z
                cu = f.forward(self.crossprod(ZL, wz))
                WX = w[:, None] * self.X
                RZX = f.forward(self.crossprod(ZL, WX))
                RX = linalg.cholesky(self.X.T @ WX - RZX.T @ RZX, lower=False, check_finite=False)
                new_beta = linalg.cho_solve((RX, False), self.X.T @ wz - RZX.T @ cu, check_finite=False)
                new_u = f.backward(cu - RZX @ new_beta)
            else:
                new_u = f.backward(f.forward(self.crossprod(ZL, w * (zlu + r))))
                new_beta = beta
            u_try, b_try = new_u, new_beta
            base_try = self.offset + self.X @ b_try if joint else base
            zlu_try = self._zlam_u(ZL, u_try)
            eta_try = base_try + zlu_try
            mu_t, me_t, w_t = self._working(eta_try)
            pdev = self._pdev(mu_t, u_try)
            halvings = 0
            # a rise at the level of rounding is no rise: the Newton step is kept (lme4 tests convergence on the
            # change of the penalized deviance before it halves a step, which has the same effect)
            if beta is not None and (not np.isfinite(pdev) or pdev > oldpdev + 1e-12 * abs(oldpdev)):
                du = new_u - u
                db = new_beta - beta if joint else None
                while (not np.isfinite(pdev) or pdev > oldpdev) and halvings < 20:
                    du = du / 2
                    u_try = u + du
                    if joint:
                        db = db / 2
                        b_try = beta + db
                        base_try = self.offset + self.X @ b_try
                    zlu_try = self._zlam_u(ZL, u_try)
                    eta_try = base_try + zlu_try
                    mu_t, me_t, w_t = self._working(eta_try)
                    pdev = self._pdev(mu_t, u_try)
                    halvings += 1
            _check_step(pdev, oldpdev)
            if beta is None:
                step = np.inf
            else:
                step = float(np.max(np.abs(u_try - u))) if q else 0.0
                if joint:
                    step = max(step, float(np.max(np.abs(b_try - beta))))
            u, beta, base, zlu, eta = u_try, b_try, base_try, zlu_try, eta_try
            mu, me, w = mu_t, me_t, w_t
            converged = _step_converged(step, tol, halvings, oldpdev, pdev)
            oldpdev = pdev
            if converged:
                break
        else:
            if joint:
                self.beta = beta.copy()
            raise FloatingPointError(f"PIRLS did not converge in {maxit} iterations")
        f = self.factor(ZL, w)  # L at μ̃ (weights of the modes themselves)
        self.u, self.beta = u.copy(), (beta.copy() if beta is not None else None)
        Ldiag = f.L11 if (f.L11.ndim == 1 and f.L22 is None and not isinstance(f, _ScalarFactor)) else None
        return PirlsResult(u=u, beta=beta, eta=eta, mu=mu, pdev=float(oldpdev), logdet=f.logdet(), iterations=it,
                           Ldiag=Ldiag)

    def _pirls_scalar(self, theta, beta, maxit, tol) -> PirlsResult:
        """:meth:`pirls` for one scalar random-effects term and fixed β (the common case, and every AGQ
        fit): Λ'Z'WZΛ + I is diagonal, d_j = 1 + θ² Σ_{i in j} w_i z_i², and each step is
        u_j = Σ_{i in j} w_i zλ_i (zλ_i u_j + r_i) / d_j — the same iteration, without the general
        machinery."""
        b = self.blocks[0]
        codes, J = b.codes, b.nlevels
        zl = b.Z[:, 0] * float(theta[b.theta_slice][0])
        zl2 = zl * zl
        base = self.offset + self.X @ beta
        u = np.zeros(J) if self.u is None or len(self.u) != J else self.u.copy()
        eta = base + zl * u[codes]
        mu, me, w = self._working(eta)
        oldpdev = self._pdev(mu, u)
        y, wt = self.y, self.wt
        # the logistic model's step inline (no clamp binds while |η| ≤ 36: the same μ, dμ/dη and weights as
        # family.working, and the deviance of _dev_sum), without the calls' overhead
        logit = self.family.family == "binomial" and self.family.link == "logit"
        loglin = self.family.family == "poisson" and self.family.link == "log"  # likewise while η ≥ −36
        d_a, d_b, dconst = self._d_a, self._d_b, self._dsum_const
        it = 0
        for it in range(1, maxit + 1):
            wz = w * zl
            d = 1.0 + np.bincount(codes, weights=wz * zl, minlength=J)
            rhs = np.bincount(codes, weights=wz * (zl * u[codes] + (y - mu) / me), minlength=J)
            u_new = rhs / d
            eta_t = base + zl * u_new[codes]
            if logit and np.abs(eta_t).max() <= 36.0:
                mu_t = special.expit(eta_t)
                me_t = mu_t * (1 - mu_t)
                w_t = me_t * wt
                pdev = dconst - float(d_a @ np.log(mu_t)) - float(d_b @ np.log1p(-mu_t)) + float(u_new @ u_new)
            elif loglin and eta_t.min() >= -36.0:
                mu_t = np.exp(eta_t)
                me_t = mu_t
                w_t = mu_t * wt
                pdev = dconst + float(d_b @ mu_t) - float(d_a @ np.log(mu_t)) + float(u_new @ u_new)
            else:
                mu_t, me_t, w_t = self._working(eta_t)
                pdev = self._pdev(mu_t, u_new)
            halvings = 0
            if not np.isfinite(pdev) or pdev > oldpdev + 1e-12 * abs(oldpdev):
                du = u_new - u
                while (not np.isfinite(pdev) or pdev > oldpdev) and halvings < 20:
                    du = du / 2
                    u_new = u + du
                    eta_t = base + zl * u_new[codes]
                    mu_t, me_t, w_t = self._working(eta_t)
                    pdev = self._pdev(mu_t, u_new)
                    halvings += 1
            _check_step(pdev, oldpdev)
            step = float(np.abs(u_new - u).max())
            u, eta, mu, me, w = u_new, eta_t, mu_t, me_t, w_t
            converged = _step_converged(step, tol, halvings, oldpdev, pdev)
            oldpdev = pdev
            if converged:
                break
        else:
            raise FloatingPointError(f"PIRLS did not converge in {maxit} iterations")
        Ldiag = np.sqrt(1.0 + np.bincount(codes, weights=w * zl2, minlength=J))  # L at μ̃
        self.u, self.beta = u.copy(), None
        return PirlsResult(u=u, beta=beta, eta=eta, mu=mu, pdev=float(oldpdev),
                           logdet=2.0 * float(np.log(Ldiag).sum()), iterations=it, Ldiag=Ldiag)

    def _pirls_scalar_joint(self, theta, maxit, tol) -> PirlsResult:
        """:meth:`pirls` with ``joint=True`` (lme4's nAGQ = 0 stage) for one scalar term: with
        D = diag(d_j) the system for (u, β) is solved through R_ZX = D^{-1/2} Λ'Z'WX (J × p, one
        bincount per column) and R_X = chol(X'WX − R_ZX'R_ZX)."""
        b = self.blocks[0]
        codes, J = b.codes, b.nlevels
        X, p = self.X, self.p
        zl = b.Z[:, 0] * float(theta[b.theta_slice][0])
        u = None if self.u is None or len(self.u) != J else self.u.copy()
        beta = None if self.beta is None else self.beta.copy()
        if beta is None or u is None:  # first step: weights and working response from R's mustart
            eta = self.eta_start.copy()
            u, beta = np.zeros(J), None
            zlu = eta - self.offset
            xb = np.zeros(self.nobs)
        else:
            xb = X @ beta
            zlu = zl * u[codes]
            eta = self.offset + xb + zlu
        mu, me, w = self._working(eta)
        oldpdev = np.inf if beta is None else self._pdev(mu, u)
        it = 0
        for it in range(1, maxit + 1):
            z = zlu + xb + (self.y - mu) / me  # working response without the offset
            wzl = w * zl
            L = np.sqrt(1.0 + np.bincount(codes, weights=wzl * zl, minlength=J))
            cu = np.bincount(codes, weights=wzl * z, minlength=J) / L
            WX = w[:, None] * X
            RZX = np.empty((J, p))
            for c in range(p):
                RZX[:, c] = np.bincount(codes, weights=wzl * X[:, c], minlength=J)
            RZX /= L[:, None]
            # the p × p Schur complement X'WX − R_ZX'R_ZX (positive definite)
            A, rhs = X.T @ WX - RZX.T @ RZX, X.T @ (w * z) - RZX.T @ cu
            _, b_new, info = lapack.dposv(A, rhs)  # LAPACK's Cholesky solve directly (a small p: its overhead counts)
            if info != 0:  # not numerically positive definite: the general solver, as before
                b_new = np.linalg.solve(A, rhs)
            u_new = (cu - RZX @ b_new) / L
            xb_t = X @ b_new
            zlu_t = zl * u_new[codes]
            eta_t = self.offset + xb_t + zlu_t
            mu_t, me_t, w_t = self._working(eta_t)
            pdev = self._pdev(mu_t, u_new)
            halvings = 0
            if beta is not None and (not np.isfinite(pdev) or pdev > oldpdev + 1e-12 * abs(oldpdev)):
                du, db = u_new - u, b_new - beta
                while (not np.isfinite(pdev) or pdev > oldpdev) and halvings < 20:
                    du, db = du / 2, db / 2
                    u_new, b_new = u + du, beta + db
                    xb_t = X @ b_new
                    zlu_t = zl * u_new[codes]
                    eta_t = self.offset + xb_t + zlu_t
                    mu_t, me_t, w_t = self._working(eta_t)
                    pdev = self._pdev(mu_t, u_new)
                    halvings += 1
            _check_step(pdev, oldpdev)
            step = np.inf if beta is None else max(float(np.max(np.abs(u_new - u))),
                                                   float(np.max(np.abs(b_new - beta))))
            u, beta, xb, zlu, eta, mu, me, w = u_new, b_new, xb_t, zlu_t, eta_t, mu_t, me_t, w_t
            converged = _step_converged(step, tol, halvings, oldpdev, pdev)
            oldpdev = pdev
            if converged:
                break
        else:
            self.beta = beta.copy()
            raise FloatingPointError(f"PIRLS did not converge in {maxit} iterations")
        Ldiag = np.sqrt(1.0 + np.bincount(codes, weights=w * zl * zl, minlength=J))  # L at the modes
        self.u, self.beta = u.copy(), beta.copy()
        return PirlsResult(u=u, beta=beta, eta=eta, mu=mu, pdev=float(oldpdev),
                           logdet=2.0 * float(np.log(Ldiag).sum()), iterations=it, Ldiag=Ldiag)

    # -- the criteria ------------------------------------------------------------------------
    def laplace(self, theta, beta=None, joint=False, tol=None) -> float:
        """lme4's Laplace deviance aic(y, μ̃) + ‖ũ‖² + log|L|² (nAGQ = 1; nAGQ = 0 with ``joint``)."""
        self.evaluations += 1
        r = self.pirls(theta, beta, joint=joint, tol=tol)
        if self.aic_shift is not None:  # aic = Σ d_i + constant, and pdev = Σ d_i + ‖u‖²
            return r.pdev + self.aic_shift + r.logdet
        return self.family.aic(self.y, self.n, r.mu, self.wt, self.aic_const) + float(r.u @ r.u) + r.logdet

    def agq(self, theta, beta, nagq: int, tol=None) -> float:
        """lme4's ``glmerAGQ``: Σ_j [d_j(ũ_j) + ũ_j²] + log|L|² − 2 Σ_j log Σ_k w_k exp(z_k²/2 − Δ_jk/2),
        Δ_jk the change of group j's deviance when u_j moves to ũ_j + z_k / L_jj."""
        self.evaluations += 1
        b = self.blocks[0]
        if len(self.blocks) != 1 or b.k != 1:
            raise MixedModelError("nAGQ > 1 is only available for models with a single, scalar random-effects term")
        r = self.pirls(theta, beta, tol=tol)
        J, codes = b.nlevels, b.codes
        G, gconst = self._agq_groups()
        sd = 1.0 / r.Ldiag
        zk, wk, hz2, w0 = _gh_nodes(nagq)
        lam_z = b.Z[:, 0] * float(np.asarray(theta, float)[b.theta_slice][0])
        base = r.eta - lam_z * r.u[codes]
        # the modes and the K nodes at once: row 0 is ũ itself, rows 1.. the nodes of every group
        U0 = np.empty((len(zk) + 1, J))
        U0[0] = r.u
        np.multiply(zk[:, None], sd[None, :], out=U0[1:])
        U0[1:] += r.u
        U = U0[1:]
        eta_all = U0[:, codes]
        eta_all *= lam_z
        eta_all += base
        if self.family.link == "logit" and np.abs(eta_all).max() <= 36.0:  # linkinv's clamp cannot bind
            mu_all = special.expit(eta_all)
        else:
            mu_all = self.family.linkinv(eta_all)
        # Σ_{i in j} d_i(μ) per group and node: the μ-dependent part of the deviance residuals (see _dev_sum)
        # summed by the n × J indicator matrix G, plus each group's constant
        if self.family.family == "binomial":
            part = -(self._d_a * np.log(mu_all) + self._d_b * np.log1p(-mu_all))
        else:
            part = self._d_b * mu_all - self._d_a * np.log(mu_all)
        if G is not None:
            gdev = gconst[None, :] + part @ G
        else:  # many observations and levels: per (node, level) sums by one bincount
            K1, J = part.shape[0], b.nlevels
            gdev = gconst[None, :] + np.bincount((codes[None, :] + J * np.arange(K1)[:, None]).ravel(),
                                                 weights=part.ravel(), minlength=K1 * J).reshape(K1, J)
        devc0 = r.u ** 2 + gdev[0]
        devc = U ** 2 + gdev[1:]
        devc -= devc0
        devc *= -0.5
        devc += hz2[:, None]
        mult = wk @ np.exp(devc)
        mult += w0
        return float(devc0.sum() + r.logdet - 2.0 * np.log(mult).sum())

    def _agq_groups(self):
        """The n × J indicator matrix of the AGQ term's levels and each level's Σ of the deviance constants
        (once per problem)."""
        if getattr(self, "_agq_cache", None) is None:
            b = self.blocks[0]
            G = None
            if self.nobs * b.nlevels <= 1_000_000:
                G = np.zeros((self.nobs, b.nlevels))
                G[np.arange(self.nobs), b.codes] = 1.0
            self._agq_cache = (G, np.bincount(b.codes, weights=self.dev_const, minlength=b.nlevels))
        return self._agq_cache

    def deviance(self, theta, beta, nagq: int, tol=None) -> float:
        """The criterion lme4 optimizes at stage 2 (nAGQ ≥ 1)."""
        return self.laplace(theta, beta, tol=tol) if nagq <= 1 else self.agq(theta, beta, nagq, tol=tol)

    def rx(self, theta, beta, u) -> np.ndarray:
        """R_X of the joint system at (θ, β, ũ) (lme4's ``RX``: vcov = (R_X'R_X)⁻¹ when the Hessian is not used)."""
        ZL = self._zlam(theta)
        eta = self.offset + self.X @ beta + self._zlam_u(ZL, u)
        _, _, w = self._working(eta)
        f = self.factor(ZL, w)
        RZX = f.forward(self.crossprod(ZL, w[:, None] * self.X))
        return linalg.cholesky(self.X.T @ (w[:, None] * self.X) - RZX.T @ RZX, lower=False)

    def cond_var(self, theta, u, beta) -> list[np.ndarray]:
        """Conditional variances of b = Λθ u per term (lme4's ``condVar``): Λ (L L')⁻¹ Λ' blocks."""
        ZL = self._zlam(theta)
        eta = self.offset + self.X @ beta + self._zlam_u(ZL, u)
        _, _, w = self._working(eta)
        f = self.factor(ZL, w)
        out, off = [], 0
        for b in self.blocks:
            T = b.lambda_block(theta)
            k, J = b.k, b.nlevels
            V = np.empty((J, k, k))
            if len(self.blocks) == 1:
                if f.L11.ndim == 1:
                    V[:, 0, 0] = 1.0 / f.L11 ** 2
                else:
                    Li = np.linalg.inv(f.L11)
                    V[:] = np.swapaxes(Li, 1, 2) @ Li
            else:
                E = np.zeros((self.q, k))
                for j in range(J):  # column-wise inverse of L L' for the term's rows (small models)
                    E[:] = 0
                    E[off + j * k + np.arange(k), np.arange(k)] = 1
                    S = f.backward(f.forward(E))
                    V[j] = S[off + j * k: off + (j + 1) * k]
            out.append(T @ V @ T.T)
            off += b.q
        return out
