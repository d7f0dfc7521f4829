"""Output formats of a national run (issue 22): sizes and read times of CSV, Parquet and Zarr.

    python benchmarks/bench_store.py [--run DIR] [--raw DIR]

``--run DIR`` is the output folder of a national Parquet run (``assen-demand forecast
--gemeente all --format parquet --out DIR``, or :func:`assen_demand.outputs.national.write_national`)
kept from an earlier call: the national run takes minutes, so it is made once and reused. Without
it a smaller run is made here: the gemeenten of the bundled tables (Drenthe), population only.

From the run's ``population.parquet`` this writes ``population.csv`` exactly as the national CSV
run writes it (``scale.national_forecast(out_dir=...)``: pandas ``to_csv``, full precision) and
measures

* sizes: CSV and Parquet bytes and their ratio (``national_csv_over_parquet_size``, goal >= 10);
* reading the whole ``population`` table the way a researcher does, best of 3:
  :func:`~assen_demand.outputs.tables_io.read_table` of the CSV against the Parquet file, both giving
  the same tidy dtypes (categorical labels, int64 year/age, float64 persons), taking turns in this
  process (best of 5 each): wall (``national_population_read_speedup``, goal >= 10) and CPU time
  (``national_population_read_cpu_speedup``; the CSV is read by pandas' C parser on one thread, pyarrow
  uses threads, so CPU time over all threads is the fair measure on a shared machine); and plain
  ``pd.read_csv`` vs ``pd.read_parquet`` (``national_population_pandas_read_speedup``), whose dtypes
  differ (a CSV reads text as ``str``);
* the Zarr store: one gemeente's wijken (``open_forecast(...).select``) against the whole array
  (``national_store_one_gemeente_read_ratio``: the whole array's read time over one gemeente's).

Prints one JSON line; :func:`measure` is called by ``benchmarks/run.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import pandas as pd


def _best(fn, repeat: int = 3) -> float:
    return _best_wall_cpu(fn, repeat)[0]


def _best_wall_cpu(fn, repeat: int = 3) -> tuple[float, float]:
    """Best wall time and best CPU time (this process, all threads) of ``repeat`` calls [s].

    The machine is shared: the CPU time is what an idle machine would show on one core.
    """
    wall = cpu = float("inf")
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall, cpu = min(wall, time.perf_counter() - t0), min(cpu, time.process_time() - c0)
    return wall, cpu


def _interleaved(calls: dict, repeat: int = 3) -> dict:
    """Best wall and best CPU time [s] of each call, the calls taking turns ``repeat`` times.

    On the shared machine the load changes within seconds; taking turns exposes every call to the
    same load (measured one after the other, a CSV read at load 4 was set against a Parquet read at
    load 12). CPU time is this process's, all threads: ``pd.read_csv`` (C engine) runs on one
    thread, so its CPU time is what its wall time would be on an idle core; pyarrow reads with a
    thread pool, so for Parquet the CPU time is the sum over its threads (the fair comparison).
    """
    best = {name: [float("inf"), float("inf")] for name in calls}
    for _ in range(repeat):
        for name, fn in calls.items():
            t0, c0 = time.perf_counter(), time.process_time()
            result = fn()
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            del result  # freeing the frame (hundreds of MB) is not part of reading it
            best[name] = [min(best[name][0], wall), min(best[name][1], cpu)]
    return {name: tuple(value) for name, value in best.items()}


def _row_groups(path: Path) -> int:
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(path).metadata.num_row_groups)


def _load() -> str:
    return f"{os.getloadavg()[0]:.1f}/{os.cpu_count()}"


def small_run(folder: Path, raw=None) -> Path:
    """A national Parquet run of the bundled gemeenten (population only), for a quick measurement."""
    from assen_demand.outputs.national import write_national

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_national(folder, data_dir=raw, tables=("population",), progress=False)
    return folder


def measure(run: Path | None = None, *, raw=None, row=None) -> dict:
    """Sizes and read times of the national population in CSV, Parquet and Zarr (see the module docstring)."""
    import assen_demand as ad
    from assen_demand.outputs import tables_io

    row = row or (lambda case, value, note="": print(f"  {case:<46s} {value:>16s}  {note}", file=sys.stderr))
    scratch = Path(tempfile.mkdtemp(prefix="bench_store_"))
    source = "cached national run"
    if run is None or not (Path(run) / "population.parquet").is_file():
        source = "bundled gemeenten (Drenthe), made here"
        t0 = time.perf_counter()
        run = small_run(scratch / "run", raw)
        row("national run (bundled gemeenten), population", f"{time.perf_counter() - t0:.1f} s", f"load {_load()}")
    run = Path(run)
    parquet = run / "population.parquet"
    csv = scratch / "population.csv"
    frame = pd.read_parquet(parquet)
    # as scale.national_forecast(out_dir=...) writes it (to_csv, full precision), area codes as text
    frame.astype({c: str for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)}).to_csv(
        csv, index=False)
    rows = len(frame)
    areas = int(frame["area"].nunique())
    del frame
    csv_bytes, parquet_bytes = csv.stat().st_size, parquet.stat().st_size
    store_path = run / "forecast.zarr"
    store_bytes = sum(p.stat().st_size for p in store_path.rglob("*") if p.is_file()) if store_path.is_dir() else 0
    # what a researcher does: read_table gives the same tidy dtypes from either file
    load_before = os.getloadavg()[0]
    times = _interleaved({"csv_tidy": lambda: tables_io.read_table(csv),
                          "parquet_tidy": lambda: tables_io.read_table(parquet)}, repeat=5)
    (t_csv_tidy, cpu_csv_tidy), (t_parquet_tidy, cpu_parquet_tidy) = times["csv_tidy"], times["parquet_tidy"]
    times = _interleaved({"csv": lambda: pd.read_csv(csv), "parquet": lambda: pd.read_parquet(parquet)})
    (t_csv, cpu_csv), (t_parquet, cpu_parquet) = times["csv"], times["parquet"]
    row_groups = _row_groups(parquet)
    result = {
        "national_run_source": source,
        "national_population_rows": rows,
        "national_population_areas": areas,
        "national_population_csv_mb": csv_bytes / 1e6,
        "national_population_parquet_mb": parquet_bytes / 1e6,
        "national_store_mb": store_bytes / 1e6,
        "national_csv_over_parquet_size": csv_bytes / parquet_bytes,
        "national_population_parquet_row_groups": row_groups,
        "national_population_read_csv_s": t_csv_tidy,
        "national_population_read_parquet_s": t_parquet_tidy,
        "national_population_read_speedup": t_csv_tidy / t_parquet_tidy,
        "national_population_read_csv_cpu_s": cpu_csv_tidy,
        "national_population_read_parquet_cpu_s": cpu_parquet_tidy,
        "national_population_read_cpu_speedup": cpu_csv_tidy / cpu_parquet_tidy,
        "national_population_pandas_read_csv_s": t_csv,
        "national_population_pandas_read_parquet_s": t_parquet,
        "national_population_pandas_read_speedup": t_csv / t_parquet,
        "national_population_pandas_read_cpu_speedup": cpu_csv / cpu_parquet,
        "load_store_bench": os.getloadavg()[0],
        "load_store_bench_before": load_before,
    }
    row(f"national population: {rows:,} rows, {areas:,} areas", f"{csv_bytes / 1e6:.0f} MB CSV",
        f"Parquet {parquet_bytes / 1e6:.1f} MB ({csv_bytes / parquet_bytes:.1f}x smaller); "
        f"Zarr store {store_bytes / 1e6:.1f} MB; source: {source}")
    row("read population: read_table CSV / Parquet", f"{t_csv_tidy:.2f} / {t_parquet_tidy:.2f} s",
        f"{t_csv_tidy / t_parquet_tidy:.1f}x faster; cpu {cpu_csv_tidy:.2f} / {cpu_parquet_tidy:.2f} s = "
        f"{cpu_csv_tidy / cpu_parquet_tidy:.1f}x; pd.read_csv / pd.read_parquet {t_csv:.2f} / {t_parquet:.2f} s "
        f"({t_csv / t_parquet:.1f}x); {row_groups} row groups; load {_load()}")
    if store_bytes:
        stored = ad.open_forecast(store_path)
        gemeente = str(stored.population["gemeente"].values[0])
        t_one = _best(lambda: ad.open_forecast(store_path).select(gemeente))
        t_all = _best(lambda: ad.open_forecast(store_path).population.load(), 1)
        n_one = int((stored.population["gemeente"].values == gemeente).sum())
        result.update(national_store_one_gemeente_s=t_one, national_store_all_s=t_all,
                      national_store_one_gemeente_read_ratio=t_all / t_one)
        row(f"Zarr: one gemeente ({gemeente}, {n_one} areas) / all", f"{t_one:.3f} / {t_all:.2f} s",
            f"the whole array takes {t_all / t_one:.0f}x as long; load {_load()}")
    csv.unlink()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=None, help="output folder of a national Parquet run")
    parser.add_argument("--raw", type=Path, default=None, help="raw CBS/UN folder for the run made here")
    args = parser.parse_args()
    result = measure(args.run, raw=args.raw)
    print(json.dumps({k: (float(f"{v:.4g}") if isinstance(v, float) else v) for k, v in result.items()}))


if __name__ == "__main__":
    main()
