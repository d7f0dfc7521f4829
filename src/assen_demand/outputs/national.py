"""A national run streamed to disk: Parquet tables and a Zarr store, a group of gemeenten at a time.

``assen-demand forecast --gemeente all --format parquet`` calls :func:`write_national`: the
gemeenten are run in groups by :func:`assen_demand.scale.national_forecast` (the same chain as
the CSV run), and each group's tables are appended to ``<table>.parquet``
(:class:`~assen_demand.outputs.tables_io.TableAppender`, one row group per group) and its
population to ``forecast.zarr`` (:class:`~assen_demand.outputs.store.NationalStore`) before the
next group runs, so the national tables are never held in memory.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from assen_demand.outputs.store import STORE_NAME, NationalStore
from assen_demand.outputs.tables_io import TableAppender, table_path

__all__ = ["GROUP_SIZE", "write_national"]

#: Gemeenten per group: one Parquet row group and one store append each
GROUP_SIZE = 16


def write_national(out, *, data_dir=None, base_year: int | None = None, end_year: int = 2040,
                   gemeenten=None, tables: Sequence[str] = ("population",), processes: int = 1,
                   progress: bool = True, group_size: int = GROUP_SIZE, table_format: str = "parquet",
                   store: bool = True, **options):
    """Run every gemeente (or ``gemeenten``) and stream the tables into ``out``.

    Parameters
    ----------
    out : path
        Output folder (created if needed).
    data_dir, base_year, end_year, gemeenten, tables, processes, **options
        As :func:`assen_demand.scale.national_forecast`.
    progress : bool
        One tqdm bar over the gemeenten.
    group_size : int
        Gemeenten per group.
    table_format : {"parquet", "csv"}
        Format of the tables (``population`` and the others asked for, ``gemeente`` first).
    store : bool
        Also write the population to ``forecast.zarr`` (area chunks, ``gemeente`` coordinate).

    Returns
    -------
    (pandas.DataFrame, int, int)
        The status table (``gemeenten.csv``; one row per gemeente), the base year and the end year.
    """
    from assen_demand.inputs.datasets import load_national
    from assen_demand.scale import NationalRunWarning, national_forecast, national_year

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    year = national_year(data_dir) if base_year is None else int(base_year)
    national = load_national(data_dir)
    if gemeenten is None or (isinstance(gemeenten, str) and gemeenten.strip().lower() == "all"):
        codes = [str(c) for c in national.gemeenten(year)["area"]]
    else:
        codes = list(dict.fromkeys(national.resolve_gemeente(g) for g in gemeenten))
    tables = list(dict.fromkeys(["population", *tables]))
    writers = {t: TableAppender(table_path(out, t, table_format)) for t in tables}
    zarr = NationalStore(out / STORE_NAME, attrs={"base_year": year, "end_year": int(end_year),
                                                  "scenario_name": str(options.get("scenario") or "basis"),
                                                  "variant": str(options.get("variant", "central"))}) if store else None
    statuses = []
    bar = _bar(len(codes), progress)
    try:
        for start in range(0, len(codes), group_size):
            group = codes[start:start + group_size]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NationalRunWarning)  # the status rows say why
                result = national_forecast(data_dir, base_year=year, end_year=end_year, gemeenten=group,
                                           tables=tables, keep=True, processes=processes, progress=False, **options)
            statuses.append(result.status)
            bar.update(len(group))
            if result.population is None:
                continue
            writers["population"].append(result.to_frame("population"))
            for t in tables:
                if t != "population" and t in result.tables:
                    writers[t].append(result.tables[t])
            if zarr is not None:
                zarr.append(result.population, area_names=result.area_names)
    finally:
        bar.close()
        for w in writers.values():
            w.close()
    if zarr is not None:
        zarr.close()
    status = pd.concat(statuses, ignore_index=True) if statuses else pd.DataFrame()
    status.to_csv(out / "gemeenten.csv", index=False)
    return status, year, int(end_year)


def _bar(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="gemeenten", disable=not enabled)
