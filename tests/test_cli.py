"""cli.py: the forecast command end to end, its one-line errors (status 2) and --force."""

from __future__ import annotations

import re

import pytest
from products_helpers import assen_forecast, cli_forecast_run, scratch

from assen_demand import pipeline
from assen_demand.outputs import plots
from assen_demand.cli import main


def _error(capsys, argv) -> str:
    status = main(argv)
    captured = capsys.readouterr()
    assert status == 2, captured
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err
    return lines[0]


def _parser_error(capsys, argv) -> str:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    captured = capsys.readouterr()
    assert exc.value.code == 2
    assert len(captured.err.strip().splitlines()) == 1
    return captured.err


@pytest.mark.slow
def test_forecast_writes_every_file_and_says_where():
    out, status, stdout = cli_forecast_run()
    assert status == 0
    for name in ("population.csv", "care_need.csv", "dwellings.csv", "doorstroming.csv", "mantelzorg.csv",
                 "households.csv", "forecast.xlsx", "provenance.json"):
        assert (out / name).is_file(), name
    assert f"geschreven in {out}/" in stdout
    assert "scenario basis, basisjaar 2024" in stdout.splitlines()[0]
    assert "forecast.xlsx" in stdout and "figures/" in stdout and "provenance.json" in stdout


@pytest.mark.slow
def test_forecast_refuses_a_folder_with_other_files(capsys):
    out, _, _ = cli_forecast_run()
    (out / "notes.txt").write_text("mine")
    line = _error(capsys, ["forecast", "--out", str(out)])
    assert f"uitvoermap {out.absolute()} bevat bestanden die geen eerdere run schreef (notes.txt)" in line
    assert "voeg --force toe" in line
    (out / "notes.txt").unlink()


@pytest.mark.slow
def test_force_replaces_only_the_run_files(monkeypatch, capsys):
    import json

    out = scratch("forced")
    (out / "figures").mkdir(parents=True)
    (out / "figures" / "waaier_geclusterd.png").write_bytes(b"stale")  # an earlier run's figure
    (out / "figures" / "mine.png").write_bytes(b"user's")
    (out / "provenance.json").write_text(json.dumps({"manifest": [{"path": "figures/waaier_geclusterd.png"}]}))
    (out / "notes.txt").write_text("mine")
    monkeypatch.setattr(pipeline, "forecast", lambda *a, **k: assen_forecast())
    monkeypatch.setattr(plots, "start_figures", lambda result, folder, **_: plots.PendingFigures(None, [], 40, 1))
    assert main(["forecast", "--out", str(out), "--force"]) == 0
    assert not (out / "figures" / "waaier_geclusterd.png").exists()
    assert (out / "figures" / "mine.png").read_bytes() == b"user's"
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "forecast.xlsx").is_file()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--gemeente", "Atlantis"], r"gemeente 'Atlantis' is not in the bundled data.*--data-dir"),
        (["--base-year", "2024", "--end-year", "2020"], r"--end-year 2020 moet na --base-year 2024 komen"),
        (["--supply", "no_such_supply.csv"], r"--supply no_such_supply.csv niet gevonden"),
        (["--seed", "3"], r"--seed geldt alleen voor Monte-Carlo-trekkingen; voeg --draws N toe"),
        (["--keep-draws"], r"--keep-draws geldt alleen voor Monte-Carlo-trekkingen; voeg --draws N toe"),
        (["--draws", "-1"], r"--draws moet 0 of meer zijn"),
        (["--data-dir", "/no/such/folder"], r"--data-dir /no/such/folder is geen map"),
        (["--base-year", "2019"], r"no .*2019"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(capsys, argv, message):
    import re

    out = scratch("bad")
    line = _error(capsys, ["forecast", "--out", str(out), *argv])
    assert re.search(message, line), line
    assert not out.exists()


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], "assen-demand: fout: verplicht maar niet gegeven: een opdracht (forecast, backtest of report); "
             "zie assen-demand --help"),
        (["forecast"], "assen-demand forecast: fout: verplicht maar niet gegeven: --out"),
        (["backtest", "--base-year", "2021"], "verplicht maar niet gegeven: --target-year, --out"),
        (["voorspel"], "assen-demand: fout: opdracht: ongeldige keuze 'voorspel' (kies uit 'forecast', "
                       "'backtest', 'report')"),
        (["forecast", "--out", "x", "--draws", "many"], "optie --draws: ongeldige waarde 'many': verwacht een "
                                                         "geheel getal"),
        (["forecast", "--out", "x", "--variant", "mid"], "optie --variant: ongeldige keuze 'mid' (kies uit"),
        (["forecast", "--out", "x", "--bogus"], "onbekende argumenten: --bogus"),
        (["forecast", "--out"], "optie --out: verwacht één waarde"),
    ],
)
def test_parser_errors_are_one_dutch_line(capsys, argv, expected):
    err = _parser_error(capsys, argv)
    assert expected in err and err.rstrip().endswith("--help")
    for english in ("usage", "error", "argument", "required", "invalid", "expected", "unrecognized", "choose"):
        assert not re.search(rf"\b{english}\b", err), err


def test_an_unknown_parse_message_passes_unchanged():
    from assen_demand.cli import _dutch_parse_error

    assert _dutch_parse_error("something argparse adds later") == "something argparse adds later"


def _broken(exception):
    def command(args):
        raise exception

    return command


@pytest.mark.parametrize(
    ("exception", "status", "expected"),
    [
        (ZeroDivisionError("division by zero"), 1,
         "assen-demand forecast: interne fout (in assen_demand, niet in uw invoer): ZeroDivisionError: division by "
         "zero; meld die met de volledige opdracht (--verbose toont de traceback)"),
        (MemoryError(), 2, "assen-demand forecast: fout: niet genoeg geheugen voor deze run; gebruik minder --draws"),
        (PermissionError(13, "Permission denied", "/x/y.csv"), 2,
         "assen-demand forecast: fout: Permission denied (/x/y.csv); controleer het pad en de rechten"),
    ],
)
def test_internal_memory_and_os_errors_are_one_dutch_line(monkeypatch, capsys, exception, status, expected):
    from assen_demand import cli

    monkeypatch.setattr(cli, "_forecast", _broken(exception))
    assert main(["forecast", "--out", str(scratch("broken"))]) == status
    err = capsys.readouterr().err
    assert err.strip() == expected or (expected in err and len(err.strip().splitlines()) == 1), err
    assert "Traceback" not in err


def test_a_folder_of_other_files_is_refused_in_dutch(tmp_path, capsys):
    out = tmp_path / "results"
    out.mkdir()
    for name in ("a.txt", "b.txt", "c.txt", "d.txt", "e.txt"):
        (out / name).write_text("mine")
    line = _error(capsys, ["forecast", "--out", str(out)])
    assert line == (f"assen-demand forecast: fout: uitvoermap {out} bevat bestanden die geen eerdere run schreef "
                    "(a.txt, b.txt, c.txt en nog 2); kies een andere --out of voeg --force toe (vervangt alleen de "
                    "bestanden die een run in provenance.json noemt, de rest blijft)")


def test_a_file_or_link_as_out_folder_is_refused_in_dutch(tmp_path, capsys):
    target = tmp_path / "a_file"
    target.write_text("")
    assert _error(capsys, ["forecast", "--out", str(target)]).endswith(f"--out {target} is een bestand; geef een map")
    link = tmp_path / "link"
    link.symlink_to(tmp_path)
    assert f"--out {link} is een symbolische koppeling; geef de echte map" in _error(capsys, ["forecast", "--out",
                                                                                                str(link)])


def test_draws_beyond_memory_are_refused_in_dutch_numbers(monkeypatch, capsys, tmp_path):
    from assen_demand import cli

    monkeypatch.setattr(cli, "_available_memory", lambda: 3 * 2**30)  # 3 GiB free
    line = _error(capsys, ["forecast", "--draws", "100000", "--out", str(tmp_path / "out")])
    assert re.search(r"--draws 100000 vraagt ongeveer [\d.]+,\d GiB geheugen \([\d.]+,\d MiB per trekking voor "
                     r"11 gebieden x 17 jaren\) en er is 3,0 GiB vrij; gebruik hoogstens --draws \d+$", line), line
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_scenario_and_draws_reach_every_product(capsys):
    import json

    import openpyxl
    import pandas as pd

    out = scratch("scenario_draws")
    argv = ["forecast", "--out", str(out), "--scenario", "extramuralisering", "--draws", "20", "--seed", "7",
            "--end-year", "2030", "--format", "csv"]  # with draws the default is Parquet (issue 22)
    assert main(argv) == 0, capsys.readouterr().err
    dw = pd.read_csv(out / "dwellings.csv")
    for value in ("need", "gap"):
        assert {f"{value}_q05", f"{value}_q50", f"{value}_q95"} <= set(dw.columns)
    need = dw.dropna(subset=["need"])  # the norm model has no norm for nursing places and begeleid wonen
    assert need[["need_q05", "need_q50", "need_q95"]].notna().all().all()  # every need has its quantiles
    assert ((need["need_q05"] <= need["need_q50"]) & (need["need_q50"] <= need["need_q95"])).all()
    assert (need["need_q95"] > need["need_q05"]).any()
    record = json.loads((out / "provenance.json").read_text(encoding="utf-8"))
    assert record["scenario"]["name"] == "extramuralisering" and len(record["scenario"]["sha256"]) == 64
    assert any(s["section"] == "institutions" for s in record["scenario"]["settings"])
    assert (record["draws"], record["seed"]) == (20, 7)
    book = openpyxl.load_workbook(out / "forecast_extramuralisering.xlsx", read_only=True)
    assert "Onzekerheid" in book.sheetnames
    sources = [row for row in book["Bronnen en aannames"].iter_rows(values_only=True)]
    scenario_rows = [row for row in sources if row and row[0] == "Scenario"]
    assert len(scenario_rows) > 5 and any("extramuralisering" in str(cell) for cell in scenario_rows[0])
    assert len(list((out / "figures").glob("waaier_*.png"))) == 5
    # the same seed gives the same file
    again = scratch("scenario_draws_again")
    assert main(argv[:2] + [str(again)] + argv[3:]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(again / "dwellings.csv"), dw)


def test_unknown_scenario_is_one_line(capsys):
    line = _error(capsys, ["forecast", "--out", str(scratch("bad_scenario")), "--scenario", "vergrijzing_hoog"])
    assert "no bundled scenario 'vergrijzing_hoog'" in line


@pytest.mark.slow
def test_draws_zero_is_the_central_run(monkeypatch):
    seen = {}

    def fake(*args, **kwargs):
        seen.update(kwargs)
        return assen_forecast()

    monkeypatch.setattr(pipeline, "forecast", fake)
    monkeypatch.setattr(plots, "start_figures", lambda result, folder, **_: plots.PendingFigures(None, [], 40, 1))
    assert main(["forecast", "--out", str(scratch("zero")), "--draws", "0"]) == 0
    assert "draws" not in seen and "seed" not in seen and "scenario" not in seen


@pytest.mark.slow
def test_forecast_for_a_list_of_gemeenten_writes_one_table_each(capsys):
    import json

    import pandas as pd

    out = scratch("many")
    status = main(["forecast", "--gemeente", "GM0106,Tynaarlo", "--end-year", "2026", "--format", "csv",
                   "--out", str(out)])  # for a list the default is Parquet (issue 22, tests/test_store.py)
    stdout = capsys.readouterr().out
    assert status == 0, stdout
    assert "2 van 2 gemeenten berekend" in stdout
    gemeenten = pd.read_csv(out / "gemeenten.csv")
    assert gemeenten["gemeente"].tolist() == ["GM0106", "GM1730"] and (gemeenten["status"] == "ok").all()
    population = pd.read_csv(out / "population.csv")
    assert set(population["gemeente"]) == {"GM0106", "GM1730"}
    for name in ("care_need.csv", "dwellings.csv", "households.csv", "doorstroming.csv", "mantelzorg.csv"):
        assert set(pd.read_csv(out / name)["gemeente"]) == {"GM0106", "GM1730"}, name
    # each gemeente's rows are its single-gemeente forecast
    single = assen_forecast().to_frame("population")
    assen_2026 = population[(population["area"] == "GM0106") & (population["year"] == 2026)]["persons"].sum()
    assert assen_2026 == pytest.approx(single[(single["area"] == "GM0106") & (single["year"] == 2026)]["persons"].sum(),
                                       rel=1e-6)
    record = json.loads((out / "provenance.json").read_text())
    assert record["gemeenten"] == {"ok": 2}
    assert record["data"]["source"] == "bundled" and all(len(f["sha256"]) == 64 for f in record["data"]["files"])
    assert {f["file"] for f in record["parameters"]} >= {"care_prevalence.csv", "migration_dispersion.csv"}


def test_many_gemeenten_with_draws_need_a_worker(capsys):
    # issue 20 goal 4: --gemeente all --draws N runs the national stochastic run; zero workers is refused
    # before anything is computed, in Dutch
    line = _error(capsys, ["forecast", "--gemeente", "all", "--draws", "10", "--workers", "0",
                           "--out", str(scratch("many_draws"))])
    assert "--workers moet 1 of meer zijn" in line


@pytest.mark.slow  # 2 gemeenten x 4 draws to 2026 on a 1-worker LocalCluster, then each again alone: ~40 s of CPU
def test_many_gemeenten_with_draws_write_the_single_gemeente_quantiles(capsys):
    import json

    import numpy as np
    import pandas as pd

    import assen_demand as ad
    from assen_demand.housing import opgave as opgave_step
    from assen_demand.outputs import tables_io

    out = scratch("many_draws_run")
    status = main(["forecast", "--gemeente", "GM0106,GM0109", "--draws", "4", "--seed", "7", "--end-year", "2026",
                   "--workers", "1", "--out", str(out)])
    printed = capsys.readouterr().out
    assert status == 0, printed
    assert printed.splitlines()[0].startswith("Landelijke Monte-Carlo-run: 4 trekkingen per gemeente")
    assert f"{out}/opgave_quantiles.parquet" in printed.splitlines()[0]
    assert "2 van 2 gemeenten berekend met 4 trekkingen (seed 7)" in printed
    gemeenten = pd.read_csv(out / "gemeenten.csv")
    assert sorted(gemeenten["gemeente"]) == ["GM0106", "GM0109"] and (gemeenten["status"] == "ok").all()
    assert (gemeenten["peak_rss_mb"] > 0).all() and gemeenten["worker"].nunique() == 1
    run = json.loads((out / "run.json").read_text())
    assert run["workers"] == 1 and run["draws"] == 4 and run["wall_s"] > 0
    assert json.loads((out / "provenance.json").read_text())["gemeenten"] == {"ok": 2}
    table = tables_io.read_table(out / "opgave_quantiles.parquet")
    single = ad.forecast("GM0106", draws=4, seed=7, end_year=2026, base_year=run["base_year"], progress=False)
    expected = opgave_step.to_frame(single.opgave, single.area_names)
    keys = ["area", "dwelling_type", "year"]

    def by_text(frame):
        return frame.astype({"area": str, "dwelling_type": str, "year": int})

    mine = table[table["gemeente"].astype(str) == "GM0106"]
    merged = by_text(expected).merge(by_text(mine), on=keys, suffixes=("", "_cli"))
    assert len(merged) == len(expected) > 0
    for column in ("need_q05", "opgave_q50", "opgave_q95"):
        # the same seed and chain as the single run: exactly equal
        np.testing.assert_array_equal(merged[f"{column}_cli"].to_numpy(), merged[column].to_numpy(), err_msg=column)
    assert set(ad.open_forecast(out).opgave_quantiles["area"].values) == set(table["area"].astype(str))
