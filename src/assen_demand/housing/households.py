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

import warnings

import numpy as np
import pandas as pd
import xarray as xr
from scipy.special import expit, logit

from assen_demand.datamodel import check_population, check_share, tidy
from assen_demand.errors import DataFormatError, InvalidValueError, UnknownAreaError
from assen_demand.parameters import ParameterSet, resolve_parameters

__all__ = [
    "HouseholdsWarning",
    "institutional_shares",
    "living_alone_shares",
    "headship_rates",
    "split_institutional",
    "calibrate_living_alone",
    "households",
    "to_frame",
]


class HouseholdsWarning(UserWarning):
    """A household input that could not be used as given (reported, with the areas)."""


def institutional_shares(*, years, variant: str = "central", parameters: ParameterSet | None = None) -> xr.DataArray:
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
    return resolve_parameters(parameters, variant).banded("institutional_share", indicator="institutional_share",
                                                          years=years)


def living_alone_shares(*, variant: str = "central", parameters: ParameterSet | None = None) -> xr.DataArray:
    """Share of private-household persons who live alone (national level, 2021).

    Parameters
    ----------
    variant : {"central", "low", "high"}, keyword-only
        Parameter variant.

    Returns
    -------
    xarray.DataArray (sex, age) [share of persons in private households]
    """
    return resolve_parameters(parameters, variant).banded("living_alone", indicator="living_alone")


def headship_rates(*, variant: str = "central", parameters: ParameterSet | None = None) -> xr.DataArray:
    """Households counted per private-household person who does not live alone.

    Keywords as :func:`living_alone_shares`; returns an ``xarray.DataArray (sex, age)``
    [households per person living with others] (0.5 at older ages: a couple seen from each
    partner).
    """
    return resolve_parameters(parameters, variant).banded("household_reference", indicator="multi_person_headship")


def split_institutional(
    population: xr.DataArray,
    *,
    variant: str = "central",
    shares: xr.DataArray | None = None,
    institutional_multiplier: xr.DataArray | float | None = None,
    parameters: ParameterSet | None = None,
) -> xr.Dataset:
    """Split persons into institutional and private-household residents.

    Parameters
    ----------
    population : xarray.DataArray (area, sex, age, year[, draw]) [persons on 1 January]
    variant : {"central", "low", "high"} or parameter sampler, keyword-only
        Parameter variant for the bundled shares (a sampler gives a share per draw, see
        :func:`assen_demand.parameters.banded_to_dataarray`).
    shares : xarray.DataArray (sex, age[, year][, draw]), optional, keyword-only [share of persons]
        Override of the bundled institutional shares (aligned by label).
    institutional_multiplier : float or xarray.DataArray (year[, draw]), optional, keyword-only [1]
        Factor on the shares, e.g. a scenario path of faster extramuralisation (0.7 in 2040 =
        30 % fewer residents in institutions than the trend at the same age). The product
        must stay a share in [0, 1]. This is the one place the extramuralisation trend acts:
        Wlz clients with stay are a share of the institutional residents
        (:func:`assen_demand.housing.care.care_need`), so they follow it.
    parameters : ParameterSet, optional, keyword-only
        Parameter tables and variant; default the bundled tables at ``variant``.

    Returns
    -------
    xarray.Dataset
        ``institutional`` and ``private`` (area, sex, age, year[, draw]) [persons].

    Raises
    ------
    InvalidValueError
        Shares (after the multiplier) outside [0, 1] or NaN; negative or NaN population; a
        negative or NaN multiplier.
    """
    population = check_population(population)
    if shares is None:
        shares = institutional_shares(years=population["year"].values.tolist(), variant=variant, parameters=parameters)
    if institutional_multiplier is not None:
        factor = xr.DataArray(institutional_multiplier) if np.isscalar(institutional_multiplier) else institutional_multiplier
        values = np.asarray(factor.values, dtype=float)
        if np.isnan(values).any() or (values < 0).any():
            raise InvalidValueError(
                "institutional_multiplier must be >= 0 without NaN (1 = the bundled trend, 0.7 = 30% fewer)"
            )
        if "year" in factor.dims:
            factor = factor.sel(year=population["year"])
        shares = shares * factor
    shares = check_share(shares, name="institutional shares")
    # align by label only on the dims the shares have: broadcasting them to the population's full
    # (draw x area x ...) shape first would copy a population-sized array for nothing
    share = shares.sel({d: population[d] for d in ("sex", "age") if d in shares.dims})
    institutional = population * share
    private = population - institutional
    return xr.Dataset({"institutional": institutional, "private": private})


def _offset_shares(base: np.ndarray, delta: float) -> np.ndarray:
    # Shift on the logit scale keeps shares inside (0, 1); exact 0 and 1 stay as they are.
    out = base.copy()
    inner = (base > 0) & (base < 1)
    out[inner] = expit(logit(base[inner]) + delta)
    return out


def _offset_share_array(base: xr.DataArray, offset: xr.DataArray) -> xr.DataArray:
    # the same shift as _offset_shares, broadcast over areas (and draws) at once
    inner = (base > 0) & (base < 1)
    return xr.where(inner, expit(logit(base.where(inner, 0.5)) + offset), base)


def calibrate_living_alone(
    private: xr.DataArray,
    *,
    one_person_households,
    base_year: int,
    variant: str = "central",
    shares: xr.DataArray | None = None,
    unusable: str = "raise",
    parameters: ParameterSet | None = None,
) -> xr.DataArray:
    """Per-area logit shift of the living-alone shares to match a count of one-person households.

    Parameters
    ----------
    private : xarray.DataArray (area, sex, age, year[, draw]) [persons]
        Persons in private households.
    one_person_households : pandas.Series or xarray.DataArray (area) [households]
        Observed one-person households in ``base_year`` (e.g. KWB ``Eenpersoonshuishoudens``),
        indexed by area code. Areas of ``private`` that are missing here get a zero shift.
    base_year : int, keyword-only [year]
        Year of the observed counts; must be a year of ``private``.
    variant : {"central", "low", "high"} or parameter sampler, keyword-only
        Parameter variant of the national shares.
    shares : xarray.DataArray (sex, age[, draw]), optional, keyword-only [share of persons]
        The national living-alone shares to shift, when already loaded (else from ``variant``).
    unusable : {"raise", "report"}, keyword-only
        What to do with a target no shift can reach (zero one-person households, or at least
        as many as the area's private persons of ages that can live alone: KWB rounds counts
        to 5, so tiny areas such as business parks give such pairs): raise, or give the area
        a zero shift (the national shares) and list it with the reason in the attribute
        ``unusable_targets`` and a :class:`HouseholdsWarning`.

    Returns
    -------
    xarray.DataArray (area[, draw]) [logit shift, dimensionless]
        Attribute ``uncalibrated_areas`` lists areas without a target. With a ``draw`` dim in
        ``private`` or ``shares`` every draw gets its own shift (its own shares and private
        population must reproduce the same observed count).

    Raises
    ------
    UnknownAreaError
        If a target names an area that is not in ``private``.
    MissingDataError, DataFormatError
        If ``base_year`` is not a year of ``private``.
    InvalidValueError
        If a target is negative, NaN, or larger than the private adults of the area can reach.

    Notes
    -----
    The shift solves ``sum(private x expit(logit(share) + shift)) = target`` by Newton steps
    kept inside a bisection bracket on [-20, 20], all areas and draws at once, to 1e-13 on the
    logit scale (the sum increases with the shift, so the bracket cannot lose the root).
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
    base = living_alone_shares(variant=variant, parameters=parameters) if shares is None else shares
    pop = private.sel(year=base_year, drop=True)
    weights, share = xr.broadcast(pop, base.sel(sex=pop["sex"], age=pop["age"]))
    lead = [d for d in weights.dims if d not in ("area", "sex", "age")]
    weights = weights.transpose(*lead, "area", "sex", "age")
    share = share.transpose(*lead, "area", "sex", "age")
    w = weights.values.reshape(weights.shape[:-2] + (-1,))
    s = share.values.reshape(w.shape)
    target = targets.reindex(areas).to_numpy(float)  # NaN: no target, zero shift
    has = ~np.isnan(target)
    reach = (w * (s > 0)).sum(axis=-1)
    too_many = has & (target >= reach)
    if unusable not in ("raise", "report"):
        raise InvalidValueError(f"unusable must be 'raise' or 'report', got {unusable!r}")
    skipped: dict[str, str] = {}
    if unusable == "report":
        lead_axes = tuple(range(too_many.ndim - 1))
        bad_reach = too_many.any(axis=lead_axes) if lead_axes else too_many
        bad_zero = np.isfinite(target) & (target == 0)
        for i in np.flatnonzero(bad_reach | bad_zero):
            skipped[areas[i]] = (f"{target[i]:g} one-person households in {base_year}: "
                                 + ("no shift gives zero" if bad_zero[i] else
                                    f"not below the {np.min(reach[..., i]):g} private persons who can live alone"))
        if skipped:
            target = np.where(bad_reach | bad_zero, np.nan, target)
            has = ~np.isnan(target)
            too_many = has & (target >= reach)
            warnings.warn(
                f"living alone not calibrated for {len(skipped)} area(s), their KWB one-person household count "
                f"cannot be matched (national shares used): "
                + "; ".join(f"{a}: {r}" for a, r in list(skipped.items())[:5]) + ("; ..." if len(skipped) > 5 else ""),
                HouseholdsWarning, stacklevel=2)
    if too_many.any():
        idx = np.argwhere(too_many)[0]
        where = f" (draw {int(share[lead[0]].values[idx[0]])})" if lead else ""
        i = idx[-1]
        raise InvalidValueError(
            f"area {areas[i]}: {target[i]:g} one-person households in {base_year} but only {reach[tuple(idx)]:g} "
            f"private-household persons of ages that can live alone{where}; check the KWB count and the "
            "population of this area"
        )
    if (has & (target == 0)).any():
        area = areas[int(np.argmax(has & (target == 0)))]
        raise InvalidValueError(f"area {area}: zero one-person households cannot be matched by a share shift; check the count")
    inner = (s > 0) & (s < 1)
    fixed = (w * np.where(inner, 0.0, s)).sum(axis=-1)
    inner_share = np.where(inner, s, 0.5)
    lg = None if lead else logit(inner_share)
    w_inner = np.where(inner, w, 0.0)
    goal = np.where(has, target, 0.0)
    lo, hi = np.full(reach.shape, -20.0), np.full(reach.shape, 20.0)
    delta = np.zeros(reach.shape)
    for _ in range(200):
        if lead:
            # draws (issue 20): expit(logit(s) + delta) = s e / (1 - s + s e) with e = exp(delta), one
            # exponential per draw and area instead of one per age (a third of the time of the draws'
            # calibration); the sums as products without temporaries. The same root to 1e-13.
            e = np.exp(delta)[..., None]
            p = inner_share * e
            p /= 1.0 - inner_share + p
            weighted = np.einsum("...k,...k->...", w_inner, p)
            curvature = np.einsum("...k,...k->...", w_inner, p - p * p)
        else:
            p = expit(lg + delta[..., None])
            weighted = (w_inner * p).sum(axis=-1)
            curvature = (w_inner * p * (1.0 - p)).sum(axis=-1)
        # areas without a target keep a zero shift (their excess is set to 0)
        excess = np.where(has, fixed + weighted - goal, 0.0)
        slope = np.where(has, curvature, 1.0)
        below = excess < 0
        lo = np.where(below, delta, lo)
        hi = np.where(below, hi, delta)
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = delta - excess / slope
        # a Newton step inside the bracket, else bisect: converges in a few steps, cannot diverge
        step = np.where(has & (newton >= lo) & (newton <= hi), newton, np.where(has, 0.5 * (lo + hi), 0.0))
        done = np.abs(step - delta).max(initial=0.0) < 1e-13 or np.where(has, hi - lo, 0.0).max(initial=0.0) < 1e-13
        delta = step
        if done:
            break
    deltas = np.where(has, delta, 0.0)
    missing = [a for a in areas if a not in targets.index]
    coords = {d: weights[d].values for d in lead} | {"area": private["area"].values}
    return xr.DataArray(deltas, dims=(*lead, "area"), coords=coords, name="alone_offset",
                        attrs={"uncalibrated_areas": missing + list(skipped), "unusable_targets": skipped,
                               "base_year": base_year})


def households(
    population: xr.DataArray,
    *,
    variant: str = "central",
    one_person_households=None,
    base_year: int | None = None,
    institutional_multiplier: xr.DataArray | float | None = None,
    unusable_targets: str = "raise",
    parameters: ParameterSet | None = None,
) -> xr.Dataset:
    """Persons -> institutional / private, living alone / with others, and households.

    Parameters
    ----------
    population : xarray.DataArray (area, sex, age, year[, draw]) [persons]
        Population on 1 January.
    variant : {"central", "low", "high"} or parameter sampler, keyword-only
        Parameter variant used for all three tables (a sampler draws them per ``draw``).
    one_person_households : pandas.Series or xarray.DataArray (area), optional, keyword-only [households]
        Base-year one-person households per area for the calibration of living alone.
    base_year : int, optional, keyword-only [year]
        Year of ``one_person_households``; required with it.
    institutional_multiplier : float or xarray.DataArray (year[, draw]), optional, keyword-only [1]
        Factor on the institutional shares (see :func:`split_institutional`); ``None`` keeps
        the bundled trend.
    unusable_targets : {"raise", "report"}, keyword-only
        Passed to :func:`calibrate_living_alone` as ``unusable``.
    parameters : ParameterSet, optional, keyword-only
        Parameter tables and variant (then ``variant`` is ignored); default the bundled tables
        at ``variant``.

    Returns
    -------
    xarray.Dataset
        ``institutional``, ``private``, ``alone``, ``with_others``, ``households``
        (area, sex, age, year[, draw]) [persons, households]; ``mean_size`` (area, year[, draw])
        [persons per household]; ``alone_offset`` (area[, draw]) [logit shift].

    Raises
    ------
    DataFormatError, InvalidValueError, UnknownAreaError
        See :func:`split_institutional` and :func:`calibrate_living_alone`.
    """
    params = resolve_parameters(parameters, variant)
    split = split_institutional(population, institutional_multiplier=institutional_multiplier, parameters=params)
    private = split["private"]
    base = living_alone_shares(parameters=params)
    if one_person_households is not None:
        if base_year is None:
            raise DataFormatError("one_person_households needs base_year=... (the year of the counts)")
        offset = calibrate_living_alone(
            private, one_person_households=one_person_households, base_year=base_year, shares=base,
            unusable=unusable_targets, parameters=params,
        )
    else:
        offset = xr.DataArray(np.zeros(private.sizes["area"]), dims=("area",), coords={"area": private["area"].values},
                              name="alone_offset", attrs={"uncalibrated_areas": list(map(str, private["area"].values))})
    base = base.sel(sex=private["sex"], age=private["age"])
    share = _offset_share_array(base, offset)
    alone = private * share
    with_others = private - alone
    headship = headship_rates(parameters=params).sel(sex=private["sex"], age=private["age"])
    hh = alone + with_others * headship
    # no NaN can reach here (checked population and shares): skip xarray's slower NaN-skipping sum
    totals = hh.sum(["sex", "age"], skipna=False)
    mean_size = xr.where(totals > 0, private.sum(["sex", "age"], skipna=False) / totals.where(totals > 0), np.nan)
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
        attrs={"variant": str(params.variant), "household_definition": "position-based (see module docstring)"},
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
