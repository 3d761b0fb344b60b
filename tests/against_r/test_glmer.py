"""hc.glmer against lme4 1.1-31 (tests/r/glmer_reference.R → tests/reference/glmer_lme4.json; R not needed).

Tolerances and why:

* −2 log-likelihood: within 1e-3 of lme4's, or lower (then our convergence check must pass).  Ours is the
  exact Laplace criterion; lme4 evaluates log|L|² with the working weights of the penultimate PIRLS
  iterate, started from the nAGQ = 0 linear predictor, and stops Nelder–Mead at ftol 1e-8 relative: on
  cbpp lme4's criterion at its own estimate is 5.6e-4 above the exact Laplace value there.  With
  adaptive Gauss–Hermite quadrature the criterion is insensitive to where the modes are, and the two
  engines agree to 1e-7 (``test_agq_criterion_at_lme4_estimate``).
* fixed effects: 1e-3 relative.
* standard errors: lme4 takes them from a finite-difference Hessian of its own criterion (deriv12, step
  1e-4) at its stopping point; so do we, of the exact criterion at ours.  AGQ and nAGQ = 0 fits agree to
  1e-3 relative; Laplace fits to 2e-2 (the largest, cbpp, is 1.3e-2: the criterion difference above).
* θ: 2e-3 absolute.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hlm_course as hc
from hlm_course.lmer import MixedModelError
from hlm_course.lmer.family import Family, binomial, poisson
from conftest import reference

REF = Path(__file__).resolve().parents[1] / "reference"
LME4 = reference("glmer_lme4")["fits"]


def _data(name):
    dtypes = {"cbpp": {"period": str}, "cbpp_zero": {"period": str},
              "contraception": {"livch": str}, "mmmec": {},
              "grouseticks": {"YEAR": str}, "sim_nested": {}, "sim_crossed": {}, "sim_counts": {}}[name]
    return pd.read_csv(REF / f"glmer_{name}.csv", dtype=dtypes)


CB = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
CO = "use ~ age + I(age^2) + urban + livch + (1 | district)"
CASES = {
    "cbpp_laplace": (CB, "cbpp", {}),
    "cbpp_agq25": (CB, "cbpp", {"nagq": 25}),
    "cbpp_agq0": (CB, "cbpp", {"nagq": 0}),
    "cbpp_agq9": (CB, "cbpp", {"nagq": 9}),
    "cbpp_prop_weights": ("prop ~ period + (1 | herd)", "cbpp", {"weights": "size"}),
    "cbpp_zero_herd": (CB, "cbpp_zero", {}),
    "cbpp_probit": (CB, "cbpp", {"family": "binomial(probit)"}),
    "cbpp_cloglog": (CB, "cbpp", {"family": binomial("cloglog")}),
    "contra_int": (CO, "contraception", {}),
    "contra_agq10": (CO, "contraception", {"nagq": 10}),
    "contra_slope": ("use ~ age + I(age^2) + urban + livch + (urban | district)", "contraception", {}),
    "contra_probit": (CO, "contraception", {"family": "binomial(probit)"}),
    "mmmec_offset": ("deaths ~ uvb + offset(log(expected)) + (1 | region)", "mmmec", {"family": "poisson"}),
    "mmmec_offset_agq15": ("deaths ~ uvb + offset(log(expected)) + (1 | region)", "mmmec",
                           {"family": "poisson", "nagq": 15}),
    "grouse": ("TICKS ~ YEAR + scale(HEIGHT) + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)", "grouseticks",
               {"family": poisson()}),
    # simulated (tests/reference/glmer_sim_*.csv, seeded): nested, crossed with a correlated slope (singular in
    # lme4 and here), an uncorrelated slope with an exposure offset
    "sim_nested": ("y ~ x + (1 | school/class)", "sim_nested", {}),
    "sim_crossed": ("y ~ cond + (cond | subj) + (1 | item)", "sim_crossed", {}),
    "sim_counts_uncorr": ("k ~ z + offset(log(t)) + (z || g)", "sim_counts", {"family": "poisson"}),
}
SINGULAR = {"sim_crossed"}
_FITS: dict = {}


def fit_of(name):
    if name not in _FITS:
        form, data, kw = CASES[name]
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # none of the reference fits may warn, except a singular one
            if name in SINGULAR:
                warnings.filterwarnings("ignore", message="boundary")
            _FITS[name] = hc.glmer(form, _data(data), **kw)
    return _FITS[name]


@pytest.mark.parametrize("name", list(CASES))
def test_matches_lme4(name):
    f, r = fit_of(name), LME4[name]
    assert f.converged, f.check.message
    d = f.deviance - r["minus2loglik"]
    assert d < 1e-3, f"−2logLik {f.deviance:.6f} above lme4's {r['minus2loglik']:.6f}"
    assert d > -1e-3 or f.converged
    assert f.loglik == pytest.approx(r["loglik"], abs=1e-3 if d > -1e-3 else abs(d) + 1e-9)
    assert f.aic - f.deviance == pytest.approx(r["aic"] - r["minus2loglik"])
    assert f.bic - f.deviance == pytest.approx(r["bic"] - r["minus2loglik"])
    assert f.df_resid == r["df_resid"]
    assert f.nobs == r["nobs"]
    assert list(f.fixef.index) == list(r["fixef"])
    fe = np.array(list(r["fixef"].values()))
    se = np.array(list(r["se"].values()))
    # 1e-3 relative, or a hundredth of a standard error where the coefficient is near zero
    assert np.all(np.abs(f.fixef.to_numpy() - fe) <= np.maximum(1e-3 * np.abs(fe), 1e-2 * se))
    np.testing.assert_allclose(f.theta, np.atleast_1d(r["theta"]), atol=2e-3)
    assert f.singular == r["singular"]
    np.testing.assert_allclose(f.se.to_numpy(), se, rtol=2e-2 if r["nAGQ"] == 1 else 1e-3)
    assert f.ngroups == r["ngrps"]
    assert f.family.family == r["family"] and f.family.link == r["link"]
    np.testing.assert_allclose(f.deviance_conditional, r["deviance_fn"], rtol=1e-3)
    assert f.theta_names == list(np.atleast_1d(r["theta_names"]))


@pytest.mark.parametrize("name", [n for n in CASES if LME4[n]["nAGQ"] == 1])
def test_laplace_differences_are_lme4s_criterion(name):
    """Where our −2logLik is below lme4's, the gap is lme4's criterion, not its optimum: our Laplace deviance
    at lme4's own estimate is already below lme4's value by nearly the whole gap (lme4 evaluates log|L|² with the
    working weights of the penultimate PIRLS iterate), and our optimum is at most 1e-4 below that."""
    f, r = fit_of(name), LME4[name]
    at_lme4 = f.problem.deviance(np.atleast_1d(r["theta"]), np.array(list(r["fixef"].values())), 1)
    assert at_lme4 <= r["minus2loglik"] + 1e-6
    assert -1e-4 <= f.deviance - at_lme4 <= 1e-7


def test_varcorr_and_ranef_like_lme4():
    f, r = fit_of("contra_slope"), LME4["contra_slope"]
    vc = f.varcorr
    np.testing.assert_allclose(vc["Variance"].to_numpy(), np.array(r["varcorr"]["vcov"])[:2], rtol=2e-3)
    assert vc["Corr.(Intercept)"].iloc[1] == pytest.approx(r["varcorr"]["sdcor"][2], abs=2e-3)
    re = f.ranef["district"]
    ref = r["ranef_first"]
    assert [str(x) for x in re.index] == ref["levels"]
    np.testing.assert_allclose(re.to_numpy(), np.array(ref["values"]), atol=5e-3)
    g = fit_of("grouse")
    assert [b.group for b in g.blocks] == ["INDEX", "BROOD", "LOCATION"]  # lme4's order (most levels first)
    assert g.theta_names == LME4["grouse"]["theta_names"]


def test_cond_var_like_lme4():
    f, r = fit_of("cbpp_agq25"), LME4["cbpp_agq25"]
    np.testing.assert_allclose(f.cond_var["herd"][:, 0, 0], r["ranef_first"]["condvar"], rtol=1e-3)


def test_cbind_equals_proportion_with_weights():
    a, b = fit_of("cbpp_laplace"), fit_of("cbpp_prop_weights")
    assert a.deviance == pytest.approx(b.deviance, abs=1e-8)
    np.testing.assert_allclose(a.fixef, b.fixef, atol=1e-6)


def test_agq_criterion_at_lme4_estimate():
    """Our AGQ deviance, evaluated at lme4's θ and β, is lme4's −2 logLik (the formula of glmerAGQ)."""
    for name, k in [("cbpp_agq25", 25), ("mmmec_offset_agq15", 15), ("contra_agq10", 10)]:
        f, r = fit_of(name), LME4[name]
        val = f.problem.deviance(np.atleast_1d(r["theta"]), np.array(list(r["fixef"].values())), k)
        assert val == pytest.approx(r["minus2loglik"], abs=1e-6)


def test_lme4_fails_its_check_where_ours_is_lower():
    """lme4 warns 'Model failed to converge' on Contraception; our optimum passes the check and is lower."""
    for name in ("contra_int", "contra_slope", "contra_probit"):
        f, r = fit_of(name), LME4[name]
        assert any("failed to converge" in m for m in r["convergence"]["messages"])
        assert f.converged and f.check.max_grad < 2e-3
        assert f.deviance < r["minus2loglik"]


def test_zero_herd_mode_is_lowest():
    f = fit_of("cbpp_zero_herd")
    b = f.ranef["herd"]["(Intercept)"]
    assert b.idxmin() == "1"


def test_summary_and_coef_table():
    f = fit_of("cbpp_laplace")
    s = f.summary()
    for word in ("AIC", "BIC", "logLik", "deviance", "df.resid", "z value", "Pr(>|z|)", "herd", "Laplace"):
        assert word in s
    tab = f.coef_table
    r = LME4["cbpp_laplace"]
    np.testing.assert_allclose(tab["z value"], r["coef_table"]["z"], rtol=2e-2)
    assert "Adaptive Gauss-Hermite Quadrature, nAGQ = 25" in fit_of("cbpp_agq25").summary()


def test_predict():
    f = fit_of("contra_slope")
    d = _data("contraception")
    np.testing.assert_allclose(f.predict(d, type="response").to_numpy(), f.fitted.to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(f.predict().to_numpy(), f.eta, rtol=1e-12)
    np.testing.assert_allclose(f.predict(d.iloc[:5]).to_numpy(), f.eta[:5], rtol=1e-10)
    fixed = f.predict(d.iloc[:3], re_form="NA").to_numpy()
    np.testing.assert_allclose(fixed, (f.problem.X @ f.beta)[:3], rtol=1e-10)
    np.testing.assert_allclose(np.asarray(LME4["contra_slope"]["fitted_head"]), f.fitted.to_numpy()[:10], atol=2e-3)
    new = d.iloc[:2].assign(district="nowhere")
    with pytest.raises(MixedModelError, match="new levels detected in newdata: nowhere"):
        f.predict(new)
    np.testing.assert_allclose(f.predict(new, allow_new_levels=True).to_numpy(), fixed[:2], rtol=1e-10)
    m = fit_of("mmmec_offset")  # the offset enters predictions
    md = _data("mmmec")
    np.testing.assert_allclose(m.predict(md.iloc[:4], type="response"), m.fitted.to_numpy()[:4], rtol=1e-10)
    with pytest.raises(MixedModelError, match="type"):
        f.predict(type="probability")


def test_anova_likelihood_ratio():
    a, b = fit_of("contra_int"), fit_of("contra_slope")
    t = b.anova(a)
    assert list(t["npar"]) == [a.npar, b.npar]
    assert t["Chisq"].iloc[1] == pytest.approx(a.deviance - b.deviance)
    assert t["Df"].iloc[1] == 2
    ref = LME4["contra_int"]["minus2loglik"] - LME4["contra_slope"]["minus2loglik"]
    assert t["Chisq"].iloc[1] == pytest.approx(ref, abs=2e-3)
    with pytest.raises(MixedModelError, match="different scales"):
        a.anova(fit_of("contra_agq10"))


# ---------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------
def _small(seed=1, J=12, m=8):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(J), m)
    x = rng.normal(size=J * m)
    b = rng.normal(scale=0.7, size=J)
    eta = -0.3 + 0.8 * x + b[g]
    return pd.DataFrame({"g": g.astype(str), "x": x, "y": rng.binomial(1, 1 / (1 + np.exp(-eta))),
                         "n": rng.integers(2, 9, J * m), "k": rng.poisson(np.exp(0.5 + 0.3 * x + b[g]))})


def test_bad_binomial_response():
    d = _small()
    with pytest.raises(MixedModelError, match=r"0 <= y <= 1"):
        hc.glmer("k ~ x + (1 | g)", d)
    with pytest.raises(MixedModelError, match="negative failures"):
        hc.glmer("cbind(k, n - k) ~ x + (1 | g)", d.assign(k=d["n"] + 1))
    with pytest.raises(MixedModelError, match="binomial response"):
        hc.glmer("cbind(k, n) ~ x + (1 | g)", d, family="poisson")
    with pytest.warns(UserWarning, match="non-integer #successes"), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="boundary|fitted probabilities")
        hc.glmer("y ~ x + (1 | g)", d.assign(y=d["y"] * 0.5), weights=np.full(len(d), 1.0))


def test_bad_counts():
    d = _small()
    with pytest.raises(MixedModelError, match="negative values"):
        hc.glmer("k ~ x + (1 | g)", d.assign(k=d["k"] - 100), family="poisson")
    with pytest.warns(UserWarning, match="non-integer"):
        hc.glmer("k ~ x + (1 | g)", d.assign(k=d["k"] + 0.5), family="poisson")


def test_bad_arguments():
    d = _small()
    with pytest.raises(MixedModelError, match="nAGQ > 1"):
        hc.glmer("y ~ x + (x | g)", d, nagq=5)
    with pytest.raises(MixedModelError, match="family"):
        hc.glmer("y ~ x + (1 | g)", d, family="gamma")
    with pytest.raises(MixedModelError, match="lmer"):
        hc.glmer("y ~ x + (1 | g)", d, family="gaussian")
    with pytest.raises(MixedModelError, match="link"):
        Family("poisson", "logit")
    with pytest.raises(MixedModelError, match="nagq"):
        hc.glmer("y ~ x + (1 | g)", d, nagq=-1)
    with pytest.raises(MixedModelError, match="weights"):
        hc.glmer("y ~ x + (1 | g)", d, weights=-np.ones(len(d)))
    with pytest.raises(MixedModelError, match="constant"):
        hc.glmer("y ~ x + (1 | g)", d.assign(y=1))
    with pytest.raises(MixedModelError, match="> 1 sampled level"):
        hc.glmer("y ~ x + (1 | g)", d.assign(g="a"))
    # lme4 drops a column that is a linear combination of others (a message); we warn, naming it
    with pytest.warns(UserWarning, match=r"rank deficient so dropping 1 column / coefficient \['z'\]"):
        m = hc.glmer("y ~ x + z + (1 | g)", d.assign(z=2 * d["x"]))
    assert list(m.fixef.index) == ["(Intercept)", "x"]
    np.testing.assert_allclose(m.fixef, hc.glmer("y ~ x + (1 | g)", d).fixef, rtol=1e-10)


def test_complete_separation_is_a_clear_error():
    """lme4 stops with 'pwrssUpdate did not converge in (maxit) iterations'; we say why."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=200)
    d = pd.DataFrame({"y": (x > 0).astype(int), "x": x, "g": np.repeat(np.arange(20), 10)})
    with pytest.raises(MixedModelError, match="complete separation"):
        hc.glmer("y ~ x + (1 | g)", d)


def test_group_with_all_zero_counts():
    d = _small(3)
    d.loc[d["g"] == "0", "k"] = 0
    f = hc.glmer("k ~ x + (1 | g)", d, family="poisson")
    assert f.converged
    assert f.ranef["g"]["(Intercept)"].idxmin() == "0"


def test_missing_rows_dropped_with_warning():
    d = _small().astype({"x": float})
    d.loc[3, "x"] = np.nan
    with pytest.warns(UserWarning, match="dropped"):
        f = hc.glmer("y ~ x + (1 | g)", d)
    assert f.nobs == len(d) - 1 and f.n_dropped == 1


# ---------------------------------------------------------------------------
# invariances
# ---------------------------------------------------------------------------
_BASE = None


def _base():
    global _BASE
    if _BASE is None:
        _BASE = (_small(5), hc.glmer("y ~ x + (1 | g)", _small(5)))
    return _BASE


@settings(max_examples=5, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000))
def test_row_order_does_not_matter(seed):
    d, f = _base()
    perm = np.random.default_rng(seed).permutation(len(d))
    g = hc.glmer("y ~ x + (1 | g)", d.iloc[perm])
    assert g.deviance == pytest.approx(f.deviance, abs=1e-7)
    np.testing.assert_allclose(g.fixef, f.fixef, atol=1e-5)
    np.testing.assert_allclose(g.se, f.se, rtol=1e-4)


@settings(max_examples=5, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(prefix=st.text(alphabet="abcXYZ_", min_size=1, max_size=4))
def test_level_labels_do_not_matter(prefix):
    d, f = _base()
    g = hc.glmer("y ~ x + (1 | g)", d.assign(g=prefix + d["g"]))
    assert g.deviance == pytest.approx(f.deviance, abs=1e-7)


def test_shift_of_a_predictor_moves_only_the_intercept():
    d, f = _base()
    g = hc.glmer("y ~ x + (1 | g)", d.assign(x=d["x"] + 3.0))
    assert g.deviance == pytest.approx(f.deviance, abs=1e-6)
    assert g.fixef["x"] == pytest.approx(f.fixef["x"], abs=1e-4)
    assert g.fixef["(Intercept)"] == pytest.approx(f.fixef["(Intercept)"] - 3 * f.fixef["x"], abs=4e-4)


# ---------------------------------------------------------------------------
# the family
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("fam", [binomial("logit"), binomial("probit"), binomial("cloglog"), poisson("log")])
def test_family_derivatives_and_inverse(fam):
    eta = np.linspace(-3, 2, 11)
    h = 1e-6
    np.testing.assert_allclose(fam.mu_eta(eta), (fam.linkinv(eta + h) - fam.linkinv(eta - h)) / (2 * h), rtol=1e-6)
    np.testing.assert_allclose(fam.linkfun(fam.linkinv(eta)), eta, rtol=1e-9, atol=1e-9)
    mu, me, ratio = fam.working(eta)
    np.testing.assert_allclose(ratio, fam.mu_eta(eta) ** 2 / fam.variance(fam.linkinv(eta)), rtol=1e-12)


def test_family_aic_is_minus_twice_the_loglik():
    from scipy import stats

    rng = np.random.default_rng(0)
    n = rng.integers(1, 12, 30).astype(float)
    k = rng.binomial(n.astype(int), 0.3)
    mu = rng.uniform(0.1, 0.9, 30)
    fam = binomial()
    assert fam.aic(k / n, n, mu, n) == pytest.approx(-2 * stats.binom.logpmf(k, n, mu).sum())
    y = rng.poisson(3, 30).astype(float)
    m = rng.uniform(1, 5, 30)
    assert poisson().aic(y, np.ones(30), m, np.ones(30)) == pytest.approx(-2 * stats.poisson.logpmf(y, m).sum())
    np.testing.assert_allclose(fam.dev_fast(k / n, mu, n, fam.dev_constant(k / n, n)),
                               fam.dev_resids(k / n, mu, n), rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------------------
# simulation, refits, parametric bootstrap
# ---------------------------------------------------------------------------
def test_simulate_has_the_models_marginal_mean():
    f = fit_of("cbpp_laplace")
    sims = f.simulate(3000, seed=11)
    assert sims.shape == (3000, f.nobs)
    z = np.random.default_rng(0).standard_normal(100_000)
    xb = f.problem.X @ f.beta
    expected = np.array([f.family.linkinv(v + f.theta[0] * z).mean() for v in xb])
    np.testing.assert_allclose(sims.mean(axis=0), expected, atol=0.02)
    np.testing.assert_array_equal(f.simulate(2, seed=5), f.simulate(2, seed=5))


def test_refit_own_response_reproduces_the_fit():
    f = fit_of("mmmec_offset")
    g = f.refit(f.problem.y)
    assert g.deviance == pytest.approx(f.deviance, abs=1e-7)
    np.testing.assert_allclose(g.se, f.se, rtol=1e-4)


def test_pb_test_and_bootstrap_ci():
    f = fit_of("cbpp_laplace")
    f0 = hc.glmer("cbind(incidence, size - incidence) ~ 1 + (1 | herd)", _data("cbpp"))
    t = f.pb_test(f0, nsim=20, seed=3)
    assert t.loc["LRT", "stat"] == pytest.approx(f0.deviance - f.deviance)
    assert t.loc["LRT", "df"] == 3
    assert t.loc["PBtest", "p.value"] == pytest.approx(1 / 21)  # period matters: no simulated LRT reaches 25.6
    assert t.equals(f.pb_test(f0, nsim=20, seed=3))  # seeded
    ci = f.bootstrap_ci(nsim=30, seed=4)
    assert list(ci.index) == f.theta_names + f.fixed_names
    est = np.concatenate([f.theta, f.beta])
    assert np.all(ci.iloc[:, 0].to_numpy() <= est + 1e-9) and np.all(est - 1e-9 <= ci.iloc[:, 1].to_numpy())


def test_coef_resid_and_nAGQ_spelling():
    f = fit_of("contra_slope")
    c = f.coef["district"]
    np.testing.assert_allclose(c["urbanY"] - f.fixef["urbanY"], f.ranef["district"]["urbanY"], atol=1e-12)
    np.testing.assert_allclose(c["age"], f.fixef["age"])
    g = fit_of("cbpp_laplace")
    d = g.resid()
    assert np.sum(d ** 2) == pytest.approx(g.deviance_conditional)
    np.testing.assert_allclose(g.resid("response"), g.problem.y - g.mu)
    with pytest.raises(MixedModelError, match="type"):
        g.resid("working")
    h = hc.glmer(CB, _data("cbpp"), nAGQ=25)
    assert h.deviance == pytest.approx(fit_of("cbpp_agq25").deviance, abs=1e-9)


def test_offset_argument_and_family_function():
    m = fit_of("mmmec_offset")
    d = _data("mmmec").assign(lexp=lambda x: np.log(x["expected"]))
    a = hc.glmer("deaths ~ uvb + (1 | region)", d, family=hc.poisson, offset="lexp")
    assert a.deviance == pytest.approx(m.deviance, abs=1e-7)
    np.testing.assert_allclose(a.predict(d.iloc[:3]), m.predict(d.iloc[:3]), rtol=1e-9)
    b = hc.glmer("deaths ~ uvb + (1 | region)", d, family="poisson", offset=d["lexp"].to_numpy())
    assert b.deviance == pytest.approx(m.deviance, abs=1e-7)
    with pytest.raises(MixedModelError, match="offset"):
        b.predict(d.iloc[:3])
