"""Self-checks of chapters 8-13 on the full High School and Beyond data (chapters/08_ to 13_*.md).

Every answer is computed with the course's own fits of the models the chapters fit.
"""

from __future__ import annotations

import functools

import numpy as np

from . import register

RC = "mathach ~ cses + (cses | school)"
ISA = "mathach ~ cses*mean_ses + cses*sector + (cses | school)"


@functools.lru_cache(maxsize=None)
def _fit(formula: str):
    from .. import lmer, load_hsb

    return lmer(formula, load_hsb())


@register("ch08-negative-ols", hint="hc.lm_list(hsb, y='mathach', x='cses', group='school'): count the slopes "
                                    "below zero")
def _negative_ols():
    from .. import lm_list, load_hsb

    ols = lm_list(load_hsb(), y="mathach", x="cses", group="school")
    return int((ols["slope"] < 0).sum())


@register("ch09-slope-diff", hint="the slopes of the two schools differ only in the cses:sectorCatholic term")
def _slope_diff():
    return float(_fit(ISA).fixef["cses:sectorCatholic"])


@register("ch10-lrt-sector-slope", rtol=1e-3,
          hint="hc.anova(without, with) of the ML refits; the statistic is in the 'Chisq' column")
def _lrt_sector_slope():
    from .. import anova

    table = anova(_fit("mathach ~ cses*mean_ses + sector + (cses | school)"), _fit(ISA))
    return float(table["Chisq"].iloc[1])


@register("ch10-mixture-p", rtol=1e-2,
          hint="hc.anova(random intercept, random slope, refit=False): the 'Pr(mixture)' column")
def _mixture_p():
    from .. import anova

    table = anova(_fit("mathach ~ cses*mean_ses + cses*sector + (1 | school)"), _fit(ISA), refit=False)
    return float(table["Pr(mixture)"].iloc[1])


@register("ch11-r-meanses", rtol=1e-3, hint="np.corrcoef of each school's mean_ses and its rc.ranef intercept")
def _r_meanses():
    from .. import load_hsb

    u0 = _fit(RC).ranef["(Intercept)"]
    school = load_hsb().groupby("school")["mean_ses"].first().loc[u0.index]
    return float(np.corrcoef(school, u0)[0, 1])


@register("ch12-chi2-null", hint="sum over schools of (mean - gamma00)^2 / (sigma2 / n_j), from the null model")
def _chi2_null():
    from .. import variance_tests

    return float(variance_tests(_fit("mathach ~ 1 + (1 | school)"))["chisq"].iloc[0])


@register("ch12-reliability-10", hint="tau00 / (tau00 + sigma2 / 10), with the null model's estimates")
def _reliability_10():
    null = _fit("mathach ~ 1 + (1 | school)")
    tau00 = null.tau.iloc[0, 0]
    return float(tau00 / (tau00 + null.sigma2 / 10))


@register("ch13-icc", hint="tau00 / (tau00 + sigma2) of the default MixedLM fit (or of hc.lmer's, which it "
                           "should match)")
def _icc():
    null = _fit("mathach ~ 1 + (1 | school)")
    tau00 = null.tau.iloc[0, 0]
    return float(tau00 / (tau00 + null.sigma2))
