"""Issue 24 item 7: the properties the formula layer's fixes rest on, as Hypothesis tests, and a formula fuzz.

* a factor level with no row in the model frame (an unused pandas category, or a level whose rows all have
  a missing response) is no level of the model — the fit equals the fit without that level;
* the row order, the labels of the levels, integer or string codes of a grouping factor, and column names
  with or without dots do not change a fit;
* every generated formula fits or raises the package's own MixedModelError, never another exception.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hlm_course as hc
from hlm_course.lmer import MixedModelError

FORMULAS = ["y ~ x + (0 + f | g)", "y ~ x + f + (1 | g)", "y ~ x + (f | g)", "y ~ x * f + (x | g)",
            "y ~ x + (1 | g) + (0 + f | g)"]


def make_data(seed: int, J: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n_j = rng.integers(8, 14, size=J)
    g = np.repeat(np.arange(J), n_j)
    n = g.size
    f = rng.choice(["a", "b", "c"], n)
    x = rng.normal(size=n)
    y = 1 + .5 * x + (f == "b") * .7 + rng.normal(size=J)[g] + rng.normal(scale=.3, size=J)[g] * x \
        + rng.normal(size=n)
    return pd.DataFrame({"g": g, "x": x, "f": f, "y": y})


def fit(formula, data, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return hc.lmer(formula, data, **kw)


def same_fit(a, b, tol=1e-6):
    assert a.npar == b.npar and a.nobs == b.nobs
    crit_a, crit_b = a.pls.deviance(a.reml), b.pls.deviance(b.reml)
    assert crit_a == pytest.approx(crit_b, abs=tol * max(1.0, abs(crit_b)))
    np.testing.assert_allclose(a.fixef.to_numpy(), b.fixef.to_numpy(), atol=1e-4, rtol=1e-4)
    assert a.sigma == pytest.approx(b.sigma, rel=1e-4)


PROPS = settings(max_examples=8, deadline=None, derandomize=True)


@PROPS
@given(seed=st.integers(0, 10_000), formula=st.sampled_from(FORMULAS), how=st.sampled_from(["nan", "category"]))
def test_a_level_without_rows_is_no_level(seed, formula, how):
    d = make_data(seed)
    d["f"] = np.where(d.f == "c", "b", d.f)  # two levels with data
    base = fit(formula, d)
    if how == "nan":  # a third level whose every response is missing
        extra = d.sample(7, random_state=seed).assign(f="c", y=np.nan)
        other = pd.concat([d, extra], ignore_index=True)
    else:  # a pandas category that no row uses
        other = d.assign(f=pd.Categorical(d.f, categories=["a", "b", "zz"]))
    m = fit(formula, other)
    same_fit(m, base)
    assert "fc" not in m.fixef.index and "fzz" not in m.fixef.index
    assert all("zz" not in n and n != "fc" for n in m.random_names)


@PROPS
@given(seed=st.integers(0, 10_000), formula=st.sampled_from(FORMULAS), order_seed=st.integers(0, 2**31))
def test_row_order_does_not_change_the_fit(seed, formula, order_seed):
    d = make_data(seed)
    perm = np.random.default_rng(order_seed).permutation(len(d))
    same_fit(fit(formula, d.iloc[perm]), fit(formula, d))


@PROPS
@given(seed=st.integers(0, 10_000), formula=st.sampled_from(FORMULAS), code=st.sampled_from(["int", "str", "float",
                                                                                             "shuffled", "cat"]))
def test_group_labels_and_codes_do_not_change_the_fit(seed, formula, code):
    d = make_data(seed)
    base = fit(formula, d)
    J = d.g.max() + 1
    relabel = {"int": lambda g: g * 7 + 100, "str": lambda g: "school " + g.astype(str),
               "float": lambda g: g.astype(float) / 4,
               "shuffled": lambda g: pd.Series(np.random.default_rng(seed).permutation(J)[g], index=g.index),
               "cat": lambda g: pd.Categorical(g.map(lambda k: f"k{k}"), categories=[f"k{k}" for k in range(J)][::-1])}
    same_fit(fit(formula, d.assign(g=relabel[code](d.g))), base)


@PROPS
@given(seed=st.integers(0, 10_000), formula=st.sampled_from(FORMULAS))
def test_factor_level_labels_keep_the_fit(seed, formula):
    """Labels in the same sort order give the same coefficients (renamed); any relabelling the same criterion."""
    d = make_data(seed)
    base = fit(formula, d)
    same = fit(formula, d.assign(f=d.f.map({"a": "alpha", "b": "beta", "c": "gamma"})))
    same_fit(same, base)
    if "f |" in formula or "f||" in formula:
        return  # a new reference level reparametrizes Λθ too: see test_reference_level_of_a_random_factor below
    swapped = fit(formula, d.assign(f=d.f.map({"a": "c", "b": "a", "c": "b"})))
    assert swapped.pls.deviance(True) == pytest.approx(base.pls.deviance(True), abs=1e-5 * abs(base.pls.deviance(True)))


@pytest.mark.xfail(strict=True, reason="optimizer, not formula: with (f | g) singular (3 × 3 T of rank < 3) and the "
                   "reference level changed, BOBYQA and its restarts stop at a boundary local optimum 0.32 above "
                   "the one lme4 (and our fit with the original labels) reaches; found by the property above")
def test_reference_level_of_a_random_factor():
    """A new reference level of f in (f | g) is a linear reparametrization of the unstructured T: the same
    optimum (lme4: 412.7149 for both labellings of make_data(0))."""
    d = make_data(0)
    base = fit("y ~ x + (f | g)", d)
    swapped = fit("y ~ x + (f | g)", d.assign(f=d.f.map({"a": "c", "b": "a", "c": "b"})))
    assert base.reml_criterion == pytest.approx(412.7149, abs=1e-3)
    assert swapped.reml_criterion == pytest.approx(base.reml_criterion, abs=1e-4)


@PROPS
@given(seed=st.integers(0, 10_000), formula=st.sampled_from(FORMULAS),
       names=st.sampled_from([("x.1", "g.grp", "y.T", "f.f"), ("x_1", "g_grp", "y_T", "f_f"),
                              ("x.index", "g.T", "y.shape", "f.values"), ("IQ.verb", "school.id", "score.2", "sex.")]))
def test_column_names_dotted_or_not_do_not_change_the_fit(seed, formula, names):
    d = make_data(seed)
    base = fit(formula, d)
    xn, gn, yn, fn = names
    other = d.rename(columns={"x": xn, "g": gn, "y": yn, "f": fn})
    renamed = formula.replace("y ~", f"{yn} ~").replace("x", xn).replace("| g", f"| {gn}").replace("f", fn)
    m = fit(renamed, other)
    same_fit(m, base)
    assert list(m.fixef.index) == [n.replace("x", xn).replace("f", fn) if n != "(Intercept)" else n
                                   for n in base.fixef.index]
    # and a name in backticks is the same column
    m2 = fit(renamed.replace(f"{xn}", f"`{xn}`"), other)
    same_fit(m2, base)


# ---- a formula fuzz ----------------------------------------------------------------------------------------------
def fuzz_data(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    J, K = 20, 4
    g = np.repeat(np.arange(J), 15)
    n = g.size
    d = pd.DataFrame({"g": g, "g2": rng.integers(0, K, n), "x": rng.normal(size=n), "z": rng.uniform(0, 5, n),
                      "f": rng.choice(["a", "b", "c"], n), "h": rng.choice(["lo", "hi"], n),
                      "o": rng.uniform(-.5, .5, n), "b": rng.random(n) < .5, "w": 1.0})
    d["y"] = 1 + d.x + rng.normal(size=J)[g] + rng.normal(size=n) + 10
    d["y.dot"] = d.y * 2
    d["x.dot"] = rng.normal(size=n)
    d["x.near"] = d.x + 1e-9 * rng.normal(size=n)
    d["fcat"] = pd.Categorical(d.f, categories=["a", "b", "c", "unused"])
    d.loc[rng.choice(n, 6, replace=False), "y"] = np.nan
    d.loc[d.f == "c", "y.dot"] = np.nan
    return d


RESPONSES = ["y", "log(y)", "I(y/10)", "y.dot", "`y.dot`", "sqrt(y)"]
BAD_RESPONSES = ["y.T", "exp(y * 100)", "f", "b", "nosuch", "y.dot.T"]
FIXED = ["x", "z", "f", "h", "x:f", "x*h", "I(x^2)", "scale(x)", "poly(x, 2)", "poly(z, 3)", "C(f, sum)",
         "C(f, contr.helmert)", "x.dot", "`x.dot`", "Q('x.dot')", "offset(o)", "0", "1", "w", "x.near", "fcat",
         "log(z)", "b", "factor(g2)", "as.numeric(b)", "exp(x)", "(x + z)^2", "C(h, Sum)", "-1"]
BAD_FIXED = ["x.index", "poly(x, 200)", "nosuch", "x.nosuch(x)", "I(x", "x +", "x %in% f", "log(x)", "y.T",
             "poly(y, 2)", "C(f, nosuch)", "Q(x)"]
RANDOM_EXPR = ["1", "x", "0 + x", "f", "0 + f", "1 + z", "offset(o)", "x + z", "h", "fcat", "scale(z)", "x.dot",
               "1 + x.near", "poly(x, 2)", "b", "x - 1", "0 + fcat", "1 + h"]
BAD_RANDOM_EXPR = ["0", "-1", "(x | g)", "", "nosuch", "0 + offset(o)", "y.T"]
GROUPS = ["g", "g2", "g:g2", "g/g2", "g2/g", "h:f"]
BAD_GROUPS = ["x", "nosuch", "g + g2", "(g)", "1", "f", "`g`", "g.T"]


def pick(rng, good, bad, p_bad=.08):
    return str(rng.choice(bad if rng.random() < p_bad else good))


def random_formula(rng, quick: bool = False) -> str:
    """A formula from the lists above (a bad item now and then); ``quick``: one random-effects term on g or g2
    (the overparametrized multi-term models the full grammar makes take seconds each)."""
    rhs = [pick(rng, FIXED, BAD_FIXED) for _ in range(rng.integers(0, 4))]
    groups = ["g", "g2", "`g`"] if quick else GROUPS
    for _ in range((1 if quick else rng.integers(1, 3)) if rng.random() < .95 else 0):
        bar = "||" if rng.random() < .25 else "|"
        rhs.append(f"({pick(rng, RANDOM_EXPR, BAD_RANDOM_EXPR)} {bar} {pick(rng, groups, BAD_GROUPS)})")
    rng.shuffle(rhs)
    out = f"{pick(rng, RESPONSES, BAD_RESPONSES)} ~ {' + '.join(rhs) if rhs else '1'}"
    if rng.random() < .05:  # a mangled formula
        k = rng.integers(0, len(out))
        out = out[:k] + str(rng.choice(["(", ")", "|", "~", "+", "'", "`"])) + out[k:]
    return out


def run_fuzz(n: int, seed: int, quick: bool = False) -> dict:
    rng = np.random.default_rng(seed)
    data = fuzz_data(seed)
    counts = {"fit": 0, "error": 0}
    for _ in range(n):
        formula = random_formula(rng, quick)
        try:
            m = fit(formula, data)
        except MixedModelError as err:
            counts["error"] += 1
            counts.setdefault("messages", []).append((formula, str(err)))
            continue
        except Exception as err:  # pragma: no cover - what the test is for
            raise AssertionError(f"{formula!r} raised {type(err).__name__}: {err}") from err
        assert np.isfinite(m.pls.deviance(m.reml)), formula
        assert len(m.fixef) + int(np.sum(m.free)) + 1 == m.npar, formula
        # predict on the fitted rows, through the model frame again, gives the fitted values
        try:
            p = m.predict(m.data)
        except Exception as err:  # pragma: no cover - what the test is for
            raise AssertionError(f"predict of {formula!r} raised {type(err).__name__}: {err}") from err
        np.testing.assert_allclose(p.to_numpy(), m.fitted.to_numpy(), rtol=1e-8, atol=1e-8, err_msg=formula)
        counts["fit"] += 1
    return counts


def test_formula_fuzz_quick():
    counts = run_fuzz(50, seed=24, quick=True)
    assert counts["fit"] >= 20 and counts["error"] >= 5  # the fuzz exercises both outcomes


@pytest.mark.slow
def test_formula_fuzz_large():
    """400 formulas of the full grammar (several terms, nested and crossed factors; about 4 minutes)."""
    counts = {"fit": 0, "error": 0}
    for seed in range(2):
        c = run_fuzz(200, seed=1000 + seed)
        counts = {k: counts[k] + c[k] for k in counts}
    assert counts["fit"] >= 150 and counts["error"] >= 60


def test_a_column_named_like_an_r_constant_or_contrast_is_the_column():
    """R's T, F, TRUE, pi and the contrast names (sum, treatment) are constants only where the data have no
    column of that name, as in R: a temperature column T is T."""
    d = make_data(5).assign(T=lambda t: 2 * t.x, treatment=lambda t: t.f, pi=lambda t: -t.x)
    base = fit("y ~ x + (1 | g)", d)
    m = fit("y ~ T + (1 | g)", d)
    assert m.fixef["T"] == pytest.approx(base.fixef["x"] / 2, rel=1e-6)
    assert fit("y ~ pi + (1 | g)", d).fixef["pi"] == pytest.approx(-base.fixef["x"], rel=1e-6)
    assert fit("y ~ I(x * pi) + (1 | g)", d.drop(columns="pi")).fixef["I(x * pi)"] == \
        pytest.approx(base.fixef["x"] / np.pi, rel=1e-6)
    assert list(fit("y ~ treatment + (1 | g)", d).fixef.index) == ["(Intercept)", "treatmentb", "treatmentc"]
    assert list(fit("y ~ C(f, treatment) + (1 | g)", d).fixef.index) == \
        ["(Intercept)", "C(f, treatment)b", "C(f, treatment)c"]
