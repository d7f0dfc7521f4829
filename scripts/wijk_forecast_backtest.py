"""Wijk hindcasts of issue 18: method vs naive per KWB band, every origin of the project's backtests.

    PYTHONPATH=src python scripts/wijk_forecast_backtest.py --out /tmp/wijkfc_backtest [--reuse]

Origins: Drenthe (the bundled tables, twelve gemeenten) 2021, 2022 and 2023 -> 2024, and all
gemeenten of the raw folder 2021 -> 2022 (``--raw``, default the first ``shared/data/raw`` above
the checkout; ``--no-national`` skips it). Methods: ``cohort_component``, ``constant_share``
(:func:`assen_demand.demography.combination.constant_share`), ``hamilton_perry`` where two base
populations exist (Drenthe 2022 and 2023), and ``combined`` (the default small-area method, the
weights of ``data/parameters/wijk_method_weights.csv``) unless ``--no-combined``.

Writes ``hindcasts.csv`` (every wijk, band, method and origin) and ``metrics.csv`` to ``--out``
and prints, per origin and method, the weighted APE of every band and the total against the
naive forecast, with the median APE. ``--reuse`` reads ``hindcasts.csv`` for the methods it
already holds. ``--option key=value`` passes a component option to every hindcast (the
variants of issue 18 note 4: ``wijk_fertility=cwr``, ``wijk_structural_migration=1``). Runtime: about 1 minute for Drenthe, 3-5 minutes for the national origin with
2 processes per method.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import pandas as pd

from assen_demand.backtest import hindcast, hindcast_metrics, national_hindcast
from assen_demand.inputs.datasets import load_national

DRENTHE_ORIGINS = ((2021, 2024), (2022, 2024), (2023, 2024))
NATIONAL_ORIGIN = (2021, 2022)


def _find_raw() -> Path | None:
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "data" / "raw"
        if candidate.is_dir():
            return candidate
    return None


ONLY: set = set()
#: ``--option key=value``: component options of every hindcast (e.g. ``wijk_fertility=cwr``)
OPTIONS: dict = {}


def _option(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--option needs key=value, got {text!r}")
    try:
        return key, float(value)
    except ValueError:
        return key, value


def _methods(base_year: int, combined: bool) -> dict:
    from assen_demand.demography.combination import constant_share

    methods = {"cohort_component": "cohort_component", "constant_share": constant_share}
    if base_year >= 2022:
        methods["hamilton_perry"] = "hamilton_perry"
    if combined:
        from assen_demand.demography.combination import combined as combined_method

        methods["combined"] = combined_method
    return {k: v for k, v in methods.items() if not ONLY or k in ONLY}


def drenthe(combined: bool, skip: set) -> pd.DataFrame:
    national = load_national()
    codes = [c for c in national.gemeenten(2024)["area"] if c.startswith("GM")]
    frames = []
    for base_year, target_year in DRENTHE_ORIGINS:
        for name, method in _methods(base_year, combined).items():
            if ("drenthe", base_year, name) in skip:
                continue
            started = time.perf_counter()
            for code in codes:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    t = hindcast(data=national.for_gemeente(code), base_year=base_year, target_year=target_year,
                                 method=method, **OPTIONS)
                t["method"] = name
                t["origin"] = "drenthe"
                frames.append(t)
            print(f"drenthe {base_year}->{target_year} {name}: {time.perf_counter() - started:.1f} s", flush=True)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def national(raw: Path, combined: bool, skip: set, processes: int, every: int = 1, offset: int = 0) -> pd.DataFrame:
    base_year, target_year = NATIONAL_ORIGIN
    gemeenten = None
    if every > 1:  # a systematic sample: every n-th gemeente code of the base year, in code order
        codes = sorted(c for c in load_national(raw).gemeenten(base_year)["area"] if str(c).startswith("GM"))
        gemeenten = codes[offset::every]
    frames = []
    for name, method in _methods(base_year, combined).items():
        if ("national", base_year, name) in skip:
            continue
        started = time.perf_counter()
        table, status = national_hindcast(raw, base_year=base_year, target_year=target_year, methods=[method],
                                          processes=processes, gemeenten=gemeenten, **OPTIONS)
        table["method"] = name
        table["origin"] = "national"
        frames.append(table)
        ok = int((status["status"] == "ok").sum())
        print(f"national {base_year}->{target_year} {name}: {ok} gemeenten, {time.perf_counter() - started:.1f} s",
              flush=True)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def metrics(table: pd.DataFrame) -> pd.DataFrame:
    return hindcast_metrics(table, by=["origin", "base_year", "target_year", "method", "band"])


def format_origin_tables(m: pd.DataFrame) -> str:
    """One markdown table per origin: band rows, 'method vs naive (median method / naive)' per method."""
    lines = []
    for (origin, base, target), grp in m.groupby(["origin", "base_year", "target_year"], sort=False):
        methods = list(dict.fromkeys(grp["method"]))
        lines.append(f"\n{origin} {base} -> {target} (n wijken per band: {int(grp['n'].iloc[0])}); weighted APE % "
                     "method vs naive (median APE method / naive)\n")
        lines.append("| band | " + " | ".join(methods) + " |")
        lines.append("|---|" + "---|" * len(methods))
        for band in ("0-15", "15-25", "25-45", "45-65", "65+", "total"):
            cells = []
            for method in methods:
                r = grp[(grp["method"] == method) & (grp["band"] == band)]
                if r.empty:
                    cells.append("")
                    continue
                r = r.iloc[0]
                # equal up to round-off counts as equal: a forecast that holds the published figure sums
                # the same absolute errors in another order (1e-15 apart)
                mark = "" if r["weighted_ape"] <= r["naive_weighted_ape"] * (1 + 1e-9) else " *"
                cells.append(f"{r['weighted_ape']:.2f} vs {r['naive_weighted_ape']:.2f}{mark} "
                             f"({r['median_ape']:.1f} / {r['naive_median_ape']:.1f})")
            lines.append(f"| {band} | " + " | ".join(cells) + " |")
    lines.append("\n(* = worse than naive)")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/wijkfc_backtest"))
    parser.add_argument("--raw", type=Path, default=_find_raw())
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--reuse", action="store_true", help="keep the methods already in hindcasts.csv")
    parser.add_argument("--no-national", action="store_true")
    parser.add_argument("--no-drenthe", action="store_true")
    parser.add_argument("--methods", default="", help="comma-separated subset of the methods (default all)")
    parser.add_argument("--no-combined", action="store_true")
    parser.add_argument("--every", type=int, default=1,
                        help="national origin: run every n-th gemeente only (a systematic sample, for a loaded machine)")
    parser.add_argument("--offset", type=int, default=0,
                        help="with --every n: start at the offset-th code (offsets 0..n-1 together cover every "
                             "gemeente, so a long run can be split into parts)")
    parser.add_argument("--option", type=_option, action="append", default=[],
                        help="key=value component option of every hindcast, e.g. wijk_fertility=cwr or "
                             "wijk_structural_migration=1 (issue 18 note 4); repeatable")
    args = parser.parse_args()
    OPTIONS.update(dict(args.option))
    warnings.simplefilter("ignore")
    ONLY.update(m for m in args.methods.split(",") if m)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "hindcasts.csv"
    old = pd.read_csv(path) if args.reuse and path.exists() else pd.DataFrame()
    skip = set()
    if len(old):
        skip = set(map(tuple, old[["origin", "base_year", "method"]].drop_duplicates().itertuples(index=False)))
    parts = [old]
    if not args.no_drenthe:
        parts.append(drenthe(not args.no_combined, skip))
    if not args.no_national and args.raw is not None:
        parts.append(national(args.raw, not args.no_combined, skip, args.processes, args.every, args.offset))
    table = pd.concat([p for p in parts if len(p)], ignore_index=True)
    table.to_csv(path, index=False)
    m = metrics(table)
    m.to_csv(args.out / "metrics.csv", index=False)
    print(format_origin_tables(m))


if __name__ == "__main__":
    main()
