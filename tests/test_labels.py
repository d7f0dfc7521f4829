"""outputs/labels.py: the quantile join both Forecast.to_frame and StoredForecast.to_frame use."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from assen_demand.outputs.labels import with_quantile_columns


def test_quantiles_follow_their_value_and_missing_rows_get_nan():
    # hand-worked: two value columns, quantiles of the first only, one row without a quantile row,
    # and a quantile of a value the table does not have (goes last)
    frame = pd.DataFrame({"area": ["A", "A", "B"], "year": [2024, 2025, 2024],
                          "need": [10.0, 12.0, 5.0], "supply": [9.0, 9.5, 4.0]})
    quantiles = pd.DataFrame({"area": ["A", "A"], "year": [2024, 2025], "need_q05": [8.0, 9.0],
                              "need_q95": [12.0, 15.0], "gap_q50": [1.0, 2.5]})
    out = with_quantile_columns(frame, quantiles, ["area", "year"])
    assert list(out.columns) == ["area", "year", "need", "need_q05", "need_q95", "supply", "gap_q50"]
    assert out["need_q95"].tolist()[:2] == [12.0, 15.0] and np.isnan(out["need_q95"].iloc[2])
    pd.testing.assert_frame_equal(out[frame.columns], frame)  # the table itself is unchanged


@settings(max_examples=30, deadline=None)
@given(values=st.lists(st.sampled_from(["need", "supply", "gap", "stock"]), min_size=1, max_size=4, unique=True),
       levels=st.lists(st.sampled_from(["05", "50", "95"]), min_size=1, max_size=3, unique=True))
def test_every_column_is_kept_once_and_each_value_is_followed_by_its_quantiles(values, levels):
    frame = pd.DataFrame({"year": [2024, 2025], **{v: [1.0, 2.0] for v in values}})
    names = [f"{v}_q{lev}" for v in values for lev in levels]
    quantiles = pd.DataFrame({"year": [2024, 2025], **{n: [0.5, 1.5] for n in names}})
    out = list(with_quantile_columns(frame, quantiles, ["year"]).columns)
    assert sorted(out) == sorted(["year", *values, *names])
    for v in values:
        at = out.index(v)
        assert out[at + 1: at + 1 + len(levels)] == [f"{v}_q{lev}" for lev in levels]
