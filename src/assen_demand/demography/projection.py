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

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import xarray as xr

from assen_demand.datamodel import SEXES
from assen_demand.demography.engine import (  # ProjectionInputs re-exported: the public input object
    ENGINE_DIMS,
    Engine,
    ProjectionInputs,
    aligned_empty,
    check_ages,
    check_dataarray,
    check_dims,
    check_population,
    check_values,
    constrain_step,
    control_as_engine,
    default_threads,
    draw_index,
    engine_array,
    prepare_engine,
    run_engine,
    show_labels,
)
from assen_demand.demography.migration import RC_FUNDAMENTAL, rogers_castro
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
    "run_prepared",
    "SMALL_AREA_METHODS",
    "hamilton_perry",
    "dwelling_stock",
    "housing_led",
    "housing_targets",
]

class ClippingWarning(UserWarning):
    """Net out-migration exceeded a cohort and persons were clipped (see ProjectionReport)."""


# --------------------------------------------------------------------------------------------
# Inputs and report
# --------------------------------------------------------------------------------------------


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


# The constraint
# --------------------------------------------------------------------------------------------


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
    check_dataarray(areas, "areas")
    check_dims(areas, "areas", ("draw", "area", "sex", "age", "year"),
                required=("area", "sex", "age"))
    check_values(areas, "areas", lower=0.0, what="a count of persons")
    has_year = "year" in areas.dims
    draws = draw_index(areas, control)
    labels = {d: areas.indexes[d] for d in areas.dims}
    if draws is not None:
        labels["draw"] = draws
    hints = {d: f"the control needs every {d} of the areas" for d in ENGINE_DIMS}
    ctrl = control_as_engine(control, labels=labels, hints=hints, need_year=has_year)

    work = engine_array(areas, name="areas", labels=labels, hints=hints,
                         full=("draw",) if draws is not None else ())
    work = work.copy()  # own writable buffer: the caller's data stay unchanged
    nyear = work.shape[0]
    for k in range(nyear):
        constrain_step(work[k], ctrl[k if ctrl.shape[0] > 1 else 0, :, 0])

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
    e = prepare_engine(base, components, start_year, end_year, constrain_to)
    start_year, end_year = e.start_year, e.end_year
    all_years = np.arange(start_year, end_year + 1, dtype=np.int64)
    if keep_years is None:
        keep = np.arange(len(all_years))
    else:
        wanted = np.unique(np.asarray(list(keep_years), dtype=np.int64))
        outside = wanted[(wanted < start_year) | (wanted > end_year)]
        if len(outside) or not len(wanted):
            raise InvalidValueError(
                f"keep_years {show_labels(list(outside)) if len(outside) else '[]'} are not years of "
                f"the projection; give years from {start_year} to {end_year}"
            )
        keep = wanted - start_year
    shape = (len(keep),) + e.shape
    if out is None:
        dtype = np.dtype(dtype)
        if dtype not in (np.float64, np.float32):
            raise DataFormatError(f"dtype must be float64 or float32, got {dtype}")
        out = aligned_empty(shape, dtype)
    elif (not isinstance(out, np.ndarray) or out.shape != shape
          or out.dtype not in (np.float64, np.float32) or not out.flags.c_contiguous):
        got = (f"{type(out).__name__} {getattr(out, 'shape', '')} {getattr(out, 'dtype', '')}"
               if isinstance(out, np.ndarray) else type(out).__name__)
        raise DataFormatError(
            f"out must be a C-contiguous float64 or float32 numpy array of shape {shape} "
            f"(kept years, draws, areas, sexes, ages), got {got}"
        )
    if threads is None:
        threads = default_threads(int(np.prod(e.shape)))
    clipped, filled = run_engine(e, out, keep, max(1, int(threads)))

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


def run_prepared(e: Engine, *, threads: int | None = None) -> tuple[np.ndarray, float]:
    """Run an aligned :class:`~assen_demand.demography.engine.Engine` over every year, unlabelled.

    For a caller that aligns its inputs once with
    :func:`~assen_demand.demography.engine.prepare_engine` and then runs many chunks of draws
    with their arrays replaced (the Monte Carlo forecast, issue 20): the engine, clipping and
    threads of :func:`project`, without its per-call label alignment and result DataArray.

    Parameters
    ----------
    e : Engine
    threads : int, optional
        As in :func:`project`.

    Returns
    -------
    numpy.ndarray (year, draw, area, sex, age) float64 [persons]
        Every year ``start_year .. end_year``, as :func:`project` computes it.
    float [persons]
        Persons clipped, the ``clipped_total`` of :func:`project`'s report.
    """
    out = aligned_empty((e.nstep + 1,) + e.shape)
    if threads is None:
        threads = default_threads(int(np.prod(e.shape)))
    clipped, _ = run_engine(e, out, np.arange(e.nstep + 1), max(1, int(threads)))
    return out, float(_sorted_clipped(clipped)[2].sum()) if clipped else 0.0


def _sorted_clipped(clipped: list[tuple[int, np.ndarray, np.ndarray]]) -> tuple[np.ndarray, ...]:
    """Year index, flat cell index and persons of the clipping records, by year then cell.

    Blocks and threads finish in any order; the table (and the order of the total's sum) is by
    year, then (draw, area, sex, age).
    """
    k = np.concatenate([np.full(len(r[1]), r[0], dtype=np.int64) for r in clipped])
    flat = np.concatenate([r[1] for r in clipped])
    persons = np.concatenate([r[2] for r in clipped])
    order = np.lexsort((flat, k))
    return k[order], flat[order], persons[order]


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
        k, flat, persons = _sorted_clipped(clipped)
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
    check_population(da, name, ("area", "sex", "age"))
    check_ages(da, name)
    missing = [s for s in SEXES if s not in da.indexes["sex"]]
    if missing:
        raise MissingDataError(f"{name} has no sex {show_labels(missing)}; give both sexes")
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
            f"earlier and later must hold the same areas; {show_labels(missing)} are in only one of them "
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
                f"the dwelling pipeline names area(s) {show_labels(unknown)} that are not wijken of the projection "
                f"(wijken: {show_labels(areas)}); use the CBS wijk codes of the base year"
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

    if components.net_migration is None:
        raise DataFormatError("housing_led needs net_migration counts in the components, not migration_rate")
    start_year, end_year = int(start_year), int(end_year)
    areas = list(base.indexes["area"])
    missing = [a for a in areas if a not in target.indexes["area"]]
    if missing:
        raise MissingDataError(f"target has no area {show_labels(missing)}; give a total for every area")
    need = list(range(start_year + 1, end_year + 1))
    missing_years = [y for y in need if y not in target.indexes["year"]]
    if missing_years:
        raise MissingDataError(f"target has no year {show_labels(missing_years)}; it needs {start_year + 1}..{end_year}")
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
        raise MissingDataError(f"KWB {base_year} has no row for wijk(en) {show_labels(missing)}; a housing-led "
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
