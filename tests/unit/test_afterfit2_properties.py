"""After the fit, part 2: properties that need no R — R's formula algebra in update_formula (``^``, ``%in%``),
the one-model anova, glmer's partial re_form, simulate's re_form.  lme4's numbers are checked in
tests/against_r/test_afterfit2.py."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hlm_course as hc
from hlm_course.lmer import MixedModelError
from hlm_course.lmer.update import update_formula

VARS = ["a", "b", "c", "d"]


# ---------------------------------------------------------------------------------------------------------------
# update_formula: R's terms algebra
# ---------------------------------------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(st.permutations(VARS), st.integers(2, 4))
def test_a_power_of_a_sum_is_every_product_up_to_its_order(order, k):
    """(a + b + c + d)^k has one term per non-empty subset of at most k variables, whatever the order the
    variables are written in, and updating it with '. ~ .' changes nothing (the result is R's normal form)."""
    out = update_formula(f"y ~ ({' + '.join(order)})^{k}", ". ~ .")
    terms = out.split(" ~ ")[1].split(" + ")
    from math import comb

    assert len(terms) == sum(comb(4, r) for r in range(1, k + 1))
    assert [len(t.split(":")) for t in terms] == sorted(len(t.split(":")) for t in terms)  # by degree
    for t in terms:  # each label lists its variables in the order they were written
        vs = t.split(":")
        assert vs == sorted(vs, key=order.index)
    assert update_formula(out, ". ~ .") == out


@settings(max_examples=40, deadline=None)
@given(st.permutations(["a", "b", "c"]))
def test_removing_an_interaction_does_not_depend_on_how_it_is_spelled(order):
    """a:b and b:a are one term: removing either from (a + b + c)^2 leaves the same formula."""
    x, y_ = order[0], order[1]
    one = update_formula("y ~ (a + b + c)^2", f". ~ . - {x}:{y_}")
    other = update_formula("y ~ (a + b + c)^2", f". ~ . - {y_}:{x}")
    assert one == other
    assert len(one.split(" + ")) == 5


def test_in_is_nesting():
    assert update_formula("y ~ a + b %in% a", ". ~ .") == "y ~ a + a:b"
    assert update_formula("y ~ (a + b) %in% c", ". ~ .") == "y ~ a:c + b:c"
    assert update_formula("y ~ a %in% (b + c)", ". ~ .") == "y ~ a:b:c"


def test_bad_formulas_are_refused_with_reasons():
    with pytest.raises(MixedModelError, match="invalid power in formula"):
        update_formula("y ~ (a + b)^1", ". ~ .")
    with pytest.raises(MixedModelError, match="unknown operator"):
        update_formula("y ~ a %o% b", ". ~ .")
    with pytest.raises(MixedModelError, match="the number 2 is not a term"):
        update_formula("y ~ a + 2", ". ~ .")
    with pytest.raises(MixedModelError, match="unbalanced"):
        update_formula("y ~ (a + b", ". ~ .")
    with pytest.warns(UserWarning, match="'a:c' not in the formula"):
        assert update_formula("y ~ (a + b)^2", ". ~ . - c:a") == "y ~ a + b + a:b"
