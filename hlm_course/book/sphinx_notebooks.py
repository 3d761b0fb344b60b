"""Sphinx extension: hand readers plain notebooks with the book's numbers written in and no solutions.

At ``build-finished`` every executed chapter (``_build/jupyter_execute/<page>.ipynb``) is turned into its
reader notebook by :func:`hlm_course.book.reader.reader_notebook` and written

* over ``_build/html/_sources/<page>.ipynb``, the file behind the page's download button
  (sphinx-book-theme copies the executed notebook there, raw MyST and solutions included);
* to ``_build/html/notebooks/<name>.ipynb`` (the student editions the book links to), with every one of
  them in ``_build/html/notebooks/hlm-course-notebooks.zip`` for a teacher.

The launch buttons (Binder, Colab) open ``chapters/<name>.ipynb`` in the repository: after a build,
``python -m hlm_course.book.notebooks`` copies these reader notebooks there (a test checks the committed ones).

At ``env-get-outdated`` the pages that paste other pages' glue values (the *Reproducibility* appendix) are
re-read whenever another page is.

At ``source-read`` every code cell tagged ``answer`` (a lab's cell where the student writes an answer and
checks it, ``x = None  # your answer`` then ``labs.check(...)``) is also tagged ``remove-cell``: the website
hides it (its solution shows the same check, answered), while the reader notebook keeps it open and editable
(:func:`hlm_course.book.reader.reader_notebook`). A new chapter's answer cells need only the tag.

At ``html-page-context`` the ``.md`` entry of the download menu is removed: the MyST source holds the
solutions, which the reader notebook (``.ipynb``) leaves out.

Enabled in ``_config.yml`` (``sphinx: extra_extensions: [hlm_course.book.sphinx_notebooks]``).
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import nbformat

from .reader import ANSWER_TAG, BookContext, raw_syntax, reader_notebook

from sphinx.util import logging

logger = logging.getLogger(__name__)

__all__ = ["book_context", "write_reader_notebooks", "setup"]

NOTEBOOK_DIR = "notebooks"
ZIP_NAME = "hlm-course-notebooks.zip"


def _citations(app) -> dict[str, tuple[str, str]]:
    """Bibliography key → (authors as cited, year), read from the book's .bib files with pybtex."""
    from pybtex.database import parse_file

    cites = {}
    for bib in app.config.bibtex_bibfiles:
        data = parse_file(str(Path(app.srcdir) / bib))
        for key, entry in data.entries.items():
            people = entry.persons.get("author") or entry.persons.get("editor") or []
            last = [" ".join(p.last_names) for p in people]
            if not last:
                authors = entry.fields.get("organization") or entry.fields.get("title", key)
            elif len(last) == 1:
                authors = last[0]
            elif len(last) == 2:
                authors = f"{last[0]} and {last[1]}"
            else:
                authors = f"{last[0]} et al."
            cites[key] = (re.sub(r"[{}]", "", authors), entry.fields.get("year", ""))
    return cites


def book_context(app) -> BookContext:
    """Labels, numbers and citations of the whole book, from the Sphinx environment."""
    env = app.env
    std = env.get_domain("std")
    labels = {name: title for name, (_doc, _id, title) in std.labels.items() if title}
    numbers = {}
    kinds = {"figure": "Figure", "table": "Table", "code-block": "Listing", "exercise": "Exercise"}
    fignums = getattr(env, "toc_fignumbers", {}) or {}
    for name, (docname, labelid) in std.anonlabels.items():
        for kind, word in kinds.items():
            num = fignums.get(docname, {}).get(kind, {}).get(labelid)
            if num:
                numbers[name] = f"{word} {'.'.join(map(str, num))}"
    # sphinx-exercise registers its own enumerable nodes (exercise, solution) under these names
    for docname, kinds_of_doc in fignums.items():
        for kind, ids in kinds_of_doc.items():
            if kind in kinds:
                continue
            word = kind.replace("-", " ").capitalize()
            for labelid, num in ids.items():
                numbers.setdefault(labelid, f"{word} {'.'.join(map(str, num))}")
    math = env.get_domain("math")
    for label, (docname, number) in getattr(math, "equations", {}).items():
        secnum = env.toc_secnumbers.get(docname, {}).get("", ())
        prefix = ".".join(map(str, secnum)) + "." if secnum and app.config.math_numfig else ""
        numbers[label] = f"({prefix}{number})"
    return BookContext(labels=labels, numbers=numbers, citations=_citations(app))


def write_reader_notebooks(app) -> dict[str, Path]:
    """Write every chapter's reader notebook (see the module docstring); return {page: path}."""
    outdir = Path(app.outdir)
    executed_dir = outdir.parent / "jupyter_execute"
    ctx = book_context(app)
    written = {}
    target_dir = outdir / NOTEBOOK_DIR
    target_dir.mkdir(parents=True, exist_ok=True)
    for docname in sorted(app.env.found_docs):
        executed = executed_dir / f"{docname}.ipynb"
        if not executed.exists():
            continue
        glue_file = executed.with_suffix(".glue.json")
        glued = ({k: v["data"] for k, v in json.loads(glue_file.read_text()).items()}
                 if glue_file.exists() else {})
        try:
            nb = reader_notebook(nbformat.read(executed, as_version=4), ctx, glued)
        except (KeyError, ValueError) as err:
            logger.warning(f"no reader notebook for {docname}: {err}", location=docname)
            continue
        left = raw_syntax(nb)
        if left:
            logger.warning(f"MyST syntax left in the reader notebook of {docname}: {sorted(set(left))[:5]}",
                           location=docname)
        for path in (outdir / "_sources" / f"{docname}.ipynb", target_dir / f"{Path(docname).name}.ipynb"):
            path.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, path)
        written[docname] = target_dir / f"{Path(docname).name}.ipynb"
    with zipfile.ZipFile(target_dir / ZIP_NAME, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(written.values()):
            zf.write(path, f"hlm-course/{path.name}")
    return written


def _on_build_finished(app, exception):
    if exception is None and app.builder.format == "html":
        write_reader_notebooks(app)


def _drop_md_download(app, pagename, templatename, context, doctree):
    for button in context.get("header_buttons", []):
        if "fa-download" in str(button.get("icon", "")).split():
            button["buttons"] = [b for b in button.get("buttons", []) if b.get("text") != ".md"]


#: pages that paste glue values of other pages (``{glue}`` with ``:doc:``), re-read whenever another page is
#: (Sphinx does not know that they depend on the other pages' outputs)
CROSS_GLUE_PAGES = ("chapters/reproducibility",)


def _cross_glue_outdated(app, env, added, changed, removed):
    if not (added or changed or removed):
        return []
    return [doc for doc in CROSS_GLUE_PAGES if doc in env.found_docs and doc not in added | changed]


_TAGS_LINE = re.compile(r"^(:?tags: \[)([^\]\n]*)(\])[ \t]*$", re.MULTILINE)


def hide_answer_cells(text: str) -> str:
    """``text`` (a MyST notebook) with ``remove-cell`` added to every cell tagged :data:`ANSWER_TAG`."""
    def tag(m):
        tags = [t.strip() for t in m.group(2).split(",") if t.strip()]
        if ANSWER_TAG in tags and "remove-cell" not in tags:
            tags.append("remove-cell")
        return f"{m.group(1)}{', '.join(tags)}{m.group(3)}"
    return _TAGS_LINE.sub(tag, text)


def _on_source_read(app, docname, source):
    source[0] = hide_answer_cells(source[0])


def setup(app):
    app.connect("source-read", _on_source_read)
    app.connect("build-finished", _on_build_finished)
    app.connect("env-get-outdated", _cross_glue_outdated)
    # after sphinx-book-theme has filled the header buttons (its handlers run at the default priority)
    app.connect("html-page-context", _drop_md_download, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
