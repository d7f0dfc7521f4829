"""What the CBS and UN WPP readers share: file finding, column checks, numbers, age bands, gemeente codes.

The readers (:mod:`~assen_demand.inputs.kwb`, :mod:`~assen_demand.inputs.dynamics`,
:mod:`~assen_demand.inputs.wpp` and :mod:`~assen_demand.inputs.cbs`) parse their files with these
helpers, so a bad value gets the same error whichever file it is in; CBS's ``'.'`` (unknown) is
NaN, never zero.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from assen_demand.errors import DataFormatError, InvalidValueError, MissingDataError
from assen_demand.inputs.bundled import bundled_dir

__all__ = [
    "DataWarning",
    "GemeenteLookup",
    "slug",
    "parse_age_label",
    "find_files",
    "require_dir",
    "require_columns",
    "numeric_columns",
    "age_columns",
    "year_from_period",
    "combine_files",
    "extra_gemeente_codes",
]


class DataWarning(UserWarning):
    """Rows or labels in an input file that could not be used; they are listed, never dropped silently."""



# --------------------------------------------------------------------------------------------
# small shared helpers
# --------------------------------------------------------------------------------------------


def slug(name: str) -> str:
    """Normalised key of a region name: lower case, no accents, runs of other characters -> '-'.

    >>> slug("Assen Oost") == slug("Assen-Oost") == "assen-oost"
    True
    >>> slug("'s-Hertogenbosch")
    's-hertogenbosch'
    """
    text = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode()
    text = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return text


def find_files(data_dir: Path, pattern: str) -> list[Path]:
    """The files matching a glob pattern under ``data_dir``, sorted; ``*_extract.csv`` subsets left out."""
    files = sorted(p for p in Path(data_dir).glob(pattern) if not p.name.endswith("_extract.csv"))
    return files


def require_dir(data_dir) -> Path:
    """``data_dir`` as a Path; :class:`MissingDataError` naming the expected layout if it is no folder."""
    path = Path(data_dir)
    if not path.is_dir():
        raise MissingDataError(
            f"data directory {str(path)!r} does not exist; pass the folder laid out like "
            "shared/data/raw (with kwb/, pc4_2021/, bevolkingsdynamiek_37259eng/, un_wpp2024_*/)"
        )
    return path


def require_columns(frame: pd.DataFrame, columns: Iterable[str], source: str, fix: str) -> None:
    """:class:`DataFormatError` naming the missing columns of ``source`` and ``fix`` (what to do)."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataFormatError(
            f"{source} lacks column(s) {', '.join(missing)} (it has {', '.join(map(str, frame.columns[:12]))}"
            f"{', ...' if len(frame.columns) > 12 else ''}); {fix}"
        )


def numeric_columns(frame: pd.DataFrame, columns: Iterable[str], source: str, *, counts: bool) -> pd.DataFrame:
    """Convert columns to float; text that is not a number or CBS's '.' (= unknown) is an error."""
    out = frame.copy()
    for column in columns:
        raw = out[column]
        if raw.dtype.kind in "biuf":
            values = raw.astype(float)
        elif not (converted := pd.to_numeric(raw, errors="coerce")).isna().any():
            values = converted.astype(float)
        else:
            text = raw.astype("string").str.strip()
            text = text.mask(text.isin(["", ".", "x", "-"]))
            values = pd.to_numeric(text, errors="coerce")
            bad = text.notna() & values.isna()
            if bad.any():
                first = bad.idxmax()
                raise DataFormatError(
                    f"{source}: column {column!r} holds non-numeric value {raw.loc[first]!r} "
                    f"(row {first}, {int(bad.sum())} such rows); fix the file or re-download it from CBS"
                )
            values = values.astype(float)
        if counts:
            negative = values < 0
            if negative.any():
                first = negative.idxmax()
                raise InvalidValueError(
                    f"{source}: column {column!r} holds negative count {values.loc[first]} (row {first}); "
                    "counts of persons, households or dwellings cannot be negative: fix the file"
                )
        out[column] = values
    return out


def parse_age_label(label: str) -> tuple[int, int | None]:
    """Age band label -> (age_lo, age_hi exclusive, None if open).

    Understands '0-4', '0', '1-4', '95+', '100+', '10-14'. A single number is a one-year band.

    >>> parse_age_label("0-4"), parse_age_label("95+"), parse_age_label("0")
    ((0, 5), (95, None), (0, 1))
    """
    text = str(label).strip()
    if m := re.fullmatch(r"(\d+)\s*-\s*(\d+)", text):
        lo, hi = int(m.group(1)), int(m.group(2))
        if hi < lo:
            raise DataFormatError(f"age band {label!r} ends before it starts; write it as 'lo-hi' with lo <= hi")
        return lo, hi + 1
    if m := re.fullmatch(r"(\d+)\s*\+", text):
        return int(m.group(1)), None
    if re.fullmatch(r"\d+", text):
        return int(text), int(text) + 1
    raise DataFormatError(f"age band {label!r} not understood; expected '0-4', '95+' or a single age")


def age_columns(frame: pd.DataFrame, labels: pd.Series) -> pd.DataFrame:
    """``frame`` with ``age_lo`` and ``age_hi`` (exclusive, <NA> if open) from age band labels (see parse_age_label)."""
    bands = {lab: parse_age_label(lab) for lab in pd.unique(labels)}
    frame = frame.copy()
    frame["age_lo"] = labels.map(lambda v: bands[v][0]).astype("int64")
    frame["age_hi"] = pd.array([bands[v][1] for v in labels], dtype="Int64")
    return frame


def year_from_period(period: pd.Series, source: str) -> pd.Series:
    """Year of a CBS period code such as ``'2021JJ00'``; :class:`DataFormatError` for anything else."""
    text = period.astype("string").str.strip()
    years = pd.to_numeric(text.str.extract(r"^(\d{4})", expand=False), errors="coerce")
    if years.isna().any():
        bad = text[years.isna()].iloc[0]
        raise DataFormatError(f"{source}: period {bad!r} is not a CBS year code like '2021JJ00'")
    return years.astype("int64")


def combine_files(frames: list[tuple[Path, pd.DataFrame]], key: list[str], what: str) -> pd.DataFrame:
    """Stack tables from several files; identical duplicates collapse, conflicting ones are an error."""
    if not frames:
        return pd.DataFrame()
    stacked = pd.concat([f.assign(_file=p.name) for p, f in frames], ignore_index=True)
    duplicated = stacked.duplicated(key, keep=False)
    if duplicated.any():
        value_cols = [c for c in stacked.columns if c not in key and c != "_file"]
        dup = stacked[duplicated]
        conflicting = dup.groupby(key, dropna=False)[value_cols].nunique(dropna=False).gt(1).any(axis=1)
        if conflicting.any():
            first = conflicting[conflicting].index[0]
            files = sorted(dup.set_index(key).loc[[first], "_file"].unique())
            raise DataFormatError(
                f"{what}: files {', '.join(files)} give different values for {dict(zip(key, first))}; "
                "keep only one version of the table in the data directory"
            )
        stacked = stacked.drop_duplicates(key, keep="first")
    return stacked.drop(columns="_file").reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# gemeente codes from names
# --------------------------------------------------------------------------------------------


class GemeenteLookup:
    """Gemeente name -> CBS code, built from tables that carry both.

    Parameters
    ----------
    names : pandas.DataFrame
        Columns ``area`` (GMxxxx), ``area_name`` and optionally ``year`` and ``population``
        (1 January population), e.g. from :func:`read_population_dynamics`.
    """

    def __init__(self, names: pd.DataFrame):
        self.names = names
        self._exact = _unique_map(names["area_name"], names["area"])
        self._normalised = _unique_map(names["area_name"].map(_gemeente_key), names["area"])
        if {"year", "population"} <= set(names.columns):
            key = list(zip(names["year"], names["population"]))
            self._by_population = _unique_map(pd.Series(key, index=names.index, dtype=object), names["area"])
        else:
            self._by_population = {}

    def resolve(self, name: str, *, year: int | None = None, population: float | None = None) -> str | None:
        """Code for a gemeente name, or None when the data do not allow it.

        Tries, in order: the exact name; the name normalised (case, accents, a leading apostrophe,
        an English 'Municipality' suffix and a province suffix such as '(L.)' removed) when that is
        unique; finally the gemeente with exactly this 1 January population in ``year``.
        """
        for table, key in ((self._exact, name), (self._normalised, _gemeente_key(name))):
            if key in table:
                return table[key]
        if year is not None and population is not None:
            return self._by_population.get((year, float(population)))
        return None

    @classmethod
    def from_frames(cls, *frames: pd.DataFrame) -> GemeenteLookup:
        rows = []
        for frame in frames:
            if frame is None or frame.empty:
                continue
            cols = [c for c in ("area", "area_name", "year", "population") if c in frame]
            rows.append(frame.loc[frame["area"].astype(str).str.startswith("GM"), cols])
        table = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=["area", "area_name"])
        if "population" in table:
            table["population"] = table["population"].astype(float)
        return cls(table.drop_duplicates().reset_index(drop=True))


def _unique_map(keys: pd.Series, values: pd.Series) -> dict:
    """key -> value for keys that point to exactly one value (ambiguous keys are left out)."""
    pairs = pd.DataFrame({"k": keys.to_numpy(object), "v": values.to_numpy(object)}).dropna().drop_duplicates()
    counts = pairs["k"].map(pairs["k"].value_counts())
    unique = pairs[counts == 1]
    return dict(zip(unique["k"], unique["v"]))


def _gemeente_key(name: str) -> str:
    text = str(name).strip()
    text = re.sub(r"\s+Municipality$", "", text)
    text = re.sub(r"\s*\([A-Za-z.]+\)$", "", text)
    return slug(text.lstrip("'"))


_EXTRA_GEMEENTEN = "gemeente_codes_extra.csv"


def extra_gemeente_codes() -> pd.DataFrame:
    """Gemeente codes the data files do not carry (new gemeenten, Dutch vs English names).

    A small table in the package data, each row with its source.
    """
    path = bundled_dir().joinpath(_EXTRA_GEMEENTEN)
    return pd.read_csv(path, dtype={"area": str, "area_name": str})
