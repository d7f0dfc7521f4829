"""Estimate the wijk net-migration dispersion used by assen_demand.uncertainty (not a test).

Run: PYTHONPATH=src python benchmarks/migration_dispersion.py [--pairs 2022 2023]

For the twelve Drenthe gemeenten (bundled KWB 2021-2024) the KWB band residuals r(w, b, t)
(net migration of wijk w, KWB age band b, flow year t; ``migration.kwb_band_residuals``) are
compared with two expectations, and the squared deviations are pooled relative to the band
population P(w, b) at the start of the year (over-dispersed Poisson: var = phi x P):

* ``allocation``: the wijk's population share of the gemeente's residual in the same band and
  year, i.e. what the projection assumes for a wijk without earlier KWB pairs. phi_alloc is the
  total yearly variance of a wijk around that allocation.
* ``year``: the wijk's own mean over the flow years used; phi_year is the year-to-year part
  (pooled within-wijk variance, n - 1 degrees of freedom per wijk).

By default only the flow years 2022 and 2023 are used (pairs 2022->2023 and 2023->2024), so that
the 2021->2022 coverage check in ``benchmarks/coverage.py`` is out of sample in time. The
``low`` column printed is a robust (median-based) estimate, ``high`` the estimate on all three
pairs when larger: they document how sensitive the value is; only ``central`` is used.
Bron: CBS, KWB 2021-2024 (85039NED, 85318NED, 85618NED, 85984NED), CC BY 4.0.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import pandas as pd

from assen_demand.inputs.datasets import load_gemeente, load_national
from assen_demand.pipeline import project_population

# median of a chi-square with one degree of freedom: median(d^2) / 0.455 estimates var(d) under normality
_CHI2_1_MEDIAN = 0.4549364231195724


def residuals(base_year: int = 2024) -> pd.DataFrame:
    """KWB band residuals of every bundled gemeente and its wijken, as known at ``base_year``."""
    nat = load_national()
    codes = sorted(nat.kwb.loc[nat.kwb["area_level"] == "gemeente", "area"].unique())
    parts = []
    for gm in codes:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            proj = project_population(data=load_gemeente(gm), base_year=base_year, end_year=base_year + 1)
        parts.append(proj.components.migration_residuals.assign(gemeente=gm))
    return pd.concat(parts, ignore_index=True)


def dispersion(res: pd.DataFrame, years) -> pd.DataFrame:
    """phi_alloc and phi_year per KWB band (and their robust versions) from the flow ``years``."""
    wijk = res[res["area_level"] == "wijk"]
    gem = res[res["area_level"] == "gemeente"][["gemeente", "year", "age_lo", "net_migration"]]
    w = wijk.merge(gem.rename(columns={"net_migration": "g_mig"}), on=["gemeente", "year", "age_lo"])
    total = w.groupby(["gemeente", "year", "age_lo"])["start"].transform("sum")
    w = w.assign(d=w["net_migration"] - w["g_mig"] * w["start"] / total)
    w = w[w["year"].isin(list(years)) & (w["start"] > 0)]
    rows = []
    for band, b in w.groupby("age_lo"):
        grp = b.groupby("area")
        dev = b["net_migration"] - grp["net_migration"].transform("mean")
        n = grp["net_migration"].transform("count")
        pbar = grp["start"].transform("mean")
        rows.append(dict(
            age_lo=int(band), cells=len(b), wijken=b["area"].nunique(),
            phi_alloc=float((b["d"] ** 2).sum() / b["start"].sum()),
            phi_alloc_robust=float((b["d"] ** 2 / b["start"]).median() / _CHI2_1_MEDIAN),
            phi_year=float((dev**2).sum() / ((n - 1) / n * pbar).sum()),
            phi_year_robust=float((dev[n > 1] ** 2 / ((n - 1) / n * pbar)[n > 1]).median() / _CHI2_1_MEDIAN),
        ))
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, nargs="+", default=[2022, 2023], help="flow years used")
    args = parser.parse_args()
    res = residuals()
    fit = dispersion(res, args.pairs)
    every = dispersion(res, sorted(res["year"].unique())).set_index("age_lo")
    pd.set_option("display.width", 160)
    print(f"flow years {args.pairs}:")
    print(fit.round(3).to_string(index=False))
    print("all flow years:")
    print(every.round(3).to_string())
    print("\nCSV rows (central = moment estimate, low = robust, high = max(central, all pairs)):")
    for _, r in fit.iterrows():
        for name, robust in (("phi_alloc", "phi_alloc_robust"), ("phi_year", "phi_year_robust")):
            c = r[name]
            lo = min(r[robust], c)
            hi = max(c, every.loc[r["age_lo"], name])
            print(f"{name}, {int(r['age_lo'])}: central {c:.3f} low {lo:.3f} high {hi:.3f}")


if __name__ == "__main__":
    main()
