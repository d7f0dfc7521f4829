"""Large runs: Monte Carlo projections streamed to quantiles, national runs, Dask.

Two things do not fit the single-gemeente chain:

* **Many draws of many areas.** 1,000 draws x 3,300 wijken x 2 sexes x 101 ages x 16 years is
  85 GB in float64. :func:`stochastic_projection` never holds it: it runs blocks of areas x
  draws through all years while they are in the CPU cache, sums every year into the age bands
  the users need, and keeps those sums for all draws of one block of areas only, until their
  quantiles are taken. With ``client=`` (a ``dask.distributed.Client``) the blocks run on a
  Dask cluster and only the quantiles come back.
* **Every gemeente.** :func:`national_forecast` runs the single-gemeente chain for every
  gemeente of a KWB year, with a progress bar, and reports the gemeenten that failed and why.

What varies between draws
-------------------------
Any component of :class:`assen_demand.demography.projection.ProjectionInputs` may carry a ``draw`` dim
(e.g. survival from Lee-Carter paths, :meth:`assen_demand.demography.components.Components.stochastic_survival`
without its area dim); it is sliced per block. Net migration of every area varies through a
:class:`MigrationNoise`: per area, age band and draw a persistent normal deviation, plus an
independent one every year, each spread over the sexes and single ages of the band by the
base population (the structure of the wijk migration draws of :mod:`assen_demand.uncertainty`;
here the standard deviations are given per area and band). Areas are projected independently:
the top-down constraint of the single-gemeente chain couples a gemeente's wijken draw by draw
and is left to :mod:`assen_demand.uncertainty`.

Random numbers and chunking
---------------------------
The normals of draw ``d`` and area ``a`` come from fixed tiles of ``16 draws x 16 areas``:
tile ``(d // 16, a // 16)`` has its own generator, seeded with
``numpy.random.SeedSequence(seed, spawn_key=(d // 16, a // 16))`` (SFC64). A block of
any size takes its numbers from the tiles it overlaps, so the draws, and hence the quantiles,
do not depend on the block sizes, the number of worker processes or the Dask chunks; they
change only in the last bits if the blocks change (BLAS sums in another grouping). With the
same blocks the in-memory and the Dask run are identical.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from assen_demand.errors import (
    AssenDemandError,
    DataFormatError,
    InvalidValueError,
    MissingDataError,
    UnknownAreaError,
)
from assen_demand.demography.engine import Engine, ProjectionInputs, Scratch, prepare_engine, rate_block, step_block
from assen_demand.demography.projection import ClippingWarning
from assen_demand.datamodel import QUANTILES, quantile_name  # QUANTILES re-exported
from assen_demand.display import summary_repr
from assen_demand.inputs.datasets import load_national
# the national runs call pipeline.forecast / pipeline.project_population through the module, so
# that a test (or a caller) replacing them on the pipeline module reaches every gemeente
from assen_demand import pipeline
from assen_demand.pipeline import FORECAST_TABLES
from assen_demand.processes import process_pool

__all__ = [
    "QUANTILES",
    "DEFAULT_BANDS",
    "NOISE_EDGES",
    "MigrationNoise",
    "StochasticProjection",
    "stochastic_projection",
    "NationalForecast",
    "national_forecast",
    "national_year",
    "NationalRunWarning",
    "population_frame",
]

#: Age bands of the stochastic summaries, name -> (first age, last age + 1); 101 = 100+.
DEFAULT_BANDS: dict[str, tuple[int, int]] = {
    "0-14": (0, 15), "15-24": (15, 25), "25-44": (25, 45), "45-64": (45, 65),
    "65-74": (65, 75), "75-84": (75, 85), "85+": (85, 101),
    "65+": (65, 101), "75+": (75, 101), "total": (0, 101),
}
#: Lower edges of the migration noise bands: the KWB age bands 0-14, 15-24, 25-44, 45-64, 65+.
NOISE_EDGES = (0, 15, 25, 45, 65)
#: Sexes of the stochastic summaries: each sex and both together.
SUMMARY_SEXES = ("male", "female", "total")

# The tile of draws x areas that one random stream covers (see the module notes). Part of the
# reproducibility contract: changing it changes every stochastic result.
_RNG_TILE = (16, 16)
# Default blocks: 32 areas x 32 draws = 1,024 (draw, area) rows, 0.8 MB per float32 array.
# A step's four arrays then spill from a 1.25 MB L2 cache into L3, but the numpy calls (about
# 40 a year) are four times longer: on a 2-core Ice Lake this was 14 % faster than 16 x 16,
# which fits in L2 (4.7 against 5.5 ns per cell and year, benchmarks/README.md).
_AREA_BLOCK = 32
_DRAW_BLOCK = 32


# --------------------------------------------------------------------------------------------
# Migration noise
# --------------------------------------------------------------------------------------------


def _band_labels(edges: Sequence[int], top: int) -> list[str]:
    edges = list(edges)
    labels = [f"{lo}-{hi - 1}" for lo, hi in zip(edges[:-1], edges[1:])]
    return labels + [f"{edges[-1]}+" if edges[-1] < top else f"{edges[-1]}"]


def _band_of_age(edges: Sequence[int], nage: int) -> np.ndarray:
    return np.searchsorted(np.asarray(edges), np.arange(nage), side="right") - 1


@summary_repr
@dataclass(frozen=True, eq=False)
class MigrationNoise:
    """Random deviations of net migration per area, age band and draw.

    For draw ``d``, area ``a``, band ``b`` and year ``t`` the net migration of
    :class:`~assen_demand.demography.projection.ProjectionInputs` gets
    ``persistent_sd(a, b) * z(d, a, b) + yearly_sd(a, b) * z(d, a, b, t)`` extra persons, with
    independent standard normals ``z``, spread over the sexes and single ages of the band in
    proportion to the base population (evenly where the band is empty). Areas align by label;
    bands by position, in the order of ``edges`` (the labels of :meth:`from_dispersion` are
    ``"0-14"``, ..., ``"65+"``).

    Parameters
    ----------
    persistent_sd : xarray.DataArray (area, band) [persons per year]
        Standard deviation of a deviation that holds for the whole horizon.
    yearly_sd : xarray.DataArray (area, band) [persons per year]
        Standard deviation of a fresh deviation every year.
    edges : tuple of int [years]
        First age of each band; the last band is open. Default :data:`NOISE_EDGES`.
    """

    persistent_sd: xr.DataArray
    yearly_sd: xr.DataArray
    edges: tuple[int, ...] = NOISE_EDGES

    def __post_init__(self) -> None:
        edges = tuple(int(e) for e in self.edges)
        if not edges or edges[0] != 0 or any(b <= a for a, b in zip(edges[:-1], edges[1:])):
            raise InvalidValueError(
                f"MigrationNoise edges must rise from 0 (the first age of each band), got {self.edges}"
            )
        for name in ("persistent_sd", "yearly_sd"):
            da = getattr(self, name)
            if not isinstance(da, xr.DataArray) or set(da.dims) != {"area", "band"}:
                raise DataFormatError(
                    f"MigrationNoise.{name} must be an xarray.DataArray with dims (area, band), got "
                    f"{getattr(da, 'dims', type(da).__name__)}"
                )
            if da.sizes["band"] != len(edges):
                raise DataFormatError(
                    f"MigrationNoise.{name} has {da.sizes['band']} bands but edges {edges} give "
                    f"{len(edges)}; give one standard deviation per band"
                )
            values = np.asarray(da.values, dtype=float)
            if not np.isfinite(values).all() or (values < 0).any():
                raise InvalidValueError(
                    f"MigrationNoise.{name} must be finite and non-negative [persons per year]"
                )

    @classmethod
    def from_dispersion(
        cls,
        base: xr.DataArray,
        *,
        persistent: float | Sequence[float],
        yearly: float | Sequence[float],
        edges: Sequence[int] = NOISE_EDGES,
    ) -> MigrationNoise:
        """Standard deviations ``sqrt(phi x band population)`` from dispersion factors.

        The variance of a band's net migration is taken proportional to its population (an
        over-dispersed Poisson count), as in :mod:`assen_demand.uncertainty`, whose
        ``migration_dispersion.csv`` estimates the factors on the Drenthe wijken (yearly about
        0.2-0.9, persistent about 0.2-0.6 persons^2 per person per year).

        Parameters
        ----------
        base : xarray.DataArray (area, sex, age) [persons]
            Base population.
        persistent, yearly : float or sequence of float (one per band) [persons^2 per person per year]
            Dispersion factors ``phi``.
        edges : sequence of int [years]
            First age of each band.

        Returns
        -------
        MigrationNoise

        Examples
        --------
        >>> import numpy as np, xarray as xr
        >>> base = xr.DataArray(np.full((1, 2, 101), 10.0), dims=("area", "sex", "age"),
        ...     coords={"area": ["WK01"], "sex": ["male", "female"], "age": np.arange(101)})
        >>> noise = MigrationNoise.from_dispersion(base, persistent=0.4, yearly=0.6)
        >>> noise.yearly_sd.sel(area="WK01").round(2).values.tolist()  # sqrt(0.6 x 300), ...
        [13.42, 10.95, 15.49, 15.49, 20.78]
        """
        edges = tuple(int(e) for e in edges)
        nage = base.sizes["age"]
        band = xr.DataArray(_band_of_age(edges, nage), dims="age", coords={"age": base["age"].values})
        pop = base.sum("sex").groupby(band.rename("band")).sum()
        pop = pop.assign_coords(band=_band_labels(edges, nage - 1)).transpose("area", "band")

        def phi(value, name: str) -> xr.DataArray:
            arr = np.broadcast_to(np.asarray(value, dtype=float), (len(edges),))
            if not np.isfinite(arr).all() or (arr < 0).any():
                raise InvalidValueError(f"{name} dispersion must be finite and >= 0, got {value!r}")
            return xr.DataArray(arr, dims="band", coords={"band": pop["band"].values})

        return cls(persistent_sd=np.sqrt(pop * phi(persistent, "persistent")).rename("persistent_sd"),
                   yearly_sd=np.sqrt(pop * phi(yearly, "yearly")).rename("yearly_sd"), edges=edges)


# --------------------------------------------------------------------------------------------
# Stochastic projection, streamed to quantiles
# --------------------------------------------------------------------------------------------


@summary_repr
@dataclass(frozen=True, eq=False)
class StochasticProjection:
    """Quantiles and means over the draws of a stochastic projection, by age band.

    Attributes
    ----------
    quantiles : xarray.DataArray (quantile, area, sex, band, year) [persons]
        Quantiles over the draws (numpy's default "linear" definition); ``sex`` is
        ``male``, ``female`` and ``total``.
    mean : xarray.DataArray (area, sex, band, year) [persons]
    clipped : xarray.DataArray (area) [persons per draw]
        Persons that net out-migration could not remove (clipped to zero), summed over the
        years, mean over the draws.
    draws : int
    seed : int
    seconds : float
        Wall time of the run.
    """

    quantiles: xr.DataArray
    mean: xr.DataArray
    clipped: xr.DataArray
    draws: int
    seed: int
    seconds: float = field(default=float("nan"), repr=False)

    def to_frame(self) -> pd.DataFrame:
        """Tidy table ``area, sex, band, year, mean, q05, q50, q95`` (one column per quantile)."""
        frame = self.mean.rename("mean").to_dataframe().reset_index()
        for i, q in enumerate(self.quantiles["quantile"].values):
            frame[quantile_name(q)] = self.quantiles.isel(quantile=i).values.reshape(-1)
        return frame


@dataclass(frozen=True, eq=False)
class _Job:
    """Everything a block needs; picklable (sent once to every worker)."""

    engine: Engine  # in the working dtype
    draws: int
    seed: int
    atoms: np.ndarray  # (age, atom) 0/1: the finest partition of the ages by every band edge
    bands: np.ndarray  # (atom, band) 0/1: which atoms make up each reported band
    noise_spread: np.ndarray | None  # (noise band, sex x age) 0/1: the ages of each band
    noise_weights: np.ndarray | None  # (area, sex, age) share of the band's deviation
    persistent_sd: np.ndarray | None  # (area, noise band) [persons per year]
    yearly_sd: np.ndarray | None  # (area, noise band) [persons per year]
    quantiles: np.ndarray
    area_block: int
    draw_block: int


def _normals(job: _Job, d0: int, d1: int, a0: int, a1: int) -> np.ndarray:
    """Standard normals (draw, area, noise band, 1 + steps) of a block, from the fixed tiles."""
    per_area = (job.noise_spread.shape[0], 1 + job.engine.nstep)
    out = np.empty((d1 - d0, a1 - a0) + per_area)
    td, ta = _RNG_TILE
    for ti in range(d0 // td, (d1 - 1) // td + 1):
        for tj in range(a0 // ta, (a1 - 1) // ta + 1):
            seq = np.random.SeedSequence(job.seed, spawn_key=(ti, tj))
            tile = np.random.Generator(np.random.SFC64(seq)).standard_normal((td, ta) + per_area)
            ds, de = max(d0, ti * td), min(d1, (ti + 1) * td)
            as_, ae = max(a0, tj * ta), min(a1, (tj + 1) * ta)
            out[ds - d0:de - d0, as_ - a0:ae - a0] = tile[ds - ti * td:de - ti * td,
                                                          as_ - tj * ta:ae - tj * ta]
    return out


def _simulate_block(job: _Job, a0: int, a1: int, d0: int, d1: int) -> tuple[np.ndarray, np.ndarray]:
    """Project draws ``d0:d1`` of areas ``a0:a1``; return atom sums and clipped persons.

    Returns ``sums`` (area, sex, atom, year, draw) [persons] in the working dtype and
    ``clipped`` (area, draw) [persons, summed over the years]. Works in sub-blocks of
    ``job.draw_block`` draws that start on multiples of it, so that a Dask chunk of draws
    gets exactly the numbers of the in-memory run.

    A year's migration is one batched matrix product per area: ``[deviation of each noise
    band, 1] @ [band weights; base net migration]``.
    Every BLAS call is kept below OpenBLAS's threading threshold (about 2.6e5 multiply-adds):
    its threads would spin against the worker processes on the other cores.
    """
    e = job.engine
    nstep, (_, _, nsex, nage) = e.nstep, e.shape
    na = a1 - a0
    ncell = nsex * nage
    natom = job.atoms.shape[1]
    # draws last: the quantiles sort along them
    sums = np.empty((na, nsex, natom, nstep + 1, d1 - d0), dtype=e.dtype)
    clipped = np.zeros((na, d1 - d0))
    scratch = Scratch(e)
    a = slice(a0, a1)
    noisy = job.noise_spread is not None
    if noisy:
        nband = job.noise_spread.shape[0]
        weights = job.noise_weights[a0:a1].reshape(na, 1, ncell)
        # (area, band + 1, cell): the share of each band's deviation per cell, and a last row
        # for the base migration when it is the same for every draw (else added separately).
        design = np.zeros((na, nband + 1, ncell), dtype=e.dtype)
        np.multiply(job.noise_spread[None], weights, out=design[:, :nband])
        psd, ysd = job.persistent_sd[a0:a1], job.yearly_sd[a0:a1]
        mig_by_draw = e.mig.shape[1] > 1
    grid = job.draw_block
    for s0 in range((d0 // grid) * grid, d1, grid):
        b0, b1 = max(d0, s0), min(d1, s0 + grid)
        nb = b1 - b0
        d = slice(b0, b1)
        shape = (nb, na, nsex, nage)
        clip_rows: list[np.ndarray] = []  # per year: the (draw, area) row of each clipped cell
        clip_persons: list[np.ndarray] = []  # and its (negative) persons
        pop, nxt = scratch.get("state0", shape), scratch.get("state1", shape)
        pop[...] = e.base[d if e.base.shape[0] > 1 else slice(None), a]
        # (draw, year, area x sex, atom) here; batches of area x sex rows keep BLAS single-threaded
        by_atom = scratch.get("atoms", (nb, nstep + 1, na * nsex, natom))
        np.matmul(pop.reshape(nb, na * nsex, nage), job.atoms, out=by_atom[:, 0])
        if noisy:
            z = _normals(job, b0, b1, a0, a1)  # (draw, area, noise band, 1 + steps)
            # (step, area, draw, band + 1): this year's deviation of each band and a 1
            lhs = np.empty((nstep, na, nb, nband + 1), dtype=e.dtype)
            lhs[..., nband] = 0.0 if mig_by_draw else 1.0
            # the deviations computed straight in lhs's order: a transposing copy with an
            # inner run of 5 bands cost half of this step's time
            zt = z.transpose(3, 1, 0, 2)  # (1 + step, area, draw, noise band) view
            dev = np.multiply(zt[1:], ysd[None, :, None, :], order="C")
            dev += (zt[0] * psd[:, None, :])[None]
            lhs[..., :nband] = dev
            migration = scratch.get("migration", shape)
            by_area = migration.reshape(nb, na, ncell).transpose(1, 0, 2)  # (area, draw, cell)
        for k in range(nstep):
            m = None
            if noisy:
                base_mig = rate_block(e.mig, k, d, a)  # (draw or 1, area, sex, age)
                if not mig_by_draw:
                    design[:, nband] = base_mig.reshape(na, ncell)
                np.matmul(lhs[k], design, out=by_area)
                if mig_by_draw:
                    migration += base_mig
                m = migration
            step_block(pop, nxt, e, k, d, a, scratch, migration=m)
            # Clip what out-migration drove below zero, keeping the persons per area. Few
            # cells (thin old-age cells, about 0.3 % with the benchmark's noise) go below
            # zero: fix only those, and add them up once per sub-block (below).
            if nxt.min() < 0.0:
                flat = nxt.reshape(-1)
                idx = np.flatnonzero(flat < 0.0)
                clip_rows.append(idx // ncell)  # rows are (draw, area) of the sub-block
                clip_persons.append(flat[idx])
                flat[idx] = 0.0
            np.matmul(nxt.reshape(nb, na * nsex, nage), job.atoms, out=by_atom[:, k + 1])
            pop, nxt = nxt, pop
        if clip_rows:
            # One bincount adds every (draw, area)'s clipped cells in the order of the years
            # and cells, from 0, in float64: the sums that a 2-D np.add.at every year gave, at
            # a third of its cost.
            per_row = np.bincount(np.concatenate(clip_rows), weights=np.concatenate(clip_persons),
                                  minlength=nb * na)
            clipped[:, b0 - d0:b1 - d0] -= per_row.reshape(nb, na).T
        sums[..., b0 - d0:b1 - d0] = by_atom.reshape(nb, nstep + 1, na, nsex, natom).transpose(2, 3, 4, 1, 0)
    return sums, clipped


def _summarise(parts: Sequence[tuple[np.ndarray, np.ndarray]], bands: np.ndarray,
               quantiles: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Join the draw chunks of one block of areas; return its quantiles, mean and clipping.

    ``bands`` (atom, band) turns the atom sums into the reported bands and the two sexes get
    their total; then each (area, sex, band, year) is sorted over the draws.
    Returns quantiles (quantile, area, sex, band, year), mean (area, sex, band, year) and the
    clipped persons per draw (area).
    """
    atoms = parts[0][0] if len(parts) == 1 else np.concatenate([p[0] for p in parts], axis=-1)
    # per draw until here, so that the sum over the draws does not depend on the chunks
    clipped = np.concatenate([p[1] for p in parts], axis=-1).sum(axis=-1)
    na, nsex, natom, nyear, ndraw = atoms.shape
    nband = bands.shape[1]
    # draws last and contiguous, for the sort
    values = np.empty((na, nsex + 1, nband, nyear, ndraw), dtype=atoms.dtype)
    for j in range(nband):
        # a band is a run of consecutive atoms
        run = np.flatnonzero(bands[:, j])
        np.sum(atoms[:, :, run[0]:run[-1] + 1], axis=2, out=values[:, :nsex, j])
    np.add(values[:, 0], values[:, 1], out=values[:, nsex])
    del atoms
    mean = values.mean(axis=-1, dtype=np.float64)
    values.sort(axis=-1)
    # numpy's default ("linear", Hyndman & Fan type 7) quantiles of the sorted draws
    h = (ndraw - 1) * quantiles
    lower = np.floor(h).astype(int)
    upper = np.minimum(lower + 1, ndraw - 1)
    frac = h - lower
    low = values[..., lower].astype(np.float64)
    high = values[..., upper].astype(np.float64)
    q = low + (high - low) * frac
    return np.moveaxis(q, -1, 0), mean, clipped / ndraw


def _check_bands(bands: Mapping[str, tuple[int, int]], nage: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Band names, the atoms (age, atom) and the bands as atoms (atom, band)."""
    if not isinstance(bands, Mapping) or not bands:
        raise DataFormatError(
            f"bands must be a mapping name -> (first age, last age + 1), e.g. {{'65+': (65, {nage})}}"
        )
    spans = []
    for name, span in bands.items():
        try:
            lo, hi = (int(v) for v in span)
        except (TypeError, ValueError):
            raise DataFormatError(f"band {name!r} must be (first age, last age + 1), got {span!r}") from None
        if not 0 <= lo < hi <= nage:
            raise InvalidValueError(
                f"band {name!r} = ({lo}, {hi}) is outside the ages 0..{nage - 1}; give "
                f"0 <= first < last + 1 <= {nage} ({nage} includes the open age group)"
            )
        spans.append((lo, hi))
    # The engine sums each year into the atoms (disjoint age runs between any two band edges);
    # overlapping bands such as 65+ and 75+ are added up from them only once, at the end.
    cuts = sorted({0, nage} | {e for span in spans for e in span})
    atoms = np.zeros((nage, len(cuts) - 1))
    for j, (lo, hi) in enumerate(zip(cuts[:-1], cuts[1:])):
        atoms[lo:hi, j] = 1.0
    band_atoms = np.zeros((len(cuts) - 1, len(spans)))
    for j, (lo, hi) in enumerate(spans):
        band_atoms[cuts.index(lo):cuts.index(hi), j] = 1.0
    return [str(b) for b in bands], atoms, band_atoms


def _noise_arrays(noise: MigrationNoise, base: np.ndarray, areas: pd.Index, nage: int):
    """Ages per noise band, spread weights (area, sex, age) and the sds (area, band)."""
    band = _band_of_age(noise.edges, nage)
    sds = []
    for name in ("persistent_sd", "yearly_sd"):
        da = getattr(noise, name)
        missing = areas[~areas.isin(da.indexes["area"])]
        if len(missing):
            raise UnknownAreaError(
                f"MigrationNoise.{name} has no area {list(missing[:10])}; give a standard "
                "deviation for every area of the base"
            )
        sds.append(np.ascontiguousarray(da.sel(area=areas).transpose("area", "band").values, dtype=float))
    pop = base[0]  # (area, sex, age): the base has no draws
    nband = len(noise.edges)
    totals = np.stack([pop[:, :, band == b].sum(axis=(1, 2)) for b in range(nband)], axis=1)
    cells = np.bincount(band, minlength=nband) * pop.shape[1]  # cells of each band
    with np.errstate(invalid="ignore", divide="ignore"):
        weights = np.where(totals[:, None, band] > 0, pop / totals[:, None, band],
                           1.0 / cells[band][None, None, :])
    spread = np.zeros((nband, pop.shape[1], nage))
    spread[band, :, np.arange(nage)] = 1.0
    return spread.reshape(nband, -1), np.ascontiguousarray(weights), sds[0], sds[1]


def stochastic_projection(
    base: xr.DataArray,
    *,
    components: ProjectionInputs,
    start_year: int,
    end_year: int,
    draws: int,
    seed: int,
    noise: MigrationNoise | None = None,
    bands: Mapping[str, tuple[int, int]] = DEFAULT_BANDS,
    quantiles: Sequence[float] = QUANTILES,
    dtype: np.dtype | type | str = np.float32,
    area_block: int = _AREA_BLOCK,
    draw_block: int = _DRAW_BLOCK,
    workers: int | None = None,
    client=None,
    draw_chunk: int | None = None,
    progress: bool = False,
) -> StochasticProjection:
    """Monte Carlo cohort-component projection of many areas, reduced to quantiles as it runs.

    The same steps as :func:`assen_demand.demography.projection.project` (without the top-down
    constraint; areas are independent), run in blocks of ``area_block`` areas x
    ``draw_block`` draws that stay in the CPU cache through all years. Every year each block
    is summed into the age bands; the sums of all draws of one block of areas are then sorted
    into quantiles. Memory is one block of areas x all draws x bands x years per worker
    (32 areas x 1,000 draws x 3 sexes x 10 bands x 16 years in float32: 60 MB), not the run.

    Parameters
    ----------
    base : xarray.DataArray (area, sex, age) [persons]
        Population on 1 January ``start_year`` (the same for every draw).
    components : ProjectionInputs
        As for :func:`~assen_demand.demography.projection.project`; a component with a ``draw`` dim must
        have ``draws`` draws (labelled ``0 .. draws - 1``).
    start_year, end_year : int
        First (the base) and last year.
    draws : int
        Number of draws.
    seed : int
        Seed of the migration noise (non-negative).
    noise : MigrationNoise, optional
        Random net migration (needs ``net_migration`` counts); without it only components
        with a ``draw`` dim vary.
    bands : mapping of str to (int, int)
        Age bands to report, name -> (first age, last age + 1) [years]; default
        :data:`DEFAULT_BANDS`. Bands may overlap.
    quantiles : sequence of float
        In [0, 1]; default :data:`QUANTILES`.
    dtype : {numpy.float32, numpy.float64}
        Working precision. float32 (default) is about twice as fast; its rounding, about
        1e-6 of a cell after 16 years, is far below the spread between draws.
    area_block, draw_block : int
        Block sizes (tuning only: results do not depend on them beyond rounding).
    workers : int, optional
        Worker processes over the blocks of areas (default: all cores, if there are at
        least two blocks). The inputs reach them by fork where available, else pickled once.
    client : dask.distributed.Client, optional
        Run the blocks on this Dask cluster instead: one task per block of areas and chunk
        of draws, one reduction task per block of areas; only the quantiles come back.
    draw_chunk : int, optional
        Draws per Dask task (rounded up to a multiple of ``draw_block``; default all draws).
    progress : bool
        Show a tqdm progress bar over the blocks of areas.

    Returns
    -------
    StochasticProjection

    Raises
    ------
    InvalidValueError
        ``draws`` < 1, a negative seed, quantiles outside [0, 1], block sizes < 1.
    DataFormatError
        A component's draws do not match ``draws``, bad ``bands``, noise with migration
        rates; and everything :func:`~assen_demand.demography.projection.project` raises.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from assen_demand.demography.projection import ProjectionInputs
    >>> ages, sexes = np.arange(101), ["male", "female"]
    >>> base = xr.DataArray(np.full((2, 2, 101), 10.0), dims=("area", "sex", "age"),
    ...     coords={"area": ["WK01", "WK02"], "sex": sexes, "age": ages})
    >>> inputs = ProjectionInputs(
    ...     survival=xr.DataArray(np.full(101, 0.99), dims="age", coords={"age": ages}),
    ...     births_survival=xr.DataArray(0.996), net_migration=xr.zeros_like(base),
    ...     fertility=xr.DataArray(np.where((ages >= 15) & (ages < 50), 0.05, 0.0),
    ...                            dims="age", coords={"age": ages}))
    >>> noise = MigrationNoise.from_dispersion(base, persistent=0.4, yearly=0.6)
    >>> run = stochastic_projection(base, components=inputs, start_year=2024, end_year=2030,
    ...                             draws=200, seed=1, noise=noise, workers=1)
    >>> run.quantiles.sel(area="WK01", sex="total", band="total", year=2024).values.tolist()
    [2020.0, 2020.0, 2020.0]
    >>> q = run.quantiles.sel(area="WK01", sex="total", band="total", year=2030).values
    >>> bool(q[0] < q[1] < q[2])
    True
    """
    t_start = time.perf_counter()
    if isinstance(draws, bool) or not isinstance(draws, (int, np.integer)) or draws < 1:
        raise InvalidValueError(f"draws must be a whole number >= 1, got {draws!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidValueError(f"seed must be a non-negative whole number, got {seed!r}")
    for name, value in (("area_block", area_block), ("draw_block", draw_block)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise InvalidValueError(f"{name} must be a whole number >= 1, got {value!r}")
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise DataFormatError(f"dtype must be float32 or float64, got {dtype}")
    qs = np.asarray(list(quantiles), dtype=float)
    if qs.ndim != 1 or not len(qs) or not np.isfinite(qs).all() or ((qs < 0) | (qs > 1)).any():
        raise InvalidValueError(f"quantiles must be numbers in [0, 1], got {list(quantiles)!r}")
    if isinstance(base, xr.DataArray) and "draw" in base.dims:
        raise DataFormatError("base must be one population (area, sex, age) without a draw dim")

    e = prepare_engine(base, components, start_year, end_year, None)
    if e.has_draw and len(e.labels["draw"]) != draws:
        raise DataFormatError(
            f"the components have {len(e.labels['draw'])} draws but draws={draws}; give "
            f"draws={len(e.labels['draw'])} or components with {draws} draws"
        )
    if not e.has_draw:
        e = replace(e, labels=dict(e.labels, draw=pd.Index(np.arange(draws))), has_draw=True)
    nage = len(e.labels["age"])
    band_names, atoms, band_atoms = _check_bands(bands, nage)
    areas = e.labels["area"]
    noise_parts = (None, None, None, None)
    if noise is not None:
        if not isinstance(noise, MigrationNoise):
            raise DataFormatError(f"noise must be a MigrationNoise, got {type(noise).__name__}")
        if not e.as_counts:
            raise DataFormatError(
                "MigrationNoise adds persons to net migration counts; give the components "
                "net_migration counts instead of migration_rate"
            )
        noise_parts = _noise_arrays(noise, e.base, areas, nage)
        noise_parts = (noise_parts[0].astype(dtype), noise_parts[1].astype(dtype), *noise_parts[2:])
    job = _Job(
        engine=e.astype(dtype), draws=int(draws),
        seed=int(seed),
        atoms=atoms.astype(dtype), bands=band_atoms, noise_spread=noise_parts[0],
        noise_weights=noise_parts[1], persistent_sd=noise_parts[2], yearly_sd=noise_parts[3],
        quantiles=qs, area_block=int(area_block), draw_block=int(draw_block),
    )
    narea = len(areas)
    area_blocks = [(a, min(a + job.area_block, narea)) for a in range(0, narea, job.area_block)]
    nyear = e.nstep + 1
    nsex = len(SUMMARY_SEXES)
    q_out = np.empty((len(qs), narea, nsex, len(band_names), nyear))
    mean_out = np.empty((narea, nsex, len(band_names), nyear))
    clip_out = np.empty(narea)

    def store(block: tuple[int, int], result) -> None:
        a0, a1 = block
        q_out[:, a0:a1], mean_out[a0:a1], clip_out[a0:a1] = result

    bar = _progress(len(area_blocks), progress, "area blocks")
    try:
        if client is not None:
            _run_dask(client, job, area_blocks, draw_chunk, store, bar)
        else:
            if workers is None:
                workers = min(os.cpu_count() or 1, len(area_blocks))
            for block, result in _run_local(job, area_blocks, max(1, int(workers))):
                store(block, result)
                bar.update(1)
    finally:
        bar.close()

    years = np.arange(e.start_year, e.end_year + 1)
    coords = {"area": areas, "sex": list(SUMMARY_SEXES), "band": band_names, "year": years}
    attrs = {"units": "persons", "draws": int(draws), "seed": int(seed)}
    quant = xr.DataArray(q_out, dims=("quantile", "area", "sex", "band", "year"),
                         coords={"quantile": qs, **coords}, name="persons", attrs=attrs)
    mean = xr.DataArray(mean_out, dims=("area", "sex", "band", "year"), coords=coords,
                        name="persons", attrs=attrs)
    clipped = xr.DataArray(clip_out, dims="area", coords={"area": areas}, name="clipped_persons",
                           attrs={"units": "persons per draw"})
    if clip_out.sum() > 0:
        warnings.warn(
            f"net out-migration exceeded the population in some cells: {clip_out.sum():.6g} "
            "persons per draw were clipped to keep it non-negative (see .clipped per area)",
            ClippingWarning,
            stacklevel=2,
        )
    return StochasticProjection(quantiles=quant, mean=mean, clipped=clipped, draws=int(draws),
                                seed=int(seed), seconds=time.perf_counter() - t_start)


# The job of the worker processes of _run_local: inherited by fork, or set by the initializer.
_WORKER_JOB: _Job | None = None


def _set_worker_job(job: _Job) -> None:
    global _WORKER_JOB
    _WORKER_JOB = job


def _area_block_result(job: _Job, block: tuple[int, int]):
    a0, a1 = block
    return _summarise([_simulate_block(job, a0, a1, 0, job.draws)], job.bands, job.quantiles)


def _worker_block(block: tuple[int, int]):
    return block, _area_block_result(_WORKER_JOB, block)


def _run_local(job: _Job, area_blocks: list, workers: int):
    """Yield (block, result) for every block of areas, on ``workers`` processes.

    Processes, not threads: a block step is a few dozen numpy calls on arrays that fit in the
    CPU cache, and threads would queue for the GIL between every two of them.
    """
    if workers <= 1 or len(area_blocks) <= 1:
        for block in area_blocks:
            yield block, _area_block_result(job, block)
        return
    with process_pool(workers, initializer=_set_worker_job, initargs=(job,)) as pool:
        yield from pool.map(_worker_block, area_blocks)


def _run_dask(client, job: _Job, area_blocks, draw_chunk: int | None, store, bar) -> None:
    """One task per (block of areas, chunk of draws) and one reduction per block of areas."""
    from dask.distributed import as_completed

    grid = job.draw_block
    chunk = job.draws if draw_chunk is None else max(1, int(draw_chunk))
    chunk = int(math.ceil(chunk / grid) * grid)  # whole sub-blocks: the same sums as in memory
    draw_chunks = [(d, min(d + chunk, job.draws)) for d in range(0, job.draws, chunk)]
    [payload] = client.scatter([job], broadcast=True)
    blocks = {}
    for a0, a1 in area_blocks:
        parts = [client.submit(_simulate_block, payload, a0, a1, d0, d1, pure=False)
                 for d0, d1 in draw_chunks]
        # The draws of a block of areas meet on one worker, which sends back the quantiles only.
        blocks[client.submit(_summarise, parts, job.bands, job.quantiles, pure=False)] = (a0, a1)
        del parts  # the reduction holds them; without our references they go once it is done
    for future in as_completed(list(blocks)):
        store(blocks.pop(future), future.result())
        future.release()
        bar.update(1)


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, enabled: bool, unit: str):
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, unit=unit, leave=False)


# --------------------------------------------------------------------------------------------
# National runs
# --------------------------------------------------------------------------------------------


def national_year(data_dir=None) -> int:
    """The latest KWB year that holds (nearly) every gemeente of the data.

    A year counts if it has at least 90 % as many gemeenten as the best-covered year, so that
    mergers (fewer gemeenten in later years) do not rule a year out but a regional extract
    (e.g. only Drenthe in 2023-2024) does.
    """
    kwb = load_national(data_dir).kwb
    counts = kwb[kwb["area_level"] == "gemeente"].groupby("year")["area"].nunique()
    if counts.empty:
        raise MissingDataError("the data hold no KWB gemeente rows; add KWB files to the data directory")
    full = counts[counts >= 0.9 * counts.max()]
    return int(full.index.max())


class NationalRunWarning(UserWarning):
    """Some gemeenten of a national run failed; their rows in ``status`` say why."""


@summary_repr
@dataclass(frozen=True, eq=False)
class NationalForecast:
    """The single-gemeente forecast of every gemeente of a KWB year, side by side.

    Attributes
    ----------
    population : xarray.DataArray (area, sex, age, year) or None [persons]
        Every gemeente followed by its wijken, as in
        :attr:`assen_demand.pipeline.PopulationProjection.population`; a ``gemeente``
        coordinate on ``area`` names the gemeente of each area. ``None`` with ``keep=False``.
    tables : dict of str to pandas.DataFrame
        The other tables asked for (``households``, ``care_need``, ``dwellings``, ...), tidy as
        :meth:`assen_demand.pipeline.Forecast.to_frame` gives them with ``gemeente`` in front;
        empty with ``keep=False``.
    status : pandas.DataFrame
        ``gemeente, gemeente_name, status, message, areas, clipped_persons, seconds`` per
        gemeente; ``status`` is ``ok``, ``missing_data`` (the inputs lack something) or
        ``error`` (anything else, with the exception type in ``message``).
    base_year, end_year : int
    area_names : dict
        Area code -> name.
    out_dir : pathlib.Path or None
        Where the CSV files were written.
    """

    population: xr.DataArray | None
    tables: dict
    status: pd.DataFrame
    base_year: int
    end_year: int
    area_names: dict = field(repr=False)
    out_dir: Path | None = None

    @property
    def failures(self) -> pd.DataFrame:
        """The rows of ``status`` that are not ``ok``."""
        return self.status[self.status["status"] != "ok"].reset_index(drop=True)

    def to_frame(self, name: str = "population") -> pd.DataFrame:
        """A tidy table: ``population`` is ``gemeente, area, area_name, sex, age, year, persons``."""
        if name != "population":
            if name not in self.tables:
                raise MissingDataError(
                    f"no table {name!r} in this national run (it has population"
                    + "".join(f", {t}" for t in self.tables) + f"); run it with tables=[..., {name!r}]"
                )
            return self.tables[name]
        if self.population is None:
            raise MissingDataError(
                "the population was not kept (keep=False); read population.csv from out_dir or run "
                "with keep=True"
            )
        return population_frame(self.population, self.area_names)


def population_frame(population: xr.DataArray, area_names: dict) -> pd.DataFrame:
    """The tidy national population: ``gemeente, area, area_name, sex, age, year, persons``.

    Parameters
    ----------
    population : xarray.DataArray (area, sex, age, year) [persons]
        With a ``gemeente`` coordinate on ``area``.
    area_names : dict
        Area code -> name.
    """
    frame = population.drop_vars("gemeente").to_dataframe(name="persons").reset_index()
    gemeente = dict(zip(population["area"].values, population["gemeente"].values))
    frame.insert(0, "gemeente", frame["area"].map(gemeente))
    frame.insert(2, "area_name", frame["area"].map(area_names))
    return frame[["gemeente", "area", "area_name", "sex", "age", "year", "persons"]]


def _national_one(job: tuple) -> tuple[str, dict | None, dict]:
    """Run one gemeente; never raises (the failure goes into the status row)."""
    code, data_key, base_year, end_year, tables, options = job
    t0 = time.perf_counter()
    row = {"gemeente": code, "status": "ok", "message": "", "areas": 0, "clipped_persons": 0.0}
    try:
        with warnings.catch_warnings():
            # Each gemeente's warnings would bury the progress bar; the status row keeps what
            # matters (clipped persons) and failures are reported in full.
            warnings.simplefilter("ignore")
            data = load_national(data_key).for_gemeente(code)
            others = [t for t in tables if t != "population"]
            if others:
                fc = pipeline.forecast(code, base_year=base_year, end_year=end_year, data=data, **options)
                projection = fc.projection
                frames = {t: fc.to_frame(t) for t in others}
            else:
                projection = pipeline.project_population(code, base_year=base_year, end_year=end_year,
                                                          data=data, **options)
                frames = {}
        population = projection.population.load()
        row["areas"] = int(population.sizes["area"])
        row["clipped_persons"] = float(projection.report.clipped_total)
        result = {"population": population, "area_names": dict(projection.area_names),
                  "frames": frames}
    except (MissingDataError, UnknownAreaError) as exc:
        row.update(status="missing_data", message=str(exc))
        result = None
    except AssenDemandError as exc:
        row.update(status="error", message=f"{type(exc).__name__}: {exc}")
        result = None
    except Exception as exc:  # noqa: BLE001 - reported per gemeente, see the status table
        row.update(status="error", message=f"{type(exc).__name__}: {exc}")
        result = None
    row["seconds"] = time.perf_counter() - t0
    return code, result, row


def national_forecast(
    data_dir=None,
    *,
    base_year: int | None = None,
    end_year: int = 2040,
    gemeenten: Iterable[str] | str | None = None,
    tables: Sequence[str] = ("population",),
    out_dir=None,
    keep: bool = True,
    processes: int = 1,
    progress: bool = True,
    errors: str = "report",
    writer=None,
    **options,
) -> NationalForecast:
    """Forecast every gemeente of a KWB year and its wijken, gemeente by gemeente.

    Each gemeente runs the single-gemeente chain (:func:`assen_demand.pipeline.project_population`,
    or :func:`assen_demand.pipeline.forecast` when ``tables`` asks for more than the population)
    from the same base year. A gemeente that fails is reported in ``status`` with its reason
    and the run goes on; a :class:`NationalRunWarning` counts the failures at the end.

    Parameters
    ----------
    data_dir : path, optional
        Folder of raw CBS/UN files (``None``: the bundled tables, only Drenthe).
    base_year : int, optional
        Jump-off year; default :func:`national_year`, the latest KWB year with (nearly) all
        gemeenten (2022 in ``shared/data/raw``).
    end_year : int
        Last year (1 January).
    gemeenten : iterable of str, or str, optional
        Codes or names to run; ``None`` or ``"all"`` (what ``--gemeente all`` of a command
        line gives): every gemeente of ``base_year``; one code or name runs that gemeente.
    tables : sequence of str
        Tables to return and write: ``population`` and any of
        :data:`assen_demand.pipeline.FORECAST_TABLES`.
    out_dir : path, optional
        Write ``<table>.csv`` (tidy, ``gemeente`` first) and ``gemeenten.csv`` (the status)
        here, appending gemeente by gemeente, so nothing national has to be held in memory.
    keep : bool
        Return the tables (the population of all gemeenten is about 0.1 GB as an array).
    processes : int
        Worker processes (the data are read once and shared by fork where available).
    progress : bool
        Show a tqdm progress bar over the gemeenten.
    errors : {"report", "raise"}
        ``"raise"`` re-raises the first failure (for debugging) instead of reporting it.
    writer : callable, optional
        Called in this process for every gemeente that ran, in order, as soon as it is done:
        ``writer(gemeente, population, tables, area_names)`` with the population (area, sex,
        age, year) [persons] (``gemeente`` coordinate on ``area``), the other tables asked for
        (tidy, ``gemeente`` first) and the area names. A national run streams to any format
        this way (:func:`assen_demand.outputs.national.write_national`: Parquet and
        ``forecast.zarr``); with ``keep=False`` nothing national is held in memory.
    **options
        Passed to ``project_population`` / ``forecast`` (e.g. ``method="hamilton_perry"``).

    Returns
    -------
    NationalForecast
    """
    if errors not in ("report", "raise"):
        raise InvalidValueError(f"errors must be 'report' or 'raise', got {errors!r}")
    tables = list(dict.fromkeys(tables))
    unknown = [t for t in tables if t not in FORECAST_TABLES]
    if unknown or not tables:
        raise InvalidValueError(
            f"unknown table(s) {unknown}; choose from {', '.join(FORECAST_TABLES)}"
        )
    national = load_national(data_dir)
    year = national_year(data_dir) if base_year is None else int(base_year)
    listed = national.gemeenten(year)
    if listed.empty:
        raise MissingDataError(
            f"no KWB gemeente rows for {year} in the {national.source} data; choose base_year from "
            f"{sorted(national.kwb['year'].unique().tolist())}"
        )
    names = dict(zip(listed["area"], listed["area_name"]))
    if isinstance(gemeenten, str):
        gemeenten = None if gemeenten.strip().lower() == "all" else [gemeenten]
    if gemeenten is None:
        codes = [str(c) for c in listed["area"]]
    else:
        codes = list(dict.fromkeys(national.resolve_gemeente(g) for g in gemeenten))
        if not codes:
            raise InvalidValueError(
                'gemeenten is empty; give codes or names, or "all" (None) for every gemeente'
            )
    key = None if data_dir is None else str(data_dir)
    jobs = [(c, key, year, int(end_year), tuple(tables), options) for c in codes]

    out_path = None if out_dir is None else Path(out_dir)
    if out_path is not None:
        out_path.mkdir(parents=True, exist_ok=True)
        for t in tables:
            (out_path / f"{t}.csv").unlink(missing_ok=True)
    populations, frames, area_names, rows = [], {t: [] for t in tables if t != "population"}, {}, []
    bar = _progress(len(jobs), progress, "gemeenten")
    try:
        for code, result, row in _national_results(jobs, processes):
            row["gemeente_name"] = names.get(code, code)
            rows.append(row)
            bar.update(1)
            if result is None:
                if errors == "raise":
                    raise _failure(row)
                continue
            population = result["population"].assign_coords(
                gemeente=("area", [code] * result["population"].sizes["area"]))
            area_names.update(result["area_names"])
            tagged = {t: frame.assign(gemeente=code)[["gemeente"] + list(frame.columns)]
                      for t, frame in result["frames"].items()}
            if out_path is not None:
                _append_csv(out_path / "population.csv", population_frame(population, result["area_names"]))
                for t, frame in tagged.items():
                    _append_csv(out_path / f"{t}.csv", frame)
            if writer is not None:
                writer(code, population, tagged, result["area_names"])
            if keep:
                populations.append(population)
                for t, frame in tagged.items():
                    frames[t].append(frame)
    finally:
        bar.close()
    status = pd.DataFrame(rows, columns=["gemeente", "gemeente_name", "status", "message", "areas",
                                         "clipped_persons", "seconds"])
    if out_path is not None:
        status.to_csv(out_path / "gemeenten.csv", index=False)
    failed = status[status["status"] != "ok"]
    if len(failed):
        shown = "; ".join(f"{g}: {m[:120]}" for g, m in zip(failed["gemeente"][:3], failed["message"][:3]))
        warnings.warn(
            f"{len(failed)} of {len(status)} gemeenten failed ({shown}{'; ...' if len(failed) > 3 else ''}); "
            "see NationalForecast.failures",
            NationalRunWarning,
            stacklevel=2,
        )
    population = None
    if keep and populations:
        population = xr.concat(populations, dim="area")
        population.name = "persons"
    return NationalForecast(
        population=population,
        tables={t: pd.concat(f, ignore_index=True) for t, f in frames.items() if f} if keep else {},
        status=status,
        base_year=year,
        end_year=int(end_year),
        area_names=area_names,
        out_dir=out_path,
    )


def _failure(row: dict) -> Exception:
    return (MissingDataError if row["status"] == "missing_data" else InvalidValueError)(
        f"{row['gemeente']} ({row['gemeente_name']}): {row['message']}"
    )


def _national_results(jobs: list, processes: int):
    """Yield ``_national_one`` of every job, in order, on ``processes`` worker processes."""
    if processes <= 1 or len(jobs) <= 1:
        for job in jobs:
            yield _national_one(job)
        return
    with process_pool(processes) as pool:
        yield from pool.map(_national_one, jobs, chunksize=1)


def _append_csv(path: Path, frame: pd.DataFrame) -> None:
    frame.to_csv(path, mode="a", header=not path.exists(), index=False)
