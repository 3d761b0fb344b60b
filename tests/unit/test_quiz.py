"""The checks for understanding (hlm_course.quiz): question banks, feedback, HTML that hides the answer."""

from __future__ import annotations

import html.parser
import re
from pathlib import Path

import pytest

import hlm_course as hc
from hlm_course import quiz
from hlm_course.quiz import Choice, Question

ROOT = Path(__file__).resolve().parents[2]
CHAPTERS = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.md"))
ALL = [q for n in quiz.chapters() for q in quiz.questions(n)]


def _contrast(hex_colour: str, other: str = "#ffffff") -> float:
    def lum(h):
        rgb = [int(h[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    a, b = sorted([lum(hex_colour), lum(other)], reverse=True)
    return (a + 0.05) / (b + 0.05)


# --------------------------------------------------------------------------------------- the banks
def test_every_chapter_1_to_15_has_two_to_four_questions_numbered_in_order():
    assert set(range(1, 16)) <= set(quiz.chapters())
    for n in quiz.chapters():
        keys = [q.key for q in quiz.questions(n)]
        assert 2 <= len(keys) <= 4, f"chapter {n}: {len(keys)} questions"
        assert keys == [f"{n}.{i}" for i in range(1, len(keys) + 1)], keys


@pytest.mark.parametrize("q", ALL, ids=lambda q: q.key)
def test_one_right_choice_and_feedback_for_every_choice(q):
    assert sum(c.right for c in q.choices) == 1
    assert 2 <= len(q.choices) <= 4
    texts = [c.text for c in q.choices]
    assert len(set(texts)) == len(texts), f"{q.key}: two choices read the same"
    right = next(c for c in q.choices if c.right)
    for c in q.choices:
        assert len(c.feedback.split()) >= 5, f"{q.key}: feedback too short to explain: {c.feedback!r}"
        if not c.right:
            # a wrong choice's feedback explains why it is wrong; it never calls itself right, and never
            # gives away the right choice by quoting it
            assert not c.feedback.lower().startswith("right"), f"{q.key}: {c.feedback!r}"
            assert right.text not in c.feedback, f"{q.key}: a wrong choice's feedback quotes the answer"


@pytest.mark.parametrize("q", ALL, ids=lambda q: q.key)
def test_plain_text_without_latex(q):
    """No LaTeX: MathJax does not reach a cell's HTML output in every notebook front end."""
    for s in [q.prompt] + [c.text for c in q.choices] + [c.feedback for c in q.choices]:
        assert "$" not in s and "\\" not in s, f"{q.key}: LaTeX in {s!r}"


def test_right_answers_are_not_always_in_the_same_place():
    positions = {[c.right for c in q.choices].index(True) for q in ALL}
    assert len(positions) >= 3


def test_every_chapter_with_a_bank_shows_it_and_only_its_own():
    shown = {}
    for md in CHAPTERS:
        calls = re.findall(r"hc\.quiz\.show\((\d+)\)", md.read_text())
        if calls:
            shown[int(md.name[:2])] = [int(c) for c in calls]
    for n in quiz.chapters():
        assert shown.get(n) == [n], f"chapter {n}: its questions are shown as {shown.get(n)}"
    for md in CHAPTERS:
        if int(md.name[:2]) in shown:
            text = md.read_text()
            cell = text[text.index(f"hc.quiz.show({int(md.name[:2])})") - 80:]
            assert ":tags: [remove-input]" in cell[:80], f"{md.name}: the quiz cell shows its code on the website"


# --------------------------------------------------------------------------------------- answering
def test_answer_gives_the_feedback_of_the_choice():
    q = quiz.questions(4)[2]
    letters = "abcd"
    right = letters[[c.right for c in q.choices].index(True)]
    wrong = next(x for x in letters[:len(q.choices)] if x != right)
    r = quiz.answer(q.key, right)
    assert r and r.ok and "\u2714 right" in repr(r)
    w = quiz.answer(q.key, f"({wrong.upper()})")
    assert not w and "\u2718 not quite" in repr(w)
    assert w.feedback == q.choices[letters.index(wrong)].feedback
    assert "Not quite" in w._repr_html_() and quiz.NOT_OK_COLOUR in w._repr_html_()
    assert hc.quiz is quiz


def test_bad_questions_and_letters_get_clear_errors():
    with pytest.raises(ValueError, match="has choices a, b, c"):
        quiz.answer("8.1", "z")
    with pytest.raises(ValueError, match="there is no question 8.9; chapter 8 has 8.1"):
        quiz.answer("8.9", "a")
    with pytest.raises(ValueError, match="'chapter.number'"):
        quiz.answer("eight", "a")
    with pytest.raises(ValueError, match="chapter 99 has no questions"):
        quiz.show(99)
    with pytest.raises(ValueError, match="give a chapter number"):
        quiz.questions("chapter eight")


def test_a_question_needs_exactly_one_right_choice_and_all_feedback():
    a, b = Choice("yes", "because of this and that", right=True), Choice("no", "because of the other thing")
    Question("1.9", "ok?", (a, b))
    with pytest.raises(ValueError, match="2 right choices"):
        Question("1.9", "ok?", (a, a))
    with pytest.raises(ValueError, match="0 right choices"):
        Question("1.9", "ok?", (b, b))
    with pytest.raises(ValueError, match="choice \\(b\\): give a text and its feedback"):
        Question("1.9", "ok?", (a, Choice("no", " ")))
    with pytest.raises(ValueError, match="not of the form"):
        Question("ch1", "ok?", (a, b))


# --------------------------------------------------------------------------------------- the HTML
class _Parse(html.parser.HTMLParser):
    """Text outside any <details>, text of the <summary>s, and text inside <details> after its summary."""

    def __init__(self):
        super().__init__()
        self.stack, self.outside, self.summaries, self.hidden = [], [], [], []

    def handle_starttag(self, tag, attrs):
        self.stack.append(tag)

    def handle_endtag(self, tag):
        while self.stack and self.stack.pop() != tag:
            pass

    def handle_data(self, data):
        if "summary" in self.stack:
            self.summaries.append(data)
        elif "details" in self.stack:
            self.hidden.append(data)
        else:
            self.outside.append(data)


@pytest.mark.parametrize("n", quiz.chapters())
def test_html_shows_no_verdict_and_no_feedback_until_a_choice_is_opened(n):
    page = quiz.show(n)._repr_html_()
    p = _Parse()
    p.feed(page)
    visible = " ".join(p.outside + p.summaries)
    assert "\u2714" not in visible and "\u2718" not in visible and "Right" not in visible
    for q in quiz.questions(n):
        for c in q.choices:
            assert c.feedback not in visible
    assert page.count("<details") == sum(len(q.choices) for q in quiz.questions(n))
    assert page.count("\u2714 Right") == len(quiz.questions(n))  # one right verdict per question, hidden
    # choices of one question share a name (an exclusive accordion where browsers support it)
    for q in quiz.questions(n):
        assert page.count(f'name="hlm-quiz-{q.key.replace(".", "-")}"') == len(q.choices)


def test_the_terminal_hint_is_for_notebooks_only():
    """The website hides div.notebook-only (the book's stylesheet); a notebook shows the hint."""
    page = quiz.show(8)._repr_html_()
    hint = page.index("hc.quiz.answer(")
    assert page.rfind('<div class="notebook-only">', 0, hint) > page.rfind("</details>", 0, hint)
    css = (Path(__file__).resolve().parents[2] / "_static" / "hlm-course.css").read_text(encoding="utf-8")
    assert re.search(r"div\.notebook-only\s*\{\s*display:\s*none", css)


def test_plain_text_lists_the_choices_but_not_the_feedback():
    text = repr(quiz.show(8))
    for q in quiz.questions(8):
        assert f"Question {q.key}." in text
        for c in q.choices:
            assert c.text in text and c.feedback not in text
    assert "hc.quiz.answer(" in text
    assert repr(quiz.show("8.2")).count("Question ") == 1


def test_badges_read_in_light_and_dark_mode():
    """White text on the badges' own background, at least WCAG AA (4.5:1) — the labs' colours."""
    assert quiz.OK_COLOUR == hc.labs.OK_COLOUR and quiz.NOT_OK_COLOUR == hc.labs.NOT_OK_COLOUR
    for colour in (quiz.OK_COLOUR, quiz.NOT_OK_COLOUR):
        assert _contrast(colour) >= 6.0
    page = quiz.show(1)._repr_html_()
    # no text colour is forced anywhere else, so the page's own (light or dark) text colour applies
    assert len(re.findall(r"(?<!background:)(?<![-\w])color:", page)) == page.count("hlm-quiz-badge")


def test_text_is_escaped():
    q = Question("1.9", "is 1 < 2 & 3 > 2?", (Choice("<b>yes</b>", "it is, both are true", right=True),
                                                 Choice("no", "both comparisons hold, so no")))
    page = quiz.Quiz((q,))._repr_html_()
    assert "is 1 &lt; 2 &amp; 3 &gt; 2?" in page and "&lt;b&gt;yes&lt;/b&gt;" in page
