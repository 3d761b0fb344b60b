"""Self-checks of chapter 16, "Planning a study by simulation" (chapters/16_planning_by_simulation.md).

Every check computes its right answer from the full High School and Beyond data with the course's own tools
(:mod:`hlm_course.power`); nothing is typed in except the inputs an exercise gives the student (the costs,
the design, the seed), which are constants of this module that the chapter prints.
"""

from __future__ import annotations

import functools
import warnings

from . import register

#: The planning model of the chapter (group-centred SES and sector, a random intercept per school).
FORMULA = "mathach ~ cses + sector + (1 | school)"

#: Exercise "half the gap": the design, the number of simulated studies and the seed.
HALF_GAP_DESIGN = {"J": 40, "n": 20, "nsim": 1000, "seed": 7}

#: Exercise "another budget": costs per school and per pupil.
COSTS = {"c_school": 800.0, "c_pupil": 10.0}


@functools.lru_cache(maxsize=1)
def planning_model():
    """The chapter's :class:`hlm_course.power.PlanningModel`, from the REML fit of :data:`FORMULA`."""
    from .. import lmer, load_hsb
    from ..power import PlanningModel

    hsb = load_hsb()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = lmer(FORMULA, hsb)
    return PlanningModel.from_fit(fit, sd_x=float(hsb["cses"].std()))


@register("planning-best-for-gap", kind="text",
          hint="for a school-level effect, compare 4(tau00 + sigma2/n)/J across the three designs")
def _best_for_gap():
    from ..power import se_gap

    m = planning_model()
    designs = {"a": (20, 50), "b": (50, 20), "c": (100, 10)}
    return min(designs, key=lambda k: float(se_gap(*designs[k], m.tau00, m.sigma2)))


@register("planning-deff", rtol=1e-3,
          hint="1 + (n - 1) rho, with n the mean number of pupils per school (7185 / 160) and rho = "
               "tau00 / (tau00 + sigma2) of the planning model")
def _deff():
    from .. import load_hsb
    from ..power import design_effect

    hsb = load_hsb()
    n_bar = len(hsb) / hsb["school"].nunique()
    return float(design_effect(n_bar, planning_model().rho))


@register("planning-power-half", rtol=0, atol=0.015,
          hint="hc.power.simulate_power(model.replace(gamma01=model.gamma01 / 2), J=40, n=20, nsim=1000, "
               "seed=7), then the mean of its 'reject' column")
def _power_half():
    from ..power import simulate_power

    m = planning_model()
    sims = simulate_power(m.replace(gamma01=m.gamma01 / 2), **HALF_GAP_DESIGN)
    return float(sims["reject"].mean())


@register("planning-optimal-n", rtol=1e-3,
          hint="hc.power.optimal_n(c_school, c_pupil, model.rho): sqrt((c_school / c_pupil)(1 - rho) / rho)")
def _optimal_n():
    from ..power import optimal_n

    return optimal_n(COSTS["c_school"], COSTS["c_pupil"], planning_model().rho)
