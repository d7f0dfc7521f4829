"""evaluation.py: rolling-origin errors of gemeente totals and the error process behind the intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assen_demand import evaluation as ev
from assen_demand.errors import InvalidValueError, MissingDataError
from assen_demand.parameters import validate_parameter_table


def _ned(area: str, populations: dict[int, float]) -> pd.DataFrame:
    """Rows like read_population_dynamics gives for 37259ned (1 January only, sex total)."""
    return pd.DataFrame({"area": area, "area_level": "gemeente", "year": list(populations), "sex": "total",
                         "population_jan1": list(populations.values()), "source_table": "37259ned"})


def _eng(area: str, year: int, jan1: float, dec31: float, births: float, deaths: float, net: float) -> pd.DataFrame:
    """One 37259eng year: total, and male/female halves of every flow."""
    rows = [dict(sex="total", population_jan1=jan1, population_dec31=dec31, births=births, deaths=deaths,
                 net_migration=net)]
    for sex in ("male", "female"):
        rows.append(dict(sex=sex, population_jan1=jan1 / 2, population_dec31=dec31 / 2, births=births / 2,
                         deaths=deaths / 2, net_migration=net / 2))
    out = pd.DataFrame(rows)
    out["area"], out["area_level"], out["year"], out["source_table"] = area, "gemeente", year, "37259eng"
    return out


# ---- kinds ------------------------------------------------------------------------------------


def test_gemeente_kind_classes():
    assert ev.gemeente_kind("GM9999", 19_999, -0.001) == "lt20k|declining"
    assert ev.gemeente_kind("GM9999", 20_000, 0.0) == "20k-50k|stable"
    assert ev.gemeente_kind("GM9999", 150_000, 0.01) == "ge100k|growing"
    assert ev.gemeente_kind("GM9999", 60_000, float("nan")) == "50k-100k|stable"  # no history: stable
    assert ev.gemeente_kind("GM0014", 10, 0.5) == "student_city"  # Groningen, whatever its size
    with pytest.raises(InvalidValueError, match=r"GM9999: population 0 must be a positive number"):
        ev.gemeente_kind("GM9999", 0, 0.0)


# ---- errors -----------------------------------------------------------------------------------


def test_boundary_change_breaks_the_chain():
    # 37259ned: a 10 % jump in 1966 among 1 % years is a boundary change; 37259eng: 31 Dec 2013
    # (1,100) differs from 1 Jan 2014 (1,300): the 2013 change stays valid (within the year), the
    # chain across 1 January 2014 is broken by marking 2013 invalid
    pops = {1960 + i: 1000 * 1.01 ** i for i in range(12)}
    pops[1967] *= 1.10
    pops.update({y: v * 1.10 for y, v in pops.items() if y > 1967})
    ch = ev.constant_boundary_changes(_ned("GM9001", pops)).set_index("year")
    assert not ch.loc[1966, "valid"] and ch.drop(index=[1966, 1971]).loc[:, "valid"].all()
    eng = pd.concat([_eng("GM9002", 2012, 1000, 1050, 10, 8, 48), _eng("GM9002", 2013, 1050, 1100, 10, 8, 48),
                     _eng("GM9002", 2014, 1300, 1310, 10, 8, 8)])
    ch = ev.constant_boundary_changes(eng).set_index("year")
    assert ch.loc[2012, "valid"] and not ch.loc[2013, "valid"] and ch.loc[2014, "valid"]
    assert ch.loc[2013, "change"] == 50  # 31 Dec - 1 Jan, on the boundaries of that year
    with pytest.raises(MissingDataError, match=r"lacks column\(s\) \['population_jan1'\]"):
        ev.constant_boundary_changes(eng.drop(columns="population_jan1"))


def test_rolling_origin_error_hand_worked_from_population_change():
    # 1960-1965: +10 a year (window mean 10); origin 1965 (1,050): forecast 1966 = 1,060 and
    # 1967 = 1,070; observed 1,065 and 1,085 -> log(1065/1060), log(1085/1070)
    pops = {1960 + i: 1000.0 + 10 * i for i in range(6)}
    pops.update({1966: 1065.0, 1967: 1085.0})
    err = ev.rolling_origin_errors(_ned("GM9003", pops), n_years=5, max_horizon=5, jump_threshold=1.0)
    row = err[err["origin"] == 1965].set_index("horizon")
    assert list(row.index) == [1, 2]  # 1 January 1968 is not in the data
    assert row.loc[1, "log_error"] == pytest.approx(np.log(1065 / 1060), abs=1e-12)
    assert row.loc[2, "log_error"] == pytest.approx(np.log(1085 / 1070), abs=1e-12)
    assert row.loc[1, "kind"] == "lt20k|stable" and row.loc[1, "basis"] == "37259ned population change"
    # a straight line has no error from any origin
    line = ev.rolling_origin_errors(_ned("GM9004", {1960 + i: 5000.0 + 40 * i for i in range(20)}),
                                    jump_threshold=1.0)
    assert len(line) > 50 and np.abs(line["log_error"]).max() < 1e-12


def test_rolling_origin_uses_the_projection_rule_where_flows_exist():
    # 37259eng 2012-2016: births 10, deaths 8, net migration 48/38/58/48/48 -> mean 48 + 2 = 50 a year
    # (net_migration_totals, the rule of the projection); the 'other corrections' (31 Dec - 1 Jan
    # = 55 in 2013 instead of 40) do not enter the level. Observed 2017: +70 -> log(1375/1355).
    nets = [48, 38, 58, 48, 48, 68]
    frames, jan1 = [], 1100.0
    for i, (year, net) in enumerate(zip(range(2012, 2018), nets)):
        dec31 = jan1 + 2 + net + (15 if year == 2013 else 0)
        frames.append(_eng("GM9005", year, jan1, dec31, 10, 8, net))
        jan1 = dec31
    dyn = pd.concat(frames, ignore_index=True)
    assert ev.assumed_change(dyn, "GM9005", 2017) == pytest.approx(50.0)
    assert ev.assumed_change(dyn, "GM9005", 2012) is None
    err = ev.rolling_origin_errors(dyn, jump_threshold=1.0).set_index(["origin", "horizon"])
    p2017 = float(dyn[(dyn["sex"] == "total") & (dyn["year"] == 2017)]["population_jan1"].iloc[0])
    assert err.loc[(2017, 1), "forecast"] == pytest.approx(p2017 + 50)
    assert err.loc[(2017, 1), "log_error"] == pytest.approx(np.log((p2017 + 70) / (p2017 + 50)))
    assert "net_migration_totals" in err.loc[(2017, 1), "basis"]


# ---- the error process ------------------------------------------------------------------------


def test_error_process_variance_hand_worked():
    # phi = 1, level 0: innovation s counts h - s + 1 times, sum of squares = h(h+1)(2h+1)/6
    h = np.array([1, 2, 3, 10])
    v = ev.error_process_variance(h, phi=1.0, sigma_level=0.0, sigma_year=1.0)
    assert v.tolist() == pytest.approx((h * (h + 1) * (2 * h + 1) / 6).tolist())
    # level error only: (h sigma)^2
    assert ev.error_process_variance(h, phi=0.5, sigma_level=0.01, sigma_year=0.0).tolist() == pytest.approx(
        (h * 0.01) ** 2)
    # phi = 0.5, h = 2: weights 1 + 0.5 and 1 -> 2.25 + 1
    assert ev.error_process_variance([2], phi=0.5, sigma_level=0.0, sigma_year=1.0)[0] == pytest.approx(3.25)


@settings(max_examples=25, deadline=None)
@given(phi=st.floats(0.0, 0.95), level=st.floats(0.0, 0.01), year=st.floats(0.0, 0.01))
def test_error_variance_grows_with_horizon(phi, level, year):
    v = ev.error_process_variance(np.arange(1, 21), phi=phi, sigma_level=level, sigma_year=year)
    assert np.all(np.diff(v) >= -1e-18)


def test_simulated_deviations_follow_the_process_and_the_seed():
    proc = ev.ErrorProcess("x", phi=0.6, sigma_level=0.004, sigma_year=0.005, n_errors=0)
    dev = ev.simulate_level_deviations(proc, years=16, draws=20_000, rng=np.random.default_rng(5))
    sd = np.std(np.cumsum(dev, axis=1), axis=0)
    assert sd[[0, 4, 15]] == pytest.approx(proc.sd([1, 5, 16]), rel=0.03)
    again = ev.simulate_level_deviations(proc, years=16, draws=20_000, rng=np.random.default_rng(5))
    assert np.array_equal(dev, again)
    drifting = ev.ErrorProcess("x", phi=0.6, sigma_level=0.0, sigma_year=0.0, n_errors=0, drift=-0.01)
    assert ev.simulate_level_deviations(drifting, years=2, draws=3, rng=np.random.default_rng(1)) == pytest.approx(
        np.full((3, 2), -0.01))
    zero = ev.simulate_level_deviations(drifting, years=3, draws=4, rng=np.random.default_rng(5), width=0.0)
    assert not zero.any()


def _simulated_errors(proc, *, n_areas=60, origins=range(1990, 2021), max_h=10, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for o in origins:
        dev = ev.simulate_level_deviations(proc, years=max_h, draws=n_areas, rng=rng)
        cum = np.cumsum(dev, axis=1)
        for a in range(n_areas):
            for h in range(1, max_h + 1):
                rows.append((f"GM{a:04d}", o, h, 1000.0, 1000.0, cum[a, h - 1], "lt20k|stable"))
    return pd.DataFrame(rows, columns=["area", "origin", "horizon", "population", "forecast", "log_error", "kind"])


def test_fit_recovers_the_process_and_covers_out_of_sample():
    # errors simulated from a known process: the NNLS fit on the robust variances recovers the sd
    # of the error within 10 % at horizons 1-10, and the intervals drawn for later origins from a
    # fit on earlier ones cover about 90 % / 80 %
    true = ev.ErrorProcess("lt20k|stable", phi=0.4, sigma_level=0.003, sigma_year=0.006, n_errors=0, drift=-0.002)
    errors = _simulated_errors(true)
    fit = ev.fit_error_process(errors, phi=0.4)
    h = np.arange(1, 11)
    assert fit["lt20k|stable"].sd(h) == pytest.approx(true.sd(h), rel=0.10)
    assert fit["lt20k|stable"].drift == pytest.approx(-0.002, abs=0.0003)
    assert fit["ge100k|stable"].n_errors == 0  # no errors of that kind: the pooled process
    assert fit["ge100k|stable"].sigma_level == fit["all"].sigma_level
    cov = ev.rolling_origin_coverage(errors, phi=0.4, origins=range(2012, 2021), window=20, draws=4000,
                                     max_horizon=10)
    assert cov["covered_90"].mean() == pytest.approx(0.90, abs=0.03)
    assert cov["covered_80"].mean() == pytest.approx(0.80, abs=0.04)
    with pytest.raises(MissingDataError, match="no rolling-origin errors"):
        ev.fit_error_process(errors.iloc[:0], phi=0.4)


# ---- the committed table ----------------------------------------------------------------------


@pytest.mark.slow  # rebuilds the rolling-origin table: ~4 s CPU
def test_committed_table_is_a_valid_parameter_table_with_every_kind():
    from assen_demand.parameters import load_parameter_table

    table = load_parameter_table(ev.ERROR_TABLE)
    for kind in ev.KINDS:
        proc = ev.error_process_from_table(kind)
        assert 0 < proc.phi < 1 and proc.sd([1])[0] > 0
    ratio = table[(table["indicator"] == "forecast_ratio_90") & (table["kind"] == "all")].set_index("horizon")
    assert list(ratio.index[:5]) == [1, 2, 3, 4, 5]
    assert (ratio["high"] - ratio["low"]).is_monotonic_increasing  # the 90 % range widens with the horizon
    assert "scripts/build_forecast_errors.py" in table["source"].iloc[0]
    with pytest.raises(MissingDataError, match=r"no error process for kind 'nowhere'"):
        ev.error_process_from_table("nowhere")


def test_table_writer_output_validates():
    true = ev.ErrorProcess("lt20k|stable", phi=0.4, sigma_level=0.003, sigma_year=0.006, n_errors=0)
    errors = _simulated_errors(true, n_areas=20, origins=range(2000, 2010))
    table = ev.error_distribution_table(errors, ev.fit_error_process(errors, phi=0.4), year=2020)
    out = validate_parameter_table(table, name="simulated")
    assert set(out["indicator"]) == {"forecast_ratio_90", "forecast_ratio_80", "level_error_sd", "yearly_error_sd",
                                     "yearly_error_persistence", "level_error_drift"}
    assert (out.loc[out["indicator"] == "forecast_ratio_90", "low"] < 1).all()
