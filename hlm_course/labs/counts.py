"""Self-checks of chapter 20, "Counts" (chapters/20_counts.md).

Every check computes its right answer from mlmRev's Mmmec data with the course's own tools
(:func:`hlm_course.glmer`, :func:`hlm_course.load_mmmec`); nothing is typed in except the inputs an exercise
gives the student (the county whose mean is predicted, the UVB difference), which are constants of this module
that the chapter prints.
"""

from __future__ import annotations

import functools
import math
import warnings

from . import register, wald_ratio

#: The chapter's Poisson GLMM with regions within nations and a county-level (observation-level) effect.
OLRE_FORMULA = "deaths ~ uvb + offset(log(expected)) + (1 | nation/region) + (1 | county)"

#: The same model without the observation-level effect.
NESTED_FORMULA = "deaths ~ uvb + offset(log(expected)) + (1 | nation/region)"

#: Exercise "a rate ratio for 5 units of UVB".
UVB_STEP = 5.0

#: Exercise "what the county variance means": a county whose mean count, given its region and nation, is 100.
COUNTY_MEAN = 100.0

#: Exercise "conditional and marginal means": a new county with this UVB dose and expected count.
NEW_COUNTY = {"uvb": 2.0, "expected": 40.0}


@functools.lru_cache(maxsize=2)
def _fit(formula: str):
    from .. import glmer, load_mmmec

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return glmer(formula, load_mmmec(), family="poisson")


def olre_model():
    """The chapter's fit of :data:`OLRE_FORMULA` (cached)."""
    return _fit(OLRE_FORMULA)


def _variances(fit) -> dict:
    vc = fit.varcorr
    return dict(zip(vc["Groups"], vc["Variance"].astype(float)))


@register("counts-underdispersed", kind="text",
          hint="compare the observed Pearson ratio with the ratios of data simulated from the same model, not "
               "with 1: is the observed value unusual among them?")
def _underdispersed():
    return "no"


@register("counts-rr-uvb5", kind="array", rtol=1e-3,
          hint="exp of 5 times the uvb coefficient of the OLRE model, and exp of 5 times (coefficient -/+ 1.96 "
               "(the normal 97.5% quantile) times its SE): [rate ratio, lower, upper]")
def _rr_uvb5():
    return wald_ratio(olre_model(), "uvb", step=UVB_STEP)


@register("counts-olre-ratio", rtol=1e-3,
          hint="a Poisson count whose log-mean has a normal county effect of variance s2 has variance "
               "mu + mu^2 (exp(s2) - 1): divide by the Poisson variance mu, with mu = 100 and s2 the county "
               "variance")
def _olre_ratio():
    s2 = _variances(olre_model())["county"]
    return 1 + COUNTY_MEAN * (math.exp(s2) - 1)


@register("counts-marginal-mean", rtol=1e-3,
          hint="expected x exp(intercept + uvb coefficient x uvb + (sum of the three variances) / 2)")
def _marginal_mean():
    fit = olre_model()
    eta = float(fit.fixef["(Intercept)"]) + float(fit.fixef["uvb"]) * NEW_COUNTY["uvb"]
    total = sum(_variances(fit).values())
    return NEW_COUNTY["expected"] * math.exp(eta + total / 2)


@register("counts-offset-hundreds", rtol=1e-3,
          hint="log(expected / 100) = log(expected) - log(100): the offset loses log(100), and the intercept "
               "takes it up; refit with a column expected / 100 in the offset to see it")
def _offset_hundreds():
    from .. import glmer, load_mmmec

    data = load_mmmec()
    data["expected100"] = data["expected"] / 100
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = glmer(NESTED_FORMULA.replace("log(expected)", "log(expected100)"), data, family="poisson")
    return float(fit.fixef["(Intercept)"])
