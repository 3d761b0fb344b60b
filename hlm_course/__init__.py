"""hlm_course: the helper package of the hlm-course book.

The chapters import this package for every computation and every figure
recipe used more than once.  Its vocabulary is lme4's: ``lmer``, ``fixef``,
``ranef``, ``coef``, ``anova``.

Modules: ``data`` (loaders), ``lmer`` (the engine), ``multilevel`` (cvar,
dvar, up), ``methods`` (Monette's (2010) six approaches, Wald tests), ``inference``
(anova, parametric bootstrap), ``shrinkage`` (Bryk–Raudenbush shrinkage,
reliability, HLM statistics), ``simulate`` (two-level simulation), ``r2`` (multilevel R²), ``ledger`` (every
printed number of the originals beside ours and R's), ``plots``
(figure recipes shared by chapters).
"""

from .data import *  # noqa: F401,F403
from .lmer import LmerControl, LmerFit, MixedModelError, lmer  # noqa: F401
from .multilevel import *  # noqa: F401,F403
from .wald_tests import *  # noqa: F401,F403
from .methods import *  # noqa: F401,F403
from .inference import *  # noqa: F401,F403
from .shrinkage import *  # noqa: F401,F403
from .coverage import *  # noqa: F401,F403
from .simulate import *  # noqa: F401,F403
from .anova1 import *  # noqa: F401,F403
from .statsmodels_check import *  # noqa: F401,F403
from .printed import *  # noqa: F401,F403
from .exam_tables import *  # noqa: F401,F403
from .hlm_tables import *  # noqa: F401,F403
from .r2 import *  # noqa: F401,F403
from .hypotheses import *  # noqa: F401,F403
from .influence import *  # noqa: F401,F403
from .ledger import *  # noqa: F401,F403
from .display import format_p, style_table  # noqa: F401
from . import plots  # noqa: F401
from . import labs  # noqa: F401  (hc.labs.check)
from . import r2  # noqa: F401

__version__ = "0.1.0"
