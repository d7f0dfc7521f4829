"""Time a national hindcast (every gemeente of a raw data folder) and print its error tables.

    PYTHONPATH=src python benchmarks/bench_backtest.py --data-dir ../shared/data/raw \
        --base-year 2021 --target-year 2022 --methods cohort_component,housing_led --processes 2

Reading the raw folder is timed apart from the hindcasts. Each method is timed separately
(wall clock, all gemeenten). Writes the tables to --out (CSV) if given.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import pandas as pd

from assen_demand.backtest import format_metrics, hindcast_metrics, national_hindcast
from assen_demand.inputs.datasets import find_raw_dir, load_national


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=find_raw_dir(Path(__file__).resolve().parent)
                        or Path(__file__).resolve().parents[2] / "shared" / "data" / "raw")
    parser.add_argument("--base-year", type=int, default=2021)
    parser.add_argument("--target-year", type=int, default=2022)
    parser.add_argument("--methods", default="cohort_component")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--gemeenten", default=None, help="comma-separated codes (default all)")
    parser.add_argument("--out", type=Path, default=None, help="CSV of the hindcast rows")
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    started = time.perf_counter()
    load_national(args.data_dir)
    print(f"read {args.data_dir}: {time.perf_counter() - started:.1f} s")
    tables, status = [], None
    for method in args.methods.split(","):
        started = time.perf_counter()
        table, status = national_hindcast(
            args.data_dir, base_year=args.base_year, target_year=args.target_year, methods=[method],
            processes=args.processes, gemeenten=None if args.gemeenten is None else args.gemeenten.split(","))
        seconds = time.perf_counter() - started
        ok = int((status["status"] == "ok").sum())
        print(f"{method}: {ok} gemeenten hindcast {args.base_year} -> {args.target_year} in {seconds:.1f} s "
              f"wall with {args.processes} process(es) ({seconds / max(ok, 1):.2f} s per gemeente)")
        tables.append(table)
    table = pd.concat(tables, ignore_index=True)
    print("\ngemeenten not hindcast:")
    print(status[status["status"] != "ok"][["gemeente", "gemeente_name", "status", "message"]].to_string(index=False))
    wijken = table[table["area_level"] == "wijk"].drop_duplicates(["gemeente", "area", "method"])
    print("\nwijk status:", wijken.groupby("method")["status"].value_counts().to_dict())
    print("\nwijken, APE in % (naive = base year as observed):")
    print(format_metrics(hindcast_metrics(table, by=["method", "band"])))
    print("\ngemeenten:")
    print(format_metrics(hindcast_metrics(table, by=["method", "band"], level="gemeente")))
    if args.out is not None:
        table.to_csv(args.out, index=False)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
