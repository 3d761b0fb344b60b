"""hlm_course.marginal_conditional: marginal/conditional views and multilevel R², against lme4 (tests/reference/lab2_lme4.json)."""

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import hlm_course as hc
from hlm_course import marginal_conditional as r2
from hlm_course.labs import lab2
from hlm_course.lmer import MixedModelError
from conftest import reference

REF = reference("lab2_lme4")


@pytest.fixture(scope="module")
def rs_both():
    return lab2.fit("rs_both")


def test_marginal_and_conditional_fitted_values(rs_both):
    marg = r2.marginal_fitted(rs_both)
    assert marg.index.equals(rs_both.data.index) and marg.name == "marginal_fitted"
    np.testing.assert_allclose(marg.to_numpy()[:10], REF["marginal"]["marginal_fitted_head"], rtol=1e-5)
    np.testing.assert_allclose(rs_both.fitted.to_numpy()[:10], REF["marginal"]["conditional_fitted_head"], rtol=1e-5)
    # marginal residual = conditional residual + Z u
    zu = np.sum(rs_both.Z * rs_both.ranef.to_numpy()[rs_both.codes], axis=1)
    np.testing.assert_allclose(r2.marginal_resid(rs_both).to_numpy(), rs_both.resid.to_numpy() + zu, atol=1e-10)


def test_marginal_cov_matches_lme4(rs_both):
    m = REF["marginal"]
    V = r2.marginal_cov(rs_both, m["school"])
    assert list(V.index) == m["rows"] and V.shape == (len(m["rows"]),) * 2
    np.testing.assert_allclose(V.to_numpy(), np.array(m["V"]), rtol=2e-5)
    C = r2.marginal_cov(rs_both, m["school"], corr=True)
    np.testing.assert_allclose(np.diag(C), 1.0)
    np.testing.assert_allclose(C.to_numpy(), C.to_numpy().T)
    # a random-intercept model gives one intraclass correlation for every pair
    ri = lab2.fit("ri")
    Cri = r2.marginal_cov(ri, m["school"], corr=True).to_numpy()
    off = Cri[~np.eye(len(Cri), dtype=bool)]
    icc = ri.tau.iloc[0, 0] / (ri.tau.iloc[0, 0] + ri.sigma2)
    np.testing.assert_allclose(off, icc)


def test_marginal_cov_errors(rs_both):
    with pytest.raises(KeyError, match="group 99999 is not one of the 160 levels of 'school'"):
        r2.marginal_cov(rs_both, 99999)
    with pytest.raises(TypeError, match="must be a fitted model"):
        r2.marginal_fitted(pd.DataFrame())


def test_principal_axes(rs_both):
    ax = r2.principal_axes(rs_both)
    T = rs_both.tau.to_numpy()
    assert list(ax.columns) == ["variance", "sd", "share", "ratio", *rs_both.random_names]
    np.testing.assert_allclose(ax["variance"].sum(), np.trace(T))
    assert ax["variance"].is_monotonic_decreasing and ax["ratio"].iloc[0] == 1.0
    U = ax[rs_both.random_names].to_numpy().T  # columns: directions
    np.testing.assert_allclose(U @ np.diag(ax["variance"]) @ U.T, T, atol=1e-10)
    np.testing.assert_allclose(np.abs(U.T @ U), np.eye(3), atol=1e-10)
    # same from an array and a DataFrame; a singular T has a zero last axis
    np.testing.assert_allclose(r2.principal_axes(T)["variance"], ax["variance"])
    sing = r2.principal_axes(np.diag([4.0, 1.0, 0.0]))
    assert sing["variance"].iloc[2] == 0.0 and sing["ratio"].iloc[2] == 0.0
    assert list(sing.columns[-3:]) == ["u0", "u1", "u2"]


def test_principal_axes_errors():
    with pytest.raises(ValueError, match="square"):
        r2.principal_axes(np.ones((2, 3)))
    with pytest.raises(ValueError, match="non-empty square"):
        r2.principal_axes(np.zeros((0, 0)))
    with pytest.raises(ValueError, match="matrix of numbers"):
        r2.principal_axes([["a", "b"], ["c", "d"]])
    with pytest.raises(ValueError, match="missing or infinite"):
        r2.principal_axes(np.array([[1.0, np.nan], [np.nan, 1.0]]))
    with pytest.raises(ValueError, match="T is zero"):
        r2.principal_axes(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="symmetric"):
        r2.principal_axes(np.array([[1.0, 0.5], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="not positive semi-definite"):
        r2.principal_axes(np.array([[1.0, 2.0], [2.0, 1.0]]))


@pytest.mark.parametrize("name, key", [("final", "nakagawa_final"), ("rs_both", "nakagawa_rs_both")])
def test_nakagawa_r2_matches_lme4(name, key):
    got = r2.nakagawa_r2(lab2.fit(name))
    want = REF["r2"][key]
    for k in ("marginal", "conditional", "var_fixed", "var_random", "var_resid"):
        assert got[k] == pytest.approx(want[k], rel=1e-4), k


def test_random_part_variance_of_random_intercept_model_is_tau00():
    ri = lab2.fit("ri")
    assert r2.random_part_variance(ri) == pytest.approx(ri.tau.iloc[0, 0], rel=1e-12)
    assert r2.fixed_part_variance(ri) == pytest.approx(np.var(ri.X @ ri.fixef.to_numpy(), ddof=1))


@pytest.mark.parametrize("name, key", [("final", "snijders_bosker_final"), ("ri", "snijders_bosker_ri")])
def test_snijders_bosker_r2_matches_lme4(name, key):
    got = r2.snijders_bosker_r2(lab2.fit("null"), lab2.fit(name))
    want = REF["r2"][key]
    for k in ("level1", "level2", "n"):
        assert got[k] == pytest.approx(want[k], rel=1e-5), k


def test_snijders_bosker_r2_n_and_errors():
    null, ri = lab2.fit("null"), lab2.fit("ri")
    # with n = 1 the level-2 formula is the level-1 one
    one = r2.snijders_bosker_r2(null, ri, n=1)
    assert one["level2"] == pytest.approx(one["level1"])
    with pytest.raises(MixedModelError, match=r"random-intercept models.*\(1 \| school\)"):
        r2.snijders_bosker_r2(null, lab2.fit("rs_cses"))
    with pytest.raises(ValueError, match="representative group size"):
        r2.snijders_bosker_r2(null, ri, n=0)
    other = lab2.data().iloc[:3000]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        small = hc.lmer("mathach ~ cses + (1 | school)", other)
    with pytest.raises(MixedModelError, match="same response on the same rows"):
        r2.snijders_bosker_r2(null, small)
    with pytest.raises(TypeError, match="null must be a fitted model"):
        r2.snijders_bosker_r2("null", ri)


@pytest.mark.parametrize("n", [-2.0, np.inf, np.nan, "forty", None])
def test_snijders_bosker_r2_bad_n(n):
    null, ri = lab2.fit("null"), lab2.fit("ri")
    if n is None:  # the default is fine
        assert r2.snijders_bosker_r2(null, ri, n=n)["n"] > 1
        return
    with pytest.raises(ValueError, match="representative group size"):
        r2.snijders_bosker_r2(null, ri, n=n)


def test_snijders_bosker_r2_needs_the_empty_model_and_the_same_groups():
    null, ri = lab2.fit("null"), lab2.fit("ri")
    with pytest.raises(ValueError, match=r"null must be the empty model.*'cses'"):
        r2.snijders_bosker_r2(ri, lab2.fit("final"))
    data = lab2.data().assign(sector_group=lambda d: d["sector"].astype(str))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        by_sector = hc.lmer("mathach ~ 1 + (1 | sector_group)", data)
    with pytest.raises(MixedModelError, match="same grouping: 'sector_group' with 2 levels"):
        r2.snijders_bosker_r2(by_sector, ri)
