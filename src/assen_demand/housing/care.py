"""Care need: prevalence by sex and age applied to a (projected) population.

Indicators (persons), all from ``care_prevalence.csv``:

``dementia``
    prevalence x total population (the studies include institutions), split into
    ``dementia_in_institution`` and ``dementia_at_home`` with the VZinfo share (70,000 of
    290,000 in 2021).
``wlz_vv``
    persons with a Wlz indication for nursing and care (VV), split into ``wlz_vv_intramural``
    (Wlz with stay) and ``wlz_vv_at_home`` (VPT/MPT/pgb).
``mobility_limitation``, ``adl_limitation``
    prevalence among home-dwelling persons (CBS Gezondheidsenquete) x private-household
    population.
``young_support_need``
    young people (18-29) needing supported living (an assumption, see the table).

By default prevalences are held constant over the years (no source gives a trend); the
population carries the change. A scenario can set a yearly relative trend per indicator
(``prevalence_trend``, e.g. falling dementia incidence) and a factor on the institutional
splits (``institutional_multiplier``, extramuralisation). :func:`vv_by_package` splits VV into
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
from assen_demand.parameters import banded_to_dataarray, load_parameter_table, scalar_parameter

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
_TABLE = "care_prevalence.csv"
#: Indicators that can carry a prevalence trend (the age-banded ones)
TREND_INDICATORS = ("dementia", "wlz_vv", "mobility_limitation", "adl_limitation", "young_support_need")


def prevalence(indicator: str, *, variant: str = "central") -> xr.DataArray:
    """Prevalence of one banded indicator over sex and single-year age.

    Parameters
    ----------
    indicator : str
        ``dementia``, ``wlz_vv``, ``mobility_limitation``, ``adl_limitation`` or ``young_support_need``.
    variant : {"central", "low", "high"}, keyword-only
        Parameter variant.

    Returns
    -------
    xarray.DataArray (sex, age) [share of persons]
    """
    table = load_parameter_table(_TABLE)
    return banded_to_dataarray(table, indicator=indicator, variant=variant, table=_TABLE)


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
    prevalence_trend: Mapping[str, float] | None = None,
    trend_start: int | None = None,
    institutional_multiplier: xr.DataArray | float | None = None,
) -> xr.DataArray:
    """Persons with each care need by area, sex, age and year.

    Parameters
    ----------
    population : xarray.DataArray (area, sex, age, year[, draw]) [persons]
        Population on 1 January, single years of age 0..100.
    variant : {"central", "low", "high"} or parameter sampler, keyword-only
        Parameter variant for all prevalences and splits (a sampler draws them per ``draw``).
    private_population : xarray.DataArray (area, sex, age, year[, draw]), optional, keyword-only [persons]
        Persons in private households (e.g. ``households(...)["private"]``); computed from the
        institutional shares when not given. Used for the survey-based limitations, which are
        measured among home-dwelling persons only.
    prevalence_trend : mapping of str to float, optional, keyword-only [relative change per year]
        Indicator (one of :data:`TREND_INDICATORS`) -> yearly relative change of its
        age-specific prevalence from ``trend_start`` on, e.g. ``{"dementia": -0.01}``. The
        splits of an indicator (at home / in institution) follow it. ``None`` = constant.
    trend_start : int, optional, keyword-only [year]
        Year of the bundled prevalences (usually the base year); required with a trend.
    institutional_multiplier : float or xarray.DataArray (year[, draw]), optional, keyword-only [1]
        Factor on the shares of dementia in institutions and of Wlz VV with stay (the same
        factor as on the institutional shares in :func:`assen_demand.housing.households.households`,
        so extramuralisation moves clients from places to care at home). The products must
        stay in [0, 1]. Also used for ``private_population`` when that is not given.

    Returns
    -------
    xarray.DataArray (area, sex, age, year, indicator[, draw]) [persons]
        Indicators as in :data:`INDICATORS`.

    Raises
    ------
    DataFormatError, InvalidValueError
        Bad population (wrong dims, NaN, negative); a trend for an unknown indicator or without
        ``trend_start``; a trend or multiplier that pushes a share above 1.
    MissingDataError
        A prevalence table does not cover an age.
    """
    population = check_population(population)
    if private_population is None:
        private_population = split_institutional(
            population, variant=variant, institutional_multiplier=institutional_multiplier
        )["private"]
    else:
        private_population = check_population(private_population, name="private_population")
        if (private_population > population + 1e-9).any():
            raise DataFormatError(
                "private_population exceeds population in some cell; pass the private part of the same population"
            )
    trends = dict(prevalence_trend or {})
    unknown = sorted(set(trends) - set(TREND_INDICATORS))
    if unknown:
        raise DataFormatError(
            f"prevalence_trend for unknown indicator(s) {unknown}; trends apply to {', '.join(TREND_INDICATORS)}"
        )
    if trends and trend_start is None:
        raise DataFormatError("prevalence_trend needs trend_start=... (the year of the bundled prevalences, e.g. the base year)")
    table = load_parameter_table(_TABLE)
    years = population["year"].values

    def rate(ind: str) -> xr.DataArray:
        da = banded_to_dataarray(table, indicator=ind, variant=variant, table=_TABLE)
        if ind in trends:
            da = da * prevalence_factor(years, trend=float(trends[ind]), start=int(trend_start))
            check_share(da, name=f"{ind} prevalence with its trend")
        return da.sel(sex=population["sex"], age=population["age"])

    dem_inst = scalar_parameter(table, indicator="dementia_institutional_share", variant=variant, table=_TABLE)
    vv_intra = scalar_parameter(table, indicator="wlz_vv_intramural_share", variant=variant, table=_TABLE)
    if institutional_multiplier is not None:
        factor = xr.DataArray(institutional_multiplier) if np.isscalar(institutional_multiplier) else institutional_multiplier
        if "year" in factor.dims:
            factor = factor.sel(year=population["year"])
        dem_inst = check_share(dem_inst * factor, name="dementia_institutional_share x institutional_multiplier")
        vv_intra = check_share(vv_intra * factor, name="wlz_vv_intramural_share x institutional_multiplier")
    dementia = population * rate("dementia")
    vv = population * rate("wlz_vv")
    layers = {
        "dementia": dementia,
        "dementia_at_home": dementia * (1.0 - dem_inst),
        "dementia_in_institution": dementia * dem_inst,
        "wlz_vv": vv,
        "wlz_vv_intramural": vv * vv_intra,
        "wlz_vv_at_home": vv * (1.0 - vv_intra),
        "mobility_limitation": private_population * rate("mobility_limitation"),
        "adl_limitation": private_population * rate("adl_limitation"),
        "young_support_need": population * rate("young_support_need"),
    }
    out = xr.concat([layers[k].transpose(*population.dims, ...) for k in INDICATORS], dim="indicator")
    out = out.assign_coords(indicator=list(INDICATORS))
    out = out.transpose(*population.dims, "indicator", ...)
    out.name = "persons"
    out.attrs = {"unit": "persons", "variant": str(variant)}
    return out


def vv_by_package(need: xr.DataArray, *, variant: str = "central") -> xr.DataArray:
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
    table = load_parameter_table(_TABLE)
    shares = xr.DataArray(
        [scalar_parameter(table, indicator=f"wlz_vv_package_share_{p}", variant=variant, table=_TABLE) for p in PACKAGES],
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
