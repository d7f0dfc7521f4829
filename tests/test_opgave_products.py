"""Products of the stock and opgave (issue 13, item 6): CSV tables, workbook sheets, charts."""

from __future__ import annotations

import openpyxl
import pandas as pd
import pytest
from products_helpers import assen_forecast, cli_forecast_run

from assen_demand.housing.stock import STOCK_TYPES
from assen_demand.outputs import export, plots


@pytest.fixture(scope="module")
def run():
    out, status, _ = cli_forecast_run()
    assert status == 0
    return out


@pytest.mark.slow  # the CLI run with figures
def test_opgave_and_stock_csv_are_tidy_and_consistent(run):
    opgave = pd.read_csv(run / "opgave.csv")
    stock = pd.read_csv(run / "stock.csv")
    assert list(opgave.columns[:18]) == ["area", "area_name", "dwelling_type", "year", "need", "need_base", "stock",
                                         "stock_low", "stock_high", "stock_target", "planned", "backlog", "backlog_low",
                                         "backlog_high", "opgave", "opgave_low", "opgave_high", "opgave_uncalibrated"]
    assert set(opgave["dwelling_type"]) == set(STOCK_TYPES)
    # calibrated opgave = need - (need_base - backlog) - planned; the uncalibrated one = need - stock_target
    # (stock_target includes the planned additions); negative values are kept
    cells = opgave.dropna(subset=["opgave"])
    calibrated = cells["need"] - (cells["need_base"] - cells["backlog"]) - cells["planned"]
    assert (cells["opgave"] - calibrated).abs().max() < 1e-3
    assert (cells["opgave_uncalibrated"] - (cells["need"] - cells["stock_target"])).abs().max() < 1e-3
    assert (cells["opgave"] < 0).any() and (cells["opgave_uncalibrated"] < 0).any()
    # nursing places: a gemeente gap only
    wijk_vpz = opgave[(opgave["area"] != "GM0106") & (opgave["dwelling_type"] == "verpleegzorgplek")]
    assert wijk_vpz["opgave"].isna().all() and wijk_vpz["need"].notna().all()
    # the programme share is a comparison for 2030 only
    assert opgave.loc[opgave["year"] != 2030, "programme_share_2030"].isna().all()
    assert stock.columns.tolist()[:8] == ["area", "area_name", "dwelling_type", "year", "low", "central", "high",
                                          "status"]
    assert set(stock["status"]) == {"geschat"} and stock["source"].str.contains("https://").all()
    gm = stock[stock["area"] == "GM0106"].set_index("dwelling_type")["central"]
    wijken = stock[stock["area"] != "GM0106"].groupby("dwelling_type")["central"].sum()
    for t in ("nultredenwoning", "geclusterd", "zorggeschikt"):
        assert wijken[t] == pytest.approx(gm[t], rel=1e-6)


@pytest.mark.slow  # the CLI run with figures
def test_workbook_opgave_and_stock_sheets(run):
    book = openpyxl.load_workbook(run / export.WORKBOOK, read_only=True)
    rows = [list(r) for r in book["Opgave per wijk"].iter_rows(values_only=True)]
    header = rows[0]
    assert header[:2] == ["Wijkcode", "Wijk"]
    assert "Geclusterde woonvorm 2030" in header and "Nultredenwoning 2040" in header
    assert len(header) == 2 + len(STOCK_TYPES) * 3
    assert [r[1] for r in rows[1:]][:2] == ["Assen", "Centrum"] and len(rows) == 1 + 11
    vpz = header.index("Verpleegzorgplek 2030")
    assert rows[1][vpz] is not None and all(r[vpz] is None for r in rows[2:])
    stock = [list(r) for r in book["Voorraad"].iter_rows(values_only=True)]
    assert {"Status", "Bron", "Laag", "Centraal", "Hoog"} <= set(stock[0])
    about = {r[0]: r[1] for r in book["Toelichting"].iter_rows(values_only=True)}
    text = about["Behoefte, voorraad en opgave"]
    assert "Behoefte is" in text and "voorraad is" in text and "opgave is" in text and text.count(". ") == 1
    norm = [list(r) for r in book["Woningbehoefte norm"].iter_rows(values_only=True)]
    assert [h for h in norm[0] if isinstance(h, int) or str(h).isdigit()] in ([2030], ["2030"])


@pytest.mark.slow  # the CLI run with figures
def test_one_opgave_chart_per_type(run):
    for t in STOCK_TYPES:
        assert (run / "figures" / f"opgave_{t}.png").stat().st_size > 5_000


def test_opgave_chart_shows_negative_bars_and_dutch_title():
    result = assen_forecast()
    ax = plots.plot_opgave(result, "nultredenwoning")
    assert ax.get_title().startswith("Opgave nultredenwoningen per wijk")
    assert any("Bron: CBS" in t.get_text() for t in ax.figure.texts)
    ax = plots.plot_opgave(result, "verpleegzorgplek")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Assen"]
    # a surplus is drawn, not clipped: Assen has one of verpleegzorgplekken (about -7 places). Since issue
    # 18's combined default no wijk has a surplus of nultredenwoningen any more (cohort-component: -2.7)
    assert min(p.get_path().vertices[:, 0].min() for p in ax.patches) < 0  # bars of the three years
    with pytest.raises(Exception, match=r"no opgave for dwelling type 'begeleid_wonen'"):
        plots.plot_opgave(result, "begeleid_wonen")
