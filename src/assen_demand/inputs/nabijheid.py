"""What is nearby: CBS distances to facilities per wijk, and a gemeente's own list of meeting places.

Two inputs for :mod:`assen_demand.housing.facilities`:

* **Distances** (CBS *nabijheid*): the mean road distance from the residents of an area to the
  nearest facility of a kind [km]. The KWB (Kerncijfers wijken en buurten) carries only the
  huisarts and grote-supermarkt distances (and two school columns); apotheek, bibliotheek,
  treinstation and huisartsenpost are only in the separate tables *Nabijheid voorzieningen;
  afstand locatie, wijk- en buurtcijfers <year>*. :func:`fetch_nabijheid` fetches them with
  ``cbsodata`` (optional extra ``pip install 'assen_demand[cbs]'``) for any year and gemeente;
  :func:`nearby_distances` combines what is there and reports every missing distance as
  unknown (NaN with the exact command that fetches it), never as zero.
* **Meeting places and support points** the gemeente knows of: a CSV
  ``name, kind, area, capacity`` (template: ``assen_demand/data/facilities/voorzieningen_template.csv``)
  read and checked by :func:`read_facility_list`.

Column keys of the CBS tables carry a numeric suffix that moves between years
(``AfstandTotGroteSupermarkt_113`` in KWB 2023, ``_118`` in 2024), so columns are found by
their key without the suffix, never by a hard-coded suffix.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from importlib.resources import files
from os import PathLike

import numpy as np
import pandas as pd

from assen_demand.errors import DataFormatError, InvalidValueError, MissingDataError, UnknownAreaError

__all__ = [
    "FACILITIES",
    "FACILITY_LABELS",
    "NABIJHEID_TABLES",
    "FACILITY_KINDS",
    "LIST_COLUMNS",
    "fetch_command",
    "fetch_nabijheid",
    "read_distances",
    "distances_from_kwb",
    "nearby_distances",
    "template_path",
    "read_facility_list",
]

#: facility -> CBS column key without its numeric suffix (KWB and nabijheid tables use the same keys)
FACILITIES = {
    "gp_practice": "AfstandTotHuisartsenpraktijk",
    "large_supermarket": "AfstandTotGroteSupermarkt",
    "pharmacy": "AfstandTotApotheek",
    "library": "AfstandTotBibliotheek",
    "train_station": "AfstandTotTreinstationsTotaal",
    "gp_post": "AfstandTotHuisartsenpost",
}
#: Dutch names of the facilities (planner-facing)
FACILITY_LABELS = {
    "gp_practice": "huisartsenpraktijk",
    "large_supermarket": "grote supermarkt",
    "pharmacy": "apotheek",
    "library": "bibliotheek",
    "train_station": "treinstation",
    "gp_post": "huisartsenpost",
}
#: KWB column name in :func:`assen_demand.inputs.kwb.read_kwb` output -> facility
_KWB_DISTANCE_COLUMNS = {
    "distance_gp_practice_km": "gp_practice",
    "distance_large_supermarket_km": "large_supermarket",
}
#: CBS table "Nabijheid voorzieningen; afstand locatie, wijk- en buurtcijfers <year>" by year.
#: 2020-2023 read on the cbs.nl table pages; 2024 and 2025 seen only in third-party code (check
#: with ``cbsodata.get_table_list()`` and pass ``table=`` if CBS renumbered them).
NABIJHEID_TABLES = {
    2020: "84953NED",
    2021: "85231NED",
    2022: "85560NED",
    2023: "85830NED",
    2024: "86134NED",
    2025: "86270NED",
}
#: Kinds of place in a gemeente's list; every kind counts as one meeting place / support point.
FACILITY_KINDS = ("ontmoetingsplek", "steunpunt", "wijkcentrum")
LIST_COLUMNS = ("name", "kind", "area", "capacity")
_AREA_CODE = re.compile(r"^(GM\d{4}|WK\d{6}|BU\d{8})$")


def _base_key(key: str) -> str:
    return re.sub(r"_\d+$", "", str(key))


# --------------------------------------------------------------------------------------------
# fetching with cbsodata
# --------------------------------------------------------------------------------------------


def _table_for(year: int, table: str | None) -> str:
    if table is not None:
        return table
    if int(year) not in NABIJHEID_TABLES:
        known = ", ".join(str(y) for y in NABIJHEID_TABLES)
        raise MissingDataError(
            f"no CBS nabijheid table id known for {year} (known: {known}); find it with "
            "cbsodata.get_table_list() (title 'Nabijheid voorzieningen; afstand locatie, wijk- en buurtcijfers') "
            "and pass table='<id>'"
        )
    return NABIJHEID_TABLES[int(year)]


def _gemeente_number(gemeente: str) -> str:
    code = str(gemeente).strip().upper()
    if not re.fullmatch(r"GM\d{4}", code):
        raise UnknownAreaError(f"gemeente {gemeente!r} is not a CBS gemeente code; give it as GM0106 (Assen)")
    return code[2:]


def _odata_filter(gemeente: str) -> str:
    digits = _gemeente_number(gemeente)
    return " or ".join(f"startswith(WijkenEnBuurten,'{p}{digits}')" for p in ("GM", "WK", "BU"))


def fetch_command(gemeente: str, year: int, *, table: str | None = None) -> str:
    """The exact command that fetches the nabijheid distances of a gemeente and year.

    Parameters
    ----------
    gemeente : str
        CBS gemeente code, e.g. ``"GM0106"``.
    year : int [year]
        Year of the nabijheid table.
    table : str, optional
        CBS table id; default from :data:`NABIJHEID_TABLES`.

    Returns
    -------
    str
        A shell command (``python -c ...``) that calls :func:`fetch_nabijheid` and writes
        ``nabijheid_<gemeente>_<year>.csv``, readable by :func:`read_distances`.

    Examples
    --------
    >>> print(fetch_command("GM0106", 2023))  # doctest: +NORMALIZE_WHITESPACE
    python -c "from assen_demand.inputs.nabijheid import fetch_nabijheid;
    fetch_nabijheid('GM0106', 2023).to_csv('nabijheid_GM0106_2023.csv', index=False)"
    """
    _gemeente_number(gemeente)
    if table is not None and not re.fullmatch(r"\d{5}[A-Z]{3}", str(table)):
        raise DataFormatError(f"table {table!r} is not a CBS table id such as '85830NED'")
    table_arg = "" if table is None else f", table='{table}'"
    return (f'python -c "from assen_demand.inputs.nabijheid import fetch_nabijheid; '
            f"fetch_nabijheid('{gemeente}', {int(year)}{table_arg})"
            f".to_csv('nabijheid_{gemeente}_{int(year)}.csv', index=False)\"")


def fetch_nabijheid(gemeente: str, year: int, *, table: str | None = None, facilities: Iterable[str] | None = None,
                    client=None) -> pd.DataFrame:
    """Fetch the distances to facilities for a gemeente, its wijken and buurten from CBS.

    Columns are found in the table's ``DataProperties`` by key without the numeric suffix
    (:data:`FACILITIES`), so the same code works for every year.

    Parameters
    ----------
    gemeente : str
        CBS gemeente code, e.g. ``"GM0106"``.
    year : int [year]
        Reference year; picks the table from :data:`NABIJHEID_TABLES` unless ``table`` is given.
    table : str, optional, keyword-only
        CBS table id, e.g. ``"85830NED"`` (nabijheid 2023) or a KWB table such as
        ``"85984NED"`` (which has the huisarts and supermarket columns only).
    facilities : iterable of str, optional, keyword-only
        Keys of :data:`FACILITIES`; default all.
    client : module-like, optional, keyword-only
        Anything with ``get_meta(table, name)`` and ``get_data(table, filters=..., select=...)``
        like the ``cbsodata`` module (the default); tests pass a recorded response.

    Returns
    -------
    pandas.DataFrame
        ``area, year, facility, distance_km, cbs_table`` [km]; one row per area and facility
        the table has. A facility the table lacks has no rows (reported as unknown later by
        :func:`nearby_distances`); a value CBS left empty is NaN.

    Raises
    ------
    MissingDataError
        ``cbsodata`` is not installed, or no table id is known for the year.
    DataFormatError
        The table has none of the distance columns or no ``WijkenEnBuurten`` key.
    """
    table = _table_for(year, table)
    wanted = list(FACILITIES) if facilities is None else list(facilities)
    unknown = sorted(set(wanted) - set(FACILITIES))
    if unknown:
        raise DataFormatError(f"unknown facility {unknown}; choose from {', '.join(FACILITIES)}")
    if client is None:
        try:
            import cbsodata as client  # noqa: PLC0415 - optional extra
        except ImportError:
            raise MissingDataError(
                "fetching CBS nabijheid data needs cbsodata: pip install 'assen_demand[cbs]'"
            ) from None
    properties = pd.DataFrame(client.get_meta(table, "DataProperties"))
    if "Key" not in properties:
        raise DataFormatError(f"CBS table {table}: DataProperties without 'Key'; is {table} a CBS OData table?")
    by_base = {}
    for key in properties["Key"].dropna().astype(str):
        by_base.setdefault(_base_key(key), key)
    found = {f: by_base[FACILITIES[f]] for f in wanted if FACILITIES[f] in by_base}
    if not found:
        raise DataFormatError(
            f"CBS table {table} has none of the distance columns {', '.join(FACILITIES[f] for f in wanted)}; "
            "give a 'Nabijheid voorzieningen' or KWB table id"
        )
    rows = pd.DataFrame(client.get_data(table, filters=_odata_filter(gemeente),
                                        select=["WijkenEnBuurten", *found.values()]))
    if "WijkenEnBuurten" not in rows:
        raise DataFormatError(f"CBS table {table}: response has no WijkenEnBuurten column")
    rows["area"] = rows["WijkenEnBuurten"].astype(str).str.strip()
    digits = _gemeente_number(gemeente)
    rows = rows[rows["area"].str.match(rf"^(GM{digits}|WK{digits}\d\d|BU{digits}\d{{4}})$")]
    out = rows.melt(id_vars=["area"], value_vars=list(found.values()), var_name="key", value_name="distance_km")
    out["facility"] = out["key"].map({v: k for k, v in found.items()})
    out["distance_km"] = pd.to_numeric(out["distance_km"], errors="coerce")
    out["year"] = int(year)
    out["cbs_table"] = table
    return out[["area", "year", "facility", "distance_km", "cbs_table"]].reset_index(drop=True)


def read_distances(source) -> pd.DataFrame:
    """Read a distances table written from :func:`fetch_nabijheid` (CSV or DataFrame).

    Parameters
    ----------
    source : path or pandas.DataFrame
        Columns ``area, year, facility, distance_km[, cbs_table]``.

    Returns
    -------
    pandas.DataFrame
        ``area, year, facility, distance_km, cbs_table`` [km].

    Raises
    ------
    DataFormatError
        Missing columns, unknown facility, a non-numeric or negative distance.
    """
    name = "distances table" if isinstance(source, pd.DataFrame) else str(source)
    frame = source.copy() if isinstance(source, pd.DataFrame) else pd.read_csv(source, dtype={"area": str})
    missing = [c for c in ("area", "year", "facility", "distance_km") if c not in frame]
    if missing:
        raise DataFormatError(f"{name}: missing column(s) {missing}; write it with fetch_nabijheid(...).to_csv(...)")
    bad = ~frame["facility"].isin(list(FACILITIES))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataFormatError(f"{name}, line {i + 2}: facility {frame['facility'].iloc[i]!r} is unknown; "
                              f"use one of {', '.join(FACILITIES)}")
    dist = pd.to_numeric(frame["distance_km"], errors="coerce")
    bad = (dist.isna() & frame["distance_km"].notna()) | (dist < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataFormatError(f"{name}, line {i + 2}: distance_km {frame['distance_km'].iloc[i]!r} is not a "
                              "distance >= 0 in km; leave it empty when unknown")
    frame["distance_km"] = dist
    frame["year"] = frame["year"].astype(int)
    if "cbs_table" not in frame:
        frame["cbs_table"] = ""
    return frame[["area", "year", "facility", "distance_km", "cbs_table"]].reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# combining what is there
# --------------------------------------------------------------------------------------------


def distances_from_kwb(kwb: pd.DataFrame) -> pd.DataFrame:
    """The distance columns a KWB table carries, as a tidy table.

    Parameters
    ----------
    kwb : pandas.DataFrame
        Output of :func:`assen_demand.inputs.kwb.read_kwb` (or ``GemeenteData.kwb``).

    Returns
    -------
    pandas.DataFrame
        ``area, year, facility, distance_km, cbs_table`` [km]; only the facilities whose column
        is present (``distance_large_supermarket_km``, ``distance_gp_practice_km``).
    """
    present = [c for c in _KWB_DISTANCE_COLUMNS if c in kwb.columns]
    if not present:
        return pd.DataFrame(columns=["area", "year", "facility", "distance_km", "cbs_table"])
    table = kwb["cbs_table"] if "cbs_table" in kwb else ""
    frame = kwb.assign(cbs_table=table)[["area", "year", "cbs_table", *present]]
    long = frame.melt(id_vars=["area", "year", "cbs_table"], value_vars=present, var_name="column",
                      value_name="distance_km")
    long["facility"] = long["column"].map(_KWB_DISTANCE_COLUMNS)
    long["distance_km"] = pd.to_numeric(long["distance_km"], errors="coerce")
    return long[["area", "year", "facility", "distance_km", "cbs_table"]].reset_index(drop=True)


def nearby_distances(kwb: pd.DataFrame, *, areas: Iterable[str], year: int, gemeente: str,
                     fetched: pd.DataFrame | None = None,
                     facilities: Iterable[str] = ("gp_practice", "large_supermarket", "pharmacy")) -> pd.DataFrame:
    """Distance per area and facility: the latest CBS value up to ``year``, or unknown.

    For each area and facility the most recent year ``<= year`` with a value is used, from the
    KWB or from a fetched nabijheid table (the fetched one wins a tie: it is the fuller table).
    The KWB 2024 supermarket column is empty for every Drenthe row, so Assen's 2024 run uses
    2023; ``data_year`` says so.

    Parameters
    ----------
    kwb : pandas.DataFrame
        ``GemeenteData.kwb`` (any years).
    areas : iterable of str, keyword-only
        Area codes wanted (gemeente and wijken).
    year : int, keyword-only [year]
        Latest data year to use (the forecast base year).
    gemeente : str, keyword-only
        CBS gemeente code, for the fetch command in the messages.
    fetched : pandas.DataFrame, optional, keyword-only
        :func:`fetch_nabijheid` / :func:`read_distances` output.
    facilities : iterable of str, keyword-only
        Keys of :data:`FACILITIES`.

    Returns
    -------
    pandas.DataFrame
        One row per area and facility: ``area, facility, distance_km`` [km], ``data_year``,
        ``cbs_table``, ``status`` (``bekend`` or ``onbekend``) and ``message`` (Dutch; for an
        unknown distance the command that fetches it). Unknown is NaN, never 0.
    """
    areas = [str(a) for a in areas]
    facilities = list(facilities)
    sources = [distances_from_kwb(kwb).assign(priority=0)]
    if fetched is not None:
        sources.append(read_distances(fetched).assign(priority=1))
    pool = pd.concat(sources, ignore_index=True)
    pool = pool[pool["distance_km"].notna() & (pool["year"] <= int(year)) & pool["area"].isin(areas)]
    pool = pool.sort_values(["year", "priority"]).drop_duplicates(["area", "facility"], keep="last")
    pool = pool.set_index(["area", "facility"])
    rows = []
    for area in areas:
        for facility in facilities:
            label = FACILITY_LABELS[facility]
            if (area, facility) in pool.index:
                hit = pool.loc[(area, facility)]
                data_year = int(hit["year"])
                note = "" if data_year == int(year) else f"laatst beschikbare jaar {data_year} gebruikt"
                rows.append((area, facility, float(hit["distance_km"]), data_year, hit["cbs_table"], "bekend", note))
            else:
                fetch_year = max(y for y in NABIJHEID_TABLES if y <= max(int(year), min(NABIJHEID_TABLES)))
                message = (f"afstand tot {label} onbekend (niet in de CBS-gegevens t/m {year}); ophalen met: "
                           f"{fetch_command(gemeente, fetch_year)}")
                rows.append((area, facility, np.nan, pd.NA, "", "onbekend", message))
    out = pd.DataFrame(rows, columns=["area", "facility", "distance_km", "data_year", "cbs_table", "status", "message"])
    out["data_year"] = out["data_year"].astype("Int64")
    return out


# --------------------------------------------------------------------------------------------
# the gemeente's own list of meeting places and support points
# --------------------------------------------------------------------------------------------


def template_path():
    """Path of the bundled template ``voorzieningen_template.csv`` (columns of :data:`LIST_COLUMNS`)."""
    return files("assen_demand").joinpath("data", "facilities", "voorzieningen_template.csv")


def read_facility_list(source: str | PathLike | pd.DataFrame, *, wijken: Iterable[str],
                       area_names: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Read and check a gemeente's list of meeting places and support points.

    Parameters
    ----------
    source : path or pandas.DataFrame
        CSV (UTF-8) with the columns ``name, kind, area, capacity`` and any extra columns
        (kept). ``kind`` is one of :data:`FACILITY_KINDS`; ``area`` is the CBS code of the
        wijk (``WK010600``) or buurt (``BU01060001``) it lies in; ``capacity`` is the number of
        visitors it can receive at once [persons], empty if not known.
    wijken : iterable of str, keyword-only
        The gemeente's wijk codes; a place in any other area is an error.
    area_names : mapping, optional, keyword-only
        Wijk code -> name, to accept a wijk name in ``area`` as well.

    Returns
    -------
    pandas.DataFrame
        ``name, kind, area, wijk, capacity`` (+ extra columns); ``wijk`` is the wijk code the
        place counts for; ``capacity`` float, NaN = unknown.

    Raises
    ------
    DataFormatError
        Missing column, empty file, empty name, unknown kind, a duplicate place.
    UnknownAreaError
        ``area`` is not a wijk or buurt of the gemeente.
    InvalidValueError
        ``capacity`` not a number, negative or fractional.
    """
    name = "facility list" if isinstance(source, pd.DataFrame) else str(source)
    if isinstance(source, pd.DataFrame):
        frame = source.copy()
    else:
        try:
            frame = pd.read_csv(source, dtype=str, keep_default_na=False, encoding="utf-8")
        except UnicodeDecodeError:
            raise DataFormatError(f"{name} is not UTF-8; save it from the spreadsheet as 'CSV UTF-8'") from None
        except pd.errors.EmptyDataError:
            raise DataFormatError(f"{name} is empty; start from {template_path()}") from None
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    missing = [c for c in LIST_COLUMNS if c not in frame.columns]
    if missing:
        raise DataFormatError(f"{name}: missing column(s) {missing}; the header must read "
                              f"{','.join(LIST_COLUMNS)} (see {template_path()})")
    if frame.empty:
        raise DataFormatError(f"{name} has no rows; list the meeting places and support points "
                              f"(one per line) or leave the list out (then 'present' is unknown)")
    wijken = [str(w) for w in wijken]
    by_name = {str(v).strip().lower(): k for k, v in (area_names or {}).items() if k in wijken}
    out = frame.copy()
    for col in ("name", "kind", "area"):
        out[col] = out[col].fillna("").astype(str).str.strip()
    wijk_of = []
    capacity = []
    for i, row in out.iterrows():
        line = f"{name}, line {i + 2}"
        if not row["name"]:
            raise DataFormatError(f"{line}: name is empty; give every place a name")
        if row["kind"].lower() not in FACILITY_KINDS:
            raise DataFormatError(f"{line} ({row['name']}): kind {row['kind']!r} is unknown; "
                                  f"use one of {', '.join(FACILITY_KINDS)}")
        area = row["area"]
        code = area.upper()
        if code.startswith("BU") and _AREA_CODE.match(code):
            wijk = "WK" + code[2:8]
        elif code.startswith("WK") and _AREA_CODE.match(code):
            wijk = code
        else:
            wijk = by_name.get(area.lower(), "")
        if wijk not in wijken:
            raise UnknownAreaError(
                f"{line} ({row['name']}): area {area!r} is not a wijk or buurt of this gemeente; "
                f"give a wijk code ({', '.join(wijken)}) or a buurt code BU<8 digits> inside one of them"
            )
        wijk_of.append(wijk)
        raw = row["capacity"]
        if raw is None or (isinstance(raw, float) and np.isnan(raw)) or str(raw).strip() == "":
            capacity.append(np.nan)
            continue
        try:
            value = float(str(raw).strip().replace(",", "."))
        except ValueError:
            raise InvalidValueError(f"{line} ({row['name']}): capacity {raw!r} is not a number; "
                                    "give the number of visitors it can receive at once, or leave it empty") from None
        if not np.isfinite(value) or value < 0 or value != int(value):
            raise InvalidValueError(f"{line} ({row['name']}): capacity {raw!r} must be a whole number >= 0 "
                                    "(visitors at once); leave it empty when unknown")
        capacity.append(value)
    out["kind"] = out["kind"].str.lower()
    out["wijk"] = wijk_of
    out["capacity"] = capacity
    dup = out.duplicated(["name", "wijk"], keep="first")
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise DataFormatError(f"{name}, line {i + 2}: {out['name'].iloc[i]!r} in {out['wijk'].iloc[i]} is listed "
                              "twice; keep one line per place")
    first = ["name", "kind", "area", "wijk", "capacity"]
    return out[first + [c for c in out.columns if c not in first]].reset_index(drop=True)
