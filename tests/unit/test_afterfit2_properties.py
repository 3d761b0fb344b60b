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


# ---------------------------------------------------------------------------------------------------------------
# the one-model anova
# ---------------------------------------------------------------------------------------------------------------
def quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kw)


def school_data(seed=3, J=20, n=12):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(J), n)
    x = rng.normal(size=J * n)
    sector = np.where(np.arange(J) % 2 == 0, "Public", "Catholic")[g]
    y = 10 + 2 * x + 1.5 * (sector == "Catholic") - 0.7 * x * (sector == "Catholic") + rng.normal(0, 1.2, J)[g] \
        + rng.normal(0, 2, J * n)
    return pd.DataFrame({"y": y, "x": x, "sector": pd.Categorical(sector, ["Public", "Catholic"]),
                         "g": [f"s{k:02d}" for k in g]})


SCHOOLS = school_data()
SCHOOL_FIT = quiet(hc.lmer, "y ~ x * sector + (1 | g)", SCHOOLS)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False))
def test_the_anova_table_does_not_depend_on_row_order(rnd):
    idx = list(range(len(SCHOOLS)))
    rnd.shuffle(idx)
    shuffled = quiet(hc.lmer, "y ~ x * sector + (1 | g)", SCHOOLS.iloc[idx])
    a, b = SCHOOL_FIT.anova(), shuffled.anova()
    assert list(a.index) == list(b.index) == ["x", "sector", "x:sector"]
    # two optimizations of one criterion: θ̂ agrees to the optimizer's tolerance, the table to 1e-5
    np.testing.assert_allclose(b.to_numpy(), a.to_numpy(), rtol=1e-5)


def test_the_last_terms_f_is_its_squared_t_and_the_sums_add_up():
    """The last term enters last: its 1-df F value is the square of its coefficient's t value; and the sums of
    squares of all terms (with the intercept's) are ‖R_X β̂‖², σ̂² times β̂' V⁻¹ β̂."""
    fit = SCHOOL_FIT
    tab = fit.anova()
    t_last = fit.coef_table["t value"].iloc[-1]
    assert tab["F value"].iloc[-1] == pytest.approx(t_last ** 2, rel=1e-8)
    beta = fit.fixef.to_numpy()
    quad = beta @ np.linalg.solve(fit.vcov.to_numpy(), beta) * fit.sigma ** 2
    rx = np.linalg.cholesky(np.linalg.inv(fit.vcov.to_numpy()) * fit.sigma ** 2).T
    intercept_ss = (rx @ beta)[0] ** 2
    assert tab["Sum Sq"].sum() + intercept_ss == pytest.approx(quad, rel=1e-8)


def test_anova_of_one_fit_refuses_other_models_with_a_pointer():
    with pytest.raises(MixedModelError, match=r"hc.anova\(m0, m1"):
        SCHOOL_FIT.anova(SCHOOL_FIT)
    no_intercept = quiet(hc.lmer, "y ~ 0 + sector + x + (1 | g)", SCHOOLS)
    tab = no_intercept.anova()
    assert list(tab.index) == ["sector", "x"] and list(tab["npar"]) == [2, 1]


# ---------------------------------------------------------------------------------------------------------------
# glmer: predict with a partial re_form
# ---------------------------------------------------------------------------------------------------------------
def counts_data(seed=5):
    rng = np.random.default_rng(seed)
    a, b = np.meshgrid(np.arange(15), np.arange(8), indexing="ij")
    a, b = np.repeat(a.ravel(), 2), np.repeat(b.ravel(), 2)
    x = rng.normal(size=a.size)
    expo = rng.uniform(1, 3, a.size)
    eta = 0.3 + 0.4 * x + np.log(expo) + rng.normal(0, 0.6, 15)[a] + rng.normal(0, 0.4, 8)[b]
    return pd.DataFrame({"y": rng.poisson(np.exp(eta)), "x": x, "a": [f"a{k:02d}" for k in a],
                         "b": [f"b{k}" for k in b], "lexpo": np.log(expo)})


COUNTS = counts_data()
GCOUNTS = quiet(hc.glmer, "y ~ x + (1 | a) + (1 | b)", COUNTS, family="poisson", offset="lexpo")


def test_a_partial_re_form_adds_the_named_terms_modes_and_the_offset():
    fit = GCOUNTS
    pop = fit.predict(re_form="NA")
    only_a = fit.predict(re_form="~(1 | a)")
    both = fit.predict(re_form="~(1 | a) + (1 | b)")
    np.testing.assert_allclose(both, fit.predict(), atol=1e-12)  # every term named: re_form=None
    np.testing.assert_allclose(only_a - pop, fit.ranef["a"].loc[COUNTS["a"], "(Intercept)"].to_numpy(), atol=1e-12)
    np.testing.assert_allclose(fit.predict(re_form="~(1 | b)", type="response"),
                               np.exp(fit.predict(re_form="~(1 | b)")), rtol=1e-12)
    # new data: the offset column is used, a new level of b gets zero, b is not needed for ~(1 | a)
    nd = pd.DataFrame({"x": [0.0, 1.0], "a": ["a00", "a03"], "lexpo": [0.0, np.log(2.0)]})
    got = fit.predict(nd, re_form="~(1 | a)")
    re_a = fit.ranef["a"]["(Intercept)"]
    want = fit.fixef["(Intercept)"] + fit.fixef["x"] * nd["x"] + nd["lexpo"] + re_a.loc[nd["a"]].to_numpy()
    np.testing.assert_allclose(got, want, atol=1e-12)


def test_glmer_partial_re_form_bad_input():
    with pytest.raises(MixedModelError, match="not present in original model"):
        GCOUNTS.predict(re_form="~(x | a)")
    with pytest.raises(MixedModelError, match="newdata lacks column"):
        GCOUNTS.predict(pd.DataFrame({"x": [0.0], "lexpo": [0.0]}), re_form="~(1 | a)")
    with pytest.raises(MixedModelError, match="re_form must be None"):
        GCOUNTS.predict(re_form=3)
    arr = quiet(hc.glmer, "y ~ x + (1 | a) + (1 | b)", COUNTS, family="poisson", offset=COUNTS["lexpo"].to_numpy())
    np.testing.assert_allclose(arr.predict(re_form="~(1 | a)"), GCOUNTS.predict(re_form="~(1 | a)"), atol=1e-6)
    with pytest.raises(MixedModelError, match="offset= an array"):
        arr.predict(COUNTS.head(2), re_form="~(1 | a)")
