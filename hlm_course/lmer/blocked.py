"""Penalized least squares for a general Z: a blocked Cholesky factor.

Bates et al. (2015), §3.2–3.4, for any number of random-effects terms
(:mod:`.reterms`): at each θ the Cholesky factor of

    [ Λθ'Z'ZΛθ + I   Λθ'Z'X   Λθ'Z'y ]
    [ X'ZΛθ          X'X      X'y    ]   =  L L'          (eqs. 17–18, with y appended)
    [ y'ZΛθ          y'X      y'y    ]

gives everything the profiled criterion needs: log|Lθ|² from the diagonal of
its random-effects part, log|R_X|² from its fixed-effects part, and r²_θ as
the square of its last diagonal element (eq. 16 without the subtraction of
large numbers).

The design is MixedModels.jl's (``src/linearmixedmodel.jl``, ``updateL!``):
the terms are ordered by decreasing number of levels (lme4's order,
:func:`~hlm_course.lmer.reterms.mk_re_terms`), and the first term's diagonal
block is block diagonal — one ``k × k`` block per level, because a row
belongs to one level of a factor — so it is factored level by level, in
closed form, with no fill.  Its off-diagonal block ``L21`` is sparse (a level
of the first factor meets few levels of the others), and the Schur complement
of the first block, ``[Λ_r'Z_r'Z_rΛ_r + I, …; …, [X y]'[X y]] − L21 L21'``, is
factored dense with LAPACK.  ``L21 L21'`` is a sum over the first factor's
levels of rank-k updates (MixedModels.jl's ``rankUpdate!``): every pair of
block-2 columns that a level touches is listed once, with its products, at
set-up (:func:`_level_pairs`, sorted by its place in the dense block), so an
evaluation is one gather, one ``np.add.reduceat`` and one LAPACK ``dpotrf``
— no sparse objects.  For InstEval (73 421 rows; 2 972 students first,
1 128 instructors and 28 department-by-service cells in the dense part) the
dense part is 1 160 × 1 160 and an evaluation takes about 25 ms (2.1 million
level pairs, then the dense Cholesky).  The alternative, a
sparse Cholesky of the whole system with a fill-reducing ordering (lme4's
CHOLMOD), would need a dependency (scikit-sparse: no Windows wheels) and
gains little here because the Schur complement of crossed factors is dense
anyway; scipy alone is used.

Numerical conditioning as in :class:`~hlm_course.lmer.deviance.ScaledProblem`
(fixed effects only): X is replaced by an orthonormal basis times √n and y by
its OLS residuals over their RMS; θ is unchanged, and the criterion differs
by a known constant.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy import linalg, sparse

from .deviance import block_inverse_rows, criterion, thin_qr
from .errors import MixedModelError
from .reterms import ReTerms

__all__ = ["BlockedProblem", "BlockedSolution"]

_dpotrf = linalg.lapack.dpotrf


@dataclass
class BlockedSolution:
    """What §3.2–3.4 compute at one θ, for a general Z (original units)."""

    theta: np.ndarray
    beta: np.ndarray
    u: np.ndarray  # spherical random effects, b = Λθ u, in b's order (term by term, level-major)
    b: np.ndarray
    RX: np.ndarray
    pwrss: float
    logdet_L: float
    logdet_RX: float
    n: int
    p: int

    def deviance(self, reml: bool) -> float:
        return criterion(self.logdet_L, self.logdet_RX, self.pwrss, self.n, self.p, reml)

    def sigma2(self, reml: bool) -> float:
        return self.pwrss / (self.n - self.p if reml else self.n)


class BlockedProblem:
    """The cross-products of ``[Z X y]`` arranged in blocks, and the PLS at any θ.

    Block 1 is the first term (``nl1`` levels, ``k1`` columns each):
    ``A11`` (nl1, k1, k1).  Block 2 is everything else, in this order: the
    other terms' random effects (q_r), X (p), y (1) — ``m = q_r + p + 1``
    columns: ``A21`` (m × q1, sparse) and ``A22`` (m × m, dense).
    """

    def __init__(self, re: ReTerms, X: np.ndarray, y: np.ndarray):
        self.re = re
        n, p = X.shape
        self.n, self.p = n, p
        # fixed-effects conditioning (see ScaledProblem): X -> Q √n, y -> (y − X γ) / s
        Q, R = thin_qr(np.asarray(X, dtype=float))
        d = np.sign(np.diag(R))
        d[d == 0] = 1.0
        Q, R = Q * d[None, :], R * d[:, None]
        if p and np.min(np.abs(np.diag(R))) <= 1e-10 * max(1.0, float(np.max(np.abs(np.diag(R))))):
            raise MixedModelError("fixed-effects design matrix is rank deficient")
        sqn = np.sqrt(n)
        self.Ainv = R / sqn
        self.A = linalg.solve_triangular(R, np.eye(p)) * sqn
        Qty = Q.T @ y
        self.gamma = linalg.solve_triangular(R, Qty)
        r = y - Q @ Qty
        self.s = float(np.sqrt(r @ r / n))
        if not self.s > 1e-10 * float(np.sqrt(np.mean(y * y))):
            raise MixedModelError("the response is constant, or an exact linear function of the fixed-effect "
                                  "predictors: there is no residual variation for a mixed model to describe")
        self.logdetA = float(p / 2 * np.log(n) - np.sum(np.log(np.diag(R))))
        Xw, yw = Q * sqn, r / self.s
        t1 = re.terms[0]
        self.k1, self.nl1 = t1.k, t1.nlevels
        self.q1 = t1.q
        self.qr = re.q - self.q1
        m = self.m = self.qr + p + 1
        k1 = self.k1
        # each row of W = [Z_r X y] as E (column, value) entries: one per column of every other term, then X, y
        wcol, wval = [], []
        for i, t in enumerate(re.terms[1:], start=1):
            g0 = re.Gp[i] - self.q1
            for a in range(t.k):
                wcol.append(g0 + t.codes * t.k + a)
                wval.append(t.Z[:, a])
        for c in range(p):
            wcol.append(np.full(n, self.qr + c))
            wval.append(Xw[:, c])
        wcol.append(np.full(n, m - 1))
        wval.append(yw)
        wcol, wval = np.stack(wcol, axis=1).astype(np.int64), np.stack(wval, axis=1)
        E = wcol.shape[1]
        # A22 = W'W (dense m × m): one weighted bincount over the pairs of entries of each row
        ea, eb = np.triu_indices(E)
        keys = (wcol[:, ea] * m + wcol[:, eb]).ravel()
        A22 = np.bincount(keys, weights=(wval[:, ea] * wval[:, eb]).ravel(), minlength=m * m).reshape(m, m)
        self.A22 = A22 + A22.T - np.diag(np.diag(A22))
        # A11: per level k1 × k1 (a row belongs to one level)
        A11 = np.zeros((self.nl1, k1, k1))
        for a in range(k1):
            for c in range(a, k1):
                v = np.bincount(t1.codes, weights=t1.Z[:, a] * t1.Z[:, c], minlength=self.nl1)
                A11[:, a, c] = v
                A11[:, c, a] = v
        self.A11 = A11
        # A12 = Z1'W as (row, column, value) entries, duplicates not yet summed (q1 × m)
        rows = (t1.codes[:, None, None] * k1 + np.arange(k1)[None, :, None]) + np.zeros((1, 1, E), np.int64)
        self._A12_entries = (rows.ravel(), np.broadcast_to(wcol[:, None, :], (n, k1, E)).ravel(),
                             (t1.Z[:, :, None] * wval[:, None, :]).ravel())
        self.shift_ml = n * np.log(self.s ** 2)
        self.shift_reml = (n - p) * np.log(self.s ** 2) - 2.0 * self.logdetA
        self.count = 0
        self._pairs = _level_pairs(*self._A12_entries, self.nl1, k1, m)
        # the rest's terms: Λ_r is diagonal when every other term is scalar
        off = re.theta_offsets
        self._rest = [(i, t, re.Gp[i] - self.q1, off[i]) for i, t in enumerate(re.terms) if i > 0]
        self._rest_scalar = all(t.k == 1 for _, t, _, _ in self._rest)

    # -- Λθ pieces ------------------------------------------------------------------------------------
    def _lam1(self, theta) -> np.ndarray:
        t1 = self.re.terms[0]
        return t1.lambda_template(theta[: t1.ntheta])

    def _rest_scale(self, theta):
        """Λ_r extended with I for [X y]: a vector (all scalar terms) or a sparse matrix (m × m)."""
        if self._rest_scalar:
            d = np.ones(self.m)
            for i, t, g0, o in self._rest:
                d[g0: g0 + t.nlevels] = theta[o]
            return d
        blocks = []
        for i, t, g0, o in self._rest:
            lam = t.lambda_template(theta[o: o + t.ntheta])
            blocks.append(sparse.kron(sparse.eye(t.nlevels), sparse.csr_array(lam)))
        blocks.append(sparse.eye(self.p + 1))
        return sparse.block_diag(blocks, format="csr")

    # -- the factor --------------------------------------------------------------------------------------
    def factor(self, theta):
        """L at θ (scaled problem): (L11 blocks (nl1, k1, k1), log|L11|², L21' (q1 × m sparse), L22 dense)."""
        theta = np.asarray(theta, dtype=float)
        k1 = self.k1
        lam1 = self._lam1(theta)
        if k1 == 1:
            l2 = lam1[0, 0] ** 2
            M = l2 * self.A11[:, 0, 0] + 1.0
            logdet1 = float(np.sum(np.log(M)))
            L11 = np.sqrt(M)
            rowscale = lam1[0, 0] / L11  # L11⁻¹ Λ1'
            B = sparse.csr_array(self.A12.multiply(rowscale[:, None]))
        else:
            M = np.einsum("ba,jbc,cd->jad", lam1, self.A11, lam1) + np.eye(k1)
            L11 = np.linalg.cholesky(M)
            logdet1 = 2.0 * float(np.sum(np.log(np.diagonal(L11, axis1=1, axis2=2))))
            T = np.linalg.solve(L11, np.broadcast_to(lam1.T, L11.shape))  # L11_j⁻¹ Λ1'
            P = sparse.bsr_array((T, np.arange(self.nl1), np.arange(self.nl1 + 1)),
                                 shape=(self.q1, self.q1)).tocsr()
            B = P @ self.A12
        dr = self._rest_scale(theta)
        if isinstance(dr, np.ndarray):
            B = sparse.csr_array(B.multiply(dr[None, :]))
            S = self.A22 * np.outer(dr, dr)
        else:
            B = B @ dr
            S = (dr.T @ (dr.T @ self.A22).T)
        S[np.arange(self.qr), np.arange(self.qr)] += 1.0
        BtB = (B.T @ B).toarray()
        S -= BtB
        L22, info = _dpotrf(S, lower=1, clean=1, overwrite_a=1)
        if info != 0:
            raise np.linalg.LinAlgError("the Schur complement is not positive definite")
        return L11, logdet1, B, L22

    def schur(self, theta):
        """log|L11|² and the dense Schur complement ``S = D'(A22 − A21 Λ1 M⁻¹ Λ1' A12)D + I_r`` at θ, with
        ``M_j = Λ1'A11_jΛ1 + I`` per level and D = Λ_r ⊕ I: numpy only, from the level pairs of
        :func:`_level_pairs` (the optimizer's evaluations; :meth:`factor` builds L21 for the solution)."""
        k1, nl1, m = self.k1, self.nl1, self.m
        lam1 = self._lam1(theta)
        if k1 == 1:
            l2 = lam1[0, 0] ** 2
            M = l2 * self.A11[:, 0, 0] + 1.0
            logdet1 = float(np.sum(np.log(M)))
            Wrows = (l2 / M)[None, :]  # Λ1 M⁻¹ Λ1', one row
        else:
            lt = lam1.T
            K = (lt[:, None, :, None] * lt[None, :, None, :]).reshape(k1 * k1, k1 * k1)  # Λ' ⊗ Λ'
            M = K @ self._A11_rows
            M[:: k1 + 1] += 1.0
            Minv, logdet = block_inverse_rows(M, k1)
            logdet1 = float(np.sum(logdet))
            Kt = (lam1[:, None, :, None] * lam1[None, :, None, :]).reshape(k1 * k1, k1 * k1)  # Λ ⊗ Λ
            Wrows = Kt @ Minv  # Λ M_j⁻¹ Λ', element (r, s) in row r k1 + s
        level, prod, targets, starts = self._pairs
        if k1 == 1:
            w = prod[0] * Wrows[0, level]
        else:  # Σ_{r ≤ s} prod_rs W_j[r, s] (W_j symmetric: the (r, s) and (s, r) products were added up)
            w = prod[0] * Wrows[0, level]
            for i, rs in enumerate(self._sym_rows[1:], start=1):
                w += prod[i] * Wrows[rs, level]
        S = self.A22.copy().reshape(-1)
        if starts.size:
            S[targets] -= np.add.reduceat(w, starts)  # the lower triangle (dpotrf reads it)
        S = S.reshape(m, m)
        if not self._rest_scalar:  # Λ_r mixes rows and columns: complete the upper triangle first
            S[self._upper] = S.T[self._upper]
        self._apply_lambda_r(S, theta)
        S[np.arange(self.qr), np.arange(self.qr)] += 1.0
        return logdet1, S

    def _apply_lambda_r(self, S: np.ndarray, theta) -> None:
        """S ← D'S D in place, D = Λ_r ⊕ I_{p+1}: each other term's template applied to its levels' rows and
        columns (a scaling when every other term is scalar)."""
        m = self.m
        if self._rest_scalar:
            d = np.ones(m)
            for i, t, g0, o in self._rest:
                d[g0: g0 + t.nlevels] = theta[o]
            S *= d[:, None]
            S *= d[None, :]
            return
        for i, t, g0, o in self._rest:
            L, k = t.nlevels, t.k
            lam = t.lambda_template(theta[o: o + t.ntheta])
            sl = slice(g0, g0 + L * k)
            S[:, sl] = (S[:, sl].reshape(m, L, k) @ lam).reshape(m, L * k)
            S[sl, :] = np.einsum("ba,lbm->lam", lam, S[sl, :].reshape(L, k, m)).reshape(L * k, m)

    @cached_property
    def A12(self) -> sparse.csr_array:
        """Z1'[Z_r X y] (q1 × m, sparse; for :meth:`factor`)."""
        r, c, v = self._A12_entries
        return sparse.csr_array((v, (r, c)), shape=(self.q1, self.m))

    @cached_property
    def _sym_rows(self) -> list[int]:
        """Rows r k1 + s (r ≤ s) of W_j's flattened elements, in the order of the level pairs' products."""
        r, c = np.triu_indices(self.k1)
        return list(r * self.k1 + c)

    @cached_property
    def _upper(self) -> tuple[np.ndarray, np.ndarray]:
        return np.triu_indices(self.m, 1)

    @cached_property
    def _A11_rows(self) -> np.ndarray:
        return np.ascontiguousarray(self.A11.reshape(self.nl1, -1).T)

    def objective(self, theta, reml: bool) -> float:
        """The profiled criterion (eq. 34 or 41) at θ, on the original data's scale."""
        self.count += 1
        logdet1, S = self.schur(np.asarray(theta, dtype=float))
        L22, info = _dpotrf(S, lower=1, clean=0, overwrite_a=1)
        if info != 0:
            raise np.linalg.LinAlgError("the Schur complement is not positive definite")
        d = np.diag(L22)
        qr, p = self.qr, self.p
        logdet_L = logdet1 + 2.0 * float(np.sum(np.log(d[:qr])))
        logdet_RX = 2.0 * float(np.sum(np.log(np.abs(d[qr: qr + p]))))
        pwrss = float(d[-1] ** 2)
        return float(criterion(logdet_L, logdet_RX, pwrss, self.n, p, reml)
                     + (self.shift_reml if reml else self.shift_ml))

    def solve(self, theta) -> BlockedSolution:
        """β̂_θ, û, b̂ and the pieces of the criterion at θ (eqs. 16–19), mapped back to the original data.

        With v = [u_r; β] from the dense factor (``L22[:-1, :-1]' v = L22[-1, :-1]'``), the first term's
        block row gives ``u1_j = M_j⁻¹ Λ1' (A12 D (e_y − v))_j`` (D = Λ_r ⊕ I)."""
        theta = np.asarray(theta, dtype=float)
        logdet1, S = self.schur(theta)
        L22, info = _dpotrf(S, lower=1, clean=1, overwrite_a=1)
        if info != 0:
            raise np.linalg.LinAlgError("the Schur complement is not positive definite")
        qr, p, m, k1 = self.qr, self.p, self.m, self.k1
        d = np.diag(L22)
        logdet_L = logdet1 + 2.0 * float(np.sum(np.log(d[:qr])))
        v = linalg.solve_triangular(L22[:-1, :-1], L22[-1, :-1], lower=True, trans="T")
        z = np.concatenate([-v, [1.0]])
        self._apply_lambda_r_vec(z, theta)
        r, c, val = self._A12_entries
        t = np.bincount(r, weights=val * z[c], minlength=self.q1).reshape(self.nl1, k1)
        lam1 = self._lam1(theta)
        M = np.einsum("ba,jbc,cd->jad", lam1, self.A11, lam1) + np.eye(k1)
        u1 = np.linalg.solve(M, (t @ lam1)[:, :, None])[:, :, 0].ravel()  # M_j⁻¹ Λ1' t_j
        u_w = np.concatenate([u1, v[:qr]])
        beta_w = v[qr:]
        RX_w = L22[qr: qr + p, qr: qr + p].T
        beta = self.gamma + self.s * (self.A @ beta_w)
        u = self.s * u_w
        b = self.times_lambda(theta, u)
        pwrss = float(d[-1] ** 2) * self.s ** 2
        logdet_RX = 2.0 * float(np.sum(np.log(np.abs(d[qr: qr + p])))) - 2.0 * self.logdetA
        return BlockedSolution(theta=theta, beta=beta, u=u, b=b, RX=RX_w @ self.Ainv, pwrss=pwrss,
                               logdet_L=logdet_L, logdet_RX=logdet_RX, n=self.n, p=p)

    def _apply_lambda_r_vec(self, z: np.ndarray, theta) -> None:
        """z ← D z in place, D = Λ_r ⊕ I_{p+1}."""
        for i, t, g0, o in self._rest:
            L, k = t.nlevels, t.k
            lam = t.lambda_template(theta[o: o + t.ntheta])
            z[g0: g0 + L * k] = (z[g0: g0 + L * k].reshape(L, k) @ lam.T).ravel()

    def times_lambda(self, theta, u: np.ndarray) -> np.ndarray:
        """Λθ u term by term (b = Λθ u, eq. 3): each level's k effects times the term's template."""
        b = np.empty_like(u)
        Gp = self.re.Gp
        for i, (t, lam) in enumerate(zip(self.re.terms, self.re.templates(theta))):
            b[Gp[i]: Gp[i + 1]] = (u[Gp[i]: Gp[i + 1]].reshape(t.nlevels, t.k) @ lam.T).ravel()
        return b

    def lambda_(self, theta) -> sparse.csr_array:
        """Λθ (q × q, lower triangular)."""
        return sparse.csr_array(self.re.lambdat(theta).T)

    def cond_var_blocks(self, sol: BlockedSolution, sigma2: float) -> list[np.ndarray]:
        """Per term, the (nlevels, k, k) conditional covariances of b given y (at β̂, θ̂):
        the diagonal blocks of σ² Λθ (L_Z L_Z')⁻¹ Λθ' (lme4's ``condVar``)."""
        L11, _, B, L22 = self.factor(sol.theta)
        qr, k1, nl1 = self.qr, self.k1, self.nl1
        Lr = L22[:qr, :qr]
        Lr_inv = linalg.solve_triangular(Lr, np.eye(qr), lower=True) if qr else np.zeros((0, 0))
        # first term: (L⁻¹)[:, j-block] = [L11_j⁻¹ ; −Lr⁻¹ B_r' L11⁻¹]
        Br = B[:, :qr].toarray() if qr else np.zeros((self.q1, 0))
        if k1 == 1:
            L11inv = (1.0 / L11)[:, None, None]
        else:
            L11inv = np.linalg.inv(L11)
        # F = Lr⁻¹ Br' L11⁻¹ (qr × q1)
        BrL = np.einsum("jab,jbr->jar", np.swapaxes(L11inv, 1, 2), Br.reshape(nl1, k1, qr)).reshape(self.q1, qr)
        F = Lr_inv @ BrL.T if qr else np.zeros((0, self.q1))
        F3 = F.reshape(qr, nl1, k1)
        V1 = np.swapaxes(L11inv, 1, 2) @ L11inv + np.einsum("rja,rjb->jab", F3, F3)
        Vu = [V1]
        for i, t, g0, o in self._rest:
            G = Lr_inv[:, g0: g0 + t.q].reshape(qr, t.nlevels, t.k)
            Vu.append(np.einsum("rja,rjb->jab", G, G))
        out = []
        theta = sol.theta
        for (t, V), lam in zip(zip(self.re.terms, Vu), self.re.templates(theta)):
            out.append(sigma2 * lam @ V @ lam.T)
        return out


def _level_pairs(row: np.ndarray, col: np.ndarray, val: np.ndarray, nl1: int, k1: int, m: int):
    """For each level j of the first term, every pair (a ≤ b) of the columns of block 2 that its rows of
    ``A12 = Z1'[Z_r X y]`` touch (given as entries ``row, col, val`` whose duplicates are summed here): the
    pair's level, the products ``A12[j r, a] A12[j s, b] (+ A12[j s, a] A12[j r, b])`` (one row per r ≤ s), its place in the lower
    triangle of the m × m block (row b ≥ column a), sorted by that place, and where each place's run starts.
    Then ``A21 Λ1 M⁻¹ Λ1' A12`` at any θ is one ``np.add.reduceat`` of ``Σ_rs prod[r, s] W_j[r, s]`` over the
    runs (MixedModels.jl's rank-k updates of L22, level by level)."""
    keep = val != 0
    row, col, val = row[keep], col[keep], val[keep]
    lev, sub = np.divmod(row.astype(np.int64), k1)
    key = lev * m + col  # one entry per (level, column) touched
    ukey, which = np.unique(key, return_inverse=True)
    D = np.bincount(which * k1 + sub, weights=val, minlength=ukey.size * k1).reshape(ukey.size, k1)
    ulev, ucol = np.divmod(ukey, m)
    # pairs (a ≤ b) of entries within each level: entry i of a level with c entries pairs with i … c − 1
    starts = np.flatnonzero(np.r_[True, ulev[1:] != ulev[:-1]])
    sizes = np.diff(np.r_[starts, ulev.size])
    pos = np.arange(ulev.size) - np.repeat(starts, sizes)  # position within its level
    counts = np.repeat(sizes, sizes) - pos
    A = np.repeat(np.arange(ulev.size), counts)
    first = np.cumsum(counts) - counts
    B = A + (np.arange(A.size) - np.repeat(first, counts))
    # sort the pairs by their place in the lower triangle (row b ≥ column a), so that each evaluation sums
    # contiguous runs (np.add.reduceat); two stable radix passes on 16-bit keys when m allows, else one sort
    row, col = ucol[B], ucol[A]
    if m < 2 ** 16:
        order = np.argsort(col.astype(np.uint16), kind="stable")
        order = order[np.argsort(row[order].astype(np.uint16), kind="stable")]
    else:
        order = np.argsort(row * m + col, kind="stable")
    target = (row * m + col)[order]
    starts = np.flatnonzero(np.r_[True, target[1:] != target[:-1]])
    Da, Db = D[A[order]], D[B[order]]
    r, c = np.triu_indices(k1)  # W_j is symmetric: (r, s) and (s, r) share one weight
    prod = Da[:, r] * Db[:, c] + np.where(r != c, Da[:, c] * Db[:, r], 0.0)
    return ulev[A[order]], np.ascontiguousarray(prod.T), target[starts], starts
