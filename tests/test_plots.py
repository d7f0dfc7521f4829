"""plots.py on the Agg backend (tests/conftest.py): every figure function, synthetic fan charts, bad input."""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.patches import PathPatch
from products_helpers import WithQuantiles, assen_forecast, assen_forecast_example_supply, cli_forecast_run

from assen_demand.outputs import export, plots
from assen_demand.errors import DataFormatError, UnknownAreaError


@pytest.fixture(scope="module")
def result():
    return assen_forecast()


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _texts(ax) -> str:
    return " ".join(t.get_text() for t in ax.texts) + " " + ax.get_title()


def test_backend_is_agg():
    assert matplotlib.get_backend().lower() == "agg"


def test_pyramid_of_a_wijk_uses_its_name_and_both_years(result):
    ax = plots.plot_pyramid(result, "WK010601")
    assert isinstance(ax, Axes)
    assert "Lariks" in ax.get_title() and "2024" in ax.get_title() and "2040" in ax.get_title()
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[0] == "0-4" and labels[-1] == "95+"
    # the bars hold the base year: men to the left add up to the wijk's men in 2024 (one patch per sex,
    # a closed rectangle of five corners per age group)
    widths = np.concatenate([np.diff(p.get_path().vertices.reshape(-1, 5, 2)[:, :2, 0], axis=1).ravel()
                             for p in ax.patches if type(p) is PathPatch])  # not the outline (StepPatch)
    assert len(widths) == 2 * len(labels)
    men = -widths[widths < 0].sum()
    expected = float(result.population.sel(area="WK010601", sex="male", year=2024).sum())
    assert men == pytest.approx(expected)
    assert any("prognose" in t.get_text() for t in ax.get_legend().get_texts())


def test_pyramid_draws_into_a_given_axes_and_rejects_bad_input(result):
    fig, ax = plt.subplots()
    assert plots.plot_pyramid(result, ax=ax, years=(2024, 2030), age_width=1) is ax
    with pytest.raises(UnknownAreaError, match=r"WK999999.*WK010601 \(Lariks\)"):
        plots.plot_pyramid(result, "WK999999")
    with pytest.raises(DataFormatError, match=r"year 2050 is not in the result \(2024-2040\)"):
        plots.plot_pyramid(result, years=(2024, 2050))


def test_older_population_has_a_panel_per_area_with_three_lines(result):
    fig = plots.plot_older_population(result)
    assert isinstance(fig, Figure)
    titled = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in titled][:3] == ["Assen (gemeente)", "Centrum", "Lariks"]
    assert len(titled) == 11
    assert all(len(ax.lines) == 3 for ax in titled)
    oldest = titled[0].lines[2].get_ydata()
    assert oldest[0] == pytest.approx(float(result.population.sel(area="GM0106", year=2024, age=slice(85, None)).sum()))


@pytest.mark.slow  # a second Assen forecast (supply=example): ~7 s CPU
def test_need_supply_shows_need_and_says_when_supply_is_unknown(result):
    ax = plots.plot_need_supply(result, "nultredenwoning", area="WK010604")
    assert "aanbod onbekend" in _texts(ax)
    ax = plots.plot_need_supply(assen_forecast_example_supply(), "verpleegzorgplek", area="WK010601")
    labels = [line.get_label() for line in ax.lines]
    # the bundled supply is an example (every row aanname): open markers only
    assert "Behoefte" in labels and "Aanbod" in labels and "Aanbod (aanname)" in labels
    assert "Aanbod bekend" not in labels
    fig = plots.plot_need_supply_panels(result)
    assert isinstance(fig, Figure) and "Assen" in fig.get_suptitle()
    with pytest.raises(DataFormatError, match=r"unknown dwelling type 'hut'; use one of nultredenwoning"):
        plots.plot_need_supply(result, "hut")


def test_heatmap_shows_need_where_no_supply_is_known_and_says_so(result):
    ax = plots.plot_gap_heatmap(result, "nultredenwoning")
    assert "aanbod onbekend" in ax.get_title() and "Behoefte" in ax.get_title()
    # the gemeente row on top, then the wijken (issue 19)
    assert [t.get_text() for t in ax.get_yticklabels()][:2] == ["Assen (gemeente)", "Centrum"]
    image = ax.get_images()[0].get_array()
    assert image.shape == (11, 17)
    need = result.dwellings["need"].sel(model="need", dwelling_type="nultredenwoning")
    np.testing.assert_allclose(np.asarray(image), need.values)


@pytest.mark.slow  # uses the second Assen forecast (supply=example)
def test_heatmap_shows_the_gap_where_supply_is_known_and_hatches_the_rest(result):
    ax = plots.plot_gap_heatmap(assen_forecast_example_supply(), "verpleegzorgplek")
    assert ax.get_title().startswith("Behoefte en tekort") and "scenario basis" in ax.get_title()
    image = ax.get_images()[0].get_array()
    assert image.mask[:3].sum() == 0 and image.mask[3:].all()  # the gemeente, Centrum and Lariks have supply
    assert any(p.get_hatch() for p in ax.patches)
    assert "aanbod onbekend" in ax.get_legend().get_texts()[0].get_text()


def test_fan_chart_from_a_synthetic_quantile_table():
    years = np.arange(2024, 2041)
    base = np.linspace(100, 180, len(years))
    table = pd.DataFrame({p: base * f for p, f in ((0.05, 0.8), (0.25, 0.9), (0.5, 1.0), (0.75, 1.1), (0.95, 1.2))},
                         index=years)
    ax = plots.plot_fan_chart(table, central=base, title="Geclusterd")
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 2
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["90%-interval", "50%-interval", "Mediaan",
                                                                  "Centrale berekening"]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), base)


def test_fan_chart_from_an_array_and_its_errors():
    values = np.array([[1.0, 2.0, 3.0], [2.0, 3.0, 4.0]])
    ax = plots.plot_fan_chart(values, years=[2024, 2025], probabilities=[0.1, 0.5, 0.9])
    assert len(ax.lines) == 1
    with pytest.raises(DataFormatError, match="needs years= and probabilities="):
        plots.plot_fan_chart(values)
    with pytest.raises(DataFormatError, match=r"must be ascending and inside \(0, 1\)"):
        plots.plot_fan_chart(values, years=[2024, 2025], probabilities=[0.1, 0.5, 1.0])
    with pytest.raises(DataFormatError, match=r"shape \(2, 2\), got \(2, 3\)"):
        plots.plot_fan_chart(values, years=[2024, 2025], probabilities=[0.1, 0.9])


def test_quantile_table_reads_the_dwellings_columns(result):
    frame = WithQuantiles(result).to_frame("dwellings")
    table = plots.quantile_table(frame, area="GM0106", dwelling_type="geclusterd")
    assert list(table.columns) == [0.05, 0.5, 0.95] and list(table.index) == list(range(2024, 2041))
    with pytest.raises(DataFormatError, match="run the forecast with draws > 0"):
        plots.quantile_table(result.to_frame("dwellings"), area="GM0106", dwelling_type="geclusterd")


@pytest.mark.slow  # draws every fan chart: ~2 s CPU
def test_save_figures_adds_fan_charts_when_there_are_quantiles(result, tmp_path):
    # only the fan charts are new here; the rest is checked on the CLI run
    written = plots.save_figures(WithQuantiles(result), tmp_path, dpi=40, kinds=["fans"])
    assert sorted(p.name for p in written) == sorted(f"waaier_{t}.png" for t in export.DWELLING_LABELS)
    assert plots.save_figures(result, tmp_path / "none", kinds=["fans"]) == []
    with pytest.raises(DataFormatError, match=r"unknown figure kind\(s\) \['maps'\]; choose from pyramids"):
        plots.save_figures(result, tmp_path, kinds=["maps"])


@pytest.mark.slow
def test_cli_run_wrote_every_figure():
    out, status, _ = cli_forecast_run()
    names = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert status == 0
    assert len([n for n in names if n.startswith("bevolkingsopbouw_")]) == 11
    assert "bevolkingsopbouw_WK010601_lariks.png" in names
    assert {"ouderen_per_wijk.png", "behoefte_en_aanbod_GM0106.png"} <= set(names)
    # the name says what the map shows: the default run has no supply (--supply none), so need only
    assert {n for n in names if "_per_wijk_" in n and n != "ouderen_per_wijk.png"} == {
        "behoefte_per_wijk_zorggeschikt.png", "behoefte_per_wijk_verpleegzorgplek.png",
        "behoefte_per_wijk_nultredenwoning.png", "behoefte_per_wijk_geclusterd.png",
        "behoefte_per_wijk_begeleid_wonen.png"}
    assert {n for n in names if n.startswith("opgave_")} == {
        "opgave_nultredenwoning.png", "opgave_zorggeschikt.png", "opgave_geclusterd.png", "opgave_verpleegzorgplek.png"}
    assert not any(n.startswith("tekort_") for n in names)
    assert not any(n.startswith("waaier_") for n in names)
    from PIL import Image

    with Image.open(out / "figures" / "ouderen_per_wijk.png") as image:
        width, _ = image.size
        dpi = image.info.get("dpi", (150, 150))[0]
    assert round(dpi) == 150 and width / dpi <= plots.A4_WIDTH + 0.01


@pytest.mark.slow
def test_heatmap_file_names_say_gap_where_supply_is_known(tmp_path):
    # the bundled example lists zorggeschikt and verpleegzorgplek supply only (data/supply example)
    names = {p.name for p in plots.save_figures(assen_forecast_example_supply(), tmp_path, kinds=["heatmaps"])}
    assert names == {
        "behoefte_en_tekort_per_wijk_zorggeschikt.png", "behoefte_en_tekort_per_wijk_verpleegzorgplek.png",
        "behoefte_per_wijk_nultredenwoning.png", "behoefte_per_wijk_geclusterd.png",
        "behoefte_per_wijk_begeleid_wonen.png"}
