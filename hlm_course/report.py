"""A publication-style table of a fitted linear mixed model.

What a paper reports about a multilevel model (Snijders & Bosker 2012, ch. 6 and 7; the LEMMA course's
modules on reporting): the fixed effects with standard errors and confidence intervals, the random part as
variances (or standard deviations) and correlations, and the sizes and fit of the model. ``report_table``
builds that table from a fit in one call, with the names the reader should see.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import stats

from .lmer import LmerFit, LmerFitMulti, MixedModelError

__all__ = ["report_table"]

FIXED, RANDOM, MODEL = "Fixed effects", "Random effects", "Model"


def _random_rows(fit, labels: Mapping[str, str]) -> list[tuple[str, float]]:
    """(label, value) for each variance, then each correlation, then σ², from lme4's VarCorr table."""
    vc = fit.varcorr
    terms = vc[vc["Groups"] != "Residual"]
    rows = []
    for _, r in terms.iterrows():
        rows.append((f"Var({labels.get(r['Name'], r['Name'])} | {r['Groups']})", float(r["Variance"])))
    corr_cols = [c for c in vc.columns if c.startswith("Corr")]
    for group, block in terms.groupby("Groups", sort=False):
        names = list(block["Name"])
        for a in range(1, len(names)):
            for m in range(a):
                col = corr_cols[0] if len(corr_cols) == 1 else (f"Corr.{names[m]}" if f"Corr.{names[m]}"
                                                                  in vc.columns else f"Corr.{m + 1}")
                value = float(block.iloc[a][col])
                rows.append((f"Corr({labels.get(names[m], names[m])}, {labels.get(names[a], names[a])} | {group})",
                             value))
    rows.append(("Var(residual)", float(fit.sigma2)))
    return rows


def report_table(fit, labels: Mapping[str, str] | None = None, level: float = 0.95) -> pd.DataFrame:
    """The fit as a paper reports it: one table, three blocks of rows.

    *Fixed effects*: estimate, standard error and a Wald confidence interval ``estimate ± z·SE`` at
    ``level`` (say so in the table's note; with few groups use the tests of chapter 10 instead).
    *Random effects*: each variance and correlation of the random terms, then the residual variance σ²
    (no standard errors: their sampling distributions are skewed; bootstrap or profile them if needed).
    *Model*: the number of observations, of groups of each grouping factor, and the REML criterion (REML
    fit) or deviance (ML fit).

    ``labels`` maps term names (``"cses"``, ``"(Intercept)"``) to the words a reader should see; a key that
    is not a term of the model is an error, so that a typo cannot leave a term unlabelled.  Returns a
    DataFrame indexed by (block, label) with columns ``Estimate``, ``SE``, ``CI lower``, ``CI upper``.
    """
    if not isinstance(fit, (LmerFit, LmerFitMulti)):
        raise MixedModelError(f"report_table needs a fitted lmer model, got {type(fit).__name__}")
    if not 0 < level < 1:
        raise MixedModelError(f"level must be between 0 and 1, got {level!r}")
    labels = dict(labels or {})
    terms = set(fit.fixef.index) | set(fit.varcorr["Name"])
    unknown = sorted(set(labels) - terms)
    if unknown:
        raise MixedModelError(f"labels name terms that are not in the model: {', '.join(map(repr, unknown))}; "
                              f"the model's terms are {', '.join(map(repr, sorted(terms - {''})))}")
    z = stats.norm.ppf(0.5 + level / 2)
    est, se = fit.fixef.astype(float), fit.se.astype(float)
    rows = [((FIXED, labels.get(name, name)), est[name], se[name], est[name] - z * se[name],
             est[name] + z * se[name]) for name in est.index]
    rows += [((RANDOM, label), value, np.nan, np.nan, np.nan) for label, value in _random_rows(fit, labels)]
    ngroups = fit.ngrps if isinstance(fit, LmerFitMulti) else {fit.group: fit.ngroups}
    rows.append(((MODEL, "observations"), float(fit.nobs), np.nan, np.nan, np.nan))
    rows += [((MODEL, f"groups: {g}"), float(n), np.nan, np.nan, np.nan) for g, n in ngroups.items()]
    rows.append(((MODEL, "REML criterion" if fit.reml else "deviance"),
                 float(fit.reml_criterion if fit.reml else fit.deviance), np.nan, np.nan, np.nan))
    table = pd.DataFrame([r[1:] for r in rows], columns=["Estimate", "SE", "CI lower", "CI upper"],
                         index=pd.MultiIndex.from_tuples([r[0] for r in rows], names=["", "term"]))
    table.attrs["level"] = level
    return table
