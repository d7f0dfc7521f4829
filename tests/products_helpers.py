"""Runs shared by the export, plots, cli and monitoring tests, each made once per test session.

A module-level cache instead of conftest fixtures: the test modules import these functions, and
the runs (a forecast takes seconds, the full CLI run with figures some more) happen once however
many modules use them.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import io
import shutil
import tempfile
from pathlib import Path

_ROOT = Path(tempfile.mkdtemp(prefix="assen_demand_products_"))
atexit.register(shutil.rmtree, _ROOT, ignore_errors=True)


def scratch(name: str) -> Path:
    """A fresh folder under the session's temporary root."""
    path = _ROOT / name
    if path.exists():
        shutil.rmtree(path)
    return path


@functools.cache
def assen_forecast():
    """``assen_demand.forecast()`` for Assen with the bundled data."""
    import assen_demand

    return assen_demand.forecast()


@functools.cache
def assen_forecast_example_supply():
    """``assen_demand.forecast(supply="example")``: the old supply sheet and chart with the press example."""
    import assen_demand

    return assen_demand.forecast(supply="example")


@functools.cache
def cli_forecast_run() -> tuple[Path, int, str]:
    """``assen-demand forecast --out <tmp>/results``: (output folder, exit status, stdout)."""
    from assen_demand.cli import main

    out = scratch("results")
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        status = main(["forecast", "--out", str(out)])
    return out, status, buffer.getvalue()


@functools.cache
def previous_run() -> Path:
    """Last year's run: base year 2023, tables and provenance only (no figures)."""
    import assen_demand
    from assen_demand.outputs import export

    result = assen_demand.forecast(base_year=2023)
    out = scratch("previous")
    export.write_forecast(result, out, provenance_record=export.provenance(result, command="test previous run"))
    return out


class WithQuantiles:
    """A forecast whose dwellings table carries synthetic quantile columns (need x 0.8, 1, 1.25).

    Stands in for the uncertainty module's output so export and plots can be tested now.
    """

    def __init__(self, result):
        self._result = result

    def __getattr__(self, name):
        return getattr(self._result, name)

    def to_frame(self, name="dwellings"):
        frame = self._result.to_frame(name)
        if name == "dwellings":
            frame = frame.assign(need_q05=frame["need"] * 0.8, need_q50=frame["need"], need_q95=frame["need"] * 1.25)
        return frame
