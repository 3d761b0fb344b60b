"""hc.lmer_printing_warnings: the labs' fits print their warnings as output, each once."""

import warnings

import pytest

import hlm_course as hc
from hlm_course.labs import lab1


def test_warnings_become_lines_of_output_each_once(capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing escapes as a Python warning
        fit = hc.lmer_printing_warnings(lab1.FORMULAS["rs"], lab1.lab_data())
    lines = capsys.readouterr().out.splitlines()
    assert fit.singular
    assert [ln for ln in lines if "boundary (singular) fit" in ln] == [lines[0]]
    assert all(ln.startswith("lmer warning: ") for ln in lines) and len(lines) == len(set(lines))
    assert fit.reml_criterion == pytest.approx(lab1.fit("rs").reml_criterion, abs=1e-8)


def test_a_clean_fit_prints_nothing(capsys):
    hc.lmer_printing_warnings("mathach ~ ses + (1 | school)", lab1.lab_data())
    assert capsys.readouterr().out == ""
