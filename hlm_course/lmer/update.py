"""``update()``: refit a model with a changed formula, data, REML setting or control (R's ``update`` and
``update.formula``, which lme4's ``update.merMod`` uses).

R's formula update: in the new formula a ``.`` on the left stands for the old response and a ``.`` on the right
for the old right-hand side, so ``. ~ . + x`` adds a term, ``. ~ . - x`` removes one (random-effects terms
included: ``. ~ . - (Days | Subject) + (1 | Subject)``), ``log(.) ~ .`` transforms the response, ``~ . - 1``
drops the intercept; a formula without a ``.`` replaces the old one.  The result is simplified as R's
``terms.formula(simplify = TRUE)`` does: the right-hand side is read with R's terms algebra (``a*b`` is
``a + b + a:b``, ``a/b`` is ``a + a:b``, ``(a + b + c)^2`` every main effect and two-way interaction,
``a %in% b`` the term ``a:b``, ``-`` removes terms, ``- 1`` / ``+ 0`` the intercept), each term is labelled
with its variables in their order of first appearance (``b:a + a`` prints ``a + b:a``; ``a:b`` and ``b:a`` are
one term), and the terms are printed by degree, in the order they were generated within a degree, the
offsets last and a removed intercept as ``- 1``.  A random-effects term ``(x | g)`` is one variable, as in R.
"""

from __future__ import annotations

import os
import re
import sys
import warnings

from .errors import MixedModelError

__all__ = ["update", "update_formula", "register_fitter", "term_labels"]

#: The fitting functions ``update`` calls: ``lmer`` and ``glmer`` register themselves here when their modules
#: load (fit.py, glmm.py), so that this module does not import them (their fits' ``update`` methods call it).
_FITTERS: dict = {}


def register_fitter(name: str, fn) -> None:
    """Make ``fn`` the fitting function ``update`` uses for ``name`` ("lmer" or "glmer")."""
    _FITTERS[name] = fn

_DOT = re.compile(r"(?<![\w.`'\"])\.(?![\w.`'\"])")


def _split_tilde(formula: str) -> tuple[str | None, str]:
    depth = 0
    for i, ch in enumerate(formula):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == "~" and depth == 0:
            lhs = formula[:i].strip()
            return (lhs or None), formula[i + 1:].strip()
    raise MixedModelError(f"a formula needs '~': {formula!r}")


def _matching(s: str, i: int) -> int:
    depth = 0
    for j in range(i, len(s)):
        if s[j] == "(":
            depth += 1
        elif s[j] == ")":
            depth -= 1
            if depth == 0:
                return j
    return -1


def _has_bar(s: str) -> bool:
    depth = 0
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            return True
    return False


def _key(term: str) -> str:
    return re.sub(r"\s+", "", term)


def _deparse(term: str) -> str:
    """R's spacing: spaces around ``+``, ``|``, ``||``, ``*``, ``~`` and a binary ``-``; after a comma."""
    s = _key(term)
    out = []
    i = 0
    while i < len(s):
        ch = s[i]
        if ch == "|":
            op = "||" if s[i:i + 2] == "||" else "|"
            out.append(f" {op} ")
            i += len(op)
            continue
        if ch in "+*~":
            out.append(f" {ch} ")
        elif ch == "-":
            prev = "".join(out).rstrip()
            binary = bool(prev) and (prev[-1].isalnum() or prev[-1] in ")._`'\"") \
                and not re.search(r"\d[eE]$", prev)
            out.append(" - " if binary else "-")
        elif ch == ",":
            out.append(", ")
        else:
            out.append(ch)
        i += 1
    return re.sub(r" {2,}", " ", "".join(out)).strip()


# ---------------------------------------------------------------------------------------------------------------
# R's terms algebra (terms.formula, simplify = TRUE): what update.formula prints
# ---------------------------------------------------------------------------------------------------------------
_NAME = re.compile(r"`[^`]*`|[A-Za-z.][A-Za-z0-9._]*|\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?")


class _Terms:
    """The state of one right-hand side as R's ``terms.formula`` builds it: the variables in order of first
    appearance (a term's label lists its variables in this order), the intercept, the offsets."""

    def __init__(self):
        self.variables: list[str] = []  # keys (whitespace removed) of the atoms: names, calls, bar terms
        self.display: dict[str, str] = {}
        self.intercept = True
        self.offsets: list[str] = []
        self.removed: list[frozenset] = []  # terms subtracted that were not there (update warns, R is silent)

    def atom(self, text: str) -> int:
        k = _key(text)
        if k not in self.display:
            self.variables.append(k)
            self.display[k] = _deparse(text)
        return self.variables.index(k)


def _union(X, Y):
    """Terms of X, then those of Y not already there (R's ``+``)."""
    out = list(X)
    for t in Y:
        if t not in out:
            out.append(t)
    return out


def _colon(X, Y):
    """R's ``:``: every union of a term of X with a term of Y, in that order."""
    return _union([], [s | t for s in X for t in Y])


class _Parser:
    """A recursive-descent reader of a formula's right-hand side with R's precedences (``^`` above unary minus
    above ``:`` above ``%in%`` above ``*`` and ``/`` above ``+`` and ``-``), evaluated to R's terms as it reads:
    each term is a frozenset of the variables' positions."""

    def __init__(self, text: str, state: _Terms):
        self.s, self.i, self.st = text, 0, state

    def error(self, what: str):
        raise MixedModelError(f"invalid model formula {self.s!r}: {what}")

    def peek(self) -> str:
        while self.i < len(self.s) and self.s[self.i].isspace():
            self.i += 1
        return self.s[self.i] if self.i < len(self.s) else ""

    def parse(self, negative=False):
        out = self.sum(negative)
        if self.peek():
            self.error(f"unexpected {self.s[self.i:]!r}")
        return out

    def sum(self, negative):
        if self.peek() == "-":  # a leading minus: "-1 + x"
            self.i += 1
            terms = self._remove([], self.product(not negative))
        else:
            terms = self.product(negative)
        while self.peek() in ("+", "-"):
            op = self.s[self.i]
            self.i += 1
            right = self.product(negative if op == "+" else not negative)
            terms = _union(terms, right) if op == "+" else self._remove(terms, right)
        return terms

    def _remove(self, terms, gone):
        self.st.removed.extend(t for t in gone if t not in terms)
        return [t for t in terms if t not in gone]

    def product(self, negative):
        terms = self.nest(negative)
        while self.peek() in ("*", "/"):
            op = self.s[self.i]
            self.i += 1
            right = self.nest(negative)
            if op == "*":
                terms = _union(_union(terms, right), _colon(terms, right))
            else:  # a/b: a + (every variable of a):b
                whole = frozenset().union(*terms) if terms else frozenset()
                terms = _union(terms, [whole | t for t in right])
        return terms

    def nest(self, negative):
        terms = self.interaction(negative)
        while self.peek() == "%":
            if not self.s.startswith("%in%", self.i):
                self.error(f"unknown operator at {self.s[self.i:]!r} (a formula knows %in%)")
            self.i += 4
            right = self.interaction(negative)
            whole = frozenset().union(*right) if right else frozenset()
            terms = _union([], [t | whole for t in terms])
        return terms

    def interaction(self, negative):
        terms = self.power(negative)
        while self.peek() == ":":
            self.i += 1
            terms = _colon(terms, self.power(negative))
        return terms

    def power(self, negative):
        if self.peek() == "-":
            self.i += 1
            return self.power(not negative)  # R: a unary minus inside a product removes nothing sensible
        terms = self.primary(negative)
        if self.peek() == "^":
            self.i += 1
            m = _NAME.match(self.s, self.i) if self.peek() else None
            try:
                n = int(float(m.group(0))) if m else 0
            except ValueError:
                n = 0
            if m:
                self.i = m.end()
            if n < 2:  # R's PowerTerms
                raise MixedModelError(f"invalid power in formula (R's message): {self.s!r} — the power of a sum "
                                      "of terms must be a whole number of at least 2, e.g. (a + b + c)^2")
            out = list(terms)
            for _ in range(n - 1):
                out = _union(out, _colon(out, terms))
            terms = out
        return terms

    def primary(self, negative):
        ch = self.peek()
        if ch == "(":
            j = _matching(self.s, self.i)
            if j < 0:
                raise MixedModelError(f"unbalanced parentheses in {self.s!r}")
            inner = self.s[self.i + 1:j]
            self.i = j + 1
            if _has_bar(inner):  # a random-effects term is one variable, written with its parentheses
                return [frozenset([self.st.atom(f"({inner})")])]
            return _Parser(inner, self.st).parse(negative)
        m = _NAME.match(self.s, self.i)
        if not m:
            self.error(f"unexpected {self.s[self.i:]!r}" if ch else "a term is missing")
        self.i = m.end()
        name = m.group(0)
        if self.peek() == "(" and not name[0].isdigit():  # a call: one variable, offset() apart
            j = _matching(self.s, self.i)
            if j < 0:
                raise MixedModelError(f"unbalanced parentheses in {self.s!r}")
            call = name + self.s[self.i:j + 1]
            self.i = j + 1
            if name == "offset":
                if _key(call) not in map(_key, self.st.offsets):
                    self.st.offsets.append(_deparse(call))
                return []
            return [frozenset([self.st.atom(call)])]
        if name[0].isdigit() or name[0] == "." and name[1:2].isdigit():
            if float(name) not in (0.0, 1.0):
                self.error(f"the number {name} is not a term (only 1 and 0, the intercept)")
            # +1 keeps the intercept, +0 or -1 removes it (negative: the sign in front of it)
            self.st.intercept = (float(name) == 1.0) != negative
            return []
        return [frozenset([self.st.atom(name)])]


def _rhs_terms(rhs: str) -> tuple[_Terms, list]:
    state = _Terms()
    terms = _Parser(rhs, state).parse()
    return state, terms


def term_labels(rhs: str) -> list[tuple[str, tuple[str, ...]]]:
    """R's ``attr(terms(~ rhs), "term.labels")`` in R's order (by degree, then as generated), each with its
    variables as written (a call such as ``I(x^2)`` or ``poly(x, 2)`` is one variable); the intercept and
    offsets are not terms."""
    state, terms = _rhs_terms(rhs)
    return [(_label(t, state), tuple(state.display[state.variables[i]] for i in sorted(t)))
            for t in sorted(terms, key=len)]


def update_formula(old: str, new: str) -> str:
    """R's ``update.formula(old, new)``: ``.`` in ``new`` stands for the old response (left) and the old
    right-hand side (right); the result is simplified (removed terms dropped, order kept)."""
    if not isinstance(old, str) or not isinstance(new, str):
        raise MixedModelError("update: formulas must be strings, e.g. '. ~ . + x'")
    old_lhs, old_rhs = _split_tilde(old)
    new_lhs, new_rhs = _split_tilde(new)
    if new_lhs is None:
        lhs = old_lhs
    else:
        if old_lhs is None and _DOT.search(new_lhs):
            raise MixedModelError(f"update: the old formula {old!r} has no response for '.' in {new!r}")
        lhs = _DOT.sub(lambda m: old_lhs, new_lhs) if old_lhs is not None else new_lhs
    rhs = _DOT.sub(lambda m: f"({old_rhs})", new_rhs)
    state, terms = _rhs_terms(rhs)
    if state.removed:
        warnings.warn(f"update: {', '.join(repr(_label(t, state)) for t in state.removed)} not in the formula "
                      f"{old!r}: nothing removed (R ignores it too)", stacklevel=3)
    terms = sorted(terms, key=len)  # stable: R's terms order (by degree, then as generated)
    body = " + ".join([_label(t, state) for t in terms] + state.offsets)
    if not state.intercept:
        body = f"{body} - 1" if body else "-1"
    elif not body:
        body = "1"
    return f"{_deparse(lhs)} ~ {body}" if lhs is not None else f"~{body}"


def _label(term: frozenset, state: "_Terms") -> str:
    """R's term label: the term's variables in their order of first appearance, joined by ':'."""
    return ":".join(state.display[state.variables[i]] for i in sorted(term))


def _refit(fitter, *args, **kwargs):
    """The fitter's result, its warnings pointing at the caller of ``update`` (not at this module)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fitter(*args, **kwargs)
    level, frame = 1, sys._getframe(1)
    here = os.path.dirname(__file__)
    while frame is not None and os.path.dirname(frame.f_code.co_filename) == here:  # update, the fit's method
        level, frame = level + 1, frame.f_back
    for w in caught:
        warnings.warn(w.message, w.category, stacklevel=level + 1)
    return out


def update(fit, formula: str | None = None, data=None, reml: bool | None = None, control=None, **kwargs):
    """lme4's ``update(fit, formula, ...)``: the same model refitted with what is changed.

    ``formula`` may use R's dots (``". ~ . + I(Days^2)"``, ``". ~ . - (Days | Subject) + (1 | Subject)"``,
    ``"log(.) ~ ."``) or be a whole new formula; ``data`` a new DataFrame (default: the data the fit was made
    from, all its rows — rows dropped for missing values are reconsidered, as R re-evaluates the call);
    ``reml`` REML (True) or ML (False); ``control`` a new control.  For a glmer fit, ``family`` and ``nagq`` may
    change too.  Returns a new fit; the old one is unchanged.
    """
    is_glmm = hasattr(fit, "family") and hasattr(fit, "nagq")
    if not (is_glmm or hasattr(fit, "xp") or hasattr(fit, "bp")) or not isinstance(getattr(fit, "formula", None), str):
        raise MixedModelError(f"update needs a fit from hc.lmer or hc.glmer, got {type(fit).__name__}")
    new_formula = fit.formula if formula is None else update_formula(fit.formula, formula)
    source = getattr(fit, "_source_data", None)
    if data is None:
        data = source if source is not None else fit.data
        if source is None and getattr(fit, "n_dropped", 0):
            warnings.warn(f"update: the fit's {fit.n_dropped} row(s) with missing values are not available to "
                          "it (the fit came from a refit); it uses the rows the fit kept — pass data= to "
                          "start from all rows", stacklevel=2)
    if is_glmm:
        if reml is not None:
            raise MixedModelError("update: reml= applies to linear mixed models (lmer), not to glmer fits")
        if fit.weights is not None or fit._offset_arg is not None:
            raise MixedModelError("update: this glmer fit was given weights= or offset= arguments; call "
                                  "hc.glmer again with them")
        unknown = set(kwargs) - {"family", "nagq", "nAGQ"}
        if unknown:
            raise MixedModelError(f"update: unknown argument(s) {sorted(unknown)}")
        nagq = kwargs.get("nagq", kwargs.get("nAGQ", fit.nagq))
        return _refit(_FITTERS["glmer"], new_formula, data, family=kwargs.get("family", fit.family), nagq=nagq,
                     control=control if control is not None else fit.control)
    if kwargs:
        raise MixedModelError(f"update: unknown argument(s) {sorted(kwargs)} (lmer takes formula, data, reml, "
                              "control)")
    reml = fit.reml if reml is None else reml
    control = fit.control if control is None else control
    return _refit(_FITTERS["lmer"], new_formula, data, reml=reml, control=control)
