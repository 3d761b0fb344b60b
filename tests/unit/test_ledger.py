"""The reproducibility ledger (hlm_course.ledger): printed numbers against ours and R's."""

import numpy as np
import pandas as pd
import pytest

import hlm_course as hc
from hlm_course.ledger import (KIND, KIND_KEYS, KINDS, NOTE, R_COLUMN, ROUNDS, ledger, ledger_counts, ledger_rows,
                               optimum_note, style_ledger)


def test_rounds_at_the_printed_decimals():
    t = ledger([("a", "0.5878300", 0.58783004), ("b", "9377", 9376.6), ("c", "-0.01462", -0.014624)],
               "Kaplan (2010)")
    assert list(t.columns) == ["Kaplan (2010) printed", "ours", R_COLUMN, KIND, ROUNDS, NOTE]
    assert t[KIND].tolist() == ["reproduced"] * 3   # the default kind
    assert t["ours"].tolist() == ["0.5878300", "9377", "-0.01462"]
    assert t[ROUNDS].tolist() == [True, True, True]
    assert t.attrs["ours"] == [0.58783004, 9376.6, -0.014624]


def test_half_a_unit_is_the_boundary():
    # 0.00005 from a 4-decimal printed value is on the boundary; a little more is outside
    t = ledger([("in", "0.5633", 0.56334999), ("out", "0.5633", 0.56335002, None, "optimizer")], "x")
    assert t[ROUNDS].tolist() == [True, False]


def test_scientific_notation_counts_significant_digits():
    t = ledger([("p", "2.84e-05", 2.8449e-05), ("q", "5.1e-10", 5.16e-10, None, "last digit")], "Monette (2010)")
    assert t["ours"].tolist() == ["2.84e-05", "5.2e-10"]
    assert t[ROUNDS].tolist() == [True, False]


def test_a_mismatch_needs_a_note_and_is_flagged():
    with pytest.raises(ValueError, match="no note saying why: \\['slope'\\]"):
        ledger([("slope", "0.595056", 0.5950567)], "Kaplan (2010)")
    t = ledger([("slope", "0.595056", 0.5950567, None, "see §4.1")], "Kaplan (2010)")
    assert not t[ROUNDS].iloc[0] and t[NOTE].iloc[0] == "see §4.1"
    html = style_ledger(t).to_html()
    assert ">no<" in html and "see §4.1" in html and ">quantity<" in html and ">slope<" in html


def test_r_column_rounded_as_printed_and_blank_when_missing():
    t = ledger([("a", "12.60468", 12.604675510, 12.60467549937), ("b", "0.471", 0.4711941)], "Monette (2010)")
    assert t[R_COLUMN].tolist() == ["12.60468", ""]
    assert t.attrs["r"] == [12.60467549937, None]


def test_dict_rows_and_counts():
    t = ledger([{"quantity": "a", "printed": "1.0", "ours": 1.04},
                {"quantity": "b", "printed": "2.0", "ours": 2.2, "note": "a typo in the original"}], "s")
    assert ledger_counts(t) == {"compared": 2, "round": 1, "do not round": 1,
                                "reproduced": 2, "reproduced do not round": 1, "optimum": 0,
                                "optimum do not round": 0, "random": 0, "random do not round": 0,
                                "machine": 0, "machine do not round": 0, "formula": 0, "formula do not round": 0}


def test_the_five_kinds_of_row_and_the_counts_by_kind():
    assert KINDS == ("reproduced", "different optimum", "random", "machine-dependent", "different formula")
    assert set(KIND_KEYS) == set(KINDS)
    t = ledger([("fit", "1.0", 1.01),
                ("typo", "2.0", 2.2, None, "a typo in the original"),
                ("tau", "0.0861", 0.0866, None, "the 2010 lme4 stopped earlier", "different optimum"),
                ("bootstrap lower", "0.5", 0.56, None, "random: 1000 simulations", "random"),
                ("bootstrap p", "0.001", 0.001, None, "", "random"),
                {"quantity": "seconds", "printed": "42.41", "ours": 3.1, "note": "run time",
                 "kind": "machine-dependent"},
                ("interval", "0.2082923", 0.21, None, "eq. 3.16, not the original's code", "different formula")],
               "Kaplan (2010)")
    assert t[KIND].tolist() == ["reproduced", "reproduced", "different optimum", "random", "random",
                                "machine-dependent", "different formula"]
    counts = ledger_counts(t)
    assert (counts["compared"], counts["round"], counts["do not round"]) == (7, 2, 5)
    assert [(counts[k], counts[f"{k} do not round"])
            for k in ("reproduced", "optimum", "random", "machine", "formula")] == \
        [(2, 1), (1, 1), (2, 1), (1, 1), (1, 1)]
    # the kinds partition the rows, and those that do not round
    assert sum(counts[k] for k in KIND_KEYS.values()) == counts["compared"]
    assert sum(counts[f"{k} do not round"] for k in KIND_KEYS.values()) == counts["do not round"]
    html = style_ledger(t).to_html()
    assert ">kind<" in html and ">machine-dependent<" in html and ">different formula<" in html


def test_a_kind_is_one_of_the_five_and_never_excuses_a_silent_mismatch():
    with pytest.raises(ValueError, match="must be one of \\['reproduced', 'different optimum', 'random'"):
        ledger([("a", "1.0", 1.0, None, "", "optimizer")], "s")
    with pytest.raises(ValueError, match="no note saying why: \\['b'\\]"):
        ledger([("b", "1.0", 1.2, None, "", "random")], "s")
    pub = hc.published_table([("Int", "-2.027255", -2.0272553964)])
    assert ledger_rows(pub, kind="random")[0][-1] == "random"
    assert ledger_rows(pub)[0][-1] == "reproduced"
    with pytest.raises(ValueError, match="must be one of"):
        ledger_rows(pub, kind="bootstrap")
    with pytest.raises(ValueError, match="must be one of"):
        ledger_rows(pub, kinds={"Int": "optimizer"})
    with pytest.raises(KeyError, match="kinds for quantities \\['Slope'\\]"):
        ledger_rows(pub, kinds={"Slope": "random"})


def test_a_different_optimum_is_only_a_row_that_does_not_round():
    """The kind counts visible differences between optimizers: a row that rounds is reproduced."""
    with pytest.raises(ValueError, match="round to the printed value, so they are 'reproduced'.*\\['tau'\\]"):
        ledger([("tau", "0.0861", 0.08612, None, "the 2010 lme4 stopped earlier", "different optimum")], "s")
    assert optimum_note(0.08612, "0.0861", "lme4 stops early") == ("", "reproduced")
    assert optimum_note(0.0866, "0.0861", "lme4 stops early") == ("lme4 stops early", "different optimum")
    with pytest.raises(ValueError, match="non-empty string"):
        optimum_note(0.0866, "0.0861", " ")
    pub = hc.published_table([("Int", "-2.027255", -2.0272553964), ("Slope", "0.55", 0.5633)])
    rows = ledger_rows(pub, notes={"Slope": "the 2010 lme4"}, kinds={"Slope": "different optimum"})
    assert [r[-1] for r in rows] == ["reproduced", "different optimum"]
    t = ledger(rows, "Kaplan (2010)")
    assert ledger_counts(t)["optimum do not round"] == 1 and ledger_counts(t)["reproduced do not round"] == 0


def test_counts_of_a_ledger_without_a_kind_column_count_every_row_as_reproduced():
    t = ledger([("a", "1.0", 1.04), ("b", "2.0", 2.2, None, "typo")], "s").drop(columns=KIND)
    counts = ledger_counts(t)
    assert counts["reproduced"] == 2 and counts["reproduced do not round"] == 1 and counts["random"] == 0


@pytest.mark.parametrize("rows, error, message", [
    ([("a", 1.5, 1.5)], TypeError, "string the original prints"),
    ([("a", "n/a", 1.5)], ValueError, "is not a number"),
    ([("a", "1.5")], ValueError, "quantity, printed, ours"),
    ([("a", "1.5", 1.5, None, "", "random", "x")], ValueError, "quantity, printed, ours"),
    ([("a", "1.5", 1.5, None, "", "")], ValueError, "must be one of"),
    ([("a", "1.5", "1.5")], TypeError, "finite number"),
    ([("a", "1.5", np.nan)], TypeError, "finite number"),
    ([("a", "1.5", 1.5, "1.5")], TypeError, "R's value"),
    ([("", "1.5", 1.5)], ValueError, "non-empty string"),
    ([("a", "1.5", 1.5), ("a", "2.5", 2.5)], ValueError, "repeated: \\['a'\\]"),
    ([{"quantity": "a", "printed": "1", "ours": 1, "lme4": 1}], ValueError, "unknown field"),
    ([], ValueError, "at least one row"),
])
def test_bad_input_gets_a_clear_error(rows, error, message):
    with pytest.raises(error, match=message):
        ledger(rows, "Monette (2010)")


def test_rows_from_the_chapters_comparison_tables():
    pub = hc.published_table([("Int", "-2.027255", -2.0272553964), ("p", "0.0146", 0.0146035)])
    rows = ledger_rows(pub, "Method 2a: ", r={"Int": -2.02725539637}, notes={"p": "p-value"})
    assert rows[0] == ("Method 2a: Int", "-2.027255", -2.0272553964, -2.02725539637, "", "reproduced")
    assert rows[1][4] == "p-value" and rows[1][3] is None
    kap = hc.printed_comparison([("slope", "0.563308", 0.5633069)])
    assert ledger_rows(kap)[0][:3] == ("slope", "0.563308", 0.5633069)
    with pytest.raises(KeyError, match="not in the table"):
        ledger_rows(pub, notes={"nope": "x"})
    with pytest.raises(ValueError, match="1 R values for a table of 2 rows"):
        ledger_rows(pub, r=[1.0])
    with pytest.raises(TypeError, match="published_table or printed_comparison"):
        ledger_rows(pd.DataFrame({"a": [1]}))


def test_published_table_uses_the_one_rounding_rule():
    # methods.published_table and exam_tables.rounds_to_printed must agree, digit for digit
    rows = [("a", "0.5633", 0.56335002), ("b", "2.84e-05", 2.8449e-05), ("c", "1897", 1897.4)]
    pub = hc.published_table(rows)
    assert pub["match"].tolist() == hc.rounds_to_printed([r[2] for r in rows], [r[1] for r in rows]).tolist()
    assert pub["match"].tolist() == [False, True, True]


def test_style_ledger_refuses_other_tables():
    with pytest.raises(KeyError, match="expected a table from ledger"):
        style_ledger(pd.DataFrame({"a": [1]}))


def test_gap_note_says_whose_optimum_is_lower():
    from hlm_course.ledger import gap_note

    assert gap_note(-2.3e-6, checked_by="a test checks it") == \
        "lme4 stops 2.3e-06 above our optimum of the REML criterion (a test checks it)"
    assert gap_note(0.0, "-2 logLik") == "lme4 stops 0.0e+00 above our optimum of the -2 logLik"
    assert gap_note(2.1e-8, "-2 logLik").startswith("the two values of the -2 logLik agree to 2.1e-08 (ours the higher)")
