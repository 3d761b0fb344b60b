"""Speed of ``hc.profile`` + ``confint`` against lme4's ``confint(profile(m))`` on the same machine.

Run from the repository root:  python benchmarks/profile.py [REPS]   (default 5; needs Rscript with lme4)

The models are tests/r/after_fit_reference.R's (sleepstudy with correlated and with separate random effects,
Exam with a random slope, the crossed Penicillin).  Each engine's time is the fastest of REPS runs (the least
disturbed by other jobs); ratio = lme4 / hlm_course (> 1: hlm_course is faster).  Writes
benchmarks/profile_results.json and prints a Markdown table with the load average.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import hlm_course as hc  # noqa: E402

REF = json.loads((ROOT / "tests/reference/after_fit_lme4.json").read_text())["profiles"]
DATA = {"sleep": ("multi_sleepstudy.csv", {"Subject": str}), "pen": ("multi_penicillin.csv", {}),
        "exam": ("multi_exam.csv.gz", {"school": str, "sex": str, "student": str})}


def ours(reps: int) -> dict:
    out = {}
    for key, ref in REF.items():
        path, dtype = DATA[ref["data"]]
        d = pd.read_csv(ROOT / "tests/reference" / path, dtype=dtype)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = hc.lmer(ref["formula"], d)
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            hc.profile(m).confint()
            times.append(time.perf_counter() - t0)
        out[key] = min(times)
    return out


def main() -> None:
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    load0 = os.getloadavg()[0]
    out = subprocess.run(["Rscript", str(ROOT / "benchmarks/profile_bench.R"), str(reps)], cwd=ROOT,
                         check=True, capture_output=True, text=True).stdout
    r = json.loads(out[out.index("{"):])
    py = ours(reps)
    load1 = os.getloadavg()[0]
    rows = {k: {"hlm_course": py[k], "lme4": r[k], "ratio": r[k] / py[k]} for k in REF}
    (ROOT / "benchmarks/profile_results.json").write_text(json.dumps(
        {"models": rows, "reps": reps, "load": [load0, load1], "cores": os.cpu_count()}, indent=1))
    print(f"load average {load0:.2f} → {load1:.2f} on {os.cpu_count()} cores; fastest of {reps}\n")
    print("| model | hlm_course (s) | lme4 (s) | ratio |\n|---|---:|---:|---:|")
    for k, v in rows.items():
        print(f"| {k} `{REF[k]['formula']}` | {v['hlm_course']:.3f} | {v['lme4']:.3f} | {v['ratio']:.1f}× |")


if __name__ == "__main__":
    main()
