"""The quantiles over draws are NumPy's (and so xarray's) bit for bit, from one sort (issue 20)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from assen_demand.datamodel import QUANTILES
from assen_demand.draw_quantiles import quantiles_of_rows, quantiles_over_draws
from assen_demand.errors import InvalidValueError

# values as the draws hold them: counts with ties, zeros, NaN (no draw), now and then an infinity
_VALUES = st.one_of(st.floats(-1e6, 1e6, allow_nan=False), st.sampled_from([0.0, 1.0, 2.5, np.nan, np.inf, -np.inf]))


@settings(max_examples=300, deadline=None)
@given(rows=hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=40), elements=_VALUES),
       q=st.lists(st.floats(0, 1), min_size=1, max_size=8), as32=st.booleans())
def test_rows_give_numpys_nanquantile_bit_for_bit(rows, q, as32):
    data = rows.astype(np.float32) if as32 else rows
    expected_rows = data.astype(np.float64)
    with np.errstate(invalid="ignore"), _no_check():
        expected = np.nanquantile(expected_rows, q, axis=1)
    got = quantiles_of_rows(data.copy(), q)
    np.testing.assert_array_equal(got, expected)
    # rows without NaN: np.quantile (the path the population takes)
    whole = ~np.isnan(expected_rows).any(axis=1)
    if whole.any():
        with np.errstate(invalid="ignore"):
            np.testing.assert_array_equal(got[:, whole], np.quantile(expected_rows[whole], q, axis=1))


class _no_check:
    """np.nanquantile warns on all-NaN rows; what is compared is the value."""

    def __enter__(self):
        import warnings

        self._catcher = warnings.catch_warnings()
        self._catcher.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        self._catcher.__exit__(*exc)


def test_hand_worked_quantiles_of_four_draws():
    # draws 1, 2, 3, 4 (given unsorted, one NaN): q = 0.5 sits at index 1.5 -> 2.5; q = 0.05 at
    # 0.15 -> 1 + 0.15 = 1.15; q = 0.95 at 2.85 -> 4 - 1 x 0.15 = 3.85 (the upper side of NumPy's
    # interpolation for gamma >= 0.5); q = 1 is the largest draw; a row of NaN has no quantile
    rows = np.array([[4.0, np.nan, 2.0, 1.0, 3.0], [np.nan] * 5])
    got = quantiles_of_rows(rows, [0.05, 0.5, 0.95, 1.0])
    np.testing.assert_allclose(got[:, 0], [1.15, 2.5, 3.85, 4.0], rtol=0, atol=1e-15)
    assert np.isnan(got[:, 1]).all()


def test_dataarray_quantiles_are_xarrays_in_blocks(monkeypatch):
    import assen_demand.draw_quantiles as dq

    monkeypatch.setattr(dq, "BLOCK_CELLS", 7)  # several blocks, the last one short
    rng = np.random.default_rng(3)
    values = rng.gamma(2.0, 50.0, size=(60, 3, 5, 4)).astype(np.float32)
    values[:, 1, 2, :] = np.nan  # a cell with no value in any draw (a nursing place in a wijk)
    values[::7, 0, 0, 0] = np.nan  # some draws missing
    da = xr.DataArray(values, dims=("draw", "area", "age", "year"),
                      coords={"draw": np.arange(60), "area": ["GM1", "WK1", "WK2"], "year": [1, 2, 3, 4]},
                      name="persons", attrs={"units": "persons"})
    got = quantiles_over_draws(da.transpose("area", "draw", "age", "year"), QUANTILES)
    with _no_check():
        expected = da.astype(np.float64).quantile(QUANTILES, dim="draw")
    assert got.dims == ("quantile", "area", "age", "year")
    np.testing.assert_array_equal(got.values, expected.transpose("quantile", "area", "age", "year").values)
    assert got.attrs == {"units": "persons"} and got.name == "persons"
    assert list(got["area"].values) == ["GM1", "WK1", "WK2"]


def test_bad_probabilities_and_dims_are_named():
    with pytest.raises(InvalidValueError, match=r"must lie in \[0, 1\]"):
        quantiles_of_rows(np.ones((2, 3)), [5.0])
    with pytest.raises(InvalidValueError, match="no 'draw' dimension"):
        quantiles_over_draws(xr.DataArray(np.ones(3), dims="area"), [0.5])


def test_a_dataset_gets_the_quantiles_of_its_variables_with_draws():
    rng = np.random.default_rng(4)
    ds = xr.Dataset({"need": (("draw", "area"), rng.gamma(2.0, 5.0, size=(40, 3))),
                     "stock": (("area",), np.array([1.0, 2.0, 3.0]))}, attrs={"run": "x"})
    got = quantiles_over_draws(ds, [0.05, 0.5])
    np.testing.assert_array_equal(got["need"].values, quantiles_over_draws(ds["need"], [0.05, 0.5]).values)
    np.testing.assert_array_equal(got["stock"].values, ds["stock"].values)  # no draws: kept as it is
    assert got.attrs == {"run": "x"}
