"""assen_demand: population ageing, care need and dwelling need per wijk, from CBS data.

The pipeline (one module per step) is described in DESIGN.md; the public entry points are
re-exported here.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from assen_demand.errors import (
    AssenDemandError,
    DataFormatError,
    InvalidValueError,
    MissingDataError,
    ScenarioError,
    UnknownAreaError,
)

try:
    __version__ = version("assen_demand")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+unknown"

from assen_demand.inputs.datasets import load_assen, load_gemeente, load_national
from assen_demand.pipeline import Forecast, PopulationProjection, forecast, forecast_comparison, project_population
from assen_demand.scenario import list_scenarios, load_scenario
from assen_demand.backtest import hindcast
from assen_demand.outputs.store import open_forecast

__all__ = [
    "load_assen",
    "load_gemeente",
    "load_national",
    "forecast",
    "forecast_comparison",
    "list_scenarios",
    "load_scenario",
    "project_population",
    "hindcast",
    "open_forecast",
    "Forecast",
    "PopulationProjection",
    "__version__",
    "AssenDemandError",
    "DataFormatError",
    "InvalidValueError",
    "MissingDataError",
    "ScenarioError",
    "UnknownAreaError",
]
