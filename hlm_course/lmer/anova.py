"""The one-model ``anova``: lme4's sequential analysis-of-variance table of the fixed effects.

lme4's ``anova.merMod`` with a single model (``anovaLmer``'s last branch, lme4 1.1-31 R/lmer.R) does not compare
models: it splits the fixed effects' part of the penalized least squares fit into one sum of squares per term of
the fixed-effects formula.  With R_X the p × p upper-triangular Cholesky factor of the fixed effects given the
random effects (Bates et al. 2015, eq. 18: R_X'R_X = X'X − R_ZX'R_ZX), the vector R_X β̂ has independent
components, each with variance σ²; the squares of the components of one term's columns, summed, are the term's
sequential sum of squares (each term after the terms before it, as R's ``anova.lm`` from the QR of X):

    Sum Sq_t = Σ_{j ∈ t} (R_X β̂)_j²,   npar_t = #columns of t,   Mean Sq_t = Sum Sq_t / npar_t,
    F value_t = Mean Sq_t / σ̂²,

the intercept's row dropped.  There are no denominator degrees of freedom and no p-values (lme4 gives none;
see lmerTest or pbkrtest for those).  For a glmer fit lme4 runs the same code with R_X from the final PIRLS
weights and σ = 1 (binomial and Poisson have no scale), so F value = Mean Sq — a Wald χ² per degree of freedom.
Terms follow R's ``terms``: ordered by degree, labelled with their variables in order of first appearance
(``ses * sector`` gives ses, sector, ses:sector; ``sector * ses`` gives sector, ses, sector:ses).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from .errors import MixedModelError
from .formula import to_patsy
from .update import term_labels

__all__ = ["anova_fixed", "fixed_term_labels"]


def _key(s: str) -> str:
    return re.sub(r"\s+", "", s)


def _design(fit) -> tuple[object, list[str]]:
    """The fit's fixed-effects patsy DesignInfo and, for each of ``fit.fixed_names``, its patsy column."""
    if hasattr(fit, "_fixed_design_info"):  # lmer fits: patsy column -> R's name
        to_patsy_col = {r: c for c, r in fit._fixed_r_names.items()}
        return fit._fixed_design_info, [to_patsy_col[n] for n in fit.fixed_names]
    return fit._fixed_info, list(fit._fixed_order)  # glmer fits: patsy columns in fixed_names' order


def fixed_term_labels(fit) -> list[str]:
    """The term of each column of the fit's X (lme4's ``attr(X, "assign")`` read through ``term.labels``):
    ``"(Intercept)"`` or R's label of the term (``"ses:sector"``)."""
    info, cols = _design(fit)
    r_terms = term_labels(fit.parsed.fixed)
    by_factors = {frozenset(_key(to_patsy(v)) for v in atoms): label for label, atoms in r_terms}
    col_term = {}
    for term, sl in info.term_slices.items():
        factors = frozenset(_key(f.name()) for f in term.factors)
        label = "(Intercept)" if not factors else by_factors.get(factors)
        if label is None:
            raise MixedModelError(f"anova: the design's term {term.name()!r} is not one of the formula's terms "
                                  f"{[lab for lab, _ in r_terms]}")
        for c in info.column_names[sl]:
            col_term[c] = label
    return [col_term[c] for c in cols]


def _rx(fit) -> np.ndarray:
    """lme4's ``pp$RX()``: the upper-triangular Cholesky factor (positive diagonal) of R_X'R_X."""
    if hasattr(fit, "pls"):
        RX = np.asarray(fit.pls.RX, float)
    else:
        RX = np.asarray(fit.problem.rx(fit.theta, fit.beta, fit.u), float)
    return np.linalg.cholesky(RX.T @ RX).T


def anova_fixed(fit) -> pd.DataFrame:
    """lme4's ``anova(fit)`` for one lmer or glmer fit: the sequential table of the fixed-effects terms, one row
    per term (the intercept dropped), columns ``npar``, ``Sum Sq``, ``Mean Sq``, ``F value`` (see the module)."""
    labels = fixed_term_labels(fit)
    beta = np.asarray(fit.fixef, float)
    ss = (_rx(fit) @ beta) ** 2
    sigma2 = fit.sigma ** 2 if hasattr(fit, "pls") else 1.0
    order = list(dict.fromkeys(labels))  # lme4's unique(assign): the order of the columns
    rows = []
    for t in order:
        cols = [j for j, lab in enumerate(labels) if lab == t]
        s = float(ss[cols].sum())
        rows.append({"npar": len(cols), "Sum Sq": s, "Mean Sq": s / len(cols),
                     "F value": s / len(cols) / sigma2})
    out = pd.DataFrame(rows, index=pd.Index(order, dtype=object))
    out = out.drop(index="(Intercept)", errors="ignore")
    out.attrs["heading"] = "Analysis of Variance Table"
    return out
