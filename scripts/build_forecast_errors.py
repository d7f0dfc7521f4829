"""Write data/parameters/forecast_error_distribution.csv: rolling-origin errors of gemeente totals.

Run: PYTHONPATH=src python scripts/build_forecast_errors.py [--data-dir ../shared/data/raw]
     [--errors-out /tmp/errors.csv.gz]

Reads CBS 37259eng (2012-2023) and 37259ned (1 January 1960-2018) from the raw folder
(``assen_demand.inputs.cbs.read_population_dynamics``), repeats the library's rule for the
gemeente total from every origin (``assen_demand.evaluation.rolling_origin_errors``), fits the
persistence of the yearly growth rate (statsmodels AutoReg, median over gemeenten) and the
error process per kind of gemeente on the errors whose origin lies within ``--window`` years
of the last outcome year (the 5-95 % range of the errors from
1970s origins is about twice that of the 2010s; docs/methods.md section 17), and writes the table.
About 4 minutes on one core.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

from assen_demand import evaluation
from assen_demand.inputs.cbs import read_population_dynamics
from assen_demand.inputs.datasets import find_raw_dir

OUT = Path(__file__).resolve().parents[1] / "src" / "assen_demand" / "data" / "parameters" / evaluation.ERROR_TABLE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(find_raw_dir(Path(__file__).resolve().parent)
                                                  or Path(__file__).resolve().parents[2] / "shared" / "data" / "raw"))
    parser.add_argument("--window", type=int, default=25, help="origins within this many years of the last outcome")
    parser.add_argument("--max-horizon", type=int, default=20)
    parser.add_argument("--errors-out", default=None, help="also write every error (CSV) for benchmarks/coverage.py")
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args()
    start = time.time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dynamics = read_population_dynamics(args.data_dir)
    errors = evaluation.rolling_origin_errors(dynamics, max_horizon=args.max_horizon)
    if args.errors_out:
        errors.to_csv(args.errors_out, index=False)
    changes = evaluation.constant_boundary_changes(dynamics)
    phi = float(evaluation.growth_persistence(changes).median())
    last = int((errors["origin"] + errors["horizon"]).max())
    recent = errors[errors["origin"] >= last - args.window]
    processes = evaluation.fit_error_process(recent, phi=phi)
    table = evaluation.error_distribution_table(recent, processes, year=last, max_horizon=args.max_horizon)
    table.to_csv(args.out, index=False)
    print(f"{len(errors)} errors ({len(recent)} with origin >= {last - args.window}), phi = {phi:.3f}; "
          f"wrote {len(table)} rows to {args.out} in {time.time() - start:.0f} s")
    for kind, p in processes.items():
        print(f"  {kind:20s} sigma_level {p.sigma_level:.4f}  sigma_year {p.sigma_year:.4f}  "
              f"drift {p.drift:+.4f}  sd h=1,5,16: {', '.join(f'{v:.3f}' for v in p.sd([1, 5, 16]))}")


if __name__ == "__main__":
    main()
