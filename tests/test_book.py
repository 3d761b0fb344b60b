"""Book hygiene: the table of contents, figure captions and alt text, no placeholders."""

from __future__ import annotations

import re
from pathlib import Path

import jupytext
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())
# calls that draw a figure; the plots helpers that only return tables or numbers are excluded
NOT_FIGURES = ("coef_lines", "palette_for", "ls_line", "ellipse_points", "ellipse_radius", "use_book_style")
PLOTTING = re.compile(r"\bplots\.(?!(?:" + "|".join(NOT_FIGURES) + r")\()\w+\(|\bplt\.(subplots|figure|plot|scatter|hist)\("
                      r"|\bnew_figure\(")


def toc_files() -> list[str]:
    files = [TOC["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk({k: v for k, v in TOC.items() if k != "root"})
    return files


CHAPTERS = sorted((ROOT / "chapters").glob("*.md"))


def test_toc_files_exist_and_every_chapter_is_listed():
    listed = toc_files()
    for f in listed:
        assert (ROOT / f"{f}.md").exists(), f"_toc.yml lists {f} but {f}.md does not exist"
    stems = {f"chapters/{p.stem}" for p in CHAPTERS}
    assert stems <= set(listed), f"chapters missing from _toc.yml: {sorted(stems - set(listed))}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_figures_have_numbered_captions_and_alt_text(path):
    nb = jupytext.read(path)
    for k, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or "solution" in cell.metadata.get("tags", []):
            continue
        figure = cell.metadata.get("mystnb", {}).get("figure")
        if PLOTTING.search(cell.source) or figure is not None:
            where = f"{path.name}, code cell {k}: {cell.source.splitlines()[0][:60]!r}"
            assert figure and figure.get("caption"), f"figure without caption in {where}"
            assert figure.get("name"), f"figure without a name (label) in {where}"
            alt = cell.metadata.get("mystnb", {}).get("image", {}).get("alt")
            assert alt and len(alt) > 20, f"figure without meaningful alt text in {where}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_no_placeholders(path):
    text = path.read_text()
    for word in ("TODO", "TBD", "FIXME", "XXX", "lorem ipsum"):
        assert word not in text, f"{path.name} contains {word!r}"
