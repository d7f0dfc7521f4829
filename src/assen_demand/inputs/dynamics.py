"""CBS population dynamics: births, deaths, migration and population per region and year (table 37259).

Reads the English clean CSV of 37259eng (``bevolkingsdynamiek_*/*.csv``) and StatLine
UntypedDataSet downloads (``cbs_*/<table>_UntypedDataSet_*.csv``: 37259ned for older years,
70072ned Regionale kerncijfers), and builds the gemeente name -> code lookup from them.

Bron: CBS (CC BY 4.0).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from assen_demand.errors import DataFormatError, MissingDataError
from assen_demand.inputs import validation
from assen_demand.inputs.parsing import (
    GemeenteLookup,
    combine_files,
    extra_gemeente_codes,
    find_files,
    numeric_columns,
    require_columns,
    require_dir,
    year_from_period,
)

__all__ = ["read_population_dynamics", "read_statline_untyped", "gemeente_lookup"]

_SEX_CODES = {"T001038": "total", "3000": "male", "4000": "female"}

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
    data_dir = require_dir(data_dir)
    frames = []
    for path in find_files(data_dir, "bevolkingsdynamiek_*/*.csv"):
        raw = validation.read_csv(path, what="a CBS 37259eng table", dtype=str, keep_default_na=False)
        require_columns(
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
        frame = numeric_columns(frame, values, path.name, counts=False)
        frame = numeric_columns(frame, [c for c in ("population_jan1", "births", "deaths", "population_dec31") if c in frame], path.name, counts=True)
        frame["area"] = frame["Regions"].str.strip()
        frame["area_name"] = frame.get("Regions Label", frame["area"]).str.strip()
        frame["sex"] = frame["Sex"].str.strip().map(_SEX_CODES)
        if frame["sex"].isna().any():
            bad = frame.loc[frame["sex"].isna(), "Sex"].iloc[0]
            raise DataFormatError(f"{path.name}: sex code {bad!r} unknown; expected T001038, 3000 or 4000")
        frame["year"] = year_from_period(frame["Periods"], path.name)
        frame["source_table"] = "37259eng"
        frames.append((path, frame[["area", "area_name", "year", "sex", "source_table", *values]]))
    clean = combine_files(frames, ["area", "year", "sex"], "population dynamics (37259eng)")

    older = []
    for path in find_files(data_dir, "cbs_*/37259ned_UntypedDataSet_*.csv"):
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
    require_columns(raw, ["RegioS", "Perioden"], path.name, "expected a StatLine UntypedDataSet with RegioS and Perioden")
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
    frame = numeric_columns(frame, [c for c in value_cols if c in seen], path.name, counts=False)
    for column in (c for c in value_cols if c not in seen):
        text = frame[column].str.strip()
        numbers = pd.to_numeric(text.mask(text.isin(["", "."])), errors="coerce")
        frame[column] = numbers if numbers.notna().sum() == text.mask(text.isin(["", "."])).notna().sum() else text
    frame = frame.copy()  # one block per dtype again after the column-by-column conversion
    frame["area"] = frame["RegioS"].str.strip()
    frame["area_level"] = _area_level(frame["area"])
    frame["year"] = year_from_period(frame["Perioden"], path.name)
    if "Geslacht" in frame:
        frame["sex"] = frame["Geslacht"].str.strip().map(_SEX_CODES)
    else:
        frame["sex"] = "total"
    first = ["area", "area_level", "year", "sex"]
    return frame[first + value_cols].reset_index(drop=True)


def gemeente_lookup(data_dir) -> GemeenteLookup:
    """Gemeente name -> code lookup from the dynamics tables in ``data_dir`` and the package's extra table."""
    data_dir = require_dir(data_dir)
    frames = []
    dyn = read_population_dynamics(data_dir, missing_ok=True)
    if not dyn.empty:
        total = dyn[(dyn["sex"] == "total") & (dyn["area_level"] == "gemeente")]
        frames.append(total.rename(columns={"population_jan1": "population"}))
    frames.append(extra_gemeente_codes())
    return GemeenteLookup.from_frames(*frames)
