"""Fitting in a notebook: lme4's warnings as lines of output.

:func:`hlm_course.lmer` signals a singular fit, dropped rows or a restarted optimizer with Python warnings,
which Jupyter shows in a box apart from the cell's output (or once per session). The labs fit through
:func:`lmer_printing_warnings` instead, so that each fit's messages appear in its cell's output, once each.
"""

from __future__ import annotations

import warnings

from .lmer import lmer

__all__ = ["lmer_printing_warnings"]


def lmer_printing_warnings(formula: str, data, reml: bool = True, control=None):
    """:func:`hlm_course.lmer`, printing its warnings (``lmer warning: …``, each distinct message once)
    instead of raising them as Python warnings; returns the fit."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = lmer(formula, data, reml=reml, control=control)
    for message in dict.fromkeys(str(w.message) for w in caught):
        print(f"lmer warning: {message}")
    return model
