"""Dwelling need in two explicit parts: care-driven (a) and preference / life course (b).

Both parts count **households** (or places, for nursing care), per area x dwelling type x year.

Care profiles of persons
    Every home-dwelling person has at most one care profile, in order of severity
    (:data:`PROFILES`): ``wlz_vv_at_home`` (Wlz VV care at home) > ``dementia_not_vv``
    (dementia at home without a Wlz VV indication) > ``adl_not_vv`` (ADL limitation, not in the
    two above) > ``mobility_not_adl`` (mobility limitation without ADL limitation) > none.
    The layers are built by subtraction from the care indicators (:func:`person_profiles`).

Households with at least one member with a profile
    A household needs *one* dwelling for its most severe profile. A person living alone is one
    household with his or her own profile. A person living with others stands for
    ``headship`` households (0.5 at older ages: a couple seen from each partner); the household's
    profile is the more severe of the person's and the partner's. The partner is taken to be of
    the other sex and the same age, with profiles independent of the person's (an assumption: no
    Dutch source gives the joint distribution). With cumulative shares
    ``F(k) = P(profile <= k)`` the household of a person living with others has highest profile
    ``k`` with probability ``F_self(k) F_partner(k) - F_self(k-1) F_partner(k-1)``.
    Hand-worked: a couple of a limited man (80) and a non-limited woman (80) is, from his side,
    0.5 x 1 and from hers 0.5 x 1: one household, one dwelling (the old person-based count gave
    0.5).

(a) care-driven need
    households by highest profile x the share of such households needing each type
    (``dwelling_profiles``), plus the person-based needs: a nursing place
    (``verpleegzorgplek``) per Wlz VV client with stay and a supported-living unit
    (``begeleid_wonen``) per young person with that need.
(b) preference / life-course need
    only households **without** a care profile (so nobody is counted in both parts): alone or
    couple households x the share of such older households that live in or want each type
    (``preference_demand``, by age class 55-64, 65-74, 75-84, 85+ and household type).

``total = care + preference``. Wijken are computed cell by cell; the gemeente row is then
set to the sum of its wijken for every variable (:func:`gemeente_as_sum_of_wijken`), and the
difference to the gemeente's own computation is kept in the attribute
``gemeente_own_minus_wijken``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from assen_demand.datamodel import DWELLING_TYPES, tidy
from assen_demand.errors import DataFormatError
from assen_demand.parameters import ParameterSet, resolve_parameters
from assen_demand.housing.households import headship_rates

__all__ = [
    "PROFILES",
    "HOUSEHOLD_TYPES",
    "NEED_PARTS",
    "person_profiles",
    "profile_households",
    "dwelling_need_parts",
    "gemeente_as_sum_of_wijken",
    "to_frame",
]

#: Care profiles of home-dwelling persons, least to most severe (disjoint).
PROFILES = ("mobility_not_adl", "adl_not_vv", "dementia_not_vv", "wlz_vv_at_home")
#: Household types of the preference table.
HOUSEHOLD_TYPES = ("alone", "couple")
#: Variables of the need dataset.
NEED_PARTS = ("care", "preference", "total")
# person-based needs: indicator of the care need -> profile name in dwelling_profiles
_PERSON_BASED = {"wlz_vv_intramural": "wlz_vv_intramural", "young_support_need": "young_support_need"}
_CARE = "care_prevalence"


def _partner(da: xr.DataArray) -> xr.DataArray:
    """The same array seen from the partner: the other sex at the same age."""
    swapped = da.sel(sex=["female", "male"])
    return swapped.assign_coords(sex=["male", "female"]).sel(sex=da["sex"])


def person_profiles(care_need: xr.DataArray, *, parameters: ParameterSet | None = None) -> xr.DataArray:
    """Disjoint care profiles of home-dwelling persons.

    Parameters
    ----------
    care_need : xarray.DataArray (area, sex, age, year, indicator[, draw]) [persons]
        Output of :func:`assen_demand.housing.care.care_need`.
    parameters : ParameterSet, optional, keyword-only
        Uses ``wlz_vv_at_home_dementia_share`` and ``adl_share_of_dementia_not_vv`` of
        ``care_prevalence``.

    Returns
    -------
    xarray.DataArray (..., profile) [persons]
        ``wlz_vv_at_home``; ``dementia_not_vv`` = dementia at home minus the VV-at-home clients
        with dementia; ``adl_not_vv`` = ADL-limited minus VV at home minus the ADL-limited part
        of ``dementia_not_vv``; ``mobility_not_adl`` = mobility-limited minus ADL-limited. Each
        floored at 0.
    """
    params = resolve_parameters(parameters)
    ind = care_need.sel
    vv_home = ind(indicator="wlz_vv_at_home", drop=True)
    dem_share = params.scalar(_CARE, indicator="wlz_vv_at_home_dementia_share")
    adl_share = params.scalar(_CARE, indicator="adl_share_of_dementia_not_vv")
    dementia = (ind(indicator="dementia_at_home", drop=True) - dem_share * vv_home).clip(min=0)
    adl = (ind(indicator="adl_limitation", drop=True) - vv_home - adl_share * dementia).clip(min=0)
    mobility = (ind(indicator="mobility_limitation", drop=True) - ind(indicator="adl_limitation", drop=True)).clip(min=0)
    layers = {"wlz_vv_at_home": vv_home, "dementia_not_vv": dementia, "adl_not_vv": adl, "mobility_not_adl": mobility}
    out = xr.concat([layers[p].transpose(*vv_home.dims) for p in PROFILES], dim="profile")
    return out.assign_coords(profile=list(PROFILES)).transpose(*vv_home.dims, "profile")


def profile_households(
    care_need: xr.DataArray,
    households: xr.Dataset,
    *,
    parameters: ParameterSet | None = None,
) -> xr.Dataset:
    """Households by their most severe care profile and household type.

    Parameters
    ----------
    care_need : xarray.DataArray (area, sex, age, year, indicator[, draw]) [persons]
        Output of :func:`assen_demand.housing.care.care_need`.
    households : xarray.Dataset
        Output of :func:`assen_demand.housing.households.households` of the same population
        (``private``, ``alone``, ``with_others``).
    parameters : ParameterSet, optional, keyword-only
        The set used for both (headship rates, overlap shares).

    Returns
    -------
    xarray.Dataset
        ``households`` (area, sex, age, year, household, profile[, draw]) [households], where
        ``profile`` is ``none`` or one of :data:`PROFILES` and ``household`` is ``alone`` or
        ``couple`` (persons living with others, counted with the headship rate); a household is
        attributed to the sex and age of the person it is seen from (position-based).

    Notes
    -----
    Summed over ``profile`` the result equals the households of
    :func:`assen_demand.housing.households.households` (alone + with_others x headship).
    """
    params = resolve_parameters(parameters)

    persons = person_profiles(care_need, parameters=params)
    private = households["private"]
    safe = private.where(private > 0)
    share = (persons / safe).fillna(0.0)
    total = share.sum("profile")
    # the layers are disjoint by construction; a replaced table could still make them exceed 1
    share = share / xr.where(total > 1.0, total, 1.0)
    none = (1.0 - share.sum("profile")).clip(min=0.0)
    shares = xr.concat([none.expand_dims(profile=["none"]), share.transpose("profile", ...)], dim="profile")
    cumulative = shares.cumsum("profile")
    previous = cumulative.shift(profile=1, fill_value=0.0)
    partner_cum, partner_prev = _partner(cumulative), _partner(previous)
    couple_share = cumulative * partner_cum - previous * partner_prev
    headship = headship_rates(parameters=params).sel(sex=private["sex"], age=private["age"])
    alone = households["alone"] * shares
    couple = households["with_others"] * headship * couple_share
    out = xr.concat([alone, couple], dim="household").assign_coords(household=list(HOUSEHOLD_TYPES))
    out = out.assign_coords(profile=["none", *PROFILES])
    return xr.Dataset({"households": out.transpose(*private.dims, "household", "profile", ...)})


def _type_shares(params: ParameterSet, table: str, indicator: str, dtype: str, like: xr.DataArray, **keys) -> xr.DataArray | None:
    frame = params.table(table)
    sel = frame[(frame["indicator"] == indicator) & (frame["dwelling_type"] == dtype)]
    for col, value in keys.items():
        sel = sel[sel[col] == value]
    if sel.empty:
        return None
    share = params.banded(table, indicator=indicator, dwelling_type=dtype, fill=0.0, **keys)
    return share.sel(sex=like["sex"], age=like["age"])


def dwelling_need_parts(
    care_need: xr.DataArray,
    households: xr.Dataset,
    *,
    parameters: ParameterSet | None = None,
    gemeente_total: bool = True,
) -> xr.Dataset:
    """Need per area, dwelling type and year in two parts: care (a) and preference (b).

    Parameters
    ----------
    care_need, households
        As in :func:`profile_households` (persons by care indicator; the households of the same
        population).
    parameters : ParameterSet, optional, keyword-only
        Uses ``dwelling_profiles``, ``preference_demand``, ``household_reference`` and
        ``care_prevalence``; default the bundled set.
    gemeente_total : bool, keyword-only
        Set the gemeente row (code ``GM...``) to the sum of its wijken (``WK...``) when both
        are present (:func:`gemeente_as_sum_of_wijken`).

    Returns
    -------
    xarray.Dataset (area, dwelling_type, year[, draw])
        ``care`` [households; places for verpleegzorgplek; units for begeleid_wonen],
        ``preference`` [households; 0 for types without preference demand] and
        ``total`` = care + preference.
    """
    params = resolve_parameters(parameters)
    for name in ("dwelling_profiles", "preference_demand"):
        unknown = sorted(set(params.table(name)["dwelling_type"]) - set(DWELLING_TYPES))
        if unknown:
            raise DataFormatError(f"{name}: unknown dwelling type(s) {unknown}; use one of {', '.join(DWELLING_TYPES)}")
    hh = profile_households(care_need, households, parameters=params)["households"]
    # households of 55+ with a profile: one dwelling per household (profile shares per type sum to <= 1)
    by_profile = hh.sel(profile=list(PROFILES)).sum("household")
    without_profile = hh.sel(profile="none", drop=True)
    template = care_need.isel(indicator=0, drop=True)
    care_parts, pref_parts = [], []
    for dtype in DWELLING_TYPES:
        care = xr.zeros_like(template.sum(["sex", "age"]))
        for prof in PROFILES:
            share = _type_shares(params, "dwelling_profiles", prof, dtype, template)
            if share is not None:
                care = care + xr.dot(by_profile.sel(profile=prof, drop=True), share, dim=["sex", "age"])
        for indicator, prof in _PERSON_BASED.items():
            share = _type_shares(params, "dwelling_profiles", prof, dtype, template)
            if share is not None:
                care = care + xr.dot(care_need.sel(indicator=indicator, drop=True), share, dim=["sex", "age"])
        pref = xr.zeros_like(care)
        for kind in HOUSEHOLD_TYPES:
            share = _type_shares(params, "preference_demand", "preference_share", dtype, template, household=kind)
            if share is not None:
                pref = pref + xr.dot(without_profile.sel(household=kind, drop=True), share, dim=["sex", "age"])
        care_parts.append(care)
        pref_parts.append(pref)
    coords = {"dwelling_type": list(DWELLING_TYPES)}
    care = xr.concat(care_parts, dim="dwelling_type").assign_coords(coords)
    pref = xr.concat(pref_parts, dim="dwelling_type").assign_coords(coords)
    lead = [d for d in care.dims if d not in ("area", "dwelling_type", "year")]
    order = ("area", "dwelling_type", "year", *lead)
    out = xr.Dataset({"care": care.transpose(*order), "preference": pref.transpose(*order),
                      "total": (care + pref).transpose(*order)})
    out.attrs = {
        "variant": str(params.variant),
        "unit": "households (places for verpleegzorgplek, units for begeleid_wonen)",
        "combination": "total = care + preference; preference counts only households without a care profile",
    }
    return gemeente_as_sum_of_wijken(out) if gemeente_total else out


def gemeente_as_sum_of_wijken(need: xr.Dataset) -> xr.Dataset:
    """Replace each gemeente row by the sum of its wijken, keeping the difference as an attribute.

    Parameters
    ----------
    need : xarray.Dataset (area, ...)
        Any dataset over ``area`` with CBS codes (``GM0106``, ``WK010600``...).

    Returns
    -------
    xarray.Dataset
        The same, with ``GMxxxx`` = sum of ``WKxxxx..`` for every variable where the gemeente
        has wijken; attribute ``gemeente_own_minus_wijken`` maps each gemeente to the largest
        absolute difference (own computation minus the sum) before the replacement. The
        difference comes from the living-alone calibration, which is done per area on its own
        KWB count: the gemeente's calibrated shares are not the wijken's.
    """
    areas = [str(a) for a in need["area"].values]
    out = need.copy(deep=True)
    differences = {}
    for code in (a for a in areas if a.startswith("GM")):
        wijken = [a for a in areas if a.startswith("WK") and a[2:6] == code[2:6]]
        if not wijken:
            continue
        for name, var in need.data_vars.items():
            summed = var.sel(area=wijken).sum("area")
            own = var.sel(area=code, drop=True)
            diff = float(np.abs((own - summed).values).max(initial=0.0))
            differences[code] = max(differences.get(code, 0.0), diff)
            out[name].loc[{"area": code}] = summed.transpose(*own.dims).values
    out.attrs = {**need.attrs, "gemeente_own_minus_wijken": differences}
    return out


def to_frame(need: xr.Dataset) -> pd.DataFrame:
    """Tidy table ``area, dwelling_type, year, care, preference, total``."""
    frame = tidy(need[list(NEED_PARTS)])
    first = [c for c in ("area", "dwelling_type", "year") if c in frame.columns]
    return frame[first + [c for c in frame.columns if c not in first]]
