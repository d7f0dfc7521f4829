"""Shared helpers and fixtures of the care-chain tests (imported by the test modules; no conftest, so it merges cleanly with the CBS tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

PC4_FILE = Path("data", "raw", "pc4_2021", "population_by_postcode_age_sex_2021.csv")


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


@pytest.fixture
def synthetic_population() -> xr.DataArray:
    rng = np.random.default_rng(20250101)
    # An ageing shape: fewer people at very old ages, as in a real wijk.
    shape = np.exp(-np.clip(np.arange(101) - 60, 0, None) / 12.0) * 60
    data = rng.uniform(0.5, 1.5, size=(3, 2, 101, 3)) * shape[None, None, :, None]
    return make_population(data)


def _find_shared_pc4() -> Path | None:
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / PC4_FILE
        if candidate.is_file():
            return candidate
    return None


@pytest.fixture(scope="session")
def nl_population_2021() -> xr.DataArray:
    """NL on 1 Jan 2021 from the CBS postcode table: PC4 rows only (PC2/PC3 repeat the same people).

    Each 5-year band is spread evenly over its single years and 95+ over 95..100. All parameter
    bands start and end on multiples of 5, so any spread inside a band gives the same results.
    """
    path = _find_shared_pc4()
    if path is None:
        pytest.skip("shared/data/raw/pc4_2021 not found beside the repository")
    frame = pd.read_csv(path)
    frame = frame[frame["postcode"] >= 1000]
    bands = frame.groupby("leeftijd", sort=False)[["inwoners_man", "inwoners_vrouw"]].sum()
    data = np.zeros((1, 2, 101, 1))
    for label, row in bands.iterrows():
        lo = int(label.rstrip("+").split("-")[0])
        hi = 101 if label.endswith("+") else lo + 5
        data[0, 0, lo:hi, 0] = row["inwoners_man"] / (hi - lo)
        data[0, 1, lo:hi, 0] = row["inwoners_vrouw"] / (hi - lo)
    return make_population(data, areas=("NL01",), years=(2021,))
