"""Self-checks for the labs: is my answer right? — without printing the answer.

Each lab exercise registers a *check*: a function that computes the right answer
from the course data with the course's own tools, and a comparison (a tolerance
for numbers, equality for labels).  A student calls::

    from hlm_course import labs
    labs.check("lab1-gap", my_gap)

and sees ``✔ lab1-gap: right`` or ``✘ lab1-gap: not yet`` with a hint.  The
expected value is never printed, returned or put in an error message.

The checks of each lab live in their own module (``lab1``, ``lab2``; ``planning`` for chapter 16) and are
registered with :func:`register`.  ``labs.keys()`` lists them.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from numbers import Number
from typing import Any, Callable

import numpy as np
import pandas as pd

__all__ = ["check", "register", "keys", "CheckResult"]


@dataclass(frozen=True)
class _Check:
    key: str
    expected: Callable[[], Any]
    rtol: float
    atol: float
    hint: str
    kind: str  # "number", "array", "set", "bool", "text"


_REGISTRY: dict[str, _Check] = {}


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
        colour = "#009E73" if self.ok else "#D55E00"  # Okabe-Ito green / vermilion
        text = repr(self).replace("&", "&amp;").replace("<", "&lt;")
        return f'<p style="color:{colour};font-weight:600">{text}</p>'


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
        return cached

    return deco


def keys() -> list[str]:
    """The keys of all registered checks, sorted."""
    _load()
    return sorted(_REGISTRY)


def _load() -> None:
    from . import lab1, lab2, planning  # noqa: F401  (registers the checks)


def _as_number(answer: Any, key: str) -> float:
    if isinstance(answer, (pd.Series, pd.DataFrame, np.ndarray)) and np.size(answer) == 1:
        answer = np.asarray(answer).ravel()[0]
    if isinstance(answer, (bool, np.bool_)) or not isinstance(answer, (Number, np.number)):
        raise TypeError(f"{key}: expected a single number, got {type(answer).__name__}")
    return float(answer)


def _compare(spec: _Check, answer: Any, expected: Any) -> tuple[bool, str]:
    if spec.kind == "number":
        a = _as_number(answer, spec.key)
        if not math.isfinite(a):
            return False, "your answer is not a finite number"
        ok = math.isclose(a, float(expected), rel_tol=spec.rtol, abs_tol=spec.atol)
        return ok, "right" if ok else "not yet"
    if spec.kind == "array":
        a = np.asarray(answer, dtype=float)
        e = np.asarray(expected, dtype=float)
        if a.size == e.size:  # a 1x2 DataFrame row answers a 2-vector question
            a, e = a.ravel(), e.ravel()
        if a.shape != e.shape:
            return False, f"not yet: your answer has shape {a.shape}, the right one {e.shape}"
        ok = bool(np.allclose(a, e, rtol=spec.rtol, atol=spec.atol))
        return ok, "right" if ok else "not yet"
    if spec.kind == "set":
        if isinstance(answer, (Number, np.number)) and not isinstance(answer, (bool, np.bool_)):
            answer = [answer]  # one school id answers a one-school question
        if isinstance(answer, (str, bytes)) or not hasattr(answer, "__iter__"):
            raise TypeError(f"{spec.key}: expected a collection (list, set, Index), "
                            f"got {type(answer).__name__}")
        a = {_plain(x) for x in answer}
        e = {_plain(x) for x in expected}
        if a == e:
            return True, "right"
        if len(a) != len(e):
            return False, f"not yet: you gave {len(a)} item(s), the right answer has {len(e)}"
        return False, "not yet: same number of items, but not the same ones"
    if spec.kind == "bool":
        if not isinstance(answer, (bool, np.bool_)):
            raise TypeError(f"{spec.key}: expected True or False, got {type(answer).__name__}")
        ok = bool(answer) == bool(expected)
        return ok, "right" if ok else "not yet"
    ok = " ".join(str(answer).lower().split()) == " ".join(str(expected).lower().split())
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
    displays as ``✔ key: right`` or ``✘ key: not yet`` (plus a hint).
    """
    _load()
    if key not in _REGISTRY:
        raise KeyError(f"no lab check called {key!r}; the checks are: {', '.join(sorted(_REGISTRY))}")
    spec = _REGISTRY[key]
    if answer is None or answer is Ellipsis:
        return CheckResult(key, False, "no answer yet: replace the None with your answer")
    ok, message = _compare(spec, answer, spec.expected())
    if not ok and spec.hint:
        message = f"{message}. Hint: {spec.hint}"
    return CheckResult(key, ok, message)
