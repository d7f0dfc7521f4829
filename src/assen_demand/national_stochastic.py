"""The national whole-chain stochastic forecast: every gemeente, N draws, quantiles of the opgave.

Each gemeente runs the single-gemeente chain with Monte Carlo draws,
:func:`assen_demand.pipeline.forecast` with ``draws=N`` (:func:`assen_demand.uncertainty.simulate_forecast`):
the gemeente's migration draws are shared by its wijken (each draw constrained to the gemeente),
then households, care, need, stock and opgave are computed per draw. Only the quantiles of the
opgave and the need per wijk, dwelling type and year leave the worker, with the central
population, so the national result is small (about 3,600 areas x 5 types x 19 years x 3
quantiles) while every draw of a gemeente lives in one worker only while it runs.

With ``client=`` (a ``dask.distributed.Client``) the gemeenten run as Dask tasks: on a
``LocalCluster`` on one machine or, unchanged, on a cluster of many machines
(``Client("tcp://scheduler:8786")``). The client reads the data once and sends each task its own
gemeente's inputs (:meth:`assen_demand.inputs.datasets.NationalData.for_gemeente`, a few MB),
so the workers need neither the raw files nor a shared disk. At most ``2 x workers`` tasks are
in flight, so neither the client nor the scheduler holds the whole country; results are handed
to ``writer`` in the order they finish.

Random numbers: every gemeente is run with the same ``seed``, exactly as
``forecast(gemeente, draws=N, seed=seed)`` would run it alone, so each gemeente's quantiles are
those of its own single-gemeente run (tested). The draws of different gemeenten therefore share
their random streams (common random numbers): the marginal quantiles per wijk are right, but a
sum over gemeenten of draw ``d`` is not a draw of the national total.
"""

from __future__ import annotations

import os
import resource
import socket
import sys
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import pandas as pd
import xarray as xr

from assen_demand import pipeline
from assen_demand.datamodel import QUANTILES, quantile_name
from assen_demand.display import summary_repr
from assen_demand.draw_quantiles import quantiles_over_draws
from assen_demand.errors import AssenDemandError, InvalidValueError, MissingDataError, UnknownAreaError
from assen_demand.inputs.datasets import load_national
from assen_demand.scale import NationalRunWarning, national_year
from assen_demand.arguments import check_whole_numbers
from assen_demand.processes import keep_freed_memory, one_thread_each

__all__ = [
    "OPGAVE_VARIABLES",
    "NationalStochastic",
    "gemeente_opgave_quantiles",
    "national_stochastic_forecast",
    "quantile_frame",
]

#: Variables of the opgave whose quantiles over the draws are kept (as ``opgave.to_frame`` shows them)
OPGAVE_VARIABLES = ("need", "opgave")
#: Columns of :attr:`NationalStochastic.status` (``peak_rss_mb`` and ``worker``: the worker process that ran it)
STATUS_COLUMNS = ("gemeente", "gemeente_name", "status", "message", "areas", "clipped_persons", "seconds",
                  "cpu_seconds", "peak_rss_mb", "worker")
#: Tasks in flight per Dask worker (one running, one waiting)
_IN_FLIGHT_PER_WORKER = 2


def _peak_rss_mb() -> float:
    """Peak resident memory of this process so far [MB] (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def gemeente_opgave_quantiles(gemeente: str, *, data, draws: int, seed: int, base_year: int | None = None,
                              end_year: int = 2040, q: Sequence[float] = QUANTILES, **options) -> dict:
    """One gemeente's forecast with draws, reduced to quantiles of the opgave per wijk.

    Parameters
    ----------
    gemeente : str
        CBS code.
    data : assen_demand.inputs.datasets.GemeenteData
        Its inputs.
    draws, seed : int
        As :func:`assen_demand.pipeline.forecast`.
    base_year, end_year : int
    q : sequence of float
        Probabilities.
    **options
        Passed to :func:`assen_demand.pipeline.forecast`.

    Returns
    -------
    dict
        ``quantiles``: xarray.Dataset (quantile, area, dwelling_type, year) [dwellings or places]
        with ``need`` and ``opgave`` (the quantiles ``opgave.to_frame`` computes over ``draw``);
        ``population``: xarray.DataArray (area, sex, age, year) [persons], the central run;
        ``area_names``: dict; ``clipped_persons``: float.
    """
    fc = pipeline.forecast(gemeente, base_year=base_year, end_year=end_year, data=data, draws=draws, seed=seed,
                           progress=False, opgave_only=True, **options)
    opgave = fc.opgave
    if opgave is None or "draw" not in opgave.dims:
        raise MissingDataError(f"{gemeente}: the forecast has no opgave per draw; the stock step needs KWB dwellings")
    # the numbers opgave.to_frame gives, every probability from one sort of the draws (nursing
    # places in wijken: all NaN by design)
    quantiles = quantiles_over_draws(opgave[list(OPGAVE_VARIABLES)], [float(value) for value in q]).transpose(
        "quantile", "area", "dwelling_type", "year")
    return {"quantiles": quantiles, "population": fc.population.load(), "area_names": dict(fc.area_names),
            "clipped_persons": float(fc.uncertainty.clipped_persons)}


def _stochastic_one(code: str, data, settings: dict) -> tuple[str, dict | None, dict]:
    """Run one gemeente on a worker; never raises (the failure goes into the status row)."""
    t0, c0 = time.perf_counter(), time.process_time()
    row = {"gemeente": code, "status": "ok", "message": "", "areas": 0, "clipped_persons": 0.0}
    result = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # per-gemeente data warnings would bury the progress bar
            result = gemeente_opgave_quantiles(code, data=data, **settings)
        tag = ("area", [code] * result["population"].sizes["area"])
        result["population"] = result["population"].assign_coords(gemeente=tag)
        result["quantiles"] = result["quantiles"].assign_coords(gemeente=tag)
        row["areas"] = int(result["population"].sizes["area"])
        row["clipped_persons"] = result["clipped_persons"]
    except (MissingDataError, UnknownAreaError) as exc:
        row.update(status="missing_data", message=str(exc))
    except AssenDemandError as exc:
        row.update(status="error", message=f"{type(exc).__name__}: {exc}")
    except Exception as exc:  # noqa: BLE001 - reported per gemeente, see the status table
        row.update(status="error", message=f"{type(exc).__name__}: {exc}")
    row["seconds"] = time.perf_counter() - t0
    # CPU of the worker process while the task ran (one task at a time per worker process)
    row["cpu_seconds"] = time.process_time() - c0
    row["peak_rss_mb"] = _peak_rss_mb()
    row["worker"] = f"{socket.gethostname()}:{os.getpid()}"  # peak_rss_mb is per worker process
    return code, result, row


@summary_repr
@dataclass(frozen=True, eq=False)
class NationalStochastic:
    """Quantiles of the opgave per wijk of every gemeente of a national stochastic run.

    Attributes
    ----------
    quantiles : xarray.Dataset (quantile, area, dwelling_type, year) or None [dwellings or places]
        ``need`` and ``opgave``; a ``gemeente`` coordinate on ``area``. ``None`` with ``keep=False``.
    status : pandas.DataFrame
        ``gemeente, gemeente_name, status, message, areas, clipped_persons, seconds,
        cpu_seconds, peak_rss_mb, worker`` per gemeente (``peak_rss_mb``: the peak resident memory of the
        worker process ``worker`` (host:pid) when the gemeente was done).
    draws, seed, base_year, end_year : int
    area_names : dict
    seconds : float
        Wall time of the run.
    """

    quantiles: xr.Dataset | None
    status: pd.DataFrame
    draws: int
    seed: int
    base_year: int
    end_year: int
    area_names: dict = field(repr=False)
    seconds: float = float("nan")

    def to_frame(self) -> pd.DataFrame:
        """Tidy table ``gemeente, area, area_name, dwelling_type, year, need_q05, ..., opgave_q95``."""
        if self.quantiles is None:
            raise MissingDataError("the quantiles were not kept (keep=False); read opgave_quantiles.parquet")
        return quantile_frame(self.quantiles, self.area_names)


def quantile_frame(quantiles: xr.Dataset, area_names: dict) -> pd.DataFrame:
    """The quantiles of the opgave as a tidy table, one column per variable and probability.

    Parameters
    ----------
    quantiles : xarray.Dataset (quantile, area, dwelling_type, year)
        ``need`` and ``opgave``, a ``gemeente`` coordinate on ``area``.
    area_names : dict
        Area code -> name.

    Returns
    -------
    pandas.DataFrame
        ``gemeente, area, area_name, dwelling_type, year, need_q05, need_q50, need_q95,
        opgave_q05, opgave_q50, opgave_q95`` (the columns ``opgave.to_frame`` gives a single run).
    """
    gemeente = dict(zip(quantiles["area"].values, quantiles["gemeente"].values))
    keys = ["area", "dwelling_type", "year"]
    frame = None
    for name in OPGAVE_VARIABLES:
        for i, value in enumerate(quantiles["quantile"].values):
            part = quantiles[name].isel(quantile=i, drop=True).drop_vars("gemeente")
            column = part.rename(f"{name}_{quantile_name(value)}").to_dataframe().reset_index()
            frame = column if frame is None else frame.merge(column, on=keys, how="left")
    frame.insert(0, "gemeente", frame["area"].map(gemeente))
    frame.insert(2, "area_name", frame["area"].map(area_names))
    return frame


def _codes(national, year: int, gemeenten) -> list[str]:
    if isinstance(gemeenten, str):
        gemeenten = None if gemeenten.strip().lower() == "all" else [gemeenten]
    if gemeenten is None:
        return [str(c) for c in national.gemeenten(year)["area"]]
    codes = list(dict.fromkeys(national.resolve_gemeente(g) for g in gemeenten))
    if not codes:
        raise InvalidValueError('gemeenten is empty; give codes or names, or "all" (None) for every gemeente')
    return codes


def _stochastic_task(code: str, data, settings: dict) -> tuple[str, dict | None, dict]:
    """:func:`_stochastic_one` as a task of a Dask worker process, which runs gemeente after
    gemeente while its siblings keep the other cores busy: it keeps the memory it frees for the
    next gemeente (:func:`assen_demand.processes.keep_freed_memory`) and runs each on one thread.
    A run without Dask (``client=None``) calls :func:`_stochastic_one` in the caller's process,
    whose memory settings and threads it leaves alone."""
    keep_freed_memory()
    with one_thread_each():
        return _stochastic_one(code, data, settings)


def _run_local(jobs, settings):
    for code, data in jobs:
        yield _stochastic_one(code, data(), settings)


def _run_dask(client, jobs, settings):
    """Submit a few tasks per worker at a time; yield results as they finish."""
    from dask.distributed import as_completed

    workers = max(1, len(client.scheduler_info().get("workers", {})))
    pending = iter(jobs)
    [shared] = client.scatter([settings], broadcast=True)

    def submit(job):
        code, data = job
        return client.submit(_stochastic_task, code, data(), shared, pure=False, key=f"stochastic-{code}")

    first = [submit(job) for _, job in zip(range(_IN_FLIGHT_PER_WORKER * workers), pending)]
    running = as_completed(first)
    for future in running:
        try:
            done = future.result()
        except Exception as exc:  # noqa: BLE001 - the task itself never raises: its worker died (memory?) or was lost
            code = str(future.key).removeprefix("stochastic-")
            done = code, None, {"gemeente": code, "status": "error", "areas": 0, "clipped_persons": 0.0,
                                "message": f"Dask: {type(exc).__name__}: {exc}", "seconds": float("nan"),
                                "cpu_seconds": float("nan"), "peak_rss_mb": float("nan"), "worker": ""}
        future.release()
        yield done
        job = next(pending, None)
        if job is not None:
            running.add(submit(job))


def national_stochastic_forecast(
    data_dir=None,
    *,
    draws: int = 200,
    seed: int = 1,
    gemeenten: Iterable[str] | str | None = None,
    base_year: int | None = None,
    end_year: int = 2040,
    client=None,
    writer=None,
    keep: bool = True,
    progress: bool = True,
    q: Sequence[float] = QUANTILES,
    on_status=None,
    **options,
) -> NationalStochastic:
    """Whole-chain Monte Carlo forecast of every gemeente, reduced to quantiles of the opgave per wijk.

    Parameters
    ----------
    data_dir : path, optional
        Folder of raw CBS/UN files (``None``: the bundled tables, only Drenthe).
    draws : int
        Monte Carlo draws per gemeente.
    seed : int
        Seed of every gemeente's draws (see the module notes).
    gemeenten : iterable of str, or str, optional
        Codes or names; ``None`` or ``"all"``: every gemeente of ``base_year``.
    base_year : int, optional
        Default :func:`assen_demand.scale.national_year`.
    end_year : int
    client : dask.distributed.Client, optional
        Run the gemeenten as Dask tasks on its cluster; ``None`` runs them here, one by one.
    writer : callable, optional
        ``writer(gemeente, quantiles, population, area_names)`` for every gemeente that ran, as
        soon as it is done (:class:`assen_demand.outputs.national.StochasticSink` writes
        ``forecast.zarr`` and ``opgave_quantiles.parquet``).
    keep : bool
        Return the quantiles of all gemeenten (``False``: only the status).
    progress : bool
        A tqdm bar over the gemeenten.
    q : sequence of float
        Probabilities.
    on_status : callable, optional
        ``on_status(row)`` with each gemeente's status row (a dict with the columns of
        ``NationalStochastic.status``) as soon as it is done, failed gemeenten included, so a
        long run's progress is on disk before it ends.
    **options
        Passed to :func:`assen_demand.pipeline.forecast` (e.g. ``scenario="lage_migratie"``).

    Returns
    -------
    NationalStochastic
    """
    check_whole_numbers("national_stochastic_forecast", {"draws": draws, "seed": seed, "end_year": end_year})
    if draws < 1:
        raise InvalidValueError(f"draws must be at least 1, got {draws}; use scale.national_forecast without draws")
    t0 = time.perf_counter()
    national = load_national(data_dir)
    year = national_year(data_dir) if base_year is None else int(base_year)
    listed = national.gemeenten(year)
    if listed.empty:
        raise MissingDataError(f"no KWB gemeente rows for {year}; choose another base_year")
    names = dict(zip(listed["area"], listed["area_name"]))
    codes = _codes(national, year, gemeenten)
    settings = {"draws": int(draws), "seed": int(seed), "base_year": year, "end_year": int(end_year),
                "q": tuple(float(v) for v in q), **options}
    # each task gets only its own gemeente's inputs, made when it is submitted (not all up front)
    jobs = [(code, (lambda c=code: national.for_gemeente(c))) for code in codes]
    results = _run_local(jobs, settings) if client is None else _run_dask(client, jobs, settings)
    rows, kept, area_names = [], [], {}
    bar = _bar(len(codes), progress)
    try:
        for code, result, row in results:
            row["gemeente_name"] = names.get(code, code)
            rows.append(row)
            if on_status is not None:
                on_status({column: row.get(column) for column in STATUS_COLUMNS})
            bar.update(1)
            if result is None:
                continue
            area_names.update(result["area_names"])
            if writer is not None:
                writer(code, result["quantiles"], result["population"], result["area_names"])
            if keep:
                kept.append(result["quantiles"])
    finally:
        bar.close()
    status = pd.DataFrame(rows, columns=list(STATUS_COLUMNS))
    failed = status[status["status"] != "ok"]
    if len(failed):
        warnings.warn(f"{len(failed)} of {len(status)} gemeenten failed; see NationalStochastic.status",
                      NationalRunWarning, stacklevel=2)
    quantiles = xr.concat(kept, dim="area") if keep and kept else None
    return NationalStochastic(quantiles=quantiles, status=status, draws=int(draws), seed=int(seed), base_year=year,
                              end_year=int(end_year), area_names=area_names, seconds=time.perf_counter() - t0)


def _bar(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="gemeenten", disable=not enabled, leave=False)
