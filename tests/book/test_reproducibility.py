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

from hlm_course.ledger import KIND, KIND_KEYS, KINDS, NOTE, ROUNDS
from hlm_course.book.reader import BOOK_ONLY_TAG

ROOT = Path(__file__).resolve().parents[2]
APPENDIX = ROOT / "chapters" / "reproducibility.md"
HTML = Path(os.environ.get("HLM_BOOK_HTML", ROOT / "_build" / "html")).resolve() / "chapters" / "reproducibility.html"
CHAPTERS = sorted(p for p in (ROOT / "chapters").glob("[0-9][0-9]_*.md"))
COUNTS = ("compared", "round", "do_not_round") + tuple(f"{k}_do_not_round" for k in KIND_KEYS.values())


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
        assert header[0] == "quantity" and header[-3:] == [KIND, ROUNDS, NOTE] and header[1].endswith(" printed")
        assert len(table) > 2 and all(len(r) == len(header) for r in table[1:])


def _ledgers(built_tables):
    """Each ledger of the built page by its source column, in page order: (source, header, rows)."""
    return [(t[0][1].removesuffix(" printed"), t[0], t[1:]) for t in built_tables if t and ROUNDS in t[0]]


def _ledger_of(built_tables, n):
    """The ledger of chapter ``n`` (its position on the page follows the order of LEDGER_CHAPTERS)."""
    order = sorted(LEDGER_CHAPTERS.values())
    return _ledgers(built_tables)[order.index(n)]


def test_every_row_is_of_one_of_the_five_kinds_and_the_kind_fits_the_note(built_tables):
    for source, header, rows in _ledgers(built_tables):
        kind, note, rounds = header.index(KIND), header.index(NOTE), header.index(ROUNDS)
        assert {r[kind] for r in rows} <= set(KINDS), source
        for r in rows:
            text = r[note].lower()
            if text.startswith("random"):   # a simulation is never counted as a failed reproduction
                assert r[kind] == "random", r
            if text.startswith("run time"):
                assert r[kind] == "machine-dependent", r
            if r[kind] != "reproduced" and r[rounds] == "no":
                assert text, r
            if r[kind] == "different optimum":   # only a visible difference, and the note names whose optimizer
                assert r[rounds] == "no", r
                assert any(w in text for w in ("lme4", "hlm", "glm", "optimi", "criteri", "logl", "singular")), r
            if r[kind] == "reproduced" and r[rounds] == "no":   # the cause is in the original itself
                assert any(w in text for w in ("truncat", "print", "typo")), r
    kinds = {r[h.index(KIND)] for _, h, rows in _ledgers(built_tables) for r in rows}
    assert kinds == set(KINDS)   # the book has rows of every kind


def test_the_kinds_of_the_known_rows(built_tables):
    _, header, rows = _ledger_of(built_tables, "06")
    kind = header.index(KIND)
    table_3_1 = [r for r in rows if r[0].startswith("Table 3.1")]
    assert len(table_3_1) == 36 and {r[kind] for r in table_3_1} == {"different formula"}
    assert {r[kind] for r in rows if r[0].startswith("Table 2.10")} == {"different optimum"}   # the 2010 lme4
    _, header, rows = _ledger_of(built_tables, "07")
    kinds = {r[0]: r[header.index(KIND)] for r in rows}
    assert kinds["Table 4.1, pooled OLS: slope (every school)"] == "reproduced"   # Kaplan truncates: no optimizer
    _, header, rows = _ledger_of(built_tables, "08")
    assert {r[header.index(KIND)] for r in rows if r[0].startswith("bootstrap")} == {"random"}
    _, header, rows = _ledger_of(built_tables, "10")
    kinds = {r[0]: r[header.index(KIND)] for r in rows}
    assert kinds["parametric bootstrap: seconds"] == "machine-dependent"
    assert kinds["parametric bootstrap: p-value"] == kinds["parametric bootstrap: extremes"] == "random"


KAPLAN_CH5 = {"Table 2.2": 10, "Table 2.3": 2, "Table 2.4": 9, "Table 2.6": 10, "Table 2.7": 2, "Table 2.8": 9,
              "Table 2.11": 2, "Table 2.12": 18}


def test_kaplan_s_school_tables_and_table_4_2_are_in_the_ledger(built_tables):
    """Chapter 5: Tables 2.2-2.4, 2.6-2.8, 2.11, 2.12, every printed number (a column the model holds the same in
    every school once); chapter 7: Table 4.2; chapter 8: the vignette's 0.02152589; chapter 12: the tables of
    Raudenbush & Bryk named."""
    from hlm_course.exam_tables import kaplan_school_tables

    _, header, rows = _ledger_of(built_tables, "05")
    printed_col = header.index("Kaplan (2010) printed")
    by_table = {t: [r for r in rows if r[0].startswith(t + " ")] for t in KAPLAN_CH5}
    assert {t: len(v) for t, v in by_table.items()} == KAPLAN_CH5
    printed = kaplan_school_tables()
    for t, table_rows in by_table.items():
        assert {r[printed_col] for r in table_rows} == set(printed.loc[printed["table"] == t, "printed"]), t
    assert sum(KAPLAN_CH5.values()) - 9 == 53   # the rows added to the 9 intercepts of Table 2.2 already there
    _, header, rows = _ledger_of(built_tables, "07")
    t42 = [r for r in rows if r[0].startswith("Table 4.2")]
    assert [r[header.index("Kaplan (2010) printed")] for r in t42] == ["0.80534", "0.75224", "0.79063", "0.74407"]
    _, header, rows = _ledger_of(built_tables, "08")
    assert [r[header.index(KIND)] for r in rows if r[header.index("lme4 vignette printed")] == "0.02152589"] == \
        ["different formula"]
    _, header, rows = _ledger_of(built_tables, "12")
    assert [r[0].split(",")[0] for r in rows] == ["Table 4.2 (one-way ANOVA)"] * 2 + \
        ["Table 4.4 (random-coefficient model)"] * 3
    assert [r[header.index("Raudenbush & Bryk (2002) printed")] for r in rows] == \
        ["0.901", "1660.23", "0.907", "1770.86", "213.44"]


def _table_number(quantity):
    m = re.match(r"Table (\d+)\.(\d+)\b", quantity)
    return (int(m.group(1)), int(m.group(2))) if m else None


def test_the_rows_follow_the_original_s_tables(built_tables):
    for source, header, rows in _ledgers(built_tables):
        numbers = [n for n in (_table_number(r[0]) for r in rows) if n]
        assert numbers == sorted(numbers), f"{source}: tables out of order: {numbers}"
    _, _, rows = _ledger_of(built_tables, "05")
    assert len([r for r in rows if _table_number(r[0])]) == len(rows)   # every row of chapter 5 names its table


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
        kind = table[0].index(KIND)
        counts.append((len(rows), sum(r[rounds] == "yes" for r in rows), sum(r[rounds] == "no" for r in rows))
                      + tuple(sum(r[rounds] == "no" and r[kind] == k for r in rows) for k in KINDS))
    shown = [tuple(int(x) for x in row[1:9]) for row in summary[1:]]
    assert shown == counts
    assert all(c[2] == sum(c[3:]) for c in counts)   # the kinds split the rows that do not round
    assert sum(c[2] for c in counts) > 0   # the originals' errors and the old optimizers are not hidden
