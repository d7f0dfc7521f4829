"""Parameter tables: every row sourced and dated, ranges ordered, shares in [0, 1]; loader rules."""

from __future__ import annotations

from importlib.resources import files

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assen_demand import parameters as P
from assen_demand.errors import DataFormatError, InvalidValueError, MissingDataError

TABLES = P.list_parameter_tables()


def _raw(name: str) -> pd.DataFrame:
    with files("assen_demand").joinpath("data", "parameters", name).open("r", encoding="utf-8") as fh:
        return pd.read_csv(fh)


def test_all_expected_tables_are_bundled():
    for name in ("institutional_share.csv", "living_alone.csv", "household_reference.csv", "care_prevalence.csv",
                 "dwelling_profiles.csv", "dwelling_norms.csv", "moving_rates.csv"):
        assert name in TABLES


@pytest.mark.parametrize("name", TABLES)
def test_every_row_has_source_year_and_ordered_range(name):
    raw = _raw(name)  # read directly, not through the validator under test
    assert raw["source"].notna().all() and (raw["source"].str.strip() != "").all(), name
    known = raw[raw["status"] == "bekend"]
    assert known["source"].str.contains("http").all(), f"{name}: every known value needs a source URL"
    # A row without a publisher URL is an assumption and must say why in plain words: no source at
    # all, or a publisher page that was not located (its news/mirror URL was dropped, issue 13).
    unsourced = raw[~raw["source"].str.contains("http")]
    assert (unsourced["status"] == "aanname").all(), name
    assert unsourced["source"].str.contains("no source|not located").all(), name
    assert raw["year"].notna().all(), name
    assert (raw["low"] <= raw["central"]).all() and (raw["central"] <= raw["high"]).all(), name
    shares = raw[raw["unit"].str.lower().str.startswith("share")]
    assert ((shares[["low", "central", "high"]] >= 0) & (shares[["low", "central", "high"]] <= 1)).all().all(), name
    assert set(raw["status"]) <= {"bekend", "geschat", "aanname"}
    # An assumption must say why in the note.
    assumptions = raw[raw["status"] == "aanname"]
    assert assumptions["note"].notna().all() and (assumptions["note"].str.len() > 10).all(), name


@pytest.mark.parametrize("name", TABLES)
def test_bundled_tables_validate(name):
    table = P.load_parameter_table(name)
    assert len(table) > 0


def _good_row(**changes):
    row = dict(indicator="x", sex="all", age_lo=0, age_hi=np.nan, year=2021, central=0.5, low=0.4, high=0.6,
               unit="share of persons", status="bekend", source="S, https://example.org", note="n")
    row.update(changes)
    return pd.DataFrame([row])


@pytest.mark.parametrize(
    "changes, error, match",
    [
        ({"source": ""}, DataFormatError, r"line 2, column 'source': is empty"),
        ({"year": np.nan}, DataFormatError, r"column 'year': is empty"),
        ({"low": 0.7}, InvalidValueError, r"low <= central <= high"),
        ({"central": 1.5, "high": 1.6}, InvalidValueError, r"outside \[0, 1\].*fractions"),
        ({"central": np.nan}, InvalidValueError, r"column 'central': is NaN"),
        ({"sex": "men"}, DataFormatError, r"use male, female or all"),
        ({"status": "guess"}, DataFormatError, r"use bekend, geschat or aanname"),
        ({"status": "known"}, DataFormatError, r"known -> bekend"),
        ({"age_hi": 0}, InvalidValueError, r"age_hi is exclusive"),
    ],
)
def test_validation_errors_name_row_column_and_fix(changes, error, match):
    with pytest.raises(error, match=match):
        P.validate_parameter_table(_good_row(**changes), name="t.csv")


def test_an_infinite_upper_age_is_an_error_that_names_it():
    # the row walk used to crash on int(inf) (OverflowError) instead of naming the cell
    with pytest.raises(InvalidValueError, match=r"column 'age_hi': inf is not a whole age"):
        P.validate_parameter_table(_good_row(age_hi=np.inf), name="t.csv")


# cells a hand-edited table may hold: good values, empty ones, text in number columns and the reverse
_CELL_VALUES = [np.nan, "", " ", "x", "5", 0, 1, -1, 0.5, 1.5, 2.5, 65, 70.5, np.inf, True, None,
                "male", "female", "all", "bekend", "aanname", "share of persons", "per 1000"]


@settings(max_examples=400, deadline=None)
@given(edits=st.lists(st.tuples(st.integers(0, 5), st.sampled_from(list(P.REQUIRED_COLUMNS)),
                                st.sampled_from(range(len(_CELL_VALUES)))), max_size=3))
def test_vectorised_row_check_passes_only_what_the_row_walk_passes(edits):
    # six good rows of disjoint bands, then a few cells replaced: with the vectorised check the
    # validation must end exactly as the row walk alone ends (same table, or same error and message)
    bands = [(0, 18), (18, 30), (30, 50), (50, 65), (65, 80), (80, np.nan)]
    frame = pd.concat([_good_row(age_lo=a, age_hi=b) for a, b in bands], ignore_index=True)
    for row, column, value in edits:
        frame[column] = frame[column].astype(object)
        frame.at[row, column] = _CELL_VALUES[value]
    # read back as a bundled table is read (pandas infers each column's type again)
    import io

    frame = pd.read_csv(io.StringIO(frame.to_csv(index=False)), dtype={"sex": str, "status": str, "indicator": str})

    def outcome(rows_pass):
        import unittest.mock

        with unittest.mock.patch.object(P, "_rows_pass", rows_pass):
            try:
                return P.validate_parameter_table(frame.copy(), name="t.csv")
            except Exception as exc:  # noqa: BLE001 - the comparison is of whatever happens
                return type(exc), str(exc)

    walked, fast = outcome(lambda _: False), outcome(P._rows_pass)
    if isinstance(walked, pd.DataFrame):
        assert isinstance(fast, pd.DataFrame)
        pd.testing.assert_frame_equal(fast, walked)
    else:
        assert fast == walked


def test_missing_column_is_reported():
    with pytest.raises(DataFormatError, match=r"missing column\(s\) \['note'\]"):
        P.validate_parameter_table(_good_row().drop(columns=["note"]), name="t.csv")


def test_overlapping_bands_rejected():
    frame = pd.concat([_good_row(age_lo=0, age_hi=70), _good_row(sex="female", age_lo=65, age_hi=np.nan)])
    with pytest.raises(DataFormatError, match=r"two rows cover age 65"):
        P.validate_parameter_table(frame.reset_index(drop=True), name="t.csv")


def test_missing_age_band_raises_with_ages():
    frame = P.validate_parameter_table(_good_row(age_lo=65, age_hi=np.nan), name="t.csv")
    with pytest.raises(MissingDataError, match=r"no age band for sex male at ages 0-64.*add rows"):
        P.banded_to_dataarray(frame, indicator="x", table="t.csv")
    filled = P.banded_to_dataarray(frame, indicator="x", fill=0.0)
    assert float(filled.sel(sex="male", age=64)) == 0 and float(filled.sel(sex="male", age=100)) == 0.5


def test_unknown_variant_and_indicator():
    table = P.load_parameter_table("care_prevalence.csv")
    with pytest.raises(DataFormatError, match=r"variant 'middle' is unknown"):
        P.banded_to_dataarray(table, indicator="dementia", variant="middle")
    with pytest.raises(MissingDataError, match=r"no rows for indicator 'dementa'"):
        P.banded_to_dataarray(table, indicator="dementa")
    with pytest.raises(MissingDataError, match=r"not bundled"):
        P.load_parameter_table("nothing.csv")


def test_year_interpolation_hand_worked():
    # 80-89: 10% (2015) -> 6% (2030): 2021 = 0.10 + (0.06 - 0.10) * 6/15 = 0.084; constant after 2030.
    table = P.load_parameter_table("institutional_share.csv")
    da = P.banded_to_dataarray(table, indicator="institutional_share", years=[2010, 2021, 2030, 2040])
    assert da.dims == ("sex", "age", "year")
    np.testing.assert_allclose(da.sel(sex="female", age=85).values, [0.10, 0.084, 0.06, 0.06])
    np.testing.assert_allclose(da.sel(sex="male", age=100).values, [0.32, 0.26, 0.17, 0.17])
    with pytest.raises(DataFormatError, match=r"pass years="):
        P.banded_to_dataarray(table, indicator="institutional_share")


def test_sex_all_rows_expand_and_align_by_label():
    table = P.load_parameter_table("care_prevalence.csv")
    da = P.banded_to_dataarray(table, indicator="mobility_limitation", sexes=("female", "male"))
    assert list(da["sex"].values) == ["female", "male"]
    assert float(da.sel(sex="female", age=80)) == 0.32 and float(da.sel(sex="male", age=80)) == 0.20
    assert float(da.sel(sex="female", age=40)) == float(da.sel(sex="male", age=40)) == 0.04
