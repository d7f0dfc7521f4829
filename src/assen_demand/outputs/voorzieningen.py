"""Facilities per wijk for planners: ``voorzieningen.csv``, the sheet *Voorzieningen* and one chart.

Kept apart from :mod:`assen_demand.outputs.export` and :mod:`assen_demand.outputs.plots`, which
call :func:`facility_csv`, :func:`facility_sheet` and :func:`save_facility_figure` once each.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from assen_demand.inputs.nabijheid import FACILITY_LABELS
from assen_demand.outputs.figures import A4_WIDTH, add_source_note, new_figure, save_png, set_title, tick_label

__all__ = [
    "CSV_NAME",
    "SHEET_NAME",
    "FIGURE_NAME",
    "SOURCE_LINE",
    "facility_csv",
    "facility_sheet",
    "plot_facility_pressure",
    "save_facility_figure",
]

CSV_NAME = "voorzieningen"
SHEET_NAME = "Voorzieningen"
FIGURE_NAME = "voorzieningen_druk_en_afstand.png"
#: Source line of the chart
SOURCE_LINE = "Bron: CBS (KWB-afstanden), UN WPP 2024; loopgrens: In voor zorg!, CBS; berekening assen_demand"

_NORM_LABELS = {
    "catchment": "woonzorgzone: inwoners / 10.000 (In voor zorg!)",
    "per_75plus": "per 1.000 75-plussers (afgeleid)",
}


def _has_facilities(result) -> bool:
    return getattr(result, "facilities", None) is not None


def facility_csv(result) -> pd.DataFrame | None:
    """The tidy facilities table of a forecast (``voorzieningen.csv``), or ``None`` without it.

    Parameters
    ----------
    result : Forecast

    Returns
    -------
    pandas.DataFrame or None
        :func:`assen_demand.housing.facilities.facility_pressure` columns with ``area_name``
        after ``area``, plus ``norm`` (the norm of ``places_needed``) and ``distance_note``
        (Dutch: which distances are unknown and the command that fetches them).
    """
    if not _has_facilities(result):
        return None
    fac = result.facilities
    table = fac.to_frame()
    table.insert(1, "area_name", table["area"].map(result.area_names))
    table.insert(3, "norm", fac.norm)
    notes = (fac.distances[fac.distances["message"] != ""]
             .groupby("area")["message"].apply(lambda m: " | ".join(dict.fromkeys(m))))
    table["distance_note"] = table["area"].map(notes).fillna("")
    return table


def facility_sheet(result) -> pd.DataFrame | None:
    """The workbook sheet *Voorzieningen*: one row per area and year, Dutch column names.

    Parameters
    ----------
    result : Forecast

    Returns
    -------
    pandas.DataFrame or None
    """
    table = facility_csv(result)
    if table is None:
        return None
    threshold_m = int(round(float(table["threshold_km"].iloc[0]) * 1000))
    distance_cols = {f"distance_{f}_km": f"Afstand {label} (km)" for f, label in FACILITY_LABELS.items()
                     if f"distance_{f}_km" in table}
    columns = {
        "area": "Wijkcode",
        "area_name": "Wijk",
        "year": "Jaar",
        "residents": "Inwoners",
        "residents_75plus": "Inwoners 75+",
        "alone_75plus": "75-plussers alleenwonend",
        "dementia_at_home": "Thuiswonenden met dementie",
        "adl_limitation_at_home": "Thuiswonenden met ADL-beperking",
        "mantelzorg_ratio": "Mantelzorgratio (50-74 per 85+)",
        "clustered_dwellings": "Geclusterde woningen (behoefte)",
        "clustered_woonvormen": "Geclusterde woonvormen (max., 12 eenheden elk)",
        **{f"places_needed_{n}": f"Ontmoetingsplekken nodig: {label}" for n, label in _NORM_LABELS.items()},
        "places_needed": f"Plekken nodig (hele plekken, norm {table['norm'].iloc[0]})",
        "places_present": "Plekken aanwezig (lijst gemeente)",
        "shortfall": "Tekort aan plekken",
        **distance_cols,
        "beyond_threshold": f"Verder dan {threshold_m} m (loopgrens mobiliteitsbeperkten)",
        "growth_alone_75plus_pct": "Groei 75+ alleenwonend sinds basisjaar (%)",
        "growth_dementia_at_home_pct": "Groei dementie thuis sinds basisjaar (%)",
        "vulnerable_growth_pct": "Groei 75+ alleen + dementie thuis (%)",
        "growth_rank": "Rang groei (1 = snelst)",
        "flag": "Signaal: snelle groei en lange afstand",
        "distance_note": "Opmerking afstanden",
    }
    table = table.copy()
    # whole persons and dwellings, places to two decimals (a wijk may need 0.4 of a place), ratios and % to one
    for col, decimals in (("residents", 0), ("residents_75plus", 0), ("alone_75plus", 0), ("dementia_at_home", 0),
                          ("adl_limitation_at_home", 0), ("clustered_dwellings", 0), ("clustered_woonvormen", 1),
                          ("mantelzorg_ratio", 1), ("growth_alone_75plus_pct", 1), ("growth_dementia_at_home_pct", 1),
                          ("vulnerable_growth_pct", 1),
                          *((f"places_needed_{n}", 2) for n in _NORM_LABELS)):
        if col in table:
            table[col] = table[col].round(decimals)
    sheet = table[[c for c in columns if c in table]].rename(columns=columns)
    for col in sheet.columns:
        if sheet[col].dtype == "boolean" or sheet[col].dtype == bool:
            sheet[col] = sheet[col].map({True: "ja", False: "nee"}).fillna("onbekend")
    return sheet


def plot_facility_pressure(result, *, year: int | None = None, fig=None):
    """Wijken ranked by the growth of vulnerable residents, and that growth against the distance.

    Left: wijken ranked by the growth since the base year of 75-plussers living alone plus
    residents with dementia at home (the two overlap, so it is a pressure measure, not a head
    count); flagged wijken in red. Right: the same growth against the largest known CBS
    distance (huisarts, supermarkt, apotheek), with the walking threshold for people with
    limited mobility as a vertical line.

    Parameters
    ----------
    result : Forecast
        With ``facilities``.
    year : int, optional [year]
        Default the last year.
    fig : matplotlib.figure.Figure, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    table = facility_csv(result)
    if table is None:
        raise ValueError("this forecast has no facilities step; run assen_demand.forecast(...)")
    year = int(table["year"].max()) if year is None else int(year)
    base = int(table["year"].min())
    rows = table[(table["year"] == year) & (table["area"] != result.gemeente)].copy()
    rows = rows.sort_values("vulnerable_growth_pct")
    gm = table[(table["year"] == year) & (table["area"] == result.gemeente)]
    colors = np.where(rows["flag"].astype(bool), "#c8553d", "#8aa9c8")
    fig = new_figure(fig, (A4_WIDTH, 4.6))
    left, right = fig.subplots(1, 2, width_ratios=[1.1, 1])
    left.barh(rows["area_name"], rows["vulnerable_growth_pct"], color=colors)
    if len(gm):
        left.axvline(float(gm["vulnerable_growth_pct"].iloc[0]), color="0.3", ls="--", lw=1)
        left.text(float(gm["vulnerable_growth_pct"].iloc[0]), len(rows) - 0.5, " gemeente", fontsize=7, color="0.3",
                  va="bottom")
    from matplotlib.patches import Patch

    threshold_m = int(round(float(table["threshold_km"].iloc[0]) * 1000))
    left.legend(handles=[Patch(color="#c8553d", label=f"signaal: snelste derde, sneller\ndan gemeente én afstand > {threshold_m} m"),
                         Patch(color="#8aa9c8", label="geen signaal")], fontsize=7, loc="lower right")
    left.set_xlabel(f"Groei {base}-{year} (%)")
    left.xaxis.set_major_formatter(tick_label)
    set_title(left, "75+ alleenwonend + dementie thuis", fontsize=9)
    known = rows[rows["distance_max_km"].notna()]
    right.scatter(known["distance_max_km"], known["vulnerable_growth_pct"], c=colors[rows["distance_max_km"].notna().values],
                  s=30, zorder=3)
    for _, r in known.iterrows():
        right.annotate(str(r["area_name"]), (r["distance_max_km"], r["vulnerable_growth_pct"]), fontsize=7,
                       xytext=(3, 2), textcoords="offset points")
    threshold = float(table["threshold_km"].iloc[0])
    right.axvline(threshold, color="0.3", ls=":", lw=1)
    right.text(threshold, right.get_ylim()[1], f" {int(round(threshold * 1000))} m", fontsize=7, color="0.3", va="top")
    right.set_xlim(0, max(float(known["distance_max_km"].max()) * 1.25, threshold * 2) if len(known) else 1.0)
    right.set_xlabel("Afstand (km): grootste bekende van\nhuisarts, grote supermarkt, apotheek")
    right.set_ylabel(f"Groei {base}-{year} (%)")
    right.xaxis.set_major_formatter(tick_label)
    right.yaxis.set_major_formatter(tick_label)
    set_title(right, "Druk tegen afstand (rood = signaal)", fontsize=9)
    unknown = rows["distance_max_km"].isna().sum()
    if unknown:
        right.text(0.01, 0.01, f"{unknown} wijk(en) zonder bekende afstand", transform=right.transAxes, fontsize=7)
    fig.suptitle(f"Voorzieningen per wijk, {result.area_names.get(result.gemeente, result.gemeente)} {year}",
                 fontsize=10)
    return fig


def save_facility_figure(result, folder, *, dpi: int = 150) -> list[Path]:
    """Write :func:`plot_facility_pressure` as ``voorzieningen_druk_en_afstand.png`` with the source line.

    Parameters
    ----------
    result : Forecast
    folder : path
    dpi : int [dots per inch]

    Returns
    -------
    list of pathlib.Path
        The file written; empty when the forecast has no facilities step.
    """
    if not _has_facilities(result):
        return []
    from matplotlib.figure import Figure

    fig = plot_facility_pressure(result, fig=Figure(layout="constrained"))
    add_source_note(fig, SOURCE_LINE)
    return [save_png(fig, Path(folder) / FIGURE_NAME, dpi)]
