"""The data model shared by every step: labels, age grid, band edges, quantile names, shared checks.

A leaf module: it imports only numpy, pandas, xarray and :mod:`assen_demand.errors`, so any module
of any stage can import it without a cycle. Each constant is defined here once; the modules that
used to carry their own copy (``components``, ``base``, ``projection``, ``parameters``,
``uncertainty``, ``scale``, ``inputs.cbs``) import it from here and keep their old names as
re-exports, so ``assen_demand.demography.components.SEXES`` still works.

The central array is an ``xarray.DataArray`` of persons with dims ``("area", "sex", "age",
"year")`` (see :data:`POPULATION_DIMS`); ``sex`` is :data:`SEXES`, ``age`` is :data:`AGES` with
:data:`MAX_AGE` the open age group (100 = 100 and over).

The shared checks and the tidy-table helper (formerly the private modules ``_checks`` and
``_tidy``, now removed) live here because they check exactly this data model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from assen_demand.errors import DataFormatError, InvalidValueError

__all__ = [
    "SEXES",
    "MAX_AGE",
    "AGES",
    "SEX_RATIO_AT_BIRTH",
    "POPULATION_DIMS",
    "KWB_BANDS",
    "KWB_BAND_LABELS",
    "KWB_BAND_EDGES",
    "kwb_band_of_age",
    "QUANTILES",
    "quantile_name",
    "DWELLING_TYPES",
    "check_population",
    "check_share",
    "tidy",
]

#: Sex labels, in the order of every array's ``sex`` axis.
SEXES: tuple[str, str] = ("male", "female")
#: The open age group: age 100 means 100 and over.
MAX_AGE = 100
#: Single years of age 0..100 [years] (100 = 100+).
AGES = np.arange(MAX_AGE + 1)
#: Boys per girl at birth. CBS StatLine 37259eng (live-born children by sex, the Netherlands):
#: 1,052,227 boys and 1,001,438 girls in 2012-2023, a ratio of 1.051 (1.045-1.055 in single years);
#: https://opendata.cbs.nl/statline/#/CBS/en/dataset/37259eng/table (tested in test_datamodel).
SEX_RATIO_AT_BIRTH = 1.05
#: Dimensions of the persons array, in canonical order.
POPULATION_DIMS = ("area", "sex", "age", "year")

#: The five KWB age bands as (age_lo, age_hi) with age_hi exclusive; None = open (CBS Kerncijfers
#: wijken en buurten: 0-15, 15-25, 25-45, 45-65, 65+).
KWB_BANDS: tuple[tuple[int, int | None], ...] = ((0, 15), (15, 25), (25, 45), (45, 65), (65, None))
#: Labels of :data:`KWB_BANDS`.
KWB_BAND_LABELS: tuple[str, ...] = ("0-15", "15-25", "25-45", "45-65", "65+")
#: Band edges on the single-year grid [years]: band b holds ages ``edges[b] <= age < edges[b + 1]``;
#: the last edge is ``MAX_AGE + 1`` (the open band ends with the open age group).
KWB_BAND_EDGES = np.array([lo for lo, _ in KWB_BANDS] + [MAX_AGE + 1])

#: Quantiles reported by default (a 90 % interval and the median).
QUANTILES = (0.05, 0.5, 0.95)

#: Dwelling types of the need, stock and opgave (VERA typology; see
#: :mod:`assen_demand.housing.dwellings`), in the order of every ``dwelling_type`` axis.
DWELLING_TYPES = ("nultredenwoning", "geclusterd", "zorggeschikt", "verpleegzorgplek", "begeleid_wonen")


def kwb_band_of_age(ages=AGES) -> np.ndarray:
    """Index of the KWB band (0..4) of each single year of age.

    Parameters
    ----------
    ages : array-like (age) [years]
        Ages 0..MAX_AGE.

    Returns
    -------
    numpy.ndarray (age) [band index]

    Examples
    --------
    >>> kwb_band_of_age([0, 14, 15, 64, 65, 100]).tolist()
    [0, 0, 1, 3, 4, 4]
    """
    return np.searchsorted(KWB_BAND_EDGES, np.asarray(ages), side="right") - 1


def quantile_name(q: float) -> str:
    """Column suffix of a quantile: 0.05 -> ``"q05"``, 0.5 -> ``"q50"``, 0.975 -> ``"q97.5"``.

    Examples
    --------
    >>> [quantile_name(q) for q in (0.05, 0.5, 0.95, 0.975)]
    ['q05', 'q50', 'q95', 'q97.5']
    """
    pct = round(100 * float(q), 6)
    return f"q{int(pct):02d}" if pct == int(pct) else f"q{pct:g}"


def check_population(population: xr.DataArray, *, name: str = "population") -> xr.DataArray:
    """Check a persons array and return it with dims in canonical order.

    Parameters
    ----------
    population : xarray.DataArray (..., area, sex, age, year) [persons]
    name : str
        Name used in the error messages.

    Returns
    -------
    xarray.DataArray (..., area, sex, age, year) [persons]
        Extra dims (a Monte Carlo draw) lead.

    Raises
    ------
    DataFormatError
        Wrong type, dims or labels.
    InvalidValueError
        NaN or negative counts; the first offending cell is named with the fix.
    """
    if not isinstance(population, xr.DataArray):
        raise DataFormatError(
            f"{name} must be an xarray.DataArray with dims {POPULATION_DIMS}, got {type(population).__name__}"
        )
    missing = [d for d in POPULATION_DIMS if d not in population.dims]
    if missing:
        raise DataFormatError(
            f"{name} lacks dimension(s) {missing}; it needs dims {POPULATION_DIMS} (age in single years 0..100)"
        )
    bad_sex = sorted(set(map(str, population["sex"].values)) - set(SEXES))
    if bad_sex:
        raise DataFormatError(f"{name}: sex label(s) {bad_sex} unknown; use 'male' and 'female'")
    ages = np.asarray(population["age"].values)
    if ages.dtype.kind not in "iu" or ages.min() < 0 or ages.max() > MAX_AGE:
        raise DataFormatError(
            f"{name}: age coordinate must hold whole years 0..100 (100 = 100 and over), got {ages[:5]}...; "
            "ungroup age bands first (or spread a band over its single years)"
        )
    values = population.values
    if np.isnan(values).any():
        raise InvalidValueError(f"{name} has NaN at {_first(population, np.isnan(values))}; fill in the count (0 if none)")
    if (values < 0).any():
        raise InvalidValueError(f"{name} is negative at {_first(population, values < 0)}; counts of persons cannot be negative")
    # extra dims (a Monte Carlo draw) lead, as the engine writes them: keeps the arrays contiguous
    return population.transpose(..., *POPULATION_DIMS)


def check_share(share: xr.DataArray, *, name: str) -> xr.DataArray:
    """Check that shares are finite and in [0, 1]; return them unchanged.

    Parameters
    ----------
    share : xarray.DataArray (any) [fraction]
    name : str
        Name used in the error messages.
    """
    values = np.asarray(share.values, dtype=float)
    if np.isnan(values).any():
        raise InvalidValueError(f"{name} has NaN at {_first(share, np.isnan(values))}; give a share in [0, 1]")
    bad = (values < 0) | (values > 1)
    if bad.any():
        raise InvalidValueError(
            f"{name} lies outside [0, 1] at {_first(share, bad)} (value {values[bad][0]:g}); "
            "give shares as fractions, e.g. 0.25 for 25%"
        )
    return share


def tidy(obj: xr.DataArray | xr.Dataset, *, value_name: str = "value") -> pd.DataFrame:
    """One row per coordinate combination, one column per dimension and per variable.

    Parameters
    ----------
    obj : xarray.DataArray or xarray.Dataset (any dims)
    value_name : str
        Column name of an unnamed DataArray.
    """
    if isinstance(obj, xr.DataArray):
        obj = obj.to_dataset(name=obj.name or value_name)
    frame = obj.to_dataframe().reset_index()
    # Scalar coordinates (left over from .sel) are not dimensions of the result.
    extra = [c for c in obj.coords if c not in obj.dims and c in frame.columns]
    return frame.drop(columns=extra)


def _first(da: xr.DataArray, mask: np.ndarray) -> str:
    idx = np.argwhere(mask)[0]
    return ", ".join(f"{dim}={da[dim].values[i]!s}" for dim, i in zip(da.dims, idx))
