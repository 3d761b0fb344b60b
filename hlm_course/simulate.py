"""Simulating two-level data.

Two uses:

* ``simulate_response(fit, nsim, seed)`` draws new responses from a fitted
  model (one grouping factor or several: :mod:`hlm_course.lmer.simulate`), as lme4's ``simulate()``: new random effects ``b_j ~ N(0, T)`` and
  new residuals ``r_ij ~ N(0, σ²)`` around the fixed part ``X γ̂``.  The
  parametric bootstrap, likelihood-ratio bootstrap and coverage studies use it.
* ``simulate_two_level(...)`` makes a data set from chosen parameters, e.g.
  the simulated school of Monette's *Mixed Models with R* (γ = (12, 2),
  G = [[16, 8], [8, 25]], σ² = 20, N_j ~ Poisson(30), SES ~ N(0, 1)).

Randomness comes from ``numpy.random.default_rng(seed)``: the same seed gives
the same numbers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .lmer import LmerFit, LmerFitMulti, MixedModelError
from .lmer.simulate import RE_FORM_NA, simulate_lmer
from .lmer.simulate import simulate_response as _engine_simulate

__all__ = ["simulate", "simulate_response", "simulate_two_level", "monette_school"]


def simulate_response(fit, nsim: int = 1, seed=None, *, beta=None, theta=None, sigma=None,
                      use_u=None, re_form=RE_FORM_NA) -> np.ndarray:
    """Responses simulated from a fitted model (lme4's ``simulate``), shape (nsim, n), without the offset.

    ``y* = X β + Z b* + ε*`` with ``b* = σ Λθ u*``, ``u* ~ N(0, I_q)`` and
    ``ε* ~ N(0, σ² I)`` — so ``Var(b*_j) = σ² Λθ Λθ' = T`` (Bates et al. 2015,
    eqs. 2–3).  ``beta``, ``theta`` and ``sigma`` override the fitted values; ``use_u=True`` keeps the
    conditional modes b̂ (lme4's ``use.u``), as ``re_form=None`` does; ``re_form="~(1 | g)"`` keeps g's modes and
    draws the other terms' (lme4's ``re.form``).  One grouping factor or several: the engine's
    :func:`hlm_course.lmer.simulate.simulate_response`.
    """
    return _engine_simulate(fit, nsim, seed, use_u=use_u, re_form=re_form, beta=beta, theta=theta, sigma=sigma)


def simulate_two_level(n_groups: int, gamma=(12.0, 2.0), G=((16.0, 8.0), (8.0, 25.0)), sigma2: float = 20.0,
                       n_mean: float = 30.0, seed=None, x_mean: float = 0.0, x_sd: float = 1.0,
                       min_n: int = 2) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Data from a random-coefficients model with one level-1 predictor.

    Level 1: ``y_ij = β_0j + β_1j x_ij + r_ij``, ``r_ij ~ N(0, σ²)``;
    level 2: ``β_j = γ + u_j``, ``u_j ~ N(0, G)``.  Group sizes are
    ``N_j ~ Poisson(n_mean)`` (redrawn below ``min_n``) and ``x ~ N(x_mean, x_sd²)``.

    Returns ``(data, true_coef)``: ``data`` has columns group, x, y;
    ``true_coef`` has one row per group with the true ``intercept`` and
    ``slope`` (β_0j, β_1j) and ``n``.
    """
    gamma = np.asarray(gamma, dtype=float)
    G = np.asarray(G, dtype=float)
    if gamma.shape != (2,) or G.shape != (2, 2):
        raise MixedModelError("gamma must have 2 elements and G must be 2 × 2 (intercept and slope)")
    if not np.allclose(G, G.T) or np.linalg.eigvalsh(G).min() < 0:
        raise MixedModelError("G must be a symmetric positive semi-definite covariance matrix")
    if n_groups < 1:
        raise ValueError(f"n_groups must be at least 1, got {n_groups}")
    rng = np.random.default_rng(seed)
    sizes = rng.poisson(n_mean, n_groups)
    while np.any(sizes < min_n):
        small = sizes < min_n
        sizes[small] = rng.poisson(n_mean, small.sum())
    beta = gamma + rng.multivariate_normal(np.zeros(2), G, size=n_groups, method="eigh")
    group = np.repeat(np.arange(1, n_groups + 1), sizes)
    x = rng.normal(x_mean, x_sd, sizes.sum())
    b = beta[group - 1]
    y = b[:, 0] + b[:, 1] * x + rng.normal(0.0, np.sqrt(sigma2), sizes.sum())
    data = pd.DataFrame({"group": group, "x": x, "y": y})
    true_coef = pd.DataFrame({"intercept": beta[:, 0], "slope": beta[:, 1], "n": sizes},
                             index=pd.Index(np.arange(1, n_groups + 1), name="group"))
    return data, true_coef


def simulate(model: LmerFit | None = None, nsim: int = 1, seed=None, **params):
    """Simulate two-level data from a fitted model or from chosen parameters (lme4's ``simulate``).

    * ``simulate(fit, nsim, seed, use_u=False, beta=..., theta=..., sigma=...)``: ``nsim``
      new responses from a fitted model (one grouping factor or several), shape (nsim, n), offset included —
      :func:`hlm_course.lmer.simulate.simulate_lmer`; ``use_u=True`` keeps the fitted random effects (lme4's
      ``use.u``).
    * ``simulate(n_groups=J, gamma=..., G=..., sigma2=..., n_mean=..., seed=...)``:
      a new data set from parameters, ``(data, true_coef)`` — :func:`simulate_two_level`
      (Monette's (2010) simulated schools).
    """
    if model is not None:
        if not isinstance(model, (LmerFit, LmerFitMulti)):
            raise TypeError(f"simulate: model must be a fit from hlm_course.lmer, got {type(model).__name__}; "
                            "to simulate from parameters, pass them by name (n_groups=, gamma=, G=, sigma2=)")
        return simulate_lmer(model, nsim, seed, **params)
    if nsim != 1:
        raise ValueError("simulate: nsim counts responses simulated from a fitted model; "
                         "from parameters, give the number of schools as n_groups=")
    if "n_groups" not in params:
        raise ValueError("simulate: give a fitted model, or parameters including n_groups=")
    return simulate_two_level(seed=seed, **params)


# ---------------------------------------------------------------------------
# Monette (2010)'s printed simulated school
# ---------------------------------------------------------------------------
#: Monette (2010) ("A simulated example") prints its first simulated school in full, to two decimals:
#: the 23 students' SES, their level-1 errors ε and their outcomes Y, in the printed order.
_MONETTE_SES = [-1.05, -0.78, 1.05, -1.01, 0.77, 1.85, 0.87, -1.18, 0.18, 2.08, -1.14, -1.71,
                -0.64, -0.41, 0.86, 1.29, 0.04, 0.23, 0.90, 0.50, -2.10, -1.89, 0.38]
_MONETTE_EPS = [4.46, -0.73, 0.30, 7.63, -7.03, 1.20, -6.23, -4.66, 6.17, 0.75, -1.43, 0.46,
                3.64, -2.39, 2.24, 2.60, 3.96, 0.71, -3.74, 3.30, 4.42, -4.59, -3.61]
_MONETTE_Y = [14.53, 8.09, 0.70, 17.56, -5.34, -2.10, -4.99, 6.03, 10.58, -3.59,
              9.09, 13.57, 11.83, 4.75, 3.51, 1.88, 9.00, 4.91, -2.66, 6.24,
              19.37, 9.38, -0.13]


def monette_school() -> tuple[pd.DataFrame, np.ndarray]:
    """Monette (2010)'s printed simulated school, and its true coefficients recovered from the print.

    Returns the 23 students (columns ``x`` = SES, ``eps``, ``y``) and
    ``β_j = (β_0j, β_1j)``.  The original prints Y = β_0j + β_1j SES + ε but not
    β_j; since ``y - eps`` is an exact straight line in SES (up to the
    two-decimal rounding of the print), least squares of ``y - eps`` on SES
    recovers it.
    """
    d = pd.DataFrame({"x": _MONETTE_SES, "eps": _MONETTE_EPS, "y": _MONETTE_Y})
    X = np.column_stack([np.ones(len(d)), d["x"]])
    beta, *_ = np.linalg.lstsq(X, d["y"] - d["eps"], rcond=None)
    return d, beta
