"""``update()``: refit a model with a changed formula, data, REML setting or control (R's ``update`` and
``update.formula``, which lme4's ``update.merMod`` uses).

R's formula update: in the new formula a ``.`` on the left stands for the old response and a ``.`` on the right
for the old right-hand side, so ``. ~ . + x`` adds a term, ``. ~ . - x`` removes one (random-effects terms
included: ``. ~ . - (Days | Subject) + (1 | Subject)``), ``log(.) ~ .`` transforms the response, ``~ . - 1``
drops the intercept; a formula without a ``.`` replaces the old one.  The result is simplified as R's
``terms.formula(simplify = TRUE)`` does for these cases (terms kept in order, a removed term dropped, the
intercept written as ``- 1`` when removed); unlike R, ``a*b`` is not expanded into ``a + b + a:b`` in the
formula's text (the fitted model is the same: the formula layer expands it).
"""

from __future__ import annotations

import os
import re
import sys
import warnings

from .errors import MixedModelError

__all__ = ["update", "update_formula", "register_fitter"]

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


def _signed_terms(rhs: str) -> list[tuple[int, str]]:
    """The top-level terms of a right-hand side with their signs (+1, −1); a parenthesized sum without a bar
    is expanded (its terms take the sign in front of it)."""
    out, depth, start, sign = [], 0, 0, 1
    s = rhs.strip()

    def push(piece: str, sgn: int):
        piece = piece.strip()
        if not piece:
            return
        if piece.startswith("(") and _matching(piece, 0) == len(piece) - 1 and not _has_bar(piece[1:-1]):
            out.extend((sgn * g, t) for g, t in _signed_terms(piece[1:-1]))
        else:
            out.append((sgn, piece))

    for i, ch in enumerate(s):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch in "+-" and depth == 0:
            prev = s[:i].rstrip()
            if ch == "-" and re.search(r"\d[eE]$", prev):  # 1e-3
                continue
            push(s[start:i], sign)
            sign = 1 if ch == "+" else -1
            start = i + 1
    if depth != 0:
        raise MixedModelError(f"unbalanced parentheses in {rhs!r}")
    push(s[start:], sign)
    return out


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


def _top_split(s: str, op: str) -> list[str]:
    """``s`` split at ``op`` outside parentheses."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(s):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == op and depth == 0:
            parts.append(s[start:i])
            start = i + 1
    parts.append(s[start:])
    return [p.strip() for p in parts]


def _expand(term: str) -> list[str]:
    """R's expansion of a fixed-effects term: ``a*b`` is ``a + b + a:b`` (every non-empty product of the
    factors, lower orders first), ``a/b`` is ``a + a:b``; anything else (a bar term, a function call) is
    itself."""
    k = _key(term)
    if k.startswith("(") and _matching(k, 0) == len(k) - 1:
        return [term]
    star = _top_split(k, "*")
    if len(star) > 1:
        from itertools import combinations

        factors = [_expand(f) for f in star]
        out = []
        for r in range(1, len(factors) + 1):
            for combo in combinations(range(len(factors)), r):
                out.append(":".join(factors[c][-1] for c in combo) if all(len(factors[c]) == 1 for c in combo)
                           else ":".join(star[c] for c in combo))
        return out
    slash = _top_split(k, "/")
    if len(slash) == 2:
        return [slash[0], f"{slash[0]}:{slash[1]}"]
    return [term]


def _degree(term: str) -> int:
    """The order of a term (R's ``terms`` sorts by it): 1 + its top-level ':'s (a bar term is 1)."""
    k = _key(term)
    if k.startswith("(") and _matching(k, 0) == len(k) - 1:
        return 1
    return len(_top_split(k, ":"))


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
    terms: list[str] = []
    keys: list[str] = []
    intercept = True
    missing = []
    for sign, t0 in _signed_terms(rhs):
        if _key(t0) in ("1", "0"):
            intercept = (_key(t0) == "1") == (sign > 0)
            continue
        for t in _expand(t0):
            k = _key(t)
            if sign > 0:
                if k not in keys:
                    terms.append(t)
                    keys.append(k)
            elif k in keys:
                i = keys.index(k)
                del terms[i], keys[i]
            else:
                missing.append(_deparse(t))
    if missing:
        warnings.warn(f"update: {', '.join(repr(m) for m in missing)} not in the formula {old!r}: nothing "
                      "removed (R ignores it too)", stacklevel=3)
    terms = sorted(terms, key=_degree)  # stable: R's terms order (main effects, then interactions)
    body = " + ".join(_deparse(t) for t in terms)
    if not intercept:
        body = f"{body} - 1" if body else "-1"
    elif not body:
        body = "1"
    return f"{_deparse(lhs)} ~ {body}" if lhs is not None else f"~{body}"


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
