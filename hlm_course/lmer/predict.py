"""Predictions from a fitted linear mixed model: lme4's ``predict.merMod`` (Bates et al. 2015, §5).

A prediction is X_new β̂ (+ the offset) plus, for the random-effects terms asked for, Z_new b̂ — the
conditional modes b̂ = Λθ û of the fit (§3.3, eq. 15).  New data go through the fit's model frame:

* the fixed part's model matrix is built with the fit's patsy ``DesignInfo``, so a factor keeps the fit's
  levels and contrasts and ``scale(x)`` / ``poly(x, k)`` use the centre, scale and orthogonal basis learned
  on the fitted data (R's ``makepredictcall``); a factor level the fit never saw is an error naming it;
* the random-effects terms' matrices likewise (each term's own ``DesignInfo``);
* a row whose grouping level the fit never saw (or whose grouping value is missing) has no conditional
  mode: lme4 refuses it ("new levels detected in newdata") unless ``allow_new_levels=True``, when its
  random effects are zero — the population prediction for that term, as lme4 does;
* a row with a missing predictor gets NaN (lme4's ``na.action = na.pass``).

``re_form`` in lme4's meaning (Python spellings):

==============================  ===================================  ==========================
lme4                            here                                 what is added to X β̂
==============================  ===================================  ==========================
``re.form = NULL`` (default)    ``re_form=None`` (default)           every random-effects term
``re.form = NA`` or ``~0``      ``re_form=False`` (also ``"NA"``,    none: the population
                                ``"~0"``)                            (marginal) prediction
``re.form = ~(1 | g)``          ``re_form="~(1 | g)"``               the terms named, which must
                                                                     be terms of the model
==============================  ===================================  ==========================

For ``(year | school/child)`` the model's terms are ``(year | child:school)`` and ``(year | school)``
(lme4's expansion), so ``re_form="~(year | school)"`` keeps the school effects only.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from .errors import MixedModelError
from .formula import (R_CONSTANTS, clean_column, build_design, evaluate, expression_variables, formula_variables,
                      parse_formula, to_patsy)
from .reterms import r_label

__all__ = ["predict", "random_terms_of", "no_random_effects", "chosen_terms", "NEW_LEVELS"]

#: the error for levels a fit has no conditional modes for (lme4's message first)
NEW_LEVELS = ("new levels detected in newdata: {levels} (lme4's message) — level(s) of '{group}' the model was not "
              "fitted to, so they have no conditional modes; use allow_new_levels=True to predict them with zero "
              "random effects (the population prediction), as lme4 does")

#: re_form values meaning lme4's ``re.form = NA`` (no random effects)
_NO_RE = ("NA", "~0", "~ 0", "~-1", "~ -1")


def _term_key(group: str, expr: str) -> tuple:
    """A random-effects term as a comparable key: its grouping factor and the set of its columns' terms
    (``1 + x`` and ``x`` are the same term; ``0 + x`` is another)."""
    import patsy

    desc = patsy.ModelDesc.from_formula(to_patsy(expr))
    terms = frozenset(":".join(sorted(f.name() for f in t.factors)) for t in desc.rhs_termlist)
    return re.sub(r"\s+", "", group), terms


def random_terms_of(fit) -> list[dict]:
    """Each random-effects term of an lmer or glmer fit, as predict needs it: ``group``, ``expr`` (the term's
    expression as parsed), ``levels`` (the fitted levels as R's labels), ``columns`` (the effects' names),
    ``b`` (levels × columns: the conditional modes) and ``design_info`` (the term's patsy DesignInfo, None
    for a plain intercept)."""
    out = []
    if hasattr(fit, "problem"):  # GlmerFit: its blocks are lme4's ordered terms
        return [dict(group=b.group, expr=b.expr, levels=[str(v) for v in lev], columns=list(b.columns), b=B,
                     design_info=b.design_info) for b, lev, B in zip(fit.blocks, fit.levels, fit._b_blocks())]
    if hasattr(fit, "re"):  # LmerFitMulti: lme4's ordered terms
        for t, b in zip(fit.re.terms, fit._per_term(fit.pls.b)):
            out.append(dict(group=t.group, expr=t.expr, levels=[str(v) for v in t.levels], columns=list(t.columns),
                            b=b, design_info=t.design_info))
        return out
    blocks = np.zeros(len(fit.random_names), int) if fit.blocks is None else np.asarray(fit.blocks)
    infos = getattr(fit, "_random_design_infos", None) or (fit._random_design_info,)
    labels = [r_label(v) for v in fit.groups]
    for k, term in enumerate(fit.parsed.terms):
        cols = np.flatnonzero(blocks == k)
        out.append(dict(group=term.group, expr=term.expr, levels=labels,
                        columns=[fit.random_names[c] for c in cols], b=fit.pls.b[:, cols],
                        design_info=infos[k] if k < len(infos) else None))
    return out


def no_random_effects(re_form) -> bool:
    """Whether ``re_form`` is lme4's ``re.form = NA`` (or ``~0``): False, ``"NA"``, ``"~0"``, NaN."""
    return re_form is False or (isinstance(re_form, float) and np.isnan(re_form)) or \
        (isinstance(re_form, str) and re.sub(r"\s+", "", re_form) in {s.replace(" ", "") for s in _NO_RE})


def _parse_re_form(re_form, terms: list[dict]) -> list[dict]:
    """The random-effects terms that ``re_form`` keeps (see the module's table)."""
    if re_form is None:
        return terms
    if no_random_effects(re_form):
        return []
    if not isinstance(re_form, str) or "~" not in re_form:
        raise MixedModelError(f"re_form must be None (all random effects), False (none; lme4's re.form = NA) or a "
                              f"formula of the model's random-effects terms such as '~(1 | g)', got {re_form!r}")
    rhs = re_form.split("~", 1)[1]
    try:
        wanted = parse_formula("y ~ " + rhs).terms
    except MixedModelError as err:
        raise MixedModelError(f"re_form {re_form!r}: {err}") from err
    keys = {_term_key(t["group"], t["expr"]): t for t in terms}
    chosen = []
    for w in wanted:
        key = _term_key(w.group, w.expr)
        if key not in keys:
            raise MixedModelError(f"random effects specified in re_form that were not present in original model "
                                  f"(lme4's message): {w} is not one of the model's terms "
                                  f"{[_term_str(t) for t in terms]}")
        chosen.append(keys[key])
    return chosen


def chosen_terms(fit, re_form) -> list[bool]:
    """For each term of :func:`random_terms_of`, whether ``re_form`` names it (None: all; lme4's NA: none)."""
    terms = random_terms_of(fit)
    chosen = _parse_re_form(re_form, terms)
    return [any(c is t for c in chosen) for t in terms]


def _term_str(t: dict) -> str:
    return f"({t['expr']} | {t['group']})"


def _group_labels(group: str, frame: pd.DataFrame) -> np.ndarray:
    """Each row's level of the grouping factor ``group`` (a column or ``a:b``) as R's label; None where a
    grouping value is missing."""
    from .formula import RandomTerm

    cols = RandomTerm("1", group).group_columns
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise MixedModelError(f"newdata has no column(s) {missing} of the grouping factor '{group}'")
    parts = []
    for c in cols:
        s = frame[c]
        vals = s.astype(object).to_numpy()
        na = pd.isna(vals)
        parts.append(np.array([None if m else r_label(v) for v, m in zip(vals, na)], dtype=object))
    out = parts[0].copy()
    for p in parts[1:]:
        out = np.array([None if a is None or b is None else f"{a}:{b}" for a, b in zip(out, p)], dtype=object)
    return out


def _new_frame(fit, newdata: pd.DataFrame, variables: set[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """newdata's variables with the fit's factor levels; and which rows have every variable present."""
    variables = {v for v in variables if v in newdata.columns or v not in R_CONSTANTS}  # TRUE, pi: R's
    missing = sorted(v for v in variables if v not in newdata.columns)
    if missing:
        raise MixedModelError(f"newdata lacks column(s) {missing} that the model uses; it has {list(newdata.columns)}")
    cols, ok = {}, np.ones(len(newdata), bool)
    for v in sorted(variables):
        if is_group_only(fit, v):  # a new or missing level is a new group (lme4), not a missing row
            cols[v] = newdata[v].reset_index(drop=True)
            continue
        new = clean_column(v, newdata[v].reset_index(drop=True))
        if v in fit.data.columns:
            old = clean_column(v, fit.data[v].reset_index(drop=True))
            if isinstance(old.dtype, pd.CategoricalDtype):
                levels = old.cat.remove_unused_categories().cat.categories
                labels = new.astype(object)
                present = labels.notna().to_numpy()
                codes = pd.Index(levels).get_indexer(labels.where(labels.notna(), None))
                if (present & (codes < 0)).any():  # labels as R writes them: 2 and "2" are the same level
                    as_r = pd.Index([r_label(v) for v in levels])
                    codes = np.where(codes >= 0, codes, as_r.get_indexer([r_label(v) if p else None
                                                                          for v, p in zip(labels, present)]))
                bad = present & (codes < 0)
                if bad.any():
                    newlev = sorted(map(str, set(labels[bad])))[:5]
                    raise MixedModelError(f"factor '{v}' has new level(s) {newlev} not in the fitted data (levels "
                                          f"{list(map(str, levels))[:10]}): the model has no coefficient for them")
                new = pd.Series(pd.Categorical.from_codes(np.where(codes >= 0, codes, -1), categories=levels),
                                name=v)
                ok &= present
                cols[v] = new
                continue
        if isinstance(new.dtype, pd.CategoricalDtype):
            ok &= (new.cat.codes >= 0).to_numpy()
        elif new.dtype.kind == "f":
            ok &= ~np.isnan(new.to_numpy())
        else:
            ok &= ~pd.isna(new).to_numpy()
        cols[v] = new
    frame = pd.DataFrame(cols, index=pd.RangeIndex(len(newdata)))
    return frame, ok


def is_group_only(fit, v: str) -> bool:
    """Whether column v is used only as (part of) a grouping factor: its new levels are then new groups."""
    parsed = fit.parsed
    if v not in {c for t in parsed.terms for c in t.group_columns}:
        return False
    other = formula_variables(parsed.fixed) | set().union(*(formula_variables(t.expr) for t in parsed.terms))
    return v not in other


def _fixed_part(fit, frame: pd.DataFrame) -> np.ndarray:
    """X_new β̂ with the fit's DesignInfo (levels, contrasts, scale/poly parameters), in fit.fixed_names order."""
    if not hasattr(fit, "pls"):  # a GlmerFit: its patsy columns in fixed_names' order
        Xdf = build_design(fit.parsed.fixed, frame, "fixed-effects (newdata)", design_info=fit._fixed_info)
        return Xdf[list(fit._fixed_order)].to_numpy(dtype=float) @ np.asarray(fit.beta, float)
    info = fit._fixed_design_info
    Xdf = build_design(fit.parsed.fixed, frame, "fixed-effects (newdata)", design_info=info)
    names = [fit._fixed_r_names.get(c, c) for c in Xdf.columns]
    Xdf.columns = names
    return Xdf[list(fit.fixed_names)].to_numpy(dtype=float) @ np.asarray(fit.pls.beta, float)


def predict(fit, newdata: pd.DataFrame | None = None, re_form=None, allow_new_levels: bool = False) -> pd.Series:
    """lme4's ``predict(fit, newdata, re.form, allow.new.levels)`` for an lmer fit (see the module's table); for a
    glmer fit, the linear predictor (``type = "link"``) without glmer's ``offset=`` argument (GlmerFit.predict
    adds it and the inverse link).

    Returns a Series named ``"fit"`` indexed as ``newdata`` (or as the fitted rows when ``newdata`` is
    None): X β̂ + offset + the chosen terms' Z b̂.
    """
    terms = random_terms_of(fit)
    chosen = _parse_re_form(re_form, terms)
    if newdata is None:
        if re_form is None and hasattr(fit, "pls"):
            return fit.fitted.rename("fit")
        newdata = fit.data
    if not isinstance(newdata, pd.DataFrame):
        raise MixedModelError(f"newdata must be a pandas DataFrame, got {type(newdata).__name__}")
    if not isinstance(allow_new_levels, (bool, np.bool_)):
        raise MixedModelError(f"allow_new_levels must be True or False, got {allow_new_levels!r}")
    parsed = fit.parsed
    variables = set(formula_variables(parsed.fixed))
    for o in parsed.offsets:
        variables |= expression_variables(o)
    for t in chosen:
        variables |= formula_variables(t["expr"])
        variables |= set(_group_cols(t["group"]))
    frame, ok = _new_frame(fit, newdata, variables)
    eta = np.full(len(frame), np.nan)
    if ok.any():
        sub = frame.loc[ok].reset_index(drop=True)
        part = _fixed_part(fit, sub)
        for o in parsed.offsets:
            part = part + evaluate(o, sub, "offset")
        for t in chosen:
            part = part + _random_part(t, sub, allow_new_levels)
        eta[ok] = part
    return pd.Series(eta, index=newdata.index, name="fit")


def _group_cols(group: str) -> tuple[str, ...]:
    from .formula import RandomTerm

    return RandomTerm("1", group).group_columns


def _random_part(t: dict, frame: pd.DataFrame, allow_new_levels: bool) -> np.ndarray:
    """Z_new b̂ of one term; zero for new (or missing) levels when allowed."""
    labels = _group_labels(t["group"], frame)
    pos = pd.Index(t["levels"]).get_indexer(pd.Index(labels.astype(object)))
    pos[pd.isna(labels)] = -1
    if (pos < 0).any() and not allow_new_levels:
        new = sorted({"NA" if v is None else str(v) for v in labels[pos < 0]})  # a missing group: R's NA
        raise MixedModelError(NEW_LEVELS.format(levels=", ".join(new[:10]), group=t["group"]))
    if t["expr"].strip() == "1":
        Z = np.ones((len(frame), 1))
    else:
        Zdf = build_design(t["expr"], frame, f"random-effects ({t['expr']} | {t['group']}) (newdata)",
                           design_info=t["design_info"])
        Z = Zdf.to_numpy(dtype=float)
    B = np.where(pos[:, None] >= 0, t["b"][np.maximum(pos, 0)], 0.0)
    return np.sum(Z * B, axis=1)
