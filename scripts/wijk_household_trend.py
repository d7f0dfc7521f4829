"""Issue 18 item 3: do wijken whose households grow fast follow them? Measured on the Drenthe hindcasts.

    PYTHONPATH=src python scripts/wijk_household_trend.py HINDCASTS.csv

Reads ``hindcasts.csv`` of ``scripts/wijk_forecast_backtest.py`` (Drenthe origins, method ``combined``
without the household step: made on main 601c19d, before ``follow_households`` joined the combination;
``--min-years 1`` also scores the one-year trends from 2022) and the bundled KWB households per wijk. For each origin and each threshold and weight it prints the weighted APE of the wijk
totals (matched wijken) of

* the combination as it is;
* ``free``: growing wijken (households growth over the KWB years up to the base year above the threshold,
  at least two years of trend) moved by the weight toward ``(households + slope h) x persons per
  household``;
* ``kept``: the same, the other wijken of the gemeente scaled so that the gemeente keeps its total
  (what :func:`assen_demand.demography.combination.follow_households` does, per band);

and the band profile of what the combination missed in the growing wijken (observed minus combined per
KWB band, as a share of the sum), the source of ``household_trend_band_share`` in
``data/parameters/wijk_household_trend.csv``.
"""

from __future__ import annotations

import argparse
import warnings

import pandas as pd

from assen_demand.demography.combination import household_trend
from assen_demand.inputs.datasets import load_national

THRESHOLDS = (0.01, 0.02, 0.03)
WEIGHTS = (0.3, 0.5, 0.7)


def kwb_wijken() -> pd.DataFrame:
    national = load_national()
    codes = [c for c in national.gemeenten(2024)["area"] if c.startswith("GM")]
    kwb = pd.concat([national.for_gemeente(c).kwb for c in codes])
    return kwb[kwb["area_level"] == "wijk"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("hindcasts")
    parser.add_argument("--min-years", type=int, default=2)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    kwb = kwb_wijken()
    households = kwb.pivot_table(index="area", columns="year", values="households")
    population = kwb.pivot_table(index="area", columns="year", values="population")
    table = pd.read_csv(args.hindcasts)
    table = table[(table["origin"] == "drenthe") & (table["area_level"] == "wijk") & (table["method"] == "combined")]
    first = int(households.columns.min())
    for base in sorted(table["base_year"].unique()):
        target = int(table.loc[table["base_year"] == base, "target_year"].iloc[0])
        # the profile of what the combination missed where households grew > 3 % a year (over the KWB
        # years before the base year, or, for the first KWB year, over the hindcast itself)
        grew = ((households[target] - households[base]) / (target - base) if base == first
                else (households[base] - households[first]) / (base - first)) / households[base]
        bands = table[(table["base_year"] == base) & (table["band"] != "total") & (table["status"] == "matched")]
        bands = bands[bands["area"].map(grew) > 0.03]
        missed = (bands["observed"] - bands["predicted"]).groupby(bands["band"]).sum()
        print(f"{base}: what the combination missed in {bands['area'].nunique()} wijken growing > 3 % a year, by band: "
              + ", ".join(f"{b} {v / missed.sum():.2f}" for b, v in missed.items()))
        rows = table[(table["base_year"] == base) & (table["band"] == "total")].set_index("area")
        h = target - int(base)
        # the trend as the pipeline reads it (households over the KWB years up to the base year)
        trend = household_trend(kwb, year=int(base), areas=list(rows.index), threshold=0.0, min_years=args.min_years)
        trend = trend.set_index("area")
        # threshold 0 above: "follows" = a trend over at least min_years (the thresholds are tried below)
        if not trend["follows"].any():
            print(f"{base}: fewer than {args.min_years} KWB years of households up to it; no wijk follows")
            continue
        trend["target"] = (trend["households"] + trend["slope"] * h) * trend["persons_per_household"]
        rows = rows.join(trend[["growth", "target"]].where(trend["follows"] | (trend["growth"] <= 0), axis=0))
        matched = rows["status"] == "matched"

        def wape(column: str) -> float:
            g = rows[matched]
            return 100 * (g[column] - g["observed"]).abs().sum() / g["observed"].sum()

        for threshold in THRESHOLDS:
            grow = (rows["growth"] > threshold) & rows["target"].notna()
            for weight in WEIGHTS:
                moved = rows["predicted"].where(~grow, (1 - weight) * rows["predicted"] + weight * rows["target"])
                gained = (moved - rows["predicted"]).groupby(rows["gemeente"]).sum()
                rest = rows["predicted"].where(~grow, 0.0).groupby(rows["gemeente"]).transform("sum")
                rows["free"] = moved
                rows["kept"] = moved.where(grow, rows["predicted"] * (1 - rows["gemeente"].map(gained) / rest))
                print(f"{base} -> {base + h}, threshold {threshold}, weight {weight}: growing wijken "
                      f"{int((grow & matched).sum())}; weighted APE of the wijk totals: combined {wape('predicted'):.3f}, "
                      f"free {wape('free'):.3f}, kept {wape('kept'):.3f}, naive {wape('naive'):.3f}")


if __name__ == "__main__":
    main()
