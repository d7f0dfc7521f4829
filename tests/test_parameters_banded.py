"""The numpy expansion of banded parameter rows equals the pandas/iterrows one it replaced (issue 20).

``_reference`` below is the implementation of :func:`assen_demand.parameters.banded_to_dataarray`
as it was on main before issue 20 (5d26f1b7), kept here verbatim as the oracle: the new code must give
the same array bit for bit (``np.array_equal`` with NaN equal), the same coordinates and attributes,
on every bundled table, indicator, key combination and variant, and on random banded tables.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assen_demand import parameters as P
from assen_demand.errors import DataFormatError, MissingDataError

YEARS = (2015, 2021, 2024, 2030, 2040)


def _reference(frame, *, indicator, variant="central", years=None, ages=P.AGES, sexes=P.SEXES, fill=None,
               table="<table>", **keys):
    sel = frame[frame["indicator"] == indicator]
    for col, value in keys.items():
        if col not in frame.columns:
            raise DataFormatError(f"{table}: has no column {col!r}")
        sel = sel[sel[col] == value]
    if sel.empty:
        raise MissingDataError(f"{table}: no rows for indicator {indicator!r}")
    values = P.select_variant(sel, variant=variant)
    ref_years = sorted(sel["year"].unique())
    if years is None and len(ref_years) > 1:
        raise DataFormatError(f"{table}: indicator {indicator!r} has reference years {ref_years}")
    out_years = list(years) if years is not None else ref_years
    ages = list(ages)
    data = np.full((len(sexes), len(ages), len(out_years)), np.nan)
    age_arr = np.asarray(ages)
    for si, sex in enumerate(sexes):
        rows = sel[(sel["sex"] == sex) | (sel["sex"] == "all")]
        by_band = {}
        for idx, r in rows.iterrows():
            hi = 10_000 if pd.isna(r["age_hi"]) else int(r["age_hi"])
            by_band.setdefault((int(r["age_lo"]), hi), []).append((int(r["year"]), float(values[idx])))
        for (lo, hi), pts in by_band.items():
            mask = (age_arr >= lo) & (age_arr < hi)
            yrs, vals = zip(*pts)
            data[si, mask, :] = P.interpolate_years(vals, yrs, out_years)
        if np.isnan(data[si]).any():
            if fill is None:
                raise MissingDataError(f"{table}: indicator {indicator!r} has no age band for sex {sex}")
            data[si][np.isnan(data[si])] = fill
    da = xr.DataArray(data, dims=("sex", "age", "year"),
                      coords={"sex": list(sexes), "age": ages, "year": out_years}, name=indicator,
                      attrs={"unit": str(sel["unit"].iloc[0]), "variant": variant, "table": table})
    return da if years is not None else da.isel(year=0, drop=True)


def _outcome(fn, frame, **kw):
    try:
        return fn(frame, **kw)
    except (DataFormatError, MissingDataError) as err:
        return type(err)


def _assert_same(new, old):
    if isinstance(old, type):
        assert new is old
        return
    assert new.dims == old.dims and new.name == old.name and new.attrs == old.attrs
    assert new.dtype == old.dtype and np.array_equal(new.values, old.values, equal_nan=True)
    for dim in old.dims:
        assert np.array_equal(new[dim].values, old[dim].values) and new[dim].dtype == old[dim].dtype


def _calls(frame):
    keys = [c for c in frame.columns if c not in P.REQUIRED_COLUMNS]
    for combo in frame[["indicator", *keys]].drop_duplicates().itertuples(index=False):
        indicator, *values = combo
        yield indicator, dict(zip(keys, values))


@pytest.mark.parametrize("name", P.TABLES)
def test_bundled_tables_bit_identical_to_the_old_expansion(name):
    frame = P.ParameterSet.bundled().table(name)
    checked = 0
    for indicator, keys in _calls(frame):
        for variant in P.VARIANTS:
            for years in (None, YEARS):
                for fill in (None, 0.0):
                    kw = dict(indicator=indicator, variant=variant, years=years, fill=fill, table=name, **keys)
                    _assert_same(_outcome(P.banded_to_dataarray, frame, **kw), _outcome(_reference, frame, **kw))
                    checked += 1
        # indicator alone (rows of several key values together), as a caller may ask
        kw = {"indicator": indicator, "years": YEARS, "fill": 0.0}
        _assert_same(_outcome(P.banded_to_dataarray, frame, **kw), _outcome(_reference, frame, **kw))
    assert checked >= 12


_band = st.tuples(st.integers(0, 100), st.one_of(st.none(), st.integers(1, 110)))


@st.composite
def _tables(draw):
    n = draw(st.integers(1, 14))
    rows = []
    for _ in range(n):
        lo, hi = draw(_band)
        central = draw(st.floats(0, 1, allow_nan=False))
        rows.append({
            "indicator": draw(st.sampled_from(["a", "b"])),
            "kind": draw(st.sampled_from(["x", "y"])),
            "sex": draw(st.sampled_from(["male", "female", "all"])),
            "age_lo": lo, "age_hi": hi,
            "year": draw(st.sampled_from([2010, 2015, 2020, 2030])),
            "central": central, "low": central * 0.9, "high": min(1.0, central * 1.1),
            "unit": draw(st.sampled_from(["share", "per 1000"])),
        })
    frame = pd.DataFrame(rows)
    frame["age_hi"] = frame["age_hi"].astype("Int64")
    frame["indicator"] = frame["indicator"].astype("str")
    if draw(st.booleans()):  # shuffled index labels, as after a filter
        frame.index = draw(st.permutations(list(range(100, 100 + n))))
    return frame


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=_tables(), indicator=st.sampled_from(["a", "b", "c"]), kind=st.sampled_from([None, "x", "y"]),
       variant=st.sampled_from(P.VARIANTS), years=st.sampled_from([None, (2012, 2020, 2041), (2015,)]),
       fill=st.sampled_from([None, 0.0, -1.0]), sexes=st.sampled_from([P.SEXES, ("female", "male")]))
def test_random_banded_tables_bit_identical_to_the_old_expansion(frame, indicator, kind, variant, years, fill, sexes):
    # random rows: overlapping bands, empty bands (hi <= lo), several years per band, gaps, open tops
    keys = {} if kind is None else {"kind": kind}
    kw = dict(indicator=indicator, variant=variant, years=years, fill=fill, sexes=sexes, **keys)
    _assert_same(_outcome(P.banded_to_dataarray, frame, **kw), _outcome(_reference, frame, **kw))


def test_missing_key_column_is_named():
    frame = P.ParameterSet.bundled().table("care_prevalence")
    with pytest.raises(DataFormatError, match=r"has no column 'dwelling_type'"):
        P.banded_to_dataarray(frame, indicator="dementia", dwelling_type="nultreden")
