"""Self-checks of chapter 3, "The hierarchical model" (chapters/03_hierarchical_model.md).

The right answer is computed from the chapter's simulated school, which :func:`simulated_school` redraws with
the chapter's population values and seed (``hc.simulate_two_level``, so the same school every time).
"""

from __future__ import annotations

import numpy as np

from . import register

#: The chapter's population: γ, T, σ² and the mean school size, as its text gives them.
GAMMA, T, SIGMA2, N_MEAN, SEED = (12.0, 2.0), ((16.0, 8.0), (8.0, 25.0)), 20.0, 30, 1


def simulated_school():
    """The chapter's simulated school: ``(ses, y)`` of its students, in the chapter's order."""
    from ..simulate import simulate_two_level

    sim, _ = simulate_two_level(1, gamma=np.array(GAMMA), G=np.array(T), sigma2=SIGMA2, n_mean=N_MEAN, seed=SEED)
    return sim.x.to_numpy(), sim.y.to_numpy()


@register("ch03-small-school-v", kind="array", rtol=1e-6,
          hint="V_j = sigma2 * inv(X5' X5), X5 = the first five rows of X_sim (a column of ones and SES)")
def _small_school_v():
    ses, _ = simulated_school()
    X5 = np.column_stack([np.ones(5), ses[:5]])
    return SIGMA2 * np.linalg.inv(X5.T @ X5)
