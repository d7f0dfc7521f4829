"""Command line: ``assen-demand forecast | backtest | report``.

Bad arguments exit with status 2 and a one-line message, never a traceback.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from assen_demand.errors import AssenDemandError

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, status 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="assen-demand", description="Population, care need and dwelling need per wijk from CBS data.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_forecast(sub)
    _add_backtest(sub)
    _add_report(sub)
    return parser


# --------------------------------------------------------------------------------------------
# backtest
# --------------------------------------------------------------------------------------------


def _add_backtest(sub) -> None:
    bt = sub.add_parser("backtest", help="hindcast a gemeente from a base year and compare with a later KWB year")
    bt.add_argument("--gemeente", default="GM0106", help="CBS code or name (default GM0106, Assen)")
    bt.add_argument("--base-year", type=int, required=True, help="jump-off year (data known on 1 January)")
    bt.add_argument("--target-year", type=int, required=True, help="year to forecast and compare with")
    bt.add_argument("--method", default="cohort_component",
                    choices=["cohort_component", "hamilton_perry", "housing_led"], help="small-area method")
    bt.add_argument("--data-dir", type=Path, default=None, help="folder of raw CBS/UN files (default: bundled data)")
    bt.add_argument("--out", type=Path, required=True, help="CSV file for the hindcast table")


def _backtest(args: argparse.Namespace) -> int:
    import warnings

    from assen_demand.backtest import format_metrics, hindcast, hindcast_metrics

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fallbacks are documented; the table and metrics are the output
        table = hindcast(args.gemeente, base_year=args.base_year, target_year=args.target_year,
                         data_dir=args.data_dir, method=args.method)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    unmatched = table.loc[table["status"] != "matched", "area"].nunique()
    print(f"{table['gemeente'].iloc[0]} {args.base_year} -> {args.target_year}, method {args.method}: "
          f"{table.loc[table['area_level'] == 'wijk', 'area'].nunique()} wijken ({unmatched} unmatched, see status)")
    print("wijken (APE in %, naive = base year as observed):")
    print(format_metrics(hindcast_metrics(table)))
    print(f"wrote {args.out}")
    return 0


# --------------------------------------------------------------------------------------------
# forecast
# --------------------------------------------------------------------------------------------


def _add_forecast(sub) -> None:
    fc = sub.add_parser("forecast", help="write the forecast tables, workbook and charts for a gemeente",
                        description="Forecast population, care need and dwelling need per wijk and write CSV "
                                    "tables, forecast.xlsx, figures/ and provenance.json into --out.")
    fc.add_argument("--gemeente", default="GM0106",
                    help="CBS code or name (default GM0106, Assen); 'all' or a comma-separated list runs every "
                         "(listed) gemeente of the base year and writes the tables for all of them")
    fc.add_argument("--data-dir", type=Path, default=None, help="folder of raw CBS/UN files (default: bundled data)")
    fc.add_argument("--base-year", type=int, default=None,
                    help="jump-off year, 1 January (default: latest KWB year; with --gemeente all, the latest "
                         "KWB year that holds all gemeenten)")
    fc.add_argument("--processes", type=int, default=1,
                    help="worker processes for --gemeente all or a list (default 1)")
    fc.add_argument("--end-year", type=int, default=2040, help="last year, 1 January (default 2040)")
    fc.add_argument("--variant", choices=("central", "low", "high"), default="central",
                    help="end of every care/dwelling parameter range to use (default central)")
    fc.add_argument("--supply", default="none",
                    help="CSV of known dwelling supply (area, dwelling_type, year, units, status); "
                         "'none' = unknown everywhere (default: the opgave uses the estimated stock), "
                         "'example' = the bundled Assen example from local press (format only)")
    fc.add_argument("--stock", default=None,
                    help="CSV register of the existing stock (area, dwelling_type, year, units, status; see "
                         "data/stock/stock_template.csv); default: the estimate from CBS KWB and national rates")
    fc.add_argument("--scenario", default=None, help="bundled scenario name (basis, hoge_levensduur, lage_migratie, extramuralisering, "
                         "dementie_daling, bouwplannen) or a scenario TOML file")
    fc.add_argument("--draws", type=int, default=None,
                    help="Monte Carlo draws through the whole chain (quantile columns, fan charts); default 0")
    fc.add_argument("--seed", type=int, default=None, help="random seed of the draws")
    fc.add_argument("--voorzieningen", type=Path, default=None,
                    help="CSV of the gemeente's meeting places and support points (name, kind, area, capacity; "
                         "template: assen_demand/data/facilities/voorzieningen_template.csv); default: unknown")
    fc.add_argument("--afstanden", type=Path, default=None,
                    help="CSV of CBS nabijheid distances written with assen_demand.inputs.nabijheid.fetch_nabijheid")
    fc.add_argument("--out", type=Path, required=True, help="output folder")
    fc.add_argument("--force", action="store_true", help="write into a non-empty output folder")


# Files a forecast run writes; --force replaces these and leaves anything else in the folder alone.
_OUTPUT_GLOBS = ("*.csv", "forecast.xlsx", "provenance.json", "figures/*.png")


def _optional_forecast_arguments(args: argparse.Namespace) -> dict:
    """--scenario/--draws/--seed, passed on only when given."""
    wanted = {}
    if args.scenario is not None:
        wanted["scenario"] = args.scenario
    if args.draws is not None:
        if args.draws < 0:
            raise _UsageError(f"--draws must be 0 or more, got {args.draws}")
        if args.draws > 0:
            wanted["draws"] = args.draws
    if args.seed is not None:
        if not wanted.get("draws"):
            raise _UsageError("--seed only applies to Monte Carlo draws; add --draws N (N > 0)")
        wanted["seed"] = args.seed
    for option, keyword in (("voorzieningen", "facility_list"), ("afstanden", "distances")):  # issue 15
        path = getattr(args, option, None)
        if path is not None:
            if not path.is_file():
                raise _UsageError(f"--{option} {path} not found; give a CSV file")
            if _is_multi_gemeente(args.gemeente):
                raise _UsageError(f"--{option} belongs to one gemeente; leave it out with --gemeente {args.gemeente}")
            wanted[keyword] = path
    return wanted


def _forecast(args: argparse.Namespace) -> int:
    import datetime as dt

    from assen_demand import __version__
    from assen_demand.outputs import export, plots
    from assen_demand.inputs.datasets import load_gemeente
    from assen_demand.pipeline import forecast

    started = time.perf_counter()
    out: Path = args.out
    if out.exists() and not out.is_dir():
        raise _UsageError(f"--out {out} is a file; give a folder")
    if out.exists() and any(out.iterdir()) and not args.force:
        raise _UsageError(f"output folder {out} is not empty; choose another --out or add --force")
    if args.data_dir is not None and not args.data_dir.is_dir():
        raise _UsageError(f"--data-dir {args.data_dir} is not a folder; give the folder of raw CBS/UN files")
    supply = {"example": "example", "none": None}.get(args.supply, args.supply)
    if supply not in ("example", None) and not Path(supply).is_file():
        raise _UsageError(f"--supply {args.supply} not found; give a CSV file, 'example' or 'none'")
    if args.stock is not None and not Path(args.stock).is_file():
        raise _UsageError(f"--stock {args.stock} not found; give a CSV like data/stock/stock_template.csv")
    if args.base_year is not None and args.end_year <= args.base_year:
        raise _UsageError(f"--end-year {args.end_year} must come after --base-year {args.base_year}")
    extra = _optional_forecast_arguments(args)
    if _is_multi_gemeente(args.gemeente):
        return _forecast_many(args, extra, supply, started)

    data = load_gemeente(args.gemeente, data_dir=args.data_dir)
    result = forecast(data.gemeente, base_year=args.base_year, end_year=args.end_year, data_dir=args.data_dir,
                      variant=args.variant, supply=supply, data=data, stock_register=args.stock, **extra)
    computed = time.perf_counter()

    if args.force and out.exists():
        for pattern in _OUTPUT_GLOBS:
            for old in out.glob(pattern):
                old.unlink()
    run_date = dt.datetime.now().replace(microsecond=0)
    command = shlex.join(["assen-demand", *getattr(args, "argv", [])])
    record = export.provenance(result, data_dir=args.data_dir, supply=supply, scenario=args.scenario,
                               draws=extra.get("draws", 0), seed=args.seed, command=command, run_date=run_date)
    run = {"Versie assen_demand": __version__, "Rundatum": run_date.isoformat(sep=" "), "Opdracht": command,
           "Gemeente": f"{data.name} ({data.gemeente})", "Parametervariant": export.VARIANT_LABELS[args.variant],
           "Monte-Carlo-trekkingen": extra.get("draws", 0), "Seed": "" if args.seed is None else args.seed,
           "Gegevens": "meegeleverde tabellen" if args.data_dir is None else str(args.data_dir.resolve())}
    sources = export.sources_table(result, data=data, scenario=args.scenario, run=run)
    about = {"Scenario": args.scenario or "geen (centrale aannames)", "Versie assen_demand": __version__,
             "Rundatum": run["Rundatum"]}
    written = export.write_forecast(result, out, sources=sources, about=about, provenance_record=record)
    figures = plots.save_figures(result, out / "figures")
    done = time.perf_counter()

    tables = [p.name for name, p in written.items() if name.endswith(".csv")]
    print(f"{data.name} ({data.gemeente}), {result.projection.base_year}-{result.projection.end_year}, "
          f"{len(result.projection.wijken)} wijken; computed in {computed - started:.0f} s, written in "
          f"{done - computed:.0f} s")
    print(f"wrote to {out}/:")
    print(f"  tables     {', '.join(tables)}")
    print(f"  workbook   {export.WORKBOOK} (sheets: Woningbehoefte, Aanbod en tekort, ..., {export.SOURCES_SHEET})")
    print(f"  figures    figures/ ({len(figures)} PNG files)")
    print(f"  provenance {export.PROVENANCE} (input checksums, parameters, version, command)")
    return 0


def _is_multi_gemeente(value: str) -> bool:
    return value.strip().lower() == "all" or "," in value


def _forecast_many(args: argparse.Namespace, extra: dict, supply, started: float) -> int:
    """--gemeente all (or a list): every gemeente's forecast, tables appended gemeente by gemeente."""
    import json
    import warnings

    from assen_demand import __version__
    from assen_demand.outputs import export
    from assen_demand.pipeline import FORECAST_TABLES
    from assen_demand.scale import NationalRunWarning, national_forecast

    if extra.get("draws"):
        raise _UsageError("--draws runs one gemeente at a time; for many gemeenten use "
                          "assen_demand.scale.stochastic_projection (population quantiles, also on Dask)")
    if args.processes < 1:
        raise _UsageError(f"--processes must be 1 or more, got {args.processes}")
    wanted = None if args.gemeente.strip().lower() == "all" else [g.strip() for g in args.gemeente.split(",") if g.strip()]
    options = {"variant": args.variant, **({"scenario": extra["scenario"]} if "scenario" in extra else {})}
    if supply is None or supply != "example":
        options["supply"] = supply
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NationalRunWarning)  # the failures are printed below
        result = national_forecast(args.data_dir, base_year=args.base_year, end_year=args.end_year, gemeenten=wanted,
                                   tables=FORECAST_TABLES, out_dir=args.out, keep=False, processes=args.processes,
                                   progress=True, **options)
    status = result.status
    record = {"version": __version__, "command": shlex.join(["assen-demand", *getattr(args, "argv", [])]),
              "data": {"source": "bundled" if args.data_dir is None else str(args.data_dir.resolve()),
                       "files": export.file_checksums(args.data_dir)},
              "parameters": export.parameter_checksums(),
              "base_year": result.base_year, "end_year": result.end_year, "variant": args.variant,
              "scenario": args.scenario, "gemeenten": status["status"].value_counts().to_dict()}
    (args.out / "provenance.json").write_text(json.dumps(record, indent=2, ensure_ascii=False), encoding="utf-8")
    ok = int((status["status"] == "ok").sum())
    print(f"{ok} of {len(status)} gemeenten forecast, {result.base_year}-{result.end_year}, "
          f"in {time.perf_counter() - started:.0f} s")
    for row in result.failures.itertuples(index=False):
        print(f"  not forecast: {row.gemeente} {row.gemeente_name}: {row.status}: {row.message[:160]}")
    print(f"wrote to {args.out}/: {', '.join(f'{t}.csv' for t in FORECAST_TABLES)}, gemeenten.csv (status per "
          "gemeente), provenance.json")
    return 0 if ok else 2


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------


def _add_report(sub) -> None:
    rp = sub.add_parser("report", help="compare this year's forecast run with last year's",
                        description="Compare two output folders of 'assen-demand forecast' and the realised KWB "
                                    "figures: what changed, and whether new data or changed assumptions caused it.")
    rp.add_argument("--previous", type=Path, required=True, help="output folder of last year's forecast run")
    rp.add_argument("--current", type=Path, required=True, help="output folder of this year's forecast run")
    rp.add_argument("--data-dir", type=Path, default=None,
                    help="folder of raw CBS files for the realised KWB figures (default: the current run's data)")
    rp.add_argument("--out", type=Path, default=None,
                    help="write the report to FILE (.xlsx, .csv or .md); default: print it")


def _report(args: argparse.Namespace) -> int:
    from assen_demand.outputs import export, monitoring
    from assen_demand.inputs.datasets import load_gemeente

    for name in ("previous", "current"):
        folder = getattr(args, name)
        if not folder.is_dir():
            raise _UsageError(f"--{name} {folder} is not a folder; give the --out folder of a forecast run")
    if args.out is not None and args.out.suffix.lower() not in (".xlsx", ".csv", ".md", ".txt"):
        raise _UsageError(f"--out {args.out}: use a file name ending in .xlsx, .csv or .md")
    previous, current = export.read_run(args.previous), export.read_run(args.current)
    data_dir = args.data_dir
    source = current.provenance.get("data", {}).get("source", "bundled")
    if data_dir is None and source != "bundled" and Path(source).is_dir():
        data_dir = Path(source)
    realised = load_gemeente(current.provenance["gemeente"], data_dir=data_dir).kwb
    report = monitoring.compare_runs(previous, current, realised=realised)
    if args.out is None:
        print(report.to_text())
        return 0
    path = export.write_report(report, args.out)
    print(report.summary())
    print(f"wrote {path}")
    return 0


class _UsageError(Exception):
    pass


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _build_parser()
    args = parser.parse_args(argv)
    args.argv = argv  # for the provenance record
    commands = {"forecast": _forecast, "backtest": _backtest, "report": _report}
    try:
        return commands[args.command](args)
    except (AssenDemandError, _UsageError) as exc:
        message = " ".join(str(exc).split())  # one line, whatever the message
        print(f"assen-demand {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
