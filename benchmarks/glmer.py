"""Speed of hc.glmer against lme4's glmer on the same machine, in one run, reported as ratios.

Run from the repository root:

    python benchmarks/glmer.py           # per model: ours (5 fits), lme4 (benchmarks/glmer_bench.R, 5 fits), ours again
    python benchmarks/glmer.py --no-r    # reuse benchmarks/glmer_r_timings.json

Each engine: the fastest of repeated fits (other jobs only ever add time; per model ours are timed just before and
just after lme4's); ratio = lme4 time / ours (> 1: ours is
faster).  Writes benchmarks/glmer_results.json, benchmarks/GLMER.md and the "Generalized linear mixed models"
section of benchmarks/RESULTS.md, with the load average before and after.
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
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import hlm_course as hc  # noqa: E402

REF = ROOT / "tests" / "reference"
C = "use ~ age + I(age^2) + urban + livch + (1 | district)"
CB = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
MODELS = {
    "contra_int": (C, "contraception", {}),
    "contra_slope": ("use ~ age + I(age^2) + urban + livch + (urban | district)", "contraception", {}),
    "contra_agq10": (C, "contraception", {"nagq": 10}),
    "cbpp_laplace": (CB, "cbpp", {}),
    "cbpp_agq25": (CB, "cbpp", {"nagq": 25}),
    "mmmec_offset": ("deaths ~ uvb + offset(log(expected)) + (1 | region)", "mmmec", {"family": "poisson"}),
    "grouse": ("TICKS ~ YEAR + scale(HEIGHT) + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)", "grouseticks",
               {"family": "poisson"}),
}


def data(name: str) -> pd.DataFrame:
    """The data set as R read it: factors as categoricals (converted before the clock starts, as R's
    read.csv with colClasses does before lme4's)."""
    d = pd.read_csv(REF / f"glmer_{name}.csv")
    factors = {"cbpp": ["herd", "period"], "contraception": ["district", "use", "livch", "urban"],
               "mmmec": ["region"], "grouseticks": ["INDEX", "BROOD", "YEAR", "LOCATION"]}[name]
    for c in factors:
        d[c] = pd.Categorical(d[c])
    return d


def fastest(fn, reps: int) -> float:
    best = np.inf
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return float(best)


def main() -> None:
    load0 = os.getloadavg()[0]
    rfile = ROOT / "benchmarks" / "glmer_r_timings.json"

    def ours(name) -> tuple:
        form, dname, kw = MODELS[name]
        d = data(dname)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = hc.glmer(form, d, **kw)
            return fastest(lambda: hc.glmer(form, d, **kw), 5), fit

    # model by model: ours, lme4's (a fresh Rscript), ours again — the machine is shared, and pairing the
    # engines in time keeps a burst of load from deciding a ratio; each engine's fastest fit counts
    use_r = "--no-r" not in sys.argv
    if use_r and shutil.which("Rscript") is None:
        sys.exit("Rscript not found: install R and lme4, or use --no-r")
    before, after, rt = {}, {}, {}
    for name in MODELS:
        before[name] = ours(name)
        if use_r:
            subprocess.run(["Rscript", "benchmarks/glmer_bench.R", "5", name], cwd=ROOT, check=True)
            one = json.loads((ROOT / "benchmarks" / "glmer_r_one.json").read_text())
            rt[name] = one[name]
            rt["meta"] = one["meta"]
        after[name] = ours(name)
    if use_r:
        (ROOT / "benchmarks" / "glmer_r_one.json").unlink()
        rfile.write_text(json.dumps(rt, indent=2))
    else:
        rt = json.loads(rfile.read_text())
    rows = []
    for name, (form, dname, kw) in MODELS.items():
        t, fit = min(before[name][0], after[name][0]), after[name][1]
        r = rt[name]
        rows.append({"model": name, "formula": form, "nagq": kw.get("nagq", 1), "python_s": t,
                     "lme4_s": r["seconds"], "ratio": r["seconds"] / t,
                     "minus2loglik_minus_lme4": fit.deviance - r["minus2loglik"], "converged": fit.converged})
        print(f"{name:14s} ours {t:.4f} s  lme4 {r['seconds']:.3f} s  ratio {r['seconds'] / t:5.1f}×")
    load1 = os.getloadavg()[0]
    result = {"rows": rows, "load_average_1min": {"start": round(load0, 2), "end": round(load1, 2),
                                                  "R run": rt.get("meta", {}).get("load")},
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpus": os.cpu_count(),
              "lme4": rt.get("meta", {}).get("lme4"), "R": rt.get("meta", {}).get("R")}
    (ROOT / "benchmarks" / "glmer_results.json").write_text(json.dumps(result, indent=2))
    section = report(result)
    (ROOT / "benchmarks" / "GLMER.md").write_text("# " + section[0][3:] + "\n" + "\n".join(section[1:]) + "\n")
    results_md = ROOT / "benchmarks" / "RESULTS.md"
    if results_md.exists():
        text = results_md.read_text()
        head = "## Generalized linear mixed models"
        if head in text:  # replace the old section
            start = text.index(head)
            nxt = text.find("\n## ", start + len(head))
            text = text[:start] + (text[nxt + 1:] if nxt >= 0 else "")
        anchor = "## Machine and versions"
        block = "\n".join(section) + "\n\n"
        text = text.replace(anchor, block + anchor) if anchor in text else text.rstrip("\n") + "\n\n" + block
        results_md.write_text(text)
    print("\n".join(section))


def report(result: dict) -> list[str]:
    rows = result["rows"]
    la = result["load_average_1min"]
    lines = ["## Generalized linear mixed models (target: every fit at least 5× lme4's glmer)", "",
             f"From `python benchmarks/glmer.py` ({result['date']}, {result['cpus']} CPUs, load average "
             f"{la['start']} at the start, {la['end']} at the end): "
             "per model, the fastest of 10 fits of `hc.glmer` (5 just before and 5 just after lme4's) against the "
             "fastest of 5 of lme4 "
             f"{result['lme4']}'s `glmer` (default control) on the same data in the same run.  Ratio = lme4 / "
             "ours; the last column is our −2 log-likelihood minus lme4's (negative: ours is lower).", "",
             "| model | nAGQ | hlm_course (s) | lme4 (s) | ratio | −2logLik − lme4 |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['model']} `{r['formula'].replace('|', chr(92) + '|')}` | {r['nagq']} | "
                     f"{r['python_s']:.4f} | {r['lme4_s']:.3f} | {r['ratio']:.1f}× | "
                     f"{r['minus2loglik_minus_lme4']:.1e} |")
    ratios = [r["ratio"] for r in rows]
    lines += ["", f"Smallest ratio **{min(ratios):.1f}×**, median {np.median(ratios):.1f}×."]
    return lines


if __name__ == "__main__":
    main()
