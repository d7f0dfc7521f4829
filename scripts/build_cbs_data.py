"""Build the bundled tidy tables in the top-level data/cbs/ from the raw CBS and UN files.

Usage::

    python scripts/build_cbs_data.py [RAW_DIR]      # default: ../shared/data/raw

Writes the project's own tables (never copies of the raw files):

* kwb.csv                    KWB 2021-2024: the Drenthe gemeenten with their wijken and buurten, and the national row
* kwb_codes.csv              KWB 2024 values by region code (dwelling stock), Drenthe gemeenten and wijken
* dwelling_stock.csv         KWB 2024 dwelling stock of every gemeente and wijk of the Netherlands
* population_by_age_sex.csv  every gemeente and the Netherlands by sex x 5-year band, 1 Jan 2021 (postcode tables)
* population_dynamics.csv    CBS 37259: the Drenthe gemeenten, Drenthe and the Netherlands, every year available
* wpp_mx.csv, wpp_tfr.csv, wpp_asfr.csv, wpp_e0.csv   UN WPP 2024, the Netherlands (country code 528)

and a README.md with the table ids, reference dates and attributions.
"""

from __future__ import annotations

import sys
import warnings
from datetime import date
from pathlib import Path

import pandas as pd

from assen_demand.inputs import cbs
from assen_demand.inputs.datasets import find_raw_dir

HERE = Path(__file__).resolve().parent
# the top-level data/cbs/ (DESIGN.md); the wheel carries it as assen_demand/data/cbs (pyproject.toml)
OUT = HERE.parent / "data" / "cbs"
DRENTHE = "PV22"


def main(raw_dir: Path) -> None:
    warnings.simplefilter("always", cbs.DataWarning)
    kwb = cbs.read_kwb(raw_dir)
    codes = cbs.read_kwb_codes(raw_dir)
    drenthe = sorted(codes.loc[codes["area_level"] == "gemeente", "area"].unique())
    kwb_out = kwb[kwb["gemeente"].isin(drenthe) | (kwb["area_level"] == "land")]
    # every Drenthe gemeente must have all its wijken coded in every year, or the bundle is wrong
    keyless = kwb_out[(kwb_out["area_level"] == "wijk") & ~kwb_out["area"].str.startswith("WK")]
    if not keyless.empty:
        raise SystemExit(f"wijken without a CBS code in the Drenthe bundle: {keyless[['year', 'area']].values.tolist()}")

    bands = pd.concat(
        [cbs.read_postcode_population(raw_dir), cbs.read_postcode_population(raw_dir, level="national")],
        ignore_index=True,
    )
    dyn = cbs.read_population_dynamics(raw_dir)
    dyn_out = dyn[dyn["area"].isin([*drenthe, DRENTHE, "NL01"])]

    tables = {
        "kwb.csv": kwb_out,
        "kwb_codes.csv": codes,
        "dwelling_stock.csv": dwelling_stock_table(raw_dir),
        "population_by_age_sex.csv": bands,
        "population_dynamics.csv": dyn_out,
        "wpp_mx.csv": cbs.read_wpp_mx(raw_dir),
        "wpp_tfr.csv": cbs.read_wpp_tfr(raw_dir),
        "wpp_asfr.csv": cbs.read_wpp_asfr(raw_dir),
        "wpp_e0.csv": cbs.read_wpp_e0(raw_dir),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        frame.to_csv(OUT / name, index=False, float_format="%.10g")
        print(f"wrote {OUT / name}: {len(frame):,} rows")
    (OUT / "README.md").write_text(readme(tables, drenthe), encoding="utf-8")
    print(f"wrote {OUT / 'README.md'}")


def dwelling_stock_table(raw_dir: Path) -> pd.DataFrame:
    """The whole country: the stock estimate (assen_demand.housing.stock) works for every gemeente."""
    return cbs.read_dwelling_stock(raw_dir)


def readme(tables: dict[str, pd.DataFrame], drenthe: list[str]) -> str:
    kwb = tables["kwb.csv"]
    dyn = tables["population_dynamics.csv"]
    return f"""# Bundled tidy tables (data/cbs)

Written by `scripts/build_cbs_data.py` on {date.today().isoformat()} from the raw files described in
`shared/data/raw/SOURCES.md`. These are the project's own tidy tables with standard column names
(`area, area_name, area_level, year, sex, age_lo, age_hi` and snake_case values; `age_hi` is the
exclusive upper bound, empty for an open band). Rebuild them with the script; do not edit by hand.
A wheel carries this folder inside the package as `assen_demand/data/cbs/`; the library finds it
with `assen_demand.inputs.datasets.bundled_dir()`.

**Bron: CBS, CC BY 4.0** (tables below) and **United Nations, DESA, Population Division, World
Population Prospects 2024, CC BY 3.0 IGO** (wpp_*.csv).

| file | source table | reference date | coverage |
|---|---|---|---|
| kwb.csv | CBS 85039NED (KWB 2021), 85318NED (2022), 85618NED (2023), 85984NED (2024) | 1 January of each year | {len(drenthe)} Drenthe gemeenten with wijken and buurten, and the national row; {len(kwb):,} rows |
| kwb_codes.csv | CBS 85984NED (KWB 2024) with region codes: inhabitants, men, women, dwelling stock (woningvoorraad), area | 1 January 2024 | Drenthe gemeenten and wijken |
| dwelling_stock.csv | CBS 85984NED (KWB 2024) Woningvoorraad: dwellings per gemeente and wijk (CBS codes) | 1 January 2024 | every gemeente and wijk of the Netherlands; empty = secret (CBS) |
| population_by_age_sex.csv | CBS 83502NED and 83503NED, population by postcode (PC4) x 5-year band x sex, aggregated to gemeente via the CBS postcode table | 1 January 2021 | every gemeente (2021 indeling) and the Netherlands (`NL00`) |
| population_dynamics.csv | CBS 37259eng (births, deaths, immigration, emigration, intermunicipal moves, 1 January population); 37259ned (1 January population, 1960-2018) where 37259eng has no row | calendar years {int(dyn['year'].min())}-{int(dyn['year'].max())} | the Drenthe gemeenten, Drenthe (PV22), the Netherlands (NL01) |
| wpp_mx.csv | UN WPP 2024 mxM5 / mxF5: central death rates by sex, age 0, 1-4, 5-9, ..., 100+ | 5-year periods 1950-1955 to 2095-2100 | the Netherlands (528) |
| wpp_tfr.csv | UN WPP 2024 tfr (estimates) and tfrprojMed (medium variant) | years 1950-2100 | the Netherlands |
| wpp_asfr.csv | UN WPP 2024 percentASFR5: % of fertility by 5-year age of mother | years 1950-2100 | the Netherlands |
| wpp_e0.csv | UN WPP 2024 e0M, e0F, e0Mproj, e0Fproj: life expectancy at birth | years 1950-2100 | the Netherlands |
| gemeente_codes_extra.csv | CBS Gemeentelijke indeling 2021/2022: codes the data files do not carry (new gemeenten in 2022, Dutch vs English names) | 2021-2022 | 5 gemeenten |

Notes
- CBS rounds KWB counts below gemeente level and the postcode counts to multiples of 5; totals may
  differ from the sum of their parts by a few persons. In `population_by_age_sex.csv` the `total`
  rows are CBS's published totals, not male + female.
- KWB downloads carry no region codes: `code_source` says how each code was recovered
  (see `assen_demand.inputs.cbs.read_kwb`).
"""


if __name__ == "__main__":
    raw = Path(sys.argv[1]) if len(sys.argv) > 1 else find_raw_dir(HERE) or HERE.parent.parent / "shared" / "data" / "raw"
    main(raw)
