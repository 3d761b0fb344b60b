"""After the fit, part 2, against lme4 1.1-31 / R 4.2.2: R's ``update.formula`` with ``^`` and ``%in%``; the
one-model ``anova`` (lme4's sequential table of the fixed effects); ``predict`` of glmer fits with a partial
``re_form``.

Reference: tests/reference/afterfit2_lme4.json, written by tests/r/afterfit2_reference.R.  Tolerances are
given beside each test.
"""

from __future__ import annotations

import warnings

import pytest

from hlm_course.lmer import MixedModelError
from hlm_course.lmer.update import update_formula
from conftest import reference

REF = reference("afterfit2_lme4")


# ---------------------------------------------------------------------------------------------------------------
# update.formula: R's printed result, exactly
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", REF["update"], ids=lambda c: f"{c['old']} | {c['new']}")
def test_update_formula_prints_what_r_prints(case):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # '. ~ . - a:c' of a formula without a:c: R is silent, we warn
        assert update_formula(case["old"], case["new"]) == case["result"]


@pytest.mark.parametrize("case", REF["update_errors"], ids=lambda c: c["old"])
def test_update_formula_refuses_the_powers_r_refuses(case):
    assert case["error"] == "invalid power in formula"
    with pytest.raises(MixedModelError, match="invalid power in formula"):
        update_formula(case["old"], case["new"])
