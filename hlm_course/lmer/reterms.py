"""The random-effects terms: lme4's ``mkReTrms`` (Bates et al. 2015, §2.3).

Each term ``(expr | g)`` of the formula (after lme4's expansion of ``a/b`` and
``||``, :func:`~hlm_course.lmer.formula.parse_formula`) gives

* the grouping factor ``g`` (a column, or R's interaction ``a:b`` of columns:
  levels in the order of ``a`` then ``b``, unused combinations dropped, as
  ``factor(a:b)``), with ℓ_i levels;
* the model matrix X_i (n × p_i) of ``expr`` (eq. 5), from which the term's
  block of Z is the Khatri–Rao product of the indicator matrix J_i' and X_i'
  (eq. 6): row ``j p_i + k`` of Z_i' holds column k of X_i on the rows of
  level j;
* its block of Λθ: ℓ_i copies of a lower-triangular p_i × p_i template
  (eq. 4), whose p_i (p_i + 1)/2 elements are θ's, filled column by column.

The terms are ordered by decreasing number of levels (stably, lme4's
``rev(order(nl))`` when any later term has more levels than an earlier one),
and Z' (``Zt``), Λθ' (``Lambdat``, with ``Lind``: which θ each stored element
is), the starting θ (1 on diagonals, 0 off), the lower bounds (0 on diagonals),
the offsets ``Gp`` of each term in b, the factor list ``flist`` and the column
names ``cnms`` are assembled as ``mkReTrms`` returns them.  MixedModels.jl
calls a term a ``ReMat``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy import sparse

from .errors import MixedModelError
from .formula import RandomTerm, build_design

__all__ = ["ReTerm", "ReTerms", "mk_re_terms", "grouping_factor", "check_re_terms"]


@dataclass(frozen=True)
class ReTerm:
    """One ``(expr | g)`` term (MixedModels.jl's ``ReMat``)."""

    group: str  # "school", "b:a"
    codes: np.ndarray  # level index of each row (0 … nlevels − 1)
    levels: list  # level labels in lme4's order
    columns: list  # R's names of the columns of expr: "(Intercept)", "cses", ...
    Z: np.ndarray  # n × k model matrix of expr (X_i of eq. 5)
    correlated: bool = True  # False for the pieces of a || term
    expr: str = ""  # the term's expression as parsed ("1 + x"), for predict
    design_info: object = None  # patsy DesignInfo of expr (None for a plain intercept): predict's model frame

    @property
    def nlevels(self) -> int:
        return len(self.levels)

    @property
    def k(self) -> int:
        """Columns per level (p_i in the paper)."""
        return self.Z.shape[1]

    @property
    def q(self) -> int:
        """Random effects of the term: ℓ_i p_i."""
        return self.nlevels * self.k

    @property
    def ntheta(self) -> int:
        return self.k * (self.k + 1) // 2

    def __str__(self) -> str:
        return f"({' + '.join(self.columns)} | {self.group})"

    def lambda_template(self, theta_i: np.ndarray) -> np.ndarray:
        """The k × k lower-triangular template of Λθ (eq. 4) from this term's θ (column-major lower triangle)."""
        lam = np.zeros((self.k, self.k))
        lam[template_index(self.k)] = theta_i
        return lam


@dataclass(frozen=True)
class ReTerms:
    """lme4's ``reTrms``: every random-effects term and the matrices built from them."""

    terms: list  # ReTerm, ordered as lme4 orders them
    Zt: sparse.csc_array  # q × n
    Lambdat: sparse.csc_array  # q × q, upper triangular: Λθ' at the starting θ
    Lind: np.ndarray  # θ index (0-based) of each stored element of Lambdat, in CSC data order
    theta: np.ndarray  # starting value: 1 on diagonals, 0 off
    lower: np.ndarray  # 0 for diagonal elements, -inf otherwise
    Gp: np.ndarray  # offsets of each term's block in b
    flist: dict  # grouping factor name -> pandas Categorical
    cnms: list  # [(group, columns)] per term

    @property
    def q(self) -> int:
        return int(self.Gp[-1])

    @property
    def theta_offsets(self) -> np.ndarray:
        """Offsets of each term's elements in θ."""
        return np.concatenate([[0], np.cumsum([t.ntheta for t in self.terms])]).astype(int)

    def lambdat(self, theta) -> sparse.csc_array:
        """Λθ' at θ: ``Lambdat`` with ``data = θ[Lind]`` (lme4's ``Lambdat@x[] <- theta[Lind]``)."""
        theta = np.asarray(theta, dtype=float)
        if theta.shape != self.theta.shape:
            raise MixedModelError(f"theta has {theta.size} elements, the random-effects terms have "
                                  f"{self.theta.size}")
        out = self.Lambdat.copy()
        out.data = theta[self.Lind]
        return out

    def templates(self, theta) -> list[np.ndarray]:
        """The lower-triangular template of each term at θ."""
        off = self.theta_offsets
        return [t.lambda_template(np.asarray(theta, float)[off[i]:off[i + 1]]) for i, t in enumerate(self.terms)]

    @property
    def ngrps(self) -> dict:
        """Levels of each grouping factor (lme4's ``ngrps``)."""
        return {name: len(f.categories) for name, f in self.flist.items()}


@lru_cache(maxsize=None)
def template_index(k: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, columns) of a k × k template's lower triangle, column by column (θ's order in lme4)."""
    rows, cols = np.tril_indices(k)
    order = np.lexsort((rows, cols))
    return rows[order], cols[order]


def grouping_factor(group: str, frame: pd.DataFrame) -> pd.Categorical:
    """The grouping factor of a term as lme4 evaluates it: a column made a
    factor (sorted levels), or R's interaction ``a:b`` of such factors (levels
    ordered by a's level, then b's; labels ``"a1:b1"``), unused levels dropped."""
    cols = RandomTerm("1", group).group_columns
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise MixedModelError(f"grouping factor '{group}': column(s) {missing} not found in data")
    codes_all, labels_all = [], []
    for c in cols:
        col = frame[c]
        if isinstance(col.dtype, pd.CategoricalDtype):  # (the model frame's strings) drop unused levels
            codes = np.asarray(col.array.codes, dtype=np.int64)
            cats = col.array.categories
            if (codes < 0).any():
                raise MixedModelError(f"grouping column '{c}' has missing values")
            used = np.bincount(codes, minlength=len(cats)) > 0
            if not used.all():
                codes = (np.cumsum(used) - 1)[codes]
                cats = cats[used]
            codes_all.append(codes)
            labels_all.append([r_label(v) for v in cats])
            continue
        else:
            try:
                cat = pd.Categorical(col.to_numpy())
            except TypeError as err:
                raise MixedModelError(f"grouping column '{c}' mixes types that cannot be sorted into levels: "
                                      f"{err}") from err
        if (cat.codes < 0).any():
            raise MixedModelError(f"grouping column '{c}' has missing values")
        codes_all.append(cat.codes.astype(np.int64))
        labels_all.append([r_label(v) for v in cat.categories])
    if len(cols) == 1:
        return pd.Categorical.from_codes(codes_all[0], categories=pd.Index(labels_all[0], dtype=object),
                                         validate=False)
    # R's interaction: mixed-radix code with the first factor slowest, unused combinations dropped
    combined = np.zeros(len(frame), np.int64)
    for codes, labels in zip(codes_all, labels_all):
        combined = combined * len(labels) + codes
    used, inverse = np.unique(combined, return_inverse=True)
    names = []
    for u in used:
        parts = []
        for labels in reversed(labels_all):
            u, r = divmod(u, len(labels))
            parts.append(labels[r])
        names.append(":".join(reversed(parts)))
    return pd.Categorical.from_codes(inverse.astype(np.int64), categories=pd.Index(names, dtype=object),
                                     validate=False)


def r_label(v) -> str:
    """A level's label as R's ``as.character`` writes it (2.0 → "2")."""
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v)


def mk_re_terms(random_terms, frame: pd.DataFrame, matrices: bool = True, full: pd.DataFrame | None = None) -> ReTerms:
    """lme4's ``mkReTrms``: the random-effects terms of a model frame (§2.3).

    ``random_terms`` are :class:`~hlm_course.lmer.formula.RandomTerm` (as
    ``parse_formula`` returns them: ``/`` and ``||`` expanded); ``frame`` is
    the model frame (rows with missing values already dropped).  The result
    orders the terms, builds Z', Λθ' with its θ index, and the factor list,
    as lme4 does.  With ``matrices=False`` the sparse Z' and Λθ' are not built
    (``Zt``, ``Lambdat`` None, ``Lind`` empty: glmer works on the terms).
    """
    random_terms = list(random_terms)
    if not random_terms:
        raise MixedModelError("No random effects terms specified in formula")
    factors: dict[str, pd.Categorical] = {}
    terms = []
    for rt in random_terms:
        if rt.group not in factors:
            factors[rt.group] = grouping_factor(rt.group, frame)
        f = factors[rt.group]
        info = None
        if rt.expr.strip() == "1":  # a random intercept (the commonest term): no design to build
            columns, Z = ["(Intercept)"], np.ones((len(frame), 1), order="F")
        else:
            Zdf = build_design(rt.expr, frame, f"random-effects {rt}", full=full)  # full: all rows (scale, poly)
            columns = [Zdf.attrs["r_names"][c] for c in Zdf.columns]
            if not columns:
                raise MixedModelError(f"random-effects term {rt} has no columns")
            Z = np.asfortranarray(Zdf.to_numpy(dtype=float))
            info = Zdf.design_info
        terms.append(ReTerm(group=rt.group, codes=np.asarray(f.codes, dtype=np.int64),
                            levels=list(f.categories), columns=columns, Z=Z, correlated=not rt.uncorrelated,
                            expr=rt.expr, design_info=info))
    nl = np.array([t.nlevels for t in terms])
    if np.any(np.diff(nl) > 0):  # lme4: ord <- rev(order(nl)), order() being stable
        order = np.argsort(nl, kind="stable")[::-1]
        terms = [terms[i] for i in order]
    n = len(frame)
    nb = np.array([t.q for t in terms])
    Gp = np.concatenate([[0], np.cumsum(nb)]).astype(np.int64)
    nth = np.array([t.ntheta for t in terms])
    thoff = np.concatenate([[0], np.cumsum(nth)]).astype(np.int64)
    q = int(Gp[-1])
    flist = {}
    for t in terms:
        flist.setdefault(t.group, factors[t.group])
    cnms = [(t.group, list(t.columns)) for t in terms]
    if not matrices:
        lower = np.concatenate([np.where(np.equal(*template_index(t.k)), 0.0, -np.inf) for t in terms])
        theta = np.where(np.isfinite(lower), 1.0, 0.0)
        return ReTerms(terms=terms, Zt=None, Lambdat=None, Lind=np.zeros(0, np.int64), theta=theta, lower=lower,
                       Gp=Gp, flist=flist, cnms=cnms)
    # Z' (eq. 6): row Gp[i] + level * k + column, one entry per row of the data and column of the term
    rows, cols, vals = [], [], []
    obs = np.arange(n)
    for i, t in enumerate(terms):
        for c in range(t.k):
            rows.append(Gp[i] + t.codes * t.k + c)
            cols.append(obs)
            vals.append(t.Z[:, c])
    Zt = sparse.csc_array((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(q, n))
    # Λθ' (eq. 4, transposed): element (r, c), r ≥ c, of term i's template is θ[thoff[i] + index of (r, c) in the
    # column-major lower triangle]; in Λθ' it sits at (level k + c, level k + r)
    li, lj, lx = [], [], []
    lower = np.empty(int(thoff[-1]))
    for i, t in enumerate(terms):
        k, L = t.k, t.nlevels
        tr, tc = np.tril_indices(k)
        order = np.lexsort((tr, tc))
        tr, tc = tr[order], tc[order]  # column-major lower triangle: θ's order
        base = Gp[i] + np.arange(L) * k
        for m, (r, c) in enumerate(zip(tr, tc)):
            li.append(base + c)
            lj.append(base + r)
            lx.append(np.full(L, thoff[i] + m + 1.0))
            lower[thoff[i] + m] = 0.0 if r == c else -np.inf
    Lt = sparse.csc_array((np.concatenate(lx), (np.concatenate(li), np.concatenate(lj))), shape=(q, q))
    Lt.sort_indices()
    Lind = Lt.data.astype(np.int64) - 1
    theta = np.where(np.isfinite(lower), 1.0, 0.0)
    Lt.data = theta[Lind]
    return ReTerms(terms=terms, Zt=Zt, Lambdat=Lt, Lind=Lind, theta=theta, lower=lower, Gp=Gp, flist=flist,
                   cnms=cnms)


def check_re_terms(re: ReTerms, n: int) -> None:
    """lme4's checks of the random-effects terms (``checkNlevels``, ``checkZdims``), as errors with lme4's words:
    every grouping factor has more than one level and fewer levels than observations, and no term has at least
    as many random effects as there are observations."""
    nlev = re.ngrps
    one = [g for g, L in nlev.items() if L < 2]
    if one:
        raise MixedModelError(f"grouping factors must have > 1 sampled level (problems: {', '.join(one)}: "
                              f"{', '.join(str(nlev[g]) for g in one)} level); a random effect needs at least "
                              "two groups")
    many = [g for g, L in nlev.items() if L >= n]
    if many:
        raise MixedModelError(f"number of levels of each grouping factor must be < number of observations "
                              f"(problems: {', '.join(many)}; {n} observations): each row would be its own "
                              "group, and the random effect could not be told from the residual")
    for t in re.terms:
        if n <= t.q:
            raise MixedModelError(
                f"number of observations (={n}) <= number of random effects (={t.q}) for term {t}; the "
                "random-effects parameters and the residual variance (or scale parameter) are probably "
                "unidentifiable")
