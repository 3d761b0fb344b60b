"""The teacher's material: student and solutions editions, plain notebooks for any chapters, zips that run."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import jupytext
import nbformat
import pytest

from hlm_course.book import handouts
from hlm_course.book.reader import PACKAGE_CHECK, BookContext, raw_syntax, reader_notebook
from myst_text import MYST_HEADER

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "_build"
CTX = BookContext(numbers={"ex-one": "Exercise 5.1"}, labels={"ch-models": "Comparing the models"},
                  chapters={"ch-models": "Chapter 7, *Comparing the models*"})

CHAPTER = MYST_HEADER + '''
# A chapter

```{code-cell} ipython3
import hlm_course as hc
```

See {ref}`ch-models`.

:::{exercise}
:label: ex-one

Compute the gap.
:::

:::{solution-start} ex-one
:class: dropdown
:::

The gap is the difference of the means.

```{code-cell} ipython3
:tags: [solution]

gap_worked_out = 3.14
```

:::{solution-end}
:::

:::{div} website-only
Click the rocket button.
:::

:::{div} notebook-only
Run the cells from the top.
:::
'''


def _text(nb) -> str:
    return "\n".join(c.source for c in nb.cells)


def test_the_two_editions_of_a_chapter():
    executed = jupytext.reads(CHAPTER, fmt="myst")
    student = reader_notebook(executed, CTX)
    key = reader_notebook(executed, CTX, solutions=True)
    assert raw_syntax(student) == [] and raw_syntax(key) == []
    assert "gap_worked_out" not in _text(student) and "difference of the means" not in _text(student)
    assert "# Your code here" in _text(student)  # an empty cell to work in, where the solution was
    assert "**Solution to Exercise 5.1**" in _text(key) and "gap_worked_out = 3.14" in _text(key)
    for nb in (student, key):
        text = _text(nb)
        assert "rocket" not in text and "Run the cells from the top." in text  # website words stay out
        assert "See Chapter 7, *Comparing the models*." in text  # a chapter, named in a sentence
        code = [c.source for c in nb.cells if c.cell_type == "code"]
        assert code[0] == "import hlm_course as hc" and code[1] == PACKAGE_CHECK


def test_the_package_check_says_how_to_install(tmp_path):
    missing = PACKAGE_CHECK.replace("    import hlm_course  #", "    import hlm_course_not_installed  #")
    assert missing != PACKAGE_CHECK
    run = subprocess.run([sys.executable, "-I", "-c", missing], capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode != 0
    assert "ImportError: This notebook needs the course package" in run.stderr
    assert "python -m pip install hlm_course-*.whl jupyterlab" in run.stderr


def test_context_round_trip(tmp_path):
    ctx = BookContext(labels={"a": "A"}, numbers={"b": "Figure 1.1"}, citations={"k": ("Kaplan", "2010")},
                      chapters={"c": "Chapter 3, *C*"})
    handouts.save_context(ctx, tmp_path / "ctx.json")
    assert handouts.load_context(tmp_path / "ctx.json") == ctx


def test_select_chapters(tmp_path):
    for name in ("01_hierarchical_data", "14_lab1_sector_gap", "15_lab2_minority", "environment", "intro"):
        (tmp_path / f"{name}.ipynb").write_text("{}")
    names = lambda ps: [p.stem for p in ps]  # noqa: E731
    assert names(handouts.select_chapters(tmp_path, ["14", "lab2"])) == ["14_lab1_sector_gap", "15_lab2_minority"]
    assert "environment" not in names(handouts.select_chapters(tmp_path, None))
    with pytest.raises(SystemExit, match="no chapter matches \\['99'\\]"):
        handouts.select_chapters(tmp_path, ["99"])


def test_a_zip_holds_readme_wheel_lock_and_notebooks(tmp_path):
    nb = tmp_path / "01_x.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), nb)
    wheel = tmp_path / "hlm_course-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"wheel")
    z = handouts.write_zip(tmp_path / "h.zip", [nb], "student", "https://example.org/book", wheel)
    with zipfile.ZipFile(z) as zf:
        names = set(zf.namelist())
        readme = zf.read("hlm-course/README.md").decode()
    assert names == {"hlm-course/README.md", "hlm-course/hlm_course-0.1.0-py3-none-any.whl",
                     "hlm-course/requirements.lock", "hlm-course/01_x.ipynb"}
    assert "pip install hlm_course-0.1.0-py3-none-any.whl jupyterlab" in readme
    assert "student edition" in readme and "https://example.org/book" in readme


# ------------------------------------------------------------------------- against the built book
BUILT_ZIP = BUILD / "html" / "notebooks" / handouts.ZIP_NAME
need_build = pytest.mark.skipif(not BUILT_ZIP.exists(), reason="no built book (jupyter-book build .)")


@pytest.mark.slow
@need_build
def test_the_built_zips():
    with zipfile.ZipFile(BUILT_ZIP) as zf:
        names = [n.split("/", 1)[1] for n in zf.namelist()]
    assert "README.md" in names and "requirements.lock" in names
    assert any(n.startswith("hlm_course-") and n.endswith(".whl") for n in names)
    assert "environment.ipynb" not in names and "14_lab1_sector_gap.ipynb" in names
    key = BUILD / handouts.TEACHERS_DIR / handouts.SOLUTIONS_ZIP_NAME
    assert key.exists() and not (BUILD / "html" / handouts.SOLUTIONS_ZIP_NAME).exists()
    # the download button's notebook and the zip's carry the build's outputs (figures and tables)
    for nb_path in (BUILD / "html" / "_sources" / "chapters" / "01_hierarchical_data.ipynb",
                    BUILD / "html" / "notebooks" / "01_hierarchical_data.ipynb"):
        kinds = {k for c in nbformat.read(nb_path, as_version=4).cells for o in c.get("outputs", [])
                 for k in o.get("data", {})}
        assert {"image/png", "text/html"} <= kinds, (nb_path, kinds)
    pages = [p.read_text(encoding="utf8", errors="replace") for p in (BUILD / "html").rglob("*.html")]
    links = [href for page in pages for href in re.findall(r'href="([^"]*)"', page)]
    assert not [h for h in links if handouts.SOLUTIONS_ZIP_NAME in h or "teachers" in h.split("/")]


@pytest.mark.slow
@need_build
def test_the_command_writes_plain_notebooks_for_chosen_chapters(tmp_path):
    assert handouts.main(["--chapters", "14", "--out", str(tmp_path)]) == 0
    student = nbformat.read(tmp_path / "student" / "14_lab1_sector_gap.ipynb", as_version=4)
    key = nbformat.read(tmp_path / "solutions" / "14_lab1_sector_gap.ipynb", as_version=4)
    assert [p.name for p in (tmp_path / "student").iterdir()] == ["14_lab1_sector_gap.ipynb"]
    assert raw_syntax(student) == [] and raw_syntax(key) == []
    worked = 'labs.check("lab1-minority-gap", minority_gap)'
    assert "**Solution to Exercise 14.1**" in _text(key) and "prop_minority = hc.cvar" in _text(key)
    assert "prop_minority = hc.cvar" not in _text(student) and worked in _text(student)  # its answer cell
    answer = next(c for c in student.cells if c.cell_type == "code" and "minority_gap = None" in c.source)
    assert answer.metadata.get("tags") == ["answer"] and "jupyter" not in answer.metadata


@pytest.mark.slow
@need_build
def test_the_student_zip_runs_in_an_empty_folder(tmp_path):
    """Unpack the zip far from the repository, install its wheel into a fresh virtual environment (the other
    dependencies are borrowed from this one, read-only) and run a chapter's notebook from the top."""
    with zipfile.ZipFile(BUILT_ZIP) as zf:
        zf.extractall(tmp_path)
    folder = tmp_path / "hlm-course"
    env = tmp_path / "venv"
    venv.create(env, with_pip=False)
    python = env / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    import numpy
    (site / "deps.pth").write_text(str(Path(numpy.__file__).parent.parent) + "\n")
    wheel = next(folder.glob("hlm_course-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target", str(site),
                    str(wheel)], check=True, capture_output=True)
    code = ("import nbformat, sys\n"
            "from nbclient import NotebookClient\n"
            "nb = nbformat.read(sys.argv[1], as_version=4)\n"
            "NotebookClient(nb, timeout=600, kernel_name='python3',\n"
            "               resources={'metadata': {'path': '.'}}).execute()\n"
            "print('ran', sum(c.cell_type == 'code' for c in nb.cells), 'cells')\n")
    env_vars = {"PATH": f"{env / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path), "MPLBACKEND": "Agg",
                "JUPYTER_PLATFORM_DIRS": "1"}
    run = subprocess.run([str(python), "-c", code, str(folder / "01_hierarchical_data.ipynb")], cwd=folder,
                         capture_output=True, text=True, env={**env_vars, **{k: v for k, v in os.environ.items()
                                                                             if k.startswith("LANG")}})
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.startswith("ran ")
    assert json.loads((folder / "01_hierarchical_data.ipynb").read_text())["cells"]  # untouched on disk
