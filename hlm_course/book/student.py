"""Student editions of the chapters: the solutions are the source, students get them stripped.

As in the scikit-learn MOOC, each exercise is written once, with its
solution, in the chapter.  The student edition removes

* code cells tagged ``solution`` (replaced by an empty cell to work in), and
* ``:::{solution}`` … ``:::`` blocks in markdown cells (sphinx-exercise), and
* gated solutions, ``:::{solution-start}`` … ``:::{solution-end}``, with every
  cell between them (the labs' dropdown solutions that contain code),

and replaces every ``:::{div} solutions-note`` … ``:::`` block (a sentence that
tells the book's reader where the solutions are) with :data:`STUDENT_NOTE`.

This module works on the *sources*: its command writes each chapter's MyST source without its solutions
(roles and directives left as they are), for authors. The notebooks a teacher hands out -- plain Jupyter
notebooks with the book's numbers written in, student or solutions edition -- come from
:mod:`hlm_course.book.handouts` (``python -m hlm_course.book.handouts --chapters 14 15 --out handouts/``).

Usage, from the repository root::

    python -m hlm_course.book.student            # writes student/*.ipynb (MyST source, solutions stripped)
    python -m hlm_course.book.student --format md

"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import jupytext
import nbformat


__all__ = ["strip_solutions", "make_student_edition", "is_notebook", "STUDENT_NOTE"]

_SOLUTION_BLOCK = re.compile(r"^(:{3,})\{solution\}.*?^\1\s*$\n?", re.MULTILINE | re.DOTALL)
_GATE_START = re.compile(r"^(:{3,}|`{3,})\{solution-start\}.*?^\1[ \t]*$\n?", re.MULTILINE | re.DOTALL)
_GATE_END = re.compile(r"^(:{3,}|`{3,})\{solution-end\}[ \t]*\n\1[ \t]*$\n?", re.MULTILINE)
_SOLUTIONS_NOTE = re.compile(r"^(:{3,})\{div\}[ \t]+solutions-note\b[^\n]*\n.*?^\1[ \t]*$\n?",
                             re.MULTILINE | re.DOTALL)
PLACEHOLDER = "# Your code here\n"
#: What the student edition says where the book says where its solutions are.
STUDENT_NOTE = ("This student edition leaves the worked solutions out; they are in the book, under each "
                "exercise. Try first.\n")


def is_notebook(path: Path) -> bool:
    """Whether a chapter ``.md`` is a MyST notebook (jupytext front matter), not a plain page."""
    return path.read_text(encoding="utf8").startswith("---\njupytext:")


def _strip_gated(cells: list) -> tuple[list, int]:
    """Remove every ``solution-start`` … ``solution-end`` span, across cells.

    A span whose code cells were tagged ``solution`` (a chapter's worked solution) leaves one empty cell to
    work in, where the span was.
    """
    out, removed, inside, worked = [], 0, False, False
    for cell in cells:
        if cell.cell_type != "markdown":
            if not inside:
                out.append(cell)
            elif cell.cell_type == "code" and cell.source == PLACEHOLDER:
                worked = True
            continue
        text, kept = cell.source, ""
        while True:
            if not inside:
                m = _GATE_START.search(text)
                if not m:
                    kept += text
                    break
                kept += text[:m.start()]
                text, inside = text[m.end():], True
                removed += 1
            else:
                m = _GATE_END.search(text)
                if not m:
                    break
                text, inside = text[m.end():], False
                if worked:
                    if kept.strip():
                        out.append(nbformat.v4.new_markdown_cell(kept))
                        kept = ""
                    out.append(nbformat.v4.new_code_cell(PLACEHOLDER))
                    worked = False
        if kept.strip():
            cell.source = kept
            out.append(cell)
    if inside:
        raise ValueError("a {solution-start} has no matching {solution-end}")
    return out, removed


def strip_solutions(nb: nbformat.NotebookNode) -> tuple[nbformat.NotebookNode, int]:
    """Return a copy of ``nb`` without solutions, and the number of items removed."""
    out = nbformat.from_dict(nb)
    removed = 0
    cells = []
    for cell in out.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if cell.cell_type == "code" and "solution" in tags:
            removed += 1
            if "remove-cell" not in tags:  # a hidden solution cell (its glue, say) leaves no empty cell behind
                cells.append(nbformat.v4.new_code_cell(PLACEHOLDER))
            continue
        if cell.cell_type == "markdown":
            cell.source = _SOLUTIONS_NOTE.sub(STUDENT_NOTE, cell.source)
            new, k = _SOLUTION_BLOCK.subn("", cell.source)
            removed += k
            if k and not new.strip():
                continue
            cell.source = new
        cells.append(cell)
    out.cells, gated = _strip_gated(cells)
    return out, removed + gated


def make_student_edition(chapters: Path, dest: Path, fmt: str = "ipynb") -> dict[str, int]:
    """Write the student edition of every notebook chapter in ``chapters`` to ``dest``.

    Plain Markdown pages (no jupytext front matter, e.g. the bibliography) are skipped.
    Returns {chapter file name: number of solution items removed}.
    """
    if fmt not in ("ipynb", "md"):
        raise ValueError(f"format must be 'ipynb' or 'md', got {fmt!r}")
    dest.mkdir(parents=True, exist_ok=True)
    report = {}
    for path in sorted(Path(chapters).glob("*.md")):
        if not is_notebook(path):
            continue  # a plain page (the bibliography)
        nb = jupytext.read(path)
        stripped, removed = strip_solutions(nb)
        target = dest / (path.stem + (".ipynb" if fmt == "ipynb" else ".md"))
        jupytext.write(stripped, target, fmt="ipynb" if fmt == "ipynb" else "md:myst")
        report[path.name] = removed
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chapters", default="chapters", type=Path)
    parser.add_argument("--dest", default="student", type=Path)
    parser.add_argument("--format", default="ipynb", choices=["ipynb", "md"])
    args = parser.parse_args(argv)
    report = make_student_edition(args.chapters, args.dest, args.format)
    for name, removed in report.items():
        print(f"{name}: {removed} solution item(s) removed")


if __name__ == "__main__":
    main()
