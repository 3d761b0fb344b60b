"""Self-checks of Lab 2, "minority status and math achievement" (chapters/15_lab2_minority.md).

Every check computes its right answer from the full High School and Beyond
data with the course's own tools (registered with
:func:`hlm_course.labs.register`); nothing is typed in except the inputs an
exercise gives the student (lme4's estimate ``LME4_DEFAULT_THETA`` of the
three-random-effect model, from ``tests/reference/lab2_lme4.json``).  The
fits are cached, so checks that share a model fit it once.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pandas as pd

from . import register

#: Formulas of the lab's models (the chapter fits the same ones).
FORMULAS = {
    "ri": "mathach ~ cses + minority + (1 | school)",
    "rs_cses": "mathach ~ cses + minority + (cses | school)",
    "rs_both": "mathach ~ cses + minority + (cses + minority | school)",
    "ses_raw": "mathach ~ ses + minority + (ses + minority | school)",
    "ses_shift": "mathach ~ ses_shift + minority + (ses_shift + minority | school)",
    "ctx": "mathach ~ cses + minority + mean_ses + p_min + sector + (cses + minority | school)",
    "big": "mathach ~ (cses + minority) * (mean_ses + p_min + sector) + (cses + minority | school)",
    "slim": "mathach ~ (cses + minority) * (p_min + sector) + mean_ses + (cses + minority | school)",
    "slim_ri": "mathach ~ (cses + minority) * (p_min + sector) + mean_ses + (1 | school)",
    "slim_cses": "mathach ~ (cses + minority) * (p_min + sector) + mean_ses + (cses | school)",
    "slim_min": "mathach ~ (cses + minority) * (p_min + sector) + mean_ses + (minority | school)",
    "final": "mathach ~ (cses + minority) * (p_min + sector) + mean_ses + female + (1 | school)",
    "null": "mathach ~ 1 + (1 | school)",
}

#: θ at which lme4's default optimizer (nloptwrap) stops for ``rs_both`` (lme4 1.1-31,
#: tests/reference/lab2_lme4.json, model ``rs_both_reml``): the input of exercise lab2-ex-restart.
LME4_DEFAULT_THETA = np.array([0.40386950516635595, -0.017817582001247025, 0.06953276407252001, 0.0,
                               0.11709332903338454, 0.18927962304073276])

#: The shift of ses in the scaling exercise (``ses_shift = ses + SHIFT``).
SHIFT = 3.0


@functools.lru_cache(maxsize=1)
def data() -> pd.DataFrame:
    """The full HSB data with the lab's extra columns: ``p_min`` (the school's
    proportion of minority students, ``hc.cvar``) and ``ses_shift``."""
    from .. import cvar, load_hsb

    hsb = load_hsb()
    hsb["p_min"] = cvar(hsb["minority"], hsb["school"])["minorityYes"]
    hsb["ses_shift"] = hsb["ses"] + SHIFT
    return hsb


@functools.lru_cache(maxsize=None)
def fit(name: str, reml: bool = True):
    """The lab's model ``name`` (a key of :data:`FORMULAS`), fitted once."""
    from .. import lmer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # singular-fit notices: the chapter discusses them
        return lmer(FORMULAS[name], data(), reml=reml)


@functools.lru_cache(maxsize=1)
def _ols_within():
    import statsmodels.formula.api as smf

    return smf.ols("mathach ~ C(school) + ses + minority", data()).fit()


# ---------------------------------------------------------------------------
# the checks, in the order of the exercises
# ---------------------------------------------------------------------------
@register("lab2-constant-schools", kind="set",
          hint="a school's proportion of minority students is 0 or 1 exactly when minority does not vary in it")
def _constant_schools():
    p = data().groupby("school")["p_min"].first()
    return list(p.index[(p == 0) | (p == 1)])


@register("lab2-within-gap", rtol=1e-4,
          hint="the coefficient of minority in the OLS fit with one dummy per school (C(school))")
def _within_gap():
    return float(_ols_within().params["minority[T.Yes]"])


@register("lab2-n-influential", rtol=0, atol=0.5,
          hint="count the students whose Cook's distance (get_influence().cooks_distance[0]) exceeds 4/n")
def _n_influential():
    cooks = _ols_within().get_influence().cooks_distance[0]
    return int(np.sum(cooks > 4 / len(cooks)))


@register("lab2-tau00-shift", rtol=1e-3,
          hint="the shifted model's intercept is each school's line at another value of ses: its variance is "
               "the variance of a linear combination of u0 and u1, from the raw-ses model's T")
def _tau00_shift():
    return float(fit("ses_shift").tau.iloc[0, 0])


@register("lab2-crit-gap", rtol=1e-4, atol=1e-3,
          hint="evaluate profiled_deviance at lme4's theta with the fit's cross-products (fit.xp) and subtract "
               "the fit's reml_criterion")
def _crit_gap():
    from ..lmer import profiled_deviance

    m = fit("rs_both")
    return float(profiled_deviance(LME4_DEFAULT_THETA, m.xp, reml=True) - m.reml_criterion)


@register("lab2-mixture-p", rtol=1e-3,
          hint="adding the minority slope adds 3 parameters to a model with 2 random effects: "
               "hc.mixture_pvalue(chisq, 3)")
def _mixture_p():
    from .. import mixture_pvalue

    chisq = fit("rs_cses").reml_criterion - fit("rs_both").reml_criterion
    return mixture_pvalue(chisq, 3)


@register("lab2-contextual-ses", rtol=1e-3,
          hint="with cses and mean_ses in the model, the contextual effect is the coefficient of mean_ses minus "
               "that of cses")
def _contextual_ses():
    fe = fit("ctx").fixef
    return float(fe["mean_ses"] - fe["cses"])


@register("lab2-F-gap", rtol=1e-3,
          hint="hc.wald(big, '^minorityYes:').attrs['test'] holds the joint F test")
def _f_gap():
    from .. import wald_test

    return float(wald_test(fit("big"), "^minorityYes:")["F-value"].iloc[0])


@register("lab2-p-meanses", rtol=1e-3,
          hint="the regular expression ':mean_ses' picks the two interactions with mean_ses")
def _p_meanses():
    from .. import wald_test

    return float(wald_test(fit("big"), ":mean_ses")["p-value"].iloc[0])


@register("lab2-ranef-corr", rtol=1e-3,
          hint="correlate ctx.ranef['minorityYes'] with a 0/1 indicator of Catholic schools (one value per "
               "school, aligned on the school ids)")
def _ranef_corr():
    m = fit("ctx")
    catholic = (data().groupby("school")["sector"].first() == "Catholic").astype(float).loc[m.ranef.index]
    return float(np.corrcoef(m.ranef["minorityYes"], catholic)[0, 1])


@register("lab2-thin-share", rtol=1e-3,
          hint="the smallest eigenvalue of T divided by the sum of its eigenvalues (the trace of T)")
def _thin_share():
    w = np.linalg.eigvalsh(fit("rs_both").tau.to_numpy())
    return float(w.min() / w.sum())


@register("lab2-gap-catholic-50", rtol=1e-3,
          hint="add up the slim model's coefficients that involve minorityYes, each times the value its other "
               "variable takes in a Catholic school with p_min = 0.5")
def _gap_catholic_50():
    fe = fit("slim").fixef
    return float(fe["minorityYes"] + 0.5 * fe["minorityYes:p_min"] + fe["minorityYes:sectorCatholic"])


@register("lab2-best-re", kind="text",
          hint="compare fit.aic of the four fits with the same fixed part; answer with the random term as "
               "written in the formula, e.g. '(cses | school)'")
def _best_re():
    names = {"slim_ri": "(1 | school)", "slim_cses": "(cses | school)", "slim_min": "(minority | school)",
             "slim": "(cses + minority | school)"}
    aic = {names[k]: fit(k).aic for k in names}
    return min(aic, key=aic.get)


@register("lab2-pair-corr", rtol=1e-3,
          hint="for two students with the same z = (1, 0, 1): z'Tz / (z'Tz + sigma^2)")
def _pair_corr():
    m = fit("rs_both")
    z = np.array([1.0, 0.0, 1.0])
    v = float(z @ m.tau.to_numpy() @ z)
    return v / (v + m.sigma2)


@register("lab2-marginal-r2", rtol=1e-3,
          hint="variance of the fixed part (ddof=1) over the total: var_fixed + tau00 + sigma^2")
def _marginal_r2():
    from .. import marginal_conditional as mc

    return float(mc.nakagawa_r2(fit("final"))["marginal"])


@register("lab2-same-gap", kind="text",
          hint="does failing to reject a zero variance show that the variance is zero? Think of the power of the "
               "test when each school's gap rests on a few minority students: answer \"yes\" or \"no\"")
def _same_gap():
    return "no"
