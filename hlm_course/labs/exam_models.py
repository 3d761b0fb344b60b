"""Self-checks of chapters 5 and 7 on the London Exam data (chapters/05_exam_models.md, 07_exam_comparison.md)."""

from __future__ import annotations

import functools

from . import register

HLM = "normexam ~ standLRT + (standLRT | school)"


@functools.lru_cache(maxsize=1)
def _m3():
    from .. import lmer, load_exam

    return lmer(HLM, load_exam())


@register("ch05-ml-deviance", hint="refit the hierarchical linear model with reml=False and read its deviance")
def _ml_deviance():
    return float(_m3().refit(reml=False).deviance)


@register("ch07-tau00-share", rtol=1e-2,
          hint="1 - tau00 of the model with schavg / tau00 of the hierarchical model (both REML)")
def _tau00_share():
    from .. import lmer, load_exam

    m4 = lmer("normexam ~ standLRT + schavg + (standLRT | school)", load_exam())
    return float(1 - m4.tau.iloc[0, 0] / _m3().tau.iloc[0, 0])
