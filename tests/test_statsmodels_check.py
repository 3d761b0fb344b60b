"""Tests for hlm_course.statsmodels_check: fit checks (θ from T, restarts, criterion
along a line) and the statsmodels MixedLM comparison of chapter 13.

The MixedLM failure values are those of statsmodels 0.14.x on the HSB data
(they are properties of that version's optimizers); the tests that depend on
them are skipped for other versions.
"""

import json
from pathlib import Path

import numpy as np
import pytest
import statsmodels

import hlm_course as hc
from hlm_course import statsmodels_check as sc
from hlm_course.lmer import MixedModelError, lambda_theta, profiled_deviance

REF = json.loads((Path(__file__).parent / "reference" / "lme4_reference.json").read_text())["models"]
SM014 = pytest.mark.skipif(not statsmodels.__version__.startswith("0.14"),
                           reason="MixedLM optimizer behaviour checked for statsmodels 0.14.x")
MINORITY = "mathach ~ cses + minority + (cses + minority | school)"


@pytest.fixture(scope="module")
def rc(hsb):
    return hc.lmer("mathach ~ cses + (cses | school)", hsb)


@pytest.fixture(scope="module")
def mino(hsb):
    return hc.lmer(MINORITY, hsb)


# ---------------------------------------------------------------- θ from T
def test_theta_from_tau_inverts_lambda(rc):
    theta = sc.theta_from_tau(rc.tau, rc.sigma2)
    np.testing.assert_allclose(theta, rc.theta, atol=1e-10)


def test_theta_from_tau_singular_matrix_reproduces_lme4_boundary_fit(mino):
    """The seed's printed singular T (corr -1.00) gives lme4's criterion 46503.39."""
    ref = REF["hsb_minority_reml"]
    T = np.asarray(ref["tau"]["matrix"])
    theta = sc.theta_from_tau(T, ref["sigma"] ** 2)
    assert theta[3] == 0.0  # the zero diagonal element of Λθ
    lam = lambda_theta(theta, 3)
    np.testing.assert_allclose(ref["sigma"] ** 2 * lam @ lam.T, T, atol=1e-8)
    crit = profiled_deviance(theta, mino.xp, reml=True)
    assert crit == pytest.approx(ref["reml_criterion"], abs=1e-4)


@pytest.mark.parametrize("tau, sigma2, message", [
    (np.ones((2, 3)), 1.0, "square"),
    (np.array([[1.0, 0.5], [0.2, 1.0]]), 1.0, "symmetric"),
    (np.eye(2), -1.0, "positive"),
    (np.array([[1.0, 2.0], [2.0, 1.0]]), 1.0, "positive semi-definite"),
])
def test_theta_from_tau_errors(tau, sigma2, message):
    with pytest.raises(MixedModelError, match=message):
        sc.theta_from_tau(tau, sigma2)


# ------------------------------------------------------- restarts and line
def test_restart_table_reaches_global_optimum(mino):
    lme4_theta = np.asarray(REF["hsb_minority_reml"]["theta"])
    table = sc.restart_table(mino, {"lme4 default": lme4_theta, "identity": np.array([1.0, 0, 0, 1, 0, 1])})
    assert list(table.index) == ["lme4 default", "identity"]
    assert table.loc["lme4 default", "criterion at start"] == pytest.approx(46503.38976, abs=1e-4)
    np.testing.assert_allclose(table["criterion reached"], REF["hsb_minority_reml_bobyqa"]["reml_criterion"],
                               atol=1e-5)
    assert not table["singular"].any()


def test_restart_table_errors(mino):
    with pytest.raises(ValueError, match="starts is empty"):
        sc.restart_table(mino, {})
    with pytest.raises(MixedModelError, match="needs 6"):
        sc.restart_table(mino, {"bad": np.ones(3)})


def test_lme4_stop_is_a_false_boundary(mino):
    """lme4's default θ is a local minimum *of the parametrization* (KKT point on λ22 = 0) ..."""
    lme4_theta = np.asarray(REF["hsb_minority_reml"]["theta"])
    f = lambda th: profiled_deviance(th, mino.xp, reml=True)  # noqa: E731
    h = 1e-6
    grad = np.array([(f(lme4_theta + e * h) - f(lme4_theta - e * h)) / (2 * h) for e in np.eye(6)])
    step_off = (f(lme4_theta + np.eye(6)[3] * h) - f(lme4_theta)) / h
    assert np.all(np.abs(np.delete(grad, 3)) < 0.1)  # flat in the free directions
    assert step_off > 40  # leaving the boundary goes steeply uphill
    assert sc.boundary_angle(lme4_theta, 3) == pytest.approx(58.258, abs=1e-3)
    line = sc.criterion_along_line(mino, lme4_theta, num=21)
    assert line["criterion"].iloc[0] == pytest.approx(46503.38976, abs=1e-4)
    assert line["criterion"].iloc[1] > line["criterion"].iloc[0]  # first rises ...
    assert line["criterion"].iloc[-1] == pytest.approx(46495.14026, abs=1e-4)  # ... then falls to ours


def test_equivalent_factor_descends_immediately(mino):
    """... but the same T with the factor rotated to 90° is no minimum: the criterion falls monotonically."""
    lme4_theta = np.asarray(REF["hsb_minority_reml"]["theta"])
    theta90 = sc.rotate_boundary_theta(lme4_theta, 3, 90.0)
    lam, lam90 = lambda_theta(lme4_theta, 3), lambda_theta(theta90, 3)
    np.testing.assert_allclose(lam90 @ lam90.T, lam @ lam.T, atol=1e-14)  # same T
    assert sc.boundary_angle(theta90, 3) == pytest.approx(90.0)
    np.testing.assert_allclose(theta90, sc.theta_from_tau(lam @ lam.T, 1.0), atol=1e-12)
    line = sc.criterion_along_line(mino, theta90, num=21)
    assert np.all(np.diff(line["criterion"]) < 0)
    with pytest.raises(ValueError, match="num must be at least 2"):
        sc.criterion_along_line(mino, theta90, num=1)


def test_rotate_boundary_theta_errors(rc):
    with pytest.raises(MixedModelError, match="nothing to rotate"):
        sc.rotate_boundary_theta(rc.theta, 2, 45.0)
    with pytest.raises(ValueError, match="between 0 and 180"):
        sc.rotate_boundary_theta(np.array([0.4, 0.1, 0.0, 0.0, 0.1, 0.2]), 3, 200.0)


# ------------------------------------------------------------- MixedLM part
def test_mixedlm_args():
    assert sc.mixedlm_args("mathach ~ cses + (cses | school)") == {
        "formula": "mathach ~ cses", "groups": "school", "re_formula": "~cses"}
    assert sc.mixedlm_args("y ~ x + (1 | g)")["re_formula"] is None
    assert sc.mixedlm_args("y ~ x + (0 + x | g)")["re_formula"] == "~0 + x"
    with pytest.raises(MixedModelError, match="no random-effects term"):
        sc.mixedlm_args("y ~ x")


def test_fit_mixedlm_missing_group(hsb):
    with pytest.raises(MixedModelError, match="grouping column 'nope'"):
        sc.fit_mixedlm("mathach ~ cses + (1 | nope)", hsb)


def test_mixedlm_start_reorders_random_effects(hsb, mino):
    import statsmodels.formula.api as smf

    model = smf.mixedlm("mathach ~ cses + minority", hsb, groups="school", re_formula="~cses + minority")
    start = sc.mixedlm_start(mino, model)
    lam = mino.pls.Lambda
    rel = lam @ lam.T  # lmer order: (Intercept), cses, minorityYes
    order = [0, 2, 1]  # MixedLM (patsy) order: intercept, minority[T.Yes], cses
    np.testing.assert_allclose(start.cov_re, rel[np.ix_(order, order)])
    np.testing.assert_allclose(start.fe_params, mino.fixef[["(Intercept)", "minorityYes", "cses"]])
    wrong = smf.mixedlm("mathach ~ cses", hsb, groups="school", re_formula="~cses")
    with pytest.raises(MixedModelError, match="is not the lmer fit's model"):
        sc.mixedlm_start(mino, wrong)


@SM014
def test_default_mixedlm_fails_and_lmer_start_repairs(hsb, rc):
    """Chapter 13's claims: REML criterion 46914.99 instead of 46714.23, τ00 4.39, τ11 15.57."""
    default = sc.fit_mixedlm("mathach ~ cses + (cses | school)", hsb)
    assert not default.converged
    assert default.criterion == pytest.approx(46914.99, abs=0.01)
    assert default.tau.loc["(Intercept)", "(Intercept)"] == pytest.approx(4.39, abs=0.01)
    assert default.tau.loc["cses", "cses"] == pytest.approx(15.57, abs=0.01)
    cats = sc.warning_table(default)
    assert set(cats["category"]) == {"ConvergenceWarning"}
    assert cats["times"].sum() == len(default.warnings) == 8
    # the analytic score has the wrong sign where the Cholesky diagonal is negative
    score = sc.score_check(default)
    assert (score.loc[["L[0,0]", "L[1,1]"], "packed value"] < 0).all()
    np.testing.assert_allclose(score["analytic score"], -score["finite difference"], rtol=1e-4)
    repaired = sc.fit_mixedlm("mathach ~ cses + (cses | school)", hsb, start=rc)
    assert repaired.converged and repaired.label == "default (lmer start)"
    assert repaired.criterion == pytest.approx(rc.reml_criterion, abs=1e-4)
    table = sc.compare_mixedlm([default, repaired], rc)
    assert list(table.index) == ["lmer", "MixedLM: default", "MixedLM: default (lmer start)"]
    assert table.loc["MixedLM: default", "minus lmer"] == pytest.approx(200.75, abs=0.01)
    assert table.loc["lmer", "tau cses"] == pytest.approx(REF["hsb_rc_reml"]["varcorr"]["var"]["cses"], rel=1e-4)
    # the coefficients look fine, their SEs do not: SE of gamma10 0.333 vs lmer's 0.128
    np.testing.assert_allclose(default.fixef, rc.fixef, atol=0.02)
    assert default.result.bse["cses"] == pytest.approx(0.333, abs=5e-4)
    assert default.result.bse["cses"] / rc.se["cses"] == pytest.approx(2.6, abs=0.05)
    assert default.tau.loc["cses", "cses"] / rc.tau.loc["cses", "cses"] > 20
    assert "Converged:           No" in str(default.result.summary())
    # more iterations do not help: the line searches fail, not the iteration limit
    more = sc.fit_mixedlm("mathach ~ cses + (cses | school)", hsb, maxiter=2000)
    assert not more.converged and more.label == "default"
    assert more.criterion == pytest.approx(default.criterion, abs=1e-6)


@SM014
def test_derivative_free_repair_and_its_limits(hsb, rc):
    """Powell then Nelder-Mead repairs the two-effect model; Powell alone fails quietly on three effects."""
    run = sc.fit_mixedlm("mathach ~ cses + (cses | school)", hsb, method=["powell", "nm"])
    assert run.label == "powell → nm" and run.converged and run.warnings == []
    assert run.criterion == pytest.approx(rc.reml_criterion, abs=1e-4)
    mino = hc.lmer(MINORITY, hsb)
    powell = sc.fit_mixedlm(MINORITY, hsb, method="powell")
    assert powell.converged and powell.warnings == []
    assert 0.3 < powell.criterion - mino.reml_criterion < 0.6  # quietly above the maximum


@SM014
def test_lbfgs_quiet_failures(hsb, rc):
    lbfgs = sc.fit_mixedlm("mathach ~ cses + (cses | school)", hsb, method="lbfgs")
    assert lbfgs.converged and lbfgs.warnings == []
    assert lbfgs.criterion - rc.reml_criterion == pytest.approx(3.11, abs=0.01)
    ri = sc.fit_mixedlm("mathach ~ cses + (1 | school)", hsb, method="lbfgs")
    assert ri.converged and np.isposinf(ri.result.llf)
    assert ri.fixef["(Intercept)"] == pytest.approx(0.0, abs=1e-8)
    assert ri.tau.iloc[0, 0] == pytest.approx(0.0, abs=1e-12)


def test_compare_mixedlm_errors(hsb, rc):
    with pytest.raises(ValueError, match="runs is empty"):
        sc.compare_mixedlm([], rc)
    ml = sc.fit_mixedlm("mathach ~ cses + (cses | school)", hsb, reml=False, start=rc, label="ml")
    with pytest.raises(MixedModelError, match="reml=False"):
        sc.compare_mixedlm([ml], rc)


def test_score_check_needs_history(rc):
    run = sc.MixedLMRun(label="x", result=type("R", (), {"hist": None})(), reml=True, elapsed=0.0)
    with pytest.raises(ValueError, match="no optimizer history"):
        sc.score_check(run)


def test_warning_table_empty():
    run = sc.MixedLMRun(label="x", result=None, reml=True, elapsed=0.0)
    assert sc.warning_table(run).empty
