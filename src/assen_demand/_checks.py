"""Input checks shared by the care-chain modules (households, care, dwellings)."""

from __future__ import annotations

import numpy as np
import xarray as xr

from assen_demand.errors import DataFormatError, InvalidValueError

POPULATION_DIMS = ("area", "sex", "age", "year")


def check_population(population: xr.DataArray, *, name: str = "population") -> xr.DataArray:
    """Check a persons array and return it with dims in canonical order.

    Raises DataFormatError for a wrong shape or labels, InvalidValueError for NaN or negative
    counts, each naming the first offending cell and the fix.
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
    bad_sex = sorted(set(map(str, population["sex"].values)) - {"male", "female"})
    if bad_sex:
        raise DataFormatError(f"{name}: sex label(s) {bad_sex} unknown; use 'male' and 'female'")
    ages = np.asarray(population["age"].values)
    if ages.dtype.kind not in "iu" or ages.min() < 0 or ages.max() > 100:
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
    """Shares must be finite and in [0, 1]."""
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


def _first(da: xr.DataArray, mask: np.ndarray) -> str:
    idx = np.argwhere(mask)[0]
    return ", ".join(f"{dim}={da[dim].values[i]!s}" for dim, i in zip(da.dims, idx))
