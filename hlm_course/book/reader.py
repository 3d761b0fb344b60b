"""Reader notebooks: each chapter as a plain Jupyter notebook with the book's numbers written in.

The chapters are MyST notebooks (``chapters/*.md``). Their prose refers to computed numbers with
``{glue:text}`` roles, cites with ``{cite:p}``, cross-references with ``{ref}`` and ``{numref}``, and keeps
exercise solutions in ``{solution}`` blocks: the book renders all of that, but JupyterLab, Colab and plain
Jupyter render no MyST and would show the raw syntax (and every solution).

After the book is built, :func:`reader_notebook` turns a chapter's *executed* notebook (myst-nb writes it
to ``_build/jupyter_execute/``) into the notebook a student is handed:

* every glued number is written into the prose, formatted exactly as the book shows it
  (myst-nb's own ``format_plain_text``), and the cells and outputs that existed only to glue are gone;
* citations, cross-references and figure/exercise numbers become text (``Monette (2010)``,
  ``Figure 6.1``, ``Exercise 14.3``); MyST directives become plain Markdown (blockquotes);
* solutions are stripped (:func:`hlm_course.book.student.strip_solutions`), so the notebook is the
  student edition; the book itself keeps the solutions in dropdowns;
* code cells keep their source and outputs (figures, tables), with figure captions written below them;
  a cell tagged ``ledger`` (the hidden cell that collects a chapter's printed numbers for the book's
  *Reproducibility* appendix, :mod:`hlm_course.ledger`) is book machinery and is left out.

The Sphinx extension :mod:`hlm_course.book.sphinx_notebooks` runs this at the end of every build.
"""

from __future__ import annotations

import ast
import copy
import re
from dataclasses import dataclass, field

import nbformat

from .student import strip_solutions

__all__ = ["BookContext", "glue_values", "convert_markdown", "strip_glue_code", "reader_notebook",
           "raw_syntax", "uses_glue", "uses_package", "hide_answer_cells", "BOOK_ONLY_TAG", "ANSWER_TAG",
           "PACKAGE_CHECK"]

#: Tag of the hidden code cells that exist only for the book (the Reproducibility ledgers): reader
#: notebooks leave them out entirely.
BOOK_ONLY_TAG = "ledger"
#: Tag of a lab's answer cell (``x = None  # your answer`` and its self-check): the book hides it
#: (:mod:`hlm_course.book.sphinx_notebooks` adds ``remove-cell`` when it reads the page), the reader notebook
#: shows it open and editable.
ANSWER_TAG = "answer"
#: The first cell after the Colab set-up of every notebook that uses the course package: is it installed?
PACKAGE_CHECK = (
    "# Is the course package installed? (It is on Binder and in the book's environment; on Colab the cell above\n"
    "# fetches it.)\n"
    "try:\n"
    "    import hlm_course  # noqa: F401\n"
    "except ImportError:\n"
    "    raise ImportError(\"This notebook needs the course package, hlm_course. From the notebooks zip: \"\n"
    "                      \"python -m pip install hlm_course-*.whl jupyterlab (its README.md says how). From a \"\n"
    "                      \"clone of the repository: python -m pip install -e .\") from None")
#: Stands in for myst_nb.glue in a reader notebook whose hidden cells still call it (in a loop, say).
GLUE_SHIM = ('def glue(name, value, display=True):\n'
             '    """The book\'s build hands computed values to its text with glue(); here the text already '
             'shows them."""')


@dataclass
class BookContext:
    """What the conversion needs to know about the whole book (filled from the Sphinx environment).

    ``labels``: label → text a reference shows (a section's title, a figure's caption);
    ``numbers``: label → display number of a numbered item (``"Figure 6.1"``, ``"Exercise 5.2"``,
    ``"(3.2)"``); ``citations``: bibliography key → (authors, year) as the book cites them.
    """

    labels: dict[str, str] = field(default_factory=dict)
    numbers: dict[str, str] = field(default_factory=dict)
    citations: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: label of a chapter's title → how a notebook names the chapter (``"Chapter 8, *Random coefficients*"``):
    #: a bare title reads badly in a sentence where the website shows a link
    chapters: dict[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------------------
# Glue values
# ---------------------------------------------------------------------------
def _glue_key(output) -> str | None:
    return (output.get("metadata") or {}).get("scrapbook", {}).get("name")


def glue_values(nb: nbformat.NotebookNode) -> dict[str, dict]:
    """``{key: mime bundle}`` of every ``glue(key, value)`` in an executed notebook."""
    values = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            key = _glue_key(output)
            if key is None:
                continue
            prefix = (output["metadata"]["scrapbook"].get("mime_prefix") or "")
            values[key] = {k[len(prefix):]: v for k, v in output.get("data", {}).items()}
    return values


def _glue_text(key: str, fmt: str, glue: dict[str, dict]) -> str:
    from myst_nb.core.variables import format_plain_text

    if key not in glue:
        raise KeyError(f"glue key {key!r} is not defined in the executed notebook")
    bundle = glue[key]
    if "text/plain" not in bundle:
        raise ValueError(f"glue key {key!r} has no text/plain representation to write into the prose")
    return format_plain_text(bundle["text/plain"], fmt)


_STYLE = re.compile(r"<style[^>]*>.*?</style>", re.DOTALL | re.IGNORECASE)


def _glue_block(key: str, glue: dict[str, dict]) -> str:
    """A ``{glue}`` directive's value for a Markdown cell: its HTML (a table) without ``<style>`` and blank
    lines, so that it stays one HTML block inside a blockquote; else its text in a code block."""
    if key not in glue:
        raise KeyError(f"glue key {key!r} is not defined in the executed notebook")
    bundle = glue[key]
    if "text/html" in bundle:
        html = _STYLE.sub("", "".join(bundle["text/html"]))
        return "\n".join(line for line in html.splitlines() if line.strip())
    if "text/plain" in bundle:
        return "```\n" + "".join(bundle["text/plain"]).strip("\n") + "\n```"
    raise ValueError(f"glue key {key!r} has neither an HTML nor a text representation to show")


# ---------------------------------------------------------------------------
# Markdown: roles and directives
# ---------------------------------------------------------------------------
_ROLE = re.compile(r"\{([A-Za-z][\w:.-]*)\}`([^`]*)`")
_TARGET = re.compile(r"^\([\w.:-]+\)=[ \t]*\n", re.MULTILINE)
_MATH_LABEL = re.compile(r"^(\$\$)[ \t]*\([\w.:-]+\)[ \t]*$", re.MULTILINE)
_FENCE_OPEN = re.compile(r"^([ \t]*)(`{3,}|:{3,})\{([\w:-]+)\}[ \t]*(.*)$")


def _cite(keys: str, textual: bool, ctx: BookContext) -> str:
    parts = []
    for key in (k.strip() for k in keys.split(",") if k.strip()):
        authors, year = ctx.citations.get(key, (key, ""))
        parts.append(f"{authors} ({year})" if textual else f"{authors} {year}".strip())
    return "; ".join(parts) if textual else f"({'; '.join(parts)})"


def _split_target(text: str) -> tuple[str | None, str]:
    """``"text <label>"`` → (``"text"``, ``"label"``); ``"label"`` → (None, ``"label"``)."""
    m = re.match(r"^(.*?)\s*<([^<>]+)>$", text.strip())
    return (m.group(1), m.group(2)) if m else (None, text.strip())


def _role(name: str, text: str, ctx: BookContext, glue: dict[str, dict]) -> str:
    if name in ("glue:text", "glue", "glue:", "glue:md"):
        key, _, fmt = text.rpartition(":") if name == "glue:text" and ":" in text else (text, "", "")
        if name != "glue:text":
            key, fmt = text, ""
        if "::" in key:
            raise ValueError(f"glue reference {text!r} points into another document; not supported")
        return _glue_text(key, fmt, glue)
    if name in ("cite:p", "cite:ps", "cite"):
        return _cite(text, textual=False, ctx=ctx)
    if name == "cite:alp":  # natbib's \citealp: author-year without the parentheses
        return _cite(text, textual=False, ctx=ctx)[1:-1]
    if name in ("cite:t", "cite:ts", "cite:author", "cite:year"):
        return _cite(text, textual=True, ctx=ctx)
    if name in ("ref", "doc", "prf:ref"):
        shown, label = _split_target(text)
        return shown or ctx.chapters.get(label) or ctx.labels.get(label) or ctx.numbers.get(label) or label
    if name == "numref":
        shown, label = _split_target(text)
        number = ctx.numbers.get(label, label)
        if shown:
            return shown.replace("%s", number.split(" ", 1)[-1]).replace("{number}", number.split(" ", 1)[-1])
        return number
    if name == "eq":
        return ctx.numbers.get(text.strip(), f"({text.strip()})")
    if name == "math":
        return f"${text}$"
    # term, abbr, index, sub, sup, kbd, …: the text itself
    shown, _ = _split_target(text)
    return shown if shown is not None else text


def _replace_roles(text: str, ctx: BookContext, glue: dict[str, dict]) -> str:
    return _ROLE.sub(lambda m: _role(m.group(1), m.group(2), ctx, glue), text)


def _directive_blocks(text: str):
    """Split Markdown into plain text and directive blocks: yields ("text", s) or
    ("directive", (indent, name, argument, options, body))."""
    lines = text.split("\n")
    i, buf = 0, []
    while i < len(lines):
        m = _FENCE_OPEN.match(lines[i])
        if not m:
            buf.append(lines[i])
            i += 1
            continue
        indent, fence, name, arg = m.group(1), m.group(2), m.group(3), m.group(4).strip()
        close = re.compile(rf"^{re.escape(indent)}{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        j, depth = i + 1, 0
        while j < len(lines):
            inner = _FENCE_OPEN.match(lines[j])
            if inner and inner.group(2) == fence:
                depth += 1
            elif close.match(lines[j]):
                if depth == 0:
                    break
                depth -= 1
            j += 1
        body = lines[i + 1:j]
        options = {}
        while body and re.match(r"^\s*:[\w-]+:", body[0]):
            k, _, v = body.pop(0).strip()[1:].partition(":")
            options[k] = v.strip()
        if buf:
            yield "text", "\n".join(buf)
            buf = []
        yield "directive", (indent, name, arg, options, "\n".join(body).strip("\n"))
        i = j + 1
    if buf:
        yield "text", "\n".join(buf)


_DROP = {"index", "bibliography", "nb-exec-table", "tableofcontents", "glossary", "solution",
         "solution-start", "solution-end", "raw"}
#: ``:::{div} website-only`` … ``:::``: words about the website (its buttons, dropdowns, the README's commands)
#: that a notebook leaves out; ``:::{div} notebook-only`` … ``:::``: the notebook's words instead (the website
#: hides them, ``_static/hlm-course.css``).
WEBSITE_ONLY, NOTEBOOK_ONLY = "website-only", "notebook-only"
#: What the teacher's edition says where the book says where its solutions are (``:::{div} solutions-note``).
SOLUTIONS_NOTE = "This teacher's edition has the worked solutions, under each exercise."


def _quote(title: str, body: str) -> str:
    """A titled Markdown blockquote (how JupyterLab and Colab can show an admonition or an exercise)."""
    lines = ([f"**{title}**", ""] if title else []) + body.split("\n")
    return "\n".join(f"> {ln}".rstrip() for ln in lines)


def convert_markdown(text: str, ctx: BookContext, glue: dict[str, dict], solutions: bool = False) -> str:
    """One markdown cell of a MyST notebook as plain Markdown with the book's numbers written in.

    ``solutions=True`` (the teacher's edition) writes each solution out, under a "Solution to Exercise …" title,
    instead of dropping it.
    """
    text = _TARGET.sub("", text)
    text = _MATH_LABEL.sub(r"\1", text)
    out = []
    for kind, item in _directive_blocks(text):
        if kind == "text":
            out.append(_replace_roles(item, ctx, glue))
            continue
        indent, name, arg, options, body = item
        if solutions and name in ("solution", "solution-start"):
            title = f"Solution to {ctx.numbers.get(arg.strip(), 'the exercise')}"
            if name == "solution-start":
                out.append(f"**{title}**")
            else:
                out.append(_quote(title, convert_markdown(body, ctx, glue, solutions)))
            continue
        if solutions and name == "div" and "solutions-note" in arg.split():
            out.append(SOLUTIONS_NOTE)
            continue
        if name in _DROP or (name == "div" and WEBSITE_ONLY in arg.split()):
            continue
        if name in ("glue", "glue:", "glue:any", "glue:figure"):  # a glued table or figure shown in the prose
            out.append(_glue_block(arg.strip(), glue))
            continue
        body = convert_markdown(body, ctx, glue, solutions)
        if name == "div" and NOTEBOOK_ONLY in arg.split():
            out.append(body)
        elif name in ("math",):
            out.append(f"$$\n{body}\n$$")
        elif name in ("code-block", "code", "sourcecode"):
            out.append(f"```{arg}\n{body}\n```")
        elif name in ("figure", "image"):
            alt = options.get("alt", "")
            number = ctx.numbers.get(options.get("name", ""), "")
            caption = f"\n\n*{number}* {body}".rstrip() if (number or body) else ""
            out.append(f"![{alt}]({arg}){caption}")
        elif name == "exercise":
            title = ctx.numbers.get(options.get("label", ""), "Exercise")
            out.append(_quote(f"{title}" + (f" ({_replace_roles(arg, ctx, glue)})" if arg else ""), body))
        else:  # admonitions and anything else: a titled blockquote
            title = _replace_roles(arg, ctx, glue) if arg else name.capitalize()
            out.append(_quote(title, body))
    result = "\n".join(s for s in out)
    return re.sub(r"\n{3,}", "\n\n", result).strip("\n")


# ---------------------------------------------------------------------------
# Code: glue calls go, everything else stays
# ---------------------------------------------------------------------------
def _is_glue_only(stmt: ast.stmt) -> bool:
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
        f = stmt.value.func
        return (isinstance(f, ast.Name) and f.id == "glue") or (isinstance(f, ast.Attribute) and f.attr == "glue")
    if isinstance(stmt, (ast.For, ast.If, ast.With)) and not getattr(stmt, "orelse", None):
        return all(_is_glue_only(s) for s in stmt.body)
    return False


def _is_glue_import(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.ImportFrom) and stmt.module == "myst_nb" and \
        all(a.name == "glue" for a in stmt.names)


def strip_glue_code(source: str) -> str:
    """``source`` without its top-level ``glue(...)`` statements and ``from myst_nb import glue``.

    A ``for``/``if``/``with`` statement whose body only glues goes too. Code that does not parse is
    returned unchanged (IPython magics, say).
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    lines = source.split("\n")
    drop = set()
    for stmt in tree.body:
        if _is_glue_only(stmt) or _is_glue_import(stmt):
            drop.update(range(stmt.lineno - 1, stmt.end_lineno))
    kept = [ln for i, ln in enumerate(lines) if i not in drop]
    text = "\n".join(kept)
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n")


# ---------------------------------------------------------------------------
# The whole notebook
# ---------------------------------------------------------------------------
def _figure_caption(cell, ctx: BookContext, glue: dict[str, dict]) -> str | None:
    fig = ((cell.get("metadata") or {}).get("mystnb") or {}).get("figure")
    if not fig or not fig.get("caption"):
        return None
    number = ctx.numbers.get(fig.get("name", ""), "Figure")
    return f"*{number}.* {_replace_roles(' '.join(str(fig['caption']).split()), ctx, glue)}"


def uses_glue(source: str) -> bool:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return "glue(" in source
    return any(isinstance(node, ast.Name) and node.id == "glue" for node in ast.walk(tree))


def reader_notebook(executed: nbformat.NotebookNode, ctx: BookContext,
                    glued: dict[str, dict] | None = None, *, solutions: bool = False) -> nbformat.NotebookNode:
    """The student's notebook of a chapter (see the module docstring); ``solutions=True`` gives the teacher's
    edition instead, the same notebook with every worked solution (prose, code and outputs) in place.

    ``glued`` adds glue values kept outside the notebook ({key: mime bundle}): myst-nb moves them out of
    the cells of the notebook it writes to ``jupyter_execute/`` into a ``.glue.json`` file beside it.

    A hidden cell whose ``glue`` calls are mixed into other code (a loop that also computes, a helper
    function) keeps them, and the notebook gets a do-nothing ``glue`` so it still runs without myst-nb.
    Raises ``ValueError`` for such a cell in plain view: visible code must not glue.
    """
    glue = {**glue_values(executed), **(glued or {})}
    nb = copy.deepcopy(executed) if solutions else strip_solutions(copy.deepcopy(executed))[0]
    cells = []
    needs_shim = False
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            source = convert_markdown(cell.source, ctx, glue, solutions)
            if source.strip():
                cells.append(nbformat.v4.new_markdown_cell(source))
            continue
        if cell.cell_type != "code":
            cells.append(cell)
            continue
        tags = list((cell.get("metadata") or {}).get("tags", []))
        if BOOK_ONLY_TAG in tags:
            continue
        source = strip_glue_code(cell.source)
        if not source.strip():
            continue
        hidden = bool({"remove-cell", "remove-input"} & set(tags))
        if uses_glue(source):
            if not hidden:
                raise ValueError("a visible cell mixes a glue call with other code, so it cannot be removed "
                                 f"from the reader notebook; give it a statement of its own:\n{source[:300]}")
            needs_shim = True
        outputs = [o for o in cell.get("outputs", []) if _glue_key(o) is None]
        if {"remove-output", "remove-cell"} & set(tags):  # outputs the book does not show
            outputs = []
        new = nbformat.v4.new_code_cell(source, outputs=outputs)
        new.execution_count = None
        if tags:
            new.metadata["tags"] = tags
        for out in new.outputs:
            if "execution_count" in out:
                out["execution_count"] = None
        if ANSWER_TAG in tags:  # a lab's answer cell: open, editable, and tagged only as what it is
            new.metadata["tags"] = [t for t in tags if t != "remove-cell"]
        elif {"remove-cell", "remove-input", "hide-input", "hide-cell"} & set(tags):
            new.metadata["jupyter"] = {"source_hidden": True}
        cells.append(new)
        caption = _figure_caption(cell, ctx, glue)
        if caption:
            cells.append(nbformat.v4.new_markdown_cell(caption))
    first = next((i for i, c in enumerate(cells) if c.cell_type == "code"), len(cells))
    after_setup = first + 1
    if uses_package([c.source for c in cells if c.cell_type == "code"]):
        cells.insert(after_setup, nbformat.v4.new_code_cell(PACKAGE_CHECK))
        after_setup += 1
    if needs_shim:  # hidden cells still call glue(): give them a harmless one, after the set-up cell
        shim = nbformat.v4.new_code_cell(GLUE_SHIM)
        shim.metadata["jupyter"] = {"source_hidden": True}
        shim.metadata["tags"] = ["remove-cell"]
        cells.insert(after_setup, shim)
    out = nbformat.v4.new_notebook(cells=cells)
    out.metadata = {"kernelspec": executed.metadata.get("kernelspec", {"name": "python3", "language": "python",
                                                                        "display_name": "Python 3"}),
                    "language_info": {"name": "python"}}
    return out


_TAGS_LINE = re.compile(r"^(:?tags: \[)([^\]\n]*)(\])[ \t]*$", re.MULTILINE)


def hide_answer_cells(text: str) -> str:
    """``text`` (a MyST notebook) with ``remove-cell`` added to every cell tagged :data:`ANSWER_TAG`."""
    def tag(m):
        tags = [t.strip() for t in m.group(2).split(",") if t.strip()]
        if ANSWER_TAG in tags and "remove-cell" not in tags:
            tags.append("remove-cell")
        return f"{m.group(1)}{', '.join(tags)}{m.group(3)}"
    return _TAGS_LINE.sub(tag, text)


def uses_package(sources: list[str]) -> bool:
    """Whether any of these code cells imports the course package (its notebook gets :data:`PACKAGE_CHECK`)."""
    return any(re.search(r"^\s*(import|from) hlm_course\b", s, re.MULTILINE) for s in sources)


_LEFTOVER = re.compile(r"\{(glue(:\w*)?|eval|cite(:\w+)?|ref|numref|eq|doc|solution(-start|-end)?)\}")


def raw_syntax(nb: nbformat.NotebookNode) -> list[str]:
    """MyST roles or directives left in a notebook's markdown (empty for a reader notebook)."""
    found = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            found += [m.group(0) for m in _LEFTOVER.finditer(cell.source)]
            found += [ln for ln in cell.source.split("\n") if _FENCE_OPEN.match(ln)]
    return found
