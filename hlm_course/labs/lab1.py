"""Self-checks of Lab 1, "the sector gap in math achievement" (chapter 14).

The lab works on a random sample of 40 of the 160 High School and Beyond
schools, 20 from each sector, drawn by :func:`sample_schools` with the
lab's random seed.  Every check below recomputes its right answer from that
sample with the course's own tools; nothing is hard-coded.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from ..data import load_hsb
from . import register

#: Random seed of the lab's sample of schools (numpy's default_rng).
RANDOM_SEED = 2024
#: Schools drawn from each sector.
PER_SECTOR = 20


def sample_schools(hsb: pd.DataFrame, per_sector: int = PER_SECTOR, seed: int = RANDOM_SEED) -> list:
    """Draw ``per_sector`` schools at random from each sector (a stratified
    sample of clusters), as the lab does: one numpy Generator, Public first,
    school ids sorted before drawing; returns the sorted ids of each sector,
    Public then Catholic."""
    rng = np.random.default_rng(seed)
    ids = []
    for sector in ("Public", "Catholic"):
        pool = np.sort(hsb.loc[hsb["sector"] == sector, "school"].unique())
        if per_sector > len(pool):
            raise ValueError(f"asked for {per_sector} {sector} schools but there are only {len(pool)}")
        ids += sorted(rng.choice(pool, size=per_sector, replace=False).tolist())
    return ids


@functools.lru_cache(maxsize=1)
def _sample() -> pd.DataFrame:
    hsb = load_hsb()
    return hsb[hsb["school"].isin(sample_schools(hsb))].reset_index(drop=True)


def lab_data() -> pd.DataFrame:
    """The lab's data: every student of the sampled schools (a copy)."""
    return _sample().copy()


# ---------------------------------------------------------------------------
# the lab's models (cached: several checks share them)
# ---------------------------------------------------------------------------
#: The lab's models, by name (REML fits of lme4 formulas).
FORMULAS = {
    "ri": "mathach ~ ses + sector + (1 | school)",
    "ri_ctx": "mathach ~ ses + mean_ses + sector + (1 | school)",
    "ri_ctx_c": "mathach ~ cses + mean_ses + sector + (1 | school)",
    "rs": "mathach ~ ses * sector + (1 + ses | school)",
    "ctx": "mathach ~ (cses + mean_ses) * sector + (1 + cses | school)",
    "ctx_raw": "mathach ~ (ses + mean_ses) * sector + (1 + cses | school)",
    "ctx_rs_ses": "mathach ~ (ses + mean_ses) * sector + (1 + ses | school)",
}


def with_missing(data: pd.DataFrame) -> pd.DataFrame:
    """The lab's data with some values blanked out, as in its section on
    missing values: ``ses`` on rows ``k % 50 == 7``, ``mathach`` on rows
    ``k % 70 == 3`` (``k`` the row position)."""
    out = data.copy()
    k = np.arange(len(out))
    out.loc[k % 50 == 7, "ses"] = np.nan
    out.loc[k % 70 == 3, "mathach"] = np.nan
    return out


@functools.lru_cache(maxsize=None)
def fit(name: str):
    """The lab's model ``name`` (a key of :data:`FORMULAS`), fitted to :func:`lab_data`."""
    import warnings

    from ..lmer import lmer

    if name not in FORMULAS:
        raise KeyError(f"no lab model {name!r}; the models are {list(FORMULAS)}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # singular fits are part of the lab's story
        return lmer(FORMULAS[name], _sample())


@functools.lru_cache(maxsize=1)
def _deletion():
    from ..influence import leave_one_group_out

    return leave_one_group_out(fit("ctx"))


def _sector_means(table: pd.DataFrame, column: str) -> float:
    m = table.groupby("sector", observed=True)[column].mean()
    return float(m["Catholic"] - m["Public"])


def _gap_grid(mean_ses) -> pd.DataFrame:
    from ..hypotheses import difference_grid, expand_grid

    g = expand_grid(mean_ses=mean_ses, cses=0.0)
    return difference_grid(fit("ctx"), g.assign(sector="Catholic"), g.assign(sector="Public"))


# ---------------------------------------------------------------------------
# the checks
# ---------------------------------------------------------------------------
@register("lab1-gap", rtol=1e-4, hint="average mathach over the students of each sector, then subtract")
def _gap():
    return _sector_means(_sample(), "mathach")


@register("lab1-school-gap", rtol=1e-4, hint="first one row per school (hc.up with agg=True), then average "
          "the school means within each sector")
def _school_gap():
    from ..multilevel import up

    return _sector_means(up(_sample(), "school", agg=True), "mathach")


@register("lab1-ses-gap", rtol=1e-4, hint="the same with the school means of ses")
def _ses_gap():
    from ..multilevel import up

    return _sector_means(up(_sample(), "school", agg=True), "ses")


@register("lab1-minority-gap", rtol=1e-4, hint="hc.cvar of the indicator minority == 'Yes' by school gives "
          "each school's proportion; then one row per school (hc.up) and the Catholic minus Public mean")
def _minority_gap():
    from ..multilevel import cvar, up

    d = _sample()
    d = d.assign(prop_minority=cvar(d["minority"].eq("Yes"), d["school"]))
    return _sector_means(up(d, "school", agg=True), "prop_minority")


@register("lab1-negative", kind="set", hint="hc.lm_list(hs) gives each school's slope")
def _negative():
    from ..methods import lm_list

    ols = lm_list(_sample())
    return list(ols.index[ols["slope"] < 0])


@register("lab1-within-between", kind="array", rtol=1e-4,
          hint="within: one intercept per school and a common ses slope; between: the regression of the "
               "school means of mathach on the school means of ses")
def _within_between():
    from ..methods import method_between, method_fixed_intercepts

    w = method_fixed_intercepts(_sample(), sector=None).table.loc["slope", "Estimate"]
    b = method_between(_sample(), sector=None).table.loc["slope", "Estimate"]
    return np.array([w, b])


@register("lab1-rs-fixef", kind="array", rtol=1e-4, hint="fit.fixef, in lme4's order")
def _rs_fixef():
    return fit("rs").fixef.to_numpy()


@register("lab1-rs-singular", kind="bool", hint="look at the correlation of the random effects, or fit.singular")
def _rs_singular():
    return fit("rs").singular


@register("lab1-na-dropped", atol=0.5, rtol=0, hint="a row is dropped if ANY variable of the model is missing "
          "there; rows missing both count once")
def _na_dropped():
    d = with_missing(_sample())
    return int(d[["mathach", "ses", "sector", "school"]].isna().any(axis=1).sum())


@register("lab1-hausman", rtol=1e-3, hint="compare the ses slope of the fixed-effects (school dummies) fit "
          "with that of the random-intercept model")
def _hausman():
    from ..hypotheses import hausman_test
    from ..methods import method_fixed_intercepts

    return hausman_test(method_fixed_intercepts(_sample(), sector=None).fit, fit("ri"), ["ses"]).statistic


@register("lab1-contextual", kind="array", rtol=1e-4, hint="the ses and mean_ses coefficients, in that order")
def _contextual():
    return fit("ri_ctx").fixef[["ses", "mean_ses"]].to_numpy()


@register("lab1-between", kind="array", rtol=1e-4, hint="L = {ses: 1, mean_ses: 1}; give [estimate, SE]")
def _between():
    from ..wald_tests import wald

    w = wald(fit("ri_ctx"), {"between": {"ses": 1, "mean_ses": 1}})
    return w.loc["between", ["Estimate", "Std.Error"]].to_numpy(dtype=float)


@register("lab1-mapping", kind="array", rtol=1e-8, atol=1e-8,
          hint="write each coefficient of the cses model as a combination of the raw-ses model's")
def _mapping():
    raw, cen = fit("ri_ctx"), fit("ri_ctx_c")
    X_raw, X_cen = raw.X, cen.X  # same rows: X_cen = X_raw B, so γ_cen = B⁻¹ γ_raw
    B = np.linalg.lstsq(X_raw, X_cen, rcond=None)[0]
    return np.round(np.linalg.inv(B), 10)


@register("lab1-reml-diff", atol=1e-3, rtol=0, hint="ses random slope model minus cses random slope model")
def _reml_diff():
    return fit("ctx_rs_ses").reml_criterion - fit("ctx").reml_criterion


@register("lab1-extreme", kind="set", hint="the largest absolute value of the (Intercept) column of fit.ranef")
def _extreme():
    return [fit("ctx").ranef["(Intercept)"].abs().idxmax()]


@register("lab1-influential", kind="set", hint="influence.cooks_distance(...) > 4 / number of schools")
def _influential():
    from ..influence import cooks_distance

    D = cooks_distance(fit("ctx"), _deletion())
    return list(D.index[D > 4 / fit("ctx").ngroups])


@register("lab1-gap-05", rtol=1e-4, hint="hypotheses.difference_grid with mean_ses = 0.5 and cses = 0")
def _gap_05():
    return float(_gap_grid([0.5])["estimate"].iloc[0])


@register("lab1-sector-F", rtol=1e-4, hint="hc.wald_test(fit, 'sector') tests every coefficient whose name "
          "contains 'sector'")
def _sector_F():
    from ..wald_tests import wald_test

    return float(wald_test(fit("ctx"), "sector")["F-value"].iloc[0])


@register("lab1-region", kind="array", atol=0.01, rtol=0,
          hint="where does the lower limit of the pointwise band cross zero? Use a fine grid of mean_ses")
def _region():
    from ..plots.effects import band_crossings

    g = _gap_grid(np.linspace(-1.5, 1.5, 3001))
    return band_crossings(g, "mean_ses", "lower")
