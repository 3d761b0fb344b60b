"""Planning a two-level study by simulation: power and precision of the sector gap.

The planning model is the random-intercept model of the High School and Beyond data with group-centred SES
and the school's sector (in Bryk–Raudenbush notation, lme4's names in brackets)::

    level 1:  Y_ij = β_0j + γ10 cses_ij + r_ij,        r_ij ~ N(0, σ²)          [sigma^2]
    level 2:  β_0j = γ00 + γ01 Catholic_j + u_0j,      u_0j ~ N(0, τ00)         [(Intercept) | school]

(``mathach ~ cses + sector + (1 | school)``: γ00 is ``(Intercept)``, γ10 ``cses``, γ01 ``sectorCatholic``),
optionally with a random SES slope (τ11, τ01: ``(cses | school)``).  A *planned study* has J schools, half
of them Catholic, and n pupils in each; :func:`simulate_power` simulates ``nsim`` such studies from the
planning model (:func:`hlm_course.simulate_response`), refits them all at once
(:func:`hlm_course.inference.refit_many`) and tests the sector gap (or the SES slope) in each with a Wald
test.  The closed forms beside it (:func:`se_gap`, :func:`design_effect`, :func:`optimal_n`, …) are those of
Snijders & Bosker (2012, ch. 11) and Raudenbush (1997) for a balanced design; the tests check the
simulation against them.

Randomness comes from ``numpy.random.SeedSequence(seed)``: the same seed gives the same studies.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from numbers import Integral, Real

import numpy as np
import pandas as pd
from scipy import stats

from .lmer import LmerFit, MixedModelError, lmer

__all__ = ["PlanningModel", "planning_design", "simulate_power", "power_grid", "summarize_power",
           "design_effect", "effective_sample_size", "se_gap", "se_slope", "power_analytic", "optimal_n",
           "budget_designs"]

#: The fixed effects of the planning model, in lme4's order, and the coefficient each effect tests.
FIXED_NAMES = ["(Intercept)", "cses", "sectorCatholic"]
EFFECTS = {"gap": "sectorCatholic", "slope": "cses"}


def _check_number(value, name: str, *, positive: bool = False, nonnegative: bool = False) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (Real, np.floating, np.integer)):
        raise MixedModelError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not np.isfinite(value):
        raise MixedModelError(f"{name} must be finite, got {value!r}")
    if positive and value <= 0:
        raise MixedModelError(f"{name} must be positive, got {value!r}")
    if nonnegative and value < 0:
        raise MixedModelError(f"{name} must not be negative (it is a variance), got {value!r}")
    return value


def _check_int(value, name: str, minimum: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (Integral, np.integer)):
        raise MixedModelError(f"{name} must be a whole number, got {value!r}")
    if value < minimum:
        raise MixedModelError(f"{name} must be at least {minimum}, got {value}")
    return int(value)


def _check_schools(J) -> int:
    J = _check_int(J, "J (the number of schools)", 4)
    if J % 2:
        raise MixedModelError(f"J (the number of schools) must be even: half the schools are Catholic, "
                              f"half Public; got {J}")
    return J


@dataclasses.dataclass(frozen=True)
class PlanningModel:
    """The parameters a planned study is simulated from (Bryk–Raudenbush names).

    ``gamma00`` mean of a Public school (lme4 ``(Intercept)``), ``gamma01`` the sector gap
    (``sectorCatholic``), ``gamma10`` the within-school SES slope (``cses``); ``tau00`` the variance of
    school intercepts, ``sigma2`` the pupil-level variance; ``tau11``, ``tau01`` the variance of the SES
    slopes and its covariance with the intercepts (0 for a random-intercept model); ``sd_x`` the
    within-school SD of SES (``cses``).
    """

    gamma00: float
    gamma01: float
    gamma10: float
    tau00: float
    sigma2: float
    tau11: float = 0.0
    tau01: float = 0.0
    sd_x: float = 0.66

    def __post_init__(self):
        for name in ("gamma00", "gamma01", "gamma10", "tau01"):
            object.__setattr__(self, name, _check_number(getattr(self, name), name))
        for name in ("tau00", "tau11"):
            object.__setattr__(self, name, _check_number(getattr(self, name), name, nonnegative=True))
        object.__setattr__(self, "sigma2", _check_number(self.sigma2, "sigma2", positive=True))
        object.__setattr__(self, "sd_x", _check_number(self.sd_x, "sd_x", positive=True))
        if self.tau01 ** 2 > self.tau00 * self.tau11 * (1 + 1e-10):
            raise MixedModelError(f"tau01 = {self.tau01} is too large for tau00 = {self.tau00} and "
                                  f"tau11 = {self.tau11}: T must be a covariance matrix "
                                  "(|tau01| ≤ √(tau00·tau11))")

    @classmethod
    def from_fit(cls, fit: LmerFit, sd_x: float) -> "PlanningModel":
        """The parameters of a fit of ``mathach ~ cses + sector + (1 | school)`` or ``(cses | school)``."""
        if not isinstance(fit, LmerFit):
            raise MixedModelError(f"from_fit needs a fit from hlm_course.lmer, got {type(fit).__name__}")
        if list(fit.fixed_names) != FIXED_NAMES:
            raise MixedModelError(f"from_fit needs the fixed effects {FIXED_NAMES} "
                                  f"(mathach ~ cses + sector + ...), the fit has {list(fit.fixed_names)}")
        tau = fit.tau.to_numpy()
        if tau.shape == (1, 1):
            t11 = t01 = 0.0
        elif tau.shape == (2, 2) and list(fit.tau.index) == ["(Intercept)", "cses"]:
            t11, t01 = tau[1, 1], tau[0, 1]
        else:
            raise MixedModelError("from_fit needs the random effects (1 | school) or (cses | school), "
                                  f"the fit has {list(fit.tau.index)}")
        fe = fit.fixef
        return cls(gamma00=fe["(Intercept)"], gamma01=fe["sectorCatholic"], gamma10=fe["cses"],
                   tau00=tau[0, 0], sigma2=fit.sigma2, tau11=t11, tau01=t01, sd_x=sd_x)

    def replace(self, **changes) -> "PlanningModel":
        """A copy with some parameters changed (e.g. ``gamma01=0`` for the null hypothesis)."""
        return dataclasses.replace(self, **changes)

    @property
    def rho(self) -> float:
        """The (residual) intraclass correlation τ00 / (τ00 + σ²)."""
        return self.tau00 / (self.tau00 + self.sigma2)

    @property
    def random_slope(self) -> bool:
        return self.tau11 > 0 or self.tau01 != 0

    @property
    def formula(self) -> str:
        return "mathach ~ cses + sector + " + ("(cses | school)" if self.random_slope else "(1 | school)")

    @property
    def beta(self) -> np.ndarray:
        """(γ00, γ10, γ01), in lme4's order of the fixed effects."""
        return np.array([self.gamma00, self.gamma10, self.gamma01])

    @property
    def theta(self) -> np.ndarray:
        """lme4's θ: the lower Cholesky factor of T/σ², packed column by column."""
        s = np.sqrt(self.sigma2)
        l11 = np.sqrt(self.tau00)
        if not self.random_slope:
            return np.array([l11 / s])
        l21 = self.tau01 / l11 if l11 > 0 else 0.0
        l22 = np.sqrt(max(self.tau11 - l21 ** 2, 0.0))
        return np.array([l11, l21, l22]) / s


def planning_design(J: int, n: int, sd_x: float = 0.66, seed=None) -> pd.DataFrame:
    """A balanced design: J schools (the first half Public, the second Catholic) of n pupils each.

    ``cses`` is drawn N(0, sd_x²), centred within each school (it is group-centred SES) and scaled so that
    its pooled within-school SD, √(Σ cses² / (J(n − 1))), is exactly ``sd_x``: the design has the spread the
    planning formulas assume, and only the responses are random. Columns: ``school``, ``sector``
    (categorical, Public first), ``cses``.
    """
    J = _check_schools(J)
    n = _check_int(n, "n (pupils per school)", 2)
    sd_x = _check_number(sd_x, "sd_x", positive=True)
    rng = np.random.default_rng(seed)
    school = np.repeat(np.arange(1, J + 1), n)
    x = rng.normal(0.0, sd_x, (J, n))
    x -= x.mean(axis=1, keepdims=True)
    x *= sd_x / np.sqrt(np.sum(x ** 2) / (J * (n - 1)))
    sector = np.where(school <= J // 2, "Public", "Catholic")
    return pd.DataFrame({"school": school, "sector": pd.Categorical(sector, ["Public", "Catholic"]),
                         "cses": x.ravel()})


def _template(model: PlanningModel, design: pd.DataFrame, rng) -> LmerFit:
    """The planning model fitted once to one simulated study: it carries the design (X, Z) for the refits."""
    J = design["school"].nunique()
    b = rng.multivariate_normal(np.zeros(2), [[model.tau00, model.tau01], [model.tau01, model.tau11]],
                                size=J, method="eigh")
    j = design["school"].to_numpy() - 1
    x = design["cses"].to_numpy()
    catholic = (design["sector"] == "Catholic").to_numpy()
    y = (model.gamma00 + model.gamma01 * catholic + b[j, 0] + (model.gamma10 + b[j, 1]) * x
         + rng.normal(0.0, np.sqrt(model.sigma2), len(design)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a singular first study is fine: it only carries the design
        return lmer(model.formula, design.assign(mathach=y))


def _df(effect: str, model: PlanningModel, J: int, n: int) -> int:
    """Degrees of freedom of the t test (Snijders & Bosker 2012, §6.1): J − 2 for the level-2 sector gap
    (J schools, two level-2 coefficients); for the SES slope J − 2 if it varies between schools, else the
    within-school residual degrees of freedom J(n − 1) − 1."""
    if effect == "gap" or model.random_slope:
        return J - 2
    return J * (n - 1) - 1


def simulate_power(model: PlanningModel, J: int, n: int, nsim: int = 500, seed=None, *, alpha: float = 0.05,
                   effect: str = "gap", test: str = "t") -> pd.DataFrame:
    """Simulate ``nsim`` studies of J schools × n pupils from ``model``; refit and test each.

    ``effect``: ``"gap"`` tests γ01 (the sector gap, a level-2 effect), ``"slope"`` γ10 (the within-school
    SES slope, a level-1 effect). ``test``: ``"t"`` (Wald t with the degrees of freedom of :func:`_df`) or
    ``"z"`` (Wald z, the normal reference). Every study is fitted by REML, as ``hc.lmer`` does.

    Returns one row per simulated study: ``sim``, ``J``, ``n``, ``estimate``, ``se`` (lme4's standard
    error), ``statistic`` (estimate / se), ``df``, ``p`` and ``reject`` (p < alpha). ``.attrs`` holds
    ``true`` (the effect's true value), ``alpha``, ``test``, ``effect``, ``seconds`` and ``fallbacks`` (refits
    that needed the BOBYQA fallback).
    """
    if not isinstance(model, PlanningModel):
        raise MixedModelError(f"model must be a PlanningModel (PlanningModel.from_fit(fit, sd_x)), "
                              f"got {type(model).__name__}")
    J = _check_schools(J)
    n = _check_int(n, "n (pupils per school)", 2)
    nsim = _check_int(nsim, "nsim", 1)
    alpha = _check_number(alpha, "alpha")
    if not 0 < alpha < 1:
        raise MixedModelError(f"alpha must be between 0 and 1, got {alpha}")
    if effect not in EFFECTS:
        raise MixedModelError(f"effect must be one of {sorted(EFFECTS)}, got {effect!r}")
    if test not in ("t", "z"):
        raise MixedModelError(f"test must be 't' or 'z', got {test!r}")
    from .inference import refit_many
    from .simulate import simulate_response

    t0 = time.perf_counter()
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    s_design, s_first, s_sims = root.spawn(3)
    design = planning_design(J, n, model.sd_x, np.random.default_rng(s_design))
    template = _template(model, design, np.random.default_rng(s_first))
    Y = simulate_response(template, nsim, np.random.default_rng(s_sims), beta=model.beta, theta=model.theta,
                          sigma=np.sqrt(model.sigma2))
    refits = refit_many(template, Y)
    k = template.fixed_names.index(EFFECTS[effect])
    estimate = refits.beta[:, k]
    se = np.sqrt(refits.vcov[:, k, k])
    statistic = estimate / se
    df = _df(effect, model, J, n)
    p = 2 * (stats.t.sf(np.abs(statistic), df) if test == "t" else stats.norm.sf(np.abs(statistic)))
    out = pd.DataFrame({"sim": np.arange(nsim), "J": J, "n": n, "estimate": estimate, "se": se,
                        "statistic": statistic, "df": df if test == "t" else np.inf, "p": p, "reject": p < alpha})
    out.attrs.update(true=float(model.beta[k]), alpha=alpha, test=test, effect=effect,
                     seconds=time.perf_counter() - t0, fallbacks=int(getattr(refits, "n_fallback", 0)))
    return out


def power_grid(model: PlanningModel, J_values, n_values, nsim: int = 500, seed=None, **kwargs) -> pd.DataFrame:
    """:func:`simulate_power` for every J in ``J_values`` and n in ``n_values``: all simulated studies, one
    row each (seaborn aggregates them). Each (J, n) cell has its own random stream, derived from ``seed`` and
    (J, n), so a cell's studies do not depend on which other cells are in the grid."""
    if seed is None:
        seed = np.random.SeedSequence().entropy
    frames = []
    seconds = 0.0
    for J in J_values:
        for n in n_values:
            cell = simulate_power(model, J, n, nsim, np.random.SeedSequence(seed, spawn_key=(int(J), int(n))),
                                  **kwargs)
            seconds += cell.attrs["seconds"]
            frames.append(cell)
    out = pd.concat(frames, ignore_index=True)
    out.attrs.update({k: v for k, v in frames[0].attrs.items() if k != "seconds"}, seconds=seconds,
                     fallbacks=sum(f.attrs["fallbacks"] for f in frames))
    return out


def summarize_power(sims: pd.DataFrame, model: PlanningModel | None = None) -> pd.DataFrame:
    """One row per (J, n): simulated ``power`` and its Monte Carlo SE √(p(1 − p)/nsim), the SD of the
    estimates (the true SE, simulated), the root mean square of the estimated SEs, and — given ``model`` —
    the balanced-design formulas :func:`se_gap` / :func:`se_slope` and :func:`power_analytic`."""
    g = sims.groupby(["J", "n"])
    out = pd.DataFrame({"nsim": g.size(), "power": g["reject"].mean(), "sd_estimate": g["estimate"].std(),
                        "rms_se": np.sqrt(g["se"].apply(lambda s: np.mean(s ** 2)))})
    out["mc_se"] = np.sqrt(out["power"] * (1 - out["power"]) / out["nsim"])
    if model is not None:
        J = out.index.get_level_values("J").to_numpy()
        n = out.index.get_level_values("n").to_numpy()
        effect = sims.attrs.get("effect", "gap")
        if effect == "gap":
            out["se_formula"] = se_gap(J, n, model.tau00, model.sigma2)
        else:
            out["se_formula"] = se_slope(J, n, model.sigma2, model.sd_x, model.tau11)
        df = None if sims.attrs.get("test", "t") == "z" else sims.groupby(["J", "n"])["df"].first().to_numpy()
        out["power_formula"] = power_analytic(sims.attrs.get("true", model.gamma01), out["se_formula"].to_numpy(),
                                              df, sims.attrs.get("alpha", 0.05))
    return out.reset_index()


# ---------------------------------------------------------------------------
# closed forms for a balanced design
# ---------------------------------------------------------------------------
def design_effect(n, rho):
    """Kish's design effect 1 + (n − 1)ρ: how much a cluster sample of n per cluster inflates the variance
    of a mean, against a simple random sample of the same size."""
    n = np.asarray(n, dtype=float)
    if np.any(n < 1):
        raise MixedModelError("n (pupils per school) must be at least 1")
    if not 0 <= rho <= 1:
        raise MixedModelError(f"rho must be between 0 and 1, got {rho}")
    return 1 + (n - 1) * rho


def effective_sample_size(J, n, rho):
    """J n / (1 + (n − 1)ρ): the number of independent pupils worth as much as J schools of n pupils."""
    return np.asarray(J) * np.asarray(n) / design_effect(n, rho)


def se_gap(J, n, tau00, sigma2, share_catholic=0.5):
    """SE of the sector gap γ01 in a balanced design with known variances:
    √((τ00 + σ²/n) / (J p (1 − p))), p the share of Catholic schools (4(τ00 + σ²/n)/J for p = ½)."""
    J, n = np.asarray(J, dtype=float), np.asarray(n, dtype=float)
    if np.any(J < 2) or np.any(n < 1):
        raise MixedModelError("se_gap needs J ≥ 2 schools and n ≥ 1 pupils per school")
    if tau00 < 0 or sigma2 <= 0:
        raise MixedModelError("se_gap needs tau00 ≥ 0 and sigma2 > 0")
    return np.sqrt((tau00 + sigma2 / n) / (J * share_catholic * (1 - share_catholic)))


def se_slope(J, n, sigma2, sd_x, tau11=0.0):
    """SE of the within-school slope γ10 in a balanced design with group-centred x (within-school SD sd_x):
    √((τ11 + σ²/((n − 1) sd_x²)) / J); with τ11 = 0, σ²/(J (n − 1) sd_x²) depends on J and n only through
    the number of pupils (strictly J(n − 1), the within-school degrees of freedom)."""
    J, n = np.asarray(J, dtype=float), np.asarray(n, dtype=float)
    if np.any(J < 2) or np.any(n < 2):
        raise MixedModelError("se_slope needs J ≥ 2 schools and n ≥ 2 pupils per school")
    return np.sqrt((tau11 + sigma2 / ((n - 1) * sd_x ** 2)) / J)


def power_analytic(effect, se, df=None, alpha: float = 0.05):
    """Power of a two-sided Wald test of size alpha: with ``df``, P(|T| > t_{1−α/2, df}) for T noncentral t
    with noncentrality effect/se; without, the normal approximation."""
    se = np.asarray(se, dtype=float)
    ncp = np.asarray(effect, dtype=float) / se
    if df is None:
        z = stats.norm.ppf(1 - alpha / 2)
        return stats.norm.sf(z - ncp) + stats.norm.cdf(-z - ncp)
    df = np.asarray(df, dtype=float)
    t = stats.t.ppf(1 - alpha / 2, df)
    return stats.nct.sf(t, df, ncp) + stats.nct.cdf(-t, df, ncp)


def optimal_n(c_school, c_pupil, rho):
    """The cluster size that minimises the variance of a level-2 effect for a fixed budget
    (Raudenbush 1997; Snijders & Bosker 2012, §11.4): n* = √((c_school / c_pupil)(1 − ρ)/ρ)."""
    c_school = _check_number(c_school, "c_school", positive=True)
    c_pupil = _check_number(c_pupil, "c_pupil", positive=True)
    rho = _check_number(rho, "rho")
    if not 0 < rho < 1:
        raise MixedModelError(f"rho must be strictly between 0 and 1, got {rho}")
    return float(np.sqrt(c_school / c_pupil * (1 - rho) / rho))


def budget_designs(budget, c_school, c_pupil, model: PlanningModel, n_values, alpha: float = 0.05) -> pd.DataFrame:
    """For each n, the largest even number of schools the budget pays for (J (c_school + n c_pupil) ≤ budget),
    its cost, the formula SE of the sector gap and the t-test power (df J − 2)."""
    budget = _check_number(budget, "budget", positive=True)
    c_school = _check_number(c_school, "c_school", positive=True)
    c_pupil = _check_number(c_pupil, "c_pupil", positive=True)
    n = np.asarray([_check_int(v, "n (pupils per school)", 2) for v in n_values])
    J = 2 * np.floor(budget / (c_school + n * c_pupil) / 2).astype(int)
    if np.any(J < 4):
        raise MixedModelError(f"the budget pays for fewer than 4 schools at n = {n[J < 4].tolist()}")
    se = se_gap(J, n, model.tau00, model.sigma2)
    return pd.DataFrame({"n": n, "J": J, "cost": J * (c_school + n * c_pupil), "se_formula": se,
                         "power_formula": power_analytic(model.gamma01, se, J - 2, alpha)})
