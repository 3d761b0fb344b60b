"""An exact, small engine for two-level linear mixed models: lme4's modules in miniature.

The engine follows the computational method of lme4 as set out in

    Bates, D., Mächler, M., Bolker, B. & Walker, S. (2015). Fitting Linear
    Mixed-Effects Models Using lme4. *Journal of Statistical Software* 67(1).

Each module is one of the paper's modules, and its docstrings cite the
paper's sections and equations:

* :mod:`.formula` — §2, the formula module (``lFormula``): R's formula
  semantics, the model frame, X and Z;
* :mod:`.deviance` — §3, the objective function module (``mkLmerDevfun``):
  per-group cross-products, Λθ, penalized least squares, the profiled
  deviance and REML criterion, on a well-conditioned equivalent problem;
* :mod:`.optimize` — §3.6 and lme4's ``checkConv``: BOBYQA and the check of
  the optimum (:class:`LmerControl` chooses lme4's own defaults or ours);
* :mod:`.fit` — §4–5, the output module (``merMod``): :func:`lmer` and
  :class:`LmerFit`'s accessors.
"""

from .deviance import (LOG_2PI, SINGULAR_TOL, CrossProducts, PLSSolution, ScaledProblem, block_inverse,
                       block_inverse_batch, free_theta, lambda_theta, pls_solve, profiled_deviance, theta_lower,
                       theta_start)
from .errors import MixedModelError
from .fit import LmerFit, _replace_response, _validate_design, lmer
from .formula import ParsedFormula, RandomTerm, lme4_name, parse_formula, r_column_names
from .optimize import (ConvergenceCheck, LmerControl, OptimizerRun, _lbfgsb_minimize, _nlopt_minimize,
                       check_optimum, fit_theta, optimize_theta)

from .family import Family, binomial, poisson  # glmer's families (lme4's family objects)
from .glmm import GlmerControl, GlmerFit, glmer  # generalized linear mixed models (lme4's glmer)

__all__ = ["lmer", "LmerFit", "LmerControl", "MixedModelError", "parse_formula", "lambda_theta",
           "profiled_deviance", "pls_solve", "CrossProducts", "glmer", "GlmerFit", "GlmerControl", "Family",
           "binomial", "poisson"]
