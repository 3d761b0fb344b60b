"""Six ways to compare two kinds of schools.

Monette (2010) (*Mixed Models with R*, "Comparing mathach and its
relationship with ses in the two school sectors") compares Catholic and
Public schools on the 40-school ``hs`` data in six ways.  Each function
below fits one of them and returns a :class:`MethodResult`, whose ``table``
holds the same *effects* for every method -- each sector's intercept and
slope and the differences from the reference sector -- so that the methods
can be laid side by side (:func:`compare_methods`):

====  ==========================  ============================================
no.   function                    model
====  ==========================  ============================================
1     :func:`method_pooled`       OLS ``y ~ x * sector``, schools ignored
2a    :func:`method_fixed_lines`  one OLS line per school, then equal-weight
                                  averages per sector (a Wald contrast)
2b    :func:`method_fixed_intercepts`  OLS ``y ~ x + school + x:sector``
3     :func:`method_two_stage`    per-school lines, then a multivariate
                                  regression (MANOVA) of (intercept, slope)
                                  on sector
4     :func:`method_between`      OLS of school means ``ȳ_j ~ x̄_j`` (ecological)
5     :func:`method_hlm`          ``y ~ x * sector + (1 + x | school)``
6     :func:`method_hlm_contextual`  the HLM with the school mean ``mean_x``
                                  and the centred ``cx = x - mean_x``
====  ==========================  ============================================

The Wald tests they use (``L β = 0``, spida's ``wald``) are in :mod:`hlm_course.wald_tests`.

Coefficients are named as R names them (``(Intercept)``, ``SectorPublic``,
``ses:SectorPublic``), whatever fitted them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf
from scipy import stats

from .printed import as_printed, check_printed, rounds_to_printed  # one rounding rule for the whole book
from .lmer import lmer
from .multilevel import cvar, dvar, up
from .wald_tests import FixedEffects, between_within_df, get_fix, wald, wald_test

__all__ = [
    "lm_list",
    "manova_tests",
    "MethodResult",
    "method_pooled",
    "method_fixed_lines",
    "method_fixed_intercepts",
    "method_two_stage",
    "method_between",
    "method_hlm",
    "method_hlm_contextual",
    "fit_methods",
    "compare_methods",
    "methods_summary",
    "published_table",
]



# ---------------------------------------------------------------------------
def _prepare(data: pd.DataFrame, y: str, x: str, group: str, sector: str | None) -> pd.DataFrame:
    """Check the columns and return a copy with ``sector`` as a Categorical."""
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    cols = [y, x, group] + ([sector] if sector is not None else [])
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise KeyError(f"column(s) {missing} not found in data; available columns: {list(data.columns)}")
    for c in cols:
        n_na = int(data[c].isna().sum())
        if n_na:
            raise ValueError(f"column {c!r} has {n_na} missing value(s); drop or impute them first")
    for c in (y, x):
        if not pd.api.types.is_numeric_dtype(data[c]) or pd.api.types.is_bool_dtype(data[c]):
            raise TypeError(f"column {c!r} must be numeric, got dtype {data[c].dtype}")
    df = data.copy()
    if data[group].nunique() < 2:
        raise ValueError(f"grouping column {group!r} has only one group; these methods compare groups")
    if sector is not None:
        if not isinstance(df[sector].dtype, pd.CategoricalDtype):
            df[sector] = pd.Categorical(df[sector])
        df[sector] = df[sector].cat.remove_unused_categories()
        if len(df[sector].cat.categories) < 2:
            raise ValueError(f"column {sector!r} has a single level; nothing to compare")
        if not (df.groupby(group, observed=True)[sector].nunique() == 1).all():
            raise ValueError(f"{sector!r} varies within some groups of {group!r}: it must be a level-2 variable")
    return df


def lm_list(data: pd.DataFrame, y: str = "mathach", x: str = "ses", group: str = "school",
            min_n: int = 3) -> pd.DataFrame:
    """Least-squares line ``y = β0j + β1j x`` in every group (lme4's ``lmList``).

    Returns one row per group (sorted) with ``intercept``, ``slope``, their
    standard errors ``se_intercept``, ``se_slope``, covariance
    ``cov_int_slope``, the residual SD ``sigma``, the group size ``n`` and the
    residual ``df``, followed by the group's level-2 columns (from
    :func:`~hlm_course.multilevel.up`).  These are the school-level OLS
    estimates β̂_j of Monette's (2010) methods 2 and 3 (and R&B's OLS β̂_j).

    Raises ``ValueError`` for a group with fewer than ``min_n`` rows or with
    ``x`` constant (a singular ``X_j'X_j``).
    """
    df = _prepare(data, y, x, group, None)
    if min_n < 2:
        raise ValueError("min_n must be at least 2: a line needs two points")
    rows = {}
    for key, g in df.groupby(group, sort=True, observed=True):
        n = len(g)
        if n < min_n:
            raise ValueError(f"group {key!r} of {group!r} has only {n} row(s); a line with a residual SD needs "
                             f"at least {min_n}: drop such groups first (e.g. data[data.groupby({group!r})"
                             f"[{x!r}].transform('size') >= {min_n}])")
        xv, yv = g[x].to_numpy(float), g[y].to_numpy(float)
        sxx = np.sum((xv - xv.mean()) ** 2)
        if sxx <= 1e-12 * max(1.0, np.sum(xv ** 2)):
            raise ValueError(f"X_j'X_j is singular in group {key!r} of {group!r}: {x!r} is constant there, "
                             "so no slope can be estimated")
        slope = np.sum((xv - xv.mean()) * (yv - yv.mean())) / sxx
        intercept = yv.mean() - slope * xv.mean()
        resid = yv - intercept - slope * xv
        dfr = n - 2
        s2 = np.sum(resid ** 2) / dfr if dfr > 0 else np.nan
        rows[key] = {"intercept": intercept, "slope": slope,
                     "se_intercept": np.sqrt(s2 * (1 / n + xv.mean() ** 2 / sxx)),
                     "se_slope": np.sqrt(s2 / sxx), "cov_int_slope": -s2 * xv.mean() / sxx,
                     "sigma": np.sqrt(s2), "n": n, "df": dfr}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = group
    level2 = up(df, group)
    return out.join(level2)


def manova_tests(E: np.ndarray, H: np.ndarray, q: int, df_resid: int) -> pd.DataFrame:
    """The four MANOVA statistics for a hypothesis SSCP ``H`` (``q`` df) and
    error SSCP ``E`` (``df_resid`` df), with R's F approximations
    (``summary.manova``: Pillai, Wilks, Hotelling-Lawley, Roy).  With
    ``min(p, q) = 1`` all four F's are exact and equal (Hotelling's T²)."""
    eig = np.sort(np.real(np.linalg.eigvals(np.linalg.solve(E, H))))[::-1]
    eig = np.clip(eig, 0, None)
    p = len(eig)
    s = min(p, q)
    m = 0.5 * (abs(p - q) - 1)
    n = 0.5 * (df_resid - p - 1)
    rows = {}
    pillai = np.sum(eig / (1 + eig))
    rows["Pillai"] = (pillai, (2 * n + s + 1) / (2 * m + s + 1) * pillai / (s - pillai),
                      s * (2 * m + s + 1), s * (2 * n + s + 1))
    wilks = np.prod(1 / (1 + eig))
    t1 = df_resid - 0.5 * (p - q + 1)
    t2 = (p * q - 2) / 4
    t3 = p ** 2 + q ** 2 - 5
    t3 = np.sqrt(((p * q) ** 2 - 4) / t3) if t3 > 0 else 1.0
    rows["Wilks"] = (wilks, (wilks ** (-1 / t3) - 1) * (t1 * t3 - 2 * t2) / p / q, p * q, t1 * t3 - 2 * t2)
    hl = np.sum(eig)
    rows["Hotelling-Lawley"] = (hl, 2 * (s * n + 1) * hl / s / s / (2 * m + s + 1), s * (2 * m + s + 1),
                                2 * (s * n + 1))
    roy = eig.max()
    rows["Roy"] = (roy, (df_resid - max(p, q) + q) * roy / max(p, q), max(p, q), df_resid - max(p, q) + q)
    out = pd.DataFrame.from_dict(rows, orient="index", columns=["statistic", "approx F", "num Df", "den Df"])
    out["Pr(>F)"] = stats.f.sf(out["approx F"], out["num Df"], out["den Df"])
    return out


# ---------------------------------------------------------------------------
# 4. The result object and the sector effects
# ---------------------------------------------------------------------------
@dataclass
class MethodResult:
    """One of Monette's (2010) approaches, fitted.

    Attributes
    ----------
    key, method, short
        Key (``"pooled"``), display name (``"1. Pooled OLS"``) and short
        label for tables (``"1 pooled"``).
    table
        :func:`wald` table of the *effects*: ``"<level>: intercept"``,
        ``"<level>: slope"`` for each sector level and ``"<level> - <ref>:
        intercept"`` / ``": slope"`` for the differences from the reference
        level (method 6 adds ``between slope`` and ``contextual`` rows).
        Without a sector, the rows are ``"intercept"`` and ``"slope"``.
    vcov
        Covariance matrix of the effects (for confidence ellipses).
    tests
        Joint test(s) of no difference between sectors (F test, or the
        MANOVA tests for method 3).
    fit
        The underlying fitted object(s).
    coefs
        Per-school estimates (methods 2a, 3 and 4) or ``None``.
    slope_estimates, efficient, population
        What the slope is consistent for, whether the estimator uses the
        data efficiently, and the population its SEs generalize to (Monette's
        (2010) "Summary of methods": consistent, efficient, honest).
    """

    key: str
    method: str
    table: pd.DataFrame
    vcov: pd.DataFrame
    tests: pd.DataFrame
    fit: object
    slope_estimates: str
    efficient: str
    population: str
    coefs: pd.DataFrame | None = None
    extra: dict = field(default_factory=dict)

    @property
    def short(self) -> str:
        return _SHORT.get(self.key, self.method)

    def ellipse(self, level: str | None = None, what: tuple[str, str] = ("intercept", "slope")):
        """Centre and covariance of (intercept, slope) for one sector level,
        a difference label such as ``"Public - Catholic"``, or ``None``
        without sectors: the inputs of a confidence ellipse in beta space."""
        rows = [f"{level}: {w}" if level else w for w in what]
        missing = [r for r in rows if r not in self.table.index]
        if missing:
            raise KeyError(f"{missing} not among this method's effects: {list(self.table.index)}")
        return self.table.loc[rows, "Estimate"].to_numpy(), self.vcov.loc[rows, rows].to_numpy()

    def ellipse_radius(self, level: str | None = None, conf: float = 0.95,
                       what: tuple[str, str] = ("intercept", "slope")) -> float:
        """Radius r of the joint ``conf`` confidence region for the pair
        :meth:`ellipse` returns: the pairs β with
        ``(β − β̂)' V̂⁻¹ (β − β̂) ≤ r²``.

        * Methods 1, 2, 4--6 (a univariate model with ``df`` residual or
          denominator degrees of freedom, the smaller of the two rows'):
          ``r² = 2 F(conf; 2, df)``, or ``χ²₂(conf)`` when ``df`` is infinite.
        * Method 3 (a multivariate regression whose 2 × 2 error covariance
          is estimated with ν = J − k degrees of freedom): Hotelling's T²,
          ``r² = 2ν/(ν − 1) F(conf; 2, ν − 1)`` -- exact under normality
          (Anderson 2003, *An Introduction to Multivariate Statistical
          Analysis*, §5.3), and the region whose boundary the MANOVA F test
          of the sector difference crosses at its p-value.
        """
        if not 0 < conf < 1:
            raise ValueError(f"conf must be between 0 and 1, got {conf}")
        rows = [f"{level}: {w}" if level else w for w in what]
        missing = [r for r in rows if r not in self.table.index]
        if missing:
            raise KeyError(f"{missing} not among this method's effects: {list(self.table.index)}")
        nu = self.extra.get("hotelling_df")
        if nu is not None:
            if nu < 2:
                raise ValueError(f"Hotelling's T² needs at least 2 residual df, got {nu}")
            return float(np.sqrt(2 * nu / (nu - 1) * stats.f.ppf(conf, 2, nu - 1)))
        df = float(self.table.loc[rows, "DF"].min())
        if np.isinf(df):
            return float(np.sqrt(stats.chi2.ppf(conf, 2)))
        return float(np.sqrt(2 * stats.f.ppf(conf, 2, df)))

    def _repr_html_(self) -> str:
        head = (f"<p><b>{self.method}</b> &mdash; slope estimates: {self.slope_estimates}; "
                f"generalizes to: {self.population}</p>")
        return head + self.table.to_html(float_format=lambda v: f"{v:.4g}")

    def __repr__(self) -> str:
        return (f"{self.method}\n  slope estimates: {self.slope_estimates}\n  generalizes to: "
                f"{self.population}\n{self.table.to_string(float_format=lambda v: f'{v:.5g}')}")


def _label(level, what: str) -> str:
    return f"{level}: {what}" if level is not None else what


def _effect_rows(levels: list, per_level: Mapping[str, Mapping]) -> dict:
    """Rows of L: each level's quantities, then each level minus the reference.

    ``per_level[q][level]`` is a dict {coefficient: weight} giving quantity
    ``q`` (intercept, slope, ...) in that level.
    """
    rows = {}
    for lev in levels:
        for q, by_level in per_level.items():
            rows[_label(lev, q)] = dict(by_level[lev])
    ref = levels[0]
    for lev in levels[1:]:
        for q, by_level in per_level.items():
            diff = dict(by_level[lev])
            for k, w in by_level[ref].items():
                diff[k] = diff.get(k, 0.0) - w
            rows[f"{lev} - {ref}: {q}"] = diff
    return rows


def _treatment(levels: list, sector: str | None, base: str, term: str | None) -> dict:
    """{level: {coef: 1}} for a treatment-coded quantity: ``base`` in the
    reference level, plus ``term<level>`` (or ``<sector><level>``) in others."""
    out = {}
    for k, lev in enumerate(levels):
        d = {base: 1.0}
        if k > 0 and sector is not None:
            d[(f"{term}:" if term else "") + f"{sector}{lev}"] = 1.0
        out[lev] = d
    return out


def _levels(df: pd.DataFrame, sector: str | None) -> list:
    return list(df[sector].cat.categories) if sector is not None else [None]


def _sector_test(fe: FixedEffects, table_rows: dict, levels: list) -> pd.DataFrame:
    """Joint Wald test that all differences from the reference level are zero."""
    diffs = {k: v for k, v in table_rows.items() if " - " in k}
    if not diffs:
        return pd.DataFrame()
    test = wald_test(fe, diffs)
    test.index = [f"no difference between {', '.join(map(str, levels))}"]
    return test


def _result(key, method, fe, rows, levels, fit, *, slope_estimates, efficient, population,
            coefs=None, tests=None, extra=None) -> MethodResult:
    table = wald(fe, rows)
    return MethodResult(key=key, method=method, table=table, vcov=table.attrs["vcov"],
                        tests=_sector_test(fe, rows, levels) if tests is None else tests, fit=fit,
                        slope_estimates=slope_estimates, efficient=efficient, population=population,
                        coefs=coefs, extra=extra or {})


# ---------------------------------------------------------------------------
# 5. The six methods
# ---------------------------------------------------------------------------
def _rhs(x: str, sector: str | None) -> str:
    return f"{x} * {sector}" if sector is not None else x


def method_pooled(data: pd.DataFrame, y: str = "mathach", x: str = "ses", group: str = "school",
                  sector: str | None = "Sector") -> MethodResult:
    """Method 1: pool the students, ignore the schools: OLS ``y ~ x * sector``.

    Monette (2010): ``lm(mathach ~ ses * Sector, hs)`` gives 13.5579, 2.2999,
    −1.4666, 1.6051 (RSE 6.344 on 1973 df, R² 0.1404).  The SEs treat the
    1977 students as independent, which they are not.
    """
    df = _prepare(data, y, x, group, sector)
    fit = smf.ols(f"{y} ~ {_rhs(x, sector)}", df).fit()
    levels = _levels(df, sector)
    rows = _effect_rows(levels, {"intercept": _treatment(levels, sector, "(Intercept)", None),
                                 "slope": _treatment(levels, sector, x, x)})
    return _result("pooled", "1. Pooled OLS", get_fix(fit), rows, levels, fit,
                   slope_estimates="a blend of the within- and between-school slopes",
                   efficient="no: ignores the clustering",
                   population="nothing clear: the SEs assume independent students, ignoring schools")


def _group_design(df: pd.DataFrame, group: str) -> pd.DataFrame:
    df = df.copy()
    df[group] = pd.Categorical(df[group])
    return df


def method_fixed_lines(data: pd.DataFrame, y: str = "mathach", x: str = "ses", group: str = "school",
                       sector: str | None = "Sector") -> MethodResult:
    """Method 2a: a separate line in every school (fixed effects), then the
    equal-weight average intercept and slope of the schools of each sector.

    The fit is OLS ``y ~ 0 + school + school:x`` (R: ``factor(school)/ses - 1``),
    so σ² is pooled within schools; the sector averages and their
    differences are Wald contrasts ``L β`` (Monette (2010):
    Int −2.027255 (0.351992), Slope 1.109995 (0.454114), df 1897; joint F 21.03533).
    """
    df = _group_design(_prepare(data, y, x, group, sector), group)
    lm_list(df, y, x, group)  # clear errors for tiny groups or constant x
    fit = smf.ols(f"{y} ~ 0 + {group} + {group}:{x}", df).fit()
    schools = list(df[group].cat.categories)
    levels = _levels(df, sector)
    sector_of = up(df, group)[sector] if sector is not None else pd.Series(None, index=schools)
    per = {"intercept": {}, "slope": {}}
    for lev in levels:
        members = [s for s in schools if sector is None or sector_of[s] == lev]
        per["intercept"][lev] = {f"{group}{s}": 1 / len(members) for s in members}
        per["slope"][lev] = {f"{group}{s}:{x}": 1 / len(members) for s in members}
    rows = _effect_rows(levels, per)
    return _result("fixed_lines", "2a. Fixed effects: average of school lines", get_fix(fit), rows, levels,
                   fit, coefs=lm_list(df, y, x, group),
                   slope_estimates="the within-school slope (β_W)",
                   efficient="no: every school gets the same weight, whatever its n and spread of x (as Method 3)",
                   population="new students from these same schools only")


def method_fixed_intercepts(data: pd.DataFrame, y: str = "mathach", x: str = "ses", group: str = "school",
                            sector: str | None = "Sector") -> MethodResult:
    """Method 2b: a separate intercept per school, a common slope per sector.

    OLS ``y ~ x + school + x:sector``; the slope difference is the
    ``x:sector`` coefficient (Monette (2010): ``ses:SectorPublic`` 1.204719
    (0.436134), df 1935).  Intercept rows are equal-weight averages of the
    school intercepts of each sector.  The common slope weights schools by
    their within-school sum of squares of ``x``.
    """
    df = _group_design(_prepare(data, y, x, group, sector), group)
    inter = f" + {x}:{sector}" if sector is not None else ""
    fit = smf.ols(f"{y} ~ {x} + {group}{inter}", df).fit()
    schools = list(df[group].cat.categories)
    levels = _levels(df, sector)
    sector_of = up(df, group)[sector] if sector is not None else pd.Series(None, index=schools)
    per = {"intercept": {}, "slope": _treatment(levels, sector, x, x)}
    for lev in levels:
        members = [s for s in schools if sector is None or sector_of[s] == lev]
        d = {"(Intercept)": 1.0}
        for s in members:
            if s != schools[0]:
                d[f"{group}{s}"] = 1 / len(members)
        per["intercept"][lev] = d
    rows = _effect_rows(levels, per)
    return _result("fixed_intercepts", "2b. Fixed effects: school intercepts, common slope per sector",
                   get_fix(fit), rows, levels, fit,
                   slope_estimates="the within-school slope (β_W)",
                   efficient="yes, if the slopes really are equal within a sector",
                   population="new students from these same schools only")


def method_two_stage(data: pd.DataFrame, y: str = "mathach", x: str = "ses", group: str = "school",
                     sector: str | None = "Sector") -> MethodResult:
    """Method 3: two stages ("derived variables", "regress then average").

    Stage 1: an OLS line in every school (:func:`lm_list`).  Stage 2: a
    multivariate regression of the (intercept, slope) pairs on sector,
    ``lm(cbind(intercept, slope) ~ Sector)``, whose coefficient covariance is
    ``Σ̂ ⊗ (X'X)⁻¹`` with Σ̂ the between-school covariance of the pairs.  The
    sector difference is tested with the MANOVA statistics (``tests``).
    Monette's (2010) slope equation: (Intercept) 1.6672 (0.3506), SectorPublic
    1.1100 (0.5086), p = 0.0353.  Coefficients are named
    ``"<response>:<term>"`` as R names an ``mlm``'s (``ses:SectorPublic``).
    """
    df = _prepare(data, y, x, group, sector)
    coefs = lm_list(df, y, x, group)
    levels = _levels(df, sector)
    Y = coefs[["intercept", "slope"]].to_numpy()
    if sector is not None:
        codes = pd.Categorical(coefs[sector], categories=levels).codes
        X = np.column_stack([np.ones(len(coefs))] + [(codes == k).astype(float) for k in range(1, len(levels))])
        terms = ["(Intercept)"] + [f"{sector}{lev}" for lev in levels[1:]]
    else:
        X = np.ones((len(coefs), 1))
        terms = ["(Intercept)"]
    J, k = X.shape
    if J - k < 2:
        raise ValueError(f"only {J} groups for {k} coefficients per response: too few for stage 2")
    XtX_inv = np.linalg.inv(X.T @ X)
    B = XtX_inv @ X.T @ Y
    E = (Y - X @ B).T @ (Y - X @ B)
    Sigma = E / (J - k)
    responses = ["(Intercept)", x]
    names = [f"{r}:{t}" for r in responses for t in terms]
    beta = pd.Series(B.T.ravel(), index=names)
    V = pd.DataFrame(np.kron(Sigma, XtX_inv), index=names, columns=names)
    fe = FixedEffects(beta, V, pd.Series(float(J - k), index=names))
    per = {q: {lev: {f"{resp}:(Intercept)": 1.0, **({f"{resp}:{sector}{lev}": 1.0} if k else {})}
               for k, lev in enumerate(levels)}
           for q, resp in (("intercept", "(Intercept)"), ("slope", x))}
    rows = _effect_rows(levels, per)
    tests = None
    if sector is not None:
        X0 = X[:, :1]
        B0 = np.linalg.lstsq(X0, Y, rcond=None)[0]
        E0 = (Y - X0 @ B0).T @ (Y - X0 @ B0)
        tests = manova_tests(E, E0 - E, q=k - 1, df_resid=J - k)
    return _result("two_stage", "3. Two-stage (derived variables, MANOVA)", fe, rows, levels,
                   {"B": pd.DataFrame(B, index=terms, columns=responses), "Sigma": pd.DataFrame(
                       Sigma, index=responses, columns=responses)}, coefs=coefs, tests=tests,
                   extra={"hotelling_df": J - k},
                   slope_estimates="the within-school slope (β_W)",
                   efficient="no: every school gets the same weight, whatever its n and spread of x",
                   population="the population of schools in each sector")


def method_between(data: pd.DataFrame, y: str = "mathach", x: str = "ses", group: str = "school",
                   sector: str | None = "Sector", weighted: bool = False) -> MethodResult:
    """Method 4: the between-school (ecological) regression on school means,
    ``ȳ_j ~ x̄_j`` ("average then regress").

    Monette (2010) fits ``lm(mathach ~ ses, up(hs, ~ school, all = TRUE))`` --
    pass ``sector=None`` -- and gets 12.7926 (0.2898), 5.7734 (0.6984).
    With a sector the model is ``ȳ_j ~ x̄_j * sector``.  ``weighted=True``
    weights the schools by their sizes ``n_j`` (WLS), which makes the pooled
    OLS slope an exact weighted average of the within and between slopes.
    """
    df = _prepare(data, y, x, group, sector)
    means = up(df[[group, y, x] + ([sector] if sector else [])], group, agg=True)
    means["n"] = df.groupby(group, observed=True).size()
    formula = f"{y} ~ {_rhs(x, sector)}"
    fit = smf.wls(formula, means, weights=means["n"]).fit() if weighted else smf.ols(formula, means).fit()
    levels = _levels(means, sector) if sector else [None]
    rows = _effect_rows(levels, {"intercept": _treatment(levels, sector, "(Intercept)", None),
                                 "slope": _treatment(levels, sector, x, x)})
    return _result("between", "4. Between schools (ecological)", get_fix(fit), rows, levels, fit,
                   coefs=means, slope_estimates="the between-school slope (β_B)",
                   efficient="no: ignores the schools' sizes" if not weighted else "weights schools by n_j",
                   population="the population of schools, for a between-school question")


def method_hlm(data: pd.DataFrame, y: str = "mathach", x: str = "ses", group: str = "school",
               sector: str | None = "Sector", reml: bool = True, df=None) -> MethodResult:
    """Method 5: the hierarchical linear model
    ``y ~ x * sector + (1 + x | school)`` fitted by :func:`~hlm_course.lmer`.

    The t tests use nlme's between/within df (:func:`between_within_df`)
    unless ``df`` is given.
    """
    df_ = _prepare(data, y, x, group, sector)
    fit = lmer(f"{y} ~ {_rhs(x, sector)} + (1 + {x} | {group})", df_, reml=reml)
    levels = _levels(df_, sector)
    rows = _effect_rows(levels, {"intercept": _treatment(levels, sector, "(Intercept)", None),
                                 "slope": _treatment(levels, sector, x, x)})
    return _result("hlm", "5. Hierarchical linear model", get_fix(fit, df), rows, levels, fit,
                   slope_estimates="close to the within-school slope; a blend if β_W ≠ β_B",
                   efficient="yes",
                   population="new schools and students in each sector")


def method_hlm_contextual(data: pd.DataFrame, y: str = "mathach", x: str = "ses", group: str = "school",
                          sector: str | None = "Sector", reml: bool = True, df=None) -> MethodResult:
    """Method 6: the HLM with the contextual (school-mean) variable.

    Adds ``mean_<x> = cvar(x, school)`` and ``c<x> = dvar(x, school)`` and fits
    ``y ~ (mean_x + cx) * sector + (1 + cx | school)`` (Monette's (2010) "contextual
    cluster mean variable with CWG variable and random CWG slopes").  The
    ``slope`` rows are the within-school slopes (``cx``), the ``between
    slope`` rows the slopes of the school means (``mean_x``) and the
    ``contextual`` rows their difference: the effect of a school's mean ``x``
    for students with the same own ``x``.
    """
    df_ = _prepare(data, y, x, group, sector)
    mx, cx = f"mean_{x}", f"c{x}"
    df_[mx] = cvar(df_[x], df_[group])
    df_[cx] = dvar(df_[x], df_[group])
    rhs = f"({mx} + {cx}) * {sector}" if sector is not None else f"{mx} + {cx}"
    fit = lmer(f"{y} ~ {rhs} + (1 + {cx} | {group})", df_, reml=reml)
    levels = _levels(df_, sector)
    within = _treatment(levels, sector, cx, cx)
    between = _treatment(levels, sector, mx, mx)
    contextual = {lev: {**{k: -w for k, w in within[lev].items()}, **between[lev]} for lev in levels}
    rows = _effect_rows(levels, {"intercept": _treatment(levels, sector, "(Intercept)", None),
                                 "slope": within, "between slope": between, "contextual": contextual})
    return _result("hlm_contextual", "6. HLM with contextual mean", get_fix(fit, df), rows, levels, fit,
                   slope_estimates="within (β_W) and between (β_B) slopes, separately",
                   efficient="yes",
                   population="new schools and students in each sector",
                   extra={"data": df_})


_SHORT = {"pooled": "1 pooled", "fixed_lines": "2a fixed lines", "fixed_intercepts": "2b fixed intercepts",
          "two_stage": "3 two-stage", "between": "4 between", "hlm": "5 HLM", "hlm_contextual": "6 HLM + context"}

_METHODS = {"pooled": method_pooled, "fixed_lines": method_fixed_lines,
            "fixed_intercepts": method_fixed_intercepts, "two_stage": method_two_stage,
            "between": method_between, "hlm": method_hlm, "hlm_contextual": method_hlm_contextual}


def fit_methods(data: pd.DataFrame, y: str = "mathach", x: str = "ses", group: str = "school",
                sector: str | None = "Sector", methods: Sequence[str] | None = None) -> dict[str, MethodResult]:
    """Fit the listed methods (default: all seven, 1--6 with 2a and 2b) and
    return ``{key: MethodResult}`` in the original's order.  Keys: ``pooled,
    fixed_lines, fixed_intercepts, two_stage, between, hlm, hlm_contextual``."""
    methods = list(_METHODS) if methods is None else list(methods)
    unknown = [m for m in methods if m not in _METHODS]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; choose from {list(_METHODS)}")
    return {m: _METHODS[m](data, y=y, x=x, group=group, sector=sector) for m in methods}


def compare_methods(data, effects: Sequence[str] | None = None, *,
                    stats_: Sequence[str] = ("Estimate", "Std.Error", "DF", "p-value"), **kw) -> pd.DataFrame:
    """The methods side by side: one row per method (short labels such as
    ``"2a fixed lines"``), for each effect its estimate, SE, df and p-value
    (columns ``(effect, statistic)``).

    ``data`` is either a DataFrame (the methods are fitted with
    :func:`fit_methods`, ``**kw`` passed on) or the dict that
    :func:`fit_methods` returns.  ``effects`` defaults to the differences
    between the sectors (``"Public - Catholic: intercept"`` and ``": slope"``
    for the hs data); the Method 4 slope is a between-school slope and the
    Method 6 slope a within-school slope (see :func:`methods_summary`).
    """
    results = data if isinstance(data, Mapping) else fit_methods(data, **kw)
    if not results:
        raise ValueError("no methods to compare")
    first = next(iter(results.values()))
    if effects is None:
        effects = [r for r in first.table.index if " - " in r and r.split(": ")[1] in ("intercept", "slope")]
        if not effects:
            effects = ["intercept", "slope"]
    cols = pd.MultiIndex.from_product([list(effects), list(stats_)], names=["effect", "statistic"])
    out = pd.DataFrame(index=[r.short for r in results.values()], columns=cols, dtype=float)
    for r in results.values():
        for e in effects:
            if e in r.table.index:
                out.loc[r.short, e] = r.table.loc[e, list(stats_)].to_numpy(dtype=float)
    out.index.name = "method"
    return out


def methods_summary(results: Mapping[str, MethodResult], effect: str | None = None) -> pd.DataFrame:
    """Monette's (2010) "Summary of methods" table filled from the fits: for each
    method what its slope estimates (consistent for), whether it is
    efficient, the population its SEs generalize to (honest), and the
    estimated ``effect`` (default: the sector difference in slopes) ± SE."""
    first = next(iter(results.values()))
    if effect is None:
        diffs = [r for r in first.table.index if r.endswith(": slope") and " - " in r]
        effect = diffs[0] if diffs else "slope"
    rows = []
    for r in results.values():
        est = r.table.loc[effect] if effect in r.table.index else None
        rows.append({"method": r.short, "slope estimates": r.slope_estimates, "efficient": r.efficient,
                     "generalizes to": r.population,
                     "estimate": np.nan if est is None else est["Estimate"],
                     "SE": np.nan if est is None else est["Std.Error"],
                     "DF": np.nan if est is None else est["DF"]})
    out = pd.DataFrame(rows).set_index("method")
    out.attrs["effect"] = effect
    return out


# ---------------------------------------------------------------------------
# 6. An original's printed numbers next to ours
# ---------------------------------------------------------------------------
def published_table(rows: Sequence[tuple[str, str, float]], source: str = "Monette (2010)") -> pd.DataFrame:
    """Numbers printed in a published source next to ours, rounded the way
    the source printed them.

    ``rows`` are ``(quantity, printed, ours)``: the quantity's name, the
    published value *as printed* (a string, so that its precision is known)
    and our unrounded value.  Ours is shown with as many decimals as the
    printed value; a value printed in scientific notation (``"2.84e-05"``)
    is shown with the same number of significant digits in that notation.
    A ``match`` column says whether ours, so rounded, equals the printed
    value (within half a unit of its last printed digit), by
    :func:`hlm_course.printed.rounds_to_printed`.  Our unrounded values
    are kept in ``.attrs["ours"]`` (for :func:`hlm_course.ledger.ledger_rows`).

    Returns a DataFrame indexed by ``quantity`` with columns ``source`` (the
    printed values, headed by the ``source`` name), ``ours`` (strings) and
    ``match`` (bool).
    """
    rows = list(rows)
    for row in rows:
        if len(row) != 3:
            raise ValueError(f"each row must be (quantity, printed, ours), got {row!r}")
        check_printed(row[0], row[1])
    names = [r[0] for r in rows]
    printed = [r[1] for r in rows]
    ours = [float(r[2]) for r in rows]
    match = rounds_to_printed(ours, printed) if rows else []
    table = pd.DataFrame({source: printed, "ours": [as_printed(o, p) for o, p in zip(ours, printed)],
                          "match": [bool(m) for m in match]},
                         index=pd.Index(names, name="quantity"))
    table.attrs["ours"] = ours
    return table
