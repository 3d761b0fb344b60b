"""format_p never prints 0.0; style_table pads cells and formats p-value columns."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hlm_course.display import DOUBLE_EPS, format_p, style_table


@pytest.mark.parametrize("p, text", [
    (0.0, "< 2.2e-16"), (1e-300, "< 2.2e-16"), (0.04031, "0.0403"), (0.5, "0.5"), (1.0, "1"),
    (3.14e-7, "3.14e-07"), (1.5e-12, "1.5e-12"), (3.05e-9, "3.05e-09"), (0.00012345, "0.000123"),
])
def test_format_p_examples(p, text):
    assert format_p(p) == text


@settings(max_examples=300, derandomize=True)
@given(st.floats(min_value=0.0, max_value=1.0, allow_nan=False))
def test_format_p_never_zero_and_rounds_to_p(p):
    text = format_p(p)
    assert text not in {"0", "0.0", "0.00", "0.000"}
    if p < DOUBLE_EPS:
        assert text.startswith("< ")
    else:
        assert float(text) == pytest.approx(p, rel=5e-3)


def test_format_p_rejects_bad_input():
    with pytest.raises(ValueError, match=r"lie in \[0, 1\]"):
        format_p(1.5)
    with pytest.raises(TypeError, match="p must be a number"):
        format_p("0.05")
    with pytest.raises(ValueError, match="digits must be a positive integer"):
        format_p(0.05, digits=0)
    assert format_p(np.nan) == ""


def test_style_table_pads_and_formats_p():
    df = pd.DataFrame({"Chisq": [46728.0456, 12.5], "Pr(>Chisq)": [0.0, 0.0021]}, index=["m1", "m2"])
    html = style_table(df, precision=1, p_columns=["Pr(>Chisq)"]).to_html()
    assert "padding: 0.25em 0.8em" in html
    assert "&lt; 2.2e-16" in html and "46728.0" in html and "0.00210" not in html and "0.0021" in html
    with pytest.raises(KeyError, match=r"p-value column\(s\) \['p'\] are not in the table"):
        style_table(df, p_columns=["p"])


def test_format_small_writes_an_exact_zero_as_zero():
    from hlm_course.display import format_small

    assert format_small(0.0) == "0" and format_small(-0.0, ".1e") == "0"
    assert format_small(3.2e-11) == "3e-11" and format_small(1.26e-3, ".1e") == "1.3e-03"
