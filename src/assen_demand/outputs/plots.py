"""Figures for reports: pyramids, older age groups per wijk, need vs supply, gap heatmap, fan chart.

Every figure is a function. Single-panel figures take an optional ``ax`` and return the
:class:`~matplotlib.axes.Axes`; multi-panel figures take an optional ``fig`` and return the
:class:`~matplotlib.figure.Figure`. None calls ``plt.show()``. Labels are Dutch, areas carry
their wijk names, and :func:`save_figures` writes the whole set as PNG files (150 dpi, sized to
be read on A4) with the source footnote :data:`assen_demand.outputs.export.SOURCE_NOTE`.

``result`` is a :class:`~assen_demand.pipeline.Forecast`; the population figures also take a
:class:`~assen_demand.pipeline.PopulationProjection` (anything with ``population``,
``area_names`` and ``gemeente``).

The fan chart (:func:`plot_fan_chart`) takes a plain quantile table (years x probabilities),
so it does not depend on how the quantiles were produced; :func:`quantile_table` makes one
from the ``need_q05, need_q50, ...`` columns of ``Forecast.to_frame("dwellings")``.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from assen_demand.errors import DataFormatError, UnknownAreaError
from assen_demand.outputs.figures import A4_WIDTH, add_source_note  # re-exported (public API of plots)
from assen_demand.outputs.figures import PNG_COMPRESS_LEVEL, save_png  # re-exported (public API of plots)
from assen_demand.outputs.figures import new_axes as _new_axes
from assen_demand.outputs.figures import new_figure as _new_figure
from assen_demand.outputs.figures import nl_number as _nl
from assen_demand.outputs.figures import rectangles as _rectangles
from assen_demand.outputs.figures import set_title as _set_title
from assen_demand.outputs.figures import tick_label as _tick
from assen_demand.outputs.labels import DWELLING_LABELS, SOURCE_NOTE, quantile_columns, scenario_suffix
from assen_demand.outputs import figure_reuse, runfolder
from assen_demand.outputs.voorzieningen import FIGURE_NAME as FACILITY_FIGURE
from assen_demand.outputs.voorzieningen import save_facility_figure
from assen_demand.housing.opgave import HIGHLIGHT_YEARS
from assen_demand.housing.stock import GEMEENTE_ONLY, STOCK_TYPES
from assen_demand.inputs.cbs import slug
from assen_demand.processes import process_pool

__all__ = [
    "A4_WIDTH",
    "plot_pyramid",
    "plot_older_population",
    "plot_need_supply",
    "plot_need_supply_panels",
    "plot_gap_heatmap",
    "plot_opgave",
    "plot_fan_chart",
    "quantile_table",
    "add_source_note",
    "save_figures",
    "start_figures",
    "PendingFigures",
    "save_png",
    "PNG_COMPRESS_LEVEL",
    "FIGURE_KINDS",
    "FAN_NOTE",
    "run_label",
]

_DPI = 150
_MALE, _FEMALE = "#3b6ea5", "#c8553d"
_AGE_COLORS = {65: "#e0a33a", 75: "#c8553d", 85: "#6b2d5c"}
_NEED, _SUPPLY = "#1f4e79", "#2e8b57"
# titles say "Tekort aan <plural>"
_PLURAL = {
    "nultredenwoning": "nultredenwoningen",
    "geclusterd": "woningen in een geclusterde woonvorm",
    "zorggeschikt": "zorggeschikte woningen",
    "verpleegzorgplek": "verpleegzorgplekken",
    "begeleid_wonen": "plekken voor begeleid wonen (jongeren)",
}


def _name(result, area: str) -> str:
    return str(result.area_names.get(area, area))


def _check_area(result, area) -> str:
    area = result.gemeente if area is None else str(area)
    areas = [str(a) for a in result.population["area"].values]
    if area not in areas:
        names = ", ".join(f"{a} ({_name(result, a)})" for a in areas)
        raise UnknownAreaError(f"area {area!r} is not in the result; choose one of {names}")
    return area


def run_label(result) -> str:
    """``scenario basis, basisjaar 2024``: the second line of every chart title.

    Charts of different scenarios must not look alike; a PopulationProjection (no scenario)
    counts as basis.
    """
    scenario = getattr(result, "scenario_name", "basis")
    return f"scenario {scenario}, basisjaar {int(result.population['year'].values[0])}"


def _check_type(dwelling_type: str) -> str:
    if dwelling_type not in DWELLING_LABELS:
        raise DataFormatError(f"unknown dwelling type {dwelling_type!r}; use one of {', '.join(DWELLING_LABELS)}")
    return dwelling_type


def _barh(ax, positions, values, height: float, **kwargs):
    """``ax.barh(positions, values, height=height, **kwargs)`` as one patch (:func:`figures.rectangles`).

    The same bars, centred on ``positions``, from 0 to ``values``; one artist instead of one per
    bar (issue 20). Returns the :class:`~matplotlib.patches.PathPatch`, the legend handle.
    """
    positions = np.asarray(positions, dtype=float)
    if "color" in kwargs:  # as barh: the colour of the fill; an edge only where one is asked for
        kwargs.setdefault("facecolor", kwargs.pop("color"))
    patch = _rectangles(0.0, positions - height / 2, values, height, **kwargs)
    patch.sticky_edges.x.append(0.0)  # as barh: the x axis gets no margin beyond the base of the bars
    ax.add_patch(patch)
    ax.autoscale(enable=None)  # as barh: fit the view to the data (when drawn), unless the caller fixed it
    return patch


# --------------------------------------------------------------------------------------------
# population
# --------------------------------------------------------------------------------------------


def plot_pyramid(result, area: str | None = None, *, years=None, age_width: int = 5, ax=None):
    """Population pyramid of one area: the base year as bars, a later year as an outline.

    Parameters
    ----------
    result : Forecast or PopulationProjection
    area : str, optional
        Area code (default the gemeente).
    years : (int, int), optional [year]
        Bars and outline; default the first and the last year of the result.
    age_width : int [years of age]
        Width of the age groups (5 reads best; 1 shows single years). The top group is open
        (95+ with the default).
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
        Men to the left, women to the right [persons].
    """
    area = _check_area(result, area)
    pop = result.population.sel(area=area)
    all_years = [int(y) for y in pop["year"].values]
    first, last = years if years is not None else (all_years[0], all_years[-1])
    for y in (first, last):
        if y not in all_years:
            raise DataFormatError(
                f"year {y} is not in the result ({all_years[0]}-{all_years[-1]}); choose years from it"
            )
    if age_width < 1:
        raise DataFormatError(f"age_width must be a whole number of years >= 1, got {age_width}")
    ages = pop["age"].values
    top = int(ages.max())
    open_start = (top // age_width) * age_width if age_width > 1 else top
    if age_width > 1 and top - open_start < age_width - 1:
        open_start -= age_width  # fold the lone 100+ into the group below it (95+)
    group = np.minimum((ages // age_width) * age_width, open_start)
    starts = np.unique(group)
    labels = [f"{s}-{s + age_width - 1}" if s < open_start else f"{s}+" for s in starts]
    if age_width == 1:
        labels = [str(s) if s < open_start else f"{s}+" for s in starts]

    def counts(year, sex):
        values = pop.sel(year=year, sex=sex).values
        return np.array([values[group == s].sum() for s in starts])

    ax = _new_axes(ax, (6.5, 6))
    pos = np.arange(len(starts))
    height = 0.9
    bars = [_barh(ax, pos, sign * counts(first, sex), height, color=color, alpha=0.75,
                  label=f"{name} 1 jan. {first}")
            for sex, sign, color, name in (("male", -1, _MALE, "Mannen"), ("female", 1, _FEMALE, "Vrouwen"))]
    edges = np.concatenate([pos - height / 2, [pos[-1] + height / 2]])
    outline = [ax.stairs(sign * counts(last, sex), edges, orientation="horizontal", color="black", linewidth=1.3,
                         label=f"1 jan. {last} (prognose)")
               for sex, sign in (("male", -1), ("female", 1))]
    ax.axvline(0, color="black", linewidth=0.6)
    step = max(1, len(starts) // 10) if age_width == 1 else 1
    ax.set_yticks(pos[::step], [labels[i] for i in range(0, len(labels), step)], fontsize=8)
    ax.set_ylim(pos[0] - 0.6, pos[-1] + 0.6)
    limit = ax.get_xlim()
    span = max(abs(limit[0]), abs(limit[1]))
    ax.set_xlim(-span * 1.05, span * 1.05)
    ax.xaxis.set_major_formatter(lambda x, _: _tick(abs(x)))
    ax.tick_params(axis="x", labelsize=8)
    ax.set_xlabel("Inwoners per leeftijdsgroep" if age_width > 1 else "Inwoners per leeftijdsjaar", fontsize=9)
    ax.set_ylabel("Leeftijd (jaren)", fontsize=9)
    ax.text(0.02, 0.98, "Mannen", transform=ax.transAxes, ha="left", va="top", fontsize=10, color=_MALE, weight="bold")
    ax.text(0.98, 0.98, "Vrouwen", transform=ax.transAxes, ha="right", va="top", fontsize=10, color=_FEMALE,
            weight="bold")
    kind = "gemeente" if area == result.gemeente else "wijk"
    _set_title(ax, f"Bevolkingsopbouw {_name(result, area)} ({kind}), {first} en {last}\n{run_label(result)}",
               fontsize=11)
    ax.legend(handles=[outline[0], *bars], loc="upper center", bbox_to_anchor=(0.5, -0.09), ncol=3, fontsize=8,
              frameon=False)
    ax.grid(axis="x", color="0.9")
    ax.set_axisbelow(True)
    return ax


def _age_total(pop, lo: int):
    return pop.where(pop["age"] >= lo, 0).sum(["sex", "age"])


def plot_older_population(result, *, areas=None, groups=(65, 75, 85), fig=None):
    """Older residents per area over time: one small panel per area (a multi-panel Figure).

    Parameters
    ----------
    result : Forecast or PopulationProjection
    areas : sequence of str, optional
        Area codes; default the gemeente and all its wijken.
    groups : sequence of int [years of age]
        Lower ages of the open groups shown (default 65+, 75+, 85+).
    fig : matplotlib.figure.Figure, optional

    Returns
    -------
    matplotlib.figure.Figure
        Each panel has its own y scale [persons]; the legend is in the last panel.
    """
    areas = [_check_area(result, a) for a in (areas if areas is not None else result.population["area"].values)]
    n = len(areas)
    cols = 3 if n <= 12 else 4  # a gemeente with many wijken: smaller panels, still at most A4 high
    rows = int(np.ceil((n + 1) / cols))
    fig = _new_figure(fig, (A4_WIDTH, min(11.0, 2.1 * rows + 0.8)))
    axes = fig.subplots(rows, cols, sharex=True, squeeze=False).ravel()
    years = result.population["year"].values
    for ax, area in zip(axes, areas):
        pop = result.population.sel(area=area)
        for lo in groups:
            ax.plot(years, _age_total(pop, lo).values, color=_AGE_COLORS.get(lo), linewidth=1.8, label=f"{lo}+")
        title = _name(result, area) + (" (gemeente)" if area == result.gemeente else "")
        ax.tick_params(labelsize=7)
        ax.yaxis.set_major_formatter(_tick)
        _set_title(ax, title, fontsize=9 if len(title) <= 22 else 7.5)
        ax.set_ylim(bottom=0)
        ax.grid(color="0.92")
    legend_ax = axes[n]
    handles, labels = axes[0].get_legend_handles_labels()
    legend = legend_ax.legend(handles, [f"Inwoners {lab}" for lab in labels], loc="center", fontsize=9,
                              frameon=False, title=f"1 januari; prognose vanaf {int(years[0])}", title_fontsize=8)
    legend.get_title().set_color("0.3")
    for ax in axes[n:]:
        ax.axis("off")
    for ax in axes[max(0, n - cols):n]:
        ax.tick_params(labelbottom=True)
    fig.suptitle(f"Ouderen per wijk, {int(years[0])}-{int(years[-1])} (aantal inwoners)\n{run_label(result)}",
                 fontsize=12)
    return fig


# --------------------------------------------------------------------------------------------
# dwellings
# --------------------------------------------------------------------------------------------


def plot_need_supply(result, dwelling_type: str, *, area: str | None = None, ax=None):
    """Need (need model) and known supply of one dwelling type in one area over the years.

    Parameters
    ----------
    result : Forecast
    dwelling_type : str
        One of :data:`assen_demand.housing.dwellings.DWELLING_TYPES`.
    area : str, optional
        Area code (default the gemeente).
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
        Need as a line, supply as steps with filled markers where the figure is published
        (``known``) and open markers where it is assumed; "aanbod onbekend" where no supply is
        listed [dwellings or places].
    """
    area = _check_area(result, area)
    dwelling_type = _check_type(dwelling_type)
    ds = result.dwellings.sel(area=area, dwelling_type=dwelling_type, model="need")
    years = ds["year"].values
    ax = _new_axes(ax, (6, 3.8))
    ax.plot(years, ds["need"].values, color=_NEED, linewidth=2, label="Behoefte")
    supply = ds["supply"].values
    status = ds["supply_status"].values
    if np.isfinite(supply).any():
        ax.step(years, supply, where="post", color=_SUPPLY, linewidth=1.6, label="Aanbod")
        known = status == "bekend"
        if known.any():
            ax.plot(years[known], supply[known], "o", color=_SUPPLY, markersize=4, label="Aanbod bekend")
        assumed = np.isin(status, ["geschat", "aanname"]) & np.isfinite(supply)
        if assumed.any():
            ax.plot(years[assumed], supply[assumed], "o", markerfacecolor="white", color=_SUPPLY, markersize=4,
                    label="Aanbod (aanname)")
    else:
        ax.text(0.5, 0.08, "aanbod onbekend", transform=ax.transAxes, ha="center", fontsize=8, color="0.4",
                style="italic")
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_formatter(_tick)
    _set_title(ax, DWELLING_LABELS[dwelling_type], fontsize=10)
    ax.tick_params(labelsize=8)
    ax.grid(color="0.92")
    return ax


def plot_need_supply_panels(result, *, area: str | None = None, fig=None):
    """Need and supply of every dwelling type in one area: a multi-panel Figure.

    Parameters
    ----------
    result : Forecast
    area : str, optional
        Area code (default the gemeente).
    fig : matplotlib.figure.Figure, optional

    Returns
    -------
    matplotlib.figure.Figure
        One panel per dwelling type (see :func:`plot_need_supply`) and a legend panel.
    """
    area = _check_area(result, area)
    types = list(DWELLING_LABELS)
    fig = _new_figure(fig, (A4_WIDTH, 7.5))
    axes = fig.subplots(3, 2, sharex=True).ravel()
    for ax, dtype in zip(axes, types):
        plot_need_supply(result, dtype, area=area, ax=ax)
    handles, labels = [], []
    for ax in axes[: len(types)]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    legend = axes[len(types)]
    legend.axis("off")
    legend.legend(handles, labels, loc="upper center", fontsize=9, frameon=False)
    legend.text(0.5, 0.25, "Behoefte: benodigde voorraad (behoeftemodel).\nAanbod: alleen wat bekend is;\n"
                "ontbrekend aanbod is onbekend, niet nul.", ha="center", va="center", fontsize=8, color="0.3",
                transform=legend.transAxes)
    kind = "gemeente" if area == result.gemeente else "wijk"
    years = result.dwellings["year"].values
    fig.suptitle(f"Woningbehoefte en aanbod, {_name(result, area)} ({kind}), {int(years[0])}-{int(years[-1])}\n"
                 f"{run_label(result)}", fontsize=12)
    fig.supylabel("Woningen of plaatsen", fontsize=9)
    return fig


def plot_gap_heatmap(result, dwelling_type: str, *, areas=None, annotate: bool = True, ax=None):
    """Wijk x year heatmap of the gap (need - supply) of one dwelling type.

    Where no supply is known for any wijk, the map shows the need and its title says
    "aanbod onbekend"; where some is known, cells without supply are hatched grey and carry the
    need in grey italics, so an unknown supply is never shown as zero.

    Parameters
    ----------
    result : Forecast
    dwelling_type : str
    areas : sequence of str, optional
        Rows; default the gemeente (first, above a line) and every wijk. The colour scale is set
        by the wijken only, so the gemeente total does not flatten it; its cells carry the number.
    annotate : bool
        Write the rounded value in every cell.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
        With a colour bar [dwellings or places].
    """
    from matplotlib.colors import TwoSlopeNorm  # import here: matplotlib (1.7 s) only to draw
    from matplotlib.patches import Patch

    dwelling_type = _check_type(dwelling_type)
    if areas is None:
        areas = [str(a) for a in result.population["area"].values]  # gemeente first, then the wijken
    areas = [_check_area(result, a) for a in areas]
    scale_rows = np.array([a != result.gemeente for a in areas]) if len(areas) > 1 else np.ones(len(areas), bool)
    ds = result.dwellings.sel(area=areas, dwelling_type=dwelling_type, model="need")
    years = [int(y) for y in ds["year"].values]
    need = ds["need"].transpose("area", "year").values
    gap = ds["gap"].transpose("area", "year").values
    has_supply = np.isfinite(gap)
    label = _PLURAL[dwelling_type]
    ax = _new_axes(ax, (A4_WIDTH, 0.32 * len(areas) + 1.8))
    from matplotlib.colors import Normalize  # import here: matplotlib (1.7 s) only to draw

    context = f"{years[0]}-{years[-1]}, {run_label(result)}"
    if not has_supply.any():
        values, cmap = need, "Oranges"
        top = float(np.nanmax(need[scale_rows], initial=0.0)) if scale_rows.any() else None
        norm = Normalize(vmin=0.0, vmax=max(top, 1.0)) if top is not None else None
        title = f"Behoefte aan {label} per wijk, {context}\n(aanbod onbekend: getoond is de behoefte)"
        bar_label = "Behoefte"
    else:
        values = np.where(has_supply, gap, np.nan)
        span = max(1.0, float(np.nanmax(np.abs(values[scale_rows]), initial=0.0)))
        cmap, norm = "RdBu_r", TwoSlopeNorm(vcenter=0.0, vmin=-span, vmax=span)
        title = f"Behoefte en tekort aan {label} per wijk, {context}\n(tekort = behoefte min aanbod; negatief = overschot)"
        bar_label = "Tekort"
    image = ax.imshow(np.ma.masked_invalid(values), aspect="auto", cmap=cmap, norm=norm, interpolation="nearest")
    if has_supply.any() and not has_supply.all():
        rows, cols = np.nonzero(~has_supply)  # one patch of all cells without supply: drawn at once
        ax.add_patch(_rectangles(cols - 0.5, rows - 0.5, 1, 1, facecolor="0.95", edgecolor="0.82", hatch="///",
                                 linewidth=0))
    if annotate:
        # small numbers (a few places per wijk) would all round to 0 or 1: show a decimal
        shown = np.abs(np.where(np.isfinite(values), values, need))
        decimals = 1 if np.nanmax(shown, initial=0.0) < 20 else 0
        for i in range(len(areas)):
            for j in range(len(years)):
                if has_supply.any() and not has_supply[i, j]:
                    ax.text(j, i, _nl(need[i, j], decimals), ha="center", va="center", fontsize=6, color="0.35",
                            style="italic", in_layout=False)
                    continue
                v = values[i, j]
                if not np.isfinite(v):
                    continue
                shade = float(np.clip(image.norm(v), 0, 1))
                dark = (shade > 0.8 or shade < 0.2) if isinstance(norm, TwoSlopeNorm) else shade > 0.6
                # inside its cell, so the layout need not measure it (half the layout time)
                ax.text(j, i, _nl(v, decimals), ha="center", va="center", fontsize=6,
                        color="white" if dark else "black", in_layout=False)
    ax.set_xticks(range(len(years)), [str(y) for y in years], fontsize=7, rotation=0 if len(years) <= 20 else 90)
    ax.set_yticks(range(len(areas)), [_name(result, a) + (" (gemeente)" if a == result.gemeente else "")
                                      for a in areas], fontsize=8)
    if areas[0] == result.gemeente and len(areas) > 1:
        ax.axhline(0.5, color="black", linewidth=1.2)  # the gemeente total above, its wijken below
    _set_title(ax, title, fontsize=10)
    bar = ax.figure.colorbar(image, ax=ax, shrink=0.9, pad=0.01)
    bar.set_label(f"{bar_label} (woningen of plaatsen)", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    if has_supply.any() and not has_supply.all():
        ax.legend(handles=[Patch(facecolor="0.95", edgecolor="0.82", hatch="///",
                                 label="aanbod onbekend; getal = behoefte")],
                  loc="upper center", bbox_to_anchor=(0.5, -0.07), fontsize=7, frameon=False)
    return ax


def plot_opgave(result, dwelling_type: str, *, years=None, ax=None):
    """Opgave of one dwelling type per wijk: bars for 2030, 2035 and 2040.

    The opgave is the calibrated one of ``result.opgave`` (growth of the need since the base year +
    base-year backlog - planned, :mod:`assen_demand.housing.opgave`); a negative bar is a surplus and is
    drawn, never clipped. Nursing places serve the whole gemeente: the chart then shows the
    gemeente only and says so.

    Parameters
    ----------
    result : Forecast
        With ``opgave`` (see :func:`assen_demand.housing.chain.stock_and_opgave`).
    dwelling_type : str
        One of :data:`assen_demand.housing.stock.STOCK_TYPES`.
    years : sequence of int, optional
        Default :data:`assen_demand.housing.opgave.HIGHLIGHT_YEARS` present in the result.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
        Horizontal bars [dwellings or places], wijken as rows.

    Raises
    ------
    DataFormatError
        An unknown type, or a result without an opgave.
    """

    if dwelling_type not in STOCK_TYPES:
        raise DataFormatError(f"no opgave for dwelling type {dwelling_type!r}; use one of {', '.join(STOCK_TYPES)}")
    if getattr(result, "opgave", None) is None:
        raise DataFormatError("this result has no opgave; run assen_demand.forecast() (it computes stock and opgave)")
    op = result.opgave["opgave"]
    if "draw" in op.dims:

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            op = op.median("draw")
    present = [int(y) for y in op["year"].values]
    years = [y for y in (years or HIGHLIGHT_YEARS) if y in present] or present[-1:]
    gemeente_only = dwelling_type in GEMEENTE_ONLY
    areas = [result.gemeente] if gemeente_only else \
        [str(a) for a in op["area"].values if str(a) != result.gemeente]
    ax = _new_axes(ax, (A4_WIDTH, 0.42 * len(areas) * max(1, len(years)) / 2 + 2.2))
    height = 0.8 / len(years)
    colors = ["#9ecae1", "#4292c6", "#08519c"]
    for k, year in enumerate(years):
        values = op.sel(area=areas, dwelling_type=dwelling_type, year=year).values
        pos = np.arange(len(areas)) + (k - (len(years) - 1) / 2) * height
        _barh(ax, pos, values, height, color=colors[k % len(colors)], label=str(year))
        for y, v in zip(pos, values):
            if np.isfinite(v):
                ax.text(v, y, f" {_nl(v)} ", va="center", ha="left" if v >= 0 else "right", fontsize=6)
    ax.axvline(0, color="0.3", linewidth=0.8)
    ax.set_yticks(range(len(areas)), [_name(result, a) for a in areas], fontsize=8)
    ax.invert_yaxis()
    ax.xaxis.set_major_formatter(_tick)
    ax.set_xlabel("Opgave (woningen of plaatsen); negatief = overschot", fontsize=8)
    where = f"{_name(result, result.gemeente)} (alleen gemeente: plekken dienen de hele stad)" if gemeente_only \
        else "per wijk"
    _set_title(ax, f"Opgave {_PLURAL[dwelling_type]} {where}\ngroei behoefte + tekort basisjaar - plannen; "
                   f"{run_label(result)}", fontsize=10)
    ax.legend(title="Jaar", fontsize=7, title_fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    add_source_note(ax.figure, SOURCE_NOTE + "; voorraad: CBS KWB 2024, geschat met landelijke kentallen")
    return ax


# --------------------------------------------------------------------------------------------
# uncertainty
# --------------------------------------------------------------------------------------------


def quantile_table(frame: pd.DataFrame, *, area: str, dwelling_type: str, value: str = "need",
                   model: str = "need") -> pd.DataFrame:
    """Quantiles of one area and dwelling type as a years x probabilities table.

    Parameters
    ----------
    frame : pandas.DataFrame
        ``Forecast.to_frame("dwellings")`` (or ``dwellings.csv``) with columns ``need_q05`` etc.
    area, dwelling_type, model : str
        Which rows.
    value : str
        Variable whose quantile columns are used.

    Returns
    -------
    pandas.DataFrame
        Index ``year``, one column per probability (float, ascending) [dwellings or places].

    Examples
    --------
    >>> f = pd.DataFrame({"area": "GM0106", "dwelling_type": "geclusterd", "model": "need",
    ...                   "year": [2024, 2025], "need_q05": [1.0, 2.0], "need_q95": [3.0, 5.0]})
    >>> quantile_table(f, area="GM0106", dwelling_type="geclusterd").columns.tolist()
    [0.05, 0.95]
    """
    columns = quantile_columns(frame, value)
    if not columns:
        raise DataFormatError(
            f"no quantile columns of {value!r} (such as {value}_q05) in the table; run the forecast with draws > 0"
        )
    rows = frame[(frame["area"] == area) & (frame["dwelling_type"] == dwelling_type)]
    if "model" in rows:
        rows = rows[rows["model"] == model]
    if rows.empty:
        raise UnknownAreaError(f"no rows for area {area!r} and dwelling type {dwelling_type!r} in the table")
    table = rows.set_index("year")[list(columns.values())].sort_index()
    table.columns = list(columns)
    return table.astype(float)


#: Under every fan chart of the forecast: why the band is already wide in the base year
FAN_NOTE = ("De band telt twee bronnen op: onzekerheid in de parameters (zorgprevalentie, woonvoorkeur), al\n"
            "aanwezig in het basisjaar, en onzekerheid in de bevolking (sterfte, geboorte, migratie), die met de jaren groeit.")


def plot_fan_chart(quantiles, *, years=None, probabilities=None, central=None, ax=None, title: str | None = None,
                   ylabel: str = "Woningen of plaatsen", color: str = _NEED, note: str | None = None):
    """Fan chart: nested bands between symmetric quantiles and the median.

    Parameters
    ----------
    quantiles : pandas.DataFrame or numpy.ndarray
        DataFrame: index year, one column per probability in (0, 1) (:func:`quantile_table`).
        Array: shape (year, probability) with ``years`` and ``probabilities`` given.
    years : sequence of int, optional [year]
        For an array.
    probabilities : sequence of float, optional
        For an array; ascending, in (0, 1).
    central : pandas.Series or sequence, optional
        The central (deterministic) run, drawn as a dashed line.
    ax : matplotlib.axes.Axes, optional
    title, ylabel : str
    color : str
    note : str, optional
        A line under the axes, e.g. :data:`FAN_NOTE` (what makes the band wide).

    Returns
    -------
    matplotlib.axes.Axes
    """
    if isinstance(quantiles, pd.DataFrame):
        years = np.asarray(quantiles.index, dtype=float)
        probabilities = np.asarray([float(c) for c in quantiles.columns])
        values = quantiles.to_numpy(dtype=float)
    else:
        values = np.asarray(quantiles, dtype=float)
        if years is None or probabilities is None:
            raise DataFormatError("a quantile array needs years= and probabilities= (one per row and per column)")
        years = np.asarray(years, dtype=float)
        probabilities = np.asarray(probabilities, dtype=float)
    if values.ndim != 2 or values.shape != (len(years), len(probabilities)):
        raise DataFormatError(
            f"quantiles must be a (year, probability) table of shape ({len(years)}, {len(probabilities)}), "
            f"got {values.shape}"
        )
    if ((probabilities <= 0) | (probabilities >= 1)).any() or np.any(np.diff(probabilities) <= 0):
        raise DataFormatError(f"probabilities {probabilities.tolist()} must be ascending and inside (0, 1)")
    ax = _new_axes(ax, (6.5, 4))
    k = len(probabilities)
    pairs = [(i, k - 1 - i) for i in range(k // 2)]
    for n, (lo, hi) in enumerate(pairs):
        share = round(100 * (probabilities[hi] - probabilities[lo]))
        ax.fill_between(years, values[:, lo], values[:, hi], color=color, alpha=0.2 + 0.2 * n / max(1, len(pairs)),
                        linewidth=0, label=f"{share}%-interval")
    median = np.isclose(probabilities, 0.5)
    if median.any():
        ax.plot(years, values[:, np.argmax(median)], color=color, linewidth=2, label="Mediaan")
    if central is not None:
        ax.plot(years, np.asarray(central, dtype=float), color="black", linestyle="--", linewidth=1,
                label="Centrale berekening")
    ax.set_ylabel(ylabel, fontsize=9)
    ax.yaxis.set_major_formatter(_tick)
    ax.tick_params(labelsize=8)
    ax.grid(color="0.92")
    ax.legend(fontsize=8, frameon=False, loc="upper left")
    if title:
        _set_title(ax, title, fontsize=10)
    if note:
        ax.annotate(note, xy=(0, 0), xycoords="axes fraction", xytext=(0, -22), textcoords="offset points",
                    ha="left", va="top", fontsize=7, color="0.3")
    return ax


# --------------------------------------------------------------------------------------------
# the set written by the CLI
# --------------------------------------------------------------------------------------------


def _save(fig, path: Path, dpi: int, note: str = SOURCE_NOTE) -> Path:
    add_source_note(fig, note)
    return save_png(fig, path, dpi)


#: Kinds of figure written by :func:`save_figures`.
FIGURE_KINDS = ("pyramids", "older", "need_supply", "heatmaps", "fans", "facilities", "opgave")


def save_figures(result, folder, *, dpi: int = _DPI, kinds=FIGURE_KINDS, processes: int | None = None,
                 previous=None, reuse: bool = True) -> list[Path]:
    """Write every figure of a forecast as PNG into ``folder``.

    The figures are independent, so they are rendered in worker processes (matplotlib's Agg
    canvas, no pyplot state): the forecast goes to each worker once and every worker draws
    whole figures, with the parent's rcParams. The files and their order do not depend on
    ``processes``; a PNG may differ in bytes from a serial run, never in what it shows.
    :func:`start_figures` does the same without waiting, so that the caller can write the
    tables meanwhile.

    Parameters
    ----------
    result : Forecast
    folder : path
        Created if needed.
    dpi : int [dots per inch]
    kinds : sequence of str
        Which figures (default all of :data:`FIGURE_KINDS`); fan charts are written only when
        the dwellings table has quantile columns.
    processes : int, optional
        Worker processes; ``1`` renders in this process. Default: the number of CPUs, at most
        one per figure and at most 4 (rendering is CPU-bound; the workers are started with
        ``fork`` on Linux: no import, no copy of the forecast, and a script needs no
        ``if __name__ == "__main__"`` guard; ``spawn`` elsewhere, where it does).
    previous : path, optional
        The figures folder of an earlier run (default ``folder`` itself). A figure whose
        fingerprint there equals its fingerprint now, and whose file there is unchanged, is
        copied instead of drawn (:mod:`assen_demand.outputs.figure_reuse`: the fingerprint
        covers the fields of the forecast the figure read, the package's code and the style).
        ``folder`` gets ``fingerprints.json`` for the next run.
    reuse : bool
        False: draw every figure (``fingerprints.json`` is still written).

    Returns
    -------
    list of pathlib.Path
        ``bevolkingsopbouw_<code>_<naam>.png`` for the gemeente and each wijk,
        ``ouderen_per_wijk.png``, ``behoefte_en_aanbod_<gemeente>.png``,
        per dwelling type ``behoefte_en_tekort_per_wijk_<woningtype>.png`` (some supply known)
        or ``behoefte_per_wijk_<woningtype>.png`` (none known: the map shows need only),
        when the dwellings table has quantile columns ``waaier_<woningtype>.png``, with the
        facilities step ``voorzieningen_druk_en_afstand.png`` and ``opgave_<woningtype>.png``
        per stock type (:func:`plot_opgave`). For a scenario other than basis the names of the
        figures of this module end in ``_<scenario>``.
    """
    with start_figures(result, folder, dpi=dpi, kinds=kinds, processes=processes, previous=previous,
                       reuse=reuse) as pending:
        return pending.wait()


def start_figures(result, folder, *, dpi: int = _DPI, kinds=FIGURE_KINDS, processes: int | None = None,
                  previous=None, reuse: bool = True) -> "PendingFigures":
    """Start rendering the figures of :func:`save_figures` in worker processes and return at once.

    The products of a run are the tables, the workbook and the figures; the figures take most
    of the time and need no table, so the command line writes the tables while the workers
    draw (issue 20: writing no longer than computing). Use it as a context manager, so that the
    workers stop when the caller fails::

        with start_figures(result, folder) as pending:
            ...  # write the tables
            paths = pending.wait()

    Parameters are those of :func:`save_figures`. With ``processes=1`` (or a single figure)
    nothing starts here: :meth:`PendingFigures.wait` draws them in this process.

    Returns
    -------
    PendingFigures
    """
    unknown = sorted(set(kinds) - set(FIGURE_KINDS))
    if unknown:
        raise DataFormatError(f"unknown figure kind(s) {unknown}; choose from {', '.join(FIGURE_KINDS)}")
    if processes is not None and (isinstance(processes, bool) or not isinstance(processes, (int, np.integer))
                                  or processes < 1):
        raise DataFormatError(f"processes must be a whole number >= 1 (got {processes!r})")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    jobs = _figure_jobs(result, folder, kinds)
    if processes is None:
        processes = min(os.cpu_count() or 1, len(jobs), 4)
    return PendingFigures(result, jobs, dpi, processes, folder=folder,
                          previous=(folder if previous is None else Path(previous)) if reuse else None)


class PendingFigures:
    """Figures of :func:`start_figures` being drawn; :meth:`wait` returns their paths."""

    def __init__(self, result, jobs: list[tuple], dpi: int, processes: int, *, folder: Path | None = None,
                 previous: Path | None = None):
        self._result, self._jobs, self._dpi, self._folder = result, jobs, dpi, folder
        self._pool, self._futures = None, None
        self._style = _current_style()
        # issue 20: a figure an earlier run drew from the same content is copied, not drawn
        self._done: dict[int, tuple[list[Path], dict | None]] = {}
        if previous is not None and folder is not None:
            earlier, digests = figure_reuse.read_fingerprints(previous), {}
            for i, job in enumerate(jobs):
                entry = earlier.get(_job_key(job))
                if not isinstance(entry, dict) or not isinstance(entry.get("fields"), list):
                    continue
                fingerprint = figure_reuse.job_fingerprint(result, entry["fields"], _as_file(job), dpi, self._style,
                                                           digests)
                paths = figure_reuse.reuse_figure(entry, fingerprint, Path(previous), folder)
                if paths is not None:
                    self._done[i] = (paths, entry)
        #: figures copied from ``previous`` instead of drawn
        self.reused = len(self._done)
        todo = [i for i in range(len(jobs)) if i not in self._done]
        if processes <= 1 or len(todo) <= 1:
            return  # drawn in this process by wait()
        # what every figure needs, imported once here: forked workers inherit it instead of
        # each importing it again (about 0.8 s of CPU per worker), and the code's digest for the
        # fingerprints (0.08 s: read here while the workers would be drawing)
        import matplotlib.backends.backend_agg  # noqa: F401
        import matplotlib.figure  # noqa: F401

        figure_reuse.code_digest()

        # workers that die with this process: a run killed while they draw leaves none behind
        self._pool = process_pool(min(processes, len(todo)), initializer=_start_worker,
                                  initargs=(result, self._style), method=_START_METHOD)
        # one figure a task; the slowest kinds are queued first so that no long one is left at the end
        order = sorted(todo, key=lambda i: -_COST.get(jobs[i][0], 1.0))
        self._futures = {i: self._pool.submit(_render_in_worker, jobs[i], dpi) for i in order}

    def wait(self) -> list[Path]:
        """The written PNG files, in the order of :func:`save_figures` (drawn here if no workers run),
        with ``fingerprints.json`` written beside them."""
        done = dict(self._done)
        try:
            digests: dict = {}
            for i, job in enumerate(self._jobs):
                if i in done:
                    continue
                if self._futures is None:
                    done[i] = _render(self._result, job, self._dpi, self._style, digests)
                else:
                    done[i] = self._futures[i].result()
        finally:
            self.close()
        if self._folder is not None:
            figure_reuse.write_fingerprints(self._folder, {_job_key(self._jobs[i]): entry
                                                           for i, (_, entry) in done.items() if entry is not None})
        return [path for i in range(len(self._jobs)) for path in done[i][0]]

    @property
    def running(self) -> bool:
        """Whether worker processes are still up (False after :meth:`wait` or :meth:`close`)."""
        return self._pool is not None

    def close(self) -> None:
        """Stop the workers; figures not yet drawn are not drawn."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> "PendingFigures":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# relative rendering cost of one figure of each kind (CPU seconds, Assen, 11 areas): queue order
_COST = {"older": 2.3, "heatmaps": 1.5, "need_supply": 1.2, "pyramids": 0.6, "fans": 0.6, "facilities": 0.6,
         "opgave": 0.5}
_WORKER_RESULT = None
_WORKER_STYLE: dict = {}
_WORKER_DIGESTS: dict = {}
# fork is safe here: the pool is started from the calling thread before it renders anything,
# and a worker only draws; everything a worker gets is picklable, so spawn works too (tested)
_START_METHOD = "fork" if sys.platform == "linux" else "spawn"


def _start_worker(result, style: dict) -> None:
    import matplotlib  # import here: matplotlib (1.7 s) only to draw

    global _WORKER_STYLE
    _WORKER_STYLE = style
    _WORKER_DIGESTS.clear()

    # Every figure is a reference cycle that only the collector frees; frozen, the forecast and
    # the modules this worker inherited (never garbage) are not walked by each collection, and
    # their memory pages stay shared with the parent (the gc.freeze advice of the Python docs).
    gc.freeze()
    global _WORKER_RESULT
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecated rcParams are copied as they are
        matplotlib.rcParams.update(style)
    _WORKER_RESULT = result


def _render_in_worker(job: tuple, dpi: int) -> tuple[list[Path], dict | None]:
    return _render(_WORKER_RESULT, job, dpi, _WORKER_STYLE, _WORKER_DIGESTS)


def _current_style() -> dict:
    """This process's ``rcParams`` but the backend: what workers draw with, and part of a fingerprint."""
    import matplotlib  # import here: matplotlib (1.7 s) only to draw

    return {k: v for k, v in matplotlib.rcParams.items() if k != "backend"}


def _job_key(job: tuple) -> str:
    """The key of a figure job in ``fingerprints.json``: its kind and file name."""
    return f"{job[0]}/{_as_file(job)[2].name}"


def _as_file(job: tuple) -> tuple:
    """The job with the file it writes (the facilities job names its folder)."""
    kind, argument, path = job
    return (kind, argument, Path(path) / FACILITY_FIGURE) if kind == "facilities" else job


def _figure_jobs(result, folder: Path, kinds) -> list[tuple]:
    """The figures to draw: ``(kind, argument, path)``, in the order of the returned list."""

    jobs: list[tuple] = []
    suffix = scenario_suffix(result)
    for area in [str(a) for a in result.population["area"].values] if "pyramids" in kinds else []:
        jobs.append(("pyramids", area, folder / f"bevolkingsopbouw_{area}_{slug(_name(result, area))}{suffix}.png"))
    if "older" in kinds:
        jobs.append(("older", None, folder / f"ouderen_per_wijk{suffix}.png"))
    if "need_supply" in kinds:
        jobs.append(("need_supply", None, folder / f"behoefte_en_aanbod_{result.gemeente}{suffix}.png"))
    for dtype in DWELLING_LABELS if "heatmaps" in kinds else []:
        # the name says what the map shows: a gap only where some supply is known
        shows = "behoefte_en_tekort" if np.isfinite(result.dwellings["gap"].sel(dwelling_type=dtype, model="need")).any() \
            else "behoefte"
        jobs.append(("heatmaps", dtype, folder / f"{shows}_per_wijk_{dtype}{suffix}.png"))
    if "opgave" in kinds and getattr(result, "opgave", None) is not None:

        for dtype in STOCK_TYPES:
            jobs.append(("opgave", dtype, folder / f"opgave_{dtype}{suffix}.png"))
    frame = result.to_frame("dwellings") if "fans" in kinds else None
    if frame is not None and quantile_columns(frame):
        for dtype in DWELLING_LABELS:
            table = quantile_table(frame, area=result.gemeente, dwelling_type=dtype)
            jobs.append(("fans", (dtype, table), folder / f"waaier_{dtype}{suffix}.png"))
    if "facilities" in kinds:  # issue 15: voorzieningen_druk_en_afstand.png, its own source line
        jobs.append(("facilities", None, folder))
    return jobs


def _render(result, job: tuple, dpi: int, style: dict | None = None,
            digests: dict | None = None) -> tuple[list[Path], dict | None]:
    """Draw and save one figure of :func:`_figure_jobs`; Figure() without pyplot, so nothing
    is registered globally and nothing needs closing (:func:`_one_collection`).

    Returns the files written and their ``fingerprints.json`` entry (None: cannot be
    fingerprinted). ``style``: the rcParams drawn with (default the current ones); ``digests``
    holds the content digests of fields, shared by the figures of one process.
    """
    with _one_collection():
        try:
            watched = figure_reuse.recording(result)
        except figure_reuse.NotFingerprintable:
            return _draw_job(result, job, dpi), None
        paths = _draw_job(watched, job, dpi)
        if style is None:
            style = _current_style()
        fields = figure_reuse.fields_read(watched)
        fingerprint = figure_reuse.job_fingerprint(result, fields, _as_file(job), dpi, style, digests)
        if fingerprint is None:
            return paths, None
        return paths, {"fields": fields, "fingerprint": fingerprint,
                       "files": {p.name: runfolder.file_sha256(p) for p in paths}}


@contextlib.contextmanager
def _one_collection():
    """The garbage collector off while a figure is drawn, then one collection of the young objects.

    A figure is some 10^5 objects in reference cycles: drawing one set off the collector about
    15 times, each walking all young objects, about 7 % of the time of the figures (issue 20).
    Off while drawing, one collection afterwards frees the figure just drawn (all of it young:
    no collection promoted any of it). Nothing changes when the collector was already off.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect(1)


def _draw_job(result, job: tuple, dpi: int) -> list[Path]:
    from matplotlib.figure import Figure  # import here: matplotlib (1.7 s) only to draw

    kind, arg, path = job
    if kind == "pyramids":
        fig = Figure(figsize=(6.5, 6), layout="constrained")
        plot_pyramid(result, arg, ax=fig.add_subplot())
    elif kind == "older":
        fig = plot_older_population(result, fig=Figure(layout="constrained"))
    elif kind == "need_supply":
        fig = plot_need_supply_panels(result, fig=Figure(layout="constrained"))
    elif kind == "heatmaps":
        n_areas = result.population.sizes["area"]
        fig = Figure(figsize=(A4_WIDTH, 0.32 * n_areas + 2.0), layout="constrained")
        plot_gap_heatmap(result, arg, ax=fig.add_subplot())
    elif kind == "opgave":
        fig = Figure(figsize=(A4_WIDTH, 6), layout="constrained")
        plot_opgave(result, arg, ax=fig.add_subplot())
    elif kind == "fans":
        dtype, table = arg
        central = result.dwellings["need"].sel(area=result.gemeente, dwelling_type=dtype, model="need")
        fig = Figure(figsize=(6.5, 4.4), layout="constrained")
        plot_fan_chart(table, central=central.sel(year=table.index.values).values, ax=fig.add_subplot(),
                       title=f"{DWELLING_LABELS[dtype]}: behoefte {_name(result, result.gemeente)} met "
                             f"onzekerheid\n{run_label(result)}", note=FAN_NOTE)
    else:  # facilities

        return save_facility_figure(result, path, dpi=dpi)
    return [_save(fig, path, dpi)]
