"""Self-checks of chapter 4, "From the simple to the complex" (chapters/04_simple_to_complex.md)."""

from __future__ import annotations

from . import register


@register("ch04-n-half", hint="solve tau00 / (tau00 + sigma2 / n) = 0.5 for n, with the one-way model's estimates")
def _n_half():
    from .. import lmer, load_hs40

    oneway = lmer("mathach ~ 1 + (1 | school)", load_hs40())
    return float(oneway.sigma2 / oneway.tau.iloc[0, 0])
