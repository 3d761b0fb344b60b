"""Speed of ``hc.profile`` + ``confint`` for glmer fits against lme4's ``profile()`` on the same machine.

Run from the repository root:  python benchmarks/glmer_profile.py [REPS]   (default 3)

lme4's times are those tests/r/glmer_profile_reference.R measured (``system.time(profile(m))``, elapsed, with
the load average then) and stored in tests/reference/glmer_profile_lme4.json: the contraception model's profile
takes minutes in lme4, too long to repeat here.  Ours is the fastest of REPS runs of ``hc.profile(m).confint()``
(the profile and the roots of its interval ends).  Ratio = lme4 / hlm_course (> 1: hlm_course is faster).
Prints a Markdown table with the load average.
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import hlm_course as hc  # noqa: E402

REF = json.loads((ROOT / "tests/reference/glmer_profile_lme4.json").read_text())
FILES = {"cbpp": ("glmer_cbpp.csv", {"herd": str, "period": str}),
         "contra": ("glmer_contraception.csv", {"district": str, "livch": str}),
         "grouse": ("glmer_grouseticks.csv", {"BROOD": str, "YEAR": str, "INDEX": str, "LOCATION": str}),
         "sing": ("glmer_profile_singular.csv", {"g": str}), "slope": ("glmer_profile_slope.csv", {"g": str})}


def main() -> None:
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    load0 = os.getloadavg()
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
        r = min(m["profile_seconds"]) if isinstance(m["profile_seconds"], list) else m["profile_seconds"]
        rows[key] = {"hlm_course": min(times), "lme4": r, "ratio": r / min(times), "lme4_load": m["load_during"]}
    load1 = os.getloadavg()
    (ROOT / "benchmarks/glmer_profile_results.json").write_text(json.dumps(
        {"models": rows, "reps": reps, "load": [load0, load1], "cores": os.cpu_count()}, indent=1))
    print(f"load average (1, 5, 15 min) {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f} → "
          f"{load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f} on {os.cpu_count()} cores; ours the fastest of {reps}\n")
    print("| model | nAGQ | hlm_course (s) | lme4 (s) | ratio | load during lme4's |\n|---|---:|---:|---:|---:|---|")
    for k, v in rows.items():
        m = REF["models"][k]
        print(f"| {k} `{m['formula']}` ({m['family']}) | {m['nAGQ']} | {v['hlm_course']:.3f} | {v['lme4']:.2f} | "
              f"{v['ratio']:.0f}× | {' '.join(v['lme4_load'].split()[:3])} |")


if __name__ == "__main__":
    main()
