"""Price segment and tenure: split households and need by sociale huur, middenhuur, betaalbare koop, vrije sector.

A household belongs to the segment its gross income gives access to in a year, with the
limits of that year from ``data/parameters/segment_limits.csv`` (each row cites the
Rijksoverheid, Huurcommissie or Tweede Kamer page; policy definitions are marked as such):

* **sociale huur**: income up to the DAEB toewijzingsgrens (one-person or multi-person; legal limit);
* **middenhuur**: above the DAEB limit, up to the middeninkomen limit (Huisvestingswet art. 10);
* **betaalbare koop**: above that, up to the betaalbare-koop price / the mortgage income multiple;
* **vrije sector**: above.

The three income thresholds are made non-decreasing (a segment can be empty, never negative),
so the four shares always sum to 1. Income distribution: within a wijk, household income is
lognormal with the wijk's mean and a common log standard deviation (parameter). The wijk mean is
the KWB mean personal income per inhabitant x inhabitants / households (the sum of the members'
personal incomes), indexed from the KWB income year to the limit year; for older households it is
multiplied by ``older_household_income_ratio``. Limits after the last published year are held
(incomes and limits at the same price level). One-person and multi-person households are split
with their own limits and mixed by the one-person share.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from scipy.stats import norm

from assen_demand.errors import DataFormatError, InvalidValueError, MissingDataError
from assen_demand.parameters import interpolate_years, load_parameter_table, select_variant

__all__ = [
    "SEGMENTS",
    "SEGMENT_LABELS",
    "BETAALBAAR",
    "limit",
    "income_thresholds",
    "shares_from_incomes",
    "shares_lognormal",
    "wijk_income",
    "segment_shares",
    "split_by_segment",
    "to_frame",
]

_TABLE = "segment_limits.csv"
SEGMENTS = ("sociale_huur", "middenhuur", "betaalbare_koop", "vrije_sector")
SEGMENT_LABELS = {"sociale_huur": "Sociale huur", "middenhuur": "Middenhuur", "betaalbare_koop": "Betaalbare koop",
                  "vrije_sector": "Vrije sector"}
#: Segments that count as betaalbaar in the national aim
BETAALBAAR = ("sociale_huur", "middenhuur", "betaalbare_koop")


def limit(indicator: str, years, *, variant: str = "central") -> np.ndarray:
    """One row set of ``segment_limits.csv`` per year: linear between reference years, held outside.

    Parameters
    ----------
    indicator : str
        E.g. ``"daeb_income_limit_one_person"``.
    years : sequence of int [year]
    variant : {"central", "low", "high"}, keyword-only

    Returns
    -------
    numpy.ndarray (year) [unit of the row]

    Examples
    --------
    >>> limit("daeb_income_limit_one_person", [2025, 2026, 2030]).tolist()
    [49669.0, 51537.0, 51537.0]
    """
    table = load_parameter_table(_TABLE)
    rows = table[table["indicator"] == indicator]
    if rows.empty:
        raise MissingDataError(f"{_TABLE}: no rows for {indicator!r}; indicators: {sorted(table['indicator'].unique())}")
    return interpolate_years(select_variant(rows, variant=variant), rows["year"], [int(y) for y in years])


def income_thresholds(years, *, household: str, variant: str = "central") -> xr.DataArray:
    """Upper incomes of the first three segments per year.

    Parameters
    ----------
    years : sequence of int [year]
    household : {"one_person", "multi_person"}, keyword-only
    variant : {"central", "low", "high"}, keyword-only

    Returns
    -------
    xarray.DataArray (year, bound) [euro gross household income per year]
        ``bound`` = the top of sociale huur, middenhuur, betaalbare koop; non-decreasing.
    """
    if household not in ("one_person", "multi_person"):
        raise DataFormatError(f"household {household!r}: use one_person or multi_person")
    years = [int(y) for y in years]
    daeb = limit(f"daeb_income_limit_{household}", years, variant=variant)
    middle = limit(f"middle_income_limit_{household}", years, variant=variant)
    purchase = limit("affordable_purchase_price_limit", years, variant=variant) / limit(
        "mortgage_income_multiple", years, variant=variant)
    bounds = np.maximum.accumulate(np.stack([daeb, middle, purchase], axis=1), axis=1)
    return xr.DataArray(bounds, dims=("year", "bound"), coords={"year": years, "bound": list(SEGMENTS[:3])},
                        name="income_threshold", attrs={"unit": "euro per year"})


def shares_from_incomes(incomes, thresholds, weights=None) -> np.ndarray:
    """Segment shares of a list of household incomes (the step the lognormal version integrates).

    Parameters
    ----------
    incomes : array-like (n,) [euro per year]
    thresholds : array-like (3,) [euro per year]
        Upper incomes of sociale huur, middenhuur, betaalbare koop (an income equal to a
        threshold belongs to the lower segment: the limits are "up to and including").
    weights : array-like (n,), optional [households]

    Returns
    -------
    numpy.ndarray (4,) [share of households]

    Examples
    --------
    Four households, 2026 one-person limits 51,537 / 67,366 / 90,000:

    >>> shares_from_incomes([30_000, 51_537, 70_000, 120_000], [51_537, 67_366, 90_000]).tolist()
    [0.5, 0.0, 0.25, 0.25]
    """
    incomes = np.asarray(incomes, dtype=float)
    thresholds = np.asarray(thresholds, dtype=float)
    weights = np.ones_like(incomes) if weights is None else np.asarray(weights, dtype=float)
    if thresholds.shape != (3,) or np.any(np.diff(thresholds) < 0):
        raise InvalidValueError(f"thresholds {thresholds.tolist()} must be three non-decreasing incomes")
    if np.isnan(incomes).any() or (weights < 0).any() or weights.sum() <= 0:
        raise InvalidValueError("incomes must be numbers and weights >= 0 with a positive sum")
    segment = np.searchsorted(thresholds, incomes, side="left")  # income == limit -> lower segment
    return np.bincount(segment, weights=weights, minlength=4) / weights.sum()


def shares_lognormal(mean_income, log_sd: float, thresholds: xr.DataArray) -> xr.DataArray:
    """Segment shares for lognormal household incomes with a given mean.

    Parameters
    ----------
    mean_income : float or xarray.DataArray [euro per year]
        Mean household income (any dims, e.g. area).
    log_sd : float [log euro]
        Standard deviation of log income (> 0).
    thresholds : xarray.DataArray (..., bound) [euro per year]
        :func:`income_thresholds`.

    Returns
    -------
    xarray.DataArray (..., segment) [share]; sums to 1 over ``segment``.

    Examples
    --------
    Hand-worked: with the median exactly on the DAEB limit half the households are in sociale huur.

    >>> import math
    >>> th = xr.DataArray([50_000.0, 60_000.0, 90_000.0], dims="bound")
    >>> s = shares_lognormal(50_000.0 * math.exp(0.5 ** 2 / 2), 0.5, th)
    >>> round(float(s.sel(segment="sociale_huur")), 6)
    0.5
    """
    if not (np.isfinite(log_sd) and log_sd > 0):
        raise InvalidValueError(f"log_sd {log_sd!r} must be a positive number")
    mean_income = xr.DataArray(mean_income) if np.isscalar(mean_income) else mean_income
    if (mean_income <= 0).any():
        raise InvalidValueError("mean household income must be positive")
    mu = np.log(mean_income) - log_sd ** 2 / 2.0
    cdf = xr.apply_ufunc(norm.cdf, (np.log(thresholds) - mu) / log_sd).transpose(..., "bound")
    edges = np.concatenate([np.zeros(cdf.shape[:-1] + (1,)), cdf.values, np.ones(cdf.shape[:-1] + (1,))], axis=-1)
    dims = cdf.dims[:-1] + ("segment",)
    coords = {d: cdf[d] for d in cdf.dims[:-1] if d in cdf.coords}
    out = xr.DataArray(np.diff(edges, axis=-1), dims=dims, coords={**coords, "segment": list(SEGMENTS)})
    out.name = "share"
    return out


def wijk_income(kwb: pd.DataFrame, areas, *, gemeente: str) -> pd.DataFrame:
    """Mean household income and one-person share per area from the KWB.

    Parameters
    ----------
    kwb : pandas.DataFrame
        KWB rows (``area, year, population, households, one_person_households,
        mean_income_per_inhabitant_keur``).
    areas : sequence of str
    gemeente : str, keyword-only

    Returns
    -------
    pandas.DataFrame
        ``area, kwb_year, mean_household_income`` [euro per year, KWB income year],
        ``one_person_share``, ``income_from`` (``"area"``: the area's own latest KWB year with an
        income; ``"gemeente"`` where the wijk never has one: CBS suppresses small wijken).
    """
    cols = ["population", "households", "one_person_households", "mean_income_per_inhabitant_keur"]
    missing = [c for c in cols + ["area", "year"] if c not in kwb.columns]
    if missing:
        raise DataFormatError(f"KWB table lacks column(s) {missing}")
    usable = kwb.dropna(subset=cols)
    usable = usable[usable["households"] > 0]
    gm = usable[usable["area"] == gemeente].sort_values("year")
    if gm.empty:
        raise MissingDataError(f"KWB has no income year for {gemeente}; the segment split needs mean income per inhabitant")
    rows = []
    for area in [str(a) for a in areas]:
        mine = usable[usable["area"] == area].sort_values("year")
        src, r = ("area", mine.iloc[-1]) if len(mine) else ("gemeente", gm.iloc[-1])
        rows.append({"area": area, "kwb_year": int(r["year"]),
                     "mean_household_income": 1000.0 * r["mean_income_per_inhabitant_keur"] * r["population"] / r["households"],
                     "one_person_share": float(r["one_person_households"]) / float(r["households"]),
                     "income_from": src})
    return pd.DataFrame(rows)


def segment_shares(
    kwb: pd.DataFrame,
    areas,
    years,
    *,
    gemeente: str,
    older: bool = False,
    one_person_share: xr.DataArray | None = None,
    variant: str = "central",
) -> xr.DataArray:
    """Share of households per segment, per area and year.

    Parameters
    ----------
    kwb : pandas.DataFrame
        KWB rows of the gemeente (see :func:`wijk_income`).
    areas : sequence of str
    years : sequence of int [year]
    gemeente : str, keyword-only
    older : bool, keyword-only
        Households with a main earner of 65+: the mean income x ``older_household_income_ratio``.
    one_person_share : xarray.DataArray (area[, year]), optional, keyword-only [share]
        Share of one-person households among the households concerned; default the KWB share
        of all households.
    variant : {"central", "low", "high"}, keyword-only

    Returns
    -------
    xarray.DataArray (area, year, segment) [share of households]; sums to 1 over ``segment``.
    """
    areas = [str(a) for a in areas]
    years = [int(y) for y in years]
    income = wijk_income(kwb, areas, gemeente=gemeente).set_index("area")
    index = float(limit("income_index_to_limit_year", [years[0]], variant=variant)[0])
    log_sd = float(limit("income_log_sd", [years[0]], variant=variant)[0])
    mean = xr.DataArray(income["mean_household_income"].reindex(areas).to_numpy() * index, dims=("area",),
                        coords={"area": areas})
    if older:
        mean = mean * float(limit("older_household_income_ratio", [years[0]], variant=variant)[0])
    if one_person_share is None:
        one = xr.DataArray(income["one_person_share"].reindex(areas).to_numpy(), dims=("area",), coords={"area": areas})
    else:
        one = one_person_share.sel(area=areas)
        if "year" in one.dims:
            one = one.sel(year=years)
        if ((one < 0) | (one > 1)).any() or one.isnull().any():
            raise InvalidValueError("one_person_share must be a share in [0, 1] without NaN")
    single = shares_lognormal(mean, log_sd, income_thresholds(years, household="one_person", variant=variant))
    multi = shares_lognormal(mean, log_sd, income_thresholds(years, household="multi_person", variant=variant))
    out = one * single + (1.0 - one) * multi
    out = out.transpose("area", "year", "segment")
    out.name = "share"
    out.attrs = {"unit": "share of households", "older": older, "variant": str(variant),
                 "income_from": income["income_from"].to_dict(), "kwb_income_year": income["kwb_year"].to_dict()}
    return out


def split_by_segment(table: xr.DataArray, shares: xr.DataArray) -> xr.DataArray:
    """Split counts by segment: ``table x shares``, aligned by area and year.

    Parameters
    ----------
    table : xarray.DataArray (area, [dwelling_type,] year, ...) [households or dwellings]
    shares : xarray.DataArray (area, year, segment) [share]

    Returns
    -------
    xarray.DataArray (..., segment); summing over ``segment`` gives ``table`` back.
    """
    missing = [d for d in ("area", "year") if d in shares.dims and d not in table.dims]
    if missing:
        raise DataFormatError(f"table lacks dims {missing} that the shares have")
    aligned = shares.sel(**{d: table[d] for d in ("area", "year") if d in shares.dims and d in table.dims})
    return table * aligned


def to_frame(shares: xr.DataArray) -> pd.DataFrame:
    """Tidy table ``area, year, segment, share``."""
    return shares.rename("share").to_dataframe().reset_index()[["area", "year", "segment", "share"]]
