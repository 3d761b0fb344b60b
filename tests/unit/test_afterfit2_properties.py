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
from test_after_fit_properties import crossed, two_level  # the data sets of part 1's simulate tests

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


# ---------------------------------------------------------------------------------------------------------------
# simulate with re_form (lme4's re.form): which random effects are held at their conditional modes
# ---------------------------------------------------------------------------------------------------------------
TWO = two_level()
FIT2 = quiet(hc.lmer, "y ~ x + (1 | g)", TWO)
CROSSED = crossed()
FITX = quiet(hc.lmer, "y ~ 1 + (1 | a) + (1 | b)", CROSSED)
NSIM = 4000


def test_re_form_none_is_centred_on_the_fitted_values_with_variance_sigma2():
    """re_form=None (lme4's re.form = NULL) keeps every conditional mode: y* ~ N(fitted, σ²).  With 4000 draws
    each row's mean has standard error σ/√4000: every row within 4.5 of them (120 rows: a false alarm has
    probability below 1e-3, and the seed is fixed); the pooled variance of y* − fitted over 480 000 draws has
    relative standard error √(2/480000) = 0.2 %: within 1 %."""
    Y = FIT2.simulate(NSIM, seed=11, re_form=None)
    fitted = FIT2.fitted.to_numpy()
    se = FIT2.sigma / np.sqrt(NSIM)
    assert np.max(np.abs(Y.mean(axis=0) - fitted)) < 4.5 * se
    assert np.var(Y - fitted) == pytest.approx(FIT2.sigma2, rel=0.01)
    np.testing.assert_array_equal(Y, FIT2.simulate(NSIM, seed=11, use_u=True))  # lme4's use.u = TRUE, same draws


def test_re_form_na_draws_new_group_effects_with_variance_tau2():
    """re_form="NA" (lme4's default): the group means of y* − Xβ̂ vary across simulations with variance
    τ² + σ²/n_j (n_j = 8).  Each group's variance from 4000 draws has relative standard error √(2/4000) = 2.2 %;
    averaged over 15 groups 0.6 %: within 3 %.  And they centre on 0, not on the conditional modes."""
    Y = FIT2.simulate(NSIM, seed=12)
    np.testing.assert_array_equal(Y, FIT2.simulate(NSIM, seed=12, re_form="NA"))
    np.testing.assert_array_equal(Y, FIT2.simulate(NSIM, seed=12, re_form=False))
    xb = FIT2.predict(re_form="NA").to_numpy()
    groups = TWO["g"].to_numpy()
    means = np.stack([(Y - xb)[:, groups == g].mean(axis=1) for g in np.unique(groups)], axis=1)  # nsim × J
    tau2 = float(FIT2.varcorr["Variance"].iloc[0])
    assert means.var(axis=0).mean() == pytest.approx(tau2 + FIT2.sigma2 / 8, rel=0.03)
    assert np.max(np.abs(means.mean(axis=0))) < 4.5 * np.sqrt((tau2 + FIT2.sigma2 / 8) / NSIM)


def test_a_partial_re_form_holds_one_terms_modes_and_draws_the_others():
    """re_form="~(1 | a)" on (1 | a) + (1 | b): a's effects stay at their modes, b's are new.  So the mean of y*
    is X β̂ + Z_a b̂_a (each row within 4.5 standard errors, √((τ_b² + σ²)/4000)); the variance of each row is
    τ_b² + σ² (pooled over 144 rows: within 3 %); two rows that share only their level of a are uncorrelated
    (a's effects do not vary: |r| < 0.06, 4 standard errors of a correlation from 4000 draws), two that share
    only their level of b have covariance τ_b² (within 10 %)."""
    Y = FITX.simulate(NSIM, seed=13, re_form="~(1 | a)")
    vc = FITX.varcorr.set_index("Groups")["Variance"]
    tau_b2, s2 = float(vc["b"]), FITX.sigma2
    centre = FITX.predict(re_form="~(1 | a)").to_numpy()
    assert np.max(np.abs(Y.mean(axis=0) - centre)) < 4.5 * np.sqrt((tau_b2 + s2) / NSIM)
    assert Y.var(axis=0).mean() == pytest.approx(tau_b2 + s2, rel=0.03)
    a, b = CROSSED["a"].to_numpy(), CROSSED["b"].to_numpy()
    same_a = np.flatnonzero((a == "a0") & (b != "b0"))[0]
    same_b = np.flatnonzero((a != "a0") & (b == "b0"))[0]
    first = 0  # row 0 is a0, b0
    r_a = np.corrcoef(Y[:, first], Y[:, same_a])[0, 1]
    assert abs(r_a) < 0.06
    assert np.cov(Y[:, first], Y[:, same_b])[0, 1] == pytest.approx(tau_b2, rel=0.10)
    # the other way round: b held, a drawn
    Yb = FITX.simulate(NSIM, seed=14, re_form="~(1 | b)")
    assert np.max(np.abs(Yb.mean(axis=0) - FITX.predict(re_form="~(1 | b)").to_numpy())) < \
        4.5 * np.sqrt((float(vc["a"]) + s2) / NSIM)


def test_a_partial_re_form_of_a_glmer_fit():
    """Poisson (1 | a) + (1 | b) with an offset, a's modes held: the mean count of each row is
    exp(η_a) E[exp(b*_b)] = exp(η_a + τ_b²/2), η_a the linear predictor with a's modes (predict's).  Relative
    standard error of a row's mean over 4000 draws is at most 5 % here (counts of about 2, overdispersed by b):
    the mean over the 240 rows of the ratio within 2 %, every row within 20 %."""
    fit = GCOUNTS
    Y = fit.simulate(NSIM, seed=15, re_form="~(1 | a)")
    tau_b2 = float(fit.varcorr.set_index("Groups").loc["b", "Variance"])
    want = np.exp(fit.predict(re_form="~(1 | a)").to_numpy() + tau_b2 / 2)
    ratio = Y.mean(axis=0) / want
    assert ratio.mean() == pytest.approx(1.0, abs=0.02)
    assert np.max(np.abs(ratio - 1)) < 0.2
    held = fit.simulate(NSIM, seed=15, re_form=None)  # every mode held: the mean is the fitted mean
    assert (held.mean(axis=0) / fit.fitted.to_numpy()).mean() == pytest.approx(1.0, abs=0.01)
    np.testing.assert_array_equal(held, fit.simulate(NSIM, seed=15, use_u=True))


def test_simulate_re_form_bad_input():
    with pytest.raises(MixedModelError, match="only one of use_u and re_form"):
        FIT2.simulate(2, seed=1, use_u=True, re_form=None)
    with pytest.raises(MixedModelError, match="only one of use_u and re_form"):
        GCOUNTS.simulate(2, seed=1, use_u=False, re_form="NA")
    with pytest.raises(MixedModelError, match="not present in original model"):
        FITX.simulate(2, seed=1, re_form="~(1 | c)")
    with pytest.raises(MixedModelError, match="not present in original model"):
        GCOUNTS.simulate(2, seed=1, re_form="~(x | a)")
    with pytest.raises(MixedModelError, match="use_u must be True or False"):
        FIT2.simulate(2, seed=1, use_u="yes")
    with pytest.raises(MixedModelError, match="re_form must be None"):
        FIT2.simulate(2, seed=1, re_form=3)
    with pytest.raises(MixedModelError, match="theta= cannot change them"):
        hc.simulate_response(FIT2, 2, seed=1, re_form=None, theta=[0.5])


def test_a_partial_re_form_of_one_grouping_factor_with_two_terms():
    """(1 | g) + (0 + x | g): one grouping factor, two terms (the fit's random effects are level-major, both terms
    interleaved).  re_form="~(1 | g)" holds the intercepts at their modes and draws the slopes: each row's mean is
    predict(re_form="~(1 | g)") (within 4.5 standard errors), its variance τ_slope² x² + σ² (pooled, within 3 %)."""
    data = two_level(seed=3, slope_sd=1.0)
    fit = quiet(hc.lmer, "y ~ x + (1 | g) + (0 + x | g)", data)
    Y = fit.simulate(NSIM, seed=16, re_form="~(1 | g)")
    vc = fit.varcorr
    tau_s2 = float(vc.loc[vc["Name"] == "x", "Variance"].iloc[0])
    assert tau_s2 > 0.5  # (0.755: the slopes' draws are visible beside σ² = 0.564)
    x = data["x"].to_numpy()
    var = tau_s2 * x ** 2 + fit.sigma2
    centre = fit.predict(re_form="~(1 | g)").to_numpy()
    assert np.max(np.abs(Y.mean(axis=0) - centre) / np.sqrt(var / NSIM)) < 4.5
    assert (Y.var(axis=0) / var).mean() == pytest.approx(1.0, abs=0.03)
    slopes_held = fit.simulate(NSIM, seed=16, re_form="~(0 + x | g)")
    assert (slopes_held.var(axis=0) / (float(vc["Variance"].iloc[0]) + fit.sigma2)).mean() == \
        pytest.approx(1.0, abs=0.03)
