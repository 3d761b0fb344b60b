"""Self-checks of chapter 17, "Growth over time" (chapters/17_growth_over_time.md).

Every check computes its right answer from mlmRev's ``egsingle`` (``hc.load_egsingle()``) with the course's own
``hc.lmer``; nothing is typed in except what an exercise gives the student (the formulas, the time point), which
are constants of this module that the chapter prints.  :func:`covariances` (the random-effect covariance
matrices of a fit, per grouping factor) is a helper the chapter uses too.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pandas as pd

from . import register

#: The models of the chapter (REML), by the names tests/r/growth_reference.R gives them.
FORMULAS = {
    "ucg": "math ~ year + (year | childid)",
    "ucg_first": "math ~ year1 + (year1 | childid)",
    "ethnic": "math ~ year * (black + hispanic) + (year | childid)",
    "ucg3": "math ~ year + (year | schoolid/childid)",
    "lowinc3": "math ~ year * lowinc + (year | schoolid/childid)",
    "lowinc2": "math ~ year * lowinc + (year | childid)",
}

#: Exercise "status at the last test": the time of the last of the six tests.
LAST_YEAR = 2.5


def growth_data() -> pd.DataFrame:
    """``hc.load_egsingle()`` with ``year1 = year + 2.5`` (years since the first test)."""
    from .. import load_egsingle

    eg = load_egsingle()
    eg["year1"] = eg["year"] + 2.5
    return eg


@functools.lru_cache(maxsize=None)
def fit(name: str):
    """The REML fit of ``FORMULAS[name]`` to :func:`growth_data`."""
    from .. import lmer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lmer(FORMULAS[name], growth_data())


def covariances(fit_) -> dict[str, pd.DataFrame]:
    """The covariance matrix of the random effects of each grouping factor (lme4's ``VarCorr`` as matrices),
    keyed as lme4 names the factors (``childid``, ``childid:schoolid``, ``schoolid``)."""
    vc = fit_.varcorr
    vc = vc[vc["Groups"] != "Residual"]
    corr_cols = [c for c in vc.columns if c.startswith("Corr")]
    out = {}
    for group, block in vc.groupby("Groups", sort=False):
        names = list(block["Name"])
        sd = block["Std.Dev."].to_numpy()
        R = np.eye(len(names))
        for a in range(len(names)):
            for m, col in enumerate(corr_cols[: a]):
                R[a, m] = R[m, a] = block[col].iloc[a]
        out[group] = pd.DataFrame(R * np.outer(sd, sd), index=names, columns=names)
    return out


@register("growth-unchanged", kind="set",
          hint="move the origin of time by c: which of tau00, tau01, tau11, sigma2 does the formula "
               "tau00 + 2 c tau01 + c^2 tau11 leave alone? Compare fit('ucg') with fit('ucg_first')")
def _unchanged():
    a, b = covariances(fit("ucg"))["childid"].to_numpy(), covariances(fit("ucg_first"))["childid"].to_numpy()
    out = set()
    for name, x, y in [("tau00", a[0, 0], b[0, 0]), ("tau01", a[0, 1], b[0, 1]), ("tau11", a[1, 1], b[1, 1]),
                       ("sigma2", fit("ucg").sigma2, fit("ucg_first").sigma2)]:
        if abs(x - y) <= 1e-3 * abs(x):
            out.add(name)
    return out


@register("growth-tau00-last", rtol=2e-3,
          hint="tau00 + 2 c tau01 + c^2 tau11 with c = 2.5 and the childid covariances of the unconditional "
               "growth model")
def _tau00_last():
    T = covariances(fit("ucg"))["childid"].to_numpy()
    c = LAST_YEAR
    return float(T[0, 0] + 2 * c * T[0, 1] + c ** 2 * T[1, 1])


@register("growth-black-gap-last", rtol=1e-3,
          hint="in the model with black and hispanic: the coefficient of black plus 2.5 times that of year:black")
def _black_gap_last():
    b = fit("ethnic").fixef
    return float(b["black"] + LAST_YEAR * b["year:black"])


@register("growth-lowinc-explained", rtol=2e-3,
          hint="(school variance of year without lowinc - with lowinc) / without, both from the three-level fits")
def _lowinc_explained():
    before = covariances(fit("ucg3"))["schoolid"].loc["year", "year"]
    after = covariances(fit("lowinc3"))["schoolid"].loc["year", "year"]
    return float((before - after) / before)
