"""CBS Kerncijfers wijken en buurten (KWB): population, age bands, households and dwellings per area.

Reads ``kwb/kwb_<year>_*.csv`` (cbsodata tables as CSV), the codes files
``kwb_*codes*/kwb_<year>_*.json`` (region code -> values) and the 2024 dwelling stock
``kwb_*woningvoorraad*/woningvoorraad_<year>.csv``; matches wijken across years by their
buurten (:func:`buurt_sets`, :func:`same_buurten`).

Bron: CBS (CC BY 4.0).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from difflib import SequenceMatcher
from pathlib import Path

import numpy as np
import pandas as pd

from assen_demand.datamodel import KWB_BAND_LABELS, KWB_BANDS
from assen_demand.errors import DataFormatError, MissingDataError, UnknownAreaError
from assen_demand.inputs import validation
from assen_demand.inputs.dynamics import gemeente_lookup
from assen_demand.inputs.parsing import (
    DataWarning,
    GemeenteLookup,
    find_files,
    numeric_columns,
    require_columns,
    require_dir,
    slug,
)

__all__ = [
    "kwb_years",
    "read_kwb",
    "kwb_age_bands",
    "read_kwb_codes",
    "read_dwelling_stock",
    "buurt_sets",
    "same_buurten",
]

_KWB_BAND_COLUMNS = ("age_0_15", "age_15_25", "age_25_45", "age_45_65", "age_65_plus")

_LEVELS = {"Land": "land", "Gemeente": "gemeente", "Wijk": "wijk", "Buurt": "buurt"}


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
    data_dir = require_dir(data_dir)
    years = set()
    for path in find_files(data_dir, "kwb/kwb_*.csv"):
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
    frame = numeric_columns(frame, value_cols, path.name, counts=False)
    frame = numeric_columns(frame, [c for c in value_cols if c in _KWB_COUNTS], path.name, counts=True)
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
    data_dir = require_dir(data_dir)
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
        files = find_files(data_dir, f"kwb/kwb_{year}_*.csv")
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
    require_columns(kwb, _KWB_BAND_COLUMNS, "KWB table", "pass the output of read_kwb")
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
    data_dir = require_dir(data_dir)
    files = find_files(data_dir, "kwb_*codes*/kwb_*.json")
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
        frame = numeric_columns(frame, [c for c in frame.columns if c != "area"], path.name, counts=True)
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
    data_dir = require_dir(data_dir)
    files = find_files(data_dir, "kwb_*woningvoorraad*/woningvoorraad_*.csv")
    if not files:
        raise MissingDataError(f"no dwelling stock file (kwb_*woningvoorraad*/woningvoorraad_<year>.csv) in {data_dir}")
    frames = []
    for path in files:
        m = re.search(r"woningvoorraad_(\d{4})", path.name)
        frame = pd.read_csv(path, dtype={"code": str})
        if set(frame.columns) != {"code", "woningvoorraad"}:
            raise DataFormatError(f"{path.name}: expected the columns code, woningvoorraad; found {list(frame.columns)}")
        frame = numeric_columns(frame.rename(columns={"code": "area", "woningvoorraad": "dwelling_stock"}),
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
    only_a, only_b = sorted(a - b), sorted(b - a)
    for name in only_a:
        best = max(only_b, key=lambda other: SequenceMatcher(None, name, other).ratio(), default=None)
        if best is None or SequenceMatcher(None, name, best).ratio() < 0.8:
            return False
        only_b.remove(best)
    return True
