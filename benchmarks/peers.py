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
with the analytic gradient); its default chain is not trusted here (see PREAMBLE: its default
optimizers can stop early).  The crossed model (Penicillin) is fitted by statsmodels' variance-components
formulation: one group holding all rows, ``vc_formula`` with one component per factor.  mixedlm-rs fits one
grouping factor only, so it is marked "cannot fit" there.

Results: benchmarks/peers.json and benchmarks/PEERS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
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
LARGE = {"hsb_rc_100x": ("rc", 100), "hsb_isa_100x": ("isa", 100)}


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
def fit_statsmodels(fixed, re, data, group="school"):
    import statsmodels.formula.api as smf
    from statsmodels.regression.mixed_linear_model import MixedLM

    # mixedlm-rs can alias statsmodels' names (mixedlm_rs.install()); this row must time statsmodels itself
    assert MixedLM.__module__.startswith("statsmodels"), "statsmodels' MixedLM is aliased"

    m = smf.mixedlm(fixed, data, groups=data[group], re_formula=re)
    return m.fit(reml=True, method=["lbfgs"])


def fit_mixedlm_rs(fixed, re, data, group="school"):
    import mixedlm_rs

    # its default optimizer: scipy's L-BFGS-B over lme4's profiled criterion
    return mixedlm_rs.mixedlm(fixed, data, groups=data[group], re_formula=re).fit(reml=True)


def peer_cov(res):
    """(covariance matrix of the random effects, residual variance) of a statsmodels-style result."""
    return np.asarray(res.cov_re, float), float(res.scale)


def row_for(engine, t, crit, t_ours, lme4, llf=None, note=""):
    return {"engine": engine, "seconds": t, "ratio_to_ours": t / t_ours if t is not None else None,
            "reml_criterion": crit, "minus_lme4": (crit - lme4) if (crit is not None and lme4 is not None) else None,
            "minus2_llf_reported": (-2 * llf) if llf is not None else None, "note": note}


def one_factor_case(name, lme4_formula, fixed, re, data, reps, sm_reps, lme4):
    rows = []
    t_ours, ours = fastest(lambda: hc.lmer(lme4_formula, data), reps)
    rows.append(row_for("hlm_course", t_ours, ours.reml_criterion, t_ours, lme4, llf=ours.loglik))
    for engine, fn, r_ in (("mixedlm-rs", fit_mixedlm_rs, reps), ("statsmodels (lbfgs)", fit_statsmodels, sm_reps)):
        try:
            t, res = fastest(lambda: fn(fixed, re, data), r_)
        except Exception as e:  # noqa: BLE001 - a peer that fails is reported, not fatal
            rows.append(row_for(engine, None, None, t_ours, lme4, note=f"failed: {type(e).__name__}: {e}"[:200]))
            continue
        cov, scale = peer_cov(res)
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

    def sm_fit():
        m = smf.mixedlm("diameter ~ 1", d1, groups=d1["one"], re_formula="0",
                        vc_formula={"plate": "0 + C(plate)", "sample": "0 + C(sample)"})
        return m.fit(reml=True, method=["lbfgs"])

    try:
        t, res = fastest(sm_fit, sm_reps)
        names = list(res.model.exog_vc.names)
        v = dict(zip(names, np.asarray(res.vcomp, float)))
        crit = penicillin_reml_crit(d, v["plate"], v["sample"], float(res.scale))
        note = "variance components, one group" + ("" if res.converged else "; reports non-convergence")
        rows.append(row_for("statsmodels (lbfgs)", t, crit, t_ours, lme4, llf=float(res.llf), note=note))
    except Exception as e:  # noqa: BLE001
        rows.append(row_for("statsmodels (lbfgs)", None, None, t_ours, lme4,
                            note=f"failed: {type(e).__name__}: {e}"[:200]))
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
    big = replicate(hc.load_hsb(), k, formula, SEED)
    big["school"] = big["school"].astype(str)
    fixed, re = formula.split(" + (")[0], "~cses"
    t_ours, ours = fastest(lambda: hc.lmer(formula, big), reps)
    rows = [row_for("hlm_course", t_ours, ours.reml_criterion, t_ours, None, llf=ours.loglik)]
    for engine, fn, r_ in (("mixedlm-rs", fit_mixedlm_rs, reps), ("statsmodels (lbfgs)", fit_statsmodels, sm_reps)):
        if r_ == 0:
            rows.append(row_for(engine, None, None, t_ours, None, note="not run by default (slow: see its 1× time; --sm-large-reps 1 runs it)"))
            continue
        try:
            t, res = fastest(lambda: fn(fixed, re, big), r_)
        except Exception as e:  # noqa: BLE001
            rows.append(row_for(engine, None, None, t_ours, None, note=f"failed: {type(e).__name__}: {e}"[:200]))
            continue
        cov, scale = peer_cov(res)
        note = ("" if getattr(res, "converged", True) else "reports non-convergence") + (
            f" (fastest of {r_})" if r_ != reps else "")
        rows.append(row_for(engine, t, crit_at(ours, cov, scale), t_ours, None, llf=float(res.llf), note=note))
    return {"model": name, "formula": f"{formula} on {k}× HSB", "rows": len(big), "lme4_criterion": None,
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


def write_report(res: dict) -> str:
    meta = res["meta"]
    lines = ["# Python peers: hlm_course vs mixedlm-rs and statsmodels MixedLM", "",
             f"From `python benchmarks/peers.py` ({meta['date']}, {meta['cpus']} CPUs, load average "
             f"{meta['load average (1 min) at start']} at the start, {meta['load average (1 min) at end']} at the "
             f"end): every engine fits the same data in the same process; time = the fastest of {res['reps']} fits "
             f"(statsmodels: of {res.get('sm_reps', res['reps'])}; it is slow). **Ratio = engine time / hlm_course time** (> 1: "
             "hlm_course is faster). REML criterion on lme4's scale (−2 × REML log-likelihood), evaluated at each "
             "engine's estimates of the variance parameters; \"− lme4\" subtracts lme4 1.1-31's REML criterion "
             "(positive: the engine stopped at a worse point; at 100× HSB there is no lme4 fit here, compare "
             "with hlm_course's row). statsmodels runs with `method=[\"lbfgs\"]`; its default optimizer is not "
             "trusted. mixedlm-rs fits one grouping factor only.", ""]
    for case in res["cases"]:
        f = case["formula"].replace("|", "\\|")
        lines += [f"## {case['model']}: `{f}` ({case['rows']:,} rows)", "",
                  "| engine | time (s) | ratio to hlm_course | REML criterion | − lme4 | − hlm_course | note |",
                  "|---|---:|---:|---:|---:|---:|---|"]
        ours = case["results"][0]["reml_criterion"]
        for r in case["results"]:
            d_ours = None if r["reml_criterion"] is None else r["reml_criterion"] - ours
            lines.append(f"| {r['engine']} | {fmt(r['seconds'], '.4f')} | "
                         f"{fmt(r['ratio_to_ours'], '.1f') + '×' if r['ratio_to_ours'] else '—'} | "
                         f"{fmt(r['reml_criterion'], '.4f')} | {fmt(r['minus_lme4'], '.1e')} | "
                         f"{fmt(d_ours, '.1e')} | {r['note'] or ''} |")
        if "dense_check" in case:
            lines += ["", f"(The dense REML criterion used for statsmodels here reproduces ours at our estimates "
                          f"to {abs(case['dense_check']):.1e}.)"]
        lines.append("")
    lines += ["## Machine and versions", ""] + [f"- {k}: {v}" for k, v in meta.items()]
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
        print(write_report(json.loads((ROOT / "benchmarks" / "peers.json").read_text())))
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
    (ROOT / "benchmarks" / "peers.json").write_text(json.dumps(res, indent=2))
    print(write_report(res))


if __name__ == "__main__":
    main()
