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


@pytest.mark.slow  # 3 gemeenten x 20 draws on a Dask cluster, and each again alone: about 90 s of CPU
def test_national_stochastic_quantiles_equal_the_single_gemeente_runs(tmp_path):
    from dask import distributed

    from assen_demand.housing import opgave as opgave_step
    from assen_demand.national_stochastic import national_stochastic_forecast

    codes = ["GM0106", "GM0109", "GM1680"]  # Assen, Coevorden, Aa en Hunze (bundled Drenthe data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                      dashboard_address=None) as cluster, distributed.Client(cluster) as client:
            run = national_stochastic_forecast(gemeenten=codes, draws=20, seed=11, end_year=2030, client=client,
                                               progress=False)
            streamed = national.write_national_stochastic(tmp_path, gemeenten=codes[:2], draws=20, seed=11,
                                                          end_year=2030, client=client, progress=False)
        singles = {c: ad.forecast(c, draws=20, seed=11, end_year=2030, base_year=run.base_year, progress=False)
                   for c in codes}
    assert list(run.status["status"]) == ["ok"] * 3 and (run.status["peak_rss_mb"] > 0).all()
    frame = run.to_frame()
    quantile_columns = [f"{v}_q{p}" for v in ("need", "opgave") for p in ("05", "50", "95")]
    for code, single in singles.items():
        expected = opgave_step.to_frame(single.opgave, single.area_names)
        mine = frame[frame["gemeente"] == code].drop(columns="gemeente").reset_index(drop=True)
        keys = ["area", "dwelling_type", "year"]
        merged = expected[keys + quantile_columns].merge(mine, on=keys, how="outer", suffixes=("", "_national"),
                                                          indicator=True)
        assert (merged["_merge"] == "both").all(), code
        for column in quantile_columns:
            # the same seed, the same chain, the same quantile call: exactly equal
            np.testing.assert_array_equal(merged[f"{column}_national"].to_numpy(), merged[column].to_numpy(),
                                          err_msg=f"{code} {column}")
    # the streamed run: Parquet table and store hold the same quantiles
    assert list(streamed.status["gemeente"]) == codes[:2] or sorted(streamed.status["gemeente"]) == sorted(codes[:2])
    table = tables_io.read_table(tmp_path / "opgave_quantiles.parquet")
    expected = tables_io.tidy_dtypes(frame[frame["gemeente"].isin(codes[:2])])
    # rows in the order the gemeenten finished (Dask): compare sorted by the labels' text
    table = table.assign(key=table["area"].astype(str)).sort_values(["key", "dwelling_type", "year"],
                                                                    ignore_index=True).drop(columns="key")
    expected = expected.assign(key=expected["area"].astype(str)).sort_values(["key", "dwelling_type", "year"],
                                                                             ignore_index=True).drop(columns="key")
    pd.testing.assert_frame_equal(table.drop(columns=["gemeente", "area", "area_name"]),
                                  expected.drop(columns=["gemeente", "area", "area_name"]), check_exact=True)
    assert table["area"].astype(str).tolist() == expected["area"].astype(str).tolist()
    stored = ad.open_forecast(tmp_path)
    assen = stored.opgave_quantiles.sel(area="WK010600").load()
    np.testing.assert_array_equal(
        assen["opgave"].sel(quantile=0.95).transpose("dwelling_type", "year").values,
        run.quantiles["opgave"].sel(quantile=0.95, area="WK010600").transpose("dwelling_type", "year").values)
    np.testing.assert_array_equal(stored.select("GM0109").values,
                                  singles["GM0109"].population.transpose(*stored.population.dims[:4]).values)
    assert stored.attrs["draws"] == 20 and stored.attrs["seed"] == 11


def test_stochastic_status_rows_reach_the_file_as_each_gemeente_finishes(tmp_path, monkeypatch):
    # issue 20 goal 4: a long national run writes gemeenten.csv row by row (a stopped run keeps
    # what it did) and no failed gemeente is dropped silently; the gemeenten themselves are faked
    import json

    from assen_demand import national_stochastic

    seen_in_file = []

    def fake_one(code, data, settings):
        if (tmp_path / "gemeenten.csv").exists():  # rows of the gemeenten before this one are on disk already
            seen_in_file.append(len(pd.read_csv(tmp_path / "gemeenten.csv")))
        row = {"gemeente": code, "status": "error", "message": f"fake failure of {code}", "areas": 0,
               "clipped_persons": 0.0, "seconds": 1.0, "cpu_seconds": 0.5, "peak_rss_mb": 100.0, "worker": "here:1"}
        return code, None, row

    monkeypatch.setattr(national_stochastic, "_stochastic_one", fake_one)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = national.write_national_stochastic(tmp_path, gemeenten=["GM0106", "GM0109", "GM1680"], draws=3,
                                                    progress=False)
    assert seen_in_file == [0, 1, 2]
    status = pd.read_csv(tmp_path / "gemeenten.csv")
    assert list(status["gemeente"]) == ["GM0106", "GM0109", "GM1680"] and (status["status"] == "error").all()
    assert status["message"].tolist() == [f"fake failure of {c}" for c in ("GM0106", "GM0109", "GM1680")]
    assert list(status.columns) == list(national_stochastic.STATUS_COLUMNS)
    assert status["gemeente_name"].tolist() == ["Assen", "Coevorden", "Aa en Hunze"]
    pd.testing.assert_frame_equal(status, result.status.astype({"clipped_persons": float}), check_dtype=False)
    run = json.loads((tmp_path / national.RUN_RECORD).read_text())
    assert run["draws"] == 3 and run["workers"] == 0 and run["wall_s"] > 0 and len(run["load_end"]) == 3


def test_dask_tasks_keep_their_memory_on_one_thread_and_a_local_run_leaves_the_caller_alone(monkeypatch):
    # a Dask worker runs gemeente after gemeente beside its siblings: it keeps the memory it frees
    # and runs each gemeente on one thread; a run without Dask changes nothing of the caller's process
    import os

    from assen_demand import national_stochastic, processes

    kept, threads = [], []
    monkeypatch.setattr(national_stochastic, "keep_freed_memory", lambda: kept.append(True) or True)
    monkeypatch.setattr(national_stochastic, "_stochastic_one",
                        lambda code, data, settings: threads.append(processes.threads_here(8)) or (code, None, {}))
    national_stochastic._stochastic_task("GM0106", None, {})
    assert kept == [True] and threads == [1]
    list(national_stochastic._run_local([("GM0109", lambda: None)], {}))
    assert kept == [True] and threads == [1, min(os.cpu_count() or 1, 8)]
