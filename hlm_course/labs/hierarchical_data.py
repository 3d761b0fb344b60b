"""Self-checks of chapter 1, "Hierarchical data" (chapters/01_hierarchical_data.md)."""

from __future__ import annotations

from . import register


@register("ch01-disagree", kind="set",
          hint="the sample proportion is hc.cvar(hs['Minority'], hs['school'])['MinorityYes']; compare "
               "(proportion > 0.4) with (HIMINTY == 1), one row per school")
def _disagree():
    from .. import cvar, load_hs40, up

    hs = load_hs40()
    p = cvar(hs["Minority"], hs["school"])["MinorityYes"]
    short = up(hs.assign(p_minority=p), "school")
    return sorted(short.index[(short["p_minority"] > 0.4) != (short["HIMINTY"] == 1)].tolist())
