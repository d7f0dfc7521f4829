"""Shared fixtures.

``raw_dir`` is the folder of real CBS/UN downloads (``../shared/data/raw`` next to the checkout, or
``$ASSEN_DEMAND_RAW``). Tests on the raw files skip when it is absent; every reference figure is
also tested on the bundled tables, which are always present.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

REPO = Path(__file__).resolve().parents[1]
RAW = Path(os.environ.get("ASSEN_DEMAND_RAW", REPO.parent / "shared" / "data" / "raw"))


@pytest.fixture(scope="session")
def raw_dir() -> Path:
    if not (RAW / "kwb").is_dir():
        pytest.skip(f"raw CBS files not found at {RAW} (set ASSEN_DEMAND_RAW)")
    return RAW


@pytest.fixture(scope="session")
def assen():
    from assen_demand.inputs.datasets import load_assen

    return load_assen()
