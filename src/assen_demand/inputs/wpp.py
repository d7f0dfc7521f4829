"""UN World Population Prospects 2024: death rates, fertility and life expectancy of a country.

Reads the WPP 2024 text tables ``un_wpp*/mxM5.txt``, ``mxF5.txt``, ``tfr.txt``,
``tfrprojMed.txt``, ``percentASFR5.txt``, ``e0M.txt``, ``e0F.txt``, ``e0Mproj.txt`` and
``e0Fproj.txt`` (or their ``*_<name>_extract.csv`` subsets).

Bron: United Nations, DESA, Population Division, World Population Prospects 2024 (CC BY 3.0 IGO).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from assen_demand.errors import MissingDataError, UnknownAreaError
from assen_demand.inputs import validation
from assen_demand.inputs.parsing import age_columns, numeric_columns, require_columns, require_dir

__all__ = ["WPP_NAMES", "wpp_file", "read_wpp_mx", "read_wpp_tfr", "read_wpp_asfr", "read_wpp_e0"]

#: WPP 2024 tables the readers of this module use
WPP_NAMES = ("mxM5", "mxF5", "tfr", "tfrprojMed", "percentASFR5", "e0M", "e0F", "e0Mproj", "e0Fproj")


# --------------------------------------------------------------------------------------------
# UN World Population Prospects 2024
# --------------------------------------------------------------------------------------------


def wpp_file(data_dir: Path, name: str) -> Path:
    """The file of WPP table ``name`` (e.g. ``"mxM5"``) under ``data_dir``; MissingDataError if there is none."""
    for pattern in (f"un_wpp*/{name}.txt", f"un_wpp*/*_{name}_extract.csv"):
        found = sorted(Path(data_dir).glob(pattern))
        if found:
            return found[0]
    raise MissingDataError(
        f"UN WPP file {name}.txt not found under {data_dir}/un_wpp*/; download it from the wpp2024 data "
        "(UN World Population Prospects 2024)"
    )


def _read_wpp(data_dir, name: str, country_code: int) -> pd.DataFrame:
    data_dir = require_dir(data_dir)
    path = wpp_file(data_dir, name)
    sep = "\t" if path.suffix == ".txt" else ","
    raw = validation.read_csv(path, what="a UN WPP 2024 table", sep=sep, dtype={"age": str})
    require_columns(raw, ["country_code"], path.name, "expected a WPP 2024 table with country_code, country, ...")
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
    long = numeric_columns(long, ["mx"], "WPP mx", counts=True)
    cols = ["country_code", "sex", "age_lo", "age_hi", "period_start", "period_end", "mx"]
    return long[cols].sort_values(["sex", "period_start", "age_lo"]).reset_index(drop=True)


def _wpp_annual(data_dir, name: str, value: str, country_code: int) -> pd.DataFrame:
    rows = _read_wpp(data_dir, name, country_code)
    years = [c for c in rows.columns if re.fullmatch(r"\d{4}", str(c))]
    long = rows.melt(id_vars=["country_code"], value_vars=years, var_name="year", value_name=value)
    long["year"] = long["year"].astype("int64")
    return numeric_columns(long, [value], name, counts=True).dropna(subset=[value])


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
    long = age_columns(long, long["age"].astype(str))
    long = numeric_columns(long, ["percent"], "WPP percentASFR5", counts=True).dropna(subset=["percent"])
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
