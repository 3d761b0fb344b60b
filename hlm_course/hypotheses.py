"""Predictions with standard errors, their differences, and the Hausman test.

Three tools for the labs' "hand-made effect plots" and first diagnostics, all
built on :func:`hlm_course.wald_tests.wald` (spida's ``wald``), so every
estimate, standard error and confidence limit is one row of a Wald table
``L β̂`` with covariance ``L V̂ L'``:

* :func:`expand_grid` -- every combination of the given values (R's
  ``expand.grid``): the rows at which to predict;
* :func:`fixed_design` -- the fixed-effects design rows of new data, built
  with the fitted model's own formula (patsy keeps the factor levels and
  any stateful transform);
* :func:`effect_grid` -- the fitted fixed part ``x₀'γ̂`` at each row of new
  data, with its standard error and a pointwise or simultaneous (Scheffé)
  confidence band: the ingredients of an effect plot;
* :func:`difference_grid` -- the difference of two such predictions row by
  row, ``(x₁ − x₀)'γ̂``, e.g. the Catholic − Public gap at each value of
  ses, with its band: a graph of confidence bounds for a family of
  hypotheses;
* :func:`hausman_test` -- Hausman's (1978) specification test comparing a
  within-group (fixed-effects) estimate with the random-effects one.

Monette's labs (Monette 2010, Lab 1 topics "Plotting the fitted model: hand-made
effect plots", "Graphs to show confidence bounds for hypotheses", "First
diagnostics: Hausman test") use these ideas with spida; the functions here
take a fitted :class:`~hlm_course.lmer.LmerFit` or a statsmodels OLS/WLS
result and return pandas objects.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd
import patsy
from scipy import stats

from .lmer import LmerFit, lme4_name
from .wald_tests import get_fix, hypothesis_matrix, wald

__all__ = ["expand_grid", "fixed_design", "effect_grid", "difference_grid", "HausmanTest", "hausman_test"]

BANDS = ("pointwise", "scheffe")


# ---------------------------------------------------------------------------
# 1. Rows at which to predict
# ---------------------------------------------------------------------------
def expand_grid(**columns) -> pd.DataFrame:
    """Every combination of the given values, the first column varying slowest.

    ``expand_grid(ses=np.linspace(-2, 2, 5), sector=["Public", "Catholic"])``
    has 10 rows.  A scalar is one value.  (R's ``expand.grid``, with the
    opposite order of variation, which keeps each line of an effect plot in
    consecutive rows.)
    """
    if not columns:
        raise ValueError("expand_grid needs at least one column, e.g. expand_grid(ses=[-1, 0, 1])")
    values = {}
    for name, v in columns.items():
        vals = [v] if isinstance(v, str) or np.ndim(v) == 0 else list(v)
        if len(vals) == 0:
            raise ValueError(f"column {name!r} has no values")
        values[name] = vals
    rows = list(itertools.product(*values.values()))
    out = pd.DataFrame(rows, columns=list(values))
    return out.infer_objects()


# ---------------------------------------------------------------------------
# 2. Design rows of new data
# ---------------------------------------------------------------------------
def _design_info(fit):
    """The patsy DesignInfo of a fit's fixed part and its coefficient names."""
    if isinstance(fit, LmerFit):
        return fit._fixed_design_info, list(fit.fixed_names)
    model = getattr(fit, "model", None)
    info = getattr(getattr(model, "data", None), "design_info", None)
    if info is None:
        raise TypeError(f"cannot rebuild the design of a {type(fit).__name__}: pass an LmerFit or a statsmodels "
                        "result fitted with a formula (smf.ols, smf.wls)")
    return info, list(get_fix(fit).beta.index)


def fixed_design(fit, newdata: pd.DataFrame) -> pd.DataFrame:
    """Fixed-effects design rows ``x₀'`` of ``newdata`` for ``fit``'s model.

    The columns are the fit's coefficient names in the fit's order (lme4's
    names: ``(Intercept)``, ``sectorCatholic``, ``ses:sectorCatholic``), the
    index is ``newdata``'s.  Factors may be given as strings; they must be
    levels seen in the fit.  Raises ``KeyError`` naming a missing column and
    ``ValueError`` for missing values.
    """
    if not isinstance(newdata, pd.DataFrame):
        raise TypeError(f"newdata must be a pandas DataFrame, got {type(newdata).__name__}")
    if len(newdata) == 0:
        raise ValueError("newdata has no rows")
    info, names = _design_info(fit)
    needed = sorted({n for f in info.factor_infos for n in _factor_names(f)})
    missing = [n for n in needed if n not in newdata.columns]
    if missing:
        raise KeyError(f"newdata lacks column(s) {missing} used by the model; it has {list(newdata.columns)}")
    bad = [n for n in needed if newdata[n].isna().any()]
    if bad:
        raise ValueError(f"newdata has missing values in {bad}: every prediction row must be complete")
    try:
        (dm,) = patsy.build_design_matrices([info], newdata, NA_action="raise", return_type="dataframe")
    except patsy.PatsyError as err:
        raise ValueError(f"cannot build the model's design for newdata: {err}") from err
    if isinstance(fit, LmerFit):  # R's names, interaction variables in order of first appearance
        dm.columns = [fit._fixed_r_names[c] for c in dm.columns]
    else:
        dm.columns = [lme4_name(c) for c in dm.columns]
    if set(dm.columns) != set(names):  # statsmodels names kept as patsy's when ambiguous
        dm.columns = list(info.column_names)
    dm.index = newdata.index
    return dm[names].astype(float)


def _factor_names(factor) -> list[str]:
    """Data columns a patsy factor evaluates (``C(sector)`` → ``sector``)."""
    import ast

    code = factor.name()
    try:
        tree = ast.parse(code, mode="eval")
    except SyntaxError:  # pragma: no cover - patsy accepted it
        return []
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    attr = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    builtin = {"C", "I", "Q", "np", "center", "standardize", "scale", "Treatment", "Sum", "True", "False", "None"}
    return [n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in called
            and id(n) not in attr and n.id not in builtin]


# ---------------------------------------------------------------------------
# 3. Predictions and differences with bands
# ---------------------------------------------------------------------------
def _band_table(fit, L: pd.DataFrame, newdata: pd.DataFrame, *, level: float, df, band: str) -> pd.DataFrame:
    """Wald estimates of the rows of ``L`` and a band, appended to ``newdata``."""
    if band not in BANDS:
        raise ValueError(f"band must be one of {BANDS}, got {band!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    L = L.copy()
    L.index = [f"row{k}" for k in range(len(L))]
    table = wald(fit, L, df=df, level=None)
    est = table["Estimate"].to_numpy()
    se = table["Std.Error"].to_numpy()
    dfs = table["DF"].to_numpy()
    if band == "pointwise":
        q = np.where(np.isinf(dfs), stats.norm.ppf(0.5 + level / 2),
                     stats.t.ppf(0.5 + level / 2, np.where(np.isinf(dfs), 1, dfs)))
    else:
        A = L.to_numpy()
        sv = np.linalg.svd(A, compute_uv=False)
        rank = int(np.sum(sv > max(A.shape) * sv.max() * np.finfo(float).eps)) if sv.size else 0
        if rank == 0:
            raise ValueError("the rows to predict are all zero: nothing to band")
        den = float(np.min(dfs))
        crit = stats.chi2.ppf(level, rank) if np.isinf(den) else rank * stats.f.ppf(level, rank, den)
        q = np.full(len(est), np.sqrt(crit))
    out = newdata.copy()
    out["estimate"] = est
    out["se"] = se
    out["lower"] = est - q * se
    out["upper"] = est + q * se
    out.attrs.update({"level": level, "band": band, "df": [float(v) for v in dfs]})
    return out


def effect_grid(fit, newdata: pd.DataFrame, *, level: float = 0.95, df=None,
                band: str = "pointwise") -> pd.DataFrame:
    """Estimated mean response ``x₀'γ̂`` at each row of ``newdata``, with a band.

    The fixed part of the model only (random effects at zero): the expected
    response of a *typical* group with the given level-2 values, which is
    what an effect plot draws.  Its standard error is
    ``√(x₀' V̂ x₀)`` with ``V̂ = vcov(γ̂)`` (for an ``LmerFit``, conditional
    on the variance components, as lme4's ``vcov``).

    Parameters
    ----------
    fit
        An :class:`~hlm_course.lmer.LmerFit` or a statsmodels formula fit.
    newdata
        One row per prediction, with every column the fixed part uses (see
        :func:`expand_grid`).
    level
        Confidence level of the band.
    df
        Denominator df (``None``: :func:`~hlm_course.wald_tests.wald`'s
        between/within df for an ``LmerFit``, the residual df for OLS;
        ``np.inf``: normal quantiles).
    band
        ``"pointwise"`` (each row's own ``level`` interval) or ``"scheffe"``
        (simultaneous over every linear combination of the rows, with
        ``q = √(r F(level; r, df))``, ``r`` the rank of the rows' design:
        Scheffé 1959, *The Analysis of Variance*, §3.5).

    Returns
    -------
    ``newdata`` with columns ``estimate``, ``se``, ``lower``, ``upper``
    appended; ``.attrs`` records ``level``, ``band`` and the ``df`` used.
    """
    X = fixed_design(fit, newdata)
    return _band_table(fit, X, newdata, level=level, df=df, band=band)


def difference_grid(fit, newdata: pd.DataFrame, reference: pd.DataFrame, *, level: float = 0.95, df=None,
                    band: str = "pointwise") -> pd.DataFrame:
    """Difference of the fixed-part predictions at ``newdata`` and ``reference``, row by row.

    Row ``k`` estimates ``(x₁ₖ − x₀ₖ)'γ̂``: for example the Catholic −
    Public gap for the same ses (``newdata`` with ``sector="Catholic"``,
    ``reference`` the same rows with ``sector="Public"``).  Each row is a
    linear hypothesis ``Lₖ γ = 0``; the pointwise band shows where each is
    rejected at ``1 − level``, the Scheffé band bounds the whole curve at
    once.  Arguments and returned columns as :func:`effect_grid`; the
    result keeps ``newdata``'s columns.
    """
    if not isinstance(reference, pd.DataFrame) or len(reference) != len(newdata):
        raise ValueError(f"reference must be a DataFrame with the same number of rows as newdata "
                         f"({len(newdata)}), got {len(reference) if hasattr(reference, '__len__') else reference!r}")
    X1 = fixed_design(fit, newdata)
    X0 = fixed_design(fit, reference.set_axis(newdata.index))
    L = X1 - X0
    if not np.any(L.to_numpy()):
        raise ValueError("newdata and reference give the same design rows: every difference is zero")
    return _band_table(fit, L, newdata, level=level, df=df, band=band)


# ---------------------------------------------------------------------------
# 4. The Hausman test
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class HausmanTest:
    """Result of :func:`hausman_test`.

    ``table`` has one row per compared coefficient: the fixed-effects (within)
    estimate ``FE``, the random-effects estimate ``RE``, their difference and
    its standard error ``√(V_FE − V_RE)``.  ``statistic`` is Hausman's
    ``H = d'(V_FE − V_RE)⁻ d`` with ``df`` the rank of ``V_FE − V_RE`` and
    ``pvalue`` from χ²_df.  When the two estimates coincide (the group
    means of the compared variables are in the random-effects model,
    Mundlak 1978) ``H`` is 0, ``df`` the number of terms and ``note`` says so.
    """

    table: pd.DataFrame
    statistic: float
    df: int
    pvalue: float
    note: str = ""

    def frame(self) -> pd.DataFrame:
        """The test as a one-row DataFrame (``chisq``, ``df``, ``p-value``)."""
        return pd.DataFrame({"chisq": [self.statistic], "df": [self.df], "p-value": [self.pvalue]},
                            index=["Hausman"])

    def _repr_html_(self) -> str:
        return self.table.to_html(float_format=lambda v: f"{v:.4g}") + self.frame().to_html(
            float_format=lambda v: f"{v:.4g}")

    def __repr__(self) -> str:
        return (f"{self.table.to_string(float_format=lambda v: f'{v:.5g}')}\n"
                f"Hausman chisq = {self.statistic:.4g} on {self.df} df, p = {self.pvalue:.4g}"
                + (f" ({self.note})" if self.note else ""))


def _short(names, k: int = 8) -> str:
    """A list of names for an error message, cut after ``k``."""
    names = [str(n) for n in names]
    return str(names) if len(names) <= k else str(names[:k])[:-1] + f", ... ({len(names)} in all)]"


def hausman_test(fe_fit, re_fit, terms=None) -> HausmanTest:
    """Hausman's (1978) test of a random-effects estimate against the within estimate.

    Under the random-effects model both estimators are consistent and the
    random-effects (GLS) one is efficient, so ``Var(γ̂_FE − γ̂_RE) = V_FE −
    V_RE`` (Hausman 1978, *Econometrica* 46, Lemma 2.1); if the level-1
    variables are correlated with the random intercepts -- for example
    because the between-group effect differs from the within-group effect
    -- only the within estimate stays consistent and the two drift apart.
    ``H = d'(V_FE − V_RE)⁻ d`` is compared with χ² on the rank of
    ``V_FE − V_RE`` (a generalized inverse is used, as in Stata's
    ``hausman``).  Monette (2010), Lab 1: "First diagnostics: Hausman test".

    Parameters
    ----------
    fe_fit
        The within (fixed-effects) fit: statsmodels OLS with one dummy per
        group (e.g. ``hc.method_fixed_intercepts(data, sector=None).fit``),
        an ``LmerFit`` or a :class:`~hlm_course.wald_tests.FixedEffects`.
    re_fit
        The random-effects fit (an ``LmerFit``).
    terms
        Coefficients to compare, present in both fits: a list of names or a
        regular expression (matched against the random-effects fit's names);
        default: every coefficient the two fits share except the intercept.
        Only coefficients of level-1 variables are estimable in both.

    Raises
    ------
    KeyError
        a term is missing from one of the fits.
    ValueError
        no common coefficient, or ``V_FE − V_RE`` has no positive direction.
    """
    fe, re = get_fix(fe_fit), get_fix(re_fit)
    if terms is None:
        names = [n for n in re.beta.index if n in fe.beta.index and n != "(Intercept)"]
        if not names:
            raise ValueError("the two fits share no coefficient other than the intercept; name the terms to "
                             f"compare (FE: {_short(fe.beta.index)}, RE: {_short(re.beta.index)})")
    else:
        names = list(hypothesis_matrix(terms, re.beta.index).index)
    for which, f in (("fixed-effects", fe), ("random-effects", re)):
        absent = [n for n in names if n not in f.beta.index]
        if absent:
            raise KeyError(f"term(s) {absent} not in the {which} fit; its coefficients: {_short(f.beta.index)} "
                           "(a regular expression matches every name containing it: anchor it, e.g. '^ses$')")
    d = (fe.beta[names] - re.beta[names]).to_numpy()
    Vd = fe.vcov.loc[names, names].to_numpy() - re.vcov.loc[names, names].to_numpy()
    table = pd.DataFrame({"FE": fe.beta[names].to_numpy(), "RE": re.beta[names].to_numpy(), "FE - RE": d,
                          "SE(FE - RE)": np.sqrt(np.clip(np.diag(Vd), 0, None))}, index=names)
    se_fe = np.sqrt(np.diag(fe.vcov.loc[names, names].to_numpy()))
    if np.all(np.abs(d) <= 1e-8 * se_fe):
        # the two estimates coincide (e.g. the group means are in the RE model: Mundlak 1978); V_FE − V_RE
        # is then zero up to the two fits' estimates of σ², and H = 0 whatever its generalized inverse
        return HausmanTest(table=table, statistic=0.0, df=len(names), pvalue=1.0,
                           note="the two estimates coincide: H = 0")
    w, U = np.linalg.eigh(Vd)
    tol = max(len(names), 1) * np.abs(w).max() * np.finfo(float).eps * 100
    keep = w > tol
    if not keep.any():
        raise ValueError("V_FE − V_RE has no positive eigenvalue: the random-effects estimate is not more "
                         "precise than the within estimate, so the Hausman test is not defined here")
    pinv = (U[:, keep] / w[keep]) @ U[:, keep].T
    H = float(d @ pinv @ d)
    rank = int(keep.sum())
    note = "" if rank == len(names) else f"V_FE − V_RE has rank {rank} < {len(names)}: generalized inverse used"
    return HausmanTest(table=table, statistic=H, df=rank, pvalue=float(stats.chi2.sf(H, rank)), note=note)
