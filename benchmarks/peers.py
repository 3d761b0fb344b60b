"""hlm_course against the Python peers, in one run on the same machine: mixedlm-rs and statsmodels MixedLM.

Run from the repository root, in an environment with the benchmark-only package mixedlm-rs
(it is deliberately not in requirements.lock: readers of the book never need it):

    python3 -m venv /tmp/peers
    /tmp/peers/bin/pip install -r requirements.lock -e . mixedlm-rs
    /tmp/peers/bin/python benchmarks/peers.py            # k = 5 fits per engine and model
    /tmp/peers/bin/python benchmarks/peers.py --reps 3 --no-large

Every engine fits the same data in the same process: time = the fastest of ``--reps`` fits.
A fast answer is only worth something if it is the right one, so next to each time stands the REML
criterion the engine reached, on lme4's scale (REML criterion = −2 × REML log-likelihood): the peer's
variance parameters (covariance matrix of the random effects and residual variance) are turned into
lme4's θ = chol(Σ/σ²) and the profiled REML criterion is evaluated there with our deviance function
(for the crossed model, −2 × the REML log-likelihood at the peer's parameters, computed directly).
The column "− lme4" subtracts lme4 1.1-31's criterion from benchmarks/r_timings.json (or
r_timings_multi.json); a positive value means the engine stopped at a worse (higher) point.

statsmodels MixedLM runs with ``method=["lbfgs"]`` (a single quasi-Newton run from its default start,
with the analytic gradient), as the explicit choice; its default chain (bfgs, then lbfgs, then cg) is
timed too, in its own row, because users run it — neither is trusted, each is judged by the criterion it
reached.  The crossed model (Penicillin) is fitted by statsmodels' variance-components formulation: one
group holding all rows, ``vc_formula`` with one component per factor.  mixedlm-rs fits one grouping factor
only, so it is marked "cannot fit" there.

Results: benchmarks/peers.json and benchmarks/PEERS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import time
import warnings
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
import hlm_course as hc  # noqa: E402
from hlm_course.lmer.deviance import profiled_deviance, theta_of  # noqa: E402

# name: (lme4 formula, fixed part for the peers, random part for the peers (re_formula), data set)
ONE_FACTOR = {
    "hsb_null": ("mathach ~ 1 + (1 | school)", "mathach ~ 1", "~1", "hsb"),
    "hsb_rc": ("mathach ~ cses + (cses | school)", "mathach ~ cses", "~cses", "hsb"),
    "hsb_isa": ("mathach ~ cses * mean_ses + cses * sector + (cses | school)",
                "mathach ~ cses * mean_ses + cses * sector", "~cses", "hsb"),
    "hsb_minority": ("mathach ~ cses + minority + (cses + minority | school)", "mathach ~ cses + minority",
                     "~cses + minority", "hsb"),
    "exam_hlm": ("normexam ~ standLRT + (standLRT | school)", "normexam ~ standLRT", "~standLRT", "exam"),
}
LARGE = {"hsb_rc_10x": ("rc", 10), "hsb_rc_100x": ("rc", 100), "hsb_isa_100x": ("isa", 100)}


def fastest(fn, reps: int):
    """(fastest wall-clock time of ``reps`` calls, the last call's result)."""
    times, out = [], None
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return float(min(times)), out


def lme4_crit(name: str):
    r = {}
    for f in ("r_timings.json", "r_timings_multi.json"):
        p = ROOT / "benchmarks" / f
        if p.exists():
            r.update(json.loads(p.read_text()))
    return r.get("crit_" + name)


def crit_at(ours, cov_re: np.ndarray, scale: float) -> float:
    """The profiled REML criterion (lme4's scale) at the θ of a peer's covariance estimate."""
    cov = np.atleast_2d(np.asarray(cov_re, float)) / scale
    try:
        lam = np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:  # singular estimate: a factor with non-negative diagonal via eigh
        w, v = np.linalg.eigh(cov)
        lam = np.linalg.qr((v * np.sqrt(np.clip(w, 0, None))).T)[1].T
        lam = lam * np.sign(np.where(np.diag(lam) == 0, 1, np.diag(lam)))
    return float(profiled_deviance(theta_of(lam), ours.xp, reml=True))


# --------------------------------------------------------------------------- peers
def fit_statsmodels(fixed, re, data, group="school", method=("lbfgs",)):
    import statsmodels.formula.api as smf
    from statsmodels.regression.mixed_linear_model import MixedLM

    # mixedlm-rs can alias statsmodels' names (mixedlm_rs.install()); this row must time statsmodels itself
    assert MixedLM.__module__.startswith("statsmodels"), "statsmodels' MixedLM is aliased"

    m = smf.mixedlm(fixed, data, groups=data[group], re_formula=re)
    return m.fit(reml=True, method=list(method) if method else None)


def fit_statsmodels_default(fixed, re, data, group="school"):
    """statsmodels' default chain (bfgs, then lbfgs, then cg), shown so that its answer can be compared."""
    return fit_statsmodels(fixed, re, data, group, method=None)


def fit_mixedlm_rs(fixed, re, data, group="school"):
    import mixedlm_rs

    # its default optimizer: scipy's L-BFGS-B over lme4's profiled criterion
    return mixedlm_rs.mixedlm(fixed, data, groups=data[group], re_formula=re).fit(reml=True)


def peer_cov(res, ours):
    """(covariance matrix of the random effects in our order, residual variance) of a statsmodels-style result.

    patsy orders the random-effects columns its own way (categorical terms before numeric ones:
    ``~cses + minority`` gives Intercept, minority[T.Yes], cses), so the matrix is permuted into lme4's order
    by name ('Group' or 'Intercept' is '(Intercept)', 'minority[T.Yes]' is 'minorityYes').
    """
    names = getattr(res.model, "exog_re_names", None) or res.model.data.exog_re_names
    names = ["(Intercept)" if n in ("Group", "Intercept") else re.sub(r"\[T\.(.*)\]$", r"\1", n) for n in names]
    order = [names.index(n) for n in ours.random_names]  # ValueError if a name does not map: never guess
    cov = np.atleast_2d(np.asarray(res.cov_re, float))
    return cov[np.ix_(order, order)], float(res.scale)


def row_for(engine, t, crit, t_ours, lme4, llf=None, note=""):
    return {"engine": engine, "seconds": t, "ratio_to_ours": t / t_ours if t is not None else None,
            "reml_criterion": crit, "minus_lme4": (crit - lme4) if (crit is not None and lme4 is not None) else None,
            "minus2_llf_reported": (-2 * llf) if llf is not None else None, "note": note}


def one_factor_case(name, lme4_formula, fixed, re, data, reps, sm_reps, lme4):
    rows = []
    t_ours, ours = fastest(lambda: hc.lmer(lme4_formula, data), reps)
    rows.append(row_for("hlm_course", t_ours, ours.reml_criterion, t_ours, lme4, llf=ours.loglik))
    for engine, fn, r_ in (("mixedlm-rs", fit_mixedlm_rs, reps), ("statsmodels (lbfgs)", fit_statsmodels, sm_reps),
                           ("statsmodels (default)", fit_statsmodels_default, sm_reps)):
        try:
            t, res = fastest(lambda: fn(fixed, re, data), r_)
        except Exception as e:  # noqa: BLE001 - a peer that fails is reported, not fatal
            rows.append(row_for(engine, None, None, t_ours, lme4, note=f"failed: {type(e).__name__}: {e}"[:200]))
            continue
        cov, scale = peer_cov(res, ours)
        note = "" if getattr(res, "converged", True) else "reports non-convergence"
        rows.append(row_for(engine, t, crit_at(ours, cov, scale), t_ours, lme4, llf=float(res.llf), note=note))
    return {"model": name, "formula": lme4_formula, "rows": len(data), "lme4_criterion": lme4, "results": rows}


# --------------------------------------------------------------------------- crossed: Penicillin
def penicillin_reml_crit(d: pd.DataFrame, v_plate: float, v_sample: float, s2: float) -> float:
    """−2 × REML log-likelihood (lme4's REML criterion) of diameter ~ 1 + (1|plate) + (1|sample), dense."""
    y = d["diameter"].to_numpy(float)
    X = np.ones((len(y), 1))
    Zp = pd.get_dummies(d["plate"]).to_numpy(float)
    Zs = pd.get_dummies(d["sample"]).to_numpy(float)
    V = s2 * np.eye(len(y)) + v_plate * Zp @ Zp.T + v_sample * Zs @ Zs.T
    Vi = np.linalg.inv(V)
    XtViX = X.T @ Vi @ X
    beta = np.linalg.solve(XtViX, X.T @ Vi @ y)
    r = y - X @ beta
    n, p = X.shape
    return float(np.linalg.slogdet(V)[1] + np.linalg.slogdet(XtViX)[1] + r @ Vi @ r + (n - p) * np.log(2 * np.pi))


def penicillin_case(reps, sm_reps):
    import statsmodels.formula.api as smf

    d = pd.read_csv(ROOT / "tests" / "reference" / "multi_penicillin.csv", dtype={"plate": str, "sample": str})
    lme4 = lme4_crit("penicillin")
    formula = "diameter ~ 1 + (1|plate) + (1|sample)"
    t_ours, ours = fastest(lambda: hc.lmer(formula, d), reps)
    vc = ours.varcorr
    rows = [row_for("hlm_course", t_ours, ours.reml_criterion, t_ours, lme4, llf=ours.loglik)]
    rows.append(row_for("mixedlm-rs", None, None, t_ours, lme4, note="cannot fit (one grouping factor only)"))
    d1 = d.assign(one=1)

    for label, method in (("statsmodels (lbfgs)", ["lbfgs"]), ("statsmodels (default)", None)):
        def sm_fit():
            m = smf.mixedlm("diameter ~ 1", d1, groups=d1["one"], re_formula="0",
                            vc_formula={"plate": "0 + C(plate)", "sample": "0 + C(sample)"})
            return m.fit(reml=True, method=method)

        try:
            t, res = fastest(sm_fit, sm_reps)
            names = list(res.model.exog_vc.names)
            v = dict(zip(names, np.asarray(res.vcomp, float)))
            crit = penicillin_reml_crit(d, v["plate"], v["sample"], float(res.scale))
            note = "variance components, one group" + ("" if res.converged else "; reports non-convergence")
            rows.append(row_for(label, t, crit, t_ours, lme4, llf=float(res.llf), note=note))
        except Exception as e:  # noqa: BLE001
            rows.append(row_for(label, None, None, t_ours, lme4, note=f"failed: {type(e).__name__}: {e}"[:200]))
    # sanity check of the dense criterion: at our own estimates it must reproduce our REML criterion
    s2 = ours.sigma2
    vp = float(vc.loc[vc["Groups"] == "plate", "Variance"].iloc[0])
    vs = float(vc.loc[vc["Groups"] == "sample", "Variance"].iloc[0])
    check = penicillin_reml_crit(d, vp, vs, s2) - ours.reml_criterion
    return {"model": "penicillin", "formula": formula, "rows": len(d), "lme4_criterion": lme4, "results": rows,
            "dense_check": check}


# --------------------------------------------------------------------------- large: 100× HSB
def large_case(name, key, k, reps, sm_reps):
    from scaling import MODELS as SC_MODELS, SEED, replicate

    formula = SC_MODELS[key]
    big = replicate(hc.load_hsb(), k, formula, SEED + k)  # as benchmarks/scaling.py builds it
    big["school"] = big["school"].astype(str)
    fixed, re_f = formula.split(" + (")[0], "~cses"
    t_ours, ours = fastest(lambda: hc.lmer(formula, big), reps)
    # lme4's criterion on the same data: benchmarks/scaling.py builds it with the same generator and seed
    sc = ROOT / "benchmarks" / "scaling.json"
    lme4 = next((r["lme4_crit"] for r in (json.loads(sc.read_text())["rows"] if sc.exists() else [])
                 if r["model"] == key and r["k"] == k and isinstance(r.get("lme4_crit"), (int, float))
                 and abs(r["python_crit"] - ours.reml_criterion) < 1e-3), None)
    rows = [row_for("hlm_course", t_ours, ours.reml_criterion, t_ours, lme4, llf=ours.loglik)]
    sm_reps = max(sm_reps, 1) if k <= 10 else sm_reps  # statsmodels: 10× always (once), 100× on request
    for engine, fn, r_ in (("mixedlm-rs", fit_mixedlm_rs, reps), ("statsmodels (lbfgs)", fit_statsmodels, sm_reps)):
        if r_ == 0:
            rows.append(row_for(engine, None, None, t_ours, lme4,
                                note="not run by default (slow: see its 10× time; --sm-large-reps 1 runs it)"))
            continue
        try:
            t, res = fastest(lambda: fn(fixed, re_f, big), r_)
        except Exception as e:  # noqa: BLE001
            rows.append(row_for(engine, None, None, t_ours, lme4, note=f"failed: {type(e).__name__}: {e}"[:200]))
            continue
        cov, scale = peer_cov(res, ours)
        note = "; ".join(x for x in ("" if getattr(res, "converged", True) else "reports non-convergence",
                                         f"fastest of {r_}" if r_ != reps else "") if x)
        rows.append(row_for(engine, t, crit_at(ours, cov, scale), t_ours, lme4, llf=float(res.llf), note=note))
    return {"model": name, "formula": f"{formula} on {k}× HSB", "rows": len(big), "lme4_criterion": lme4,
            "results": rows}


def machine():
    import scipy

    info = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": platform.platform(),
            "cpus": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__,
            "scipy": scipy.__version__, "pandas": pd.__version__, "hlm_course": str(Path(hc.__file__).parent)}
    for pkg in ("statsmodels", "mixedlm-rs"):
        try:
            info[pkg] = version(pkg)
        except Exception:  # noqa: BLE001
            info[pkg] = "not installed"
    info["load average (1 min) at start"] = round(os.getloadavg()[0], 2)
    return info


def fmt(x, spec):
    return "—" if x is None else format(x, spec)


def summary(res: dict) -> str:
    """The short section RESULTS.md carries (run.py appends it from peers.json): one row per model."""
    def cell(r, ours):
        if r is None or r["seconds"] is None:
            return "cannot fit" if r is not None and r["note"].startswith("cannot") else "—"
        d = r["reml_criterion"] - ours
        return f"{r['seconds']:.3f} s ({r['ratio_to_ours']:.1f}×; {d:+.1e})"

    lines = ["## Python peers (details: [PEERS.md](PEERS.md))", "",
             f"From `python benchmarks/peers.py` ({res['meta']['date']}, load average "
             f"{res['meta']['load average (1 min) at start']} → {res['meta']['load average (1 min) at end']}; "
             "mixedlm-rs " + res["meta"]["mixedlm-rs"] + ", statsmodels " + res["meta"]["statsmodels"] + "), "
             "same data, same process. Each cell: the fastest fit, its ratio to hlm_course's time (> 1: hlm_course "
             "is faster) and the REML criterion it reached minus hlm_course's (lme4's scale; positive: a worse "
             "optimum).", "",
             "| model | rows | hlm_course (s) | mixedlm-rs | statsmodels lbfgs | statsmodels default |",
             "|---|---:|---:|---|---|---|"]
    for case in res["cases"]:
        by = {r["engine"]: r for r in case["results"]}
        ours = by["hlm_course"]
        lines.append(f"| {case['model']} | {case['rows']:,} | {ours['seconds']:.4f} | "
                     f"{cell(by.get('mixedlm-rs'), ours['reml_criterion'])} | "
                     f"{cell(by.get('statsmodels (lbfgs)'), ours['reml_criterion'])} | "
                     f"{cell(by.get('statsmodels (default)'), ours['reml_criterion'])} |")
    return "\n".join(lines + [""] + findings(res)) + "\n"


def findings(res: dict) -> list[str]:
    """Computed sentences: which engine stopped at a worse optimum, and whether it said so."""
    worse = []
    for case in res["cases"]:
        ours = case["results"][0]["reml_criterion"]
        for r in case["results"][1:]:
            if r["reml_criterion"] is not None and r["reml_criterion"] - ours > 1e-3:
                said = "reporting non-convergence" if "non-convergence" in (r["note"] or "") else "reporting convergence"
                worse.append(f"{r['engine']} on {case['model']} ({r['reml_criterion'] - ours:+.3g}, {said})")
    faster = [f"{r['engine']} on {c['model']}" for c in res["cases"] for r in c["results"][1:]
              if r["ratio_to_ours"] is not None and r["ratio_to_ours"] < 1]
    out = ["Stopped at a worse optimum than hlm_course (REML criterion more than 1e-3 higher): "
           + ("; ".join(worse) if worse else "none") + ".", ""]
    out.append("Faster than hlm_course (in this run): " + (", ".join(faster) if faster else "none") + ".")
    return out


def write_report(res: dict) -> str:
    meta = res["meta"]
    lines = ["# Python peers: hlm_course vs mixedlm-rs and statsmodels MixedLM", "",
             f"From `python benchmarks/peers.py` ({meta['date']}, {meta['cpus']} CPUs, load average "
             f"{meta['load average (1 min) at start']} at the start, {meta['load average (1 min) at end']} at the "
             f"end): every engine fits the same data in the same process; time = the fastest of {res['reps']} fits "
             f"(statsmodels: of {res.get('sm_reps', res['reps'])}, at k× HSB of 1; it is slow). "
             "**Ratio = engine time / hlm_course time** (> 1: "
             "hlm_course is faster). REML criterion on lme4's scale (−2 × REML log-likelihood), evaluated at each "
             "engine's estimates of the variance parameters; \"− lme4\" subtracts lme4 1.1-31's REML criterion "
             "(positive: the engine stopped at a worse point; k× HSB: lme4's criterion from benchmarks/scaling.json, "
             "same generator and seed). statsmodels runs with `method=[\"lbfgs\"]` and, in its own row, with its default "
             "optimizer chain; neither is trusted, each is judged by the criterion it reached; "
             "\"−2 logLik reported\" is "
             "the engine's own `-2 * llf`. mixedlm-rs fits one grouping factor only.", ""]
    for case in res["cases"]:
        f = case["formula"].replace("|", "\\|")
        lines += [f"## {case['model']}: `{f}` ({case['rows']:,} rows)", "",
                  "| engine | time (s) | ratio to hlm_course | REML criterion | − lme4 | − hlm_course "
                  "| −2 logLik reported "
                  "| note |", "|---|---:|---:|---:|---:|---:|---:|---|"]
        ours = case["results"][0]["reml_criterion"]
        for r in case["results"]:
            d_ours = None if r["reml_criterion"] is None else r["reml_criterion"] - ours
            lines.append(f"| {r['engine']} | {fmt(r['seconds'], '.4f')} | "
                         f"{fmt(r['ratio_to_ours'], '.1f') + '×' if r['ratio_to_ours'] else '—'} | "
                         f"{fmt(r['reml_criterion'], '.4f')} | {fmt(r['minus_lme4'], '.1e')} | "
                         f"{fmt(d_ours, '.1e')} | {fmt(r['minus2_llf_reported'], '.4f')} | {r['note'] or ''} |")
        if "dense_check" in case and case["dense_check"] is not None:
            lines += ["", f"(The dense REML criterion used for statsmodels here reproduces ours at our estimates "
                          f"to {abs(case['dense_check']):.1e}.)"]
        lines.append("")
    lines += findings(res) + ["", "## Machine and versions", ""] + [f"- {k}: {v}" for k, v in meta.items()]
    text = "\n".join(lines) + "\n"
    (ROOT / "benchmarks" / "PEERS.md").write_text(text)
    return text


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--sm-reps", type=int, default=2, help="statsmodels fits per model (it is slow)")
    ap.add_argument("--sm-large-reps", type=int, default=0, help="statsmodels fits at 100× HSB (0: skip)")
    ap.add_argument("--no-large", action="store_true")
    ap.add_argument("--report", action="store_true", help="rewrite PEERS.md from peers.json")
    a = ap.parse_args()
    if a.report:
        res = json.loads((ROOT / "benchmarks" / "peers.json").read_text())
        res["summary_md"] = summary(res)
        (ROOT / "benchmarks" / "peers.json").write_text(json.dumps(res, indent=2))
        print(write_report(res))
        return
    meta = machine()
    data = {"hsb": hc.load_hsb(), "exam": hc.load_exam()}
    data["hsb"]["school"] = data["hsb"]["school"].astype(str)
    cases = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, (f, fixed, re, dname) in ONE_FACTOR.items():
            cases.append(one_factor_case(name, f, fixed, re, data[dname], a.reps, a.sm_reps, lme4_crit(name)))
            print(cases[-1]["model"], [(r["engine"], r["seconds"], r["minus_lme4"]) for r in cases[-1]["results"]],
                  flush=True)
        cases.append(penicillin_case(a.reps, a.sm_reps))
        print(cases[-1]["model"], [(r["engine"], r["seconds"], r["minus_lme4"]) for r in cases[-1]["results"]],
              flush=True)
        if not a.no_large:
            for name, (key, k) in LARGE.items():
                cases.append(large_case(name, key, k, a.reps, a.sm_large_reps))
                print(cases[-1]["model"], [(r["engine"], r["seconds"], r["reml_criterion"])
                                           for r in cases[-1]["results"]], flush=True)
    meta["load average (1 min) at end"] = round(os.getloadavg()[0], 2)
    res = {"reps": a.reps, "sm_reps": a.sm_reps, "sm_large_reps": a.sm_large_reps, "meta": meta, "cases": cases}
    res["summary_md"] = summary(res)
    (ROOT / "benchmarks" / "peers.json").write_text(json.dumps(res, indent=2))
    print(write_report(res))


if __name__ == "__main__":
    main()
