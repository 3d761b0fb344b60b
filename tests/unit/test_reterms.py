"""The random-effects terms stage (lme4's mkReTrms) and the formula expansions behind it."""

import numpy as np
import pandas as pd
import pytest

from hlm_course.lmer import MixedModelError
from hlm_course.lmer.formula import model_frame, parse_formula
from hlm_course.lmer.reterms import check_re_terms, grouping_factor, mk_re_terms


@pytest.mark.parametrize("formula,terms", [
    ("y ~ x + (1 | a/b)", ["(1 | b:a)", "(1 | a)"]),
    ("y ~ (1 | a/b/c)", ["(1 | c:(b:a))", "(1 | b:a)", "(1 | a)"]),  # lme4's barnames
    ("y ~ x + (x || g) + (1 | h)", ["(1 | g)", "(0 + x | g)", "(1 | h)"]),
    ("y ~ (0 + x + z || g)", ["(0 + x | g)", "(0 + z | g)"]),
    ("y ~ (1 | a:b)", ["(1 | a:b)"]),
    ("y ~ (x | a) + (x | a:b)", ["(x | a)", "(x | a:b)"]),
    ("y ~ (1 | g) + (0 + x | g)", ["(1 | g)", "(0 + x | g)"]),
    ("y ~ x + (x | a/b)", ["(x | b:a)", "(x | a)"]),
])
def test_formula_expansions_are_lme4s(formula, terms):
    assert [str(t) for t in parse_formula(formula).terms] == terms


@pytest.mark.parametrize("formula,message", [
    ("y ~ (x | g) | g", "bar '\\|' outside"),
    ("y ~ x + (0 | g)", "no random effect"),
    ("y ~ x + (-1 | g)", "no random effect"),
    ("y ~ x + (1 | )", "no grouping factor"),
    ("y ~ x + (1 | log(g))", "must be a column"),
])
def test_bad_random_terms_are_refused_with_a_reason(formula, message):
    with pytest.raises(MixedModelError, match=message):
        parse_formula(formula)


def frame():
    rng = np.random.default_rng(7)
    n = 60
    return pd.DataFrame({"y": rng.normal(size=n), "x": rng.normal(size=n),
                         "a": rng.choice(["p", "q", "r"], n), "b": rng.choice([2, 1, 10], n),
                         "g": np.repeat(np.arange(12), 5), "f": rng.choice(["u", "v"], n)})


def reterms(formula, d):
    p = parse_formula(formula)
    cols = [c for c in d.columns]
    return mk_re_terms(p.terms, model_frame(d, cols).frame)


def test_interaction_levels_are_rs_a_slowest_unused_dropped():
    d = pd.DataFrame({"a": ["b", "a", "b", "a"], "b": [2, 1, 1, 1]})
    f = grouping_factor("a:b", d)
    assert list(f.categories) == ["a:1", "b:1", "b:2"]  # R: levels(factor(a:b)); a:2 unused
    assert list(f.codes) == [2, 0, 1, 0]


def test_terms_are_ordered_by_decreasing_levels_and_theta_lambda_as_lme4():
    d = frame()
    re = reterms("y ~ (x | a) + (1 | g)", d)  # a: 3 levels, g: 12 -> g first
    assert [t.group for t in re.terms] == ["g", "a"]
    assert re.Gp.tolist() == [0, 12, 18]
    assert re.theta.tolist() == [1, 1, 0, 1] and re.lower.tolist() == [0, 0, -np.inf, 0]
    assert re.cnms == [("g", ["(Intercept)"]), ("a", ["(Intercept)", "x"])]
    Lt = re.lambdat(np.array([0.5, 1.0, 2.0, 3.0])).toarray()
    np.testing.assert_array_equal(np.diag(Lt)[:12], 0.5)
    # term a: template [[1, 0], [2, 3]] (column-major lower triangle), Λ' block [[1, 2], [0, 3]] per level
    np.testing.assert_array_equal(Lt[12:14, 12:14], [[1.0, 2.0], [0.0, 3.0]])
    assert np.allclose(np.tril(Lt, -1), 0)
    assert list(re.flist) == ["g", "a"] and re.ngrps == {"g": 12, "a": 3}


def test_zt_is_the_khatri_rao_product_of_indicators_and_the_terms_model_matrix():
    d = frame()
    re = reterms("y ~ (x | a) + (1 | g)", d)
    Zt = re.Zt.toarray()
    a = re.terms[1]
    for lev in range(3):
        rows = a.codes == lev
        np.testing.assert_array_equal(Zt[12 + 2 * lev], rows.astype(float))
        np.testing.assert_array_equal(Zt[13 + 2 * lev], np.where(rows, d.x, 0.0))
    assert np.all(Zt[:12].sum(axis=0) == 1)


def test_equal_levels_keep_formula_order_and_double_bar_pieces_are_uncorrelated():
    re = reterms("y ~ (1 | g) + (0 + x | g)", frame())
    assert [t.columns for t in re.terms] == [["(Intercept)"], ["x"]]
    re = reterms("y ~ (x || g)", frame())
    assert [t.correlated for t in re.terms] == [False, False] and re.theta.tolist() == [1, 1]


def test_lme4s_checks_on_levels_and_random_effects():
    d = frame()
    with pytest.raises(MixedModelError, match="grouping factors must have > 1 sampled level"):
        check_re_terms(reterms("y ~ (1 | one)", d.assign(one=1)), len(d))
    with pytest.raises(MixedModelError, match="number of levels of each grouping factor must be < number of "
                                              "observations \\(problems: row"):
        check_re_terms(reterms("y ~ (1 | row)", d.assign(row=np.arange(len(d)))), len(d))
    with pytest.raises(MixedModelError, match=r"number of observations \(=60\) <= number of random effects "
                                              r"\(=60\) for term \(\(Intercept\) \+ x \| half\)"):
        check_re_terms(reterms("y ~ (x | half)", d.assign(half=np.arange(len(d)) // 2)), len(d))
