"""Weights of the wijk method combination per KWB band and horizon, from the project's own hindcasts.

    PYTHONPATH=src python scripts/estimate_wijk_weights.py /tmp/wijkfc_smooth/hindcasts.csv \
        [--write src/assen_demand/data/parameters/wijk_method_weights.csv]

Reads the table of ``scripts/wijk_forecast_backtest.py`` (methods ``cohort_component`` and
``constant_share``; the naive forecast is in every row). For each horizon (target - base year:
1 = all gemeenten 2021 -> 2022 and Drenthe 2023 -> 2024; 2 = Drenthe 2022 -> 2024; 3 = Drenthe
2021 -> 2024) and band, the weights (cohort-component, constant share, naive) on a simplex grid
of step 0.05 that minimise the weighted absolute percentage error of the matched wijken
(``sum |error| / sum observed``). Validation: leave one whole gemeente out, estimate the weights
on the others, forecast its wijken; the per-origin tables are printed for the in-sample and the
left-out forecasts.
"""

from __future__ import annotations

import argparse
from itertools import product
from pathlib import Path

import numpy as np
import pandas as pd

BANDS = ("0-15", "15-25", "25-45", "45-65", "65+")
METHODS = ("cohort_component", "constant_share", "naive")
STEP = 0.05


def simplex(step: float = STEP) -> np.ndarray:
    n = int(round(1 / step))
    grid = [(i, j, n - i - j) for i, j in product(range(n + 1), repeat=2) if i + j <= n]
    return np.array(grid, float) / n  # (combo, method)


def wide(table: pd.DataFrame) -> pd.DataFrame:
    rows = table[(table["status"] == "matched") & (table["area_level"] == "wijk") & table["band"].isin(BANDS)]
    rows = rows[rows["method"].isin(METHODS[:2])]
    keys = ["origin", "base_year", "target_year", "gemeente", "area", "band"]
    out = rows.pivot_table(index=keys, columns="method", values="predicted").dropna()
    extra = rows.drop_duplicates(keys).set_index(keys)[["observed", "naive"]]
    out = out.join(extra, how="inner").reset_index()
    out["horizon"] = out["target_year"] - out["base_year"]
    return out


def fit(w: pd.DataFrame, grid: np.ndarray) -> dict:
    """(horizon, band) -> best weights; and the per-gemeente error sums for leaving one out."""
    best, per_gemeente = {}, {}
    for (h, band), grp in w.groupby(["horizon", "band"]):
        preds = grp[list(METHODS)].to_numpy(float)  # (wijk, method)
        err = np.abs(preds @ grid.T - grp["observed"].to_numpy(float)[:, None])  # (wijk, combo)
        sums = pd.DataFrame(err).groupby(grp["gemeente"].to_numpy()).sum()  # (gemeente, combo)
        per_gemeente[(h, band)] = sums
        best[(h, band)] = grid[int(np.argmin(sums.sum(axis=0).to_numpy()))]
    return best, per_gemeente


def predict(w: pd.DataFrame, weights) -> pd.Series:
    preds = w[list(METHODS)].to_numpy(float)
    out = np.empty(len(w))
    for i, (h, band, g) in enumerate(zip(w["horizon"], w["band"], w["gemeente"])):
        out[i] = preds[i] @ weights(h, band, g)
    return pd.Series(out, index=w.index)


def table_metrics(w: pd.DataFrame, column: str) -> pd.DataFrame:
    rows = []
    for (origin, base, target), grp in w.groupby(["origin", "base_year", "target_year"]):
        total = grp.groupby("area")[[column, "observed", "naive"]].sum()
        parts = [(b, grp[grp["band"] == b]) for b in BANDS] + [("total", total)]
        for band, g in parts:
            e = (g[column] - g["observed"]).abs()
            n = (g["naive"] - g["observed"]).abs()
            obs = g["observed"].where(g["observed"] > 0)
            rows.append(dict(origin=origin, base_year=base, target_year=target, band=band, n=len(g),
                             weighted_ape=100 * e.sum() / g["observed"].sum(),
                             naive_weighted_ape=100 * n.sum() / g["observed"].sum(),
                             median_ape=float((100 * e / obs).median()),
                             naive_median_ape=float((100 * n / obs).median())))
    return pd.DataFrame(rows)


def show(m: pd.DataFrame, title: str) -> str:
    lines = [f"\n{title}", "| origin | " + " | ".join(BANDS) + " | total |", "|---|" + "---|" * 6]
    for (origin, base, target), grp in m.groupby(["origin", "base_year", "target_year"]):
        cells = []
        for band in (*BANDS, "total"):
            r = grp[grp["band"] == band].iloc[0]
            mark = "" if r["weighted_ape"] <= r["naive_weighted_ape"] else " *"
            cells.append(f"{r['weighted_ape']:.2f} vs {r['naive_weighted_ape']:.2f}{mark} "
                         f"({r['median_ape']:.1f}/{r['naive_median_ape']:.1f})")
        lines.append(f"| {origin} {base}->{target} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("hindcasts", type=Path)
    parser.add_argument("--write", type=Path, default=None)
    parser.add_argument("--pool", action="store_true", help="one weight set per band for every horizon")
    args = parser.parse_args()
    w = wide(pd.read_csv(args.hindcasts))
    if args.pool:
        w["horizon_observed"] = w["horizon"]
        w["horizon"] = 0
    grid = simplex()
    best, per_gemeente = fit(w, grid)
    print("weights (cohort_component, constant_share, naive) by horizon and band:")
    for (h, band), wt in sorted(best.items()):
        print(f"  h={h} {band:>6}: {wt.round(2).tolist()}")

    def logo(h, band, g):
        sums = per_gemeente[(h, band)]
        rest = sums.sum(axis=0) - (sums.loc[g] if g in sums.index else 0)
        return grid[int(np.argmin(rest.to_numpy()))]

    w["in_sample"] = predict(w, lambda h, band, g: best[(h, band)])
    w["left_out"] = predict(w, logo)
    print(show(table_metrics(w, "in_sample"), "in sample: weighted APE % combination vs naive (median APE)"))
    print(show(table_metrics(w, "left_out"), "leaving whole gemeenten out: weighted APE % vs naive (median APE)"))
    for method in METHODS[:2]:
        print(show(table_metrics(w, method), f"{method} alone"))
    if args.write is not None:
        rows = []
        source = ("estimated by scripts/estimate_wijk_weights.py on the project's wijk hindcasts (CBS KWB 2021-2024, "
                  "https://www.cbs.nl/nl-nl/dossier/nederland-regionaal/wijk-en-buurtstatistieken); method: "
                  "Smith, Tayman & Swanson 2013, https://doi.org/10.1007/978-94-007-7551-0")
        for (h, band), wt in sorted(best.items()):
            for method, value in zip(METHODS, wt):
                lo, hi = (int(band.split("-")[0].rstrip("+")), band.split("-")[1] if "-" in band else "")
                rows.append(dict(indicator="wijk_method_weight", method=method, horizon=max(int(h), 1), sex="all",
                                 age_lo=lo, age_hi=hi, year=2024, central=round(float(value), 4),
                                 low=round(float(value), 4), high=round(float(value), 4), unit="1 (weight)",
                                 status="geschat", source=source,
                                 note=("minimises the weighted APE of matched wijken "
                                       + ("pooled over the horizons 1-3 (the row holds for every horizon)" if args.pool
                                          else f"at horizon {h}") + f" (grid step {STEP})")))
        pd.DataFrame(rows).to_csv(args.write, index=False)
        print(f"wrote {args.write}")


if __name__ == "__main__":
    main()
