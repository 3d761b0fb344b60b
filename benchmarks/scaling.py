"""How lmer's fit time grows with the data, against lme4 on the same files.

Builds k × HSB for k in 1, 10, 100, 300: the 160 schools replicated k times
(new school ids), with responses simulated from the REML fit of each model to
the real data (seeded, so every run builds the same files), and fits

* ``mathach ~ cses + (cses | school)`` (random coefficients), and
* ``mathach ~ cses * mean_ses + cses * sector + (cses | school)`` (slopes as outcomes)

by REML.  Python: the fastest of ``--reps`` fits (default 5), peak memory of one fit
(tracemalloc: numpy's and pandas' allocations).  lme4 (when Rscript is on the
path and ``--no-r`` is not given): the same CSV files, ``system.time`` of one fit
each, R's peak memory from ``gc()``.  Results: benchmarks/scaling.json,
benchmarks/scaling.png, and a table printed as Markdown for RESULTS.md.

    python benchmarks/scaling.py                 # 1×, 10×, 100×, 300×
    python benchmarks/scaling.py --sizes 1 10    # a subset
    python benchmarks/scaling.py --no-r          # Python only
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import hlm_course as hc  # noqa: E402

MODELS = {
    "rc": "mathach ~ cses + (cses | school)",
    "isa": "mathach ~ cses * mean_ses + cses * sector + (cses | school)",
}
SEED = 20261203

R_SCRIPT = r"""
suppressPackageStartupMessages(library(lme4))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], stringsAsFactors = FALSE)
d$sector <- factor(d$sector, levels = c("Public", "Catholic"))
d$school <- factor(d$school)
f <- args[2]
invisible(gc(reset = TRUE))
t <- system.time(m <- lmer(as.formula(f), d, REML = TRUE))[["elapsed"]]
mem <- sum(gc()[, 6])  # "max used" in Mb
cat(sprintf("%.6f %.1f %.6f\n", t, mem, REMLcrit(m)))
"""


def replicate(hsb: pd.DataFrame, k: int, formula: str, seed: int) -> pd.DataFrame:
    """k copies of the schools (ids school_r) with responses simulated from the REML fit."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = hc.lmer(formula, hsb)
    cols = ["school", "cses", "mean_ses", "sector"]
    base = hsb[cols].reset_index(drop=True)
    big = pd.concat([base.assign(school=base["school"].astype(str) + f"_{r}") for r in range(k)],
                    ignore_index=True)
    rng = np.random.default_rng(seed)
    X = np.tile(fit.X, (k, 1))
    Z = np.tile(fit.Z, (k, 1))
    J = fit.ngroups
    codes = (np.tile(fit.codes, k) + J * np.repeat(np.arange(k), len(base)))
    lam = fit.pls.Lambda
    b = fit.sigma * rng.standard_normal((k * J, lam.shape[0])) @ lam.T
    big["mathach"] = X @ fit.pls.beta + np.sum(Z * b[codes], axis=1) + fit.sigma * rng.standard_normal(len(big))
    # factors, as the R script makes them before it starts lme4's clock (read.csv gives strings)
    for col in ("school", "sector"):
        big[col] = pd.Categorical(big[col])
    return big


def time_python(formula: str, data: pd.DataFrame, reps: int) -> tuple[float, float, float, int]:
    times = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(reps):
            t0 = time.perf_counter()
            m = hc.lmer(formula, data)
            times.append(time.perf_counter() - t0)
        tracemalloc.start()
        hc.lmer(formula, data)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return float(np.min(times)), peak / 2 ** 20, m.reml_criterion, int(m.optimizers["evaluations"].sum())


def time_r(formula: str, csv: Path) -> tuple[float, float, float] | None:
    if not shutil.which("Rscript"):
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as fh:
        fh.write(R_SCRIPT)
    out = subprocess.run(["Rscript", fh.name, str(csv), formula], capture_output=True, text=True, check=True)
    t, mem, crit = map(float, out.stdout.split())
    return t, mem, crit


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1, 10, 100, 300])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--no-r", action="store_true")
    ap.add_argument("--r-max", type=int, default=300, help="largest size to run lme4 on")
    ap.add_argument("--report", action="store_true", help="only rewrite SCALING.md and the plot from scaling.json")
    args = ap.parse_args()
    if args.report:
        res = json.loads((ROOT / "benchmarks" / "scaling.json").read_text())
        plot(pd.DataFrame(res["rows"]))
        report(res)
        return
    hsb = hc.load_hsb()
    load_start = round(os.getloadavg()[0], 2)
    rows = []
    tmp = Path(tempfile.mkdtemp(prefix="hlm_scaling_"))
    for model, formula in MODELS.items():
        for k in args.sizes:
            data = replicate(hsb, k, formula, SEED + k)
            t_py, mem_py, crit_py, evals = time_python(formula, data, args.reps)
            row = {"model": model, "k": k, "rows": len(data), "schools": data["school"].nunique(),
                   "python_s": t_py, "python_peak_mb": mem_py, "python_crit": crit_py, "evaluations": evals}
            if not args.no_r and k <= args.r_max:
                csv = tmp / f"hsb_{model}_{k}.csv"
                data.to_csv(csv, index=False)
                r = time_r(formula, csv)
                if r is not None:
                    row.update({"lme4_s": r[0], "lme4_peak_mb": r[1], "lme4_crit": r[2], "ratio": r[0] / t_py})
                csv.unlink()
            rows.append(row)
            print(json.dumps(row), flush=True)
    meta = {"machine": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
            "numpy": np.__version__, "pandas": pd.__version__, "date": time.strftime("%Y-%m-%d"), "seed": SEED,
            "load average (1 min) at start": load_start, "load average (1 min) at end": round(os.getloadavg()[0], 2)}
    if shutil.which("Rscript"):
        v = subprocess.run(["Rscript", "-e", "cat(R.version.string, as.character(packageVersion('lme4')))"],
                           capture_output=True, text=True)
        meta["R"] = v.stdout.strip()
    (ROOT / "benchmarks" / "scaling.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    df = pd.DataFrame(rows)
    plot(df)
    report({"meta": meta, "rows": rows})


def report(res: dict) -> None:
    """benchmarks/SCALING.md: the table, the plot, the machine."""
    df = pd.DataFrame(res["rows"])
    lines = ["# Scaling: fit time vs rows, hlm_course and lme4", "",
             "`python benchmarks/scaling.py` (k × HSB: schools replicated k times, responses simulated from the "
             "REML fit, seeded; school and sector are factors (pandas Categorical, as R's factor() before lme4's clock starts); REML fits; Python: the fastest of repeated fits (5), peak traced memory of one fit; lme4: "
             "one `system.time`, R's `gc()` max used). Ratio = lme4 time / hlm_course time.", "",
             "Evaluations: of the profiled criterion, by BOBYQA and the convergence check together (they "
             "differ between data sets: each k simulates its own responses).", "",
             "| model | k | rows | schools | hlm_course (s) | evaluations | peak MB | lme4 (s) | lme4 MB | ratio | "
             "criterion − lme4 |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in df.to_dict("records"):
        has_r = isinstance(r.get("lme4_s"), float) and np.isfinite(r.get("lme4_s"))
        evals = r.get("evaluations")
        evals = "–" if evals is None or (isinstance(evals, float) and not np.isfinite(evals)) else int(evals)
        lines.append(f"| {r['model']} | {r['k']} | {r['rows']} | {r['schools']} | {r['python_s']:.3g} | {evals} | "
                     f"{r['python_peak_mb']:.0f} | " + (f"{r['lme4_s']:.3g} | {r['lme4_peak_mb']:.0f} | "
                                                        f"{r['ratio']:.1f}× | {r['python_crit'] - r['lme4_crit']:.1e} |"
                                                        if has_r else "– | – | – | – |"))
    py = df.set_index(["model", "k"])["python_s"]
    checks = []
    for model in df["model"].unique():
        if (model, 100) in py.index:
            checks.append(f"{model}: 100× in {py[(model, 100)]:.2f} s ({'under' if py[(model, 100)] < 1 else 'over'} 1 s)")
        if (model, 100) in py.index and (model, 300) in py.index:
            ratio = py[(model, 300)] / py[(model, 100)]
            checks.append(f"{model}: 300× / 100× = {ratio:.2f} (target ≤ 3.5; linear: 3)")
    if checks:
        lines += ["", "Targets: " + "; ".join(checks) + "."]
    lines += ["", "![fit time vs rows](scaling.png)", "", "Machine and versions: " +
              ", ".join(f"{k} {v}" for k, v in res["meta"].items()), ""]
    (ROOT / "benchmarks" / "SCALING.md").write_text("\n".join(lines))


def plot(df: pd.DataFrame) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    colors = {"rc": "#0072B2", "isa": "#D55E00"}
    for model, g in df.groupby("model"):
        ax.loglog(g["rows"], g["python_s"], "o-", color=colors[model], label=f"hlm_course, {model}")
        if "lme4_s" in g and g["lme4_s"].notna().any():
            ax.loglog(g["rows"], g["lme4_s"], "s--", color=colors[model], label=f"lme4, {model}")
    rows = np.array(sorted(df["rows"].unique()), dtype=float)
    ref = df[df["k"] == 100]["python_s"].max() if (df["k"] == 100).any() else df["python_s"].max()
    ref_rows = 100 * rows.min() if (df["k"] == 100).any() else rows.max()
    ax.loglog(rows, ref * rows / ref_rows, ":", color="0.4", label="linear in rows (through 100×)")
    ax.set_xlabel("rows")
    ax.set_ylabel("fit time (s)")
    ax.set_title("REML fit time vs rows (k × HSB)")
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(ROOT / "benchmarks" / "scaling.png", dpi=120)


if __name__ == "__main__":
    main()
