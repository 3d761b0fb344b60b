"""Self-checks of chapter 19, "Crossed memberships" (chapters/19_crossed_memberships.md).

Every check computes its right answer from mlmRev's ``ScotsSec`` (``hc.load_scotssec()``) with the course's own
``hc.lmer``; nothing is typed in except what an exercise gives the student (the pupil whose attainment is
predicted), which are constants of this module that the chapter prints.
"""

from __future__ import annotations

import functools
import warnings

import pandas as pd

from . import register

#: The models of the chapter (REML), by the names tests/r/crossed_reference.R gives them.
FORMULAS = {
    "null": "attain ~ 1 + (1 | primary) + (1 | second)",
    "null_primary": "attain ~ 1 + (1 | primary)",
    "null_second": "attain ~ 1 + (1 | second)",
    "null_nested": "attain ~ 1 + (1 | second/primary)",
    "crossed": "attain ~ verbal + sex + social + (1 | primary) + (1 | second)",
    "primary": "attain ~ verbal + sex + social + (1 | primary)",
    "second": "attain ~ verbal + sex + social + (1 | second)",
    "nested": "attain ~ verbal + sex + social + (1 | second/primary)",
    "ctx_crossed": "attain ~ verbal + sex + social + primary_verbal + (1 | primary) + (1 | second)",
    "ctx_second": "attain ~ verbal + sex + social + primary_verbal + (1 | second)",
}

#: Exercise "one pupil's expected attainment": a girl with verbal score 10 and social class 20 who went to
#: primary school 1 and secondary school 9.
PUPIL = {"verbal": 10, "sex": "F", "social": 20, "primary": 1, "second": 9}


def crossed_data() -> pd.DataFrame:
    """``hc.load_scotssec()`` with ``primary_verbal``, the mean verbal score of the pupil's primary school."""
    from .. import load_scotssec

    sco = load_scotssec()
    sco["primary_verbal"] = sco.groupby("primary")["verbal"].transform("mean")
    return sco


@functools.lru_cache(maxsize=None)
def fit(name: str):
    """The REML fit of ``FORMULAS[name]`` to :func:`crossed_data`."""
    from .. import lmer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lmer(FORMULAS[name], crossed_data())


def variances(fit_) -> pd.Series:
    """The variance components of a random-intercept fit, keyed by lme4's group names (and ``Residual``)."""
    vc = fit_.varcorr
    return pd.Series(vc["Variance"].to_numpy(dtype=float), index=list(vc["Groups"]), name="variance")


@register("crossed-shared-components", kind="set",
          hint="write each pupil's attainment as fixed part + u_primary + u_second + e; which of the three random "
               "terms do two pupils of different primaries but the same secondary share?")
def _shared_components():
    return {"second"}


@register("crossed-main-share", rtol=1e-6,
          hint="count the pupils of each primary x secondary combination (pd.crosstab), take each primary's "
               "largest count (its main secondary), add them up and divide by the number of pupils")
def _main_share():
    sco = crossed_data()
    counts = pd.crosstab(sco["primary"], sco["second"])
    return float(counts.max(axis=1).sum() / len(sco))


@register("crossed-icc-both", rtol=1e-3,
          hint="in the crossed model with verbal, sex and social: (primary variance + secondary variance) / "
               "(primary + secondary + residual variance)")
def _icc_both():
    v = variances(fit("crossed"))
    return float((v["primary"] + v["second"]) / v.sum())


@register("crossed-lrt-primary", rtol=1e-3,
          hint="the REML criterion of the model without (1 | primary) minus that of the crossed model, both with "
               "verbal, sex and social (hc.anova(..., refit=False) prints it as Chisq)")
def _lrt_primary():
    return float(fit("second").reml_criterion - fit("crossed").reml_criterion)


@register("crossed-predict-pupil", rtol=1e-4,
          hint="the fixed part at the pupil's verbal, sex and social, plus the conditional modes of primary 1 "
               "and secondary 9 from fit.ranef")
def _predict_pupil():
    m = fit("crossed")
    b = m.fixef
    fixed = (b["(Intercept)"] + b["verbal"] * PUPIL["verbal"] + b["sexF"] * (PUPIL["sex"] == "F")
             + b["social"] * PUPIL["social"])
    u_p = m.ranef["primary"]["(Intercept)"]
    u_s = m.ranef["second"]["(Intercept)"]
    u_p.index = u_p.index.map(str)
    u_s.index = u_s.index.map(str)
    return float(fixed + u_p[str(PUPIL["primary"])] + u_s[str(PUPIL["second"])])
