"""The profile plot: lme4's ``xyplot(profile(fit))``.

One panel per parameter, ζ (the signed square root of the likelihood-ratio statistic, see
:mod:`hlm_course.lmer.profile`) against the parameter, with vertical segments at the ends of the 50, 80, 90,
95 and 99 % profile intervals, as lme4's ``panel.thpr`` draws them.  A straight profile means the Wald
interval would be fine; a bent one (a standard deviation's, typically) shows why the profile interval is
asymmetric.  ``absVal=True`` draws |ζ| (lme4's ``absVal``), the V-shaped variant.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from .style import OKABE_ITO, new_figure

__all__ = ["profile_plot", "profile_alt_text"]

_LEVELS = (0.50, 0.80, 0.90, 0.95, 0.99)


def _title(name: str, label: str) -> str:
    return name if label == name else f"{label}\n({name})"


def profile_plot(prof, which=None, conf=_LEVELS, absval: bool = False, ncols: int | None = None,
                 width: float = 7.0):
    """ζ against each parameter of ``prof`` (an :class:`~hlm_course.lmer.profile.LmerProfile`).

    ``which``: parameter names (lme4's: ``.sig01``, ``.sigma``, fixed effects; default all profiled);
    ``conf``: the levels whose interval ends get a vertical segment (lme4's 50–99 %); ``absval``: draw |ζ|.
    Returns the matplotlib Figure; ``fig.alt_text`` holds a description for the figure's alt text.
    """
    conf = tuple(float(c) for c in conf)
    if any(not 0 < c < 1 for c in conf):
        raise ValueError("values of 'conf' must be strictly between 0 and 1")
    profiled = list(dict.fromkeys(prof.table[".par"]))
    names = profiled if which is None else [w for w in ([which] if isinstance(which, str) else which)]
    unknown = [w for w in names if w not in profiled]
    if unknown:
        raise ValueError(f"not profiled: {unknown}; the profile has {profiled}")
    k = len(names)
    ncols = ncols or min(3, k)
    nrows = int(np.ceil(k / ncols))
    fig, axes = new_figure(nrows, ncols, width=width, height=2.3 * nrows + 0.4, squeeze=False)
    zlev = stats.norm.ppf([(1 + c) / 2 for c in sorted(conf)])
    colours = [OKABE_ITO[c] for c in (1, 2, 3, 6, 7)]
    for ax, name in zip(axes.ravel(), names):
        pts = prof.points(name).dropna()
        x, z = pts["value"].to_numpy(), pts["zeta"].to_numpy()
        ax.axhline(0.0, color="#999999", lw=0.8)
        ax.plot(x, np.abs(z) if absval else z, color=OKABE_ITO[5], lw=1.8, marker="o", ms=2.5, label="profile ζ")
        for lev, zl, col in zip(sorted(conf), zlev, colours):
            for sgn in (-1, 1):
                target = sgn * zl
                if not (z.min() <= target <= z.max()):
                    continue
                xv = float(np.interp(target, z, x))
                yv = abs(target) if absval else target
                ax.plot([xv, xv], [0.0, yv], color=col, lw=1.2, ls="--",
                        label=f"{100 * lev:g} % interval" if sgn == -1 else None)
        ax.set_title(_title(name, prof.labels.get(name, name)), fontsize=9)
        ax.set_xlabel(name)
        ax.set_ylabel("|ζ|" if absval else "ζ")
        ax.grid(True, color="#e5e5e5", lw=0.6)
    for ax in axes.ravel()[k:]:
        ax.set_visible(False)
    handles, labels = axes.ravel()[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 3), fontsize=8,
               bbox_to_anchor=(0.5, 0.0))
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.alt_text = profile_alt_text(prof, names)
    return fig


def profile_alt_text(prof, which=None) -> str:
    """A plain-language description of a profile plot, for its alt text: per parameter, the estimate and the
    95 % profile interval read from the plotted points, and whether the profile is straight or bent."""
    profiled = list(dict.fromkeys(prof.table[".par"]))
    names = profiled if which is None else list(which)
    z95 = stats.norm.ppf(0.975)
    parts = []
    for name in names:
        pts = prof.points(name).dropna()
        x, z = pts["value"].to_numpy(), pts["zeta"].to_numpy()
        lo = float(np.interp(-z95, z, x)) if z.min() <= -z95 else float(x.min())
        hi = float(np.interp(z95, z, x)) if z.max() >= z95 else float(x.max())
        est = float(prof.estimate[name])
        left, right = est - lo, hi - est
        shape = "nearly straight" if min(left, right) > 0 and max(left, right) / min(left, right) < 1.2 \
            else "bent (the interval is asymmetric)"
        parts.append(f"{prof.labels.get(name, name)}: estimate {est:.4g}, 95% interval about {lo:.4g} to "
                     f"{hi:.4g}, profile {shape}")
    return ("Profile zeta plotted against each parameter, with dashed vertical lines at the ends of the 50, 80, "
            "90, 95 and 99 percent intervals. " + "; ".join(parts) + ".")
