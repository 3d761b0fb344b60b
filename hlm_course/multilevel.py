"""Helpers for multilevel (long-format) data, after Monette's *spida* package.

A multilevel data set in *long* format has one row per level-1 unit (a
student) and repeats each level-2 unit's (school's) values on every one of
its rows.  Monette (2010) ("Easy manipulation of multilevel data", "Types of
variables in multilevel models") manipulates such data with four spida
functions, reproduced here for pandas:

* :func:`cvar` -- the *contextual* variable: the group mean of a level-1
  variable, repeated on every row of the group (a level-2 variable derived
  from level-1 data, e.g. a school's mean ses);
* :func:`dvar` -- the level-1 variable *centred within groups* (CWG):
  ``x - cvar(x, by)``;
* :func:`capply` -- apply any function to each group's rows and broadcast
  the result back to the rows;
* :func:`up` -- go *up* a level: one row per group with the variables that
  are constant within groups (level-2 variables), and optionally group means
  of numeric level-1 variables and modes of categorical ones.

:func:`is_level2` and :func:`level2_columns` classify columns as level-1
(varying within some group) or level-2 (constant within every group);
:func:`reorder` orders the levels of a label by a summary of another
variable (R's ``reorder``), e.g. schools by their mean ses.

Every function takes pandas objects and returns pandas objects aligned with
the input rows (``cvar``, ``dvar``, ``capply``) or indexed by the groups
(``up``).  Grouping values must not be missing.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence

import numpy as np
import pandas as pd

__all__ = ["AttrFrame", "cvar", "dvar", "capply", "up", "is_level2", "level2_columns", "reorder"]


# ---------------------------------------------------------------------------
# argument handling
# ---------------------------------------------------------------------------
def _check_columns(data: pd.DataFrame, names: Sequence[Hashable], what: str = "column") -> None:
    missing = [n for n in names if n not in data.columns]
    if missing:
        raise KeyError(f"{what}(s) {missing} not found in data; available columns: {list(data.columns)}")


def _by_names(by) -> list:
    """``by`` as a list of column names (a single name or a list of names)."""
    if isinstance(by, (list, tuple)):
        if len(by) == 0:
            raise ValueError("by must name at least one grouping column")
        return list(by)
    return [by]


def _keys(data: pd.DataFrame, by) -> list[str]:
    """Check that the grouping columns exist and have no missing values."""
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    names = _by_names(by)
    _check_columns(data, names, "grouping column")
    for name in names:
        n_na = int(data[name].isna().sum())
        if n_na:
            raise ValueError(f"grouping column {name!r} has {n_na} missing value(s); every row needs a group")
    return names


def _as_series(x, data: pd.DataFrame | None, what: str) -> pd.Series:
    """A column name (looked up in ``data``) or an array-like, as a Series."""
    if isinstance(x, pd.Series):
        return x
    if isinstance(x, pd.DataFrame):
        raise TypeError(f"{what} must be one column (a Series or a column name), got a DataFrame")
    if isinstance(x, str) or np.ndim(x) == 0:
        if data is None:
            raise TypeError(f"{what}={x!r} is a name: pass data=... to look it up, or pass the column itself")
        _check_columns(data, [x])
        return data[x]
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise ValueError(f"{what} must be one-dimensional, got shape {arr.shape}")
    index = data.index if data is not None and len(data) == len(arr) else None
    return pd.Series(arr, index=index)


def _group_frame(x: pd.Series, by, data: pd.DataFrame | None) -> tuple[pd.Series, list[pd.Series]]:
    """Align ``x`` with one or more grouping Series and check the groups."""
    by_list = by if isinstance(by, (list, tuple)) else [by]
    if len(by_list) == 0:
        raise ValueError("by must give at least one grouping variable")
    keys = []
    for k, b in enumerate(by_list):
        s = _as_series(b, data, "by")
        if len(s) != len(x):
            raise ValueError(f"x has {len(x)} rows but the grouping variable has {len(s)}")
        if isinstance(b, pd.Series) and not s.index.equals(x.index):
            raise ValueError("x and the grouping variable have different indexes: pass columns of the same "
                             "DataFrame (or reset their indexes)")
        s = pd.Series(s.to_numpy(), index=x.index, name=s.name if s.name is not None else f"by{k}")
        n_na = int(s.isna().sum())
        if n_na:
            raise ValueError(f"grouping variable {s.name!r} has {n_na} missing value(s); every row needs a group")
        keys.append(s)
    return x, keys


def _is_categorical(x: pd.Series) -> bool:
    return isinstance(x.dtype, pd.CategoricalDtype) or x.dtype == object or pd.api.types.is_string_dtype(x)


def _dummies(x: pd.Series, all_levels: bool) -> pd.DataFrame:
    """Treatment-coded indicators of a categorical, named like R's ``model.matrix``
    (``SexMale``); the first level is dropped unless ``all_levels``."""
    cat = x.astype("category") if not isinstance(x.dtype, pd.CategoricalDtype) else x
    levels = list(cat.cat.categories)
    if not all_levels:
        levels = levels[1:]
    name = x.name if x.name is not None else ""
    out = pd.DataFrame({f"{name}{lev}": (cat == lev).astype(float) for lev in levels}, index=x.index)
    out[cat.isna().to_numpy()] = np.nan
    return out


# ---------------------------------------------------------------------------
# cvar, dvar, capply
# ---------------------------------------------------------------------------
def cvar(x, by, data: pd.DataFrame | None = None, *, all_levels: bool = False):
    """Contextual variable: the group mean of ``x``, repeated on every row.

    Parameters
    ----------
    x
        A Series (or a column name when ``data`` is given).  Numeric or
        boolean: the result is the mean of ``x`` in the row's group (missing
        values skipped).  Categorical (pandas Categorical, strings): the
        result is a DataFrame with the within-group *proportion* of each
        level except the first (reference) level, with columns named as R
        names treatment dummies (``SexMale``); ``all_levels=True`` keeps the
        first level too.  This is spida's ``cvar`` (Monette (2010), "Types of
        variables in multilevel models": a level-2 variable derived from a
        level-1 variable).
    by
        The grouping variable: a Series, a column name (with ``data``), or a
        list of them for groups defined by several keys.  Must not contain
        missing values.
    data
        Optional DataFrame in which names are looked up.

    Returns
    -------
    pandas.Series (numeric ``x``) or DataFrame (categorical ``x``), aligned
    with ``x``'s index.

    Examples
    --------
    >>> hs["mean_ses"] = cvar(hs["ses"], hs["school"])          # doctest: +SKIP
    >>> cvar("Sex", "school", data=hs)["SexMale"]  # share of boys  # doctest: +SKIP
    """
    x = _as_series(x, data, "x")
    x, keys = _group_frame(x, by, data)
    if _is_categorical(x) and not pd.api.types.is_bool_dtype(x):
        dummies = _dummies(x, all_levels)
        return dummies.groupby([k.to_numpy() for k in keys], sort=False).transform("mean")
    if not (pd.api.types.is_numeric_dtype(x) or pd.api.types.is_bool_dtype(x)):
        raise TypeError(f"cvar needs a numeric, boolean or categorical x, got dtype {x.dtype}")
    return x.astype(float).groupby([k.to_numpy() for k in keys], sort=False).transform("mean")


def dvar(x, by, data: pd.DataFrame | None = None, *, all_levels: bool = False):
    """``x`` centred within groups: ``x - cvar(x, by)`` (spida's ``dvar``).

    The within-group deviation is a level-1 variable whose group means are
    all zero, so it carries only within-group information (Monette (2010):
    "centered within groups, CWG").  For a categorical ``x`` the result is
    the treatment indicators minus their group proportions (a DataFrame).
    Parameters as in :func:`cvar`.
    """
    x = _as_series(x, data, "x")
    contextual = cvar(x, by, data, all_levels=all_levels)
    if isinstance(contextual, pd.DataFrame):
        return _dummies(x, all_levels) - contextual
    return x.astype(float) - contextual


def capply(df, by, func: Callable, data: pd.DataFrame | None = None) -> pd.Series:
    """Apply ``func`` to each group's rows and broadcast the result back.

    spida's ``capply`` (Monette (2010): ``capply(hs$Sex == "Female", hs$school, mean)``
    gives each school's proportion of girls on every student's row).

    Parameters
    ----------
    df
        A DataFrame (``func`` receives each group's sub-DataFrame) or a Series
        (``func`` receives each group's sub-Series).
    by
        Grouping column name(s) of ``df`` (a DataFrame), or a Series / list of
        Series aligned with ``df``.
    func
        Returns either a scalar, which is repeated on every row of the group,
        or an array of the group's length, returned row by row.

    Returns
    -------
    pandas.Series aligned with ``df``'s index.
    """
    if not callable(func):
        raise TypeError(f"func must be callable, got {type(func).__name__}")
    if isinstance(df, pd.DataFrame):
        if isinstance(by, (str, int)) or (isinstance(by, (list, tuple)) and all(isinstance(b, str) for b in by)):
            names = _keys(df, by)
            keys = [df[n] for n in names]
        else:
            _, keys = _group_frame(pd.Series(index=df.index, dtype=float), by, None)
    elif isinstance(df, pd.Series):
        _, keys = _group_frame(df, by, data)
    else:
        raise TypeError(f"df must be a pandas DataFrame or Series, got {type(df).__name__}")

    result = np.empty(len(df), dtype=object)
    grouped = df.groupby([k.to_numpy() for k in keys], sort=False)
    for key, pos in grouped.indices.items():
        chunk = df.iloc[pos]
        value = func(chunk)
        if np.ndim(value) == 0:
            result[pos] = [value] * len(pos)
        else:
            value = np.asarray(value)
            if value.shape != (len(pos),):
                raise ValueError(f"func returned shape {value.shape} for group {key!r} of {len(pos)} rows; "
                                 "it must return a scalar or one value per row")
            result[pos] = list(value)
    return pd.Series(result, index=df.index, name=getattr(df, "name", None)).infer_objects()


# ---------------------------------------------------------------------------
# level-2 variables and up()
# ---------------------------------------------------------------------------
def _constant_within(data: pd.DataFrame, names: list[str]) -> pd.Series:
    """For every non-grouping column: is it constant within every group?

    Missing values count as a value (a column that is missing for some rows
    of a group and present for others varies), as in spida's ``up``.
    """
    others = [c for c in data.columns if c not in names]
    grouped = data.groupby(names, sort=False, observed=True)
    return pd.Series({c: bool((grouped[c].nunique(dropna=False) <= 1).all()) for c in others}, dtype=bool)


def is_level2(df: pd.DataFrame, col, by) -> bool:
    """True if column ``col`` is constant within every group of ``by``.

    Level-2 variables (Monette (2010): "vary between schools and do not vary within
    schools") are characteristics of the group, or summaries of level-1
    variables such as :func:`cvar`.
    """
    names = _keys(df, by)
    _check_columns(df, [col])
    if col in names:
        raise ValueError(f"{col!r} is the grouping column itself")
    return bool(_constant_within(df[names + [col]], names)[col])


def level2_columns(df: pd.DataFrame, by) -> list:
    """Names of the columns of ``df`` (other than ``by``) that are constant
    within every group, in the order of ``df``'s columns."""
    names = _keys(df, by)
    flags = _constant_within(df, names)
    return [c for c in flags.index if flags[c]]


def _mode(s: pd.Series):
    """Most frequent value; ties go to the first level (spida's ``Mode``)."""
    counts = s.value_counts(sort=False, dropna=True)
    if counts.empty:
        return np.nan
    return counts.idxmax()


def up(df: pd.DataFrame, by, agg: bool = False) -> pd.DataFrame:
    """One row per group: go *up* from level 1 to level 2 (spida's ``up``).

    Parameters
    ----------
    df
        A long-format DataFrame (one row per level-1 unit).
    by
        Name (or list of names) of the grouping column(s).  Must not contain
        missing values.
    agg
        ``False`` (default): keep only the level-2 columns -- those constant
        within every group (Monette's (2010) ``up(hs, ~ school)``).  ``True``: also
        summarize the level-1 columns -- group means of numeric and boolean
        columns, the most frequent value (mode) of categorical ones (Monette's (2010)
        ``up(hs, ~ school, all = TRUE)``); other columns are dropped.

    Returns
    -------
    DataFrame indexed by the groups (sorted, categorical groups in level
    order; index named after ``by``), with the columns in ``df``'s order.
    Column dtypes are kept for level-2 columns (Categoricals stay
    Categoricals).  Use ``.reset_index()`` to get ``by`` as a column, or merge
    with ``df.merge(up(df, by), on=by)``.
    """
    names = _keys(df, by)
    flags = _constant_within(df, names)
    grouped = df.groupby(names, sort=True, observed=True)
    level2 = [c for c in flags.index if flags[c]]
    out = grouped[level2].first() if level2 else grouped.size().to_frame("_n").drop(columns="_n")
    # ``first`` skips NaN; a column that is all-NaN in a group must stay NaN there (it is constant)
    for c in level2:
        if isinstance(df[c].dtype, pd.CategoricalDtype):
            out[c] = pd.Categorical(out[c], categories=df[c].cat.categories, ordered=df[c].cat.ordered)
    if agg:
        for c in flags.index:
            if flags[c]:
                continue
            s = df[c]
            if pd.api.types.is_bool_dtype(s) or (pd.api.types.is_numeric_dtype(s)
                                                 and not isinstance(s.dtype, pd.CategoricalDtype)):
                out[c] = grouped[c].mean().astype(float)
            elif _is_categorical(s):
                modes = grouped[c].agg(_mode)
                out[c] = (pd.Categorical(modes, categories=s.cat.categories, ordered=s.cat.ordered)
                          if isinstance(s.dtype, pd.CategoricalDtype) else modes)
        out = out[[c for c in df.columns if c in out.columns]]
    return out


def reorder(x, by, func: Callable = np.mean) -> pd.Series:
    """A categorical copy of ``x`` whose levels are sorted by ``func(by)`` within
    each level (R's ``reorder``; ties keep the sorted order of the values).

    Monette (2010) orders its school labels by sector, then mean ses, with
    ``reorder(ssid, ses + 1000 * (Sector == "Catholic"))``; with pandas:
    ``reorder(hs["sid"], hs["ses"] + 1000 * (hs["Sector"] == "Catholic"))``.
    Plots and :func:`up` then show the groups in that order.
    """
    x = _as_series(x, None, "x")
    by = _as_series(by, None, "by")
    if len(by) != len(x):
        raise ValueError(f"x has {len(x)} rows but by has {len(by)}")
    n_na = int(x.isna().sum())
    if n_na:
        raise ValueError(f"x has {n_na} missing value(s); every row needs a label")
    if not pd.api.types.is_numeric_dtype(by) or pd.api.types.is_bool_dtype(by):
        raise TypeError(f"by must be numeric, got dtype {by.dtype}")
    score = pd.Series(by.to_numpy(dtype=float), index=x.index).groupby(x.to_numpy()).agg(
        lambda v: func(v.to_numpy()))
    order = sorted(score.index, key=lambda lev: (score[lev], str(lev)))
    return pd.Series(pd.Categorical(x.to_numpy(), categories=order), index=x.index, name=x.name)


class AttrFrame(pd.DataFrame):
    """A DataFrame to carry in another DataFrame's ``attrs`` (a test table, a covariance, replicates).

    pandas compares ``attrs`` with ``==`` when it concatenates frames or
    prints a wide one; a plain DataFrame there makes that comparison
    ambiguous and crashes the print.  This subclass compares as a whole
    (``DataFrame.equals``) and survives pandas' deep copies of ``attrs``;
    everything computed from it (columns, ``.round()``, arithmetic) is a
    plain DataFrame or Series.
    """

    @property
    def _constructor(self):
        return pd.DataFrame

    def __eq__(self, other):  # whole-frame comparison, as attrs need
        return isinstance(other, pd.DataFrame) and pd.DataFrame(self).equals(pd.DataFrame(other))

    def __ne__(self, other):
        return not self.__eq__(other)

    __hash__ = None

    def __deepcopy__(self, memo=None):
        return AttrFrame(pd.DataFrame(self).copy(deep=True))

