"""The lock file pins everything requirements.txt asks for, within its ranges, and the venv matches it."""

import os
import re
from pathlib import Path

import pandas as pd
import pytest
from packaging.requirements import Requirement

from hlm_course.book import environment

ROOT = Path(__file__).resolve().parents[2]


def _requirements():
    reqs = []
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            reqs.append(Requirement(line))
    return reqs


def test_lock_pins_every_requirement_within_its_range():
    lock = environment.read_lock()
    reqs = _requirements()
    assert len(reqs) >= 20
    for req in reqs:
        name = re.sub(r"[-_.]+", "-", req.name).lower()
        assert name in lock, f"requirements.lock does not pin {req.name}"
        assert req.specifier.contains(lock[name], prereleases=True), (
            f"requirements.lock pins {req.name}=={lock[name]}, outside requirements.txt's {req.specifier}")


def test_lock_pins_only_exact_versions():
    lines = [ln for ln in (ROOT / "requirements.lock").read_text().splitlines()
             if ln.strip() and not ln.lstrip().startswith("#")]
    assert all("==" in ln for ln in lines), [ln for ln in lines if "==" not in ln]


@pytest.mark.skipif(os.environ.get("HLM_ALLOW_DRIFT") == "1",
                    reason="the scheduled newest-versions job installs requirements.txt, not the lock")
def test_installed_versions_match_the_lock():
    diff = environment.lock_differences()
    assert diff.empty, f"installed packages differ from requirements.lock:\n{diff.to_string()}"


def test_versions_table_reports_the_book_packages():
    table = environment.versions()
    assert list(table.index[:2]) == ["Python", "numpy"]
    assert set(environment.BOOK_PACKAGES) <= set(table.index)
    assert table.loc["numpy", "installed"] == __import__("numpy").__version__


def test_blas_names_the_kernel():
    table = environment.blas()
    assert not table.empty and (table["api"] == "openblas").any()
    assert table["architecture"].str.len().gt(0).all()


def test_read_lock_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no lock file"):
        environment.read_lock(tmp_path / "missing.lock")
    bad = tmp_path / "bad.lock"
    bad.write_text("numpy>=1\n")
    with pytest.raises(ValueError, match="pins no package"):
        environment.read_lock(bad)


def test_lock_differences_lists_a_wrong_pin(tmp_path):
    lock = tmp_path / "x.lock"
    lock.write_text("numpy==0.0.1\n    # via nothing\n")
    diff = environment.lock_differences(lock)
    assert isinstance(diff, pd.DataFrame)
    assert diff.to_dict("records") == [{"package": "numpy", "locked": "0.0.1",
                                        "installed": __import__("numpy").__version__}]
