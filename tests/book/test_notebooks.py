"""Chapters as notebooks: Colab set-up cells, and the committed reader notebooks students open."""

import os
from pathlib import Path

import nbformat
import pytest
import yaml

from hlm_course.book import notebooks
from myst_text import MYST_HEADER

ROOT = Path(__file__).resolve().parents[2]
CHAPTERS = sorted(p for p in (ROOT / "chapters").glob("*.md") if notebooks.is_notebook(p))

SMALL = MYST_HEADER + """
# A chapter

Some text.

```{code-cell} ipython3
x = 1
```
"""


def test_every_chapter_has_its_reader_notebook_in_sync():
    assert len(CHAPTERS) >= 15
    problems = [msg for md in CHAPTERS for msg in notebooks.check_chapter(md)]
    assert problems == [], ("build the book, then run `python -m hlm_course.book.notebooks`:\n"
                            + "\n".join(problems))


def test_reader_notebooks_are_what_students_may_see():
    """No raw MyST, no glue, no solution, not paired with the source, no outputs."""
    for md in CHAPTERS:
        nb = nbformat.read(md.with_suffix(".ipynb"), as_version=4)
        text = nbformat.writes(nb)
        for bad in ("{glue", "{eval", "{solution", "myst_nb", "formats: ipynb"):
            assert bad not in text, f"{md.name}: {bad!r} in its reader notebook"
        assert "jupytext" not in nb.metadata


def test_setup_cell_is_first_code_cell_hidden_and_uses_the_repository():
    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    assert url.startswith("https://github.com/")
    for md in CHAPTERS:
        nb = nbformat.read(md.with_suffix(".ipynb"), as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert code[0].source.startswith(notebooks.SETUP_MARKER), md.name
        assert "remove-cell" in code[0].metadata["tags"]
        assert url in code[0].source


def test_setup_cell_pins_the_locked_versions():
    from hlm_course.book.environment import read_lock

    src = notebooks.setup_cell_source("https://github.com/x/y")
    assert f'"nlopt=={read_lock()["nlopt"]}"' in src


def test_setup_cell_is_inert_outside_colab():
    namespace = {}
    exec(notebooks.setup_cell_source("https://github.com/x/y"), namespace)  # noqa: S102
    assert "google.colab" not in __import__("sys").modules
    assert "/content/hlm-course" not in __import__("sys").path


def _built(tmp_path, md, code="x = 1"):
    built = tmp_path / "built"
    built.mkdir(exist_ok=True)
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# A chapter\n\nSome text with 3.14 written in."),
        nbformat.v4.new_code_cell(notebooks.setup_cell_source("https://github.com/x/y"),
                                  metadata={"tags": ["remove-cell"]}),
        nbformat.v4.new_code_cell(code, outputs=[nbformat.v4.new_output("stream", text="1\n")])])
    path = built / f"{md.stem}.ipynb"
    nbformat.write(nb, path)
    os.utime(path, (md.stat().st_mtime + 10, md.stat().st_mtime + 10))
    return built


def test_sync_adds_setup_cell_unpairs_and_copies_the_reader_notebook(tmp_path):
    md = tmp_path / "ch.md"
    md.write_text(SMALL.replace("jupytext:\n", "jupytext:\n  formats: ipynb,md:myst\n", 1))
    problems = notebooks.check_chapter(md, "https://github.com/x/y")
    assert any("set-up cell" in p for p in problems) and any("ch.ipynb: missing" in p for p in problems)
    with pytest.raises(FileNotFoundError, match="build the book first"):
        notebooks.sync_chapter(md, "https://github.com/x/y", tmp_path / "nowhere")
    built = _built(tmp_path, md)
    assert notebooks.sync_chapter(md, "https://github.com/x/y", built) is True
    assert notebooks.check_chapter(md, "https://github.com/x/y") == []
    assert notebooks.sync_chapter(md, "https://github.com/x/y", built) is False
    text = md.read_text()
    assert text.count(notebooks.SETUP_MARKER) == 1 and "formats: ipynb,md:myst" not in text
    twin = nbformat.read(tmp_path / "ch.ipynb", as_version=4)
    assert [c.cell_type for c in twin.cells] == ["markdown", "code", "code"]
    assert twin.cells[2].outputs == [] and "3.14 written in" in twin.cells[0].source


def test_edited_chapter_is_reported_until_rebuilt(tmp_path):
    md = tmp_path / "ch.md"
    md.write_text(SMALL)
    notebooks.sync_chapter(md, "https://github.com/x/y", _built(tmp_path, md))
    md.write_text(md.read_text().replace("x = 1", "x = 2"))
    assert notebooks.check_chapter(md, "https://github.com/x/y") == [
        "ch.ipynb: its code differs from ch.md (rebuild, then sync)"]
    notebooks.sync_chapter(md, "https://github.com/x/y", _built(tmp_path, md, code="x = 2"))
    assert notebooks.check_chapter(md, "https://github.com/x/y") == []


def test_raw_syntax_in_a_committed_notebook_is_reported(tmp_path):
    md = tmp_path / "ch.md"
    md.write_text(SMALL)
    notebooks.sync_chapter(md, "https://github.com/x/y", _built(tmp_path, md))
    nb = nbformat.read(tmp_path / "ch.ipynb", as_version=4)
    nb.cells[0].source += " The gap is {glue:text}`gap:.2f`."
    nbformat.write(nb, tmp_path / "ch.ipynb")
    assert any("MyST syntax" in p for p in notebooks.check_chapter(md, "https://github.com/x/y"))


def test_repository_url_required(tmp_path):
    cfg = tmp_path / "_config.yml"
    cfg.write_text("title: x\n")
    with pytest.raises(ValueError, match="has no repository url"):
        notebooks.repository_url(cfg)
