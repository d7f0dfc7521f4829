"""Shared fixtures, in one place.

``raw_dir`` is the folder of real CBS/UN downloads, found one way
(:func:`assen_demand.inputs.datasets.find_raw_dir`, also used by the benchmarks and build
scripts): ``$ASSEN_DEMAND_RAW`` if set, else the first ``shared/data/raw`` in a parent folder of
the checkout (so a git worktree under ``wt/<name>`` finds the same folder as the main checkout).
Tests on the raw files skip when it is absent; every reference figure is also tested on the
bundled tables, which are always present.

The ``slow`` marker (registered in pyproject.toml) marks notebook, doctest, docs, national, Dask,
12-gemeente hindcast and CLI-with-figures tests, whole raw-file reads, second Assen runs and the
heavy Hypothesis invariants (each with a comment giving its CPU cost): ``python -m pytest -m "not
slow"`` is the fast subset for development; a plain ``python -m pytest`` runs everything.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from care_helpers import make_population

from assen_demand.inputs.datasets import find_raw_dir

matplotlib.use("Agg")

REPO = Path(__file__).resolve().parents[1]
RAW = find_raw_dir(REPO)


@pytest.fixture(scope="session")
def raw_dir() -> Path:
    if RAW is None or not (RAW / "kwb").is_dir():
        pytest.skip(f"raw CBS files not found (looked for {RAW or 'shared/data/raw above ' + str(REPO)}; "
                    "set ASSEN_DEMAND_RAW)")
    return RAW


@pytest.fixture(scope="session")
def assen():
    from assen_demand.inputs.datasets import load_assen

    return load_assen()


@pytest.fixture
def synthetic_population() -> xr.DataArray:
    """Three areas, three years, an ageing shape: fewer people at very old ages, as in a real wijk."""
    rng = np.random.default_rng(20250101)
    shape = np.exp(-np.clip(np.arange(101) - 60, 0, None) / 12.0) * 60
    data = rng.uniform(0.5, 1.5, size=(3, 2, 101, 3)) * shape[None, None, :, None]
    return make_population(data)


@pytest.fixture(scope="session")
def nl_population_2021(raw_dir) -> xr.DataArray:
    """NL on 1 Jan 2021 from the CBS postcode table: PC4 rows only (PC2/PC3 repeat the same people).

    Each 5-year band is spread evenly over its single years and 95+ over 95..100. All parameter
    bands start and end on multiples of 5, so any spread inside a band gives the same results.
    """
    path = raw_dir / "pc4_2021" / "population_by_postcode_age_sex_2021.csv"
    if not path.is_file():
        pytest.skip(f"{path} not found")
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
