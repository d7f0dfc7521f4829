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
The hot loop runs over years only; each year is a handful of whole-array numpy operations over
``(draw, area, sex, age)`` written into a preallocated float64 output. Rates keep their own
(smaller) shape and broadcast, so a rate that does not vary by area or draw costs no memory.
The output of ``D`` draws, ``A`` areas, ``Y`` years takes ``D * A * 2 * 101 * Y * 8`` bytes
(14,000 areas x 16 years: 0.36 GB); run large Monte Carlo sets in chunks of draws.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

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
]

SEXES = ("male", "female")
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
        Default 1.05.
    """

    survival: xr.DataArray
    births_survival: xr.DataArray
    fertility: xr.DataArray
    net_migration: xr.DataArray | None = None
    migration_rate: xr.DataArray | None = None
    sex_ratio_at_birth: float | xr.DataArray = 1.05

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


def project(
    base: xr.DataArray,
    *,
    components: ProjectionInputs,
    start_year: int,
    end_year: int,
    constrain_to: xr.DataArray | None = None,
    return_report: bool = False,
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

    Returns
    -------
    xarray.DataArray (draw, area, sex, age, year) [persons]
        Years ``start_year .. end_year``. ``draw`` is present if the base, a component or the
        control has it. Sexes in the order ``('male', 'female')``. ``attrs`` holds
        ``clipped_persons_total``. The data are a view on the engine's buffer, which is
        ordered year-first in memory (not C-contiguous in this dim order).
    ProjectionReport
        Only with ``return_report=True``. Without it, clipping issues a
        :class:`ClippingWarning` stating the total.

    Raises
    ------
    DataFormatError
        Wrong dims, missing labels on a dim, unknown sex labels, ages not ``0..w``.
    InvalidValueError
        Negative or NaN population, probabilities outside [0, 1], ``end_year < start_year``.
    MissingDataError, UnknownAreaError
        A component lacks a year, age, sex, draw or area that the projection needs.
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
    nstep = end_year - start_year
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
    share_boys = srb_arr / (1.0 + srb_arr)
    share_girls = 1.0 / (1.0 + srb_arr)
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
    fert = np.ascontiguousarray(fert[..., lo:hi])
    fert_common = fert.shape[1] == 1 and fert.shape[2] == 1

    base_arr = _engine_array(base, name="base", labels={**labels, "year": pd.Index([0])},
                             hints=hints)[0]
    ndraw, narea, nage = len(labels["draw"]), len(labels["area"]), len(ages)

    out = np.empty((nstep + 1, ndraw, narea, 2, nage), dtype=np.float64)
    out[0] = base_arr  # broadcasts a base without draws over the draws
    wbuf = np.empty((ndraw, narea, hi - lo), dtype=np.float64)
    births = np.empty((ndraw, narea), dtype=np.float64)
    negative = np.empty(ndraw * narea * 2 * nage, dtype=bool)
    clipped: list[tuple[int, np.ndarray, np.ndarray]] = []
    filled: list[tuple[int, tuple[np.ndarray, ...], np.ndarray]] = []

    def at(arr: np.ndarray, k: int) -> np.ndarray:
        return arr[k] if arr.shape[0] > 1 else arr[0]

    for k in range(nstep):
        pop, nxt = out[k], out[k + 1]
        s = at(surv, k)
        # Survive and age: x -> x+1; the open group also keeps its own survivors.
        np.multiply(pop[..., :-1], s[..., :-1], out=nxt[..., 1:])
        nxt[..., -1] += pop[..., -1] * s[..., -1]

        m = at(mig, k)
        infants = nxt[..., 0]  # (draw, area, sex) view
        if as_counts:
            # Age 0 starts from its migrants and receives the births below; adding over the
            # whole contiguous block is cheaper than over the age 1+ slice.
            infants.fill(0.0)
            np.add(nxt, m, out=nxt)
        else:
            np.multiply(nxt[..., 1:], m[..., 1:], out=nxt[..., 1:])

        # Births from the trapezoid exposure of women aged lo..hi-1 (ages >= 1, final but for
        # the clipping, which is applied here to the mothers and below to everyone at once).
        if hi > lo:
            np.maximum(nxt[:, :, _FEMALE, lo:hi], 0.0, out=wbuf)
            np.add(wbuf, pop[:, :, _FEMALE, lo:hi], out=wbuf)
            f = at(fert, k)
            if fert_common:
                np.matmul(wbuf, f[0, 0], out=births)
            else:
                np.einsum("dax,dax->da", wbuf, np.broadcast_to(f, wbuf.shape), out=births)
            births *= 0.5
        else:
            births.fill(0.0)

        l0 = at(lsurv, k)
        boys = births * (at(share_boys, k) * l0[:, :, _MALE])
        girls = births * (at(share_girls, k) * l0[:, :, _FEMALE])
        if as_counts:
            infants[:, :, _MALE] += boys
            infants[:, :, _FEMALE] += girls
        else:
            np.multiply(boys, m[:, :, _MALE, 0], out=infants[:, :, _MALE])
            np.multiply(girls, m[:, :, _FEMALE, 0], out=infants[:, :, _FEMALE])
        _clip(nxt, k, clipped, negative)

        if ctrl is not None:
            fidx, cvals = _constrain_step(nxt, at(ctrl, k))
            if len(cvals):
                filled.append((k, fidx, cvals))

    values = np.moveaxis(out, 0, -1)  # a view; copying 0.3 GB to reorder axes buys nothing
    out_years = np.arange(start_year, end_year + 1, dtype=np.int64)
    dims = ["draw", "area", "sex", "age", "year"]
    coords = {"draw": labels["draw"], "area": labels["area"], "sex": list(SEXES),
              "age": ages, "year": out_years}
    if draws is None:
        values = values[0]
        dims = dims[1:]
        del coords["draw"]
    report = _report(clipped, filled, labels=labels, has_draw=draws is not None,
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


def _clip(
    block: np.ndarray,
    k: int,
    records: list[tuple[int, np.ndarray, np.ndarray]],
    mask: np.ndarray,
) -> None:
    """Set negative cells of the contiguous ``block`` to zero; record flat index and persons.

    ``mask`` is a preallocated boolean buffer of the block's size: noisy Monte Carlo migration
    clips cells every year, and one comparison pass is then cheaper than a min() test first.
    """
    flat = block.reshape(-1)  # a view: the block is contiguous
    np.less(flat, 0.0, out=mask)
    if not mask.any():
        return
    idx = np.flatnonzero(mask)
    records.append((k, idx, -flat[idx]))
    flat[idx] = 0.0


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
        # Flat indices within a year are already in (draw, area, sex, age) order.
        k = np.concatenate([np.full(len(r[1]), r[0], dtype=np.int64) for r in clipped])
        flat = np.concatenate([r[1] for r in clipped])
        persons = np.concatenate([r[2] for r in clipped])
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
