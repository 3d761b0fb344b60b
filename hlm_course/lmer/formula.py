"""Formulas and model matrices: lme4's ``lFormula`` in miniature.

Bates et al. (2015), §2 ("Formula module"): an lme4 formula
``y ~ fixed + (expr | g)`` is split into the fixed-effects model matrix X
(§2.1, R's ``model.matrix``) and the random-effects terms, whose model
matrices build Z (§2.3, eqs. 5–6).  This module does the same for the
models of the course with R's semantics:

* ``I(x^2)`` is a power (R's ``^``; patsy's own ``^`` would be Python's XOR);
* ``scale(x)`` centres and divides by the standard deviation with n − 1, as
  R's ``scale``; ``poly(x, k)`` is R's orthogonal polynomial basis; ``log``,
  ``exp``, ``sqrt`` and ``offset(x)`` work as in R, also on the left of ``~``;
* ``(x || g)`` is lme4's uncorrelated intercept and slope (split as lme4's
  ``expandDoubleVerts`` splits it), and several terms ``(1 | g) + (0 + x | g)``
  on the same grouping factor are allowed (Λθ is then block diagonal, §2.2);
* coefficients are named as R prints them (``(Intercept)``, ``sectorCatholic``,
  ``DboolTRUE``, ``poly(Days, 2)1``);
* a name is a column or a function, never a Python attribute: dotted columns (``IQ.verb``, ``y.T``),
  R's backticks and patsy's ``Q('name')`` name columns; R's contrasts ``C(f, contr.sum)``, ``C(f, sum)``;
* the model frame is R's: ``scale()`` and ``poly()`` learn on every row before ``na.omit``, and factor
  levels with no row left are dropped (``drop.unused.levels``); ``offset(o)`` is one offset however often
  it is written, also inside a bar ``(offset(o) | g)`` (lme4 reads it so);
* nested ``(1 | a/b)`` (lme4's ``expandSlash``: ``(1 | b:a) + (1 | a)``),
  interactions ``(1 | a:b)`` and crossed ``(1 | g1) + (1 | g2)`` terms are read
  as lme4 reads them; :mod:`.reterms` builds their matrices.

R syntax is translated to patsy's before patsy sees it (``^`` → ``**``) and
evaluated with R's functions in patsy's evaluation environment; string columns
are made pandas Categoricals first (patsy's per-element sniffing of a string
column is slow at scale).
"""

from __future__ import annotations

import ast
import re
from functools import lru_cache
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import patsy

from .errors import MixedModelError

__all__ = ["ParsedFormula", "RandomTerm", "parse_formula", "lme4_name", "r_column_names", "model_frame",
           "build_design", "R_FUNCTIONS", "R_CONSTANTS"]


# ---------------------------------------------------------------------------
# R's functions in a formula
# ---------------------------------------------------------------------------
class _RScale:
    """R's ``scale(x, center = TRUE, scale = TRUE)``: (x − mean) / sd, sd with n − 1.

    Stateful (patsy): predictions on new data use the mean and sd of the data
    the model was fitted to, as R's ``makepredictcall`` does for ``scale``.
    As in R, the mean and sd are those of every row of the data given to the
    fit where x is present — also the rows that a missing response (or another
    missing variable) then drops from the model frame — not of the complete rows
    only (R evaluates ``scale(x)`` in ``model.frame`` before ``na.omit``).
    """

    def __init__(self):
        self._chunks = []

    def memorize_chunk(self, x, center=True, scale=True):
        self._chunks.append(np.asarray(x, dtype=float))
        self._args = (center, scale)

    def memorize_finish(self):
        center, scale = self._args
        x = np.concatenate(self._chunks)
        x = x[~np.isnan(x)]  # R's scale: colMeans(na.rm = TRUE), and n − 1 counts the non-missing values
        self.mean = float(np.mean(x)) if center is True else (0.0 if center is False else float(center))
        if scale is True:
            xc = x - self.mean
            self.sd = float(np.sqrt(np.sum(xc * xc) / (len(x) - 1)))
        else:
            self.sd = 1.0 if scale is False else float(scale)
        self._chunks = []

    def transform(self, x, center=True, scale=True):
        return (np.asarray(x, dtype=float) - self.mean) / self.sd


class _RPoly:
    """R's ``poly(x, degree)``: orthogonal polynomials by R's algorithm.

    R centres x, takes the QR decomposition of ``outer(x − x̄, 0:degree, "^")``
    and keeps ``Q diag(R)`` normalised; it stores the three-term recurrence
    coefficients (``alpha``, ``norm2``) with which ``predict`` evaluates the
    same basis at new x.  We compute those coefficients the same way and
    evaluate the basis by the recurrence (identical to rounding).
    """

    def __init__(self):
        self._chunks = []

    def memorize_chunk(self, x, degree=1, raw=False):
        self._chunks.append(np.asarray(x, dtype=float))
        self._degree = degree

    def memorize_finish(self):
        degree = self._degree
        x = np.concatenate(self._chunks)
        self._chunks = []
        degree = int(degree)
        if degree < 1:
            raise MixedModelError(f"poly(): degree must be at least 1, got {degree}")
        if np.isnan(x).any():
            raise MixedModelError("poly(): missing values are not allowed in 'poly' (R refuses them too): "
                                  "drop the rows with a missing predictor first")
        if len(np.unique(x)) <= degree or _linpack_rank(
                (x - np.mean(x))[:, None] ** np.arange(degree + 1)[None, :]) < degree:
            raise MixedModelError(f"poly(): 'degree' must be less than number of unique points (R's message; "
                                  f"degree {degree}, {len(np.unique(x))} unique points, and R's rank test of "
                                  "the powers of x at tolerance 1e-7); use a lower degree")
        xbar = float(np.mean(x))
        xc = x - xbar
        V = xc[:, None] ** np.arange(degree + 1)[None, :]
        Q, R = np.linalg.qr(V)
        Zq = Q * np.diag(R)[None, :]
        norm2 = np.sum(Zq ** 2, axis=0)
        self.alpha = (np.sum(xc[:, None] * Zq ** 2, axis=0) / norm2 + xbar)[:degree]
        self.norm2 = np.concatenate([[1.0], norm2])
        self.degree = degree

    def transform(self, x, degree=1, raw=False):
        x = np.asarray(x, dtype=float)
        d = self.degree
        if raw:
            out = x[:, None] ** np.arange(1, d + 1)[None, :]
        else:
            Zr = np.ones((len(x), d + 1))
            Zr[:, 1] = x - self.alpha[0]
            for i in range(1, d):
                Zr[:, i + 1] = (x - self.alpha[i]) * Zr[:, i] - (self.norm2[i + 1] / self.norm2[i]) * Zr[:, i - 1]
            out = (Zr / np.sqrt(self.norm2[1:])[None, :])[:, 1:]
        return pd.DataFrame(out, columns=[str(k) for k in range(1, d + 1)])


def linpack_pivot(X, tol: float = 1e-7) -> np.ndarray:
    """The column order of R's ``qr(X, tol, LAPACK = FALSE)`` (LINPACK's ``dqrdc2``, "limited pivoting"):
    columns in their order, except that a column whose norm, once the earlier kept columns are projected
    out, is below ``tol`` × its original norm is moved to the end.  The first ``rank`` entries are the kept
    columns (lme4's ``chkRank.drop.cols`` keeps them; R's ``poly`` needs rank ≥ degree)."""
    X = np.array(X, dtype=float, copy=True)
    n, p = X.shape
    norms = np.linalg.norm(X, axis=0)
    norms[norms == 0] = 1.0
    kept, moved, basis = [], [], []
    for j in range(p):
        v = X[:, j].copy()
        for _ in range(2):  # twice is enough (Gram–Schmidt with reorthogonalization)
            for b in basis:
                v -= (b @ v) * b
        nv = np.linalg.norm(v)
        if nv < tol * norms[j]:
            moved.append(j)
        else:
            kept.append(j)
            basis.append(v / nv)
    return np.array(kept + moved, dtype=int), len(kept)


def _linpack_rank(X, tol: float = 1e-7) -> int:
    return linpack_pivot(X, tol)[1]


def _offset(x):
    return np.asarray(x, dtype=float)


#: Names a formula may call, evaluated as R evaluates them.
R_FUNCTIONS = {
    "scale": patsy.stateful_transform(_RScale),
    "poly": patsy.stateful_transform(_RPoly),
    "log": np.log, "log2": np.log2, "log10": np.log10, "log1p": np.log1p, "exp": np.exp, "sqrt": np.sqrt,
    "abs": np.abs, "offset": _offset,
}


#: R's constants, usable in a formula where the data have no column of that name (a column wins, as in R)
R_CONSTANTS = {"TRUE": True, "FALSE": False, "pi": np.pi, "T": True, "F": False}
_CONSTANTS = R_CONSTANTS


def _eval_env():
    return patsy.EvalEnvironment([dict(R_FUNCTIONS, factor=lambda x: pd.Categorical(x), as_numeric=_as_numeric,
                                       **_CONSTANTS, **_CONTRAST_NAMES)])


def _as_numeric(x):
    return np.asarray(x, dtype=float)


def _expr_env(frame: pd.DataFrame) -> dict:
    """The names an expression outside patsy's model matrices may use (a response ``I(y/10)``, an
    offset): R's functions, patsy's ``I`` and ``Q`` (Q looks the column up in the frame)."""
    return {"I": lambda x: x, "Q": lambda name: frame[name], "C": patsy.builtins.C}


#: R's contrast functions in ``C(f, contr.sum)`` or ``C(f, sum)`` (also helmert, poly, treatment), as patsy's
_CONTRASTS = {"sum": patsy.Sum, "helmert": patsy.Helmert, "poly": patsy.Poly, "treatment": patsy.Treatment}
_CONTRAST_SPELLINGS = {f"contr.{k}" for k in _CONTRASTS}
_CONTRAST_NAMES = {"contr": type("contr", (), dict(_CONTRASTS)),
                   **{k: v for k, v in _CONTRASTS.items() if k != "poly"}}
_C_POLY = re.compile(r"\bC\(\s*([^,()]+?)\s*,\s*poly\s*\)")
#: an R name with a dot in it (``IQ.verb``, ``y.T``, ``.x``): a column, never a Python attribute
_DOTTED = re.compile(r"(?<![\w.'\"])((?:[A-Za-z]|\.[A-Za-z_])[\w.]*)")
#: R's dotted functions a formula may call, as our evaluation environment names them
_DOTTED_FUNCTIONS = {"as.numeric": "as_numeric", "as.factor": "factor", "as.double": "as_numeric"}


@lru_cache(maxsize=1024)
def to_patsy(expr: str) -> str:
    """R formula syntax → patsy syntax.

    * ``^`` is ``**`` (a power inside ``I()``, an interaction power outside it, in both languages);
    * a name is a column or a function, never a Python attribute: a name with a dot (``IQ.verb``,
      ``y.T``, ``x.index``) and R's backticks (`` `IQ.verb` ``, `` `my var` ``) become patsy's
      ``Q('IQ.verb')``, which looks the column up by its whole name; patsy's own ``Q()`` is kept;
    * R's contrasts ``C(f, contr.sum)``, ``C(f, sum)`` (also helmert, poly, treatment) are patsy's
      ``C(f, Sum)`` (named as R names them, ``C(f, contr.sum)1``); patsy's own ``C(f, Sum)`` works too;
      R's ``as.numeric(x)`` and ``as.factor(x)`` are understood.
    """
    out, k = [], 0
    # split off quoted strings (left as they are) and backticked names (→ Q)
    for m in re.finditer(r"`([^`]*)`|'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"", expr):
        out.append(_rewrite_names(expr[k:m.start()]))
        out.append(f"Q({m.group(1)!r})" if m.group(1) is not None else m.group(0))
        k = m.end()
    out.append(_rewrite_names(expr[k:]))
    return "".join(out).replace("^", "**")


def _rewrite_names(code: str) -> str:
    """Dotted R names → ``Q('name')`` and R's contrast and function spellings → patsy's (outside strings)."""
    # R's contrasts keep their spelling (R names the columns after it): ``contr.sum`` and ``sum`` are names of
    # the evaluation environment (:data:`_CONTRAST_NAMES`); ``C(f, poly)`` is ``contr.poly`` (poly() is taken)
    code = _C_POLY.sub(r"C(\1, contr.poly)", code)

    def name(m):
        word = m.group(1)
        if "." not in word or re.fullmatch(r"\.\d.*", word) or word in _CONTRAST_SPELLINGS:
            return word
        rest = code[m.end():]
        if rest.lstrip().startswith("("):  # a function call
            if word in _DOTTED_FUNCTIONS:
                return _DOTTED_FUNCTIONS[word]
            raise MixedModelError(f"unknown function {word}() in the formula: the functions a formula may call "
                                  f"are {sorted(set(R_FUNCTIONS) | set(_DOTTED_FUNCTIONS) | {'I', 'C', 'Q', 'factor'})}")
        return f"Q({word!r})"

    return _DOTTED.sub(name, code)


# ---------------------------------------------------------------------------
# Parsing lme4's formula
# ---------------------------------------------------------------------------
_NAME = re.compile(r"^[A-Za-z_.][\w.]*$")


@dataclass(frozen=True)
class RandomTerm:
    """One random-effects term ``(expr | g)`` (§2.2), after lme4's expansions.

    ``g`` is a grouping factor: a column, or an interaction of columns
    (``a:b``, lme4's spelling for nested factors).  ``uncorrelated`` marks the
    pieces of a ``(expr || g)`` term, which lme4 splits into one term per term
    of ``expr`` (``(1 | g) + (0 + x | g)``).
    """

    expr: str
    group: str
    uncorrelated: bool = False

    def __str__(self) -> str:
        return f"({self.expr} | {self.group})"

    @property
    def group_columns(self) -> tuple[str, ...]:
        """The columns whose interaction is the grouping factor, slowest first (R's ``a:b``)."""
        return _group_columns(self.group)


@dataclass(frozen=True)
class ParsedFormula:
    """The pieces of an lme4 formula ``y ~ fixed + (random | group) + ...``."""

    response: str
    fixed: str  # right-hand side of the fixed part, R syntax (offset() terms removed)
    random: str  # the expression left of the bar of the first term, e.g. "1 + cses"
    group: str  # the grouping factor of the first term
    terms: tuple = field(default=())  # every RandomTerm, '/' and '||' expanded as lme4 expands them
    offsets: tuple = field(default=())  # the expressions inside offset(...)

    @property
    def fixed_formula(self) -> str:
        return f"{self.response} ~ {self.fixed}"

    @property
    def uncorrelated(self) -> bool:
        return any(t.uncorrelated for t in self.terms)

    @property
    def groups(self) -> tuple[str, ...]:
        """The distinct grouping factors, in the order of their first term."""
        return tuple(dict.fromkeys(t.group for t in self.terms))

    @property
    def group_columns(self) -> tuple[str, ...]:
        """Every data column used in a grouping factor."""
        return tuple(dict.fromkeys(c for t in self.terms for c in t.group_columns))


@lru_cache(maxsize=1024)
def _group_columns(group: str) -> tuple[str, ...]:
    return tuple(p for p in re.split(r"[:()\s]+", group) if p)


def _split_top_level(rhs: str) -> list[str]:
    """Split a right-hand side at '+' outside parentheses."""
    parts, depth, cur = [], 0, ""
    for ch in rhs:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "+" and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p.strip() for p in parts]


def _bar_terms(rhs: str, formula: str) -> list[tuple[int, int, str, str, str]]:
    """Every parenthesized ``(expr | g)`` or ``(expr || g)`` at any depth of the
    right-hand side, outermost first: (start, end, expr, bar, group)."""
    out, stack = [], []
    for i, ch in enumerate(rhs):
        if ch == "(":
            stack.append(i)
        elif ch == ")":
            if not stack:
                raise MixedModelError(f"unbalanced parentheses in {formula!r}")
            start = stack.pop()
            inner = rhs[start + 1: i]
            depth, bar = 0, None
            for k, c in enumerate(inner):
                depth += c == "("
                depth -= c == ")"
                if c == "|" and depth == 0:
                    bar = k
                    break
            if bar is None:
                continue
            two = inner[bar + 1: bar + 2] == "|"
            expr, group = inner[:bar].strip(), inner[bar + (2 if two else 1):].strip()
            if any(o <= start and i <= e for o, e, *_ in out):
                continue
            out = [t for t in out if not (start <= t[0] and t[1] <= i)]
            out.append((start, i + 1, expr, "||" if two else "|", group))
    if stack:
        raise MixedModelError(f"unbalanced parentheses in {formula!r}")
    return sorted(out)


def _expand_slash(group: str) -> list[str]:
    """lme4's ``expandSlash``: ``a/b`` is ``b:a`` and ``a``; ``a/b/c`` is
    ``c:(b:a)``, ``b:a`` and ``a`` (the names lme4 gives them)."""
    parts = [p.strip() for p in group.split("/")]
    if len(parts) == 1:
        return parts
    out = [parts[0]]
    for p in parts[1:]:
        inner = out[0]
        out.insert(0, f"{p}:({inner})" if ":" in inner else f"{p}:{inner}")
    return out


def _expand_double_bar(expr: str, term: str) -> list[str]:
    """lme4's ``expandDoubleVerts``: ``(a + b || g)`` is ``(1 | g) + (0 + a | g) + (0 + b | g)`` —
    one term per term of the expression (a factor's columns stay together)."""
    try:
        desc = patsy.ModelDesc.from_formula(to_patsy(expr))
    except patsy.PatsyError as err:
        raise MixedModelError(f"cannot parse the random-effects term {term}: {str(err).splitlines()[0]}") from err
    pieces, has_int = [], False
    for t in desc.rhs_termlist:
        if not t.factors:
            has_int = True
        else:
            pieces.append("0 + " + ":".join(f.name() for f in t.factors))
    return (["1"] if has_int else []) + pieces


def _pull_offsets(expr: str) -> tuple[str, list[str]]:
    """Split ``offset(...)`` terms off a sum: (the rest, the offsets' expressions, spaces removed)."""
    parts = [p for p in _split_top_level(expr) if p]
    offsets = [re.sub(r"\s+", "", m.group(1)) for p in parts for m in [re.fullmatch(r"offset\((.*)\)", p)] if m]
    rest = " + ".join(p for p in parts if not re.fullmatch(r"offset\((.*)\)", p))
    return rest, offsets


def parse_formula(formula: str) -> ParsedFormula:
    """Split an lme4 formula into response, fixed part and random-effects terms.

    Random-effects terms as lme4 reads them (§2.2, Table 2): ``(expr | g)``
    with ``expr`` such as ``1``, ``x``, ``1 + x``, ``0 + x`` or ``x - 1`` (the
    intercept implied unless removed); any number of terms on any number of
    grouping factors, crossed ``(1 | a) + (1 | b)``; an interaction ``a:b`` as
    a grouping factor; nested ``(1 | a/b)`` = ``(1 | b:a) + (1 | a)``
    (lme4's ``expandSlash``); ``(expr || g)`` split into one term per term of
    ``expr`` (lme4's ``expandDoubleVerts``).
    """
    if not isinstance(formula, str) or "~" not in formula:
        raise MixedModelError(f"formula must be a string 'y ~ x + (1 | g)', got {formula!r}")
    lhs, rhs = formula.split("~", 1)
    response = lhs.strip()
    if not response:
        raise MixedModelError(f"formula {formula!r} has no response on the left of '~'")
    bars = _bar_terms(rhs, formula)
    if not bars:
        raise MixedModelError(
            f"formula {formula!r} has no random-effects term: add one such as (1 | school); "
            "for a model without random effects use statsmodels' ols")
    terms, re_offsets = [], []
    for _, _, expr, bar, group in bars:
        term = f"({expr} {bar} {group})"
        expr, offs = _pull_offsets(expr)  # (offset(o) | g): lme4 takes offset(o) as the model's offset
        re_offsets += offs
        if offs and not expr:
            expr = "1"
        if not expr:
            raise MixedModelError(f"empty random-effects term {term} in {formula!r}")
        if "|" in expr or "|" in group:
            raise MixedModelError(f"random-effects term {term} has more than one bar: write one term per "
                                  "grouping factor, e.g. (1 | g) + (0 + x | g)")
        if re.fullmatch(r"\(?\s*(0|-\s*1)\s*\)?", expr):
            raise MixedModelError(f"random-effects term {term} has no random effect (an intercept removed and "
                                  "nothing else): lme4 refuses it too; remove the term")
        if not group:
            raise MixedModelError(f"random-effects term {term} has no grouping factor after the bar")
        group = re.sub(r"`([^`]*)`", r"\1", group)  # R's backticks: (1 | `school.id`)
        for part in group.split("/"):
            cols = [c.strip() for c in part.split(":")]
            if not all(_NAME.match(c) for c in cols):
                raise MixedModelError(
                    f"random-effects term {term}: the grouping factor '{group}' must be a column, an interaction "
                    "of columns (a:b) or a nesting (a/b); make a column for anything else")
        groups = _expand_slash(re.sub(r"\s+", "", group))
        exprs = _expand_double_bar(expr, term) if bar == "||" else [expr]
        for g in groups:
            for e in exprs:
                terms.append(RandomTerm(e, g, bar == "||"))
    fixed = rhs
    for start, end, *_ in reversed(bars):
        fixed = fixed[:start] + fixed[end:]
    if "|" in fixed:
        raise MixedModelError(f"formula {formula!r} has a bar '|' outside a parenthesized random-effects term: "
                              "write each term as (expr | g)")
    fixed, offs = _pull_offsets(fixed)
    # R's terms() keeps one copy of a repeated term: offset(o) + offset(o) is one offset, as in lme4
    offsets = tuple(dict.fromkeys(offs + re_offsets))
    fixed = re.sub(r"\+\s*-", "- ", fixed).strip()
    if not fixed or fixed.startswith("-"):
        fixed = "1" if not fixed else "1 " + fixed
    return ParsedFormula(response, fixed, terms[0].expr, terms[0].group, tuple(terms), offsets)


def _ast_columns(tree) -> set[str]:
    """The data columns an expression's syntax tree names: every name that is not called as a function,
    ``Q('name')``'s string, and the first argument only of ``C(f, Sum)``."""
    names: set[str] = set()

    def visit(node):
        if isinstance(node, ast.Call):
            func = node.func
            fname = func.id if isinstance(func, ast.Name) else None
            if fname == "Q" and node.args and isinstance(node.args[0], ast.Constant) \
                    and isinstance(node.args[0].value, str):
                names.add(node.args[0].value)
                return
            args = node.args[:1] if fname == "C" else node.args
            if not isinstance(func, ast.Name):
                visit(func)
            for a in args:
                visit(a)
            for kw in node.keywords:
                if fname != "C":
                    visit(kw.value)
            return
        if isinstance(node, ast.Attribute):  # (not reached from a formula: dotted names are Q('...'))
            raise MixedModelError(f"'{ast.unparse(node)}' in the formula is neither a column nor a function")
        if isinstance(node, ast.Name):  # (R's constants too: a column of that name wins; see R_CONSTANTS)
            names.add(node.id)
            return
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return names


def formula_variables(expr: str) -> set[str]:
    """Names of data columns referenced by an R right-hand side or expression."""
    names: set[str] = set()
    try:
        desc = patsy.ModelDesc.from_formula(to_patsy(expr))
        codes = [factor.name() for term in desc.rhs_termlist + desc.lhs_termlist for factor in term.factors]
    except patsy.PatsyError as err:
        raise MixedModelError(f"cannot parse the formula part {expr!r}: {str(err).splitlines()[0]}") from err
    for code in codes:
        try:
            tree = ast.parse(code, mode="eval")
        except SyntaxError:  # pragma: no cover - patsy accepted it
            continue
        names |= _ast_columns(tree)
    return names


def expression_variables(expr: str) -> set[str]:
    """Names of data columns in a plain expression such as ``log(Reaction)`` or ``I(y/10)``."""
    try:
        tree = ast.parse(to_patsy(expr), mode="eval")
    except SyntaxError as err:
        raise MixedModelError(f"cannot parse {expr!r}: {err}") from err
    return _ast_columns(tree)


# ---------------------------------------------------------------------------
# The model frame: lme4's model.frame with na.omit
# ---------------------------------------------------------------------------
@dataclass
class ModelFrame:
    """The model's variables, cleaned: ``frame`` (positional index) and ``keep``
    (boolean mask of the rows of the caller's data that were used)."""

    frame: pd.DataFrame
    keep: np.ndarray
    n_dropped: int
    full: pd.DataFrame | None = None  # every row (None when none was dropped): scale() and poly() learn on it


def clean_column(name: str, s: pd.Series) -> pd.Series:
    """Nullable and extension dtypes → numpy dtypes with NaN (pd.NA is R's NA);
    strings → a pandas Categorical with sorted levels (R's factor)."""
    dtype = s.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return s
    if pd.api.types.is_bool_dtype(dtype):
        if s.isna().any():  # nullable boolean with NA
            return s.astype(object).where(s.notna(), np.nan)
        return s.astype(bool)
    if pd.api.types.is_numeric_dtype(dtype):
        if isinstance(dtype, pd.api.extensions.ExtensionDtype):
            return pd.Series(s.to_numpy(dtype=float, na_value=np.nan), index=s.index, name=s.name)
        return s
    if pd.api.types.is_datetime64_any_dtype(dtype):
        raise MixedModelError(f"column '{name}' has dtype {dtype}: convert dates to numbers (e.g. days) first")
    # strings and objects: a factor with sorted levels, as R's factor(); None, NaN and pd.NA are missing (code -1)
    try:
        return pd.Series(pd.Categorical(s.array), index=s.index, name=s.name)
    except TypeError as err:
        raise MixedModelError(f"column '{name}' mixes types that cannot be sorted into factor levels: {err}") \
            from err


def model_frame(data: pd.DataFrame, variables: list[str], numeric: set[str] = frozenset()) -> ModelFrame:
    """The columns the model uses, with rows holding a missing value dropped.

    Missing: NaN, None, ``pd.NA`` (nullable dtypes), as lme4's ``na.omit``.
    Infinite values are an error naming the column (lme4 refuses them too).
    The result has a positional index, so duplicate or unusual index labels
    of ``data`` do not matter.
    """
    missing = [v for v in variables if v not in data.columns]
    if missing:
        raise MixedModelError(
            f"column(s) {sorted(missing)} not found in data; available columns: {list(data.columns)}")
    cols = {}
    n = len(data)
    na = np.zeros(n, bool)
    for v in variables:
        col = data[v]
        if isinstance(col, pd.DataFrame):
            raise MixedModelError(f"data has more than one column named '{v}'")
        cleaned = clean_column(v, col)
        dtype = cleaned.dtype
        if isinstance(dtype, pd.CategoricalDtype):
            cols[v] = cleaned.array
            na |= cleaned.array.codes < 0
            if v in numeric:
                raise MixedModelError(f"column '{v}' must be numeric, got dtype {data[v].dtype}")
            continue
        vals = cleaned.to_numpy()
        cols[v] = vals
        kind = vals.dtype.kind
        if kind == "f":
            na |= np.isnan(vals)
            bad = np.isinf(vals)
            if bad.any():
                rows = list(data.index[np.flatnonzero(bad)[:3]])
                raise MixedModelError(f"column '{v}' has {int(bad.sum())} infinite value(s) (rows {rows}); "
                                      "lme4 refuses them too: remove those rows or set them to NaN")
        elif kind in "iub":  # no missing values possible
            if kind == "b" and v in numeric:
                raise MixedModelError(f"column '{v}' must be numeric, got dtype {data[v].dtype}")
        else:
            na |= pd.isna(vals)
            if v in numeric:
                raise MixedModelError(f"column '{v}' must be numeric, got dtype {data[v].dtype}")
    frame = pd.DataFrame(cols, index=pd.RangeIndex(n))
    keep = ~na
    full = None
    if na.any():
        full = frame
        frame = frame.loc[keep].reset_index(drop=True)
    # R's model.frame(drop.unused.levels = TRUE), as lme4 calls it: a factor level with no row left (an
    # unused pandas category, or a level whose rows all had a missing value) is no level of the model
    for v in frame.columns:
        col = frame[v]
        if isinstance(col.dtype, pd.CategoricalDtype):
            used = np.bincount(col.array.codes[col.array.codes >= 0], minlength=len(col.cat.categories)) > 0
            if not used.all():
                frame[v] = col.cat.remove_unused_categories()
                if full is not None:
                    full[v] = full[v].cat.set_categories(frame[v].cat.categories)
    return ModelFrame(frame=frame, keep=keep, n_dropped=int(na.sum()), full=full)


# ---------------------------------------------------------------------------
# Model matrices with R's names and column order
# ---------------------------------------------------------------------------
def lme4_name(patsy_name: str) -> str:
    """Translate a patsy column name into the name lme4 prints.

    ``Intercept`` → ``(Intercept)``, ``sector[T.Catholic]`` → ``sectorCatholic``,
    ``cses:sector[T.Catholic]`` → ``cses:sectorCatholic``, ``Dbool[T.True]`` →
    ``DboolTRUE``, ``I(Days ** 2)`` → ``I(Days^2)``, ``poly(x, 2)[1]`` → ``poly(x, 2)1``.
    """
    if patsy_name == "Intercept":
        return "(Intercept)"
    patsy_name = re.sub(r"Q\((['\"])(.*?)\1\)", lambda m: _r_symbol(m.group(2)), patsy_name)
    name = re.sub(r"(poly\([^\[\]]*\))\[(\d+)\]", lambda m: f"{m.group(1)}{int(m.group(2)) + 1}", patsy_name)
    name = re.sub(r"\[(?:T\.)?(True|False)\]", lambda m: m.group(1).upper(), name)
    name = re.sub(r"\[(?:T\.)?([^\]]+)\]", r"\1", name)
    return re.sub(r"\s*\*\*\s*", "^", name)


def _r_symbol(name: str) -> str:
    """A column name as R deparses it: as it is when syntactic (``IQ.verb``), else in backticks."""
    return name if re.fullmatch(r"(?:[A-Za-z]|\.[._A-Za-z])[._A-Za-z0-9]*|\.", name) else f"`{name}`"


def _number_contrasts(columns) -> dict[str, str]:
    """patsy's ``C(f, Sum)[S.b]`` and ``C(f, Helmert)[H.c]`` → R's ``C(f, Sum)1``, ``…2`` (R numbers the
    columns of contr.sum and contr.helmert)."""
    seen: dict = {}
    out = {}
    for col in columns:
        parts = []
        for part in col.split(":"):
            m = re.fullmatch(r"(.*)\[(?:S|H)\.(.+)\]", part)
            if m:
                labels = seen.setdefault(m.group(1), [])
                if m.group(2) not in labels:
                    labels.append(m.group(2))
                part = f"{m.group(1)}[{labels.index(m.group(2)) + 1}]"
            parts.append(part)
        out[col] = ":".join(parts)
    return out


def r_column_names(info, termlist) -> dict[str, str]:
    """Map each patsy column name to the name R's ``model.matrix`` gives it.

    Besides :func:`lme4_name`'s spelling, R writes the variables of an
    interaction in the order the variables first appear in the formula:
    ``minority * sector + mean_ses * minority`` has the column
    ``minorityYes:mean_ses`` in R, which patsy calls ``mean_ses:minority[T.Yes]``.
    """
    first_seen: dict = {}
    for term in termlist:
        for factor in term.factors:
            first_seen.setdefault(factor, len(first_seen))
    names = {}
    for term, columns in info.term_slices.items():
        k = len(term.factors)
        perm = sorted(range(k), key=lambda i: first_seen.get(term.factors[i], k + i))
        numbered = _number_contrasts(info.column_names[columns])
        for col in info.column_names[columns]:
            parts = numbered[col].split(":")
            if k > 1 and len(parts) == k and perm != list(range(k)):
                col_r = ":".join(parts[i] for i in perm)
            else:
                col_r = numbered[col]
            names[col] = lme4_name(col_r)
    return names


def build_design(formula_rhs: str, frame: pd.DataFrame, what: str, full: pd.DataFrame | None = None,
                 design_info=None) -> pd.DataFrame:
    """patsy design matrix of an R right-hand side, columns in R's order.

    patsy groups terms by their numeric factors; R's ``model.matrix`` orders
    them by interaction order, then by first appearance.  We reorder so that
    ``fixef`` prints in the order the seeds' lme4 output does.  The frame has
    no missing values (see :func:`model_frame`).  ``full`` (the model frame's every row, missing values
    included) is where ``scale()`` and ``poly()`` learn their centre, scale and basis, as R evaluates them
    before ``na.omit``; ``design_info`` (a fit's) builds the matrix of new data with the fit's levels and
    transforms (R's ``makepredictcall``).
    """
    rhs = to_patsy(formula_rhs)
    try:
        desc = _model_desc(rhs)
        stateful = full is not None and re.search(r"\b(scale|poly)\s*\(", rhs)
        fast = None if (stateful or design_info is not None) else _numeric_design(rhs, desc, frame)
        if fast is None and not stateful and design_info is None:
            fast = _factor_design(rhs, desc, frame)
        if fast is not None:
            dm = fast
        elif design_info is not None:
            (dm,) = patsy.build_design_matrices([design_info], frame, NA_action=_NO_NA, return_type="matrix")
        elif stateful:
            info = patsy.design_matrix_builders([desc.rhs_termlist], lambda: iter([full]), _eval_env(),
                                                NA_action=patsy.NAAction(NA_types=["None", "NaN"]))[0]
            (dm,) = patsy.build_design_matrices([info], frame, NA_action=_NO_NA, return_type="matrix")
        else:
            # the frame has no missing values (model_frame dropped them) and infinities are caught below, so
            # patsy's NA scan of every column is skipped; return_type "matrix" avoids a pandas round trip
            dm = patsy.dmatrix(desc, frame, NA_action=_NO_NA, return_type="matrix", eval_env=_eval_env())
    except patsy.PatsyError as err:
        msg = str(err).split("\n")[0]
        raise MixedModelError(f"could not build the {what} design from {formula_rhs!r}: {msg}") from err
    except MixedModelError:
        raise
    except Exception as err:  # an R function applied to the wrong kind of column, for instance
        raise MixedModelError(f"could not build the {what} design from {formula_rhs!r}: "
                              f"{type(err).__name__}: {err}") from err
    info = dm.design_info
    termlist = desc.rhs_termlist
    appearance = {t: k for k, t in enumerate(termlist)}
    terms = sorted(info.term_slices, key=lambda t: (len(t.factors), appearance.get(t, len(appearance))))
    order = np.concatenate([np.arange(info.term_slices[t].start, info.term_slices[t].stop) for t in terms]) \
        if terms else np.arange(0)
    cols = [info.column_names[k] for k in order]
    dm = np.asarray(dm, dtype=float)
    vals = np.empty((dm.shape[0], len(order)), order="F")  # contiguous columns, in R's order
    for j, k in enumerate(order):
        vals[:, j] = dm[:, k]
    if not np.all(np.isfinite(vals)):
        bad = [lme4_name(c) for c, ok in zip(cols, np.isfinite(vals).all(axis=0)) if not ok]
        raise MixedModelError(f"the {what} design has infinite or missing values in column(s) {bad} "
                              f"(e.g. log of zero or a negative number)")
    out = pd.DataFrame(vals, columns=cols, index=frame.index, copy=False)
    out.design_info = info
    out.attrs["r_names"] = r_column_names(info, termlist)
    return out


def _numeric_columns(desc, frame: pd.DataFrame) -> tuple[str, ...] | None:
    """The columns of a right-hand side whose every factor is a plain numeric
    (not boolean) column of the frame, or None if any factor is anything else
    (a factor, an expression such as ``I(x^2)`` or ``scale(x)``)."""
    names = []
    for term in desc.rhs_termlist:
        for factor in term.factors:
            name = factor.name()
            if name not in frame.columns:
                return None
            dtype = frame[name].dtype
            if not (isinstance(dtype, np.dtype) and dtype.kind in "fiu"):
                return None
            names.append(name)
    return tuple(dict.fromkeys(names))


@lru_cache(maxsize=256)
def _numeric_design_info(rhs: str, names: tuple[str, ...]):
    """patsy's DesignInfo for a right-hand side of numeric columns only: it
    does not depend on the data, so it is computed once, from two rows."""
    tiny = pd.DataFrame({n: [0.0, 1.0] for n in names})
    return patsy.dmatrix(_model_desc(rhs), tiny, NA_action=_NO_NA, return_type="matrix",
                         eval_env=_eval_env()).design_info


class _Design(np.ndarray):
    """A model matrix with its patsy DesignInfo, like patsy's DesignMatrix."""

    design_info = None


def _numeric_design(rhs: str, desc, frame: pd.DataFrame):
    """The model matrix of a right-hand side of numeric columns and their
    products (``x``, ``x:z``, ``x*z``), without a patsy pass over the data:
    each column is the product of its term's columns, as patsy computes it.
    None when the fast path does not apply (patsy then builds the matrix)."""
    names = _numeric_columns(desc, frame)
    if names is None:
        return None
    info = _numeric_design_info(rhs, names)
    n = len(frame)
    out = np.empty((n, len(info.column_names)), order="F")
    values = {name: frame[name].to_numpy(dtype=float) for name in names}
    for term, columns in info.term_slices.items():
        if columns.stop - columns.start != 1:  # pragma: no cover - numeric factors give one column per term
            return None
        col = np.ones(n)
        for factor in term.factors:
            col = col * values[factor.name()]
        out[:, columns.start] = col
    dm = out.view(_Design)
    dm.design_info = info
    return dm


def _factor_specs(desc, frame: pd.DataFrame) -> tuple | None:
    """What the design of a right-hand side of main effects depends on besides the formula: each factor's
    kind, and a categorical column's levels — or None unless every term is the intercept or one column of
    the frame, a plain numeric one or an unordered pandas Categorical without missing codes."""
    specs = []
    for term in desc.rhs_termlist:
        if len(term.factors) > 1:
            return None
        for factor in term.factors:
            name = factor.name()
            if name not in frame.columns:
                return None
            dtype = frame[name].dtype
            if isinstance(dtype, np.dtype) and dtype.kind in "fiu":
                specs.append((name, None))
            elif isinstance(dtype, pd.CategoricalDtype) and not dtype.ordered:
                specs.append((name, tuple(dtype.categories)))
            else:
                return None
    return tuple(dict.fromkeys(specs))


@lru_cache(maxsize=256)
def _factor_design_info(rhs: str, specs: tuple):
    """patsy's DesignInfo for :func:`_factor_design`: it depends on the formula and the columns' kinds and
    levels only, so it is computed once, from two rows."""
    tiny = {}
    for name, cats in specs:
        tiny[name] = [0.0, 1.0] if cats is None else pd.Categorical.from_codes(
            [0, 0], dtype=pd.CategoricalDtype(list(cats), ordered=False))
    return patsy.dmatrix(_model_desc(rhs), pd.DataFrame(tiny), NA_action=_NO_NA, return_type="matrix",
                         eval_env=_eval_env()).design_info


def _factor_design(rhs: str, desc, frame: pd.DataFrame):
    """The model matrix of a right-hand side of main effects of numeric and (unordered, pandas) categorical
    columns without a patsy pass over the data: a categorical term's columns are the rows of its contrast
    matrix (patsy's, from the cached DesignInfo) picked by the level codes.  None when it does not apply."""
    specs = _factor_specs(desc, frame)
    if specs is None or all(cats is None for _, cats in specs):
        return None
    try:
        info = _factor_design_info(rhs, specs)
    except TypeError:  # unhashable levels
        return None
    n = len(frame)
    out = np.empty((n, len(info.column_names)), order="F")
    for term, columns in info.term_slices.items():
        if not term.factors:
            out[:, columns] = 1.0
            continue
        (factor,) = term.factors
        col = frame[factor.name()]
        fi = info.factor_infos[factor]
        if fi.type == "numerical":
            if columns.stop - columns.start != 1:
                return None
            out[:, columns.start] = col.to_numpy(dtype=float)
            continue
        codings = info.term_codings[term]
        if len(codings) != 1 or tuple(fi.categories) != tuple(col.cat.categories):
            return None
        codes = col.cat.codes.to_numpy()
        if n and codes.min() < 0:
            return None
        out[:, columns] = codings[0].contrast_matrices[factor].matrix[codes]
    dm = out.view(_Design)
    dm.design_info = info
    return dm


#: patsy's missing-value handling switched off: model_frame has already dropped incomplete rows.
_NO_NA = patsy.NAAction(NA_types=[])


@lru_cache(maxsize=256)
def _model_desc(rhs: str) -> "patsy.ModelDesc":
    """The parsed patsy description of a right-hand side (parsed once per formula)."""
    return patsy.ModelDesc.from_formula(rhs)


#: a sum, difference or product of two columns (the second column of a binomial ``cbind``)
_DIFF = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_.]*)\s*([-+*])\s*([A-Za-z_][A-Za-z0-9_.]*)\s*")


def _plain_numeric(frame: pd.DataFrame, name: str) -> bool:
    """Whether ``name`` is a numeric (not boolean, not nullable) column of the frame."""
    if name not in frame.columns:
        return False
    dtype = frame[name].dtype
    return isinstance(dtype, np.dtype) and dtype.kind in "fiu"


def evaluate(expr: str, frame: pd.DataFrame, what: str) -> np.ndarray:
    """Evaluate an R expression (``Reaction``, ``log(Reaction)``) on the frame."""
    if expr in frame.columns:
        col = frame[expr]
        if not pd.api.types.is_numeric_dtype(col.dtype) or pd.api.types.is_bool_dtype(col.dtype):
            raise MixedModelError(f"{what} '{expr}' must be numeric, got dtype {col.dtype}")
        return col.to_numpy(dtype=float)
    m = _DIFF.fullmatch(expr)
    if m and all(_plain_numeric(frame, c) for c in (m[1], m[3])):  # ``size - incidence``: no evaluator needed
        a, b = frame[m[1]].to_numpy(), frame[m[3]].to_numpy()  # in the columns' types, as pandas would
        val = {"+": np.add, "-": np.subtract, "*": np.multiply}[m[2]](a, b)
    else:
        try:
            ns = {c: frame[c] for c in frame.columns}
            ns.update(_expr_env(frame))
            val = _eval_env().eval(to_patsy(expr), inner_namespace=ns)
        except Exception as err:
            raise MixedModelError(f"could not evaluate the {what} {expr!r}: {type(err).__name__}: {err}") from err
    val = np.asarray(val, dtype=float)
    if val.ndim == 0:
        val = np.full(len(frame), float(val))
    if val.shape != (len(frame),):
        raise MixedModelError(f"the {what} {expr!r} has shape {val.shape}, expected ({len(frame)},)")
    bad = ~np.isfinite(val)
    if bad.any():
        raise MixedModelError(f"the {what} {expr!r} has {int(bad.sum())} infinite or undefined value(s) "
                              "(e.g. log of zero or of a negative number)")
    return val
