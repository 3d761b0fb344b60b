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
    assert "shape (3,)" in labs.check("t-array", [1, 2, 3]).message
    assert "1 item(s)" in labs.check("t-set", [1317]).message
    assert not labs.check("t-set", [1317, 9999])
    assert not labs.check("t-bool", False)
    assert not labs.check("t-number", float("nan"))


def test_missing_answer_and_bad_types(temporary_checks):
    assert "no answer yet" in labs.check("t-number", None).message
    with pytest.raises(TypeError, match="expected a single number, got DataFrame"):
        labs.check("t-number", pd.DataFrame({"a": [1, 2]}))
    with pytest.raises(TypeError, match="expected True or False"):
        labs.check("t-bool", 1)
    with pytest.raises(TypeError, match="expected a collection"):
        labs.check("t-set", "1317")
    with pytest.raises(KeyError, match="no lab check called 'nope'"):
        labs.check("nope", 1)


def test_registration_errors(temporary_checks):
    with pytest.raises(ValueError, match="registered twice"):
        register("t-number")(lambda: 1)
    with pytest.raises(ValueError, match="unknown kind"):
        register("t-other", kind="matrix")


def test_html_display_is_colour_coded(temporary_checks):
    assert "#009E73" in labs.check("t-number", 2.5)._repr_html_()
    assert "#D55E00" in labs.check("t-number", 3.0)._repr_html_()
