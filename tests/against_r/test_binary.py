"""Chapter 18, "Binary outcomes": every glmer fit of the chapter against lme4 1.1-31
(tests/r/binary_reference.R -> tests/reference/binary_lme4.json), the likelihood-ratio test and predictions,
the attenuation of marginal effects, and the chapter's self-checks (hlm_course.labs.binary)."""

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st
from scipy.special import expit

import hlm_course as hc
from conftest import reference

ROOT = Path(__file__).resolve().parents[2]
REF = reference("binary_lme4")
FORMULA = "use ~ age + I(age^2) + urban + livch + (1 | district)"
SPECS = {"ri": (FORMULA, 1), "agq10": (FORMULA, 10), "agq25": (FORMULA, 25),
         "slope": ("use ~ age + I(age^2) + urban + livch + (urban | district)", 1),
         "null": ("use ~ 1 + (1 | district)", 1)}


@pytest.fixture(scope="module")
def contra():
    return hc.load_contraception()


@pytest.fixture(scope="module")
def fits(contra):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {k: hc.glmer(f, contra, family="binomial", nagq=q) for k, (f, q) in SPECS.items()}


def _vc(fit):
    """Variances then covariances, the order of lme4's as.data.frame(VarCorr)."""
    vc = fit.varcorr
    sd = vc["Std.Dev."].to_numpy()
    out = list(vc["Variance"])
    for i in range(len(vc)):
        for j in range(i):
            out.append(vc[f"Corr.{vc['Name'].iloc[j]}"].iloc[i] * sd[i] * sd[j])
    return np.array(out)


def test_reference_is_the_chapter_s_data_and_models():
    assert set(REF["fits"]) == set(SPECS)
    assert REF["meta"]["lme4"] == "1.1.31" and REF["meta"]["data"] == "data/contraception.csv"
    for key, (formula, nagq) in SPECS.items():
        assert REF["fits"][key]["nAGQ"] == nagq and REF["fits"][key]["nobs"] == 1934
        assert formula.replace(" ", "") in REF["fits"][key]["call"].replace(" ", "")


@pytest.mark.parametrize("key", list(SPECS))
def test_fits_match_lme4(fits, key):
    """-2 logLik within 1e-3 of lme4's, or lower with our convergence check passed; fixed effects within 1e-3
    relative; SEs and variance components within 1e-2 relative (they move with the optimum's last digits)."""
    fit, ref = fits[key], REF["fits"][key]
    ours = -2 * fit.loglik
    assert ours <= ref["minus2loglik"] + 1e-3
    if ours < ref["minus2loglik"] - 1e-3:
        assert fit.converged
    assert ours == pytest.approx(ref["minus2loglik"], abs=1e-3)
    names = list(ref["fixef"])
    assert list(fit.fixef.index) == names
    np.testing.assert_allclose(fit.fixef[names], list(ref["fixef"].values()), rtol=1e-3)
    np.testing.assert_allclose(fit.se[names], list(ref["se"].values()), rtol=1e-2)
    np.testing.assert_allclose(_vc(fit), np.atleast_1d(ref["varcorr"]["vcov"]), rtol=1e-2)
    assert fit.converged


def test_laplace_and_quadrature_agree_closely_but_not_exactly(fits):
    """Adaptive quadrature changes -2 logLik by about 0.27 here; 10 and 25 points agree to 1e-6."""
    d1, d10, d25 = (-2 * fits[k].loglik for k in ("ri", "agq10", "agq25"))
    assert 0.1 < d1 - d25 < 0.5
    assert abs(d10 - d25) < 1e-6
    assert REF["fits"]["ri"]["minus2loglik"] - REF["fits"]["agq25"]["minus2loglik"] == pytest.approx(d1 - d25,
                                                                                                      abs=1e-3)


def test_likelihood_ratio_test_of_the_urban_slope(fits):
    a = fits["ri"].anova(fits["slope"])
    ref = REF["lrt_slope"]
    assert a["Df"].iloc[1] == ref["df"] == 2
    assert a["Chisq"].iloc[1] == pytest.approx(ref["chisq"], abs=2e-3)
    assert a["Pr(>Chisq)"].iloc[1] == pytest.approx(ref["p"], rel=1e-3)


def test_predictions_for_new_data(fits):
    ref = REF["predict"]
    new = pd.DataFrame(ref["newdata"])
    new["district"] = new["district"].astype(int)
    fit = fits["ri"]
    np.testing.assert_allclose(fit.predict(new, type="response", re_form="NA"), ref["population"], rtol=1e-3)
    np.testing.assert_allclose(fit.predict(new, type="response"), ref["district1"], rtol=1e-3)
    # the link scale and the response scale are the logit pair
    np.testing.assert_allclose(expit(fit.predict(new, type="link")), fit.predict(new, type="response"))


def test_marginal_effects_are_attenuated(contra, fits):
    """The chapter's GEE: smaller coefficients than the GLMM (except the near-zero linear age term), roughly
    by Zeger, Liang & Albert's factor 1/sqrt(1 + c^2 tau00)."""
    import statsmodels.api as sm
    from statsmodels.genmod.cov_struct import Exchangeable
    from statsmodels.genmod.generalized_estimating_equations import GEE

    gee = GEE.from_formula("y ~ age + I(age**2) + urban + livch", groups="district", data=contra,
                           family=sm.families.Binomial(), cov_struct=Exchangeable()).fit()
    glmm = fits["ri"].fixef
    ratio = gee.params["urban[T.Y]"] / glmm["urbanY"]
    tau00 = float(fits["ri"].varcorr["Variance"].iloc[0])
    factor = 1 / math.sqrt(1 + (16 * math.sqrt(3) / (15 * math.pi)) ** 2 * tau00)
    assert 0.85 < ratio < 1 and abs(ratio - factor) < 0.06
    for g, m in [("livch[T.1]", "livch1"), ("livch[T.2]", "livch2"), ("livch[T.3+]", "livch3+"),
                 ("I(age ** 2)", "I(age^2)")]:
        assert abs(gee.params[g]) < abs(glmm[m])


@settings(max_examples=5, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_fit_does_not_depend_on_row_order(contra, fits, seed):
    shuffled = contra.sample(frac=1, random_state=np.random.RandomState(seed)).reset_index(drop=True)
    fit = hc.glmer(FORMULA, shuffled, family="binomial")
    assert -2 * fit.loglik == pytest.approx(-2 * fits["ri"].loglik, abs=1e-4)
    np.testing.assert_allclose(fit.fixef, fits["ri"].fixef, rtol=1e-3, atol=1e-6)


def test_district_labels_do_not_matter(contra, fits):
    relabelled = contra.assign(district=contra["district"].map(lambda d: f"d{100 - d:03d}"))
    fit = hc.glmer(FORMULA, relabelled, family="binomial")
    assert -2 * fit.loglik == pytest.approx(-2 * fits["ri"].loglik, abs=1e-4)
    u = fits["ri"].ranef["district"]["(Intercept)"].rename(index=lambda d: f"d{100 - int(d):03d}")
    np.testing.assert_allclose(fit.ranef["district"]["(Intercept)"][u.index], u, atol=1e-3)


# ---------------------------------------------------------------------------
# the chapter's self-checks (hlm_course.labs.binary)
# ---------------------------------------------------------------------------
def test_binary_self_checks_accept_right_and_refuse_wrong_answers(fits):
    from hlm_course import labs
    from hlm_course.labs import binary

    assert binary.binary_model().fixef.equals(fits["ri"].fixef)
    assert labs.check("binary-which-model", "GEE") and labs.check("binary-which-model", "gee")
    assert not labs.check("binary-which-model", "GLMM")

    b, se = fits["ri"].fixef["livch3+"], fits["ri"].se["livch3+"]
    right = [math.exp(b), math.exp(b - 1.959964 * se), math.exp(b + 1.959964 * se)]
    assert labs.check("binary-or-livch3", right)
    assert not labs.check("binary-or-livch3", [b, b - 1.96 * se, b + 1.96 * se])  # forgot to exponentiate
    assert not labs.check("binary-or-livch3", right[0])  # not the three numbers

    vc = fits["slope"].varcorr
    sd0, sd3, r = vc["Std.Dev."].iloc[0], vc["Std.Dev."].iloc[1], vc["Corr.(Intercept)"].iloc[1]
    v = sd0 ** 2 + 2 * r * sd0 * sd3 + sd3 ** 2
    assert labs.check("binary-icc-urban", v / (v + math.pi ** 2 / 3))
    assert not labs.check("binary-icc-urban", sd0 ** 2 / (sd0 ** 2 + math.pi ** 2 / 3))  # the rural ICC
    assert not labs.check("binary-icc-urban", (sd0 ** 2 + sd3 ** 2) / (sd0 ** 2 + sd3 ** 2 + math.pi ** 2 / 3))

    woman = pd.DataFrame({k: [v] for k, v in binary.WOMAN.items()})
    assert labs.check("binary-predict-woman", fits["ri"].predict(woman, type="response").iloc[0])
    assert not labs.check("binary-predict-woman",
                          fits["ri"].predict(woman, type="response", re_form="NA").iloc[0])  # no district
    assert not labs.check("binary-predict-woman", fits["ri"].predict(woman).iloc[0])  # the log-odds
    assert set(labs.keys()) >= {"binary-which-model", "binary-or-livch3", "binary-icc-urban",
                                "binary-predict-woman"}
