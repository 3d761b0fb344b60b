"""Kaplan's (2010) school tables as printed (exam_tables.kaplan_school_tables), the strings the ledger of
chapter 5 compares with: complete, and consistent with one another as the original prints them
(coef = fixef + ranef, to the printed digits), which catches a digit mistyped from the original."""

import numpy as np
import pytest

from hlm_course.exam_tables import KAPLAN_NINE, kaplan_school_tables
from hlm_course.printed import printed_decimals, rounds_to_printed

COUNTS = {"Table 2.2": 18, "Table 2.3": 2, "Table 2.4": 9, "Table 2.6": 18, "Table 2.7": 2, "Table 2.8": 9,
          "Table 2.10": 18, "Table 2.11": 2, "Table 2.12": 18}


@pytest.fixture(scope="module")
def printed():
    return kaplan_school_tables()


def test_every_printed_number_of_the_school_tables_once(printed):
    assert printed.groupby("table", sort=False).size().to_dict() == COUNTS
    assert list(printed["table"].unique()) == list(COUNTS)   # the original's order
    assert printed["printed"].map(lambda p: isinstance(p, str)).all()
    for (table, term), part in printed[printed["what"] != "fixef"].groupby(["table", "term"], sort=False):
        assert tuple(part["school"]) == KAPLAN_NINE, (table, term)
    assert printed.loc[printed["what"] == "fixef", "school"].isna().all()
    # Table 2.2 rounds the coefficients to four decimals; the others print what R printed
    assert set(printed.loc[printed["table"] == "Table 2.2", "printed"].map(printed_decimals)) == {4}
    assert printed.loc[printed["table"] == "Table 2.3", "printed"].tolist() == ["0.002323916", "0.563307940"]


@pytest.mark.parametrize("model, coef, fixef, ranef", [("vi", "Table 2.2", "Table 2.3", "Table 2.4"),
                                                        ("vs", "Table 2.6", "Table 2.7", "Table 2.8"),
                                                        ("hlm", "Table 2.10", "Table 2.11", "Table 2.12")])
def test_coef_is_fixef_plus_ranef_as_printed(printed, model, coef, fixef, ranef):
    part = printed[printed["model"] == model]
    assert set(part["table"]) == {coef, fixef, ranef}
    fx = {r.term: float(r.printed) for r in part[part["table"] == fixef].itertuples()}
    re = {(r.school, r.term): float(r.printed) for r in part[part["table"] == ranef].itertuples()}
    c = part[part["table"] == coef]
    sums = np.array([fx[t] + re.get((g, t), 0.0) for g, t in zip(c["school"], c["term"])])
    # each printed coef is fixef + ranef rounded as printed, give or take the last digit of the printed parts
    slack = np.array([10.0 ** -printed_decimals(p) for p in c["printed"]])
    assert (np.abs(sums - c["printed"].astype(float).to_numpy()) <= slack).all()
    assert rounds_to_printed(sums, c["printed"].to_numpy()).mean() > 0.7
