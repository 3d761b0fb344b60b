"""Tests of hlm_course.multilevel (spida's cvar, dvar, capply, up) on seed 001's hs data.

Reference values are the ones seed 001 prints for ``capply(hs$Sex == "Female",
hs$school, mean)`` (Sex.comp) and ``up(hs, ~ school, all = TRUE)``.
"""

import numpy as np
import pandas as pd
import pytest

import hlm_course as hc
from hlm_course.multilevel import capply, cvar, dvar, is_level2, level2_columns, up


@pytest.fixture(scope="module")
def hs():
    return hc.load_hs40()


def school_value(series, hs, school):
    return series[hs["school"] == school].iloc[0]


# ---------------------------------------------------------------- cvar/dvar
def test_cvar_numeric_is_group_mean_on_every_row(hs):
    m = cvar(hs["ses"], hs["school"])
    assert isinstance(m, pd.Series)
    assert m.index.equals(hs.index)
    # seed 001: up(hs, ~school, all = TRUE) shows ses 0.34533333 for school 1317
    assert school_value(m, hs, 1317) == pytest.approx(0.34533333, abs=5e-9)
    assert school_value(m, hs, 5640) == pytest.approx(-0.17659649, abs=5e-9)
    assert (m[hs["school"] == 1317].nunique()) == 1
    assert m.nunique() == 40


def test_cvar_by_name_with_data(hs):
    a = cvar("ses", "school", data=hs)
    b = cvar(hs["ses"], hs["school"])
    pd.testing.assert_series_equal(a, b)


def test_cvar_categorical_gives_proportions_of_non_reference_levels(hs):
    p = cvar(hs["Sex"], hs["school"])
    assert isinstance(p, pd.DataFrame)
    assert list(p.columns) == ["SexMale"]
    # seed 001's Sex.comp is the proportion of girls: 1 - proportion of boys
    girls = 1 - p["SexMale"]
    for school, value in {5640: 0.4210526, 5762: 0.5675676, 7172: 0.5, 3610: 0.453125, 7919: 0.4324324,
                          8874: 0.5833333, 9550: 0.6551724, 4292: 0.0, 9586: 1.0}.items():
        assert school_value(girls, hs, school) == pytest.approx(value, abs=5e-8)
    both = cvar(hs["Sex"], hs["school"], all_levels=True)
    assert list(both.columns) == ["SexFemale", "SexMale"]
    np.testing.assert_allclose(both.sum(axis=1), 1.0)


def test_cvar_boolean_is_a_proportion(hs):
    girls = cvar(hs["Sex"] == "Female", hs["school"])
    assert school_value(girls, hs, 5640) == pytest.approx(0.4210526, abs=5e-8)


def test_dvar_is_x_minus_cvar_and_has_zero_group_means(hs):
    d = dvar(hs["ses"], hs["school"])
    np.testing.assert_allclose(d + cvar(hs["ses"], hs["school"]), hs["ses"], atol=1e-12)
    assert d.groupby(hs["school"]).mean().abs().max() < 1e-12
    dm = dvar(hs["Sex"], hs["school"])
    assert list(dm.columns) == ["SexMale"]
    assert dm["SexMale"].groupby(hs["school"]).mean().abs().max() < 1e-12


def test_cvar_several_keys(hs):
    m = cvar(hs["ses"], [hs["school"], hs["Sex"]])
    expected = hs.groupby(["school", "Sex"], observed=True)["ses"].transform("mean")
    np.testing.assert_allclose(m, expected)


def test_cvar_skips_missing_x():
    df = pd.DataFrame({"g": [1, 1, 2, 2], "x": [1.0, np.nan, 2.0, 4.0]})
    np.testing.assert_allclose(cvar(df["x"], df["g"]), [1.0, 1.0, 3.0, 3.0])


def test_cvar_errors(hs):
    bad = hs["school"].astype(float)
    bad.iloc[3] = np.nan
    with pytest.raises(ValueError, match="missing value"):
        cvar(hs["ses"], bad)
    with pytest.raises(KeyError, match=r"\['sess'\] not found"):
        cvar("sess", "school", data=hs)
    with pytest.raises(TypeError, match="pass data="):
        cvar("ses", "school")
    with pytest.raises(ValueError, match="1977 rows but the grouping variable has 3"):
        cvar(hs["ses"], np.array([1, 2, 3]))
    with pytest.raises(ValueError, match="different indexes"):
        cvar(hs["ses"], hs["school"].sample(frac=1, random_state=0))
    with pytest.raises(TypeError, match="numeric, boolean or categorical"):
        cvar(pd.Series(pd.date_range("2020", periods=4)), pd.Series([1, 1, 2, 2]))


# ------------------------------------------------------------------- capply
def test_capply_scalar_is_broadcast(hs):
    n = capply(hs, "school", len)
    assert n.index.equals(hs.index)
    assert school_value(n, hs, 1317) == 48
    assert school_value(n, hs, 9550) == 29
    assert n.sum() == sum(k ** 2 for k in hs.groupby("school").size())


def test_capply_series_like_seed(hs):
    comp = capply(hs["Sex"] == "Female", hs["school"], np.mean)
    assert school_value(comp, hs, 7919) == pytest.approx(0.4324324, abs=5e-8)


def test_capply_vector_result_and_errors(hs):
    ranks = capply(hs, "school", lambda d: d["ses"].rank().to_numpy())
    assert ranks[hs["school"] == 1317].max() <= 48
    with pytest.raises(ValueError, match="scalar or one value per row"):
        capply(hs, "school", lambda d: [1, 2])
    with pytest.raises(KeyError, match="not found"):
        capply(hs, "schol", len)
    with pytest.raises(TypeError, match="callable"):
        capply(hs, "school", 3)


# --------------------------------------------------------------- level 2 / up
def test_level2_columns(hs):
    assert level2_columns(hs, "school") == ["sector", "Size", "Sector", "PRACAD", "DISCLIM", "HIMINTY"]
    assert is_level2(hs, "Sector", "school")
    assert not is_level2(hs, "ses", "school")
    hs2 = hs.assign(mean_ses=cvar(hs["ses"], hs["school"]))
    assert is_level2(hs2, "mean_ses", "school")
    with pytest.raises(ValueError, match="grouping column itself"):
        is_level2(hs, "school", "school")


def test_up_keeps_level2_columns(hs):
    u = up(hs, "school")
    assert u.shape == (40, 6)
    assert u.index.name == "school"
    assert list(u.index) == sorted(hs["school"].unique())
    assert isinstance(u["Sector"].dtype, pd.CategoricalDtype)
    assert list(u["Sector"].cat.categories) == ["Catholic", "Public"]
    # seed 001: some(hs.sch)
    assert u.loc[2771, "Size"] == 415 and u.loc[2771, "Sector"] == "Public"
    assert u.loc[4292, "PRACAD"] == 0.76 and u.loc[4292, "DISCLIM"] == -0.674
    assert u["Sector"].value_counts().to_dict() == {"Catholic": 21, "Public": 19}


def test_up_agg_means_and_modes_match_seed(hs):
    ua = up(hs, "school", agg=True)
    assert ua.shape == (40, 12)
    # seed 001: some(hs.sch.all)
    expected = {1317: (13.177687, 0.34533333, "Female", "Yes"), 2629: (14.907772, -0.13764912, "Male", "No"),
                2658: (13.396156, 0.43844444, "Female", "No"), 3992: (14.645208, 0.36539623, "Male", "No"),
                5640: (13.160105, -0.17659649, "Male", "No"), 5650: (14.273533, 0.02244444, "Female", "Yes")}
    for school, (math, ses, sex, minority) in expected.items():
        assert ua.loc[school, "mathach"] == pytest.approx(math, abs=5e-7)
        assert ua.loc[school, "ses"] == pytest.approx(ses, abs=5e-9)
        assert ua.loc[school, "Sex"] == sex
        assert ua.loc[school, "Minority"] == minority
    assert isinstance(ua["Sex"].dtype, pd.CategoricalDtype)


def test_up_mode_ties_go_to_first_level():
    df = pd.DataFrame({"g": [1, 1, 2, 2, 2], "f": pd.Categorical(["b", "a", "b", "b", "a"],
                                                               categories=["a", "b"]), "x": [1, 2, 3, 4, 5]})
    ua = up(df, "g", agg=True)
    assert ua.loc[1, "f"] == "a" and ua.loc[2, "f"] == "b"
    assert ua.loc[2, "x"] == pytest.approx(4.0)


def test_up_two_keys_and_merge_back(hs):
    u = up(hs, ["school", "Sex"])
    assert u.index.names == ["school", "Sex"]
    assert len(u) == hs.groupby(["school", "Sex"], observed=True).ngroups
    long = hs[["school", "ses"]].merge(up(hs, "school"), on="school")
    assert long.shape == (1977, 8)


def test_up_categorical_group_keeps_level_order(hs):
    hs2 = hs.assign(sid=pd.Categorical(hs["school"].astype(str), categories=sorted(
        hs["school"].astype(str).unique(), reverse=True)))
    assert up(hs2, "sid").index[0] == "9586"


def test_up_errors(hs):
    with pytest.raises(KeyError, match="grouping column"):
        up(hs, "schools")
    bad = hs.copy()
    bad["school"] = bad["school"].astype(float)
    bad.loc[5, "school"] = np.nan
    with pytest.raises(ValueError, match="'school' has 1 missing value"):
        up(bad, "school")
    with pytest.raises(TypeError, match="DataFrame"):
        up(hs["ses"], "school")


# ------------------------------------------------------------------- reorder
def test_reorder_like_seed_school_ids(hs):
    comp = cvar(hs["Sex"] == "Female", hs["school"])
    cat = np.select([comp == 1, comp == 0], ["G", "B"], "C")
    sid = hs["Sector"].astype(str).str[0] + hs["school"].astype(str) + cat
    sid = hc.reorder(sid, hs["ses"] + 1000 * (hs["Sector"] == "Catholic"))
    levels = list(sid.cat.categories)
    assert len(levels) == 40
    # seed 001's ranef() listing starts with P5762C (lowest-ses Public school) and ends with C9586G
    assert levels[0] == "P5762C" and levels[-1] == "C9586G"
    assert levels[:3] == ["P5762C", "P2639C", "P8854C"]
    assert {"C2208C", "C2458G", "C2629B", "P2771C", "C4292B"} <= set(levels)
    assert all(lev.startswith("P") for lev in levels[:19])
    means = hs.groupby(sid, observed=True)["ses"].mean()
    assert means.iloc[:19].is_monotonic_increasing and means.iloc[19:].is_monotonic_increasing
    with pytest.raises(TypeError, match="by must be numeric"):
        hc.reorder(sid, hs["Sex"])


def test_frames_in_attrs_do_not_break_printing_or_concat():
    """pandas compares attrs with ==; a plain DataFrame there crashes wide prints and concat."""
    import hlm_course as hc

    wide = pd.DataFrame(np.arange(80.0).reshape(2, 40))
    wide.attrs["test"] = hc.AttrFrame({"F-value": [21.0]})
    with pd.option_context("display.max_columns", 10):
        assert "..." in repr(wide)
    both = pd.concat([wide, wide.copy()])
    assert both.attrs["test"]["F-value"].iloc[0] == 21.0
    assert type(wide.attrs["test"].round(1)) is pd.DataFrame
    wide.attrs["test"] = pd.DataFrame({"F-value": [21.0]})
    with pytest.raises(ValueError, match="ambiguous"):
        pd.concat([wide, wide.copy()])
