"""What every fitted linear mixed model answers the same way (Bates et al. 2015, §5: lme4's ``merMod``
methods): the criteria (eqs. 34, 41), σ̂² (eqs. 33, 40), the fixed effects and their covariance
σ̂²(R_X'R_X)⁻¹, and the optimizer report, from a PLS solution whatever the random-effects structure."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import linalg

from .simulate import RE_FORM_NA

__all__ = ["MerMod"]


class MerMod:
    """What every fitted linear mixed model answers the same way — lme4's ``merMod`` methods that need only
    the PLS solution ``pls`` (``deviance``, ``sigma2``, ``beta``, ``RX``, ``theta``, ``pwrss``), ``reml``,
    ``fixed_names``, ``nobs``, ``npar``, ``resid``, ``runs`` and ``check``: the criteria, σ, the fixed effects
    and their covariance, and the optimizer report."""

    @property
    def reml_criterion(self) -> float:
        """REML criterion at convergence (−2 × REML log-likelihood, eq. 41)."""
        return self.pls.deviance(reml=True)

    @property
    def ml_deviance(self) -> float:
        """The ML deviance −2ℓ (eq. 34) at the fit's estimates: for an ML fit its deviance, for a REML fit
        the ML deviance profiled at the REML estimate of θ — lme4's ``deviance(fit, REML = FALSE)`` (not the
        deviance of an ML refit, which is smaller: ``fit.refit(reml=False).ml_deviance``)."""
        return self.pls.deviance(reml=False)

    @property
    def deviance(self) -> float:
        """lme4's ``deviance(fit)``: for an ML fit the deviance −2ℓ (eq. 34).  For a REML fit lme4 1.1-31
        returns the REML criterion and warns that this use is deprecated; so does this property.  Ask for
        what you mean: ``reml_criterion`` (lme4's ``REMLcrit``) or ``ml_deviance`` (lme4's
        ``deviance(fit, REML = FALSE)``)."""
        if self.reml:
            import warnings

            warnings.warn("deviance is deprecated for REML fits (as lme4's deviance()): it returns the REML "
                          "criterion; use fit.reml_criterion for the REML criterion or fit.ml_deviance for the "
                          "ML deviance at the REML estimates", FutureWarning, stacklevel=2)
            return self.reml_criterion
        return self.pls.deviance(reml=False)

    @property
    def loglik(self) -> float:
        """log-likelihood as lme4's ``logLik``: REML log-likelihood for REML fits."""
        return -0.5 * self.pls.deviance(self.reml)

    @property
    def aic(self) -> float:
        return -2.0 * self.loglik + 2.0 * self.npar

    @property
    def bic(self) -> float:
        return -2.0 * self.loglik + np.log(self.nobs) * self.npar

    @property
    def sigma2(self) -> float:
        """Level-1 variance σ² (eq. 33 for ML, eq. 40 for REML)."""
        return self.pls.sigma2(self.reml)

    @property
    def sigma(self) -> float:
        return float(np.sqrt(self.sigma2))

    @property
    def theta(self) -> np.ndarray:
        return self.pls.theta

    @property
    def fixef(self) -> pd.Series:
        """Fixed-effects estimates γ̂ (eq. 19), named as lme4 names them."""
        return pd.Series(self.pls.beta, index=self.fixed_names, name="Estimate")

    @property
    def vcov(self) -> pd.DataFrame:
        """σ̂² (R_X'R_X)⁻¹, lme4's ``vcov`` (conditional on θ̂)."""
        RXinv = linalg.solve_triangular(self.pls.RX, np.eye(len(self.fixed_names)))
        V = self.sigma2 * RXinv @ RXinv.T
        return pd.DataFrame(V, index=self.fixed_names, columns=self.fixed_names)

    @property
    def se(self) -> pd.Series:
        return pd.Series(np.sqrt(np.diag(self.vcov)), index=self.fixed_names, name="Std. Error")

    @property
    def coef_table(self) -> pd.DataFrame:
        """lme4's fixed-effects table: Estimate, Std. Error, t value."""
        return pd.DataFrame({"Estimate": self.fixef, "Std. Error": self.se,
                             "t value": self.fixef / self.se})

    @property
    def scaled_resid(self) -> pd.Series:
        return (self.resid / self.sigma).rename("scaled_resid")

    def predict(self, newdata: pd.DataFrame | None = None, re_form=None, allow_new_levels: bool = False) -> pd.Series:
        """lme4's ``predict``: X β̂ (+ offset) + the random effects of ``re_form`` — None all (lme4's
        ``re.form = NULL``), False none (``re.form = NA``), or a formula of the model's terms such as
        ``"~(1 | g)"`` — for ``newdata`` (the fitted rows if None) in the fit's model frame (its factor
        levels, its scale()/poly() parameters); new levels are an error unless ``allow_new_levels``, when their
        random effects are zero.  See :mod:`hlm_course.lmer.predict`."""
        from .predict import predict

        return predict(self, newdata, re_form=re_form, allow_new_levels=allow_new_levels)

    # -- after the fit: lme4's update, profile, confint, simulate (thin: see update.py, profile.py,
    #    simulate.py; one copy for LmerFit and LmerFitMulti)
    def update(self, formula: str | None = None, data=None, reml: bool | None = None, control=None):
        """lme4's ``update``: refit with a changed formula (R's dots: ``". ~ . + x"``), data, REML or control
        (:func:`hlm_course.lmer.update.update`)."""
        from .update import update

        return update(self, formula, data=data, reml=reml, control=control)

    def profile(self, which=None, **kwargs):
        """lme4's ``profile``: the profile ζ of every parameter on the ML deviance
        (:func:`hlm_course.lmer.profile.profile`)."""
        from .profile import profile

        return profile(self, which=which, **kwargs)

    def confint(self, parm=None, level: float = 0.95, method: str = "profile", **kwargs) -> pd.DataFrame:
        """lme4's ``confint``: profile (default), Wald or parametric bootstrap ("boot") intervals
        (:func:`hlm_course.lmer.profile.confint`)."""
        from .profile import confint

        return confint(self, parm=parm, level=level, method=method, **kwargs)

    def anova(self, *others) -> pd.DataFrame:
        """lme4's ``anova(fit)`` of one model: the sequential table of the fixed-effects terms (npar, Sum Sq,
        Mean Sq, F value; :func:`hlm_course.lmer.anova.anova_fixed`).  To compare models, ``hc.anova(m0, m1)``."""
        from .errors import MixedModelError

        if others:
            raise MixedModelError("fit.anova() takes no other model: it is lme4's one-model table of the fixed "
                                  "effects; compare fitted models with hc.anova(m0, m1, ...) (likelihood-ratio "
                                  "tests, lme4's anova(m0, m1))")
        from .anova import anova_fixed

        return anova_fixed(self)

    def simulate(self, nsim: int = 1, seed=None, use_u=None, re_form=RE_FORM_NA) -> np.ndarray:
        """Responses simulated from the fit (lme4's ``simulate``), (nsim, n), offset included:
        :func:`~hlm_course.lmer.simulate.simulate_lmer` (``use_u=True``: lme4's ``use.u``; ``re_form``: lme4's
        ``re.form`` — "NA" new random effects (default), None the conditional modes, "~(1 | g)" g's modes)."""
        from .simulate import simulate_lmer

        return simulate_lmer(self, nsim, seed, use_u=use_u, re_form=re_form)

    @property
    def optimizers(self) -> pd.DataFrame:
        """Every optimizer run (criterion, θ, evaluations, status) and, last, the
        convergence check at the estimate (its evaluations and verdict)."""
        rows = {"optimizer": [r.name for r in self.runs], "criterion": [r.criterion for r in self.runs],
                "theta": [np.round(r.theta, 6) for r in self.runs],
                "evaluations": [r.evaluations for r in self.runs], "status": [r.status for r in self.runs]}
        if self.check is not None:
            rows["optimizer"].append("check")
            rows["criterion"].append(self.pls.deviance(self.reml))
            rows["theta"].append(np.round(self.theta, 6))
            rows["evaluations"].append(self.check.evaluations)
            rows["status"].append(f"max|grad| {self.check.max_grad:.1e}; " + ("ok" if self.check.ok
                                                                            else self.check.message))
        return pd.DataFrame(rows)

    @property
    def optimizer_spread(self) -> float:
        """Largest criterion difference between the optimizer runs that ended
        normally (0 when one run sufficed)."""
        crit = [r.criterion for r in self.runs if np.isfinite(r.criterion)
                and r.status not in ("maxeval reached", "roundoff limited")]
        return float(max(crit) - min(crit)) if crit else float("nan")

    @property
    def converged(self) -> bool:
        """True when the optimum was checked (gradient and Hessian, lme4's
        checkConv extended to the boundary, see ``check``) and the estimates
        are finite.  An optimizer that hit its evaluation limit, a stop short of
        the minimum, a saddle point or NaN estimates are never converged."""
        if self.check is None:  # a fit assembled by hand: judge the run that gave the estimate
            best = min(self.runs, key=lambda r: r.criterion)
            return best.status not in ("maxeval reached", "roundoff limited")
        finite = (np.all(np.isfinite(self.pls.beta)) and np.isfinite(self.pls.pwrss) and self.pls.pwrss > 0
                  and np.all(np.isfinite(self.theta)))
        return bool(self.check.ok and finite)

    def _criterion_lines(self) -> list[str]:
        """summary()'s head: the criterion (REML) or the information criteria (ML), and the scaled residuals."""
        lines = [f"Linear mixed model fit by {'REML' if self.reml else 'maximum likelihood'} (hlm_course.lmer)",
                 f"Formula: {self.formula}", ""]
        if self.reml:
            lines.append(f"REML criterion at convergence: {self.reml_criterion:.1f}")
        else:
            lines.append(f"{'AIC':>9}{'BIC':>10}{'logLik':>10}{'deviance':>10}{'df.resid':>10}")
            lines.append(f"{self.aic:9.1f}{self.bic:10.1f}{self.loglik:10.1f}{self.ml_deviance:10.1f}"
                         f"{self.nobs - self.npar:10d}")
        q = np.quantile(self.scaled_resid, [0, 0.25, 0.5, 0.75, 1])
        lines += ["", "Scaled residuals:", "     Min       1Q   Median       3Q      Max",
                  " ".join(f"{v:8.4f}" for v in q), "", "Random effects:"]
        return lines

    def _fixed_lines(self) -> list[str]:
        """summary()'s fixed-effects table and the correlation of the fixed effects."""
        lines = ["", "Fixed effects:", self.coef_table.to_string(float_format=lambda v: f"{v:.4f}")]
        if len(self.fixed_names) > 1:
            V = self.vcov.to_numpy()
            s = np.sqrt(np.diag(V))
            R = V / np.outer(s, s)
            short = [n[:6] for n in self.fixed_names]
            lines += ["", "Correlation of Fixed Effects:",
                      " " * 14 + " ".join(f"{s_:>6}" for s_ in short[:-1])]
            for i in range(1, len(short)):
                lines.append(f"{self.fixed_names[i][:13]:<14}" + " ".join(f"{R[i, j]:6.3f}" for j in range(i)))
        return lines

    def _status_lines(self) -> list[str]:
        """summary()'s tail: singular fit, dropped rows, failed convergence."""
        lines = []
        if self.singular:
            lines += ["", "boundary (singular) fit: a variance component is estimated as zero or a "
                      "correlation as ±1"]
        if self.n_dropped:
            lines += [f"{self.n_dropped} observation(s) with missing values were dropped"]
        if not self.converged:
            msg = self.check.message if self.check is not None else "the optimizer stopped abnormally"
            lines += [f"Model failed to converge: {msg}"]
        return lines

    def __repr__(self) -> str:  # pragma: no cover - convenience
        return self.summary()

    def _repr_html_(self) -> str:  # shown as plain text in notebooks
        from html import escape

        return f"<pre>{escape(self.summary())}</pre>"
