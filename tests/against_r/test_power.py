"""hlm_course.power (chapter 16, planning a study by simulation): the planning models against lme4, the
simulation against the balanced-design formulas, the Type I error, argument checks and reproducibility."""

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st
from scipy import stats

import hlm_course as hc
from hlm_course import power
from hlm_course.inference import refit_many
from hlm_course.lmer import MixedModelError
from conftest import reference

ROOT = Path(__file__).resolve().parents[2]
REF = reference("planning_lme4")["models"]


@pytest.fixture(scope="module")
def hsb():
    return hc.load_hsb()


@pytest.fixture(scope="module")
def model(hsb):
    return power.PlanningModel.from_fit(hc.lmer(REF["ri"]["formula"], hsb), sd_x=hsb["cses"].std())


# ---------------------------------------------------------------------------
# the models the chapter plans from, against lme4 1.1-31
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("name,rtol", [("ri", 1e-6), ("rs", 2e-5), ("rs_int", 2e-5), ("null", 1e-6)])
def test_planning_models_match_lme4(hsb, name, rtol):
    """The random-slope model's criterion is flat: lme4 stops 1.5e-7 above our optimum, so its estimates
    agree to about 5 digits; ours is never the worse optimum."""
    ref = REF[name]
    fit = hc.lmer(ref["formula"], hsb)
    assert fit.reml_criterion <= ref["reml_criterion"] + 1e-8
    assert fit.reml_criterion == pytest.approx(ref["reml_criterion"], abs=1e-6)
    np.testing.assert_allclose(fit.fixef[list(ref["fixef"])], list(ref["fixef"].values()), rtol=rtol)
    np.testing.assert_allclose(fit.se[list(ref["se"])], list(ref["se"].values()), rtol=10 * rtol)
    np.testing.assert_allclose(fit.tau.to_numpy(), np.array(ref["tau"]), rtol=10 * rtol)
    assert fit.sigma2 == pytest.approx(ref["sigma2"], rel=rtol)


def test_planning_model_from_fit_reads_the_lme4_parameters(hsb, model):
    ref = REF["ri"]
    assert model.gamma01 == pytest.approx(ref["fixef"]["sectorCatholic"], rel=1e-6)
    assert model.tau00 == pytest.approx(ref["tau"][0][0], rel=1e-5)
    np.testing.assert_allclose(model.theta, ref["theta"], rtol=1e-5)
    assert model.rho == pytest.approx(ref["tau"][0][0] / (ref["tau"][0][0] + ref["sigma2"]), rel=1e-5)
    rs = power.PlanningModel.from_fit(hc.lmer(REF["rs"]["formula"], hsb), sd_x=0.66)
    assert rs.random_slope and rs.formula.endswith("(cses | school)")
    np.testing.assert_allclose(rs.theta, REF["rs"]["theta"], rtol=1e-4)  # the Cholesky factor of T/σ², packed


def test_a_simulated_study_refits_as_lme4_fits_it():
    """refit_many's estimate and standard error of the gap (what each simulated test uses) are lme4's."""
    study = pd.read_csv(ROOT / "tests" / "reference" / "planning_study.csv")
    study["sector"] = pd.Categorical(study["sector"], ["Public", "Catholic"])
    ref = REF["study"]
    fit = hc.lmer(ref["formula"], study)
    np.testing.assert_allclose(fit.fixef[list(ref["fixef"])], list(ref["fixef"].values()), rtol=1e-5)
    shuffled = study["mathach"].sample(frac=1, random_state=1).to_numpy()  # any response: it only carries X, Z
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a shuffled response may well give a singular fit
        template = hc.lmer(ref["formula"], study.assign(mathach=shuffled))
    r = refit_many(template, study["mathach"].to_numpy()[None, :])
    k = template.fixed_names.index("sectorCatholic")
    assert r.beta[0, k] == pytest.approx(ref["fixef"]["sectorCatholic"], rel=1e-5)
    assert np.sqrt(r.vcov[0, k, k]) == pytest.approx(ref["se"]["sectorCatholic"], rel=1e-4)
    np.testing.assert_allclose(r.vcov[0], fit.vcov.to_numpy(), rtol=1e-4)


# ---------------------------------------------------------------------------
# the simulation against the formulas of a balanced design
# ---------------------------------------------------------------------------
def test_design_is_balanced_and_group_centred():
    d = power.planning_design(10, 7, sd_x=0.5, seed=3)
    assert len(d) == 70 and d["school"].nunique() == 10
    assert d.groupby("sector", observed=True)["school"].nunique().to_dict() == {"Public": 5, "Catholic": 5}
    np.testing.assert_allclose(d.groupby("school")["cses"].mean(), 0, atol=1e-12)
    assert np.sqrt(np.sum(d["cses"] ** 2) / (10 * 6)) == pytest.approx(0.5)  # pooled within-school SD


@pytest.mark.slow
@pytest.mark.parametrize("J,n", [(10, 5), (20, 20), (40, 10)])
def test_se_of_the_gap_matches_the_balanced_design_formula(model, J, n):
    nsim = 2000
    sims = power.simulate_power(model, J, n, nsim=nsim, seed=100 + J + n)
    se = power.se_gap(J, n, model.tau00, model.sigma2)
    sd = sims["estimate"].std()
    # the SD of nsim normal estimates has a Monte Carlo SE of about sd / √(2(nsim − 1)); allow 4 of them
    assert abs(sd - se) < 4 * se / np.sqrt(2 * (nsim - 1))
    assert abs(sims["estimate"].mean() - model.gamma01) < 4 * se / np.sqrt(nsim)  # unbiased
    # the estimated SEs are right on average (their root mean square within 3%)
    assert np.sqrt(np.mean(sims["se"] ** 2)) == pytest.approx(se, rel=0.03)


@pytest.mark.slow
def test_simulated_power_matches_the_noncentral_t(model):
    nsim = 2000
    sims = power.simulate_power(model, 30, 10, nsim=nsim, seed=7)
    expected = power.power_analytic(model.gamma01, power.se_gap(30, 10, model.tau00, model.sigma2), 28)
    assert abs(sims["reject"].mean() - expected) < 4 * np.sqrt(expected * (1 - expected) / nsim)


@pytest.mark.slow
@pytest.mark.parametrize("J", [10, 40])
def test_type_one_error_of_the_t_test_is_alpha(model, J):
    nsim = 4000
    sims = power.simulate_power(model.replace(gamma01=0.0), J, 10, nsim=nsim, seed=J)
    tolerance = 3 * np.sqrt(0.05 * 0.95 / nsim)  # binomial: 3 Monte Carlo SEs
    assert abs(sims["reject"].mean() - 0.05) < tolerance
    assert sims.attrs["true"] == 0.0


@pytest.mark.slow
def test_z_test_rejects_too_often_with_few_schools(model):
    nsim = 4000
    sims = power.simulate_power(model.replace(gamma01=0.0), 10, 10, nsim=nsim, seed=11, test="z")
    assert sims["reject"].mean() > 0.05 + 3 * np.sqrt(0.05 * 0.95 / nsim)


@pytest.mark.slow
def test_slope_se_depends_on_the_number_of_pupils_only(model):
    nsim = 1000
    a = power.simulate_power(model, 40, 10, nsim=nsim, seed=1, effect="slope")
    b = power.simulate_power(model, 10, 37, nsim=nsim, seed=2, effect="slope")  # same J(n − 1) = 360
    se = power.se_slope(40, 10, model.sigma2, model.sd_x)
    assert power.se_slope(10, 37, model.sigma2, model.sd_x) == pytest.approx(se)
    for sims in (a, b):
        assert abs(sims["estimate"].std() - se) < 4 * se / np.sqrt(2 * (nsim - 1))
    assert a.attrs["effect"] == "slope" and a["df"].iloc[0] == 40 * 9 - 1


# ---------------------------------------------------------------------------
# closed forms
# ---------------------------------------------------------------------------
def test_design_effect_identity():
    """4(τ00 + σ²/n)/J = 4 (τ00 + σ²) deff / (J n): the two ways the chapter writes the variance."""
    tau00, sigma2 = 6.7, 37.0
    rho = tau00 / (tau00 + sigma2)
    for J, n in [(10, 5), (40, 20), (160, 45)]:
        lhs = power.se_gap(J, n, tau00, sigma2) ** 2
        rhs = 4 * (tau00 + sigma2) * power.design_effect(n, rho) / (J * n)
        assert lhs == pytest.approx(rhs)
        assert power.effective_sample_size(J, n, rho) == pytest.approx(J * n / (1 + (n - 1) * rho))
    assert power.design_effect(1, 0.3) == 1.0


def test_optimal_n_minimises_the_variance_for_a_budget():
    c_school, c_pupil, tau00, sigma2 = 500.0, 20.0, 6.7, 37.0
    rho = tau00 / (tau00 + sigma2)
    n_star = power.optimal_n(c_school, c_pupil, rho)
    # Var ∝ (τ00 + σ²/n)(c_school + n c_pupil) for a fixed budget (J = budget / cost per school)
    n = np.linspace(1, 100, 100_001)
    var = (tau00 + sigma2 / n) * (c_school + n * c_pupil)
    assert n[np.argmin(var)] == pytest.approx(n_star, abs=1e-3)
    table = power.budget_designs(30_000, c_school, c_pupil, power.PlanningModel(11, 2.8, 2.2, tau00, sigma2),
                                 [5, 10, 12, 20, 40])
    assert (table["cost"] <= 30_000).all() and (table["J"] % 2 == 0).all()
    assert table.loc[table["se_formula"].idxmin(), "n"] in (10, 12)


def test_power_analytic_limits():
    assert power.power_analytic(0.0, 1.0, None) == pytest.approx(0.05)
    assert power.power_analytic(0.0, 1.0, 8) == pytest.approx(0.05)
    assert power.power_analytic(10.0, 1.0, 30) > 0.999
    z = power.power_analytic(2.8, 1.0, None)
    assert z == pytest.approx(stats.norm.sf(1.959964 - 2.8) + stats.norm.cdf(-1.959964 - 2.8), rel=1e-5)


# ---------------------------------------------------------------------------
# bad input and reproducibility
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs,message", [
    ({"J": 9, "n": 10}, "must be even"),
    ({"J": 2, "n": 10}, "at least 4"),
    ({"J": 10.0, "n": 10}, "whole number"),
    ({"J": 10, "n": 1}, "at least 2"),
    ({"J": 10, "n": 10, "nsim": 0}, "nsim must be at least 1"),
    ({"J": 10, "n": 10, "alpha": 1.5}, "alpha must be between 0 and 1"),
    ({"J": 10, "n": 10, "effect": "sector"}, "effect must be one of"),
    ({"J": 10, "n": 10, "test": "F"}, "test must be 't' or 'z'"),
])
def test_simulate_power_rejects_bad_arguments(model, kwargs, message):
    with pytest.raises(MixedModelError, match=message):
        power.simulate_power(model, **kwargs)


def test_bad_models_are_refused(hsb):
    with pytest.raises(MixedModelError, match="must be a PlanningModel"):
        power.simulate_power({"tau00": 1}, 10, 10)
    with pytest.raises(MixedModelError, match="must not be negative"):
        power.PlanningModel(11, 2.8, 2.2, tau00=-1.0, sigma2=37.0)
    with pytest.raises(MixedModelError, match="sigma2 must be positive"):
        power.PlanningModel(11, 2.8, 2.2, tau00=1.0, sigma2=0.0)
    with pytest.raises(MixedModelError, match="covariance matrix"):
        power.PlanningModel(11, 2.8, 2.2, tau00=1.0, sigma2=37.0, tau11=1.0, tau01=2.0)
    with pytest.raises(MixedModelError, match="fixed effects"):
        power.PlanningModel.from_fit(hc.lmer("mathach ~ ses + (1 | school)", hsb), sd_x=0.66)
    with pytest.raises(MixedModelError, match="strictly between 0 and 1"):
        power.optimal_n(500, 20, 0.0)
    with pytest.raises(MixedModelError, match="fewer than 4 schools"):
        power.budget_designs(1000, 500, 20, power.PlanningModel(11, 2.8, 2.2, 6.7, 37.0), [10])


def test_seeded_simulations_are_reproducible(model):
    a = power.simulate_power(model, 10, 5, nsim=50, seed=42)
    b = power.simulate_power(model, 10, 5, nsim=50, seed=42)
    c = power.simulate_power(model, 10, 5, nsim=50, seed=43)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["estimate"], c["estimate"])


def test_grid_cells_do_not_depend_on_the_rest_of_the_grid(model):
    small = power.power_grid(model, [10], [5], nsim=30, seed=9)
    big = power.power_grid(model, [10, 20], [5, 10], nsim=30, seed=9)
    cell = big[(big["J"] == 10) & (big["n"] == 5)].reset_index(drop=True)
    pd.testing.assert_frame_equal(small.reset_index(drop=True), cell)
    summary = power.summarize_power(big, model)
    assert list(summary[["J", "n"]].itertuples(index=False, name=None)) == [(10, 5), (10, 10), (20, 5), (20, 10)]
    assert (summary["nsim"] == 30).all() and summary["power_formula"].between(0, 1).all()


# ---------------------------------------------------------------------------
# invariances (Hypothesis): the test of the gap does not depend on nuisance parameters or units
# ---------------------------------------------------------------------------
@settings(max_examples=15, deadline=None)
@given(shift=st.floats(-50, 50), slope=st.floats(-5, 5))
def test_gap_results_do_not_depend_on_the_intercept_or_the_ses_slope(model, shift, slope):
    """Same seed, another γ00 and γ10: every simulated response moves by a fixed part the model fits, so the
    gap's estimates, SEs and decisions are the same."""
    base = power.simulate_power(model, 10, 6, nsim=20, seed=5)
    moved = power.simulate_power(model.replace(gamma00=model.gamma00 + shift, gamma10=slope), 10, 6, nsim=20,
                                 seed=5)
    np.testing.assert_allclose(moved["estimate"], base["estimate"], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(moved["se"], base["se"], rtol=1e-5)
    assert (moved["reject"] == base["reject"]).all()


@settings(max_examples=10, deadline=None)
@given(scale=st.floats(0.01, 100))
def test_gap_decisions_do_not_depend_on_the_units_of_the_outcome(model, scale):
    """Measuring math achievement in other units (all of γ, √τ00, σ times c) scales estimates and SEs by c
    and leaves every t statistic, and so the power, unchanged."""
    base = power.simulate_power(model, 10, 6, nsim=20, seed=6)
    scaled_model = model.replace(gamma00=model.gamma00 * scale, gamma01=model.gamma01 * scale,
                                 gamma10=model.gamma10 * scale, tau00=model.tau00 * scale ** 2,
                                 sigma2=model.sigma2 * scale ** 2)
    scaled = power.simulate_power(scaled_model, 10, 6, nsim=20, seed=6)
    np.testing.assert_allclose(scaled["estimate"], scale * base["estimate"], rtol=1e-5)
    np.testing.assert_allclose(scaled["statistic"], base["statistic"], rtol=1e-5)
    assert (scaled["reject"] == base["reject"]).all()


# ---------------------------------------------------------------------------
# the chapter's self-checks (hlm_course.labs.planning)
# ---------------------------------------------------------------------------
def test_planning_self_checks_accept_right_and_refuse_wrong_answers(hsb, model):
    from hlm_course import labs
    from hlm_course.labs import planning

    assert planning.planning_model() == model
    rho = model.tau00 / (model.tau00 + model.sigma2)
    deff = 1 + (len(hsb) / 160 - 1) * rho
    assert labs.check("planning-deff", deff) and not labs.check("planning-deff", deff + 0.1)
    n_opt = np.sqrt(800 / 10 * (1 - rho) / rho)
    assert labs.check("planning-optimal-n", n_opt) and not labs.check("planning-optimal-n", np.sqrt(800 / 10))
    assert labs.check("planning-best-for-gap", "c") and not labs.check("planning-best-for-gap", "a")
    half = model.replace(gamma01=model.gamma01 / 2)
    sims = power.simulate_power(half, **planning.HALF_GAP_DESIGN)
    assert labs.check("planning-power-half", sims["reject"].mean())
    analytic = power.power_analytic(half.gamma01, power.se_gap(40, 20, half.tau00, half.sigma2), 38)
    assert labs.check("planning-power-half", float(analytic))  # within the Monte Carlo tolerance
    assert not labs.check("planning-power-half", 0.8)
    full_gap = power.simulate_power(model, **planning.HALF_GAP_DESIGN)["reject"].mean()
    assert not labs.check("planning-power-half", full_gap)  # forgot to halve the gap
