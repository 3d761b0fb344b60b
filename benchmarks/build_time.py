"""How long the book takes to build: cold (every chapter executed) and warm (execution cache filled).

Run from the repository root with the book's environment (``.venv`` or any with requirements.txt):

    python benchmarks/build_time.py                 # cold build, then warm rebuilds
    python benchmarks/build_time.py --jobs 1        # the same with chapters executed one at a time

Three timings, each of ``jupyter-book build . -W -n --keep-going`` into a fresh output directory:

* ``cold``: empty execution cache, every chapter is executed;
* ``warm_all``: execution cache filled, every page re-read and re-written (``--all``);
* ``warm_noop``: nothing changed since the last build.

The machine's CPU count and load average are recorded with the times, since
the machine is shared: the budget is cold <= 5 minutes and warm <= 30 seconds
on 2 cores.  Results go to ``benchmarks/build_times.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUDGET = {"cold": 300.0, "warm_all": 30.0, "warm_noop": 30.0}


def build(out: Path, *extra: str, jobs: int | None = None) -> float:
    """Time one ``jupyter-book build`` of the repository into ``out``; raise if it fails."""
    exe = Path(sys.executable).with_name("jupyter-book")
    env = dict(os.environ)
    if jobs is not None:
        env["HLM_BUILD_JOBS"] = str(jobs)
    start = time.perf_counter()
    run = subprocess.run([str(exe), "build", ".", "--path-output", str(out), "-W", "-n", "--keep-going", *extra],
                         cwd=ROOT, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if run.returncode != 0:
        sys.stderr.write(run.stdout[-4000:] + run.stderr[-4000:])
        raise SystemExit(f"jupyter-book build failed ({run.returncode})")
    return elapsed


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=None, help="HLM_BUILD_JOBS (default: number of CPUs)")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "build_times.json")
    args = parser.parse_args(argv)
    out = Path(tempfile.mkdtemp(prefix="hlm-build-"))
    try:
        load = os.getloadavg()[0]
        times = {"cold": build(out, jobs=args.jobs)}
        times["warm_all"] = build(out, "--all", jobs=args.jobs)
        times["warm_noop"] = build(out, jobs=args.jobs)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    result = {
        "seconds": {k: round(v, 1) for k, v in times.items()},
        "budget_seconds": BUDGET,
        "within_budget": {k: times[k] <= BUDGET[k] for k in times},
        "cpus": os.cpu_count(),
        "jobs": args.jobs or os.cpu_count(),
        "load_average_at_start": round(load, 2),
        "date": time.strftime("%Y-%m-%d"),
    }
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
