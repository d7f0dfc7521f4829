"""What users hold in their hands: tidy CSV tables, an Excel workbook and a provenance record.

Three kinds of output, built by pure functions and written by one writer:

* :func:`csv_tables` -- the tidy long tables of a :class:`~assen_demand.pipeline.Forecast`
  (one row per area x ... x year), English column names, for researchers and scripts;
* :func:`workbook_sheets` -- the same numbers in a planner's layout for the programme team:
  Dutch sheet names and headers, wijken (and the gemeente) as rows, years as columns, plus the
  sheet *Bronnen en aannames* (:func:`sources_table`) with every data table, every parameter
  row with its source, year and status, the supply rows, the scenario, the library version and
  the run date;
* :func:`provenance` -- a JSON-ready record of what went in: input files and parameter files
  with SHA-256 checksums, scenario, seed, version, command line and run date. The annual
  monitoring (:mod:`assen_demand.outputs.monitoring`) compares two of these to tell changed data from
  changed assumptions.

:func:`write_forecast` writes all three into an output folder; :func:`read_run` reads such a
folder back for the monitoring report. Figures are made by :mod:`assen_demand.outputs.plots`.

Quantile columns (``need_q05``, ``need_q50``, ... from the uncertainty module) are passed
through to ``dwellings.csv`` unchanged and get their own sheet *Onzekerheid*.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import platform
from collections.abc import Mapping, Sequence
from importlib import metadata as _metadata
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd

from assen_demand.errors import DataFormatError, MissingDataError
from assen_demand.inputs.datasets import bundled_dir
# SOURCE_NOTE, DWELLING_LABELS, quantile_columns and scenario_suffix are re-exported (public API of export)
from assen_demand.outputs import voorzieningen
from assen_demand.outputs import doorstroming as doorstroming_products
from assen_demand.outputs.labels import DWELLING_LABELS, SOURCE_NOTE, quantile_columns, scenario_suffix
from assen_demand.outputs.monitoring import RunOutput
from assen_demand.housing import opgave, stock
from assen_demand.inputs.cbs import input_files
from assen_demand.parameters import list_parameter_tables, load_parameter_table
from assen_demand.housing import groups, segments
from assen_demand.housing.programme import programme_sheet
from assen_demand.outputs import tables_io
from assen_demand.inputs import validation
from assen_demand.outputs.store import open_forecast

__all__ = [
    "SOURCE_NOTE",
    "DWELLING_LABELS",
    "INDICATOR_LABELS",
    "AGE_GROUPS",
    "CSV_TABLES",
    "WORKBOOK",
    "PROVENANCE",
    "SOURCES_SHEET",
    "VARIANT_LABELS",
    "csv_tables",
    "stock_tables",
    "opgave_sheet",
    "stock_sheet",
    "workbook_sheets",
    "sources_table",
    "data_tables",
    "parameter_sources",
    "quantile_columns",
    "provenance",
    "file_checksums",
    "parameter_checksums",
    "write_forecast",
    "write_workbook",
    "number_format",
    "workbook_name",
    "scenario_suffix",
    "run_title",
    "STATUS_LABELS",
    "read_run",
    "write_report",
    "PROGRAMME_CSV",
    "PROGRAMME_SHEET",
    "programme_outputs",
]

#: Dutch names of the care-need indicators (keys as in :data:`assen_demand.housing.care.INDICATORS`).
INDICATOR_LABELS = {
    "dementia": "Dementie (totaal)",
    "dementia_at_home": "Dementie, thuiswonend",
    "dementia_in_institution": "Dementie, in instelling",
    "wlz_vv": "Wlz verpleging en verzorging (totaal)",
    "wlz_vv_intramural": "Wlz VV met verblijf",
    "wlz_vv_at_home": "Wlz VV thuis (VPT, MPT, pgb)",
    "mobility_limitation": "Mobiliteitsbeperking (thuiswonend)",
    "adl_limitation": "ADL-beperking (thuiswonend)",
    "young_support_need": "Jongeren 18-29 met behoefte aan begeleid wonen",
}

#: Age groups of the sheet *Bevolking*: (first age, first age of the next group or None, label).
AGE_GROUPS = (
    (0, 18, "0-17"),
    (18, 30, "18-29"),
    (30, 55, "30-54"),
    (55, 65, "55-64"),
    (65, 75, "65-74"),
    (75, 85, "75-84"),
    (85, None, "85+"),
)

#: Tidy tables written as CSV: file stem -> ``Forecast.to_frame`` name.
CSV_TABLES = {
    "population": "population",
    "households": "households",
    "care_need": "care_need",
    "dwellings": "dwellings",
    "doorstroming": "doorstroming",
    "mantelzorg": "mantelzorg",
}
WORKBOOK = "forecast.xlsx"
PROVENANCE = "provenance.json"
SOURCES_SHEET = "Bronnen en aannames"

# data files use the Dutch status words already (bekend/geschat/aanname); old English words still map
#: The one status vocabulary of every output (DESIGN.md): legacy and English values map onto it
STATUS_LABELS = {"known": "bekend", "bekend": "bekend", "estimated": "geschat", "geschat": "geschat",
                 "assumed": "aanname", "assumption": "aanname", "aangenomen": "aanname", "aanname": "aanname",
                 "reported_total_assumed_timing": "geschat"}  # bouwplannen: reported total, timing assumed
_SUPPLY_STATUS = {**STATUS_LABELS, "": ""}
#: Dutch names of the parameter variants
VARIANT_LABELS = {"central": "centraal", "low": "laag", "high": "hoog"}
_PARAMETER_STATUS = STATUS_LABELS
_SEX = {"male": "mannen", "female": "vrouwen", "all": "alle"}


# --------------------------------------------------------------------------------------------
# tidy tables
# --------------------------------------------------------------------------------------------


def csv_tables(result) -> dict[str, pd.DataFrame]:
    """The tidy long tables of a forecast, one per CSV file.

    Parameters
    ----------
    result : Forecast
        Output of :func:`assen_demand.forecast`.

    Returns
    -------
    dict of str -> pandas.DataFrame
        ``population`` (area, area_name, sex, age, year, persons), ``households``,
        ``care_need`` (area, area_name, indicator, year, persons), ``dwellings`` (area,
        area_name, dwelling_type, model, year, need, supply, gap, supply_status and any quantile
        columns such as ``need_q05``; both models as rows, ``model`` = ``need`` or ``norm``),
        ``doorstroming`` (area, area_name, year, family_homes_freed) and ``mantelzorg``
        (area, area_name, year, carers_per_85plus, need_per_carer); with the facilities step
        also ``voorzieningen`` (:func:`assen_demand.outputs.voorzieningen.facility_csv`).
    """
    tables = {stem: result.to_frame(name) for stem, name in CSV_TABLES.items()}
    dw = tables["dwellings"]
    first = ["area", "area_name", "dwelling_type", "model", "year", "need", "supply", "gap", "supply_status"]
    tables["dwellings"] = dw[[c for c in first if c in dw] + [c for c in dw if c not in first]]
    if (facilities := voorzieningen.facility_csv(result)) is not None:  # issue 15
        tables[voorzieningen.CSV_NAME] = facilities
    tables.update(stock_tables(result))
    if (moves := doorstroming_products.csv_table(result)) is not None:  # issue 23: replaces the rate-only table
        tables[doorstroming_products.CSV_NAME] = moves
    return tables


def stock_tables(result) -> dict[str, pd.DataFrame]:
    """``opgave`` and ``stock`` tidy tables of a forecast (empty dict for a result without a stock).

    Returns
    -------
    dict of str -> pandas.DataFrame
        ``opgave``: area, area_name, dwelling_type, year, need, stock, stock_low, stock_high,
        planned, opgave [dwellings or places] (with draws: ``need_q05`` .. ``opgave_q95``) and
        ``programme_share_2030`` in the 2030 rows; ``stock``: area, area_name, dwelling_type,
        year (base year), low, central, high, status, source, kwb_dwellings.
    """

    if getattr(result, "opgave", None) is None or getattr(result, "stock", None) is None:
        return {}
    return {"opgave": opgave.to_frame(result.opgave, result.area_names),
            "stock": stock.to_frame(result.stock, result.area_names)}


def opgave_sheet(result) -> pd.DataFrame:
    """Sheet *Opgave per wijk*: wijken as rows, type x 2030/2035/2040 as columns [dwellings or places].

    Nursing places serve the whole gemeente: their opgave is on the gemeente row only.
    """

    return opgave.wide_table(result.opgave, result.area_names, labels=DWELLING_LABELS)


def stock_sheet(result) -> pd.DataFrame:
    """Sheet *Voorraad*: base-year stock per area and type with range, status and source."""
    frame = stock_tables(result)["stock"]
    frame = frame.assign(dwelling_type=frame["dwelling_type"].map(DWELLING_LABELS))
    out = frame.rename(columns={"area": "Wijkcode", "area_name": "Wijk", "dwelling_type": "Woningtype",
                                "year": "Basisjaar", "low": "Laag", "central": "Centraal", "high": "Hoog",
                                "status": "Status", "source": "Bron", "kwb_dwellings": "Woningvoorraad KWB"})
    for col in ("Laag", "Centraal", "Hoog"):
        out[col] = out[col].round(0)
    return out[["Wijkcode", "Wijk", "Woningtype", "Basisjaar", "Laag", "Centraal", "Hoog", "Status",
                "Woningvoorraad KWB", "Bron"]]


# --------------------------------------------------------------------------------------------
# the workbook: planner's layout
# --------------------------------------------------------------------------------------------


def _areas(result) -> list[str]:
    """Area codes in the order of the result: gemeente first, then its wijken."""
    return [str(a) for a in result.population["area"].values]


def _area_label(result, area: str) -> str:
    name = result.area_names.get(area, area)
    return f"{name} (gemeente)" if area == result.gemeente else str(name)


def _wide(frame: pd.DataFrame, result, *, row: str | None, row_header: str | None, value: str,
          row_order: list | None = None, row_labels: Mapping | None = None) -> pd.DataFrame:
    """Long ``area[, row], year, value`` -> rows area x row, one column per year."""
    keys = ["area"] + ([row] if row else [])
    table = frame.pivot(index=keys, columns="year", values=value)
    table.columns = [int(y) for y in table.columns]
    table = table.reset_index()
    order = {a: i for i, a in enumerate(_areas(result))}
    table["_area"] = table["area"].map(order)
    if row:
        ranks = {r: i for i, r in enumerate(row_order or sorted(table[row].unique()))}
        table["_row"] = table[row].map(ranks)
        table = table[table["_row"].notna()].sort_values(["_area", "_row"])
    else:
        table = table.sort_values("_area")
    out = pd.DataFrame({"Wijkcode": table["area"].astype(str),
                        "Wijk": [_area_label(result, a) for a in table["area"]]})
    if row:
        out[row_header] = table[row].map(row_labels).fillna(table[row]) if row_labels else table[row]
    years = sorted(c for c in table.columns if isinstance(c, int))
    for y in years:
        try:
            out[y] = table[y].to_numpy(dtype=float)
        except (TypeError, ValueError):  # a text row (supply status) among numbers
            out[y] = table[y].to_numpy(dtype=object)
    return out.reset_index(drop=True)


def _population_groups(result) -> pd.DataFrame:
    pop = result.population.sum("sex")
    age = pop["age"]
    rows = []
    for lo, hi, label in AGE_GROUPS:
        mask = (age >= lo) if hi is None else (age >= lo) & (age < hi)
        rows.append(pop.where(mask, 0).sum("age").to_dataframe(name="persons").reset_index().assign(group=label))
    rows.append(pop.sum("age").to_dataframe(name="persons").reset_index().assign(group="Totaal"))
    return pd.concat(rows, ignore_index=True)


def _older(result) -> pd.DataFrame:
    pop = result.population.sum("sex")
    rows = []
    for lo in (65, 75, 85):
        rows.append(pop.where(pop["age"] >= lo, 0).sum("age").to_dataframe(name="persons").reset_index()
                    .assign(group=f"{lo}+"))
    total = pop.sum("age")
    for lo in (65, 75, 85):
        share = 100 * pop.where(pop["age"] >= lo, 0).sum("age") / total.where(total > 0)
        rows.append(share.to_dataframe(name="persons").reset_index().assign(group=f"Aandeel {lo}+ (%)"))
    return pd.concat(rows, ignore_index=True)


def workbook_sheets(
    result, *, sources: pd.DataFrame | None = None, about: Mapping | None = None,
    tables: Mapping[str, pd.DataFrame] | None = None,
) -> dict[str, pd.DataFrame]:
    """The workbook for the programme team: sheet name -> table, in sheet order.

    Every numbers sheet has the columns ``Wijkcode, Wijk``, one or two label columns and one
    column per year (1 January); the gemeente comes first, then its wijken.

    Parameters
    ----------
    result : Forecast
        Output of :func:`assen_demand.forecast`.
    sources : pandas.DataFrame, optional
        The sheet *Bronnen en aannames* (:func:`sources_table`); left out when None.
    about : mapping, optional
        Extra lines for the sheet *Toelichting* (label -> value), such as the run date.
    tables : mapping, optional
        :func:`csv_tables` of ``result`` when the caller has them already (not copied; read only).

    Returns
    -------
    dict of str -> pandas.DataFrame
        ``Toelichting``, ``Bevolking`` [persons], ``Ouderen`` [persons, %], ``Huishoudens``
        [households, persons], ``Zorgvraag`` [persons], ``Woningbehoefte`` (need model)
        [dwellings or places], ``Woningbehoefte norm`` (norm model) [dwellings],
        ``Aanbod en tekort`` [dwellings], ``Onzekerheid`` (only with quantile columns),
        ``Doorstroming`` [family homes per year], ``Mantelzorg`` [ratio] and
        ``Bronnen en aannames``.
    """
    tables = csv_tables(result) if tables is None else tables
    dw = tables["dwellings"]
    types = list(DWELLING_LABELS)
    sheets: dict[str, pd.DataFrame] = {}
    sheets["Toelichting"] = _about_sheet(result, about or {}, quantiles=bool(quantile_columns(dw)))
    sheets["Bevolking"] = _wide(_population_groups(result), result, row="group", row_header="Leeftijd",
                                value="persons", row_order=[g[2] for g in AGE_GROUPS] + ["Totaal"])
    sheets["Ouderen"] = _wide(_older(result), result, row="group", row_header="Groep", value="persons",
                              row_order=["65+", "75+", "85+", "Aandeel 65+ (%)", "Aandeel 75+ (%)", "Aandeel 85+ (%)"])
    hh = tables["households"].melt(id_vars=["area", "area_name", "year"], var_name="measure", value_name="value")
    hh_labels = {"households": "Huishoudens", "alone": "Alleenwonenden (personen)",
                 "private": "Personen in particuliere huishoudens", "institutional": "Personen in instellingen",
                 "mean_size": "Gemiddelde huishoudensgrootte"}
    sheets["Huishoudens"] = _wide(hh, result, row="measure", row_header="Maat", value="value",
                                  row_order=list(hh_labels), row_labels=hh_labels)
    sheets["Zorgvraag"] = _wide(tables["care_need"], result, row="indicator", row_header="Indicator", value="persons",
                                row_order=list(INDICATOR_LABELS), row_labels=INDICATOR_LABELS)
    need = dw[dw["model"] == "need"]
    sheets["Woningbehoefte"] = _wide(need, result, row="dwelling_type", row_header="Woningtype", value="need",
                                     row_order=types, row_labels=DWELLING_LABELS)
    norm = dw[(dw["model"] == "norm") & dw.groupby("dwelling_type")["need"].transform(lambda s: s.notna().any())]
    if (norm["year"] == 2030).any():  # the programme's own horizon: the norm is a comparison for 2030 only
        norm = norm[norm["year"] == 2030]
    sheets["Woningbehoefte norm"] = _wide(norm, result, row="dwelling_type", row_header="Woningtype", value="need",
                                          row_order=types, row_labels=DWELLING_LABELS)
    if getattr(result, "opgave", None) is not None:
        sheets["Opgave per wijk"] = opgave_sheet(result)
        sheets["Voorraad"] = stock_sheet(result)
    # the old supply sheet only where the user gave a supply table (the default run has none)
    if len(getattr(result, "supply", ())) or getattr(result, "opgave", None) is None:
        sheets["Aanbod en tekort"] = _supply_sheet(need, result, types)
    q = quantile_columns(dw)
    if q:
        sheets["Onzekerheid"] = _uncertainty_sheet(need, result, types, q)
    door = doorstroming_products.sheet(result)  # issue 23; without the step the rate-only figure
    sheets["Doorstroming"] = door if door is not None else _wide(
        tables["doorstroming"], result, row=None, row_header=None, value="family_homes_freed")
    mz = tables["mantelzorg"].melt(id_vars=["area", "area_name", "year"], var_name="measure", value_name="value")
    mz_labels = {"carers_per_85plus": "Potentiële mantelzorgers (50-74 jaar) per 85-plusser",
                 "need_per_carer": "Thuiswonenden met zorgbehoefte per potentiële mantelzorger"}
    sheets["Mantelzorg"] = _wide(mz, result, row="measure", row_header="Indicator", value="value",
                                 row_order=list(mz_labels), row_labels=mz_labels)
    if (facilities := voorzieningen.facility_sheet(result)) is not None:  # issue 15
        sheets[voorzieningen.SHEET_NAME] = facilities
    if sources is not None:
        sheets[SOURCES_SHEET] = sources
    return sheets


def _supply_sheet(need: pd.DataFrame, result, types: list[str]) -> pd.DataFrame:
    need = need.assign(status=need["supply_status"].fillna("").map(_SUPPLY_STATUS).fillna(need["supply_status"]))
    long = need.melt(id_vars=["area", "dwelling_type", "year"], value_vars=["need", "supply", "gap", "status"],
                     var_name="measure", value_name="value")
    # a status row only where some supply is listed: elsewhere it would be a row of blanks
    listed = need.groupby(["area", "dwelling_type"])["supply"].transform(lambda s: s.notna().any())
    listed = pd.concat([listed] * 4, ignore_index=True).to_numpy()
    long = long[(long["measure"] != "status") | listed]
    long["row"] = long["dwelling_type"] + "|" + long["measure"]
    order = [f"{t}|{m}" for t in types for m in ("need", "supply", "status", "gap")]
    table = _wide(long, result, row="row", row_header="_row", value="value", row_order=order)
    parts = table.pop("_row").str.split("|", n=1, expand=True)
    dtype, measure = parts[0], parts[1]
    table.insert(2, "Woningtype", dtype.map(DWELLING_LABELS))
    table.insert(3, "Maat", measure.map({"need": "Behoefte", "supply": "Aanbod (leeg = onbekend)",
                                         "status": "Status aanbod", "gap": "Tekort (behoefte - aanbod)"}))
    return table


def _uncertainty_sheet(need: pd.DataFrame, result, types: list[str], quantiles: dict[float, str]) -> pd.DataFrame:
    long = need.melt(id_vars=["area", "dwelling_type", "year"], value_vars=list(quantiles.values()),
                     var_name="measure", value_name="value")
    long["row"] = long["dwelling_type"] + "|" + long["measure"]
    order = [f"{t}|{c}" for t in types for c in quantiles.values()]
    table = _wide(long, result, row="row", row_header="_row", value="value", row_order=order)
    parts = table.pop("_row").str.split("|", n=1, expand=True)
    dtype, column = parts[0], parts[1]
    names = {c: f"Percentiel {round(100 * p):g}" for p, c in quantiles.items()}
    table.insert(2, "Woningtype", dtype.map(DWELLING_LABELS))
    table.insert(3, "Maat", column.map(names))
    return table


def _about_sheet(result, about: Mapping, *, quantiles: bool) -> pd.DataFrame:
    years = [int(y) for y in result.population["year"].values]
    variant = str(getattr(result, "variant", "central"))
    lines = [
        ("Gemeente", f"{result.area_names.get(result.gemeente, result.gemeente)} ({result.gemeente})"),
        ("Wijken", ", ".join(f"{result.area_names.get(a, a)} ({a})" for a in _areas(result)[1:])),
        ("Basisjaar", f"1 januari {years[0]}"),
        ("Laatste jaar", f"1 januari {years[-1]}"),
        ("Parametervariant", VARIANT_LABELS.get(variant, variant)),
        *about.items(),
        ("", ""),
        ("Tabbladen", ""),
        ("Bevolking", "Inwoners per wijk en leeftijdsgroep op 1 januari van elk jaar (prognose vanaf het basisjaar)."),
        ("Ouderen", "Aantal 65+, 75+, 85+ en hun aandeel in de bevolking per wijk."),
        ("Huishoudens", "Huishoudens (positie-telling), alleenwonenden, bewoners van instellingen."),
        ("Zorgvraag", "Personen met een zorgvraag per indicator: prevalentie naar leeftijd en geslacht x prognose."),
        ("Woningbehoefte", "Benodigde voorraad per woningtype (behoeftemodel: zorgprofielen x woonsituatie)."),
        ("Woningbehoefte norm",
         "Aandeel van de wijk in het landelijke programma 2022-2030 (toevoeging, geen voorraad; ter "
         "vergelijking, alleen het jaar 2030)."),
        *([("Opgave per wijk", "Woningen die elke wijk per type moet toevoegen in 2030, 2035 en 2040: groei van de "
                                "behoefte sinds het basisjaar + tekort in het basisjaar - gepland (negatief = "
                                "overschot). Verpleegzorgplekken alleen voor de gemeente. De ongekalibreerde "
                                "vergelijking (behoefte min het deel van de voorraad dat de doelgroep bewoont) staat "
                                "in opgave.csv (opgave_uncalibrated)."),
           ("Voorraad", "Bestaande voorraad per wijk en type in het basisjaar met bandbreedte, status en bron."),
           ("Behoefte, voorraad en opgave",
            "Behoefte is het aantal oudere huishoudens dat een woning van een type nodig heeft (zorg en woonwens); "
            "voorraad is wat er in het basisjaar staat (geschat uit open data, tenzij de gemeente een register "
            "levert), bij nultredenwoningen naast het totaal ook het deel dat 55-plussers bewonen. De opgave is de "
            "groei van de behoefte sinds het basisjaar plus het landelijke tekort in het basisjaar (naar het aantal "
            "65-plussers) min wat gepland is: positief moet er nog bij, negatief is een overschot.")] if getattr(result, "opgave", None) is not None else []),
        *([("Aanbod en tekort", "Behoefte, bekend aanbod en tekort per woningtype; leeg aanbod = onbekend, niet nul.")]
          if len(getattr(result, "supply", ())) or getattr(result, "opgave", None) is None else []),
        *([("Onzekerheid", "Percentielen van de behoefte over de Monte-Carlo-trekkingen.")] if quantiles else []),
        (doorstroming_products.ABOUT if getattr(result, "doorstroming_moves", None) is not None else
         ("Doorstroming", "Eengezinswoningen per jaar vrijgekomen doordat oudere huishoudens verhuizen.")),
        ("Mantelzorg", "Mantelzorgpotentieel: personen 50-74 per 85-plusser; zorgvragers thuis per mantelzorger."),
        (SOURCES_SHEET, "Alle gebruikte gegevens en parameters met bron, jaar en status (bekend of aanname)."),
        ("", ""),
        ("Let op", "Getallen zijn onafgeronde rekenuitkomsten; wijkcijfers van CBS zijn afgerond op 5."),
        ("Bron", SOURCE_NOTE),
    ]
    return pd.DataFrame(lines, columns=["Onderdeel", "Waarde"])


# --------------------------------------------------------------------------------------------
# sources and assumptions
# --------------------------------------------------------------------------------------------

_SOURCE_COLUMNS = ["Soort", "Bestand", "Onderwerp", "Geslacht", "Leeftijd", "Jaar", "Centraal", "Laag", "Hoog",
                   "Eenheid", "Status", "Bron", "Toelichting"]


def _markdown_table(text: str) -> pd.DataFrame:
    """The first pipe table of a markdown text as a DataFrame of strings."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("|")]
    if len(lines) < 3:
        return pd.DataFrame()
    cells = [[c.strip() for c in ln.strip("|").split("|")] for ln in lines]
    header, body = cells[0], [c for c in cells[2:] if len(c) == len(cells[0])]
    return pd.DataFrame(body, columns=header)


def data_tables() -> pd.DataFrame:
    """The bundled data tables with their CBS/UN table ids and reference dates.

    Read from the README of the bundled ``data/cbs`` (written with the tables by
    ``scripts/build_cbs_data.py``), so the list cannot drift from the data.

    Returns
    -------
    pandas.DataFrame
        ``file, source_table, reference_date, coverage``.

    Examples
    --------
    >>> tables = data_tables()
    >>> "85984NED" in tables.set_index("file").loc["kwb.csv", "source_table"]
    True
    """
    text = bundled_dir().joinpath("README.md").read_text(encoding="utf-8")
    table = _markdown_table(text)
    if table.empty or "file" not in table:
        raise DataFormatError("data/cbs/README.md has no table of files; rebuild it with scripts/build_cbs_data.py")
    return table.rename(columns={"source table": "source_table", "reference date": "reference_date"})


def parameter_sources() -> pd.DataFrame:
    """Every row of every bundled parameter table, with the file it comes from.

    Returns
    -------
    pandas.DataFrame
        ``file`` and the table's own columns (``indicator, [dwelling_type,] sex, age_lo, age_hi,
        year, central, low, high, unit, status, source, note``).
    """
    frames = [load_parameter_table(name).assign(file=name) for name in list_parameter_tables()]
    return pd.concat(frames, ignore_index=True)


def _age_label(lo, hi) -> str:
    if pd.isna(hi):
        return f"{int(lo)}+"
    return f"{int(lo)}-{int(hi) - 1}"


def sources_table(result=None, *, data=None, scenario=None, run: Mapping | None = None) -> pd.DataFrame:
    """The sheet *Bronnen en aannames*: every input of a run with its source.

    Parameters
    ----------
    result : Forecast, optional
        Adds the supply rows used (with their sources) and the base year.
    data : GemeenteData, optional
        Adds the KWB table id of every year used.
    scenario : str, optional
        Scenario name or file; ``None`` means the default assumptions.
    run : mapping, optional
        Run facts (label -> value) such as version, run date and command.

    Returns
    -------
    pandas.DataFrame
        Columns ``Soort, Bestand, Onderwerp, Geslacht, Leeftijd, Jaar, Centraal, Laag, Hoog,
        Eenheid, Status, Bron, Toelichting``; ``Soort`` is ``Run``, ``Scenario``, ``Gegevens``,
        ``Parameter``, ``Methode`` (per wijk: does it follow its household trend, issue 18 item 3)
        or ``Aanbod``.
    """
    rows: list[dict] = []
    for label, value in (run or {}).items():
        rows.append({"Soort": "Run", "Onderwerp": label, "Toelichting": str(value)})
    loaded = getattr(result, "scenario", None) if result is not None else None
    name = loaded.name if loaded is not None else scenario
    rows.append({"Soort": "Scenario", "Onderwerp": "scenario", "Status": "aanname",
                 "Toelichting": (f"{name}: {loaded.description}" if loaded is not None else str(name)) if name
                 else "geen: de centrale aannames van de parametertabellen"})
    if loaded is not None:
        for r in loaded.to_frame().itertuples(index=False):
            if r.section:
                rows.append({"Soort": "Scenario", "Bestand": loaded.path, "Onderwerp": f"[{r.section}] {r.key}",
                             "Centraal": str(r.value), "Status": "aanname", "Bron": r.source})
    source = getattr(data, "source", "bundled") if data is not None else "bundled"
    for r in data_tables().itertuples(index=False):
        rows.append({"Soort": "Gegevens", "Bestand": r.file, "Onderwerp": r.coverage, "Jaar": r.reference_date,
                     "Status": "bekend", "Bron": r.source_table,
                     "Toelichting": "meegeleverde tabel (CBS CC BY 4.0; UN WPP 2024 CC BY 3.0 IGO)"
                     if source == "bundled" else f"gelezen uit de ruwe bestanden in {source}"})
    if data is not None:
        kwb = data.kwb[data.kwb["area"] == data.gemeente]
        for year, table in kwb[["year", "cbs_table"]].drop_duplicates().itertuples(index=False):
            rows.append({"Soort": "Gegevens", "Bestand": "kwb", "Onderwerp": f"Kerncijfers wijken en buurten {year}",
                         "Jaar": f"1 januari {year}", "Status": "bekend", "Bron": f"CBS {table}",
                         "Toelichting": "basisjaar" if result is not None and int(year) == int(
                             result.population["year"].values[0]) else ""})
    for r in parameter_sources().itertuples(index=False):
        subject = r.indicator + (f" / {r.dwelling_type}" if isinstance(getattr(r, "dwelling_type", None), str) else "")
        rows.append({"Soort": "Parameter", "Bestand": r.file, "Onderwerp": subject, "Geslacht": _SEX.get(r.sex, r.sex),
                     "Leeftijd": _age_label(r.age_lo, r.age_hi), "Jaar": int(r.year), "Centraal": float(r.central),
                     "Laag": float(r.low), "Hoog": float(r.high), "Eenheid": r.unit,
                     "Status": _PARAMETER_STATUS.get(r.status, r.status), "Bron": r.source, "Toelichting": r.note})
    projection = getattr(result, "projection", None)
    trend = (getattr(projection, "notes", None) or {}).get("household_trend") if projection is not None else None
    if trend is not None and len(trend):
        # issue 18 item 3: which wijken follow their household trend, and why
        for r in trend.to_dict("records"):
            if not np.isfinite(r["growth"]):
                text = "te weinig KWB-jaren met huishoudens: volgt de combinatie"
            else:
                text = (f"huishoudens {r['households_first']:,.0f} ({int(r['first_year'])}) -> {r['households']:,.0f}: "
                        f"{100 * r['growth']:+.1f} % per jaar; "
                        + ("volgt de huishoudens (meer dan de drempel)" if r["follows"] else "volgt de combinatie"))
            rows.append({"Soort": "Methode", "Bestand": "wijk_household_trend.csv", "Onderwerp": f"{r['area']} huishoudtrend",
                         "Centraal": float(r["growth"]) if np.isfinite(r["growth"]) else "", "Eenheid": "aandeel per jaar",
                         "Status": "geschat", "Bron": "CBS Kerncijfers wijken en buurten (huishoudens)", "Toelichting": text})
    supply = getattr(result, "supply", None)
    if supply is not None and len(supply):
        for r in supply.to_dict("records"):
            rows.append({"Soort": "Aanbod", "Bestand": "aanbod", "Onderwerp": f"{r['area']} {r['dwelling_type']}",
                         "Jaar": int(r["year"]), "Centraal": float(r["units"]), "Eenheid": "woningen of plaatsen",
                         "Status": _SUPPLY_STATUS.get(r["status"], r["status"]), "Bron": r.get("source", ""),
                         "Toelichting": r.get("note", "")})
    frame = pd.DataFrame(rows, columns=_SOURCE_COLUMNS)
    frame = frame.astype(object)
    return frame.where(frame.notna(), "")


# --------------------------------------------------------------------------------------------
# provenance
# --------------------------------------------------------------------------------------------


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_checksums(data_dir=None) -> list[dict]:
    """SHA-256 of every input file a forecast reads.

    Parameters
    ----------
    data_dir : path, optional
        Folder of raw CBS/UN files; ``None``: the bundled tables (``data/cbs``, see
        :func:`assen_demand.inputs.datasets.bundled_dir`).

    Returns
    -------
    list of dict
        ``{"path": ..., "sha256": ..., "bytes": ...}``; paths relative to the folder.
    """
    if data_dir is None:
        folder = bundled_dir()
        entries = sorted((p for p in folder.iterdir() if p.name.endswith(".csv")), key=lambda p: p.name)
        return [{"path": p.name, "sha256": _sha256(p.read_bytes()), "bytes": len(p.read_bytes())} for p in entries]

    root = Path(data_dir)
    out = []
    for path in input_files(root):
        content = path.read_bytes()
        out.append({"path": path.relative_to(root).as_posix(), "sha256": _sha256(content), "bytes": len(content)})
    # the KWB reader completes gemeente codes from this bundled table whatever the data folder
    extra = bundled_dir().joinpath("gemeente_codes_extra.csv").read_bytes()
    out.append({"path": "(bundled) gemeente_codes_extra.csv", "sha256": _sha256(extra), "bytes": len(extra)})
    return out


def parameter_checksums() -> list[dict]:
    """SHA-256 of every bundled parameter table: ``[{file, sha256}, ...]``."""

    folder = files("assen_demand").joinpath("data", "parameters")
    return [{"file": name, "sha256": _sha256(folder.joinpath(name).read_bytes())} for name in list_parameter_tables()]


def _supply_record(supply) -> dict:
    if supply is None:
        return {"source": "none"}
    if isinstance(supply, str) and supply == "example":
        path = files("assen_demand").joinpath("data", "supply", "assen_supply_example.csv")
        return {"source": "example", "file": "assen_supply_example.csv", "sha256": _sha256(path.read_bytes())}
    if isinstance(supply, pd.DataFrame):
        csv = supply.to_csv(index=False).encode()
        return {"source": "table", "sha256": _sha256(csv)}
    path = Path(supply)
    return {"source": "file", "file": str(path.resolve()), "sha256": _sha256(path.read_bytes())}


def _scenario_record(scenario) -> dict | None:
    """Name, file, checksum and settings of a scenario (a name, a TOML path or a loaded Scenario)."""
    if scenario is None:
        return None
    if hasattr(scenario, "to_frame"):  # a loaded assen_demand.scenario.Scenario
        file = Path(scenario.path)
        raw = scenario.source_bytes()
        settings = scenario.to_frame()
        return {
            "name": scenario.name,
            "file": str(file.resolve()) if file.is_file() else scenario.path,
            "sha256": _sha256(raw) if raw is not None else None,
            "description": scenario.description,
            "settings": [
                {"section": r.section, "key": r.key, "value": str(r.value), "source": r.source}
                for r in settings.itertuples(index=False) if r.section
            ],
        }
    path = Path(str(scenario))
    if path.is_file():
        return {"name": path.stem, "file": str(path.resolve()), "sha256": _sha256(path.read_bytes())}
    return {"name": str(scenario)}


#: The packages whose versions a provenance record lists: the ones that compute or write a run's
#: numbers, tables, figures and workbook (xlsxwriter writes the workbook since issue 20)
RECORDED_PACKAGES = ("numpy", "pandas", "xarray", "scipy", "statsmodels", "matplotlib", "xlsxwriter")


def provenance(
    result,
    *,
    data_dir=None,
    supply=None,
    scenario=None,
    draws: int = 0,
    seed: int | None = None,
    command: str | None = None,
    run_date: _dt.datetime | None = None,
) -> dict:
    """What went into a run, in a form two runs can be compared by.

    Parameters
    ----------
    result : Forecast
        Output of :func:`assen_demand.forecast`.
    data_dir : path, optional
        The data folder of the run; ``None`` = bundled tables.
    supply : "example", path, pandas.DataFrame or None
        The supply argument of the run.
    scenario : str, optional
        Scenario name or TOML file.
    draws : int [draws]
        Monte Carlo draws (0 = central run only).
    seed : int, optional
    command : str, optional
        The command line.
    run_date : datetime, optional
        Default: now (local time, seconds).

    Returns
    -------
    dict
        JSON-ready: ``assen_demand_version, run_date, command, gemeente, gemeente_name,
        base_year, end_year, variant, scenario, draws, seed, data {source, files [path,
        sha256, bytes]}, parameters [file, sha256], supply, python, packages``.
    """
    import assen_demand  # import here: the package's __init__ imports this module (through pipeline)

    run_date = run_date or _dt.datetime.now().replace(microsecond=0)
    years = [int(y) for y in result.population["year"].values]
    versions = {}
    for name in RECORDED_PACKAGES:
        try:  # the installed distribution's version: no import needed
            versions[name] = _metadata.version(name)
        except _metadata.PackageNotFoundError:  # pragma: no cover - all are dependencies
            versions[name] = None
    return {
        "assen_demand_version": assen_demand.__version__,
        "run_date": run_date.isoformat(),
        "command": command,
        "gemeente": result.gemeente,
        "gemeente_name": result.area_names.get(result.gemeente, result.gemeente),
        "base_year": years[0],
        "end_year": years[-1],
        "variant": getattr(result, "variant", "central"),
        "scenario": _scenario_record(getattr(result, "scenario", None) or scenario),
        "draws": int(draws or 0),
        "seed": seed,
        "data": {"source": "bundled" if data_dir is None else str(Path(data_dir).resolve()),
                 "files": file_checksums(data_dir)},
        "parameters": parameter_checksums(),
        "supply": _supply_record(supply),
        "python": platform.python_version(),
        "packages": versions,
    }


# --------------------------------------------------------------------------------------------
# writing and reading
# --------------------------------------------------------------------------------------------


#: Number formats: whole numbers for counts; decimals where a rounded value would mislead
COUNT_FORMAT, SHARE_FORMAT, RATIO_FORMAT = "#,##0", "#,##0.0", "0.00"


def number_format(sheet: str, row_labels: Sequence[str]) -> str:
    """The Excel number format of one row of year columns, from the sheet and the row's labels.

    Counts of persons and dwellings are whole numbers; percentages get one decimal; averages
    and ratios (household size 2.11, carers per 85-plusser) two, so Excel shows 2.11, not 2.
    The programme sheets (*Volkshuisvestingsprogramma*, *Segmenten ouderen*) get two decimals too.

    Examples
    --------
    >>> number_format("Huishoudens", ["GM0106", "Assen", "Gemiddelde huishoudensgrootte"])
    '0.00'
    >>> number_format("Ouderen", ["GM0106", "Assen", "Aandeel 65+ (%)"]), number_format("Ouderen", ["", "", "65+"])
    ('#,##0.0', '#,##0')
    """
    text = " ".join(str(v) for v in row_labels).lower()
    if sheet in ("Mantelzorg", PROGRAMME_SHEET, "Segmenten ouderen") or "gemiddeld" in text or " per " in f" {text} ":
        return RATIO_FORMAT
    if "aandeel" in text or "(%)" in text or "percentage" in text:
        return SHARE_FORMAT
    return COUNT_FORMAT


#: Text starting with one of these becomes a live formula in Excel or LibreOffice (formula injection)
FORMULA_PREFIXES = ("=", "+", "-", "@")


def write_workbook(sheets: Mapping[str, pd.DataFrame], path, *, title: str | None = None) -> Path:
    """Write sheets to an .xlsx file with frozen headers, autofilters, widths and number formats.

    Every table sheet gets an autofilter on its header row (filter by wijk or dwelling type in
    Excel) and a frozen header; year columns get a number format per row
    (:func:`number_format`). Text cells that start like a formula stay text (stored as a
    string with Excel's quote prefix, so '=HYPERLINK(...)' in a supply source never runs).

    Written with xlsxwriter, cell by cell: about five times faster than pandas' openpyxl
    writer for the default Assen workbook (issue 20); openpyxl still reads workbooks back.

    Parameters
    ----------
    sheets : mapping of str -> pandas.DataFrame
        Sheet name -> table (:func:`workbook_sheets`).
    path : path
        The .xlsx file to write.
    title : str, optional
        The run (:func:`run_title`: gemeente, scenario, base year): the printed page header of
        every sheet and the workbook's title property.

    Returns
    -------
    pathlib.Path
    """
    import xlsxwriter  # import here: 0.18 s to import (-X importtime, load 7); only a workbook needs it

    path = Path(path)
    # constant_memory off: freeze panes and autofilters need the whole sheet; strings are never
    # turned into formulas or numbers (formula injection; codes like 0106 keep their zero)
    book = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False, "strings_to_numbers": False,
                                           "strings_to_urls": False, "nan_inf_to_errors": False})
    formats: dict[tuple, object] = {}

    def fmt(*, bold=False, number=None, wrap=False, quote=False):
        key = (bold, number, wrap, quote)
        if key not in formats:
            props = {}
            if bold:
                props.update(bold=True, border=1, align="center", valign="top")  # pandas' header style
            if number is not None:
                props["num_format"] = number
            if wrap:
                props.update(text_wrap=True, valign="top")
            if quote:
                props["quote_prefix"] = True
            formats[key] = book.add_format(props) if props else None
        return formats[key]

    try:
        for name, frame in sheets.items():
            ws = book.add_worksheet(name)
            columns = list(frame.columns)
            is_year = [isinstance(c, (int, np.integer)) and not isinstance(c, bool) for c in columns]
            labels = [c for c, y in zip(columns, is_year) if not y]
            header = fmt(bold=True)
            for j, col in enumerate(columns):
                if is_year[j]:
                    ws.write_number(0, j, int(col), header)
                else:
                    ws.write_string(0, j, str(col), header)
            row_formats = [number_format(name, row) for row in frame[labels].astype(str).itertuples(index=False)]
            wide = [(not y) and c in ("Bron", "Toelichting", "Waarde", "Onderwerp") for c, y in zip(columns, is_year)]
            for j, col in enumerate(columns):
                values = frame.iloc[:, j].tolist()
                for i, value in enumerate(values, start=1):
                    number = row_formats[i - 1] if is_year[j] else None
                    _write_cell(ws, i, j, value, lambda quote=False: fmt(number=number, wrap=wide[j], quote=quote))
            frozen = len(labels) if len(labels) < len(columns) else 0
            ws.freeze_panes(1, frozen)
            if columns:
                ws.autofilter(0, 0, len(frame), len(columns) - 1)
            if title:
                ws.set_header("&C" + f"{title} - {name}".replace("&", "&&"))
            for j, col in enumerate(columns):
                if is_year[j]:
                    ws.set_column(j, j, 9)
                    continue
                longest = max([len(str(col))] + [len(str(v)) for v in frame[col].head(200)])
                ws.set_column(j, j, min(max(10, longest + 2), 80 if wide[j] else 45))
        if title:
            book.set_properties({"title": title})
    finally:
        book.close()
    return path


def _write_cell(ws, row: int, col: int, value, cell_format) -> None:
    """One cell as pandas' to_excel would store it: blank for None/NaN, numbers as numbers, text as
    text (with the quote prefix where it starts like a formula, :data:`FORMULA_PREFIXES`)."""
    blank = value is None or value is pd.NA or value is pd.NaT or (
        isinstance(value, (float, np.floating)) and np.isnan(value))
    if blank:  # a blank cell keeps its column's number format or wrapping, as openpyxl's did
        if cell_format() is not None:
            ws.write_blank(row, col, None, cell_format())
        return
    if isinstance(value, (bool, np.bool_)):
        ws.write_boolean(row, col, bool(value), cell_format())
    elif isinstance(value, (int, float, np.integer, np.floating)):
        if np.isinf(value):
            ws.write_string(row, col, "inf" if value > 0 else "-inf", cell_format())
            return
        ws.write_number(row, col, float(value) if isinstance(value, (float, np.floating)) else int(value),
                        cell_format())
    else:
        text = value if isinstance(value, str) else str(value)
        ws.write_string(row, col, text, cell_format(quote=text.startswith(FORMULA_PREFIXES)))


def workbook_name(result) -> str:
    """The workbook's file name: ``forecast.xlsx``, or ``forecast_<scenario>.xlsx`` for another scenario."""
    stem, ext = WORKBOOK.rsplit(".", 1)
    return f"{stem}{scenario_suffix(result)}.{ext}"


def run_title(result) -> str:
    """``Assen (GM0106), scenario basis, basisjaar 2024``: the line on every sheet, chart and summary."""
    name = result.area_names.get(result.gemeente, result.gemeente)
    return (f"{name} ({result.gemeente}), scenario {getattr(result, 'scenario_name', 'basis')}, "
            f"basisjaar {int(result.population['year'].values[0])}")
PROGRAMME_CSV = "volkshuisvestingsprogramma.csv"
PROGRAMME_SHEET = "Volkshuisvestingsprogramma"


def programme_outputs(programme) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """The CSV tables and the workbook sheets of a volkshuisvestingsprogramma.

    Parameters
    ----------
    programme : assen_demand.housing.programme.Programme

    Returns
    -------
    (tables, sheets)
        ``tables``: file name -> tidy table: :data:`PROGRAMME_CSV` (the programme, gemeente level)
        and ``aandachtsgroepen.csv`` (area, area_name, group, dwelling_need, status, in_older_need,
        year, households per year; every wijk). ``sheets``: *Volkshuisvestingsprogramma* (rows
        onderdeel x groep x segment, years as columns), *Segmenten ouderen* (share of households
        65+ per segment, per wijk and year) and *Programmatekst* (the Dutch text block).
    """

    names = programme.area_names
    per_wijk = groups.to_frame(programme.groups)
    per_wijk.insert(1, "area_name", per_wijk["area"].map(names))
    shares = segments.to_frame(programme.older_segment_shares)
    shares = shares.assign(share=100.0 * shares["share"], segment=shares["segment"].map(segments.SEGMENT_LABELS))
    areas = list(dict.fromkeys(shares["area"]))
    wide = shares.pivot_table(index=["area", "segment"], columns="year", values="share", sort=False).reset_index()
    wide.columns = [int(c) if not isinstance(c, str) else c for c in wide.columns]
    wide.insert(1, "Wijk", [f"{names.get(a, a)} (gemeente)" if a == areas[0] else names.get(a, a) for a in wide["area"]])
    wide = wide.rename(columns={"area": "Wijkcode", "segment": "Segment (% van huishoudens 65+)"})
    text = pd.DataFrame({"Tekst voor het volkshuisvestingsprogramma": programme.text.splitlines()})
    tables = {PROGRAMME_CSV: programme.table, "aandachtsgroepen.csv": per_wijk}
    sheets = {PROGRAMME_SHEET: programme_sheet(programme.table, dwelling_labels=DWELLING_LABELS),
              "Segmenten ouderen": wide, "Programmatekst": text}
    return tables, sheets


def write_forecast(result, out, *, sources: pd.DataFrame | None = None, about: Mapping | None = None,
                   provenance_record: Mapping | None = None, programme=None,
                   table_format: str = "csv") -> dict[str, Path]:
    """Write the CSV tables, ``forecast.xlsx`` and ``provenance.json`` of a forecast to ``out``.

    Parameters
    ----------
    result : Forecast
    out : path
        Output folder (created if needed; existing files of the same names are replaced).
    sources : pandas.DataFrame, optional
        The sheet *Bronnen en aannames*; default :func:`sources_table` of ``result``.
    about : mapping, optional
        Extra lines for the sheet *Toelichting*.
    provenance_record : mapping, optional
        :func:`provenance` of the run; default one with the bundled data and no command line.
    programme : assen_demand.housing.programme.Programme, optional
        Adds :data:`PROGRAMME_CSV` and the sheets of :func:`programme_outputs`.
    table_format : {"csv", "parquet"}
        Format of the tidy tables (:mod:`assen_demand.outputs.tables_io`); ``"parquet"`` writes
        ``population.parquet`` etc. with the same columns and types.

    Returns
    -------
    dict of str -> pathlib.Path
        ``"population.csv"``, ..., ``"forecast.xlsx"``, ``"provenance.json"`` -> path written (the
        workbook's file is ``forecast_<scenario>.xlsx`` for a scenario other than basis, see
        :func:`workbook_name`).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}

    tables = csv_tables(result)
    for stem, frame in tables.items():
        path = tables_io.write_table(frame, tables_io.table_path(out, stem, table_format))
        written[path.name] = path
    sheets = workbook_sheets(result, sources=sources if sources is not None else sources_table(result), about=about,
                             tables=tables)
    if programme is not None:
        tables, extra = programme_outputs(programme)
        for name, table in tables.items():
            path = tables_io.write_table(table, tables_io.table_path(out, name.removesuffix(".csv"), table_format))
            written[path.name] = path
        sheets = {**{k: v for k, v in sheets.items() if k != SOURCES_SHEET}, **extra,
                  **({SOURCES_SHEET: sheets[SOURCES_SHEET]} if SOURCES_SHEET in sheets else {})}
    written[WORKBOOK] = write_workbook(sheets, out / workbook_name(result), title=run_title(result))
    record = dict(provenance_record) if provenance_record is not None else provenance(result)
    path = out / PROVENANCE
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    written[PROVENANCE] = path
    return written


def read_run(folder):
    """Read an output folder of ``assen-demand forecast`` back for the monitoring report.

    Parameters
    ----------
    folder : path
        Folder holding ``population.csv``, ``dwellings.csv`` and ``provenance.json`` (or the
        same tables as ``.parquet``), or a forecast store (``forecast.zarr``,
        :func:`assen_demand.open_forecast`): a CSV run and a Parquet or Zarr run of the same
        forecast read as the same numbers.

    Returns
    -------
    assen_demand.outputs.monitoring.RunOutput
    """

    folder = Path(folder)
    if (folder / "zarr.json").is_file():
        return _read_store_run(folder)
    found = {stem: tables_io.find_table(folder, stem) for stem in ("population", "dwellings")}
    needed = [f"{stem}.csv" if path is None else path.name for stem, path in found.items()] + [PROVENANCE]
    missing = [n for n in needed if not (folder / n).is_file()]
    if missing:
        raise MissingDataError(
            f"{folder} is not an output folder of 'assen-demand forecast' (missing {', '.join(missing)}); "
            "pass the --out folder of an earlier forecast run"
        )

    dtypes = {"area": str, "area_name": str}
    provenance_record = validation.read_json(folder / PROVENANCE, what="the provenance record of a forecast run")
    if not isinstance(provenance_record, dict) or "gemeente" not in provenance_record:
        raise DataFormatError(f"{folder / PROVENANCE} has no 'gemeente'; pass the --out folder of a forecast run")
    if found["dwellings"].suffix == ".parquet":
        dwellings = _plain_text(tables_io.read_table(found["dwellings"]))
    else:
        dwellings = validation.read_csv(folder / "dwellings.csv", what="the dwellings table of a forecast run",
                                        dtype=dtypes, keep_default_na=True)
    programme = tables_io.find_table(folder, PROGRAMME_CSV.removesuffix(".csv"))
    if programme is not None:
        programme = (pd.read_csv(programme) if programme.suffix == ".csv"
                     else _plain_text(tables_io.read_table(programme)))
    return RunOutput(
        population=validation.read_run_population(found["population"]),
        dwellings=dwellings,
        provenance=provenance_record,
        folder=str(folder),
        programme=programme,
    )


def _plain_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Categorical labels of a Parquet table as plain text, as the CSV reader gives them."""
    return frame.astype({c: str for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)})


def _read_store_run(path: Path):
    """A forecast store (``forecast.zarr``) as a monitoring run: its population, dwellings and provenance."""

    stored = open_forecast(path)
    record = stored.provenance
    if "gemeente" not in record:
        raise DataFormatError(f"{path} holds no provenance with 'gemeente'; write it with Forecast.to_zarr or "
                              "assen-demand forecast --format parquet")
    return RunOutput(population=stored.to_frame("population"), dwellings=stored.to_frame("dwellings"),
                     provenance=record, folder=str(path))


def write_report(report, path) -> Path:
    """Write a monitoring report (:func:`assen_demand.outputs.monitoring.compare_runs`) to a file.

    Parameters
    ----------
    report : assen_demand.outputs.monitoring.MonitoringReport
    path : path
        ``.xlsx``: sheets *Samenvatting*, *Gewijzigde invoer* and *Vergelijking*; ``.csv``: the
        comparison table; ``.md`` or ``.txt``: the text of :meth:`MonitoringReport.to_text`.

    Returns
    -------
    pathlib.Path
    """
    path = Path(path)
    suffix = path.suffix.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".xlsx":
        summary = pd.DataFrame({"Samenvatting": report.summary().splitlines()})
        write_workbook({"Samenvatting": summary, "Gewijzigde invoer": report.changes,
                        "Vergelijking": report.comparison}, path)
    elif suffix == ".csv":
        report.comparison.to_csv(path, index=False, float_format="%.2f")
    elif suffix in (".md", ".txt"):
        path.write_text(report.to_text(), encoding="utf-8")
    else:
        raise DataFormatError(f"cannot write a report to {path.name}; use a name ending in .xlsx, .csv or .md")
    return path
