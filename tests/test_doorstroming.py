"""Doorstroming tied to what is built (issue 23): hand-worked cases and invariants."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from assen_demand.errors import InvalidValueError, MissingDataError
from assen_demand.housing import doorstroming as D
from assen_demand.housing import stock as S

from care_helpers import make_population

AREAS = ("GM9999", "WK999901", "WK999902")


def _households(alone: dict, multi: dict, *, years=(2024,), areas=AREAS) -> xr.Dataset:
    """A households Dataset: ``alone``/``multi`` map (area, age) -> households, every year, women."""
    alone_arr = np.zeros((len(areas), 2, 101, len(years)))
    multi_arr = np.zeros_like(alone_arr)
    for (area, age), n in alone.items():
        alone_arr[areas.index(area), 1, age, :] = n
    for (area, age), n in multi.items():
        multi_arr[areas.index(area), 1, age, :] = n
    alone_da = make_population(alone_arr, areas=areas, years=years)
    return xr.Dataset({"alone": alone_da, "households": alone_da + make_population(multi_arr, areas=areas, years=years)})


def _table(**changes) -> pd.DataFrame:
    """The bundled table with some central values replaced: name -> value, or (name, key) -> value."""
    table = D.doorstroming_table().copy()  # noqa: the bundled table, values replaced below
    for name, value in changes.items():
        indicator, _, dtype = name.partition("__")
        rows = table["indicator"] == indicator
        if dtype:
            rows &= table["dwelling_type"] == dtype
        table.loc[rows, ["low", "central", "high"]] = value
    return table


def test_willing_movers_hand_worked():
    # W1: 100 one-person households aged 70; 50 multi-person households aged 80 (central values of
    # doorstroming.csv). Age 70: (0.713 family + 0.195 flat) x 0.04 / 2 x 0.44 x 1.15 (alone)
    #   = 100 x 0.908 x 0.0088 x 1.15 = 0.918896, of which family 100 x 0.713 x 0.0088 x 1.15 = 0.721556.
    # Age 80: (0.536 + 0.223) x 0.02 / 2 x 0.60 x 0.90 (with others) = 50 x 0.759 x 0.006 x 0.9 = 0.20493,
    #   family 50 x 0.536 x 0.006 x 0.9 = 0.14472. Age 40 in W2 does not count (below 55).
    hh = _households({("WK999901", 70): 100, ("WK999902", 40): 300}, {("WK999901", 80): 50})
    w = D.willing_movers(D.older_households(hh.sel(area=["WK999901", "WK999902"])))
    assert float(w["willing"].sel(area="WK999901", year=2024)) == pytest.approx(0.918896 + 0.20493)
    assert float(w["willing_family_home"].sel(area="WK999901", year=2024)) == pytest.approx(0.721556 + 0.14472)
    assert float(w["willing"].sel(area="WK999902", year=2024)) == 0.0


def test_no_new_homes_and_no_turnover_means_no_moves():
    willing = xr.DataArray([[50.0], [20.0]], dims=("area", "year"), coords={"area": ["W1", "W2"], "year": [2030]})
    moves = D.realise_moves(willing, xr.zeros_like(willing), share_own_wijk=0.4)
    assert float(abs(moves["realised"]).sum()) == 0.0
    assert float(abs(moves["moved_in"]).sum()) == 0.0


def _hand_stock():
    """Base stock 2024 of a two-wijk gemeente (estimate_stock on a hand population, see test_stock.py)."""
    data = np.zeros((3, 2, 101, 2))
    data[1, 1, 70, :], data[1, 1, 85, :] = 100, 50
    data[2, 0, 40, :], data[2, 0, 82, :] = 200, 20
    data[0] = data[1] + data[2]
    pop = make_population(data, areas=AREAS, years=(2024, 2025))
    dwellings = pd.DataFrame({"area": list(AREAS), "dwelling_stock": [3000.0, 1000.0, 2000.0]})
    tenure = pd.DataFrame({"area": list(AREAS), "rented_pct": [33.0, 60.0, 20.0]})
    return S.estimate_stock(pop, dwellings, tenure, gemeente="GM9999", base_year=2024)


def test_suitable_supply_counts_completions_in_their_year():
    stock = _hand_stock()
    plan = pd.DataFrame({"area": ["WK999901"], "year": [2024], "dwellings_added": [30.0], "dwellings_removed": [0.0],
                         "dwelling_type": ["geclusterd"]})
    supply = D.suitable_supply(stock, plan, [2024, 2025])
    # completed during 2024 -> available for moves in 2024, in the stock from 1 January 2025
    assert float(supply["added"].sel(area="WK999901", dwelling_type="geclusterd", year=2024)) == 30.0
    assert float(supply["added"].sel(area="WK999901", dwelling_type="geclusterd", year=2025)) == 0.0
    base = float(stock["central"].sel(area="WK999901", dwelling_type="geclusterd"))
    assert float(supply["stock"].sel(area="WK999901", dwelling_type="geclusterd", year=2025)) == pytest.approx(base + 30)
    assert float(supply["added"].sel(area="WK999902").sum()) == 0.0


def test_pipeline_of_n_with_enough_willing_realises_n_plus_turnover():
    # 40 new clustered homes in W1 during 2024, every new home to older movers (share 1), turnover
    # rate 0.02 per weighted home; 10,000 one-person households aged 80 in each wijk: more than enough
    # willing movers. Realised (gemeente) = 40 + turnover.
    stock = _hand_stock()
    plan = pd.DataFrame({"area": ["WK999901"], "year": [2024], "dwellings_added": [40.0], "dwellings_removed": [0.0],
                         "dwelling_type": ["geclusterd"]})
    supply = D.suitable_supply(stock, plan, [2024, 2025])
    table = _table(new_home_share_older_movers__geclusterd=1.0)
    hh = _households({("WK999901", 80): 10_000, ("WK999902", 80): 10_000}, {}, years=(2024, 2025))
    moves = D.doorstroming_moves(hh, supply, gemeente="GM9999", turnover_rate=0.02, table=table)
    s = stock["central"].sel(area=["WK999901", "WK999902"])
    turnover = float((s.sel(dwelling_type="nultredenwoning") * 0.25 + s.sel(dwelling_type="geclusterd") * 1.0
                      + s.sel(dwelling_type="zorggeschikt") * 1.2).sum()) * 0.02
    assert float(moves["willing"].sel(area="GM9999", year=2024)) > 40 + turnover  # enough willing movers
    assert float(moves["realised"].sel(area="GM9999", year=2024)) == pytest.approx(40 + turnover)
    assert float(moves["available_new"].sel(area="GM9999", year=2024)) == pytest.approx(40.0)
    # in 2025 there is no new home: turnover only (of a stock 40 larger)
    assert float(moves["realised"].sel(area="GM9999", year=2025)) == pytest.approx(turnover + 40 * 0.02)
    # the gemeente row is the sum of its wijken
    for var in ("willing", "realised", "moved_in", "freed_direct", "freed_chain"):
        wijken = moves[var].sel(area=["WK999901", "WK999902"]).sum("area")
        xr.testing.assert_allclose(moves[var].sel(area="GM9999", drop=True), wijken)


def test_pool_hand_worked():
    # W1 has 10 willing movers, no homes; W2 10 homes, nobody willing; 40 % want their own wijk.
    # Own wijk: 0 in both. Pool: 6 movers from W1 meet 10 homes in W2 -> 6 realised in W1, 6 moved in W2.
    willing = xr.DataArray([[10.0], [0.0]], dims=("area", "year"), coords={"area": ["W1", "W2"], "year": [2030]})
    homes = xr.DataArray([[0.0], [10.0]], dims=("area", "year"), coords={"area": ["W1", "W2"], "year": [2030]})
    moves = D.realise_moves(willing, homes, share_own_wijk=0.4)
    assert moves["realised"].values.ravel().tolist() == pytest.approx([6.0, 0.0])
    assert moves["moved_in"].values.ravel().tolist() == pytest.approx([0.0, 6.0])
    # W1 10 willing / 2 homes, W2 10 willing / 10 homes, half want their own wijk:
    # own = [2, 5]; pool: movers [5, 5], homes left [0, 5] -> 5 shared 2.5 / 2.5 by origin, all into W2
    willing = xr.DataArray([[10.0], [10.0]], dims=("area", "year"), coords={"area": ["W1", "W2"], "year": [2030]})
    homes = xr.DataArray([[2.0], [10.0]], dims=("area", "year"), coords={"area": ["W1", "W2"], "year": [2030]})
    moves = D.realise_moves(willing, homes, share_own_wijk=0.5)
    assert moves["realised"].values.ravel().tolist() == pytest.approx([4.5, 7.5])
    assert moves["moved_in"].values.ravel().tolist() == pytest.approx([2.0, 10.0])


def test_freed_direct_and_chain_are_separate():
    # 2 realised moves; 3 of 4 willing movers live in a family home -> 1.5 freed directly; chain 1.45 x 1.5
    realised = xr.DataArray([2.0], dims="area", coords={"area": ["W1"]})
    willing = xr.Dataset({"willing": ("area", [4.0]), "willing_family_home": ("area", [3.0])}, coords={"area": ["W1"]})
    freed = D.freed_family_homes(realised, willing, chain_multiplier=1.45)
    assert freed["freed_direct"].item() == pytest.approx(1.5)
    assert freed["freed_chain"].item() == pytest.approx(2.175)


def test_calibration_gives_the_published_realisation_share():
    # one wijk, no construction: realised / willing in the base year = 2 x 0.25 (CBS 2018: a quarter of
    # older households with a definite two-year wish moved within a year; willing per year = wishers / 2)
    stock = _hand_stock()
    supply = D.suitable_supply(stock, None, [2024, 2025])
    hh = _households({("WK999901", 80): 1000, ("WK999902", 70): 1000}, {("WK999901", 70): 500}, years=(2024, 2025))
    areas = ["GM9999", "WK999901"]
    one = D.doorstroming_moves(hh.sel(area=areas), supply.sel(area=areas), gemeente="GM9999")
    ratio = float(one["realised"].sel(area="GM9999", year=2024) / one["willing"].sel(area="GM9999", year=2024))
    assert ratio == pytest.approx(0.5)
    assert one.attrs["turnover_rate"] > 0


def test_bad_inputs_raise_package_errors():
    willing = xr.DataArray([[1.0]], dims=("area", "year"), coords={"area": ["W1"], "year": [2030]})
    with pytest.raises(InvalidValueError, match="share_own_wijk"):
        D.realise_moves(willing, willing, share_own_wijk=40)
    with pytest.raises(InvalidValueError, match="NaN or negative"):
        D.realise_moves(willing, -willing, share_own_wijk=0.4)
    stock = _hand_stock()
    supply = D.suitable_supply(stock, None, [2024])
    hh = _households({("WK999901", 80): 10}, {})
    with pytest.raises(MissingDataError, match="no suitable stock"):
        D.doorstroming_moves(hh, supply.sel(area=["WK999901"]), gemeente="GM9999")
    with pytest.raises(InvalidValueError, match="exceed 1"):
        D.willing_movers(D.older_households(hh), table=_table(family_home_share=0.9))


_counts = arrays(np.float64, (3, 2), elements=st.floats(0, 1e4, allow_nan=False, allow_infinity=False))


@settings(max_examples=40, deadline=None)
@given(willing=_counts, homes=_counts, share=st.floats(0, 1), family=st.floats(0, 1))
def test_moves_invariants(willing, homes, share, family):
    coords = {"area": ["W1", "W2", "W3"], "year": [2030, 2031]}
    w = xr.DataArray(willing, dims=("area", "year"), coords=coords)
    a = xr.DataArray(homes, dims=("area", "year"), coords=coords)
    moves = D.realise_moves(w, a, share_own_wijk=share)
    tol = 1e-7 * (1 + float(w.sum() + a.sum()))
    assert (moves["realised"] >= -tol).all() and (moves["realised"] <= w + tol).all()
    assert (moves["moved_in"] >= -tol).all() and (moves["moved_in"] <= a + tol).all()
    total = moves["realised"].sum("area")
    assert np.allclose(total, moves["moved_in"].sum("area"), atol=tol)
    assert (total <= np.minimum(w.sum("area"), a.sum("area")) + tol).all()
    freed = D.freed_family_homes(moves["realised"], xr.Dataset({"willing": w, "willing_family_home": w * family}),
                                 chain_multiplier=1.45)
    assert (freed["freed_direct"] <= moves["realised"] + tol).all()
    assert (freed["freed_direct"] >= -tol).all()


@settings(max_examples=40, deadline=None)
@given(willing=st.floats(0, 1e4), homes=st.floats(0, 1e4), share=st.floats(0, 1))
def test_one_wijk_realises_min_of_willing_and_homes(willing, homes, share):
    coords = {"area": ["W1"], "year": [2030]}
    moves = D.realise_moves(xr.DataArray([[willing]], dims=("area", "year"), coords=coords),
                            xr.DataArray([[homes]], dims=("area", "year"), coords=coords), share_own_wijk=share)
    assert moves["realised"].item() == pytest.approx(min(willing, homes), abs=1e-6)


@pytest.fixture(scope="module")
def more_homes_case():
    stock = _hand_stock()
    hh = _households({("WK999901", 75): 3000, ("WK999902", 80): 2000}, {("WK999902", 66): 4000})
    base = D.doorstroming_moves(hh, D.suitable_supply(stock, None, [2024]), gemeente="GM9999", turnover_rate=0.01)
    return stock, hh, base


@settings(max_examples=10, deadline=None)
@given(n=st.floats(0, 500))
def test_more_new_homes_never_fewer_moves(more_homes_case, n):
    stock, hh, base = more_homes_case
    plan = pd.DataFrame({"area": ["WK999902"], "year": [2024], "dwellings_added": [n], "dwellings_removed": [0.0],
                         "dwelling_type": ["geclusterd"]})
    more = D.doorstroming_moves(hh, D.suitable_supply(stock, plan, [2024]), gemeente="GM9999", turnover_rate=0.01)
    assert (more["realised"] >= base["realised"] - 1e-9).all()
    assert (more["freed_direct"] >= base["freed_direct"] - 1e-9).all()
    assert (more["freed_direct"] <= more["realised"] + 1e-9).all()


# ---- products: doorstroming.csv, the sheet, comparison rows, the chart ---------------------------

def _fake_result(name: str, extra_new: float):
    """A result-like object with a doorstroming of the two-wijk hand case (pipeline of ``extra_new`` in W2)."""
    from types import SimpleNamespace

    stock = _hand_stock()
    hh = _households({("WK999901", 75): 3000, ("WK999902", 80): 2000}, {("WK999902", 66): 4000}, years=(2025, 2026))
    plan = pd.DataFrame({"area": ["WK999902"], "year": [2025], "dwellings_added": [extra_new],
                         "dwellings_removed": [0.0], "dwelling_type": ["geclusterd"]})
    stock.attrs["base_year"] = 2025
    moves = D.doorstroming_moves(hh, D.suitable_supply(stock, plan, [2025, 2026]), gemeente="GM9999",
                                 turnover_rate=0.01)
    names = {"GM9999": "Testgemeente", "WK999901": "Noord", "WK999902": "Zuid"}
    return SimpleNamespace(doorstroming_moves=moves, area_names=names, gemeente="GM9999", scenario_name=name)


def test_products_table_sheet_and_comparison_rows():
    from assen_demand.outputs import doorstroming as P

    result = _fake_result("basis", 0.0)
    table = P.csv_table(result)
    assert list(table.columns) == ["area", "area_name", "year", "willing", "willing_family_home", "available_new",
                                   "available_turnover", "realised", "moved_in", "freed_direct", "freed_chain"]
    assert (table["freed_direct"] <= table["realised"] + 1e-9).all()
    sheet = P.sheet(result)
    assert list(sheet.columns[:3]) == ["Wijkcode", "Wijk", "Maat"] and 2025 in sheet.columns
    assert sheet["Wijkcode"].iloc[0] == "GM9999"  # gemeente first, measures in the order of MEASURE_LABELS
    assert sheet["Wijk"].iloc[0] == "Testgemeente (gemeente)" and sheet["Wijk"].iloc[-1] == "Zuid"
    assert sheet["Maat"].iloc[:len(P.MEASURE_LABELS)].tolist() == list(P.MEASURE_LABELS.values())
    chain = sheet[(sheet["Wijkcode"] == "WK999901") & (sheet["Maat"] == P.MEASURE_LABELS["freed_chain"])]
    expected = float(result.doorstroming_moves["freed_chain"].sel(area="WK999901", year=2025))
    assert chain[2025].iloc[0] == pytest.approx(expected)
    rows = P.comparison_rows(result)
    assert set(rows["measure"]) == {"doorstroming_willing", "doorstroming_realised", "doorstroming_freed_direct",
                                    "doorstroming_freed_chain"}
    assert set(rows["dwelling_type"]) == {"all"}
    assert P.csv_table(type("NoStep", (), {"doorstroming_moves": None})()) is None


def test_chart_basis_vs_building_scenario():
    import matplotlib

    matplotlib.use("Agg")
    from assen_demand.outputs import doorstroming as P

    basis, built = _fake_result("basis", 0.0), _fake_result("bouwplannen", 300.0)
    table = P.freed_by_wijk([basis, built])
    assert list(table.columns) == ["basis", "bouwplannen"] and list(table.index) == ["Noord", "Zuid"]
    assert (table["bouwplannen"] >= table["basis"] - 1e-9).all() and table["bouwplannen"].sum() > table["basis"].sum()
    fig = P.plot_freed_comparison(basis, built)
    ax = fig.axes[0]
    assert "Vrijgekomen eengezinswoningen" in ax.get_title()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["basis", "bouwplannen"]


@pytest.mark.parametrize("variant", ["low", "central", "high"])
def test_every_variant_of_the_bundled_table_runs(variant):
    # each variant takes the same end of every range: the shares must stay coherent (sum <= 1)
    stock = _hand_stock()
    hh = _households({("WK999901", 60): 500, ("WK999901", 90): 100}, {("WK999902", 70): 800})
    moves = D.doorstroming_moves(hh, D.suitable_supply(stock, None, [2024]), gemeente="GM9999", variant=variant)
    assert moves["willing"].sel(area="GM9999").item() > 0
    assert (moves["freed_direct"] <= moves["realised"] + 1e-9).all()
