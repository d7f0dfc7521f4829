"""Doorstroming tied to what is built: willing movers, realised moves and freed family homes.

Older households who want a suitable home can only move into one that exists. Per wijk and
calendar year ``y`` (moves between 1 January ``y`` and 1 January ``y + 1``):

1. **Willing movers** (:func:`willing_movers`): older households not yet in a senior dwelling x
   the share with a definite wish to move within two years / 2 (the yearly number who would
   move if a home were there) x the share of them wanting a dwelling for older people, with a
   factor by household type (one-person / multi-person). The part living in a family home
   (eengezinswoning) is kept: only they free a family home.
2. **Suitable homes that become available** (:func:`available_homes`): new construction (the
   additions of step-free, clustered and care-suitable homes from the pipeline, times the share
   of each type that goes to older movers) plus turnover of the existing suitable stock (homes
   vacated by the death or nursing-home move of an older resident). The turnover level is
   calibrated once, in the base year, so that the gemeente's realised moves are the published
   share of households with a definite wish who moved within a year (CBS: a quarter); its
   spread over wijken follows the stock by type. Scenarios keep that level and change the
   stock and the new construction.
3. **Realised moves** (:func:`realise_moves`): each wijk's movers look in their own wijk first
   (a share, ``share_own_wijk``); the rest, and the own-wijk movers' leftover homes, meet in one
   gemeente-wide pool. Realised moves never exceed the willing movers nor the available homes
   (gemeente total: ``min(willing, available)``).
4. **Freed family homes** in the mover's own wijk (:func:`freed_family_homes`): realised moves x
   the family-home share of that wijk's willing movers (direct effect), and, as a separate,
   labelled figure, the further homes a moving chain frees (CBS verhuisketens multiplier).
   The chain figure is never added to the direct one.

Parameters are in ``data/parameters/doorstroming.csv`` (status and source per row). The gemeente
row of every result is the sum of its wijken.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from assen_demand.errors import DataFormatError, InvalidValueError, MissingDataError
from assen_demand.parameters import banded_to_dataarray, load_parameter_table, validate_parameter_table
from assen_demand.housing.stock import stock_by_year
from assen_demand.inputs.datasets import load_dwelling_pipeline

__all__ = [
    "SUITABLE_TYPES",
    "TABLE",
    "HOUSEHOLD_TYPES",
    "doorstroming_table",
    "older_households",
    "willing_movers",
    "suitable_supply",
    "available_homes",
    "calibrate_turnover",
    "realise_moves",
    "freed_family_homes",
    "doorstroming_moves",
    "forecast_moves",
    "to_frame",
    "period_table",
]

#: Dwelling types an older mover moves into (the disjoint suitable types of the stock module)
SUITABLE_TYPES = ("nultredenwoning", "geclusterd", "zorggeschikt")
#: The bundled parameter table
TABLE = "doorstroming.csv"
#: Household types of the willing movers
HOUSEHOLD_TYPES = ("alone", "with_others")
#: Youngest age of an older household
MIN_AGE = 55
_RESULT_VARIABLES = ("willing", "willing_family_home", "available_new", "available_turnover", "realised",
                     "moved_in", "freed_direct", "freed_chain")


def doorstroming_table(table: pd.DataFrame | None = None) -> pd.DataFrame:
    """The bundled ``doorstroming.csv`` or a checked replacement (same columns)."""
    if table is None:
        return load_parameter_table(TABLE)
    return validate_parameter_table(table, name="doorstroming table")


def _by_age(table: pd.DataFrame, indicator: str, variant: str, ages, **keys) -> xr.DataArray:
    """An indicator by single age (sex ``all``), 0 below the bands."""
    # bands may cite different reference years; each band has one, so the value is constant in time
    da = banded_to_dataarray(table, indicator=indicator, variant=variant, years=[0], ages=list(ages), sexes=("all",),
                             fill=0.0, table=TABLE, **keys)
    return da.isel(year=0, drop=True).sel(sex="all", drop=True)


def _scalar(table: pd.DataFrame, indicator: str, variant: str, **keys) -> float:
    rows = table[table["indicator"] == indicator]
    for col, value in keys.items():
        rows = rows[rows[col] == value]
    if rows.empty:
        raise MissingDataError(f"{TABLE}: no row for {indicator!r} {keys or ''}; add it (see data/parameters/{TABLE})")
    return float(rows.iloc[-1][variant])


def _wijken(da, gemeente: str | None) -> list[str]:
    return [str(a) for a in da["area"].values if str(a) != gemeente]


def _with_gemeente(ds, gemeente: str | None):
    """Put the gemeente row (sum of the wijken) first; ``gemeente=None``: the areas as they are."""
    if gemeente is None:
        return ds
    wijken = ds.drop_sel(area=[gemeente]) if gemeente in ds["area"].values else ds
    total = wijken.sum("area").expand_dims(area=[gemeente])
    return xr.concat([total, wijken], dim="area")


def older_households(households: xr.Dataset) -> xr.DataArray:
    """Older households by household type, area, single age and year.

    Parameters
    ----------
    households : xarray.Dataset
        Output of :func:`assen_demand.housing.households.households` (``households``, ``alone``;
        (area, sex, age, year)) [households, persons].

    Returns
    -------
    xarray.DataArray (household, area, age, year) [households]
        ``alone`` = persons living alone (one household each); ``with_others`` = the
        position-based multi-person households (``households - alone``); ages below 55 are 0.

    Raises
    ------
    DataFormatError
        A variable is missing.
    """
    missing = [v for v in ("households", "alone") if v not in households]
    if missing:
        raise DataFormatError(f"households lacks {missing}; pass the Dataset of housing.households.households()")
    alone = households["alone"].sum("sex")
    multi = (households["households"] - households["alone"]).sum("sex").clip(min=0.0)
    out = xr.concat([alone, multi], dim="household").assign_coords(household=list(HOUSEHOLD_TYPES))
    out = out.where(out["age"] >= MIN_AGE, 0.0)
    return out.transpose("household", "area", "age", "year", ...)


def willing_movers(older: xr.DataArray, *, table: pd.DataFrame | None = None, variant: str = "central") -> xr.Dataset:
    """Older households per year who want to move to a suitable home.

    ``willing = households x (family-home share + other unsuitable share) x wish_definite_2y / 2
    x share_wanting_suitable x wish_factor(household)``, summed over age and household type.

    Parameters
    ----------
    older : xarray.DataArray (household, area, age, year) [households]
        From :func:`older_households`.
    table : pandas.DataFrame, optional, keyword-only
        Replaces the bundled ``doorstroming.csv``.
    variant : {"central", "low", "high"}, keyword-only

    Returns
    -------
    xarray.Dataset (area, year)
        ``willing`` and ``willing_family_home`` (the part now living in a family home)
        [households per year].

    Raises
    ------
    InvalidValueError
        The family-home and other shares of an age add up to more than 1.
    """
    table = doorstroming_table(table)
    ages = older["age"].values
    fam = _by_age(table, "family_home_share", variant, ages)
    other = _by_age(table, "other_unsuitable_share", variant, ages)
    if float((fam + other).max()) > 1.0 + 1e-9:
        raise InvalidValueError(f"{TABLE}: family_home_share + other_unsuitable_share exceed 1 at some age; "
                                "together they are the households not yet in a senior dwelling")
    # the wish is stated for two years: half of it per year is the flow that would move if homes existed
    rate = _by_age(table, "wish_definite_2y", variant, ages) / 2.0 * _by_age(table, "share_wanting_suitable", variant, ages)
    factor = xr.DataArray([_scalar(table, "wish_factor", variant, household=h) for h in HOUSEHOLD_TYPES],
                          dims="household", coords={"household": list(HOUSEHOLD_TYPES)})
    per_household = older * rate * factor
    from_family = (per_household * fam).sum(["household", "age"])
    total = (per_household * (fam + other)).sum(["household", "age"])
    return xr.Dataset({"willing": total.transpose("area", "year", ...),
                       "willing_family_home": from_family.transpose("area", "year", ...)})


def suitable_supply(stock: xr.Dataset, pipeline: pd.DataFrame | None, years) -> xr.Dataset:
    """Suitable stock on 1 January and homes completed during each year, by type.

    Parameters
    ----------
    stock : xarray.Dataset (area, dwelling_type)
        Base-year stock (:func:`assen_demand.housing.stock.estimate_stock`, a ``Forecast.stock``).
    pipeline : pandas.DataFrame or None
        The dwelling pipeline (``area, year, dwellings_added, dwellings_removed[, dwelling_type]``).
    years : sequence of int
        Years of the result.

    Returns
    -------
    xarray.Dataset (area, dwelling_type, year)
        ``stock`` [dwellings on 1 January, central] and ``added`` [dwellings completed during the
        year, net additions clipped at 0] for :data:`SUITABLE_TYPES`.
    """

    years = [int(y) for y in years]
    # completions in year y count in the stock of 1 January y + 1: one year more gives the last year's additions
    moved = stock_by_year(stock, pipeline, years + [years[-1] + 1])
    planned = moved["planned"].sel(dwelling_type=list(SUITABLE_TYPES))
    added = (planned.shift(year=-1) - planned).isel(year=slice(0, len(years))).clip(min=0.0)
    return xr.Dataset({"stock": moved["stock"].sel(dwelling_type=list(SUITABLE_TYPES), year=years),
                       "added": added.assign_coords(year=years)})


def available_homes(supply: xr.Dataset, *, turnover_rate: float, table: pd.DataFrame | None = None,
                    variant: str = "central", gemeente: str | None = None) -> xr.Dataset:
    """Suitable homes that become available to older movers per wijk and year.

    Parameters
    ----------
    supply : xarray.Dataset (area, dwelling_type, year)
        ``stock`` and ``added`` (:func:`suitable_supply`) [dwellings].
    turnover_rate : float, keyword-only [vacancies per weighted home per year]
        Vacancies of the existing stock per home with ``turnover_weight`` 1 (clustered);
        :func:`calibrate_turnover` gives the base-year value.
    gemeente : str, optional, keyword-only
        Row left out (its stock is the sum of the wijken).

    Returns
    -------
    xarray.Dataset (area, year)
        ``available_new`` = sum over types of ``added x new_home_share_older_movers`` and
        ``available_turnover`` = sum of ``stock x turnover_weight x turnover_rate``
        [homes per year].
    """
    if not np.isfinite(turnover_rate) or turnover_rate < 0:
        raise InvalidValueError(f"turnover_rate {turnover_rate!r} must be a rate >= 0 (vacancies per home per year)")
    table = doorstroming_table(table)
    types = [str(t) for t in supply["dwelling_type"].values]
    new_share = xr.DataArray([_scalar(table, "new_home_share_older_movers", variant, dwelling_type=t) for t in types],
                             dims="dwelling_type", coords={"dwelling_type": types})
    weight = xr.DataArray([_scalar(table, "turnover_weight", variant, dwelling_type=t) for t in types],
                          dims="dwelling_type", coords={"dwelling_type": types})
    wijken = _wijken(supply, gemeente)
    s = supply.sel(area=wijken)
    return xr.Dataset({
        "available_new": (s["added"] * new_share).sum("dwelling_type"),
        "available_turnover": (s["stock"].clip(min=0.0) * weight).sum("dwelling_type") * turnover_rate,
    }).transpose("area", "year", ...)


def calibrate_turnover(willing: xr.DataArray, supply: xr.Dataset, *, year: int, table: pd.DataFrame | None = None,
                       variant: str = "central", gemeente: str | None = None) -> float:
    """Turnover rate at which the base year's realised moves are the published realisation share.

    CBS (2018): a quarter of older households with a definite wish (within two years) moved
    within a year. The willing movers per year are half of those households, so the available
    turnover in ``year`` is set to ``2 x realisation x willing`` (gemeente total).

    Parameters
    ----------
    willing : xarray.DataArray (area, year) [households per year]
    supply : xarray.Dataset (area, dwelling_type, year)
    year : int, keyword-only
        The calibration (base) year.

    Returns
    -------
    float [vacancies per weighted home per year]; 0 when the weighted stock is 0.
    """
    table = doorstroming_table(table)
    share = _scalar(table, "realisation_within_year", variant)
    wijken = _wijken(supply, gemeente)
    target = 2.0 * share * float(willing.sel(area=[a for a in wijken if a in willing["area"].values], year=year).sum())
    unit = available_homes(supply.sel(year=[year]), turnover_rate=1.0, table=table, variant=variant, gemeente=gemeente)
    weighted = float(unit["available_turnover"].sum())
    return target / weighted if weighted > 0 else 0.0


def realise_moves(willing: xr.DataArray, available: xr.DataArray, *, share_own_wijk: float) -> xr.Dataset:
    """Match willing movers to available homes: own wijk first, then one gemeente-wide pool.

    Step 1: ``own = min(share_own_wijk x willing, available)`` per wijk. Step 2: the remaining
    movers of every wijk (those looking elsewhere and the own-wijk movers who found nothing are
    *not* pooled: only the ``1 - share_own_wijk`` part) meet the homes left after step 1 in one
    pool; ``pooled = min(sum of movers, sum of homes)`` is shared over origins in proportion to
    their movers and over destinations in proportion to their leftover homes.

    Parameters
    ----------
    willing : xarray.DataArray (area, year) [households per year], wijken only
    available : xarray.DataArray (area, year) [homes per year], wijken only
    share_own_wijk : float, keyword-only [share]

    Returns
    -------
    xarray.Dataset (area, year)
        ``realised`` by the mover's wijk and ``moved_in`` by the home's wijk [moves per year];
        both add up to the same gemeente total, at most ``min(sum willing, sum available)``.

    Raises
    ------
    InvalidValueError
        Negative or NaN inputs, or a share outside [0, 1].
    """
    if not 0.0 <= share_own_wijk <= 1.0:
        raise InvalidValueError(f"share_own_wijk {share_own_wijk!r} must be a share in [0, 1]; give 0.4 for 40%")
    for name, da in (("willing", willing), ("available", available)):
        values = np.asarray(da.values, dtype=float)
        if np.isnan(values).any() or (values < 0).any():
            raise InvalidValueError(f"{name} has NaN or negative values; give counts >= 0 per wijk and year")
    willing, available = xr.align(willing, available, join="exact")
    own = np.minimum(share_own_wijk * willing, available)
    movers = (1.0 - share_own_wijk) * willing
    left = available - own
    total_movers, total_left = movers.sum("area"), left.sum("area")
    pooled = np.minimum(total_movers, total_left)
    origin_share = (movers / total_movers).where(total_movers > 0, 0.0)
    dest_share = (left / total_left).where(total_left > 0, 0.0)
    realised = own + pooled * origin_share
    moved_in = own + pooled * dest_share
    return xr.Dataset({"realised": realised, "moved_in": moved_in}).transpose("area", "year", ...)


def freed_family_homes(realised: xr.DataArray, willing: xr.Dataset, *, chain_multiplier: float) -> xr.Dataset:
    """Family homes freed in the mover's wijk: direct, and the chain effect separately.

    Parameters
    ----------
    realised : xarray.DataArray (area, year) [moves per year]
    willing : xarray.Dataset (area, year)
        ``willing`` and ``willing_family_home`` (:func:`willing_movers`).
    chain_multiplier : float, keyword-only [homes per freed home]
        Further homes a vacancy frees along its moving chain.

    Returns
    -------
    xarray.Dataset (area, year)
        ``freed_direct`` = realised x willing_family_home / willing (movers are drawn from the
        willing in proportion; 0 where nobody is willing) and ``freed_chain`` = freed_direct x
        chain_multiplier [homes per year]. ``freed_chain`` is *not* included in ``freed_direct``.
    """
    if not np.isfinite(chain_multiplier) or chain_multiplier < 0:
        raise InvalidValueError(f"chain_multiplier {chain_multiplier!r} must be >= 0 (homes per freed home)")
    w = willing["willing"]
    share = (willing["willing_family_home"] / w).where(w > 0, 0.0).clip(0.0, 1.0)
    direct = realised * share
    return xr.Dataset({"freed_direct": direct, "freed_chain": direct * chain_multiplier})


def doorstroming_moves(households: xr.Dataset, supply: xr.Dataset, *, gemeente: str, base_year: int | None = None,
                       turnover_rate: float | None = None, table: pd.DataFrame | None = None,
                       variant: str = "central") -> xr.Dataset:
    """Willing movers, realised moves and freed family homes per wijk and year.

    Parameters
    ----------
    households : xarray.Dataset (area, sex, age, year)
        :func:`assen_demand.housing.households.households` (``households``, ``alone``).
    supply : xarray.Dataset (area, dwelling_type, year)
        ``stock`` and ``added`` of the suitable types (:func:`suitable_supply`).
    gemeente : str, keyword-only
        The gemeente row: left out of the computation, returned as the sum of the wijken.
    base_year : int, optional, keyword-only
        Calibration year of the turnover (default the first year).
    turnover_rate : float, optional, keyword-only [vacancies per weighted home per year]
        Given: used as it is (no calibration).
    table : pandas.DataFrame, optional, keyword-only
        Replaces ``doorstroming.csv``.
    variant : {"central", "low", "high"}, keyword-only

    Returns
    -------
    xarray.Dataset (area, year)
        ``willing``, ``willing_family_home`` [households per year], ``available_new``,
        ``available_turnover`` [homes per year], ``realised`` (by the mover's wijk),
        ``moved_in`` (by the home's wijk) [moves per year], ``freed_direct``, ``freed_chain``
        [family homes per year]; attrs ``turnover_rate``, ``share_own_wijk``,
        ``chain_multiplier``, ``variant``. The gemeente row is the sum of its wijken.
    """
    table = doorstroming_table(table)
    wijken = _wijken(households, gemeente)
    missing = sorted(set(wijken) - set(str(a) for a in supply["area"].values))
    if missing:
        raise MissingDataError(f"no suitable stock for area(s) {missing}; the supply must cover every wijk")
    years = [int(y) for y in households["year"].values]
    supply = supply.sel(area=wijken, year=years)
    willing = willing_movers(older_households(households.sel(area=wijken)), table=table, variant=variant)
    year0 = years[0] if base_year is None else int(base_year)
    if turnover_rate is None:
        turnover_rate = calibrate_turnover(willing["willing"], supply, year=year0, table=table, variant=variant)
    homes = available_homes(supply, turnover_rate=turnover_rate, table=table, variant=variant)
    share_own = _scalar(table, "share_own_wijk", variant)
    moves = realise_moves(willing["willing"], homes["available_new"] + homes["available_turnover"],
                          share_own_wijk=share_own)
    chain = _scalar(table, "chain_extra_homes_per_vacancy", variant)
    freed = freed_family_homes(moves["realised"], willing, chain_multiplier=chain)
    out = xr.merge([willing, homes, moves, freed])[list(_RESULT_VARIABLES)]
    out = _with_gemeente(out, gemeente).transpose("area", "year", ...)
    out.attrs = {"turnover_rate": float(turnover_rate), "share_own_wijk": share_own, "chain_multiplier": chain,
                 "variant": str(variant), "calibration_year": year0}
    return out


def forecast_moves(households: xr.Dataset, stock: xr.Dataset | None, pipeline, *, gemeente: str,
                   base_year: int, variant: str = "central") -> xr.Dataset | None:
    """The doorstroming of a forecast: the step :func:`assen_demand.pipeline.forecast` calls.

    Parameters
    ----------
    households : xarray.Dataset
        ``Forecast.households``.
    stock : xarray.Dataset or None
        ``Forecast.stock`` (base-year stock); ``None``: no result.
    pipeline : pandas.DataFrame, path, "example" or None
        The dwelling pipeline of the scenario or the user.
    gemeente : str, keyword-only
    base_year : int, keyword-only
    variant : str, keyword-only
        A parameter variant; a sampler (Monte Carlo) uses ``central``.

    Returns
    -------
    xarray.Dataset or None
        :func:`doorstroming_moves`.
    """

    if stock is None:
        return None
    plan = None if pipeline is None else load_dwelling_pipeline(pipeline)
    years = [int(y) for y in households["year"].values]
    supply = suitable_supply(stock, plan, years)
    return doorstroming_moves(households, supply, gemeente=gemeente, base_year=base_year,
                              variant=variant if isinstance(variant, str) else "central")


def to_frame(moves: xr.Dataset, area_names: dict | None = None) -> pd.DataFrame:
    """Tidy table ``area, area_name, year, willing, ..., freed_direct, freed_chain``."""
    frame = moves[list(_RESULT_VARIABLES)].to_dataframe().reset_index()
    frame.insert(1, "area_name", frame["area"].map(area_names or {}))
    return frame[["area", "area_name", "year", *_RESULT_VARIABLES]]


def period_table(moves: xr.Dataset, periods=((2025, 2030), (2031, 2040)), area_names: dict | None = None) -> pd.DataFrame:
    """Totals over periods per area: ``area, area_name, period, willing, realised, freed_direct, freed_chain``.

    Periods are inclusive calendar years; a period outside the result's years is left out.
    """
    years = [int(y) for y in moves["year"].values]
    rows = []
    for first, last in periods:
        sel = [y for y in years if first <= y <= last]
        if not sel:
            continue
        part = moves[["willing", "realised", "freed_direct", "freed_chain"]].sel(year=sel).sum("year")
        frame = part.to_dataframe().reset_index()
        frame.insert(1, "period", f"{first}-{last}")
        rows.append(frame)
    if not rows:
        return pd.DataFrame(columns=["area", "area_name", "period", "willing", "realised", "freed_direct", "freed_chain"])
    out = pd.concat(rows, ignore_index=True)
    out.insert(1, "area_name", out["area"].map(area_names or {}))
    return out
