"""The built book, tested like a reader: every page opened in headless Chromium.

For each page of ``_build/html`` (or ``$HLM_BOOK_HTML``), served on localhost: the math is
typeset by MathJax (served by the book itself; there is no CDN offline), every image loads,
no cell shows an error, no internal link or ``#anchor`` is broken.  A 1280x800 screenshot of
each page's first screen goes to ``_build/screenshots/`` (a CI artefact).

Browser tests carry the ``browser`` marker and are skipped when the built book, Chromium or
chromedriver is missing -- unless ``HLM_REQUIRE_BROWSER=1`` (CI), where that is a failure.
Needs Debian's ``chromium`` and ``chromium-driver``; selenium-manager is never used.  The
checks themselves are unit-tested below on a small synthetic site, mostly without a browser.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from browser_support import (FIGURE_IMAGES, BookServer, HttpProbe, SiteIndex, book_pages,
                             browser_page_problems, dim_figures, find_chromedriver, find_chromium,
                             internal_target, layout_problems, link_problems, luminance, open_page,
                             page_facts,
                             redirect_target, start_chromium, static_page_problems,
                             switch_to_dark_mode, toc_files, toc_pages)

ROOT = Path(__file__).resolve().parents[2]
HTML_DIR = Path(os.environ.get("HLM_BOOK_HTML", ROOT / "_build" / "html")).resolve()
SCREENSHOTS = HTML_DIR.parent / "screenshots"
TOC = ROOT / "_toc.yml"


def need(condition, reason: str) -> None:
    """Skip the test for ``reason`` if ``condition`` is false -- fail instead under HLM_REQUIRE_BROWSER=1."""
    if condition:
        return
    if os.environ.get("HLM_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (HLM_REQUIRE_BROWSER=1)", pytrace=False)
    pytest.skip(reason)


def _book_pages() -> list[str]:
    """The pages to open: the book's pages minus redirect stubs (Jupyter Book's index.html)."""
    if not HTML_DIR.is_dir():
        return []
    pages = book_pages(HTML_DIR, keep=frozenset(toc_pages(TOC)))
    return [p for p in pages
            if redirect_target((HTML_DIR / p).read_text(encoding="utf-8", errors="replace")) is None]


PAGES = _book_pages()
NO_BOOK = f"no built book at {HTML_DIR}: build it (jupyter-book build .) or set HLM_BOOK_HTML"


# ------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def site():
    need(HTML_DIR.is_dir(), NO_BOOK)
    return SiteIndex(HTML_DIR)


@pytest.fixture(scope="module")
def server(site):
    with BookServer(site.html_dir) as srv:
        yield srv


@pytest.fixture(scope="module")
def driver():
    chromium, chromedriver = find_chromium(), find_chromedriver()
    need(chromium, "no Chromium browser (apt-get install chromium)")
    need(chromedriver, "no chromedriver on PATH (apt-get install chromium-driver)")
    try:
        import selenium  # noqa: F401
    except ImportError:
        need(False, "selenium is not installed (pip install selenium)")
    drv = start_chromium(chromium, chromedriver)
    drv.set_page_load_timeout(30)
    drv.set_script_timeout(30)
    yield drv
    drv.quit()


@pytest.fixture(scope="module")
def probe():
    return HttpProbe()


# --------------------------------------------------------------------------- the real book
@pytest.mark.browser
def test_every_toc_entry_has_a_page_and_every_page_is_in_the_toc(site):
    expected = set(toc_pages(TOC))
    built = set(PAGES)
    assert built == expected, (f"pages built but not in _toc.yml: {sorted(built - expected)}; "
                               f"_toc.yml entries without a page: {sorted(expected - built)}")


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("page", PAGES or [None], ids=lambda p: p or "no-book")
def test_page_reads_well_in_a_browser(page, site, server, driver, probe):
    need(page is not None, NO_BOOK)
    shot = SCREENSHOTS / (page.removesuffix(".html") + ".png")
    problems = browser_page_problems(driver, server, site, page, probe, screenshot=shot)
    assert not problems, f"{page}: {len(problems)} problem(s):\n  " + "\n  ".join(problems)


@pytest.mark.browser
def test_index_redirects_to_the_first_page(site, server, driver):
    from selenium.webdriver.support.ui import WebDriverWait

    index = HTML_DIR / "index.html"
    assert index.exists() and redirect_target(index.read_text()), "index.html is missing or is not a redirect"
    root_page = toc_pages(TOC)[0]
    driver.get(server.url + "index.html")
    WebDriverWait(driver, 10).until(lambda d: d.current_url == server.url + root_page,
                                    f"index.html does not lead to {root_page}")


@pytest.mark.browser
def test_one_search_button_on_a_wide_screen(site, server, driver):
    """The theme's empty top bar (only a second search button) is hidden by _static/hlm-course.css."""
    page = toc_pages(TOC)[0]
    open_page(driver, server.url + page, site.facts(page).has_math)
    visible = driver.execute_script(
        "return [...document.querySelectorAll('.search-button-field')]"
        ".filter(b => b.getBoundingClientRect().height > 0).length")
    assert visible == 1, f"{page}: {visible} visible search buttons at 1280 px (want exactly one)"


@pytest.mark.browser
def test_figures_stay_readable_in_dark_mode(site, server, driver):
    """pydata-sphinx-theme's dark mode: the page turns dark, the figures keep a white background."""
    with_figures = [p for p in toc_pages(TOC) if p in PAGES
                    and any("_images/" in s for s in site.facts(p).img_srcs)]
    assert with_figures, "no page of the book has a figure"
    page = with_figures[0]
    open_page(driver, server.url + page, site.facts(page).has_math)  # the page's own checks run above
    driver.execute_script(OPEN_SOLUTIONS_JS)  # a solution's figure too (a closed dropdown hides it)
    bg = switch_to_dark_mode(driver)
    assert luminance(bg) < 80, f"dark mode did not darken {page}: body background {bg}"
    driver.execute_script("document.querySelector(arguments[0]).scrollIntoView({block: 'center'})",
                          FIGURE_IMAGES)
    shot = SCREENSHOTS / (page.removesuffix(".html") + "-dark.png")
    shot.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(shot))
    dim = dim_figures(driver)
    assert not dim, f"{page} in dark mode: figures without an opaque light background:\n  " + "\n  ".join(dim)


@pytest.mark.slow
@pytest.mark.browser
def test_equations_and_tables_fit_on_a_phone(site, server, driver):
    """At 420 px (a phone) no display equation is cut off and table cells keep their padding."""
    pages = [p for p in PAGES if site.facts(p).has_math]
    assert pages, "no page of the book has math"
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 420, "height": 900, "deviceScaleFactor": 1, "mobile": True})
    problems = []
    try:
        for page in pages:
            open_page(driver, server.url + page, True)
            problems += [f"{page}: {p}" for p in layout_problems(driver)]
    finally:
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False})
    assert not problems, "\n  ".join(problems)


EQUATIONS_OVERFLOW_JS = """
return Array.from(document.querySelectorAll('mjx-container[display="true"]'))
  .filter(m => m.scrollWidth > m.clientWidth + 1)
  .map(m => (m.closest('.math') || m).textContent.replace(/\\s+/g, ' ').slice(0, 60));
"""
WIDE_BOXES_JS = """
const sel = '.pst-scrollable-table-container, div.cell_output div.output.text_html, div.ledger-table';
return Array.from(document.querySelectorAll('.bd-content ' + sel))
  .filter(b => b.scrollWidth > b.clientWidth + 1)
  .map(b => ({overflow: getComputedStyle(b).overflowX, shadow: getComputedStyle(b).backgroundImage,
              text: b.textContent.trim().replace(/\\s+/g, ' ').slice(0, 50)}));
"""


@pytest.mark.browser
@pytest.mark.slow
def test_equations_fit_and_wide_tables_say_they_scroll(site, server, driver):
    """At 1280 px every display equation fits its column, its number in view (no sideways scrolling); at
    420 px a table wider than its box scrolls, with an edge shadow that says so."""
    pages = [p for p in PAGES if p.startswith("chapters/")]
    problems = []
    for page in pages:
        open_page(driver, server.url + page, site.facts(page).has_math)
        problems += [f"{page}: equation needs scrolling at 1280 px: {tex!r}"
                     for tex in driver.execute_script(EQUATIONS_OVERFLOW_JS)]
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 420, "height": 900, "deviceScaleFactor": 1, "mobile": True})
    try:
        for page in pages:
            open_page(driver, server.url + page, False)
            for box in driver.execute_script(WIDE_BOXES_JS):
                if box["overflow"] not in ("auto", "scroll") or "gradient" not in box["shadow"]:
                    problems.append(f"{page}: a wide table at 420 px does not show that it scrolls: {box}")
    finally:
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False})
    assert not problems, "\n  ".join(problems[:30])


@pytest.mark.browser
def test_reproducibility_ledgers_scroll_inside_their_box_on_a_phone(site, server, driver):
    """The appendix's ledgers are never clipped: at 420 px each scrolls sideways inside its own box."""
    page = "chapters/reproducibility.html"
    need(site.exists(page), f"no {page} in the built book")
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 420, "height": 900, "deviceScaleFactor": 1, "mobile": True})
    try:
        open_page(driver, server.url + page, False)
        state = driver.execute_script("""
            return {page: document.documentElement.scrollWidth, width: window.innerWidth,
                    boxes: Array.from(document.querySelectorAll('div.ledger-table')).map(d => ({
                        overflow: getComputedStyle(d).overflowX, right: d.getBoundingClientRect().right,
                        scroll: d.scrollWidth, client: d.clientWidth,
                        heading: Array.from(d.querySelectorAll('th')).map(th => th.textContent.trim())}))};""")
    finally:
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False})
    assert state["page"] <= state["width"], f"the page itself is {state['page']} px wide at {state['width']} px"
    assert len(state["boxes"]) >= 10
    for box in state["boxes"]:
        assert "rounds to printed?" in box["heading"]
        assert box["right"] <= state["width"]
        assert box["scroll"] <= box["client"] or box["overflow"] in ("auto", "scroll"), box


def solution_code_lines(md: Path) -> list[str]:
    """Distinctive lines (25+ characters) of the code a chapter's solutions show on its page: the code cells
    that the student edition removes (gated ``solution-start`` … ``solution-end`` spans, cells tagged
    ``solution``), minus hidden ones and minus lines that also occur in code outside the solutions."""
    import jupytext

    from hlm_course.book.student import strip_solutions

    nb = jupytext.read(md)
    kept, _ = strip_solutions(nb)
    kept_code = "\n".join(c.source for c in kept.cells if c.cell_type == "code")
    lines = set()
    for cell in nb.cells:
        tags = set((cell.get("metadata") or {}).get("tags", []))
        if cell.cell_type != "code" or {"remove-cell", "remove-input"} & tags or cell.source in kept_code:
            continue
        lines |= {ln.strip() for ln in cell.source.split("\n")
                  if len(ln.strip()) >= 25 and ln.strip() not in kept_code}
    return sorted(lines)


#: The text of every code cell a reader can see now (a closed dropdown's cells have no layout box).
VISIBLE_CELLS_JS = """
return Array.from(document.querySelectorAll('div.cell')).filter(
    c => c.getClientRects().length > 0 && getComputedStyle(c).visibility !== 'hidden').map(c => c.innerText);
"""
OPEN_SOLUTIONS_JS = """
document.querySelectorAll('div.solution button.toggle-button').forEach(b => b.click());
return document.querySelectorAll('div.solution').length;
"""

SOLUTION_PAGES = [p for p in PAGES if p.startswith("chapters/") and (ROOT / p).with_suffix(".md").exists()
                  and "{solution" in (ROOT / p).with_suffix(".md").read_text(encoding="utf8")]


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("page", SOLUTION_PAGES or [None], ids=lambda p: p or "no-book")
def test_solutions_stay_hidden_until_their_dropdown_is_opened(page, site, server, driver):
    """No solution code or output shows before its "Solution" dropdown is opened; opening them shows it
    (so the check sees the solutions it looks for). Every chapter with a solution is tested."""
    need(page is not None, NO_BOOK)
    lines = solution_code_lines((ROOT / page).with_suffix(".md"))
    assert lines, f"{page}: no solution code found in its source"
    open_page(driver, server.url + page, False)
    before = "\n".join(driver.execute_script(VISIBLE_CELLS_JS))
    leaked = [ln for ln in lines if ln in before]
    assert not leaked, f"{page}: solution code visible before its dropdown is opened:\n  " + "\n  ".join(leaked[:10])
    assert driver.execute_script(OPEN_SOLUTIONS_JS) > 0
    after = "\n".join(driver.execute_script(VISIBLE_CELLS_JS))
    shown = [ln for ln in lines if ln in after]
    assert len(shown) == len(lines), f"{page}: solution code not shown when opened: {sorted(set(lines) - set(shown))[:5]}"
    # outputs: a closed dropdown holds every solution cell, input and output alike
    outside = driver.execute_script(
        "return Array.from(document.querySelectorAll('div.cell.tag_solution'))"
        ".filter(c => !c.closest('div.solution')).length")
    assert outside == 0, f"{page}: {outside} solution cell(s) outside their dropdown"


def _soup(site, page):
    from bs4 import BeautifulSoup

    return BeautifulSoup((site.html_dir / page).read_text(encoding="utf-8"), "html.parser")


@pytest.mark.browser
def test_no_plumbing_in_visible_code(site):
    """No code cell a reader sees glues a value or reads the test suite's reference files."""
    problems = []
    for page in PAGES:
        for cell in _soup(site, page).select("div.cell_input"):
            code = cell.get_text()
            for bad in ("glue(", "tests/reference", "keep("):
                if bad in code:
                    problems.append(f"{page}: a visible code cell contains {bad!r}: {code.strip()[:80]!r}")
    assert not problems, "\n  ".join(problems)


@pytest.mark.browser
def test_lab_answer_cells_stay_off_the_website(site):
    """Cells tagged ``answer`` (``x = None  # your answer`` and its check) are for the notebook, not the page."""
    pages = [p for p in PAGES if (ROOT / p).with_suffix(".md").exists()
             and "your answer" in (ROOT / p).with_suffix(".md").read_text(encoding="utf8")] \
        if PAGES else []
    shown = [f"{page}: {cell.get_text()[:60]!r}" for page in pages
             for cell in _soup(site, page).select("div.cell") if "# your answer" in cell.get_text()]
    assert not shown, "\n  ".join(shown)


#: Phrases in which "seed" is a random-number seed, not a name for a source document.
RANDOM_SEED = re.compile(r"(random|random-number|number|fixed|same|different|its|a|the rng's|numpy's)\s+seeds?\b|\bseed\s*[=:(]|"
                         r"\bseeded\b|\bseeds? (of|for) the (random|simulation)|default_rng", re.I)


@pytest.mark.browser
def test_sources_are_named_not_called_seeds(site):
    """Reader-facing text names Monette (2010), Kaplan (2010), the lme4 vignette -- never "seed"."""
    problems = []
    for page in PAGES:
        text = " ".join(_soup(site, page).get_text(" ").split())
        for m in re.finditer(r"\bseed", text, re.I):
            context = text[max(0, m.start() - 30): m.end() + 30]
            if not RANDOM_SEED.search(context):
                problems.append(f"{page}: ...{context}...")
    assert not problems, f"{len(problems)} uses of 'seed' for a source:\n  " + "\n  ".join(problems[:40])


@pytest.mark.browser
def test_download_and_student_notebooks_have_numbers_and_no_solutions(site):
    """The .ipynb behind each page's download button is the reader notebook: numbers written in, no MyST
    role, no solution; the student notebooks and their zip are published with the book."""
    import nbformat

    chapters = [p for p in PAGES if p.startswith("chapters/") and (ROOT / p).with_suffix(".md").exists()]
    problems = []
    for page in chapters:
        md = (ROOT / page).with_suffix(".md")
        if not md.read_text().startswith("---\njupytext:"):
            continue
        for nb_path in (site.html_dir / "_sources" / Path(page).with_suffix(".ipynb"),
                        site.html_dir / "notebooks" / (md.stem + ".ipynb")):
            if not nb_path.exists():
                problems.append(f"{page}: no {nb_path.relative_to(site.html_dir)}")
                continue
            text = nbformat.writes(nbformat.read(nb_path, as_version=4))
            for bad in ("{glue", "{eval", "{solution", "{cite", "{ref}", "{numref}"):
                if bad in text:
                    problems.append(f"{nb_path.relative_to(site.html_dir)} contains {bad!r}")
            for line in _solution_lines(md):
                if line in text:
                    problems.append(f"{nb_path.relative_to(site.html_dir)} gives away a solution: {line[:60]!r}")
    assert (site.html_dir / "notebooks" / "hlm-course-notebooks.zip").exists()
    assert not problems, "\n  ".join(problems[:30])


def _solution_lines(md: Path) -> list[str]:
    """Distinctive lines (long, no MyST role) of a chapter's solutions."""
    import jupytext

    from hlm_course.book.student import strip_solutions

    nb = jupytext.read(md)
    kept, _ = strip_solutions(nb)
    kept_text = "\n".join(c.source for c in kept.cells)
    lines = {ln.strip() for c in nb.cells for ln in c.source.split("\n")}
    return sorted(ln for ln in lines if len(ln) >= 40 and "{" not in ln and "`" not in ln
                  and ln not in kept_text)


# ------------------------------------------------------------- the checks can fail: unit tests
def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


PNG_1PX = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                        "1f15c4890000000d49444154789c63f8ffff3f0005fe02fea7d6a4e60000000049454e44ae426082")


@pytest.fixture
def toy_site(tmp_path) -> Path:
    """A tiny built 'book' with one broken link, one missing anchor, one missing image, one error cell."""
    html = tmp_path / "html"
    _write(html / "index.html", '<meta http-equiv="Refresh" content="0; url=chapters/a.html" />')
    _write(html / "chapters" / "a.html", """<html><body><section id="top">
<h1>A</h1><p>See <span class="math notranslate nohighlight">\\(x^2\\)</span>.</p>
<p>As shown <span class="bibtex-citation" id="id1">[]</span> and <span class="bibtex-citation">[<a href="#top">Ok20</a>]</span>.</p>
<a href="b.html">ok</a> <a href="b.html#there">ok anchor</a> <a href="#top">ok local</a>
<a href="b.html#nowhere">missing anchor</a> <a href="missing.html">missing page</a>
<a href="../_sources/chapters/a.md">source</a> <a href="https://example.org/x">external</a>
<a href="mailto:someone@example.org">mail</a> <a href="../">home</a>
<img src="../_images/fig.png" alt="ok"/><img src="../_images/gone.png" alt="missing"/>
<div class="cell_output docutils container"><div class="output traceback highlight-ipythontb notranslate">
<pre>Traceback (most recent call last)\n  ValueError: boom</pre></div></div>
</section></body></html>""")
    _write(html / "chapters" / "b.html", '<html><body><p id="there">B</p><a name="old">x</a></body></html>')
    _write(html / "_sources" / "chapters" / "a.md", "# A\n")
    (html / "_images").mkdir()
    (html / "_images" / "fig.png").write_bytes(PNG_1PX)
    _write(html / "_static" / "x.html", "<html></html>")
    _write(html / "genindex.html", "<html></html>")
    _write(html / "search.html", "<html></html>")
    return html


def test_static_checks_find_each_planted_fault(toy_site):
    problems = static_page_problems(SiteIndex(toy_site), "chapters/a.html")
    assert problems == [
        "broken link 'b.html#nowhere': no element with id 'nowhere' in chapters/b.html",
        "broken link 'missing.html': chapters/missing.html does not exist",
        "image '../_images/gone.png': _images/gone.png does not exist",
        'error output element <div class="output traceback highlight-ipythontb notranslate">',
        "the text 'Traceback (most recent call last)' appears in the page",
    ]
    assert static_page_problems(SiteIndex(toy_site), "chapters/b.html") == []


def test_page_facts_ids_math_and_redirect(toy_site):
    a = page_facts((toy_site / "chapters" / "a.html").read_text())
    b = page_facts((toy_site / "chapters" / "b.html").read_text())
    assert a.has_math and not b.has_math
    assert b.ids == {"there", "old"} and "top" in a.ids
    assert redirect_target((toy_site / "index.html").read_text()) == "chapters/a.html"
    assert redirect_target((toy_site / "chapters" / "b.html").read_text()) is None


def test_internal_target_resolution():
    assert internal_target("b.html#x%20y", "chapters/a.html") == ("chapters/b.html", "x y")
    assert internal_target("#sec", "chapters/a.html") == ("chapters/a.html", "sec")
    assert internal_target("", "chapters/a.html") == ("chapters/a.html", "")
    assert internal_target("../", "chapters/a.html") == ("index.html", "")
    assert internal_target("../_images/f%C3%A9.png?v=1", "chapters/a.html") == ("_images/fé.png", "")
    for external in ("https://example.org/", "mailto:a@b.c", "javascript:void(0)", "//cdn.example/x.js"):
        assert internal_target(external, "chapters/a.html") is None
    # urljoin clamps '..' above the root, so the link resolves to a file that does not exist
    assert internal_target("../../x.html", "chapters/a.html") == ("x.html", "")


def test_link_check_uses_live_ids_only_for_the_page_itself(toy_site):
    site = SiteIndex(toy_site)
    hrefs = ["#made-by-js", "b.html#made-by-js"]
    assert link_problems("chapters/a.html", hrefs, site, live_ids=["made-by-js"]) == [
        "broken link 'b.html#made-by-js': no element with id 'made-by-js' in chapters/b.html"]
    # the existence test can be swapped (the browser test asks the HTTP server)
    assert link_problems("chapters/a.html", ["b.html"], site, exists=lambda rel: False) == [
        "broken link 'b.html': chapters/b.html does not exist"]


def test_book_pages_and_toc(tmp_path, toy_site):
    assert book_pages(toy_site) == ["chapters/a.html", "chapters/b.html", "index.html"]
    assert "genindex.html" in book_pages(toy_site, keep=frozenset({"genindex.html"}))
    toc = tmp_path / "_toc.yml"
    toc.write_text("format: jb-book\nroot: chapters/a\nparts:\n  - caption: P\n    chapters:\n"
                   "      - file: chapters/b\n        sections:\n          - file: chapters/c\n")
    assert toc_files(toc) == ["chapters/a", "chapters/b", "chapters/c"]
    assert toc_pages(toc) == ["chapters/a.html", "chapters/b.html", "chapters/c.html"]
    toc.write_text("chapters: []\n")
    with pytest.raises(ValueError, match="needs a 'root' entry"):
        toc_files(toc)


@pytest.mark.browser
def test_browser_checks_catch_planted_faults(toy_site, driver):
    """The in-browser path fails too: math never typeset, an image that does not load, an error cell."""
    site, probe = SiteIndex(toy_site), HttpProbe()
    with BookServer(toy_site) as srv:
        problems = browser_page_problems(driver, srv, site, "chapters/a.html", probe, math_timeout_s=3)
    text = "\n".join(problems)
    assert "math not rendered: MathJax never started" in text
    assert "no mjx-container among 1 math elements" in text
    assert "raw TeX delimiters visible in the text" in text and r"See \(x^2\)." in text
    assert "image '../_images/gone.png' did not load in the browser" in text
    assert "image '../_images/gone.png' is served with status 404" in text
    assert "error output: div.output.traceback" in text
    assert "broken link 'b.html#nowhere': no element with id 'nowhere'" in text
    assert "broken link 'missing.html': chapters/missing.html does not exist" in text
    assert "request /_images/gone.png answered 404" in text
    assert "1 citation(s) render empty, as '[]'" in text
    assert "broken link '../'" not in text and "example.org" not in text


@pytest.fixture
def figure_site(tmp_path) -> Path:
    """Two output figures, one opaque white and one transparent, styled like pydata-sphinx-theme's dark mode."""
    from PIL import Image, ImageDraw

    html = tmp_path / "figs"
    (html / "_images").mkdir(parents=True)
    for name, background in (("white.png", (255, 255, 255, 255)), ("clear.png", (255, 255, 255, 0))):
        im = Image.new("RGBA", (300, 200), background)
        ImageDraw.Draw(im).line([(20, 180), (280, 20)], fill=(0, 114, 178, 255), width=3)
        im.save(html / "_images" / name)
    _write(html / "page.html", """<html><head><style>
html[data-theme=dark] body { background: #121212; }
html[data-theme=dark] img { filter: brightness(.8) contrast(1.2); }
html[data-theme=dark] .cell_output img { background-color: #ced6dd; padding: .5rem; }
</style></head><body>
<div class="cell_output"><img src="_images/white.png" alt="white"/></div>
<div class="cell_output"><img src="_images/clear.png" alt="clear"/></div>
</body></html>""")
    return html


@pytest.mark.browser
def test_transparent_figures_are_caught(figure_site, driver):
    """Both figure checks fail on a transparent figure: the per-page alpha test and dark mode."""
    site = SiteIndex(figure_site)
    with BookServer(figure_site) as srv:
        problems = browser_page_problems(driver, srv, site, "page.html", HttpProbe())
        assert len(problems) == 1 and problems[0].startswith(
            "figure '_images/clear.png' has a transparent background (corner RGBA [[0, 0, 0, 0]"), problems
        assert luminance(switch_to_dark_mode(driver)) < 80
        dim = dim_figures(driver)
    assert [d.split(":")[0] for d in dim] == ["_images/clear.png", "_images/clear.png"], dim
