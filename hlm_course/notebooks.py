"""The chapters as Jupyter notebooks: a Colab set-up cell and jupytext-paired ``.ipynb`` files.

The chapters are MyST-markdown notebooks (``chapters/*.md``), the source of
the book.  Binder and Colab need real ``.ipynb`` files, so every chapter is
paired with jupytext (``formats: ipynb,md:myst``) and its ``.ipynb`` twin is
committed next to it (excluded from the Sphinx build; the book's launch buttons
open it).  Colab has neither this package nor its data, so each chapter starts
with a set-up cell, hidden in the book (tag ``remove-cell``), that clones the
repository and installs what Colab lacks; elsewhere it does nothing.

Usage, from the repository root, after editing chapters::

    python -m hlm_course.notebooks          # add/refresh set-up cells, write the .ipynb twins
    python -m hlm_course.notebooks --check  # exit 1 if anything is out of date
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import jupytext
import nbformat

__all__ = ["repository_url", "setup_cell_source", "sync_chapter", "check_chapter", "main"]

ROOT = Path(__file__).resolve().parent.parent
SETUP_MARKER = "# Colab set-up"
COLAB_PACKAGES = ["nlopt", "myst-nb"]  # what Colab's default image lacks


def repository_url(config: Path = ROOT / "_config.yml") -> str:
    """The repository URL from the book's ``_config.yml`` (``repository: url:``)."""
    import yaml

    url = (yaml.safe_load(Path(config).read_text()).get("repository") or {}).get("url")
    if not url:
        raise ValueError(f"{config} has no repository url")
    return url.rstrip("/")


def setup_cell_source(url: str) -> str:
    """The code of the Colab set-up cell."""
    return (
        f"{SETUP_MARKER}: fetch the course package and its data (does nothing outside Colab).\n"
        "import subprocess\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        f'    subprocess.run(["git", "clone", "-q", "--depth", "1", "{url}", "/content/hlm-course"])\n'
        f'    subprocess.run([sys.executable, "-m", "pip", "install", "-q", {", ".join(repr(p).replace(chr(39), chr(34)) for p in COLAB_PACKAGES)}],\n'
        "                   check=True)\n"
        '    sys.path.insert(0, "/content/hlm-course")'
    )


def _setup_cell(url: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_code_cell(setup_cell_source(url), metadata={"tags": ["remove-cell"]})


def _is_setup(cell) -> bool:
    return cell.cell_type == "code" and cell.source.startswith(SETUP_MARKER)


def _expected(nb: nbformat.NotebookNode, url: str) -> nbformat.NotebookNode:
    """``nb`` with exactly one, current set-up cell before its first code cell, and paired formats."""
    out = nbformat.from_dict(nb)
    cells = [c for c in out.cells if not _is_setup(c)]
    first_code = next((i for i, c in enumerate(cells) if c.cell_type == "code"), None)
    if first_code is not None:
        cells.insert(first_code, _setup_cell(url))
    out.cells = cells
    out.metadata.setdefault("jupytext", {})["formats"] = "ipynb,md:myst"
    return out


def is_notebook(path: Path) -> bool:
    """Whether a chapter ``.md`` is a MyST notebook (jupytext front matter), not a plain page."""
    return path.read_text(encoding="utf8").startswith("---\njupytext:")


def _cells(nb) -> list[tuple[str, str, tuple]]:
    return [(c.cell_type, c.source.strip(), tuple(c.metadata.get("tags", []))) for c in nb.cells]


_SETUP_BLOCK = re.compile(r"```\{code-cell\}[^\n]*\n:tags: \[remove-cell\]\n\n" + re.escape(SETUP_MARKER)
                          + r".*?\n```\n\n", re.DOTALL)


def _with_setup_text(text: str, url: str) -> str:
    """Edit the MyST text in place (keeping the author's formatting): pairing and the set-up cell."""
    if "\n  formats: ipynb,md:myst\n" not in text:
        text = text.replace("\njupytext:\n", "\njupytext:\n  formats: ipynb,md:myst\n", 1)
    text = _SETUP_BLOCK.sub("", text)
    block = "```{code-cell} ipython3\n:tags: [remove-cell]\n\n" + setup_cell_source(url) + "\n```\n\n"
    i = text.find("```{code-cell}")
    return text if i < 0 else text[:i] + block + text[i:]


def check_chapter(md: Path, url: str | None = None) -> list[str]:
    """Problems with chapter ``md``: a missing/outdated set-up cell, a missing/outdated ``.ipynb`` twin."""
    url = url or repository_url()
    problems = []
    nb = jupytext.read(md)
    want = _expected(nb, url)
    if _cells(nb) != _cells(want) or nb.metadata.get("jupytext", {}).get("formats") != "ipynb,md:myst":
        problems.append(f"{md.name}: set-up cell or jupytext pairing missing or out of date")
    twin = md.with_suffix(".ipynb")
    if not twin.exists():
        problems.append(f"{twin.name}: missing")
    elif _cells(nbformat.read(twin, as_version=4)) != _cells(want):
        problems.append(f"{twin.name}: differs from {md.name}")
    return problems


def sync_chapter(md: Path, url: str | None = None) -> bool:
    """Bring ``md`` and its ``.ipynb`` twin up to date; return True if a file changed."""
    url = url or repository_url()
    if not check_chapter(md, url):
        return False
    md.write_text(_with_setup_text(md.read_text(encoding="utf8"), url), encoding="utf8")
    want = _expected(jupytext.read(md), url)
    twin = nbformat.from_dict(want)
    for cell in twin.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    jupytext.write(twin, md.with_suffix(".ipynb"), fmt="ipynb")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chapters", default=ROOT / "chapters", type=Path)
    parser.add_argument("--check", action="store_true", help="report problems, change nothing")
    args = parser.parse_args(argv)
    url = repository_url()
    chapters = [p for p in sorted(Path(args.chapters).glob("*.md")) if is_notebook(p)]
    if args.check:
        problems = [msg for md in chapters for msg in check_chapter(md, url)]
        for msg in problems:
            print(msg)
        return 1 if problems else 0
    for md in chapters:
        if sync_chapter(md, url):
            print(f"updated {md.name} and {md.with_suffix('.ipynb').name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
