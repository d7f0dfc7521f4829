"""Coverage of the 90 % Monte Carlo intervals in stochastic hindcasts (not a test; prints a report).

Run: PYTHONPATH=src python benchmarks/coverage.py [--data-dir ../shared/data/raw] [--draws 500] [--seed 2021]
     [--gemeenten GM0106 GM0114 ...] [--out coverage.csv]
     PYTHONPATH=src python benchmarks/coverage.py --rolling-origin [ERRORS.csv.gz] [--window 25]

``--rolling-origin``: gemeente totals from every origin 2000-2022 and horizon 1-20 (CBS 37259,
``assen_demand.evaluation``; the errors CSV of ``scripts/build_forecast_errors.py --errors-out``,
or recomputed from the raw folder, about 2 minutes). Out of sample in time: the error process
behind each origin's intervals is fitted only on errors whose outcome was known at that origin
and whose origin lies within ``--window`` years before it, and its persistence on growth rates
before 2000 (``evaluation.rolling_origin_coverage``). Reports the coverage of the 90 % and
80 % intervals by horizon, overall and by kind of gemeente, and the share of misses below.

Two checks, both from base year 2021 with only what was known on 1 January 2021
(``GemeenteData.as_of(2021)`` inside ``project_population``):

1. every gemeente with wijken in KWB 2021 and 2022: the 2022 wijk population per KWB age band
   (0-14, 15-24, 25-44, 45-64, 65+) against the 2021->2022 interval;
2. the twelve Drenthe gemeenten (KWB 2023 and 2024 are only in the data for Drenthe): 2022, 2023
   and 2024 against the 2021->2024 intervals (horizons 1-3 years).

A cell counts as covered when the observed KWB value lies inside [q05, q95] of the draws of
the same wijk, band and year. CBS rounds KWB counts to multiples of 5, so the observed value is
only known to +-2.5; the rounding-aware count widens the interval by 2.5 on each side
(equivalently: the interval meets the set of true values that round to the observation). Both
are reported. Wijken whose code is not in both years (boundary changes) are left out and
counted. The draws are demographic only (``uncertainty.simulate_population``): care and
dwelling parameters do not change a population count.

The wijk migration dispersion was estimated on the Drenthe flow years 2022 and 2023
(``benchmarks/migration_dispersion.py``), so check 1 is out of sample in time everywhere and
out of sample in space outside Drenthe; check 2 overlaps the estimation years (reported
separately for that reason). The cells of check 2 (``--out``) are also what
``scripts/build_wijk_interval_scale.py`` estimates the wijk band x horizon scale from
(``data/parameters/wijk_interval_scale.csv``), so check 2 is in sample for that scale.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from assen_demand.inputs.cbs import kwb_age_bands
from assen_demand.inputs.datasets import find_raw_dir, load_gemeente, load_national
from assen_demand.pipeline import project_population
from assen_demand.uncertainty import simulate_population

BASE_YEAR = 2021
_EDGES = np.array([0, 15, 25, 45, 65, 101])
_BAND_OF_AGE = np.searchsorted(_EDGES, np.arange(101), side="right") - 1
_ROUNDING = 2.5


def band_intervals(draws, years) -> pd.DataFrame:
    """q05, q50, q95 of the draws per area, KWB band and year."""
    rows = []
    for year in years:
        sub = draws.sel(year=year).sum("sex").transpose("draw", "area", "age").values  # (draw, area, age)
        bands = np.zeros(sub.shape[:2] + (len(_EDGES) - 1,))
        np.add.at(np.moveaxis(bands, -1, 0), _BAND_OF_AGE, np.moveaxis(sub, -1, 0))
        q = np.quantile(bands, [0.05, 0.5, 0.95], axis=0)  # (3, area, band)
        for i, area in enumerate(draws["area"].values):
            for b, lo in enumerate(_EDGES[:-1]):
                rows.append((str(area), int(lo), int(year), q[0, i, b], q[1, i, b], q[2, i, b]))
    return pd.DataFrame(rows, columns=["area", "age_lo", "year", "q05", "q50", "q95"])


def hindcast(gemeente: str, *, data_dir, end_year: int, draws: int, seed: int) -> pd.DataFrame:
    """Intervals from ``BASE_YEAR`` and the observed KWB bands of the years after it."""
    data = load_gemeente(gemeente, data_dir=data_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # data warnings of 340 gemeenten; failures are recorded instead
        proj = project_population(data=data, base_year=BASE_YEAR, end_year=end_year)
        sim = simulate_population(proj, data=data, draws=draws, seed=seed, progress=False)
    years = list(range(BASE_YEAR + 1, end_year + 1))
    intervals = band_intervals(sim, years)
    kwb = data.kwb[data.kwb["year"].isin(years) & data.kwb["area_level"].isin(["gemeente", "wijk"])]
    observed = kwb_age_bands(kwb)[["area", "year", "age_lo", "persons"]].rename(columns={"persons": "observed"})
    out = intervals.merge(observed, on=["area", "year", "age_lo"], how="left")
    out["level"] = np.where(out["area"] == proj.gemeente, "gemeente", "wijk")
    out["gemeente"] = proj.gemeente
    out["horizon"] = out["year"] - BASE_YEAR
    return out


def summarise(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    ok = frame.dropna(subset=["observed"])
    strict = (ok["observed"] >= ok["q05"]) & (ok["observed"] <= ok["q95"])
    rounded = (ok["observed"] >= ok["q05"] - _ROUNDING) & (ok["observed"] <= ok["q95"] + _ROUNDING)
    below = ok["observed"] < ok["q05"] - _ROUNDING
    g = ok.assign(strict=strict, rounded=rounded, below=below,
                  ape=(ok["q50"] - ok["observed"]).abs() / ok["observed"].where(ok["observed"] > 0))
    out = g.groupby(by).agg(cells=("strict", "size"), coverage=("strict", "mean"),
                            coverage_rounding=("rounded", "mean"), share_below=("below", "mean"),
                            median_ape_of_q50=("ape", "median"))
    return out


def _previous_rule_coverage(errors: pd.DataFrame, changes: pd.DataFrame) -> pd.DataFrame:
    """Coverage of the gemeente-level intervals as drawn before issue 21 (normal approximation)."""
    chg = changes.pivot(index="area", columns="year", values="change")
    valid = changes.pivot(index="area", columns="year", values="valid").fillna(False).astype(bool)
    parts = []
    for o in sorted(errors["origin"].unique()):
        cols = [y for y in range(o - 10, o) if y in chg.columns]
        window = chg[cols].where(valid[cols])
        sd = window[window.notna().sum(axis=1) >= 3].std(axis=1, ddof=1).rename("s")
        parts.append(errors[errors["origin"] == o].merge(sd, left_on="area", right_index=True))
    out = pd.concat(parts, ignore_index=True)
    half = out["s"] / out["forecast"] * np.sqrt(out["horizon"] ** 2 + out["horizon"])
    out["covered_90"] = out["log_error"].abs() <= 1.6448536 * half
    out["covered_80"] = out["log_error"].abs() <= 1.2815516 * half
    return out


def rolling_origin_report(errors_csv: str | None, *, data_dir: str, window: int, draws: int) -> None:
    """Print the out-of-sample coverage of the gemeente-total intervals by horizon."""
    from assen_demand import evaluation
    from assen_demand.inputs.cbs import read_population_dynamics

    start = time.time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dynamics = read_population_dynamics(data_dir)
    if errors_csv:
        errors = pd.read_csv(errors_csv)
    else:
        errors = evaluation.rolling_origin_errors(dynamics, max_horizon=20)
    first = 2000
    changes = evaluation.constant_boundary_changes(dynamics)
    phi = float(evaluation.growth_persistence(changes, before=first).median())
    origins = list(range(first, int(errors["origin"].max()) + 1))
    cov = evaluation.rolling_origin_coverage(errors, phi=phi, origins=origins, window=window, draws=draws)
    cov["below_90"] = cov["log_error"] < cov["lo_90"]
    print(f"rolling-origin coverage of gemeente totals: origins {first}-{origins[-1]}, {len(cov)} errors, "
          f"{cov['area'].nunique()} gemeenten; process fitted per origin on errors known then "
          f"(origins within {window} years), phi = {phi:.3f} (growth rates before {first}); "
          f"{draws} draws; {time.time() - start:.0f} s")
    by_h = cov.groupby("horizon").agg(errors=("covered_90", "size"), origins=("origin", "nunique"),
                                       coverage_90=("covered_90", "mean"), coverage_80=("covered_80", "mean"),
                                       share_below_90=("below_90", "mean"))
    print(by_h.round(3).to_string())
    print("\nby kind, horizons 1-5 (90 % / 80 %):")
    near = cov[cov["horizon"] <= 5]
    print(near.groupby("kind").agg(errors=("covered_90", "size"), coverage_90=("covered_90", "mean"),
                                   coverage_80=("covered_80", "mean")).round(3).to_string())
    print("\nby kind, horizons 6-20 (90 % / 80 %):")
    far = cov[cov["horizon"] > 5]
    print(far.groupby("kind").agg(errors=("covered_90", "size"), coverage_90=("covered_90", "mean"),
                                  coverage_80=("covered_80", "mean")).round(3).to_string())
    print("\nfor comparison, the rule before issue 21 (level shift + independent yearly noise, both normal with")
    print("the sd s of the last ten yearly changes; log interval +-z s sqrt(h^2 + h) / forecast), same errors:")
    base = _previous_rule_coverage(errors[errors["origin"] >= first], changes)
    print(base.groupby("horizon")[["covered_90", "covered_80"]].mean().round(3).T.to_string())
    print(base.assign(far=np.where(base["horizon"] <= 5, "h1-5", "h6-20")).groupby(["far", "kind"])[
        ["covered_90", "covered_80"]].mean().unstack(0).round(3).to_string())
    print("\nby origin period, horizons 1-5:")
    near = near.assign(period=np.where(near["origin"] < 2010, "2000-2009", "2010-" + str(origins[-1])))
    print(near.groupby(["period", "horizon"]).agg(errors=("covered_90", "size"), coverage_90=("covered_90", "mean"),
                                                  coverage_80=("covered_80", "mean")).round(3).to_string())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rolling-origin", nargs="?", const="", default=None, metavar="ERRORS_CSV",
                        help="coverage of gemeente totals over the rolling origins (see the module notes)")
    parser.add_argument("--window", type=int, default=25)
    parser.add_argument("--data-dir", default=str(find_raw_dir(Path(__file__).resolve().parent) or "../shared/data/raw"))
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--seed", type=int, default=2021)
    parser.add_argument("--gemeenten", nargs="*", help="codes (default: all with KWB 2021 and 2022 wijken)")
    parser.add_argument("--out", default=None, help="CSV of every cell")
    args = parser.parse_args()
    if args.rolling_origin is not None:
        rolling_origin_report(args.rolling_origin or None, data_dir=args.data_dir, window=args.window,
                              draws=max(args.draws, 2000))
        return

    start = time.time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nat = load_national(args.data_dir)
    kwb = nat.kwb
    has = lambda y: set(kwb.loc[(kwb["year"] == y) & (kwb["area_level"] == "wijk"), "gemeente"])  # noqa: E731
    all_codes = sorted(has(2021) & has(2022))
    drenthe = sorted(has(2021) & has(2024))
    codes = args.gemeenten or all_codes
    parts, failed = [], []
    for i, gm in enumerate(codes):
        end = 2024 if gm in drenthe else 2022
        try:
            parts.append(hindcast(gm, data_dir=args.data_dir, end_year=end, draws=args.draws, seed=args.seed))
        except Exception as exc:  # noqa: BLE001 - one failing gemeente must not end a national run
            failed.append((gm, f"{type(exc).__name__}: {exc}"[:160]))
        if (i + 1) % 25 == 0:
            print(f"  {i + 1}/{len(codes)} gemeenten, {time.time() - start:.0f} s", flush=True)
    cells = pd.concat(parts, ignore_index=True)
    cells["drenthe"] = cells["gemeente"].isin(drenthe)
    if args.out:
        cells.to_csv(args.out, index=False)
    pd.set_option("display.width", 160)
    missing = cells[cells["observed"].isna() & (cells["level"] == "wijk")]
    print(f"\n{len(parts)} gemeenten hindcast from {BASE_YEAR} with {args.draws} draws in {time.time() - start:.0f} s; "
          f"{len(failed)} failed; {missing['area'].nunique()} wijken of {BASE_YEAR} not in a later KWB year (left out)")
    for gm, msg in failed[:10]:
        print(f"  failed {gm}: {msg}")
    one_year = cells[cells["horizon"] == 1]
    print("\n1. 2021 -> 2022, per wijk and band (90% interval):")
    print(summarise(one_year[one_year["level"] == "wijk"], ["drenthe"]).round(3).to_string())
    print(summarise(one_year[one_year["level"] == "wijk"], ["age_lo"]).round(3).to_string())
    print("   all wijken together:")
    print(summarise(one_year[one_year["level"] == "wijk"].assign(all="all"), ["all"]).round(3).to_string())
    print("   gemeenten (KWB gemeente rows):")
    print(summarise(one_year[one_year["level"] == "gemeente"].assign(all="all"), ["all"]).round(3).to_string())
    dr = cells[cells["drenthe"] & (cells["level"] == "wijk")]
    if not dr.empty:
        print("\n2. Drenthe, 2021 -> 2022/2023/2024, per wijk and band:")
        print(summarise(dr, ["horizon"]).round(3).to_string())
        print(summarise(dr, ["horizon", "age_lo"]).round(3).to_string())
        print("   gemeenten:")
        print(summarise(cells[cells["drenthe"] & (cells["level"] == "gemeente")], ["horizon"]).round(3).to_string())


if __name__ == "__main__":
    main()
