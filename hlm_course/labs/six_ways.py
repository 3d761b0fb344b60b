"""Self-checks of chapter 2, "Six ways to compare Catholic and Public schools" (chapters/02_six_ways.md)."""

from __future__ import annotations

import warnings

from . import register


@register("ch02-contextual", hint="fit the model with raw ses; the mean_ses coefficient is the Catholic "
                                  "sector's contextual effect (between minus within slope)")
def _contextual():
    from .. import cvar, lmer, load_hs40

    hs = load_hs40()
    mean_ses = cvar(hs["ses"], hs["school"])
    data = hs.assign(mean_ses=mean_ses, cses=hs["ses"] - mean_ses)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = lmer("mathach ~ (mean_ses + ses) * Sector + (1 + cses | school)", data)
    return float(raw.fixef["mean_ses"])
