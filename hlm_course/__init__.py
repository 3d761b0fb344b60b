"""hlm_course: the helper package of the hlm-course book.

The chapters import this package for every computation and every figure
recipe used more than once.  Its vocabulary is lme4's: ``lmer``, ``fixef``,
``ranef``, ``coef``, ``anova``.

Modules: ``data`` (loaders), ``lmer`` (the engine; ``glmer`` for binary and count outcomes), ``multilevel`` (cvar,
dvar, up), ``methods`` (Monette's (2010) six approaches, Wald tests), ``inference``
(anova, parametric bootstrap), ``shrinkage`` (Bryk–Raudenbush shrinkage,
reliability, HLM statistics), ``simulate`` (two-level simulation), ``power`` (planning a study by simulation), ``marginal_conditional`` (marginal and conditional views, multilevel R²), ``oneway_blups`` (the one-way ANOVA with random effects, BLUEs and BLUPs), ``wald_tests``, ``coverage`` (coverage studies), ``printed`` (the rounding-to-printed rule), ``ledger`` (every
printed number of the originals beside ours and R's), ``plots``
(figure recipes shared by chapters).
"""

from .data import *  # noqa: F401,F403
from .lmer import LmerControl, LmerFit, LmerFitMulti, MixedModelError, lmer  # noqa: F401
from .lmer import GlmerControl, GlmerFit, binomial, glmer, poisson  # noqa: F401
from .fitting import lmer_printing_warnings  # noqa: F401
from .multilevel import *  # noqa: F401,F403
from .wald_tests import *  # noqa: F401,F403
from .methods import *  # noqa: F401,F403
from .inference import *  # noqa: F401,F403
from .shrinkage import *  # noqa: F401,F403
from .coverage import *  # noqa: F401,F403
from .simulate import *  # noqa: F401,F403
from .oneway_blups import *  # noqa: F401,F403
from .statsmodels_check import *  # noqa: F401,F403
from .printed import *  # noqa: F401,F403
from .exam_tables import *  # noqa: F401,F403
from .hlm_tables import *  # noqa: F401,F403
from .marginal_conditional import *  # noqa: F401,F403
from .hypotheses import *  # noqa: F401,F403
from .influence import *  # noqa: F401,F403
from .ledger import *  # noqa: F401,F403
from .report import *  # noqa: F401,F403
from .display import format_p, format_small, style_table  # noqa: F401
from . import plots  # noqa: F401
from . import power  # noqa: F401
from . import labs  # noqa: F401  (hc.labs.check)
from . import marginal_conditional  # noqa: F401

__version__ = "0.1.0"
