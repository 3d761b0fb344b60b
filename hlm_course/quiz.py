"""Checks for understanding: a few multiple-choice questions per chapter, with feedback on every choice.

A chapter shows its questions with one code cell::

    from hlm_course import quiz
    quiz.show(8)            # all of chapter 8's questions; quiz.show("8.2") shows one

On the website and in a notebook that shows HTML (JupyterLab, Classic, VS Code, Colab) each choice is a
``<details>`` element: opening it shows why that choice is right or wrong. No kernel and no JavaScript are
needed, so the questions work on the static website and in untrusted notebooks; the keyboard opens a choice
(Tab, then Enter or Space), and the ✔/✘ badges carry their own background (white on dark green / vermilion,
≥ 6:1, the labs' colours) so they read the same in light and dark mode. Choices of one question share a
``name``, so where the browser supports it opening one choice closes the others. The right answer is never
shown before a choice is opened. An untrusted notebook (one handed out or downloaded, with saved outputs) is
shown through JupyterLab's HTML sanitizer, which drops ``role``, ``aria-labelledby`` and ``name`` but keeps
the choices, the feedback and the inline colours; ``tests/book/test_quiz_jupyterlab.py`` checks this in a real
JupyterLab, in its light and dark themes. VS Code and Colab render the same ``<details>`` HTML but are not
tested here.

Where HTML is not shown (a terminal, a plain-text front end) the same object prints the questions as text,
and :func:`answer` gives the feedback of one choice::

    quiz.answer("8.2", "b")

The questions live in ``hlm_course/quizzes/chNN.py``, one module per chapter, as a list ``QUESTIONS`` of
:class:`Question`. Each question has exactly one right choice and feedback for every choice (the tests check
both). Prompts and choices are plain text (Unicode symbols such as τ₀₀ and σ², no LaTeX), because MathJax
does not reach a cell's HTML output on every front end.
"""

from __future__ import annotations

import html
import importlib
import pkgutil
import re
from dataclasses import dataclass

__all__ = ["Choice", "Question", "Quiz", "QuizResult", "questions", "show", "answer", "chapters"]

# the labs' badge colours: white on a darker Okabe-Ito bluish green (6.1:1) and vermilion (6.4:1)
from .labs import NOT_OK_COLOUR, OK_COLOUR  # noqa: E402

LETTERS = "abcdefgh"
_KEY = re.compile(r"^(\d{1,2})\.(\d{1,2})$")


@dataclass(frozen=True)
class Choice:
    """One answer to a question: its text, the feedback a reader gets on choosing it, and whether it is right."""

    text: str
    feedback: str
    right: bool = False


@dataclass(frozen=True)
class Question:
    """A multiple-choice question; ``key`` is ``"chapter.number"``, e.g. ``"8.2"``."""

    key: str
    prompt: str
    choices: tuple[Choice, ...]

    def __post_init__(self):
        if not _KEY.match(self.key):
            raise ValueError(f"quiz question key {self.key!r} is not of the form 'chapter.number', e.g. '8.2'")
        object.__setattr__(self, "choices", tuple(self.choices))
        n_right = sum(c.right for c in self.choices)
        if n_right != 1:
            raise ValueError(f"quiz question {self.key} has {n_right} right choices; it needs exactly one")
        if not 2 <= len(self.choices) <= len(LETTERS):
            raise ValueError(f"quiz question {self.key} has {len(self.choices)} choices; give 2 to {len(LETTERS)}")
        for letter, c in zip(LETTERS, self.choices):
            if not c.text.strip() or not c.feedback.strip():
                raise ValueError(f"quiz question {self.key}, choice ({letter}): give a text and its feedback")

    @property
    def chapter(self) -> int:
        return int(self.key.split(".")[0])

    def choice(self, letter: str) -> Choice:
        """The choice labelled ``letter`` ("a", "b", ...); a clear error for any other label."""
        label = str(letter).strip().strip("()").lower()
        n = len(self.choices)
        if len(label) != 1 or label not in LETTERS[:n]:
            raise ValueError(f"question {self.key} has choices {', '.join(LETTERS[:n])}; "
                             f"{letter!r} is not one of them")
        return self.choices[LETTERS.index(label)]

    # -- rendering -----------------------------------------------------------------------------------------
    def text(self) -> str:
        lines = [f"Question {self.key}. {self.prompt}"]
        lines += [f"  ({letter}) {c.text}" for letter, c in zip(LETTERS, self.choices)]
        return "\n".join(lines)

    def html(self) -> str:
        e = html.escape
        qid = "hlm-quiz-" + self.key.replace(".", "-")
        parts = [f'<div class="hlm-quiz-question" role="group" aria-labelledby="{qid}" '
                 f'style="margin:0 0 1em 0">',
                 f'<p id="{qid}" style="margin:0 0 0.4em 0"><strong>Question {e(self.key)}.</strong> '
                 f'{e(self.prompt)}</p>']
        for letter, c in zip(LETTERS, self.choices):
            colour = OK_COLOUR if c.right else NOT_OK_COLOUR
            verdict = "\u2714 Right" if c.right else "\u2718 Not quite"
            parts.append(
                f'<details class="hlm-quiz-choice" name="{qid}" style="margin:0.25em 0 0.25em 0.5em">'
                f'<summary style="cursor:pointer">({letter}) {e(c.text)}</summary>'
                f'<p class="hlm-quiz-feedback" style="margin:0.3em 0 0.5em 1.4em">'
                f'<span class="hlm-quiz-badge" style="background:{colour};color:#ffffff;font-weight:600;'
                f'padding:0.1em 0.45em;border-radius:0.25em">{verdict}</span> {e(c.feedback)}</p>'
                f'</details>')
        parts.append("</div>")
        return "".join(parts)


@dataclass(frozen=True)
class Quiz:
    """Some questions, shown as HTML where a front end can (``_repr_html_``) and as text everywhere else."""

    questions: tuple[Question, ...]

    def _repr_html_(self) -> str:
        first = self.questions[0].key
        return ('<div class="hlm-quiz" style="border-left:0.25em solid #0072B2;padding:0.3em 0 0.1em 0.9em;'
                'margin:0.5em 0">'
                '<p style="margin:0 0 0.6em 0"><em>Open a choice to see whether it is right, and why.</em></p>'
                + "".join(q.html() for q in self.questions)
                # for notebooks only: the book's stylesheet hides div.notebook-only on the website
                + '<div class="notebook-only"><p style="margin:0;font-size:0.85em"><em>Where HTML is not shown '
                f'(a terminal), answer with <code>hc.quiz.answer("{first}", "x")</code>, x the letter of your '
                'choice.</em></p></div></div>')

    def __repr__(self) -> str:
        first = self.questions[0].key
        return ("Check your understanding\n\n" + "\n\n".join(q.text() for q in self.questions)
                + f'\n\nAnswer with hc.quiz.answer("{first}", "x"), x the letter of your choice, to see the feedback.')


@dataclass(frozen=True)
class QuizResult:
    """The feedback on one choice; truthy when the choice is right."""

    key: str
    letter: str
    ok: bool
    feedback: str

    def __bool__(self) -> bool:
        return self.ok

    def __repr__(self) -> str:
        mark = "\u2714 right" if self.ok else "\u2718 not quite"
        return f"{mark} ({self.key}, choice {self.letter}): {self.feedback}"

    def _repr_html_(self) -> str:
        colour = OK_COLOUR if self.ok else NOT_OK_COLOUR
        verdict = "\u2714 Right" if self.ok else "\u2718 Not quite"
        return (f'<p><span style="background:{colour};color:#ffffff;font-weight:600;padding:0.1em 0.45em;'
                f'border-radius:0.25em">{verdict}</span> ({html.escape(self.key)}, choice {self.letter}) '
                f'{html.escape(self.feedback)}</p>')


def chapters() -> list[int]:
    """The chapters that have a question bank (``hlm_course/quizzes/chNN.py``), sorted."""
    from . import quizzes

    return sorted(int(m.name[2:]) for m in pkgutil.iter_modules(quizzes.__path__)
                  if re.fullmatch(r"ch\d\d", m.name))


def questions(chapter: int | str) -> list[Question]:
    """The questions of ``chapter`` (a number: 8, "8" or "08"), in order."""
    try:
        number = int(str(chapter).strip())
    except ValueError:
        raise ValueError(f"give a chapter number, e.g. quiz.questions(8), not {chapter!r}") from None
    if number not in chapters():
        raise ValueError(f"chapter {number} has no questions; chapters with questions: "
                         f"{', '.join(map(str, chapters()))}")
    module = importlib.import_module(f"hlm_course.quizzes.ch{number:02d}")
    qs = list(module.QUESTIONS)
    for q in qs:
        if q.chapter != number:
            raise ValueError(f"question {q.key} is in the bank of chapter {number}")
    return qs


def _question(key: str) -> Question:
    key = str(key).strip()
    m = _KEY.match(key)
    if not m:
        raise ValueError(f"give a question as 'chapter.number', e.g. '8.2', not {key!r}")
    for q in questions(int(m.group(1))):
        if q.key == key:
            return q
    known = ", ".join(q.key for q in questions(int(m.group(1))))
    raise ValueError(f"there is no question {key}; chapter {m.group(1)} has {known}")


def show(which: int | str) -> Quiz:
    """The questions of a chapter (``show(8)``) or one question (``show("8.2")``), ready to display."""
    if isinstance(which, str) and "." in which:
        return Quiz((_question(which),))
    return Quiz(tuple(questions(which)))


def answer(key: str, letter: str) -> QuizResult:
    """The feedback on choosing ``letter`` for question ``key`` (e.g. ``answer("8.2", "b")``)."""
    q = _question(key)
    c = q.choice(letter)
    return QuizResult(q.key, str(letter).strip().strip("()").lower(), c.right, c.feedback)
