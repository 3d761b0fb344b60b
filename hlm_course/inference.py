"""Inference for mixed models: likelihood-ratio tables and the parametric bootstrap.

* ``anova(*fits, refit=True)`` — lme4's ``anova()`` table for nested fits (one fit: its fixed effects' table);
  REML fits are refitted by ML when fixed effects differ (``refit=True``),
  and a 50:50 χ² mixture p-value is added for variance-component tests,
  whose null value lies on the boundary of the parameter space
  (Self & Liang 1987; Stram & Lee 1994).
* ``pb_test(small, large, nsim, seed)`` — parametric bootstrap
  likelihood-ratio test, as pbkrtest's ``PBmodcomp`` (Halekoh & Højsgaard 2014).
* ``bootstrap_ci(fit, nsim, level, seed)`` — parametric bootstrap percentile
  intervals, as lme4's ``confint(method = "boot")``.

The refits themselves are the engine's (:mod:`hlm_course.lmer.batch`): for
one grouping factor only ``Z'y``, ``X'y`` and ``y'y`` change from one
simulated response to the next, so all refits run at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from .lmer import LmerFit, MixedModelError
from .lmer.batch import Refits, batch_deviance, progress_bar, refit_many
from .lmer.multiterm import LmerFitMulti
from .lmer.profile import register_bootstrap
from .multilevel import AttrFrame
from .simulate import simulate_response

def _same_data(fits, what: str) -> None:
    """Refuse models fitted to different data (lme4's anova does, for a different number of rows;
    here also for a different response or rows in a different order)."""
    n = {f.nobs for f in fits}
    if len(n) > 1:
        raise MixedModelError(f"{what}: models were fitted to different numbers of observations: {sorted(n)}")
    y0 = fits[0].y
    for f in fits[1:]:
        if not np.array_equal(f.y, y0):
            raise MixedModelError(
                f"{what}: the models were fitted to different data (their responses differ: "
                f"{fits[0].response or fits[0].parsed.response!r} vs {f.response or f.parsed.response!r}, or "
                "the rows differ); a likelihood-ratio test compares models of the same observations")


def _simulate(fit, nsim: int, seed) -> np.ndarray:
    """Responses simulated from a fit, without its offset (refits take them as they are):
    :func:`hlm_course.lmer.simulate.simulate_response`, for one grouping factor or several."""
    return simulate_response(fit, nsim, seed)


def _positive_int(value, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise MixedModelError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


__all__ = ["anova", "mixture_pvalue", "pb_test", "PBTest", "bootstrap_ci", "refit_many", "batch_deviance"]


# ---------------------------------------------------------------------------
# likelihood-ratio tables
# ---------------------------------------------------------------------------
def mixture_pvalue(chisq: float, df: int) -> float:
    """p-value from the 50:50 mixture of χ²_{df−1} and χ²_{df}.

    For adding one random effect to a model with ``df − 1`` others (e.g. a
    random slope next to a random intercept: df = 2), the LRT statistic is
    asymptotically this mixture when the null variance is zero (Stram & Lee
    1994).  χ²_0 is a point mass at zero.
    """
    if df < 1:
        raise ValueError(f"df must be at least 1, got {df}")
    lower = 0.0 if df == 1 else stats.chi2.sf(chisq, df - 1)
    if df == 1:
        lower = float(chisq <= 0)
    return float(0.5 * lower + 0.5 * stats.chi2.sf(chisq, df))


def _adds_one_random_effect(small: LmerFit, big: LmerFit, df: int) -> bool:
    """Whether ``big`` is ``small`` with one more random effect (and its covariances) and nothing else.

    Only then is the 50:50 mixture of χ²_{df−1} and χ²_{df} the null distribution
    of the LRT (Stram & Lee 1994, case 2: q random effects against q + 1, df = q + 1
    new parameters).  Adding two or more random effects at once gives a mixture of
    more χ² components, so no ``Pr(mixture)`` is reported for such a pair.
    """
    if isinstance(small, LmerFitMulti) or isinstance(big, LmerFitMulti):  # effects named by (group, effect)
        eff_small, eff_big = set(_random_effects(small)), _random_effects(big)
        added = [e for e in eff_big if e not in eff_small]
        size = big.term_size(added[0]) if (len(added) == 1 and isinstance(big, LmerFitMulti)) else -1
        return (df > 0 and big.fixed_names == small.fixed_names and eff_small <= set(eff_big)
                and len(added) == 1 and df == size)
    added = [name for name in big.random_names if name not in small.random_names]
    return (df > 0 and big.fixed_names == small.fixed_names
            and set(small.random_names) <= set(big.random_names)
            and len(added) == 1 and df == len(big.random_names))


def _random_effects(fit) -> list[tuple[str, str]]:
    """(grouping factor, effect) of each random effect of a fit."""
    if isinstance(fit, LmerFitMulti):
        return fit.random_effects
    return [(fit.group, name) for name in fit.random_names]


def anova(*fits: LmerFit, refit: bool = True, names: list[str] | None = None, **named) -> pd.DataFrame:
    """Likelihood-ratio comparison of nested fits, like lme4's ``anova()``.

    Models are ordered by number of parameters.  With ``refit=True`` REML
    fits are refitted by maximum likelihood (lme4: "refitting model(s) with
    ML"), which is required when the fixed effects differ.  With
    ``refit=False`` the REML criteria are compared, valid only when the
    fixed parts are identical.  Columns: npar, AIC, BIC, logLik, deviance
    (−2 log L), Chisq, Df, Pr(>Chisq), and Pr(mixture), the boundary-corrected
    p-value, where the larger model adds exactly one random effect (with its
    covariances) to the smaller one and nothing else (NaN otherwise).

    Any number of models (lme4's sequential table: each row against the row above, after ordering by npar,
    ties kept in the order given; ``Pr(>Chisq)`` is NaN where Df is 0, R's NA), one grouping factor or several.
    Models passed by keyword are named by it, as R names them by their variables:
    ``anova(m0=m0, m1=m1, m2=m2)``.  glmer fits go to :func:`hlm_course.lmer.glmm.anova_glmer`.  One fit alone
    gives lme4's ``anova(fit)``: the sequential table of its fixed-effects terms
    (:func:`hlm_course.lmer.anova.anova_fixed`).
    """
    if named:
        if names is not None:
            raise ValueError("give model names either as keywords or as names=, not both")
        names = [f"model{k + 1}" for k in range(len(fits))] + list(named)
        fits = tuple(fits) + tuple(named.values())
    from .lmer.glmm import GlmerFit, anova_glmer

    if len(fits) == 1 and isinstance(fits[0], (LmerFit, LmerFitMulti, GlmerFit)):  # lme4's one-model table
        from .lmer.anova import anova_fixed

        return anova_fixed(fits[0])
    if fits and all(isinstance(f, GlmerFit) for f in fits):
        if names is not None:
            raise ValueError("names= is not supported for glmer fits")
        return anova_glmer(*fits)
    bad = [type(f).__name__ for f in fits if not isinstance(f, (LmerFit, LmerFitMulti))]
    if bad:
        raise MixedModelError(f"anova compares fits from hc.lmer (or, all of them, from hc.glmer); got {bad}")
    if len(fits) < 2:
        raise MixedModelError("anova needs at least two fitted models to compare")
    _same_data(fits, "anova")
    names = list(names) if names is not None else [f"model{k + 1}" for k in range(len(fits))]
    if len(names) != len(fits):
        raise ValueError("names must have one entry per model")
    fixed_same = len({tuple(f.fixed_names) for f in fits}) == 1
    if not refit and not fixed_same and any(f.reml for f in fits):
        raise MixedModelError("REML criteria of models with different fixed effects are not comparable: "
                              "use refit=True (ML)")
    used = [f.refit(reml=False) if (refit and f.reml) else f for f in fits]
    order = sorted(range(len(used)), key=lambda k: used[k].npar)
    rows = []
    prev = None
    for k in order:
        f = used[k]
        row = {"model": names[k], "npar": f.npar, "AIC": f.aic, "BIC": f.bic, "logLik": f.loglik,
               "deviance": -2.0 * f.loglik, "Chisq": np.nan, "Df": np.nan, "Pr(>Chisq)": np.nan,
               "Pr(mixture)": np.nan}
        if prev is not None:
            chisq = max(2.0 * (f.loglik - prev.loglik), 0.0)
            df = f.npar - prev.npar
            row.update({"Chisq": chisq, "Df": df, "Pr(>Chisq)": stats.chi2.sf(chisq, df) if df > 0 else np.nan})
            if _adds_one_random_effect(prev, f, df):
                row["Pr(mixture)"] = mixture_pvalue(chisq, df)
        rows.append(row)
        prev = f
    out = pd.DataFrame(rows).set_index("model")
    out.attrs["refit"] = refit and any(f.reml for f in fits)
    return out


# ---------------------------------------------------------------------------
# parametric bootstrap likelihood-ratio test
# ---------------------------------------------------------------------------
@dataclass
class PBTest:
    """Result of ``pb_test``: the observed LRT, its χ² p-value and the bootstrap p-value."""

    lrt: float
    df: int
    p_chisq: float
    p_value: float
    stats: np.ndarray = field(repr=False)
    nsim: int = 0
    extremes: int = 0
    elapsed: float = 0.0

    def table(self) -> pd.DataFrame:
        """pbkrtest's two-row summary: LRT (χ² reference) and PBtest (bootstrap)."""
        return pd.DataFrame({"stat": [self.lrt, self.lrt], "df": [self.df, np.nan],
                             "p.value": [self.p_chisq, self.p_value]}, index=["LRT", "PBtest"])


def pb_test(small: LmerFit, large: LmerFit, nsim: int = 1000, seed=None, progress: bool = False) -> PBTest:
    """Parametric bootstrap likelihood-ratio test of ``small`` within ``large``.

    As pbkrtest's ``PBmodcomp``: both models are (re)fitted by ML; ``nsim``
    responses are simulated from the fitted small model; both models are
    refitted to each; the p-value is ``(1 + #{LRT* ≥ LRT}) / (1 + nsim)``.
    ``progress=True`` shows one bar over all ``2 × nsim`` refits.
    """
    _same_data([small, large], "pb_test")
    nsim = _positive_int(nsim, "nsim")
    if small.npar >= large.npar:
        raise MixedModelError(f"the small model must have fewer parameters than the large one "
                              f"({small.npar} vs {large.npar}); swap the arguments")
    t0 = time.perf_counter()
    small_ml = small.refit(reml=False) if small.reml else small
    large_ml = large.refit(reml=False) if large.reml else large
    lrt = max(2.0 * (large_ml.loglik - small_ml.loglik), 0.0)
    df = large_ml.npar - small_ml.npar
    Y = _simulate(small_ml, nsim, seed)
    bar = progress_bar(progress, 2 * nsim, "pb_test refits")
    try:
        crit_small = refit_many(small_ml, Y, reml=False, progress=bar).criterion
        crit_large = refit_many(large_ml, Y, reml=False, progress=bar).criterion
    finally:
        if bar is not None:
            bar.close()
    sims = np.maximum(crit_small - crit_large, 0.0)
    extremes = int(np.sum(sims >= lrt))
    return PBTest(lrt=lrt, df=df, p_chisq=float(stats.chi2.sf(lrt, df)),
                  p_value=(1 + extremes) / (1 + nsim), stats=sims, nsim=nsim, extremes=extremes,
                  elapsed=time.perf_counter() - t0)


# ---------------------------------------------------------------------------
# parametric bootstrap confidence intervals
# ---------------------------------------------------------------------------
def _sd_corr_names(fit: LmerFit) -> list[str]:
    """Names of the random-effect SDs and correlations in lme4's .sigNN order."""
    names, rn = [], fit.random_names
    q = len(rn)
    for j in range(q):
        names.append(f"sd_{rn[j]}")
        for i in range(j + 1, q):
            names.append(f"cor_{rn[i]}.{rn[j]}")
    return names


def sd_corr(theta: np.ndarray, sigma: np.ndarray, q: int) -> np.ndarray:
    """Random-effect SDs and correlations (lme4's .sig01, .sig02, … order) from θ and σ.

    ``T = σ² Λθ Λθ'``; rows of the result follow column-major order of the
    lower triangle, as lme4 lists them (sd of term 1, its correlations with
    later terms, sd of term 2, …).
    """
    from .lmer import lambda_theta

    theta = np.atleast_2d(theta)
    sigma = np.atleast_1d(sigma)
    out = []
    for th, s in zip(theta, sigma):
        lam = lambda_theta(th, q)
        T = s * s * lam @ lam.T
        sd = np.sqrt(np.diag(T))
        vals = []
        for j in range(q):
            vals.append(sd[j])
            for i in range(j + 1, q):
                vals.append(T[i, j] / (sd[i] * sd[j]) if sd[i] * sd[j] > 0 else np.nan)
        out.append(vals)
    return np.asarray(out)


def bootstrap_ci(fit: LmerFit, nsim: int = 1000, level: float = 0.95, seed=None,
                 progress: bool = False) -> pd.DataFrame:
    """Parametric bootstrap percentile intervals, like lme4's ``confint(method = "boot")``.

    Simulates ``nsim`` responses from the fit, refits each (same REML/ML
    setting) and takes the ``(1 − level)/2`` and ``(1 + level)/2`` quantiles of
    each parameter.  Rows, in lme4's order: random-effect SDs and correlations
    (lme4's ``.sig01``, ``.sig02``, …; column ``lme4``), ``sigma`` (lme4's
    ``.sigma``), then the fixed effects named as in ``fixef``.  Columns:
    ``estimate``, ``lower``, ``upper``, ``lme4``.  The replicates are kept in
    ``result.attrs["replicates"]``, the timing in ``result.attrs["elapsed"]``.
    """
    if isinstance(level, (bool, np.bool_)) or not isinstance(level, (int, float, np.integer, np.floating)) \
            or not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1 (a number), got {level!r}")
    level = float(level)
    nsim = _positive_int(nsim, "nsim")
    t0 = time.perf_counter()
    Y = _simulate(fit, nsim, seed)
    r = refit_many(fit, Y, progress=progress)
    if isinstance(fit, LmerFitMulti):
        return _bootstrap_table(fit, r, level, t0, nsim)
    q = fit.xp.q
    free = fit.free  # (x || g): no correlation parameters between separate terms
    rep = np.column_stack([sd_corr(r.theta, r.sigma, q)[:, free], r.sigma, r.beta])
    est = np.concatenate([sd_corr(fit.theta, np.array([fit.sigma]), q)[0][free], [fit.sigma], fit.pls.beta])
    names = [n for n, keep in zip(_sd_corr_names(fit), free) if keep] + ["sigma"] + fit.fixed_names
    nsig = int(np.sum(free))
    lme4 = [f".sig{k + 1:02d}" for k in range(nsig)] + [".sigma"] + fit.fixed_names
    alpha = (1 - level) / 2
    with np.errstate(invalid="ignore"):
        lo = np.nanquantile(rep, alpha, axis=0)
        hi = np.nanquantile(rep, 1 - alpha, axis=0)
    out = pd.DataFrame({"estimate": est, "lower": lo, "upper": hi, "lme4": lme4}, index=pd.Index(names, name="parameter"))
    out.attrs["replicates"] = AttrFrame(rep, columns=names)
    out.attrs["elapsed"] = time.perf_counter() - t0
    out.attrs["nsim"] = nsim
    out.attrs["level"] = level
    return out


def _multi_sd_corr(fit: LmerFitMulti, theta: np.ndarray, sigma: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """SDs and correlations of every term (lme4's .sig01, … order: term by term, each as :func:`sd_corr`) for
    rows of θ and σ, with their names (``sd_(Intercept)|plate``, ``cor_Days.(Intercept)|Subject``)."""
    theta, sigma = np.atleast_2d(theta), np.atleast_1d(sigma)
    off = fit.re.theta_offsets
    cols, names = [], []
    for i, t in enumerate(fit.re.terms):
        cols.append(sd_corr(theta[:, off[i]:off[i + 1]], sigma, t.k))
        for j in range(t.k):
            names.append(f"sd_{t.columns[j]}|{t.group}")
            names += [f"cor_{t.columns[m]}.{t.columns[j]}|{t.group}" for m in range(j + 1, t.k)]
    return np.column_stack(cols), names


def _bootstrap_table(fit: LmerFitMulti, r: Refits, level: float, t0: float, nsim: int) -> pd.DataFrame:
    """bootstrap_ci's table for a multi-term fit (rows in lme4's order: .sig01, …, .sigma, fixed effects)."""
    sc, names = _multi_sd_corr(fit, r.theta, r.sigma)
    rep = np.column_stack([sc, r.sigma, r.beta])
    est_sc, _ = _multi_sd_corr(fit, fit.theta, np.array([fit.sigma]))
    est = np.concatenate([est_sc[0], [fit.sigma], fit.pls.beta])
    names = names + ["sigma"] + fit.fixed_names
    lme4 = [f".sig{k + 1:02d}" for k in range(est_sc.shape[1])] + [".sigma"] + fit.fixed_names
    alpha = (1 - level) / 2
    with np.errstate(invalid="ignore"):
        lo = np.nanquantile(rep, alpha, axis=0)
        hi = np.nanquantile(rep, 1 - alpha, axis=0)
    out = pd.DataFrame({"estimate": est, "lower": lo, "upper": hi, "lme4": lme4},
                       index=pd.Index(names, name="parameter"))
    out.attrs["replicates"] = AttrFrame(rep, columns=names)
    out.attrs["elapsed"] = time.perf_counter() - t0
    out.attrs["nsim"] = nsim
    out.attrs["level"] = level
    return out


register_bootstrap(bootstrap_ci)  # the engine's confint(method="boot")
