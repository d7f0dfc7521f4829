"""A national run streamed to disk: Parquet tables and a Zarr store, gemeente by gemeente.

``assen-demand forecast --gemeente all --format parquet`` calls :func:`write_national`: the
gemeenten are run by :func:`assen_demand.scale.national_forecast` (the same chain as the CSV
run) with a :class:`NationalSink` as its ``writer=``, which appends each gemeente's tables to
``<table>.parquet`` (:class:`~assen_demand.outputs.tables_io.TableAppender`, row groups of about
a million rows) and its population to ``forecast.zarr``
(:class:`~assen_demand.outputs.store.NationalStore`) as soon as it is done, so the national
tables are never held in memory.
"""

from __future__ import annotations

import csv
import json
import os
import resource
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import xarray as xr

from assen_demand.errors import InvalidValueError
from assen_demand.national_stochastic import STATUS_COLUMNS, national_stochastic_forecast, quantile_frame
from assen_demand.outputs.store import STORE_NAME, NationalStore
from assen_demand.outputs.tables_io import TableAppender, table_path
from assen_demand.scale import NationalRunWarning, national_forecast, national_year, population_frame

__all__ = ["RUN_RECORD", "STORE_AREAS", "NationalSink", "StochasticSink", "run_national_stochastic", "write_national",
           "write_national_stochastic"]

#: File of a national stochastic run with its wall time, CPU of the client, load and cluster (read by
#: ``benchmarks/run.py --national-stochastic-run``); the per-gemeente times are in ``gemeenten.csv``
RUN_RECORD = "run.json"

#: Areas gathered before one append to ``forecast.zarr`` (about 8 MB of population; an append
#: per gemeente would rewrite the store's area coordinates 345 times)
STORE_AREAS = 256


class _AreaBuffer:
    """Arrays of finished gemeenten held until about ``areas`` areas can go to the store in one append.

    An append per gemeente would rewrite the store's area coordinate once per gemeente (345 times).
    ``add(population, names, *others)`` holds the arrays and says whether the buffer is full;
    ``take()`` returns the held arrays per argument position (``()`` when nothing is held) and the area
    names, and empties it.
    """

    def __init__(self, areas: int):
        self.areas = int(areas)
        self._held: list[tuple] = []
        self._count = 0
        self._names: dict = {}

    def add(self, population, area_names: dict, *others) -> bool:
        self._held.append((population, *others))
        self._count += int(population.sizes["area"])
        self._names.update(area_names)
        return self._count >= self.areas

    def take(self) -> tuple[tuple[list, ...], dict]:
        columns = tuple(list(column) for column in zip(*self._held))  # () when nothing is held
        names = self._names
        self._held, self._count, self._names = [], 0, {}
        return columns, names


class NationalSink:
    """The ``writer=`` of :func:`assen_demand.scale.national_forecast`: Parquet/CSV tables and a store.

    Called once per gemeente; each table goes to a :class:`~assen_demand.outputs.tables_io.TableAppender`
    (which gathers pieces into row groups) and the population to a
    :class:`~assen_demand.outputs.store.NationalStore` in appends of about :data:`STORE_AREAS`
    areas. Memory held: one row group per table and at most :data:`STORE_AREAS` areas.

    Parameters
    ----------
    out : path
        Output folder (exists).
    tables : sequence of str
        ``population`` and the other tables the run makes.
    table_format : {"parquet", "csv"}
    store : NationalStore or None
    store_areas : int
        Areas per store append.
    """

    def __init__(self, out, *, tables: Sequence[str], table_format: str = "parquet", store: NationalStore | None = None,
                 store_areas: int = STORE_AREAS):
        self.writers = {t: TableAppender(table_path(out, t, table_format)) for t in tables}
        self.store = store
        self._buffer = _AreaBuffer(store_areas)

    def __call__(self, gemeente: str, population, tables: dict, area_names: dict) -> None:
        self.writers["population"].append(population_frame(population, area_names))
        for t, frame in tables.items():
            if t in self.writers:
                self.writers[t].append(frame)
        if self.store is not None and self._buffer.add(population, area_names):
            self._flush()

    def _flush(self) -> None:
        columns, names = self._buffer.take()
        if columns:
            self.store.append(xr.concat(columns[0], dim="area"), area_names=names)

    def close(self) -> None:
        """Write what is held and finish every file."""
        try:
            if self.store is not None:
                self._flush()
                self.store.close()
        finally:
            for w in self.writers.values():
                w.close()


def write_national(out, *, data_dir=None, base_year: int | None = None, end_year: int = 2040,
                   gemeenten=None, tables: Sequence[str] = ("population",), processes: int = 1,
                   progress: bool = True, table_format: str = "parquet", store: bool = True, **options):
    """Run every gemeente (or ``gemeenten``) and stream the tables into ``out``.

    Parameters
    ----------
    out : path
        Output folder (created if needed).
    data_dir, base_year, end_year, gemeenten, tables, processes, progress, **options
        As :func:`assen_demand.scale.national_forecast`.
    table_format : {"parquet", "csv"}
        Format of the tables (``population`` and the others asked for, ``gemeente`` first).
    store : bool
        Also write the population to ``forecast.zarr`` (area chunks, ``gemeente`` coordinate).

    Returns
    -------
    (pandas.DataFrame, int, int)
        The status table (``gemeenten.csv``; one row per gemeente), the base year and the end year.
    """

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    year = national_year(data_dir) if base_year is None else int(base_year)
    tables = list(dict.fromkeys(["population", *tables]))
    zarr = NationalStore(out / STORE_NAME, attrs={"base_year": year, "end_year": int(end_year),
                                                  "scenario_name": str(options.get("scenario") or "basis"),
                                                  "variant": str(options.get("variant", "central"))}) if store else None
    sink = NationalSink(out, tables=tables, table_format=table_format, store=zarr)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NationalRunWarning)  # the status rows say why
            result = national_forecast(data_dir, base_year=year, end_year=end_year, gemeenten=gemeenten,
                                       tables=tables, keep=False, processes=processes, progress=progress,
                                       writer=sink, **options)
    finally:
        sink.close()
    result.status.to_csv(out / "gemeenten.csv", index=False)
    return result.status, year, int(end_year)


class StochasticSink:
    """The ``writer=`` of :func:`assen_demand.national_stochastic.national_stochastic_forecast`.

    Appends each gemeente's quantiles of the opgave to ``opgave_quantiles.parquet`` and to the
    ``opgave_quantiles`` group of ``forecast.zarr``, and its central population to the store's
    ``population`` group, in appends of about :data:`STORE_AREAS` areas.

    Parameters
    ----------
    out : path
        Output folder (exists).
    store : NationalStore
    table_format : {"parquet", "csv"}
    store_areas : int
    """

    def __init__(self, out, *, store: NationalStore, table_format: str = "parquet", store_areas: int = STORE_AREAS):
        self.table = TableAppender(table_path(out, "opgave_quantiles", table_format))
        self.store = store
        self._buffer = _AreaBuffer(store_areas)

    def __call__(self, gemeente: str, quantiles, population, area_names: dict) -> None:
        self.table.append(quantile_frame(quantiles, area_names))
        if self._buffer.add(population, area_names, quantiles):
            self._flush()

    def _flush(self) -> None:
        columns, names = self._buffer.take()
        if columns:
            populations, quantiles = columns
            self.store.append(xr.concat(populations, dim="area"), area_names=names)
            self.store.append(xr.concat(quantiles, dim="area"), group="opgave_quantiles")

    def close(self) -> None:
        """Write what is held and finish the table and the store."""
        try:
            self._flush()
            self.store.close()
        finally:
            self.table.close()


def write_national_stochastic(out, *, data_dir=None, draws: int = 200, seed: int = 1, gemeenten=None,
                              base_year: int | None = None, end_year: int = 2040, client=None,
                              progress: bool = True, table_format: str = "parquet", **options):
    """Run the national stochastic forecast and stream its quantiles into ``out``.

    Writes ``opgave_quantiles.parquet`` (tidy: ``gemeente, area, area_name, dwelling_type, year,
    need_q05 .. opgave_q95``), ``forecast.zarr`` (the central population and
    ``opgave_quantiles``, one area per chunk; open with :func:`assen_demand.open_forecast`) and
    ``gemeenten.csv`` (status, seconds and the worker's peak memory per gemeente; a row is added as
    each gemeente finishes, so a run that is stopped keeps the status of what it did) and
    ``run.json`` (:data:`RUN_RECORD`: wall time, the client's CPU time and peak memory, the load
    average at the start and the end, the Dask workers).

    Parameters
    ----------
    out : path
        Output folder (created if needed).
    data_dir, draws, seed, gemeenten, base_year, end_year, client, progress, **options
        As :func:`assen_demand.national_stochastic.national_stochastic_forecast`.
    table_format : {"parquet", "csv"}

    Returns
    -------
    assen_demand.national_stochastic.NationalStochastic
        Its status (the quantiles are on disk, not kept).
    """

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started, cpu_started, load_start = time.perf_counter(), time.process_time(), os.getloadavg()
    started_utc = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    year = national_year(data_dir) if base_year is None else int(base_year)
    zarr = NationalStore(out / STORE_NAME, attrs={"base_year": year, "end_year": int(end_year), "draws": int(draws),
                                                  "seed": int(seed), "kind": "national_stochastic",
                                                  "scenario_name": str(options.get("scenario") or "basis")})
    sink = StochasticSink(out, store=zarr, table_format=table_format)
    status_path = out / "gemeenten.csv"
    with status_path.open("w", newline="", encoding="utf-8") as handle:
        log = csv.DictWriter(handle, fieldnames=list(STATUS_COLUMNS))
        log.writeheader()
        handle.flush()

        def on_status(row: dict) -> None:
            log.writerow(row)
            handle.flush()

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NationalRunWarning)  # the status rows say why
                result = national_stochastic_forecast(data_dir, draws=draws, seed=seed, gemeenten=gemeenten,
                                                      base_year=year, end_year=end_year, client=client, writer=sink,
                                                      keep=False, progress=progress, on_status=on_status, **options)
        finally:
            sink.close()
    result.status.to_csv(status_path, index=False)
    workers = client.scheduler_info().get("workers", {}) if client is not None else {}
    record = {"started_utc": started_utc, "wall_s": time.perf_counter() - started,
              "client_cpu_s": time.process_time() - cpu_started,
              "client_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10,
              "workers": len(workers) if client is not None else 0,
              "threads_per_worker": sorted({int(w.get("nthreads", 0)) for w in workers.values()}),
              "scheduler": None if client is None else str(client.scheduler.address),
              "draws": int(draws), "seed": int(seed), "base_year": year, "end_year": int(end_year),
              "load_start": list(load_start), "load_end": list(os.getloadavg())}
    (out / RUN_RECORD).write_text(json.dumps(record, indent=2), encoding="utf-8")
    return result


def run_national_stochastic(out, *, workers: int = 2, scheduler: str | None = None, **options):
    """:func:`write_national_stochastic` on a Dask cluster made here or at ``scheduler``.

    Parameters
    ----------
    out : path
        Output folder.
    workers : int
        Without ``scheduler``: a ``LocalCluster`` of this many worker processes with one thread each
        (each runs one gemeente at a time; memory per worker is one gemeente's draws: Amsterdam, the
        largest, peaks at about 1.1 GB with 200 draws).
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``, started with ``dask scheduler``,
        workers with ``dask worker tcp://host:8786``); its workers run the gemeenten.
    **options
        Passed to :func:`write_national_stochastic` (``data_dir``, ``draws``, ``seed``, ``gemeenten``, ...).

    Returns
    -------
    assen_demand.national_stochastic.NationalStochastic
    """
    from dask import distributed  # only for this run: the package imports without a cluster

    if scheduler:
        with distributed.Client(scheduler) as client:
            return write_national_stochastic(out, client=client, **options)
    if int(workers) < 1:
        raise InvalidValueError(f"workers must be at least 1, got {workers}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # distributed's port-in-use notes
        with distributed.LocalCluster(n_workers=int(workers), threads_per_worker=1, processes=True,
                                      dashboard_address=None, memory_limit=0) as cluster, \
                distributed.Client(cluster) as client:
            return write_national_stochastic(out, client=client, **options)
