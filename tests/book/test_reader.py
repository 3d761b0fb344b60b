"""Reader notebooks: numbers written in, MyST turned into plain Markdown, solutions and glue gone."""

import jupytext
import nbformat
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hlm_course.book.reader import (BookContext, convert_markdown, glue_values, raw_syntax, reader_notebook,
                               strip_glue_code)
from myst_text import MYST_HEADER

CTX = BookContext(labels={"ch-models": "Comparing the models"},
                  numbers={"fig-arrows": "Figure 6.1", "ex-one": "Exercise 5.1"},
                  citations={"monette2010": ("Monette", "2010"), "kaplan2010": ("Kaplan", "2010")})


def _glue_output(key, text, display=False):
    prefix = "" if display else "application/papermill.record/"
    return nbformat.v4.new_output("display_data", data={prefix + "text/plain": text},
                                  metadata={"scrapbook": {"name": key, "mime_prefix": prefix}})


def _executed():
    nb = jupytext.reads(MYST_HEADER + '''
(sec-a)=
# A chapter

As {cite:t}`monette2010` shows, the gap is {glue:text}`gap:.2f` points ({glue:text}`n` schools), see
{ref}`ch-models` and {numref}`fig-arrows`.

```{code-cell} ipython3
from myst_nb import glue
import numpy as np
gap = 3.14159
gap
```

```{code-cell} ipython3
:tags: [remove-cell]

glue("gap", gap, display=False)
for k in ["n"]:
    glue(k, 40, display=False)
```

$$
y = X\\beta
$$ (eq-model)

:::{exercise}
:label: ex-one

Compute the gap {cite:p}`kaplan2010`.
:::

:::{solution} ex-one
:class: dropdown

The gap is {glue:text}`gap:.1f`, the secret answer.
:::

```{code-cell} ipython3
:tags: [solution]

secret_answer = gap * 2
```

```{index} single: gap
```

```{note}
Notes become blockquotes.
```
''', fmt="md:myst")
    nb.cells[1].outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": "3.14159"},
                                                  execution_count=1)]
    nb.cells[2].outputs = [_glue_output("gap", "3.14159"), _glue_output("n", "40")]
    return nb


def test_glue_values_reads_every_key():
    values = glue_values(_executed())
    assert values == {"gap": {"text/plain": "3.14159"}, "n": {"text/plain": "40"}}


def test_reader_notebook_writes_numbers_and_drops_plumbing_and_solutions():
    nb = reader_notebook(_executed(), CTX)
    text = nbformat.writes(nb)
    assert raw_syntax(nb) == []
    prose = nb.cells[0].source
    assert "As Monette (2010) shows, the gap is 3.14 points (40 schools)" in prose
    assert "Comparing the models" in prose and "Figure 6.1" in prose and "(sec-a)=" not in prose
    assert "glue(" not in text and "myst_nb" not in text and "papermill" not in text
    assert "secret" not in text and "# Your code here" in text
    assert "> **Exercise 5.1**" in text and "(Kaplan 2010)" in text
    assert "> **Note**" in text and "{index}" not in text and "(eq-model)" not in text
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0].source == "import numpy as np\ngap = 3.14159\ngap"
    assert code[0].outputs[0]["data"]["text/plain"] == "3.14159"
    assert all(c.execution_count is None for c in code)


def test_a_missing_glue_key_is_an_error_naming_it():
    with pytest.raises(KeyError, match="'nope'"):
        convert_markdown("x = {glue:text}`nope:.2f`", CTX, {})


def test_strip_glue_code_keeps_mixed_statements_and_unparsable_code():
    src = "x = 1\nglue('a', x)\nfor i in range(2):\n    glue(f'k{i}', i)\nif x:\n    y = 2\n    glue('b', y)"
    assert strip_glue_code(src) == "x = 1\nif x:\n    y = 2\n    glue('b', y)"
    assert strip_glue_code("%timeit f()") == "%timeit f()"


@settings(max_examples=60, derandomize=True, deadline=None)
@given(value=st.floats(allow_nan=False, allow_infinity=False, width=64),
       spec=st.sampled_from(["", ".1f", ".3f", ".2e", ".4g", ",.0f"]))
def test_numbers_are_formatted_as_the_book_formats_them(value, spec):
    """The reader notebook uses myst-nb's own formatting of {glue:text}, for any value and format."""
    from myst_nb.core.variables import format_plain_text

    glue = {"v": {"text/plain": repr(value)}}
    role = "{glue:text}`v" + (f":{spec}" if spec else "") + "`"
    assert convert_markdown(f"value {role}.", CTX, glue) == f"value {format_plain_text(repr(value), spec)}."


def test_glue_mixed_into_visible_code_is_refused_and_into_hidden_code_gets_a_shim():
    visible = jupytext.reads(MYST_HEADER + "\n```{code-cell} ipython3\ndef keep(k, v):\n    glue(k, v)\n```\n",
                             fmt="md:myst")
    with pytest.raises(ValueError, match="visible cell mixes a glue call"):
        reader_notebook(visible, CTX)
    hidden = jupytext.reads(MYST_HEADER + "\n```{code-cell} ipython3\nx = 1\n```\n\n```{code-cell} ipython3\n"
                            ":tags: [remove-cell]\n\nfor k in 'ab':\n    y = 2\n    glue(k, y)\n```\n", fmt="md:myst")
    nb = reader_notebook(hidden, CTX)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    assert code[1].startswith("def glue(") and "glue(k, y)" in code[2]
    namespace = {}
    for src in code:
        exec(src, namespace)  # noqa: S102 -- the notebook runs without myst-nb
    assert namespace["y"] == 2


def test_a_ledger_cell_is_left_out_of_the_reader_notebook():
    # the hidden cell that builds a chapter's Reproducibility ledger is book machinery: gone entirely,
    # while another hidden computing cell stays (source hidden)
    nb = _executed()
    ledger_cell = nbformat.v4.new_code_cell(
        'ledger_01 = hc.ledger([("gap", "3.14", gap)], "Monette (2010)")\n'
        'glue("ledger_01", hc.style_ledger(ledger_01), display=False)',
        metadata={"tags": ["remove-cell", "ledger"]})
    kept_cell = nbformat.v4.new_code_cell("helper = gap + 1", metadata={"tags": ["remove-cell"]})
    nb.cells += [kept_cell, ledger_cell]
    text = nbformat.writes(reader_notebook(nb, CTX))
    assert "ledger_01" not in text and "hc.ledger" not in text
    assert "helper = gap + 1" in text


def test_a_lab_answer_cell_is_hidden_on_the_website_and_open_in_the_notebook():
    from hlm_course.book.reader import ANSWER_TAG
    from hlm_course.book.reader import hide_answer_cells

    source = MYST_HEADER + '''
# Lab

```{code-cell} ipython3
:tags: [answer]

gap = None  # your answer
labs.check("lab1-gap", gap)
```

```{code-cell} ipython3
---
tags: [answer, hide-output]
---
x = None  # your answer
```

```{code-cell} ipython3
:tags: [remove-cell]

hidden = 1
```
'''
    web = hide_answer_cells(source)
    assert web.count(":tags: [answer, remove-cell]") == 1 and "tags: [answer, hide-output, remove-cell]" in web
    assert ":tags: [remove-cell]\n\nhidden" in web  # other cells are untouched
    assert hide_answer_cells(web) == web  # idempotent
    nb = reader_notebook(jupytext.reads(web, fmt="myst"), CTX)
    code = [c for c in nb.cells if c.cell_type == "code"]
    answer = next(c for c in code if "your answer" in c.source and "gap" in c.source)
    assert answer.metadata["tags"] == [ANSWER_TAG] and "jupyter" not in answer.metadata  # open, editable
    other = next(c for c in code if c.source.startswith("hidden"))
    assert other.metadata["jupyter"] == {"source_hidden": True}


def test_latex_environments_are_not_myst_syntax():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(
        "\\begin{equation}\n\\begin{aligned} a &= b \\\\ c &= d \\end{aligned}\\tag{3.2}\n\\end{equation}")])
    assert raw_syntax(nb) == []
    nb.cells.append(nbformat.v4.new_markdown_cell("see {eq}`eq-one` and {cite:t}`kaplan2010`"))
    assert raw_syntax(nb) == ["{eq}", "{cite:t}"]


def test_a_glued_table_is_shown_as_html_without_its_style_and_a_missing_one_is_named():
    text = """:::{admonition} Checking against the original
:class: dropdown

The comparison:

```{glue} cmp
```

All agree.
:::"""
    html = '<style type="text/css">\n#T_1 td {color: red}\n</style>\n<table id="T_1">\n\n<tr><td>0.56</td></tr>\n</table>'
    out = convert_markdown(text, CTX, {"cmp": {"text/html": html, "text/plain": "<Styler>"}})
    assert "> **Checking against the original**" in out
    assert '> <table id="T_1">' in out and "> <tr><td>0.56</td></tr>" in out
    assert "style" not in out and "color: red" not in out and "{glue}" not in out and "cmp" not in out
    assert "> All agree." in out
    plain = convert_markdown("```{glue} n\n```", CTX, {"n": {"text/plain": "40"}})
    assert plain == "```\n40\n```"
    with pytest.raises(KeyError, match="'nope'"):
        convert_markdown("```{glue} nope\n```", CTX, {})
