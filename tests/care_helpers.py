"""Plain helpers of the care-chain tests (imported by the test modules); the fixtures live in conftest.py."""

from __future__ import annotations

import numpy as np
import xarray as xr


def make_population(values, *, areas=("GM0106", "WK010600", "WK010601"), years=(2021, 2030, 2040)) -> xr.DataArray:
    """A persons array (area, sex, age 0..100, year) from a numpy array of that shape."""
    return xr.DataArray(
        np.asarray(values, dtype=float),
        dims=("area", "sex", "age", "year"),
        coords={"area": list(areas), "sex": ["male", "female"], "age": np.arange(101), "year": list(years)},
    )


def single_cell_population(*, sex: str, age: int, persons: float, year: int = 2021, area: str = "WK010600") -> xr.DataArray:
    """Everyone of one sex and one age, for hand-worked cases."""
    data = np.zeros((1, 2, 101, 1))
    data[0, ["male", "female"].index(sex), age, 0] = persons
    return make_population(data, areas=(area,), years=(year,))
