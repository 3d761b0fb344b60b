"""Side-by-side tables for the London exam chapters (Kaplan 2010).

The exam chapters print every table of Kaplan (2010) next to our numbers.
The helpers here build those tables from a fitted ``hlm_course.lmer`` model
and the published values, so the chapters keep only the published numbers and
the prose.  Conventions:

* a column ``"Kaplan (2010): X"`` holds the published value for our column
  ``X``, and :func:`published_differences` reports ``max |X − published X|``
  for every such pair;
* :func:`printed_comparison` (and :func:`printout_comparison` for a whole
  2010 lme4 printout) puts every published number, as printed, beside ours
  at the same digits and says whether ours rounds to it;
  :func:`agreement_sentence` turns such a table into the chapters' sentence;
* interval tables are tidy, one row per group × term with ``lower`` and
  ``upper`` (as :func:`hlm_course.shrinkage_ci` returns them);
  :func:`interval_limits` lays them out as Kaplan's Tables 3.1 and 4.1 do.

Contents: :func:`old_lme4_header` (the fit criteria the 2010 lme4 printed),
:func:`varcorr_vs_published`, :func:`fixed_vs_published` and
:func:`school_table` (Tables 2.1–2.12), :func:`kaplan_school_tables` (Kaplan's
Tables 2.2–2.4, 2.6–2.8 and 2.10–2.12 as printed), :func:`kaplan_table_3_1` (Kaplan's
Table 3.1), :func:`interval_limits` and :func:`interval_midpoints`, and
:func:`table_4_1`, :func:`outside_interval`, :func:`highlight_outside`
(Table 4.1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .printed import as_printed, rounds_to_printed
from .display import style_table
from ._validate import fitted_model
from .lmer import LmerFit, MixedModelError, lme4_name

__all__ = [
    "coef_lines",
    "PUBLISHED_PREFIX",
    "old_lme4_header",
    "with_published",
    "published_differences",
    "varcorr_vs_published",
    "fixed_vs_published",
    "school_table",
    "kaplan_table_3_1",
    "kaplan_school_tables",
    "KAPLAN_NINE",
    "interval_limits",
    "interval_midpoints",
    "table_4_1",
    "outside_interval",
    "highlight_outside",
    "printed_comparison",
    "agreement_sentence",
    "printout_comparison",
    "show_comparison",
    "style_numbers",
]

#: prefix of the columns that hold Kaplan's (2010) published values
PUBLISHED_PREFIX = "Kaplan (2010): "

_HEADER = ["AIC", "BIC", "logLik", "deviance", "REMLdev"]

#: The variable-intercept model ``normexam ~ standLRT + (1 | school)`` fitted by
#: today's lme4 (1.1-31, R 4.2.2): fixed effects and standard errors, copied
#: from tests/reference/lme4_reference.json (tests/against_r/test_exam_tables.py checks
#: the copy), so that the chapters need not read the test suite's files.
LME4_TODAY = {
    "lme4": "1.1-31",
    "exam_vi_reml": {"fixef": {"(Intercept)": 0.002322823128420124, "standLRT": 0.563306914123064},
                     "se": {"(Intercept)": 0.04035435802039515, "standLRT": 0.012467961247053398}},
}


def old_lme4_header(fit: LmerFit, published: Sequence[float] | None = None) -> pd.DataFrame:
    """The fit criteria line of the 2010 lme4 (``AIC BIC logLik deviance REMLdev``).

    lme4 0.999375 (the version on CRAN in 2010) evaluated, at every θ, both
    the profiled ML deviance ``log|L|² + n(1 + log(2π r²/n))`` and the REML
    criterion, and ``print`` showed the first as ``deviance`` and the second as
    ``REMLdev``; ``logLik``, ``AIC`` and ``BIC`` came from the criterion that
    was optimized.  For a REML fit, ``deviance`` is therefore the ML deviance
    *at the REML estimates* — ``fit.ml_deviance`` (lme4 today:
    ``deviance(m, REML = FALSE)``) — and not the deviance of an ML refit.

    Returns a DataFrame indexed by the five names with column ``ours`` and,
    if ``published`` (five numbers in the order above) is given, column
    ``"Kaplan (2010)"``.
    """
    fitted_model(fit)
    ours = [fit.aic, fit.bic, fit.loglik, fit.ml_deviance, fit.reml_criterion]
    out = pd.DataFrame({"ours": ours}, index=_HEADER)
    if published is not None:
        published = np.asarray(published, dtype=float)
        if published.shape != (5,):
            raise ValueError(f"published must give the five numbers {_HEADER}, got {published.size}")
        out["Kaplan (2010)"] = published
    return out


def with_published(ours: pd.DataFrame, published, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """``ours`` with the published values appended as ``"Kaplan (2010): <column>"`` columns.

    ``published`` is array-like with one row per row of ``ours`` and one column per
    name in ``columns`` (default: all columns of ``ours``); a 1-d ``published``
    fills a single column.
    """
    columns = list(ours.columns if columns is None else columns)
    missing = [c for c in columns if c not in ours.columns]
    if missing:
        raise KeyError(f"columns {missing} are not in the table; it has {list(ours.columns)}")
    values = np.asarray(published, dtype=float)
    if values.ndim == 1:
        values = values[:, None]
    if values.shape != (len(ours), len(columns)):
        raise ValueError(f"published values have shape {values.shape}, expected {(len(ours), len(columns))} "
                         f"(one row per row of the table, one column per {columns})")
    out = ours.copy()
    for k, c in enumerate(columns):
        out[PUBLISHED_PREFIX + c] = values[:, k]
    return out


def published_differences(table: pd.DataFrame) -> pd.Series:
    """Largest ``|ours − published|`` for every column ``X`` that has a
    ``"Kaplan (2010): X"`` partner."""
    pairs = [c for c in table.columns if isinstance(c, str) and PUBLISHED_PREFIX + c in table.columns]
    if not pairs:
        raise KeyError(f"no column has a '{PUBLISHED_PREFIX}' partner; columns: {list(table.columns)}")
    return pd.Series({c: float(np.max(np.abs(table[c].to_numpy(float)
                                              - table[PUBLISHED_PREFIX + c].to_numpy(float))))
                      for c in pairs}, name="largest |ours − Kaplan (2010)|")


def varcorr_vs_published(fit: LmerFit, published_var, published_sd) -> pd.DataFrame:
    """Variances and SDs of the random effects and the residual (Kaplan's Tables
    2.1, 2.5, 2.9: ``Random effects``), ours and the published ones, residual last."""
    fitted_model(fit)
    vc = fit.varcorr[["Groups", "Name", "Variance", "Std.Dev."]]
    return with_published(with_published(vc, published_var, ["Variance"]), published_sd, ["Std.Dev."])


def fixed_vs_published(fit: LmerFit, published) -> pd.DataFrame:
    """Fixed-effects table (estimate, SE, t; Kaplan's Tables 2.1, 2.5, 2.9), ours
    and the published one: ``published`` has one row (estimate, SE, t) per fixed effect."""
    fitted_model(fit)
    return with_published(fit.coef_table, published)


def school_table(fit: LmerFit, groups: Sequence, published_coef, published_ranef,
                 coef_names: Sequence[str] | None = None) -> pd.DataFrame:
    """``coef`` and ``ranef`` for chosen schools with Kaplan's values beside them
    (Tables 2.2/2.4, 2.6/2.8, 2.10/2.12).

    ``published_coef`` has one row per school and one column per ``coef_names``
    (default: all coefficients); ``published_ranef`` one row per school and one
    column per random effect (1-d for a single one).  Our random effects are
    the columns ``"ranef <name>"``.
    """
    fitted_model(fit)
    groups = list(groups)
    unknown = [g for g in groups if g not in fit.coef.index]
    if unknown:
        raise KeyError(f"groups {unknown} are not groups of the model")
    coef_names = list(fit.coef.columns if coef_names is None else coef_names)
    out = with_published(fit.coef.loc[groups, coef_names], published_coef)
    re = fit.ranef.loc[groups, fit.random_names].add_prefix("ranef ")
    re = with_published(re, np.asarray(published_ranef, dtype=float).reshape(len(groups), -1))
    return pd.concat([out, re], axis=1)


# ---------------------------------------------------------------------------
# Tables 2.2-2.4, 2.6-2.8, 2.10-2.12: coef, fixef and ranef of the three models
# ---------------------------------------------------------------------------
#: The nine schools of Kaplan's (2010) school tables, in its order.
KAPLAN_NINE = (28, 53, 59, 23, 7, 16, 2, 10, 37)

#: Kaplan's (2010) coef/fixef/ranef tables as printed (strings: the printed digits decide the rounding), by
#: model (``"vi"``: variable intercept, ``"vs"``: variable slope, ``"hlm"``: both vary) and what R printed;
#: ``coef`` and ``ranef`` have one tuple per school of :data:`KAPLAN_NINE`, one string per column.
_SCHOOL_TABLES_PRINTED = {
    ("vi", "coef", "Table 2.2", ("(Intercept)", "standLRT")): [
        ("-0.6088", "0.5633"), ("0.7269", "0.5633"), ("-0.6575", "0.5633"), ("-0.4885", "0.5633"),
        ("0.3819", "0.5633"), ("-0.4081", "0.5633"), ("0.5054", "0.5633"), ("-0.3353", "0.5633"),
        ("-0.1875", "0.5633")],
    ("vi", "fixef", "Table 2.3", ("(Intercept)", "standLRT")): [("0.002323916", "0.563307940")],
    ("vi", "ranef", "Table 2.4", ("(Intercept)",)): [
        ("-0.6111046",), ("0.7245383",), ("-0.6597868",), ("-0.4908383",), ("0.3795565",), ("-0.4104365",),
        ("0.5030942",), ("-0.3376540",), ("-0.1898233",)],
    ("vs", "coef", "Table 2.6", ("(Intercept)", "standLRT")): [
        ("-0.01462441", "0.5803311"), ("-0.01462441", "1.1235011"), ("-0.01462441", "0.7003846"),
        ("-0.01462441", "0.5548722"), ("-0.01462441", "0.3221863"), ("-0.01462441", "0.3408656"),
        ("-0.01462441", "0.8265095"), ("-0.01462441", "0.3717989"), ("-0.01462441", "0.4973572")],
    ("vs", "fixef", "Table 2.7", ("(Intercept)", "standLRT")): [("-0.01462441", "0.58782063")],
    ("vs", "ranef", "Table 2.8", ("standLRT",)): [
        ("-0.0074895",), ("0.5356804",), ("0.1125639",), ("-0.0329484",), ("-0.2656343",), ("-0.2469550",),
        ("0.2386888",), ("-0.2160217",), ("-0.0904634",)],
    ("hlm", "coef", "Table 2.10", ("(Intercept)", "standLRT")): [
        ("-0.6807917", "0.3690499"), ("0.6337418", "0.9075559"), ("-0.7299502", "0.4159633"),
        ("-0.5211349", "0.4405163"), ("0.3534431", "0.4046149"), ("-0.3755861", "0.4363625"),
        ("0.4590305", "0.7222757"), ("-0.3255777", "0.4190209"), ("-0.3050309", "0.4176832")],
    ("hlm", "fixef", "Table 2.11", ("(Intercept)", "standLRT")): [("-0.01164735", "0.55653515")],
    ("hlm", "ranef", "Table 2.12", ("(Intercept)", "standLRT")): [
        ("-0.6691444", "-0.1874853"), ("0.6453891", "0.3510208"), ("-0.7183029", "-0.1405719"),
        ("-0.5094876", "-0.1160188"), ("0.3650904", "-0.1519202"), ("-0.3639388", "-0.1201726"),
        ("0.4706778", "0.1657405"), ("-0.3139303", "-0.1375143"), ("-0.2933836", "-0.1388519")],
}


def kaplan_school_tables() -> pd.DataFrame:
    """Kaplan's (2010) tables of ``coef``, ``fixef`` and ``ranef`` for its three models (Tables 2.2–2.4,
    2.6–2.8, 2.10–2.12), every printed number as the printed string, in the original's order.

    A tidy table with the columns ``table`` (``"Table 2.3"``), ``model`` (``"vi"``, ``"vs"``, ``"hlm"``:
    variable intercept, variable slope, both vary), ``what`` (``"coef"``, ``"fixef"``, ``"ranef"``),
    ``school`` (``None`` for ``fixef``), ``term`` (lme4's coefficient name) and ``printed``; by table, then
    by column, then by school in the original's order (:data:`KAPLAN_NINE`).
    """
    rows = []
    for (model, what, table, terms), values in _SCHOOL_TABLES_PRINTED.items():
        schools = [None] if what == "fixef" else list(KAPLAN_NINE)
        for k, term in enumerate(terms):
            for school, v in zip(schools, values):
                rows.append({"table": table, "model": model, "what": what, "school": school, "term": term,
                             "printed": v[k]})
    out = pd.DataFrame(rows)
    out["school"] = pd.Series([r["school"] for r in rows], dtype=object)   # school numbers, None for fixef
    return out


# ---------------------------------------------------------------------------
# Tables 3.1 and 4.1: per-school intervals
# ---------------------------------------------------------------------------
#: Kaplan's (2010) Table 3.1 as printed (strings, so that the printed digits are
#: known): 95% limits (β0 lower, β0 upper, β1 lower, β1 upper) of the
#: hierarchical linear model, from its appendix function.
_TABLE_3_1_PRINTED = {
    28: ("-0.8878054", "-0.47379708", "0.2082923", "0.5298633"),
    53: ("0.4517852", "0.81569831", "0.7667573", "1.0482865"),
    59: ("-0.9631566", "-0.49676441", "0.2501228", "0.5818648"),
    23: ("-0.7864038", "-0.25587192", "0.2661476", "0.6149199"),
    7: ("0.1877281", "0.51913386", "0.2630274", "0.5461622"),
    16: ("-0.5424697", "-0.20869503", "0.2950651", "0.5776969"),
    2: ("0.2606685", "0.65738273", "0.5858264", "0.8586744"),
    10: ("-0.5296247", "-0.12153315", "0.2502329", "0.5878300"),
    37: ("-0.6232708", "0.01316396", "0.2321296", "0.6032463"),
}
_TABLE_3_1 = {g: tuple(float(x) for x in v) for g, v in _TABLE_3_1_PRINTED.items()}


def kaplan_table_3_1(printed: bool = False) -> pd.DataFrame:
    """Kaplan's (2010) Table 3.1 (the nine schools' 95% intervals for β0j and β1j
    of ``normexam ~ standLRT + (standLRT | school)``, computed with its appendix
    function), as a tidy table: ``group, term, lower, upper``, in the original's
    order of schools.  ``printed=True`` gives the limits as the printed
    strings (for :func:`rounds_to_printed`)."""
    table = _TABLE_3_1_PRINTED if printed else _TABLE_3_1
    rows = []
    for term, (lo, hi) in (("(Intercept)", (0, 1)), ("standLRT", (2, 3))):
        for g, v in table.items():
            rows.append({"group": g, "term": term, "lower": v[lo], "upper": v[hi]})
    return pd.DataFrame(rows)


def _check_intervals(ci: pd.DataFrame) -> None:
    if not isinstance(ci, pd.DataFrame):
        raise TypeError(f"intervals must be a DataFrame, got {type(ci).__name__}")
    missing = [c for c in ("group", "term", "lower", "upper") if c not in ci.columns]
    if missing:
        raise KeyError(f"the interval table lacks column(s) {missing}; it needs group, term, lower, upper "
                       f"(as shrinkage_ci returns)")


def interval_limits(ci: pd.DataFrame, labels: Mapping[str, str] | None = None,
                    index_name: str = "school") -> pd.DataFrame:
    """Tidy intervals laid out as Kaplan's Table 3.1: one row per group and the
    columns ``"<label> lower", "<label> upper"`` for every term in turn.

    ``labels`` maps term → short label (default ``b0``, ``b1``, … in the order
    the terms appear).  Rows keep the order of first appearance in ``ci``.
    """
    _check_intervals(ci)
    terms = list(dict.fromkeys(ci["term"]))
    labels = dict(labels) if labels is not None else {t: f"b{k}" for k, t in enumerate(terms)}
    unknown = [t for t in labels if t not in terms]
    if unknown:
        raise KeyError(f"terms {unknown} are not in the interval table; it has {terms}")
    order = list(dict.fromkeys(ci["group"]))
    wide = ci.pivot(index="group", columns="term", values=["lower", "upper"])
    cols = {}
    for t, lab in labels.items():
        cols[f"{lab} lower"] = wide[("lower", t)]
        cols[f"{lab} upper"] = wide[("upper", t)]
    return pd.DataFrame(cols).loc[order].rename_axis(index_name)


def interval_midpoints(ci: pd.DataFrame) -> pd.DataFrame:
    """Midpoints ``(lower + upper) / 2`` of tidy intervals, groups × terms.

    For a symmetric interval ``β*_qj ± z se`` (eq. 3.15) the midpoint is the
    estimate β*_qj, so a printed table of limits also tells its estimates.
    """
    _check_intervals(ci)
    mid = ci.assign(mid=(ci["lower"] + ci["upper"]) / 2)
    out = mid.pivot(index="group", columns="term", values="mid")
    out.columns.name = None
    return out.loc[list(dict.fromkeys(ci["group"]))]


def table_4_1(ci: pd.DataFrame, models: Mapping, groups: Sequence, *, x: str,
              intercept: str = "(Intercept)", labels: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Kaplan's Table 4.1: for each level-1 coefficient, the hierarchical
    model's intervals (``lower``, ``upper``) for the chosen schools beside each
    simpler model's coefficient for the same school.

    ``models`` maps a column label to a fitted model that
    :func:`coef_lines` can read (an ``lmer`` fit, a
    statsmodels OLS fit, or a DataFrame of per-group coefficients); ``x``
    names the slope's predictor.  Rows are indexed by (coefficient label,
    school), with labels ``β0j`` and ``β1j`` by default.
    """

    _check_intervals(ci)
    groups = list(groups)
    labels = dict(labels) if labels is not None else {intercept: "β0j", x: "β1j"}
    intervals = {}
    for term in labels:
        iv = ci[ci["term"] == term].set_index("group")
        missing = [g for g in groups if g not in iv.index]
        if missing:
            raise KeyError(f"no interval for {term!r} in group(s) {missing}")
        intervals[term] = iv
    lines = coef_lines(dict(models), groups, x=x, intercept=intercept)
    blocks = {}
    for term, label in labels.items():
        block = intervals[term].loc[groups, ["lower", "upper"]].copy()
        column = "intercept" if term == intercept else "slope"
        for name in models:
            block[name] = lines[lines["label"] == name].set_index("group").loc[groups, column].to_numpy()
        blocks[label] = block
    return pd.concat(blocks, names=["coefficient", "school"])


def outside_interval(table: pd.DataFrame) -> pd.DataFrame:
    """True where a model's coefficient lies outside the interval of its row
    (a :func:`table_4_1` table: every column other than ``lower``/``upper``)."""
    if not {"lower", "upper"} <= set(table.columns):
        raise KeyError("the table needs columns 'lower' and 'upper' (as table_4_1 returns)")
    coefs = table.drop(columns=["lower", "upper"])
    return coefs.lt(table["lower"], axis=0) | coefs.gt(table["upper"], axis=0)


def highlight_outside(table: pd.DataFrame, precision: int = 7, color: str = "#D55E00"):
    """A :func:`table_4_1` table as a pandas Styler, with the coefficients that
    fall outside their interval on a coloured background (Okabe–Ito vermilion,
    white bold text), as Kaplan (2010) marks them in red."""
    flags = outside_interval(table)
    css = np.where(flags, f"background-color: {color}; color: white; font-weight: bold", "")
    styles = pd.DataFrame("", index=table.index, columns=table.columns)
    styles[flags.columns] = css
    return style_table(table, precision=precision).apply(lambda _: styles, axis=None)


# ---------------------------------------------------------------------------
# Does our number round to the printed one?
# ---------------------------------------------------------------------------
#: column of :func:`printed_comparison` tables that holds the published value
PUBLISHED = "Kaplan (2010)"


def printed_comparison(rows) -> pd.DataFrame:
    """Every published number next to ours, at the published digits.

    ``rows`` are ``(quantity, printed, ours)``: a name, the published value as
    printed (a string) and our unrounded value.  Returns a DataFrame indexed by
    ``quantity`` with the columns ``"Kaplan (2010)"`` (as printed), ``"ours"``
    (ours with as many decimals), ``"difference"`` (ours − published, unrounded)
    and ``"rounds to printed?"``.
    """
    rows = list(rows)
    if not rows:
        raise ValueError("no rows to compare")
    for row in rows:
        if len(row) != 3:
            raise ValueError(f"each row must be (quantity, printed, ours), got {row!r}")
    names = [r[0] for r in rows]
    printed = [r[1] for r in rows]
    ours = np.array([float(r[2]) for r in rows])
    match = rounds_to_printed(ours, printed)
    table = pd.DataFrame({PUBLISHED: printed, "ours": [as_printed(o, p) for o, p in zip(ours, printed)],
                          "difference": ours - np.array([float(p) for p in printed]),
                          "rounds to printed?": match},
                         index=pd.Index(names, name="quantity"))
    table.attrs["ours"] = ours.tolist()   # unrounded, for hlm_course.ledger.ledger_rows
    return table


def _minus(text: str) -> str:
    return text.replace("-", "−")


def agreement_sentence(table: pd.DataFrame, what: str = "numbers") -> str:
    """A sentence saying how many numbers of a :func:`printed_comparison` table
    round to the printed value and naming each exception with both values,
    e.g. ``"13 of the 15 numbers round to the printed values; the exceptions are
    (Intercept) estimate (ours −0.01463, printed −0.01462) and …"``."""
    if "rounds to printed?" not in table.columns:
        raise KeyError("expected a table from printed_comparison (column 'rounds to printed?')")
    n, k = len(table), int(table["rounds to printed?"].sum())
    if k == n:
        return f"all {n} {what} round to the printed values"
    bad = table[~table["rounds to printed?"]]
    items = [f"{q} (ours {_minus(r['ours'])}, printed {_minus(r[PUBLISHED])})" for q, r in bad.iterrows()]
    listed = items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
    noun = "the exception is" if len(items) == 1 else "the exceptions are"
    return f"{k} of the {n} {what} round to the printed values; {noun} {listed}"


def printout_comparison(fit: LmerFit, *, header: Sequence[str] | None = None,
                        variances: Sequence[str] | None = None, sds: Sequence[str] | None = None,
                        fixed: Sequence[Sequence[str]] | None = None) -> pd.DataFrame:
    """A 2010 lme4 printout (Kaplan's Tables 2.1, 2.5, 2.9) against our fit, number
    by number (a :func:`printed_comparison` table).

    Every argument holds printed strings: ``header`` the five numbers of the
    line ``AIC BIC logLik deviance REMLdev`` (see :func:`old_lme4_header`),
    ``variances`` and ``sds`` the ``Random effects`` columns (residual last),
    ``fixed`` one ``(estimate, std. error, t value)`` per fixed effect.
    """
    fitted_model(fit)
    rows = []
    if header is not None:
        ours = old_lme4_header(fit)["ours"]
        if len(header) != len(ours):
            raise ValueError(f"header must give the five numbers {_HEADER}, got {len(header)}")
        rows += [(name, p, o) for name, p, o in zip(_HEADER, header, ours)]
    vc = fit.varcorr
    labels = [f"{g} {n}".strip() for g, n in zip(vc["Groups"], vc["Name"])]
    for what, column, printed in (("variance", "Variance", variances), ("SD", "Std.Dev.", sds)):
        if printed is None:
            continue
        if len(printed) != len(vc):
            raise ValueError(f"{what}s: expected {len(vc)} printed values ({labels}), got {len(printed)}")
        rows += [(f"{lab} {what}", p, o) for lab, p, o in zip(labels, printed, vc[column])]
    if fixed is not None:
        table = fit.coef_table
        if len(fixed) != len(table):
            raise ValueError(f"fixed: expected one (estimate, std. error, t value) per fixed effect "
                             f"{list(table.index)}, got {len(fixed)}")
        for name, printed in zip(table.index, fixed):
            if len(printed) != 3:
                raise ValueError(f"fixed: {name} needs (estimate, std. error, t value), got {printed!r}")
            rows += [(f"{name} {what}", p, o) for what, p, o in
                     zip(("estimate", "std. error", "t value"), printed, table.loc[name].iloc[:3])]
    return printed_comparison(rows)


def show_comparison(table: pd.DataFrame):
    """A :func:`printed_comparison` table styled for reading: numbers right-aligned,
    the difference in scientific notation, ``yes``/``no`` for the match."""
    if "rounds to printed?" not in table.columns:
        raise KeyError("expected a table from printed_comparison (column 'rounds to printed?')")
    return style_table(table, precision=None,
                       formatter={"difference": "{:+.1e}", "rounds to printed?": lambda b: "yes" if b else "no"})


def style_numbers(table: pd.DataFrame, precision: int | None = None, formatter=None, p_values=()):
    """``table`` in the book's table style (:func:`hlm_course.display.style_table`): numbers right-aligned
    in equal-width digits with cell padding, missing values blank, the columns named in ``p_values``
    shown by :func:`hlm_course.display.format_p`; ``precision`` and ``formatter`` as ``Styler.format``'s."""
    return style_table(table, precision=precision, p_columns=p_values, formatter=formatter)


def coef_lines(fits: Mapping, groups: Sequence | None = None, *, x: str,
               intercept: str = "(Intercept)") -> pd.DataFrame:
    """Per-group lines of several fitted models as one tidy table.

    ``fits`` maps a label to a fitted model: an ``hlm_course.lmer`` fit (its
    ``coef``), a statsmodels OLS result (one line, the same for every group),
    or a DataFrame of per-group coefficients indexed by group.  Returns
    columns ``group, intercept, slope, label`` (``label`` categorical in the
    order of ``fits``), e.g. to compare the models' lines group by group.
    ``x`` names the slope's predictor.
    """
    frames = []
    for label, fit in fits.items():
        if isinstance(fit, pd.DataFrame):
            coef = fit
        elif hasattr(fit, "coef") and isinstance(fit.coef, pd.DataFrame):
            coef = fit.coef
        elif hasattr(fit, "params"):
            params = pd.Series(fit.params).rename(index=lme4_name)
            if groups is None:
                raise ValueError(f"groups= is needed to draw the single line of {label!r} in every group")
            coef = pd.DataFrame([params] * len(groups), index=list(groups))
        else:
            raise TypeError(f"cannot read per-group coefficients from {label!r} ({type(fit).__name__})")
        missing = [c for c in (intercept, x) if c not in coef.columns]
        if missing:
            raise KeyError(f"{label!r} has no coefficient(s) {missing}; it has {list(coef.columns)}")
        sub = coef if groups is None else coef.loc[list(groups)]
        frames.append(pd.DataFrame({"group": sub.index, "intercept": sub[intercept].to_numpy(),
                                    "slope": sub[x].to_numpy(), "label": label}))
    out = pd.concat(frames, ignore_index=True)
    out["label"] = pd.Categorical(out["label"], categories=list(fits))
    return out
