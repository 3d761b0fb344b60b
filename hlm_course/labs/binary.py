"""Self-checks of chapter 18, "Binary outcomes" (chapters/18_binary_outcomes.md).

Every check computes its right answer from mlmRev's Contraception data with the course's own tools
(:func:`hlm_course.glmer`, :func:`hlm_course.load_contraception`); nothing is typed in except the inputs an
exercise gives the student (the woman whose probability is predicted), which are constants of this module that
the chapter prints.
"""

from __future__ import annotations

import functools
import math
import warnings

from . import register, wald_ratio

#: The chapter's logistic GLMM (a random intercept per district, Laplace approximation).
FORMULA = "use ~ age + I(age^2) + urban + livch + (1 | district)"

#: The random-slope model of the exercise on the latent ICC among urban women.
SLOPE_FORMULA = "use ~ age + I(age^2) + urban + livch + (urban | district)"

#: Exercise "one woman's probability": a rural woman aged 5 years above the mean age with one living child,
#: in district 11.
WOMAN = {"age": 5.0, "urban": "N", "livch": "1", "district": 11}


@functools.lru_cache(maxsize=2)
def _fit(formula: str):
    from .. import glmer, load_contraception

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return glmer(formula, load_contraception(), family="binomial")


def binary_model():
    """The chapter's fit of :data:`FORMULA` (cached)."""
    return _fit(FORMULA)


@register("binary-which-model", kind="text",
          hint="which of the two questions averages over all the districts, and which model's coefficients "
               "are averages over districts?")
def _which_model():
    return "GEE"


@register("binary-or-livch3", kind="array", rtol=1e-3,
          hint="exp of the livch3+ coefficient and of coefficient -/+ 1.96 (more exactly, the normal 97.5% "
               "quantile) times its standard error: [odds ratio, lower, upper]")
def _or_livch3():
    return wald_ratio(binary_model(), "livch3+")


@register("binary-icc-urban", rtol=1e-3,
          hint="in the (urban | district) model the district variance for an urban woman is tau00 + 2 tau03 + "
               "tau33 (tau03 = correlation x both SDs); the latent ICC divides it by itself plus pi^2 / 3")
def _icc_urban():
    vc = _fit(SLOPE_FORMULA).varcorr
    sd0, sd3 = float(vc["Std.Dev."].iloc[0]), float(vc["Std.Dev."].iloc[1])
    var_urban = sd0 ** 2 + 2 * float(vc["Corr.(Intercept)"].iloc[1]) * sd0 * sd3 + sd3 ** 2
    return var_urban / (var_urban + math.pi ** 2 / 3)


@register("binary-predict-woman", rtol=1e-3,
          hint="fit.predict(a one-row DataFrame with age, urban, livch and district, type='response') -- "
               "conditional on district 11's random intercept")
def _predict_woman():
    import pandas as pd

    new = pd.DataFrame({k: [v] for k, v in WOMAN.items()})
    return float(binary_model().predict(new, type="response").iloc[0])
