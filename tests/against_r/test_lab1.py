"""Lab 1 (chapter 14): the sample, the models against lme4, and every self-check."""

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import hlm_course as hc
from hlm_course import labs
from hlm_course.labs import lab1
from conftest import reference

ROOT = Path(__file__).resolve().parents[2]
REF = reference("lab1_lme4")
CHAPTER = ROOT / "chapters" / "14_lab1_sector_gap.md"
KEYS = [k for k in labs.keys() if k.startswith("lab1-")]


def test_sample_is_the_committed_one():
    hsb = hc.load_hsb()
    ids = lab1.sample_schools(hsb)
    committed = pd.read_csv(ROOT / "tests" / "reference" / "lab1_schools.csv")["school"].tolist()
    assert ids == committed == REF["meta"]["schools"]
    data = lab1.lab_data()
    assert len(data) == REF["meta"]["nobs"] and data["school"].nunique() == 40
    assert data.groupby("sector", observed=True)["school"].nunique().tolist() == [20, 20]
    # whole schools are sampled, so the school means are those of the full data
    np.testing.assert_allclose(hc.cvar(data["ses"], data["school"]), data["mean_ses"], atol=1e-12)
    with pytest.raises(ValueError, match="only 90"):
        lab1.sample_schools(hsb, per_sector=95)


@pytest.mark.parametrize("name", list(lab1.FORMULAS) + ["rs_na"])
def test_models_match_lme4(name):
    ref = REF["models"][name]
    if name == "rs_na":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = hc.lmer(ref["formula"], lab1.with_missing(lab1.lab_data()))
    else:
        m = lab1.fit(name)
        assert m.formula == ref["formula"]
    assert list(m.fixef.index) == list(ref["fixef"])
    np.testing.assert_allclose(m.fixef, list(ref["fixef"].values()), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(m.se, list(ref["se"].values()), rtol=1e-3)
    assert m.reml_criterion == pytest.approx(ref["reml_criterion"], abs=1e-3)
    assert m.sigma == pytest.approx(ref["sigma"], rel=1e-4)
    np.testing.assert_allclose(m.tau.to_numpy(), np.atleast_2d(ref["tau"]), rtol=1e-3, atol=1e-4)
    assert (m.nobs, m.ngroups, m.singular) == (ref["nobs"], ref["ngroups"], ref["singular"])
    # lme4 converged without a convergence warning; the only messages are singular-fit notes
    assert not any("converge" in msg for msg in ref["fit_log"])


def test_equivalent_and_non_equivalent_parametrizations():
    assert lab1.fit("ri_ctx").reml_criterion == pytest.approx(lab1.fit("ri_ctx_c").reml_criterion, abs=1e-6)
    assert lab1.fit("ctx").reml_criterion == pytest.approx(lab1.fit("ctx_raw").reml_criterion, abs=1e-6)
    ref = REF["models"]
    assert ref["ctx_rs_ses"]["reml_criterion"] - ref["ctx"]["reml_criterion"] == pytest.approx(
        labs._REGISTRY["lab1-reml-diff"]._compute(), abs=1e-3)


def test_hausman_matches_r():
    ref = REF["hausman"]
    assert labs._REGISTRY["lab1-hausman"]._compute() == pytest.approx(ref["statistic"], rel=1e-3)
    assert lab1.fit("ri_ctx").fixef["ses"] == pytest.approx(ref["re_ctx"], rel=1e-6)
    assert ref["re_ctx"] == pytest.approx(ref["fe"], rel=1e-10)  # Mundlak: the within estimate


@pytest.mark.filterwarnings("ignore:boundary \\(singular\\) fit")
def test_na_rule_matches_r():
    ref = REF["models"]["rs_na"]
    d = lab1.with_missing(lab1.lab_data())
    assert len(d) - labs._REGISTRY["lab1-na-dropped"]._compute() == ref["nobs"]
    with pytest.warns(UserWarning, match="64 row\\(s\\) with missing values"):
        hc.lmer(lab1.FORMULAS["rs"], d)


def test_fit_errors():
    with pytest.raises(KeyError, match="no lab model 'nope'"):
        lab1.fit("nope")


def _wrong(value):
    """A wrong answer of the same kind."""
    if isinstance(value, (bool, np.bool_)):
        return not value
    if isinstance(value, (list, tuple)) or (isinstance(value, np.ndarray) and value.dtype == object):
        return list(value)[:-1] + [1]
    arr = np.asarray(value, dtype=float)
    if arr.ndim:
        return arr + 0.5
    return float(arr) * 1.1 + 0.5


def _text(value):
    if isinstance(value, (list, np.ndarray)):
        return [f"{float(v):.3f}" for v in np.ravel(value) if not isinstance(v, (bool, np.bool_))]
    return [f"{float(value):.3f}"] if not isinstance(value, (bool, np.bool_)) else []


def test_there_are_enough_checks():
    assert len(KEYS) >= 14


@pytest.mark.parametrize("key", KEYS)
def test_check_accepts_the_right_answer_and_rejects_a_wrong_one(key):
    spec = labs._REGISTRY[key]
    right = spec._compute()
    assert labs.check(key, right), f"{key}: the right answer fails"
    if spec.kind == "set":
        right_list = list(right)
        assert labs.check(key, list(reversed(right_list)))
        wrong = right_list[:-1] + [1] if len(right_list) > 1 else [1]
    else:
        wrong = _wrong(right)
    result = labs.check(key, wrong)
    assert not result, f"{key}: a wrong answer passes"
    for text in _text(right):
        assert text not in repr(result), f"{key}: the message reveals {text}"
    assert "no answer yet" in labs.check(key, None).message


def test_minority_gap_is_the_sector_difference_of_school_proportions():
    d = lab1.lab_data()
    per_school = (d.assign(y=d["minority"].eq("Yes")).groupby("school")
                  .agg(p=("y", "mean"), sector=("sector", "first")))
    m = per_school.groupby("sector", observed=True)["p"].mean()
    assert labs._REGISTRY["lab1-minority-gap"]._compute() == pytest.approx(m["Catholic"] - m["Public"], rel=1e-12)
    # the chapter's two routes to the proportion agree: the 0/1 indicator and the categorical itself
    np.testing.assert_allclose(hc.cvar(d["minority"], d["school"])["minorityYes"],
                               hc.cvar(d["minority"].eq("Yes"), d["school"]), atol=1e-12)
    assert not labs.check("lab1-minority-gap", m["Catholic"])  # one sector's mean is not the gap


def test_array_check_accepts_any_shape_with_the_right_elements():
    """A 1 x 2 DataFrame row (or a 2 x 1 column) answers a 2-vector question; a wrong size does not."""
    coefs = lab1.fit("ri_ctx").fixef[["ses", "mean_ses"]]
    assert labs.check("lab1-contextual", coefs.to_frame().T)
    assert labs.check("lab1-contextual", coefs.to_numpy().reshape(2, 1))
    assert not labs.check("lab1-contextual", (coefs + 0.5).to_frame().T)
    result = labs.check("lab1-contextual", np.append(coefs.to_numpy(), 0.0))
    assert not result and "how many" in result.message
    w = hc.wald(lab1.fit("ri_ctx"), {"between": {"ses": 1, "mean_ses": 1}})
    assert labs.check("lab1-between", w[["Estimate", "Std.Error"]])  # the 1 x 2 frame itself


def test_set_check_accepts_a_scalar_as_a_one_element_set():
    (school,) = labs._REGISTRY["lab1-extreme"]._compute()
    assert labs.check("lab1-extreme", school) and labs.check("lab1-extreme", np.int64(school))
    other = next(s for s in lab1.sample_schools(hc.load_hsb()) if s != school)
    assert not labs.check("lab1-extreme", other)
    result = labs.check("lab1-influential", school)  # a scalar where several schools are right
    assert not result and result.message.startswith("not yet")
    result = labs.check("lab1-extreme", str(school))
    assert not result and "a collection (list, set, Index) of ids, not the string" in result.message


def test_chapter_uses_every_check_and_quotes_lme4_correctly():
    text = CHAPTER.read_text()
    used = set(re.findall(r'labs\.check\("(lab1-[\w-]+)"', text))
    assert used == set(KEYS), f"checks not used in the chapter: {set(KEYS) - used}; unknown: {used - set(KEYS)}"
    # the lme4 numbers the chapter types as quoted source values
    block = re.search(r"LME4_REML = \{(.*?)\}", text, re.S).group(1)
    quoted = dict((k, float(v)) for k, v in re.findall(r'"(\w+)": ([\d.]+)', block))
    assert set(quoted) <= set(REF["models"])
    for name, value in quoted.items():
        assert value == pytest.approx(REF["models"][name]["reml_criterion"], abs=1e-3), name


def test_chapter_quotes_lme4_non_convergence_correctly():
    """The non-convergence box glues lme4's record of the book's 40-school model from the reference runs: the
    default optimizer warns just above the tolerance, bobyqa is silent, and the two criteria agree closely."""
    text = " ".join(CHAPTER.read_text().split())
    ref = reference("lme4_reference")["models"]
    default, bobyqa = ref["hs40_rc_reml"], ref["hs40_rc_reml_bobyqa"]
    for key in ("hs40_rc_reml", "hs40_rc_reml_bobyqa"):
        assert f'lme4_rc["{key}"]' in text or f"lme4_rc['{key}']" in text
    for name in ("lab1_lme4_grad", "lab1_lme4_crit_default", "lab1_lme4_crit_bobyqa", "lab1_lme4_crit_gap"):
        assert f"{{glue:text}}`{name}" in text, name
    grad = float(re.search(r"max\|grad\| = ([\d.]+)", default["optimizer_messages"]["lme4_messages"][0]).group(1))
    assert 0.002 < grad < 0.003   # "just above the tolerance": a false alarm, not a failed fit
    assert 0 < default["reml_criterion"] - bobyqa["reml_criterion"] < 1e-4
    assert not bobyqa["optimizer_messages"]["lme4_messages"]


@pytest.mark.filterwarnings("ignore:boundary \\(singular\\) fit")
def test_the_gap_at_average_composition_rests_on_one_school():
    """Issue 13.1: of the schools above 4/J, only dropping 3427 lifts the sectorCatholic p-value above 5%
    (0.040 -> 0.056); the refits agree with lme4's leave-one-out fixed effects; the joint tests never reject."""
    from hlm_course import influence

    ctx, data = lab1.fit("ctx"), lab1.lab_data()
    D = influence.cooks_distance(ctx, lab1._deletion())
    flagged = sorted(D.index[D > 4 / ctx.ngroups])
    assert flagged == [2655, 3427, 8854]
    loo = REF["influence"]
    lme4_fixef = pd.DataFrame(loo["fixef"], index=loo["schools"], columns=loo["fixef_names"])
    gap = {"gap": {"sectorCatholic": 1}}
    assert hc.wald(ctx, gap)["p-value"].iloc[0] == pytest.approx(0.0404, abs=5e-4)
    p = {}
    for school in flagged:
        m = hc.lmer(ctx.formula, data[data["school"] != school])
        np.testing.assert_allclose(m.fixef, lme4_fixef.loc[school, list(m.fixef.index)], rtol=1e-4, atol=1e-5)
        p[school] = hc.wald(m, gap)["p-value"].iloc[0]
        assert hc.wald_test(m, "sector")["p-value"].iloc[0] > 0.05
    assert p[3427] == pytest.approx(0.0563, abs=5e-4)
    assert p[2655] < 0.05 and p[8854] < 0.05
