"""National runs streamed to disk (issue 22) and the national stochastic run (issue 20, goal 4).

``scale.national_forecast(writer=...)`` hands every gemeente to the writer as soon as it is done;
``outputs.national.write_national`` streams that into Parquet tables and ``forecast.zarr``. The
streamed files must hold exactly what the in-memory run returns.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import assen_demand as ad
from assen_demand import scale
from assen_demand.outputs import national, tables_io


@pytest.mark.slow  # two real gemeenten, run twice (in memory and streamed): about 12 s of CPU
def test_writer_gets_every_gemeente_and_the_streamed_files_equal_the_in_memory_run(tmp_path):
    seen = []

    def writer(code, population, tables, area_names):
        seen.append((code, population.copy(), {t: f.copy() for t, f in tables.items()}, dict(area_names)))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kept = scale.national_forecast(gemeenten=["GM0106", "GM0109"], end_year=2026, progress=False,
                                       tables=("population", "households"), writer=writer)
        status, base_year, end_year = national.write_national(
            tmp_path, gemeenten=["GM0106", "GM0109"], end_year=2026, tables=("households",), progress=False)
    assert [s[0] for s in seen] == ["GM0106", "GM0109"]
    xr.testing.assert_identical(xr.concat([s[1] for s in seen], dim="area"), kept.population)
    pd.testing.assert_frame_equal(pd.concat([s[2]["households"] for s in seen], ignore_index=True),
                                  kept.tables["households"])
    assert list(status["status"]) == ["ok", "ok"] and (base_year, end_year) == (2024, 2026)
    # the streamed Parquet tables and the store hold the in-memory run's numbers exactly
    pd.testing.assert_frame_equal(tables_io.read_table(tmp_path / "population.parquet"),
                                  tables_io.tidy_dtypes(kept.to_frame()), check_exact=True)
    pd.testing.assert_frame_equal(tables_io.read_table(tmp_path / "households.parquet"),
                                  tables_io.tidy_dtypes(kept.tables["households"]), check_exact=True)
    stored = ad.open_forecast(tmp_path)
    for code in ("GM0106", "GM0109"):
        mine = kept.population.isel(area=np.flatnonzero(kept.population["gemeente"].values == code))
        np.testing.assert_array_equal(stored.select(code).values, mine.values)
    assert stored.area_names["GM0109"] == kept.area_names["GM0109"]


def test_sink_gathers_areas_before_appending_to_the_store(tmp_path):
    appended = []

    class FakeStore:
        def append(self, population, *, area_names=None):
            appended.append(list(population["area"].values))

        def close(self):
            appended.append("closed")

    def piece(code, n):
        areas = [code] + [f"WK{code[2:]}{i:02d}" for i in range(n - 1)]
        return xr.DataArray(np.ones((n, 2, 101, 2)), dims=("area", "sex", "age", "year"),
                            coords={"area": areas, "sex": ["male", "female"], "age": np.arange(101),
                                    "year": [2024, 2025], "gemeente": ("area", [code] * n)}, name="persons")

    sink = national.NationalSink(tmp_path, tables=["population"], store=FakeStore(), store_areas=5)
    for code, n in (("GM0001", 3), ("GM0002", 3), ("GM0003", 1)):
        pop = piece(code, n)
        sink(code, pop, {}, {a: a for a in pop["area"].values})
    sink.close()
    # 3 + 3 areas reach 5: one append of both gemeenten; the last one is written by close()
    assert [len(a) for a in appended[:-1]] == [6, 1] and appended[-1] == "closed"
    assert tables_io.read_table(tmp_path / "population.parquet")["gemeente"].cat.categories.tolist() == [
        "GM0001", "GM0002", "GM0003"]
