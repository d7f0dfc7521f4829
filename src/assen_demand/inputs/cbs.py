"""Readers for CBS and UN WPP files: raw downloads in, tidy tables with standard names out.

This is the only module that knows CBS column names. Every reader takes a data directory laid
out like ``shared/data/raw`` (one sub-folder per file family, files found by pattern) and
returns a tidy :class:`pandas.DataFrame` with the standard columns of DESIGN.md:
``area, area_name, area_level, year, sex, age_lo, age_hi`` and value columns in snake_case
English. ``age_hi`` is the exclusive upper bound of an age band, ``<NA>`` for an open band.
``sex`` is ``"male"``, ``"female"`` or ``"total"``.

The readers live in one module per source: :mod:`~assen_demand.inputs.kwb` (KWB),
:mod:`~assen_demand.inputs.dynamics` (37259 and StatLine downloads), :mod:`~assen_demand.inputs.wpp`
(UN WPP), with the shared parsing in :mod:`~assen_demand.inputs.parsing`; this module reads the
postcode population, lists a folder's input files and re-exports every reader, so
``from assen_demand.inputs import cbs; cbs.read_kwb(...)`` works as before.

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
import warnings
from pathlib import Path

import pandas as pd

# KWB_BANDS and KWB_BAND_LABELS are re-exported (defined in datamodel)
from assen_demand.datamodel import KWB_BAND_LABELS, KWB_BANDS
from assen_demand.errors import DataFormatError, MissingDataError
from assen_demand.inputs import validation
from assen_demand.inputs.dynamics import gemeente_lookup, read_population_dynamics, read_statline_untyped
from assen_demand.inputs.kwb import (
    buurt_sets,
    kwb_age_bands,
    kwb_years,
    read_dwelling_stock,
    read_kwb,
    read_kwb_codes,
    same_buurten,
)
from assen_demand.inputs.parsing import (
    DataWarning,
    GemeenteLookup,
    age_columns,
    combine_files,
    find_files,
    numeric_columns,
    parse_age_label,
    require_columns,
    require_dir,
    slug,
)
from assen_demand.inputs.wpp import WPP_NAMES, read_wpp_asfr, read_wpp_e0, read_wpp_mx, read_wpp_tfr, wpp_file

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


# --------------------------------------------------------------------------------------------
# population by postcode, age band and sex (1 January 2021)
# --------------------------------------------------------------------------------------------



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
    data_dir = require_dir(data_dir)
    files = find_files(data_dir, "pc4_*/population_by_postcode*.csv")
    maps = find_files(data_dir, "pc4_*/postcodes*.csv")
    if not files:
        raise MissingDataError(f"no postcode population file (pc4_*/population_by_postcode*.csv) in {data_dir}")
    frames = []
    for path in files:
        raw = validation.read_csv(path, what="a CBS postcode population table (83502NED/83503NED)",
                                  dtype={"leeftijd": str})
        require_columns(
            raw,
            ["postcode", "leeftijd", "inwoners_man", "inwoners_vrouw"],
            path.name,
            "expected the CBS 83502NED/83503NED layout: postcode, leeftijd, inwoners, inwoners_man, inwoners_vrouw",
        )
        require_columns(raw, ["inwoners"], path.name, "the total column 'inwoners' is needed as well")
        raw = numeric_columns(raw, ["postcode", "inwoners", "inwoners_man", "inwoners_vrouw"], path.name, counts=True)
        # men or women above the total (beyond CBS's rounding to 5) would add persons to the base year
        # (PC4 rows only: the PC2/PC3 rows are sums of rounded cells, their differences add up)
        validation.check_parts_within_total(raw[raw["postcode"] >= 1000], ["inwoners_man", "inwoners_vrouw"],
                                            "inwoners", source=path.name,
                                            labels=["postcode", "leeftijd"])
        frames.append((path, raw))
    raw = combine_files(frames, ["postcode", "leeftijd"], "postcode population")
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
    long = age_columns(long, long["leeftijd"])
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
    require_columns(pc, ["postcode", "gemeente"], maps[0].name, "expected columns postcode, gemeente")
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
# which files a data folder contributes (for provenance checksums)
# --------------------------------------------------------------------------------------------

def input_files(data_dir) -> list[Path]:
    """The files of a raw data folder that the readers of this module read, sorted.

    Mirrors the file patterns of :func:`read_kwb`, :func:`read_kwb_codes`,
    :func:`read_postcode_population`, :func:`read_population_dynamics` and the WPP readers, so
    a run's provenance can checksum exactly its inputs. Missing tables are left out (the readers
    report them).
    """
    data_dir = require_dir(data_dir)
    found: set[Path] = set()
    for pattern in ("kwb/kwb_*.csv", "kwb_*codes*/kwb_*.json", "pc4_*/population_by_postcode*.csv",
                    "pc4_*/postcodes*.csv", "bevolkingsdynamiek_*/*.csv", "cbs_*/37259ned_UntypedDataSet_*.csv"):
        found.update(find_files(data_dir, pattern))
    for name in WPP_NAMES:
        try:
            found.add(wpp_file(data_dir, name))
        except MissingDataError:
            pass
    return sorted(found)
