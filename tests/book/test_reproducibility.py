"""The Reproducibility appendix: every chapter's ledger is pasted there, and every "no" carries a note.

The source checks need no build; the checks of the built page (``_build/html`` or ``$HLM_BOOK_HTML``) are
skipped when the book has not been built -- unless ``HLM_REQUIRE_BROWSER=1`` (CI), where that is a failure.
"""

from __future__ import annotations

import html.parser
import os
import re
from pathlib import Path

import jupytext
import pytest
import yaml

from hlm_course.ledger import NOTE, ROUNDS
from hlm_course.book.reader import BOOK_ONLY_TAG

ROOT = Path(__file__).resolve().parents[2]
APPENDIX = ROOT / "chapters" / "reproducibility.md"
HTML = Path(os.environ.get("HLM_BOOK_HTML", ROOT / "_build" / "html")).resolve() / "chapters" / "reproducibility.html"
CHAPTERS = sorted(p for p in (ROOT / "chapters").glob("[0-9][0-9]_*.md"))
COUNTS = ("compared", "round", "do_not_round")


def _ledger_cells(path: Path) -> list[str]:
    return [c.source for c in jupytext.read(path).cells
            if c.cell_type == "code" and BOOK_ONLY_TAG in c.metadata.get("tags", [])]


LEDGER_CHAPTERS = {p.name: p.stem[:2] for p in CHAPTERS if _ledger_cells(p)}


def test_the_chapters_that_compare_with_an_original_have_a_ledger():
    assert set(LEDGER_CHAPTERS.values()) >= {"02", "04", "05", "06", "07", "08", "09", "10", "12", "14", "15"}


@pytest.mark.parametrize("name", sorted(LEDGER_CHAPTERS))
def test_a_ledger_cell_is_hidden_and_glues_the_table_and_its_counts(name):
    path = ROOT / "chapters" / name
    n = LEDGER_CHAPTERS[name]
    cells = [c for c in jupytext.read(path).cells
             if c.cell_type == "code" and BOOK_ONLY_TAG in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{name}: one ledger cell, not {len(cells)}"
    assert "remove-cell" in cells[0].metadata["tags"], f"{name}: the ledger cell must be tagged remove-cell"
    source = cells[0].source
    assert f'glue("ledger_{n}", hc.style_ledger(ledger_{n}), display=False)' in source
    assert f"hc.ledger_counts(ledger_{n})" in source and f'f"ledger_{n}_{{key' in source


def test_the_appendix_pastes_every_ledger_and_nothing_else():
    text = APPENDIX.read_text()
    pasted = re.findall(r"```\{glue\} ledger_(\d\d)\n:doc: (\S+)\.md\n```", text)
    expected = sorted((n, Path(name).stem) for name, n in LEDGER_CHAPTERS.items())
    assert sorted(pasted) == expected
    for n, doc in expected:
        for key in COUNTS:
            assert f"{{glue:text}}`{doc}.md::ledger_{n}_{key}:d`" in text, f"summary lacks {key} of chapter {n}"
    assert "seed" not in text.lower()


def test_the_appendix_is_back_matter_before_the_bibliography():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    back = next(p for p in toc["parts"] if p["caption"] == "Back matter")["chapters"]
    files = [c["file"] for c in back]
    assert files.index("chapters/reproducibility") == files.index("chapters/bibliography") - 1


# --------------------------------------------------------------------------- the built page
class _Tables(html.parser.HTMLParser):
    """Every <table> of a page as a list of rows of cell texts (header row included)."""

    def __init__(self):
        super().__init__()
        self.tables, self._row, self._cell = [], None, None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[-1].append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def test_tables_parser():
    p = _Tables()
    p.feed("<table><tr><th></th><th>a</th></tr><tr><th>x</th><td> 1 <b>2</b></td></tr></table>")
    assert p.tables == [[["", "a"], ["x", "1 2"]]]


@pytest.fixture(scope="module")
def built_tables():
    if not HTML.exists():
        if os.environ.get("HLM_REQUIRE_BROWSER") == "1":
            pytest.fail(f"no built appendix at {HTML} (HLM_REQUIRE_BROWSER=1)", pytrace=False)
        pytest.skip(f"no built appendix at {HTML}: build the book first")
    parser = _Tables()
    parser.feed(HTML.read_text(encoding="utf-8"))
    return parser.tables


def test_every_chapter_ledger_is_on_the_built_page_with_a_rounds_column(built_tables):
    ledgers = [t for t in built_tables if t and ROUNDS in t[0]]
    assert len(ledgers) == len(LEDGER_CHAPTERS)
    for table in ledgers:
        header = table[0]
        assert header[0] == "quantity" and header[-2:] == [ROUNDS, NOTE] and header[1].endswith(" printed")
        assert len(table) > 2 and all(len(r) == len(header) for r in table[1:])


def test_every_no_has_a_note_and_the_summary_adds_up(built_tables):
    ledgers = [t for t in built_tables if t and ROUNDS in t[0]]
    summary = next(t for t in built_tables if t and t[0][0].startswith("Chapter"))
    counts = []
    for table in ledgers:
        rounds, note = table[0].index(ROUNDS), table[0].index(NOTE)
        rows = table[1:]
        assert {r[rounds] for r in rows} <= {"yes", "no"}
        silent = [r[0] for r in rows if r[rounds] == "no" and not r[note].strip()]
        assert not silent, f"rows marked 'no' without a note: {silent}"
        counts.append((len(rows), sum(r[rounds] == "yes" for r in rows), sum(r[rounds] == "no" for r in rows)))
    shown = [tuple(int(x) for x in row[1:4]) for row in summary[1:]]
    assert shown == counts
    assert sum(c[2] for c in counts) > 0   # the originals' errors and the old optimizers are not hidden
