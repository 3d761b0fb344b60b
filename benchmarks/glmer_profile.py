"""Speed of ``hc.profile`` + ``confint`` for glmer fits against lme4's ``profile()`` on the same machine.

Run from the repository root:  python benchmarks/glmer_profile.py [REPS]   (default 3; needs Rscript with lme4)

lme4's times: the fastest of REPS runs of ``profile(m)`` (benchmarks/glmer_profile_bench.R, in the same run), except
the contraception model's, which takes minutes in lme4: its time is the one tests/r/glmer_profile_reference.R
measured and stored in tests/reference/glmer_profile_lme4.json, with the load average then (marked † in the
table).  Ours is the fastest of REPS runs of ``hc.profile(m).confint()`` (the profile and the roots of its
interval ends; lme4's confint of a profile is a spline, no new fits).  Ratio = lme4 / hlm_course (> 1:
hlm_course is faster).  Writes benchmarks/glmer_profile_results.json and prints a Markdown table with the load
average.
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

REF = json.loads((ROOT / "tests/reference/glmer_profile_lme4.json").read_text())
#: lme4's profile takes minutes: its time is the reference script's
STORED = ["contraception"]
FILES = {"cbpp": ("glmer_cbpp.csv", {"herd": str, "period": str}),
         "contra": ("glmer_contraception.csv", {"district": str, "livch": str}),
         "grouse": ("glmer_grouseticks.csv", {"BROOD": str, "YEAR": str, "INDEX": str, "LOCATION": str}),
         "sing": ("glmer_profile_singular.csv", {"g": str}), "slope": ("glmer_profile_slope.csv", {"g": str})}


def main() -> None:
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    load0 = os.getloadavg()
    out = subprocess.run(["Rscript", str(ROOT / "benchmarks/glmer_profile_bench.R"), str(reps), *STORED], cwd=ROOT,
                         check=True, capture_output=True, text=True).stdout
    r_now = json.loads(out[out.index("{"):])
    rows = {}
    for key, m in REF["models"].items():
        path, dtype = FILES[m["data"]]
        d = pd.read_csv(ROOT / "tests/reference" / path, dtype=dtype)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = hc.glmer(m["formula"], d, family=m["family"], nagq=m["nAGQ"])
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            hc.profile(fit).confint()
            times.append(time.perf_counter() - t0)
        stored = min(m["profile_seconds"]) if isinstance(m["profile_seconds"], list) else m["profile_seconds"]
        r = r_now.get(key, stored)
        rows[key] = {"hlm_course": min(times), "lme4": r, "ratio": r / min(times),
                     "lme4_stored": key not in r_now, "lme4_load": m["load_during"] if key not in r_now else None}
    load1 = os.getloadavg()
    (ROOT / "benchmarks/glmer_profile_results.json").write_text(json.dumps(
        {"models": rows, "reps": reps, "load": [load0, load1], "cores": os.cpu_count()}, indent=1))
    print(f"load average (1, 5, 15 min) {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f} → "
          f"{load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f} on {os.cpu_count()} cores; ours the fastest of {reps}\n")
    print("| model | nAGQ | hlm_course (s) | lme4 (s) | ratio |\n|---|---:|---:|---:|---:|")
    for k, v in rows.items():
        m = REF["models"][k]
        mark = f" † (load {' '.join(v['lme4_load'].split()[:3])})" if v["lme4_stored"] else ""
        print(f"| {k} `{m['formula']}` ({m['family']}) | {m['nAGQ']} | {v['hlm_course']:.3f} | {v['lme4']:.2f}{mark} | "
              f"{v['ratio']:.0f}× |")


if __name__ == "__main__":
    main()
