"""Figures of an earlier run reused only where the fingerprint proves them unchanged (issue 20).

The soundness test (`test_every_reused_figure_is_what_drawing_it_would_give`) draws the figures of
the Assen forecast with the press-example supply, then those of the forecast without supply twice:
once reusing what it can from the first folder, once drawing everything. Every file of the first
must show the same pixels as the second.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image
from products_helpers import assen_forecast, assen_forecast_example_supply, scratch

from assen_demand.outputs import figure_reuse, plots
from assen_demand.outputs.figure_reuse import NotFingerprintable, content_digest

KINDS = ("pyramids", "older", "heatmaps", "opgave", "facilities")


def result_areas(result) -> int:
    return result.population.sizes["area"]


def _pixels(path):
    return np.asarray(Image.open(path))


# --------------------------------------------------------------------------------------------
# content digests
# --------------------------------------------------------------------------------------------


def _labelled():
    return xr.DataArray(np.arange(6.0).reshape(2, 3), dims=("area", "year"),
                        coords={"area": ["GM0106", "WK010601"], "year": [2024, 2025, 2026]}, name="persons",
                        attrs={"unit": "persons"})


def test_digest_hand_cases():
    a = _labelled()
    assert content_digest(a) == content_digest(a.copy(deep=True))
    changed = {
        "value": a.copy(data=a.values + np.eye(2, 3)),
        "coordinate": a.assign_coords(year=[2024, 2025, 2027]),
        "attribute": a.assign_attrs(unit="households"),
        "name": a.rename("households"),
        "dims": a.rename({"year": "jaar"}),
        "dtype": a.astype(np.float32),
    }
    for what, other in changed.items():
        assert content_digest(other) != content_digest(a), what
    # NaN equals NaN (bytes), a dataset is its variables, coordinates and attributes
    nan = xr.DataArray([np.nan, 1.0], dims="x")
    assert content_digest(nan) == content_digest(nan.copy())
    ds = xr.Dataset({"need": a, "gap": a * 0})
    assert content_digest(ds) == content_digest(ds.copy(deep=True))
    assert content_digest(ds) != content_digest(ds.assign(gap=a))
    frame = pd.DataFrame({"area": ["WK010601", None], "units": [10.0, np.nan], "note": [pd.NA, "x"]})
    assert content_digest(frame) == content_digest(frame.copy())
    assert content_digest(frame) != content_digest(frame.assign(units=[11.0, np.nan]))
    assert content_digest(frame) != content_digest(frame.set_index("area"))
    assert content_digest({"a": 1, "b": 2.0}) == content_digest({"b": 2.0, "a": 1})  # key order is not content
    assert content_digest([1, 2]) != content_digest((1, 2))
    assert content_digest(0.0) != content_digest(-0.0)
    with pytest.raises(NotFingerprintable, match="object"):
        content_digest(object())
    with pytest.raises(NotFingerprintable):
        content_digest([1, lambda: 1])


@settings(max_examples=40, deadline=None)
@given(values=hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=5),
                         elements=st.floats(allow_nan=True, allow_infinity=True, width=64)),
       where=st.integers(min_value=0), bump=st.floats(min_value=0.5, max_value=1e6))
def test_digest_is_equal_for_a_copy_and_differs_for_any_changed_element(values, where, bump):
    da = xr.DataArray(values, dims=[f"d{i}" for i in range(values.ndim)])
    assert content_digest(da) == content_digest(xr.DataArray(values.copy(), dims=da.dims))
    flat = values.copy().ravel()
    i = where % flat.size
    flat[i] = (flat[i] + bump) if np.isfinite(flat[i]) and flat[i] + bump != flat[i] else 7.25
    if flat[i] == values.ravel()[i] or (np.isnan(flat[i]) and np.isnan(values.ravel()[i])):
        return  # no change was possible
    assert content_digest(xr.DataArray(flat.reshape(values.shape), dims=da.dims)) != content_digest(da)


@pytest.mark.slow  # a second Assen forecast in a fresh process: ~7 s
def test_digests_are_the_same_in_another_process():
    # never pickle or hash(): a fingerprint written by one run is checked by the next process
    result = assen_forecast()
    here = {f.name: content_digest(getattr(result, f.name)) for f in dataclasses.fields(result)}
    code = ("import json, dataclasses, warnings; warnings.simplefilter('ignore')\n"
            "from assen_demand import forecast\n"
            "from assen_demand.outputs.figure_reuse import content_digest\n"
            "r = forecast()\n"
            "print(json.dumps({f.name: content_digest(getattr(r, f.name)) for f in dataclasses.fields(r)}))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={"PYTHONHASHSEED": "12345", **__import__("os").environ})
    assert json.loads(done.stdout.strip().splitlines()[-1]) == here


# --------------------------------------------------------------------------------------------
# recording the fields a figure reads
# --------------------------------------------------------------------------------------------


def test_recording_notes_fields_read_directly_and_through_methods():
    result = assen_forecast()
    watched = figure_reuse.recording(result)
    assert isinstance(watched, type(result)) and figure_reuse.fields_read(watched) == []
    watched.population.sum()
    assert figure_reuse.fields_read(watched) == ["population"]
    watched.to_frame("dwellings")  # a method reads its fields through self
    assert "dwellings" in figure_reuse.fields_read(watched)
    assert watched.population is result.population  # the same objects: nothing copied
    with pytest.raises(NotFingerprintable):
        figure_reuse.recording(object())


# --------------------------------------------------------------------------------------------
# reuse
# --------------------------------------------------------------------------------------------


@pytest.mark.slow  # three sets of 18 figures: ~13 s
def test_every_reused_figure_is_what_drawing_it_would_give():
    with_supply, without = assen_forecast_example_supply(), assen_forecast()
    first, second, fresh = (scratch(f"reuse_{name}") for name in ("first", "second", "fresh"))
    plots.save_figures(with_supply, first, dpi=40, kinds=KINDS, processes=1)
    with plots.start_figures(without, second, dpi=40, kinds=KINDS, processes=2, previous=first) as pending:
        reused = pending.reused
        written = pending.wait()
    drawn = plots.save_figures(without, fresh, dpi=40, kinds=KINDS, processes=1, reuse=False)
    assert [p.name for p in written] == [p.name for p in drawn]
    # reused: what reads no supply (the pyramids, the older-per-wijk chart, facilities, and the opgave,
    # which uses the estimated stock either way); drawn: the need maps, whose supply changed
    entries, earlier = figure_reuse.read_fingerprints(second), figure_reuse.read_fingerprints(first)
    same = [key for key, entry in entries.items() if earlier.get(key, {}).get("fingerprint") == entry["fingerprint"]]
    assert reused == len(same) >= result_areas(without) + 2
    assert not any(key.startswith("heatmaps/") for key in same)
    for a, b in zip(written, drawn):
        assert np.array_equal(_pixels(a), _pixels(b)), a.name
    # the fingerprints of the second folder are those of a fresh draw: a third run reuses every figure
    assert figure_reuse.read_fingerprints(fresh) == entries
    with plots.start_figures(without, scratch("reuse_third"), dpi=40, kinds=KINDS, previous=fresh) as pending:
        assert pending.reused == len(drawn)
        pending.wait()


@pytest.mark.slow  # seven sets of 5 figures: ~7 s
def test_a_changed_file_a_changed_style_or_new_code_is_drawn_again(monkeypatch):
    import matplotlib

    result = assen_forecast()
    first = scratch("reuse_changed")
    written = plots.save_figures(result, first, dpi=40, kinds=("older", "opgave"), processes=1)
    n = len(written)

    def reused(**kwargs):
        with plots.start_figures(result, scratch("reuse_changed_next"), dpi=40, kinds=("older", "opgave"),
                                 processes=1, previous=first, **kwargs) as pending:
            pending.wait()
            return pending.reused

    assert reused() == n
    assert reused(reuse=False) == 0
    # a PNG edited after the run: that one is drawn
    written[0].write_bytes(written[0].read_bytes() + b"\0")
    assert reused() == n - 1
    with matplotlib.rc_context({"font.size": 13}):
        assert reused() == 0
    monkeypatch.setattr(figure_reuse, "code_digest", lambda: "other code")
    assert reused() == 0
    # no or a broken fingerprint file: everything is drawn
    (first / figure_reuse.FINGERPRINTS).write_text("{not json", encoding="utf-8")
    monkeypatch.undo()
    assert reused() == 0


def test_a_changed_field_redraws_only_the_figures_that_read_it():
    result = assen_forecast()
    first = scratch("reuse_field")
    plots.save_figures(result, first, dpi=40, kinds=("pyramids", "opgave"), processes=1)
    opgave = result.opgave.copy(deep=True)
    opgave["opgave"] = opgave["opgave"] + 1.0
    changed = dataclasses.replace(result, opgave=opgave)
    with plots.start_figures(changed, scratch("reuse_field_next"), dpi=40, kinds=("pyramids", "opgave"),
                             processes=1, previous=first) as pending:
        pending.wait()
        assert pending.reused == result.population.sizes["area"]  # every pyramid, no opgave chart


@pytest.mark.slow  # the CLI with figures, three times: ~16 s
def test_cli_rerun_copies_unchanged_figures_and_redraw_flag_draws_all():
    from assen_demand.cli import main

    out = scratch("reuse_cli")

    def run(*extra):
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            assert main(["forecast", "--out", str(out), *extra]) == 0
        return buffer.getvalue()

    assert "overgenomen" not in run()
    stamp = (out / "figures" / figure_reuse.FINGERPRINTS).read_text(encoding="utf-8")
    second = run()
    n = len(json.loads(stamp)["figures"])
    assert f"waarvan {n} ongewijzigd overgenomen" in second
    # the manifest lists the fingerprint file and the copies like any file of the run
    manifest = {e["path"] for e in json.loads((out / "provenance.json").read_text(encoding="utf-8"))["manifest"]}
    assert f"figures/{figure_reuse.FINGERPRINTS}" in manifest
    assert "overgenomen" not in run("--redraw-figures")
