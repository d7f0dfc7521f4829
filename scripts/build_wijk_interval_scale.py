"""Estimate the band x horizon scale of the wijk migration deviations from stochastic hindcasts.

Usage::

    PYTHONPATH=src python benchmarks/coverage.py --draws 500 --gemeenten <the 12 Drenthe codes> --out cells.csv
    PYTHONPATH=src python scripts/build_wijk_interval_scale.py cells.csv

The hindcast (from 2021, KWB 2022-2024 observed: horizons 1-3) must have been made with the
table now in ``data/parameters/wijk_interval_scale.csv``: the new factor is the old one times
the 90 % quantile of |observed - median| / interval half per band and horizon
(``assen_demand.evaluation.estimate_wijk_interval_scale``), so running the two commands again
converges. Writes the table and prints, per band and horizon, the coverage of the hindcast, the
factor, and a leave-one-gemeente-out check (each gemeente's cells against the factor estimated on
the other eleven).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from assen_demand import evaluation as E

OUT = Path(__file__).resolve().parent.parent / "src" / "assen_demand" / "data" / "parameters" / E.WIJK_SCALE_TABLE


def main(cells_csv: str) -> None:
    cells = pd.read_csv(cells_csv, dtype={"area": str, "gemeente": str})
    wijk = cells[(cells["level"] == "wijk") & cells["drenthe"].astype(bool)].dropna(subset=["observed"])
    wijk = wijk.assign(ratio=E.interval_width_ratio(wijk)).dropna(subset=["ratio"])
    current = E.wijk_interval_scale()
    estimate = E.estimate_wijk_interval_scale(wijk, current)
    # leave one gemeente out: is a gemeente's cell inside the interval scaled by the others' factor?
    held = []
    for gm in sorted(wijk["gemeente"].unique()):
        rest = E.estimate_wijk_interval_scale(wijk[wijk["gemeente"] != gm], current, boot=1)
        own = wijk[wijk["gemeente"] == gm].merge(rest[["age_lo", "horizon", "measured"]], on=["age_lo", "horizon"])
        held.append(own.assign(covered=own["ratio"] <= own["measured"]))
    loo = pd.concat(held).groupby(["age_lo", "horizon"])["covered"].mean().rename("loo_coverage")
    before = wijk.groupby(["age_lo", "horizon"])["ratio"].apply(lambda r: float(np.mean(r <= 1))).rename("coverage")
    report = estimate.set_index(["age_lo", "horizon"]).join(before).join(loo)
    pd.set_option("display.width", 160)
    print(f"{len(wijk)} wijk cells, {wijk['area'].nunique()} wijken, {wijk['gemeente'].nunique()} gemeenten")
    print(report.round(3).to_string())
    year = int(cells["year"].max())
    E.wijk_interval_scale_table(estimate, year=year).to_csv(OUT, index=False)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main(sys.argv[1])
