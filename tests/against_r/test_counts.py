"""Chapter 20, "Counts": every glmer fit of the chapter against lme4 1.1-31 and its Poisson and quasi-Poisson
regressions against R's glm (tests/r/counts_reference.R -> tests/reference/counts_lme4.json), with the Pearson
dispersions, the likelihood-ratio tests and the predictions; the offset, the observation-level random effect and
the simulation check of overdispersion; and the chapter's self-checks (hlm_course.labs.counts)."""

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

import hlm_course as hc
from conftest import reference

ROOT = Path(__file__).resolve().parents[2]
REF = reference("counts_lme4")
BASE = "deaths ~ uvb + offset(log(expected))"
SPECS = {"region": (BASE + " + (1 | region)", 1), "agq10": (BASE + " + (1 | region)", 10),
         "agq25": (BASE + " + (1 | region)", 25), "nested": (BASE + " + (1 | nation/region)", 1),
         "olre": (BASE + " + (1 | nation/region) + (1 | county)", 1)}


@pytest.fixture(scope="module")
def mmmec():
    return hc.load_mmmec()


@pytest.fixture(scope="module")
def fits(mmmec):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {k: hc.glmer(f, mmmec, family="poisson", nagq=q) for k, (f, q) in SPECS.items()}


def _pearson(fit):
    return float((fit.resid("pearson") ** 2).sum())


GROUSE = {"grouse_pois": "TICKS ~ YEAR + scale(HEIGHT) + (1 | BROOD) + (1 | LOCATION)",
          "grouse_olre": "TICKS ~ YEAR + scale(HEIGHT) + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)"}


@pytest.fixture(scope="module")
def grouse_fits():
    grouse = hc.load_grouseticks()
    return {k: hc.glmer(f, grouse, family="poisson") for k, f in GROUSE.items()}


def test_reference_is_the_chapter_s_data_and_models(mmmec):
    assert set(REF["fits"]) == set(SPECS) | set(GROUSE) | {"glm", "quasi"}
    for key, formula in GROUSE.items():
        assert formula.replace(" ", "") in REF["fits"][key]["call"].replace(" ", "")
        assert REF["fits"][key]["nobs"] == 403
    assert REF["meta"]["lme4"] == "1.1.31" and REF["meta"]["data"] == "data/mmmec.csv"
    for key, (formula, nagq) in SPECS.items():
        assert REF["fits"][key]["nAGQ"] == nagq and REF["fits"][key]["nobs"] == 354
        assert formula.replace(" ", "") in REF["fits"][key]["call"].replace(" ", "")
    # the book's data file is the engine tests' copy of mlmRev's Mmmec (written from R), value for value
    engine_copy = pd.read_csv(ROOT / "tests" / "reference" / "glmer_mmmec.csv")
    for c in ["region", "county", "deaths", "expected", "uvb"]:
        np.testing.assert_array_equal(engine_copy[c].to_numpy(), mmmec[c].to_numpy())
    assert (engine_copy["nation"] == mmmec["nation"].astype(str)).all()


@pytest.mark.parametrize("key", list(SPECS) + list(GROUSE))
def test_fits_match_lme4(fits, grouse_fits, key):
    """-2 logLik within 1e-3 of lme4's, or lower with our convergence check passed; fixed effects within 1e-3
    relative; SEs and variance components within 1e-2 relative (they move with the optimum's last digits)."""
    fit, ref = {**fits, **grouse_fits}[key], REF["fits"][key]
    ours = -2 * fit.loglik
    assert ours <= ref["minus2loglik"] + 1e-3
    assert ours == pytest.approx(ref["minus2loglik"], abs=1e-3)
    assert fit.converged
    names = list(ref["fixef"])
    assert list(fit.fixef.index) == names
    np.testing.assert_allclose(fit.fixef[names], list(ref["fixef"].values()), rtol=1e-3)
    np.testing.assert_allclose(fit.se[names], list(ref["se"].values()), rtol=1e-2)
    vc = dict(zip(fit.varcorr["Groups"], fit.varcorr["Variance"]))
    for g, v in zip(np.atleast_1d(ref["varcorr"]["grp"]), np.atleast_1d(ref["varcorr"]["vcov"])):
        assert vc[g] == pytest.approx(v, rel=1e-2)
    assert fit.df_resid == ref["pearson"]["df_resid"]


@pytest.mark.parametrize("key", list(SPECS) + list(GROUSE))
def test_pearson_dispersion_matches_lme4(fits, grouse_fits, key):
    """Sum of squared Pearson residuals (lme4's residuals(type = "pearson")) over df.residual."""
    fits = {**fits, **grouse_fits}
    ref = REF["fits"][key]["pearson"]
    assert _pearson(fits[key]) == pytest.approx(ref["chisq"], rel=1e-4)
    assert _pearson(fits[key]) / fits[key].df_resid == pytest.approx(ref["dispersion"], rel=1e-4)
    assert float((fits[key].resid("deviance") ** 2).sum()) == pytest.approx(
        REF["fits"][key]["deviance_residuals_sum"], rel=1e-4)


def test_poisson_and_quasi_poisson_regressions_match_r_glm(mmmec):
    import statsmodels.api as sm

    model = sm.GLM.from_formula("deaths ~ uvb", mmmec, offset=np.log(mmmec["expected"]),
                                family=sm.families.Poisson())
    glm, quasi = model.fit(), model.fit(scale="X2")
    for fit, key in [(glm, "glm"), (quasi, "quasi")]:
        ref = REF["fits"][key]
        np.testing.assert_allclose(fit.params.to_numpy(), list(ref["fixef"].values()), rtol=1e-6)
        # R's glm takes its SEs from the weights of its last IRLS iteration, one step before convergence
        np.testing.assert_allclose(fit.bse.to_numpy(), list(ref["se"].values()), rtol=2e-5)
        assert fit.pearson_chi2 / fit.df_resid == pytest.approx(ref["pearson"]["dispersion"], rel=2e-5)
    assert REF["fits"]["quasi"]["dispersion"] == pytest.approx(quasi.scale, rel=2e-5)
    assert -2 * glm.llf == pytest.approx(REF["fits"]["glm"]["minus2loglik"], rel=1e-9)
    # the quasi-Poisson SEs are the Poisson ones times sqrt(dispersion)
    np.testing.assert_allclose(quasi.bse / glm.bse, math.sqrt(quasi.scale))


def test_likelihood_ratio_tests(fits):
    a = fits["region"].anova(fits["nested"], fits["olre"])
    ref = REF["lrt"]
    assert list(a["npar"]) == ref["npar"] == [3, 4, 5]
    np.testing.assert_allclose(a["Chisq"].iloc[1:], ref["chisq"][1:], atol=2e-3)
    np.testing.assert_allclose(a["Pr(>Chisq)"].iloc[1:], ref["p"][1:], rtol=1e-3)


def test_grouse_likelihood_ratio_test_and_the_aggregation_by_brood(grouse_fits):
    a = grouse_fits["grouse_pois"].anova(grouse_fits["grouse_olre"])
    ref = REF["lrt_grouse"]
    assert a["Chisq"].iloc[1] == pytest.approx(ref["chisq"][1], abs=2e-3)
    assert a["Pr(>Chisq)"].iloc[1] == pytest.approx(ref["p"][1], rel=1e-3)
    vc = grouse_fits["grouse_olre"].varcorr.set_index("Groups")["Variance"]
    assert vc.idxmax() == "BROOD"  # Elston et al. (2001): ticks aggregate most by brood


def test_quadrature_reports_the_deviance_from_the_saturated_model(mmmec, fits):
    """lme4 (and we) report -2 logLik for nAGQ > 1 without the saturated model's terms: adding them back
    puts it within a small positive gap below Laplace's."""
    from scipy.special import gammaln, xlogy

    y = mmmec["deaths"].to_numpy(float)
    saturated = float(np.sum(xlogy(y, y) - y - gammaln(y + 1)))
    laplace, agq25 = -2 * fits["region"].loglik, -2 * fits["agq25"].loglik
    assert laplace - (agq25 - 2 * saturated) == pytest.approx(
        REF["fits"]["region"]["minus2loglik"] - (REF["fits"]["agq25"]["minus2loglik"] - 2 * saturated), abs=1e-3)
    assert 0 < laplace - (agq25 - 2 * saturated) < 0.5
    assert abs(fits["agq10"].loglik - fits["agq25"].loglik) < 1e-6


def test_predictions_for_new_data(fits):
    ref = REF["predict"]
    new = pd.DataFrame(ref["newdata"])
    for c in ("region", "county"):
        new[c] = new[c].astype(int)
    fit = fits["olre"]
    np.testing.assert_allclose(fit.predict(new, type="response", re_form="NA"), ref["population"], rtol=1e-3)
    np.testing.assert_allclose(fit.predict(new, type="link", re_form="NA"), ref["population_link"], atol=1e-3)
    np.testing.assert_allclose(fit.predict(new, type="response"), ref["conditional"], rtol=1e-3)
    # the offset enters the prediction: doubling the expected count doubles the predicted count
    doubled = new.assign(expected=2 * new["expected"])
    np.testing.assert_allclose(fit.predict(doubled, type="response"), 2 * fit.predict(new, type="response"))


def test_the_offset_s_units_only_move_the_intercept(mmmec, fits):
    data = mmmec.assign(expected100=mmmec["expected"] / 100)
    fit = hc.glmer("deaths ~ uvb + offset(log(expected100)) + (1 | nation/region)", data, family="poisson")
    ref = fits["nested"]
    assert fit.fixef["(Intercept)"] == pytest.approx(ref.fixef["(Intercept)"] + math.log(100), abs=1e-4)
    assert fit.fixef["uvb"] == pytest.approx(ref.fixef["uvb"], abs=1e-5)
    assert fit.loglik == pytest.approx(ref.loglik, abs=1e-5)
    np.testing.assert_allclose(fit.fitted, ref.fitted, rtol=1e-4)


def test_simulation_check_separates_the_models(fits):
    """The chapter's check: refits to data simulated from the nested model have Pearson ratios below the real
    data's; from the OLRE model they surround it (seeded, 40 simulations each)."""
    def ratios(fit, seed):
        return np.array([_pearson(r) / r.df_resid for r in
                         (fit.refit(y, derivs=False) for y in fit.simulate(40, seed=seed))])

    nested, olre = fits["nested"], fits["olre"]
    sim_nested = ratios(nested, 1)
    assert np.mean(sim_nested >= _pearson(nested) / nested.df_resid) < 0.05
    assert 0.7 < np.median(sim_nested) < 0.95
    sim_olre = ratios(olre, 2)
    assert 0.1 < np.mean(sim_olre >= _pearson(olre) / olre.df_resid) < 0.9


def test_simulated_counts_are_poisson_lognormal(fits):
    """simulate() draws new random effects: the mean of simulated counts matches the marginal mean
    E exp(eta + sum of variances / 2) of the OLRE model, county by county on average."""
    fit = fits["olre"]
    sims = fit.simulate(400, seed=7)
    assert sims.shape == (400, 354) and np.all(sims == np.round(sims)) and sims.min() >= 0
    eta0 = fit.predict(type="link", re_form="NA").to_numpy()
    total = float(fit.varcorr["Variance"].sum())
    marginal = np.exp(eta0 + total / 2)
    assert sims.mean() == pytest.approx(marginal.mean(), rel=0.05)


@settings(max_examples=4, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_fit_does_not_depend_on_row_order(mmmec, fits, seed):
    shuffled = mmmec.sample(frac=1, random_state=np.random.RandomState(seed)).reset_index(drop=True)
    fit = hc.glmer(SPECS["nested"][0], shuffled, family="poisson")
    assert -2 * fit.loglik == pytest.approx(-2 * fits["nested"].loglik, abs=1e-4)
    np.testing.assert_allclose(fit.fixef, fits["nested"].fixef, rtol=1e-3, atol=1e-6)


def test_region_labels_do_not_matter(mmmec, fits):
    relabelled = mmmec.assign(region=mmmec["region"].map(lambda r: f"r{200 - r:03d}"))
    fit = hc.glmer(SPECS["region"][0], relabelled, family="poisson")
    assert -2 * fit.loglik == pytest.approx(-2 * fits["region"].loglik, abs=1e-4)
    u = fits["region"].ranef["region"]["(Intercept)"].rename(index=lambda r: f"r{200 - int(r):03d}")
    np.testing.assert_allclose(fit.ranef["region"]["(Intercept)"][u.index], u, atol=1e-3)


def test_poisson_without_an_offset_is_an_error_free_count_model(mmmec):
    """A negative count is refused with a clear error, not a silent wrong answer."""
    bad = mmmec.assign(deaths=mmmec["deaths"].where(mmmec.index != 0, -1))
    with pytest.raises(hc.MixedModelError):
        hc.glmer(SPECS["region"][0], bad, family="poisson")


# ---------------------------------------------------------------------------
# the chapter's self-checks (hlm_course.labs.counts)
# ---------------------------------------------------------------------------
def test_counts_self_checks_accept_right_and_refuse_wrong_answers(fits):
    from scipy import stats

    from hlm_course import labs
    from hlm_course.labs import counts

    olre = fits["olre"]
    assert counts.olre_model().fixef.equals(olre.fixef)
    assert labs.check("counts-underdispersed", "no") and labs.check("counts-underdispersed", "No")
    assert not labs.check("counts-underdispersed", "yes")

    b, se = olre.fixef["uvb"], olre.se["uvb"]
    z = stats.norm.ppf(0.975)
    right = [math.exp(5 * b), math.exp(5 * (b - z * se)), math.exp(5 * (b + z * se))]
    assert labs.check("counts-rr-uvb5", right)
    assert not labs.check("counts-rr-uvb5", [math.exp(b), math.exp(b - z * se), math.exp(b + z * se)])

    s2 = float(olre.varcorr.set_index("Groups").loc["county", "Variance"])
    assert labs.check("counts-olre-ratio", 1 + 100 * (math.exp(s2) - 1))
    assert not labs.check("counts-olre-ratio", math.exp(s2))

    typical = float(olre.predict(pd.DataFrame({"uvb": [2.0], "expected": [40.0]}), type="response",
                                 re_form="NA").iloc[0])
    total = float(olre.varcorr["Variance"].sum())
    assert labs.check("counts-marginal-mean", typical * math.exp(total / 2))
    assert not labs.check("counts-marginal-mean", typical)

    nested = fits["nested"]
    assert labs.check("counts-offset-hundreds", nested.fixef["(Intercept)"] + math.log(100))
    assert not labs.check("counts-offset-hundreds", nested.fixef["(Intercept)"])


def test_summary_keeps_columns_aligned_for_long_group_names(fits):
    """glmer's summary() gives the Groups column the width of its longest name (region:nation), as lme4 does,
    so the Name, Variance and Std.Dev. columns stay aligned."""
    text = fits["olre"].summary()
    block = text.split("Random effects:\n")[1].split("\nNumber of obs")[0].splitlines()
    header, rows = block[0], block[1:]
    assert [r.split()[0] for r in rows] == ["county", "region:nation", "nation"]
    name_col = header.index("Name")
    assert all(r[name_col:].startswith("(Intercept)") for r in rows)
    assert all(r.rstrip().endswith(f"{sd:.4f}") for r, sd in zip(rows, fits["olre"].varcorr["Std.Dev."]))
