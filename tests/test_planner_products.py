"""What a planner reads (issue 19): Dutch sheet names and chart titles, filters and number formats in
the workbook, the scenario and base year on every product, one status vocabulary, CLI wording."""

from __future__ import annotations

import functools
import re

import numpy as np
import openpyxl
import pytest
from matplotlib.figure import Figure

import assen_demand
from assen_demand.outputs import export, monitoring, plots
from products_helpers import assen_forecast, scratch

#: English words that must not appear in planner-facing titles (none of them is also Dutch)
ENGLISH = {"the", "and", "need", "supply", "gap", "population", "household", "households", "dwelling",
           "dwellings", "persons", "year", "years", "total", "unknown", "known", "assumed", "with", "from",
           "uncertainty", "median", "older", "share", "care", "shortage", "wijk's"}


def _english(text: str) -> set[str]:
    return {w for w in re.findall(r"[A-Za-z']+", text.lower())} & ENGLISH


@functools.cache
def scenario_forecast():
    return assen_demand.forecast(scenario="extramuralisering")


@functools.cache
def written(name: str):
    result = assen_forecast() if name == "basis" else scenario_forecast()
    files = export.write_forecast(result, scratch(f"planner_{name}"))
    return files, openpyxl.load_workbook(files[export.WORKBOOK])


def _chart_texts(result) -> list[str]:
    """Titles, axis labels, legend and notes of every chart the CLI writes."""
    figures = []
    fig = Figure()
    plots.plot_pyramid(result, result.gemeente, ax=fig.add_subplot())
    figures.append(fig)
    figures.append(plots.plot_older_population(result, fig=Figure()))
    figures.append(plots.plot_need_supply_panels(result, fig=Figure()))
    for dtype in export.DWELLING_LABELS:
        fig = Figure()
        plots.plot_gap_heatmap(result, dtype, ax=fig.add_subplot())
        figures.append(fig)
    texts = []
    for fig in figures:
        if fig._suptitle is not None:
            texts.append(fig._suptitle.get_text())
        for ax in fig.axes:
            texts += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
            legend = ax.get_legend()
            if legend is not None:
                texts += [t.get_text() for t in legend.get_texts()]
    return [t for t in texts if t]


@pytest.mark.slow  # a forecast and its workbook or charts
def test_default_run_sheet_names_and_chart_titles_are_dutch():
    _, book = written("basis")
    for name in book.sheetnames:
        assert not _english(name), name
        assert not _english(" ".join(str(c.value) for c in book[name][1] if c.value is not None)), name
    texts = _chart_texts(assen_forecast())
    assert len(texts) > 20
    english = {t: _english(t) for t in texts if _english(t)}
    assert not english, english


def test_word_list_catches_english():
    assert _english("Need and supply per wijk") == {"need", "and", "supply"}


@pytest.mark.slow  # a forecast and its workbook or charts
def test_every_table_sheet_has_an_autofilter_and_a_frozen_header():
    _, book = written("basis")
    for ws in book.worksheets:
        assert ws.auto_filter.ref == f"A1:{openpyxl.utils.get_column_letter(ws.max_column)}{ws.max_row}", ws.title
        assert ws.freeze_panes is not None and ws.freeze_panes.endswith("2"), ws.title


@pytest.mark.slow  # a forecast and its workbook or charts
def test_number_formats_follow_the_row():
    _, book = written("basis")
    ws = book["Huishoudens"]
    header = [c.value for c in ws[1]]
    year = header.index(2030) + 1
    formats = {ws.cell(r, 3).value: ws.cell(r, year).number_format for r in range(2, ws.max_row + 1)}
    assert formats["Gemiddelde huishoudensgrootte"] == "0.00"  # 2.11, not 2
    assert formats["Huishoudens"] == "#,##0"
    ouderen = book["Ouderen"]
    formats = {ouderen.cell(r, 3).value: ouderen.cell(r, year).number_format for r in range(2, ouderen.max_row + 1)}
    assert formats["Aandeel 85+ (%)"] == "#,##0.0" and formats["85+"] == "#,##0"
    mantelzorg = book["Mantelzorg"]
    assert {mantelzorg.cell(r, year).number_format for r in range(2, mantelzorg.max_row + 1)} == {"0.00"}


@pytest.mark.slow  # a forecast and its workbook or charts
def test_scenario_and_base_year_on_every_sheet_and_in_the_file_name():
    files, book = written("extramuralisering")
    assert files[export.WORKBOOK].name == "forecast_extramuralisering.xlsx"
    assert written("basis")[0][export.WORKBOOK].name == "forecast.xlsx"
    for ws in book.worksheets:
        assert "scenario extramuralisering, basisjaar 2024" in ws.oddHeader.center.text, ws.title
    assert book.properties.title == "Assen (GM0106), scenario extramuralisering, basisjaar 2024"


@pytest.mark.slow  # a forecast and its workbook or charts
def test_chart_titles_name_the_scenario():
    result = scenario_forecast()
    titles = [t for t in _chart_texts(result) if "20" in t and len(t) > 25]
    assert titles and all("scenario extramuralisering, basisjaar 2024" in t for t in titles), titles


@pytest.mark.slow  # a forecast and its workbook or charts
def test_one_status_vocabulary_in_the_sources_sheet():
    _, book = written("extramuralisering")
    rows = list(book[export.SOURCES_SHEET].iter_rows(values_only=True))
    col = rows[0].index("Status")
    statuses = {r[col] for r in rows[1:] if r[0] != "Run"}
    assert statuses == {"bekend", "aanname"} or statuses <= {"bekend", "geschat", "aanname"}
    assert "aangenomen" not in statuses and None not in statuses


@pytest.mark.slow  # a forecast and its workbook or charts
def test_heatmap_has_a_gemeente_row_on_top_scaled_by_the_wijken():
    fig = Figure()
    ax = plots.plot_gap_heatmap(assen_forecast(), "verpleegzorgplek", ax=fig.add_subplot())
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[0] == "Assen (gemeente)" and len(labels) == 11
    image = ax.images[0]
    wijk_max = float(np.nanmax(np.abs(image.get_array()[1:])))
    assert image.norm.vmax == pytest.approx(wijk_max)  # the gemeente total (~600) does not set the scale


def test_fan_chart_note_separates_the_two_sources():
    fig = Figure()
    table = np.array([[1.0, 2.0, 3.0], [1.5, 2.5, 3.5]])
    ax = plots.plot_fan_chart(table, years=[2024, 2025], probabilities=[0.05, 0.5, 0.95], ax=fig.add_subplot(),
                              note=plots.FAN_NOTE)
    notes = [t.get_text() for t in ax.texts]
    assert any("parameters" in t and "bevolking" in t and "basisjaar" in t for t in notes)


@pytest.mark.slow  # a forecast and its workbook or charts
def test_report_summary_lists_the_largest_change_first():
    a, b = scratch("report_basis"), scratch("report_extra")
    export.write_forecast(assen_forecast(), a, provenance_record=export.provenance(assen_forecast(), command="a"))
    export.write_forecast(scenario_forecast(), b, provenance_record=export.provenance(
        scenario_forecast(), scenario="extramuralisering", command="b"))
    summary = monitoring.compare_runs(export.read_run(a), export.read_run(b)).summary().splitlines()
    largest = summary[2]
    assert largest.startswith("Grootste wijzigingen Assen 2040: Behoefte")
    # extramuralisering moves nursing places by about -30 % and the population not at all
    assert "verpleegzorgplek" in largest and "Inwoners" not in largest
    sizes = [float(m.replace(".", "").replace(",", ".")) for m in re.findall(r"\(([+-][\d.,]+)%", largest)]
    assert sizes == sorted(sizes, key=abs, reverse=True) and abs(sizes[0]) > 20


def test_unknown_gemeente_lists_all_twelve_bundled_gemeenten_and_the_cli_names_the_flag(capsys):
    from assen_demand.cli import main

    with pytest.raises(assen_demand.UnknownAreaError) as info:
        assen_demand.load_gemeente("Atlantis")
    message = str(info.value)
    assert "12 gemeenten" in message and "..." not in message and "data_dir=" in message
    for name in ("Aa en Hunze", "Assen", "Borger-Odoorn", "Coevorden", "De Wolden", "Emmen", "Hoogeveen",
                 "Meppel", "Midden-Drenthe", "Noordenveld", "Tynaarlo", "Westerveld"):
        assert f"({name})" in message, name
    assert main(["forecast", "--gemeente", "Atlantis", "--out", str(scratch("atlantis"))]) == 2
    line = capsys.readouterr().err.strip()
    assert "--data-dir" in line and "data_dir=" not in line and line.startswith("assen-demand forecast: fout:")


def test_cli_help_is_dutch(capsys):
    from assen_demand.cli import main

    with pytest.raises(SystemExit):
        main(["forecast", "--help"])
    text = capsys.readouterr().out
    assert "uitvoermap" in text and "basisjaar" in text and text.startswith("gebruik:")
    # the supply file's own column names (area, year, ...) are data, not prose
    prose = re.sub(r"\(kolommen [^)]*\)", "", " ".join(text.split()))
    prose = re.sub(r"--[\w-]+|\{[^}]*\}", "", prose)  # flags and choices are code
    assert not _english(prose), _english(prose)
