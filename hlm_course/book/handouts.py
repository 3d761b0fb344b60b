"""What a teacher hands out: plain notebooks, student or solutions edition, and a zip that runs by itself.

Every build (:mod:`hlm_course.book.sphinx_notebooks`) writes

* the **student edition** of every chapter to ``_build/html/notebooks/`` and, with a README and the course
  package as a wheel (data included), to ``_build/html/notebooks/hlm-course-notebooks.zip``;
* the **solutions edition** (the same notebooks with the worked solutions) to ``_build/teachers/``, with its
  own zip, ``hlm-course-solutions.zip``: outside the website, linked from no page;
* ``_build/teachers/book_context.json``, the book's exercise and figure numbers, citations and section titles,
  so that the command below can turn executed chapters into notebooks without Sphinx.

For a chosen set of chapters, after a build (``jupyter-book build .``)::

    python -m hlm_course.book.handouts --chapters 14 15 --out handouts/
    python -m hlm_course.book.handouts --chapters lab1 --edition solutions --out key/ --zip

``--chapters`` takes file-name prefixes or parts (``14``, ``lab2``, ``08_random``); ``--edition`` is
``student``, ``solutions`` or ``both`` (default: both, in ``student/`` and ``solutions/`` under ``--out``).
The notebooks are plain Jupyter notebooks: the book's numbers written into the prose, no MyST roles or
directives, outputs as the build computed them. Pages that describe the build itself (the environment page)
are not handed out.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import asdict
from pathlib import Path

import nbformat

from .reader import BookContext, raw_syntax, reader_notebook

__all__ = ["NOT_HANDED_OUT", "ZIP_NAME", "SOLUTIONS_ZIP_NAME", "edition", "with_cached_outputs", "save_context", "load_context",
           "package_wheel", "write_zip", "select_chapters", "book_url", "main"]

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "_build"
#: Pages that are about the build, not the course: never in a handout.
NOT_HANDED_OUT = frozenset({"environment", "reproducibility", "bibliography", "genindex"})
ZIP_NAME = "hlm-course-notebooks.zip"
SOLUTIONS_ZIP_NAME = "hlm-course-solutions.zip"
#: Where the teacher's material goes: beside the website, not in it.
TEACHERS_DIR = "teachers"
CONTEXT_FILE = "book_context.json"
#: Folder name inside the zips.
ZIP_FOLDER = "hlm-course"

README = """# Hierarchical Linear Models in Python: the notebooks ({edition} edition)

These are the chapters of the course *Hierarchical Linear Models in Python* as Jupyter notebooks: the prose
with the book's numbers written in, and every cell with the output the book computed. {what}

## Install once

You need Python 3.11 (3.12 usually works). In a terminal, in this folder:

    python3 -m venv .venv
    .venv/bin/python -m pip install {wheel} jupyterlab

(On Windows: `py -3.11 -m venv .venv`, then `.venv\\Scripts\\python -m pip install {wheel} jupyterlab`.)
`{wheel}` is the course's own package, `hlm_course`, with the three data sets inside; pip fetches what it
needs (numpy, pandas, statsmodels, seaborn, nlopt, ...). For exactly the versions the book was built with,
add `-r requirements.lock`.

## Work

    .venv/bin/jupyter lab

and open a notebook. Run the cells from the top (the first cell checks that the package is installed). In
the labs, an exercise's answer cell holds `answer = None`: replace the `None` with your answer and run the
cell; `hc.labs.check(...)` says whether it is right, without telling you the answer.

The book itself, with the worked solutions under each exercise: {url}
"""

WHAT = {"student": "The worked solutions are left out: try each exercise first, then compare with the book.",
        "solutions": "This is the teacher's edition: every worked solution is in place, under its exercise. "
                     "Do not hand it out before the exercises are done."}


def with_cached_outputs(nb: nbformat.NotebookNode, cache_dir: Path | None) -> nbformat.NotebookNode:
    """``nb`` with the outputs of its execution, from the book's execution cache (``_build/.jupyter_cache``).

    myst-nb writes ``_build/jupyter_execute/<page>.ipynb`` without the outputs when it takes them from the
    cache; the cache holds them, matched on the notebook's cells. A notebook the cache lacks comes back as is.
    """
    if cache_dir is None or not Path(cache_dir).is_dir():
        return nb
    from jupyter_cache import get_cache

    try:
        return get_cache(str(cache_dir)).merge_match_into_notebook(nb)[1]
    except KeyError:
        return nb


def edition(executed: Path, ctx: BookContext, solutions: bool = False,
            cache_dir: Path | None = None) -> nbformat.NotebookNode:
    """The student (or, with ``solutions=True``, the solutions) edition of one executed chapter
    (``_build/jupyter_execute/chapters/<name>.ipynb``, with the glue values myst-nb keeps beside it and the
    outputs from the execution cache ``cache_dir``)."""
    executed = Path(executed)
    glue_file = executed.with_suffix(".glue.json")
    glued = ({k: v["data"] for k, v in json.loads(glue_file.read_text()).items()}
             if glue_file.exists() else {})
    nb = with_cached_outputs(nbformat.read(executed, as_version=4), cache_dir)
    nb = reader_notebook(nb, ctx, glued, solutions=solutions)
    left = raw_syntax(nb)
    if left:
        raise ValueError(f"MyST syntax left in the notebook of {executed.name}: {sorted(set(left))[:5]}")
    return nb


def save_context(ctx: BookContext, path: Path) -> None:
    """Write the book's numbers, labels and citations (for :func:`load_context`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(ctx), indent=1, sort_keys=True, ensure_ascii=False, default=str),
                    encoding="utf8")  # default=str: Sphinx gives some titles as lazy translations


def load_context(path: Path) -> BookContext:
    data = json.loads(Path(path).read_text(encoding="utf8"))
    return BookContext(labels=data["labels"], numbers=data["numbers"],
                       citations={k: tuple(v) for k, v in data["citations"].items()},
                       chapters=data.get("chapters", {}))


def package_wheel(dest: Path, root: Path = ROOT) -> Path:
    """Build the course package's wheel (code and data, no dependencies) into ``dest``; return its path.

    The repository's tracked files are copied to a temporary folder first, so the build leaves nothing behind.
    """
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        for sub in ("hlm_course", "data"):
            shutil.copytree(root / sub, src / sub, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        for name in ("pyproject.toml", "README.md"):
            shutil.copy2(root / name, src / name)
        out = Path(tmp) / "dist"
        subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                        "--no-index", str(src), "-w", str(out)], check=True, capture_output=True)
        wheel = next(out.glob("*.whl"))
        target = dest / wheel.name
        shutil.copy2(wheel, target)
    return target


def write_zip(path: Path, notebooks: list[Path], edition_name: str, url: str, wheel: Path | None,
              lock: Path | None = ROOT / "requirements.lock") -> Path:
    """A zip that runs by itself: the notebooks, a README, the package's wheel and the lock file."""
    wheel_name = wheel.name if wheel else "hlm_course-*.whl"
    readme = README.format(edition=edition_name, what=WHAT[edition_name], wheel=wheel_name, url=url)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{ZIP_FOLDER}/README.md", readme)
        if wheel:
            zf.write(wheel, f"{ZIP_FOLDER}/{wheel.name}")
        if lock and Path(lock).exists():
            zf.write(lock, f"{ZIP_FOLDER}/requirements.lock")
        for nb in sorted(notebooks):
            zf.write(nb, f"{ZIP_FOLDER}/{nb.name}")
    return path


def select_chapters(executed_dir: Path, wanted: list[str] | None) -> list[Path]:
    """The executed chapters whose file name starts with or contains one of ``wanted`` (all if None)."""
    available = [p for p in sorted(Path(executed_dir).glob("*.ipynb")) if p.stem not in NOT_HANDED_OUT]
    if not wanted:
        return available
    chosen, unknown = [], []
    for w in wanted:
        hits = [p for p in available if p.stem.startswith(w) or w in p.stem]
        if not hits:
            unknown.append(w)
        chosen += [p for p in hits if p not in chosen]
    if unknown:
        raise SystemExit(f"no chapter matches {unknown}; the chapters are: {', '.join(p.stem for p in available)}")
    return chosen


def book_url() -> str:
    """The repository URL from _config.yml (where the book and its solutions live)."""
    from .notebooks import repository_url

    try:
        return repository_url()
    except (OSError, ValueError):
        return "(see the course's repository)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chapters", nargs="*", help="file-name prefixes or parts (default: every chapter)")
    parser.add_argument("--edition", choices=["student", "solutions", "both"], default="both")
    parser.add_argument("--out", type=Path, default=Path("handouts"))
    parser.add_argument("--zip", action="store_true", help="also write a zip of each edition, with a README and "
                        "the package's wheel")
    parser.add_argument("--build", type=Path, default=BUILD, help="the book's _build folder (after a build)")
    args = parser.parse_args(argv)
    executed_dir = args.build / "jupyter_execute" / "chapters"
    context = args.build / TEACHERS_DIR / CONTEXT_FILE
    if not executed_dir.is_dir() or not context.exists():
        raise SystemExit(f"no built book in {args.build}: build it first (jupyter-book build .)")
    ctx = load_context(context)
    chapters = select_chapters(executed_dir, args.chapters)
    editions = ["student", "solutions"] if args.edition == "both" else [args.edition]
    wheel = package_wheel(args.out / "_wheel") if args.zip else None
    for name in editions:
        folder = args.out / name if len(editions) > 1 else args.out
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for executed in chapters:
            target = folder / executed.name
            nbformat.write(edition(executed, ctx, solutions=name == "solutions",
                                   cache_dir=args.build / ".jupyter_cache"), target)
            written.append(target)
            print(f"{target}")
        if args.zip:
            z = write_zip(args.out / f"hlm-course-{name}.zip", written, name, book_url(), wheel)
            print(z)
    if wheel:
        shutil.rmtree(args.out / "_wheel")
    return 0


if __name__ == "__main__":
    sys.exit(main())
