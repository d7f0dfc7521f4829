"""Command line: ``assen-demand forecast | backtest | report``.

Bad arguments exit with status 2 and a one-line message, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import signal
import sys
import time
import warnings
from pathlib import Path

import pandas as pd

from assen_demand import __version__, pipeline
from assen_demand.errors import AssenDemandError
from assen_demand.backtest import format_metrics, hindcast, hindcast_metrics
from assen_demand.outputs import runfolder
from assen_demand.inputs.datasets import load_gemeente
from assen_demand.housing.dwellings import read_supply
from assen_demand.scenario import load_scenario
from assen_demand.outputs import export, products
from assen_demand.pipeline import FORECAST_TABLES
from assen_demand.scale import NationalRunWarning, national_forecast
from assen_demand.outputs.national import run_national_stochastic, write_national
from assen_demand.outputs import monitoring
from assen_demand.pipeline import default_base_year
from assen_demand.uncertainty import bytes_per_draw
from assen_demand.inputs.cbs import DataWarning
from assen_demand.inputs.validation import InputWarning

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """argparse with Dutch headings and help flag: the planner reads this."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("add_help", False)
        super().__init__(*args, **kwargs)
        self.add_argument("-h", "--help", action="help", default=argparse.SUPPRESS, help="toon deze hulp en stop")

    def format_usage(self) -> str:
        return super().format_usage().replace("usage:", "gebruik:", 1)

    def format_help(self) -> str:
        text = super().format_help().replace("usage:", "gebruik:", 1)
        return text.replace("\noptions:\n", "\nopties:\n").replace("positional arguments:", "opdrachten:")

    def error(self, message: str) -> None:  # one line, status 2
        self.exit(2, f"{self.prog}: fout: {_dutch_parse_error(message)}; zie {self.prog} --help\n")


#: argparse's own parse messages (its gettext msgids, Python 3.11-3.13) as (pattern, Dutch); the
#: stdlib ships no Dutch catalogue, so the formatted message is matched here instead of gettext
_PARSE_ERRORS = (
    (r"argument (?P<name>\S+): (?P<rest>.+)", None),  # ArgumentError: the option, then its own message
    (r"the following arguments are required: (?P<names>.+)", "verplicht maar niet gegeven: {names}"),
    (r"invalid (?P<type>\w+) value: (?P<value>.+)", "ongeldige waarde {value}: verwacht {type}"),
    (r"invalid choice: (?P<value>.+?) \(choose from (?P<choices>.+)\)", "ongeldige keuze {value} (kies uit {choices})"),
    (r"unrecognized arguments: (?P<args>.+)", "onbekende argumenten: {args}"),
    (r"expected one argument", "verwacht één waarde"),
    (r"expected at most one argument", "verwacht hoogstens één waarde"),
    (r"expected at least one argument", "verwacht minstens één waarde"),
    (r"expected (?P<n>\d+) arguments?", "verwacht {n} waarden"),
    (r"ambiguous option: (?P<option>\S+) could match (?P<matches>.+)", "optie {option} is niet eenduidig: kan {matches} zijn"),
    (r"not allowed with argument (?P<other>.+)", "niet toegestaan samen met {other}"),
    (r"one of the arguments (?P<names>.+) is required", "een van {names} is verplicht"),
    (r"ignored explicit argument (?P<value>.+)", "deze optie neemt geen waarde; {value} genegeerd"),
)
_TYPE_NAMES = {"int": "een geheel getal", "float": "een getal"}


def _dutch_parse_error(message: str) -> str:
    """argparse's English parse error in Dutch; a message not in the table passes unchanged.

    Examples
    --------
    >>> _dutch_parse_error("the following arguments are required: --out")
    'verplicht maar niet gegeven: --out'
    >>> _dutch_parse_error("argument --draws: invalid int value: 'many'")
    "optie --draws: ongeldige waarde 'many': verwacht een geheel getal"
    """
    for pattern, dutch in _PARSE_ERRORS:
        match = re.fullmatch(pattern, message.strip())
        if match is None:
            continue
        found = match.groupdict()
        if dutch is None:
            name = found["name"]
            label = "opdracht" if name == "command" else f"optie {name}"
            return f"{label}: {_dutch_parse_error(found['rest'])}"
        if "names" in found:  # the subcommand's dest is 'command'
            found["names"] = found["names"].replace("command", "een opdracht (forecast, backtest of report)")
        if "type" in found:
            found["type"] = _TYPE_NAMES.get(found["type"], found["type"])
        return dutch.format(**found)
    return message


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="assen-demand", description="Bevolking, zorgvraag en woningbehoefte per wijk uit CBS-gegevens.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_forecast(sub)
    _add_backtest(sub)
    _add_report(sub)
    return parser


# --------------------------------------------------------------------------------------------
# backtest
# --------------------------------------------------------------------------------------------


def _add_backtest(sub) -> None:
    bt = sub.add_parser("backtest", help="terugrekenen vanaf een basisjaar en vergelijken met een later KWB-jaar")
    bt.add_argument("--gemeente", metavar="GEMEENTE", default="GM0106", help="CBS-code of naam (standaard GM0106, Assen)")
    bt.add_argument("--base-year", metavar="JAAR", type=int, required=True, help="basisjaar (gegevens bekend op 1 januari)")
    bt.add_argument("--target-year", metavar="JAAR", type=int, required=True, help="jaar om te voorspellen en mee te vergelijken")
    bt.add_argument("--method", default="combined",
                    choices=["combined", "cohort_component", "hamilton_perry", "housing_led"],
                    help="methode voor de wijken (standaard combined)")
    bt.add_argument("--data-dir", metavar="MAP", type=Path, default=None, help="map met ruwe CBS/UN-bestanden (standaard: meegeleverde gegevens)")
    bt.add_argument("--out", metavar="UIT", type=Path, required=True, help="CSV-bestand voor de terugrekentabel")
    bt.add_argument("--force", action="store_true", help="vervang een bestaand --out-bestand")


def _backtest(args: argparse.Namespace) -> int:
    _check_out_file(args.out, (".csv",), args.force)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fallbacks are documented; the table and metrics are the output
        table = hindcast(args.gemeente, base_year=args.base_year, target_year=args.target_year,
                         data_dir=args.data_dir, method=args.method)
    runfolder.atomic_write_file(args.out, lambda tmp: table.to_csv(tmp, index=False), force=args.force)
    unmatched = table.loc[table["status"] != "matched", "area"].nunique()
    print(f"{table['gemeente'].iloc[0]} {args.base_year} -> {args.target_year}, methode {args.method}: "
          f"{table.loc[table['area_level'] == 'wijk', 'area'].nunique()} wijken ({unmatched} niet gekoppeld, zie status)")
    print("wijken (APE in %, naief = basisjaar als waarneming):")
    print(format_metrics(hindcast_metrics(table)))
    print(f"geschreven: {args.out}")
    return 0


# --------------------------------------------------------------------------------------------
# forecast
# --------------------------------------------------------------------------------------------


def _add_forecast(sub) -> None:
    fc = sub.add_parser("forecast", help="prognose: tabellen, werkboek en grafieken voor een gemeente",
                        description="Prognose van bevolking, zorgvraag en woningbehoefte per wijk; schrijft "
                                    "CSV-tabellen, forecast.xlsx, figures/ en provenance.json in --out.")
    fc.add_argument("--gemeente", metavar="GEMEENTE", default="GM0106",
                    help="CBS-code of naam (standaard GM0106, Assen); 'all' of een lijst met komma's rekent elke "
                         "(genoemde) gemeente van het basisjaar door en schrijft de tabellen van allemaal")
    fc.add_argument("--data-dir", metavar="MAP", type=Path, default=None, help="map met ruwe CBS/UN-bestanden (standaard: meegeleverde gegevens)")
    fc.add_argument("--base-year", metavar="JAAR", type=int, default=None,
                    help="basisjaar, 1 januari (standaard: laatste KWB-jaar; met --gemeente all het laatste "
                         "KWB-jaar met alle gemeenten)")
    fc.add_argument("--processes", metavar="AANTAL", type=int, default=1,
                    help="aantal processen voor --gemeente all of een lijst (standaard 1)")
    fc.add_argument("--workers", metavar="AANTAL", type=int, default=2,
                    help="met --gemeente all (of een lijst) en --draws: aantal Dask-werkers op deze machine "
                         "(LocalCluster, standaard 2)")
    fc.add_argument("--scheduler", metavar="ADRES", default=None,
                    help="met --gemeente all (of een lijst) en --draws: adres van een draaiend Dask-cluster "
                         "(tcp://host:8786, gestart met 'dask scheduler' en 'dask worker ADRES') in plaats van "
                         "--workers")
    fc.add_argument("--end-year", metavar="JAAR", type=int, default=2040, help="laatste jaar, 1 januari (standaard 2040)")
    fc.add_argument("--variant", choices=("central", "low", "high"), default="central",
                    help="welke kant van elke bandbreedte van zorg- en woonparameters (standaard central)")
    fc.add_argument("--supply", metavar="AANBOD", default="none",
                    help="CSV met bekend woningaanbod (kolommen area, dwelling_type, year, units, status); "
                         "'none' = overal onbekend (standaard: de opgave gebruikt de geschatte voorraad), "
                         "'example' = het meegeleverde voorbeeld voor Assen uit de lokale pers (alleen het formaat)")
    fc.add_argument("--stock", metavar="VOORRAAD", default=None,
                    help="CSV-register van de bestaande voorraad (kolommen area, dwelling_type, year, units, status; "
                         "sjabloon: data/stock/stock_template.csv); standaard: de schatting uit CBS KWB en landelijke aandelen")
    fc.add_argument("--scenario", metavar="SCENARIO", default=None, help="meegeleverd scenario (basis, hoge_levensduur, lage_migratie, extramuralisering, "
                         "dementie_daling, bouwplannen) of een eigen scenariobestand (TOML)")
    fc.add_argument("--draws", metavar="AANTAL", type=int, default=None,
                    help="aantal Monte-Carlo-trekkingen door de hele keten (percentielkolommen, waaiergrafieken); standaard 0")
    fc.add_argument("--seed", metavar="GETAL", type=int, default=None, help="startwaarde (seed) van de trekkingen")
    fc.add_argument("--voorzieningen", metavar="BESTAND", type=Path, default=None,
                    help="CSV met de ontmoetingsplekken en steunpunten van de gemeente (kolommen name, kind, area, "
                         "capacity; sjabloon: assen_demand/data/facilities/voorzieningen_template.csv); standaard: onbekend")
    fc.add_argument("--afstanden", metavar="BESTAND", type=Path, default=None,
                    help="CSV met CBS-nabijheidsafstanden, geschreven met assen_demand.inputs.nabijheid.fetch_nabijheid")
    fc.add_argument("--out", metavar="UIT", type=Path, required=True, help="uitvoermap")
    fc.add_argument("--redraw-figures", action="store_true",
                    help="teken elke grafiek opnieuw (standaard neemt de run een grafiek uit een eerdere run in --out "
                         "over als de vingerafdruk in figures/fingerprints.json bewijst dat niets wat hij toont, "
                         "noch de code, veranderde)")
    fc.add_argument("--force", action="store_true",
                    help="schrijf in een map die ook andere bestanden bevat: vervangt alleen de bestanden die een eerdere "
                         "run in provenance.json noemt en laat de rest staan (een map met alleen de bestanden van een "
                         "eerdere run wordt ook zonder --force vervangen)")
    fc.add_argument("--verbose", action="store_true", help="toon elke gegevenswaarschuwing (standaard: een samenvattende regel)")
    fc.add_argument("--format", choices=("csv", "parquet"), default=None, dest="table_format",
                    help="formaat van de tabellen: csv (standaard voor een gemeente) of parquet (standaard voor "
                         "--gemeente all, een lijst en --draws; schrijft ook forecast.zarr met de arrays)")
    fc.add_argument("--keep-draws", action="store_true",
                    help="bewaar in forecast.zarr elke Monte-Carlo-trekking (standaard alleen de percentielen; "
                         "Assen met 1000 trekkingen: ongeveer 0,3 GB extra)")


def _optional_forecast_arguments(args: argparse.Namespace) -> dict:
    """--scenario/--draws/--seed, passed on only when given."""
    wanted = {}
    if args.scenario is not None:
        wanted["scenario"] = args.scenario
    if args.draws is not None:
        if args.draws < 0:
            raise _UsageError(f"--draws moet 0 of meer zijn, niet {args.draws}")
        if args.draws > 0:
            wanted["draws"] = args.draws
    if getattr(args, "keep_draws", False) and not wanted.get("draws"):
        raise _UsageError("--keep-draws geldt alleen voor Monte-Carlo-trekkingen; voeg --draws N toe (N > 0)")
    if args.seed is not None:
        if not wanted.get("draws"):
            raise _UsageError("--seed geldt alleen voor Monte-Carlo-trekkingen; voeg --draws N toe (N > 0)")
        wanted["seed"] = args.seed
    for option, keyword in (("voorzieningen", "facility_list"), ("afstanden", "distances")):  # issue 15
        path = getattr(args, option, None)
        if path is not None:
            if not path.is_file():
                raise _UsageError(f"--{option} {path} niet gevonden; geef een CSV-bestand")
            if _is_multi_gemeente(args.gemeente):
                raise _UsageError(f"--{option} hoort bij één gemeente; laat het weg bij --gemeente {args.gemeente}")
            wanted[keyword] = path
    return wanted


def _forecast(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    out: Path = args.out
    if args.processes < 1:
        raise _UsageError(f"--processes moet 1 of meer zijn, niet {args.processes}")
    if args.data_dir is not None and not args.data_dir.is_dir():
        raise _UsageError(f"--data-dir {args.data_dir} is geen map; geef de map met ruwe CBS/UN-bestanden")
    supply = {"example": "example", "none": None}.get(args.supply, args.supply)
    if supply not in ("example", None) and not Path(supply).is_file():
        raise _UsageError(f"--supply {args.supply} niet gevonden; geef een CSV-bestand, 'example' of 'none'")
    if supply not in ("example", None):

        read_supply(supply)  # the file's own checks before anything is computed; years and sizes again later
    if args.scenario is not None:

        load_scenario(args.scenario)  # likewise: a bad scenario file is found in a second
    if args.stock is not None and not Path(args.stock).is_file():
        raise _UsageError(f"--stock {args.stock} niet gevonden; geef een CSV zoals data/stock/stock_template.csv")
    if args.base_year is not None and args.end_year <= args.base_year:
        raise _UsageError(f"--end-year {args.end_year} moet na --base-year {args.base_year} komen")
    extra = _optional_forecast_arguments(args)
    args.table_format, args.format_line = _table_format(args, extra)  # printed after the summary
    command = shlex.join(["assen-demand", *getattr(args, "argv", [])])
    # the folder is checked (writable, not locked, no foreign files) before anything is computed
    with runfolder.atomic_output(out, force=args.force, command=command) as staging:
        if _is_multi_gemeente(args.gemeente):
            return _forecast_many(args, extra, supply, started, staging)
        with _DataWarnings(args.verbose) as data_warnings:
            data = load_gemeente(args.gemeente, data_dir=args.data_dir)
            _check_draws_memory(extra.get("draws", 0), data, args.base_year, args.end_year)
            result = pipeline.forecast(data.gemeente, base_year=args.base_year, end_year=args.end_year,
                              data_dir=args.data_dir, variant=args.variant, supply=supply, data=data,
                              stock_register=args.stock, **extra)
        computed = time.perf_counter()
        summary = _write_forecast(args, extra, supply, command, data, result, staging, data_warnings.messages)
    data_warnings.report()
    done = time.perf_counter()
    _print_summary(data, result, out, summary, computed - started, done - computed)
    print(args.format_line)
    return 0


def _table_format(args: argparse.Namespace, extra: dict) -> tuple[str, str]:
    """--format, or its default (Parquet for many gemeenten and for draws), and the Dutch line saying so."""
    chosen = getattr(args, "table_format", None)
    many = _is_multi_gemeente(args.gemeente)
    if chosen is not None:
        fmt, why = chosen, "gekozen met --format"
    elif many or extra.get("draws"):
        fmt, why = "parquet", "standaard bij " + ("--gemeente " + args.gemeente if many else "--draws")
    else:
        fmt, why = "csv", "standaard voor een gemeente"
    other = "csv" if fmt == "parquet" else "parquet"
    label = {"csv": "CSV", "parquet": "Parquet"}
    store = " en de arrays in forecast.zarr" if fmt == "parquet" else ""
    return fmt, f"tabellen als {label[fmt]}{store} ({why}; met --format {other} als {label[other]})"


def _write_forecast(args, extra, supply, command, data, result, staging: Path, warning_messages) -> dict:
    """Every file of a single-gemeente run, into the staging folder (:func:`products.write_products`)."""
    return products.write_products(
        result, staging, data=data, data_dir=args.data_dir, supply=supply, scenario=args.scenario,
        variant=args.variant, draws=extra.get("draws", 0), seed=args.seed, command=command,
        table_format=getattr(args, "table_format", None) or "csv", keep_draws=bool(getattr(args, "keep_draws", False)),
        warnings=warning_messages, previous=args.out, reuse_figures=not getattr(args, "redraw_figures", False))


def _print_summary(data, result, out: Path, summary: dict, computing: float, writing: float) -> None:
    print(f"{export.run_title(result)}, {result.projection.base_year}-{result.projection.end_year}, "
          f"{len(result.projection.wijken)} wijken; berekend in {computing:.0f} s, geschreven in {writing:.0f} s")
    print(f"geschreven in {out}/:")
    print(f"  tabellen   {', '.join(summary['tables'])}")
    print(f"  werkboek   {summary['workbook']} (tabbladen: Woningbehoefte, Opgave per wijk, ..., "
          f"{export.SOURCES_SHEET})")
    reused = summary.get("figures_reused", 0)
    print(f"  grafieken  figures/ ({summary['figures']} PNG-bestanden"
          + (f", waarvan {reused} ongewijzigd overgenomen uit de vorige run" if reused else "") + ")")
    if summary.get("store"):
        print(f"  arrays     {summary['store']} (Zarr; openen met assen_demand.open_forecast)")
    print(f"  herkomst   {export.PROVENANCE} (controlegetallen van invoer en parameters, versie, opdracht, manifest)")


def _is_multi_gemeente(value: str) -> bool:
    return value.strip().lower() == "all" or "," in value


def _forecast_many(args: argparse.Namespace, extra: dict, supply, started: float, staging: Path) -> int:
    """--gemeente all (or a list): every gemeente's forecast, tables appended gemeente by gemeente."""


    wanted = None if args.gemeente.strip().lower() == "all" else [g.strip() for g in args.gemeente.split(",") if g.strip()]
    # the bundled example supply is each gemeente's default; anything else (a file, or None) is passed on
    options = {"variant": args.variant, **({"scenario": extra["scenario"]} if "scenario" in extra else {}),
               **({} if supply == "example" else {"supply": supply})}
    if extra.get("draws"):
        return _forecast_many_draws(args, extra, wanted, options, started, staging)
    if getattr(args, "table_format", "csv") == "parquet":  # issue 22: streamed to Parquet and forecast.zarr

        status, base_year, end_year = write_national(
            staging, data_dir=args.data_dir, base_year=args.base_year, end_year=args.end_year, gemeenten=wanted,
            tables=FORECAST_TABLES, processes=args.processes, progress=True, **options)
        result = _NationalRun(status, base_year, end_year)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NationalRunWarning)  # the failures are printed below
            result = national_forecast(args.data_dir, base_year=args.base_year, end_year=args.end_year,
                                       gemeenten=wanted, tables=FORECAST_TABLES, out_dir=staging, keep=False,
                                       processes=args.processes, progress=True, **options)
    status = result.status
    _write_many_provenance(args, result, staging)
    ok = int((status["status"] == "ok").sum())
    print(f"{ok} van {len(status)} gemeenten berekend, {result.base_year}-{result.end_year}, "
          f"in {time.perf_counter() - started:.0f} s")
    for row in result.failures.itertuples(index=False):
        print(f"  niet berekend: {row.gemeente} {row.gemeente_name}: {row.status}: {row.message[:160]}")
    suffix = "." + getattr(args, "table_format", "csv")
    store = ", forecast.zarr (bevolking als arrays)" if suffix == ".parquet" else ""
    print(f"geschreven in {args.out}/: {', '.join(f'{t}{suffix}' for t in FORECAST_TABLES)}{store}, gemeenten.csv "
          "(status per gemeente), provenance.json")
    print(getattr(args, "format_line", ""))
    return 0 if ok else 2


def _write_many_provenance(args: argparse.Namespace, result, staging: Path, **more) -> None:
    """provenance.json of a run over many gemeenten: command, data and parameter checksums, years, status counts."""
    record = {"version": __version__, "command": shlex.join(["assen-demand", *getattr(args, "argv", [])]),
              "data": {"source": "bundled" if args.data_dir is None else str(args.data_dir.resolve()),
                       "files": export.file_checksums(args.data_dir)},
              "parameters": export.parameter_checksums(), **more,
              "base_year": result.base_year, "end_year": result.end_year, "variant": args.variant,
              "scenario": args.scenario, "gemeenten": result.status["status"].value_counts().to_dict()}
    (staging / "provenance.json").write_text(json.dumps(record, indent=2, ensure_ascii=False), encoding="utf-8")


def _forecast_many_draws(args: argparse.Namespace, extra: dict, wanted, options: dict, started: float,
                         staging: Path) -> int:
    """--gemeente all (or a list) with --draws: the national stochastic run on Dask, quantiles of the opgave."""
    if args.workers < 1 and not args.scheduler:
        raise _UsageError(f"--workers moet 1 of meer zijn, niet {args.workers}")
    where = (f"Dask-cluster {args.scheduler}" if args.scheduler
             else f"{args.workers} Dask-werkers op deze machine (LocalCluster)")
    suffix = "." + getattr(args, "table_format", "parquet")
    print(f"Landelijke Monte-Carlo-run: {extra['draws']} trekkingen per gemeente door de hele keten op {where}; "
          f"schrijft de percentielen (5/50/95 %) van behoefte en opgave per wijk naar {args.out}/opgave_quantiles"
          f"{suffix} en {args.out}/forecast.zarr", flush=True)
    result = run_national_stochastic(staging, workers=args.workers, scheduler=args.scheduler,
                                     data_dir=args.data_dir, draws=extra["draws"],
                                     seed=1 if args.seed is None else args.seed, gemeenten=wanted,
                                     base_year=args.base_year, end_year=args.end_year, progress=True,
                                     table_format=getattr(args, "table_format", "parquet"), **options)
    status = result.status
    _write_many_provenance(args, result, staging, draws=result.draws, seed=result.seed)
    ok = int((status["status"] == "ok").sum())
    print(f"{ok} van {len(status)} gemeenten berekend met {result.draws} trekkingen (seed {result.seed}), "
          f"{result.base_year}-{result.end_year}, in {time.perf_counter() - started:.0f} s; hoogste geheugen per "
          f"werker {status['peak_rss_mb'].max():.0f} MB")
    for row in status[status["status"] != "ok"].itertuples(index=False):
        print(f"  niet berekend: {row.gemeente} {row.gemeente_name}: {row.status}: {str(row.message)[:160]}")
    print(f"geschreven in {args.out}/: opgave_quantiles{suffix}, forecast.zarr (centrale bevolking en percentielen "
          "van de opgave), gemeenten.csv (status, tijd en geheugen per gemeente), run.json, provenance.json")
    return 0 if ok else 2


class _NationalRun:
    """Status, base year and end year of a streamed national run (what the summary lines need)."""

    def __init__(self, status, base_year: int, end_year: int):
        self.status, self.base_year, self.end_year = status, base_year, end_year
        cols = ["gemeente", "gemeente_name", "status", "message"]
        self.failures = (status[status["status"] != "ok"].reset_index(drop=True) if len(status)
                         else pd.DataFrame(columns=cols))


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------


def _add_report(sub) -> None:
    rp = sub.add_parser("report", help="vergelijk de prognose van dit jaar met die van vorig jaar",
                        description="Vergelijkt twee uitvoermappen van 'assen-demand forecast' en de gerealiseerde "
                                    "KWB-cijfers: wat veranderde, en of nieuwe gegevens of andere aannames de oorzaak zijn.")
    rp.add_argument("--previous", metavar="MAP", type=Path, required=True, help="uitvoermap van de prognose van vorig jaar")
    rp.add_argument("--current", metavar="MAP", type=Path, required=True, help="uitvoermap van de prognose van dit jaar")
    rp.add_argument("--data-dir", metavar="MAP", type=Path, default=None,
                    help="map met ruwe CBS-bestanden voor de gerealiseerde KWB-cijfers (standaard: de gegevens van --current)")
    rp.add_argument("--out", metavar="UIT", type=Path, default=None,
                    help="schrijf het rapport naar dit bestand (.xlsx, .csv of .md); standaard: op het scherm")
    rp.add_argument("--force", action="store_true", help="vervang een bestaand --out-bestand")
    rp.add_argument("--evaluatie", action="store_true",
                    help="tweejaarlijkse evaluatie van het volkshuisvestingsprogramma: --previous is de run van "
                         "twee jaar terug")


def _report(args: argparse.Namespace) -> int:
    for name in ("previous", "current"):
        folder = getattr(args, name)
        if not folder.is_dir():
            raise _UsageError(f"--{name} {folder} is geen map; geef de --out-map van een prognose")
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

    suffix = args.out.suffix
    path = runfolder.atomic_write_file(
        args.out, lambda tmp: export.write_report(report, tmp.with_suffix(suffix)), force=args.force)
    print(report.summary())
    print(f"geschreven: {path}")
    return 0


def _evaluation(previous, current, out) -> int:
    """report --evaluatie: the programme indicators of two runs side by side (CSV/MD/XLSX or printed)."""

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
    print(f"geschreven: {out}")
    return 0


class _UsageError(Exception):
    pass


def _cli_wording(message: str) -> str:
    """An API message as a CLI user needs it: ``data_dir=`` becomes ``--data-dir``.

    Examples
    --------
    >>> _cli_wording("pass data_dir= with the CBS files, or base_year=2023")
    'pass --data-dir with the CBS files, or --base-year 2023'
    """
    return re.sub(r"\b(data_dir|base_year|end_year|scenario|draws|seed|supply|variant|gemeente)=(\S?)",
                  lambda m: "--" + m.group(1).replace("_", "-") + (" " + m.group(2) if m.group(2) else ""), message)
def _check_out_file(path: Path, suffixes: tuple[str, ...], force: bool) -> None:
    """An --out file: right suffix, not a folder, not an existing file without --force (before computing)."""
    if path.is_dir():
        raise _UsageError(f"--out {path} is een map; geef een bestandsnaam die eindigt op {' of '.join(suffixes)}")
    if path.suffix.lower() not in suffixes:
        raise _UsageError(f"--out {path}: gebruik een bestandsnaam die eindigt op {' of '.join(suffixes)}")
    if path.exists() and not force:
        raise _UsageError(f"--out {path} bestaat al; kies een andere naam of voeg --force toe om het te vervangen")
    folder = path.parent if str(path.parent) else Path(".")
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent

    if not os.access(probe, os.W_OK | os.X_OK):
        raise _UsageError(f"--out {path}: kan niet schrijven in {probe}; kies een map waarin u mag schrijven")


class _DataWarnings:
    """Collect DataWarnings (and other warnings) of a run; one summary line on stderr, all with --verbose."""

    def __init__(self, verbose: bool):
        self.verbose = verbose
        self._catcher = warnings.catch_warnings(record=True)
        self.messages: list[str] = []

    def __enter__(self):
        self._caught = self._catcher.__enter__()
        for category in (DataWarning, InputWarning):  # every one counted, not once per code line
            warnings.simplefilter("always", category)
        return self

    def __exit__(self, *exc):
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
            f"--draws {draws} vraagt ongeveer {_nl_number(draws * need / 2**30)} GiB geheugen "
            f"({_nl_number(need / 2**20)} MiB per trekking voor {areas} gebieden x {end_year - base + 1} jaren) en "
            f"er is {_nl_number(available / 2**30)} GiB vrij; gebruik hoogstens --draws {most}"
        )


def _nl_number(value: float) -> str:
    """One decimal in Dutch notation: ``_nl_number(1234.56)`` is ``'1.234,6'``."""
    return f"{value:,.1f}".replace(",", "_").replace(".", ",").replace("_", ".")


class _Terminated(BaseException):
    """SIGTERM, raised in the main thread so that the staging folder is cleaned up."""


def _on_sigterm(signum, frame):
    raise _Terminated()


def main(argv: list[str] | None = None) -> int:
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
        print(f"assen-demand {args.command}: fout: {_cli_wording(message)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"assen-demand {args.command}: onderbroken (Ctrl-C); er is niets half geschreven", file=sys.stderr)
        return 130
    except _Terminated:
        print(f"assen-demand {args.command}: gestopt (SIGTERM); er is niets half geschreven", file=sys.stderr)
        return 143
    except MemoryError:
        print(f"assen-demand {args.command}: fout: niet genoeg geheugen voor deze run; gebruik minder --draws of "
              "een kortere --gemeente-lijst", file=sys.stderr)
        return 2
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"assen-demand {args.command}: fout: {exc.strerror or exc}{where}; controleer het pad en de "
              "rechten", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug, not bad input: still one line, the traceback on request
        if getattr(args, "verbose", False):
            raise
        message = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
        print(f"assen-demand {args.command}: interne fout (in assen_demand, niet in uw invoer): {message}; meld "
              "die met de volledige opdracht (--verbose toont de traceback)", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
