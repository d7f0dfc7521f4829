"""Care need: prevalence by sex and age applied to a (projected) population.

Indicators (persons), all from the ``care_prevalence`` table of a
:class:`~assen_demand.parameters.ParameterSet`:

``dementia``
    prevalence x total population (the Rotterdam study counts people in institutions too),
    split into ``dementia_in_institution`` = min(dementia, institutional residents x the share of
    residents with dementia) and ``dementia_at_home`` (the rest).
``wlz_vv``
    persons with a Wlz indication for nursing and care (VV), prevalence x total population,
    split into ``wlz_vv_intramural`` (Wlz with stay) = min(VV, institutional residents x the
    share of residents who are VV clients) and ``wlz_vv_at_home`` (VPT/MPT/pgb, the rest).
``mobility_limitation``, ``adl_limitation``
    prevalence among home-dwelling persons (CBS Gezondheidsenquete) x private-household
    population.
``young_support_need``
    young people (18-29) needing supported living (an assumption, see the table).

Wlz clients with stay and dementia in institutions are *shares of the institutional
population*, so persons in nursing places never exceed the residents of institutions, and the
extramuralisation trend acts in one place: the institutional shares (with a scenario's
``institutional_multiplier``) of :func:`assen_demand.housing.households.split_institutional`.

By default prevalences are held constant over the years (no source gives a trend); the
population carries the change. A scenario can set a yearly relative trend per indicator
(``prevalence_trend``, e.g. falling dementia incidence). :func:`vv_by_package` splits VV into
care packages with the 2015 shares.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import xarray as xr

from assen_demand.datamodel import check_population, check_share, tidy
from assen_demand.errors import DataFormatError, InvalidValueError
from assen_demand.housing.households import split_institutional
from assen_demand.parameters import ParameterSet, resolve_parameters

__all__ = [
    "INDICATORS",
    "PACKAGES",
    "TREND_INDICATORS",
    "prevalence",
    "prevalence_factor",
    "care_need",
    "vv_by_package",
    "by_age_band",
    "to_frame",
]

INDICATORS = (
    "dementia",
    "dementia_at_home",
    "dementia_in_institution",
    "wlz_vv",
    "wlz_vv_intramural",
    "wlz_vv_at_home",
    "mobility_limitation",
    "adl_limitation",
    "young_support_need",
)
PACKAGES = ("vv4", "vv6", "vv7", "vv8", "other")
_TABLE_NAME = "care_prevalence"
#: Indicators that can carry a prevalence trend (the age-banded ones)
TREND_INDICATORS = ("dementia", "wlz_vv", "mobility_limitation", "adl_limitation", "young_support_need")


def prevalence(indicator: str, *, variant: str = "central", parameters: ParameterSet | None = None) -> xr.DataArray:
    """Prevalence of one banded indicator over sex and single-year age.

    Parameters
    ----------
    indicator : str
        ``dementia``, ``wlz_vv``, ``wlz_vv_share_of_institutional``,
        ``dementia_share_of_institutional``, ``mobility_limitation``, ``adl_limitation`` or
        ``young_support_need``.
    variant : {"central", "low", "high"}, keyword-only
        Parameter variant (ignored when ``parameters`` is given).
    parameters : ParameterSet, optional, keyword-only
        Parameter tables; default the bundled ones.

    Returns
    -------
    xarray.DataArray (sex, age) [share of persons]
    """
    return resolve_parameters(parameters, variant).banded(_TABLE_NAME, indicator=indicator)


def prevalence_factor(years, *, trend: float, start: int) -> xr.DataArray:
    """Relative prevalence ``(1 + trend) ** (year - start)`` from ``start`` on, 1 before.

    Parameters
    ----------
    years : sequence of int [year]
    trend : float, keyword-only [relative change per year]
        E.g. -0.01 for 1 % lower prevalence at the same age each year.
    start : int, keyword-only [year]
        Year in which the bundled prevalence applies (the forecast base year).

    Returns
    -------
    xarray.DataArray (year) [1]

    >>> prevalence_factor([2024, 2025, 2034], trend=-0.01, start=2024).round(4).values.tolist()
    [1.0, 0.99, 0.9044]
    """
    years = np.asarray(list(years), dtype=int)
    if not (np.isfinite(trend) and trend > -1):
        raise InvalidValueError(f"prevalence trend {trend!r} must be a number > -1 (relative change per year)")
    steps = np.maximum(years - int(start), 0)
    return xr.DataArray((1.0 + trend) ** steps, dims=("year",), coords={"year": years}, name="prevalence_factor")


def care_need(
    population: xr.DataArray,
    *,
    variant: str = "central",
    private_population: xr.DataArray | None = None,
    institutional_population: xr.DataArray | None = None,
    prevalence_trend: Mapping[str, float] | None = None,
    trend_start: int | None = None,
    institutional_multiplier: xr.DataArray | float | None = None,
    parameters: ParameterSet | None = None,
) -> xr.DataArray:
    """Persons with each care need by area, sex, age and year.

    Parameters
    ----------
    population : xarray.DataArray (area, sex, age, year[, draw]) [persons]
        Population on 1 January, single years of age 0..100.
    variant : {"central", "low", "high"} or parameter sampler, keyword-only
        Parameter variant (ignored when ``parameters`` is given).
    private_population : xarray.DataArray (area, sex, age, year[, draw]), optional, keyword-only [persons]
        Persons in private households (``households(...)["private"]``); computed from the
        institutional shares when not given. The institutional residents are
        ``population - private_population``.
    institutional_population : xarray.DataArray, optional, keyword-only [persons]
        Not needed with ``private_population``; accepted for symmetry (must then equal
        ``population - private_population``).
    prevalence_trend : mapping of str to float, optional, keyword-only [relative change per year]
        Indicator (one of :data:`TREND_INDICATORS`) -> yearly relative change of its
        age-specific prevalence from ``trend_start`` on, e.g. ``{"dementia": -0.01}``.
        ``None`` = constant.
    trend_start : int, optional, keyword-only [year]
        Year of the bundled prevalences (usually the base year); required with a trend.
    institutional_multiplier : float or xarray.DataArray (year[, draw]), optional, keyword-only [1]
        Factor on the institutional shares, used only when ``private_population`` is not given
        (see :func:`assen_demand.housing.households.split_institutional`): the institutional
        residents carry extramuralisation to the Wlz clients with stay.
    parameters : ParameterSet, optional, keyword-only
        Parameter tables and variant; default the bundled tables at ``variant``.

    Returns
    -------
    xarray.DataArray (area, sex, age, year, indicator[, draw]) [persons]
        Indicators as in :data:`INDICATORS`.

    Raises
    ------
    DataFormatError, InvalidValueError
        Bad population (wrong dims, NaN, negative); a trend for an unknown indicator or without
        ``trend_start``; a trend that pushes a share above 1; private persons above the population.
    MissingDataError
        A prevalence table does not cover an age.
    """
    population = check_population(population)
    params = resolve_parameters(parameters, variant)
    if private_population is None:
        split = split_institutional(population, institutional_multiplier=institutional_multiplier, parameters=params)
        private_population, institutional_population = split["private"], split["institutional"]
    else:
        private_population = check_population(private_population, name="private_population")
        if (private_population > population + 1e-9).any():
            raise DataFormatError(
                "private_population exceeds population in some cell; pass the private part of the same population"
            )
        derived = (population - private_population).clip(min=0.0)
        if institutional_population is not None:
            institutional_population = check_population(institutional_population, name="institutional_population")
            if not np.allclose((institutional_population - derived).values, 0.0, atol=1e-6):
                raise DataFormatError(
                    "institutional_population + private_population must equal population; pass the parts of "
                    "one households(...) result"
                )
        institutional_population = derived
    trends = dict(prevalence_trend or {})
    unknown = sorted(set(trends) - set(TREND_INDICATORS))
    if unknown:
        raise DataFormatError(
            f"prevalence_trend for unknown indicator(s) {unknown}; trends apply to {', '.join(TREND_INDICATORS)}"
        )
    if trends and trend_start is None:
        raise DataFormatError("prevalence_trend needs trend_start=... (the year of the bundled prevalences, e.g. the base year)")
    years = population["year"].values

    def rate(ind: str, trend_key: str | None = None) -> xr.DataArray:
        da = params.banded(_TABLE_NAME, indicator=ind)
        key = trend_key or ind
        if key in trends:
            da = da * prevalence_factor(years, trend=float(trends[key]), start=int(trend_start))
            check_share(da, name=f"{ind} prevalence with its trend" if key == ind else f"{ind} with the {key} trend")
        return da.sel(sex=population["sex"], age=population["age"])

    dementia = population * rate("dementia")
    # persons with dementia in an institution: a share of the residents, never more than have dementia
    residents_with_dementia = institutional_population * rate("dementia_share_of_institutional", "dementia")
    dementia_inst = xr.where(residents_with_dementia < dementia, residents_with_dementia, dementia)
    vv = population * rate("wlz_vv")
    # clients with stay live in institutions: a share of the residents, never more than the VV clients;
    # the other VV clients get their care at home (fewer residents = more care at home, same clients)
    residents_with_vv = institutional_population * rate("wlz_vv_share_of_institutional")
    vv_intramural = xr.where(residents_with_vv < vv, residents_with_vv, vv)
    vv_home = vv - vv_intramural
    layers = {
        "dementia": dementia,
        "dementia_at_home": dementia - dementia_inst,
        "dementia_in_institution": dementia_inst,
        "wlz_vv": vv,
        "wlz_vv_intramural": vv_intramural,
        "wlz_vv_at_home": vv_home,
        "mobility_limitation": private_population * rate("mobility_limitation"),
        "adl_limitation": private_population * rate("adl_limitation"),
        "young_support_need": population * rate("young_support_need"),
    }
    out = xr.concat([layers[k].transpose(*population.dims, ...) for k in INDICATORS], dim="indicator")
    out = out.assign_coords(indicator=list(INDICATORS))
    out = out.transpose(*population.dims, "indicator", ...)
    out.name = "persons"
    out.attrs = {"unit": "persons", "variant": str(params.variant)}
    return out


def vv_by_package(need: xr.DataArray, *, variant: str = "central", parameters: ParameterSet | None = None) -> xr.DataArray:
    """Split Wlz VV clients by care package with the national 2015 shares.

    Parameters
    ----------
    need : xarray.DataArray (area, sex, age, year, indicator) [persons]
        Output of :func:`care_need`.
    variant : {"central", "low", "high"}, keyword-only
        Parameter variant (the package shares have no range).

    Returns
    -------
    xarray.DataArray (area, year, package) [persons]
        Packages VV4, VV6, VV7, VV8 and ``other`` (VV5, VV9b, VV10, legacy VV1-VV3 together:
        no source splits them).
    """
    params = resolve_parameters(parameters, variant)
    shares = xr.DataArray(
        [params.scalar(_TABLE_NAME, indicator=f"wlz_vv_package_share_{p}") for p in PACKAGES],
        dims=("package",),
        coords={"package": list(PACKAGES)},
    )
    total = need.sel(indicator="wlz_vv", drop=True).sum(["sex", "age"])
    out = total * shares
    out.name = "persons"
    return out


def by_age_band(need: xr.DataArray, *, edges=(0, 18, 30, 55, 65, 75, 85)) -> xr.DataArray:
    """Aggregate single ages to bands.

    Parameters
    ----------
    need : xarray.DataArray (..., age, ...) [persons]
        Any array with a single-year ``age`` dimension.
    edges : sequence of int, keyword-only [years of age]
        Lower band edges; the last band is open. Must start at 0 and increase.

    Returns
    -------
    xarray.DataArray with ``age`` replaced by ``age_band`` (labels like ``"65-74"``, ``"85+"``) [persons]
    """
    edges = list(edges)
    if edges[0] != 0 or any(b <= a for a, b in zip(edges, edges[1:])):
        raise DataFormatError(f"age band edges {edges} must start at 0 and increase")
    labels = [f"{a}-{b - 1}" for a, b in zip(edges, edges[1:])] + [f"{edges[-1]}+"]
    ages = need["age"].values
    idx = np.searchsorted(edges, ages, side="right") - 1
    band = xr.DataArray(np.asarray(labels)[idx], dims=("age",), coords={"age": ages})
    return need.groupby(band.rename("age_band")).sum()


def to_frame(need: xr.DataArray, *, by_age: bool = False) -> pd.DataFrame:
    """Tidy table of care need.

    Parameters
    ----------
    need : xarray.DataArray (area, sex, age, year, indicator) [persons]
        Output of :func:`care_need`.
    by_age : bool, keyword-only
        If True keep sex and 10-year-ish age bands (see :func:`by_age_band`); otherwise sum to
        area x indicator x year.

    Returns
    -------
    pandas.DataFrame
        Columns ``area, [sex, age_band,] indicator, year, persons``.
    """
    data = by_age_band(need) if by_age else need.sum(["sex", "age"])
    frame = tidy(data.rename("persons"))
    first = [c for c in ("area", "sex", "age_band", "indicator", "year") if c in frame.columns]
    return frame[first + ["persons"]]
