"""Readers for CBS and UN WPP files: raw downloads in, tidy tables with standard names out.

This is the only module that knows CBS column names. Every reader takes a data directory laid
out like ``shared/data/raw`` (one sub-folder per file family, files found by pattern) and
returns a tidy :class:`pandas.DataFrame` with the standard columns of DESIGN.md:
``area, area_name, area_level, year, sex, age_lo, age_hi`` and value columns in snake_case
English. ``age_hi`` is the exclusive upper bound of an age band, ``<NA>`` for an open band.
``sex`` is ``"male"``, ``"female"`` or ``"total"``.

Files named ``*_extract.csv`` are subsets of other files in the same folder and are ignored, so a
folder of newer downloads works as long as the file names follow the patterns below.

=========================  ======================================================
family                     pattern inside the data directory
=========================  ======================================================
KWB                        ``kwb/kwb_<year>_*.csv`` (cbsodata tables as CSV)
KWB codes                  ``kwb_*codes*/kwb_<year>_*.json`` (region code -> values)
postcode population        ``pc4_*/population_by_postcode*.csv`` + ``pc4_*/postcodes*.csv``
CBS 37259eng (clean CSV)   ``bevolkingsdynamiek_*/*.csv``
StatLine UntypedDataSet    ``cbs_*/<table>_UntypedDataSet_*.csv`` (``;``-separated)
UN WPP 2024                ``un_wpp*/mxM5.txt``, ``mxF5.txt``, ``tfr.txt``,
                           ``tfrprojMed.txt``, ``percentASFR5.txt``, ``e0M.txt`` ...
=========================  ======================================================

Bron: CBS (CC BY 4.0); United Nations, DESA, Population Division, World Population
Prospects 2024 (CC BY 3.0 IGO).
"""

from __future__ import annotations

import re
import unicodedata
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

# KWB_BANDS and KWB_BAND_LABELS are re-exported (defined in datamodel)
from assen_demand.datamodel import KWB_BAND_LABELS, KWB_BANDS
from assen_demand.errors import (
    DataFormatError,
    InvalidValueError,
    MissingDataError,
    UnknownAreaError,
)
from assen_demand.inputs import validation

__all__ = [
    "KWB_BANDS",
    "KWB_BAND_LABELS",
    "DataWarning",
    "GemeenteLookup",
    "slug",
    "buurt_sets",
    "same_buurten",
    "kwb_years",
    "read_kwb",
    "kwb_age_bands",
    "read_kwb_codes",
    "read_dwelling_stock",
    "read_postcode_population",
    "read_population_dynamics",
    "read_statline_untyped",
    "read_wpp_mx",
    "read_wpp_tfr",
    "read_wpp_asfr",
    "read_wpp_e0",
    "parse_age_label",
    "input_files",
]

_KWB_BAND_COLUMNS = ("age_0_15", "age_15_25", "age_25_45", "age_45_65", "age_65_plus")

_SEX_CODES = {"T001038": "total", "3000": "male", "4000": "female"}
_LEVELS = {"Land": "land", "Gemeente": "gemeente", "Wijk": "wijk", "Buurt": "buurt"}


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


def _find(data_dir: Path, pattern: str) -> list[Path]:
    files = sorted(p for p in Path(data_dir).glob(pattern) if not p.name.endswith("_extract.csv"))
    return files


def _require_dir(data_dir) -> Path:
    path = Path(data_dir)
    if not path.is_dir():
        raise MissingDataError(
            f"data directory {str(path)!r} does not exist; pass the folder laid out like "
            "shared/data/raw (with kwb/, pc4_2021/, bevolkingsdynamiek_37259eng/, un_wpp2024_*/)"
        )
    return path


def _require_columns(frame: pd.DataFrame, columns: Iterable[str], source: str, fix: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataFormatError(
            f"{source} lacks column(s) {', '.join(missing)} (it has {', '.join(map(str, frame.columns[:12]))}"
            f"{', ...' if len(frame.columns) > 12 else ''}); {fix}"
        )


def _numeric(frame: pd.DataFrame, columns: Iterable[str], source: str, *, counts: bool) -> pd.DataFrame:
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


def _age_columns(frame: pd.DataFrame, labels: pd.Series) -> pd.DataFrame:
    bands = {lab: parse_age_label(lab) for lab in pd.unique(labels)}
    frame = frame.copy()
    frame["age_lo"] = labels.map(lambda v: bands[v][0]).astype("int64")
    frame["age_hi"] = pd.array([bands[v][1] for v in labels], dtype="Int64")
    return frame


def _year_from_period(period: pd.Series, source: str) -> pd.Series:
    text = period.astype("string").str.strip()
    years = pd.to_numeric(text.str.extract(r"^(\d{4})", expand=False), errors="coerce")
    if years.isna().any():
        bad = text[years.isna()].iloc[0]
        raise DataFormatError(f"{source}: period {bad!r} is not a CBS year code like '2021JJ00'")
    return years.astype("int64")


def _combine_files(frames: list[tuple[Path, pd.DataFrame]], key: list[str], what: str) -> pd.DataFrame:
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


def _extra_gemeente_codes() -> pd.DataFrame:
    """Gemeente codes the data files do not carry (new gemeenten, Dutch vs English names).

    A small table in the package data, each row with its source.
    """
    from assen_demand.inputs.bundled import bundled_dir

    path = bundled_dir().joinpath(_EXTRA_GEMEENTEN)
    return pd.read_csv(path, dtype={"area": str, "area_name": str})


def gemeente_lookup(data_dir) -> GemeenteLookup:
    """Gemeente name -> code lookup from the dynamics tables in ``data_dir`` and the package's extra table."""
    data_dir = _require_dir(data_dir)
    frames = []
    dyn = read_population_dynamics(data_dir, missing_ok=True)
    if not dyn.empty:
        total = dyn[(dyn["sex"] == "total") & (dyn["area_level"] == "gemeente")]
        frames.append(total.rename(columns={"population_jan1": "population"}))
    frames.append(_extra_gemeente_codes())
    return GemeenteLookup.from_frames(*frames)


# --------------------------------------------------------------------------------------------
# KWB: Kerncijfers wijken en buurten
# --------------------------------------------------------------------------------------------

# CBS base column name (the numeric suffix stripped) -> our name
_KWB_COLUMNS = {
    "WijkenEnBuurten": "label",
    "Gemeentenaam": "gemeente_name",
    "SoortRegio": "level_label",
    "Codering": "code",
    "AantalInwoners": "population",
    "Mannen": "male",
    "Vrouwen": "female",
    "k_0Tot15Jaar": "age_0_15",
    "k_15Tot25Jaar": "age_15_25",
    "k_25Tot45Jaar": "age_25_45",
    "k_45Tot65Jaar": "age_45_65",
    "k_65JaarOfOuder": "age_65_plus",
    "HuishoudensTotaal": "households",
    "Eenpersoonshuishoudens": "one_person_households",
    "HuishoudensZonderKinderen": "households_without_children",
    "HuishoudensMetKinderen": "households_with_children",
    "GemiddeldeHuishoudensgrootte": "mean_household_size",
    "Bevolkingsdichtheid": "population_density_km2",
    "Woningvoorraad": "dwelling_stock",
    "GemiddeldeWOZWaardeVanWoningen": "mean_woz_value_keur",
    "Koopwoningen": "owner_occupied_pct",
    "HuurwoningenTotaal": "rented_pct",
    "AantalInkomensontvangers": "income_recipients",
    "GemiddeldInkomenPerInkomensontvanger": "mean_income_per_recipient_keur",
    "GemiddeldInkomenPerInwoner": "mean_income_per_inhabitant_keur",
    "HuishOnderOfRondSociaalMinimum": "households_near_social_minimum_pct",
    "PersonenautoSPerHuishouden": "cars_per_household",
    "AfstandTotGroteSupermarkt": "distance_large_supermarket_km",
    # read when the download has it (KWB 2021-2024 carry it; the bundled extract does not):
    # used by assen_demand.inputs.nabijheid for the facilities step
    "AfstandTotHuisartsenpraktijk": "distance_gp_practice_km",
}
_KWB_REQUIRED = ("WijkenEnBuurten", "Gemeentenaam", "SoortRegio", "AantalInwoners") + (
    "k_0Tot15Jaar",
    "k_15Tot25Jaar",
    "k_25Tot45Jaar",
    "k_45Tot65Jaar",
    "k_65JaarOfOuder",
)
_KWB_COUNTS = (
    "population",
    "male",
    "female",
    *_KWB_BAND_COLUMNS,
    "households",
    "one_person_households",
    "households_without_children",
    "households_with_children",
    "dwelling_stock",
    "income_recipients",
)
_WIJK_NN = re.compile(r"^Wijk\s+(\d{2})\s+(.*\S)\s*$")


def kwb_years(data_dir) -> list[int]:
    """The KWB years for which ``kwb/kwb_<year>_*.csv`` files exist in ``data_dir``."""
    data_dir = _require_dir(data_dir)
    years = set()
    for path in _find(data_dir, "kwb/kwb_*.csv"):
        if m := re.match(r"kwb_(\d{4})_", path.name):
            years.add(int(m.group(1)))
    return sorted(years)


def _read_kwb_file(path: Path, year: int) -> pd.DataFrame:
    raw = validation.read_csv(path, what="a KWB table (Kerncijfers wijken en buurten)", dtype=str, keep_default_na=False)
    renamed = {}
    for column in raw.columns:
        base = re.sub(r"_\d+$", "", column)
        if base in _KWB_COLUMNS and _KWB_COLUMNS[base] not in renamed.values():
            renamed[column] = _KWB_COLUMNS[base]
    present_bases = {re.sub(r"_\d+$", "", c) for c in raw.columns}
    missing = [c for c in _KWB_REQUIRED if c not in present_bases]
    if missing:
        raise DataFormatError(
            f"{path.name} is not a KWB table as cbsodata writes it: column(s) {', '.join(missing)} "
            "(with any numeric suffix) are missing; download the 'Kerncijfers wijken en buurten' table "
            "with cbsodata and save it unchanged as CSV"
        )
    frame = raw[list(renamed)].rename(columns=renamed)
    for column in ("label", "gemeente_name", "level_label", "code"):
        if column in frame:
            frame[column] = frame[column].str.strip()
    unknown_level = ~frame["level_label"].isin(list(_LEVELS))
    if unknown_level.any():
        bad = frame.loc[unknown_level, "level_label"].iloc[0]
        raise DataFormatError(
            f"{path.name}: SoortRegio value {bad!r} is not one of Land, Gemeente, Wijk, Buurt; "
            "the file is not a KWB table or is damaged"
        )
    frame["area_level"] = frame["level_label"].map(_LEVELS)
    # a gemeente or wijk row twice would be counted twice (buurten may share a name: _disambiguate)
    for level, key in (("gemeente", ["label"]), ("wijk", ["gemeente_name", "label"])):
        rows = frame[frame["area_level"] == level]
        validation.check_unique(rows, [k for k in key if k in rows], source=path.name,
                                fix="a region appears once per KWB year: remove the copied row")
    value_cols = [c for c in frame.columns if c not in ("label", "gemeente_name", "level_label", "code", "area_level")]
    frame = _numeric(frame, value_cols, path.name, counts=False)
    frame = _numeric(frame, [c for c in value_cols if c in _KWB_COUNTS], path.name, counts=True)
    frame["year"] = year
    frame["cbs_table"] = m.group(1) if (m := re.search(r"_(\d{5}[A-Z]{3})", path.name)) else path.stem
    frame["row"] = np.arange(len(frame))
    return frame


def _attach_parents(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """Give each wijk its gemeente and each buurt its wijk, from the CBS row order."""
    gemeente_label, wijk_row = [], []
    current_gm, current_wijk = None, None
    for level, label, gm_name, row in zip(frame["area_level"], frame["label"], frame["gemeente_name"], frame["row"]):
        if level == "gemeente":
            current_gm, current_wijk = label, None
        elif level == "wijk":
            current_wijk = row
        elif level == "buurt" and current_wijk is None:
            raise DataFormatError(
                f"{source}: buurt {label!r} of {gm_name} comes before any wijk; KWB rows must stay in CBS "
                "order (gemeente, then each wijk followed by its buurten): do not sort the file"
            )
        gemeente_label.append(gm_name if level != "land" else None)
        wijk_row.append(current_wijk if level in ("wijk", "buurt") else None)
    out = frame.copy()
    out["_wijk_row"] = pd.array(wijk_row, dtype="Int64")
    return out


def _resolve_gemeenten(frame: pd.DataFrame, lookup: GemeenteLookup) -> tuple[pd.DataFrame, list[str]]:
    gem = frame[frame["area_level"] == "gemeente"]
    codes, unresolved = {}, []
    for _, r in gem.iterrows():
        code = r.get("code") if isinstance(r.get("code"), str) and r.get("code", "").startswith("GM") else None
        code = code or lookup.resolve(r["label"], year=int(r["year"]), population=r["population"])
        if code is None:
            code = f"GM?{slug(r['label'])}"
            unresolved.append(r["label"])
        codes[(r["year"], r["label"])] = code
    out = frame.copy()
    out["gemeente"] = [codes.get((y, g)) for y, g in zip(out["year"], out["gemeente_name"])]
    out.loc[out["area_level"] == "land", "gemeente"] = None
    return out, unresolved


def _wijk_codes_from_codes_file(frame: pd.DataFrame, codes: pd.DataFrame) -> dict[int, str]:
    """Row -> WK code for a year that has a codes file: wijken are in code order within a gemeente.

    The pairing by order is accepted only if every wijk's population equals the codes file's.
    """
    found: dict[int, str] = {}
    year_codes = codes[codes["area_level"] == "wijk"]
    for gm, wijken in frame[frame["area_level"] == "wijk"].groupby("gemeente", sort=False):
        if not str(gm).startswith("GM"):
            continue
        cand = year_codes[year_codes["area"].str[2:6] == gm[2:6]].sort_values("area")
        if len(cand) != len(wijken):
            continue
        if np.array_equal(cand["population"].to_numpy(float), wijken["population"].to_numpy(float)):
            found.update(dict(zip(wijken["row"], cand["area"])))
    return found


def _match_wijken_across_years(frame: pd.DataFrame) -> pd.DataFrame:
    """Wijken without a code get the code another year gives the same wijk.

    The same wijk is recognised by its normalised name (the nearest year with exactly one such
    coded wijk wins), else by its buurten (at least half of the buurt names shared, Jaccard
    index, unique best). Wijken matched neither way keep no code here; the caller gives them a
    stable key built from the gemeente code and the wijk name.
    """
    out = frame.copy()
    is_wijk = out["area_level"] == "wijk"
    open_gm = set(out.loc[is_wijk & out["area"].isna(), "gemeente"].dropna())
    coded_gm = set(out.loc[is_wijk & out["area"].notna(), "gemeente"].dropna())
    todo = open_gm & coded_gm
    if not todo:
        return out
    in_todo = out["gemeente"].isin(todo)
    buurten = out[in_todo & (out["area_level"] == "buurt")]
    buurt_sets = buurten.groupby(["year", "_wijk_row"])["area_name"].agg(lambda s: frozenset(map(slug, s))).to_dict()
    wijken = out[in_todo & is_wijk].assign(_slug=lambda f: f["area_name"].map(slug))
    for gm, rows in wijken.groupby("gemeente", sort=False):
        coded = rows[rows["area"].notna()]
        if coded.empty:
            continue
        for idx, row in rows[rows["area"].isna()].iterrows():
            others = coded[coded["year"] != row["year"]]
            match, how = None, None
            named = others[others["_slug"] == row["_slug"]]
            for _, same_year in sorted(named.groupby("year"), key=lambda kv: abs(kv[0] - row["year"])):
                if same_year["area"].nunique() == 1:
                    match, how = same_year["area"].iloc[0], "name_match"
                    break
            if match is None:
                mine = buurt_sets.get((row["year"], row["row"]), frozenset())
                scores = {}
                for _, other in others.iterrows():
                    theirs = buurt_sets.get((other["year"], other["row"]), frozenset())
                    union = mine | theirs
                    score = len(mine & theirs) / len(union) if union else 0.0
                    scores[other["area"]] = max(score, scores.get(other["area"], 0.0))
                ranked = sorted(scores.items(), key=lambda kv: -kv[1])
                if ranked and ranked[0][1] >= 0.5 and (len(ranked) == 1 or ranked[1][1] < ranked[0][1]):
                    match, how = ranked[0][0], "buurt_match"
            if match is not None:
                out.loc[idx, ["area", "code_source"]] = [match, how]
    return out


def read_kwb(data_dir, years: Sequence[int] | None = None, *, gemeente: str | None = None) -> pd.DataFrame:
    """Read KWB tables (Kerncijfers wijken en buurten) for one or more years into one tidy table.

    Region labels in cbsodata downloads carry no codes. Codes are recovered as follows and the way
    each was found is in ``code_source``:

    * gemeente: from its name via the dynamics table in the data directory (which has codes and
      names), normalised names, and the 1 January population; a package table covers gemeenten
      new in 2022 and Dutch/English name differences (``label``);
    * wijk: from a ``Wijk NN Name`` label (``label``: WK + gemeente digits + NN); from a KWB codes
      file of the same year, pairing wijken in CBS order and checking every population
      (``codes_file``); from another year's coded wijk with the same name (``name_match``) or the
      same buurten (``buurt_match``); otherwise a stable key ``GMxxxx:<wijk-name>`` (``key``);
    * buurt: a stable key ``<wijk area>:<buurt-name>`` (KWB downloads carry no buurt codes).

    Parameters
    ----------
    data_dir : path
        Folder laid out like ``shared/data/raw`` with ``kwb/kwb_<year>_*.csv``.
    years : sequence of int, optional
        Years to return; default every year found. All years found are used to match wijk codes,
        but only their labels, never their numbers.
    gemeente : str, optional
        CBS code (``GM0106``) or name (``Assen``) to keep only that gemeente's rows (plus none of
        the national row).

    Returns
    -------
    pandas.DataFrame
        One row per area and year: ``area, area_name, area_level, gemeente, gemeente_name, wijk,
        year, cbs_table, code_source`` and the value columns (``population``, ``age_0_15`` ..
        ``age_65_plus``, ``households``, ``one_person_households``, ...). ``wijk`` is the wijk a
        buurt belongs to (the wijk itself on wijk rows). ``area_name`` is the label without a
        ``Wijk NN`` prefix.
    """
    data_dir = _require_dir(data_dir)
    available = kwb_years(data_dir)
    if years is not None:
        missing = [y for y in years if y not in available]
        if missing:
            raise MissingDataError(
                f"no KWB file for year(s) {', '.join(map(str, missing))} in {data_dir / 'kwb'} "
                f"(found {', '.join(map(str, available)) or 'none'}); add kwb/kwb_<year>_<table>.csv "
                "downloaded with cbsodata"
            )
    if not available:
        raise MissingDataError(
            f"no KWB files (kwb/kwb_<year>_*.csv) in {data_dir}; download 'Kerncijfers wijken en buurten' with cbsodata"
        )
    frames = []
    for year in available:
        files = _find(data_dir, f"kwb/kwb_{year}_*.csv")
        if len(files) > 1:
            raise DataFormatError(
                f"several KWB files for {year} in {data_dir / 'kwb'}: {', '.join(p.name for p in files)}; keep one"
            )
        frames.append(_attach_parents(_read_kwb_file(files[0], year), files[0].name))
    frame = pd.concat(frames, ignore_index=True)
    frame, unresolved = _resolve_gemeenten(frame, gemeente_lookup(data_dir))
    if unresolved:
        warnings.warn(
            f"KWB: no CBS code found for gemeente(n) {', '.join(sorted(set(unresolved)))}; they get a key "
            "'GM?<name>'. Add a row to data/cbs/gemeente_codes_extra.csv to fix this.",
            DataWarning,
            stacklevel=2,
        )

    # area names and codes found in the labels
    frame["area_name"] = frame["label"]
    frame["area"] = pd.array([None] * len(frame), dtype="string")
    frame["code_source"] = pd.array([None] * len(frame), dtype="string")
    land = frame["area_level"] == "land"
    frame.loc[land, ["area", "code_source"]] = ["NL00", "label"]
    gem = frame["area_level"] == "gemeente"
    frame.loc[gem, "area"] = frame.loc[gem, "gemeente"]
    frame.loc[gem, "code_source"] = "label"
    if "code" in frame:  # newer cbsodata downloads carry the code in 'Codering'
        has_code = frame["code"].fillna("").str.match(r"^(WK|BU)\d+")
        frame.loc[has_code, ["area"]] = frame.loc[has_code, "code"]
        frame.loc[has_code, "code_source"] = "codering"
    wijk = frame["area_level"] == "wijk"
    parsed = frame.loc[wijk, "label"].str.extract(_WIJK_NN)
    has_nn = parsed[0].notna() & frame.loc[wijk, "gemeente"].str.startswith("GM") & frame.loc[wijk, "area"].isna()
    idx = parsed.index[has_nn]
    frame.loc[idx, "area"] = "WK" + frame.loc[idx, "gemeente"].str[2:6] + parsed.loc[idx, 0]
    frame.loc[idx, "area_name"] = parsed.loc[idx, 1]
    frame.loc[idx, "code_source"] = "label"

    codes = read_kwb_codes(data_dir, missing_ok=True)
    for year, year_codes in codes.groupby("year"):
        in_year = frame[(frame["year"] == year) & frame["gemeente"].notna()]
        found = _wijk_codes_from_codes_file(in_year, year_codes)
        rows = frame.index[(frame["year"] == year) & frame["row"].isin(list(found)) & frame["area"].isna()]
        frame.loc[rows, "area"] = frame.loc[rows, "row"].map(found)
        frame.loc[rows, "code_source"] = "codes_file"

    frame = _match_wijken_across_years(frame)
    keyless = wijk & frame["area"].isna()
    frame.loc[keyless, "area"] = frame.loc[keyless, "gemeente"] + ":" + frame.loc[keyless, "area_name"].map(slug)
    frame.loc[keyless, "code_source"] = "key"

    # parent wijk of each row, then buurt keys under it
    wijk_area = frame.loc[wijk, ["year", "row", "area"]].rename(columns={"row": "_wijk_row", "area": "wijk"})
    wijk_area["_wijk_row"] = wijk_area["_wijk_row"].astype("Int64")
    frame = frame.merge(wijk_area, on=["year", "_wijk_row"], how="left", validate="many_to_one")
    frame["wijk"] = frame["wijk"].astype("string")
    buurt = (frame["area_level"] == "buurt") & frame["area"].isna()
    frame.loc[buurt, "area"] = frame.loc[buurt, "wijk"] + ":" + frame.loc[buurt, "area_name"].map(slug)
    frame.loc[buurt, "code_source"] = "key"

    frame = _disambiguate(frame)
    if gemeente is not None:
        code = _select_gemeente(frame, gemeente)
        frame = frame[frame["gemeente"] == code]
    if years is not None:
        frame = frame[frame["year"].isin(list(years))]

    first = ["area", "area_name", "area_level", "gemeente", "gemeente_name", "wijk", "year", "cbs_table", "code_source"]
    drop = {"label", "level_label", "code", "_wijk_row", "row"}
    values = [c for c in frame.columns if c not in first and c not in drop]
    return frame[first + values].reset_index(drop=True)


def _disambiguate(frame: pd.DataFrame) -> pd.DataFrame:
    """Two regions with the same key in one year (e.g. two buurten with one name) get a suffix."""
    dup = frame.duplicated(["year", "area"], keep=False)
    if not dup.any():
        return frame
    out = frame.copy()
    counter = out[dup].groupby(["year", "area"]).cumcount() + 1
    out.loc[counter.index, "area"] = out.loc[counter.index, "area"] + "#" + counter.astype(str)
    warnings.warn(
        f"KWB: {int(dup.sum())} regions share a name within their wijk or gemeente; "
        "their keys got a '#n' suffix in CBS row order",
        DataWarning,
        stacklevel=3,
    )
    return out


def _select_gemeente(frame: pd.DataFrame, gemeente: str) -> str:
    codes = frame["gemeente"].dropna().unique()
    if gemeente in codes:
        return gemeente
    by_name = frame.loc[frame["gemeente_name"].map(slug) == slug(gemeente), "gemeente"].dropna().unique()
    if len(by_name) == 1:
        return str(by_name[0])
    raise UnknownAreaError(
        f"gemeente {gemeente!r} is not in the KWB data; give a CBS code like 'GM0106' or a name like "
        f"'Assen' (the data hold {len(codes)} gemeenten, e.g. {', '.join(sorted(map(str, codes))[:5])})"
    )


def kwb_age_bands(kwb: pd.DataFrame) -> pd.DataFrame:
    """KWB age-band columns as a long table.

    Parameters
    ----------
    kwb : pandas.DataFrame
        Output of :func:`read_kwb`.

    Returns
    -------
    pandas.DataFrame
        ``area, area_name, area_level, gemeente, year, band, age_lo, age_hi, persons`` with ``band``
        one of ``0-15, 15-25, 25-45, 45-65, 65+``.
    """
    _require_columns(kwb, _KWB_BAND_COLUMNS, "KWB table", "pass the output of read_kwb")
    ids = ["area", "area_name", "area_level", "gemeente", "year"]
    long = kwb.melt(id_vars=ids, value_vars=list(_KWB_BAND_COLUMNS), var_name="column", value_name="persons")
    position = {c: i for i, c in enumerate(_KWB_BAND_COLUMNS)}
    long["band"] = long["column"].map(lambda c: KWB_BAND_LABELS[position[c]])
    long["age_lo"] = long["column"].map(lambda c: KWB_BANDS[position[c]][0]).astype("int64")
    long["age_hi"] = pd.array([KWB_BANDS[position[c]][1] for c in long["column"]], dtype="Int64")
    long["_order"] = long["column"].map(position)
    long = long.sort_values(["year", "area", "_order"], kind="stable")
    return long[ids + ["band", "age_lo", "age_hi", "persons"]].reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# KWB codes file (JSON keyed by region code)
# --------------------------------------------------------------------------------------------

_CODES_COLUMNS = {
    "AantalInwoners": "population",
    "Mannen": "male",
    "Vrouwen": "female",
    "Bevolkingsdichtheid": "population_density_km2",
    "Woningvoorraad": "dwelling_stock",
    "OppervlakteTotaal": "area_total_ha",
    "OppervlakteLand": "area_land_ha",
    "OppervlakteWater": "area_water_ha",
}


def read_kwb_codes(data_dir, *, missing_ok: bool = False) -> pd.DataFrame:
    """KWB values keyed by CBS region code (``kwb_*codes*/kwb_<year>_*.json``).

    Returns
    -------
    pandas.DataFrame
        ``area, area_level, gemeente, year, population, male, female, dwelling_stock, ...``.
    """
    data_dir = _require_dir(data_dir)
    files = _find(data_dir, "kwb_*codes*/kwb_*.json")
    frames = []
    for path in files:
        m = re.match(r"kwb_(\d{4})_", path.name)
        if not m:
            continue
        content = validation.read_json(path, what="a KWB codes file (re-download it)")
        if not isinstance(content, dict) or not all(isinstance(v, dict) for v in content.values()):
            raise DataFormatError(
                f"{path.name} must be a JSON object keyed by region code (GM.., WK..) with an object of values each"
            )
        frame = pd.DataFrame.from_dict(content, orient="index")
        frame.columns = [_CODES_COLUMNS.get(re.sub(r"_\d+$", "", c), c) for c in frame.columns]
        frame = frame.rename_axis("area").reset_index()
        frame = _numeric(frame, [c for c in frame.columns if c != "area"], path.name, counts=True)
        frame["year"] = int(m.group(1))
        frames.append(frame)
    if not frames:
        if missing_ok:
            return pd.DataFrame(columns=["area", "area_level", "gemeente", "year", "population"])
        raise MissingDataError(f"no KWB codes file (kwb_*codes*/kwb_<year>_*.json) in {data_dir}")
    out = pd.concat(frames, ignore_index=True)
    prefix = out["area"].str[:2]
    out["area_level"] = prefix.map({"GM": "gemeente", "WK": "wijk", "BU": "buurt", "NL": "land"})
    out["gemeente"] = "GM" + out["area"].str[2:6]
    out.loc[prefix == "NL", "gemeente"] = None
    first = ["area", "area_level", "gemeente", "year"]
    return out[first + [c for c in out.columns if c not in first]]


# --------------------------------------------------------------------------------------------
# population by postcode, age band and sex (1 January 2021)
# --------------------------------------------------------------------------------------------


def read_dwelling_stock(data_dir) -> pd.DataFrame:
    """KWB 2024 dwelling stock (woningvoorraad) of every gemeente and wijk, keyed by CBS code.

    Reads ``kwb_2024_woningvoorraad/woningvoorraad_<year>.csv`` (columns ``code,
    woningvoorraad``; CBS 85984NED ``Woningvoorraad_35``, dwellings on 1 January).

    Returns
    -------
    pandas.DataFrame
        ``area, area_level, gemeente, year, dwelling_stock`` [dwellings]; secret (empty) values
        stay NaN and are never read as zero.

    Raises
    ------
    MissingDataError
        No such file under ``data_dir``.
    DataFormatError
        Missing columns, an unknown code prefix or a non-number.
    """
    data_dir = _require_dir(data_dir)
    files = _find(data_dir, "kwb_*woningvoorraad*/woningvoorraad_*.csv")
    if not files:
        raise MissingDataError(f"no dwelling stock file (kwb_*woningvoorraad*/woningvoorraad_<year>.csv) in {data_dir}")
    frames = []
    for path in files:
        m = re.search(r"woningvoorraad_(\d{4})", path.name)
        frame = pd.read_csv(path, dtype={"code": str})
        if set(frame.columns) != {"code", "woningvoorraad"}:
            raise DataFormatError(f"{path.name}: expected the columns code, woningvoorraad; found {list(frame.columns)}")
        frame = _numeric(frame.rename(columns={"code": "area", "woningvoorraad": "dwelling_stock"}),
                         ["dwelling_stock"], path.name, counts=True)
        frame["area"] = frame["area"].str.strip()
        prefix = frame["area"].str[:2]
        bad = ~prefix.isin(["GM", "WK"])
        if bad.any():
            raise DataFormatError(f"{path.name}: code {frame.loc[bad, 'area'].iloc[0]!r} is not a GM/WK code")
        frame["area_level"] = prefix.map({"GM": "gemeente", "WK": "wijk"})
        frame["gemeente"] = "GM" + frame["area"].str[2:6]
        frame["year"] = int(m.group(1))
        frames.append(frame[["area", "area_level", "gemeente", "year", "dwelling_stock"]])
    return pd.concat(frames, ignore_index=True).sort_values(["gemeente", "area"]).reset_index(drop=True)

def read_postcode_population(data_dir, *, level: str = "gemeente") -> pd.DataFrame:
    """Population by 5-year age band and sex from the CBS postcode tables (83502NED/83503NED).

    The file holds PC2, PC3 and PC4 rows for the same people; only 4-digit postcodes are used,
    so nobody is counted twice. PC4 areas are assigned to the gemeente given by the postcode
    table; postcodes without a gemeente are reported with a :class:`DataWarning`.

    Parameters
    ----------
    data_dir : path
        Folder with ``pc4_*/population_by_postcode*.csv`` and ``pc4_*/postcodes*.csv``.
    level : {"gemeente", "pc4", "national"}

    Returns
    -------
    pandas.DataFrame
        ``area, area_name, area_level, year, sex, age_lo, age_hi, persons`` with sex
        ``male``, ``female`` and ``total``. CBS rounds each cell to 5 independently, so ``total``
        (the published 'inwoners') differs from male + female by a few persons per band.
        ``attrs["unassigned"]`` lists PC4 areas without a gemeente (level gemeente).
    """
    if level not in ("gemeente", "pc4", "national"):
        raise DataFormatError(f"level {level!r} not understood; use 'gemeente', 'pc4' or 'national'")
    data_dir = _require_dir(data_dir)
    files = _find(data_dir, "pc4_*/population_by_postcode*.csv")
    maps = _find(data_dir, "pc4_*/postcodes*.csv")
    if not files:
        raise MissingDataError(f"no postcode population file (pc4_*/population_by_postcode*.csv) in {data_dir}")
    frames = []
    for path in files:
        raw = validation.read_csv(path, what="a CBS postcode population table (83502NED/83503NED)",
                                  dtype={"leeftijd": str})
        _require_columns(
            raw,
            ["postcode", "leeftijd", "inwoners_man", "inwoners_vrouw"],
            path.name,
            "expected the CBS 83502NED/83503NED layout: postcode, leeftijd, inwoners, inwoners_man, inwoners_vrouw",
        )
        _require_columns(raw, ["inwoners"], path.name, "the total column 'inwoners' is needed as well")
        raw = _numeric(raw, ["postcode", "inwoners", "inwoners_man", "inwoners_vrouw"], path.name, counts=True)
        # men or women above the total (beyond CBS's rounding to 5) would add persons to the base year
        # (PC4 rows only: the PC2/PC3 rows are sums of rounded cells, their differences add up)
        validation.check_parts_within_total(raw[raw["postcode"] >= 1000], ["inwoners_man", "inwoners_vrouw"],
                                            "inwoners", source=path.name,
                                            labels=["postcode", "leeftijd"])
        frames.append((path, raw))
    raw = _combine_files(frames, ["postcode", "leeftijd"], "postcode population")
    raw = raw[raw["postcode"] >= 1000].copy()
    raw["postcode"] = raw["postcode"].astype("int64")
    year = int(m.group(1)) if (m := re.search(r"(\d{4})", files[0].parent.name + files[0].name)) else 2021
    long = raw.melt(
        id_vars=["postcode", "leeftijd"],
        value_vars=["inwoners", "inwoners_man", "inwoners_vrouw"],
        var_name="s",
        value_name="persons",
    )
    long["sex"] = long["s"].map({"inwoners": "total", "inwoners_man": "male", "inwoners_vrouw": "female"})
    long = _age_columns(long, long["leeftijd"])
    missing_values = long["persons"].isna()
    if missing_values.any():
        n = int(missing_values.sum())
        warnings.warn(f"postcode population: {n} cells are empty (CBS secret/unknown) and count as 0", DataWarning, stacklevel=2)
        long["persons"] = long["persons"].fillna(0.0)
    long["year"] = year
    if level == "pc4":
        long["area"] = "PC" + long["postcode"].astype(str)
        long["area_name"] = long["area"]
        long["area_level"] = "pc4"
        return _tidy_bands(long)
    if level == "national":
        long["area"], long["area_name"], long["area_level"] = "NL00", "Nederland", "land"
        return _tidy_bands(long)

    if not maps:
        raise MissingDataError(f"no postcode -> gemeente table (pc4_*/postcodes*.csv) in {data_dir}")
    pc = validation.read_csv(maps[0], what="a postcode -> gemeente table")
    _require_columns(pc, ["postcode", "gemeente"], maps[0].name, "expected columns postcode, gemeente")
    pc = pc[pc["postcode"] >= 1000][["postcode", "gemeente"]].drop_duplicates("postcode")
    long = long.merge(pc, on="postcode", how="left")
    no_gemeente = long["gemeente"].isna()
    unassigned = sorted(long.loc[no_gemeente, "postcode"].unique())
    if unassigned:
        lost = long.loc[no_gemeente & (long["sex"] == "total"), "persons"].sum()
        warnings.warn(
            f"postcode population: {len(unassigned)} PC4 area(s) have no gemeente in {maps[0].name} "
            f"({', '.join(map(str, unassigned[:8]))}); their {lost:,.0f} persons are left out of the gemeente totals",
            DataWarning,
            stacklevel=2,
        )
    long = long[long["gemeente"].notna()]
    lookup = gemeente_lookup(data_dir)
    names = long["gemeente"].unique()
    code_of = {n: lookup.resolve(n, year=year) for n in names}
    unknown = [n for n, c in code_of.items() if c is None]
    if unknown:
        warnings.warn(
            f"postcode population: no CBS code for gemeente(n) {', '.join(unknown)}; keyed 'GM?<name>'",
            DataWarning,
            stacklevel=2,
        )
    long["area"] = long["gemeente"].map(lambda n: code_of[n] or f"GM?{slug(n)}")
    long["area_name"] = long["gemeente"]
    long["area_level"] = "gemeente"
    out = _tidy_bands(long)
    out.attrs["unassigned"] = unassigned
    return out


def _tidy_bands(long: pd.DataFrame) -> pd.DataFrame:
    keys = ["area", "area_name", "area_level", "year", "sex", "age_lo", "age_hi"]
    out = long.groupby(keys, dropna=False, sort=True)["persons"].sum().reset_index()
    out["age_hi"] = out["age_hi"].astype("Int64")
    return out


# --------------------------------------------------------------------------------------------
# population dynamics: CBS 37259 (English clean CSV) and StatLine untyped downloads
# --------------------------------------------------------------------------------------------

_DYN_COLUMNS = {
    "PopulationOn1January": "population_jan1",
    "LiveBornChildren": "births",
    "Deaths": "deaths",
    "DueToImmigration": "immigration",
    "DueToEmigrationIncludingAdministr": "emigration",
    "NetAdministrativeCorrections": "administrative_corrections",
    "NetMigrationIncludingAdministrative": "net_migration",
    "PopulationGrowth": "population_growth",
    "PopulationOn31December": "population_dec31",
    "TotalArrivals": "arrivals",
    "TotalDeparturesIncludingAdministra": "departures",
}
# in 37259eng both in- and out-movers are 'DueToIntermunicipalMoves': _11 is in, _16 is out
_DYN_SUFFIXED = {"DueToIntermunicipalMoves_11": "in_moves", "DueToIntermunicipalMoves_16": "out_moves"}

_STATLINE_COLUMNS = {
    "BevolkingOp1Januari": "population_jan1",
    "TotaleBevolking": "population_jan1",
    "Mannen": "male",
    "Vrouwen": "female",
    "LevendGeborenKinderen": "births",
    "Geboorte": "births",
    "Overledenen": "deaths",
    "Sterfte": "deaths",
    "Immigratie": "immigration",
    "Emigratie": "emigration",
    "VestigingUitAndereGemeente": "in_moves",
    "VertrekNaarAndereGemeente": "out_moves",
    "Migratiesaldo": "net_international_migration",
    "BinnenlandsMigratiesaldo": "net_internal_migration",
    "InwonersOp31December": "population_dec31",
    "BevolkingOp31December": "population_dec31",
    "TotaalAantalParticuliereHuishoudens": "households",
    "VoorraadOp1Januari": "dwelling_stock",
    "Nieuwbouwwoningen": "new_dwellings",
}


def _area_level(code: pd.Series) -> pd.Series:
    prefix = code.str[:2]
    return prefix.map({"GM": "gemeente", "PV": "provincie", "NL": "land", "CR": "corop", "LD": "landsdeel", "WK": "wijk"})


def read_population_dynamics(data_dir, *, missing_ok: bool = False) -> pd.DataFrame:
    """Births, deaths, migration and 1 January population per region and year (CBS 37259).

    Reads every English 'clean' 37259eng CSV in ``bevolkingsdynamiek_*/`` and, where that table has
    no row for a region and year, fills the 1 January population from StatLine UntypedDataSet
    downloads of 37259ned in ``cbs_*/`` (1960-2018).

    Returns
    -------
    pandas.DataFrame
        ``area, area_name, area_level, year, sex, population_jan1, births, deaths, immigration,
        emigration, in_moves, out_moves, administrative_corrections, net_migration,
        population_dec31, source_table`` (sex total/male/female). Flows refer to the calendar year.
    """
    data_dir = _require_dir(data_dir)
    frames = []
    for path in _find(data_dir, "bevolkingsdynamiek_*/*.csv"):
        raw = validation.read_csv(path, what="a CBS 37259eng table", dtype=str, keep_default_na=False)
        _require_columns(
            raw,
            ["Sex", "Regions", "Periods"],
            path.name,
            "expected the CBS 37259eng layout (Sex, Regions, Regions Label, Periods, PopulationOn1January_1, ...)",
        )
        rename = dict(_DYN_SUFFIXED)
        for column in raw.columns:
            base = re.sub(r"_\d+$", "", column)
            if base in _DYN_COLUMNS and column not in rename:
                rename[column] = _DYN_COLUMNS[base]
        frame = raw.rename(columns=rename)
        values = [v for v in dict.fromkeys(rename.values()) if v in frame]
        frame = _numeric(frame, values, path.name, counts=False)
        frame = _numeric(frame, [c for c in ("population_jan1", "births", "deaths", "population_dec31") if c in frame], path.name, counts=True)
        frame["area"] = frame["Regions"].str.strip()
        frame["area_name"] = frame.get("Regions Label", frame["area"]).str.strip()
        frame["sex"] = frame["Sex"].str.strip().map(_SEX_CODES)
        if frame["sex"].isna().any():
            bad = frame.loc[frame["sex"].isna(), "Sex"].iloc[0]
            raise DataFormatError(f"{path.name}: sex code {bad!r} unknown; expected T001038, 3000 or 4000")
        frame["year"] = _year_from_period(frame["Periods"], path.name)
        frame["source_table"] = "37259eng"
        frames.append((path, frame[["area", "area_name", "year", "sex", "source_table", *values]]))
    clean = _combine_files(frames, ["area", "year", "sex"], "population dynamics (37259eng)")

    older = []
    for path in _find(data_dir, "cbs_*/37259ned_UntypedDataSet_*.csv"):
        older.append(read_statline_untyped(path))
    if older:
        old = pd.concat(older, ignore_index=True)
        old = old[["area", "year", "sex", "population_jan1"]].dropna(subset=["population_jan1"])
        old["source_table"] = "37259ned"
        if not clean.empty:
            names = clean[["area", "area_name"]].drop_duplicates("area")
            have = pd.MultiIndex.from_frame(clean[["area", "year", "sex"]])
            old = old[~pd.MultiIndex.from_frame(old[["area", "year", "sex"]]).isin(have)]
            old = old.merge(names, on="area", how="left")
        else:
            old["area_name"] = None
        old["area_name"] = old["area_name"].fillna(old["area"])
        clean = pd.concat([clean, old], ignore_index=True)
    if clean.empty:
        if missing_ok:
            return pd.DataFrame(columns=["area", "area_name", "area_level", "year", "sex", "population_jan1"])
        raise MissingDataError(
            f"no population dynamics (bevolkingsdynamiek_*/*.csv, CBS 37259eng) in {data_dir}; download 37259eng"
        )
    clean["area_level"] = _area_level(clean["area"])
    first = ["area", "area_name", "area_level", "year", "sex"]
    rest = [c for c in clean.columns if c not in first]
    return clean[first + rest].sort_values(first[:1] + ["year", "sex"]).reset_index(drop=True)


def read_statline_untyped(path) -> pd.DataFrame:
    """A StatLine 'UntypedDataSet' CSV (``;``-separated, quoted, padded) as a tidy table.

    Known value columns (37259ned population on 1 January; 70072ned Regionale kerncijfers:
    population, births, deaths, moves, migration, households, dwelling stock) get English names;
    the other columns keep their CBS name. '.' (unknown) becomes NaN.

    Returns
    -------
    pandas.DataFrame
        ``area, area_level, year, sex`` (sex 'total' when the table has no Geslacht dimension)
        and the value columns.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingDataError(f"file {str(path)!r} not found")
    raw = validation.read_csv(path, what="a StatLine UntypedDataSet", sep=";", dtype=str, keep_default_na=False)
    _require_columns(raw, ["RegioS", "Perioden"], path.name, "expected a StatLine UntypedDataSet with RegioS and Perioden")
    rename, seen = {}, set()
    for column in raw.columns:
        base = re.sub(r"_\d+$", "", column)
        target = _STATLINE_COLUMNS.get(base)
        if target and target not in seen:
            rename[column] = target
            seen.add(target)
    frame = raw.rename(columns=rename)
    value_cols = [c for c in frame.columns if c not in ("ID", "RegioS", "Perioden", "Geslacht")]
    # named values must be numbers; other columns are converted when they are all numbers and
    # kept as text otherwise (70072ned carries region codes and names such as Code_287, Naam_288)
    frame = _numeric(frame, [c for c in value_cols if c in seen], path.name, counts=False)
    for column in (c for c in value_cols if c not in seen):
        text = frame[column].str.strip()
        numbers = pd.to_numeric(text.mask(text.isin(["", "."])), errors="coerce")
        frame[column] = numbers if numbers.notna().sum() == text.mask(text.isin(["", "."])).notna().sum() else text
    frame = frame.copy()  # one block per dtype again after the column-by-column conversion
    frame["area"] = frame["RegioS"].str.strip()
    frame["area_level"] = _area_level(frame["area"])
    frame["year"] = _year_from_period(frame["Perioden"], path.name)
    if "Geslacht" in frame:
        frame["sex"] = frame["Geslacht"].str.strip().map(_SEX_CODES)
    else:
        frame["sex"] = "total"
    first = ["area", "area_level", "year", "sex"]
    return frame[first + value_cols].reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# UN World Population Prospects 2024
# --------------------------------------------------------------------------------------------


def _wpp_file(data_dir: Path, name: str) -> Path:
    for pattern in (f"un_wpp*/{name}.txt", f"un_wpp*/*_{name}_extract.csv"):
        found = sorted(Path(data_dir).glob(pattern))
        if found:
            return found[0]
    raise MissingDataError(
        f"UN WPP file {name}.txt not found under {data_dir}/un_wpp*/; download it from the wpp2024 data "
        "(UN World Population Prospects 2024)"
    )


def _read_wpp(data_dir, name: str, country_code: int) -> pd.DataFrame:
    data_dir = _require_dir(data_dir)
    path = _wpp_file(data_dir, name)
    sep = "\t" if path.suffix == ".txt" else ","
    raw = validation.read_csv(path, what="a UN WPP 2024 table", sep=sep, dtype={"age": str})
    _require_columns(raw, ["country_code"], path.name, "expected a WPP 2024 table with country_code, country, ...")
    rows = raw[raw["country_code"] == country_code]
    if rows.empty:
        raise UnknownAreaError(
            f"country code {country_code} not in {path.name}; use a UN M49 code such as 528 (Netherlands)"
        )
    return rows.drop(columns=[c for c in ("last.observed",) if c in rows])


def read_wpp_mx(data_dir, *, country_code: int = 528) -> pd.DataFrame:
    """UN WPP 2024 central death rates m(x) by sex, 5-year age group and 5-year period.

    Returns
    -------
    pandas.DataFrame
        ``country_code, sex, age_lo, age_hi, period_start, period_end, mx`` [deaths per person-year];
        age groups 0, 1-4, 5-9, ..., 95-99, 100+ (``age_hi`` <NA>); periods [start, end) such as
        2015-2020, estimates to 2020-2025 then the medium variant.
    """
    out = []
    for sex, name in (("male", "mxM5"), ("female", "mxF5")):
        rows = _read_wpp(data_dir, name, country_code)
        periods = [c for c in rows.columns if re.fullmatch(r"\d{4}-\d{4}", str(c))]
        long = rows.melt(id_vars=["country_code", "age"], value_vars=periods, var_name="period", value_name="mx")
        long["sex"] = sex
        out.append(long)
    long = pd.concat(out, ignore_index=True)
    ages = long["age"].astype(str).str.strip()
    lo = pd.to_numeric(ages.str.extract(r"^(\d+)", expand=False)).astype("int64")
    long["age_lo"] = lo
    starts = np.sort(lo.unique())
    nxt = {a: (starts[i + 1] if i + 1 < len(starts) else None) for i, a in enumerate(starts)}
    long["age_hi"] = pd.array([None if a.endswith("+") else nxt[v] for a, v in zip(ages, lo)], dtype="Int64")
    long["period_start"] = long["period"].str[:4].astype("int64")
    long["period_end"] = long["period"].str[5:9].astype("int64")
    long = _numeric(long, ["mx"], "WPP mx", counts=True)
    cols = ["country_code", "sex", "age_lo", "age_hi", "period_start", "period_end", "mx"]
    return long[cols].sort_values(["sex", "period_start", "age_lo"]).reset_index(drop=True)


def _wpp_annual(data_dir, name: str, value: str, country_code: int) -> pd.DataFrame:
    rows = _read_wpp(data_dir, name, country_code)
    years = [c for c in rows.columns if re.fullmatch(r"\d{4}", str(c))]
    long = rows.melt(id_vars=["country_code"], value_vars=years, var_name="year", value_name=value)
    long["year"] = long["year"].astype("int64")
    return _numeric(long, [value], name, counts=True).dropna(subset=[value])


def read_wpp_tfr(data_dir, *, country_code: int = 528) -> pd.DataFrame:
    """Total fertility rate: WPP 2024 estimates (to 2023) and medium projection (2024-).

    Returns
    -------
    pandas.DataFrame
        ``country_code, year, tfr, variant`` with variant 'estimate' or 'medium' [children per woman].
    """
    est = _wpp_annual(data_dir, "tfr", "tfr", country_code).assign(variant="estimate")
    med = _wpp_annual(data_dir, "tfrprojMed", "tfr", country_code).assign(variant="medium")
    med = med[~med["year"].isin(est["year"])]
    return pd.concat([est, med], ignore_index=True).sort_values("year").reset_index(drop=True)


def read_wpp_asfr(data_dir, *, country_code: int = 528) -> pd.DataFrame:
    """Percentage distribution of fertility by 5-year age group of the mother (WPP percentASFR).

    Returns
    -------
    pandas.DataFrame
        ``country_code, year, age_lo, age_hi, percent`` [% of TFR]; ASFR(a) = TFR x percent / 100 / 5.
    """
    rows = _read_wpp(data_dir, "percentASFR5", country_code)
    years = [c for c in rows.columns if re.fullmatch(r"\d{4}", str(c))]
    long = rows.melt(id_vars=["country_code", "age"], value_vars=years, var_name="year", value_name="percent")
    long["year"] = long["year"].astype("int64")
    long = _age_columns(long, long["age"].astype(str))
    long = _numeric(long, ["percent"], "WPP percentASFR5", counts=True).dropna(subset=["percent"])
    return long[["country_code", "year", "age_lo", "age_hi", "percent"]].reset_index(drop=True)


def read_wpp_e0(data_dir, *, country_code: int = 528) -> pd.DataFrame:
    """Life expectancy at birth by sex: WPP 2024 estimates and medium projection.

    Returns
    -------
    pandas.DataFrame
        ``country_code, sex, year, e0, variant`` [years].
    """
    frames = []
    for sex, est, proj in (("male", "e0M", "e0Mproj"), ("female", "e0F", "e0Fproj")):
        a = _wpp_annual(data_dir, est, "e0", country_code).assign(sex=sex, variant="estimate")
        b = _wpp_annual(data_dir, proj, "e0", country_code).assign(sex=sex, variant="medium")
        frames += [a, b[~b["year"].isin(a["year"])]]
    out = pd.concat(frames, ignore_index=True)
    return out[["country_code", "sex", "year", "e0", "variant"]].sort_values(["sex", "year"]).reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# which files a data folder contributes (for provenance checksums)
# --------------------------------------------------------------------------------------------

#: WPP 2024 tables the readers above use
_WPP_NAMES = ("mxM5", "mxF5", "tfr", "tfrprojMed", "percentASFR5", "e0M", "e0F", "e0Mproj", "e0Fproj")


def input_files(data_dir) -> list[Path]:
    """The files of a raw data folder that the readers of this module read, sorted.

    Mirrors the file patterns of :func:`read_kwb`, :func:`read_kwb_codes`,
    :func:`read_postcode_population`, :func:`read_population_dynamics` and the WPP readers, so
    a run's provenance can checksum exactly its inputs. Missing tables are left out (the readers
    report them).
    """
    data_dir = _require_dir(data_dir)
    found: set[Path] = set()
    for pattern in ("kwb/kwb_*.csv", "kwb_*codes*/kwb_*.json", "pc4_*/population_by_postcode*.csv",
                    "pc4_*/postcodes*.csv", "bevolkingsdynamiek_*/*.csv", "cbs_*/37259ned_UntypedDataSet_*.csv"):
        found.update(_find(data_dir, pattern))
    for name in _WPP_NAMES:
        try:
            found.add(_wpp_file(data_dir, name))
        except MissingDataError:
            pass
    return sorted(found)


def buurt_sets(kwb: pd.DataFrame, year: int) -> dict:
    """Wijk area -> frozenset of its buurt names (slugged) in ``year`` (from the KWB buurt rows).

    Two years' sets show whether a wijk kept its boundaries (:func:`same_buurten`).
    """
    rows = kwb[(kwb["year"] == year) & (kwb["area_level"] == "buurt")]
    return rows.groupby("wijk")["area_name"].agg(lambda s: frozenset(map(slug, s))).to_dict()


def same_buurten(a: frozenset, b: frozenset) -> bool:
    """Same buurten, allowing a corrected spelling (name similarity >= 0.8) but not a buurt more or less."""
    if a == b:
        return True
    if len(a) != len(b):
        return False
    from difflib import SequenceMatcher

    only_a, only_b = sorted(a - b), sorted(b - a)
    for name in only_a:
        best = max(only_b, key=lambda other: SequenceMatcher(None, name, other).ratio(), default=None)
        if best is None or SequenceMatcher(None, name, best).ratio() < 0.8:
            return False
        only_b.remove(best)
    return True
