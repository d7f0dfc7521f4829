"""Band x horizon scale of the wijk migration deviations (issue 21: wijk coverage per band at h 1-3)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from assen_demand import evaluation as ev
from assen_demand import uncertainty
from assen_demand.errors import InvalidValueError, MissingDataError
from assen_demand.parameters import load_parameter_table, validate_parameter_table
from assen_demand.pipeline import project_population


def test_scale_of_the_running_sum_hand_worked():
    # deviations 1, 2, -1, 0 (running sums 1, 3, 2, 2); factors 2, 1, 3 (held from horizon 3):
    # running sums 2, 3, 6, 6 -> yearly deviations 2, 1, 3, 0
    out = ev.scale_cumulative_deviation(np.array([[1.0, 2.0, -1.0, 0.0]]), np.array([[2.0, 1.0, 3.0]]))
    assert out.tolist() == [[2.0, 1.0, 3.0, 0.0]]


@settings(max_examples=60, deadline=None)
@given(noise=arrays(np.float64, (3, 2, 6), elements=st.floats(-50, 50)),
       scale=arrays(np.float64, (2, 3), elements=st.floats(0.2, 3.0)))
def test_running_sum_is_scaled_at_every_horizon(noise, scale):
    out = ev.scale_cumulative_deviation(noise, scale)
    factor = scale[:, [0, 1, 2, 2, 2, 2]]  # horizons beyond the table use the last column
    np.testing.assert_allclose(np.cumsum(out, axis=-1), np.cumsum(noise, axis=-1) * factor, atol=1e-9)
    np.testing.assert_allclose(ev.scale_cumulative_deviation(noise, np.ones((2, 3))), noise, atol=1e-9)


def test_width_ratio_hand_worked():
    cells = pd.DataFrame({"observed": [110.0, 95.0, 100.0, 80.0], "q05": [90.0, 90.0, 90.0, 100.0],
                          "q50": [100.0, 100.0, 100.0, 100.0], "q95": [120.0, 120.0, 120.0, 100.0]})
    # above the median against q95 - q50 = 20; below against q50 - q05 = 10; a zero-width half -> NaN
    ratio = ev.interval_width_ratio(cells)
    assert ratio.iloc[:3].tolist() == [0.5, 0.5, 0.0] and np.isnan(ratio.iloc[3])
    with pytest.raises(InvalidValueError, match="coverage must be 0.90"):
        ev.interval_width_ratio(cells, coverage=0.8)


def _cells(ratios_by_band: dict[int, np.ndarray]) -> pd.DataFrame:
    rows = []
    for band, ratios in ratios_by_band.items():
        for i, r in enumerate(ratios):
            rows.append(dict(area=f"WK{i % 40:06d}", age_lo=band, horizon=1, q05=90.0, q50=100.0, q95=110.0,
                             observed=100.0 + 10.0 * r * (1 if i % 2 else -1)))
    return pd.DataFrame(rows)


def test_estimate_puts_ninety_percent_inside_and_multiplies_the_current_factor():
    rng = np.random.default_rng(0)
    ratios = {0: rng.uniform(0, 1.4, 400), 65: rng.uniform(0, 0.8, 400)}
    current = pd.DataFrame(1.5, index=pd.Index(list(ev.WIJK_SCALE_BANDS), name="age_lo"),
                           columns=pd.Index([1, 2, 3], name="horizon"))
    est = ev.estimate_wijk_interval_scale(_cells(ratios), current, boot=50).set_index("age_lo")
    for band, r in ratios.items():
        measured = est.loc[band, "measured"]
        assert np.mean(r <= measured) == pytest.approx(0.90, abs=0.01)
        assert est.loc[band, "central"] == pytest.approx(1.5 * measured)
        assert est.loc[band, "low"] <= est.loc[band, "central"] <= est.loc[band, "high"]
    assert est.loc[0, "measured"] > 1 > est.loc[65, "measured"]  # too narrow -> wider; too wide -> narrower
    table = ev.wijk_interval_scale_table(est.reset_index(), year=2024)
    assert len(validate_parameter_table(table, name="simulated")) == 2


def test_committed_table_has_every_band_and_horizon_and_its_script():
    scale = ev.wijk_interval_scale()
    assert list(scale.index) == [0, 15, 25, 45, 65] and list(scale.columns) == [1, 2, 3]
    assert ((scale > 0.3) & (scale < 3)).all().all()
    table = load_parameter_table(ev.WIJK_SCALE_TABLE)
    assert (table["status"] == "geschat").all()
    assert table["source"].str.contains("scripts/build_wijk_interval_scale.py").all()
    low, high = ev.wijk_interval_scale("low"), ev.wijk_interval_scale("high")
    assert (low <= scale).all().all() and (scale <= high).all().all()


def test_an_incomplete_table_names_the_fix(monkeypatch):
    from assen_demand import parameters

    table = load_parameter_table(ev.WIJK_SCALE_TABLE)
    monkeypatch.setattr(parameters, "load_parameter_table", lambda name: table.iloc[1:])
    with pytest.raises(MissingDataError, match="every band .* every horizon 1..H; rebuild it with scripts/"):
        ev.wijk_interval_scale()


@pytest.mark.filterwarnings("ignore::assen_demand.demography.components.ComponentsWarning")
def test_draws_scale_only_the_wijk_rows(assen, monkeypatch):
    proj = project_population(data=assen, base_year=2021, end_year=2025)
    ones = pd.DataFrame(1.0, index=pd.Index(list(ev.WIJK_SCALE_BANDS), name="age_lo"),
                        columns=pd.Index([1, 2], name="horizon"))
    monkeypatch.setattr(uncertainty, "wijk_interval_scale", lambda: ones)
    plain = uncertainty.demographic_draws(proj, data=assen, draws=40, seed=5)
    doubled = ones.copy()
    doubled[1], doubled[2] = 2.0, 3.0
    monkeypatch.setattr(uncertainty, "wijk_interval_scale", lambda: doubled)
    scaled = uncertainty.demographic_draws(proj, data=assen, draws=40, seed=5)
    before, after = (np.cumsum(d.band_migration.values, axis=-1) for d in (plain, scaled))
    np.testing.assert_allclose(after[:, 1:, :, 0], 2 * before[:, 1:, :, 0], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(after[:, 1:, :, 1:], 3 * before[:, 1:, :, 1:], rtol=1e-9, atol=1e-9)
    # the gemeente row (age pattern, sums to zero over the bands) and every other input are unchanged
    np.testing.assert_array_equal(after[:, 0], before[:, 0])
    np.testing.assert_array_equal(scaled.migration_shift.values, plain.migration_shift.values)
    assert "wijk interval scale, ages 65+" in set(scaled.settings["quantity"])
