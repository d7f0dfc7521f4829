"""Issue 20 (speed where users wait): the faster paths give the same results as the slow ones.

Nothing here times anything (performance is measured by benchmarks/run.py); each test checks
that a speed-up changes no result: figures rendered in worker processes are the serial
figures pixel for pixel, the xlsxwriter workbook keeps what the openpyxl one had, the
vectorised overlap check agrees with the age-by-age walk, and the float32, block-wise
quantiles of the Monte Carlo draws agree with float64 quantiles of all draws in memory.
"""

from __future__ import annotations

import os
import pickle
import sys

import numpy as np
import openpyxl
import pandas as pd
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from process_helpers import left_by_a_killed_script
from products_helpers import assen_forecast

from assen_demand import parameters, uncertainty
from assen_demand.outputs import export, plots


@pytest.fixture(scope="module")
def result():
    return assen_forecast()


def _pixels(path):
    return np.asarray(Image.open(path))


# --------------------------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------------------------


# slow (issue 17): 20 figures drawn serially and in two worker processes per start method; measured in the
# fast subset at 46 s (fork) and 61 s (spawn) wall, most of its 204 s of CPU, at load 3.4 on the 2 cores.
# A CLI-with-figures kind of test: the full run keeps both.
@pytest.mark.slow
@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_figures_from_worker_processes_are_the_serial_figures(result, tmp_path, monkeypatch, method):
    import multiprocessing

    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {method} on this platform")
    # spawn pickles the forecast (its ParameterSet included) and re-imports everything
    monkeypatch.setattr(plots, "_START_METHOD", method)
    kinds = ("pyramids", "heatmaps", "opgave")
    serial = plots.save_figures(result, tmp_path / "serial", dpi=40, kinds=kinds, processes=1)
    parallel = plots.save_figures(result, tmp_path / "parallel", dpi=40, kinds=kinds, processes=2)
    assert [p.name for p in parallel] == [p.name for p in serial]  # same files, same order
    assert len(serial) == 11 + 5 + 4
    for a, b in zip(serial, parallel):
        assert np.array_equal(_pixels(a), _pixels(b)), a.name


def test_figures_are_drawn_while_the_caller_writes_its_tables(result, tmp_path):
    kinds = ("opgave",)
    with plots.start_figures(result, tmp_path / "background", dpi=40, kinds=kinds, processes=2) as pending:
        assert pending.running  # the workers draw while this process goes on
        (tmp_path / "table.csv").write_text("wijk,aantal\n")
        paths = pending.wait()
    assert not pending.running
    serial = plots.save_figures(result, tmp_path / "serial", dpi=40, kinds=kinds, processes=1)
    assert [p.name for p in paths] == [p.name for p in serial] and all(p.is_file() for p in paths)
    for a, b in zip(serial, paths):
        assert np.array_equal(_pixels(a), _pixels(b)), a.name


def test_a_failing_caller_stops_the_figure_workers(result, tmp_path):
    with pytest.raises(RuntimeError, match="table failed"):
        with plots.start_figures(result, tmp_path, dpi=40, kinds=("opgave",), processes=2) as pending:
            raise RuntimeError("table failed")
    assert not pending.running


@pytest.mark.skipif(sys.platform != "linux", reason="the kernel's parent-death signal is Linux only")
def test_figure_workers_die_with_a_killed_run(tmp_path):
    # a run killed with SIGKILL while its workers draw must not leave them behind (they held its pipes)
    marker = f"figure-workers-{os.getpid()}-{tmp_path.name}"
    code = (
        "import os, signal, sys, warnings; warnings.simplefilter('ignore')\n"
        "import assen_demand; from assen_demand.outputs import plots\n"
        "result = assen_demand.forecast(progress=False)\n"
        f"plots.start_figures(result, {str(tmp_path)!r}, dpi=40, kinds=('pyramids',), processes=2)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    assert left_by_a_killed_script(code, marker) == []


def test_one_layout_pass_draws_what_savefig_draws(result, tmp_path):
    from matplotlib.figure import Figure

    def heatmap():
        fig = Figure(figsize=(plots.A4_WIDTH, 5.5), layout="constrained")
        plots.plot_gap_heatmap(result, "nultredenwoning", ax=fig.add_subplot())
        plots.add_source_note(fig)
        return fig

    heatmap().savefig(tmp_path / "savefig.png", dpi=60)
    plots.save_png(heatmap(), tmp_path / "once.png", 60)
    assert np.array_equal(_pixels(tmp_path / "savefig.png"), _pixels(tmp_path / "once.png"))


def test_save_png_draws_the_figure_once(result, tmp_path, monkeypatch):
    # savefig draws a figure with a layout engine twice (the first time with the rendering off)
    from matplotlib.figure import Figure

    draws = []
    original = Figure.draw
    monkeypatch.setattr(Figure, "draw", lambda fig, renderer: (draws.append(1), original(fig, renderer))[1])
    fig = Figure(figsize=(6.5, 6), layout="constrained")
    plots.plot_pyramid(result, ax=fig.add_subplot())
    plots.save_png(fig, tmp_path / "pyramid.png", 40)
    assert len(draws) == 1 and (tmp_path / "pyramid.png").is_file()
    assert fig.get_layout_engine() is not None and fig.dpi == 100  # the figure is left as it was


def test_write_png_stores_every_pixel_and_the_resolution(tmp_path):
    from assen_demand.outputs.figures import write_png

    rng = np.random.default_rng(20)
    image = rng.integers(0, 256, size=(37, 53, 4), dtype=np.uint8)  # every byte difference, wrapping around
    image[10:20] = image[9]  # and rows equal to the one above
    path = write_png(tmp_path / "image.png", image, 150)
    with Image.open(path) as png:
        assert png.mode == "RGBA" and png.size == (53, 37)
        assert np.array_equal(np.asarray(png), image)
        assert png.info["dpi"][0] == pytest.approx(150, abs=0.02) and "Matplotlib" in png.info["Software"]
    with pytest.raises(ValueError, match="RGBA"):
        write_png(tmp_path / "rgb.png", image[:, :, :3], 150)


def test_bars_as_one_patch_are_the_bars_of_barh(tmp_path):
    # plots._barh draws barh's bars as one patch (figures.rectangles): the same pixels and legend
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    from assen_demand.outputs.figures import rectangles

    values = np.array([3.0, -1.5, np.nan, 2.25, -0.5])  # a NaN bar is left out, as barh leaves it out
    paths = {}
    for way in ("barh", "patch"):
        fig = Figure(figsize=(3, 2), layout="constrained")
        ax = fig.add_subplot()
        for k, color in enumerate(("#3b6ea5", "#c8553d")):
            pos = np.arange(len(values)) + 0.4 * k
            if way == "barh":
                ax.barh(pos, values * (k + 1), height=0.35, color=color, alpha=0.75, label=f"reeks {k}")
            else:
                plots._barh(ax, pos, values * (k + 1), 0.35, color=color, alpha=0.75, label=f"reeks {k}")
        ax.add_patch(Rectangle((0.5, 0.5), 1, 1, facecolor="0.95", edgecolor="0.82", hatch="///", linewidth=0)
                     if way == "barh" else
                     rectangles([0.5], [0.5], 1, 1, facecolor="0.95", edgecolor="0.82", hatch="///", linewidth=0))
        ax.legend(loc="lower right", fontsize=6)
        paths[way] = plots.save_png(fig, tmp_path / f"{way}.png", 80)
    assert np.array_equal(_pixels(paths["barh"]), _pixels(paths["patch"]))


def test_rectangles_is_one_closed_path_per_finite_rectangle():
    from matplotlib.path import Path as MplPath

    from assen_demand.outputs.figures import rectangles

    patch = rectangles([0, 1, np.nan], [0, 2, 0], [2, -1, 1], 0.5, facecolor="red")
    corners = patch.get_path().vertices.reshape(-1, 5, 2)
    assert corners.tolist() == [[[0, 0], [2, 0], [2, 0.5], [0, 0.5], [0, 0]],
                                [[1, 2], [0, 2], [0, 2.5], [1, 2.5], [1, 2]]]
    assert patch.get_path().codes[:5].tolist() == [MplPath.MOVETO] + [MplPath.LINETO] * 3 + [MplPath.CLOSEPOLY]
    assert patch.get_edgecolor()[3] == 0  # no edge unless asked for, as a Rectangle
    assert rectangles([0], [0], 1, 1, edgecolor="black").get_edgecolor()[3] == 1


def test_a_figure_is_drawn_without_the_collector_and_freed_by_one_collection(result, tmp_path, monkeypatch):
    import gc
    import weakref

    drawn, collections = [], []
    save_png = plots.save_png

    def save_and_watch(fig, path, dpi):
        drawn.append(weakref.ref(fig))
        return save_png(fig, path, dpi)

    def watch(phase, info):
        if phase == "start":
            collections.append(info["generation"])

    monkeypatch.setattr(plots, "save_png", save_and_watch)
    job = plots._figure_jobs(result, tmp_path, ("older",))[0]
    gc.callbacks.append(watch)
    try:
        plots._render(result, job, 40)
        assert collections == [1] and gc.isenabled()  # none while drawing, one after it
        assert drawn[0]() is None  # that one collection freed the figure
        gc.disable()
        try:
            plots._render(result, job, 40)
            assert collections == [1] and not gc.isenabled()  # a caller's choice is kept
        finally:
            gc.enable()
    finally:
        gc.callbacks.remove(watch)


def test_titles_set_without_measuring_are_where_matplotlib_places_them(result, tmp_path, monkeypatch):
    # figures.set_title pins the titles at the top of the axes instead of letting every layout
    # pass and draw measure the axes for a place above them: the same pixels
    from assen_demand.outputs import voorzieningen

    def one_of_each(folder):
        folder.mkdir()
        jobs = plots._figure_jobs(result, folder, plots.FIGURE_KINDS)
        return [path for job in {kind: (kind, arg, path) for kind, arg, path in jobs}.values()
                for path in plots._render(result, job, 40)[0]]

    pinned = one_of_each(tmp_path / "pinned")
    automatic_title = lambda ax, label, **kwargs: ax.set_title(label, **kwargs)  # noqa: E731
    monkeypatch.setattr(plots, "_set_title", automatic_title)
    monkeypatch.setattr(voorzieningen, "set_title", automatic_title)
    automatic = one_of_each(tmp_path / "automatic")
    assert len(pinned) == len(automatic) == 6
    for a, b in zip(pinned, automatic):
        assert np.array_equal(_pixels(a), _pixels(b)), a.name


def test_set_title_leaves_the_placement_automatic_where_something_may_be_above_the_axes():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from assen_demand.outputs.figures import set_title, tick_label

    def title_bottoms(title):
        fig = Figure(layout="constrained")
        plain, top_ticks, offset, twinned = fig.subplots(1, 4)
        for ax in (plain, top_ticks, twinned):
            ax.yaxis.set_major_formatter(tick_label)
        top_ticks.xaxis.tick_top()  # tick labels above the axes
        offset.plot([0, 1], [1e6, 1.00001e6])  # the default formatter: an offset text may be above
        twinned.twiny().yaxis.set_major_formatter(tick_label)  # the twin's x tick labels are on top
        for ax in (plain, top_ticks, offset, twinned):
            title(ax, "Titel", fontsize=9)
        assert plain.title.get_text() == "Titel" and plain.title.get_fontsize() == 9
        FigureCanvasAgg(fig).draw()
        return [ax.title.get_window_extent().ymin for ax in (plain, top_ticks, offset, twinned)]

    bottoms = title_bottoms(set_title)
    assert bottoms == title_bottoms(lambda ax, label, **kwargs: ax.set_title(label, **kwargs))
    plain, top_ticks, _, twinned = bottoms
    assert top_ticks > plain + 10 and twinned > plain + 10  # moved above the tick labels, not pinned


def test_processes_must_be_a_whole_number(result, tmp_path):
    with pytest.raises(Exception, match="processes must be a whole number >= 1"):
        plots.save_figures(result, tmp_path, kinds=("older",), processes=0)


def test_parameter_set_survives_pickling():
    params = parameters.ParameterSet.bundled("high")
    back = pickle.loads(pickle.dumps(params))
    assert back.variant == "high" and list(back.tables) == list(params.tables)
    assert back.table("care_prevalence").equals(params.table("care_prevalence"))
    assert dict(back.origin) == dict(params.origin)


# --------------------------------------------------------------------------------------------
# workbook
# --------------------------------------------------------------------------------------------


def test_workbook_cells_keep_their_types_and_row_formats(tmp_path):
    frame = pd.DataFrame({"Wijkcode": ["GM0106", "WK010600", "WK010601"],
                          "Maat": ["Huishoudens", "Gemiddelde huishoudensgrootte", "Aandeel 85+ (%)"],
                          2024: [30000.0, 2.11, np.nan], 2025: [30100, np.inf, 4.5]})
    path = export.write_workbook({"Huishoudens": frame}, tmp_path / "w.xlsx", title="Assen & co")
    ws = openpyxl.load_workbook(path)["Huishoudens"]
    assert [c.value for c in ws[1]] == ["Wijkcode", "Maat", 2024, 2025] and ws["A1"].font.b
    assert ws["C2"].value == 30000 and ws["C2"].number_format == "#,##0"
    assert ws["C3"].value == 2.11 and ws["C3"].number_format == "0.00"
    # a blank (NaN) year cell keeps its row's format, an infinite one is written as pandas does
    assert ws["C4"].value is None and ws["C4"].number_format == "#,##0.0"
    assert ws["D3"].value == "inf"
    assert ws.freeze_panes == "C2" and ws.auto_filter.ref == "A1:D4"
    # '&' starts a code in Excel's page header; '&&' prints one '&' (openpyxl shows it unparsed)
    assert ws.oddHeader.center.text == "Assen && co - Huishoudens"


# --------------------------------------------------------------------------------------------
# parameter tables: the vectorised overlap check
# --------------------------------------------------------------------------------------------


def _overlap_by_walking(frame: pd.DataFrame) -> bool:
    """The original age-by-age walk of parameters._check_overlaps, as a yes/no."""
    for _, group in frame.groupby(["indicator", "year"], dropna=False):
        for sex in parameters.SEXES:
            rows = group[(group["sex"] == sex) | (group["sex"] == "all")]
            covered = np.zeros(len(parameters.AGES), dtype=int)
            for _, r in rows.iterrows():
                hi = 101 if pd.isna(r["age_hi"]) else min(int(r["age_hi"]), 101)
                covered[int(r["age_lo"]):hi] += 1
            if (covered > 1).any():
                return True
    return False


_band = st.tuples(st.sampled_from(["a", "b"]), st.sampled_from([2024, 2030]),
                  st.sampled_from(["male", "female", "all"]), st.integers(0, 105),
                  st.one_of(st.none(), st.integers(0, 110)))


# 80 examples, not 200 (issue 17, fast subset): 46 ms each (200: 9.3 s). The band space is small (2 indicators,
# 2 years, 3 sexes, lists of 1-8 bands), so 80 examples still mix overlapping and disjoint bands, open
# (None) ends and ends past 100; Hypothesis tries its edge cases first and replays failures from its database.
@settings(max_examples=80, deadline=None)
@given(st.lists(_band, min_size=1, max_size=8))
def test_vectorised_overlap_check_agrees_with_the_age_walk(bands):
    frame = pd.DataFrame(bands, columns=["indicator", "year", "sex", "age_lo", "age_hi"])
    frame["age_hi"] = frame["age_hi"].astype("Int64")
    assert parameters._any_overlap(frame, ["indicator"]) == _overlap_by_walking(frame)


# --------------------------------------------------------------------------------------------
# Monte Carlo draws: float32 store, block-wise quantiles
# --------------------------------------------------------------------------------------------

#: quantiles of the float32 population draws against float64: relative, plus 1e-6 persons
QUANTILE_RTOL = 1e-6


def test_block_quantiles_equal_xarrays_with_and_without_nan(monkeypatch):
    import assen_demand.draw_quantiles as draw_quantiles

    rng = np.random.default_rng(5)
    values = rng.gamma(2.0, 50.0, size=(200, 3, 7, 4))
    values[:, 1, 2, :] = np.nan  # an unknown supply: all draws NaN
    values[::3, 2, 0, 1] = np.nan  # some draws NaN
    da = xr.DataArray(values, dims=("draw", "area", "age", "year"),
                      coords={"draw": np.arange(200), "area": ["a", "b", "c"], "age": np.arange(7),
                              "year": [2024, 2025, 2026, 2027]})
    monkeypatch.setattr(draw_quantiles, "BLOCK_CELLS", 5)  # several blocks, some with NaN
    got = draw_quantiles.quantiles_over_draws(da, [0.05, 0.5, 0.95])
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
        want = da.quantile([0.05, 0.5, 0.95], dim="draw")
    # the same numbers, not only close: one sort gives NumPy's order statistics and interpolation
    np.testing.assert_array_equal(got.values, want.transpose(*got.dims).values)


def test_quantiles_of_a_run_are_taken_once_and_handed_out_as_copies(monkeypatch):
    import assen_demand.draw_quantiles as draw_quantiles

    rng = np.random.default_rng(2)
    population = xr.DataArray(rng.gamma(2.0, 50.0, size=(30, 2, 4)), dims=("draw", "area", "year"),
                              coords={"draw": np.arange(30), "area": ["a", "b"], "year": [1, 2, 3, 4]})
    draws = uncertainty.ForecastDraws(population=population, households=None, care_need=None, dwellings=None,
                                      doorstroming=None, settings=pd.DataFrame(), seed=1, zero_width=False)
    calls = []
    real = uncertainty.quantiles_over_draws
    monkeypatch.setattr(uncertainty, "quantiles_over_draws", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = draws.quantiles("population")
    first.values[:] = -1.0  # a caller that writes into its copy changes nothing kept
    second = draws.quantiles("population")
    assert len(calls) == 1
    np.testing.assert_array_equal(second.values, real(population, uncertainty.QUANTILES).values)
    draws.quantiles("population", q=[0.5])
    assert len(calls) == 2  # other probabilities: taken anew


@pytest.mark.slow  # two 60-draw runs of the Assen chain
def test_streamed_float32_quantiles_match_float64_in_memory():
    from assen_demand.inputs.datasets import load_assen
    from assen_demand.pipeline import forecast

    data = load_assen()
    fc = forecast(data=data, draws=60, seed=11, progress=False)
    unc = fc.uncertainty
    assert unc.population.dtype == np.float32
    # the reference: every draw in float64, in memory, one xarray quantile
    full = uncertainty.simulate_population(fc.projection, data=data, draws=60, seed=11, progress=False)
    want = full.quantile(uncertainty.QUANTILES, dim="draw")
    got = unc.quantiles("population")
    np.testing.assert_allclose(got.values, want.transpose(*got.dims).values, rtol=QUANTILE_RTOL, atol=1e-6)
    # and seeded draws are reproducible, whatever the chunking
    again = forecast(data=data, draws=60, seed=11, progress=False).uncertainty
    assert np.array_equal(again.population.values, unc.population.values)
    assert again.dwellings.equals(unc.dwellings)
