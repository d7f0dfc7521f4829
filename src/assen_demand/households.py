"""Living arrangements: institutional share, living alone, households by age.

Persons become households in three steps, all by area x sex x single-year age x year:

1. ``institutional = population x institutional_share(sex, age, year)``; the rest lives in
   private households (``private``). The share follows the CBS Huishoudensprognose trend
   (linear between the reference years 2015 and 2030, constant outside).
2. ``alone = private x living_alone(sex, age)``; optionally the level is shifted per area on the
   logit scale so that the base-year total of persons living alone equals a given count of
   one-person households (KWB ``Eenpersoonshuishoudens``). The shift is kept for later years.
3. ``households = alone + (private - alone) x multi_person_headship(age)``. This is a
   *position-based* household count: a person living alone is one household; a person living
   with others counts as a fraction of a household (0.5 for the older ages, so an older couple
   is one household split over the two partners' ages). We use it instead of a single reference
   person because no age-by-sex headship table by reference person could be sourced; the table
   ``household_reference.csv`` documents the calibration to the CBS national household count.

Conservation holds by construction: ``institutional + private == population`` and
``households x mean_size == private`` (mean size is defined as private / households).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from scipy.optimize import brentq
from scipy.special import expit, logit

from assen_demand._checks import check_population, check_share
from assen_demand._tidy import tidy
from assen_demand.errors import DataFormatError, InvalidValueError, UnknownAreaError
from assen_demand.parameters import banded_to_dataarray, load_parameter_table

__all__ = [
    "institutional_shares",
    "living_alone_shares",
    "headship_rates",
    "split_institutional",
    "calibrate_living_alone",
    "households",
    "to_frame",
]


def institutional_shares(*, years, variant: str = "central") -> xr.DataArray:
    """Share of persons living in an institution.

    Parameters
    ----------
    years : iterable of int, keyword-only [year]
        Years wanted (1 January).
    variant : {"central", "low", "high"}, keyword-only
        Parameter variant.

    Returns
    -------
    xarray.DataArray (sex, age, year) [share of persons]
    """
    table = load_parameter_table("institutional_share.csv")
    return banded_to_dataarray(
        table, indicator="institutional_share", variant=variant, years=years, table="institutional_share.csv"
    )


def living_alone_shares(*, variant: str = "central") -> xr.DataArray:
    """Share of private-household persons who live alone (national level, 2021).

    Parameters
    ----------
    variant : {"central", "low", "high"}, keyword-only
        Parameter variant.

    Returns
    -------
    xarray.DataArray (sex, age) [share of persons in private households]
    """
    table = load_parameter_table("living_alone.csv")
    return banded_to_dataarray(table, indicator="living_alone", variant=variant, table="living_alone.csv")


def headship_rates(*, variant: str = "central") -> xr.DataArray:
    """Households counted per private-household person who does not live alone.

    Parameters
    ----------
    variant : {"central", "low", "high"}, keyword-only
        Parameter variant.

    Returns
    -------
    xarray.DataArray (sex, age) [households per person living with others]
    """
    table = load_parameter_table("household_reference.csv")
    return banded_to_dataarray(
        table, indicator="multi_person_headship", variant=variant, table="household_reference.csv"
    )


def split_institutional(
    population: xr.DataArray,
    *,
    variant: str = "central",
    shares: xr.DataArray | None = None,
) -> xr.Dataset:
    """Split persons into institutional and private-household residents.

    Parameters
    ----------
    population : xarray.DataArray (area, sex, age, year) [persons]
        Population on 1 January.
    variant : {"central", "low", "high"}, keyword-only
        Parameter variant for the bundled shares.
    shares : xarray.DataArray (sex, age[, year]), optional, keyword-only [share of persons]
        Override of the bundled institutional shares (aligned by label).

    Returns
    -------
    xarray.Dataset
        ``institutional`` and ``private`` (area, sex, age, year) [persons].

    Raises
    ------
    InvalidValueError
        Shares outside [0, 1] or NaN; negative or NaN population.
    """
    population = check_population(population)
    if shares is None:
        shares = institutional_shares(years=population["year"].values.tolist(), variant=variant)
    shares = check_share(shares, name="institutional shares")
    share = shares.broadcast_like(population).sel(sex=population["sex"], age=population["age"])
    institutional = population * share
    private = population - institutional
    return xr.Dataset({"institutional": institutional, "private": private})


def _offset_shares(base: np.ndarray, delta: float) -> np.ndarray:
    # Shift on the logit scale keeps shares inside (0, 1); exact 0 and 1 stay as they are.
    out = base.copy()
    inner = (base > 0) & (base < 1)
    out[inner] = expit(logit(base[inner]) + delta)
    return out


def calibrate_living_alone(
    private: xr.DataArray,
    *,
    one_person_households,
    base_year: int,
    variant: str = "central",
) -> xr.DataArray:
    """Per-area logit shift of the living-alone shares to match a count of one-person households.

    Parameters
    ----------
    private : xarray.DataArray (area, sex, age, year) [persons]
        Persons in private households.
    one_person_households : pandas.Series or xarray.DataArray (area) [households]
        Observed one-person households in ``base_year`` (e.g. KWB ``Eenpersoonshuishoudens``),
        indexed by area code. Areas of ``private`` that are missing here get a zero shift.
    base_year : int, keyword-only [year]
        Year of the observed counts; must be a year of ``private``.
    variant : {"central", "low", "high"}, keyword-only
        Parameter variant of the national shares.

    Returns
    -------
    xarray.DataArray (area) [logit shift, dimensionless]
        Attribute ``uncalibrated_areas`` lists areas without a target.

    Raises
    ------
    UnknownAreaError
        If a target names an area that is not in ``private``.
    MissingDataError, DataFormatError
        If ``base_year`` is not a year of ``private``.
    InvalidValueError
        If a target is negative, NaN, or larger than the private adults of the area can reach.
    """
    if isinstance(one_person_households, xr.DataArray):
        one_person_households = one_person_households.to_series()
    targets = pd.Series(one_person_households, dtype=float)
    areas = [str(a) for a in private["area"].values]
    unknown = sorted(set(map(str, targets.index)) - set(areas))
    if unknown:
        raise UnknownAreaError(
            f"one-person household counts given for area(s) {unknown} that are not in the population; "
            f"known areas: {areas}"
        )
    if targets.isna().any() or (targets < 0).any():
        bad = targets[targets.isna() | (targets < 0)].index.tolist()
        raise InvalidValueError(f"one-person household counts for {bad} are NaN or negative; give counts >= 0")
    years = private["year"].values.tolist()
    if base_year not in years:
        raise DataFormatError(f"base_year {base_year} is not a year of the population (years {years})")
    base = living_alone_shares(variant=variant)
    deltas = np.zeros(len(areas))
    for i, area in enumerate(areas):
        if area not in targets.index:
            continue
        target = float(targets[area])
        pop = private.sel(area=area, year=base_year).transpose("sex", "age")
        shares = base.sel(sex=pop["sex"], age=pop["age"]).values
        weights = pop.values
        reach = float((weights * (shares > 0)).sum())

        def excess(delta: float) -> float:
            return float((weights * _offset_shares(shares, delta)).sum()) - target

        if target >= reach:
            raise InvalidValueError(
                f"area {area}: {target:g} one-person households in {base_year} but only {reach:g} private-household "
                "persons of ages that can live alone; check the KWB count and the population of this area"
            )
        if target == 0:
            raise InvalidValueError(f"area {area}: zero one-person households cannot be matched by a share shift; check the count")
        deltas[i] = brentq(excess, -20.0, 20.0, xtol=1e-10)
    missing = [a for a in areas if a not in targets.index]
    return xr.DataArray(deltas, dims=("area",), coords={"area": private["area"].values}, name="alone_offset",
                        attrs={"uncalibrated_areas": missing, "base_year": base_year})


def households(
    population: xr.DataArray,
    *,
    variant: str = "central",
    one_person_households=None,
    base_year: int | None = None,
) -> xr.Dataset:
    """Persons -> institutional / private, living alone / with others, and households.

    Parameters
    ----------
    population : xarray.DataArray (area, sex, age, year) [persons]
        Population on 1 January.
    variant : {"central", "low", "high"}, keyword-only
        Parameter variant used for all three tables.
    one_person_households : pandas.Series or xarray.DataArray (area), optional, keyword-only [households]
        Base-year one-person households per area for the calibration of living alone.
    base_year : int, optional, keyword-only [year]
        Year of ``one_person_households``; required with it.

    Returns
    -------
    xarray.Dataset
        ``institutional``, ``private``, ``alone``, ``with_others``, ``households``
        (area, sex, age, year) [persons, households]; ``mean_size`` (area, year)
        [persons per household]; ``alone_offset`` (area) [logit shift].

    Raises
    ------
    DataFormatError, InvalidValueError, UnknownAreaError
        See :func:`split_institutional` and :func:`calibrate_living_alone`.
    """
    split = split_institutional(population, variant=variant)
    private = split["private"]
    base = living_alone_shares(variant=variant)
    if one_person_households is not None:
        if base_year is None:
            raise DataFormatError("one_person_households needs base_year=... (the year of the counts)")
        offset = calibrate_living_alone(
            private, one_person_households=one_person_households, base_year=base_year, variant=variant
        )
    else:
        offset = xr.DataArray(np.zeros(private.sizes["area"]), dims=("area",), coords={"area": private["area"].values},
                              name="alone_offset", attrs={"uncalibrated_areas": list(map(str, private["area"].values))})
    base = base.sel(sex=private["sex"], age=private["age"])
    share = xr.concat(
        [xr.DataArray(_offset_shares(base.values, float(d)), dims=base.dims, coords=base.coords) for d in offset.values],
        dim=offset["area"],
    )
    alone = private * share
    with_others = private - alone
    headship = headship_rates(variant=variant).sel(sex=private["sex"], age=private["age"])
    hh = alone + with_others * headship
    totals = hh.sum(["sex", "age"])
    mean_size = xr.where(totals > 0, private.sum(["sex", "age"]) / totals.where(totals > 0), np.nan)
    return xr.Dataset(
        {
            "institutional": split["institutional"],
            "private": private,
            "alone": alone.transpose(*private.dims),
            "with_others": with_others.transpose(*private.dims),
            "households": hh.transpose(*private.dims),
            "mean_size": mean_size,
            "alone_offset": offset,
        },
        attrs={"variant": variant, "household_definition": "position-based (see module docstring)"},
    )


def to_frame(result: xr.Dataset, *, by_age: bool = True) -> pd.DataFrame:
    """Tidy table of a :func:`households` result.

    Parameters
    ----------
    result : xarray.Dataset
        Output of :func:`households`.
    by_age : bool, keyword-only
        Keep sex and age columns (True) or sum to area x year (False).

    Returns
    -------
    pandas.DataFrame
        Columns ``area, [sex, age,] year`` and one column per count variable.
    """
    counts = result[["institutional", "private", "alone", "with_others", "households"]]
    if not by_age:
        counts = counts.sum(["sex", "age"])
        counts["mean_size"] = result["mean_size"]
    return tidy(counts)
