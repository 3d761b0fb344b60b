"""The chapters' access to the stored R reference runs."""

import json

import pytest

from hlm_course.book.reference import REFERENCE_DIR, r_reference


def test_r_reference_reads_the_stored_json():
    assert r_reference("part3_lme4_bobyqa") == json.loads((REFERENCE_DIR / "part3_lme4_bobyqa.json").read_text())
    assert "oneway_reml" in r_reference("monette_models")["nlme"]


def test_missing_reference_names_what_exists():
    with pytest.raises(FileNotFoundError, match=r"no stored R reference 'nope'.*lme4_reference"):
        r_reference("nope")
