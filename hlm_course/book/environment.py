"""What the book was built with: package versions, the BLAS kernel, and agreement with the lock file.

The environment page of the book calls these at build time, so the versions it shows are the ones
that computed every number in the book.  Readers and CI install ``requirements.lock``; a test
(``tests/book/test_environment.py``) checks that the lock pins everything ``requirements.txt`` asks for.
"""

from __future__ import annotations

import platform
import re
import sys
from importlib import metadata
from pathlib import Path

import pandas as pd

__all__ = ["versions", "blas", "read_lock", "lock_differences", "BOOK_PACKAGES"]

#: The packages whose versions the environment page reports, in the order a reader looks for them.
BOOK_PACKAGES = ("numpy", "scipy", "pandas", "statsmodels", "patsy", "nlopt", "matplotlib", "seaborn",
                 "jupyter-book", "myst-nb", "sphinx", "jupytext")

LOCK_FILE = Path(__file__).resolve().parents[2] / "requirements.lock"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)")


def _normalise(name: str) -> str:
    """PEP 503 name normalisation: ``Jupyter_Book`` and ``jupyter-book`` are one package."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def versions(packages=BOOK_PACKAGES) -> pd.DataFrame:
    """Python and each package's installed version, with the version ``requirements.lock`` pins.

    Columns ``installed``, ``locked`` and ``matches lock``; a package that is not installed shows
    ``"not installed"``.
    """
    lock = read_lock() if LOCK_FILE.exists() else {}
    rows = [{"package": "Python", "installed": platform.python_version(), "locked": "3.11 (Binder)",
             "matches lock": sys.version_info[:2] == (3, 11)}]
    for name in packages:
        have = _installed(name)
        pinned = lock.get(_normalise(name))
        rows.append({"package": name, "installed": have or "not installed", "locked": pinned or "",
                     "matches lock": have is not None and have == pinned})
    return pd.DataFrame(rows).set_index("package")


def blas() -> pd.DataFrame:
    """The BLAS/LAPACK libraries numpy and scipy use, as ``threadpoolctl`` reports them.

    ``architecture`` is OpenBLAS's CPU kernel (e.g. ``Haswell``, ``SkylakeX``, or ``Prescott`` under
    ``OPENBLAS_CORETYPE=Prescott``): optimizers that stop on a flat stretch can stop at different points
    under different kernels (chapter 13 shows one).
    """
    import numpy  # noqa: F401  (load the libraries before asking which are loaded)
    import scipy.linalg  # noqa: F401
    from threadpoolctl import threadpool_info

    rows = [{"library": Path(info.get("filepath", "")).name, "api": info.get("internal_api", ""),
             "version": info.get("version") or "", "architecture": info.get("architecture") or "",
             "threads": info.get("num_threads")}
            for info in threadpool_info() if info.get("user_api") == "blas"]
    if not rows:
        raise RuntimeError("threadpoolctl found no BLAS library loaded by numpy or scipy")
    return pd.DataFrame(rows)


def read_lock(path: Path | str = LOCK_FILE) -> dict[str, str]:
    """``{normalised name: version}`` for every ``name==version`` line of a pip lock file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no lock file at {path}")
    pins = {}
    for line in path.read_text().splitlines():
        m = _PIN.match(line.strip())
        if m:
            pins[_normalise(m.group(1))] = m.group(2)
    if not pins:
        raise ValueError(f"{path} pins no package (expected lines like 'numpy==2.4.6')")
    return pins


def lock_differences(path: Path | str = LOCK_FILE) -> pd.DataFrame:
    """Every locked package whose installed version differs from the lock (empty when they agree)."""
    rows = []
    for name, pinned in sorted(read_lock(path).items()):
        have = _installed(name)
        if have != pinned:
            rows.append({"package": name, "locked": pinned, "installed": have or "not installed"})
    return pd.DataFrame(rows, columns=["package", "locked", "installed"])
