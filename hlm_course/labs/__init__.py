"""Self-checks for the labs: is my answer right? — without printing the answer.

Each lab exercise registers a *check*: a function that computes the right answer
from the course data with the course's own tools, and a comparison (a tolerance
for numbers, equality for labels).  A student calls::

    import hlm_course as hc
    hc.labs.check("lab1-gap", my_gap)      # or: from hlm_course import labs

and sees ``✔ lab1-gap: right`` or ``✘ lab1-gap: not yet`` with a hint.  The
expected value is never printed, returned or put in a message, and a wrong try
says nothing about the answer's size (no item counts, no formulas): an answer
that is the right value rounded to a few digits gets "right, but rounded", an
answer of the wrong type (a dict, ``"True"``, a Series with a missing value) a
✘ that names the problem.  Formula answers are compared without spaces.

Registering checks (how a lab's module, ``lab1``, ``lab2``, ``planning``, …, does it)::

    from . import register

    @register("lab9-key", rtol=1e-4, hint="how to get there, without the answer")
    def _key():
        return ...  # the right answer, computed from the data

The decorated function goes into the answer key and its module name is left
holding a stub (calling it raises), so ``labN._key()`` does not hand out the
answer.  Every module ``hlm_course/labs/*.py`` is imported on the first check,
so a new lab's checks need no other registration.  ``labs.keys()`` lists them.
"""

from __future__ import annotations

import functools
import importlib
import math
import pkgutil
from dataclasses import dataclass
from numbers import Number
from typing import Any, Callable

import numpy as np
import pandas as pd

__all__ = ["check", "register", "keys", "CheckResult"]

@dataclass(frozen=True)
class _Check:
    key: str
    _compute: Callable[[], Any]  # the answer key: not for students (check() compares, never returns it)
    rtol: float
    atol: float
    hint: str
    kind: str  # "number", "array", "set", "bool", "text"


_REGISTRY: dict[str, _Check] = {}


class _WrongAnswer(Exception):
    """An answer that cannot be compared (wrong type, missing values): becomes a ✘ that names the problem."""


@dataclass(frozen=True)
class CheckResult:
    """Outcome of :func:`check`; truthy when the answer is right."""

    key: str
    ok: bool
    message: str

    def __bool__(self) -> bool:
        return self.ok

    def __repr__(self) -> str:
        mark = "\u2714" if self.ok else "\u2718"
        return f"{mark} {self.key}: {self.message}"

    def _repr_html_(self) -> str:
        # white on a dark Okabe-Ito green / vermilion badge: 6.1:1 and 6.4:1 (WCAG AA) on any page colour,
        # light or dark, because the badge carries its own background
        colour = OK_COLOUR if self.ok else NOT_OK_COLOUR
        text = repr(self).replace("&", "&amp;").replace("<", "&lt;")
        return (f'<p><span style="background:{colour};color:#ffffff;font-weight:600;padding:0.15em 0.5em;'
                f'border-radius:0.25em">{text}</span></p>')


#: Background of the ✔ badge (a darker Okabe-Ito bluish green; white text on it: 6.1:1).
OK_COLOUR = "#00704F"
#: Background of the ✘ badge (a darker Okabe-Ito vermilion; white text on it: 6.4:1).
NOT_OK_COLOUR = "#A63D00"


def register(key: str, *, kind: str = "number", rtol: float = 1e-3, atol: float = 1e-6,
             hint: str = "") -> Callable[[Callable[[], Any]], Callable[[], Any]]:
    """Decorator: register ``func`` (no arguments, returns the right answer) under ``key``.

    ``kind`` says how an answer is compared: ``"number"`` (``rtol``/``atol``),
    ``"array"`` (same shape, elementwise ``rtol``/``atol``; pandas objects are
    compared by position), ``"set"`` (same elements, any order), ``"bool"``,
    ``"text"`` (case- and space-insensitive).
    """
    if kind not in {"number", "array", "set", "bool", "text"}:
        raise ValueError(f"unknown kind {kind!r} for check {key!r}")

    def deco(func: Callable[[], Any]) -> Callable[[], Any]:
        if key in _REGISTRY:
            raise ValueError(f"check {key!r} is registered twice")
        cached = functools.lru_cache(maxsize=1)(func)
        _REGISTRY[key] = _Check(key, cached, rtol, atol, hint, kind)

        def answer_key(*args, **kwargs):
            raise RuntimeError(f"this is the answer key of {key!r}; check your own answer with "
                               f"hc.labs.check({key!r}, answer)")

        answer_key.__name__ = answer_key.__qualname__ = func.__name__
        return answer_key

    return deco


def wald_ratio(fit, name: str, step: float = 1.0, level: float = 0.95) -> list[float]:
    """``[exp(step·b), lower, upper]``: the odds or rate ratio of a GLMM coefficient ``name`` for a change of
    ``step`` in its predictor, with its Wald interval ``exp(step·(b ∓ z·SE))`` (z the normal quantile of
    ``level``) — the answer of the chapters' exercises on odds and rate ratios."""
    from scipy import stats

    b, se = float(fit.fixef[name]), float(fit.se[name])
    z = stats.norm.ppf(0.5 + level / 2)
    return [math.exp(step * b), math.exp(step * (b - z * se)), math.exp(step * (b + z * se))]


def keys() -> list[str]:
    """The keys of all registered checks, sorted."""
    _load()
    return sorted(_REGISTRY)


def _load() -> None:
    """Import every lab module of this package (each registers its checks when imported)."""
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")


def _type_name(answer: Any) -> str:
    return "the string " + repr(answer)[:20] if isinstance(answer, str) else f"a {type(answer).__name__}"


def _as_number(answer: Any, key: str) -> float:
    if isinstance(answer, (pd.Series, pd.DataFrame, np.ndarray)) and np.size(answer) == 1:
        answer = np.asarray(answer).ravel()[0]
    if isinstance(answer, (bool, np.bool_)) or not isinstance(answer, (Number, np.number)):
        raise _WrongAnswer(f"give a single number, not {_type_name(answer)}")
    return float(answer)


def _as_array(answer: Any) -> np.ndarray:
    if isinstance(answer, (str, bytes, dict, set)) or answer is None:
        raise _WrongAnswer(f"give the numbers as a list, array or Series, not {_type_name(answer)}")
    try:
        a = np.asarray(answer, dtype=float)
    except (TypeError, ValueError):
        raise _WrongAnswer(f"give numbers only (a list, array or Series of numbers), not {_type_name(answer)}") \
            from None
    if not np.all(np.isfinite(a)):
        raise _WrongAnswer("your answer has a missing or infinite value (NaN): compute every entry")
    return a


def _decimals(x: float) -> int | None:
    """Digits after the decimal point of ``x`` as typed (``7.27`` → 2), if it looks typed: at most 6 of them,
    and at least 2 significant digits in all (``0`` or ``3`` is a guess, not a copied printed value)."""
    text = repr(abs(float(x)))
    if "e" in text or "inf" in text or "nan" in text:
        return None
    whole, decimals = text.split(".")
    decimals = decimals.rstrip("0")
    if len(decimals) > 6 or len((whole + decimals).lstrip("0")) < 2:
        return None
    return len(decimals)


def _rounded(answer: np.ndarray, expected: np.ndarray) -> bool:
    """Whether ``answer`` is ``expected`` rounded to the digits the answer has (a copied, printed value)."""
    for a, e in zip(answer.ravel(), expected.ravel()):
        d = _decimals(a)
        if d is None or not math.isclose(a, round(float(e), d), rel_tol=1e-12, abs_tol=1e-12):
            return False
    return True


def _numbers(ok: bool, answer: np.ndarray, expected: np.ndarray) -> tuple[bool, str]:
    if ok:
        return True, "right"
    if _rounded(answer, expected):
        return False, ("right, but rounded: that is the answer to the digits you typed; give the value your "
                       "code computes, not a rounded or copied one")
    return False, "not yet"


def _compare(spec: _Check, answer: Any, expected: Any) -> tuple[bool, str]:
    if spec.kind == "number":
        a = _as_number(answer, spec.key)
        if not math.isfinite(a):
            return False, "your answer is not a finite number"
        ok = math.isclose(a, float(expected), rel_tol=spec.rtol, abs_tol=spec.atol)
        return _numbers(ok, np.array([a]), np.array([float(expected)]))
    if spec.kind == "array":
        a = _as_array(answer)
        e = np.asarray(expected, dtype=float)
        if a.size == e.size:  # a 1x2 DataFrame row answers a 2-vector question
            a, e = a.ravel(), e.ravel()
        if a.shape != e.shape:
            return False, "not yet: not the numbers the exercise asks for (check how many, and their layout)"
        ok = bool(np.allclose(a, e, rtol=spec.rtol, atol=spec.atol))
        return _numbers(ok, a, e)
    if spec.kind == "set":
        if isinstance(answer, (Number, np.number)) and not isinstance(answer, (bool, np.bool_)):
            answer = [answer]  # one school id answers a one-school question
        if isinstance(answer, (str, bytes, dict)) or not hasattr(answer, "__iter__"):
            raise _WrongAnswer(f"give a collection (list, set, Index) of ids, not {_type_name(answer)}")
        a = {_plain(x) for x in answer}
        e = {_plain(x) for x in expected}
        return (True, "right") if a == e else (False, "not yet")
    if spec.kind == "bool":
        if not isinstance(answer, (bool, np.bool_)):
            raise _WrongAnswer(f"give True or False, not {_type_name(answer)}")
        ok = bool(answer) == bool(expected)
        return ok, "right" if ok else "not yet"
    if not isinstance(answer, str):
        raise _WrongAnswer(f"give your answer as a string, not {_type_name(answer)}")
    ok = "".join(answer.lower().split()) == "".join(str(expected).lower().split())
    return ok, "right" if ok else "not yet"


def _plain(x: Any) -> Any:
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and x.is_integer():
        return int(x)
    return x


def check(key: str, answer: Any) -> CheckResult:
    """Check ``answer`` to the lab exercise ``key``; never reveals the right answer.

    Returns a :class:`CheckResult` that is truthy when the answer is right and
    displays as ``✔ key: right`` or ``✘ key: not yet`` (plus a hint); an answer of the wrong
    kind gets a ✘ that says what kind is wanted.  An unknown ``key`` raises ``KeyError``.
    """
    _load()
    if key not in _REGISTRY:
        raise KeyError(f"no lab check called {key!r}; the checks are: {', '.join(sorted(_REGISTRY))}")
    spec = _REGISTRY[key]
    if answer is None or answer is Ellipsis:
        return CheckResult(key, False, "no answer yet: replace the None with your answer")
    try:
        ok, message = _compare(spec, answer, spec._compute())
    except _WrongAnswer as err:
        return CheckResult(key, False, f"wrong kind of answer: {err}")
    if not ok and spec.hint:
        message = f"{message}. Hint: {spec.hint}"
    return CheckResult(key, ok, message)
