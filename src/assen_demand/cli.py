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
    bt.add_argument("--force", action="store_true", help="replace an existing --out file")


def _backtest(args: argparse.Namespace) -> int:
    import warnings

    from assen_demand.backtest import format_metrics, hindcast, hindcast_metrics
    from assen_demand.outputs import runfolder

    _check_out_file(args.out, (".csv",), args.force)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fallbacks are documented; the table and metrics are the output
        table = hindcast(args.gemeente, base_year=args.base_year, target_year=args.target_year,
                         data_dir=args.data_dir, method=args.method)
    runfolder.atomic_write_file(args.out, lambda tmp: table.to_csv(tmp, index=False), force=args.force)
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
    fc.add_argument("--force", action="store_true",
                    help="write into a folder that also holds other files: replaces only the files an earlier run "
                         "lists in provenance.json, keeps the rest (a folder with only an earlier run's files is "
                         "replaced without --force)")
    fc.add_argument("--verbose", action="store_true", help="print every data warning (default: one summary line)")


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
    from assen_demand.inputs.datasets import load_gemeente
    from assen_demand.outputs import runfolder
    from assen_demand.pipeline import forecast

    started = time.perf_counter()
    out: Path = args.out
    if args.processes < 1:
        raise _UsageError(f"--processes must be 1 or more, got {args.processes}")
    if args.data_dir is not None and not args.data_dir.is_dir():
        raise _UsageError(f"--data-dir {args.data_dir} is not a folder; give the folder of raw CBS/UN files")
    supply = {"example": "example", "none": None}.get(args.supply, args.supply)
    if supply not in ("example", None) and not Path(supply).is_file():
        raise _UsageError(f"--supply {args.supply} not found; give a CSV file, 'example' or 'none'")
    if supply not in ("example", None):
        from assen_demand.housing.dwellings import read_supply

        read_supply(supply)  # the file's own checks before anything is computed; years and sizes again later
    if args.scenario is not None:
        from assen_demand.scenario import load_scenario

        load_scenario(args.scenario)  # likewise: a bad scenario file is found in a second
    if args.stock is not None and not Path(args.stock).is_file():
        raise _UsageError(f"--stock {args.stock} not found; give a CSV like data/stock/stock_template.csv")
    if args.base_year is not None and args.end_year <= args.base_year:
        raise _UsageError(f"--end-year {args.end_year} must come after --base-year {args.base_year}")
    extra = _optional_forecast_arguments(args)
    command = shlex.join(["assen-demand", *getattr(args, "argv", [])])
    # the folder is checked (writable, not locked, no foreign files) before anything is computed
    with runfolder.atomic_output(out, force=args.force, command=command) as staging:
        if _is_multi_gemeente(args.gemeente):
            return _forecast_many(args, extra, supply, started, staging)
        with _DataWarnings(args.verbose) as data_warnings:
            data = load_gemeente(args.gemeente, data_dir=args.data_dir)
            _check_draws_memory(extra.get("draws", 0), data, args.base_year, args.end_year)
            result = forecast(data.gemeente, base_year=args.base_year, end_year=args.end_year,
                              data_dir=args.data_dir, variant=args.variant, supply=supply, data=data,
                              stock_register=args.stock, **extra)
        computed = time.perf_counter()
        summary = _write_forecast(args, extra, supply, command, data, result, staging, data_warnings.messages)
    data_warnings.report()
    done = time.perf_counter()
    _print_summary(data, result, out, summary, computed - started, done - computed)
    return 0


def _write_forecast(args, extra, supply, command, data, result, staging: Path, warning_messages) -> dict:
    """Every file of a single-gemeente run, into the staging folder."""
    import datetime as dt

    from assen_demand import __version__
    from assen_demand.outputs import export, plots

    run_date = dt.datetime.now().replace(microsecond=0)
    record = export.provenance(result, data_dir=args.data_dir, supply=supply, scenario=args.scenario,
                               draws=extra.get("draws", 0), seed=args.seed, command=command, run_date=run_date)
    record["warnings"] = list(warning_messages)
    run = {"Versie assen_demand": __version__, "Rundatum": run_date.isoformat(sep=" "), "Opdracht": command,
           "Gemeente": f"{data.name} ({data.gemeente})", "Parametervariant": export.VARIANT_LABELS[args.variant],
           "Monte-Carlo-trekkingen": extra.get("draws", 0), "Seed": "" if args.seed is None else args.seed,
           "Gegevens": "meegeleverde tabellen" if args.data_dir is None else str(args.data_dir.resolve())}
    sources = export.sources_table(result, data=data, scenario=args.scenario, run=run)
    about = {"Scenario": args.scenario or "geen (centrale aannames)", "Versie assen_demand": __version__,
             "Rundatum": run["Rundatum"]}
    from assen_demand.housing.programme import programme_for_forecast

    written = export.write_forecast(result, staging, sources=sources, about=about, provenance_record=record,
                                    programme=programme_for_forecast(result, data=data))
    figures = plots.save_figures(result, staging / "figures")
    return {"tables": [p.name for name, p in written.items() if name.endswith(".csv")], "figures": len(figures)}


def _print_summary(data, result, out: Path, summary: dict, computing: float, writing: float) -> None:
    from assen_demand.outputs import export

    print(f"{data.name} ({data.gemeente}), {result.projection.base_year}-{result.projection.end_year}, "
          f"{len(result.projection.wijken)} wijken; computed in {computing:.0f} s, written in {writing:.0f} s")
    print(f"wrote to {out}/:")
    print(f"  tables     {', '.join(summary['tables'])}")
    print(f"  workbook   {export.WORKBOOK} (sheets: Woningbehoefte, Aanbod en tekort, ..., {export.SOURCES_SHEET})")
    print(f"  figures    figures/ ({summary['figures']} PNG files)")
    print(f"  provenance {export.PROVENANCE} (input checksums, parameters, version, command, manifest)")


def _is_multi_gemeente(value: str) -> bool:
    return value.strip().lower() == "all" or "," in value


def _forecast_many(args: argparse.Namespace, extra: dict, supply, started: float, staging: Path) -> int:
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
    wanted = None if args.gemeente.strip().lower() == "all" else [g.strip() for g in args.gemeente.split(",") if g.strip()]
    options = {"variant": args.variant, **({"scenario": extra["scenario"]} if "scenario" in extra else {})}
    if supply is None or supply != "example":
        options["supply"] = supply
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NationalRunWarning)  # the failures are printed below
        result = national_forecast(args.data_dir, base_year=args.base_year, end_year=args.end_year, gemeenten=wanted,
                                   tables=FORECAST_TABLES, out_dir=staging, keep=False, processes=args.processes,
                                   progress=True, **options)
    status = result.status
    record = {"version": __version__, "command": shlex.join(["assen-demand", *getattr(args, "argv", [])]),
              "data": {"source": "bundled" if args.data_dir is None else str(args.data_dir.resolve()),
                       "files": export.file_checksums(args.data_dir)},
              "parameters": export.parameter_checksums(),
              "base_year": result.base_year, "end_year": result.end_year, "variant": args.variant,
              "scenario": args.scenario, "gemeenten": status["status"].value_counts().to_dict()}
    (staging / "provenance.json").write_text(json.dumps(record, indent=2, ensure_ascii=False), encoding="utf-8")
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
    rp.add_argument("--force", action="store_true", help="replace an existing --out file")
    rp.add_argument("--evaluatie", action="store_true",
                    help="tweejaarlijkse evaluatie van het volkshuisvestingsprogramma: --previous is de run van "
                         "twee jaar terug")


def _report(args: argparse.Namespace) -> int:
    from assen_demand.outputs import export, monitoring
    from assen_demand.inputs.datasets import load_gemeente

    for name in ("previous", "current"):
        folder = getattr(args, name)
        if not folder.is_dir():
            raise _UsageError(f"--{name} {folder} is not a folder; give the --out folder of a forecast run")
    if args.out is not None:
        _check_out_file(args.out, (".xlsx", ".csv", ".md", ".txt"), args.force)
    previous, current = export.read_run(args.previous), export.read_run(args.current)
    if args.evaluatie:
        return _evaluation(previous, current, args.out)
    data_dir = args.data_dir
    source = current.provenance.get("data", {}).get("source", "bundled")
    if data_dir is None and source != "bundled" and Path(source).is_dir():
        data_dir = Path(source)
    realised = load_gemeente(current.provenance["gemeente"], data_dir=data_dir).kwb
    report = monitoring.compare_runs(previous, current, realised=realised)
    if args.out is None:
        print(report.to_text())
        return 0
    from assen_demand.outputs import runfolder

    suffix = args.out.suffix
    path = runfolder.atomic_write_file(
        args.out, lambda tmp: export.write_report(report, tmp.with_suffix(suffix)), force=args.force)
    print(report.summary())
    print(f"wrote {path}")
    return 0


def _evaluation(previous, current, out) -> int:
    """report --evaluatie: the programme indicators of two runs side by side (CSV/MD/XLSX or printed)."""
    from assen_demand.outputs import export, monitoring

    table = monitoring.evaluate_programme(previous, current)
    title = f"Evaluatie volkshuisvestingsprogramma: {previous.label} -> {current.label}"
    if out is None:
        print(title)
        print(table.to_string(index=False))
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    suffix = out.suffix.lower()
    if suffix == ".csv":
        table.to_csv(out, index=False, float_format="%.2f")
    elif suffix == ".xlsx":
        export.write_workbook({"Evaluatie": table}, out)
    else:
        out.write_text(f"# {title}\n\n{table.to_string(index=False)}\n", encoding="utf-8")
    print(title)
    print(f"wrote {out}")
    return 0


class _UsageError(Exception):
    pass


def _check_out_file(path: Path, suffixes: tuple[str, ...], force: bool) -> None:
    """An --out file: right suffix, not a folder, not an existing file without --force (before computing)."""
    if path.is_dir():
        raise _UsageError(f"--out {path} is a folder; give a file name ending in {' or '.join(suffixes)}")
    if path.suffix.lower() not in suffixes:
        raise _UsageError(f"--out {path}: use a file name ending in {' or '.join(suffixes)}")
    if path.exists() and not force:
        raise _UsageError(f"--out {path} exists; choose another name or add --force to replace it")
    folder = path.parent if str(path.parent) else Path(".")
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    import os

    if not os.access(probe, os.W_OK | os.X_OK):
        raise _UsageError(f"--out {path}: cannot write in {probe}; choose a folder you can write to")


class _DataWarnings:
    """Collect DataWarnings (and other warnings) of a run; one summary line on stderr, all with --verbose."""

    def __init__(self, verbose: bool):
        import warnings

        self.verbose = verbose
        self._catcher = warnings.catch_warnings(record=True)
        self.messages: list[str] = []

    def __enter__(self):
        import warnings

        from assen_demand.inputs.cbs import DataWarning
        from assen_demand.inputs.validation import InputWarning

        self._caught = self._catcher.__enter__()
        for category in (DataWarning, InputWarning):  # every one counted, not once per code line
            warnings.simplefilter("always", category)
        return self

    def __exit__(self, *exc):
        import warnings

        self._catcher.__exit__(*exc)
        data = [w for w in self._caught if issubclass(w.category, UserWarning)]
        for w in self._caught:  # library deprecations and the like: shown as Python would
            if not issubclass(w.category, UserWarning):
                warnings.showwarning(w.message, w.category, w.filename, w.lineno)
        self.messages[:] = list(dict.fromkeys(" ".join(str(w.message).split()) for w in data))
        return False

    def report(self) -> None:
        if not self.messages:
            return
        if self.verbose:
            for message in self.messages:
                print(f"assen-demand: waarschuwing: {message}", file=sys.stderr)
            return
        first = self.messages[0] if len(self.messages[0]) <= 100 else self.messages[0][:97] + "..."
        print(f"assen-demand: {len(self.messages)} gegevenswaarschuwing(en), o.a. '{first}'; alle in "
              "provenance.json (\"warnings\") en met --verbose", file=sys.stderr)


def _available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux MemAvailable; else physical pages)."""
    import os

    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _check_draws_memory(draws: int, data, base_year: int | None, end_year: int) -> None:
    """--draws must fit in memory: checked from the array sizes before anything is computed."""
    if not draws:
        return
    from assen_demand.pipeline import default_base_year
    from assen_demand.uncertainty import bytes_per_draw

    base = default_base_year(data) if base_year is None else base_year
    kwb = data.kwb
    areas = int(kwb.loc[(kwb["year"] == base) & kwb["area_level"].isin(["gemeente", "wijk"]), "area"].nunique())
    need = bytes_per_draw(max(areas, 1), end_year - base + 1)
    available = _available_memory()
    if available is None:
        return
    most = int(0.8 * available // need)
    if draws > most:
        raise _UsageError(
            f"--draws {draws} needs about {draws * need / 2**30:,.1f} GiB ({need / 2**20:,.1f} MiB per draw for "
            f"{areas} areas x {end_year - base + 1} years) and {available / 2**30:,.1f} GiB is free; use at most "
            f"--draws {most}"
        )


class _Terminated(BaseException):
    """SIGTERM, raised in the main thread so that the staging folder is cleaned up."""


def _on_sigterm(signum, frame):
    raise _Terminated()


def main(argv: list[str] | None = None) -> int:
    import signal

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _build_parser()
    args = parser.parse_args(argv)
    args.argv = argv  # for the provenance record
    commands = {"forecast": _forecast, "backtest": _backtest, "report": _report}
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return commands[args.command](args)
    except (AssenDemandError, _UsageError) as exc:
        message = " ".join(str(exc).split())  # one line, whatever the message
        print(f"assen-demand {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"assen-demand {args.command}: onderbroken (Ctrl-C); er is niets half geschreven", file=sys.stderr)
        return 130
    except _Terminated:
        print(f"assen-demand {args.command}: gestopt (SIGTERM); er is niets half geschreven", file=sys.stderr)
        return 143
    except MemoryError:
        print(f"assen-demand {args.command}: error: not enough memory for this run; use fewer --draws or a "
              "smaller --gemeente list", file=sys.stderr)
        return 2
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"assen-demand {args.command}: error: {exc.strerror or exc}{where}; check the path and its "
              "permissions", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug, not bad input: still one line, the traceback on request
        if getattr(args, "verbose", False):
            raise
        message = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
        print(f"assen-demand {args.command}: internal error: {message}; please report it with the command "
              "(--verbose shows the traceback)", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
