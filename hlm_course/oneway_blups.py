"""The one-way ANOVA with random effects and its generalization to BLUPs.

Computations for Monette's (2010) chapters "The hierarchical model" and "From the
simple to the complex" that the book uses more than once:

* nlme's approximate intervals (:func:`nlme_intervals`): Wald intervals for
  the random-effect SDs and correlations and for σ on nlme's "natural" scale
  (log SD, ``log((1 + ρ)/(1 − ρ))``, log σ), from the observed information
  of the REML or ML criterion (Pinheiro & Bates 2000, §2.4.3; nlme's
  ``intervals.lme`` and ``lmeApVar``), with fixed-effect t intervals on
  nlme's denominator degrees of freedom (``hlm_course.wald_tests.between_within_df``);
  :func:`nlme_criteria` gives logLik, AIC and BIC as nlme counts them;
* weighted means of school means (:func:`weighted_means`): the mean of
  means, the student mean and the GLS mean with inverse-variance weights
  ``1/(τ00 + σ²/n_j)`` (Monette (2010), "Mixed model approach");
* BLUEs and BLUPs (:func:`shrink_toward`, :func:`blup_inverse_variance`,
  :func:`eblup_oneway`): each school's least-squares coefficients (from
  :func:`hlm_course.shrinkage.group_ols`) and their inverse-variance-weighted
  combination with the school's population
  line, ``β̃_j = (T⁻¹ + Z_j'Z_j/σ²)⁻¹ (T⁻¹ m_j + Z_j'Z_j/σ² β̂_j)`` (Monette (2010),
  "EBLUPs" and "Why BLUPs are called 'shrinkage' estimators"; Bryk &
  Raudenbush 1992, eq. 3.56);
* BLUEs against BLUPs by simulation (:func:`blue_blup_error_cov`,
  :func:`simulate_blue_blup`, :func:`blue_blup_mse`): with the fitted
  parameters taken as the truth, the BLUE's error variance ``σ²(X_j'X_j)⁻¹``
  and the BLUP's prediction-error variance ``(T⁻¹ + X_j'X_j/σ²)⁻¹``, checked
  by Monte Carlo (Monette (2010), "How can both BLUEs and BLUPs be best?");
* the GLS form of the mixed model (:func:`group_matrices`,
  :func:`gls_fixef`): ``γ̂ = (Σ X_j'Σ_j⁻¹X_j)⁻¹ Σ X_j'Σ_j⁻¹y_j`` with
  ``Σ_j = Z_j T Z_j' + σ² I`` (Monette (2010), "The GLS fit"; Laird & Ware 1982).

Notation (Bryk & Raudenbush): ``V_j = σ²(X_j'X_j)⁻¹`` is the sampling
variance of a group's least-squares coefficients, ``Δ_j = T + V_j`` their
variance over the population of groups, and ``Σ_j = Z_j T Z_j' + σ² I`` the
n_j × n_j covariance of the group's responses.

Every function takes an :class:`~hlm_course.lmer.LmerFit` (or pandas data)
and returns pandas objects.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import linalg, stats

from ._validate import fitted_model
from .lmer import LOG_2PI, LmerFit, MixedModelError, pls_solve
from .wald_tests import between_within_df
from .shrinkage import group_ols, level1_structure

__all__ = [
    "intraclass_correlation",
    "nlme_natural_params",
    "nlme_apvar",
    "nlme_intervals",
    "nlme_criteria",
    "weighted_means",
    "shrink_toward",
    "group_population_coef",
    "blup_inverse_variance",
    "eblup_oneway",
    "blue_blup_error_cov",
    "simulate_blue_blup",
    "blue_blup_mse",
    "group_matrices",
    "gls_fixef",
]


# ---------------------------------------------------------------------------
# checks shared by the functions below
# ---------------------------------------------------------------------------
def _check_random_intercept_only(fit: LmerFit, what: str) -> None:
    if fit.random_names != ["(Intercept)"]:
        raise MixedModelError(f"{what} needs a random-intercept model (1 | group); this fit has random "
                              f"terms {fit.random_names}")


def _check_boundary(fit: LmerFit, what: str) -> None:
    if fit.singular:
        raise MixedModelError(
            f"{what}: the fit is singular (a random-effect SD is estimated as zero or a correlation as ±1), "
            "so its log-SD is −∞ and the Wald interval on nlme's scale does not exist")


# ---------------------------------------------------------------------------
# the intraclass correlation
# ---------------------------------------------------------------------------
def intraclass_correlation(fit: LmerFit) -> float:
    """ρ = τ00 / (τ00 + σ²) of a random-intercept model (Monette (2010), "One-way
    ANOVA with random effects"; Bryk & Raudenbush 1992, eq. 2.10): the share
    of the variance of Y that lies between groups, and the correlation of two
    students of the same group."""
    fit = fitted_model(fit)
    _check_random_intercept_only(fit, "the intraclass correlation")
    tau00 = float(fit.tau.iloc[0, 0])
    return tau00 / (tau00 + fit.sigma2)


# ---------------------------------------------------------------------------
# nlme's natural parametrization and approximate intervals
# ---------------------------------------------------------------------------
def _natural_names(fit: LmerFit) -> list[str]:
    rn = fit.random_names
    names = [f"sd({n})" for n in rn]
    names += [f"cor({rn[i]},{rn[j]})" for i in range(len(rn)) for j in range(i + 1, len(rn))]
    return names + ["sigma"]


def nlme_natural_params(fit: LmerFit) -> pd.Series:
    """The variance parameters on nlme's natural scale, at the estimate.

    ``log sd`` of each random term, ``log((1 + ρ)/(1 − ρ))`` of each
    correlation (pairs in row order: (1,2), (1,3), (2,3)) and ``log σ``, as
    nlme's ``pdNatural`` and ``lSigma`` (Pinheiro & Bates 2000, §2.2.8, §2.4.3).
    Index: ``sd(term)``, ``cor(term1,term2)``, ``sigma`` (the untransformed names).
    """
    fit = fitted_model(fit)
    T = fit.tau.to_numpy()
    sd = np.sqrt(np.diag(T))
    q = len(sd)
    with np.errstate(divide="ignore"):
        vals = list(np.log(sd))
        for i in range(q):
            for j in range(i + 1, q):
                r = T[i, j] / (sd[i] * sd[j])
                vals.append(np.log((1 + r) / (1 - r)))
    vals.append(np.log(fit.sigma))
    return pd.Series(vals, index=_natural_names(fit), name="natural")


def _theta_from_natural(par: np.ndarray, q: int) -> tuple[np.ndarray, float]:
    """θ (lme4's relative Cholesky factor, column-wise lower triangle) and σ
    from natural parameters (log sd, z = log((1+ρ)/(1−ρ)), log σ)."""
    sd = np.exp(par[:q])
    R = np.eye(q)
    k = q
    for i in range(q):
        for j in range(i + 1, q):
            R[i, j] = R[j, i] = np.tanh(par[k] / 2.0)  # inverse of log((1+r)/(1-r))
            k += 1
    sigma = float(np.exp(par[-1]))
    L = np.linalg.cholesky(np.outer(sd, sd) * R / sigma ** 2)
    rows, cols = np.triu_indices(q)
    return L[cols, rows], sigma


def _minus2_loglik(par: np.ndarray, fit: LmerFit) -> float:
    """−2 × (REML or ML) log-likelihood at natural parameters, with the fixed
    effects profiled out (at β̂(θ)) but σ *not* profiled:

    ``logdet L + [logdet R_X] + m log(2πσ²) + r²_θ / σ²``, ``m = n − p`` (REML)
    or ``n`` (ML) (Bates et al. 2015, eqs. 32 and 39 before profiling σ).
    """
    theta, sigma = _theta_from_natural(par, fit.xp.q)
    sol = pls_solve(theta, fit.xp)
    s2 = sigma * sigma
    if fit.reml:
        m = sol.n - sol.p
        return sol.logdet_L + sol.logdet_RX + m * (LOG_2PI + np.log(s2)) + sol.pwrss / s2
    return sol.logdet_L + sol.n * (LOG_2PI + np.log(s2)) + sol.pwrss / s2


def _hessian(f, x: np.ndarray, h: float = 1e-2, extrapolate: bool = True) -> np.ndarray:
    """Central-difference Hessian, by default with one Richardson
    extrapolation step (error O(h⁴) instead of O(h²)); ``f`` is smooth and cheap."""
    x = np.asarray(x, dtype=float)

    def central(step):
        k = len(x)
        H = np.empty((k, k))
        f0 = f(x)
        E = np.eye(k) * step
        for i in range(k):
            H[i, i] = (f(x + E[i]) - 2 * f0 + f(x - E[i])) / step ** 2
            for j in range(i):
                H[i, j] = H[j, i] = (f(x + E[i] + E[j]) - f(x + E[i] - E[j]) - f(x - E[i] + E[j])
                                     + f(x - E[i] - E[j])) / (4 * step ** 2)
        return H

    if not extrapolate:
        return central(h)
    return (4.0 * central(h / 2) - central(h)) / 3.0


def nlme_apvar(fit: LmerFit, *, step: float = 1e-2, extrapolate: bool = True) -> pd.DataFrame:
    """nlme's ``apVar``: approximate covariance of the natural parameters.

    The inverse of the observed information ``−∂²ℓ/∂φ∂φ'`` of the REML (or
    ML) log-likelihood ℓ, as a function of ``φ`` = (log SDs, transformed
    correlations, log σ), with the fixed effects profiled out (nlme's
    ``lmeApVar``; Pinheiro & Bates 2000, §2.4.3).  nlme differentiates
    numerically with ``fdHess``, a quadratic fit with relative step
    ``ε^(1/3) ≈ 6e-6``, which loses several digits; here a central difference
    with ``step`` on the natural scale is used, Richardson-extrapolated unless
    ``extrapolate=False`` (accurate to about 8 significant digits).
    """
    if not step > 0:
        raise ValueError(f"step must be positive, got {step}")
    fit = fitted_model(fit)
    _check_boundary(fit, "nlme_apvar")
    phi = nlme_natural_params(fit)
    H = _hessian(lambda p: -0.5 * _minus2_loglik(p, fit), phi.to_numpy(), step, extrapolate)
    info = -H
    w = np.linalg.eigvalsh(info)
    if w.min() <= 0:
        raise MixedModelError("the observed information of the variance parameters is not positive definite "
                              f"(smallest eigenvalue {w.min():.3g}): nlme reports 'Non-positive definite "
                              "approximate variance-covariance' for such fits")
    cov = np.linalg.inv(info)
    return pd.DataFrame((cov + cov.T) / 2, index=phi.index, columns=phi.index)


def nlme_intervals(fit: LmerFit, level: float = 0.95) -> pd.DataFrame:
    """nlme's ``intervals()``: approximate confidence intervals for every parameter.

    * fixed effects: ``γ̂ ± t_{df}(1 − α/2) · SE`` with nlme's df (:func:`~hlm_course.wald_tests.between_within_df`);
    * random-effect SDs, correlations and σ: Wald intervals on the natural
      scale from :func:`nlme_apvar`, ``φ̂ ± z_{1−α/2} · se(φ̂)``, transformed back
      (``exp`` for SDs and σ, ``(e^z − 1)/(e^z + 1)`` for correlations).

    Returns a DataFrame indexed by parameter with columns ``part`` (fixed,
    random, sigma), ``lower``, ``est.`` and ``upper``.  Wald intervals on the
    log scale can be very wide (even useless) when an SD is poorly determined.
    """
    fit = fitted_model(fit)
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    alpha = 1 - level
    df = between_within_df(fit)
    t = stats.t.ppf(1 - alpha / 2, df.to_numpy())
    fixed = pd.DataFrame({"part": "fixed", "lower": fit.fixef - t * fit.se, "est.": fit.fixef,
                          "upper": fit.fixef + t * fit.se})
    phi = nlme_natural_params(fit)
    se = np.sqrt(np.diag(nlme_apvar(fit)))
    z = stats.norm.ppf(1 - alpha / 2)
    lo, hi = phi.to_numpy() - z * se, phi.to_numpy() + z * se
    q = len(fit.random_names)
    is_cor = np.array([name.startswith("cor(") for name in phi.index])

    def back(v):
        return np.where(is_cor, np.tanh(v / 2.0), np.exp(v))

    var = pd.DataFrame({"part": np.where(np.arange(len(phi)) == len(phi) - 1, "sigma", "random"),
                        "lower": back(lo), "est.": back(phi.to_numpy()), "upper": back(hi)},
                       index=phi.index)
    assert len(var) == q + q * (q - 1) // 2 + 1
    return pd.concat([fixed, var])


def nlme_criteria(fit: LmerFit) -> pd.Series:
    """logLik, AIC and BIC as nlme reports them.

    The log-likelihood and AIC are lme4's.  BIC differs for REML fits: nlme
    charges ``log(N − p)`` per parameter (the number of "observations" of the
    restricted likelihood), lme4 ``log N`` (Pinheiro & Bates 2000, §2.4.1).
    """
    fit = fitted_model(fit)
    n_eff = fit.nobs - len(fit.fixed_names) if fit.reml else fit.nobs
    return pd.Series({"logLik": fit.loglik, "AIC": fit.aic, "BIC": -2 * fit.loglik + fit.npar * np.log(n_eff),
                      "df": fit.npar}, name="nlme")


# ---------------------------------------------------------------------------
# weighted means of group means (one-way model)
# ---------------------------------------------------------------------------
def weighted_means(fit: LmerFit) -> pd.DataFrame:
    """Three estimates of γ00 as weighted means of the school means ȳ_j.

    Monette (2010) ("Estimating the one-way ANOVA model", "Mixed model approach"):
    every weighted mean ``Σ w_j ȳ_j`` with ``Σ w_j = 1`` is unbiased for γ00,
    with variance ``Σ w_j² (τ00 + σ²/n_j)``.  Rows:

    * ``mean of means`` — ``w_j = 1/J`` (the school mean);
    * ``overall mean`` — ``w_j = n_j / N`` (the student mean);
    * ``GLS`` — ``w_j ∝ 1/(τ00 + σ²/n_j)``, the minimum-variance choice:
      with the fit's τ̂00 and σ̂² it is the mixed model's γ̂00.

    Columns ``estimate`` and ``se`` (the square root of that variance, with
    the fit's τ̂00 and σ̂²).  Needs the model ``y ~ 1 + (1 | g)``.
    """
    fit = fitted_model(fit)
    _check_random_intercept_only(fit, "weighted_means")
    if fit.fixed_names != ["(Intercept)"]:
        raise MixedModelError(f"weighted_means needs the one-way model y ~ 1 + (1 | g); this fit has fixed "
                              f"effects {fit.fixed_names}")
    n = fit.xp.ZtZ[:, 0, 0]
    ybar = fit.xp.Zty[:, 0] / n
    v = float(fit.tau.iloc[0, 0]) + fit.sigma2 / n
    weights = {"mean of means": np.full_like(n, 1.0 / len(n)), "overall mean": n / n.sum(),
               "GLS": (1 / v) / np.sum(1 / v)}
    rows = {k: {"estimate": float(w @ ybar), "se": float(np.sqrt(np.sum(w ** 2 * v)))} for k, w in weights.items()}
    return pd.DataFrame(rows).T


# ---------------------------------------------------------------------------
# BLUEs and BLUPs
# ---------------------------------------------------------------------------
def _blues(fit: LmerFit) -> pd.DataFrame:
    """Each group's least-squares β̂_j (:func:`hlm_course.shrinkage.group_ols`),
    with an error naming the groups where it is not defined."""
    ols = group_ols(fit)
    bad = ols.estimable.index[~ols.estimable.to_numpy()]
    if len(bad):
        raise MixedModelError(
            f"X_j'X_j is singular in {len(bad)} group(s) of '{fit.group}' (e.g. {list(bad[:10])}): their "
            f"least-squares coefficients on {list(ols.coef.columns)} are not defined (too few rows or no "
            "spread of a predictor within the group)")
    return ols.coef


def shrink_toward(beta_hat, XtX, center, T, sigma2: float) -> np.ndarray:
    """Best linear predictor of β_j from its least-squares estimate, given the parameters.

    ``β̃_j = (T⁻¹ + X_j'X_j/σ²)⁻¹ (T⁻¹ c_j + (X_j'X_j/σ²) β̂_j)``: the
    inverse-variance-weighted mean of the population line ``c_j`` (variance T)
    and the BLUE ``β̂_j`` (variance σ²(X_j'X_j)⁻¹) — Monette (2010), "Why BLUPs are
    called 'shrinkage' estimators".  With known γ, T and σ² this is the BLUP;
    with estimates plugged in, the EBLUP.

    ``beta_hat``: (J, q) or (q,); ``XtX``: (J, q, q) or (q, q); ``center``:
    (J, q) or (q,); ``T``: (q, q), positive definite.  Returns an array shaped
    like ``beta_hat``.
    """
    beta_hat = np.asarray(beta_hat, dtype=float)
    single = beta_hat.ndim == 1
    B = np.atleast_2d(beta_hat)
    J, q = B.shape
    XtX = np.broadcast_to(np.asarray(XtX, dtype=float), (J, q, q))
    C = np.broadcast_to(np.asarray(center, dtype=float), (J, q))
    T = np.asarray(T, dtype=float)
    if T.shape != (q, q):
        raise ValueError(f"T must be {q} × {q} to match beta_hat, got shape {T.shape}")
    if not sigma2 > 0:
        raise ValueError(f"sigma2 must be positive, got {sigma2}")
    try:
        Tinv = np.linalg.inv(np.linalg.cholesky(T))
    except np.linalg.LinAlgError as err:
        raise MixedModelError("T must be positive definite to weight by its inverse (a singular T means some "
                              "random effect has no variance: the BLUP equals the population value there)") from err
    Tinv = Tinv.T @ Tinv
    P = XtX / sigma2
    rhs = (Tinv @ C[:, :, None] + P @ B[:, :, None])[:, :, 0]
    out = np.linalg.solve(Tinv + P, rhs[:, :, None])[:, :, 0]
    return out[0] if single else out


def group_population_coef(fit: LmerFit) -> pd.DataFrame:
    """Each group's population line ``m_j = W_j γ̂`` in the level-1 coefficients.

    For the intercepts-and-slopes-as-outcomes model
    ``m_j = (γ00 + γ01 W_j, γ10 + γ11 W_j)``: the mean line of the group's
    sector.  ``W_j`` is read off the fixed part by
    :func:`hlm_course.shrinkage.level1_structure`; columns are the level-1
    coefficients (the random terms plus any level-1 predictor with a fixed
    coefficient).
    """
    fit = fitted_model(fit)
    st = level1_structure(fit)
    gamma = fit.fixef.loc[st.gamma_names].to_numpy()
    return pd.DataFrame(st.W @ gamma, index=st.groups, columns=st.names)


def _all_random_structure(fit: LmerFit):
    """:func:`~hlm_course.shrinkage.level1_structure` of a fit in which every
    level-1 coefficient has a random effect (so T̂ is the full q × q matrix)."""
    st = level1_structure(fit)
    if not st.random.all():
        fixed = [n for n, r in zip(st.names, st.random) if not r]
        raise MixedModelError(
            f"level-1 coefficient(s) {fixed} have no random effect, so T is singular and the population "
            "line cannot be weighted by T⁻¹; the BLUP of such a coefficient is its population value "
            "(see hlm_course.shrinkage.shrinkage_ci for the general case)")
    return st


def blup_inverse_variance(fit: LmerFit) -> pd.DataFrame:
    """BLUPs as an inverse-variance-weighted mean of the BLUE and the population line.

    ``β̃_j = (T⁻¹ + Z_j'Z_j/σ²)⁻¹ (T⁻¹ m_j + (Z_j'Z_j/σ²) β̂_j)`` — the
    precision-weighted combination of the school's population line ``m_j``
    (precision T⁻¹: the school is one draw from the population) and its
    least-squares line ``β̂_j`` (precision ``Z_j'Z_j/σ²``) (Monette (2010), "Why BLUPs
    are called 'shrinkage' estimators"; Bryk & Raudenbush 1992, eq. 3.56).
    With the fit's γ̂, T̂ and σ̂² this equals lme4's ``coef`` on the random terms,
    i.e. ``m_j + ranef``.  Columns are the random terms.
    """
    fit = fitted_model(fit)
    _check_boundary(fit, "blup_inverse_variance needs T invertible")
    st = _all_random_structure(fit)
    blue = _blues(fit).to_numpy()
    m = group_population_coef(fit).to_numpy()
    blup = shrink_toward(blue, st.A, m, st.T, fit.sigma2)
    return pd.DataFrame(blup, index=fit.groups, columns=st.names)


def eblup_oneway(fit: LmerFit) -> pd.DataFrame:
    """The one-way model's EBLUPs by inverse-variance weighting, one row per group.

    Columns: ``n``; ``blue`` = ȳ_j; ``weight`` = the shrinkage factor
    ``λ_j = τ00/(τ00 + σ²/n_j) = (n_j/σ²)/(n_j/σ² + 1/τ00)``, the weight of the
    BLUE (Monette (2010), "EBLUPs"); ``blup = λ_j ȳ_j + (1 − λ_j) γ̂00``, which is lme4's
    ``coef``; ``ranef = blup − γ̂00``.  Needs ``y ~ 1 + (1 | g)``.
    """
    fit = fitted_model(fit)
    _check_random_intercept_only(fit, "eblup_oneway")
    if fit.fixed_names != ["(Intercept)"]:
        raise MixedModelError(f"eblup_oneway needs the one-way model y ~ 1 + (1 | g); this fit has fixed "
                              f"effects {fit.fixed_names}")
    n = fit.xp.ZtZ[:, 0, 0]
    blue = _blues(fit)["(Intercept)"].to_numpy()
    lam = float(fit.tau.iloc[0, 0]) / (float(fit.tau.iloc[0, 0]) + fit.sigma2 / n)
    g00 = float(fit.pls.beta[0])
    blup = lam * blue + (1 - lam) * g00
    return pd.DataFrame({"n": n.astype(int), "blue": blue, "weight": lam, "blup": blup, "ranef": blup - g00},
                        index=fit.groups)


# ---------------------------------------------------------------------------
# BLUEs against BLUPs, with the parameters known (a simulation)
# ---------------------------------------------------------------------------
def _known_parameters(fit: LmerFit, what: str):
    """Checks shared by the simulation functions; returns (st, T, σ², Z_j'Z_j)."""
    fit = fitted_model(fit)
    _check_boundary(fit, f"{what} needs T invertible")
    st = _all_random_structure(fit)
    if list(st.names) != list(fit.random_names):
        raise MixedModelError(f"{what} needs the level-1 coefficients {list(st.names)} in the order of the "
                              f"random terms {fit.random_names}")
    ZtZ = np.asarray(fit.xp.ZtZ, dtype=float)
    rank = np.linalg.matrix_rank(ZtZ)
    bad = fit.groups[rank < ZtZ.shape[1]]
    if len(bad):
        raise MixedModelError(
            f"{what}: X_j'X_j is singular in {len(bad)} group(s) of '{fit.group}' (e.g. {list(bad[:10])}), "
            "so their least-squares coefficients (BLUEs) are not defined")
    return st, fit.tau.to_numpy(dtype=float), float(fit.sigma2), ZtZ


def blue_blup_error_cov(fit: LmerFit) -> tuple[np.ndarray, np.ndarray]:
    """Error variances of each group's BLUE and BLUP, with known parameters.

    Returns two (J, q, q) arrays: the BLUE's sampling variance
    ``V_j = σ²(X_j'X_j)⁻¹`` and the BLUP's prediction-error variance
    ``Var(β̃_j − β_j) = (T⁻¹ + X_j'X_j/σ²)⁻¹`` (lme4's conditional variance of
    the random effects), with the fit's T̂ and σ̂² taken as the truth (Monette (2010),
    "How can both BLUEs and BLUPs be best?"; Henderson 1975).  ``X_j`` is the
    group's level-1 design, the columns of the random part.
    """
    _, T, s2, ZtZ = _known_parameters(fit, "blue_blup_error_cov")
    blue = s2 * np.linalg.inv(ZtZ)
    blup = np.linalg.inv(np.linalg.inv(T)[None] + ZtZ / s2)
    return blue, blup


def simulate_blue_blup(fit: LmerFit, nsim: int = 400, seed=None) -> dict:
    """Simulate every group's true line, BLUE and BLUP from the fitted model.

    The fit's γ̂, T̂ and σ̂² and each group's level-1 design ``X_j`` (the
    columns of the random part) are taken as the truth.  Each replication
    draws new true lines ``β_j = m_j + u_j``, ``u_j ~ N(0, T̂)``, with ``m_j``
    the group's population line (:func:`group_population_coef`), and new
    responses ``y_j = X_j β_j + r_j``, ``r_j ~ N(0, σ̂² I)``; then computes the
    BLUE ``β̂_j = (X_j'X_j)⁻¹X_j'y_j`` and the BLUP with the known parameters
    (:func:`shrink_toward`) — Monette (2010), "How can both BLUEs and BLUPs be
    best?".  Returns a dict of (nsim, J, q) arrays ``true``, ``blue`` and
    ``blup`` (groups in ``fit.groups`` order, coefficients in
    ``fit.random_names`` order).
    """
    if int(nsim) != nsim or nsim < 2:
        raise ValueError(f"nsim must be an integer of at least 2, got {nsim}")
    nsim = int(nsim)
    st, T, s2, ZtZ = _known_parameters(fit, "simulate_blue_blup")
    m = group_population_coef(fit).to_numpy()
    J, q = m.shape
    rng = np.random.default_rng(seed)
    B_true = m + rng.multivariate_normal(np.zeros(q), T, size=(nsim, J))
    Z = np.asarray(fit.Z, dtype=float)
    Y = (np.einsum("nq,snq->sn", Z, B_true[:, fit.codes, :])
         + rng.normal(0.0, np.sqrt(s2), size=(nsim, fit.nobs)))
    onehot = np.eye(J)[fit.codes]
    Zty = np.einsum("sn,nq,nj->sjq", Y, Z, onehot)
    B_blue = np.linalg.solve(ZtZ[None], Zty[..., None])[..., 0]
    B_blup = shrink_toward(B_blue.reshape(-1, q), np.tile(ZtZ, (nsim, 1, 1)), np.tile(m, (nsim, 1)), T,
                           s2).reshape(nsim, J, q)
    return {"true": B_true, "blue": B_blue, "blup": B_blup}


def blue_blup_mse(fit: LmerFit, nsim: int = 400, seed=None) -> pd.DataFrame:
    """Mean squared errors of BLUEs and BLUPs: simulated, with Monte Carlo error, and by formula.

    Runs :func:`simulate_blue_blup` and, for each level-1 coefficient,
    averages the squared errors ``(β̂_j − β_j)²`` and ``(β̃_j − β_j)²`` over
    groups and replications.  The Monte Carlo standard error is the SD over
    replications of the per-replication average, divided by √nsim
    (replications are independent).  The formula columns average the
    diagonals of :func:`blue_blup_error_cov` over groups.  Rows: the random
    terms; columns ``BLUE, simulated``, ``BLUE, MC SE``, ``BLUE, formula`` and
    the same for the BLUP.
    """
    sim = simulate_blue_blup(fit, nsim, seed)
    S, pev = blue_blup_error_cov(fit)
    cols = {}
    for name, est, formula in (("BLUE", sim["blue"], S), ("BLUP", sim["blup"], pev)):
        per_rep = ((est - sim["true"]) ** 2).mean(axis=1)  # (nsim, q)
        cols[f"{name}, simulated"] = per_rep.mean(axis=0)
        cols[f"{name}, MC SE"] = per_rep.std(axis=0, ddof=1) / np.sqrt(per_rep.shape[0])
        cols[f"{name}, formula"] = np.diagonal(formula, axis1=1, axis2=2).mean(axis=0)
    return pd.DataFrame(cols, index=pd.Index(fit.random_names, name="coefficient"))


# ---------------------------------------------------------------------------
# the Laird–Ware matrices and the GLS fit
# ---------------------------------------------------------------------------
def group_matrices(fit: LmerFit, group) -> dict:
    """The Laird–Ware pieces of one group: ``X_j``, ``Z_j``, ``y_j`` and
    ``Sigma`` = ``Σ_j = Z_j T̂ Z_j' + σ̂² I``, the covariance of ``y_j`` (Monette (2010),
    "Matrix form", where it is written V_j; Laird & Ware 1982).
    Returns a dict of DataFrames/Series labelled with the fit's names."""
    fit = fitted_model(fit)
    if group not in fit.groups:
        raise KeyError(f"group {group!r} is not a level of '{fit.group}' in this fit")
    k = fit.groups.get_loc(group)
    rows = np.flatnonzero(fit.codes == k)
    idx = fit.data.index[rows]
    Z = fit.Z[rows]
    Sigma = Z @ fit.tau.to_numpy() @ Z.T + fit.sigma2 * np.eye(len(rows))
    return {"X": pd.DataFrame(fit.X[rows], index=idx, columns=fit.fixed_names),
            "Z": pd.DataFrame(Z, index=idx, columns=fit.random_names),
            "y": pd.Series(fit.y[rows], index=idx, name=fit.parsed.response),
            "Sigma": pd.DataFrame(Sigma, index=idx, columns=idx)}


def gls_fixef(fit: LmerFit) -> tuple[pd.Series, pd.DataFrame]:
    """The fixed effects by explicit generalized least squares.

    ``γ̂ = (Σ_j X_j'Σ_j⁻¹X_j)⁻¹ Σ_j X_j'Σ_j⁻¹y_j`` with ``Σ_j = Z_j T̂ Z_j' + σ̂² I``
    built school by school (Monette (2010), "The GLS fit", where Σ_j is written V_j),
    and its covariance ``(Σ_j X_j'Σ_j⁻¹X_j)⁻¹``.  With the fit's T̂ and σ̂² this
    reproduces lme4's ``fixef`` and ``vcov``, which lme4 computes without ever
    forming Σ_j.
    """
    fit = fitted_model(fit)
    T = fit.tau.to_numpy()
    p = len(fit.fixed_names)
    A = np.zeros((p, p))
    b = np.zeros(p)
    order = np.argsort(fit.codes, kind="stable")
    bounds = np.searchsorted(fit.codes[order], np.arange(fit.ngroups + 1))
    for k in range(fit.ngroups):
        rows = order[bounds[k]:bounds[k + 1]]
        Z, X, y = fit.Z[rows], fit.X[rows], fit.y[rows]
        Sigma = Z @ T @ Z.T + fit.sigma2 * np.eye(len(rows))
        c = linalg.cho_factor(Sigma)
        A += X.T @ linalg.cho_solve(c, X)
        b += X.T @ linalg.cho_solve(c, y)
    cov = np.linalg.inv(A)
    return (pd.Series(cov @ b, index=fit.fixed_names, name="GLS"),
            pd.DataFrame(cov, index=fit.fixed_names, columns=fit.fixed_names))
