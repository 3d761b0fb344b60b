"""After the fit (issue 24, item 6), properties that need no R: R's formula update, update's refits, simulate's
draws (shape, seed, moments, use_u), profile and confint's semantics, the profile plot.  lme4's numbers are
checked in tests/against_r/test_after_fit.py."""

from __future__ import annotations

import warnings

import matplotlib
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hlm_course as hc
from hlm_course.lmer import MixedModelError
from hlm_course.lmer.multiterm import LmerFitMulti
from hlm_course.lmer.simulate import simulate_lmer, simulate_response
from hlm_course.lmer.update import update_formula

matplotlib.use("Agg")


def quiet_lmer(formula, data, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return hc.lmer(formula, data, **kw)


def two_level(seed=1, J=15, n=8, slope_sd=0.5):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(J), n)
    x = rng.normal(size=J * n)
    b0, b1 = rng.normal(0, 1.0, J), rng.normal(0, slope_sd, J)
    y = 2 + 0.5 * x + b0[g] + b1[g] * x + rng.normal(0, 0.8, J * n)
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{k:02d}" for k in g], "o": rng.normal(size=J * n)})


def crossed(seed=2):
    rng = np.random.default_rng(seed)
    a, b = np.meshgrid(np.arange(12), np.arange(6), indexing="ij")
    a, b = np.repeat(a.ravel(), 2), np.repeat(b.ravel(), 2)
    y = 5 + rng.normal(0, 1.0, 12)[a] + rng.normal(0, 0.7, 6)[b] + rng.normal(0, 0.5, a.size)
    return pd.DataFrame({"y": y, "a": [f"a{k}" for k in a], "b": [f"b{k}" for k in b]})


# ---------------------------------------------------------------------------------------------------------------
# R's update.formula
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("old, new, expected", [
    # each expected value is R 4.2's update(old, new), printed
    ("Reaction ~ Days + (Days|Subject)", ". ~ . + I(Days^2)", "Reaction ~ Days + (Days | Subject) + I(Days^2)"),
    ("Reaction ~ Days + (Days|Subject)", ". ~ . - Days", "Reaction ~ (Days | Subject)"),
    ("Reaction ~ Days + (Days|Subject)", ". ~ . - (Days|Subject) + (1|Subject)", "Reaction ~ Days + (1 | Subject)"),
    ("Reaction ~ Days + (Days|Subject)", "log(.) ~ .", "log(Reaction) ~ Days + (Days | Subject)"),
    ("y ~ a*b + (1|g)", ". ~ . - a:b", "y ~ a + b + (1 | g)"),
    ("y ~ a*b*c + x", ". ~ . - a:b:c", "y ~ a + b + c + x + a:b + a:c + b:c"),
    ("y ~ a/b", ". ~ . + z", "y ~ a + z + a:b"),
    ("y ~ x - 1 + z", ". ~ . + 1", "y ~ x + z"),
    ("y ~ a:b + c", ". ~ .", "y ~ c + a:b"),
    ("y ~ x", ". ~ . + 0", "y ~ x - 1"),
    ("y ~ x + (1|g)", "~ . - 1", "y ~ x + (1 | g) - 1"),
    ("y ~ x", "z ~ w + (1|g)", "z ~ w + (1 | g)"),
])
def test_update_formula_is_rs(old, new, expected):
    assert update_formula(old, new) == expected


def test_update_formula_leaves_dotted_names_and_numbers_alone():
    assert update_formula("y ~ x + x.index", ". ~ . - x") == "y ~ x.index"
    assert update_formula("y.T ~ x", ". ~ . + I(x*.5)") == "y.T ~ x + I(x * .5)"
    assert update_formula("y ~ I(x-1) + poly(x,2)", "sqrt(.) ~ .") == "sqrt(y) ~ I(x - 1) + poly(x, 2)"


def test_update_formula_warns_on_removing_an_absent_term_and_refuses_bad_input():
    with pytest.warns(UserWarning, match="'z' not in the formula"):
        assert update_formula("y ~ x", ". ~ . - z") == "y ~ x"
    with pytest.raises(MixedModelError, match="needs '~'"):
        update_formula("y ~ x", "x + z")
    with pytest.raises(MixedModelError, match="unbalanced"):
        update_formula("y ~ x", ". ~ . + (z")
    with pytest.raises(MixedModelError, match="strings"):
        update_formula("y ~ x", None)


# ---------------------------------------------------------------------------------------------------------------
# update: the refit
# ---------------------------------------------------------------------------------------------------------------
def test_update_refits_as_a_fresh_fit_and_keeps_the_old_one():
    d = two_level()
    m = quiet_lmer("y ~ x + (x | g)", d)
    u = m.update(". ~ . - (x | g) + (1 | g)")
    fresh = quiet_lmer("y ~ x + (1 | g)", d)
    assert u.formula == "y ~ x + (1 | g)"
    assert u.reml_criterion == pytest.approx(fresh.reml_criterion, abs=1e-8)
    assert m.formula == "y ~ x + (x | g)" and len(m.theta) == 3
    ml = hc.update(m, reml=False)
    assert not ml.reml and ml.deviance == pytest.approx(quiet_lmer("y ~ x + (x | g)", d, reml=False).deviance,
                                                        abs=1e-6)
    other = d.assign(y=d.y * 2)
    assert hc.update(m, data=other).sigma == pytest.approx(2 * m.sigma, rel=1e-5)


def test_update_reconsiders_rows_dropped_for_a_variable_it_removes():
    """R re-evaluates the call on its data: rows dropped for a missing value of a removed variable come back."""
    d = two_level()
    d.loc[::10, "o"] = np.nan
    m = quiet_lmer("y ~ x + o + (1 | g)", d)
    assert m.nobs == len(d) - len(d.index[::10])
    u = m.update(". ~ . - o")
    assert u.nobs == len(d)
    assert u.reml_criterion == pytest.approx(quiet_lmer("y ~ x + (1 | g)", d).reml_criterion, abs=1e-8)


def test_update_of_a_crossed_fit_and_bad_arguments():
    d = crossed()
    m = quiet_lmer("y ~ 1 + (1 | a) + (1 | b)", d)
    assert isinstance(m, LmerFitMulti)
    u = m.update(". ~ . - (1 | b)")
    assert u.formula == "y ~ (1 | a)" and not isinstance(u, LmerFitMulti)
    with pytest.raises(MixedModelError, match="unknown argument"):
        hc.update(m, family="poisson")
    with pytest.raises(MixedModelError, match="update needs a fit"):
        hc.update(d, ". ~ .")


def test_update_of_a_glmer_fit():
    rng = np.random.default_rng(4)
    g = np.repeat(np.arange(20), 10)
    x = rng.normal(size=200)
    y = rng.binomial(1, 1 / (1 + np.exp(-(0.3 + 0.8 * x + rng.normal(0, 1, 20)[g]))))
    d = pd.DataFrame({"y": y, "x": x, "g": g.astype(str)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = hc.glmer("y ~ x + (1 | g)", d, family="binomial")
        u = m.update(". ~ . - x")
        fresh = hc.glmer("y ~ (1 | g)", d, family="binomial")
    assert u.criterion == pytest.approx(fresh.criterion, abs=1e-8)
    with pytest.raises(MixedModelError, match="reml= applies to linear"):
        hc.update(m, reml=False)
    w = m.confint(method="Wald")
    z = 1.959963984540054
    np.testing.assert_allclose(w.loc[list(m.fixed_names)].to_numpy(),
                               np.column_stack([m.fixef - z * m.se, m.fixef + z * m.se]), rtol=1e-12)
    assert w.loc[".sig01"].isna().all() and w.attrs["labels"][".sig01"] == "sd_(Intercept)|g"
    p = m.confint()  # lme4's default for a GLMM too: profile (tests/against_r/test_glmer_profile.py)
    assert p.attrs["method"] == "profile" and list(p.index) == [".sig01", "(Intercept)", "x"]
    assert np.all(p.iloc[:, 0] < np.r_[m.theta, m.fixef]) and np.all(p.iloc[:, 1] > np.r_[m.theta, m.fixef])


# ---------------------------------------------------------------------------------------------------------------
# simulate
# ---------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def rc_fit():
    return quiet_lmer("y ~ x + (x | g)", two_level(J=30, n=10))


@pytest.fixture(scope="module")
def crossed_fit():
    return quiet_lmer("y ~ 1 + (1 | a) + (1 | b)", crossed())


def test_simulate_shape_seed_and_the_same_draws_for_every_kind_of_fit(rc_fit, crossed_fit):
    for m in (rc_fit, crossed_fit):
        a, b = m.simulate(3, seed=42), hc.simulate(m, 3, seed=42)
        assert a.shape == (3, m.nobs)
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, m.simulate(3, seed=43))
    for bad in (0, -1, 2.5, True):
        with pytest.raises(MixedModelError, match="nsim must be a positive integer"):
            rc_fit.simulate(bad)


def test_simulated_moments_are_the_models(rc_fit):
    """Mean X β̂; variance σ² + z' T z per row; covariance z_i' T z_k for two rows of one group, 0 across groups."""
    m = rc_fit
    Y = m.simulate(6000, seed=7)
    Xb = m.X @ m.pls.beta
    T = m.tau.to_numpy()
    Z = m.Z
    var = m.sigma2 + np.einsum("ni,ij,nj->n", Z, T, Z)
    se_mean = np.sqrt(var / len(Y))
    assert np.max(np.abs(Y.mean(0) - Xb) / se_mean) < 4.5
    assert np.mean(Y.var(0) / var) == pytest.approx(1.0, abs=0.01)
    same = np.flatnonzero(m.codes == m.codes[0])[1]
    other = np.flatnonzero(m.codes != m.codes[0])[0]
    cov = np.cov(Y[:, 0], Y[:, same])[0, 1]
    assert cov == pytest.approx(Z[0] @ T @ Z[same], abs=4 * np.sqrt(var[0] * var[same] / len(Y)))
    assert abs(np.cov(Y[:, 0], Y[:, other])[0, 1]) < 4 * np.sqrt(var[0] * var[other] / len(Y))


def test_crossed_simulated_moments_are_the_models(crossed_fit):
    m = crossed_fit
    Y = m.simulate(6000, seed=8)
    vc = m.varcorr.set_index("Groups")["Variance"]
    total = vc.sum()
    assert np.mean(Y.var(0)) / total == pytest.approx(1.0, abs=0.03)
    a, b = m.data["a"].to_numpy(), m.data["b"].to_numpy()
    i = 0
    k_a = np.flatnonzero((a == a[i]) & (b != b[i]))[0]  # shares only a
    k_b = np.flatnonzero((a != a[i]) & (b == b[i]))[0]  # shares only b
    tol = 4 * total / np.sqrt(len(Y))
    assert np.cov(Y[:, i], Y[:, k_a])[0, 1] == pytest.approx(vc["a"], abs=tol)
    assert np.cov(Y[:, i], Y[:, k_b])[0, 1] == pytest.approx(vc["b"], abs=tol)


def test_use_u_simulates_around_the_fitted_values(rc_fit, crossed_fit):
    for m in (rc_fit, crossed_fit):
        Y = m.simulate(4000, seed=9, use_u=True)
        np.testing.assert_allclose(Y.mean(0), m.fitted, atol=4.5 * m.sigma / np.sqrt(len(Y)))
        assert np.mean(Y.var(0)) / m.sigma2 == pytest.approx(1.0, abs=0.02)
    with pytest.raises(MixedModelError, match="use_u=True keeps the fitted random effects"):
        simulate_response(rc_fit, 2, 1, use_u=True, theta=rc_fit.theta)


def test_simulate_adds_the_offset_and_the_engines_draws_do_not():
    d = two_level()
    m = quiet_lmer("y ~ x + offset(o) + (1 | g)", d)
    a, b = simulate_lmer(m, 2, seed=3), simulate_response(m, 2, seed=3)
    np.testing.assert_allclose(a - b, np.tile(d["o"].to_numpy(), (2, 1)), atol=1e-12)
    np.testing.assert_array_equal(m.simulate(2, seed=3), a)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shift=st.floats(-1e4, 1e4), seed=st.integers(0, 2 ** 32 - 1))
def test_simulate_is_equivariant_in_beta(rc_fit, shift, seed):
    """Changing the intercept by c moves every draw by c (same seed, same u* and ε*)."""
    beta = rc_fit.pls.beta + np.array([shift, 0.0])
    np.testing.assert_allclose(simulate_response(rc_fit, 2, seed, beta=beta),
                               simulate_response(rc_fit, 2, seed) + shift, atol=1e-9 * (1 + abs(shift)))


# ---------------------------------------------------------------------------------------------------------------
# profile and confint
# ---------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ri_data():
    return two_level(seed=5, J=12, n=6, slope_sd=0.0)


@pytest.fixture(scope="module")
def ri_profile(ri_data):
    return hc.profile(quiet_lmer("y ~ x + (1 | g)", ri_data))


def test_profile_zeta_is_signed_root_deviance_change(ri_profile, ri_data):
    """ζ(ψ)² is the ML deviance of the model with ψ fixed, minus the ML deviance: for a fixed effect, the
    deviance of a fit with that coefficient moved into an offset."""
    pr = ri_profile
    b = float(pr.estimate["x"]) + 0.2
    fixed = quiet_lmer("y ~ 1 + offset(b * x) + (1 | g)", ri_data.assign(b=b), reml=False)
    assert pr.zeta("x", b) ** 2 == pytest.approx(fixed.deviance - pr.ml_deviance, rel=1e-6)
    assert pr.zeta("x", b) > 0 and pr.zeta("x", float(pr.estimate["x"]) - 0.2) < 0
    assert pr.zeta(".sigma", float(pr.estimate[".sigma"])) == pytest.approx(0.0, abs=1e-4)
    pts = pr.points(".sig01")
    assert np.all(np.diff(pts["zeta"]) > 0)  # monotone


def test_confint_profile_wald_and_parm_selection(ri_profile, ri_data):
    pr = ri_profile
    ci = pr.confint()
    assert list(ci.index) == [".sig01", ".sigma", "(Intercept)", "x"]
    assert ci.attrs["labels"] == {".sig01": "sd_(Intercept)|g", ".sigma": "sigma", "(Intercept)": "(Intercept)",
                                  "x": "x"}
    assert (ci["2.5 %"] < pr.estimate[ci.index]).all() and (pr.estimate[ci.index] < ci["97.5 %"]).all()
    for p in ci.index:  # each end is where ζ = ∓1.96
        assert pr.zeta(p, ci.loc[p, "2.5 %"]) == pytest.approx(-1.959964, abs=1e-5)
        assert pr.zeta(p, ci.loc[p, "97.5 %"]) == pytest.approx(1.959964, abs=1e-5)
    narrow = pr.confint(level=0.5)
    assert list(narrow.columns) == ["25 %", "75 %"]
    assert (narrow["25 %"] > ci["2.5 %"]).all() and (narrow["75 %"] < ci["97.5 %"]).all()
    assert list(pr.confint(parm="theta_").index) == [".sig01", ".sigma"]
    assert list(pr.confint(parm="beta_").index) == ["(Intercept)", "x"]
    assert list(pr.confint(parm=[3, ".sigma"]).index) == ["x", ".sigma"]
    with pytest.raises(MixedModelError, match="unknown parameter"):
        pr.confint(parm="slope")
    with pytest.raises(MixedModelError, match="level must be"):
        pr.confint(level=95)
    m = quiet_lmer("y ~ x + (1 | g)", ri_data)
    w = hc.confint(m, method="Wald")
    assert w.loc[[".sig01", ".sigma"]].isna().all().all()
    np.testing.assert_allclose(w.loc["x"], m.fixef["x"] + np.array([-1, 1]) * 1.959963984540054 * m.se["x"])
    with pytest.raises(MixedModelError, match="method must be"):
        hc.confint(m, method="bootstrap")
    one = hc.profile(m, which="x")
    assert set(one.table[".par"]) == {"x"}
    assert list(one.confint().index) == ["x"]
    with pytest.raises(MixedModelError, match="not profiled"):
        one.confint(parm=".sigma")
    np.testing.assert_allclose(one.confint(parm="x").to_numpy(), ci.loc[["x"]].to_numpy(), rtol=1e-8)


def test_confint_boot_is_the_parametric_bootstrap(ri_data):
    m = quiet_lmer("y ~ x + (1 | g)", ri_data)
    b = m.confint(method="boot", nsim=40, seed=3)
    ref = hc.bootstrap_ci(m, nsim=40, seed=3)
    assert list(b.index) == [".sig01", ".sigma", "(Intercept)", "x"]
    np.testing.assert_allclose(b.to_numpy(), ref[["lower", "upper"]].to_numpy())


def test_profile_of_a_singular_fit_ends_at_the_bound():
    """An SD estimated as 0: lme4 profiles it upwards only and the lower end is the bound, 0."""
    rng = np.random.default_rng(11)
    d = pd.DataFrame({"g": np.repeat(np.arange(10), 5).astype(str), "x": rng.normal(size=50)})
    d["y"] = 1 + d.x + rng.normal(size=50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = hc.lmer("y ~ x + (1 | g)", d, reml=False)
    assert m.singular
    ci = hc.confint(m)
    assert ci.loc[".sig01", "2.5 %"] == 0.0
    assert ci.loc[".sig01", "97.5 %"] > 0


@settings(max_examples=4, deadline=None)
@given(shift=st.floats(-1e5, 1e5), scale=st.floats(0.01, 100))
def test_profile_intervals_move_with_the_response(shift, scale):
    """y → a + c y: SDs, σ and slopes scale by c, the intercept too and moves by a; ζ is unchanged."""
    d = two_level(seed=6, J=10, n=6, slope_sd=0.0)
    base = hc.profile(quiet_lmer("y ~ x + (1 | g)", d)).confint(parm=[".sig01", ".sigma", "x", "(Intercept)"])
    moved = hc.profile(quiet_lmer("y ~ x + (1 | g)", d.assign(y=shift + scale * d.y))).confint(
        parm=[".sig01", ".sigma", "x", "(Intercept)"])
    expect = base.to_numpy() * scale
    expect[3] += shift
    np.testing.assert_allclose(moved.to_numpy(), expect, rtol=2e-5, atol=1e-6 * (abs(shift) + scale))


def test_profile_refuses_what_it_cannot_profile():
    with pytest.raises(MixedModelError, match="profile needs a fit from hc.lmer or hc.glmer"):
        hc.profile(pd.DataFrame())


# ---------------------------------------------------------------------------------------------------------------
# the profile plot
# ---------------------------------------------------------------------------------------------------------------
def test_profile_plot_one_labelled_panel_per_parameter_and_alt_text(ri_profile):
    fig = ri_profile.plot()
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 4
    assert [ax.get_xlabel() for ax in axes] == [".sig01", ".sigma", "(Intercept)", "x"]
    assert all(ax.get_ylabel() == "ζ" for ax in axes)
    assert "sd_(Intercept)|g" in axes[0].get_title()
    assert fig.legends and "95 % interval" in [t.get_text() for t in fig.legends[0].get_texts()]
    for name in ("sd_(Intercept)|g", "sigma", "x"):
        assert name in fig.alt_text
    fig2 = hc.plots.profile_plot(ri_profile, which=["x"], absval=True)
    ax = [a for a in fig2.axes if a.get_visible()][0]
    assert ax.get_ylabel() == "|ζ|" and min(ax.lines[0].get_ydata()) >= 0
    with pytest.raises(ValueError, match="not profiled"):
        hc.plots.profile_plot(ri_profile, which=["slope"])
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        hc.plots.profile_plot(ri_profile, conf=(0.95, 1.0))
    import matplotlib.pyplot as plt

    plt.close("all")


@settings(max_examples=3, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1))
def test_profile_intervals_ignore_row_order_and_level_labels(seed):
    """Shuffled rows and renamed groups give the same intervals (the profile is of the model, not the file)."""
    d = two_level(seed=7, J=10, n=6)
    rng = np.random.default_rng(seed)
    shuffled = d.iloc[rng.permutation(len(d))].assign(g=lambda t: "L" + t["g"].str[::-1])
    a = hc.profile(quiet_lmer("y ~ x + (x | g)", d)).confint()
    b = hc.profile(quiet_lmer("y ~ x + (x | g)", shuffled)).confint()
    np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), rtol=2e-5, atol=1e-7)
