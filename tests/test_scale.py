"""Tests of assen_demand.scale: streamed Monte Carlo quantiles, Dask, national runs.

The stochastic projection is checked against the deterministic engine it reuses: without
noise every draw is a plain ``project`` run; with noise, against ``project`` fed the explicit
migration that the documented noise model and random streams give (built here independently
of the implementation). Chunking (blocks, workers, Dask tasks) must not change the draws.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from assen_demand import scale
from assen_demand.errors import DataFormatError, InvalidValueError, UnknownAreaError
from assen_demand.demography.projection import ClippingWarning, ProjectionInputs, project

# Noisy migration clips thin old-age cells; the clipping test checks the warning itself.
pytestmark = pytest.mark.filterwarnings("ignore::assen_demand.demography.projection.ClippingWarning")

AGES = np.arange(101)
SEXES = ["male", "female"]
START, END = 2024, 2030


def make_inputs(n_area: int = 5, draws: int | None = None, seed: int = 0, mig_scale: float = 0.02):
    """Small areas with smooth age structures; survival by draw if ``draws`` is given."""
    rng = np.random.default_rng(seed)
    areas = [f"WK{i:04d}" for i in range(n_area)]
    years = list(range(START, END))
    q = np.clip(np.exp(-9.5 + 0.088 * AGES), 0, 0.7)
    lx = np.cumprod(np.r_[1.0, 1 - q[:-1]])
    pop = lx * np.exp(0.2 * rng.standard_normal((n_area, 2, 101))) * rng.uniform(5, 40, (n_area, 1, 1))
    base = xr.DataArray(pop, dims=("area", "sex", "age"), coords={"area": areas, "sex": SEXES, "age": AGES})
    if draws is None:
        surv = xr.DataArray(np.broadcast_to(1 - q, (len(years), 101)).copy(), dims=("year", "age"),
                            coords={"year": years, "age": AGES})
    else:
        shock = np.exp(0.1 * rng.standard_normal((draws, len(years), 1)))
        surv = xr.DataArray(np.clip(1 - q * shock, 0, 1), dims=("draw", "year", "age"),
                            coords={"draw": np.arange(draws), "year": years, "age": AGES})
    fert = xr.DataArray(np.where((AGES >= 15) & (AGES < 50), 0.05, 0.0), dims="age", coords={"age": AGES})
    mig = xr.DataArray(mig_scale * pop * rng.standard_normal(pop.shape), dims=("area", "sex", "age"),
                       coords={"area": areas, "sex": SEXES, "age": AGES})
    inputs = ProjectionInputs(survival=surv, births_survival=xr.DataArray(0.996), fertility=fert,
                              net_migration=mig)
    return base, inputs


def band_sums(population: xr.DataArray, bands=scale.DEFAULT_BANDS) -> xr.DataArray:
    """(…, area, sex, band, year) with the sex total, from single ages."""
    parts = [population.sel(age=slice(lo, hi - 1)).sum("age") for lo, hi in bands.values()]
    by_band = xr.concat(parts, dim=pd.Index(list(bands), name="band"))
    total = by_band.sum("sex").expand_dims(sex=["total"])
    return xr.concat([by_band, total], dim="sex")


def run(base, inputs, **kw):
    kw.setdefault("draws", 30)
    kw.setdefault("seed", 7)
    kw.setdefault("workers", 1)
    return scale.stochastic_projection(base, components=inputs, start_year=START, end_year=END, **kw)


# --------------------------------------------------------------------------------------------
# against the deterministic engine
# --------------------------------------------------------------------------------------------


def test_without_noise_every_draw_is_the_deterministic_projection():
    base, inputs = make_inputs()
    expected = band_sums(project(base, components=inputs, start_year=START, end_year=END))
    got = run(base, inputs, dtype=np.float64)
    for q in got.quantiles["quantile"].values:
        xr.testing.assert_allclose(got.quantiles.sel(quantile=q, drop=True),
                                   expected.transpose(*got.mean.dims), rtol=1e-12)
    # float32 (the default) rounds, far below any spread between draws
    fast = run(base, inputs)
    np.testing.assert_allclose(fast.mean.values, got.mean.values, rtol=2e-6, atol=1e-6)


def test_survival_draws_give_numpys_quantiles_of_the_engine_draws():
    base, inputs = make_inputs(draws=40)
    draws = band_sums(project(base, components=inputs, start_year=START, end_year=END))
    got = run(base, inputs, draws=40, dtype=np.float64, quantiles=(0.05, 0.5, 0.95, 1.0))
    want = draws.quantile([0.05, 0.5, 0.95, 1.0], dim="draw").transpose(*got.quantiles.dims)
    np.testing.assert_allclose(got.quantiles.values, want.values, rtol=1e-12)
    np.testing.assert_allclose(got.mean.values, draws.mean("draw").transpose(*got.mean.dims).values,
                               rtol=1e-12)


def explicit_migration(base, inputs, noise, draws: int, seed: int) -> xr.DataArray:
    """Net migration (draw, area, sex, age, year) as the module notes define the noise."""
    nstep = END - START
    edges = list(noise.edges) + [101]
    n_area, nband = base.sizes["area"], len(noise.edges)
    z = np.empty((draws, n_area, nband, 1 + nstep))
    for ti in range(-(-draws // 16)):
        for tj in range(-(-n_area // 16)):
            seq = np.random.SeedSequence(seed, spawn_key=(ti, tj))
            tile = np.random.Generator(np.random.SFC64(seq)).standard_normal((16, 16, nband, 1 + nstep))
            part = z[ti * 16:(ti + 1) * 16, tj * 16:(tj + 1) * 16]
            part[...] = tile[:part.shape[0], :part.shape[1]]
    psd = noise.persistent_sd.transpose("area", "band").values[None, :, :, None]
    ysd = noise.yearly_sd.transpose("area", "band").values[None, :, :, None]
    dev = psd * z[..., :1] + ysd * z[..., 1:]  # (draw, area, band, year)
    pop = base.transpose("area", "sex", "age").values
    out = np.broadcast_to(inputs.net_migration.transpose("area", "sex", "age").values[None, ..., None],
                          (draws, n_area, 2, 101, nstep)).copy()
    for b in range(nband):
        lo, hi = edges[b], edges[b + 1]
        share = pop[:, :, lo:hi] / pop[:, :, lo:hi].sum(axis=(1, 2), keepdims=True)
        out[:, :, :, lo:hi, :] += dev[:, :, None, None, b, :] * share[None, :, :, :, None]
    return xr.DataArray(out, dims=("draw", "area", "sex", "age", "year"),
                        coords={"draw": np.arange(draws), "area": base["area"].values, "sex": SEXES,
                                "age": AGES, "year": np.arange(START, END)})


def test_noise_is_the_documented_model_and_streams():
    base, inputs = make_inputs(n_area=20)  # two area tiles
    noise = scale.MigrationNoise.from_dispersion(base, persistent=0.3, yearly=0.5)
    draws = 20  # two draw tiles
    mig = explicit_migration(base, inputs, noise, draws, seed=11)
    explicit = ProjectionInputs(survival=inputs.survival, births_survival=inputs.births_survival,
                                fertility=inputs.fertility, net_migration=mig)
    engine, report = project(base, components=explicit, start_year=START, end_year=END, return_report=True)
    want = band_sums(engine).quantile(list(scale.QUANTILES), dim="draw")
    got = run(base, inputs, draws=draws, seed=11, noise=noise, dtype=np.float64)
    np.testing.assert_allclose(got.quantiles.values, want.transpose(*got.quantiles.dims).values,
                               rtol=1e-10, atol=1e-9)
    assert float(got.clipped.sum()) == pytest.approx(report.clipped_total / draws, rel=1e-9, abs=1e-9)
    spread = got.quantiles.sel(sex="total", band="total", year=END)
    assert (spread.sel(quantile=0.95) > spread.sel(quantile=0.05)).all()


def test_block_sizes_and_workers_do_not_change_the_draws():
    base, inputs = make_inputs(n_area=23)
    noise = scale.MigrationNoise.from_dispersion(base, persistent=0.3, yearly=0.5)
    a = run(base, inputs, draws=37, noise=noise, dtype=np.float64)
    b = run(base, inputs, draws=37, noise=noise, dtype=np.float64, area_block=5, draw_block=7, workers=2)
    np.testing.assert_allclose(b.quantiles.values, a.quantiles.values, rtol=1e-12)
    np.testing.assert_allclose(b.clipped.values, a.clipped.values, rtol=1e-10, atol=1e-12)
    c = run(base, inputs, draws=37, noise=noise, dtype=np.float64, seed=8)
    assert not np.allclose(c.quantiles.values, a.quantiles.values)


@pytest.mark.slow
def test_dask_cluster_gives_the_in_memory_quantiles():
    distributed = pytest.importorskip("dask.distributed")
    base, inputs = make_inputs(n_area=40, draws=64)
    noise = scale.MigrationNoise.from_dispersion(base, persistent=0.3, yearly=0.5)
    local = run(base, inputs, draws=64, noise=noise)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        remote = run(base, inputs, draws=64, noise=noise, client=client, draw_chunk=20)
    # draw_chunk 20 is rounded up to whole sub-blocks of 16 draws: identical numbers
    np.testing.assert_array_equal(remote.quantiles.values, local.quantiles.values)
    np.testing.assert_array_equal(remote.mean.values, local.mean.values)
    np.testing.assert_array_equal(remote.clipped.values, local.clipped.values)


# --------------------------------------------------------------------------------------------
# outputs, clipping, errors
# --------------------------------------------------------------------------------------------


def test_outputs_and_tidy_frame():
    base, inputs = make_inputs(n_area=3)
    got = run(base, inputs, bands={"65+": (65, 101), "young": (0, 20)}, quantiles=(0.1, 0.5, 0.975))
    assert got.quantiles.dims == ("quantile", "area", "sex", "band", "year")
    assert list(got.quantiles["band"].values) == ["65+", "young"]
    assert list(got.quantiles["sex"].values) == ["male", "female", "total"]
    assert list(got.quantiles["year"].values) == list(range(START, END + 1))
    frame = got.to_frame()
    assert list(frame.columns) == ["area", "sex", "band", "year", "mean", "q10", "q50", "q97.5"]
    assert len(frame) == 3 * 3 * 2 * (END - START + 1)
    assert (frame["q10"] <= frame["q50"]).all() and (frame["q50"] <= frame["q97.5"]).all()


def test_clipping_is_reported_per_area():
    base, inputs = make_inputs(n_area=2)
    leaving = -inputs.net_migration.copy(data=np.zeros(inputs.net_migration.shape))
    leaving.loc[dict(area="WK0001", age=80)] = -1000.0
    heavy = ProjectionInputs(survival=inputs.survival, births_survival=inputs.births_survival,
                             fertility=inputs.fertility, net_migration=leaving)
    with pytest.warns(ClippingWarning, match="persons per draw were clipped"):
        got = run(base, heavy, dtype=np.float64)
    _, report = project(base, components=heavy, start_year=START, end_year=END, return_report=True)
    assert float(got.clipped.sel(area="WK0000")) == 0
    assert float(got.clipped.sel(area="WK0001")) == pytest.approx(report.clipped_total, rel=1e-9)


def test_from_dispersion():
    base, _ = make_inputs(n_area=2)
    noise = scale.MigrationNoise.from_dispersion(base, persistent=[0.1, 0.2, 0.3, 0.4, 0.5], yearly=0.6)
    pop65 = float(base.sel(area="WK0001", age=slice(65, 100)).sum())
    assert float(noise.persistent_sd.sel(area="WK0001", band="65+")) == pytest.approx(np.sqrt(0.5 * pop65))
    assert float(noise.yearly_sd.sel(area="WK0001", band="65+")) == pytest.approx(np.sqrt(0.6 * pop65))
    with pytest.raises(InvalidValueError, match="dispersion must be finite and >= 0"):
        scale.MigrationNoise.from_dispersion(base, persistent=-1, yearly=0.6)


def test_errors():
    base, inputs = make_inputs(n_area=2, draws=4)
    with pytest.raises(DataFormatError, match="the components have 4 draws but draws=5"):
        run(base, inputs, draws=5)
    with pytest.raises(InvalidValueError, match="draws must be a whole number >= 1"):
        run(base, inputs, draws=0)
    with pytest.raises(InvalidValueError, match="seed must be a non-negative whole number"):
        run(base, inputs, draws=4, seed=-1)
    with pytest.raises(InvalidValueError, match=r"quantiles must be numbers in \[0, 1\]"):
        run(base, inputs, draws=4, quantiles=(0.5, 1.5))
    with pytest.raises(InvalidValueError, match="band 'old' = \\(65, 120\\) is outside the ages"):
        run(base, inputs, draws=4, bands={"old": (65, 120)})
    with pytest.raises(DataFormatError, match="band 'x' must be \\(first age, last age \\+ 1\\)"):
        run(base, inputs, draws=4, bands={"x": "65+"})
    with pytest.raises(DataFormatError, match="dtype must be float32 or float64"):
        run(base, inputs, draws=4, dtype=np.int64)
    rates = ProjectionInputs(survival=inputs.survival, births_survival=inputs.births_survival,
                             fertility=inputs.fertility, migration_rate=xr.DataArray(0.0))
    noise = scale.MigrationNoise.from_dispersion(base, persistent=0.3, yearly=0.5)
    with pytest.raises(DataFormatError, match="MigrationNoise adds persons to net migration counts"):
        run(base, rates, draws=4, noise=noise)
    with pytest.raises(UnknownAreaError, match="MigrationNoise.persistent_sd has no area"):
        other, _ = make_inputs(n_area=1)
        run(base, inputs, draws=4, noise=scale.MigrationNoise.from_dispersion(other, persistent=0.3, yearly=0.5))
    with pytest.raises(DataFormatError, match="must be an xarray.DataArray with dims \\(area, band\\)"):
        scale.MigrationNoise(persistent_sd=xr.DataArray([1.0]), yearly_sd=noise.yearly_sd)


# --------------------------------------------------------------------------------------------
# national runs
# --------------------------------------------------------------------------------------------


def test_national_year_of_the_bundled_data_is_its_latest():
    assert scale.national_year() == 2024


@pytest.mark.slow
def test_national_forecast_reports_failures_and_writes_tidy_tables(tmp_path, monkeypatch):
    from assen_demand import pipeline

    real = pipeline.project_population

    def flaky(code, **kw):
        if code == "GM1680":
            raise RuntimeError("disk on fire")
        return real(code, **kw)

    monkeypatch.setattr(pipeline, "project_population", flaky)
    with pytest.warns(scale.NationalRunWarning, match="1 of 2 gemeenten failed \\(GM1680: RuntimeError: disk on fire"):
        run_ = scale.national_forecast(gemeenten=["GM0106", "Aa en Hunze"], end_year=2026,
                                       out_dir=tmp_path, progress=False)
    status = run_.status.set_index("gemeente")
    assert status.loc["GM1680", "status"] == "error"
    assert status.loc["GM1680", "message"] == "RuntimeError: disk on fire"
    assert status.loc["GM0106", "status"] == "ok"
    assert list(run_.failures["gemeente"]) == ["GM1680"]
    assert run_.base_year == 2024

    projection = real("GM0106", base_year=2024, end_year=2026)
    assert status.loc["GM0106", "areas"] == projection.population.sizes["area"]
    single = projection.to_frame()
    frame = run_.to_frame()
    mine = frame[frame["gemeente"] == "GM0106"].drop(columns="gemeente").reset_index(drop=True)
    pd.testing.assert_frame_equal(mine, single, check_dtype=False)
    written = pd.read_csv(tmp_path / "population.csv")
    assert len(written) == len(frame) and set(written["gemeente"]) == {"GM0106"}
    assert set(pd.read_csv(tmp_path / "gemeenten.csv")["status"]) == {"ok", "error"}


def test_national_forecast_all_runs_every_gemeente_of_the_year(monkeypatch):
    from assen_demand import pipeline
    from assen_demand.inputs.datasets import load_national
    from assen_demand.errors import MissingDataError

    def nothing(code, **kw):  # fast: only which gemeenten are run matters here
        raise MissingDataError(f"no data for {code}")

    monkeypatch.setattr(pipeline, "project_population", nothing)
    expected = sorted(load_national(None).gemeenten(2024)["area"])
    assert len(expected) == 12  # Drenthe
    with pytest.warns(scale.NationalRunWarning, match="12 of 12 gemeenten failed"):
        everything = scale.national_forecast(gemeenten="all", end_year=2025, progress=False)
    assert sorted(everything.status["gemeente"]) == expected
    assert set(everything.status["status"]) == {"missing_data"}
    assert everything.population is None
    with pytest.warns(scale.NationalRunWarning, match="1 of 1 gemeenten failed \\(GM0106: no data for GM0106"):
        one = scale.national_forecast(gemeenten="Assen", end_year=2025, progress=False)
    assert list(one.status["gemeente"]) == ["GM0106"]


def test_national_forecast_errors():
    with pytest.raises(InvalidValueError, match="unknown table\\(s\\) \\['wijken'\\]"):
        scale.national_forecast(tables=["population", "wijken"], progress=False)
    with pytest.raises(UnknownAreaError, match="gemeente 'Atlantis' is not in the bundled data"):
        scale.national_forecast(gemeenten=["Atlantis"], progress=False)
    with pytest.raises(InvalidValueError, match="gemeenten is empty"):
        scale.national_forecast(gemeenten=[], progress=False)
