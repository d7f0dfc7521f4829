"""Issue 22: the tidy-dtype fast path of ``read_table`` and the row groups of ``TableAppender``.

A Parquet table written by this package reads back with its labels already categorical in order
of first appearance; ``tidy_dtypes`` then leaves them alone instead of remapping (the 1.9 M-row
national population: 0.54 -> 0.03 s). The fast path must give exactly what the remapping gives.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assen_demand.outputs import tables_io


def _slow_ordered(values: pd.Series) -> pd.Series:
    """The remapping itself (what tidy_dtypes did for every categorical column before the fast path)."""
    text = values.astype(object).where(values.notna(), None)
    categories = pd.Index(pd.unique(text.dropna()).astype(str), dtype="str")
    codes = categories.get_indexer(text.astype(str).where(text.notna(), "\x00"))
    return pd.Series(pd.Categorical.from_codes(codes, categories=categories), name=values.name)


# 60 examples: 6 ms each; the property is about the order of codes, which short columns cover
@settings(max_examples=60, deadline=None)
@given(labels=st.lists(st.sampled_from(["GM0106", "WK010600", "WK010601", "male", "female", None]),
                       min_size=0, max_size=40),
       extra=st.lists(st.sampled_from(["WK999999", "GM0000"]), max_size=2), shuffle=st.randoms())
def test_fast_path_gives_the_remapped_categories(labels, extra, shuffle):
    # categories in any order, possibly with unused ones: the fast path may only skip the remap
    # when it would change nothing
    used = [v for v in dict.fromkeys(labels) if v is not None]
    categories = list(dict.fromkeys(used + extra))
    shuffle.shuffle(categories)
    column = pd.Series(pd.Categorical(labels, categories=pd.Index(categories, dtype="str")), name="area")
    got = tables_io.tidy_dtypes(pd.DataFrame({"area": column}))["area"]
    expected = _slow_ordered(column)
    assert got.cat.categories.tolist() == expected.cat.categories.tolist()
    assert got.astype(object).where(got.notna(), None).tolist() == labels


def test_first_appearance_check_by_hand():
    # hand-worked: codes [0 0 1 1 0 2] -> order of first appearance 0, 1, 2 and all three used
    ordered = pd.Series(pd.Categorical.from_codes([0, 0, 1, 1, 0, 2], categories=pd.Index(list("abc"), dtype="str")))
    assert tables_io._in_first_appearance_order(ordered)
    # codes [1 0]: b appears before a -> must be remapped
    swapped = pd.Series(pd.Categorical.from_codes([1, 0], categories=pd.Index(list("ab"), dtype="str")))
    assert not tables_io._in_first_appearance_order(swapped)
    # category c never used -> must be dropped by the remap
    unused = pd.Series(pd.Categorical.from_codes([0, 1], categories=pd.Index(list("abc"), dtype="str")))
    assert not tables_io._in_first_appearance_order(unused)


def test_integer_columns_keep_their_check(tmp_path):
    frame = tables_io.tidy_dtypes(pd.DataFrame({"age": np.array([1, 2], dtype="int16"), "year": [2024.0, 2025.0]}))
    assert str(frame["age"].dtype) == "int64" and str(frame["year"].dtype) == "int64"
    with pytest.raises(Exception, match="whole number"):
        tables_io.tidy_dtypes(pd.DataFrame({"year": [2024.5]}))


def test_appender_gathers_small_pieces_into_row_groups(tmp_path):
    # a national run appends one gemeente at a time (a few thousand rows): the appender holds pieces
    # until a row group has row_group_rows rows, so a reader does not pay per tiny row group
    path = tmp_path / "t.parquet"
    pieces = [pd.DataFrame({"gemeente": [f"GM{i:04d}"] * 30, "area": [f"GM{i:04d}"] * 30,
                            "year": np.arange(2024, 2054), "persons": np.linspace(0, 1, 30) + i})
              for i in range(10)]
    with tables_io.TableAppender(path, row_group_rows=100) as out:
        for piece in pieces:
            out.append(piece)
    meta = pq.ParquetFile(path).metadata
    assert meta.num_rows == 300
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [120, 120, 60]
    back = tables_io.read_table(path)
    pd.testing.assert_frame_equal(back, tables_io.tidy_dtypes(pd.concat(pieces, ignore_index=True)))
    one = tables_io.read_table(path, filters=[("gemeente", "==", "GM0007")])
    assert one["persons"].tolist() == pieces[7]["persons"].tolist()


def test_a_filtered_frame_keeps_every_value():
    # found by the national stochastic test: the rows of two gemeenten out of three (index 0, 1, 4, 5)
    # came back with NaN labels and numbers where their old index was past the new length
    frame = pd.DataFrame({"gemeente": ["GM0106", "GM0106", "GM1680", "GM1680", "GM0109", "GM0109"],
                          "year": [2024, 2025] * 3, "persons": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]})
    kept = tables_io.tidy_dtypes(frame[frame["gemeente"] != "GM1680"])
    assert kept["gemeente"].tolist() == ["GM0106", "GM0106", "GM0109", "GM0109"]
    assert kept["year"].tolist() == [2024, 2025, 2024, 2025] and kept["persons"].tolist() == [1.0, 2.0, 5.0, 6.0]


def _old_read(path) -> pd.DataFrame:
    """What read_table did before the direct conversion: pyarrow's to_pandas, then tidy_dtypes."""
    return tables_io.tidy_dtypes(pq.read_table(path).to_pandas())


def test_columns_without_missing_values_are_stored_required(tmp_path):
    # required columns have no definition levels to decode: the national population read in about half
    # the CPU time; NaN in a float column is a value, not a null, so the column stays required
    frame = pd.DataFrame({"area": ["GM0106", "WK010600", "WK010600"], "dwelling_type": ["a", None, "b"],
                          "year": [2024, 2025, 2026], "persons": [1.5, np.nan, 3.25]})
    path = tables_io.write_table(frame, tmp_path / "t.parquet")
    nullable = {f.name: f.nullable for f in pq.read_schema(path)}
    assert nullable == {"area": False, "dwelling_type": True, "year": False, "persons": False}
    back = tables_io.read_table(path)
    pd.testing.assert_frame_equal(back, tables_io.tidy_dtypes(frame), check_exact=True)
    assert np.isnan(back["persons"][1]) and back["dwelling_type"].isna().tolist() == [False, True, False]


def test_a_later_missing_label_rewrites_the_column_as_optional(tmp_path):
    # the first piece has no missing area_name (stored required); a piece after the first row group has
    # one: the appender rewrites the row groups written so far with the column optional, nothing lost
    path = tmp_path / "t.parquet"
    pieces = [pd.DataFrame({"area": [f"A{i}"] * 4, "area_name": [f"naam {i}"] * 4, "age": np.arange(4),
                            "persons": np.arange(4) + 0.5 * i}) for i in range(5)]
    pieces[3].loc[2, "area_name"] = None
    with tables_io.TableAppender(path, row_group_rows=8) as out:
        for piece in pieces:
            out.append(piece)
    assert [f.nullable for f in pq.read_schema(path)] == [False, True, False, False]
    meta = pq.ParquetFile(path).metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [8, 8, 4]
    expected = tables_io.tidy_dtypes(pd.concat(pieces, ignore_index=True))
    pd.testing.assert_frame_equal(tables_io.read_table(path), expected, check_exact=True)
    assert not (tmp_path / "t.parquet.widen").exists()


_NAMES = ["Centrum", "Noord", "Zuid", "Oost", None]


@settings(max_examples=40, deadline=None)
@given(pieces=st.lists(st.tuples(st.integers(0, 3), st.lists(st.sampled_from(_NAMES), min_size=1, max_size=6),
                                 st.lists(st.sampled_from([0.0, 1.25, float("nan"), -2.5]), min_size=1, max_size=6)),
                       min_size=1, max_size=5),
       group_rows=st.integers(1, 12))
def test_direct_conversion_equals_pyarrow_to_pandas(tmp_path_factory, pieces, group_rows):
    # row groups with their own dictionaries that share labels (wijk names repeat across gemeenten), missing
    # labels, NaN numbers: the direct conversion gives exactly what to_pandas + tidy_dtypes gave
    frames = []
    for gemeente, names, numbers in pieces:
        n = min(len(names), len(numbers))
        frames.append(pd.DataFrame({"gemeente": [f"GM{gemeente:04d}"] * n, "area_name": names[:n],
                                    "year": np.arange(2024, 2024 + n), "persons": numbers[:n],
                                    "flag": [True, False] * (n // 2) + [True] * (n % 2), "status": ["geschat"] * n}))
    path = tmp_path_factory.mktemp("direct") / "t.parquet"
    with tables_io.TableAppender(path, row_group_rows=group_rows) as out:
        for frame in frames:
            out.append(frame)
    got = tables_io.read_table(path)
    pd.testing.assert_frame_equal(got, _old_read(path), check_exact=True)
    pd.testing.assert_frame_equal(got, tables_io.tidy_dtypes(pd.concat(frames, ignore_index=True)), check_exact=True)


def test_a_file_with_a_stored_index_still_reads(tmp_path):
    # a Parquet file from elsewhere (pandas' own writer keeps a non-range index as a column)
    frame = pd.DataFrame({"area": ["GM0106", "WK010600"], "persons": [1.0, 2.0]}, index=[5, 7])
    frame.to_parquet(tmp_path / "t.parquet")
    back = tables_io.read_table(tmp_path / "t.parquet")
    assert back["area"].tolist() == ["GM0106", "WK010600"] and back["persons"].tolist() == [1.0, 2.0]


def test_a_label_column_with_only_missing_values():
    # found by the conversion test: a categorical column with no category and every value missing made
    # tidy_dtypes index an empty array (IndexError) when read back through pyarrow's to_pandas
    column = pd.Series(pd.Categorical.from_codes([-1, -1], categories=pd.Index([], dtype="str")), name="area_name")
    got = tables_io.tidy_dtypes(pd.DataFrame({"area_name": column}))["area_name"]
    assert got.isna().all() and len(got.cat.categories) == 0
