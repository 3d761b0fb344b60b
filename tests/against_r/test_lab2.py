"""Lab 2 (chapters/15_lab2_minority.md): its fits against lme4, and its self-checks.

The lme4 numbers come from tests/r/lab2_reference.R (tests/reference/lab2_lme4.json),
fitted with lme4's default optimizer and with optimizer = "bobyqa"; each model is
compared with the lower of the two criteria (lme4's default stops at a false
boundary on some of these models).
"""

import ast
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import hlm_course as hc
from hlm_course import labs
from hlm_course.labs import _REGISTRY, lab2
from conftest import reference

ROOT = Path(__file__).resolve().parents[2]
REF = reference("lab2_lme4")
CHAPTER = (ROOT / "chapters" / "15_lab2_minority.md").read_text()

# models whose lme4 reference is itself off the optimum (see test_scaled_ses_defeats_lme4)
NOT_OPTIMAL_IN_LME4 = {"ses_x100_reml", "ses_shift_reml"}


def _canonical(name: str) -> str:
    """Names as R prints them, up to spaces and R's ``^`` for Python's ``**`` inside ``I()``."""
    return name.replace(" ", "").replace("**", "^")


@pytest.fixture(scope="module")
def data():
    return lab2.data().assign(ses_x100=lambda d: d["ses"] * 100, cses_d100=lambda d: d["cses"] / 100)


@pytest.fixture(scope="module")
def fits(data):
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for key, model in REF["models"].items():
            if key.endswith("_bobyqa"):
                continue
            reml = key.endswith("_reml")
            out[key] = hc.lmer(model["formula"].replace("^2", "**2"), data, reml=reml)
    return out


def _best(key):
    return REF["models"][key + ("_bobyqa" if REF["best"][key]["best"] == "bobyqa" else "")]


def _criterion(fit):
    return fit.reml_criterion if fit.reml else fit.deviance


@pytest.mark.parametrize("key", [k for k in REF["best"] if k not in NOT_OPTIMAL_IN_LME4])
def test_fits_match_lme4(fits, key):
    fit, ref = fits[key], _best(key)
    want = ref["reml_criterion"] if fit.reml else ref["deviance"]
    assert _criterion(fit) == pytest.approx(want, abs=1e-3)
    assert _criterion(fit) <= want + 1e-6  # never above lme4's best
    assert [_canonical(n) for n in fit.fixed_names] == [_canonical(n) for n in ref["fixef"]]
    np.testing.assert_allclose(fit.fixef.to_numpy(), list(ref["fixef"].values()), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(fit.se.to_numpy(), list(ref["se"].values()), rtol=1e-3)
    assert fit.sigma == pytest.approx(ref["sigma"], rel=1e-4)
    np.testing.assert_allclose(fit.tau.to_numpy(), np.array(ref["tau"]), rtol=2e-3, atol=2e-3)
    assert fit.npar == ref["npar"]


def test_lme4_default_stops_at_a_false_boundary(fits):
    """rs_both and slim: lme4's default optimizer stops above the optimum that bobyqa and we reach."""
    for key, gap in (("rs_both_reml", 8.0), ("slim_reml", 0.2)):
        b = REF["best"][key]
        assert b["best"] == "bobyqa" and b["default_minus_bobyqa"] > gap
        assert _criterion(fits[key]) == pytest.approx(b["bobyqa"], abs=1e-3)
    assert REF["models"]["rs_both_reml"]["singular"] and not fits["rs_both_reml"].singular
    # (the JSON keeps 15 significant digits; lab2 quotes tests/reference/lme4_reference.json's 17)
    np.testing.assert_allclose(lab2.LME4_DEFAULT_THETA, REF["models"]["rs_both_reml"]["theta"], rtol=1e-13)
    book_ref = reference("lme4_reference")
    np.testing.assert_array_equal(lab2.LME4_DEFAULT_THETA, book_ref["models"]["hsb_minority_reml"]["theta"])
    from hlm_course.lmer import profiled_deviance

    at_lme4 = profiled_deviance(lab2.LME4_DEFAULT_THETA, fits["rs_both_reml"].xp, reml=True)
    assert at_lme4 == pytest.approx(REF["models"]["rs_both_reml"]["reml_criterion"], abs=1e-4)


def test_scaled_ses_defeats_lme4(fits):
    """ses*100 is ses reparametrized: REML moves by 2 log 100, ML not at all; lme4 misses both optima."""
    raw, x100, shift = fits["ses_raw_reml"], fits["ses_x100_reml"], fits["ses_shift_reml"]
    assert x100.reml_criterion - raw.reml_criterion == pytest.approx(2 * np.log(100), abs=1e-4)
    assert x100.ml_deviance == pytest.approx(raw.ml_deviance, abs=1e-4)
    assert shift.reml_criterion == pytest.approx(raw.reml_criterion, abs=1e-5)
    np.testing.assert_allclose(x100.fixef.to_numpy() * [1, 100, 1], raw.fixef.to_numpy(), rtol=1e-4)
    b = REF["best"]["ses_x100_reml"]
    assert b["default"] - x100.reml_criterion > 30 and b["bobyqa"] - x100.reml_criterion > 200
    assert any("Rescale variables" in m for m in REF["models"]["ses_x100_reml"]["messages"])
    assert REF["best"]["ses_shift_reml"]["bobyqa"] - shift.reml_criterion > 3  # bobyqa: a false boundary
    assert REF["models"]["ses_shift_reml_bobyqa"]["singular"] and not shift.singular


def test_stepwise_anova_matches_lme4(fits):
    ref = REF["anova"]["stepwise_reml"]
    table = hc.anova(fits["ri_reml"], fits["rs_cses_reml"], fits["rs_both_reml"], refit=False)
    np.testing.assert_allclose(table["Chisq"].iloc[1:], ref["chisq"][1:], atol=1e-3)
    np.testing.assert_allclose(table["Pr(>Chisq)"].iloc[1:], ref["p"][1:], rtol=1e-3)
    np.testing.assert_allclose(table["AIC"], ref["aic"], atol=1e-3)
    np.testing.assert_allclose(table["BIC"], ref["bic"], atol=1e-3)
    random = REF["anova"]["slim_re_reml"]
    t2 = hc.anova(fits["slim_ri_reml"], fits["slim_min_reml"], refit=False)
    assert t2["Chisq"].iloc[1] == pytest.approx(random["chisq"][1], abs=1e-3)


@pytest.mark.parametrize("name, small, large", [("female_ml", "slim_ri_reml", "final_reml"),
                                                ("quadratic_ml", "final_reml", "final_q_reml")])
def test_fixed_effect_lrts_match_lme4(fits, name, small, large):
    ref = REF["anova"][name]
    table = hc.anova(fits[small], fits[large])
    assert table["Chisq"].iloc[1] == pytest.approx(ref["chisq"][1], abs=1e-3)
    np.testing.assert_allclose(table["deviance"], ref["deviance"], atol=1e-3)


def test_ols_diagnostics_match_r():
    ref = REF["ols"]
    ols = lab2._ols_within()
    assert ols.params["minority[T.Yes]"] == pytest.approx(ref["within_gap"], rel=1e-8)
    assert ols.bse["minority[T.Yes]"] == pytest.approx(ref["within_gap_se"], rel=1e-8)
    cooks = ols.get_influence().cooks_distance[0]
    assert cooks.max() == pytest.approx(ref["cooks_max"], rel=1e-6)
    assert int(np.sum(cooks > 4 / len(cooks))) == ref["cooks_n_above_4_over_n"]
    assert list(np.argsort(cooks)[::-1][:5]) == ref["cooks_top_rows"]
    assert ols.get_influence().hat_matrix_diag.max() == pytest.approx(ref["hat_max"], rel=1e-8)


def test_parametric_bootstrap_agrees_with_pbkrtest(fits):
    """Same models, 500 simulations each, different random numbers: equal up to Monte Carlo error."""
    ref = REF["pbkrtest"]
    pb = hc.pb_test(fits["ri_reml"], fits["rs_cses_reml"], nsim=500, seed=2024)
    assert pb.lrt == pytest.approx(ref["lrt"], abs=1e-3)
    se = np.sqrt(ref["p_pb"] * (1 - ref["p_pb"]) / 500)
    assert abs(pb.p_value - ref["p_pb"]) < 4 * se


# ---------------------------------------------------------------------------
# the chapter's quoted lme4 numbers
# ---------------------------------------------------------------------------
def _chapter_lme4_dict() -> dict:
    m = re.search(r"^LME4 = (\{.*?^\})", CHAPTER, re.MULTILINE | re.DOTALL)
    assert m, "the chapter defines LME4 = {...}"
    return ast.literal_eval(m.group(1))


def test_quoted_lme4_numbers_match_the_reference():
    q = _chapter_lme4_dict()
    for key, model in (("ses_x100", "ses_x100_reml"), ("rs_both", "rs_both_reml"), ("slim", "slim_reml")):
        assert q[key]["default"] == pytest.approx(REF["best"][model]["default"], abs=1e-5)
        assert q[key]["bobyqa"] == pytest.approx(REF["best"][model]["bobyqa"], abs=1e-5)
    np.testing.assert_array_equal(q["rs_both_default_theta"], lab2.LME4_DEFAULT_THETA)
    np.testing.assert_allclose(q["stepwise_chisq"], REF["anova"]["stepwise_reml"]["chisq"][1:], atol=1e-5)
    assert q["pbkrtest_p"] == pytest.approx(REF["pbkrtest"]["p_pb"], abs=1e-6)


def test_lab_formulas_are_the_reference_formulas():
    for name, formula in lab2.FORMULAS.items():
        assert REF["models"][f"{name}_reml"]["formula"] == formula


# ---------------------------------------------------------------------------
# the self-checks
# ---------------------------------------------------------------------------
LAB2_KEYS = sorted(k for k in labs.keys() if k.startswith("lab2-"))


def test_every_check_is_used_in_the_chapter_and_vice_versa():
    used = set(re.findall(r'labs\.check\("(lab2-[\w-]+)"', CHAPTER))
    assert used == set(LAB2_KEYS)
    assert len(LAB2_KEYS) >= 10


def _wrong(spec, right):
    if spec.kind == "set":
        return list(right)[1:]
    if spec.kind == "text":
        return "(cses | school)" if right != "(cses | school)" else "(1 | school)"
    if spec.kind == "bool":
        return not right
    return float(right) * 1.1 + 0.5


@pytest.mark.parametrize("key", LAB2_KEYS)
def test_check_accepts_the_right_answer_and_rejects_a_wrong_one(key):
    spec = _REGISTRY[key]
    right = spec._compute()
    assert labs.check(key, right)
    wrong = labs.check(key, _wrong(spec, right))
    assert not wrong and "not yet" in wrong.message
    if spec.kind == "number":
        for digits in (3, 4):
            assert f"{float(right):.{digits}f}" not in repr(wrong)
    assert "no answer yet" in labs.check(key, None).message


def test_check_values():
    """The right answers themselves, against R where R computed them."""
    assert sorted(_REGISTRY["lab2-constant-schools"]._compute()) == sorted(
        lab2.data().groupby("school")["p_min"].first().pipe(lambda p: p[(p == 0) | (p == 1)]).index)
    assert len(_REGISTRY["lab2-constant-schools"]._compute()) == 24
    assert _REGISTRY["lab2-within-gap"]._compute() == pytest.approx(REF["ols"]["within_gap"], rel=1e-8)
    assert _REGISTRY["lab2-n-influential"]._compute() == REF["ols"]["cooks_n_above_4_over_n"]
    assert _REGISTRY["lab2-crit-gap"]._compute() == pytest.approx(REF["best"]["rs_both_reml"]["default_minus_bobyqa"], abs=1e-3)
    assert _REGISTRY["lab2-best-re"]._compute() == "(1 | school)"
    assert _REGISTRY["lab2-marginal-r2"]._compute() == pytest.approx(REF["r2"]["nakagawa_final"]["marginal"], rel=1e-4)
    T = np.array(REF["models"]["rs_both_reml_bobyqa"]["tau"])
    z = np.array([1.0, 0.0, 1.0])
    s2 = REF["models"]["rs_both_reml_bobyqa"]["sigma"] ** 2
    assert _REGISTRY["lab2-pair-corr"]._compute() == pytest.approx(z @ T @ z / (z @ T @ z + s2), rel=1e-4)
    w = np.linalg.eigvalsh(T)
    assert _REGISTRY["lab2-thin-share"]._compute() == pytest.approx(w.min() / w.sum(), rel=1e-3)
    T_shift = np.array(REF["models"]["ses_raw_reml"]["tau"])
    assert _REGISTRY["lab2-tau00-shift"]._compute() == pytest.approx(T_shift[0, 0] - 6 * T_shift[0, 1] + 9 * T_shift[1, 1], rel=1e-3)
    fe = REF["models"]["slim_reml_bobyqa"]["fixef"]
    assert _REGISTRY["lab2-gap-catholic-50"]._compute() == pytest.approx(
        fe["minorityYes"] + 0.5 * fe["minorityYes:p_min"] + fe["minorityYes:sectorCatholic"], rel=1e-4)
    assert isinstance(_REGISTRY["lab2-ranef-corr"]._compute(), float) and 0.3 < _REGISTRY["lab2-ranef-corr"]._compute() < 0.5
    chisq = REF["anova"]["stepwise_reml"]["chisq"][2]
    assert _REGISTRY["lab2-mixture-p"]._compute() == pytest.approx(hc.mixture_pvalue(chisq, 3), rel=1e-4)
    assert _REGISTRY["lab2-mixture-p"]._compute() < REF["anova"]["stepwise_reml"]["p"][2]
    assert _REGISTRY["lab2-contextual-ses"]._compute() == pytest.approx(
        REF["models"]["ctx_reml"]["fixef"]["mean_ses"] - REF["models"]["ctx_reml"]["fixef"]["cses"], rel=1e-3)
    assert pd.notna(_REGISTRY["lab2-F-gap"]._compute()) and pd.notna(_REGISTRY["lab2-p-meanses"]._compute())


# ---------------------------------------------------------------------------
# the chapter's structure: glued numbers and exercises
# ---------------------------------------------------------------------------
def test_every_glued_name_in_the_prose_is_glued_by_the_code():
    used = set(re.findall(r"\{glue:text\}`(lab2_\w+)", CHAPTER))
    defined = set(re.findall(r'glue\("(lab2_\w+)"', CHAPTER))
    # loops of the form `for key, value in {"a": ..., "b": ...}.items(): glue(f"lab2_x_{key}", ...)`
    loops = re.findall(r'for key, value in \{(.*?)\}\.items\(\):\s*\n\s*glue\(f"(lab2_\w+?)\{key\}"',
                       CHAPTER, flags=re.S)
    assert len(loops) >= 2
    defined |= {prefix + key for body, prefix in loops for key in re.findall(r'"(\w+)":', body)}
    assert used, "the chapter glues no numbers"
    assert used <= defined, f"glued in the prose but never glue()d: {sorted(used - defined)}"


def test_every_exercise_has_a_student_cell_and_a_gated_solution():
    labels = re.findall(r"^:::\{exercise\}[^\n]*\n:label: (lab2-ex-[\w-]+)$", CHAPTER, re.MULTILINE)
    assert len(labels) >= 10
    for label in labels:
        start = CHAPTER.index(f":label: {label}\n")
        gate = CHAPTER.index(f":::{{solution-start}} {label}\n", start)
        end = CHAPTER.index(":::{solution-end}", gate)
        student = CHAPTER[start:gate]
        assert re.search(r"= None  # your answer", student), label
        keys = re.findall(r'labs\.check\("(lab2-[\w-]+)"', student)
        assert keys, f"{label}: the student cell has no self-check"
        assert set(keys) <= set(re.findall(r'labs\.check\("(lab2-[\w-]+)"', CHAPTER[gate:end])), label
    assert CHAPTER.count(":::{solution-start}") == CHAPTER.count(":::{solution-end}") == len(labels)


def test_student_edition_keeps_no_solution_code():
    import jupytext

    from hlm_course.book.student import strip_solutions

    nb = jupytext.read(ROOT / "chapters" / "15_lab2_minority.md")
    stripped, removed = strip_solutions(nb)
    assert removed == CHAPTER.count(":::{solution-start}")
    code = "\n".join(c.source for c in stripped.cells if c.cell_type == "code")
    assert "tau00_shift = T[0, 0]" not in code and "best_re = re_table" not in code
    assert code.count("= None  # your answer") >= 10
