"""The student edition strips solutions and keeps everything else."""

import re

import jupytext
import numpy as np
import pytest

from hlm_course.book.student import PLACEHOLDER, make_student_edition, strip_solutions
from myst_text import MYST_HEADER

CHAPTER = MYST_HEADER + '''
# A chapter

```{code-cell} ipython3
x = 1
```

:::{exercise}
:label: ex-one

Compute the answer.
:::

:::{solution} ex-one
The answer is two, because one plus one.
:::

```{code-cell} ipython3
:tags: [solution]

answer = x + 1
```
'''


def test_strip_solutions(tmp_path):
    src = tmp_path / "chapters"
    src.mkdir()
    (src / "ch.md").write_text(CHAPTER)
    report = make_student_edition(src, tmp_path / "student", fmt="md")
    assert report == {"ch.md": 2}
    text = (tmp_path / "student" / "ch.md").read_text()
    assert "answer = x + 1" not in text and "one plus one" not in text
    assert "Compute the answer." in text and "x = 1" in text and PLACEHOLDER.strip() in text


def test_strip_solutions_counts_nothing_without_solutions():
    nb = jupytext.reads("# Title\n\n```{code-cell} ipython3\n1 + 1\n```\n", fmt="md:myst")
    out, removed = strip_solutions(nb)
    assert removed == 0 and len(out.cells) == len(nb.cells)


def test_bad_format(tmp_path):
    with pytest.raises(ValueError, match="format must be"):
        make_student_edition(tmp_path, tmp_path / "s", fmt="pdf")


def test_student_edition_of_the_book(tmp_path):
    """Every chapter with exercises loses its solutions and keeps its exercises."""
    from pathlib import Path

    chapters = Path(__file__).resolve().parents[2] / "chapters"
    report = make_student_edition(chapters, tmp_path, fmt="ipynb")
    with_exercises = [p.name for p in chapters.glob("*.md") if "{exercise}" in p.read_text()]
    assert with_exercises, "the book has no exercises"
    for name in with_exercises:
        assert report[name] >= 2, f"{name}: no solutions were stripped"
        nb = jupytext.read(tmp_path / name.replace(".md", ".ipynb"))
        assert not any("solution" in c.metadata.get("tags", []) for c in nb.cells)
        assert not any("{solution" in c.source for c in nb.cells if c.cell_type == "markdown")
        assert any("{exercise}" in c.source for c in nb.cells if c.cell_type == "markdown")
    assert "bibliography.md" not in report and not (tmp_path / "bibliography.ipynb").exists()  # not a notebook
    assert "15_lab2_minority.md" in report and "intro.md" in report


GATED = MYST_HEADER + '''
# A lab

:::{exercise}
:label: ex-gated

Fit the model.
:::

```{code-cell} ipython3
# your answer
```

:::{solution-start} ex-gated
:class: dropdown
:::

Secret reasoning.

```{code-cell} ipython3
secret = 42
```

More secret prose.

```{code-cell} ipython3
secret + 1
```

:::{solution-end}
:::

Text after the solution.
'''


def test_strip_gated_solutions_across_cells():
    nb = jupytext.reads(GATED, fmt="md:myst")
    out, removed = strip_solutions(nb)
    text = jupytext.writes(out, fmt="md:myst")
    assert removed == 1
    assert "secret" not in text.lower() and "solution-start" not in text and "solution-end" not in text
    assert "Fit the model." in text and "# your answer" in text and "Text after the solution." in text


def test_unclosed_gated_solution_is_an_error():
    nb = jupytext.reads(GATED.replace(":::{solution-end}\n:::\n", ""), fmt="md:myst")
    with pytest.raises(ValueError, match="no matching"):
        strip_solutions(nb)


def _solution_code(nb):
    """Sources of the code cells that are solutions: tagged, or between solution gates."""
    inside, found = False, []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            if "{solution-start}" in cell.source:
                inside = True
            if "{solution-end}" in cell.source:
                inside = False
        elif inside or "solution" in cell.metadata.get("tags", []):
            found.append(cell.source)
    return found


def test_student_edition_contains_no_solution_code(tmp_path):
    """No line of any solution's code survives in the student edition."""
    from pathlib import Path

    chapters = Path(__file__).resolve().parents[2] / "chapters"
    make_student_edition(chapters, tmp_path, fmt="ipynb")
    n_checked = 0
    for path in sorted(chapters.glob("*.md")):
        source_nb = jupytext.read(path)
        solutions = _solution_code(source_nb)
        if not solutions:
            continue
        others = {line.strip() for c in source_nb.cells if c.cell_type == "code"
                  and c.source not in solutions for line in c.source.splitlines()}
        student = jupytext.read(tmp_path / (path.stem + ".ipynb"))
        student_code = "\n".join(c.source for c in student.cells if c.cell_type == "code")
        for source in solutions:
            for line in source.splitlines():
                line = line.strip()
                if len(line) > 25 and not line.startswith("#") and line not in others:
                    n_checked += 1
                    assert line not in student_code, f"{path.name}: solution line kept: {line}"
    assert n_checked > 20


@pytest.mark.parametrize("lab", ["14_lab1_sector_gap", "15_lab2_minority"])
def test_student_edition_of_each_lab_runs_without_its_solutions(tmp_path, lab):
    """No cell a student gets depends on a variable only a stripped solution defines."""
    from pathlib import Path

    import nbclient

    chapters = Path(__file__).resolve().parents[2] / "chapters"
    nb, removed = strip_solutions(jupytext.read(chapters / f"{lab}.md"))
    assert removed >= 10
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(chapters)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    checks = [o for c in nb.cells if c.cell_type == "code" and "labs.check(" in c.source
              for o in c.get("outputs", [])]
    assert checks and all("no answer yet" in str(o.get("data", o.get("text", ""))) for o in checks)
    # the code cell that follows an exercise's answer cell does not print the answer
    from hlm_course import labs

    labs.keys()  # loads the labs' checks
    code = [c for c in nb.cells if c.cell_type == "code"]
    n_checked = 0
    for cell, following in zip(code, code[1:]):
        if "None  # your answer" not in cell.source:
            continue
        shown = " ".join(str(o.get("data", {}).get("text/plain", "")) + str(o.get("data", {}).get("text/html", ""))
                         + str(o.get("text", "")) for o in following.get("outputs", []))
        for key in re.findall(r'labs\.check\("([\w-]+)"', cell.source):
            spec = labs._REGISTRY[key]
            if spec.kind in ("number", "array"):
                values = np.atleast_1d(np.asarray(spec._compute(), dtype=float)).ravel()
                for v in values[np.abs(values) > 0.01]:
                    assert f"{v:.3f}" not in shown, f"{lab}: the cell after {key} prints {v:.3f}"
                    n_checked += 1
            elif spec.kind == "set" and len(spec._compute()) > 1:  # one id in a table is no answer
                ids = [str(s) for s in spec._compute()]
                assert not all(s in shown for s in ids), f"{lab}: the cell after {key} prints its answer"
                n_checked += 1
    assert n_checked >= 10


def test_solutions_note_is_rewritten_for_students():
    """The book's "the solutions are in the dropdowns" becomes the student edition's own note."""
    from hlm_course.book.student import STUDENT_NOTE

    source = MYST_HEADER + ("# A lab\n\nExercises follow.\n\n:::{div} solutions-note\n"
                            "The worked solutions are in the dropdowns under the exercises; try first.\n:::\n\n"
                            "More text.\n")
    out, removed = strip_solutions(jupytext.reads(source, fmt="md:myst"))
    text = jupytext.writes(out, fmt="md:myst")
    assert removed == 0
    assert "dropdowns" not in text and "solutions-note" not in text
    assert STUDENT_NOTE.strip() in text and "Exercises follow." in text and "More text." in text


@pytest.mark.parametrize("lab", ["14_lab1_sector_gap", "15_lab2_minority"])
def test_student_edition_of_each_lab_does_not_promise_dropdowns(lab):
    from pathlib import Path

    from hlm_course.book.student import STUDENT_NOTE

    chapters = Path(__file__).resolve().parents[2] / "chapters"
    source = (chapters / f"{lab}.md").read_text()
    assert "dropdowns" in source  # the book itself points to them
    nb, _ = strip_solutions(jupytext.read(chapters / f"{lab}.md"))
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "dropdown" not in text and STUDENT_NOTE.strip() in text


def test_hidden_solution_cells_leave_no_placeholder():
    nb = jupytext.reads(MYST_HEADER + "\n```{code-cell} ipython3\n:tags: [solution, remove-cell]\n\n"
                        "glue('answer', 2)\n```\n\n```{code-cell} ipython3\n:tags: [solution]\n\nx = 2\n```\n",
                        fmt="md:myst")
    out, removed = strip_solutions(nb)
    assert removed == 2
    assert [c.source for c in out.cells if c.cell_type == "code"] == [PLACEHOLDER]
