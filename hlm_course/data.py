"""Loaders for the course's data files (``data/*.csv``).

* :func:`load_hsb`  -- full High School & Beyond (7185 students, 160 schools),
  as used by seed 000 (Raudenbush & Bryk, ch. 4);
* :func:`load_hs40` -- seed 001's 40-school subset ``hs`` (1977 students);
* :func:`load_exam` -- the London exam data of seed 002 (mlmRev ``Exam``);
* :func:`load_egsingle` -- the growth data of Raudenbush & Bryk (2002, ch. 8) (mlmRev ``egsingle``).
* :func:`load_contraception` -- mlmRev's ``Contraception`` (chapter 18, binary outcomes).
* :func:`load_scotssec` -- mlmRev's ``ScotsSec`` (chapter 19, crossed memberships).
* :func:`load_mmmec` -- mlmRev's ``Mmmec``, melanoma deaths in the European Community (chapter 20, counts).
* :func:`load_grouseticks` -- lme4's ``grouseticks``, ticks on red grouse chicks (chapter 20, counts).

The files are the repository's ``data/`` folder, which is also installed
inside the package (``hlm_course/datasets/``, package data), so a plain
``pip install`` of the package finds them, whatever the working directory;
set the environment variable ``HLM_COURSE_DATA`` to a folder to read them
from there instead.  Every
file is checked against its SHA-256 and its expected columns before use, so
a missing, altered or truncated file fails loudly instead of silently
changing a number in the book.  ``python data/make_data.py`` regenerates the
files; data/README.md documents them.

Factor columns come back as pandas Categoricals with R's level order, so
that patsy and statsmodels pick the same reference level as the seeds (for
example ``sectorCatholic`` for HSB, ``SectorPublic`` for ``hs``).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

__all__ = ["DATA_ENV_VAR", "EXPECTED_SHA256", "data_dir", "load_contraception", "load_egsingle", "load_exam",
           "load_grouseticks", "load_hs40", "load_hsb",
           "load_mmmec", "load_scotssec"]

#: Environment variable naming a folder that overrides the default ``data/``.
DATA_ENV_VAR = "HLM_COURSE_DATA"

_REGENERATE = "regenerate it with `python data/make_data.py` (see data/README.md)"

#: SHA-256 of each file as written by ``data/make_data.py``.
EXPECTED_SHA256: dict[str, str] = {
    "hsb.csv": "f5d8a5f9cb00933d1509cd2334db5f921736b5a783b236ac3cca7c9d3bc8dd50",
    "hs40.csv": "69a06b04ef5e0fc6a828f4f98e276d5b84cf5573d91eea7005d0373d7ce3f074",
    "exam.csv": "dc599b3dcab6c7fe3693219fd9a742ed156ac20b0992690d71050b9369c50926",
    "egsingle.csv": "da4bc1a57fb0c2c697f49c4c0ec6a2e14437243d1fb2d7c5342ead8f8f203b76",
    "contraception.csv": "b83c7f0c978e26485d3cb9cec40472195b2e04b6c0b9ee16c5a96eba2623c712",
    "scotssec.csv": "ca5fb4574c7f2688413a4ac04a78035ba86de6e3649be22bfc826c5f8ed2e844",
    "mmmec.csv": "576564066cead2877d1ce3a68fcb372d03a055cc86cb7e812082e6275c4a4f78",
    "grouseticks.csv": "ae957e44ea3b0954f19fd4b8364b9bff0ff39426863756018416aff8fef0f5a0",
}


@dataclass(frozen=True)
class _Spec:
    """What one CSV file must contain."""

    filename: str
    #: every column, in file order
    columns: tuple[str, ...]
    #: plain (non-factor) column -> pandas dtype
    dtypes: Mapping[str, str]
    #: factor column -> its levels in R's order (first = reference level)
    factors: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


_HSB = _Spec(
    filename="hsb.csv",
    columns=("school", "minority", "female", "sex", "ses", "mathach", "size",
             "sector", "pracad", "disclim", "himinty", "meanses"),
    dtypes={"school": "int64", "female": "int64", "ses": "float64", "mathach": "float64",
            "size": "int64", "pracad": "float64", "disclim": "float64", "himinty": "int64",
            "meanses": "float64"},
    factors={"minority": ("No", "Yes"), "sex": ("Female", "Male"),
             "sector": ("Public", "Catholic")},
)

_HS40 = _Spec(
    filename="hs40.csv",
    columns=("X", "school", "mathach", "ses", "sector", "female", "Sex", "Minority",
             "Size", "Sector", "PRACAD", "DISCLIM", "HIMINTY"),
    dtypes={"X": "int64", "school": "int64", "mathach": "float64", "ses": "float64",
            "sector": "int64", "female": "int64", "Size": "int64", "PRACAD": "float64",
            "DISCLIM": "float64", "HIMINTY": "int64"},
    factors={"Sex": ("Female", "Male"), "Minority": ("No", "Yes"),
             "Sector": ("Catholic", "Public")},
)

_EXAM = _Spec(
    filename="exam.csv",
    columns=("school", "normexam", "schgend", "schavg", "vr", "intake", "standLRT",
             "sex", "type", "student"),
    dtypes={"school": "int64", "normexam": "float64", "schavg": "float64",
            "standLRT": "float64", "student": "int64"},
    factors={"schgend": ("mixed", "boys", "girls"),
             "vr": ("bottom 25%", "mid 50%", "top 25%"),
             "intake": ("bottom 25%", "mid 50%", "top 25%"),
             "sex": ("F", "M"), "type": ("Mxd", "Sngl")},
)

_EGSINGLE = _Spec(
    filename="egsingle.csv",
    columns=("schoolid", "childid", "year", "grade", "math", "retained", "female", "black",
             "hispanic", "size", "lowinc", "mobility"),
    dtypes={"schoolid": "int64", "childid": "int64", "year": "float64", "grade": "int64",
            "math": "float64", "retained": "int64", "black": "int64", "hispanic": "int64",
            "size": "int64", "lowinc": "float64", "mobility": "float64"},
    factors={"female": ("Female", "Male")},
)


def data_dir() -> Path:
    """The folder the loaders read: ``$HLM_COURSE_DATA``, else the installed package's ``datasets/``
    (a non-editable install), else the repository's ``data/`` (a clone, or an editable install)."""
    override = os.environ.get(DATA_ENV_VAR)
    if override:
        return Path(override).expanduser().resolve()
    here = Path(__file__).resolve().parent
    installed = here / "datasets"
    if (installed / _HSB.filename).is_file():
        return installed
    return here.parent / "data"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _locate(spec: _Spec) -> tuple[Path, str]:
    """The file's path and the name to show in messages."""
    path = data_dir() / spec.filename
    override = os.environ.get(DATA_ENV_VAR)
    shown = str(path) if override else f"data/{spec.filename}"
    if not path.is_file():
        where = f"{DATA_ENV_VAR}={override}" if override else "the package's data (the repository's data/ folder)"
        raise FileNotFoundError(
            f"{shown} is missing — looked for {path} (from {where}); {_REGENERATE}, "
            f"or point {DATA_ENV_VAR} at a folder that holds {spec.filename}."
        )
    return path, shown


def _read(spec: _Spec, *, verify_checksum: bool) -> pd.DataFrame:
    """Locate, verify and parse one file, with its factor columns as Categoricals."""
    path, shown = _locate(spec)
    if verify_checksum:
        actual = _sha256(path)
        expected = EXPECTED_SHA256[spec.filename]
        if actual != expected:
            raise ValueError(
                f"{shown}: checksum mismatch (sha256 {actual}, expected {expected}): "
                f"the file was altered; {_REGENERATE}."
            )
    try:
        df = pd.read_csv(path, dtype={c: "string" for c in spec.factors}, keep_default_na=False,
                         na_values=[""])
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ValueError(f"{shown} cannot be read as CSV ({exc}); {_REGENERATE}.") from exc

    missing = [c for c in spec.columns if c not in df.columns]
    if missing:
        raise ValueError(f"{shown}: missing columns {missing}; {_REGENERATE}.")
    df = df[list(spec.columns)]
    if df.isna().any().any():
        bad = df.columns[df.isna().any()].tolist()
        raise ValueError(f"{shown}: missing values in columns {bad}; {_REGENERATE}.")

    for column, dtype in spec.dtypes.items():
        try:
            df[column] = df[column].astype(dtype)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{shown}: column {column!r} is not {dtype} ({exc}); {_REGENERATE}.") from exc
    for column, levels in spec.factors.items():
        unknown = sorted(set(df[column]) - set(levels))
        if unknown:
            raise ValueError(
                f"{shown}: column {column!r} has values {unknown} outside its levels {list(levels)}; "
                f"{_REGENERATE}."
            )
        df[column] = pd.Categorical(df[column].astype(str), categories=list(levels))
    return df


def load_hsb(*, verify_checksum: bool = True) -> pd.DataFrame:
    """Full High School & Beyond: 7185 students in 160 schools (90 Public, 70 Catholic).

    Columns ``school, minority, female, sex, ses, mathach, size, sector,
    pracad, disclim, himinty, meanses`` (see data/README.md), in the row order
    of nlme's ``MathAchieve``, plus two derived columns:

    * ``mean_ses`` -- the school's *sample* mean of ``ses`` (what seed 000
      calls ``mean.ses``); ``meanses`` is R&B's school-file value, which
      differs by up to 0.0065;
    * ``cses = ses - mean_ses`` -- group-mean-centred ses.

    ``sector`` has levels Public, Catholic (so patsy's dummy is
    ``sector[T.Catholic]``, lme4's ``sectorCatholic``); ``minority`` No, Yes;
    ``sex`` Female, Male.  ``verify_checksum=False`` skips the SHA-256 check
    (for a deliberately edited file); the columns are always checked.
    """
    df = _read(_HSB, verify_checksum=verify_checksum)
    df["mean_ses"] = df.groupby("school")["ses"].transform("mean")
    df["cses"] = df["ses"] - df["mean_ses"]
    return df


def load_hs40(*, verify_checksum: bool = True) -> pd.DataFrame:
    """Seed 001's ``hs``: all 1977 students of 40 HSB schools (21 Catholic, 19 Public).

    Columns ``X, school, mathach, ses, sector, female, Sex, Minority, Size,
    Sector, PRACAD, DISCLIM, HIMINTY`` as seed 001's ``head(hs)``; ``X`` is the
    student's 1-based row in the full 7185-row file and ``sector`` is 1 for
    Catholic, 0 for Public.  ``Sector`` has levels Catholic, Public (so the
    dummy is ``SectorPublic`` as in the seed); ``Sex`` Female, Male;
    ``Minority`` No, Yes.
    """
    return _read(_HS40, verify_checksum=verify_checksum)


def load_exam(*, verify_checksum: bool = True) -> pd.DataFrame:
    """mlmRev's ``Exam``: 4059 London students in 65 schools (seed 002).

    Columns ``school, normexam, schgend, schavg, vr, intake, standLRT, sex,
    type, student``; ``school`` and ``student`` are integers, the others
    factors with mlmRev's levels (``sex`` F, M; ``schgend`` mixed, boys,
    girls; ``vr`` and ``intake`` bottom 25%, mid 50%, top 25%; ``type`` Mxd,
    Sngl).
    """
    return _read(_EXAM, verify_checksum=verify_checksum)


def load_egsingle(*, verify_checksum: bool = True) -> pd.DataFrame:
    """mlmRev's ``egsingle``: 7230 yearly math scores of 1721 pupils in 60 primary schools.

    The data of Raudenbush & Bryk (2002, ch. 8), in mlmRev's row order (by school, then pupil, then year).
    Columns ``schoolid, childid, year, grade, math, retained, female, black, hispanic, size, lowinc,
    mobility`` (see data/README.md): ``year`` is the time of the test in years, centred (-2.5, ..., 2.5, so
    0 lies halfway between the third and fourth of the six yearly tests); ``math`` an IRT-scaled math score;
    ``retained``, ``black`` and ``hispanic`` are 0/1 pupil indicators (mlmRev's factor codes, as integers);
    ``female`` has mlmRev's levels Female, Male; ``size``, ``lowinc`` (percent of low-income pupils) and
    ``mobility`` (percent of pupils who move in a year) describe the school.
    """
    return _read(_EGSINGLE, verify_checksum=verify_checksum)


_CONTRACEPTION = _Spec(
    filename="contraception.csv",
    columns=("woman", "district", "use", "livch", "age", "urban"),
    dtypes={"woman": "int64", "district": "int64", "age": "float64"},
    factors={"use": ("N", "Y"), "livch": ("0", "1", "2", "3+"), "urban": ("N", "Y")},
)


def load_contraception(*, verify_checksum: bool = True) -> pd.DataFrame:
    """mlmRev's ``Contraception``: 1934 women in 60 districts of the Bangladesh Fertility Survey 1988.

    Columns ``woman, district, use, livch, age, urban`` (see data/README.md), in mlmRev's row order, plus
    ``y``, the response as 0/1 (1 = ``use`` is ``Y``).  ``district`` is an integer (1 … 61; there is no
    district 54), ``age`` the woman's age centred at the sample mean, in years; ``use``, ``livch`` (living
    children 0, 1, 2, 3+) and ``urban`` are factors with mlmRev's levels, so the dummies are lme4's
    ``urbanY``, ``livch1``, ``livch2``, ``livch3+``.
    """
    df = _read(_CONTRACEPTION, verify_checksum=verify_checksum)
    df["y"] = (df["use"] == "Y").astype("int64")
    return df


_SCOTSSEC = _Spec(
    filename="scotssec.csv",
    columns=("verbal", "attain", "primary", "sex", "social", "second"),
    dtypes={"verbal": "int64", "attain": "int64", "primary": "int64", "social": "int64", "second": "int64"},
    factors={"sex": ("M", "F")},
)


def load_scotssec(*, verify_checksum: bool = True) -> pd.DataFrame:
    """mlmRev's ``ScotsSec``: 3435 Scottish pupils classified by 148 primary and 19 secondary schools.

    The data of Paterson (1991), in mlmRev's row order (by primary school).  Columns ``verbal, attain,
    primary, sex, social, second`` (see data/README.md): ``attain`` the score of a standardized test at age
    16, ``verbal`` a verbal-reasoning score on entry to secondary school, ``social`` a social-class scale
    (four values, 0, 1, 20 and 31, low to high), ``sex`` a factor with mlmRev's levels M, F (so lme4's dummy
    is ``sexF``), and ``primary`` (1 … 148) and ``second`` (1 … 19) the two schools, as integers.  The two
    school classifications are crossed, not nested: most primaries send pupils to several secondaries.
    """
    return _read(_SCOTSSEC, verify_checksum=verify_checksum)
_MMMEC = _Spec(
    filename="mmmec.csv",
    columns=("nation", "region", "county", "deaths", "expected", "uvb"),
    dtypes={"region": "int64", "county": "int64", "deaths": "int64", "expected": "float64", "uvb": "float64"},
    factors={"nation": ("Belgium", "W.Germany", "Denmark", "France", "UK", "Italy", "Ireland", "Luxembourg",
                        "Netherlands")},
)


def load_mmmec(*, verify_checksum: bool = True) -> pd.DataFrame:
    """mlmRev's ``Mmmec``: male melanoma deaths 1971–1980 in 354 counties of 78 regions of 9 countries of the
    European Community (the EEC Atlas of Cancer Mortality).

    Columns ``nation, region, county, deaths, expected, uvb`` (see data/README.md), in mlmRev's row order:
    ``deaths`` the observed count, ``expected`` the count expected from the European age-specific rates and
    the county's population (so ``deaths / expected`` is the standardized mortality ratio, SMR), ``uvb`` the
    county's ultraviolet-B dose at the Earth's surface, centred (mlmRev's units).  ``nation`` is a factor with
    mlmRev's levels; ``region`` (1 … 79, no 26) and ``county`` (1 … 355, no 88) are integers, each region within one
    nation.
    """
    return _read(_MMMEC, verify_checksum=verify_checksum)


_GROUSETICKS = _Spec(
    filename="grouseticks.csv",
    columns=("INDEX", "TICKS", "BROOD", "HEIGHT", "YEAR", "LOCATION"),
    dtypes={"INDEX": "int64", "TICKS": "int64", "BROOD": "int64", "HEIGHT": "int64", "LOCATION": "int64"},
    factors={"YEAR": ("95", "96", "97")},
)


def load_grouseticks(*, verify_checksum: bool = True) -> pd.DataFrame:
    """lme4's ``grouseticks``: ticks on the heads of 403 red grouse chicks (Elston et al. 2001).

    Columns ``INDEX, TICKS, BROOD, HEIGHT, YEAR, LOCATION`` (see data/README.md), in lme4's row order, plus
    ``cHEIGHT``, the altitude centred at its mean (as lme4's copy has it).  ``INDEX`` numbers the chicks 1 … 403
    (one row each), ``TICKS`` is the count, ``BROOD`` (118 broods) and ``LOCATION`` (63 locations) are integer
    ids, ``HEIGHT`` the altitude in metres, ``YEAR`` a factor with levels 95, 96, 97 (1995–1997).
    """
    df = _read(_GROUSETICKS, verify_checksum=verify_checksum)
    df["cHEIGHT"] = df["HEIGHT"] - df["HEIGHT"].mean()
    return df
