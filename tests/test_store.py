"""Issue 22: Parquet tables and the Zarr store give the same tables as the CSV run.

Round trips on the Assen run with and without draws: every table read back from CSV, Parquet
and Zarr has the same columns and dtypes; Parquet and Zarr hold exactly the forecast's numbers,
CSV the same to its four decimals. A national store is read one gemeente at a time (chunk
access test), and the monitoring report sees a CSV run and a Parquet/Zarr run as equal.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import assen_demand as ad
from assen_demand.errors import DataFormatError, InvalidValueError, MissingDataError
from assen_demand.outputs import export, monitoring, store, tables_io
from products_helpers import assen_forecast as shared_assen_forecast

#: The CSV writer's rounding (float_format "%.4f"): half a unit of the fourth decimal, plus the
#: float error of the comparison itself (a value of 52.00625 written as 52.0063 differs by 5e-5 and a
#: few ulps, because the binary value lies just above the decimal half)
CSV_TOLERANCE = 5e-5 + 1e-9


@pytest.fixture(scope="module")
def assen_forecast():
    # the one default forecast of the session (products_helpers): a second run here cost 7 s of CPU
    return shared_assen_forecast()


@pytest.fixture(scope="module")
def assen_draws():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ad.forecast(draws=8, seed=3, progress=False)


def _write_three_formats(result, folder):
    """``result`` written once as a CSV run, a Parquet run (``write_forecast``) and a Zarr store.

    The tests below share these folders: each format took 2.5-3 s of CPU to write, and the round
    trip, report and chunking tests wrote them again each (issue 17: the fast subset under a minute).
    """
    record = export.provenance(result)
    runs = {fmt: folder / fmt for fmt in tables_io.TABLE_FORMATS}
    for fmt, out in runs.items():
        export.write_forecast(result, out, provenance_record=record, table_format=fmt)
    runs["zarr"] = result.to_zarr(folder / store.STORE_NAME, provenance_record=record)
    return runs


@pytest.fixture(scope="module")
def assen_forecast_written(assen_forecast, tmp_path_factory):
    return assen_forecast, _write_three_formats(assen_forecast, tmp_path_factory.mktemp("assen_written"))


@pytest.fixture(scope="module")
def assen_draws_written(assen_draws, tmp_path_factory):
    return assen_draws, _write_three_formats(assen_draws, tmp_path_factory.mktemp("draws_written"))


def _three_formats(result, runs):
    """Every table of ``result`` as read back from CSV, Parquet and Zarr, and from memory."""
    memory = {k: tables_io.tidy_dtypes(v) for k, v in export.csv_tables(result).items()}
    out = {}
    for fmt in tables_io.TABLE_FORMATS:  # written by write_forecast (the workbook is tested elsewhere)
        out[fmt] = {k: tables_io.read_table(tables_io.table_path(runs[fmt], k, fmt)) for k in memory}
    stored = ad.open_forecast(runs["zarr"])
    out["zarr"] = {k: tables_io.tidy_dtypes(v) for k, v in stored.tables().items()}
    return memory, out


@pytest.mark.parametrize("which", ["assen_forecast_written",
                                   pytest.param("assen_draws_written", marks=pytest.mark.slow)])
def test_csv_parquet_and_zarr_give_the_same_tables(which, request):
    result, runs = request.getfixturevalue(which)
    memory, read = _three_formats(result, runs)
    assert set(memory) >= {"population", "households", "care_need", "dwellings", "doorstroming", "mantelzorg",
                           "opgave", "stock", "voorzieningen"}
    for fmt, tables in read.items():
        assert list(tables) == list(memory), fmt
        for name, expected in memory.items():
            got = tables[name]
            # same columns in the same order, same dtypes (categorical labels, int year/age, float numbers)
            pd.testing.assert_series_equal(got.dtypes, expected.dtypes, obj=f"{fmt} {name} dtypes")
            if fmt == "csv":
                pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=0, atol=CSV_TOLERANCE,
                                              obj=f"csv {name}")
            else:  # full precision: the forecast's own numbers
                pd.testing.assert_frame_equal(got, expected, check_exact=True, obj=f"{fmt} {name}")
    if which == "assen_draws_written":
        assert "need_q05" in memory["dwellings"] and "persons_q95" in memory["population"]


def test_labels_are_categorical_and_years_whole(assen_forecast, tmp_path):
    path = tables_io.write_table(assen_forecast.to_frame("population"), tmp_path / "population.parquet")
    frame = tables_io.read_table(path)
    assert {c: str(frame[c].dtype) for c in frame} == {
        "area": "category", "area_name": "category", "sex": "category", "age": "int64", "year": "int64",
        "persons": "float64"}
    # the gemeente first, then its wijken: the forecast's own order, not sorted
    assert list(frame["area"].cat.categories[:2]) == ["GM0106", "WK010600"]
    assert frame["persons"].sum() == pytest.approx(float(assen_forecast.population.sum()), rel=1e-12)


@pytest.mark.slow  # a forecast with draws (the fast subset has the store round trip without them above)
def test_store_round_trips_arrays_coordinates_attributes_and_draws(assen_draws, tmp_path):
    result = assen_draws
    stored = ad.open_forecast(result.to_zarr(tmp_path / "assen.zarr", keep_draws=True))
    for name in ("population", "care_need", "doorstroming"):
        xr.testing.assert_identical(getattr(stored, name).load(), getattr(result, name))
    for name in ("households", "dwellings", "mantelzorg", "need", "stock", "opgave"):
        xr.testing.assert_equal(getattr(stored, name).load(), getattr(result, name))
        assert getattr(stored, name).attrs == getattr(result, name).attrs
    xr.testing.assert_identical(stored.uncertainty.population.load(), result.uncertainty.population)
    xr.testing.assert_equal(stored.uncertainty.dwellings.load(), result.uncertainty.dwellings)
    assert stored.uncertainty.draws == 8 and stored.uncertainty.seed == result.uncertainty.seed
    pd.testing.assert_frame_equal(stored.uncertainty.settings.astype(str), result.uncertainty.settings.astype(str))
    assert (stored.gemeente, stored.scenario_name, stored.variant) == ("GM0106", "basis", "central")
    assert (stored.base_year, stored.end_year) == (2024, 2040)
    assert stored.attrs["assen_demand_version"] == ad.__version__
    assert stored.area_names == {str(k): str(v) for k, v in result.area_names.items()}
    assert stored.provenance["gemeente"] == "GM0106" and stored.provenance["draws"] == 0  # to_zarr's default record
    assert len(stored.sources) == len(export.sources_table(result))


@pytest.mark.slow  # the draws fixture (8 draws of Assen)
def test_store_of_a_draws_run_keeps_quantiles_only_by_default(assen_draws_written, tmp_path):
    result, runs = assen_draws_written
    path = runs["zarr"]  # written by to_zarr's default
    assert not (path / "draws").exists() and (path / "quantiles" / "population" / "zarr.json").is_file()
    stored = ad.open_forecast(path)
    assert (stored.uncertainty.draws, stored.uncertainty.seed) == (8, result.uncertainty.seed)
    for name in ("population", "dwellings", "need", "households", "care_need", "doorstroming"):
        expected = result.uncertainty.quantiles(name)
        got = stored.uncertainty.quantiles(name)
        (xr.testing.assert_identical if name == "population" else xr.testing.assert_equal)(got, expected)
    with pytest.raises(MissingDataError, match="keep_draws=True"):
        stored.uncertainty.quantiles("population", [0.25])
    full = result.to_zarr(tmp_path / "all.zarr", keep_draws=True)

    def size(folder):
        return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())

    # 8 draws of the population against 3 quantiles: the default store is the smaller one
    assert size(path) < size(full)
    # with every draw, other quantiles can be taken from the store
    assert ad.open_forecast(full).uncertainty.quantiles("population", [0.25]).sizes["quantile"] == 1


def test_store_is_chunked_by_area(assen_forecast_written):
    assen_forecast, runs = assen_forecast_written
    path = runs["zarr"]
    meta = json.loads((path / "population" / "population" / "zarr.json").read_text())
    assert meta["chunk_grid"]["configuration"]["chunk_shape"] == [store.AREA_CHUNK, 2, 101, 17]
    dask_backed = ad.open_forecast(path, chunks={})
    assert dask_backed.population.chunks[0] == (1,) * assen_forecast.population.sizes["area"]


def _national_piece(codes_and_wijken, rng):
    areas, gemeente = [], []
    for code, n in codes_and_wijken:
        areas += [code] + [f"WK{code[2:]}{i:02d}" for i in range(n)]
        gemeente += [code] * (n + 1)
    data = rng.uniform(1, 50, size=(len(areas), 2, 101, 3))
    return xr.DataArray(data, dims=("area", "sex", "age", "year"), name="persons",
                        coords={"area": areas, "sex": ["male", "female"], "age": np.arange(101),
                                "year": [2024, 2025, 2026], "gemeente": ("area", gemeente)})


def test_national_store_reads_one_gemeente_without_the_others(tmp_path):
    rng = np.random.default_rng(22)
    pieces = [_national_piece([("GM0014", 3), ("GM0034", 2)], rng), _national_piece([("GM0106", 4)], rng),
              _national_piece([("GM0363", 5), ("GM0518", 1)], rng)]
    path = tmp_path / "national.zarr"
    with store.NationalStore(path, attrs={"base_year": 2024, "end_year": 2026}) as out:
        for piece in pieces:
            out.append(piece, area_names={a: f"naam {a}" for a in piece["area"].values})
    everything = xr.concat(pieces, dim="area")
    stored = ad.open_forecast(path)
    assert stored.population.sizes["area"] == everything.sizes["area"] == 20
    assert stored.area_names["WK010600"] == "naam WK010600"
    # delete every chunk of the population array that holds an area of another gemeente
    mine = np.flatnonzero(everything["gemeente"].values == "GM0106")
    chunk_dir = path / "population" / "population" / "c"
    removed = 0
    for chunk in chunk_dir.iterdir():
        if int(chunk.name) not in set(mine):
            for f in chunk.rglob("*"):
                if f.is_file():
                    f.unlink()
                    removed += 1
    assert removed == everything.sizes["area"] - len(mine)
    selected = ad.open_forecast(path).select("GM0106")
    # read only from the chunks that are left: every value there, none missing
    xr.testing.assert_equal(selected.drop_vars("gemeente"), everything.isel(area=mine).drop_vars("gemeente"))
    # and the deleted chunks are really gone: another gemeente now reads as missing (the fill value)
    assert ad.open_forecast(path).population.sel(area="GM0014").isnull().all()
    with pytest.raises(MissingDataError, match="GM9999"):
        stored.select("GM9999")


def test_appended_parquet_pieces_keep_labels_and_filter_by_gemeente(tmp_path):
    rng = np.random.default_rng(7)
    path = tmp_path / "population.parquet"
    frames = []
    with tables_io.TableAppender(path) as out:
        for piece in ([("GM0014", 3)], [("GM0106", 200)]):  # the second piece brings > 127 new labels
            da = _national_piece(piece, rng)
            frame = da.drop_vars("gemeente").to_dataframe().reset_index()
            frame.insert(0, "gemeente", frame["area"].map(dict(zip(da["area"].values, da["gemeente"].values))))
            out.append(frame)
            frames.append(frame)
    expected = tables_io.tidy_dtypes(pd.concat(frames, ignore_index=True))
    pd.testing.assert_frame_equal(tables_io.read_table(path), expected, check_exact=True)
    one = tables_io.read_table(path, filters=[("gemeente", "==", "GM0106")], columns=["area", "persons"])
    assert len(one) == 201 * 2 * 101 * 3 and list(one.columns) == ["area", "persons"]


def test_report_sees_a_csv_run_and_a_parquet_or_zarr_run_as_equal(assen_forecast_written):
    _, runs = assen_forecast_written  # a CSV and a Parquet run of write_forecast, a store of to_zarr: one record
    csv_run = export.read_run(runs["csv"])
    for other in (runs["parquet"], runs["zarr"]):
        run = export.read_run(other)
        pd.testing.assert_frame_equal(run.population, csv_run.population, check_exact=False, atol=CSV_TOLERANCE,
                                      check_dtype=False)
        report = monitoring.compare_runs(csv_run, run)
        assert report.changes.empty
        assert set(report.comparison["Oorzaak"]) == {"geen wijziging"}
        # an indicator sums at most 2 sexes x 101 ages of CSV cells, each rounded to 4 decimals
        assert report.comparison["Verschil"].abs().max() <= 2 * 101 * CSV_TOLERANCE


def test_table_format_default_and_its_dutch_line():
    from argparse import Namespace

    from assen_demand.cli import _table_format

    one = Namespace(gemeente="GM0106", table_format=None)
    assert _table_format(one, {}) == ("csv", "tabellen als CSV (standaard voor een gemeente; met --format parquet "
                                             "als Parquet)")
    fmt, line = _table_format(one, {"draws": 100})
    assert fmt == "parquet" and "standaard bij --draws" in line and "forecast.zarr" in line
    fmt, line = _table_format(Namespace(gemeente="all", table_format=None), {})
    assert fmt == "parquet" and "--gemeente all" in line
    assert _table_format(Namespace(gemeente="all", table_format="csv"), {})[0] == "csv"


def test_bad_paths_and_formats_name_the_fix(tmp_path):
    with pytest.raises(MissingDataError, match="not a forecast store"):
        ad.open_forecast(tmp_path)
    with pytest.raises(MissingDataError, match="not found"):
        tables_io.read_table(tmp_path / "population.parquet")
    (tmp_path / "t.txt").write_text("a\n1\n")
    with pytest.raises(DataFormatError, match="neither .csv nor .parquet"):
        tables_io.read_table(tmp_path / "t.txt")
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataFormatError, match="not a readable Parquet"):
        tables_io.read_table(tmp_path / "broken.parquet")
    with pytest.raises(InvalidValueError, match="csv, parquet"):
        tables_io.table_path(tmp_path, "population", "xlsx")
    with pytest.raises(DataFormatError, match="whole number"):
        tables_io.tidy_dtypes(pd.DataFrame({"year": [2024.5]}))


@pytest.mark.slow
def test_cli_parquet_run_and_report_against_a_csv_run(tmp_path, capsys):
    from assen_demand.cli import main

    assert main(["forecast", "--out", str(tmp_path / "csv")]) == 0
    assert main(["forecast", "--format", "parquet", "--out", str(tmp_path / "parquet")]) == 0
    printed = capsys.readouterr().out
    assert "tabellen als CSV (standaard voor een gemeente; met --format parquet als Parquet)" in printed
    assert "tabellen als Parquet en de arrays in forecast.zarr (gekozen met --format" in printed
    folder = tmp_path / "parquet"
    assert (folder / "population.parquet").is_file() and not (folder / "population.csv").exists()
    assert (folder / "forecast.xlsx").is_file() and (folder / store.STORE_NAME / "zarr.json").is_file()
    manifest = {e["path"] for e in json.loads((folder / "provenance.json").read_text())["manifest"]}
    assert "volkshuisvestingsprogramma.parquet" in manifest and "forecast.zarr/zarr.json" in manifest
    for table in ("population", "dwellings", "opgave"):
        pd.testing.assert_frame_equal(tables_io.read_table(folder / f"{table}.parquet"),
                                      tables_io.read_table(tmp_path / "csv" / f"{table}.csv"),
                                      check_exact=False, rtol=0, atol=CSV_TOLERANCE)
    assert main(["report", "--previous", str(tmp_path / "csv"), "--current", str(folder),
                 "--out", str(tmp_path / "report.csv")]) == 0
    report = pd.read_csv(tmp_path / "report.csv")
    # exactly what comparing the CSV run with itself says (an indicator that is NaN in both runs, the
    # affordable share of a programme without plans, reads 'onverklaard' there too)
    csv_run = export.read_run(tmp_path / "csv")
    itself = monitoring.compare_runs(csv_run, csv_run).comparison
    assert report["Oorzaak"].tolist() == itself["Oorzaak"].tolist()
    assert (report["Oorzaak"] == "geen wijziging").sum() >= len(report) - 1


@pytest.mark.slow
def test_cli_list_of_gemeenten_streams_parquet_and_a_store(tmp_path, capsys):
    from assen_demand.cli import main

    out = tmp_path / "two"
    assert main(["forecast", "--gemeente", "GM0106,GM0109", "--end-year", "2030", "--out", str(out)]) == 0
    assert "tabellen als Parquet en de arrays in forecast.zarr (standaard bij --gemeente GM0106,GM0109" in \
        capsys.readouterr().out
    population = tables_io.read_table(out / "population.parquet")
    assert list(population["gemeente"].cat.categories) == ["GM0106", "GM0109"]
    households = tables_io.read_table(out / "households.parquet", filters=[("gemeente", "==", "GM0109")])
    assert set(households["gemeente"]) == {"GM0109"}
    run = ad.open_forecast(out)
    coevorden = run.select("GM0109")
    expected = population[population["gemeente"] == "GM0109"]["persons"].sum()
    assert float(coevorden.sum()) == pytest.approx(expected, rel=1e-12)
