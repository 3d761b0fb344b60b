"""Speed of hlm_course against lme4/pbkrtest on the same machine, reported as ratios.

Run from the repository root:

    python benchmarks/run.py            # full: 1000 bootstrap simulations (R part takes ~5 minutes, InstEval ~1)
    python benchmarks/run.py --quick    # 100 simulations
    python benchmarks/run.py --no-r     # reuse benchmarks/r_timings.json and r_timings_multi.json instead of rerunning R
    python benchmarks/run.py --report   # rewrite RESULTS.md from results.json and scaling.json

Single fits: the fastest of repeated fits in each engine; bootstraps: the median of 3 Python runs against one R run; ratio = R time / Python time (> 1: hlm_course is faster).
The multi-term models (several grouping factors) run on the data tests/r/multi_term_reference.R exports;
lme4's times for them come from benchmarks/bench_multi.R, run in the same invocation.
Results go to benchmarks/results.json and benchmarks/RESULTS.md.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import hlm_course as hc  # noqa: E402

MODELS = {
    "hsb_rc": ("mathach ~ cses + (cses | school)", "hsb"),
    "hsb_isa": ("mathach ~ cses * mean_ses + cses * sector + (cses | school)", "hsb"),
    "hsb_minority": ("mathach ~ cses + minority + (cses + minority | school)", "hsb"),
    "hsb_null": ("mathach ~ 1 + (1 | school)", "hsb"),
    "exam_vi": ("normexam ~ standLRT + (1 | school)", "exam"),
    "exam_hlm": ("normexam ~ standLRT + (standLRT | school)", "exam"),
    "exam_vs": ("normexam ~ standLRT + (standLRT - 1 | school)", "exam"),
    "hsb_int": ("mathach ~ cses + (1 | school)", "hsb"),
    "hsb_int_minority": ("mathach ~ cses + minority + (1 | school)", "hsb"),
    "hsb_rc_ml": ("mathach ~ cses + (cses | school)", "hsb", False),
    "hsb_isa_ml": ("mathach ~ cses * mean_ses + cses * sector + (cses | school)", "hsb", False),
}


# Several grouping factors (nested, crossed, three levels), REML, on the data tests/r/multi_term_reference.R
# exported; lme4's times come from benchmarks/bench_multi.R in the same run.
MULTI_MODELS = {
    "penicillin": ("diameter ~ 1 + (1|plate) + (1|sample)", "penicillin"),
    "pastes_nested": ("strength ~ 1 + (1|batch/cask)", "pastes"),
    "egsingle_nested": ("math ~ year + (year|schoolid/childid)", "egsingle"),
    "egsingle_3lev_int": ("math ~ year + female + black + (1|schoolid) + (1|schoolid:childid)", "egsingle"),
    "scotssec": ("attain ~ verbal + sex + (1|primary) + (1|second)", "scotssec"),
    "scotssec_slope": ("attain ~ verbal + sex + (verbal|primary) + (1|second)", "scotssec"),
    "exam_uncorr2": ("normexam ~ standLRT + (standLRT||school) + (1|school:sex)", "exam"),
    "insteval": ("y ~ service + (1|s) + (1|d) + (1|dept:service)", "insteval"),
}
MULTI_FACTORS = {"penicillin": ["plate", "sample"], "pastes": ["batch", "cask"],
                 "insteval": ["s", "d", "dept", "service", "studage", "lectage"],
                 "egsingle": ["schoolid", "childid", "female", "black"], "scotssec": ["sex", "primary", "second"],
                 "exam": ["school", "sex", "student"]}


def load_multi(name: str):
    """A data set of the multi-term benchmarks, factor columns as strings (R's factors)."""
    import pandas as pd

    path = next((ROOT / "tests" / "reference").glob(f"multi_{name}.csv*"))
    return pd.read_csv(path, dtype={c: str for c in MULTI_FACTORS[name]})


def run_times(fn, reps) -> list[float]:
    """Wall-clock seconds of ``reps`` calls of ``fn``."""
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def min_time(fn, reps):
    """The fastest of ``reps`` runs (timeit's convention: other jobs only ever add time)."""
    return float(np.min(run_times(fn, reps)))


def median_time(fn, reps):
    return float(np.median(run_times(fn, reps)))


def machine() -> dict:
    """The machine and the versions, for the report."""
    import platform

    import nlopt
    import pandas
    import scipy

    info = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": platform.platform(),
            "cpus": os.cpu_count(), "load average (1 min) at start": round(os.getloadavg()[0], 2),
            "python": platform.python_version(), "numpy": np.__version__, "scipy": scipy.__version__,
            "pandas": pandas.__version__, "nlopt": nlopt.__version__}
    try:
        from threadpoolctl import threadpool_info

        blas = [f"{i['internal_api']} {i['version']} ({i.get('architecture')}, {i['num_threads']} threads)"
                for i in threadpool_info() if i["user_api"] == "blas"]
        info["BLAS"] = "; ".join(sorted(set(blas)))
    except Exception:  # pragma: no cover - threadpoolctl missing
        pass
    return info


def main() -> None:
    quick = "--quick" in sys.argv
    nsim = 100 if quick else 1000
    reps = 3 if quick else 10
    r_file = ROOT / "benchmarks" / "r_timings.json"
    if "--report" in sys.argv:  # rewrite RESULTS.md from results.json and scaling.json
        write_report(json.loads((ROOT / "benchmarks" / "results.json").read_text()))
        return
    meta = machine()
    r_multi_file = ROOT / "benchmarks" / "r_timings_multi.json"
    if "--no-r" not in sys.argv and shutil.which("Rscript"):
        subprocess.run(["Rscript", "benchmarks/bench.R"] + (["--quick"] if quick else []), cwd=ROOT, check=True)
        subprocess.run(["Rscript", "benchmarks/bench_multi.R"] + (["--quick"] if quick else []), cwd=ROOT,
                       check=True)
    r = json.loads(r_file.read_text()) if r_file.exists() else {}
    r.update({k: v for k, v in (json.loads(r_multi_file.read_text()) if r_multi_file.exists() else {}).items()
              if k.startswith(("fit_", "crit_"))})
    data = {"hsb": hc.load_hsb(), "exam": hc.load_exam()}
    py, crit = {}, {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, (formula, d, *flag) in MODELS.items():
            reml = flag[0] if flag else True  # a third entry is the REML flag (False: maximum likelihood)
            py[f"fit_{name}"] = min_time(lambda: hc.lmer(formula, data[d], reml=reml), reps)
            m = hc.lmer(formula, data[d], reml=reml)
            crit[f"fit_{name}"] = m.reml_criterion if reml else m.deviance
        for name, (formula, dname) in MULTI_MODELS.items():
            d = load_multi(dname)
            py[f"fit_{name}"] = min_time(lambda: hc.lmer(formula, d), 3 if name == "insteval" else reps)
            m = hc.lmer(formula, d)
            crit[f"fit_{name}"] = m.reml_criterion
        small = hc.lmer("mathach ~ cses + (1 | school)", data["hsb"])
        large = hc.lmer("mathach ~ cses + minority + (1 | school)", data["hsb"])
        py["pb_test"] = median_time(lambda: hc.pb_test(small, large, nsim=nsim, seed=1), 3)
        small3 = hc.lmer("mathach ~ cses + minority + (cses | school)", data["hsb"], reml=False)
        large3 = hc.lmer("mathach ~ cses + minority + (cses + minority | school)", data["hsb"], reml=False)
        py["pb_test_random_q3"] = median_time(lambda: hc.pb_test(small3, large3, nsim=nsim // 5, seed=1), 3)
        rc = hc.lmer("mathach ~ cses + (cses | school)", data["hsb"])
        py["bootstrap_ci"] = median_time(lambda: hc.bootstrap_ci(rc, nsim=nsim, seed=1), 3)
    meta["load average (1 min) at end"] = round(os.getloadavg()[0], 2)
    meta.update({k: r.get(k) for k in ("R", "lme4")})
    rows = []
    for key, t in py.items():
        rt = r.get(key) if r.get("nsim", nsim) == nsim or key.startswith("fit_") else None
        row = {"task": key, "python_s": t, "r_s": rt, "ratio_r_over_python": (rt / t) if rt else None}
        if key in crit:
            row["criterion"] = crit[key]
            r_crit = r.get("crit_" + key[len("fit_"):])
            row["criterion_minus_lme4"] = crit[key] - r_crit if r_crit is not None else None
        rows.append(row)
    result = {"nsim": nsim, "meta": meta, "rows": rows}
    (ROOT / "benchmarks" / "results.json").write_text(json.dumps(result, indent=2))
    write_report(result)


def write_report(result: dict) -> None:
    """benchmarks/RESULTS.md: single fits, bootstraps, scaling (from scaling.json), machine and versions."""
    nsim, rows, meta = result["nsim"], result["rows"], result.get("meta", {})
    fits = [r for r in rows if r["task"].startswith("fit_") and r["task"][4:] in MODELS]
    multi = [r for r in rows if r["task"].startswith("fit_") and r["task"][4:] in MULTI_MODELS]
    boots = [r for r in rows if not r["task"].startswith("fit_")]
    multi_ratios = [r["ratio_r_over_python"] for r in multi if r["ratio_r_over_python"]]
    ratios = [r["ratio_r_over_python"] for r in fits if r["ratio_r_over_python"]]
    lines = ["# Benchmarks: hlm_course vs lme4 on the same machine", "",
             "`python benchmarks/run.py` times lme4 (`benchmarks/bench.R`, `benchmarks/bench_multi.R`) and then "
             "hlm_course on the same data, in one run. Single fits: the fastest of 10 repeated fits in each engine (the minimum is the least disturbed "
             "by other jobs); bootstraps: one R run, the median of 3 Python runs. **Ratio = R time / Python time** (> 1: hlm_course is "
             "faster). The machine is shared, so absolute times vary from run to run; the ratios are what to "
             "compare (the load average is recorded below).", "",
             "## Single fits (target: every fit at least 3× lme4, same numbers)", "",
             "Criterion: the REML criterion (REML fits) or the deviance (ML fits) each engine reached; the last "
             "column is ours minus lme4's (negative: ours is lower, i.e. better).", "",
             "| model | hlm_course (s) | lme4 (s) | ratio | criterion − lme4 |", "|---|---:|---:|---:|---:|"]
    for row in fits:
        rs = f"{row['r_s']:.3f}" if row["r_s"] else "—"
        ratio = f"{row['ratio_r_over_python']:.1f}×" if row["ratio_r_over_python"] else "—"
        d = row.get("criterion_minus_lme4")
        name = row["task"][len("fit_"):]
        formula = MODELS[name][0].replace("|", "\\|")  # a bar inside a table cell must be escaped
        reml = "ML" if len(MODELS[name]) > 2 and not MODELS[name][2] else "REML"
        lines.append(f"| {name} `{formula}` ({reml}) | "
                     f"{row['python_s']:.4f} | {rs} | {ratio} | {'—' if d is None else f'{d:.1e}'} |")
    if ratios:
        lines += ["", f"Smallest ratio: **{min(ratios):.1f}×**; median {float(np.median(ratios)):.1f}×."]
    worse = [r["task"][len("fit_"):] for r in fits if (r.get("criterion_minus_lme4") or 0) > 1e-3]
    better = [r["task"][len("fit_"):] for r in fits if (r.get("criterion_minus_lme4") or 0) < -1e-3]
    lines += ["", "Same numbers: every criterion agrees with lme4's to within 1e-3"
              + (f", except {', '.join(better)}, where ours is lower: lme4's default optimizer stops early on it "
                 "(a false boundary; the book's chapter on random coefficients and Lab 2 show it)" if better else "")
              + (f"; ours is higher on {', '.join(worse)}" if worse else "") + "."]
    if multi:
        lines += ["", "## Several grouping factors: nested, crossed, three levels (target: InstEval ≥ 5×, every "
                  "other model ≥ 3×)", "",
                  "REML fits of `benchmarks/bench_multi.R`'s models on the data `tests/r/multi_term_reference.R` "
                  "exported (lme4's Penicillin, Pastes, InstEval; mlmRev's egsingle, ScotsSec, Exam); the fastest "
                  "of 10 fits (InstEval: of 3 in Python, 1 in R).", "",
                  "| model | hlm_course (s) | lme4 (s) | ratio | criterion − lme4 |", "|---|---:|---:|---:|---:|"]
        for row in multi:
            rs = f"{row['r_s']:.3f}" if row["r_s"] else "—"
            ratio = f"{row['ratio_r_over_python']:.1f}×" if row["ratio_r_over_python"] else "—"
            d = row.get("criterion_minus_lme4")
            name = row["task"][len("fit_"):]
            formula = MULTI_MODELS[name][0].replace("|", "\\|")
            lines.append(f"| {name} `{formula}` | {row['python_s']:.4f} | {rs} | {ratio} | "
                         f"{'—' if d is None else f'{d:.1e}'} |")
        if multi_ratios:
            lines += ["", f"Smallest ratio: **{min(multi_ratios):.1f}×**; median {float(np.median(multi_ratios)):.1f}×."]
    lines += ["", f"## Parametric bootstrap ({nsim} simulations; target ≥ 50× lme4/pbkrtest)", "",
              f"`pb_test` against pbkrtest's `PBmodcomp`, `bootstrap_ci` against lme4's `confint(method = \"boot\")`; "
              f"`pb_test_random_q3` (Lab 2's test of a random minority gap, three random effects under the "
              f"alternative) runs {nsim // 5} simulations.", "",
              "| task | hlm_course (s) | R (s) | ratio |", "|---|---:|---:|---:|"]
    for row in boots:
        rs = f"{row['r_s']:.2f}" if row["r_s"] else "—"
        ratio = f"{row['ratio_r_over_python']:.0f}×" if row["ratio_r_over_python"] else "—"
        lines.append(f"| {row['task']} | {row['python_s']:.3f} | {rs} | {ratio} |")
    scaling = ROOT / "benchmarks" / "scaling.json"
    if scaling.exists():
        sc = json.loads(scaling.read_text())
        lines += ["", "## Scaling with the number of rows (target: 100× HSB in under 1 s, linear cost)", "",
                  "From `python benchmarks/scaling.py` (details, memory and machine in [SCALING.md](SCALING.md)): "
                  "k × HSB, schools replicated k times, responses simulated from the fitted model (seeded), "
                  "REML fits.", "",
                  "| model | k | rows | hlm_course (s) | lme4 (s) | ratio |", "|---|---:|---:|---:|---:|---:|"]
        for r_ in sc["rows"]:
            has_r = isinstance(r_.get("lme4_s"), (int, float))
            lines.append(f"| {r_['model']} | {r_['k']} | {r_['rows']:,} | {r_['python_s']:.3g} | "
                         + (f"{r_['lme4_s']:.3g} | {r_['ratio']:.0f}× |" if has_r else "– | – |"))
        lines += ["", "![REML fit time against rows, hlm_course and lme4, log scales](scaling.png)"]
    glmer_md = ROOT / "benchmarks" / "GLMER.md"
    if glmer_md.exists():  # the GLMM section, written by benchmarks/glmer.py
        body = glmer_md.read_text().strip().splitlines()
        lines += ["", "#" + body[0]] + body[1:]
    if meta:
        lines += ["", "## Machine and versions", ""] + [f"- {k}: {v}" for k, v in meta.items() if v is not None]
    peers = ROOT / "benchmarks" / "peers.json"
    if peers.exists():  # the Python peers' summary, written by benchmarks/peers.py (details in PEERS.md)
        lines += [""] + json.loads(peers.read_text())["summary_md"].strip().splitlines()
    (ROOT / "benchmarks" / "RESULTS.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
