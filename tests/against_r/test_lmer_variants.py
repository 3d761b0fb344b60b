"""lmer on a student's own data (issue 14): invariance, R's formula semantics, honest convergence.

* An lme4 reference (tests/r/student_variants.R → tests/reference/student_variants_lme4.json, on lme4's
  sleepstudy exported to tests/reference/sleepstudy.csv): our criterion is never above lme4's best
  (default or bobyqa), and where lme4 reached the optimum the estimates and names are lme4's.
* Every row of the issue's table as a regression test.
* Metamorphic tests (Hypothesis, derandomized): shifting and scaling y and x, permuting rows and
  relabelling groups transform the estimates exactly and leave the ML deviance unchanged (up to the
  Jacobian term of a rescaled y).
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

import hlm_course as hc
from hlm_course.lmer import MixedModelError
from conftest import reference

REFDIR = Path(__file__).resolve().parents[1] / "reference"
REF = reference("student_variants_lme4")["models"]


@lru_cache(maxsize=None)
def sleep() -> pd.DataFrame:
    ss = pd.read_csv(REFDIR / "sleepstudy.csv")
    return ss.assign(Seconds=ss.Days * 86400, DaysShift=ss.Days + 10000, ReactionShift=ss.Reaction + 1e7,
                     Dbool=ss.Days >= 5)


@lru_cache(maxsize=None)
def fit(formula: str, reml: bool = True) -> hc.LmerFit:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return hc.lmer(formula, sleep(), reml=reml)


def crit(m):
    return m.reml_criterion if m.reml else m.deviance


# --- the lme4 reference -----------------------------------------------------------------------------
@pytest.mark.parametrize("key", sorted(REF))
def test_never_above_lme4_and_equal_where_lme4_reached_the_optimum(key):
    ref = REF[key]
    d, best = ref["default"], ref[ref["best"]]
    m = fit(d["formula"], d["reml"])
    assert m.converged
    assert crit(m) <= best["criterion"] + 1e-6
    assert list(m.fixef.index) == list(d["fixef"])  # R's names: I(Days^2), poly(Days, 2)1, DboolTRUE
    assert m.nobs == d["nobs"] and m.npar == d["npar"]
    if not d["singular"] and not d["messages"]:  # lme4's default converged cleanly: same fit
        assert crit(m) == pytest.approx(d["criterion"], abs=1e-6)
        np.testing.assert_allclose(m.fixef, list(d["fixef"].values()), rtol=1e-5)
        np.testing.assert_allclose(m.se, list(d["se"].values()), rtol=3e-4)  # lme4 stops at ftol_abs 1e-8
        assert m.sigma == pytest.approx(d["sigma"], rel=5e-5)
        np.testing.assert_allclose(m.theta[m.free], d["theta"], rtol=1e-3, atol=2e-5)
        ml = m.refit(reml=False) if m.reml else m  # lme4's refitML
        assert ml.deviance == pytest.approx(d["ml_deviance"], abs=1e-4)


def test_lme4_stops_short_on_rescaled_or_uncentred_days_and_we_reach_the_true_optimum():
    """ML deviance is invariant to Days → 86400 Days and Days → Days + 10000; the REML criterion moves by
    2 log 86400 (log|R_X|²) for the rescaling only.  lme4 stops well above those values (singular)."""
    base_reml, base_ml = fit("Reaction ~ Days + (Days | Subject)"), fit("Reaction ~ Days + (Days | Subject)", False)
    sec = fit("Reaction ~ Seconds + (Seconds | Subject)")
    assert sec.reml_criterion == pytest.approx(base_reml.reml_criterion + 2 * np.log(86400), abs=1e-6)
    assert f"{sec.reml_criterion:.2f}" == "1766.36" and sec.converged and not sec.singular
    assert REF["seconds_reml"]["default"]["criterion"] > sec.reml_criterion + 49  # lme4: 1815.80
    assert fit("Reaction ~ Seconds + (Seconds | Subject)", False).deviance == pytest.approx(base_ml.deviance, abs=1e-6)
    shift = fit("Reaction ~ DaysShift + (DaysShift | Subject)")
    assert shift.reml_criterion == pytest.approx(base_reml.reml_criterion, abs=1e-6)
    assert f"{shift.reml_criterion:.2f}" == "1743.63" and shift.converged and not shift.singular
    # estimates transform exactly: slope per second = slope per day / 86400; T likewise
    assert sec.fixef["Seconds"] * 86400 == pytest.approx(base_reml.fixef["Days"], rel=1e-6)
    assert sec.tau.iloc[1, 1] * 86400 ** 2 == pytest.approx(base_reml.tau.iloc[1, 1], rel=1e-6)
    assert shift.fixef["(Intercept)"] + 10000 * shift.fixef["DaysShift"] == pytest.approx(
        base_reml.fixef["(Intercept)"], rel=1e-8)


def test_adding_1e7_to_the_response_changes_nothing_but_the_intercept():
    base, big = fit("Reaction ~ Days + (Days | Subject)"), fit("ReactionShift ~ Days + (Days | Subject)")
    np.testing.assert_allclose(big.tau, base.tau, rtol=1e-6)  # was 731.7 vs 612.1, covariance sign flipped
    assert big.reml_criterion == pytest.approx(base.reml_criterion, abs=1e-6)
    assert big.fixef["(Intercept)"] - 1e7 == pytest.approx(base.fixef["(Intercept)"], rel=1e-8)
    assert big.corr.iloc[1, 0] == pytest.approx(base.corr.iloc[1, 0], abs=1e-6)


def test_r_formula_semantics():
    sq = fit("Reaction ~ Days + I(Days^2) + (Days | Subject)")
    assert f"{sq.fixef['I(Days^2)']:.4f}" == "0.3370"  # was 1.5363: ^ evaluated as XOR
    d = sleep().assign(Dayf=sleep().Days.astype(float) + 0.5)
    assert "I(Dayf^2)" in hc.lmer("Reaction ~ Dayf + I(Dayf^2) + (1 | Subject)", d).fixef.index  # float x works
    sc = fit("Reaction ~ scale(Days) + (scale(Days) | Subject)")
    assert f"{sc.fixef['scale(Days)']:.3f}" == "30.149"  # R's sd divides by n - 1 (was 30.065)
    assert fit("Reaction ~ Dbool + (1 | Subject)").fixef.index[1] == "DboolTRUE"
    lg = fit("log(Reaction) ~ Days + (Days | Subject)")
    assert lg.response == "log(Reaction)" and lg.reml_criterion == pytest.approx(
        REF["log_response_reml"]["default"]["criterion"], abs=1e-6)


def test_offset_and_poly_predict():
    ss = sleep().assign(o=sleep().Days * 10.0)
    a = hc.lmer("Reaction ~ Days + offset(o) + (1 | Subject)", ss)
    b = hc.lmer("Reaction ~ Days + (1 | Subject)", ss)
    assert a.fixef["Days"] == pytest.approx(b.fixef["Days"] - 10.0, rel=1e-8)
    np.testing.assert_allclose(a.fitted, b.fitted, rtol=1e-8)
    p2 = fit("Reaction ~ poly(Days, 2) + (Days | Subject)")
    X = hc.fixed_design(p2, sleep().head(12))  # the stored basis evaluates the same polynomials
    np.testing.assert_allclose(X.to_numpy(), p2.X[:12], atol=1e-12)
    np.testing.assert_allclose(p2.X[:, 1:].T @ p2.X[:, 1:], np.eye(2), atol=1e-12)  # orthonormal, as R


# --- the other rows of the table -----------------------------------------------------------
def test_infinite_values_are_refused_naming_the_column():
    d = sleep().copy()
    d.loc[3, "Days"] = np.inf
    with pytest.raises(MixedModelError, match=r"column 'Days' has 1 infinite value"):
        hc.lmer("Reaction ~ Days + (Days | Subject)", d)  # was an all-NaN fit with converged=True
    d = sleep().assign(w=1.0)
    d.loc[5, "w"] = -np.inf
    with pytest.raises(MixedModelError, match=r"column 'w' has 1 infinite value"):
        hc.lmer("Reaction ~ Days + w + (1 | Subject)", d)  # was "rank deficient"
    with pytest.raises(MixedModelError, match=r"response 'log\(Reaction - 300\)'.*undefined"):
        hc.lmer("log(Reaction - 300) ~ Days + (1 | Subject)", sleep())


def test_constant_response_is_never_converged():
    d = sleep().assign(y=5.0)
    with pytest.raises(MixedModelError, match="response is constant"):
        hc.lmer("y ~ Days + (Days | Subject)", d)
    d = sleep().assign(y=lambda f: 3.0 + 2.0 * f.Days)  # an exact function of the fixed part
    with pytest.raises(MixedModelError, match="exact linear function"):
        hc.lmer("y ~ Days + (1 | Subject)", d)


def test_a_response_constant_within_groups_is_not_converged_and_says_why():
    rng = np.random.default_rng(1)
    g = np.repeat(np.arange(10), 5)
    d = pd.DataFrame({"g": g, "x": rng.normal(size=50), "y": rng.normal(size=10)[g]})
    with pytest.warns(UserWarning, match="Model failed to converge.*constant within groups"):
        m = hc.lmer("y ~ x + (1 | g)", d)
    assert not m.converged and "Model failed to converge" in m.summary()


def test_duplicate_index_labels_and_nullable_dtypes_just_work():
    base = fit("Reaction ~ Days + (Days | Subject)")
    dup = sleep().set_index(np.zeros(len(sleep()), int))
    m = hc.lmer("Reaction ~ Days + (Days | Subject)", dup)
    assert m.reml_criterion == pytest.approx(base.reml_criterion, abs=1e-9) and len(m.resid) == len(dup)
    nullable = sleep().convert_dtypes()
    nullable.loc[[0, 7], "Reaction"] = pd.NA
    with pytest.warns(UserWarning, match="2 row"):
        a = hc.lmer("Reaction ~ Days + (Days | Subject)", nullable)
    b = hc.lmer("Reaction ~ Days + (Days | Subject)", sleep().drop(index=[0, 7]))
    assert a.n_dropped == 2 and a.reml_criterion == pytest.approx(b.reml_criterion, abs=1e-9)
    np.testing.assert_allclose(a.fixef, b.fixef, rtol=1e-10)


def test_inference_refuses_models_of_different_data_and_checks_arguments():
    ss = sleep()
    m1 = fit("Reaction ~ Days + (1 | Subject)", False)
    other = ss.assign(Reaction=ss.Reaction[::-1].to_numpy())  # same n, different data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m2 = hc.lmer("Reaction ~ Days + (Days | Subject)", other, reml=False)
    with pytest.raises(MixedModelError, match="anova: the models were fitted to different data"):
        hc.anova(m1, m2)
    with pytest.raises(MixedModelError, match="pb_test: the models were fitted to different data"):
        hc.pb_test(m1, m2, nsim=10, seed=1)
    big = fit("Reaction ~ Days + (Days | Subject)", False)
    for bad in (0, 2.5, -3, True):
        with pytest.raises(MixedModelError, match="nsim must be a positive integer"):
            hc.pb_test(m1, big, nsim=bad, seed=1)
        with pytest.raises(MixedModelError, match="nsim must be a positive integer"):
            hc.bootstrap_ci(m1, nsim=bad, seed=1)
    ci = hc.bootstrap_ci(m1, nsim=20, level=np.float64(0.9), seed=3)  # numpy scalars are numbers
    assert ci.attrs["level"] == 0.9


def test_bootstrap_of_a_response_far_from_zero_matches_the_centred_one():
    base, big = fit("Reaction ~ Days + (1 | Subject)"), fit("ReactionShift ~ Days + (1 | Subject)")
    a = hc.bootstrap_ci(base, nsim=30, seed=11)
    b = hc.bootstrap_ci(big, nsim=30, seed=11)
    np.testing.assert_allclose(b.loc[["sd_(Intercept)", "sigma", "Days"], ["lower", "upper"]],
                               a.loc[["sd_(Intercept)", "sigma", "Days"], ["lower", "upper"]], rtol=1e-5)


# --- metamorphic tests ------------------------------------------------------------------------------
def two_level(seed: int, J: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n_j = rng.integers(6, 12, size=J)
    g = np.repeat(np.arange(J), n_j)
    x = rng.normal(size=g.size)
    u0, u1 = rng.normal(scale=1.0, size=J), rng.normal(scale=0.6, size=J)
    y = 1.0 + 0.5 * x + u0[g] + u1[g] * x + rng.normal(scale=0.7, size=g.size)
    return pd.DataFrame({"g": [f"s{k:02d}" for k in g], "x": x, "y": y})


def quiet_fit(formula, d, reml=False):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return hc.lmer(formula, d, reml=reml)


@settings(max_examples=12, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10_000), J=st.integers(10, 16),
       a=st.floats(1e-3, 1e4), c=st.floats(-1e6, 1e6), b=st.floats(1e-3, 1e4), d=st.floats(-1e4, 1e4))
def test_affine_changes_of_y_and_x_transform_the_fit_exactly(seed, J, a, c, b, d):
    """y → a y + c, x → b x + d (x has a random slope): ML deviance + n log a² unchanged; γ, T, σ map."""
    data = two_level(seed, J)
    m0 = quiet_fit("y ~ x + (x | g)", data)
    m1 = quiet_fit("y ~ x + (x | g)", data.assign(y=a * data.y + c, x=b * data.x + d))
    assert m1.ml_deviance == pytest.approx(m0.ml_deviance + m0.nobs * np.log(a * a), abs=1e-6 * max(1, abs(m0.ml_deviance)))
    if m0.singular:  # the estimates of a boundary fit are not unique enough to compare tightly
        return
    g0, g1 = m0.fixef.to_numpy(), m1.fixef.to_numpy()
    slope = a * g0[1] / b
    assert g1[1] == pytest.approx(slope, rel=1e-5, abs=1e-7 * a / b)
    assert g1[0] == pytest.approx(a * g0[0] + c - slope * d, rel=1e-6, abs=1e-6 * a * (1 + abs(d) / b) + 1e-9 * abs(c))
    assert m1.sigma == pytest.approx(a * m0.sigma, rel=1e-5)
    A = np.array([[a, -a * d / b], [0.0, a / b]])  # u' = A u for the (intercept, slope) random effects
    np.testing.assert_allclose(m1.tau.to_numpy(), A @ m0.tau.to_numpy() @ A.T,
                               rtol=1e-4, atol=1e-5 * np.abs(A @ m0.tau.to_numpy() @ A.T).max())


@settings(max_examples=10, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10_000), J=st.integers(10, 16), perm_seed=st.integers(0, 2 ** 31))
def test_row_order_and_group_labels_do_not_matter(seed, J, perm_seed):
    data = two_level(seed, J)
    m0 = quiet_fit("y ~ x + (x | g)", data, reml=True)
    rng = np.random.default_rng(perm_seed)
    shuffled = data.iloc[rng.permutation(len(data))]
    labels = dict(zip(sorted(data.g.unique()), rng.permutation(1000)[:J] + 17))
    shuffled = shuffled.assign(g=shuffled.g.map(labels))  # groups relabelled with numbers in another order
    m1 = quiet_fit("y ~ x + (x | g)", shuffled, reml=True)
    assert m1.reml_criterion == pytest.approx(m0.reml_criterion, abs=1e-7)
    if not m0.singular:
        np.testing.assert_allclose(m1.fixef, m0.fixef, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(m1.tau, m0.tau, rtol=1e-5, atol=1e-8)
        r0 = m0.ranef.rename(index=labels).sort_index()
        np.testing.assert_allclose(m1.ranef.sort_index().to_numpy(), r0.to_numpy(), rtol=1e-5, atol=1e-7)


# ---------------------------------------------------------------------------
# The numeric fast path of build_design builds what patsy builds
# ---------------------------------------------------------------------------
_TERMS = ["x", "z", "w", "x:z", "x*w", "z:w", "x:z:w", "0", "-1"]


@settings(max_examples=60, deadline=None)
@given(terms=st.lists(st.sampled_from(_TERMS), min_size=1, max_size=4),
       seed=st.integers(0, 2 ** 16), int_w=st.booleans())
def test_numeric_fast_path_matches_patsy(terms, seed, int_w):
    import patsy

    from hlm_course.lmer import formula as fm

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"x": rng.normal(size=30), "z": rng.normal(3, 10, size=30),
                          "w": rng.integers(-5, 5, size=30) if int_w else rng.normal(size=30)})
    rhs = " + ".join(terms)
    fast = fm.build_design(rhs, frame, "fixed-effects")
    dm = patsy.dmatrix(fm.to_patsy(rhs), frame, return_type="dataframe")
    assert fm._numeric_design(fm.to_patsy(rhs), fm._model_desc(fm.to_patsy(rhs)), frame) is not None
    assert sorted(fast.columns) == sorted(dm.columns)
    np.testing.assert_array_equal(fast[dm.columns].to_numpy(), dm.to_numpy())
    assert fast.design_info.column_names == dm.design_info.column_names


def test_fast_path_is_skipped_for_factors_and_expressions():
    from hlm_course.lmer import formula as fm

    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "g": ["a", "b", "a"], "b": [True, False, True]})
    for rhs in ["x + g", "x:b", "I(x**2)", "scale(x)", "log(x)"]:
        assert fm._numeric_design(rhs, fm._model_desc(rhs), fm.model_frame(frame, ["x", "g", "b"]).frame) is None


@settings(max_examples=40, deadline=None)
@given(terms=st.lists(st.sampled_from(["x", "g", "h", "0"]), min_size=1, max_size=3, unique=True),
       nlev=st.integers(1, 5), unused=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_factor_fast_path_equals_patsy(terms, nlev, unused, seed):
    """Main effects of numeric and categorical columns (with or without intercept, unused levels, levels
    in any order): the fast path's matrix and column names are patsy's."""
    import patsy

    from hlm_course.lmer import formula as fm

    rng = np.random.default_rng(seed)
    levels = [f"l{k}" for k in rng.permutation(nlev + 1)]
    used = levels[:-1] if unused else levels
    frame = pd.DataFrame({"x": rng.normal(size=25),
                          "g": pd.Categorical(rng.choice(used, size=25), categories=levels),
                          "h": pd.Categorical(rng.choice(["b", "a"], size=25), categories=["b", "a"])})
    rhs = fm.to_patsy(" + ".join(terms))
    fast = fm._factor_design(rhs, fm._model_desc(rhs), frame)
    if not {"g", "h"} & set(terms):
        assert fast is None
        return
    dm = patsy.dmatrix(fm._model_desc(rhs), frame, return_type="matrix")
    assert fast.design_info.column_names == dm.design_info.column_names
    np.testing.assert_array_equal(np.asarray(fast), np.asarray(dm))


def test_two_column_expressions_equal_the_evaluator():
    """``size - incidence`` (and + and *) of int and float columns: the direct path gives the evaluator's
    values; a string column or an unknown name still gets the evaluator's clear error."""
    from hlm_course.lmer import formula as fm

    rng = np.random.default_rng(11)
    frame = pd.DataFrame({"n": rng.integers(0, 50, 20), "k": rng.integers(0, 50, 20), "x": rng.normal(size=20),
                          "s": list("ab") * 10})
    for expr in ["n - k", "n-x", "x + k", "k * x", "n - n"]:
        want = np.asarray(fm._eval_env().eval(fm.to_patsy(expr), inner_namespace=dict(frame.items())), float)
        np.testing.assert_array_equal(fm.evaluate(expr, frame, "response"), want)
    for expr, msg in [("n - s", "TypeError"), ("n - zz", "NameError")]:
        with pytest.raises(MixedModelError, match=msg):
            fm.evaluate(expr, frame, "response")


def test_factor_fast_path_is_skipped_for_interactions_strings_and_ordered():
    from hlm_course.lmer import formula as fm

    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "s": ["a", "b", "a"],
                          "g": pd.Categorical(["a", "b", "a"]), "o": pd.Categorical(["a", "b", "a"], ordered=True)})
    for rhs in ["x + s", "x:g", "g + o", "I(x**2) + g"]:
        assert fm._factor_design(rhs, fm._model_desc(rhs), frame) is None


@settings(max_examples=60, deadline=None)
@given(n=st.integers(3, 400), p=st.integers(1, 6), log_scale=st.floats(-8, 8), shift=st.floats(-1e7, 1e7),
       seed=st.integers(0, 2 ** 16))
def test_thin_qr_is_a_qr_decomposition(n, p, log_scale, shift, seed):
    """CholeskyQR2 or its Householder fallback: orthonormal Q with contiguous columns, triangular R,
    X = QR to rounding, whatever the scale and offset of the columns (uncentred, huge or tiny units)."""
    from hlm_course.lmer.deviance import thin_qr

    rng = np.random.default_rng(seed)
    p = min(p, n)
    X = rng.normal(size=(n, p)) * 10.0 ** log_scale
    X[:, 0] = 1.0
    if p > 1:
        X[:, 1] += shift
    Q, R = thin_qr(np.asfortranarray(X))
    assert Q.shape == (n, p) and R.shape == (p, p)
    assert Q.flags.f_contiguous
    np.testing.assert_allclose(Q.T @ Q, np.eye(p), atol=1e-10)
    np.testing.assert_array_equal(np.tril(R, -1), 0.0)
    np.testing.assert_allclose(Q @ R, X, atol=1e-10 * np.abs(X).max())


def test_blocked_evaluation_equals_one_pass(monkeypatch):
    """With more groups than a block, the optimizer's criterion is summed block by block; it must be the
    criterion of the one-pass evaluation (and of pls_solve) to rounding, for q = 1, 2, 3."""
    from hlm_course.lmer import deviance as dv

    rng = np.random.default_rng(5)
    for q in (1, 2, 3):
        J, p = 1000, 4
        A = rng.normal(size=(J, q, q))
        xp = dv.CrossProducts(ZtZ=A @ A.transpose(0, 2, 1) + np.eye(q), ZtX=rng.normal(size=(J, q, p)),
                              Zty=rng.normal(size=(J, q)), XtX=np.eye(p) * 1e5, Xty=rng.normal(size=p),
                              yty=1e6, n=45 * J)
        lam = np.tril(rng.uniform(0.2, 1.0, size=(q, q)))
        one_pass = dv.pls_at_factor(lam, xp, criterion_only=True)
        monkeypatch.setattr(dv, "_BLOCK", 300)  # 4 blocks, the last one short
        blocked = dv.pls_at_factor(lam, xp, criterion_only=True)
        assert len(xp._blocks) == 4 and xp._blocks[-1][0].shape[1] == 100
        np.testing.assert_allclose(blocked, one_pass, rtol=1e-12)
        full = dv.pls_at_factor(lam, xp)
        np.testing.assert_allclose(full[4:], one_pass, rtol=1e-12)
        monkeypatch.setattr(dv, "_BLOCK", 16384)


@pytest.mark.parametrize("q", [1, 2, 3, 4])
def test_block_inverses_are_inverses_with_their_log_determinants(q):
    """block_inverse_batch (any leading shape; closed forms up to q = 3, Cholesky beyond) and the row layout
    of the PLS step give the inverse and log-determinant of every SPD block."""
    from hlm_course.lmer.deviance import block_inverse_rows, block_inverse_batch

    rng = np.random.default_rng(q)
    A = rng.normal(size=(4, 5, q, q))
    M = A @ np.swapaxes(A, -1, -2) + 0.5 * np.eye(q)
    inv, logdet = block_inverse_batch(M)
    assert inv.shape == M.shape and logdet.shape == (4, 5)
    np.testing.assert_allclose(inv, np.linalg.inv(M), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(logdet, np.linalg.slogdet(M)[1], rtol=1e-12)
    rows = np.ascontiguousarray(M.reshape(-1, q * q).T)
    inv_rows, logdet_rows = block_inverse_rows(rows, q)
    np.testing.assert_allclose(inv_rows.T.reshape(M.shape), np.linalg.inv(M), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(logdet_rows, np.linalg.slogdet(M)[1].ravel(), rtol=1e-12)
