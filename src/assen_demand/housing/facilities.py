"""Low-threshold facilities per wijk: demand, what is there, and where it pinches.

Three steps, all per area and year (1 January), the gemeente first, then its wijken:

1. :func:`facility_demand` -- persons who lean on facilities close to home:

   ``alone_75plus``           persons 75+ living alone (households step: ``alone`` by age);
   ``dementia_at_home``       persons with dementia not living in an institution (care step:
                              prevalence x population x (1 - institutional share, VZinfo 2021));
   ``adl_limitation_at_home`` persons with an ADL limitation in private households (care step:
                              CBS Gezondheidsenquete prevalence x private-household population);
   ``mantelzorg_ratio``       persons 50-74 per person 85+ (the mantelzorgpotentieel of
                              De Jong & Kooiker, PBL/SCP 2018);
   ``clustered_woonvormen``   geclusterd dwellings / 12, the VERA/CBS minimum cluster size: the
                              largest number of geclusterde woonvormen, each with an indoor
                              meeting room, the dwellings can form;
   ``meeting_places_needed``  by each norm of ``facility_norms.csv``: inhabitants / catchment
                              (woonzorgzone, In voor zorg!) and residents 75+ / 1,000 (afgeleid).

   The counts of the gemeente row are the sums of its wijken, so the table adds up. (The
   households step calibrates the share living alone per area, so its own gemeente row can
   differ from the sum of the wijken by a few percent; the wijk sum is the one consistent with
   the wijk rows.)
2. What is nearby comes from :mod:`assen_demand.inputs.nabijheid` (CBS distances and the
   gemeente's list of places), passed in as tables.
3. :func:`facility_pressure` -- the table per area and year: demand, places needed (whole places
   per wijk), present, shortfall by the chosen norm, distances against the walking threshold for
   people with limited mobility, and a flag for the wijken where 75+ alone plus dementia at
   home grows fastest (the fastest third, and faster than the gemeente as a whole) while the
   distance to a huisarts, supermarket or apotheek is above the threshold.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from assen_demand.datamodel import check_population
from assen_demand.errors import DataFormatError, UnknownAreaError
from assen_demand.parameters import load_parameter_table, scalar_parameter

__all__ = [
    "NORMS",
    "COUNT_INDICATORS",
    "facility_norm",
    "facility_demand",
    "facility_pressure",
    "Facilities",
    "facilities",
]

_TABLE = "facility_norms.csv"
#: norm name -> (indicator in facility_norms.csv, demand variable it divides)
NORMS = {
    "catchment": ("meeting_place_catchment_inhabitants", "residents"),
    "per_75plus": ("meeting_place_per_75plus", "residents_75plus"),
}
#: Additive demand indicators [persons or dwellings]: the gemeente row is the sum of its wijken.
COUNT_INDICATORS = (
    "residents",
    "residents_75plus",
    "alone_75plus",
    "dementia_at_home",
    "adl_limitation_at_home",
    "carers_50_74",
    "residents_85plus",
    "clustered_dwellings",
)


def facility_norm(indicator: str, *, variant: str = "central") -> float:
    """One value of ``facility_norms.csv``.

    Parameters
    ----------
    indicator : str
        E.g. ``"meeting_place_catchment_inhabitants"``, ``"walk_threshold_limited_mobility_m"``.
    variant : {"central", "low", "high"}, keyword-only

    Returns
    -------
    float [unit of the row]
    """
    return scalar_parameter(load_parameter_table(_TABLE), indicator=indicator, variant=variant, table=_TABLE)


def _age_sum(da: xr.DataArray, lo: int, hi: int | None = None) -> xr.DataArray:
    age = da["age"]
    keep = (age >= lo) if hi is None else ((age >= lo) & (age < hi))
    return da.where(keep, 0.0).sum(["sex", "age"])


def facility_demand(
    population: xr.DataArray,
    alone: xr.DataArray,
    need: xr.DataArray,
    *,
    clustered_dwellings: xr.DataArray,
    gemeente: str | None = None,
    variant: str = "central",
) -> xr.Dataset:
    """Demand for low-threshold facilities per area and year.

    Parameters
    ----------
    population : xarray.DataArray (area, sex, age, year) [persons]
        Population on 1 January.
    alone : xarray.DataArray (area, sex, age, year) [persons]
        Persons living alone (``Forecast.households["alone"]``).
    need : xarray.DataArray (area, sex, age, year, indicator) [persons]
        Output of :func:`assen_demand.housing.care.care_need` (uses ``dementia_at_home`` and
        ``adl_limitation``, the latter already counted among private households).
    clustered_dwellings : xarray.DataArray (area, year), keyword-only [dwellings]
        Dwellings of type ``geclusterd``: the need (``Forecast.need["total"].sel(
        dwelling_type="geclusterd")``, as the pipeline passes it) or ``Forecast.opgave["opgave"]``;
        NaN = unknown.
    gemeente : str, optional, keyword-only
        Code of the gemeente row; its counts are replaced by the sum of the other areas (the
        wijken). ``None``: no gemeente row.
    variant : {"central", "low", "high"}, keyword-only
        Variant of the norms in ``facility_norms.csv``.

    Returns
    -------
    xarray.Dataset (area, year[, norm])
        :data:`COUNT_INDICATORS` [persons; dwellings], ``mantelzorg_ratio`` [persons 50-74 per
        person 85+; NaN without 85+], ``clustered_woonvormen`` [woonvormen] and
        ``meeting_places_needed`` (area, year, norm) [places, fractional].

    Raises
    ------
    DataFormatError
        Bad population, a missing care indicator, or ``clustered_dwellings`` without the areas.
    UnknownAreaError
        ``gemeente`` is not an area of the population.
    """
    population = check_population(population)
    for ind in ("dementia_at_home", "adl_limitation"):
        if ind not in need["indicator"].values:
            raise DataFormatError(f"care need has no indicator {ind!r}; pass the output of care.care_need")
    areas = population["area"]
    missing = sorted(set(map(str, areas.values)) - set(map(str, clustered_dwellings["area"].values)))
    if missing:
        raise DataFormatError(f"clustered_dwellings has no value for area(s) {missing}; pass the geclusterd "
                              "dwellings of every area (NaN where unknown)")
    ds = xr.Dataset({
        "residents": population.sum(["sex", "age"]),
        "residents_75plus": _age_sum(population, 75),
        "alone_75plus": _age_sum(alone.sel(area=areas), 75),
        "dementia_at_home": need.sel(indicator="dementia_at_home", drop=True).sel(area=areas).sum(["sex", "age"]),
        "adl_limitation_at_home": need.sel(indicator="adl_limitation", drop=True).sel(area=areas).sum(["sex", "age"]),
        "carers_50_74": _age_sum(population, 50, 75),
        "residents_85plus": _age_sum(population, 85),
        "clustered_dwellings": clustered_dwellings.sel(area=areas, year=population["year"]).astype(float),
    })
    if gemeente is not None:
        if gemeente not in areas.values:
            raise UnknownAreaError(f"gemeente {gemeente!r} is not an area of the population")
        others = [a for a in areas.values if a != gemeente]
        for name in COUNT_INDICATORS:
            total = ds[name].sel(area=others).sum("area", skipna=False)
            ds[name] = ds[name].where(ds["area"] != gemeente, total)
    oldest = ds["residents_85plus"]
    ds["mantelzorg_ratio"] = ds["carers_50_74"] / oldest.where(oldest > 0)
    units = facility_norm("clustered_min_units", variant=variant)
    ds["clustered_woonvormen"] = ds["clustered_dwellings"] / units
    needed = [ds[base] / facility_norm(indicator, variant=variant) for indicator, base in NORMS.values()]
    ds["meeting_places_needed"] = xr.concat(needed, dim="norm").assign_coords(norm=list(NORMS))
    ds.attrs = {"variant": str(variant), "gemeente": gemeente or ""}
    return ds.transpose("area", "year", ...)


def _whole_places(needed: pd.Series) -> pd.Series:
    # A wijk needs whole places: 1.19 places by the norm means a second place. The tolerance keeps
    # an exact 1.0 (10,000 inhabitants at a 10,000 catchment) at one place despite rounding.
    return np.ceil(needed - 1e-9).clip(lower=0)


def facility_pressure(
    demand: xr.Dataset,
    distances: pd.DataFrame,
    *,
    present: pd.DataFrame | None = None,
    norm: str = "catchment",
    base_year: int | None = None,
    variant: str = "central",
) -> pd.DataFrame:
    """Where it pinches: demand, places, shortfall, distances and a flag per area and year.

    Parameters
    ----------
    demand : xarray.Dataset (area, year[, norm])
        Output of :func:`facility_demand` (with a gemeente row: ``attrs["gemeente"]``).
    distances : pandas.DataFrame
        :func:`assen_demand.inputs.nabijheid.nearby_distances` output (``area, facility,
        distance_km, status``) [km]; NaN = unknown.
    present : pandas.DataFrame, optional, keyword-only
        :func:`assen_demand.inputs.nabijheid.read_facility_list` output; ``None`` = the places
        present are unknown (NaN, and so is the shortfall).
    norm : {"catchment", "per_75plus"}, keyword-only
        The norm the shortfall uses (all norms are shown).
    base_year : int, optional, keyword-only [year]
        Year growth is measured from; default the first year.
    variant : {"central", "low", "high"}, keyword-only
        Variant of the walking threshold.

    Returns
    -------
    pandas.DataFrame
        One row per area and year: ``area, year``, the demand indicators,
        ``places_needed_<norm>`` [places, fractional] per norm, ``places_needed`` [whole places
        by ``norm``; gemeente = sum of its wijken], ``places_present``, ``shortfall`` [places;
        gemeente = sum of the wijk shortfalls, since a surplus in one wijk is not nearby in
        another], ``distance_<facility>_km``, ``distance_max_km`` (largest known),
        ``beyond_threshold`` (largest known distance above the threshold; NA when none is
        known), ``growth_alone_75plus_pct``, ``growth_dementia_at_home_pct``,
        ``vulnerable_growth_pct`` (75+ alone + dementia at home, which overlap: a pressure
        measure, not a head count), ``faster_than_gemeente`` (that growth above the
        gemeente's; wijken only), ``growth_rank`` (1 = fastest wijk) and ``flag``: among the
        fastest ``flag_fastest_share`` of the wijken (a third), faster than the gemeente, and
        ``beyond_threshold``.

    Raises
    ------
    DataFormatError
        Unknown norm; distances or places for areas outside the demand.
    """
    if norm not in NORMS:
        raise DataFormatError(f"unknown norm {norm!r}; choose one of {', '.join(NORMS)}")
    gemeente = demand.attrs.get("gemeente") or None
    areas = [str(a) for a in demand["area"].values]
    wijken = [a for a in areas if a != gemeente]
    years = [int(y) for y in demand["year"].values]
    base_year = years[0] if base_year is None else int(base_year)
    if base_year not in years:
        raise DataFormatError(f"base_year {base_year} is not a year of the demand ({years[0]}-{years[-1]})")
    threshold_km = facility_norm("walk_threshold_limited_mobility_m", variant=variant) / 1000.0

    keep = list(COUNT_INDICATORS) + ["mantelzorg_ratio", "clustered_woonvormen"]
    table = demand[keep].to_dataframe().reset_index()
    table["area"] = table["area"].astype(str)
    places = demand["meeting_places_needed"].to_dataframe().reset_index().pivot(
        index=["area", "year"], columns="norm", values="meeting_places_needed")
    places.columns = [f"places_needed_{n}" for n in places.columns]
    table = table.merge(places.reset_index().assign(area=lambda f: f["area"].astype(str)), on=["area", "year"])

    whole = _whole_places(table[f"places_needed_{norm}"])
    table["places_needed"] = whole
    if gemeente is not None:
        total = table[table["area"].isin(wijken)].groupby("year")["places_needed"].sum()
        is_gm = table["area"] == gemeente
        table.loc[is_gm, "places_needed"] = table.loc[is_gm, "year"].map(total).values

    if present is None:
        table["places_present"] = np.nan
    else:
        outside = sorted(set(present["wijk"]) - set(wijken))
        if outside:
            raise DataFormatError(f"places listed in area(s) {outside} that are not wijken of the forecast")
        counts = present.groupby("wijk").size()
        table["places_present"] = table["area"].map(counts).fillna(0.0).astype(float)
        if gemeente is not None:
            table.loc[table["area"] == gemeente, "places_present"] = float(len(present))
    table["shortfall"] = (table["places_needed"] - table["places_present"]).clip(lower=0)
    if gemeente is not None and present is not None:
        total = table[table["area"].isin(wijken)].groupby("year")["shortfall"].sum()
        is_gm = table["area"] == gemeente
        table.loc[is_gm, "shortfall"] = table.loc[is_gm, "year"].map(total).values

    unknown_areas = sorted(set(distances["area"]) - set(areas))
    if unknown_areas:
        raise DataFormatError(f"distances for area(s) {unknown_areas} that are not in the demand")
    wide = distances.pivot(index="area", columns="facility", values="distance_km")
    wide.columns = [f"distance_{f}_km" for f in wide.columns]
    wide["distance_max_km"] = wide.max(axis=1, skipna=True)
    table = table.merge(wide.reset_index(), on="area", how="left")
    beyond = pd.array([pd.NA if np.isnan(d) else bool(d > threshold_km) for d in table["distance_max_km"]],
                      dtype="boolean")
    table["beyond_threshold"] = beyond
    table["threshold_km"] = threshold_km

    base = table[table["year"] == base_year].set_index("area")

    def growth(values: pd.Series, column: str) -> pd.Series:
        start = table["area"].map(base[column])
        return 100.0 * (values / start.where(start > 0) - 1.0)

    table["growth_alone_75plus_pct"] = growth(table["alone_75plus"], "alone_75plus")
    table["growth_dementia_at_home_pct"] = growth(table["dementia_at_home"], "dementia_at_home")
    base["vulnerable"] = base["alone_75plus"] + base["dementia_at_home"]
    vulnerable = table["alone_75plus"] + table["dementia_at_home"]
    start = table["area"].map(base["vulnerable"])
    table["vulnerable_growth_pct"] = 100.0 * (vulnerable / start.where(start > 0) - 1.0)
    is_wijk = table["area"].isin(wijken)
    if gemeente is not None:
        gm = table[table["area"] == gemeente].set_index("year")["vulnerable_growth_pct"]
        reference = table["year"].map(gm)
    else:
        reference = pd.Series(0.0, index=table.index)
    faster = (table["vulnerable_growth_pct"] > reference) & (table["year"] > base_year)
    table["faster_than_gemeente"] = pd.array(np.where(is_wijk, faster, pd.NA), dtype="boolean")
    rank = table[is_wijk].groupby("year")["vulnerable_growth_pct"].rank(ascending=False, method="min")
    table["growth_rank"] = rank.reindex(table.index).astype("Int64")
    fastest = int(np.ceil(facility_norm("flag_fastest_share", variant=variant) * len(wijken) - 1e-9))
    in_top = (table["growth_rank"] <= fastest).fillna(False)
    table["flag"] = (table["faster_than_gemeente"] & in_top & table["beyond_threshold"]).fillna(False).astype(bool)
    order = {a: i for i, a in enumerate(areas)}
    table = table.sort_values(["area", "year"], key=lambda s: s.map(order) if s.name == "area" else s)
    return table.reset_index(drop=True)


@dataclass(frozen=True)
class Facilities:
    """Facilities step of a forecast: demand, distances, the gemeente's list and the pressure table.

    Attributes
    ----------
    demand : xarray.Dataset (area, year[, norm])
        :func:`facility_demand`.
    distances : pandas.DataFrame
        :func:`assen_demand.inputs.nabijheid.nearby_distances` (area, facility, distance_km,
        data_year, cbs_table, status, message) [km].
    table : pandas.DataFrame
        :func:`facility_pressure` (area, year, ...).
    norm : str
        Norm used for the shortfall.
    present : pandas.DataFrame or None
        The gemeente's list of places (``None``: not given, so present is unknown).
    """

    demand: xr.Dataset = field(repr=False)
    distances: pd.DataFrame = field(repr=False)
    table: pd.DataFrame = field(repr=False)
    norm: str = "catchment"
    present: pd.DataFrame | None = field(default=None, repr=False)

    def to_frame(self) -> pd.DataFrame:
        """The pressure table (one row per area and year)."""
        return self.table.copy()

    def flagged(self, year: int | None = None) -> list[str]:
        """Wijk codes flagged in ``year`` (default the last year)."""
        year = int(self.table["year"].max()) if year is None else int(year)
        rows = self.table[(self.table["year"] == year) & self.table["flag"]]
        return rows["area"].tolist()

    def __repr__(self) -> str:
        n = self.table["area"].nunique()
        years = f"{self.table['year'].min()}-{self.table['year'].max()}"
        listed = "unknown" if self.present is None else f"{len(self.present)} listed"
        return f"Facilities({n} areas, {years}, norm={self.norm!r}, places present: {listed}, flagged: {self.flagged()})"


def facilities(
    population: xr.DataArray,
    alone: xr.DataArray,
    need: xr.DataArray,
    *,
    clustered_dwellings: xr.DataArray,
    distances: pd.DataFrame,
    gemeente: str,
    base_year: int,
    present: pd.DataFrame | None = None,
    norm: str = "catchment",
    variant: str = "central",
) -> Facilities:
    """The facilities step in one call (what :func:`assen_demand.pipeline.forecast` runs).

    Parameters
    ----------
    population, alone, need, clustered_dwellings
        As in :func:`facility_demand`.
    distances : pandas.DataFrame, keyword-only
        :func:`assen_demand.inputs.nabijheid.nearby_distances` output.
    gemeente : str, keyword-only
        Code of the gemeente row.
    base_year : int, keyword-only [year]
        Growth is measured from this year.
    present : pandas.DataFrame, optional, keyword-only
        :func:`assen_demand.inputs.nabijheid.read_facility_list` output.
    norm : {"catchment", "per_75plus"}, keyword-only
    variant : {"central", "low", "high"}, keyword-only

    Returns
    -------
    Facilities
    """
    demand = facility_demand(population, alone, need, clustered_dwellings=clustered_dwellings,
                             gemeente=gemeente, variant=variant)
    table = facility_pressure(demand, distances, present=present, norm=norm, base_year=base_year, variant=variant)
    return Facilities(demand=demand, distances=distances, table=table, norm=norm, present=present)
