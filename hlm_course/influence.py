"""Level-2 influence diagnostics: delete one group, refit, compare.

How much does one school move the estimates?  The direct answer is to fit
the model again without it.  :func:`leave_one_group_out` does that for
every group (or a chosen few) and :func:`cooks_distance`, :func:`dfbetas`
and :func:`influence_table` summarize the changes of the fixed effects, as
the R package influence.ME does for lme4 fits (Nieuwenhuis, te Grotenhuis &
Pelzer 2012, *The R Journal* 4(2), 38–47):

* Cook's distance of group j (Cook 1977; for mixed models Christensen,
  Pearson & Johnson 1992, *Technometrics* 34, 166–175, "case deletion"):
  ``D_j = (γ̂ − γ̂₍₋ⱼ₎)' V̂⁻¹ (γ̂ − γ̂₍₋ⱼ₎) / p`` with ``V̂`` the covariance
  of ``γ̂`` from the full fit and ``p`` the number of fixed effects.  A
  common rule of thumb flags ``D_j > 4/J``.
* DFBETAS: ``(γ̂ₖ − γ̂ₖ₍₋ⱼ₎) / SE(γ̂ₖ₍₋ⱼ₎)``, each fixed effect's change in
  units of its standard error without the group; flag ``|DFBETAS| > 2/√J``.

Monette (2010), Lab 1: "Influence diagnostics".  Each refit uses the fit's own
design rows without the group (so the contextual variables are *not*
recomputed) and starts the optimizer at the full-data θ̂, which makes the
J refits cost little more than one fit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import linalg

from ._validate import fitted_model
from .lmer import CrossProducts, LmerFit, MixedModelError, optimize_theta, pls_solve

__all__ = ["GroupDeletion", "leave_one_group_out", "cooks_distance", "dfbetas", "influence_table"]


@dataclass
class GroupDeletion:
    """The fits without one group at a time (:func:`leave_one_group_out`).

    Attributes
    ----------
    fit
        The full-data fit.
    fixef, se
        One row per deleted group (index named after the grouping
        variable), one column per fixed effect: estimates and standard
        errors without that group.
    vcov
        ``(k, p, p)`` covariance matrices of those estimates.
    varcomp
        Variances of the random effects and of the residual without the group
        (columns named as ``fit.tau``'s diagonal, plus ``sigma2``).
    criterion
        REML criterion (or ML deviance) of each refit.
    n
        Number of rows the group had (and that each refit lost).
    converged
        False where the refit's optimizer reported trouble.
    """

    fit: LmerFit
    fixef: pd.DataFrame
    se: pd.DataFrame
    vcov: np.ndarray
    varcomp: pd.DataFrame
    criterion: pd.Series
    n: pd.Series
    converged: pd.Series


def _plain(x):
    """numpy scalars as Python ones, for messages."""
    return x.item() if isinstance(x, np.generic) else x


def _subset_crossproducts(fit: LmerFit, drop: int) -> CrossProducts:
    """Cross-products of the fit's design without group code ``drop``."""
    keep = fit.codes != drop
    codes = fit.codes[keep]
    codes = np.where(codes > drop, codes - 1, codes)
    return CrossProducts.from_arrays(fit.X[keep], fit.Z[keep], fit.y[keep], codes, fit.ngroups - 1)


def _check_deletable(fit) -> None:
    fitted_model(fit)
    if fit.ngroups < 3:
        raise MixedModelError(f"deleting one of {fit.ngroups} groups leaves fewer than two: the random effects "
                              "would not be estimable")


def leave_one_group_out(fit: LmerFit, groups=None) -> GroupDeletion:
    """Refit ``fit``'s model without each group in turn (case deletion at level 2).

    Parameters
    ----------
    fit
        An :class:`~hlm_course.lmer.LmerFit`.
    groups
        The groups to delete (labels of ``fit.groups``); default all of them.

    Returns
    -------
    :class:`GroupDeletion`.

    Raises
    ------
    MixedModelError
        fewer than three groups, or a group whose deletion makes the
        fixed-effects design rank deficient (e.g. the only school of its
        sector: its sector's coefficient is then not estimable).
    KeyError
        a requested group is not in the fit.
    """
    _check_deletable(fit)
    labels = list(fit.groups) if groups is None else list(groups)
    unknown = [_plain(g) for g in labels if g not in fit.groups]
    if unknown:
        raise KeyError(f"group(s) {unknown} not in the fit's '{fit.group}' groups")
    p = len(fit.fixed_names)
    rows = {"fixef": [], "se": [], "vcov": [], "var": [], "crit": [], "n": [], "ok": []}
    diag = np.diag_indices(len(fit.random_names))
    for label in labels:
        j = fit.groups.get_loc(label)
        xp = _subset_crossproducts(fit, j)
        if np.linalg.matrix_rank(xp.XtX, hermitian=True) < p:
            raise MixedModelError(f"without {fit.group} {_plain(label)} the fixed-effects design is rank deficient: "
                                  "some coefficient is estimated from that group alone (is it the only one of "
                                  "its kind?); leave it out of `groups`")
        runs = optimize_theta(xp, fit.reml, start=fit.theta)
        best = min(runs, key=lambda r: r.criterion)
        pls = pls_solve(best.theta, xp)
        sigma2 = pls.sigma2(fit.reml)
        RXinv = linalg.solve_triangular(pls.RX, np.eye(p))
        V = sigma2 * RXinv @ RXinv.T
        T = sigma2 * pls.Lambda @ pls.Lambda.T
        rows["fixef"].append(pls.beta)
        rows["se"].append(np.sqrt(np.diag(V)))
        rows["vcov"].append(V)
        rows["var"].append(np.append(T[diag], sigma2))
        rows["crit"].append(pls.deviance(fit.reml))
        rows["n"].append(int(np.sum(fit.codes == j)))
        rows["ok"].append(all(r.status not in ("maxeval reached", "roundoff limited") for r in runs))
    index = pd.Index(labels, name=fit.group)
    names = list(fit.fixed_names)
    return GroupDeletion(
        fit=fit,
        fixef=pd.DataFrame(rows["fixef"], index=index, columns=names),
        se=pd.DataFrame(rows["se"], index=index, columns=names),
        vcov=np.array(rows["vcov"]).reshape(len(labels), p, p),
        varcomp=pd.DataFrame(rows["var"], index=index, columns=[*fit.random_names, "sigma2"]),
        criterion=pd.Series(rows["crit"], index=index, name="criterion"),
        n=pd.Series(rows["n"], index=index, name="n"),
        converged=pd.Series(rows["ok"], index=index, name="converged"),
    )


def _deletion(fit: LmerFit, deletion: GroupDeletion | None) -> GroupDeletion:
    if deletion is None:
        return leave_one_group_out(fit)
    if not isinstance(deletion, GroupDeletion):
        raise TypeError(f"deletion must come from leave_one_group_out, got {type(deletion).__name__}")
    if deletion.fit is not fit:
        raise ValueError("deletion was computed from another fit: pass the fit given to leave_one_group_out")
    return deletion


def cooks_distance(fit: LmerFit, deletion: GroupDeletion | None = None) -> pd.Series:
    """Cook's distance of each group: ``(γ̂ − γ̂₍₋ⱼ₎)' V̂⁻¹ (γ̂ − γ̂₍₋ⱼ₎) / p``.

    ``V̂`` is the full fit's ``vcov``; ``deletion`` from
    :func:`leave_one_group_out` (computed when None).  influence.ME's
    ``cooks.distance`` for an ``estex`` object.
    """
    _check_deletable(fit)
    deletion = _deletion(fit, deletion)
    d = fit.fixef.to_numpy()[None, :] - deletion.fixef.to_numpy()
    Vinv = np.linalg.inv(fit.vcov.to_numpy())
    D = np.einsum("ij,jk,ik->i", d, Vinv, d) / d.shape[1]
    return pd.Series(D, index=deletion.fixef.index, name="cooks_d")


def dfbetas(fit: LmerFit, deletion: GroupDeletion | None = None) -> pd.DataFrame:
    """``(γ̂ₖ − γ̂ₖ₍₋ⱼ₎) / SE(γ̂ₖ₍₋ⱼ₎)`` for every group j and fixed effect k (influence.ME's ``dfbetas``)."""
    _check_deletable(fit)
    deletion = _deletion(fit, deletion)
    return (fit.fixef - deletion.fixef) / deletion.se


def influence_table(fit: LmerFit, deletion: GroupDeletion | None = None) -> pd.DataFrame:
    """One row per group, most influential first.

    Columns: ``n`` (its rows), ``cooks_d``, ``max_abs_dfbetas`` and the
    fixed effect it belongs to (``term``), the change of every fixed
    effect ``γ̂₍₋ⱼ₎ − γ̂`` (columns ``Δ <name>``) and flags for the usual
    cut-offs ``cooks_d > 4/J`` and ``|DFBETAS| > 2/√J``.
    """
    _check_deletable(fit)
    deletion = _deletion(fit, deletion)
    D = cooks_distance(fit, deletion)
    B = dfbetas(fit, deletion).abs()
    J = fit.ngroups
    out = pd.DataFrame({"n": deletion.n, "cooks_d": D, "max_abs_dfbetas": B.max(axis=1),
                        "term": B.idxmax(axis=1)})
    change = (deletion.fixef - fit.fixef).add_prefix("Δ ")
    out = out.join(change)
    out["cooks_flag"] = out["cooks_d"] > 4 / J
    out["dfbetas_flag"] = out["max_abs_dfbetas"] > 2 / np.sqrt(J)
    return out.sort_values("cooks_d", ascending=False)
