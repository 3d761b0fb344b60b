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
