"""Figure recipes shared by the chapters (matplotlib only).

Every recipe returns the matplotlib Figure (or draws on a given Axes) and
uses the colour-blind-safe Okabe–Ito palette on an opaque white background,
so figures stay readable in the book's dark mode.

Submodules: ``style`` (palette, figure defaults), ``data_space`` (fitted
lines per group), ``beta_space`` (confidence/dispersion ellipses and
coefficient plots), ``intervals`` (per-group interval plots), ``diagnostics``
(residual and QQ plots), ``profile`` (the profile-zeta plot of ``hc.profile``).  What seaborn draws in one call (trellis/facet
plots, histograms, categorical summaries) the chapters draw with seaborn.
"""

from .style import *  # noqa: F401,F403
from .data_space import *  # noqa: F401,F403
from .beta_space import *  # noqa: F401,F403
from .intervals import *  # noqa: F401,F403
from .diagnostics import *  # noqa: F401,F403
from .sectors import *  # noqa: F401,F403
from .effects import *  # noqa: F401,F403
from .ellipsoid import *  # noqa: F401,F403
from .profile import *  # noqa: F401,F403
