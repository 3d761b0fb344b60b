"""An exact, small engine for linear mixed models: lme4's modules in miniature.

The engine follows the computational method of lme4 as set out in

    Bates, D., Mächler, M., Bolker, B. & Walker, S. (2015). Fitting Linear
    Mixed-Effects Models Using lme4. *Journal of Statistical Software* 67(1).

Each module is one of the paper's modules, and its docstrings cite the
paper's sections and equations:

* :mod:`.formula` — §2, the formula module (``lFormula``): R's formula
  semantics (with lme4's ``a/b`` and ``||`` expansions), the model frame, X;
* :mod:`.reterms` — §2.3, lme4's ``mkReTrms``: the random-effects terms,
  Z', Λθ' and its θ index, for any number of terms and grouping factors;
* :mod:`.deviance` — §3, the objective function module (``mkLmerDevfun``)
  for one grouping factor: per-group cross-products, Λθ, penalized least
  squares, the profiled deviance and REML criterion, on a well-conditioned
  equivalent problem;
* :mod:`.blocked` — §3 for several grouping factors: the blocked Cholesky
  factor (MixedModels.jl's design: the first term block diagonal, the rest a
  dense Schur complement);
* :mod:`.optimize` — §3.6 and lme4's ``checkConv``: BOBYQA and the check of
  the optimum (:class:`LmerControl` chooses lme4's own defaults or ours);
* :mod:`.fit`, :mod:`.multiterm`, :mod:`.mermod` — §4–5, the output module
  (``merMod``): :func:`lmer`, :class:`LmerFit` (one grouping factor) and
  :class:`LmerFitMulti` (several) with lme4's accessors;
* :mod:`.predict` — lme4's ``predict``: new data through the fit's model frame, ``re_form``,
  ``allow_new_levels``;
* :mod:`.update`, :mod:`.profile`, :mod:`.simulate` — what comes after a fit, in lme4's names:
  ``update`` (R's formula dots), ``profile`` and ``confint`` (profile-likelihood, Wald and bootstrap
  intervals), ``simulate`` (new random effects, or ``use_u``);
* :mod:`.batch` — refitting one model to many responses (the parametric
  bootstrap's engine);
* :mod:`.family`, :mod:`.pirls`, :mod:`.glmm` — §6, generalized linear mixed
  models (lme4's ``glmer``): families and links, PIRLS with the Laplace and
  adaptive Gauss–Hermite deviances, lme4's two optimizer stages and
  :class:`GlmerFit`.
"""

from .deviance import (LOG_2PI, SINGULAR_TOL, CrossProducts, PLSSolution, ScaledProblem, block_inverse,
                       block_inverse_batch, free_theta, lambda_theta, pls_solve, profiled_deviance, theta_lower,
                       theta_start)
from .errors import MixedModelError
from .fit import LmerFit, lmer
from .formula import ParsedFormula, RandomTerm, lme4_name, parse_formula, r_column_names
from .multiterm import LmerFitMulti
from .optimize import ConvergenceCheck, LmerControl, OptimizerRun, check_optimum, fit_theta, optimize_theta
from .reterms import ReTerm, ReTerms, mk_re_terms

from .profile import LmerProfile, confint, profile, wald_confint  # lme4's profile() and confint()
from .simulate import simulate_lmer  # lme4's simulate() (new random effects, or use_u=True)
from .update import update, update_formula  # lme4's update() and R's update.formula

from .family import Family, binomial, poisson  # glmer's families (lme4's family objects)
from .glmm import GlmerControl, GlmerFit, glmer, pb_test_glmer  # generalized linear mixed models (lme4's glmer)

__all__ = ["lmer", "LmerFit", "LmerFitMulti", "LmerControl", "MixedModelError", "parse_formula", "lambda_theta",
           "profiled_deviance", "pls_solve", "CrossProducts", "mk_re_terms", "ReTerms", "glmer", "GlmerFit",
           "GlmerControl", "Family", "binomial", "poisson", "pb_test_glmer", "profile", "confint", "LmerProfile",
           "wald_confint", "update", "update_formula", "simulate_lmer"]
