"""Chapters as notebooks: Colab set-up cells, jupytext pairing, .ipynb twins in sync."""

from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml

from hlm_course import notebooks
from myst_text import MYST_HEADER

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted(p for p in (ROOT / "chapters").glob("*.md") if notebooks.is_notebook(p))

SMALL = MYST_HEADER + """
# A chapter

Some text.

```{code-cell} ipython3
x = 1
```
"""


def test_every_chapter_is_paired_and_in_sync():
    assert len(CHAPTERS) >= 14
    problems = [msg for md in CHAPTERS for msg in notebooks.check_chapter(md)]
    assert problems == [], "run `python -m hlm_course.notebooks`:\n" + "\n".join(problems)


def test_setup_cell_is_first_code_cell_hidden_and_uses_the_repository():
    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    assert url.startswith("https://github.com/")
    for md in CHAPTERS:
        nb = nbformat.read(md.with_suffix(".ipynb"), as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert code[0].source.startswith(notebooks.SETUP_MARKER), md.name
        assert code[0].metadata["tags"] == ["remove-cell"]
        assert url in code[0].source
        assert all(c.outputs == [] for c in code), f"{md.name}: the .ipynb twin carries outputs"


def test_setup_cell_is_inert_outside_colab():
    namespace = {}
    exec(notebooks.setup_cell_source("https://github.com/x/y"), namespace)  # noqa: S102
    assert "google.colab" not in __import__("sys").modules
    assert "/content/hlm-course" not in __import__("sys").path


def test_sync_writes_twin_and_is_idempotent(tmp_path):
    md = tmp_path / "ch.md"
    md.write_text(SMALL)
    problems = notebooks.check_chapter(md, "https://github.com/x/y")
    assert any("set-up cell" in p for p in problems) and any("ch.ipynb: missing" in p for p in problems)
    assert notebooks.sync_chapter(md, "https://github.com/x/y") is True
    assert notebooks.check_chapter(md, "https://github.com/x/y") == []
    assert notebooks.sync_chapter(md, "https://github.com/x/y") is False
    text = md.read_text()
    assert text.count(notebooks.SETUP_MARKER) == 1 and "formats: ipynb,md:myst" in text
    assert "Some text." in text and "x = 1" in text
    nb = jupytext.read(tmp_path / "ch.ipynb")
    assert [c.cell_type for c in nb.cells] == ["markdown", "code", "code"]


def test_edited_chapter_is_reported(tmp_path):
    md = tmp_path / "ch.md"
    md.write_text(SMALL)
    notebooks.sync_chapter(md, "https://github.com/x/y")
    md.write_text(md.read_text().replace("x = 1", "x = 2"))
    assert notebooks.check_chapter(md, "https://github.com/x/y") == ["ch.ipynb: differs from ch.md"]
    notebooks.sync_chapter(md, "https://github.com/x/y")
    assert "x = 2" in (tmp_path / "ch.ipynb").read_text()


def test_repository_url_required(tmp_path):
    cfg = tmp_path / "_config.yml"
    cfg.write_text("title: x\n")
    with pytest.raises(ValueError, match="has no repository url"):
        notebooks.repository_url(cfg)
