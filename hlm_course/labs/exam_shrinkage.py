"""Self-checks of chapter 6, "Each school's line: shrinkage and confidence intervals"
(chapters/06_exam_shrinkage_ci.md).

The right answers refit the chapter's model to Kaplan's London Exam data (``hc.load_exam()``).
"""

from __future__ import annotations

import numpy as np

from . import register

#: The chapter's model, and the rescaled predictor of its exercise on units.
FORMULA = "normexam ~ standLRT + (standLRT | school)"
FORMULA_X10 = "normexam ~ lrt10 + (lrt10 | school)"


@register("ch06-units-ratio", kind="array", rtol=1e-4,
          hint="for eq. 3.16 (hc.shrinkage_ci with its defaults): the median over schools of (new width) / "
               "(old width), first for the intercepts, then for the slopes")
def _units_ratio():
    from .. import lmer, load_exam, shrinkage_ci

    exam = load_exam()
    old = shrinkage_ci(lmer(FORMULA, exam))
    new = shrinkage_ci(lmer(FORMULA_X10, exam.assign(lrt10=exam["standLRT"] / 10)))
    r = ((new.upper - new.lower) / (old.upper - old.lower)).to_numpy()
    return [float(np.median(r[(old.term == term).to_numpy()])) for term in ("(Intercept)", "standLRT")]
