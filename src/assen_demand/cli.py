"""Command line: ``assen-demand forecast | backtest | report``.

Bad arguments exit with status 2 and a one-line message, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from assen_demand.errors import AssenDemandError

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, status 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="assen-demand", description="Population, care need and dwelling need per wijk from CBS data.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    fc = sub.add_parser("forecast", help="write the forecast tables and charts for a gemeente")
    fc.add_argument("--gemeente", default="GM0106", help="CBS code or name (default GM0106, Assen)")
    fc.add_argument("--data-dir", type=Path, default=None, help="folder of raw CBS/UN files (default: bundled data)")
    fc.add_argument("--out", type=Path, required=True, help="output folder")
    fc.add_argument("--force", action="store_true", help="write into a non-empty output folder")
    bt = sub.add_parser("backtest", help="hindcast a gemeente from a base year and compare with a later KWB year")
    bt.add_argument("--gemeente", default="GM0106", help="CBS code or name (default GM0106, Assen)")
    bt.add_argument("--base-year", type=int, required=True, help="jump-off year (data known on 1 January)")
    bt.add_argument("--target-year", type=int, required=True, help="year to forecast and compare with")
    bt.add_argument("--method", default="cohort_component",
                    choices=["cohort_component", "hamilton_perry", "housing_led"], help="small-area method")
    bt.add_argument("--data-dir", type=Path, default=None, help="folder of raw CBS/UN files (default: bundled data)")
    bt.add_argument("--out", type=Path, required=True, help="CSV file for the hindcast table")
    return parser


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


def _forecast(args: argparse.Namespace) -> int:
    from assen_demand.datasets import load_gemeente

    out: Path = args.out
    if out.exists() and any(out.iterdir()) and not args.force:
        raise _UsageError(f"output folder {out} is not empty; choose another --out or add --force")
    data = load_gemeente(args.gemeente, data_dir=args.data_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "base_data_summary.csv"
    data.summary().to_csv(path, index=False)
    print(f"{data.name} ({data.gemeente}): KWB years {', '.join(map(str, data.kwb_years))}")
    print(f"wrote {path}")
    return 0


class _UsageError(Exception):
    pass


def main(argv: list[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        return {"forecast": _forecast, "backtest": _backtest}[args.command](args)
    except (AssenDemandError, _UsageError) as exc:
        print(f"assen-demand {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
