"""The deterministic Assen forecast against values recorded from it: speed work must not move them (issue 20).

``tests/data/assen_reference_values.csv`` holds, for the default run (``assen_demand.forecast()``,
bundled data), per area and year: the population (total, 65+, 75+, 85+), the households, the care
need per indicator, the need per dwelling type and the opgave per stock type. Recorded with

    PYTHONPATH=src python tests/test_reference_values.py --record

Rerecord only for a change of the model, data or parameters, and say in the commit which values move
and why. A change of speed, memory or structure must leave every value within the tolerance below:
1e-9 relative, so that a new numpy or BLAS rounding the last bits differently does not fail it while a
change of the arithmetic does (a value moved by 1e-7 relative fails it). Recorded on main f4ccf40, before
issue 20's work of stop 20: the stop's changes left the deterministic tables byte-identical.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

REFERENCE = Path(__file__).parent / "data" / "assen_reference_values.csv"
RTOL, ATOL = 1e-9, 1e-9


def reference_values(result) -> pd.DataFrame:
    """Tidy ``table, measure, area, year, value`` of the headline numbers of a forecast."""
    frames = []

    def add(table: str, measure: str, values) -> None:
        frame = values.to_dataframe(name="value").reset_index()[["area", "year", "value"]]
        frames.append(frame.assign(table=table, measure=measure))

    pop = result.population
    add("population", "total", pop.sum(("sex", "age")))
    for lo in (65, 75, 85):
        add("population", f"{lo}+", pop.sel(age=pop["age"] >= lo).sum(("sex", "age")))
    add("households", "households", result.households["households"].sum(("sex", "age")))
    care = result.care_need.sum(("sex", "age"))
    for indicator in care["indicator"].values:
        add("care_need", str(indicator), care.sel(indicator=indicator))
    need = result.dwellings["need"].sel(model="need")
    for dtype in need["dwelling_type"].values:
        add("dwelling_need", str(dtype), need.sel(dwelling_type=dtype))
    opgave = result.opgave["opgave"]
    for dtype in opgave["dwelling_type"].values:
        add("opgave", str(dtype), opgave.sel(dwelling_type=dtype))
    out = pd.concat(frames, ignore_index=True)[["table", "measure", "area", "year", "value"]]
    out["area"] = out["area"].astype(str)
    return out


def test_the_deterministic_assen_forecast_keeps_its_recorded_values():
    from products_helpers import assen_forecast

    recorded = pd.read_csv(REFERENCE, dtype={"area": str})
    now = reference_values(assen_forecast())
    key = ["table", "measure", "area", "year"]
    both = recorded.merge(now, on=key, how="outer", suffixes=("_recorded", "_now"), indicator=True)
    missing = both[both["_merge"] != "both"]
    assert missing.empty, f"rows only on one side (rerecord only with a model change):\n{missing.head(10)}"
    a, b = both["value_recorded"].to_numpy(float), both["value_now"].to_numpy(float)
    same_nan = np.isnan(a) & np.isnan(b)
    close = same_nan | np.isclose(b, a, rtol=RTOL, atol=ATOL)
    assert close.all(), (f"{(~close).sum()} of {len(close)} values moved, e.g.:\n"
                         f"{both.loc[~close, key + ['value_recorded', 'value_now']].head(10)}")
    assert len(both) > 1000 and (~same_nan).sum() > 1000  # the comparison covers the tables, not a few rows


if __name__ == "__main__":
    if sys.argv[1:] != ["--record"]:
        sys.exit("usage: PYTHONPATH=src python tests/test_reference_values.py --record")
    import warnings

    import assen_demand

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        values = reference_values(assen_demand.forecast())
    values.to_csv(REFERENCE, index=False, float_format="%.17g")
    print(f"wrote {len(values)} rows to {REFERENCE}")
