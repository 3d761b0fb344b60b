"""Book hygiene: the table of contents, figure captions and alt text, no placeholders."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jupytext
import pytest
import yaml

from hlm_course.book.sphinx_cache import toc_files as _toc_paths

ROOT = Path(__file__).resolve().parents[2]
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())
# calls that draw a figure; the plots helpers that only return tables or numbers are excluded
NOT_FIGURES = ("palette_for", "ls_line", "ellipse_points", "ellipse_radius", "use_book_style")
PLOTTING = re.compile(r"\bplots\.(?!(?:" + "|".join(NOT_FIGURES) + r")\()\w+\(|\bplt\.(subplots|figure|plot|scatter|hist)\("
                      r"|\bnew_figure\(")


CHAPTERS = sorted((ROOT / "chapters").glob("*.md"))


def toc_files() -> list[str]:
    return [str(p.relative_to(ROOT).with_suffix("")) for p in _toc_paths(ROOT / "_toc.yml", ROOT)]


def _toc_entries(node) -> list[str]:
    if isinstance(node, dict):
        return ([node["file"]] if "file" in node else []) + [f for v in node.values() for f in _toc_entries(v)]
    if isinstance(node, list):
        return [f for v in node for f in _toc_entries(v)]
    return []


def test_toc_files_exist_and_every_chapter_is_listed():
    listed = toc_files()
    entries = [TOC["root"]] + _toc_entries({k: v for k, v in TOC.items() if k != "root"})
    assert listed == entries, f"_toc.yml lists files that do not exist: {sorted(set(entries) - set(listed))}"
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


def _readme_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Two commands on a fresh machine", 1)[1].split("\n## ", 1)[0]
    return [c.strip() for c in re.findall(r"```bash\n(.+?)\n\s*```", section)]


def test_readme_has_two_commands_and_ci_and_workflow_run_them():
    commands = _readme_commands()
    assert len(commands) == 2, commands
    setup, tests = commands
    assert "jupyter-book build" in setup and "pip install" in setup and "pytest" in tests
    ci = (ROOT / ".ci" / "run").read_text()
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "book.yml").read_text())
    steps = " ".join(step.get("run", "") for step in workflow["jobs"]["build"]["steps"])
    for command in commands:
        assert command in ci, f".ci/run does not run the README command: {command}"
        assert command in steps, f"the GitHub workflow does not run the README command: {command}"
    assert "deploy-pages" in str(workflow["jobs"]["deploy"])


def test_readme_reports_the_measured_build_times_within_budget():
    """The README's build times are those in benchmarks/build_times.json, and they meet the budgets."""
    measured = json.loads((ROOT / "benchmarks" / "build_times.json").read_text())
    t = measured["seconds"]
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert f"**cold build {t['cold']:.0f} s**" in readme
    assert f"**warm rebuild {t['warm_all']:.1f} s**" in readme
    assert f"{t['warm_noop']:.1f} s when nothing changed" in readme
    assert measured["cpus"] == 2 and f"({measured['date']}," in readme
    assert t["cold"] <= 300 and t["warm_all"] <= 30 and t["warm_noop"] <= 30


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_no_chapter_reads_the_test_suite(path):
    """Chapters take R's stored output from hlm_course.book.reference, never from files of tests/ directly."""
    if not path.read_text().startswith("---\njupytext:"):
        return
    for cell in jupytext.read(path).cells:
        if cell.cell_type == "code":
            code = "\n".join(ln.split("#", 1)[0] for ln in cell.source.splitlines())  # comments may name files
            assert not re.search(r"[\"']tests[\"']|tests/reference", code), (
                f"{path.name} reads the test suite's files: {cell.source[:120]!r}")


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_one_equation_numbering_scheme_per_chapter(path):
    """A chapter numbers its equations either as the original does (\\tag) or automatically, never both."""
    text = path.read_text()
    tagged = len(re.findall(r"\\tag\{", text))
    auto = len(re.findall(r"^\$\$\s*\([\w.:-]+\)\s*$", text, re.MULTILINE)) + text.count(":label: eq")
    assert not (tagged and auto), f"{path.name}: {tagged} \\tag-ged and {auto} auto-numbered equations"
