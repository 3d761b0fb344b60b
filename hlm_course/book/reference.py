"""Reference runs of R (lme4 1.1-31, nlme 3.1-162) on the book's data, for the "Checking against lme4" boxes.

The R scripts in ``tests/r/`` fit the book's models with lme4 and nlme and store their output as JSON in
``tests/reference/``, where the test suite compares every fit with it (the tests themselves never need R).
The few chapters that show R's numbers beside ours read the same files through :func:`r_reference`,
so no chapter opens files of the test suite itself and every number has one source.
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["r_reference", "REFERENCE_DIR"]

REFERENCE_DIR = Path(__file__).resolve().parents[2] / "tests" / "reference"


def r_reference(name: str) -> dict:
    """The stored R output ``name`` (e.g. ``"part3_lme4_bobyqa"``, ``"monette_models"``) as a dict.

    Raises ``FileNotFoundError`` naming the R script's output that is missing.
    """
    path = REFERENCE_DIR / f"{name}.json"
    if not path.exists():
        available = sorted(p.stem for p in REFERENCE_DIR.glob("*.json"))
        raise FileNotFoundError(f"no stored R reference {name!r} in {REFERENCE_DIR}; available: {available}")
    return json.loads(path.read_text())
