"""Sphinx extension: hand readers plain notebooks with the book's numbers written in and no solutions.

At ``build-finished`` every executed chapter (``_build/jupyter_execute/<page>.ipynb``) is turned into its
reader notebook by :func:`hlm_course.book.reader.reader_notebook` and written

* over ``_build/html/_sources/<page>.ipynb``, the file behind the page's download button
  (sphinx-book-theme copies the executed notebook there, raw MyST and solutions included);
* to ``_build/html/notebooks/<name>.ipynb`` (the student editions the book links to), with the chapters'
  ones in ``_build/html/notebooks/hlm-course-notebooks.zip``, a zip that runs by itself (a README, the course
  package's wheel with its data, the lock file; :mod:`hlm_course.book.handouts`).

The solutions edition of every chapter goes to ``_build/teachers/solutions/`` and its zip to
``_build/teachers/hlm-course-solutions.zip``: beside the website, not in it, and linked from no page.

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

import re
from pathlib import Path

import nbformat

from .reader import BookContext, hide_answer_cells

from sphinx.util import logging

logger = logging.getLogger(__name__)

__all__ = ["book_context", "write_reader_notebooks", "setup"]

NOTEBOOK_DIR = "notebooks"
ZIP_NAME = "hlm-course-notebooks.zip"  # = handouts.ZIP_NAME


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
    chapters = {}
    for name, (docname, _labelid, title) in std.labels.items():
        page_title = env.titles.get(docname)
        if title and page_title is not None and title == page_title.astext():
            number = env.toc_secnumbers.get(docname, {}).get("", ())
            chapters[name] = (f"Chapter {'.'.join(map(str, number))}, *{title}*" if number else f"*{title}*")
    return BookContext(labels=labels, numbers=numbers, citations=_citations(app), chapters=chapters)


def write_reader_notebooks(app) -> dict[str, Path]:
    """Write every chapter's reader notebook and the teacher's material (see the module docstring);
    return {page: path of its student notebook}."""
    from . import handouts

    outdir = Path(app.outdir)
    executed_dir = outdir.parent / "jupyter_execute"
    teachers = outdir.parent / handouts.TEACHERS_DIR
    ctx = book_context(app)
    cache_dir = Path(app.config.nb_execution_cache_path or outdir.parent / ".jupyter_cache")
    handouts.save_context(ctx, teachers / handouts.CONTEXT_FILE)
    written, solutions = {}, []
    target_dir = outdir / NOTEBOOK_DIR
    target_dir.mkdir(parents=True, exist_ok=True)
    (teachers / "solutions").mkdir(parents=True, exist_ok=True)
    for docname in sorted(app.env.found_docs):
        executed = executed_dir / f"{docname}.ipynb"
        if not executed.exists():
            continue
        try:
            nb = handouts.edition(executed, ctx, cache_dir=cache_dir)
            key = handouts.edition(executed, ctx, solutions=True, cache_dir=cache_dir)
        except (KeyError, ValueError) as err:
            logger.warning(f"no reader notebook for {docname}: {err}", location=docname)
            continue
        name = f"{Path(docname).name}.ipynb"
        for path in (outdir / "_sources" / f"{docname}.ipynb", target_dir / name):
            path.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, path)
        written[docname] = target_dir / name
        if Path(docname).name not in handouts.NOT_HANDED_OUT:
            nbformat.write(key, teachers / "solutions" / name)
            solutions.append(teachers / "solutions" / name)
    handed_out = [p for d, p in written.items() if Path(d).name not in handouts.NOT_HANDED_OUT]
    try:
        wheel = handouts.package_wheel(teachers / "wheel")
    except Exception as err:  # noqa: BLE001  (the zips then say how to install from the repository)
        logger.warning(f"could not build the course package's wheel for the notebooks zip: {err}")
        wheel = None
    url = _book_url(app)
    handouts.write_zip(target_dir / ZIP_NAME, handed_out, "student", url, wheel)
    handouts.write_zip(teachers / handouts.SOLUTIONS_ZIP_NAME, solutions, "solutions", url, wheel)
    return written


def _book_url(app) -> str:
    """The published book's address if the configuration gives one, else the repository's."""
    from .notebooks import repository_url

    base = (getattr(app.config, "html_baseurl", "") or "").strip()
    if base:
        return base
    try:
        return repository_url(Path(app.srcdir) / "_config.yml")
    except (OSError, ValueError):
        return "(the course's repository)"


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


def _on_source_read(app, docname, source):
    source[0] = hide_answer_cells(source[0])


def setup(app):
    app.connect("source-read", _on_source_read)
    app.connect("build-finished", _on_build_finished)
    app.connect("env-get-outdated", _cross_glue_outdated)
    # after sphinx-book-theme has filled the header buttons (its handlers run at the default priority)
    app.connect("html-page-context", _drop_md_download, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
