"""The cohort-component engine core shared by :mod:`~assen_demand.demography.projection` and :mod:`assen_demand.scale`.

What the engine computes (the order of the steps, the exposure of births, the migration timing)
is documented in :mod:`assen_demand.demography.projection`, whose :func:`~assen_demand.demography.projection.project`
is the public way to run it. This module holds the parts that both ``project`` and the streamed
Monte Carlo runs of :func:`assen_demand.scale.stochastic_projection` use, with this interface:

* :class:`ProjectionInputs` -- the components of change on explicit labels (validated on creation).
* :func:`prepare_engine` -- validate a base population and its inputs and align them by label into
  an :class:`Engine`: numpy arrays in the axis order :data:`ENGINE_DIMS`, rates kept at length 1 on
  the axes they do not vary over.
* :func:`step_block` -- move one block of (draw, area) rows one year forward (no clipping), with
  :func:`rate_block` to cut a rate to a block and :class:`Scratch` for the per-thread buffers.
* :func:`run_engine` -- take an :class:`Engine` through every year, in blocks and threads, with
  clipping and the optional constraint (:func:`constrain_step`).
* The label checks (:func:`check_rate`, :func:`check_population`, :func:`check_ages`, ...) and the
  alignment helpers (:func:`engine_array`, :func:`control_as_engine`, :func:`draw_index`) that
  ``projection`` also uses for :func:`~assen_demand.demography.projection.constrain` and the
  small-area methods.

Everything here works on numpy arrays without labels (but for the checks and the alignment); the
labels go back on in ``projection`` and ``scale``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import xarray as xr

from assen_demand.datamodel import SEX_RATIO_AT_BIRTH, SEXES
from assen_demand.display import summary_repr
from assen_demand.errors import (
    DataFormatError,
    InvalidValueError,
    MissingDataError,
    UnknownAreaError,
)

__all__ = [
    "ENGINE_DIMS",
    "ProjectionInputs",
    "Engine",
    "prepare_engine",
    "Scratch",
    "rate_block",
    "step_block",
    "run_engine",
    "constrain_step",
    "aligned_empty",
    "default_threads",
    "show_labels",
    "check_dataarray",
    "check_dims",
    "check_values",
    "check_rate",
    "check_population",
    "check_ages",
    "engine_array",
    "draw_index",
    "control_as_engine",
]

_MALE, _FEMALE = 0, 1

#: Axis order of every engine array. Year first: the loop takes one year at a time and a year
#: slice is then one contiguous block.
ENGINE_DIMS = ("year", "draw", "area", "sex", "age")

_MAX_SHOWN = 10


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


@summary_repr
@dataclass(frozen=True, eq=False)  # eq on DataArrays/DataFrames is elementwise, not a bool
class ProjectionInputs:
    """The components of change for :func:`assen_demand.demography.projection.project`, on explicit labels.

    Every rate is an ``xarray.DataArray`` over a subset of the dims listed; a missing dim means
    "the same for every label of that dim" and costs no memory. Rates align to the base
    population by label, never by position. Exactly one of ``net_migration`` and
    ``migration_rate`` must be given.

    Parameters
    ----------
    survival : xarray.DataArray (draw, area, sex, age, year), any subset [probability]
        Probability that a person aged ``x`` (completed years) on 1 January of ``year`` is
        alive on 1 January of ``year + 1`` (then aged ``x + 1``). At the open age ``w`` the
        value is the survival of the ``w``-and-over group staying in it; the value at ``w - 1``
        moves the ``w - 1`` year olds into the open group. Values in [0, 1].
    births_survival : xarray.DataArray (draw, area, sex, year), any subset [probability]
        Fraction of the births during ``year`` alive on 1 January of ``year + 1`` (aged 0),
        e.g. ``L0 / l0`` of a life table. Values in [0, 1].
    fertility : xarray.DataArray (draw, area, age, year), must include age [births per woman-year]
        Age-specific fertility rate by age of the mother in completed years. The ages may be a
        contiguous range (e.g. 10..54); ages outside that range have zero fertility, a gap
        inside it is an error. Must be zero at age 0.
    net_migration : xarray.DataArray (draw, area, sex, age, year), optional [persons per year]
        Net migrants during ``year`` by their age on 1 January of ``year + 1``, added at the end
        of the year (negative = net out-migration). Must have area, sex and age (draw and year
        optional), because broadcasting a count over them would copy persons.
    migration_rate : xarray.DataArray (draw, area, sex, age, year), optional [per person per year]
        Net migrants per person of the closed population at the end of the year (any subset of
        the dims), see the module notes. Use counts for wijken: small denominators make rates
        explode.
    sex_ratio_at_birth : float or xarray.DataArray (draw, area, year), any subset [boys per girl]
        Default :data:`assen_demand.datamodel.SEX_RATIO_AT_BIRTH` (1.05, CBS 37259eng).
    """

    survival: xr.DataArray
    births_survival: xr.DataArray
    fertility: xr.DataArray
    net_migration: xr.DataArray | None = None
    migration_rate: xr.DataArray | None = None
    sex_ratio_at_birth: float | xr.DataArray = SEX_RATIO_AT_BIRTH

    def __post_init__(self) -> None:
        if (self.net_migration is None) == (self.migration_rate is None):
            raise DataFormatError(
                "give exactly one of net_migration (counts, the default for wijken) and "
                "migration_rate; got "
                + ("both" if self.net_migration is not None else "neither")
            )
        all_dims = ("draw", "area", "sex", "age", "year")
        check_rate(self.survival, "survival", allowed=all_dims, lower=0.0, upper=1.0,
                    what="a probability")
        check_rate(self.births_survival, "births_survival",
                    allowed=("draw", "area", "sex", "year"), lower=0.0, upper=1.0,
                    what="a probability")
        check_rate(self.fertility, "fertility", allowed=("draw", "area", "age", "year"),
                    required=("age",), lower=0.0, what="a rate per woman-year")
        ages = self.fertility.indexes["age"]
        if 0 in ages and np.any(self.fertility.sel(age=0).values > 0):
            raise InvalidValueError(
                "fertility is positive at age 0; the births of a year cannot have mothers "
                "aged 0. Set the rate at age 0 to zero."
            )
        if self.net_migration is not None:
            check_rate(self.net_migration, "net_migration", allowed=all_dims,
                        required=("area", "sex", "age"), what="a count")
        else:
            check_rate(self.migration_rate, "migration_rate", allowed=all_dims,
                        what="a rate")
        srb = self.sex_ratio_at_birth
        if isinstance(srb, xr.DataArray):
            check_rate(srb, "sex_ratio_at_birth", allowed=("draw", "area", "year"),
                        lower=0.0, what="boys per girl")
            if np.any(srb.values <= 0):
                raise InvalidValueError(
                    "sex_ratio_at_birth must be positive (boys per girl, e.g. 1.05)"
                )
        else:
            try:
                value = float(srb)
            except (TypeError, ValueError):
                raise DataFormatError(
                    f"sex_ratio_at_birth must be a number or an xarray.DataArray, got {srb!r}"
                ) from None
            if not np.isfinite(value) or value <= 0:
                raise InvalidValueError(
                    f"sex_ratio_at_birth must be a positive number of boys per girl "
                    f"(e.g. 1.05), got {srb!r}"
                )

# --------------------------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------------------------


def show_labels(labels: Sequence[Hashable]) -> str:
    """The first ten labels as ``"['a', 'b' and 3 more]"``, for error messages."""
    labels = [lab.item() if isinstance(lab, np.generic) else lab for lab in labels]
    shown = ", ".join(repr(lab) for lab in labels[:_MAX_SHOWN])
    more = f" and {len(labels) - _MAX_SHOWN} more" if len(labels) > _MAX_SHOWN else ""
    return f"[{shown}{more}]"


def _where(da: xr.DataArray, mask: np.ndarray) -> str:
    """Name the first cell of ``mask`` by its labels, for error messages."""
    first = np.argwhere(mask)[0]
    parts = []
    for dim, i in zip(da.dims, first):
        label = da.indexes[dim][i] if dim in da.indexes else i
        label = label.item() if isinstance(label, np.generic) else label
        parts.append(f"{dim}={label!r}")
    return ", ".join(parts) if parts else "the single value"


def check_dataarray(da: object, name: str) -> None:
    """Raise :class:`DataFormatError` unless ``da`` (called ``name`` in the message) is a DataArray."""
    if not isinstance(da, xr.DataArray):
        raise DataFormatError(
            f"{name} must be an xarray.DataArray with labelled dims, got {type(da).__name__}"
        )


def check_dims(
    da: xr.DataArray, name: str, allowed: Sequence[str], required: Sequence[str] = ()
) -> None:
    """Check that ``da`` has only ``allowed`` dims, all ``required`` ones, unique labels on each
    and only the sexes 'male' and 'female'; :class:`DataFormatError` names the problem."""
    extra = [d for d in da.dims if d not in allowed]
    if extra:
        raise DataFormatError(
            f"{name} has dims {tuple(da.dims)}, of which {extra} are not allowed; "
            f"{name} takes dims from {tuple(allowed)}"
        )
    missing = [d for d in required if d not in da.dims]
    if missing:
        raise DataFormatError(
            f"{name} has dims {tuple(da.dims)} but needs {tuple(required)}; missing {missing}"
        )
    for dim in da.dims:
        if dim not in da.indexes:
            raise DataFormatError(
                f"{name} has no labels on dim {dim!r}; rates align by label, so give it a "
                f"coordinate (e.g. {name}.assign_coords({dim}=...))"
            )
        index = da.indexes[dim]
        if not index.is_unique:
            dup = index[index.duplicated()].unique()
            raise DataFormatError(f"{name} has duplicate {dim} labels {show_labels(list(dup))}")
    if "sex" in da.dims:
        unknown = [s for s in da.indexes["sex"] if s not in SEXES]
        if unknown:
            raise DataFormatError(
                f"{name} has sex labels {show_labels(unknown)}; use 'male' and 'female'"
            )


def check_values(
    da: xr.DataArray,
    name: str,
    *,
    lower: float | None = None,
    upper: float | None = None,
    what: str = "a number",
) -> None:
    """Check that ``da`` is numeric, finite and within [``lower``, ``upper``] (each optional).

    :class:`InvalidValueError` names the first offending cell by its labels and says that
    ``name`` is ``what`` (e.g. "a probability").
    """
    if not (np.issubdtype(da.dtype, np.number) or np.issubdtype(da.dtype, np.bool_)):
        raise DataFormatError(f"{name} must be numeric, got dtype {da.dtype}")
    values = np.asarray(da.values, dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        raise InvalidValueError(
            f"{name} has {int(bad.sum())} NaN or infinite value(s), first at "
            f"{_where(da, bad)}; fill the gap (e.g. from a neighbouring age or year) "
            "before projecting"
        )
    if lower is not None:
        bad = values < lower
        if bad.any():
            raise InvalidValueError(
                f"{name} has {int(bad.sum())} value(s) below {lower:g}, first at "
                f"{_where(da, bad)} (value {values[bad][0]:g}); {name} is {what}"
            )
    if upper is not None:
        bad = values > upper
        if bad.any():
            raise InvalidValueError(
                f"{name} has {int(bad.sum())} value(s) above {upper:g}, first at "
                f"{_where(da, bad)} (value {values[bad][0]:g}); {name} is {what} in "
                f"[{lower:g}, {upper:g}]"
            )


def check_rate(
    da: object,
    name: str,
    *,
    allowed: Sequence[str],
    required: Sequence[str] = (),
    lower: float | None = None,
    upper: float | None = None,
    what: str = "a number",
) -> None:
    """:func:`check_dataarray`, :func:`check_dims` and :func:`check_values` of one rate."""
    check_dataarray(da, name)
    check_dims(da, name, allowed, required)
    check_values(da, name, lower=lower, upper=upper, what=what)


def check_population(da: object, name: str, allowed: Sequence[str]) -> None:
    """Check a population [persons]: a DataArray with area, sex and age, non-negative and finite."""
    check_dataarray(da, name)
    check_dims(da, name, allowed, required=("area", "sex", "age"))
    check_values(da, name, lower=0.0, what="a count of persons")


def check_ages(da: xr.DataArray, name: str) -> np.ndarray:
    """Return the ages ``0..w`` sorted; any order of the labels is fine, gaps are not."""
    ages = np.asarray(da.indexes["age"])
    if (
        not np.issubdtype(ages.dtype, np.integer)
        or len(ages) < 2
        or not np.array_equal(np.sort(ages), np.arange(len(ages)))
    ):
        raise DataFormatError(
            f"{name} must have ages 0, 1, ..., w (w = the open age group, e.g. 100), "
            f"got {show_labels(list(ages))}"
        )
    return np.arange(len(ages), dtype=np.int64)


# --------------------------------------------------------------------------------------------
# Alignment: labelled rates -> engine arrays of shape (year, draw, area, sex, age)
# --------------------------------------------------------------------------------------------


def _missing_error(name: str, dim: str, missing: Sequence[Hashable], hint: str) -> Exception:
    cls = UnknownAreaError if dim == "area" else MissingDataError
    return cls(f"{name} has no values for {dim} {show_labels(list(missing))}; {hint}")


def _select(
    da: xr.DataArray,
    *,
    name: str,
    dim: str,
    want: pd.Index,
    hint: str,
    zero_outside: bool = False,
) -> xr.DataArray:
    have = da.indexes[dim]
    if have.equals(want):
        return da
    present = want.isin(have)
    if zero_outside:
        extra = have[~have.isin(want)]
        if len(extra):
            raise DataFormatError(
                f"{name} has {dim} labels {show_labels(list(extra))} that the population does not "
                f"have (it has {show_labels(list(want))})"
            )
        inside = (want >= have.min()) & (want <= have.max())
        missing = want[inside & ~present]
        if len(missing):
            raise _missing_error(name, dim, missing, hint)
        return da.reindex({dim: want}, fill_value=0.0)
    missing = want[~present]
    if len(missing):
        raise _missing_error(name, dim, missing, hint)
    return da.sel({dim: want})


def engine_array(
    da: xr.DataArray,
    *,
    name: str,
    labels: dict[str, pd.Index],
    hints: dict[str, str],
    full: Sequence[str] = (),
    zero_outside: Sequence[str] = (),
) -> np.ndarray:
    """Align ``da`` by label and return it as float64 with axes ``ENGINE_DIMS``.

    Dims that ``da`` lacks become axes of length 1 (numpy broadcasts them) unless listed in
    ``full``, which are broadcast to their full length because the engine slices them.
    """
    for dim in da.dims:
        da = _select(da, name=name, dim=dim, want=labels[dim], hint=hints[dim],
                     zero_outside=dim in zero_outside)
    present = [d for d in ENGINE_DIMS if d in da.dims]
    values = np.asarray(da.transpose(*present).values, dtype=np.float64)
    shape = [values.shape[present.index(d)] if d in da.dims else 1 for d in ENGINE_DIMS]
    values = values.reshape(shape)
    if full:
        target = [len(labels[d]) if d in full else n for d, n in zip(ENGINE_DIMS, shape)]
        values = np.broadcast_to(values, target)
    return np.ascontiguousarray(values)


def draw_index(*arrays: object) -> pd.Index | None:
    """The draw labels of the first DataArray among ``arrays`` with a ``draw`` dim, else None."""
    for da in arrays:
        if isinstance(da, xr.DataArray) and "draw" in da.dims:
            return da.indexes["draw"]
    return None


def control_as_engine(
    control: object,
    *,
    labels: dict[str, pd.Index],
    hints: dict[str, str],
    need_year: bool,
) -> np.ndarray:
    """Validate a control projection; return it with axes ``ENGINE_DIMS`` (area of length 1)."""
    check_dataarray(control, "constrain_to")
    check_dims(control, "constrain_to", ("draw", "area", "sex", "age", "year"),
                required=("sex", "age", "year") if need_year else ("sex", "age"))
    if "area" in control.dims:
        if control.sizes["area"] != 1:
            raise DataFormatError(
                f"constrain_to has {control.sizes['area']} areas; give the control totals "
                "without an area dim or with the gemeente as the single area"
            )
        control = control.isel(area=0, drop=True)
    check_values(control, "constrain_to", lower=0.0, what="a count of persons")
    return engine_array(control, name="constrain_to", labels=labels, hints=hints)


# --------------------------------------------------------------------------------------------
# The constraint step
# --------------------------------------------------------------------------------------------


def constrain_step(pop: np.ndarray, ctrl: np.ndarray) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """Scale ``pop`` (draw, area, ...) in place so that its sum over areas equals ``ctrl``.

    ``ctrl`` has the shape of ``pop`` without the area axis (draw may be 1). Where the areas
    sum to zero but the control is positive, the control is spread by the areas' shares of
    their total population over all other cells. Returns the indices (draw, ...) of those cells
    and the control values spread there.
    """
    area_sum = pop.sum(axis=1)
    fill = (area_sum <= 0) & (ctrl > 0)
    any_fill = bool(fill.any())
    if any_fill:
        # Shares from the population before scaling: the scaled one is zero where control is 0.
        area_total = pop.reshape(pop.shape[0], pop.shape[1], -1).sum(axis=2)
        grand = area_total.sum(axis=1)
        fidx = np.nonzero(fill)
        empty = grand[fidx[0]] <= 0
        if empty.any():
            raise InvalidValueError(
                "the control is positive where every area is empty, and the areas have no "
                "population at all to share it by (draw index "
                f"{int(fidx[0][empty][0])}); give the areas a base population"
            )
        with np.errstate(divide="ignore", invalid="ignore"):
            shares = area_total / grand[:, None]
    ratio = np.divide(ctrl, area_sum, out=np.zeros(area_sum.shape), where=area_sum > 0)
    pop *= np.expand_dims(ratio, 1)
    if not any_fill:
        return (), np.empty(0)
    cvals = np.broadcast_to(ctrl, area_sum.shape)[fidx]
    pop[(fidx[0], slice(None), *fidx[1:])] = cvals[:, None] * shares[fidx[0]]
    return fidx, cvals


# --------------------------------------------------------------------------------------------
# The engine
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Engine:
    """The inputs of a run aligned by label, as numpy arrays in the engine's axis order.

    Every rate keeps length 1 on the axes it does not vary over (numpy broadcasts them):
    ``surv``, ``mig`` (year, draw, area, sex, age); ``fert`` (year, draw, area, age
    lo..hi-1); ``infants`` (year, draw, area, sex): the share of each sex among the births
    times their survival to 1 January; ``ctrl`` (year, draw, sex, age); ``base`` (draw, area,
    sex, age).
    """

    labels: dict
    start_year: int
    end_year: int
    has_draw: bool
    base: np.ndarray
    surv: np.ndarray
    fert: np.ndarray
    lo: int
    hi: int
    mig: np.ndarray
    as_counts: bool
    infants: np.ndarray
    ctrl: np.ndarray | None

    def astype(self, dtype: np.dtype | type) -> Engine:
        """The same run with every array in ``dtype`` (the constraint stays float64)."""
        def cast(arr: np.ndarray) -> np.ndarray:
            return np.ascontiguousarray(arr, dtype=dtype)

        return replace(self, base=cast(self.base), surv=cast(self.surv), fert=cast(self.fert),
                       mig=cast(self.mig), infants=cast(self.infants))

    @property
    def dtype(self) -> np.dtype:
        """The working type of the arrays (float64, or float32 for a streamed run)."""
        return self.surv.dtype

    @property
    def nstep(self) -> int:
        """Number of one-year steps, ``end_year - start_year``."""
        return self.end_year - self.start_year

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """(draw, area, sex, age) of one year of the projection."""
        return (len(self.labels["draw"]), len(self.labels["area"]), 2, len(self.labels["age"]))


def prepare_engine(
    base: xr.DataArray,
    components: ProjectionInputs,
    start_year: int,
    end_year: int,
    constrain_to: xr.DataArray | None,
) -> Engine:
    """Validate a run and align its inputs by label into an :class:`Engine`.

    Parameters
    ----------
    base : xarray.DataArray (draw, area, sex, age), draw optional [persons]
        Population on 1 January ``start_year`` (a ``year`` dim holding it is allowed).
    components : ProjectionInputs
    start_year, end_year : int
        The run moves 1 January ``start_year`` to 1 January ``end_year``.
    constrain_to : xarray.DataArray (draw, sex, age, year), optional [persons]
        Control totals for the years ``start_year + 1 .. end_year``.

    Returns
    -------
    Engine
        float64 arrays in :data:`ENGINE_DIMS` order; see
        :func:`assen_demand.demography.projection.project` for the errors raised.
    """
    if not isinstance(components, ProjectionInputs):
        raise DataFormatError(
            f"components must be a ProjectionInputs, got {type(components).__name__}"
        )
    start_year, end_year = int(start_year), int(end_year)
    if end_year < start_year:
        raise InvalidValueError(
            f"end_year {end_year} is before start_year {start_year}; give end_year >= start_year"
        )
    check_population(base, "base", ("draw", "area", "sex", "age", "year"))
    if "year" in base.dims:
        if start_year not in base.indexes["year"]:
            raise MissingDataError(
                f"base has no year {start_year} (it has {show_labels(list(base.indexes['year']))}); "
                "give the population of start_year"
            )
        base = base.sel(year=start_year, drop=True)
    ages = check_ages(base, "base")
    missing_sex = [s for s in SEXES if s not in base.indexes["sex"]]
    if missing_sex:
        raise MissingDataError(f"base has no sex {show_labels(missing_sex)}; give both sexes")

    c = components
    migration = c.net_migration if c.net_migration is not None else c.migration_rate
    srb = c.sex_ratio_at_birth
    years = pd.Index(np.arange(start_year, end_year, dtype=np.int64), name="year")
    draws = draw_index(base, c.survival, c.births_survival, c.fertility, migration, srb,
                         constrain_to)
    labels = {
        "year": years,
        "draw": draws if draws is not None else pd.Index([0]),
        "area": base.indexes["area"],
        "sex": pd.Index(SEXES),
        "age": pd.Index(ages),
    }
    span = f"the projection {start_year}->{end_year} needs years {start_year}..{end_year - 1}"
    hints = {
        "year": span + " (the rate of year t moves 1 January t to 1 January t+1)",
        "draw": "every draw of the projection needs its own value, or drop the draw dim",
        "area": "give a value for every area of the base, or drop the area dim",
        "sex": "give both 'male' and 'female'",
        "age": f"give every age {int(ages[0])}..{int(ages[-1])} of the base population",
    }

    # Input arrays, axes (year, draw, area, sex, age); the engine slices age and sex.
    surv = engine_array(c.survival, name="survival", labels=labels, hints=hints, full=("age",))
    lsurv = engine_array(c.births_survival, name="births_survival", labels=labels,
                          hints=hints, full=("sex",))[..., 0]
    fert = engine_array(c.fertility, name="fertility", labels=labels, hints=hints,
                         full=("age",), zero_outside=("age",))[:, :, :, 0, :]
    as_counts = c.net_migration is not None
    mig = engine_array(migration, name="net_migration" if as_counts else "migration_rate",
                        labels=labels, hints=hints, full=("sex", "age"))
    if not as_counts:
        mig = 1.0 + mig  # growth factor of the closed end-of-year population
    if isinstance(srb, xr.DataArray):
        srb_arr = engine_array(srb, name="sex_ratio_at_birth", labels=labels,
                                hints=hints)[:, :, :, 0, 0]
    else:
        srb_arr = np.full((1, 1, 1), float(srb))
    ctrl = None
    if constrain_to is not None:
        ctrl_labels = dict(labels, year=pd.Index(np.arange(start_year + 1, end_year + 1),
                                                 dtype=np.int64))
        ctrl_hints = dict(hints, year=f"the constraint needs years {start_year + 1}..{end_year}"
                          " (the base year is returned unchanged)")
        ctrl = control_as_engine(constrain_to, labels=ctrl_labels, hints=ctrl_hints,
                                  need_year=True)[:, :, 0]  # (year, draw, sex, age)

    # Fertility is zero outside [lo, hi); summing births over that band only is the main saving.
    nonzero_ages = np.nonzero(fert.reshape(-1, fert.shape[-1]).any(axis=0))[0]
    lo, hi = (int(nonzero_ages[0]), int(nonzero_ages[-1]) + 1) if len(nonzero_ages) else (1, 1)

    base_arr = engine_array(base, name="base", labels={**labels, "year": pd.Index([0])},
                             hints=hints)[0]
    # Boys B * srb / (1 + srb) and girls B / (1 + srb), each times its survival to 1 January.
    boys = (srb_arr / (1.0 + srb_arr)) * lsurv[..., _MALE]
    girls = (1.0 / (1.0 + srb_arr)) * lsurv[..., _FEMALE]
    infants = np.stack(np.broadcast_arrays(boys, girls), axis=-1)
    return Engine(
        labels=labels, start_year=start_year, end_year=end_year, has_draw=draws is not None,
        base=base_arr, surv=surv, fert=np.ascontiguousarray(fert[..., lo:hi]),
        lo=lo, hi=hi, mig=mig, as_counts=as_counts, infants=infants, ctrl=ctrl,
    )


# Blocks of about this many (draw, area) rows are advanced through the years while they are in
# the CPU cache (256 rows x 2 sexes x 101 ages x 8 bytes = 0.4 MB per array); smaller blocks pay
# numpy's per-call overhead. With several threads the blocks must be larger still: every numpy
# call hands the GIL over, and the threads only overlap while the calls are long
# (benchmarks/README.md has the measurements).
_BLOCK_ROWS = 256
_BLOCK_ROWS_THREADED = 1024
# numpy's SIMD loops store half as fast into memory that is not aligned to a cache line
# (64 bytes, the width of an AVX-512 register), and numpy itself aligns only to 16 bytes.
_ALIGN = 64


def aligned_empty(shape: tuple[int, ...], dtype: np.dtype | type = np.float64) -> np.ndarray:
    """``numpy.empty`` whose first element sits on a 64-byte boundary."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = np.empty(nbytes + _ALIGN, dtype=np.uint8)
    offset = -raw.ctypes.data % _ALIGN
    return raw[offset:offset + nbytes].view(dtype).reshape(shape)


def _aligned_rows(row_bytes: int) -> int:
    """The smallest number of rows of ``row_bytes`` that spans whole 64-byte lines."""
    return _ALIGN // math.gcd(row_bytes, _ALIGN)
# Below this many cells per year a second thread costs more than it saves.
_THREAD_MIN_CELLS = 200_000


def _blocks(ndraw: int, narea: int, row_bytes: int, rows: int) -> list[tuple[slice, slice]]:
    """(draw, area) slices covering the run; each block is contiguous in (draw, area) order.

    A block spans several draws only if it holds every area, so that a block of a
    (draw, area, sex, age) array is one contiguous piece of memory; block sizes are whole
    multiples of the rows that keep every block start on a 64-byte line where possible.
    """
    align = _aligned_rows(row_bytes)
    if narea >= rows or ndraw == 1:
        step = min(max(align, rows // align * align), narea)
        return [(slice(d, d + 1), slice(a, min(a + step, narea)))
                for d in range(ndraw) for a in range(0, narea, step)]
    step = max(1, rows // narea)
    per = align // math.gcd(narea, align)  # draws whose rows fill whole lines
    step = max(per, step // per * per)
    return [(slice(d, min(d + step, ndraw)), slice(0, narea)) for d in range(0, ndraw, step)]


def rate_block(arr: np.ndarray, k: int, d: slice, a: slice) -> np.ndarray:
    """Year ``k`` of a rate (year, draw, area, ...) for a block; length-1 axes stay length 1."""
    arr = arr[k] if arr.shape[0] > 1 else arr[0]
    return arr[d if arr.shape[0] > 1 else slice(None), a if arr.shape[1] > 1 else slice(None)]


class Scratch:
    """Per-thread work buffers, one set per block shape (the last block may be smaller).

    Each thread that calls :func:`step_block` needs its own ``Scratch(engine)``.
    """

    def __init__(self, e: Engine) -> None:
        self.dtype = e.dtype
        self._buffers: dict[tuple, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """The buffer ``name`` of ``shape`` in the engine's dtype (uninitialised, reused)."""
        key = (name, shape)
        buf = self._buffers.get(key)
        if buf is None:
            buf = self._buffers[key] = aligned_empty(shape, self.dtype)
        return buf

    def zeros(self, shape: tuple[int, ...]) -> np.ndarray:
        """A read-only array of zeros: ``np.maximum(x, zeros)`` runs about 3x faster than
        ``np.maximum(x, 0.0)``, whose broadcast scalar misses numpy's SIMD loop."""
        key = ("zeros", shape)
        buf = self._buffers.get(key)
        if buf is None:
            buf = self._buffers[key] = aligned_empty(shape, self.dtype)
            buf.fill(0.0)
            buf.flags.writeable = False
        return buf


def step_block(
    pop: np.ndarray,
    nxt: np.ndarray,
    e: Engine,
    k: int,
    d: slice,
    a: slice,
    scratch: Scratch,
    migration: np.ndarray | None = None,
) -> None:
    """Write year ``k + 1`` of a block into ``nxt`` from year ``k`` in ``pop``; no clipping yet.

    ``pop`` and ``nxt`` are C-contiguous (draw, area, sex, age) blocks of the draws ``d`` and
    areas ``a``. ``migration`` replaces the block's migration of ``e`` (a stochastic run
    passes its own draws). Each cell gets exactly the operations, in the same order, as in a
    whole-array step, so blocking and threads change no result.
    """
    shape = pop.shape
    # Survivors, still at their age of 1 January of year k (no shift yet: the rates may
    # broadcast over draws and areas).
    survivors = scratch.get("survivors", shape)
    s = rate_block(e.surv, k, d, a)
    np.multiply(pop, s, out=survivors)

    m = rate_block(e.mig, k, d, a) if migration is None else migration
    if m.shape != shape and not (m.shape[0] == 1 and m.shape[1:] == shape[1:]):
        buf = scratch.get("migration_full", shape)
        np.copyto(buf, m)
        m = buf
    combine = np.add if e.as_counts else np.multiply
    # Age and add (or apply) migration in one pass: on the rows flattened over (area, sex,
    # age), cell i of the survivors lands in cell i + 1. The cells that this moves from one
    # open age group into the next sex's or area's age 0 are the infants, set below; the open
    # group is redone below. The long call writes from a 64-byte line on (see _ALIGN); the
    # cells before that line take a second, tiny call.
    rows = shape[0] if m.shape[0] == 1 else 1
    fs, fm, fn = survivors.reshape(rows, -1), m.reshape(m.shape[0] if rows > 1 else 1, -1), \
        nxt.reshape(rows, -1)
    lead = (-fn.ctypes.data % _ALIGN) // fn.itemsize or _ALIGN // fn.itemsize
    lead = min(lead, fn.shape[1])
    combine(fs[:, lead - 1:-1], fm[:, lead:], out=fn[:, lead:])
    combine(fs[:, :lead - 1], fm[:, 1:lead], out=fn[:, 1:lead])
    # The open group also keeps its own survivors, summed before migration as in a plain step.
    top = nxt[..., -1]
    np.add(survivors[..., -2], survivors[..., -1], out=top)
    combine(top, m[..., -1], out=top)
    infants = nxt[..., 0]  # (draw, area, sex) view
    if e.as_counts:
        # Age 0 starts from its migrants and receives the births below.
        np.copyto(infants, m[..., 0])

    # Births from the trapezoid exposure of women aged lo..hi-1 (ages >= 1, final but for the
    # clipping, which is applied here to the mothers and by the caller to everyone at once).
    births = scratch.get("births", shape[:2])
    lo, hi = e.lo, e.hi
    if hi > lo:
        wbuf = scratch.get("women", shape[:2] + (hi - lo,))
        np.maximum(nxt[:, :, _FEMALE, lo:hi], scratch.zeros(wbuf.shape), out=wbuf)
        np.add(wbuf, pop[:, :, _FEMALE, lo:hi], out=wbuf)
        f = rate_block(e.fert, k, d, a)
        if f.shape[0] == 1 and f.shape[1] == 1:
            np.matmul(wbuf, f[0, 0], out=births)
        else:
            np.einsum("dax,dax->da", wbuf, np.broadcast_to(f, wbuf.shape), out=births)
        births *= 0.5
    else:
        births.fill(0.0)

    newborn = births[:, :, None] * rate_block(e.infants, k, d, a)  # (draw, area, sex)
    if e.as_counts:
        infants += newborn
    else:
        np.multiply(newborn, m[:, :, :, 0], out=infants)


def _clip_block(
    block: np.ndarray,
    k: int,
    d: slice,
    a: slice,
    narea: int,
    records: list[tuple[int, np.ndarray, np.ndarray]],
) -> None:
    """Set the negative cells of a contiguous block to zero and record them.

    Records hold the year index, the cells' flat indices in one whole year
    (draw, area, sex, age) and the persons clipped.
    """
    flat = block.reshape(-1)
    # One reduction decides; most blocks of a realistic run have nothing to clip.
    if not flat.min() < 0.0:
        return
    idx = np.flatnonzero(flat < 0.0)
    # A block is one contiguous run of (draw, area) rows of the year (see _blocks).
    first = (d.start * narea + a.start) * block.shape[2] * block.shape[3]
    records.append((k, idx + first, -flat[idx]))
    flat[idx] = 0.0


def _map(function, items: list, threads: int) -> list:
    """``[function(item) for item in items]``, on ``threads`` threads if more than one.

    numpy releases the GIL inside its loops, so blocks of a few hundred thousand cells run in
    parallel on threads without copying anything to other processes.
    """
    if threads <= 1 or len(items) <= 1:
        return [function(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(threads, len(items))) as pool:
        return list(pool.map(function, items))


def _split(items: list, parts: int) -> list[list]:
    """``items`` in ``parts`` contiguous runs of nearly equal length (none empty)."""
    parts = max(1, min(parts, len(items)))
    edges = np.linspace(0, len(items), parts + 1).round().astype(int)
    return [items[i:j] for i, j in zip(edges[:-1], edges[1:])]


def default_threads(cells_per_year: int) -> int:
    """Threads for a run of ``cells_per_year`` (draw x area x sex x age) cells: 1 below 200,000,
    else every core up to 8."""
    if cells_per_year < _THREAD_MIN_CELLS:
        return 1
    return max(1, min(os.cpu_count() or 1, 8))


def run_engine(
    e: Engine,
    out: np.ndarray,
    keep: np.ndarray,
    threads: int,
) -> tuple[list, list]:
    """Run the projection of ``e`` into ``out`` (kept year, draw, area, sex, age).

    ``keep`` are the indices (0 = start year) of the years that ``out`` holds, in order.
    Returns the clipping records and the constraint fill records.
    """
    ndraw, narea, nsex, nage = e.shape
    nstep = e.nstep
    slot = np.full(nstep + 1, -1)
    slot[keep] = np.arange(len(keep))
    # Years can be written straight into the output unless some are dropped or the output is
    # not float64; the state then lives in float64 buffers and kept years are copied out.
    direct = len(keep) == nstep + 1 and out.dtype == np.float64
    blocks = _blocks(ndraw, narea, nsex * nage * 8,
                     _BLOCK_ROWS if threads <= 1 else _BLOCK_ROWS_THREADED)
    clipped: list[tuple[int, np.ndarray, np.ndarray]] = []
    filled: list[tuple[int, tuple[np.ndarray, ...], np.ndarray]] = []

    def base_block(d: slice, a: slice) -> np.ndarray:
        return e.base[d if e.base.shape[0] > 1 else slice(None), a]

    if e.ctrl is None:
        # Areas and draws are independent: each block goes through every year while it is in
        # the cache, and the blocks are shared out over the threads.
        def work(chunk: list[tuple[slice, slice]]) -> list:
            scratch = Scratch(e)
            records: list = []
            for d, a in chunk:
                shape = (d.stop - d.start, a.stop - a.start, nsex, nage)
                if direct:
                    states = [out[k, d, a] for k in range(nstep + 1)]
                else:
                    pair = [scratch.get("state0", shape), scratch.get("state1", shape)]
                    states = [pair[k % 2] for k in range(nstep + 1)]
                states[0][...] = base_block(d, a)
                if not direct and slot[0] >= 0:
                    out[slot[0], d, a] = states[0]
                for k in range(nstep):
                    step_block(states[k], states[k + 1], e, k, d, a, scratch)
                    _clip_block(states[k + 1], k, d, a, narea, records)
                    if not direct and slot[k + 1] >= 0:
                        out[slot[k + 1], d, a] = states[k + 1]
            return records

        for records in _map(work, _split(blocks, threads), threads):
            clipped.extend(records)
    else:
        # The constraint couples the areas: every year is finished for all blocks first.
        if direct:
            years = [out[k] for k in range(nstep + 1)]
        else:
            pair = [aligned_empty((ndraw, narea, nsex, nage)) for _ in range(2)]
            years = [pair[k % 2] for k in range(nstep + 1)]
        years[0][...] = e.base
        if not direct and slot[0] >= 0:
            out[slot[0]] = years[0]
        chunks = _split(blocks, threads)
        scratches = [Scratch(e) for _ in chunks]
        for k in range(nstep):
            def work(job: tuple[list, Scratch], k: int = k) -> list:
                records: list = []
                chunk, scratch = job
                for d, a in chunk:
                    step_block(years[k][d, a], years[k + 1][d, a], e, k, d, a, scratch)
                    _clip_block(years[k + 1][d, a], k, d, a, narea, records)
                return records

            for records in _map(work, list(zip(chunks, scratches)), threads):
                clipped.extend(records)
            ctrl_k = e.ctrl[k] if e.ctrl.shape[0] > 1 else e.ctrl[0]
            fidx, cvals = constrain_step(years[k + 1], ctrl_k)
            if len(cvals):
                filled.append((k, fidx, cvals))
            if not direct and slot[k + 1] >= 0:
                out[slot[k + 1]] = years[k + 1]
    return clipped, filled
