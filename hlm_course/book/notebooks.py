"""The chapters as Jupyter notebooks: a Colab set-up cell, and the ``.ipynb`` students open.

The chapters are MyST-markdown notebooks (``chapters/*.md``), the source of the book, with the solutions
of their exercises and ``{glue:text}`` references to computed numbers. Students do not get those files:
they get each chapter's *reader notebook* (:mod:`hlm_course.book.reader`), a plain ``.ipynb`` with the
book's numbers written into the prose and no solutions, which every build writes to
``_build/html/notebooks/``. The launch buttons (Binder, Colab) open ``chapters/<name>.ipynb`` in the
repository, so those files are the reader notebooks of the last build, without outputs (a student runs
the cells). They are *not* jupytext-paired with the ``.md`` files: saving a student's notebook must
never write into the book's source.

Colab has neither this package nor its data, so each chapter starts with a set-up cell, hidden in the
book (tag ``remove-cell``), that clones the repository (``repository: url:`` in ``_config.yml``, the one
place the URL is set) and installs what Colab lacks; elsewhere it does nothing.

Usage, from the repository root, after editing chapters::

    .venv/bin/jupyter-book build .            # writes _build/html/notebooks/*.ipynb
    python -m hlm_course.book.notebooks --sources  # (before a build) only the set-up cells of the .md files
    python -m hlm_course.book.notebooks            # set-up cells in the .md files; copy the reader notebooks
    python -m hlm_course.book.notebooks --check    # exit 1 if anything is out of date (needs no build)
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import jupytext
import nbformat

from .student import is_notebook

__all__ = ["repository_url", "setup_cell_source", "expected_code", "check_chapter", "sync_chapter",
           "is_notebook", "main"]

ROOT = Path(__file__).resolve().parents[2]
BUILT = ROOT / "_build" / "html" / "notebooks"
SETUP_MARKER = "# Colab set-up"
#: What Colab's image lacks, pinned to requirements.lock's versions when the set-up cell is written.
COLAB_PACKAGES = ("nlopt",)
_PAIRING = "\n  formats: ipynb,md:myst\n"


def repository_url(config: Path = ROOT / "_config.yml") -> str:
    """The repository URL from the book's ``_config.yml`` (``repository: url:``)."""
    import yaml

    url = (yaml.safe_load(Path(config).read_text()).get("repository") or {}).get("url")
    if not url:
        raise ValueError(f"{config} has no repository url")
    return url.rstrip("/")


def _colab_pins() -> list[str]:
    from .environment import LOCK_FILE, read_lock

    lock = read_lock(LOCK_FILE) if LOCK_FILE.exists() else {}
    return [f"{name}=={lock[name]}" if name in lock else name for name in COLAB_PACKAGES]


def setup_cell_source(url: str) -> str:
    """The code of the Colab set-up cell: clone the course, install what Colab lacks, at locked versions."""
    pins = ", ".join(f'"{p}"' for p in _colab_pins())
    return (
        f"{SETUP_MARKER}: fetch the course package and its data (does nothing outside Colab).\n"
        "import subprocess\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        f'    subprocess.run(["git", "clone", "-q", "--depth", "1", "{url}", "/content/hlm-course"])\n'
        f'    subprocess.run([sys.executable, "-m", "pip", "install", "-q", {pins}], check=True)\n'
        '    sys.path.insert(0, "/content/hlm-course")\n'
        "    if sys.version_info[:2] != (3, 11):\n"
        '        print("Note: the book was built with Python 3.11; some last digits may differ here.")'
    )


_SETUP_BLOCK = re.compile(r"```\{code-cell\}[^\n]*\n:tags: \[remove-cell\]\n\n" + re.escape(SETUP_MARKER)
                          + r".*?\n```\n\n", re.DOTALL)


def _source_text(text: str, url: str) -> str:
    """The chapter's MyST text with exactly one current set-up cell and no jupytext pairing."""
    text = text.replace(_PAIRING, "\n", 1)
    text = _SETUP_BLOCK.sub("", text)
    block = "```{code-cell} ipython3\n:tags: [remove-cell]\n\n" + setup_cell_source(url) + "\n```\n\n"
    i = text.find("```{code-cell}")
    return text if i < 0 else text[:i] + block + text[i:]


def _update_source(md: Path, url: str) -> bool:
    """Rewrite ``md`` with its current set-up cell and no pairing; True if it changed."""
    text = md.read_text(encoding="utf8")
    new = _source_text(text, url)
    if new != text:
        md.write_text(new, encoding="utf8")
    return new != text


def expected_code(md: Path) -> list[str]:
    """The code cells a chapter's reader notebook has: the chapter's, without solutions and glue calls."""
    from .reader import BOOK_ONLY_TAG, GLUE_SHIM, PACKAGE_CHECK, strip_glue_code, uses_glue, uses_package
    from .student import strip_solutions

    nb, _ = strip_solutions(jupytext.read(md))
    sources = [strip_glue_code(c.source) for c in nb.cells
               if c.cell_type == "code" and BOOK_ONLY_TAG not in (c.get("metadata") or {}).get("tags", [])]
    sources = [s for s in sources if s.strip()]
    at = 1 if sources else 0  # after the Colab set-up cell
    if uses_package(sources):  # reader.PACKAGE_CHECK: is the course package installed?
        sources.insert(at, PACKAGE_CHECK)
        at += 1
    if any(uses_glue(s) for s in sources):  # hidden cells that keep their glue calls get reader.GLUE_SHIM
        sources.insert(at, GLUE_SHIM)
    return sources


def check_chapter(md: Path, url: str | None = None) -> list[str]:
    """Problems with chapter ``md`` and its reader notebook ``md.with_suffix('.ipynb')`` (no build needed)."""
    from .reader import raw_syntax

    url = url or repository_url()
    problems = []
    text = md.read_text(encoding="utf8")
    if _source_text(text, url) != text:
        problems.append(f"{md.name}: set-up cell missing or out of date, or still jupytext-paired")
    twin = md.with_suffix(".ipynb")
    if not twin.exists():
        return problems + [f"{twin.name}: missing"]
    nb = nbformat.read(twin, as_version=4)
    if (nb.metadata.get("jupytext") or {}).get("formats"):
        problems.append(f"{twin.name}: jupytext-paired with the source (a student's save would overwrite it)")
    left = raw_syntax(nb)
    if left:
        problems.append(f"{twin.name}: MyST syntax in its prose: {sorted(set(left))[:3]}")
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    if code != expected_code(md):
        problems.append(f"{twin.name}: its code differs from {md.name} (rebuild, then sync)")
    if any(c.get("outputs") for c in nb.cells if c.cell_type == "code"):
        problems.append(f"{twin.name}: carries outputs")
    return problems


def sync_chapter(md: Path, url: str | None = None, built: Path = BUILT) -> bool:
    """Bring ``md``'s set-up cell up to date and copy its built reader notebook; True if a file changed.

    The reader notebook comes from the last build (``built/<name>.ipynb``); it must be newer than ``md``.
    """
    url = url or repository_url()
    changed = _update_source(md, url)
    source = Path(built) / f"{md.stem}.ipynb"
    if not source.exists() or source.stat().st_mtime < md.stat().st_mtime:
        raise FileNotFoundError(f"no reader notebook of {md.name} newer than it in {built}: build the book first "
                                "(.venv/bin/jupyter-book build .)")
    nb = nbformat.read(source, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    twin = md.with_suffix(".ipynb")
    text = nbformat.writes(nb) + "\n"
    if not twin.exists() or twin.read_text(encoding="utf8") != text:
        twin.write_text(text, encoding="utf8")
        changed = True
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chapters", default=ROOT / "chapters", type=Path)
    parser.add_argument("--built", default=BUILT, type=Path, help="where the build wrote the reader notebooks")
    parser.add_argument("--check", action="store_true", help="report problems, change nothing")
    parser.add_argument("--sources", action="store_true",
                        help="only bring the .md files' set-up cells up to date (before a build)")
    args = parser.parse_args(argv)
    url = repository_url()
    chapters = [p for p in sorted(Path(args.chapters).glob("*.md")) if is_notebook(p)]
    if args.check:
        problems = [msg for md in chapters for msg in check_chapter(md, url)]
        for msg in problems:
            print(msg)
        return 1 if problems else 0
    if args.sources:
        for md in chapters:
            if _update_source(md, url):
                print(f"updated {md.name}")
        return 0
    for md in chapters:
        if sync_chapter(md, url, args.built):
            print(f"updated {md.name} and {md.with_suffix('.ipynb').name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
