"""Tests of assen_demand.backtest and the ``backtest`` CLI command.

The Drenthe 2021 -> 2024 hindcast is the acceptance check of the default small-area method
against the naive forecast "the target year equals the base year as observed".
"""

from __future__ import annotations

import shutil
import warnings

import numpy as np
import pandas as pd
import pytest

from assen_demand import hindcast
from assen_demand.backtest import BANDS, hindcast_metrics, national_hindcast
from assen_demand.cli import main
from assen_demand.inputs.datasets import load_dwelling_pipeline, load_national
from assen_demand.errors import DataFormatError, InvalidValueError, MissingDataError


_DRENTHE: dict[int, pd.DataFrame] = {}


def _drenthe(base_year: int) -> pd.DataFrame:
    """The default method's hindcast base_year -> 2024 of the twelve Drenthe gemeenten (kept per module)."""
    if base_year not in _DRENTHE:
        national = load_national()
        codes = [c for c in national.gemeenten(2024)["area"] if c.startswith("GM")]
        assert len(codes) == 12
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _DRENTHE[base_year] = pd.concat([hindcast(data=national.for_gemeente(c), base_year=base_year,
                                                      target_year=2024) for c in codes])
    return _DRENTHE[base_year]


@pytest.fixture(scope="module")
def drenthe_2021_2024() -> pd.DataFrame:
    return _drenthe(2021)


@pytest.mark.slow
def test_hindcast_table_shape(drenthe_2021_2024):
    assen = drenthe_2021_2024[drenthe_2021_2024["gemeente"] == "GM0106"]
    assert list(assen.columns[:8]) == ["gemeente", "area", "area_name", "area_level", "band", "predicted",
                                       "observed", "naive"]
    assert set(assen["band"]) == set(BANDS) == {"0-15", "15-25", "25-45", "45-65", "65+", "total"}
    wijken = assen[assen["area_level"] == "wijk"].drop_duplicates("area").set_index("area")
    assert len(wijken) == 10 and wijken.loc["WK010600", "area_name"] == "Centrum"
    # Kloosterveen got new buurten (Kloosterakker): listed, not dropped, and left out of the metrics
    assert wijken.loc["WK010608", "status"] == "boundary_changed"
    total = assen[(assen["area"] == "GM0106") & (assen["band"] == "total")].iloc[0]
    assert total["observed"] == 69701 and total["naive"] == 68836
    bands = assen[(assen["area"] == "GM0106") & (assen["band"] != "total")]
    assert bands["predicted"].sum() == pytest.approx(total["predicted"])


@pytest.mark.slow
@pytest.mark.parametrize("base_year", [2021, 2022, 2023])
def test_default_method_beats_naive_in_drenthe(base_year):
    """Issue 18 acceptance at the three Drenthe origins: every band and the total at or below the naive
    forecast, 65+ at most two thirds of it. The default (combined, band constraint with the damped
    gemeente, the naive part holding the published KWB figures, national mortality at the observed
    jump-off level) meets it; cohort-component alone did not for 0-15 at 2021 and 2022 (5.64 vs 5.14,
    4.07 vs 3.94) nor the total (2.78 vs 2.56, 2.18 vs 1.94). The weights were estimated on these
    hindcasts among others; leaving whole gemeenten out, 20 of the 24 cells of the four origins meet
    naive (issue 18 note 6). The fourth origin (all gemeenten 2021 -> 2022) needs the raw CBS files:
    ``scripts/wijk_forecast_backtest.py``."""
    m = hindcast_metrics(_drenthe(base_year)).set_index("band")
    for band in ("0-15", "15-25", "25-45", "45-65", "65+", "total"):
        # at one year the young bands hold the published figures, as naive does: equal up to round-off
        assert m.loc[band, "weighted_ape"] <= m.loc[band, "naive_weighted_ape"] * (1 + 1e-9), band
    assert m.loc["65+", "weighted_ape"] <= m.loc["65+", "naive_weighted_ape"] * 2 / 3


def test_hindcast_errors():
    with pytest.raises(InvalidValueError, match="target_year 2021 must be after base_year 2022"):
        hindcast("GM0106", base_year=2022, target_year=2021)
    with pytest.raises(MissingDataError, match=r"no KWB data for Assen \(GM0106\) in 2026 \(the target year\)"):
        hindcast("GM0106", base_year=2021, target_year=2026)


def test_metrics_count_only_matched_wijken():
    table = pd.DataFrame({
        "band": ["65+"] * 3, "area_level": ["wijk", "wijk", "gemeente"],
        "status": ["matched", "boundary_changed", "matched"],
        "predicted": [110.0, 0.0, 500.0], "observed": [100.0, 100.0, 400.0], "naive": [100.0, 100.0, 400.0],
    })
    m = hindcast_metrics(table)
    assert m["n"].tolist() == [1] and m["weighted_ape"].tolist() == [10.0]
    assert m["naive_weighted_ape"].tolist() == [0.0] and not m["beats_naive"].iloc[0]


def _copy_known(raw, dest, *, base_year: int, target_year: int) -> None:
    """What was known on 1 January base_year, plus the target year's KWB file (and nothing else later)."""
    for folder in ("pc4_2021", "un_wpp2024_netherlands", "cbs_37259ned_70072ned_ijhidding"):
        shutil.copytree(raw / folder, dest / folder)
    (dest / "kwb").mkdir()
    for path in (raw / "kwb").glob("kwb_*_*.csv"):
        year = int(path.name.split("_")[1])
        if (year <= base_year or year == target_year) and "extract" not in path.name:
            shutil.copy(path, dest / "kwb" / path.name)
    (dest / "bevolkingsdynamiek_37259eng").mkdir()
    for path in (raw / "bevolkingsdynamiek_37259eng").glob("*.csv"):
        if "extract" in path.name:
            continue
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        frame[frame["Periods"].str[:4].astype(int) < base_year].to_csv(
            dest / "bevolkingsdynamiek_37259eng" / path.name, index=False)


@pytest.mark.slow
@pytest.mark.parametrize("method, options", [
    ("cohort_component", {}),
    ("combined", {}),
    ("cohort_component", {"wijk_fertility": "cwr", "wijk_structural_migration": 1.0}),
    ("cohort_component", {"wijk_structural_migration_old": 1.0, "wijk_structural_old_min_age": 65}),
])
def test_hindcast_uses_only_what_was_known(raw_dir, tmp_path, method, options):
    """Deleting every file and row published after 1 January 2021 (but the 2022 KWB) changes nothing.

    ``combined`` covers the smooth seed, constant share and the naive part of issue 18 (its
    weights are a bundled parameter table, estimated on the hindcasts and validated leaving
    whole gemeenten out: see scripts/wijk_control_variants.py). The options cover items 1 and 2 of
    issue 18 (note 4): the wijk child-woman ratios and the structural wijk migration, both read from
    the base population of 1 January 2021; the last case its old-age variant (note 5), read from the
    same base population."""
    _copy_known(raw_dir, tmp_path, base_year=2021, target_year=2022)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = hindcast("GM0106", base_year=2021, target_year=2022, data_dir=raw_dir, method=method, **options)
        cut = hindcast("GM0106", base_year=2021, target_year=2022, data_dir=tmp_path, method=method, **options)
    pd.testing.assert_frame_equal(full, cut, check_exact=False, rtol=1e-9)


@pytest.mark.slow
def test_national_hindcast_reports_merged_gemeenten(raw_dir):
    table, status = national_hindcast(raw_dir, base_year=2021, target_year=2022,
                                      gemeenten=["GM0106", "GM1680", "GM0370"])
    by_code = status.set_index("gemeente")["status"]
    assert by_code.to_dict() == {"GM0106": "ok", "GM0370": "merged_or_split", "GM1680": "ok"}
    assert set(table["gemeente"]) == {"GM0106", "GM1680"}
    m = hindcast_metrics(table)
    assert (m["n"] > 0).all() and np.isfinite(m["weighted_ape"]).all()


@pytest.mark.slow  # the backtest CLI on Assen: ~2 s CPU
def test_cli_backtest_writes_table_and_metrics(tmp_path, capsys):
    out = tmp_path / "hindcast.csv"
    assert main(["backtest", "--gemeente", "GM0106", "--base-year", "2021", "--target-year", "2024",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "naive_weighted_ape" in printed and "65+" in printed and f"geschreven: {out}" in printed
    table = pd.read_csv(out)
    assert {"area", "area_name", "band", "predicted", "observed", "naive", "status"} <= set(table.columns)


@pytest.mark.parametrize("argv, message", [
    (["--gemeente", "GM9999", "--base-year", "2021", "--target-year", "2024"], "gemeente 'GM9999' is not in"),
    (["--base-year", "2021", "--target-year", "2030"], r"no KWB data for Assen \(GM0106\) in 2030"),
])
def test_cli_backtest_errors_exit_2_without_traceback(tmp_path, capsys, argv, message):
    assert main(["backtest", *argv, "--out", str(tmp_path / "h.csv")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert pytest.importorskip("re").search(message, err)


def test_dwelling_pipeline_file_errors(tmp_path):
    bad = tmp_path / "plan.csv"
    bad.write_text("area,year,dwellings_added\nWK010608,2025,10\n")
    with pytest.raises(DataFormatError, match="plan.csv lacks column\\(s\\) dwellings_removed"):
        load_dwelling_pipeline(bad)
    with pytest.raises(MissingDataError, match="dwelling pipeline file .*nope.csv not found"):
        load_dwelling_pipeline(tmp_path / "nope.csv")
    bad.write_text("area,year,dwellings_added,dwellings_removed\nWK010608,2025,-10,0\n")
    with pytest.raises(InvalidValueError, match="must be >= 0"):
        load_dwelling_pipeline(bad)
    example = load_dwelling_pipeline("example")
    assert {"status", "note", "source"} <= set(example.columns)
