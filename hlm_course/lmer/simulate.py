"""Simulating responses from a fitted linear mixed model: lme4's ``simulate.merMod``.

One function for every fit, one grouping factor (:class:`~hlm_course.lmer.fit.LmerFit`) or several
(:class:`~hlm_course.lmer.multiterm.LmerFitMulti`).  From the model of Bates et al. (2015), eqs. 2–3,

    y* = X β + Z b* + ε*,    b* = σ Λθ u*,  u* ~ N(0, I_q),    ε* ~ N(0, σ² I_n),

so that Var(b*) = σ² Λθ Λθ' = T and, marginally, y* ~ N(X β, σ² (Z Λθ Λθ' Z' + I)) — new random effects for each
simulation, lme4's default (``re.form = NA``, ``use.u = FALSE``).  ``re_form`` says which random effects are
held at their conditional modes b̂ instead (lme4's ``re.form``, in predict's spellings):

==============================  ==================================  =========================================
lme4                            here                                random effects
==============================  ==================================  =========================================
``re.form = NA`` (default),     ``re_form="NA"`` / False (default), all new: b* = σ Λθ u*
``use.u = FALSE``               ``use_u=False``
``re.form = NULL``,             ``re_form=None``, ``use_u=True``    all at b̂: y* ~ N(X β̂ + Z b̂, σ² I), centred
``use.u = TRUE``                                                    on the fitted values
``re.form = ~(1 | g)``          ``re_form="~(1 | g)"``              g's at b̂, the other terms' new
==============================  ==================================  =========================================

(lme4's ``.simulateFun``: ``predict(re.form)`` plus σ Z Λθ u* over the terms re.form leaves out.)  As lme4, give
``use_u`` or ``re_form``, not both.

Random numbers come from ``numpy.random.default_rng(seed)``, drawn in one order for every kind of fit (all
nsim × q of u*, then all nsim × n of ε*; with ``use_u=True`` only ε*), so the same seed gives the same numbers — and
not R's (R's generator differs; the tests check the draws' properties instead).
"""

from __future__ import annotations

import numpy as np

from .deviance import lambda_theta
from .errors import MixedModelError

__all__ = ["simulate_lmer", "simulate_response", "conditioned_effects", "RE_FORM_NA"]


class _ReFormNA:
    """lme4's default ``re.form = NA`` (new random effects) as a default that can tell "not given" from given."""

    def __repr__(self) -> str:
        return "'NA'"


#: simulate's default re_form: lme4's ``re.form = NA`` (every random effect new), not given by the caller
RE_FORM_NA = _ReFormNA()


def _nsim(nsim) -> int:
    if isinstance(nsim, (bool, np.bool_)) or not isinstance(nsim, (int, np.integer)) or nsim < 1:
        raise MixedModelError(f"nsim must be a positive integer, got {nsim!r}")
    return int(nsim)


def _is_multi(fit) -> bool:
    """Several random-effects terms (an LmerFitMulti: its blocked problem ``bp``) or one grouping factor (an
    LmerFit: per-group cross-products ``xp``); decided by what the fit holds, so that this module does not import
    the fit classes (their methods call it)."""
    if hasattr(fit, "bp") and hasattr(fit, "re"):
        return True
    if hasattr(fit, "xp") and hasattr(fit, "codes"):
        return False
    raise MixedModelError(f"simulate needs a fit from hc.lmer, got {type(fit).__name__}")


def _random_part(fit, b: np.ndarray) -> np.ndarray:
    """Z b for random effects ``b`` of shape (nsim, q) in the fit's order (level-major within each term)."""
    if _is_multi(fit):
        return (fit.re.Zt.T @ b.T).T
    J, k = fit.ngroups, fit.Z.shape[1]
    b3 = b.reshape(len(b), J, k)
    return np.einsum("nq,snq->sn", fit.Z, b3[:, fit.codes, :])


def conditioned_effects(fit, re_form=RE_FORM_NA, use_u=None) -> np.ndarray | None:
    """Which of the fit's random effects a simulation holds at their conditional modes (lme4's ``re.form``, or
    ``use.u``; see the module's table): a boolean vector in the order of the fit's b (an lmer fit) or u (a
    glmer fit), or None when every random effect is new."""
    from .predict import chosen_terms, no_random_effects, random_terms_of

    if use_u is not None:
        if re_form is not RE_FORM_NA:
            raise MixedModelError("should specify only one of use_u and re_form (lme4's message): use_u=True is "
                                  "re_form=None, use_u=False is re_form='NA'")
        if not isinstance(use_u, (bool, np.bool_)):
            raise MixedModelError(f"use_u must be True or False, got {use_u!r}")
        re_form = None if use_u else "NA"
    elif re_form is RE_FORM_NA:
        re_form = "NA"
    if no_random_effects(re_form):
        return None
    keep = np.asarray(chosen_terms(fit, re_form), bool)
    if not hasattr(fit, "problem") and not _is_multi(fit):  # one grouping factor: b is level-major, all terms
        blocks = np.zeros(len(fit.random_names), int) if fit.blocks is None else np.asarray(fit.blocks)
        return np.tile(keep[blocks], fit.ngroups)
    sizes = [t["b"].size for t in random_terms_of(fit)]  # term-major: each term's levels × columns
    return np.repeat(keep, sizes)


def simulate_response(fit, nsim: int = 1, seed=None, *, use_u=None, re_form=RE_FORM_NA, beta=None, theta=None,
                      sigma=None) -> np.ndarray:
    """The engine's simulation: ``nsim`` responses from a fit, shape (nsim, n), **without** the offset (the fit's
    ``y`` is y − offset, so refits take these as they are: the parametric bootstrap's responses).

    ``use_u=False`` or ``re_form="NA"`` (lme4's default): new random effects b* = σ Λθ u*; ``use_u=True`` or
    ``re_form=None``: the conditional modes b̂ (then ``theta`` cannot be changed); ``re_form="~(1 | g)"``: g's
    modes, the other terms' new.  ``beta``, ``theta``, ``sigma`` override the fitted values (lme4's
    ``newparams``)."""
    multi = _is_multi(fit)
    nsim = _nsim(nsim)
    keep = conditioned_effects(fit, re_form, use_u)
    use_u = keep is not None and bool(keep.all())
    rng = np.random.default_rng(seed)
    beta = fit.pls.beta if beta is None else np.asarray(beta, dtype=float)
    if beta.shape != fit.pls.beta.shape:
        raise MixedModelError(f"beta has {beta.size} elements, the model has {fit.pls.beta.size} fixed effects")
    sigma = fit.sigma if sigma is None else float(sigma)
    if not sigma >= 0:
        raise MixedModelError(f"sigma must be non-negative, got {sigma!r}")
    fixed = fit.X @ beta
    if use_u:
        if theta is not None:
            raise MixedModelError("use_u=True keeps the fitted random effects (their conditional modes); theta= "
                                  "cannot change them — use use_u=False to simulate new random effects")
        zb = _random_part(fit, fit.pls.b.reshape(1, -1))[0]
        eps = sigma * rng.standard_normal((nsim, fit.nobs))
        return (fixed + zb)[None, :] + eps
    theta = fit.theta if theta is None else np.asarray(theta, dtype=float)
    if theta.shape != fit.theta.shape:
        raise MixedModelError(f"theta has {theta.size} elements, the model has {fit.theta.size}")
    if multi:
        u = rng.standard_normal((nsim, fit.re.q))
        b = sigma * (fit.bp.lambda_(theta) @ u.T).T
    else:
        q = fit.xp.q
        u = rng.standard_normal((nsim, fit.ngroups, q))
        b = (sigma * u @ lambda_theta(theta, q).T).reshape(nsim, -1)
    if keep is not None:  # some terms at their modes (lme4's predict(re.form) + σ Z Λθ u* over the others)
        b = np.where(keep[None, :], fit.pls.b.reshape(1, -1), b)
    eps = sigma * rng.standard_normal((nsim, fit.nobs))
    return fixed[None, :] + _random_part(fit, b) + eps


def simulate_lmer(fit, nsim: int = 1, seed=None, *, use_u=None, re_form=RE_FORM_NA, beta=None, theta=None,
                  sigma=None) -> np.ndarray:
    """lme4's ``simulate(fit, nsim, seed, use.u, re.form)``: ``nsim`` simulated responses, shape (nsim, n), on the
    response's scale (the offset added back, as lme4's).  See the module's table and :func:`simulate_response`."""
    Y = simulate_response(fit, nsim, seed, use_u=use_u, re_form=re_form, beta=beta, theta=theta, sigma=sigma)
    if fit.offset is not None:
        Y = Y + np.asarray(fit.offset, float)[None, :]
    return Y
