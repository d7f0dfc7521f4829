"""Products of the doorstroming step (issue 23): ``doorstroming.csv``, the sheet and one chart.

The tidy table and the sheet come from ``Forecast.doorstroming_moves``
(:mod:`assen_demand.housing.doorstroming`); the chart compares two forecasts (basis and a
building scenario such as ``bouwplannen``). Labels are Dutch; the chain effect is always shown
as its own, labelled figure and never added to the direct number.
"""

from __future__ import annotations

import pandas as pd
from assen_demand.housing import doorstroming

__all__ = ["CSV_NAME", "SHEET_NAME", "MEASURE_LABELS", "ABOUT", "csv_table", "sheet", "comparison_rows",
           "freed_by_wijk", "plot_freed_comparison"]

CSV_NAME = "doorstroming"
SHEET_NAME = "Doorstroming"
#: Dutch row labels of the sheet, in order
MEASURE_LABELS = {
    "willing": "Verhuiswillige oudere huishoudens (per jaar)",
    "willing_family_home": "  waarvan nu in een eengezinswoning",
    "available_new": "Beschikbare geschikte woningen: nieuwbouw",
    "available_turnover": "Beschikbare geschikte woningen: bestaande voorraad",
    "realised": "Gerealiseerde verhuizingen (wijk waar men vandaan komt)",
    "moved_in": "Gerealiseerde verhuizingen (wijk van de nieuwe woning)",
    "freed_direct": "Vrijgekomen eengezinswoningen (direct)",
    "freed_chain": "Verhuisketen: extra vrijgekomen woningen (apart, niet optellen bij direct)",
}
#: Source line under the chart (export.SOURCE_NOTE plus the survey; not imported: outputs.export imports this module)
CHART_NOTE = ("Bron: CBS (KWB, 37259, WoON-verhuiswensen), UN WPP 2024; berekening assen_demand; "
              "keteneffect niet meegeteld")
#: Line of the sheet *Toelichting*
ABOUT = ("Doorstroming", "Oudere huishoudens die naar een geschikte woning willen verhuizen, de verhuizingen die "
         "lukken met de geschikte woningen die vrijkomen of gebouwd worden, en de eengezinswoningen die daardoor "
         "vrijkomen in de wijk van de verhuizer. Het keteneffect (verhuisketen, CBS) staat apart en telt niet op "
         "bij het directe effect.")


def csv_table(result) -> pd.DataFrame | None:
    """``doorstroming.csv``: area, area_name, year, willing, ..., freed_direct, freed_chain (None without the step)."""

    moves = getattr(result, "doorstroming_moves", None)
    if moves is None:
        return None
    return doorstroming.to_frame(moves, result.area_names)


def sheet(result) -> pd.DataFrame | None:
    """Sheet *Doorstroming*: per area the measures as rows (Dutch labels), one column per year."""
    frame = csv_table(result)
    if frame is None:
        return None
    long = frame.melt(id_vars=["area", "area_name", "year"], var_name="measure", value_name="value")
    wide = long.pivot_table(index=["area", "measure"], columns="year", values="value", sort=False).reset_index()
    order = {a: i for i, a in enumerate(dict.fromkeys(frame["area"]))}
    ranks = {m: i for i, m in enumerate(MEASURE_LABELS)}
    wide = wide.assign(_a=wide["area"].map(order), _m=wide["measure"].map(ranks)).sort_values(["_a", "_m"])
    names = result.area_names
    out = pd.DataFrame({"Wijkcode": wide["area"].astype(str).to_numpy(),
                        # the gemeente row labelled as on the other sheets
                        "Wijk": [f"{names.get(a, a)} (gemeente)" if a == result.gemeente else names.get(a, a)
                                 for a in wide["area"]],
                        "Maat": wide["measure"].map(MEASURE_LABELS).to_numpy()})
    for year in [c for c in wide.columns if isinstance(c, (int,)) or str(c).isdigit()]:
        out[int(year)] = wide[year].to_numpy(dtype=float)
    return out


def comparison_rows(result) -> pd.DataFrame:
    """Rows for :func:`assen_demand.pipeline.forecast_comparison`: ``area, year, measure, dwelling_type, value``.

    Measures ``doorstroming_willing``, ``doorstroming_realised``, ``doorstroming_freed_direct``,
    ``doorstroming_freed_chain`` [households or homes per year], ``dwelling_type`` = ``"all"``.
    """
    frame = csv_table(result)
    if frame is None:
        return pd.DataFrame(columns=["area", "year", "measure", "dwelling_type", "value"])
    long = frame.melt(id_vars=["area", "year"], value_vars=["willing", "realised", "freed_direct", "freed_chain"],
                      var_name="measure", value_name="value")
    long["measure"] = "doorstroming_" + long["measure"]
    long["dwelling_type"] = "all"
    return long[["area", "year", "measure", "dwelling_type", "value"]]


def freed_by_wijk(results, *, first: int = 2025, last: int = 2040, value: str = "freed_direct") -> pd.DataFrame:
    """Freed family homes per wijk summed over ``first..last``, one column per forecast's scenario.

    Parameters
    ----------
    results : sequence of Forecast
        Forecasts of one gemeente (e.g. basis and bouwplannen).

    Returns
    -------
    pandas.DataFrame
        Index wijk name (the gemeente left out), columns scenario names [homes in the period].
    """
    columns = {}
    for fc in results:
        moves = fc.doorstroming_moves
        years = [int(y) for y in moves["year"].values if first <= int(y) <= last]
        total = moves[value].sel(year=years).sum("year").to_series()
        total = total.drop(fc.gemeente, errors="ignore")
        total.index = [fc.area_names.get(a, a) for a in total.index]
        columns[fc.scenario_name] = total
    return pd.DataFrame(columns)


def plot_freed_comparison(basis, other, *, first: int = 2025, last: int = 2040, ax=None):
    """Bar chart: freed family homes (direct) per wijk over ``first..last``, basis vs another scenario.

    Parameters
    ----------
    basis, other : Forecast
        Two forecasts of one gemeente, e.g. ``forecast()`` and ``forecast(scenario="bouwplannen")``.
    first, last : int, keyword-only [calendar years, inclusive]
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    table = freed_by_wijk([basis, other], first=first, last=last)
    table = table.sort_values(table.columns[0])
    if ax is None:
        fig, ax = plt.subplots(figsize=(8, 0.45 * len(table) + 1.8))
    else:
        fig = ax.figure
    y = range(len(table))
    height = 0.4
    colors = ("#9aa5b1", "#2a7f62")
    for i, (name, col) in enumerate(table.items()):
        ax.barh([v + (i - 0.5) * height for v in y], col.to_numpy(), height=height, color=colors[i % 2],
                label=name)
    ax.set_yticks(list(y))
    ax.set_yticklabels(table.index)
    ax.set_xlabel(f"eengezinswoningen, totaal {first}-{last}")
    ax.set_title(f"Vrijgekomen eengezinswoningen per wijk (direct effect)\n"
                 f"door doorstroming van oudere huishoudens, {first}-{last}")
    ax.legend(title="scenario", loc="lower right")
    fig.text(0.01, 0.005, CHART_NOTE, fontsize=7, color="#555555")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return fig
