"""Every product of a single-gemeente run in one call: tables, workbook, provenance, store and figures.

:func:`write_products` is what ``assen-demand forecast`` writes into its output folder, so that a
notebook, a script and the benchmark write the same files in the same order as the command line
(issue 20). The figures are drawn by worker processes while this process writes the tables, the
workbook and the store (:func:`assen_demand.outputs.plots.start_figures`).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
from collections.abc import Sequence
from pathlib import Path

from assen_demand import __version__
from assen_demand.errors import DataFormatError
from assen_demand.housing.programme import programme_for_forecast
from assen_demand.outputs import export, plots, store, tables_io, voorzieningen

__all__ = ["write_products"]

def write_products(
    result,
    out,
    *,
    data,
    data_dir=None,
    supply=None,
    scenario: str | None = None,
    variant: str = "central",
    draws: int = 0,
    seed: int | None = None,
    command: str | None = None,
    table_format: str = "csv",
    keep_draws: bool = False,
    warnings: Sequence[str] = (),
    figures: bool = True,
    run_date: _dt.datetime | None = None,
    previous=None,
    reuse_figures: bool = True,
) -> dict:
    """Write the tables, the workbook, ``provenance.json``, the figures and (Parquet) the store of a run.

    Parameters
    ----------
    result : Forecast
        Output of :func:`assen_demand.forecast`.
    out : path
        Output folder (created if needed; files of the same names are replaced).
    data : GemeenteData
        The inputs of the run (the KWB years in the sources sheet, the programme's stock).
    data_dir : path, optional
        The raw data folder of the run; None = the bundled tables.
    supply, scenario, draws, seed, command
        As given to the run, for the provenance record and the sheet *Bronnen en aannames*.
    variant : {"central", "low", "high"}
        The parameter variant of the run.
    table_format : {"csv", "parquet"}
        Format of the tidy tables; ``"parquet"`` also writes the labelled arrays to
        ``forecast.zarr`` (:func:`assen_demand.outputs.store.write_forecast_store`).
    keep_draws : bool
        With ``"parquet"`` and draws: keep every draw in the store.
    warnings : sequence of str
        Data warnings of the run, kept in the provenance record.
    figures : bool
        Draw the figures (``figures/``).
    previous : path, optional
        The output folder of an earlier run (default ``out`` itself): its figures whose
        fingerprint is unchanged are copied instead of drawn
        (:mod:`assen_demand.outputs.figure_reuse`). The command line passes its ``--out`` while
        it writes into a staging folder.
    reuse_figures : bool
        False: draw every figure.
    run_date : datetime, optional
        Default: now (seconds).

    Returns
    -------
    dict
        ``tables`` (file names), ``workbook`` (file name), ``figures`` (number of PNG files),
        ``figures_reused`` (of those, copied from ``previous``), ``store`` (folder name, Parquet only) and ``written`` (name -> path of the tables,
        workbook and provenance).
    """
    # checked before any worker starts (tables_io checks it only when the first table is written)
    if table_format not in tables_io.TABLE_FORMATS:
        raise DataFormatError(f"table_format must be one of {', '.join(tables_io.TABLE_FORMATS)} "
                              f"(got {table_format!r})")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    run_date = run_date or _dt.datetime.now().replace(microsecond=0)
    # the figures need no table: workers draw them from the start while this process writes the
    # tables, the workbook and the store (issue 20)
    figures_from = (Path(previous) if previous is not None else out) / "figures"
    with (plots.start_figures(result, out / "figures", previous=figures_from, reuse=reuse_figures) if figures
          else contextlib.nullcontext()) as pending:
        record = export.provenance(result, data_dir=data_dir, supply=supply, scenario=scenario, draws=draws,
                                   seed=seed, command=command, run_date=run_date)
        record["warnings"] = list(warnings)
        run = {"Versie assen_demand": __version__, "Rundatum": run_date.isoformat(sep=" "), "Opdracht": command or "",
               "Gemeente": f"{data.name} ({data.gemeente})",
               "Parametervariant": export.VARIANT_LABELS.get(variant, variant),
               "Monte-Carlo-trekkingen": draws, "Seed": "" if seed is None else seed,
               "Gegevens": "meegeleverde tabellen" if data_dir is None else str(Path(data_dir).resolve())}
        sources = export.sources_table(result, data=data, scenario=scenario, run=run)
        about = {"Scenario": scenario or "geen (centrale aannames)", "Versie assen_demand": __version__,
                 "Rundatum": run["Rundatum"]}
        written = export.write_forecast(result, out, sources=sources, about=about, provenance_record=record,
                                        programme=programme_for_forecast(result, data=data),
                                        table_format=table_format)
        summary = {"tables": [p.name for name, p in written.items() if name.endswith((".csv", ".parquet"))],
                   "workbook": written[export.WORKBOOK].name, "written": written}
        if table_format == "parquet":  # issue 22: the labelled arrays (and draws) for researchers
            store.write_forecast_store(result, out / store.STORE_NAME, provenance_record=record, sources=sources,
                                       facilities=voorzieningen.facility_csv(result), keep_draws=bool(keep_draws))
            summary["store"] = store.STORE_NAME
        summary["figures"] = len(pending.wait()) if pending is not None else 0
        summary["figures_reused"] = pending.reused if pending is not None else 0
    return summary
