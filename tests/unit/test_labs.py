"""The self-check machinery of hlm_course.labs (each lab's checks are tested in test_lab<k>.py)."""

import numpy as np
import pandas as pd
import pytest

from hlm_course import labs
from hlm_course.labs import _REGISTRY, register


@pytest.fixture
def temporary_checks():
    labs.keys()  # load the labs' own checks first, so they survive the teardown
    before = dict(_REGISTRY)
    register("t-number", rtol=1e-3, hint="look at the means")(lambda: 2.5)
    register("t-array", kind="array", rtol=1e-6)(lambda: np.array([1.0, 2.0]))
    register("t-set", kind="set")(lambda: [1317, 1433])
    register("t-bool", kind="bool")(lambda: True)
    register("t-text", kind="text")(lambda: "Random intercept")
    yield
    _REGISTRY.clear()
    _REGISTRY.update(before)


def test_right_answers_pass(temporary_checks):
    assert labs.check("t-number", 2.5001)
    assert labs.check("t-number", pd.Series([2.5]))
    assert labs.check("t-array", pd.Series([1.0, 2.0], index=["a", "b"]))
    assert labs.check("t-set", pd.Index([1433.0, 1317.0]))
    assert labs.check("t-bool", np.bool_(True))
    assert labs.check("t-text", "  random   INTERCEPT ")
    assert labs.check("t-array", pd.DataFrame([[1.0, 2.0]], columns=["Estimate", "Std.Error"]))


def test_a_single_id_answers_a_one_element_set(temporary_checks):
    register("t-one", kind="set")(lambda: [1317])
    assert labs.check("t-one", 1317) and labs.check("t-one", np.int64(1317))
    assert not labs.check("t-one", 1433)
    assert not labs.check("t-set", 1317)


def test_wrong_answers_fail_without_revealing(temporary_checks):
    result = labs.check("t-number", 2.6)
    assert not result and "2.5" not in repr(result) and "look at the means" in repr(result)
    assert repr(result).startswith("\u2718 t-number: not yet")
    too_many = labs.check("t-array", [1, 2, 3])
    assert not too_many and "2" not in too_many.message  # no count of the right answer's items
    for wrong in ([1317], [1317, 9999], [1317, 1433, 1]):
        r = labs.check("t-set", wrong)
        assert not r and r.message == "not yet", r.message  # no item counts
    assert not labs.check("t-bool", False)
    assert not labs.check("t-number", float("nan"))


def test_a_rounded_right_answer_is_called_rounded(temporary_checks):
    register("t-pi", rtol=1e-6)(lambda: 3.14159265)
    register("t-pair", kind="array", rtol=1e-6)(lambda: np.array([7.27213, -0.0232114]))
    for key, typed in [("t-pi", 3.14), ("t-pi", 3.1416), ("t-pi", 3.1), ("t-pair", [7.272, -0.0232])]:
        r = labs.check(key, typed)
        assert not r and r.message.startswith("right, but rounded"), (key, typed, r.message)
    assert labs.check("t-pi", 3.14159265)
    assert labs.check("t-pi", 3.15).message == "not yet"  # a wrong value is not "rounded"
    assert labs.check("t-pi", 3).message == "not yet"  # one digit is a guess, not a copied value
    assert labs.check("t-pair", [7.27, -0.03]).message == "not yet"  # 7.27 is 7.27213 rounded, -0.03 is not


def test_formula_answers_ignore_spaces(temporary_checks):
    register("t-formula", kind="text")(lambda: "(1 | school)")
    for typed in ("(1|school)", "( 1 | school )", "(1 | School)"):
        assert labs.check("t-formula", typed), typed
    assert not labs.check("t-formula", "(cses|school)")


def test_missing_answer_and_bad_types(temporary_checks):
    """An answer of the wrong kind is a ✘ that names the problem, never a traceback."""
    assert "no answer yet" in labs.check("t-number", None).message
    cases = [("t-number", pd.DataFrame({"a": [1, 2]}), "a single number, not a DataFrame"),
             ("t-number", {"gap": 2.5}, "a single number, not a dict"),
             ("t-number", "2.5", "a single number, not the string '2.5'"),
             ("t-bool", 1, "True or False, not a int"),
             ("t-bool", "True", "True or False, not the string 'True'"),
             ("t-set", "1317", "a collection (list, set, Index) of ids, not the string"),
             ("t-set", {1317: 1}, "not a dict"),
             ("t-array", pd.Series([1.0, np.nan]), "missing or infinite value"),
             ("t-array", {"a": 1.0, "b": 2.0}, "not a dict"),
             ("t-array", ["1", "x"], "numbers only"),
             ("t-text", 3, "as a string, not a int")]
    for key, answer, words in cases:
        r = labs.check(key, answer)
        assert not r and r.message.startswith("wrong kind of answer:") and words in r.message, (key, r.message)
    with pytest.raises(KeyError, match="no lab check called 'nope'"):
        labs.check("nope", 1)


def test_the_answer_key_is_not_handed_out():
    from hlm_course.labs import lab1

    with pytest.raises(RuntimeError, match="answer key"):
        lab1._sector_F()
    assert not hasattr(labs._REGISTRY["lab1-gap"], "expected")
    assert "import hlm_course as hc" in labs.__doc__ and "hc.labs.check" in labs.__doc__


def test_hc_labs_check_works_after_import_hlm_course():
    import hlm_course as hc

    assert hc.labs.check is labs.check
    assert set(labs.keys()) >= {"lab1-gap", "lab2-best-re"}


def test_registration_errors(temporary_checks):
    with pytest.raises(ValueError, match="registered twice"):
        register("t-number")(lambda: 1)
    with pytest.raises(ValueError, match="unknown kind"):
        register("t-other", kind="matrix")


def _contrast(a: str, b: str) -> float:
    def lum(h):
        c = [int(h[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        c = [x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4 for x in c]
        return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]
    hi, lo = sorted([lum(a), lum(b)], reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_html_display_is_colour_coded_and_readable(temporary_checks):
    """White on a coloured badge: WCAG AA (4.5:1) whatever the page's background, light or dark."""
    ok, not_ok = labs.check("t-number", 2.5)._repr_html_(), labs.check("t-number", 3.0)._repr_html_()
    assert f"background:{labs.OK_COLOUR};color:#ffffff" in ok
    assert f"background:{labs.NOT_OK_COLOUR};color:#ffffff" in not_ok
    for colour in (labs.OK_COLOUR, labs.NOT_OK_COLOUR):
        assert _contrast(colour, "#ffffff") >= 4.5
