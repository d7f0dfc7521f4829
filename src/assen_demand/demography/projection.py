"""The cohort-component engine and the top-down constraint.

The engine moves a population of persons on 1 January from one year to the next:

1. **Survival and ageing.** ``P(x+1, t+1) = S(x, t) * P(x, t)`` for ``x`` below the open age
   group; the open group ``w`` (100 = "100 and over") receives two streams,
   ``P(w, t+1) = S(w-1, t) * P(w-1, t) + S(w, t) * P(w, t)``.
2. **Migration.** Net migrants of the year ``t`` are added on 31 December, by their age on
   1 January ``t+1`` (see *Migration timing* below).
3. **Births.** ``B(t) = sum_x f(x, t) * E(x, t)`` with the mid-year female exposure ``E``
   (see *Exposure* below); boys ``B * srb / (1 + srb)``, girls ``B / (1 + srb)``.
4. **Infants.** ``P(0, t+1) = B_sex(t) * L(sex, t) + net migrants aged 0``, with ``L`` the
   fraction of the year's births alive on 1 January ``t+1`` (``births_survival``).
5. **Clipping.** A cell that net out-migration drives below zero is set to zero and the
   persons that could not leave are reported (:class:`ProjectionReport`), never dropped
   silently.
6. **Constraint** (optional). The areas are scaled proportionally, per sex x age, so that they
   sum to a control projection (:func:`constrain`).

Exposure
--------
Age-specific fertility rates are period rates by age in completed years (a Lexis square), so
their exposure is the person-years lived at age ``x`` during year ``t``. The engine uses the
trapezoid rule on the two 1-January populations of the same age (Preston, Heuveline & Guillot
2001, *Demography*, ch. 6)::

    E(x, t) = ( W(x, t) + W(x, t+1) ) / 2

``W(x, t+1)`` is the female population aged ``x`` on 1 January ``t+1`` *after* survival,
net migration and clipping. So deaths during the year count half (they are assumed spread
evenly over the year) and so do the net migrants (they are present, on average, half the
year). Births are computed after the women aged 1 and over are known; a fertility rate at
age 0 would make the infants their own mothers and is rejected.

Migration timing
----------------
``net_migration`` (the default) holds counts of net migrants during year ``t`` [persons per
year], indexed by their age on 1 January ``t+1`` and added at the end of the year, net of
the deaths among them. This is exactly what the residual method measures
(``P(x+1, t+1) - S(x, t) P(x, t)``), so projecting an observed year with its own residual
migration gives back the observed population, and no mortality assumption for migrants is
needed. Their presence during the year still counts for births through the exposure above.

``migration_rate`` is the alternative [net migrants per person per year]: with the same
timing, the net migrants of age ``x`` are ``r(x, t)`` times the closed population (the
survivors, and for age 0 the surviving births) aged ``x`` on 1 January ``t+1``, so
``P(x, t+1) = closed(x, t+1) * (1 + r(x, t))``.

Counts are the default because a wijk has tens of persons per single year of age: a rate
estimated on such a small denominator explodes (one migrant out of two residents is a 50 %
rate, applied to every future cohort of that wijk), while a count keeps the volume that was
actually observed.

Speed
-----
The areas and draws are independent without a constraint, so the engine cuts a run into
blocks of a few hundred (draw, area) rows and takes each block through all years while its
arrays are in the CPU cache, writing each year straight into the preallocated output; the
blocks are shared out over threads (numpy releases the GIL in its loops). Each block step
does the operations of a whole-array step, cell by cell and in the same order, so blocking
and threads change no result (but for the last bit of a birth sum, which BLAS may group
differently). With a constraint every year is finished for all blocks first. Rates keep their own (smaller) shape and broadcast, so a rate that does not
vary by area or draw costs no memory. The output of ``D`` draws, ``A`` areas, ``Y`` years
takes ``D * A * 2 * 101 * Y * 8`` bytes (14,000 areas x 16 years: 0.36 GB); ``keep_years``,
``dtype=float32`` and ``out=`` make it smaller or reuse it. Monte Carlo runs too large to hold
go through :func:`assen_demand.scale.stochastic_projection`, which streams them to quantiles.
Timings: ``benchmarks/README.md``.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Hashable, Sequence
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
    "ClippingWarning",
    "ProjectionInputs",
    "ProjectionReport",
    "constrain",
    "project",
    "SMALL_AREA_METHODS",
    "hamilton_perry",
    "dwelling_stock",
    "housing_led",
    "housing_targets",
]

_MALE, _FEMALE = 0, 1

# Internal axis order of every engine array. Year first: the loop takes one year at a time and
# a year slice is then one contiguous block.
_ENGINE_DIMS = ("year", "draw", "area", "sex", "age")

_MAX_SHOWN = 10


class ClippingWarning(UserWarning):
    """Net out-migration exceeded a cohort and persons were clipped (see ProjectionReport)."""


# --------------------------------------------------------------------------------------------
# Inputs and report
# --------------------------------------------------------------------------------------------


@summary_repr
@dataclass(frozen=True, eq=False)  # eq on DataArrays/DataFrames is elementwise, not a bool
class ProjectionInputs:
    """The components of change for :func:`project`, on explicit labels.

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
        _check_rate(self.survival, "survival", allowed=all_dims, lower=0.0, upper=1.0,
                    what="a probability")
        _check_rate(self.births_survival, "births_survival",
                    allowed=("draw", "area", "sex", "year"), lower=0.0, upper=1.0,
                    what="a probability")
        _check_rate(self.fertility, "fertility", allowed=("draw", "area", "age", "year"),
                    required=("age",), lower=0.0, what="a rate per woman-year")
        ages = self.fertility.indexes["age"]
        if 0 in ages and np.any(self.fertility.sel(age=0).values > 0):
            raise InvalidValueError(
                "fertility is positive at age 0; the births of a year cannot have mothers "
                "aged 0. Set the rate at age 0 to zero."
            )
        if self.net_migration is not None:
            _check_rate(self.net_migration, "net_migration", allowed=all_dims,
                        required=("area", "sex", "age"), what="a count")
        else:
            _check_rate(self.migration_rate, "migration_rate", allowed=all_dims,
                        what="a rate")
        srb = self.sex_ratio_at_birth
        if isinstance(srb, xr.DataArray):
            _check_rate(srb, "sex_ratio_at_birth", allowed=("draw", "area", "year"),
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


@summary_repr
@dataclass(frozen=True, eq=False)  # eq on DataArrays/DataFrames is elementwise, not a bool
class ProjectionReport:
    """What the engine had to change to keep the projection feasible.

    Attributes
    ----------
    clipped : pandas.DataFrame
        One row per clipped cell: ``[draw,] area, sex, age, year, clipped_persons``. ``year``
        and ``age`` are those of the 1-January population that went negative (the end of the
        projection year); ``clipped_persons`` [persons] is the shortfall, i.e. the net
        out-migrants that were not there to leave.
    clipped_total : float
        Sum of ``clipped_persons`` [persons].
    constraint_filled : pandas.DataFrame
        One row per ``[draw,] sex, age, year`` where the areas summed to zero but the control
        was positive, so the control (``control_persons`` [persons]) was distributed over the
        areas by their total population shares. Empty without a constraint.
    """

    clipped: pd.DataFrame
    clipped_total: float
    constraint_filled: pd.DataFrame

    def to_frame(self) -> pd.DataFrame:
        """Return the clipped cells as a tidy long table (a copy of ``clipped``)."""
        return self.clipped.copy()


# --------------------------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------------------------


def _show(labels: Sequence[Hashable]) -> str:
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


def _check_dataarray(da: object, name: str) -> None:
    if not isinstance(da, xr.DataArray):
        raise DataFormatError(
            f"{name} must be an xarray.DataArray with labelled dims, got {type(da).__name__}"
        )


def _check_dims(
    da: xr.DataArray, name: str, allowed: Sequence[str], required: Sequence[str] = ()
) -> None:
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
            raise DataFormatError(f"{name} has duplicate {dim} labels {_show(list(dup))}")
    if "sex" in da.dims:
        unknown = [s for s in da.indexes["sex"] if s not in SEXES]
        if unknown:
            raise DataFormatError(
                f"{name} has sex labels {_show(unknown)}; use 'male' and 'female'"
            )


def _check_values(
    da: xr.DataArray,
    name: str,
    *,
    lower: float | None = None,
    upper: float | None = None,
    what: str = "a number",
) -> None:
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


def _check_rate(
    da: object,
    name: str,
    *,
    allowed: Sequence[str],
    required: Sequence[str] = (),
    lower: float | None = None,
    upper: float | None = None,
    what: str = "a number",
) -> None:
    _check_dataarray(da, name)
    _check_dims(da, name, allowed, required)
    _check_values(da, name, lower=lower, upper=upper, what=what)


def _check_population(da: object, name: str, allowed: Sequence[str]) -> None:
    _check_dataarray(da, name)
    _check_dims(da, name, allowed, required=("area", "sex", "age"))
    _check_values(da, name, lower=0.0, what="a count of persons")


def _check_ages(da: xr.DataArray, name: str) -> np.ndarray:
    """Return the ages ``0..w`` sorted; any order of the labels is fine, gaps are not."""
    ages = np.asarray(da.indexes["age"])
    if (
        not np.issubdtype(ages.dtype, np.integer)
        or len(ages) < 2
        or not np.array_equal(np.sort(ages), np.arange(len(ages)))
    ):
        raise DataFormatError(
            f"{name} must have ages 0, 1, ..., w (w = the open age group, e.g. 100), "
            f"got {_show(list(ages))}"
        )
    return np.arange(len(ages), dtype=np.int64)


# --------------------------------------------------------------------------------------------
# Alignment: labelled rates -> engine arrays of shape (year, draw, area, sex, age)
# --------------------------------------------------------------------------------------------


def _missing_error(name: str, dim: str, missing: Sequence[Hashable], hint: str) -> Exception:
    cls = UnknownAreaError if dim == "area" else MissingDataError
    return cls(f"{name} has no values for {dim} {_show(list(missing))}; {hint}")


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
                f"{name} has {dim} labels {_show(list(extra))} that the population does not "
                f"have (it has {_show(list(want))})"
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


def _engine_array(
    da: xr.DataArray,
    *,
    name: str,
    labels: dict[str, pd.Index],
    hints: dict[str, str],
    full: Sequence[str] = (),
    zero_outside: Sequence[str] = (),
) -> np.ndarray:
    """Align ``da`` by label and return it as float64 with axes ``_ENGINE_DIMS``.

    Dims that ``da`` lacks become axes of length 1 (numpy broadcasts them) unless listed in
    ``full``, which are broadcast to their full length because the engine slices them.
    """
    for dim in da.dims:
        da = _select(da, name=name, dim=dim, want=labels[dim], hint=hints[dim],
                     zero_outside=dim in zero_outside)
    present = [d for d in _ENGINE_DIMS if d in da.dims]
    values = np.asarray(da.transpose(*present).values, dtype=np.float64)
    shape = [values.shape[present.index(d)] if d in da.dims else 1 for d in _ENGINE_DIMS]
    values = values.reshape(shape)
    if full:
        target = [len(labels[d]) if d in full else n for d, n in zip(_ENGINE_DIMS, shape)]
        values = np.broadcast_to(values, target)
    return np.ascontiguousarray(values)


def _draw_labels(*arrays: object) -> pd.Index | None:
    for da in arrays:
        if isinstance(da, xr.DataArray) and "draw" in da.dims:
            return da.indexes["draw"]
    return None


def _control_as_engine(
    control: object,
    *,
    labels: dict[str, pd.Index],
    hints: dict[str, str],
    need_year: bool,
) -> np.ndarray:
    """Validate a control projection; return it with axes ``_ENGINE_DIMS`` (area of length 1)."""
    _check_dataarray(control, "constrain_to")
    _check_dims(control, "constrain_to", ("draw", "area", "sex", "age", "year"),
                required=("sex", "age", "year") if need_year else ("sex", "age"))
    if "area" in control.dims:
        if control.sizes["area"] != 1:
            raise DataFormatError(
                f"constrain_to has {control.sizes['area']} areas; give the control totals "
                "without an area dim or with the gemeente as the single area"
            )
        control = control.isel(area=0, drop=True)
    _check_values(control, "constrain_to", lower=0.0, what="a count of persons")
    return _engine_array(control, name="constrain_to", labels=labels, hints=hints)


# --------------------------------------------------------------------------------------------
# The constraint
# --------------------------------------------------------------------------------------------


def _constrain_step(pop: np.ndarray, ctrl: np.ndarray) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
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


def constrain(areas: xr.DataArray, control: xr.DataArray) -> xr.DataArray:
    """Scale area projections proportionally so that they sum to control totals.

    For every sex x age (x year, x draw) cell the areas are multiplied by
    ``control / sum over areas``, which keeps each area's share of that cell. Where the areas
    sum to zero but the control is positive, there is no share to keep: the control is then
    distributed by each area's share of the areas' total population (all sexes and ages, in
    that year and draw). Where the control is zero the areas become zero.

    Works on any projection, so Hamilton-Perry or a housing-led variant can reuse it; inside
    :func:`project` the same step is applied year by year, before the next year is projected.

    Parameters
    ----------
    areas : xarray.DataArray (draw, area, sex, age, year), draw and year optional [persons]
        Projected populations of the areas (wijken), non-negative.
    control : xarray.DataArray (draw, sex, age, year), draw optional [persons]
        Control totals, e.g. the municipal projection. An area dim of length 1 (the gemeente)
        is allowed and dropped. Aligned by label; extra labels (years, draws) are ignored.
        Needs year if ``areas`` has it.

    Returns
    -------
    xarray.DataArray
        ``areas`` scaled, same dims and coords (with draw in front if only ``control`` had
        it) [persons].

    Raises
    ------
    MissingDataError
        The control lacks a sex, age, year or draw label of ``areas``.
    InvalidValueError
        Negative or NaN values, or a positive control where all areas are empty.

    Examples
    --------
    >>> import xarray as xr
    >>> areas = xr.DataArray([[[1.0, 0.0]], [[3.0, 0.0]]], dims=("area", "sex", "age"),
    ...     coords={"area": ["WK01", "WK02"], "sex": ["female"], "age": [0, 1]})
    >>> control = xr.DataArray([[8.0, 2.0]], dims=("sex", "age"),
    ...     coords={"sex": ["female"], "age": [0, 1]})
    >>> constrain(areas, control).sel(sex="female").values.tolist()
    [[2.0, 0.5], [6.0, 1.5]]
    """
    _check_dataarray(areas, "areas")
    _check_dims(areas, "areas", ("draw", "area", "sex", "age", "year"),
                required=("area", "sex", "age"))
    _check_values(areas, "areas", lower=0.0, what="a count of persons")
    has_year = "year" in areas.dims
    draws = _draw_labels(areas, control)
    labels = {d: areas.indexes[d] for d in areas.dims}
    if draws is not None:
        labels["draw"] = draws
    hints = {d: f"the control needs every {d} of the areas" for d in _ENGINE_DIMS}
    ctrl = _control_as_engine(control, labels=labels, hints=hints, need_year=has_year)

    work = _engine_array(areas, name="areas", labels=labels, hints=hints,
                         full=("draw",) if draws is not None else ())
    work = work.copy()  # own writable buffer: the caller's data stay unchanged
    nyear = work.shape[0]
    for k in range(nyear):
        _constrain_step(work[k], ctrl[k if ctrl.shape[0] > 1 else 0, :, 0])

    out_dims = [d for d in ("draw", "area", "sex", "age", "year")
                if d in areas.dims or (d == "draw" and draws is not None)]
    values = np.moveaxis(work, 0, -1)  # (draw, area, sex, age, year)
    if not has_year:
        values = values[..., 0]
    if draws is None:
        values = values[0]
    coords = {d: labels[d] for d in out_dims}
    result = xr.DataArray(values, dims=out_dims, coords=coords, attrs=dict(areas.attrs))
    order = (["draw"] if "draw" in out_dims and "draw" not in areas.dims else []) + list(areas.dims)
    return result.transpose(*order)


# --------------------------------------------------------------------------------------------
# The engine
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Engine:
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

    def astype(self, dtype: np.dtype | type) -> _Engine:
        """The same run with every array in ``dtype`` (the constraint stays float64)."""
        def cast(arr: np.ndarray) -> np.ndarray:
            return np.ascontiguousarray(arr, dtype=dtype)

        return replace(self, base=cast(self.base), surv=cast(self.surv), fert=cast(self.fert),
                       mig=cast(self.mig), infants=cast(self.infants))

    @property
    def dtype(self) -> np.dtype:
        return self.surv.dtype

    @property
    def nstep(self) -> int:
        return self.end_year - self.start_year

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """(draw, area, sex, age) of one year of the projection."""
        return (len(self.labels["draw"]), len(self.labels["area"]), 2, len(self.labels["age"]))


def _prepare(
    base: xr.DataArray,
    components: ProjectionInputs,
    start_year: int,
    end_year: int,
    constrain_to: xr.DataArray | None,
) -> _Engine:
    """Validate the inputs of :func:`project` and align them by label into an :class:`_Engine`."""
    if not isinstance(components, ProjectionInputs):
        raise DataFormatError(
            f"components must be a ProjectionInputs, got {type(components).__name__}"
        )
    start_year, end_year = int(start_year), int(end_year)
    if end_year < start_year:
        raise InvalidValueError(
            f"end_year {end_year} is before start_year {start_year}; give end_year >= start_year"
        )
    _check_population(base, "base", ("draw", "area", "sex", "age", "year"))
    if "year" in base.dims:
        if start_year not in base.indexes["year"]:
            raise MissingDataError(
                f"base has no year {start_year} (it has {_show(list(base.indexes['year']))}); "
                "give the population of start_year"
            )
        base = base.sel(year=start_year, drop=True)
    ages = _check_ages(base, "base")
    missing_sex = [s for s in SEXES if s not in base.indexes["sex"]]
    if missing_sex:
        raise MissingDataError(f"base has no sex {_show(missing_sex)}; give both sexes")

    c = components
    migration = c.net_migration if c.net_migration is not None else c.migration_rate
    srb = c.sex_ratio_at_birth
    years = pd.Index(np.arange(start_year, end_year, dtype=np.int64), name="year")
    draws = _draw_labels(base, c.survival, c.births_survival, c.fertility, migration, srb,
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
    surv = _engine_array(c.survival, name="survival", labels=labels, hints=hints, full=("age",))
    lsurv = _engine_array(c.births_survival, name="births_survival", labels=labels,
                          hints=hints, full=("sex",))[..., 0]
    fert = _engine_array(c.fertility, name="fertility", labels=labels, hints=hints,
                         full=("age",), zero_outside=("age",))[:, :, :, 0, :]
    as_counts = c.net_migration is not None
    mig = _engine_array(migration, name="net_migration" if as_counts else "migration_rate",
                        labels=labels, hints=hints, full=("sex", "age"))
    if not as_counts:
        mig = 1.0 + mig  # growth factor of the closed end-of-year population
    if isinstance(srb, xr.DataArray):
        srb_arr = _engine_array(srb, name="sex_ratio_at_birth", labels=labels,
                                hints=hints)[:, :, :, 0, 0]
    else:
        srb_arr = np.full((1, 1, 1), float(srb))
    ctrl = None
    if constrain_to is not None:
        ctrl_labels = dict(labels, year=pd.Index(np.arange(start_year + 1, end_year + 1),
                                                 dtype=np.int64))
        ctrl_hints = dict(hints, year=f"the constraint needs years {start_year + 1}..{end_year}"
                          " (the base year is returned unchanged)")
        ctrl = _control_as_engine(constrain_to, labels=ctrl_labels, hints=ctrl_hints,
                                  need_year=True)[:, :, 0]  # (year, draw, sex, age)

    # Fertility is zero outside [lo, hi); summing births over that band only is the main saving.
    nonzero_ages = np.nonzero(fert.reshape(-1, fert.shape[-1]).any(axis=0))[0]
    lo, hi = (int(nonzero_ages[0]), int(nonzero_ages[-1]) + 1) if len(nonzero_ages) else (1, 1)

    base_arr = _engine_array(base, name="base", labels={**labels, "year": pd.Index([0])},
                             hints=hints)[0]
    # Boys B * srb / (1 + srb) and girls B / (1 + srb), each times its survival to 1 January.
    boys = (srb_arr / (1.0 + srb_arr)) * lsurv[..., _MALE]
    girls = (1.0 / (1.0 + srb_arr)) * lsurv[..., _FEMALE]
    infants = np.stack(np.broadcast_arrays(boys, girls), axis=-1)
    return _Engine(
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


def _aligned_empty(shape: tuple[int, ...], dtype: np.dtype | type = np.float64) -> np.ndarray:
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


def _rate_block(arr: np.ndarray, k: int, d: slice, a: slice) -> np.ndarray:
    """Year ``k`` of a rate (year, draw, area, ...) for a block; length-1 axes stay length 1."""
    arr = arr[k] if arr.shape[0] > 1 else arr[0]
    return arr[d if arr.shape[0] > 1 else slice(None), a if arr.shape[1] > 1 else slice(None)]


class _Scratch:
    """Per-thread work buffers, one set per block shape (the last block may be smaller)."""

    def __init__(self, e: _Engine) -> None:
        self.dtype = e.dtype
        self._buffers: dict[tuple, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        key = (name, shape)
        buf = self._buffers.get(key)
        if buf is None:
            buf = self._buffers[key] = _aligned_empty(shape, self.dtype)
        return buf

    def zeros(self, shape: tuple[int, ...]) -> np.ndarray:
        """A read-only array of zeros: ``np.maximum(x, zeros)`` runs about 3x faster than
        ``np.maximum(x, 0.0)``, whose broadcast scalar misses numpy's SIMD loop."""
        key = ("zeros", shape)
        buf = self._buffers.get(key)
        if buf is None:
            buf = self._buffers[key] = _aligned_empty(shape, self.dtype)
            buf.fill(0.0)
            buf.flags.writeable = False
        return buf


def _step_block(
    pop: np.ndarray,
    nxt: np.ndarray,
    e: _Engine,
    k: int,
    d: slice,
    a: slice,
    scratch: _Scratch,
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
    s = _rate_block(e.surv, k, d, a)
    np.multiply(pop, s, out=survivors)

    m = _rate_block(e.mig, k, d, a) if migration is None else migration
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
        f = _rate_block(e.fert, k, d, a)
        if f.shape[0] == 1 and f.shape[1] == 1:
            np.matmul(wbuf, f[0, 0], out=births)
        else:
            np.einsum("dax,dax->da", wbuf, np.broadcast_to(f, wbuf.shape), out=births)
        births *= 0.5
    else:
        births.fill(0.0)

    newborn = births[:, :, None] * _rate_block(e.infants, k, d, a)  # (draw, area, sex)
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
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(threads, len(items))) as pool:
        return list(pool.map(function, items))


def _split(items: list, parts: int) -> list[list]:
    """``items`` in ``parts`` contiguous runs of nearly equal length (none empty)."""
    parts = max(1, min(parts, len(items)))
    edges = np.linspace(0, len(items), parts + 1).round().astype(int)
    return [items[i:j] for i, j in zip(edges[:-1], edges[1:])]


def _default_threads(cells_per_year: int) -> int:
    if cells_per_year < _THREAD_MIN_CELLS:
        return 1
    return max(1, min(os.cpu_count() or 1, 8))


def _run(
    e: _Engine,
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
            scratch = _Scratch(e)
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
                    _step_block(states[k], states[k + 1], e, k, d, a, scratch)
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
            pair = [_aligned_empty((ndraw, narea, nsex, nage)) for _ in range(2)]
            years = [pair[k % 2] for k in range(nstep + 1)]
        years[0][...] = e.base
        if not direct and slot[0] >= 0:
            out[slot[0]] = years[0]
        chunks = _split(blocks, threads)
        scratches = [_Scratch(e) for _ in chunks]
        for k in range(nstep):
            def work(job: tuple[list, _Scratch], k: int = k) -> list:
                records: list = []
                chunk, scratch = job
                for d, a in chunk:
                    _step_block(years[k][d, a], years[k + 1][d, a], e, k, d, a, scratch)
                    _clip_block(years[k + 1][d, a], k, d, a, narea, records)
                return records

            for records in _map(work, list(zip(chunks, scratches)), threads):
                clipped.extend(records)
            ctrl_k = e.ctrl[k] if e.ctrl.shape[0] > 1 else e.ctrl[0]
            fidx, cvals = _constrain_step(years[k + 1], ctrl_k)
            if len(cvals):
                filled.append((k, fidx, cvals))
            if not direct and slot[k + 1] >= 0:
                out[slot[k + 1]] = years[k + 1]
    return clipped, filled


def project(
    base: xr.DataArray,
    *,
    components: ProjectionInputs,
    start_year: int,
    end_year: int,
    constrain_to: xr.DataArray | None = None,
    return_report: bool = False,
    keep_years: Sequence[int] | None = None,
    dtype: np.dtype | type | str = np.float64,
    out: np.ndarray | None = None,
    threads: int | None = None,
) -> xr.DataArray | tuple[xr.DataArray, ProjectionReport]:
    """Project a population by cohort-component, one year at a time.

    See the module notes for the order of the steps, the exposure and the migration timing.

    Parameters
    ----------
    base : xarray.DataArray (draw, area, sex, age), draw optional [persons]
        Population on 1 January of ``start_year``. Ages ``0..w`` with ``w`` the open group
        (101 ages for 0..100+, but any length >= 2 works); sexes ``'male'``, ``'female'``.
        A ``year`` dim is allowed if it contains ``start_year`` (that year is used).
    components : ProjectionInputs
        Survival, fertility, births survival, sex ratio and migration. They need every year
        ``start_year .. end_year - 1`` (the rates of year ``t`` move 1 January ``t`` to 1 January
        ``t + 1``) and every area, sex, age and draw of the projection that they have as a dim.
    start_year : int
        Year of ``base``; returned unchanged as the first year.
    end_year : int
        Last year projected (inclusive), ``>= start_year``.
    constrain_to : xarray.DataArray (draw, sex, age, year), draw optional, optional [persons]
        Control totals (e.g. the municipal projection; an area dim of length 1 is allowed). If
        given, every projected year ``start_year + 1 .. end_year`` is scaled with
        :func:`constrain` *before* it is projected further, so the next year starts from the
        constrained population. The base year is not touched: constrain the base first if it
        should match too.
    return_report : bool
        Also return the :class:`ProjectionReport` of clipped persons.
    keep_years : sequence of int, optional
        The years to return (default every year ``start_year .. end_year``). All years are
        still projected; dropping the others saves memory on large runs.
    dtype : {numpy.float64, numpy.float32}
        Type of the returned values. The engine always computes in float64; float32 halves the
        memory of the result and rounds it to about 7 significant digits.
    out : numpy.ndarray, optional
        A C-contiguous buffer of shape ``(len(keep_years), draws, areas, 2, ages)`` (``draws``
        = 1 without a draw dim) and type float64 or float32 to write the result into (it then
        sets the type; ``dtype`` is ignored). Reusing a buffer between runs saves the cost of
        fresh memory, which is a large part of a national run.
    threads : int, optional
        Threads that project blocks of areas and draws at the same time; default all cores
        for runs of 200,000 cells per year or more, else 1. Results do not depend on it.

    Returns
    -------
    xarray.DataArray (draw, area, sex, age, year) [persons]
        Years ``keep_years`` (default ``start_year .. end_year``). ``draw`` is present if the
        base, a component or the control has it. Sexes in the order ``('male', 'female')``.
        ``attrs`` holds ``clipped_persons_total``. The data are a view on the engine's buffer,
        which is ordered year-first in memory (not C-contiguous in this dim order).
    ProjectionReport
        Only with ``return_report=True``. Without it, clipping issues a
        :class:`ClippingWarning` stating the total.

    Raises
    ------
    DataFormatError
        Wrong dims, missing labels on a dim, unknown sex labels, ages not ``0..w``, an ``out``
        buffer of the wrong shape or type.
    InvalidValueError
        Negative or NaN population, probabilities outside [0, 1], ``end_year < start_year``,
        ``keep_years`` outside the projection.
    MissingDataError, UnknownAreaError
        A component lacks a year, age, sex, draw or area that the projection needs.
    """
    e = _prepare(base, components, start_year, end_year, constrain_to)
    start_year, end_year = e.start_year, e.end_year
    all_years = np.arange(start_year, end_year + 1, dtype=np.int64)
    if keep_years is None:
        keep = np.arange(len(all_years))
    else:
        wanted = np.unique(np.asarray(list(keep_years), dtype=np.int64))
        outside = wanted[(wanted < start_year) | (wanted > end_year)]
        if len(outside) or not len(wanted):
            raise InvalidValueError(
                f"keep_years {_show(list(outside)) if len(outside) else '[]'} are not years of "
                f"the projection; give years from {start_year} to {end_year}"
            )
        keep = wanted - start_year
    shape = (len(keep),) + e.shape
    if out is None:
        dtype = np.dtype(dtype)
        if dtype not in (np.float64, np.float32):
            raise DataFormatError(f"dtype must be float64 or float32, got {dtype}")
        out = _aligned_empty(shape, dtype)
    elif (not isinstance(out, np.ndarray) or out.shape != shape
          or out.dtype not in (np.float64, np.float32) or not out.flags.c_contiguous):
        got = (f"{type(out).__name__} {getattr(out, 'shape', '')} {getattr(out, 'dtype', '')}"
               if isinstance(out, np.ndarray) else type(out).__name__)
        raise DataFormatError(
            f"out must be a C-contiguous float64 or float32 numpy array of shape {shape} "
            f"(kept years, draws, areas, sexes, ages), got {got}"
        )
    if threads is None:
        threads = _default_threads(int(np.prod(e.shape)))
    clipped, filled = _run(e, out, keep, max(1, int(threads)))

    values = np.moveaxis(out, 0, -1)  # a view; copying 0.3 GB to reorder axes buys nothing
    labels = e.labels
    dims = ["draw", "area", "sex", "age", "year"]
    coords = {"draw": labels["draw"], "area": labels["area"], "sex": list(SEXES),
              "age": labels["age"], "year": all_years[keep]}
    if not e.has_draw:
        values = values[0]
        dims = dims[1:]
        del coords["draw"]
    report = _report(clipped, filled, labels=labels, has_draw=e.has_draw,
                     start_year=start_year)
    result = xr.DataArray(values, dims=dims, coords=coords,
                          attrs={"units": "persons",
                                 "clipped_persons_total": report.clipped_total})
    if return_report:
        return result, report
    if report.clipped_total > 0:
        warnings.warn(
            f"net out-migration exceeded the population in {len(report.clipped)} cell(s); "
            f"{report.clipped_total:.6g} persons were clipped to keep the population "
            "non-negative. Pass return_report=True for the table.",
            ClippingWarning,
            stacklevel=2,
        )
    return result


def _report(
    clipped: list[tuple[int, np.ndarray, np.ndarray]],
    filled: list[tuple[int, tuple[np.ndarray, ...], np.ndarray]],
    *,
    labels: dict[str, pd.Index],
    has_draw: bool,
    start_year: int,
) -> ProjectionReport:
    ndraw, narea, nage = len(labels["draw"]), len(labels["area"]), len(labels["age"])
    sexes = np.asarray(SEXES, dtype=object)
    draw_labels = np.asarray(labels["draw"])
    area_labels = np.asarray(labels["area"])
    age_labels = np.asarray(labels["age"])

    # Integer positions first, labels last: a noisy Monte Carlo run can clip millions of
    # cells and sorting or concatenating label strings would then dominate the run time.
    cols = ["draw", "area", "sex", "age", "year"] if has_draw else ["area", "sex", "age", "year"]
    if clipped:
        k = np.concatenate([np.full(len(r[1]), r[0], dtype=np.int64) for r in clipped])
        flat = np.concatenate([r[1] for r in clipped])
        persons = np.concatenate([r[2] for r in clipped])
        # Blocks and threads finish in any order; the table is by year, then (draw, area,
        # sex, age).
        order = np.lexsort((flat, k))
        k, flat, persons = k[order], flat[order], persons[order]
        d, a, s, x = np.unravel_index(flat, (ndraw, narea, 2, nage))
    else:
        k = d = a = s = x = np.empty(0, dtype=np.intp)
        persons = np.empty(0)
    columns = {
        "draw": draw_labels[d],
        "area": area_labels[a].astype(object),
        "sex": sexes[s],
        "age": age_labels[x].astype(np.int64),
        "year": (start_year + 1 + k).astype(np.int64),
    }
    table = pd.DataFrame({c: columns[c] for c in cols} | {"clipped_persons": persons})

    fcols = ["draw", "sex", "age", "year"] if has_draw else ["sex", "age", "year"]
    if filled:
        fk = np.concatenate([np.full(len(r[2]), r[0], dtype=np.int64) for r in filled])
        fd, fs, fx = (np.concatenate([r[1][i] for r in filled]) for i in range(3))
        fvals = np.concatenate([r[2] for r in filled])
    else:
        fk = fd = fs = fx = np.empty(0, dtype=np.intp)
        fvals = np.empty(0)
    fcolumns = {
        "draw": draw_labels[fd],
        "sex": sexes[fs],
        "age": age_labels[fx].astype(np.int64),
        "year": (start_year + 1 + fk).astype(np.int64),
    }
    ftable = pd.DataFrame({c: fcolumns[c] for c in fcols} | {"control_persons": fvals})
    return ProjectionReport(
        clipped=table,
        clipped_total=float(persons.sum()),
        constraint_filled=ftable,
    )


# --------------------------------------------------------------------------------------------
# Small-area methods: Hamilton-Perry and the housing-led variant
# --------------------------------------------------------------------------------------------

#: Names accepted by ``method=`` in :func:`assen_demand.pipeline.project_population`.
SMALL_AREA_METHODS = ("cohort_component", "hamilton_perry", "housing_led")


def _as_area_sex_age(da: xr.DataArray, name: str) -> xr.DataArray:
    _check_population(da, name, ("area", "sex", "age"))
    _check_ages(da, name)
    missing = [s for s in SEXES if s not in da.indexes["sex"]]
    if missing:
        raise MissingDataError(f"{name} has no sex {_show(missing)}; give both sexes")
    return da.transpose("area", "sex", "age").sel(sex=list(SEXES)).sortby("age").astype(np.float64)


def hamilton_perry(
    earlier: xr.DataArray,
    later: xr.DataArray,
    *,
    start_year: int,
    end_year: int,
    interval: int = 1,
    constrain_to: xr.DataArray | None = None,
    mother_ages: tuple[int, int] = (15, 50),
    min_persons: float = 1.0,
) -> xr.DataArray:
    """Project areas with cohort change ratios from two observed age structures (Hamilton & Perry 1962).

    With ``n = interval`` years between the observations ``earlier`` (1 January
    ``start_year - n``) and ``later`` (1 January ``start_year``), every single age ``x`` and sex:

    * **Cohort change ratio** ``CCR_n(x) = later(x + n) / earlier(x)``; it carries survival and
      net migration together. The projection runs in one-year steps; the one-year ratio of the
      move from age ``a`` to ``a + 1`` is the geometric mean over the cohorts that made that
      move in the interval, ``r(a) = exp(mean_k log CCR_n(a - k) / n)``, ``k = 0..n-1`` with
      ``a - k >= 0`` (for ``n = 1`` simply ``CCR_1(a)``).
    * **Open age group** ``w``: ``r_w = (later(w) / sum_{x >= w-n} earlier(x)) ** (1/n)`` applied
      to ``P(w-1) + P(w)``, so the 100+ group is fed by the 99-year-olds and keeps its own.
    * **Youngest age**: a one-year step creates only age 0; ``P(0, t+1) = CWR * W(t+1)`` with the
      child-woman ratio ``CWR = later(0) / W_later`` per sex and ``W`` the women aged
      ``mother_ages`` (15-49) on the same date. Ages 1..n-1 follow from age 0 by ``r``.
    * **Small denominators**: where an area's denominator is below ``min_persons`` the ratio of
      all areas together (the gemeente when the areas are its wijken) is used.
    * **Constraint**: with ``constrain_to`` each projected year is scaled by :func:`constrain`
      before the next is projected.

    Parameters
    ----------
    earlier, later : xarray.DataArray (area, sex, age) [persons]
        The two observed age structures, ``interval`` years apart, ages ``0..w`` (w = open group).
    start_year, end_year : int
        The year of ``later`` and the last projected year.
    interval : int [years]
    constrain_to : xarray.DataArray (sex, age, year), optional [persons]
        Control totals of the sum of the areas for years ``start_year + 1 .. end_year``.
    mother_ages : (int, int)
        Ages of the women of the child-woman ratio, lower inclusive, upper exclusive.
    min_persons : float [persons]

    Returns
    -------
    xarray.DataArray (area, sex, age, year) [persons]
        Years ``start_year .. end_year``; the first is ``later``.

    Examples
    --------
    See ``tests/data/hamilton_perry.md`` for a hand-worked case.
    """
    start_year, end_year, n = int(start_year), int(end_year), int(interval)
    if end_year < start_year:
        raise InvalidValueError(f"end_year {end_year} is before start_year {start_year}; give end_year >= start_year")
    if n < 1:
        raise InvalidValueError(f"interval {interval} must be a whole number of years >= 1")
    e = _as_area_sex_age(earlier, "earlier")
    l_ = _as_area_sex_age(later, "later")
    if list(e.indexes["area"]) != list(l_.indexes["area"]):
        missing = sorted(set(map(str, l_.indexes["area"])) ^ set(map(str, e.indexes["area"])))
        raise UnknownAreaError(
            f"earlier and later must hold the same areas; {_show(missing)} are in only one of them "
            "(a wijk that changed its boundaries has no cohort change ratio: project it with another method)"
        )
    if list(e.indexes["age"]) != list(l_.indexes["age"]):
        raise DataFormatError("earlier and later must have the same ages 0..w")
    ages = np.asarray(l_.indexes["age"])
    w = len(ages) - 1
    if n >= w:
        raise InvalidValueError(f"interval {n} must be shorter than the open age {w}")
    lo, hi = mother_ages
    E, L = e.values, l_.values  # (area, sex, age)
    Et, Lt = E.sum(axis=0, keepdims=True), L.sum(axis=0, keepdims=True)

    def ratio(num: np.ndarray, den: np.ndarray, num_t: np.ndarray, den_t: np.ndarray) -> np.ndarray:
        fallback = np.divide(num_t, den_t, out=np.ones_like(num_t), where=den_t > 0)
        own = np.divide(num, den, out=np.zeros_like(num), where=den >= min_persons)
        return np.where(den >= min_persons, own, np.broadcast_to(fallback, own.shape))

    # n-year ratios of the closed ages x = 0..w-n-1, as logs (a zero ratio stays zero: log -inf)
    ccr = ratio(L[..., n:w], E[..., : w - n], Lt[..., n:w], Et[..., : w - n])
    with np.errstate(divide="ignore"):
        log_ccr = np.log(ccr)
    annual = np.empty(E.shape[:2] + (w,))  # r(a), a = 0..w-1 (a = w-1 moves into the open group)
    for a in range(w):
        ks = [a - k for k in range(n) if 0 <= a - k < w - n]
        annual[..., a] = np.exp(np.mean(log_ccr[..., ks], axis=-1) / n) if ks else np.nan
    open_ratio = ratio(L[..., w], E[..., w - n:].sum(axis=-1), Lt[..., w], Et[..., w - n:].sum(axis=-1)) ** (1.0 / n)
    gaps = np.isnan(annual)  # ages just below the open group not covered by a full cohort
    annual[gaps] = np.broadcast_to(open_ratio[..., None], annual.shape)[gaps]
    women = L[:, 1, lo:hi].sum(axis=-1)
    cwr = ratio(L[..., 0], women[:, None], Lt[..., 0], Lt[:, 1, lo:hi].sum(axis=-1)[:, None])  # (area, sex)

    years = np.arange(start_year, end_year + 1)
    out = np.empty(E.shape + (len(years),))
    out[..., 0] = L
    ctrl = None
    if constrain_to is not None:
        ctrl = constrain_to.sel(area=constrain_to["area"].values[0], drop=True) if "area" in constrain_to.dims else constrain_to
    for k in range(1, len(years)):
        pop, nxt = out[..., k - 1], out[..., k]
        nxt[..., 1:w] = pop[..., : w - 1] * annual[..., : w - 1]
        nxt[..., w] = (pop[..., w - 1] + pop[..., w]) * open_ratio
        nxt[..., 0] = cwr * nxt[:, 1, lo:hi].sum(axis=-1)[:, None]
        if ctrl is not None:
            step = xr.DataArray(nxt, dims=("area", "sex", "age"),
                                coords={"area": l_.indexes["area"], "sex": list(SEXES), "age": ages})
            nxt[...] = constrain(step, ctrl.sel(year=int(years[k]), drop=True)).transpose("area", "sex", "age").values
    return xr.DataArray(out, dims=("area", "sex", "age", "year"),
                        coords={"area": l_.indexes["area"], "sex": list(SEXES), "age": ages, "year": years},
                        name="persons", attrs={"units": "persons", "method": "hamilton_perry",
                                               "interval_years": n})


#: A pipeline year may add at most this multiple of the wijk's stock on 1 January of that year
#: (or of PIPELINE_GROWTH_FLOOR dwellings for a new or small wijk): doubling a wijk in one year
#: is already beyond any Dutch plan; 1e9 homes in one wijk is a typing error, not a plan.
PIPELINE_GROWTH_LIMIT = 1.0
PIPELINE_GROWTH_FLOOR = 500.0


def _check_pipeline_growth(added: pd.Series, base_stock: pd.Series, net: np.ndarray, areas: list[str],
                           start_year: int) -> None:
    stock_before = base_stock.to_numpy(float)[:, None] + np.cumsum(net, axis=1)  # on 1 January of each year
    for (area, year), value in added.items():
        i, t = areas.index(area), year - start_year
        allowed = PIPELINE_GROWTH_LIMIT * max(stock_before[i, t], PIPELINE_GROWTH_FLOOR)
        if value > allowed:
            raise InvalidValueError(
                f"the dwelling pipeline adds {value:,.0f} dwellings to {area} in {year}, more than "
                f"{PIPELINE_GROWTH_LIMIT:g} x its stock ({stock_before[i, t]:,.0f}, at least "
                f"{PIPELINE_GROWTH_FLOOR:,.0f}) in one year; check dwellings_added for that row"
            )


def dwelling_stock(
    base_stock: pd.Series, changes: pd.DataFrame | None, *, start_year: int, end_year: int
) -> xr.DataArray:
    """Dwelling stock per area on 1 January of each year from a base stock and planned changes.

    ``stock(t + 1) = stock(t) + dwellings_added(t) - dwellings_removed(t)``: completions and
    demolitions during year ``t`` count on 1 January ``t + 1``.

    Parameters
    ----------
    base_stock : pandas.Series (area) [dwellings]
        Stock on 1 January ``start_year``.
    changes : pandas.DataFrame, optional
        ``area, year, dwellings_added, dwellings_removed`` [dwellings per year]; rows outside
        ``start_year .. end_year - 1`` are ignored.
    start_year, end_year : int

    Returns
    -------
    xarray.DataArray (area, year) [dwellings]

    Examples
    --------
    >>> base = pd.Series({"WK1": 100.0})
    >>> plan = pd.DataFrame({"area": ["WK1"], "year": [2025], "dwellings_added": [30], "dwellings_removed": [10]})
    >>> dwelling_stock(base, plan, start_year=2025, end_year=2027).sel(area="WK1").values.tolist()
    [100.0, 120.0, 120.0]
    """
    areas = [str(a) for a in base_stock.index]
    years = np.arange(int(start_year), int(end_year) + 1)
    net = np.zeros((len(areas), len(years)))
    if changes is not None and len(changes):
        unknown = sorted(set(changes["area"].astype(str)) - set(areas))
        if unknown:
            raise UnknownAreaError(
                f"the dwelling pipeline names area(s) {_show(unknown)} that are not wijken of the projection "
                f"(wijken: {_show(areas)}); use the CBS wijk codes of the base year"
            )
        rows = changes[(changes["year"] >= start_year) & (changes["year"] < end_year)]
        delta = (rows["dwellings_added"].fillna(0) - rows["dwellings_removed"].fillna(0)).groupby(
            [rows["area"].astype(str), rows["year"].astype(int)]).sum()
        for (area, year), value in delta.items():
            net[areas.index(area), year - start_year + 1] += value
        added = rows["dwellings_added"].fillna(0).groupby([rows["area"].astype(str), rows["year"].astype(int)]).sum()
        _check_pipeline_growth(added, base_stock, net, areas, start_year)
    stock = base_stock.to_numpy(float)[:, None] + np.cumsum(net, axis=1)
    if (stock < 0).any():
        a, y = np.argwhere(stock < 0)[0]
        raise InvalidValueError(
            f"the dwelling pipeline removes more dwellings than {areas[a]} has (stock {stock[a, y]:.0f} on "
            f"1 January {years[y]}); check dwellings_removed"
        )
    return xr.DataArray(stock, dims=("area", "year"), coords={"area": areas, "year": years},
                        name="dwelling_stock", attrs={"units": "dwellings"})


def housing_led(
    base: xr.DataArray,
    *,
    components: ProjectionInputs,
    start_year: int,
    end_year: int,
    target: xr.DataArray,
    profile: xr.DataArray | None = None,
    tol: float = 1e-6,
    max_iter: int = 20,
    return_report: bool = False,
):
    """Cohort-component per area with net migration adjusted so each area's total hits ``target``.

    Each year ``t`` is projected with the components (:func:`project`), then the difference
    between ``target(area, t+1)`` (e.g. dwelling stock x persons per dwelling) and the projected
    total is added to that year's net migration along a positive age profile, and the year is
    projected again. The added migrants change the year's births (they are exposed half a year),
    so the step is repeated with a secant update until every area is within ``tol`` persons.
    Net out-migration larger than a cohort is clipped and reported like in :func:`project`;
    an area that cannot reach its target (more removed than present) is reported by its gap.

    Parameters
    ----------
    base : xarray.DataArray (area, sex, age) [persons]
        Population on 1 January ``start_year``.
    components : ProjectionInputs
        With ``net_migration`` counts for the areas (the cohort-component assumption that the
        housing total overrides in volume, not in age pattern).
    start_year, end_year : int
    target : xarray.DataArray (area, year) [persons]
        Total population of each area for years ``start_year + 1 .. end_year``.
    profile : xarray.DataArray (area, sex, age) or (sex, age), optional [relative weight]
        Age-sex profile of the added (or removed) migrants; default the Rogers-Castro
        fundamental schedule x the area's population at the start of each year, so removals fall
        on those present and additions on the ages that move.
    tol : float [persons]
    max_iter : int
    return_report : bool

    Returns
    -------
    xarray.DataArray (area, sex, age, year) [persons]
    ProjectionReport
        Only with ``return_report=True``; ``clipped`` collects every year's clipped cells.
    """
    from assen_demand.demography.components import RC_FUNDAMENTAL, rogers_castro

    if components.net_migration is None:
        raise DataFormatError("housing_led needs net_migration counts in the components, not migration_rate")
    start_year, end_year = int(start_year), int(end_year)
    areas = list(base.indexes["area"])
    missing = [a for a in areas if a not in target.indexes["area"]]
    if missing:
        raise MissingDataError(f"target has no area {_show(missing)}; give a total for every area")
    need = list(range(start_year + 1, end_year + 1))
    missing_years = [y for y in need if y not in target.indexes["year"]]
    if missing_years:
        raise MissingDataError(f"target has no year {_show(missing_years)}; it needs {start_year + 1}..{end_year}")
    tgt = target.sel(area=areas, year=need).transpose("area", "year").values.astype(float)
    rc = xr.DataArray(rogers_castro(base["age"].values, RC_FUNDAMENTAL), dims="age",
                      coords={"age": base["age"].values})
    net_all = components.net_migration
    current = base.transpose("area", "sex", "age")
    years_out = [current]
    clipped = []
    for k, year in enumerate(range(start_year, end_year)):
        m0 = net_all.sel(year=year) if "year" in net_all.dims else net_all
        m0 = m0.sel(area=areas).transpose("area", "sex", "age")
        weights = (profile if profile is not None else rc * current)
        weights = weights.broadcast_like(m0).transpose("area", "sex", "age")
        wsum = weights.sum(["sex", "age"])
        weights = xr.where(wsum > 0, weights / wsum.where(wsum > 0, 1.0), 1.0 / (2 * base.sizes["age"]))
        inputs = ProjectionInputs(
            survival=components.survival, births_survival=components.births_survival,
            fertility=components.fertility, sex_ratio_at_birth=components.sex_ratio_at_birth,
            net_migration=m0.expand_dims(year=[year]))

        def step(extra: np.ndarray):
            mig = m0 + xr.DataArray(extra, dims="area", coords={"area": areas}) * weights
            stepped = replace(inputs, net_migration=mig.expand_dims(year=[year]).transpose("area", "sex", "age", "year"))
            pop, rep = project(current, components=stepped, start_year=year, end_year=year + 1, return_report=True)
            return pop.sel(year=year + 1, drop=True), rep

        extra = tgt[:, k] - _total_after(step, np.zeros(len(areas)))
        prev_x, prev_f = np.zeros(len(areas)), None
        for _ in range(max_iter):
            nxt, rep = step(extra)
            gap = tgt[:, k] - nxt.sum(["sex", "age"]).values
            if np.max(np.abs(gap)) <= tol:
                break
            f = gap
            if prev_f is None:
                slope = np.ones(len(areas))
            else:
                dx, df = extra - prev_x, prev_f - f
                slope = np.where(np.abs(dx) > 1e-12, df / np.where(np.abs(dx) > 1e-12, dx, 1.0), 1.0)
                slope = np.where(np.isfinite(slope) & (slope > 0.1), slope, 1.0)
            prev_x, prev_f = extra.copy(), f.copy()
            extra = extra + f / slope
        clipped.append(rep.clipped)
        current = nxt
        years_out.append(current)
    out = xr.concat(years_out, dim=pd.Index(np.arange(start_year, end_year + 1), name="year"))
    out = out.transpose("area", "sex", "age", "year").rename("persons")
    out.attrs = {"units": "persons", "method": "housing_led"}
    table = pd.concat(clipped, ignore_index=True) if clipped else pd.DataFrame()
    report = ProjectionReport(clipped=table, clipped_total=float(table["clipped_persons"].sum()) if len(table) else 0.0,
                              constraint_filled=pd.DataFrame(columns=["sex", "age", "year", "control_persons"]))
    return (out, report) if return_report else out


def _total_after(step, extra: np.ndarray) -> np.ndarray:
    pop, _ = step(extra)
    return pop.sum(["sex", "age"]).values


def housing_targets(
    kwb: pd.DataFrame,
    *,
    areas: Sequence[str],
    gemeente: str,
    base_year: int,
    end_year: int,
    changes: pd.DataFrame | None = None,
    occupancy: str = "trend",
    base_population: pd.Series | None = None,
) -> xr.Dataset:
    """Dwelling stock, persons per dwelling and the population they hold, per wijk and year.

    * **Stock**: the KWB number of (private) households of each wijk on 1 January ``base_year``,
      changed by the pipeline (:func:`dwelling_stock`). Households, not the dwelling count,
      because KWB publishes them for every wijk and year (the dwelling stock only in the 2024
      codes file for Drenthe) and because occupancy is measured on the same table, so vacancy
      stays out of the ratio: an added dwelling is assumed occupied by one household.
    * **Occupancy**: persons per dwelling = KWB population / households of the wijk in
      ``base_year``. Persons in institutions are inside the ratio, so the total population is
      ``stock x occupancy``. ``"held"`` keeps it; ``"trend"`` moves it in proportion to the
      gemeente's persons per household, extended linearly from the KWB years up to
      ``base_year`` (held when only one year is known). A wijk without households keeps its
      base population.

    Parameters
    ----------
    kwb : pandas.DataFrame
        KWB rows (``area, area_level, year, population, households``) known at ``base_year``.
    areas : sequence of str
        The wijken.
    gemeente : str
    base_year, end_year : int
    changes : pandas.DataFrame, optional
        ``area, year, dwellings_added, dwellings_removed`` [dwellings per year].
    occupancy : {"trend", "held"}
    base_population : pandas.Series (area), optional [persons]
        The wijken's estimated base population (e.g. raked, so the published totals rounded to
        5 no longer hold exactly); used instead of the KWB population so that the base year
        itself satisfies population = stock x occupancy.

    Returns
    -------
    xarray.Dataset (area, year)
        ``stock`` [dwellings], ``occupancy`` [persons per dwelling], ``population`` [persons].
    """
    if occupancy not in ("trend", "held"):
        raise InvalidValueError(f"occupancy must be 'trend' or 'held', got {occupancy!r}")
    known = kwb[kwb["year"] <= base_year]
    now = known[known["year"] == base_year].set_index("area")
    missing = [a for a in areas if a not in now.index]
    if missing:
        raise MissingDataError(f"KWB {base_year} has no row for wijk(en) {_show(missing)}; a housing-led "
                               "projection needs each wijk's households and population of the base year")
    households = now.loc[list(areas), "households"].astype(float)
    population = now.loc[list(areas), "population"].astype(float)
    if base_population is not None:
        population = base_population.reindex(list(areas)).astype(float).fillna(population)
    years = np.arange(int(base_year), int(end_year) + 1)
    stock = dwelling_stock(households.fillna(0.0), changes, start_year=base_year, end_year=end_year)
    occ0 = (population / households.where(households > 0)).to_numpy()
    factor = np.ones(len(years))
    gm = known[known["area"] == gemeente].sort_values("year")
    gm = gm[gm["households"] > 0]
    if occupancy == "trend" and gm["year"].nunique() >= 2:
        ratio = (gm["population"] / gm["households"]).to_numpy(float)
        slope = np.polyfit(gm["year"].to_numpy(float), ratio, 1)[0]
        level = ratio[gm["year"].to_numpy() == base_year]
        level = float(level[0]) if len(level) else float(ratio[-1])
        factor = (level + slope * (years - base_year)) / level
    occ = occ0[:, None] * factor[None, :]
    target = np.where(np.isfinite(occ), stock.values * np.nan_to_num(occ), population.to_numpy()[:, None])
    coords = {"area": list(areas), "year": years}
    return xr.Dataset({
        "stock": stock,
        "occupancy": xr.DataArray(occ, dims=("area", "year"), coords=coords, attrs={"units": "persons per dwelling"}),
        "population": xr.DataArray(target, dims=("area", "year"), coords=coords, attrs={"units": "persons"}),
    }, attrs={"occupancy": occupancy, "stock_source": f"KWB households {base_year}"})
