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

Prevalences are held constant over the years (no source gives a trend); the population carries
the change. :func:`vv_by_package` splits VV into care packages with the 2015 shares.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from assen_demand._checks import check_population
from assen_demand._tidy import tidy
from assen_demand.errors import DataFormatError
from assen_demand.households import split_institutional
from assen_demand.parameters import banded_to_dataarray, load_parameter_table, scalar_parameter

__all__ = ["INDICATORS", "PACKAGES", "prevalence", "care_need", "vv_by_package", "by_age_band", "to_frame"]

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


def care_need(
    population: xr.DataArray,
    *,
    variant: str = "central",
    private_population: xr.DataArray | None = None,
) -> xr.DataArray:
    """Persons with each care need by area, sex, age and year.

    Parameters
    ----------
    population : xarray.DataArray (area, sex, age, year) [persons]
        Population on 1 January, single years of age 0..100.
    variant : {"central", "low", "high"}, keyword-only
        Parameter variant for all prevalences and splits.
    private_population : xarray.DataArray (area, sex, age, year), optional, keyword-only [persons]
        Persons in private households (e.g. ``households(...)["private"]``); computed from the
        institutional shares when not given. Used for the survey-based limitations, which are
        measured among home-dwelling persons only.

    Returns
    -------
    xarray.DataArray (area, sex, age, year, indicator) [persons]
        Indicators as in :data:`INDICATORS`.

    Raises
    ------
    DataFormatError, InvalidValueError
        Bad population (wrong dims, NaN, negative).
    MissingDataError
        A prevalence table does not cover an age.
    """
    population = check_population(population)
    if private_population is None:
        private_population = split_institutional(population, variant=variant)["private"]
    else:
        private_population = check_population(private_population, name="private_population")
        if (private_population > population + 1e-9).any():
            raise DataFormatError(
                "private_population exceeds population in some cell; pass the private part of the same population"
            )
    table = load_parameter_table(_TABLE)

    def rate(ind: str) -> xr.DataArray:
        da = banded_to_dataarray(table, indicator=ind, variant=variant, table=_TABLE)
        return da.sel(sex=population["sex"], age=population["age"])

    dem_inst = scalar_parameter(table, indicator="dementia_institutional_share", variant=variant, table=_TABLE)
    vv_intra = scalar_parameter(table, indicator="wlz_vv_intramural_share", variant=variant, table=_TABLE)
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
    out = xr.concat([layers[k].transpose(*population.dims) for k in INDICATORS], dim="indicator")
    out = out.assign_coords(indicator=list(INDICATORS))
    out.name = "persons"
    out.attrs = {"unit": "persons", "variant": variant}
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
