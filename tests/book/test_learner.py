"""The course for the learner: objectives, key points, difficulty marks, checks for understanding.

The static half reads the chapters' MyST sources; the browser half clicks a check for understanding on a built
page (headless Chromium, skipped without a built book unless HLM_REQUIRE_BROWSER=1, like test_browser.py).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hlm_course import quiz

ROOT = Path(__file__).resolve().parents[2]
CHAPTERS = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.md"))
STARS = re.compile(r"^:::\{exercise\}(.*)$", re.MULTILINE)


def _box(text: str, title: str) -> str:
    m = re.search(r"^:::\{admonition\} " + title + r"\n(:class: \w+)\n(.*?)^:::$", text, re.MULTILINE | re.DOTALL)
    assert m, f"no {title!r} box"
    return m.group(1) + "\n" + m.group(2)


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_every_chapter_opens_with_objectives_and_what_it_assumes(md):
    text = md.read_text(encoding="utf8")
    box = _box(text, "Learning objectives")
    assert box.startswith(":class: tip")
    assert "After this chapter you will be able to" in box
    objectives = re.findall(r"^\d\. ", box, re.MULTILINE)
    assert 3 <= len(objectives) <= 5, f"{md.name}: {len(objectives)} objectives"
    assert "It assumes" in box
    if not md.name.startswith("01_"):
        assert "{ref}`" in box.split("It assumes")[1], f"{md.name}: name the chapters it assumes with {{ref}}"
    # at the top: before the chapter's first section
    assert text.index(":::{admonition} Learning objectives") < text.index("\n## ")


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_every_chapter_ends_with_key_points_and_a_check_for_understanding(md):
    text = md.read_text(encoding="utf8")
    box = _box(text, "Key points")
    assert box.startswith(":class: important")
    assert len(re.findall(r"^\* ", box, re.MULTILINE)) >= 3
    n = int(md.name[:2])
    assert n in quiz.chapters(), f"{md.name}: no question bank hlm_course/quizzes/ch{n:02d}.py"
    assert text.index(":::{admonition} Key points") < text.index(f"hc.quiz.show({n})")
    assert "## Check your understanding" in text


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_every_exercise_has_a_difficulty_mark_and_each_chapter_a_conceptual_one(md):
    text = md.read_text(encoding="utf8")
    titles = STARS.findall(text)
    assert titles, f"{md.name}: no exercises"
    for title in titles:
        assert re.fullmatch(r" ★{1,3}", title), f"{md.name}: exercise title {title!r} is not ★, ★★ or ★★★"
    assert "(Conceptual.)" in text, f"{md.name}: no conceptual exercise"


def test_the_introduction_explains_the_marks_and_maps_reading_paths():
    intro = (ROOT / "chapters" / "intro.md").read_text(encoding="utf8")
    assert "(reading-paths)=" in intro
    for mark in ("| ★ |", "| ★★ |", "| ★★★ |"):
        assert mark in intro
    for path in ("two-week short course", "semester", "I have my own data"):
        assert path in intro
    for label in ("ch-planning", "ch-growth", "ch-binary", "ch-crossed", "ch-counts"):
        assert f"{{ref}}`{label}`" in intro


def test_numeric_chapter_exercises_check_with_registered_keys():
    """Every labs.check key a chapter calls is registered, and its answer cell is tagged as one."""
    from hlm_course import labs

    known = set(labs.keys())
    for md in CHAPTERS:
        text = md.read_text(encoding="utf8")
        for key in re.findall(r'labs\.check\("([^"]+)"', text):
            assert key in known, f"{md.name}: check {key!r} is not registered in hlm_course/labs"
        for cell in re.findall(r"```\{code-cell\} ipython3\n(:tags: \[[^\]]*\])\n\n\w+ = None  # your answer", text):
            assert "answer" in cell, f"{md.name}: an answer cell tagged {cell}"


# ------------------------------------------------------------------------------------------- browser
from test_browser import SCREENSHOTS, NO_BOOK, HTML_DIR, need, site, server, driver  # noqa: E402,F401

QUIZ_PAGE = "chapters/04_simple_to_complex.html"

QUIZ_STATE_JS = """
const q = document.querySelector(arguments[0]);
const details = [...q.querySelectorAll('details.hlm-quiz-choice')];
return {open: details.map(d => d.open), text: q.innerText};
"""

CONTRAST_JS = """
function rgb(s) { const m = s.match(/[\\d.]+/g).map(Number); return m.slice(0, 3); }
function lum(c) { const l = c.map(v => { v /= 255; return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
                  return 0.2126 * l[0] + 0.7152 * l[1] + 0.0722 * l[2]; }
function ratio(a, b) { const x = lum(rgb(a)), y = lum(rgb(b)); return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); }
function bg(el) { while (el) { const c = getComputedStyle(el).backgroundColor;
                  if (c && !c.startsWith('rgba(0, 0, 0, 0)') && c !== 'transparent') return c; el = el.parentElement; }
                  return 'rgb(255, 255, 255)'; }
const summary = document.querySelector(arguments[0] + ' summary');
const badge = document.querySelector(arguments[0] + ' details[open] .hlm-quiz-badge');
return {summary: ratio(getComputedStyle(summary).color, bg(summary)),
        badge: badge ? ratio(getComputedStyle(badge).color, bg(badge)) : null};
"""


BADGES_JS = """
return [...document.querySelectorAll(arguments[0] + ' details[open] .hlm-quiz-badge')].map(
  b => [getComputedStyle(b).backgroundColor, getComputedStyle(b).color]);
"""

OUTPUTS_CONTRAST_JS = CONTRAST_JS.split("const summary")[0] + """
return [...document.querySelectorAll('div.cell_output div.output.text_html')].map(e => {
  const t = e.querySelector('td, summary, p') || e;
  return [e.innerText.slice(0, 30), ratio(getComputedStyle(t).color, bg(t))];
}).filter(r => r[1] < 4.5);
"""


def _rgb(hex_colour: str) -> str:
    h = hex_colour.lstrip("#")
    return "rgb({}, {}, {})".format(*(int(h[i:i + 2], 16) for i in (0, 2, 4)))


def answer_wrong_then_right(driver, sel: str, q, open_choice) -> None:
    """Open a wrong choice of question ``q`` (the element ``sel``) with ``open_choice(summary)``, then click the
    right one: each shows its feedback and its badge in the labs' colours, nothing is revealed too early, and
    the text reads at 4.5:1 or more."""
    from hlm_course.labs import NOT_OK_COLOUR, OK_COLOUR

    right = [c.right for c in q.choices].index(True)
    wrong = next(i for i, c in enumerate(q.choices) if not c.right)
    summaries = driver.find_elements("css selector", sel + " details summary")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", summaries[wrong])
    open_choice(summaries[wrong])
    state = driver.execute_script(QUIZ_STATE_JS, sel)
    assert state["open"][wrong] and not state["open"][right]
    assert "Not quite" in state["text"] and q.choices[wrong].feedback[:40] in state["text"]
    assert "\u2714 Right" not in state["text"]
    badge = driver.execute_script(BADGES_JS, sel)
    assert badge == [[_rgb(NOT_OK_COLOUR), "rgb(255, 255, 255)"]], f"the badge's inline style was lost: {badge}"
    ratios = driver.execute_script(CONTRAST_JS, sel)
    assert ratios["summary"] >= 4.5 and ratios["badge"] >= 4.5, ratios

    summaries[right].click()
    state = driver.execute_script(QUIZ_STATE_JS, sel)
    assert state["open"][right]
    assert "\u2714 Right" in state["text"] and q.choices[right].feedback[:40] in state["text"]
    assert [_rgb(OK_COLOUR), "rgb(255, 255, 255)"] in driver.execute_script(BADGES_JS, sel)


def _shot(driver, name: str) -> Path:
    shot = SCREENSHOTS / name
    shot.parent.mkdir(parents=True, exist_ok=True)
    driver.execute_script("document.querySelector('div.hlm-quiz').scrollIntoView({block: 'start'})")
    driver.save_screenshot(str(shot))
    return shot


@pytest.mark.browser
def test_a_check_for_understanding_answers_a_wrong_and_a_right_choice(site, server, driver):
    """On a built page: nothing is revealed before a choice; the keyboard opens a wrong choice and its
    feedback says why it is wrong; a click opens the right one; the text reads in light and dark mode."""
    from selenium.webdriver.common.keys import Keys

    from browser_support import open_page, switch_to_dark_mode

    need((HTML_DIR / QUIZ_PAGE).exists(), NO_BOOK)
    q = quiz.questions(4)[2]
    sel = f'[aria-labelledby="hlm-quiz-{q.key.replace(".", "-")}"]'
    try:
        open_page(driver, server.url + QUIZ_PAGE, True)
        state = driver.execute_script(QUIZ_STATE_JS, sel)
        assert state["open"] == [False] * len(q.choices)
        assert "Right" not in state["text"] and "Not quite" not in state["text"]
        assert q.prompt[:40] in state["text"]
        _shot(driver, "quiz-1280-light.png")

        # a summary is focusable; Enter opens it
        answer_wrong_then_right(driver, sel, q, lambda summary: summary.send_keys(Keys.ENTER))
        _shot(driver, "quiz-1280-light-answered.png")

        switch_to_dark_mode(driver)
        ratios = driver.execute_script(CONTRAST_JS, sel)
        assert ratios["summary"] >= 4.5 and ratios["badge"] >= 4.5, f"dark mode: {ratios}"
        # every HTML output of the page (Styler tables too) keeps readable text in dark mode
        low = driver.execute_script(OUTPUTS_CONTRAST_JS)
        assert not low, f"dark mode: HTML outputs with text below 4.5:1: {low[:5]}"
        _shot(driver, "quiz-1280-dark.png")

        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": 420, "height": 900, "deviceScaleFactor": 1, "mobile": True})
        width = driver.execute_script("return document.querySelector('div.hlm-quiz').scrollWidth")
        client = driver.execute_script("return document.querySelector('div.hlm-quiz').clientWidth")
        assert width <= client + 1, f"the quiz box is wider than a phone's column: {width} > {client}"
        _shot(driver, "quiz-420-dark.png")
        driver.execute_script("localStorage.setItem('theme', 'light');"
                              "document.documentElement.dataset.theme = 'light';"
                              "document.documentElement.dataset.mode = 'light';")
        _shot(driver, "quiz-420-light.png")
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        driver.execute_script("localStorage.removeItem('theme'); localStorage.removeItem('mode');")
