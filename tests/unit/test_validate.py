"""The shared argument checks."""

import numpy as np
import pytest

from hlm_course._validate import positive_number


@pytest.mark.parametrize("value", [1, 2.5, np.float64(0.1), np.int64(3)])
def test_positive_number_accepts_positive_finite_numbers(value):
    assert positive_number(value, "size") == pytest.approx(float(value))


@pytest.mark.parametrize("value", [0, -1.0, np.nan, np.inf, True, "3", None, [1.0]])
def test_positive_number_names_the_argument_and_the_bad_value(value):
    with pytest.raises(ValueError, match=r"^size must be a positive number, got "):
        positive_number(value, "size")


def test_symmetric_matrix_names_the_problem():
    from hlm_course._validate import symmetric_matrix

    np.testing.assert_array_equal(symmetric_matrix([[1, 2], [2, 5]], "T"), [[1.0, 2.0], [2.0, 5.0]])
    with pytest.raises(ValueError, match=r"^cov must be a 3 × 3 matrix, got shape \(2, 2\)"):
        symmetric_matrix(np.eye(2), "cov", size=3)
    with pytest.raises(ValueError, match=r"^T must be a non-empty square matrix, got shape \(0, 0\)"):
        symmetric_matrix(np.zeros((0, 0)), "T")
    with pytest.raises(ValueError, match="^T must be a non-empty square matrix of numbers"):
        symmetric_matrix([["a", "b"], ["c", "d"]], "T")
    with pytest.raises(ValueError, match="^T has missing or infinite values"):
        symmetric_matrix([[1, np.nan], [np.nan, 1]], "T")
    with pytest.raises(ValueError, match="^T must be symmetric"):
        symmetric_matrix([[1, 0.5], [0, 1]], "T")


def test_one_error_for_anything_that_is_not_a_fitted_model():
    """Every function that needs a fit raises the same NotAFitError (a MixedModelError and a TypeError)."""
    import pandas as pd

    import hlm_course as hc
    from hlm_course._validate import NotAFitError
    from hlm_course.lmer import MixedModelError

    calls = [lambda: hc.intraclass_correlation("not a fit"), lambda: hc.hlm_fixed_table("x"), lambda: hc.robust_se("x"),
             lambda: hc.marginal_conditional.marginal_fitted(pd.DataFrame()), lambda: hc.leave_one_group_out(None)]
    for call in calls:
        with pytest.raises(NotAFitError, match="must be a fitted model from hlm_course.lmer") as err:
            call()
        assert isinstance(err.value, MixedModelError) and isinstance(err.value, TypeError)
