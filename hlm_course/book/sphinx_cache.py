"""Sphinx extension: a notebook execution cache that follows the package and runs chapters in parallel.

myst-nb's cache (jupyter-cache) keys a chapter on the source of its code cells
only.  Every number in this book is computed by the ``hlm_course`` package from
the files in ``data/``, so a change there must re-execute the chapters, even
though no cell changed.  At ``config-inited`` this extension hashes the
package's ``*.py`` files and the data files into a fingerprint, compares it
with the one stored beside the cache, and clears the cache when they differ.

myst-nb executes the chapters that are not in the cache one after the other,
while Sphinx reads them.  On a machine with several cores that wastes most of
a cold build, so, still at ``config-inited``, this extension executes the
uncached chapters of the table of contents in parallel (``HLM_BUILD_JOBS``
workers, default: the number of CPUs) and stores them in the cache exactly as
myst-nb would; myst-nb then finds every chapter cached.  A chapter whose
execution fails is left out of the cache, and myst-nb re-executes it and
reports the error as usual.  Every chapter executed this way is also
re-read by Sphinx (``env-get-outdated``), so its page shows the new outputs
even if its source did not change.

Enabled in ``_config.yml`` (``sphinx: extra_extensions: [hlm_course.book.sphinx_cache]``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

__all__ = ["fingerprint", "invalidate_if_changed", "toc_files", "execute_into_cache", "setup"]

PACKAGE_DIR = Path(__file__).resolve().parents[1]
STAMP = "hlm_course.fingerprint"
#: Modules that only run while the book is built, never in a chapter: editing them cannot change an output,
#: so they stay out of the fingerprint (and do not force a cold build).
BUILD_ONLY = frozenset({"book/sphinx_cache.py", "book/sphinx_notebooks.py", "book/reader.py", "book/notebooks.py",
                        "book/student.py", "book/handouts.py"})


def fingerprint(package_dir: Path = PACKAGE_DIR, data_dir: Path | None = None) -> str:
    """SHA-256 over the names and bytes of ``package_dir/**/*.py`` and ``data_dir/*``."""
    data_dir = package_dir.parent / "data" if data_dir is None else data_dir
    files = sorted(p for p in package_dir.rglob("*.py")
                   if p.relative_to(package_dir).as_posix() not in BUILD_ONLY)
    if data_dir.is_dir():
        files += sorted(p for p in data_dir.iterdir() if p.is_file())
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(package_dir.parent)).encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def invalidate_if_changed(cache_dir: Path, current: str) -> bool:
    """Clear ``cache_dir`` if its stored fingerprint is not ``current``; return True if cleared."""
    cache_dir = Path(cache_dir)
    stamp = cache_dir / STAMP
    cleared = False
    if cache_dir.exists() and (not stamp.exists() or stamp.read_text().strip() != current):
        shutil.rmtree(cache_dir)
        cleared = True
    cache_dir.mkdir(parents=True, exist_ok=True)
    stamp.write_text(current + "\n")
    return cleared


def toc_files(toc_path: Path, srcdir: Path) -> list[Path]:
    """The source files named in a jupyter-book ``_toc.yml`` (``root`` and every ``file``)."""
    import yaml

    toc = yaml.safe_load(Path(toc_path).read_text())
    names: list[str] = [toc["root"]]

    def walk(node) -> None:
        if isinstance(node, dict):
            if "file" in node:
                names.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk({k: v for k, v in toc.items() if k != "root"})
    files = []
    for name in names:
        for suffix in ("", ".md", ".ipynb"):
            path = Path(srcdir) / (name + suffix)
            if path.is_file():
                files.append(path)
                break
    return files


def _read_notebook(path: Path):
    """Read ``path`` as myst-nb does (the cache matches on code cells and kernelspec)."""
    import nbformat
    from myst_nb.core.read import is_myst_markdown_notebook, read_myst_markdown_notebook

    from .reader import hide_answer_cells

    text = path.read_text(encoding="utf8")
    if path.suffix == ".ipynb":
        return nbformat.reads(text, as_version=4)
    if not is_myst_markdown_notebook(text):
        return None
    # as sphinx_notebooks' source-read handler gives it to myst-nb (the cache hashes cell metadata too)
    return read_myst_markdown_notebook(hide_answer_cells(text), add_source_map=True, path=str(path))


def execute_into_cache(cache_dir: Path, paths: list[Path], jobs: int, timeout: int = 1200,
                       log=print) -> dict[str, float]:
    """Execute the notebooks among ``paths`` that the cache lacks, ``jobs`` at a time, and cache them.

    Returns the execution time of each executed notebook (failed ones are
    reported through ``log`` and left uncached).
    """
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn
    from jupyter_cache.executors.utils import single_nb_execution

    cache = get_cache(str(cache_dir))
    todo = []
    for path in paths:
        nb = _read_notebook(path)
        if nb is None:
            continue
        try:
            cache.match_cache_notebook(nb)
        except KeyError:
            todo.append((path, nb))
    if not todo:
        return {}
    log(f"hlm_course: executing {len(todo)} chapter(s), {jobs} at a time")

    def run(item):
        path, nb = item
        result = single_nb_execution(nb, cwd=str(path.parent), timeout=timeout, allow_errors=False,
                                     meta_override=True)
        return path, nb, result

    times: dict[str, float] = {}
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for path, nb, result in pool.map(run, todo):
            if result.err is not None:
                log(f"hlm_course: {path.name} failed ({type(result.err).__name__}); "
                    "myst-nb will execute it again and report the error")
                continue
            record = cache.add_nb_to_project(str(path), read_data={"type": "plugin", "name": "myst_nb_md"})
            cache.cache_notebook_bundle(CacheBundleIn(nb, record.uri, data={"execution_seconds": result.time}),
                                        check_validity=False, overwrite=True)
            times[path.name] = result.time
            log(f"hlm_course: executed {path.name} in {result.time:.1f} s")
    log(f"hlm_course: executed {len(times)} chapter(s) in {time.perf_counter() - start:.1f} s wall time")
    return times


def _jobs() -> int:
    value = os.environ.get("HLM_BUILD_JOBS", "")
    if value:
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"HLM_BUILD_JOBS must be a positive integer, got {value!r}")
        return int(value)
    return os.cpu_count() or 1


def _on_config_inited(app, config) -> None:
    from sphinx.util import logging

    logger = logging.getLogger(__name__)
    if config.nb_execution_mode != "cache":
        return
    cache = Path(config.nb_execution_cache_path or Path(app.outdir).parent / ".jupyter_cache")
    if invalidate_if_changed(cache, fingerprint()):
        logger.info("hlm_course: the package or the data changed since the last build; "
                    "execution cache cleared, every chapter is re-executed")
    jobs = _jobs()
    toc = getattr(config, "external_toc_path", None)
    app.hlm_executed = set()
    if toc:
        toc_path = Path(app.confdir) / toc
        if toc_path.is_file():
            srcdir = Path(app.srcdir)
            paths = toc_files(toc_path, srcdir)
            executed = execute_into_cache(cache, paths, jobs, timeout=config.nb_execution_timeout,
                                          log=logger.info)
            app.hlm_executed = {str(p.relative_to(srcdir).with_suffix("")).replace("\\", "/")
                                for p in paths if p.name in executed}


def _on_env_get_outdated(app, env, added, changed, removed) -> list[str]:
    """Re-read the chapters executed at ``config-inited``: their outputs are new."""
    return sorted(d for d in getattr(app, "hlm_executed", set()) if d in env.found_docs)


def setup(app):
    # myst-nb registers nb_execution_mode / nb_execution_cache_path; run after it has.
    app.setup_extension("myst_nb")
    app.setup_extension("sphinx_external_toc")
    app.connect("config-inited", _on_config_inited, priority=900)
    app.connect("env-get-outdated", _on_env_get_outdated)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
