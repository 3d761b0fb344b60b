"""The execution cache follows hlm_course/ and data/, and chapters are found from the table of contents."""

from pathlib import Path

import pytest

from hlm_course.book import sphinx_cache as sc
from myst_text import MYST_HEADER

ROOT = Path(__file__).resolve().parents[2]


def _tree(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "a.py").write_text("x = 1\n")
    (pkg / "sub" / "b.py").write_text("y = 2\n")
    data = tmp_path / "data"
    data.mkdir()
    (data / "d.csv").write_text("a,b\n1,2\n")
    return pkg, data


def test_fingerprint_follows_code_and_data(tmp_path):
    pkg, data = _tree(tmp_path)
    first = sc.fingerprint(pkg, data)
    assert first == sc.fingerprint(pkg, data) and len(first) == 64
    (pkg / "sub" / "b.py").write_text("y = 3\n")
    second = sc.fingerprint(pkg, data)
    assert second != first
    (data / "d.csv").write_text("a,b\n1,3\n")
    assert sc.fingerprint(pkg, data) != second
    (pkg / "notes.txt").write_text("not code")
    assert sc.fingerprint(pkg, data) == sc.fingerprint(pkg, data)


def test_invalidate_clears_only_on_change(tmp_path):
    cache = tmp_path / "cache"
    assert sc.invalidate_if_changed(cache, "aaa") is False  # a new cache: nothing to clear
    (cache / "entry").write_text("executed notebook")
    assert sc.invalidate_if_changed(cache, "aaa") is False
    assert (cache / "entry").exists()
    assert sc.invalidate_if_changed(cache, "bbb") is True
    assert not (cache / "entry").exists() and (cache / sc.STAMP).read_text().strip() == "bbb"


def test_cache_without_stamp_is_cleared(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "entry").write_text("from a build before this extension")
    assert sc.invalidate_if_changed(cache, "aaa") is True


def test_toc_files_lists_every_chapter_of_the_book():
    files = sc.toc_files(ROOT / "_toc.yml", ROOT)
    names = [f.name for f in files]
    assert names[0] == "intro.md"
    assert "01_hierarchical_data.md" in names and "bibliography.md" in names and "genindex.md" in names
    assert len(names) == len(set(names))


def test_build_jobs_from_environment(monkeypatch):
    monkeypatch.setenv("HLM_BUILD_JOBS", "3")
    assert sc._jobs() == 3
    monkeypatch.setenv("HLM_BUILD_JOBS", "zero")
    with pytest.raises(ValueError, match="HLM_BUILD_JOBS must be a positive integer"):
        sc._jobs()


NB = MYST_HEADER + """
# Page {k}

```{{code-cell}} ipython3
{code}
```
"""


def test_execute_into_cache_runs_in_parallel_and_myst_nb_finds_the_result(tmp_path):
    from jupyter_cache import get_cache

    good = tmp_path / "good.md"
    good.write_text(NB.format(k=1, code="print(6 * 7)"))
    bad = tmp_path / "bad.md"
    bad.write_text(NB.format(k=2, code="1 / 0"))
    plain = tmp_path / "plain.md"
    plain.write_text("# Not a notebook\n")
    messages = []
    times = sc.execute_into_cache(tmp_path / "cache", [good, bad, plain], jobs=2, timeout=60,
                                  log=messages.append)
    assert list(times) == ["good.md"]
    assert any("bad.md failed (CellExecutionError)" in m for m in messages)
    cache = get_cache(str(tmp_path / "cache"))
    record = cache.match_cache_notebook(sc._read_notebook(good))
    outputs = cache.get_cache_bundle(record.pk).nb.cells[0].outputs
    assert outputs[0]["text"] == "42\n"
    with pytest.raises(KeyError):
        cache.match_cache_notebook(sc._read_notebook(bad))
    # a second call finds everything cached and executes nothing
    assert sc.execute_into_cache(tmp_path / "cache", [good], jobs=2, log=messages.append) == {}


def test_fingerprint_ignores_build_only_modules(tmp_path):
    pkg, data = tmp_path / "pkg", tmp_path / "data"
    pkg.mkdir()
    data.mkdir()
    (pkg / "engine.py").write_text("x = 1\n")
    before = sc.fingerprint(pkg, data)
    for name in sc.BUILD_ONLY:
        (pkg / name).parent.mkdir(parents=True, exist_ok=True)
        (pkg / name).write_text("# changed\n")
    assert sc.fingerprint(pkg, data) == before
    (pkg / "engine.py").write_text("x = 2\n")
    assert sc.fingerprint(pkg, data) != before
