"""HLM-program output tables, and the Monte Carlo error of bootstrap percentiles.

Two groups of helpers used by the chapters on the full High School and
Beyond data (the lme4 course vignette on Raudenbush & Bryk, ch. 4).

1. *Tables in the layout of the HLM program* (Raudenbush & Bryk 2002,
   chs. 3–4; the program's "Final estimation of fixed effects (with robust
   standard errors)" and "Final estimation of variance components"):
   :func:`hlm_fixed_table` and :func:`hlm_variance_table`, built from
   :func:`hlm_course.shrinkage.robust_se` and
   :func:`hlm_course.shrinkage.variance_tests`.

2. *How far can a bootstrap percentile move by chance?*  The number of
   replicates that fall below the true ``p`` quantile of the bootstrap
   distribution is Binomial(n, p), so two order statistics bracket that
   quantile with a known probability, whatever the distribution — the
   distribution-free confidence interval for a quantile (Conover 1999,
   §3.2; Hahn & Meeker 1991, §5.2), here with the normal approximation to
   the binomial.  :func:`quantile_band_ranks` gives the ranks,
   :func:`percentile_mc_band` the band for every column of a replicate table
   and :func:`compare_boot_intervals` lines a
   :func:`hlm_course.inference.bootstrap_ci` result up against another
   program's intervals (the vignette's §8.2.2: lme4's ``confint(method = "boot")``).

3. *Tables that read well*: :func:`styled` shows a table in the book's style
   (:func:`hlm_course.display.style_table`), with its p-value columns found by
   name and printed by :func:`hlm_course.display.format_p`, which never writes 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from .display import style_table
from ._validate import fitted_model
from .lmer import LmerFit, MixedModelError
from .shrinkage import level1_structure, robust_se, variance_tests

__all__ = ["hlm_fixed_table", "hlm_variance_table", "QuantileBand", "quantile_band_ranks",
           "percentile_mc_band", "compare_boot_intervals", "p_columns", "styled"]


# ---------------------------------------------------------------------------
# 1. HLM's tables
# ---------------------------------------------------------------------------
def hlm_fixed_table(fit: LmerFit) -> pd.DataFrame:
    """HLM's fixed-effects table: model-based and robust SEs, robust t ratios, approximate df.

    Each fixed effect γ_qs belongs to the level-2 equation of one level-1
    coefficient β_qj (read off the model by
    :func:`hlm_course.shrinkage.level1_structure`: ``cses:mean_ses`` is
    γ_11 in the equation for the ``cses`` slope).  HLM refers its t ratio to
    a t distribution with ``J − S_q − 1`` degrees of freedom, S_q being the
    number of level-2 predictors in that equation (Raudenbush & Bryk 2002,
    ch. 3, "hypothesis testing").  The t ratio and p-value use the robust
    ("sandwich") SE, as the HLM program's second table does.  A level-1
    coefficient without a random effect has no level-2 equation with J − S − 1
    df in this sense: its df and p-value are left empty (<NA> and NaN).

    Returns a DataFrame indexed by fixed effect (lme4's names) with columns
    Coefficient, SE (model), SE (robust), t-ratio (robust), approx. df, p-value.
    """
    fitted_model(fit)
    rob = robust_se(fit)
    s = level1_structure(fit)
    J = fit.ngroups
    used = s.W != 0  # (J, Q+1, F): which γ's enter which level-1 coefficient's equation
    row_of = used.any(axis=0).argmax(axis=0)  # level-1 coefficient of each γ
    n_gamma = used.any(axis=0).sum(axis=1)  # S_q + 1 for each level-1 coefficient
    df = np.array([J - n_gamma[k] if s.random[k] else np.nan for k in row_of], dtype=float)
    df = pd.Series(df, index=s.gamma_names).reindex(rob.index).to_numpy()
    t = rob["Estimate"] / rob["Robust SE"]
    with np.errstate(invalid="ignore"):
        p = 2 * stats.t.sf(np.abs(t), df)
    out = pd.DataFrame({"Coefficient": rob["Estimate"], "SE (model)": rob["Std. Error"],
                        "SE (robust)": rob["Robust SE"], "t-ratio (robust)": t, "approx. df": df,
                        "p-value": p}, index=rob.index)
    return out.astype({"approx. df": "Int64"})


def hlm_variance_table(fit: LmerFit) -> pd.DataFrame:
    """HLM's variance-components table, with the level-1 variance as the last row.

    One row per random coefficient: its SD and variance τ_qq, and the χ² test
    of τ_qq = 0 from the schools' OLS estimates
    (:func:`hlm_course.shrinkage.variance_tests`; Raudenbush & Bryk 2002,
    eq. 3.103); then the row ``level-1, r`` with σ and σ² (no test).
    """
    fitted_model(fit)
    vt = variance_tests(fit).set_index("term")
    out = pd.DataFrame({"Standard deviation": np.sqrt(vt["variance"]), "Variance component": vt["variance"],
                        "df": vt["df"], "chi-square": vt["chisq"], "p-value": vt["p"]})
    out.loc["level-1, r"] = [fit.sigma, fit.sigma2, np.nan, np.nan, np.nan]
    out.index.name = "random effect"
    return out.astype({"df": "Int64"})


# ---------------------------------------------------------------------------
# 2. Monte Carlo error of bootstrap percentiles
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class QuantileBand:
    """Order statistics that bracket the ``prob`` quantile of n replicates.

    ``mean`` and ``sd`` are those of the Binomial(n, prob) count of
    replicates below the true quantile; ``lower_rank`` and ``upper_rank``
    (1-based: the k-th smallest replicate) bracket the true quantile with
    probability about ``coverage``.
    """

    n: int
    prob: float
    coverage: float
    mean: float
    sd: float
    lower_rank: int
    upper_rank: int


def quantile_band_ranks(n: int, prob: float, coverage: float = 0.95) -> QuantileBand:
    """Ranks of the order statistics that bracket the ``prob`` quantile.

    With B ~ Binomial(n, prob) replicates below the true quantile,
    ``P(X_(l) ≤ q ≤ X_(u)) = P(l ≤ B < u)``; the normal approximation gives
    ``l, u = round(n·prob ∓ z·√(n·prob·(1 − prob)))``, clipped to 1..n
    (Conover 1999, §3.2).  For n = 1000 and prob = 0.025: mean 25, SD 4.94,
    ranks 15 and 35.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer (the number of replicates), got {n!r}")
    if not 0 < prob < 1:
        raise ValueError(f"prob must be between 0 and 1, got {prob}")
    if not 0 < coverage < 1:
        raise ValueError(f"coverage must be between 0 and 1, got {coverage}")
    mean = n * prob
    sd = float(np.sqrt(n * prob * (1 - prob)))
    half = stats.norm.ppf(0.5 + coverage / 2) * sd
    lo, hi = (int(np.clip(np.round(v), 1, n)) for v in (mean - half, mean + half))
    return QuantileBand(n=int(n), prob=float(prob), coverage=float(coverage), mean=float(mean), sd=sd,
                        lower_rank=lo, upper_rank=hi)


def percentile_mc_band(replicates: pd.DataFrame, prob: float, coverage: float = 0.95) -> pd.DataFrame:
    """Monte Carlo band of the ``prob`` percentile for every column of ``replicates``.

    Each column (one parameter's bootstrap replicates; NaNs, e.g. an
    undefined correlation, are dropped) is sorted and the order statistics
    of :func:`quantile_band_ranks` are read off.  Returns a DataFrame indexed
    by the columns of ``replicates`` with columns ``from`` and ``to``: the
    range within which the percentile of infinitely many replicates lies
    with probability ``coverage``.
    """
    if not isinstance(replicates, pd.DataFrame):
        raise ValueError(f"replicates must be a DataFrame (one column per parameter), "
                         f"got {type(replicates).__name__}")
    rows = {}
    for name, col in replicates.items():
        x = np.sort(col.dropna().to_numpy(dtype=float))
        if x.size == 0:
            raise ValueError(f"column {name!r} has no replicates (all NaN)")
        band = quantile_band_ranks(x.size, prob, coverage)
        rows[name] = {"from": x[band.lower_rank - 1], "to": x[band.upper_rank - 1]}
    return pd.DataFrame.from_dict(rows, orient="index")


def compare_boot_intervals(boot: pd.DataFrame, reference: pd.DataFrame, coverage: float = 0.95) -> pd.DataFrame:
    """Bootstrap interval endpoints, their Monte Carlo bands, and another program's endpoints.

    ``boot`` is a result of :func:`hlm_course.inference.bootstrap_ci` (its
    replicates and level are read from ``boot.attrs``); ``reference`` has
    columns ``lower`` and ``upper`` indexed by lme4's parameter names
    (``.sig01``, ``.sigma``, ``(Intercept)``, … — the ``lme4`` column of
    ``boot``), e.g. the intervals a published document prints.

    Returns a DataFrame indexed by lme4's names with two column groups,
    ``lower`` and ``upper``, each holding ``ours``, ``MC band from``,
    ``MC band to``, ``reference`` and ``inside`` (is the reference endpoint
    within our band?).  The band measures only our own simulation error;
    the reference's endpoints carry simulation error of their own.
    """
    if "replicates" not in boot.attrs or "lme4" not in boot.columns:
        raise ValueError("boot must be a result of hlm_course.bootstrap_ci (with its replicates in attrs)")
    missing = {"lower", "upper"} - set(reference.columns)
    if missing:
        raise ValueError(f"reference is missing column(s) {sorted(missing)}")
    names = pd.Index(boot["lme4"])
    unknown = [k for k in reference.index if k not in names]
    if unknown:
        raise ValueError(f"reference rows {unknown} are not parameters of the bootstrap; "
                         f"they are {list(names)}")
    alpha = (1 - boot.attrs.get("level", 0.95)) / 2
    reps = boot.attrs["replicates"].set_axis(names, axis=1)
    parts = {}
    for side, prob in [("lower", alpha), ("upper", 1 - alpha)]:
        band = percentile_mc_band(reps, prob, coverage)
        ours = boot.set_index("lme4")[side]
        ref = reference[side].reindex(names)
        parts[side] = pd.DataFrame({"ours": ours, "MC band from": band["from"], "MC band to": band["to"],
                                    "reference": ref,
                                    "inside": (band["from"] <= ref) & (ref <= band["to"])}, index=names)
    out = pd.concat(parts, axis=1).loc[[k for k in names if k in reference.index]]
    out.index.name = "parameter (lme4)"
    return out


# ---------------------------------------------------------------------------
# 3. Display
# ---------------------------------------------------------------------------
def p_columns(frame: pd.DataFrame) -> list:
    """The columns of ``frame`` that hold p-values: ``Pr(...)``, ``p``, ``p.value`` or containing ``p-value``."""
    return [c for c in frame.columns
            if str(c).startswith("Pr(") or str(c) in ("p", "p.value") or "p-value" in str(c).lower()]


def styled(frame, formats=None, *, digits: int = 4):
    """``frame`` (a DataFrame or Series) as :func:`hlm_course.display.style_table` shows it, column by column.

    The book's table style (padded cells, right-aligned numbers that do not wrap, missing values empty) with the p-value
    columns found by :func:`p_columns` printed by :func:`hlm_course.display.format_p` (never ``0.0``;
    ``< 2.2e-16`` below the machine epsilon, as R prints), and the other numbers through ``formats``:
    one format string for every float column, or a dict ``{column: format}`` (columns not in ``frame``
    are ignored); by default ``digits`` decimals.  With one format string, float columns that hold only
    whole numbers (an anova table's ``Df``) print without decimals.
    """
    if isinstance(frame, pd.Series):
        frame = frame.to_frame()
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"expected a DataFrame or Series, got {type(frame).__name__}")
    pcols = p_columns(frame)
    others = [c for c in frame.columns if c not in pcols]
    if formats is None:
        formats = f"{{:.{digits}f}}"
    if isinstance(formats, str):
        numeric = [c for c in others if pd.api.types.is_float_dtype(frame[c])]
        whole = [c for c in numeric if frame[c].dropna().size and (frame[c].dropna() % 1 == 0).all()]
        formats = {c: "{:.0f}" if c in whole else formats for c in numeric}
    formats = {c: f for c, f in formats.items() if c in frame.columns and c not in pcols}
    # numbers never wrap inside a cell ("< 2.2e-16" broke over three lines in a narrow column)
    return style_table(frame, precision=digits, p_columns=pcols, formatter=formats or None)
