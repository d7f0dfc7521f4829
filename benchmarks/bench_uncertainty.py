"""Time Monte Carlo forecasts and print the Assen 2040 intervals (not a test; prints wall times).

Run: PYTHONPATH=src python benchmarks/bench_uncertainty.py [--draws 1000] [--repeat 3]

The central forecast (base population, components, care chain) is timed separately from the
draws (``uncertainty.simulate_forecast``), and the draws once more with the population only
(``simulate_population``). Best and median of ``--repeat`` runs: other processes on a shared
machine slow single runs down.
"""

from __future__ import annotations

import argparse
import statistics
import time

import pandas as pd

from assen_demand.inputs.datasets import load_assen
from assen_demand.pipeline import forecast
from assen_demand.uncertainty import simulate_forecast, simulate_population

AREAS = {"GM0106": "Assen (gemeente)", "WK010608": "Kloosterveen", "WK010600": "Centrum"}


def timed(fn, repeat: int):
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return result, min(times), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    data = load_assen()
    central, best, med = timed(lambda: forecast(data=data), args.repeat)
    print(f"central forecast (no draws): best {best:.1f} s, median {med:.1f} s")
    kwb = data.kwb
    one = kwb[(kwb["year"] == central.projection.base_year) & kwb["area"].isin(list(central.population["area"].values))]
    one = one.set_index("area")["one_person_households"].dropna()
    supply = central.dwellings["supply"].sel(model="need", drop=True)
    _, best, med = timed(lambda: simulate_population(central.projection, data=data, draws=args.draws, seed=args.seed,
                                                     progress=False), args.repeat)
    print(f"{args.draws} population draws: best {best:.1f} s, median {med:.1f} s")
    draws, best, med = timed(lambda: simulate_forecast(central.projection, data=data, draws=args.draws, seed=args.seed,
                                                       progress=False, supply=supply, one_person_households=one),
                             args.repeat)
    print(f"{args.draws} draws through the whole chain: best {best:.1f} s, median {med:.1f} s "
          f"({draws.population.nbytes / 1e6:.0f} MB of population draws kept)")

    q = draws.quantiles("dwellings").sel(model="need", year=2040)
    rows = []
    for area, label in AREAS.items():
        for dtype in q["dwelling_type"].values:
            cell = q.sel(area=area, dwelling_type=dtype)
            rows.append({"area": label, "dwelling_type": dtype,
                         "central": float(central.dwellings["need"].sel(area=area, dwelling_type=dtype, year=2040,
                                                                        model="need")),
                         "q05": float(cell["need"].sel(quantile=0.05)), "q50": float(cell["need"].sel(quantile=0.5)),
                         "q95": float(cell["need"].sel(quantile=0.95)),
                         "gap_q05": float(cell["gap"].sel(quantile=0.05)), "gap_q95": float(cell["gap"].sel(quantile=0.95))})
    pd.set_option("display.width", 160)
    print(f"\n2040 need per dwelling type (need model), 90% interval of {args.draws} draws, seed {args.seed}:")
    print(pd.DataFrame(rows).round(0).to_string(index=False))
    pop = draws.population.sel(year=2040).sum(["sex", "age"]).quantile([0.05, 0.5, 0.95], dim="draw")
    old = draws.population.sel(year=2040, age=slice(85, None)).sum(["sex", "age"]).quantile([0.05, 0.5, 0.95], dim="draw")
    print("\n2040 population and 85+ (q05, q50, q95):")
    for area, label in AREAS.items():
        print(f"  {label}: {', '.join(f'{v:,.0f}' for v in pop.sel(area=area).values)};"
              f" 85+: {', '.join(f'{v:,.0f}' for v in old.sel(area=area).values)}")


if __name__ == "__main__":
    main()
