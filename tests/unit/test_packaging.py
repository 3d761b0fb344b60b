"""The package installs and runs outside the repository: a student's ``pip install`` of it is enough.

A teacher hands out the notebooks zip; students install the package (``pip install hlm-course/``, not
editable) and open the notebooks in any folder. So the wheel must hold every subpackage and the data, and
``pyproject.toml`` must declare every package the chapters' notebooks import.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
#: import name → distribution name, where they differ
DISTRIBUTIONS = {"sklearn": "scikit-learn", "yaml": "pyyaml"}
#: imports the reader notebooks never make (the build's glue is stripped from them)
BOOK_ONLY = {"myst_nb", "hlm_course"}


def _declared() -> set[str]:
    return {re.split(r"[<>=!~ \[;]", d, maxsplit=1)[0].lower().replace("_", "-")
            for d in PYPROJECT["project"]["dependencies"]}


def test_every_subpackage_is_listed():
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "hlm_course").rglob("__init__.py")}
    assert found - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"


def test_the_data_ships_inside_the_package():
    setuptools = PYPROJECT["tool"]["setuptools"]
    assert setuptools["package-dir"]["hlm_course.datasets"] == "data"
    assert "*.csv" in setuptools["package-data"]["hlm_course.datasets"]
    assert {p.name for p in (ROOT / "data").glob("*.csv")} >= {"hsb.csv", "hs40.csv", "exam.csv", "egsingle.csv"}


def test_every_import_of_the_chapters_is_a_declared_dependency():
    imported = set()
    for md in sorted((ROOT / "chapters").glob("*.md")):
        for line in md.read_text(encoding="utf8").split("\n"):
            m = re.match(r"^\s*(?:import|from) ([A-Za-z_]\w*)[\w.]*(?: import [\w*(]| as |,|\s*$)", line)
            if m:
                imported.add(m.group(1))
    third_party = {name for name in imported
                   if name not in sys.stdlib_module_names and name not in BOOK_ONLY}
    assert {"numpy", "pandas", "seaborn"} <= third_party  # the scan finds imports at all
    missing = {DISTRIBUTIONS.get(n, n).lower().replace("_", "-") for n in third_party} - _declared()
    assert missing == set(), f"the notebooks import {sorted(missing)}; declare them in pyproject.toml"


@pytest.mark.slow
def test_a_plain_install_finds_its_data(tmp_path):
    """Build the wheel from a copy of the repository, install it (not editable) into a fresh virtual
    environment and load the data and a lab's self-check from a folder far from the repository."""
    src = tmp_path / "src"
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, files.decode().split("\0")):
        if (ROOT / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(src),
                    "-w", str(dist)], check=True, capture_output=True)
    wheel = next(dist.glob("hlm_course-*.whl"))
    env = tmp_path / "venv"
    venv.create(env, with_pip=False)
    python = env / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # the dependencies come from this environment (read-only, appended after the venv's own site-packages;
    # its editable hlm_course is not seen, because .pth files of a .pth-added folder are not read)
    import numpy
    (site / "deps.pth").write_text(str(Path(numpy.__file__).parent.parent) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                    "--target", str(site), str(wheel)], check=True, capture_output=True)
    work = tmp_path / "elsewhere"
    work.mkdir()
    code = ("import hlm_course as hc, pathlib\n"
            "assert 'site-packages' in hc.__file__, hc.__file__\n"
            "hsb = hc.load_hsb()\n"
            "print(len(hsb), hsb.school.nunique(), len(hc.load_exam()), len(hc.load_hs40()))\n"
            "print(hc.labs.check('lab1-gap', 0.0).ok)\n")
    run = subprocess.run([str(python), "-c", code], cwd=work, capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin", "HOME": str(work)})
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split("\n")[:2] == ["7185 160 4059 1977", "False"]
