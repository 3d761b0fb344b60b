"""Families and links of a generalized linear mixed model, as lme4 evaluates them.

A GLMM's response module (Bates et al. 2015, §6, and lme4's
``src/glmFamily.cpp``) needs, for each observation, the inverse link
μ = g⁻¹(η), its derivative dμ/dη, the variance function V(μ), the deviance
residuals and the family's ``aic`` (−2 × the log-likelihood, up to the
weights).  This module gives them for the binomial family (logit, probit,
cloglog links) and the Poisson family (log link), with lme4's clamping:

* logit: μ = max(ε, min(1 − ε, plogis(η))), dμ/dη = max(ε, dlogis(η));
* probit: μ = min(1 − ε, pnorm(η)), dμ/dη = dnorm(η);
* cloglog: μ = max(ε, min(1 − ε, 1 − exp(−exp(η)))), dμ/dη = max(ε, exp(η − exp(η)));
* log: μ = max(ε, exp(η)) = dμ/dη;

ε is the machine epsilon; V(μ) = max(ε, μ(1 − μ)) (binomial) or μ (Poisson).
The ``aic`` functions are R's ``binomial()$aic`` and ``poisson()$aic``, which
lme4's Laplace criterion adds to the penalty (``glmResp::Laplace``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from .errors import MixedModelError

__all__ = ["Family", "binomial", "poisson", "as_family"]

EPS = np.finfo(float).eps
_LINKS = {"binomial": ("logit", "probit", "cloglog"), "poisson": ("log",)}


def _ylogy(y, mu):
    """y log(y/μ) with 0 log 0 = 0 (lme4's ``Y_log_Y``)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(y > 0, y * np.log(np.where(y > 0, y, 1.0) / mu), 0.0)


@dataclass(frozen=True)
class Family:
    """A GLM family with its link (R's ``family`` object): ``binomial("logit")``,
    ``binomial("probit")``, ``binomial("cloglog")``, ``poisson("log")``."""

    family: str
    link: str

    def __post_init__(self):
        if self.family not in _LINKS:
            raise MixedModelError(f"family must be 'binomial' or 'poisson', got {self.family!r}")
        if self.link not in _LINKS[self.family]:
            raise MixedModelError(f"the {self.family} family takes the link(s) {list(_LINKS[self.family])}, "
                                  f"got {self.link!r}")

    def __str__(self) -> str:
        return f"{self.family}({self.link})"

    # -- the link ------------------------------------------------------------------------------
    def linkfun(self, mu):
        """η = g(μ)."""
        mu = np.asarray(mu, float)
        if self.link == "logit":
            return special.logit(mu)
        if self.link == "probit":
            return special.ndtri(mu)
        if self.link == "cloglog":
            return np.log(-np.log1p(-mu))
        return np.log(mu)

    def linkinv(self, eta):
        """μ = g⁻¹(η), clamped as lme4 clamps it."""
        eta = np.asarray(eta, float)
        if self.link == "logit":
            return np.clip(special.expit(eta), EPS, 1 - EPS)
        if self.link == "probit":
            return np.minimum(special.ndtr(eta), 1 - EPS)
        if self.link == "cloglog":
            return np.clip(-np.expm1(-np.exp(eta)), EPS, 1 - EPS)
        return np.maximum(np.exp(eta), EPS)

    def mu_eta(self, eta):
        """dμ/dη."""
        eta = np.asarray(eta, float)
        if self.link == "logit":
            e = np.exp(-np.abs(eta))
            return np.maximum(e / (1 + e) ** 2, EPS)
        if self.link == "probit":
            return np.exp(-0.5 * eta * eta) / np.sqrt(2 * np.pi)
        if self.link == "cloglog":
            return np.maximum(np.exp(eta - np.exp(eta)), EPS)
        return np.maximum(np.exp(eta), EPS)

    # -- the distribution ----------------------------------------------------------------------
    def variance(self, mu):
        """V(μ)."""
        if self.family == "binomial":
            return np.maximum(mu * (1 - mu), EPS)
        return np.asarray(mu, float)

    def working(self, eta):
        """μ, dμ/dη and dμ/dη² / V(μ) at η in one pass (the working weights are wt times the last)."""
        eta = np.asarray(eta, float)
        if self.link == "logit":
            mu = special.expit(eta)
            if np.abs(eta).max() > 36.0:  # where plogis reaches ε or 1 − ε
                np.clip(mu, EPS, 1 - EPS, out=mu)
                me = np.maximum(mu * (1 - mu), EPS)
                return mu, me, me * me / self.variance(mu)
            me = mu * (1 - mu)
            return mu, me, me
        if self.link == "log":
            mu = np.exp(eta)
            if eta.min() < -36.0:
                np.maximum(mu, EPS, out=mu)
            return mu, mu, mu
        mu, me = self.linkinv(eta), self.mu_eta(eta)
        return mu, me, me * me / self.variance(mu)

    def dev_constant(self, y, wt):
        """The part of the deviance residuals that does not depend on μ: 2 wt (y log y + (1 − y) log(1 − y))
        (binomial) or 2 wt (y log y − y) (Poisson), per observation."""
        if self.family == "binomial":
            return 2 * wt * (special.xlogy(y, y) + special.xlogy(1 - y, 1 - y))
        return 2 * wt * (special.xlogy(y, y) - y)

    def dev_fast(self, y, mu, wt, const):
        """:meth:`dev_resids` with its constant precomputed (μ strictly inside the family's range)."""
        if self.family == "binomial":
            return const - 2 * wt * (y * np.log(mu) + (1 - y) * np.log1p(-mu))
        return const + 2 * wt * (mu - y * np.log(mu))

    def dev_resids(self, y, mu, wt):
        """Squared deviance residuals (R's ``dev.resids``)."""
        if self.family == "binomial":
            return 2 * wt * (_ylogy(y, mu) + _ylogy(1 - y, 1 - mu))
        return 2 * wt * (_ylogy(y, mu) - (y - mu))

    def aic_constant(self, y, n, wt):
        """The part of :meth:`aic` that does not depend on μ (computed once per fit)."""
        if self.family == "binomial":
            m = n if np.any(n > 1) else wt
            mr, k = np.round(m), np.round(m * y)
            with np.errstate(divide="ignore", invalid="ignore"):
                fac = np.where(m > 0, wt / np.where(m > 0, m, 1), 0.0)
                lchoose = special.gammaln(mr + 1) - special.gammaln(k + 1) - special.gammaln(mr - k + 1)
            return float(-2 * np.sum(fac * lchoose))
        return float(2 * np.sum(wt * special.gammaln(y + 1)))

    def aic(self, y, n, mu, wt, const: float | None = None):
        """R's ``family$aic``: −2 Σ (weighted) log density of y at μ."""
        if const is None:
            const = self.aic_constant(y, n, wt)
        if self.family == "binomial":
            m = n if np.any(n > 1) else wt
            mr, k = np.round(m), np.round(m * y)
            with np.errstate(divide="ignore", invalid="ignore"):
                fac = np.where(m > 0, wt / np.where(m > 0, m, 1), 0.0)
            ll = special.xlogy(k, mu) + special.xlog1py(mr - k, -mu)
            return const - 2 * float(np.sum(fac * ll))
        ll = special.xlogy(y, mu) - mu
        return const - 2 * float(np.sum(wt * ll))


def binomial(link: str = "logit") -> Family:
    """R's ``binomial(link)``: logit (default), probit or cloglog."""
    return Family("binomial", link)


def poisson(link: str = "log") -> Family:
    """R's ``poisson(link)``: the log link."""
    return Family("poisson", link)


def as_family(family) -> Family:
    """A :class:`Family` from ``"binomial"``, ``"poisson"``, ``"binomial(probit)"`` or a Family."""
    if isinstance(family, Family):
        return family
    if callable(family) and family in (binomial, poisson):  # lme4 takes family = binomial (the function)
        return family()
    if isinstance(family, str):
        s = family.replace(" ", "")
        name, link = s, None
        if "(" in s and s.endswith(")"):
            name, link = s[:-1].split("(", 1)
            link = link.replace("link=", "").strip("'\"") or None
        if name == "binomial":
            return binomial(link or "logit")
        if name == "poisson":
            return poisson(link or "log")
        if name == "gaussian":
            raise MixedModelError("family='gaussian' is a linear mixed model: use hc.lmer")
        raise MixedModelError(f"family must be 'binomial' or 'poisson' (or hc.binomial('probit'), ...), "
                              f"got {family!r}")
    raise MixedModelError(f"family must be a string such as 'binomial' or a Family, got {type(family).__name__}")
