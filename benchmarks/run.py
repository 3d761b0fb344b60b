"""Speed of hlm_course against lme4/pbkrtest on the same machine, reported as ratios.

Run from the repository root:

    python benchmarks/run.py            # full: 1000 bootstrap simulations (R part takes ~3 minutes)
    python benchmarks/run.py --quick    # 100 simulations
    python benchmarks/run.py --no-r     # reuse benchmarks/r_timings.json instead of rerunning R

Times are medians of repeated runs; ratio = R time / Python time (> 1: hlm_course is faster).
Results go to benchmarks/results.json and benchmarks/RESULTS.md.
"""

from __future__ import annotations

import json
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


def median_time(fn, reps):
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main() -> None:
    quick = "--quick" in sys.argv
    nsim = 100 if quick else 1000
    reps = 3 if quick else 10
    r_file = ROOT / "benchmarks" / "r_timings.json"
    if "--no-r" not in sys.argv and shutil.which("Rscript"):
        subprocess.run(["Rscript", "benchmarks/bench.R"] + (["--quick"] if quick else []), cwd=ROOT, check=True)
    r = json.loads(r_file.read_text()) if r_file.exists() else {}
    data = {"hsb": hc.load_hsb(), "exam": hc.load_exam()}
    py = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, (formula, d, *flag) in MODELS.items():
            reml = flag[0] if flag else True  # a third entry is the REML flag (False: maximum likelihood)
            py[f"fit_{name}"] = median_time(lambda: hc.lmer(formula, data[d], reml=reml), reps)
        small = hc.lmer("mathach ~ cses + (1 | school)", data["hsb"])
        large = hc.lmer("mathach ~ cses + minority + (1 | school)", data["hsb"])
        py["pb_test"] = median_time(lambda: hc.pb_test(small, large, nsim=nsim, seed=1), 3)
        small3 = hc.lmer("mathach ~ cses + minority + (cses | school)", data["hsb"], reml=False)
        large3 = hc.lmer("mathach ~ cses + minority + (cses + minority | school)", data["hsb"], reml=False)
        py["pb_test_random_q3"] = median_time(lambda: hc.pb_test(small3, large3, nsim=nsim // 5, seed=1), 3)
        rc = hc.lmer("mathach ~ cses + (cses | school)", data["hsb"])
        py["bootstrap_ci"] = median_time(lambda: hc.bootstrap_ci(rc, nsim=nsim, seed=1), 3)
    rows = []
    for key, t in py.items():
        rt = r.get(key) if r.get("nsim", nsim) == nsim or key.startswith("fit_") else None
        rows.append({"task": key, "python_s": t, "r_s": rt, "ratio_r_over_python": (rt / t) if rt else None})
    result = {"nsim": nsim, "r": {k: r.get(k) for k in ("R", "lme4")}, "rows": rows}
    (ROOT / "benchmarks" / "results.json").write_text(json.dumps(result, indent=2))
    lines = ["# Benchmarks: hlm_course vs lme4 on the same machine", "",
             f"Bootstrap simulations: {nsim} ({nsim // 5} for pb_test_random_q3, the test of Lab 2's random "
             "minority gap: three random effects under the alternative). Ratio = R time / Python time (> 1 means hlm_course is faster).", "",
             "| task | hlm_course (s) | R (s) | ratio |", "|---|---:|---:|---:|"]
    for row in rows:
        rs = f"{row['r_s']:.3f}" if row["r_s"] else "—"
        ratio = f"{row['ratio_r_over_python']:.2f}×" if row["ratio_r_over_python"] else "—"
        lines.append(f"| {row['task']} | {row['python_s']:.3f} | {rs} | {ratio} |")
    (ROOT / "benchmarks" / "RESULTS.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
