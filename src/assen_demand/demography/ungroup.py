"""Age bands -> single years of age with the penalised composite link model (PCLM).

The PCLM (Rizzi, Gampe & Eilers 2015, *American Journal of Epidemiology* 182(2):138-147,
"Efficient estimation of smooth distributions from coarsely grouped data") treats the observed
band counts ``y`` as Poisson with mean ``mu = C gamma``, where ``gamma`` is a latent distribution
over single years of age and ``C`` is the composition matrix (band x latent age) that sums the
latent ages of each band. The latent log-distribution ``eta = log gamma`` is smooth: it is a
cubic B-spline ``X b`` with a knot every ~3 years (a P-spline; the paper's code takes either
the identity or a B-spline basis for ``X``), and ``b`` maximises the Poisson log-likelihood
minus ``lam/2 * |D b|^2`` (``D`` a difference matrix), found with the paper's penalised scoring
(IRLS) iteration.

Three entry points:

- :func:`pclm` ungroups counts (persons, deaths) in bands of any widths with an open top band;
- :func:`pclm_rates` ungroups deaths with exposures to single-year rates ``m(x)``;
- :func:`ungroup_bands` does the same as :func:`pclm` for every group of a tidy pandas frame.

Every result reproduces the band totals exactly (see :func:`pclm`, "Band totals").

Choices that differ from the plain published recipe, and why (measured on the reference cases
of ``tests/test_ungroup.py``):

- Penalty order 4 (not 2) for counts. Population and death counts fall steeply and ever faster
  at old ages (log l(x) of a Gompertz law is concave with growing curvature); an order-2 penalty
  pulls that curvature flat and, on 5-year bands from six Gompertz-Makeham populations, misses
  single ages near 90 by up to 2.0-3.0 % (1.0 % for one); order 3 by 0.6-2.1 %; order 4 by
  0.4-1.4 %. Rates keep order 2: its penalty leaves log-linear (Gompertz) rates untouched.
- A zero-count pseudo-band of 10 years above the latent grid: nobody is older than the grid's
  top (110 by default). Without it an open band follows the trend of the last closed bands; in
  a young wijk with 80 persons aged 65+ (KWB bands), 59 of them landed in 100+.
- Scoring steps add the positive part of the exact Hessian's second term (bands fitted above
  their count, such as zero bands) and are halved or doubled along a line search; the fixed point
  is the paper's, but zero bands no longer make the iteration crawl.

Limitation: one broad open band holds no information on the shape of old age. Ungrouping the
KWB bands of Assen (1 January 2021) and comparing with Assen's real 5-year counts (CBS 83502NED,
by postcode) gives 75+ 10 % and 85+ 39 % too low. For the oldest ages use finer bands where they
exist, or a seed shape (``base.py`` rakes a single-year structure to the KWB totals).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.interpolate import BSpline
from scipy.linalg.lapack import dposv as _dposv
from scipy.linalg.lapack import dpotrf as _dpotrf
from scipy.linalg.lapack import dpotrs as _dpotrs

from assen_demand.errors import DataFormatError, InvalidValueError
from assen_demand.display import summary_repr

__all__ = ["PCLMResult", "pclm", "pclm_rates", "ungroup_bands"]


# The open band is spread over a latent grid that reaches at least _LATENT_TOP (and at least
# max_age + _MIN_TAIL) before being collapsed at max_age; above it sits a pseudo-band of
# _ZERO_TAIL ages observed to hold nobody, so the fitted tail comes down to ~0 at the top.
_LATENT_TOP = 110
_MIN_TAIL = 10
_ZERO_TAIL = 10
_COUNT_ORDER = 4  # default penalty order for counts (see the module docstring)
_RATE_ORDER = 2  # default penalty order for log rates

_MAX_ITER = 100
# Convergence: the largest change of a latent value relative to the largest latent value, or
# the fall of the penalised deviance in an iteration (chi-square units, so absolute). Loose while
# searching lambda (criteria need ~1e-3), tight for the fit that is returned.
_TOL = 1e-8
_OBJ_TOL = 1e-10
_SEARCH_TOL = 1e-4
_SEARCH_OBJ_TOL = 1e-6
_SEARCH_MAX_ITER = 40
_TINY = np.finfo(float).tiny
_GRID_STEP = 0.5  # in log10(lambda); the golden-section search refines between grid points
# P-spline basis of the latent log-distribution: a cubic B-spline every ~3 years follows any
# age pattern that survives smoothing, and keeps the linear systems at most 32 x 32. The identity
# basis (one coefficient per age) gave errors within 0.5 percentage points of these on the
# Gompertz-Makeham tests in a prototype, but needs 111 x 111 systems: several times slower, and
# OpenBLAS multithreads them, which stalls for milliseconds on a busy machine.
_KNOT_SPACING = 3.0
_MAX_COEF = 32
_MIN_SPLINE_AGES = 24  # shorter latent grids use the identity basis (one coefficient per age)
_GOLDEN_TOL = 0.02  # in log10(lambda): a 5 % change of lambda moves the criterion by far below 1


@summary_repr
@dataclass(frozen=True, eq=False)
class PCLMResult:
    """The single-year distribution estimated by :func:`pclm` or :func:`pclm_rates`.

    Attributes
    ----------
    values : numpy.ndarray (age,) [persons, deaths, or deaths per person-year for rates]
        Single-year values for ``ages``; the last cell is everything at ``max_age`` and over.
    ages : numpy.ndarray (age,) [years]
        ``band_starts[0] .. max_age``.
    lam : float [-]
        The smoothing parameter used (chosen by ``criterion_name`` unless only one was given).
    criterion : float [-]
        The value of the selection criterion (AIC or BIC) at ``lam``.
    edf : float [-]
        Effective dimension of the fit, ``trace((Q'WQ + P)^-1 Q'WQ)``. For counts it includes
        the zero pseudo-band above the latent grid, so it can exceed the number of bands.
    converged : bool
        Whether the scoring iterations at ``lam`` converged. Extreme layouts (a huge one- or
        two-year band next to long zero bands) can end unconverged; the band totals are exact
        all the same, only the shape within bands is less settled.
    criterion_name : str
        ``"bic"`` or ``"aic"``.
    deviance : float [-]
        Poisson deviance of the fitted band totals (before the exact rescaling), the zero
        pseudo-band included.
    iterations : int
        Scoring iterations used at ``lam``.
    exposures : numpy.ndarray (age,) [person-years] or None
        The single-year exposures used as offset (rates only), so that
        ``values * exposures`` are the single-year deaths.
    """

    values: np.ndarray
    ages: np.ndarray
    lam: float
    criterion: float
    edf: float
    converged: bool
    criterion_name: str = "bic"
    deviance: float = float("nan")
    iterations: int = 0
    exposures: np.ndarray | None = None

    def to_frame(self, value: str = "value") -> pd.DataFrame:
        """Tidy table with columns ``age`` and ``value``.

        Parameters
        ----------
        value : str
            Name of the value column.

        Returns
        -------
        pandas.DataFrame (age,) [same unit as ``values``]
        """
        return pd.DataFrame({"age": self.ages, value: self.values})


# --------------------------------------------------------------------------- validation


def _as_band_starts(band_starts) -> np.ndarray:
    try:
        starts = np.asarray(band_starts, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataFormatError(
            f"band_starts must be whole ages, got {band_starts!r}; pass integers such as [0, 5, 10]"
        ) from exc
    if starts.ndim != 1 or starts.size == 0:
        raise DataFormatError(
            f"band_starts must be a non-empty 1-D sequence, got shape {starts.shape}; "
            "pass one lower bound per band"
        )
    bad = ~np.isfinite(starts) | (starts != np.round(starts)) | (starts < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InvalidValueError(
            f"band_starts[{i}] = {starts[i]:g} is not a whole non-negative age; "
            "use integer lower bounds in years"
        )
    starts = starts.astype(np.int64)
    steps = np.diff(starts)
    if (steps <= 0).any():
        i = int(np.flatnonzero(steps <= 0)[0])
        raise InvalidValueError(
            f"band_starts must be strictly increasing, but band_starts[{i + 1}] = {starts[i + 1]} "
            f"follows band_starts[{i}] = {starts[i]}; sort the bands by age and merge duplicates"
        )
    return starts


def _as_counts(counts, n_bands: int, name: str = "counts") -> np.ndarray:
    try:
        y = np.asarray(counts, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataFormatError(
            f"{name} must be numeric, got {counts!r}; convert the column to numbers first"
        ) from exc
    if y.ndim != 1:
        raise DataFormatError(f"{name} must be 1-D, got shape {y.shape}; pass one value per band")
    if y.size != n_bands:
        raise DataFormatError(
            f"{name} has {y.size} values but band_starts has {n_bands}; "
            "pass exactly one value per band"
        )
    if np.isnan(y).any():
        i = int(np.flatnonzero(np.isnan(y))[0])
        raise InvalidValueError(
            f"{name}[{i}] is NaN; fill or drop the band before ungrouping "
            "(a missing band cannot be ungrouped)"
        )
    if not np.isfinite(y).all():
        i = int(np.flatnonzero(~np.isfinite(y))[0])
        raise InvalidValueError(f"{name}[{i}] = {y[i]} is infinite; pass finite values")
    if (y < 0).any():
        i = int(np.flatnonzero(y < 0)[0])
        raise InvalidValueError(
            f"{name}[{i}] = {y[i]} is negative; {name} must be >= 0 (check for a subtraction "
            "or a CBS suppression code that was read as a number)"
        )
    return y


def _check_options(criterion: str, order: int) -> str:
    crit = str(criterion).lower()
    if crit not in ("aic", "bic"):
        raise InvalidValueError(f"criterion = {criterion!r} is unknown; use 'bic' or 'aic'")
    if not isinstance(order, (int, np.integer)) or isinstance(order, bool) or not 1 <= order <= 4:
        raise InvalidValueError(
            f"order = {order!r} is not a supported difference order; use 1, 2, 3 or 4"
        )
    return crit


def _as_log10_lambdas(lambdas) -> np.ndarray | None:
    """Candidate log10(lambda) values, or None for the default search."""
    if lambdas is None:
        return None
    lam = np.atleast_1d(np.asarray(lambdas, dtype=float))
    if lam.ndim != 1 or lam.size == 0 or not np.isfinite(lam).all() or (lam <= 0).any():
        raise InvalidValueError(
            f"lambdas = {lambdas!r} must be one or more finite positive smoothing parameters; "
            "pass e.g. 10.0 ** numpy.arange(-2, 7.5, 0.5), or None for the default search"
        )
    return np.log10(lam)


# --------------------------------------------------------------------------- the model


def _composition_matrix(starts: np.ndarray, latent_ages: np.ndarray) -> np.ndarray:
    """C [band, latent age]: 1 where the latent age lies in the band (the last band is open)."""
    band_of_age = np.searchsorted(starts, latent_ages, side="right") - 1
    return (band_of_age[None, :] == np.arange(starts.size)[:, None]).astype(float)


def _difference_matrix(n: int, order: int) -> np.ndarray:
    return np.diff(np.eye(n), n=order, axis=0)


def _poisson_deviance(y: np.ndarray, mu: np.ndarray) -> float:
    pos = y > 0
    # log y - log mu, not log(y / mu): the ratio can underflow for subnormal counts
    dev = 2.0 * (np.sum(y[pos] * (np.log(y[pos]) - np.log(mu[pos]))) - np.sum(y - mu))
    return float(max(dev, 0.0))


def _solve_pd(A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Solve A x = b (b 1-D) for symmetric positive definite A; least squares if it is not."""
    # LAPACK posv directly: several times faster than numpy.linalg.solve at this size.
    _, x, info = _dposv(A, b, lower=False, overwrite_a=False, overwrite_b=False)
    if info == 0:
        return x
    return np.linalg.lstsq(A, b, rcond=None)[0]


def _trace_solve(A: np.ndarray, B: np.ndarray) -> float:
    """trace(A^-1 B B') for symmetric positive definite A, one right-hand side at a time."""
    # Multi-column triangular solves and inverses go multithreaded in OpenBLAS even at this tiny
    # size, and stall for milliseconds on a busy machine; single columns stay single-threaded.
    if B.shape[1] > B.shape[0]:  # fewer solves with the columns of B B' itself
        M = B @ B.T
        pick = [(k, M[:, k]) for k in range(M.shape[0])]
    else:
        pick = None
    c, info = _dpotrf(A, lower=False, clean=True)
    if info != 0:
        return float(np.sum(B * np.linalg.lstsq(A, B, rcond=None)[0]))
    if pick is not None:
        return float(sum(_dpotrs(c, col, lower=False)[0][k] for k, col in pick))
    return float(sum(B[:, k] @ _dpotrs(c, B[:, k], lower=False)[0] for k in range(B.shape[1])))


def _bspline_basis(x: np.ndarray, degree: int = 3) -> np.ndarray:
    """Cubic B-splines with equally spaced knots covering ``x`` (P-spline basis, Eilers & Marx).

    Knots every ``_KNOT_SPACING`` years, or wider so that there are at most ``_MAX_COEF``
    coefficients.
    """
    lo, span = float(x[0]), float(x[-1] - x[0]) + 1.0  # +1: the last knot lies beyond x[-1]
    nseg = min(int(np.ceil(span / _KNOT_SPACING)), _MAX_COEF - degree)
    spacing = span / nseg
    knots = lo + spacing * np.arange(-degree, nseg + degree + 1)
    return BSpline.design_matrix(x.astype(float), knots, degree).toarray()


@dataclass
class _Fit:
    coef: np.ndarray
    eta: np.ndarray
    gamma: np.ndarray
    mu: np.ndarray
    deviance: float
    edf: float
    converged: bool
    iterations: int


class _Problem:
    """One PCLM on a latent grid: the data and everything that does not depend on lambda.

    ``eta = X @ coef`` with ``X`` a cubic B-spline basis with knots every ``_KNOT_SPACING``
    years (the identity on short latent grids). The composition matrix is never formed: the
    latent ages of a band are contiguous, so ``C @ v`` is an ``add.reduceat`` over band starts.
    """

    def __init__(self, y, starts, latent_ages, weight, order):
        self.y = y
        self.weight = weight
        self.n_bands = y.size
        self.ysum = float(y.sum())
        band_of = np.searchsorted(starts, latent_ages, side="right") - 1
        self.band_of = band_of
        self.first = np.searchsorted(band_of, np.arange(y.size))  # first latent index per band
        J = latent_ages.size
        if J >= _MIN_SPLINE_AGES:
            self.X = _bspline_basis(latent_ages)
        else:
            self.X = np.eye(J)
        K = self.X.shape[1]
        order_eff = min(order, K - 1)
        D = _difference_matrix(K, order_eff) if order_eff >= 1 else np.zeros((0, K))
        if y.size < order_eff or K == 1:
            # Fewer bands than the penalty's null space has dimensions: the data cannot fix the
            # polynomial trend, so a tiny first-difference penalty (relative to lambda) picks the
            # flattest one. It is left out otherwise because it would bias the curvature.
            extra = _difference_matrix(K, 1) if K > 1 else np.ones((1, 1))
            D = np.vstack([D, 1e-3 * extra])
        # The penalty is evaluated as |D coef|^2, never as coef' D'D coef: with lambda up to 1e12
        # the latter loses everything to cancellation and hides the descent of the last steps.
        self.D = D
        self.DtD = D.T @ D
        self.coef0 = self._start_coef()

    def band_sum(self, v: np.ndarray) -> np.ndarray:
        return np.add.reduceat(v, self.first, axis=0)

    def _start_coef(self) -> np.ndarray:
        """Each band's rate spread evenly over its latent ages (zero bands get a small floor)."""
        band_weight = self.band_sum(self.weight)
        rate = np.divide(self.y, band_weight, out=np.zeros_like(self.y), where=band_weight > 0)
        floor = max(self.ysum / max(self.weight.sum(), 1e-300), 1e-300) * 1e-3
        eta = np.log(np.maximum(rate[self.band_of], floor))
        return np.linalg.lstsq(self.X, eta, rcond=None)[0]

    def objective(self, coef: np.ndarray, lam: float):
        # An overshooting trial step can overflow; it is rejected (objective inf) and halved.
        # Means 1e100 times the data's total are overshoots too, and would overflow Q'WQ.
        with np.errstate(over="ignore", invalid="ignore"):
            gamma = self.weight * np.exp(self.X @ coef)
            mu = self.band_sum(gamma)
        # A band with a count but a mean that underflowed to 0 has likelihood 0, not a number.
        if (
            not np.all(np.isfinite(mu))
            or mu.max() > 1e100 * (self.ysum + 1.0)
            or np.any((mu < _TINY) & (self.y > 0))
        ):
            return gamma, mu, np.inf
        dev = _poisson_deviance(self.y, np.maximum(mu, _TINY))
        return gamma, mu, dev + lam * float(np.sum((self.D @ coef) ** 2))

    def _scoring_terms(self, gamma, mu):
        """Q = C diag(gamma) X (band x coef), W Q = Q / mu and Q'WQ.

        Q / mu is formed by division, not via 1 / mu: |Q| <= mu elementwise, so it stays below 1
        even when a zero band's mu has sunk to a subnormal number whose inverse overflows.
        """
        Q = self.band_sum(gamma[:, None] * self.X)
        WQ = np.divide(Q, mu[:, None], out=np.zeros_like(Q), where=mu[:, None] > 0)
        return Q, WQ, Q.T @ WQ

    def fit(self, lam: float, coef_start: np.ndarray, tol: float = _TOL,
            obj_tol: float = _OBJ_TOL, max_iter: int = _MAX_ITER) -> _Fit:
        """Penalised Poisson scoring for ``y ~ Poisson(C (weight * exp(X coef)))`` at one lambda.

        Converged when a full scoring step (no halving needed) moves no latent value by more than
        ``tol`` times the largest one, or lowers the penalised deviance by less than ``obj_tol``.
        Measuring against the largest value ignores ages that hold (almost) nothing, such as
        those under a zero band, whose ``eta`` creeps towards -inf for many iterations when
        lambda is small; the deviance test stops the slow crawl of a nearly unidentified shape
        once it no longer changes the fit. A halved step never counts as converged: it means the
        iteration is still far from the optimum, where small moves prove nothing.
        """
        P = lam * self.DtD
        slack = 1e-12 * (self.ysum + 1.0)
        coef = coef_start.copy()
        gamma, mu, obj = self.objective(coef, lam)
        converged = False
        it = 0
        for it in range(1, max_iter + 1):
            Q, WQ, R = self._scoring_terms(gamma, mu)
            # Fisher scoring uses Q'WQ for the curvature. The true Hessian of the composite link
            # adds sum over bands of (1 - y/mu) X' diag(gamma in band) X; where a band is fitted
            # above its count (always for a zero band) that term is positive and scoring alone
            # overshoots, so it is added there (a PD modified Newton step, same fixed point).
            excess = 1.0 - np.divide(self.y, mu, out=np.ones_like(mu), where=mu > self.y)
            H = R + P + self.X.T @ ((excess[self.band_of] * gamma)[:, None] * self.X)
            score = WQ.T @ (self.y - mu) - lam * (self.D.T @ (self.D @ coef))
            step = _solve_pd(H, score)
            if not np.all(np.isfinite(step)):
                break
            move = np.max(np.abs(self.X @ step) * gamma) / gamma.max()
            # Step halving keeps the penalised deviance falling; plain scoring can overshoot when
            # a band is zero (its latent values head for -inf) or the start is poor.
            for halvings in range(31):
                g_try, mu_try, obj_try = self.objective(coef + step, lam)
                if obj_try <= obj + slack * (1.0 + abs(obj)):
                    break
                step = step / 2
            else:  # no descent left at machine precision: stationary if the step was tiny
                converged = move <= np.sqrt(tol)
                break
            expanded = False
            if halvings == 0 and move > 0.1:
                # Far from the optimum where latent values must sink by orders of magnitude
                # (zero bands), a Newton step on exp() lowers eta by only about 1; doubling the
                # step while that keeps paying saves tens of iterations.
                for _ in range(6):
                    g2, mu2, obj2 = self.objective(coef + 2.0 * step, lam)
                    if not obj2 < obj_try:
                        break
                    step, g_try, mu_try, obj_try, expanded = 2.0 * step, g2, mu2, obj2, True
            coef = coef + step
            fall = obj - obj_try
            gamma, mu, obj = g_try, mu_try, obj_try
            if halvings == 0 and not expanded and (move <= tol or fall < obj_tol):
                converged = True
                break

        Q, _, R = self._scoring_terms(gamma, mu)
        # edf = trace((R + P)^-1 R) with R = Qs' Qs, Qs = Q / sqrt(mu): one column per band
        root = np.sqrt(mu)[:, None]
        Qs = np.divide(Q, root, out=np.zeros_like(Q), where=root > 0)
        edf = _trace_solve(R + P, Qs.T)
        return _Fit(coef, self.X @ coef, gamma, mu,
                    _poisson_deviance(self.y, np.maximum(mu, _TINY)), edf, converged, it)


def _criterion(fit: _Fit, n_bands: int, crit: str) -> float:
    penalty = 2.0 if crit == "aic" else np.log(n_bands)
    return fit.deviance + penalty * fit.edf


def _default_log10_lambdas(order: int) -> np.ndarray:
    # A higher-order penalty needs a larger lambda for the same smoothness (its eigenvalues on
    # slow trends are smaller), so the grid's top grows with the order: 8 for order 2, 12 for 4.
    return np.arange(-2.0, 4.0 + 2.0 * order + 1e-9, _GRID_STEP)


def _pclm_latent(
    y: np.ndarray,
    starts: np.ndarray,
    latent_ages: np.ndarray,
    weight: np.ndarray,
    *,
    crit: str,
    log10_lambdas: np.ndarray | None,
    order: int,
    n_obs: int | None = None,
) -> tuple[_Fit, float, float]:
    """Fit the PCLM on ``latent_ages`` and choose lambda; returns (fit, lambda, criterion).

    ``log10_lambdas`` None means the default grid followed by a golden-section refinement.
    """
    prob = _Problem(y, starts, latent_ages, weight, order)
    refine = log10_lambdas is None
    if refine:
        log10_lambdas = _default_log10_lambdas(order)

    n_obs = n_obs or prob.n_bands
    cache: dict[float, tuple[_Fit, float]] = {}
    warm = [prob.coef0]

    def search(log10_lam: float) -> float:
        """Criterion at one lambda; +inf if the scoring does not converge there (skipped)."""
        key = round(float(log10_lam), 10)
        if key not in cache:
            fit = prob.fit(10.0**key, warm[0], _SEARCH_TOL, _SEARCH_OBJ_TOL, _SEARCH_MAX_ITER)
            if fit.converged:
                warm[0] = fit.coef
            cache[key] = (fit, _criterion(fit, n_obs, crit) if fit.converged else np.inf)
        return cache[key][1]

    # From smooth to rough, each fit starting from the previous (smoother) one. Convergence gets
    # hard only at the rough end (tiny lambda, zero or one-year bands); once two lambdas in a row
    # fail, the rougher rest is skipped: the criterion is flat there anyway, the fit being exact.
    scores = np.full(log10_lambdas.size, np.inf)
    failures = 0
    for k in np.argsort(log10_lambdas)[::-1]:
        scores[k] = search(log10_lambdas[k])
        failures = failures + 1 if not np.isfinite(scores[k]) else 0
        if failures == 2 and np.isfinite(scores).any():
            break
    if np.isfinite(scores).any():
        best = int(np.argmin(scores))
    else:  # nothing converged in the search: take the smoothest and let the final fit work
        best = int(np.argmax(log10_lambdas))
    best_log = float(log10_lambdas[best])

    if refine and log10_lambdas.size >= 3 and np.isfinite(scores[best]):
        grid = np.sort(log10_lambdas)
        pos = int(np.searchsorted(grid, best_log))
        lo, hi = grid[max(pos - 1, 0)], grid[min(pos + 1, grid.size - 1)]
        best_log = _golden_section(search, lo, hi, best_log, scores[best])

    # The search compares criteria that a loose tolerance already gets right to ~1e-6; the
    # returned fit is iterated to the tight tolerance from the search's solution.
    lam = 10.0**best_log
    key = round(best_log, 10)
    start = cache[key][0].coef if key in cache and cache[key][0].converged else warm[0]
    fit = prob.fit(lam, start)
    if not fit.converged:  # a poor start; try the band-wise one
        retry = prob.fit(lam, prob.coef0)
        if retry.converged:
            fit = retry
    return fit, lam, _criterion(fit, n_obs, crit)


def _golden_section(f, lo: float, hi: float, x_best: float, f_best: float) -> float:
    """Minimise ``f`` on [lo, hi]; never return worse than the grid's best point."""
    invphi = (np.sqrt(5.0) - 1.0) / 2.0
    a, b = lo, hi
    c = b - invphi * (b - a)
    d = a + invphi * (b - a)
    fc, fd = f(c), f(d)
    while b - a > _GOLDEN_TOL:
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - invphi * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + invphi * (b - a)
            fd = f(d)
    x, fx = (c, fc) if fc < fd else (d, fd)
    return float(x) if fx < f_best else float(x_best)


def _exact_rates(y, starts, latent_ages, eta, weight) -> np.ndarray:
    """Latent rates ``exp(eta)`` rescaled per band so that ``sum(weight * rate)`` is ``y``.

    This is the fitted distribution times observed / fitted band total, computed relative to
    each band's largest ``eta`` so that a band whose fitted total underflows to 0 still gets its
    observed total (spread in the fitted shape) instead of nothing.
    """
    band_of = np.searchsorted(starts, latent_ages, side="right") - 1
    first = np.searchsorted(band_of, np.arange(starts.size))
    rel = np.exp(eta - np.maximum.reduceat(eta, first)[band_of])
    denom = np.add.reduceat(weight * rel, first)
    per_unit = np.divide(y, denom, out=np.zeros_like(y), where=denom > 0)
    return rel * per_unit[band_of]


# --------------------------------------------------------------------------- public API


def pclm(
    counts,
    band_starts,
    *,
    max_age: int = 100,
    open_band_width: int | None = None,
    criterion: str = "bic",
    lambdas=None,
    exposures=None,
    order: int = _COUNT_ORDER,
) -> PCLMResult:
    """Ungroup counts in age bands into single years of age with the PCLM.

    Parameters
    ----------
    counts : array_like (band,) [persons or events]
        Non-negative counts per band. Non-integers are allowed (expected values, weighted counts);
        the Poisson deviance that chooses the smoothing then treats them as counts, so the chosen
        smoothness depends on their scale as it does for real counts.
    band_starts : array_like of int (band,) [years]
        Strictly increasing lower bounds of the bands. Band ``i`` covers ages
        ``band_starts[i] .. band_starts[i+1] - 1``; the last band is open: from its start to
        ``max_age`` and over.
    max_age : int [years]
        Last age of the result; its cell holds everything at ``max_age`` and over. Must be at
        least the last band start.
    open_band_width : int or None [years]
        Number of single years the open band is spread over: its latent ages are
        ``band_starts[-1] .. band_starts[-1] + open_band_width - 1``, which must reach
        ``max_age``, and nobody is assumed to be older. Default: the latent grid runs to
        ``max(110, max_age + 10)``.
    criterion : {"bic", "aic"}
        Criterion that chooses lambda: ``BIC = deviance + log(n_bands) * edf`` (default) or
        ``AIC = deviance + 2 * edf``. With fewer than 8 bands log(n_bands) < 2, so BIC then
        smooths less than AIC.
    lambdas : float or array_like or None [-]
        Smoothing parameters to try. ``None`` (default): a grid search over
        ``log10(lambda) = -2, -1.5, ..., 4 + 2 * order`` (a higher order needs larger lambdas),
        from smooth to rough with each fit started from the previous one, followed by a
        golden-section search on ``log10(lambda)`` between the grid neighbours of the best grid
        point (to 0.02). Given values are searched as given, without refinement; a single value
        fixes lambda.
    exposures : array_like or None [person-years]
        Optional exposures making the fit one for rates: the latent mean is
        ``exp(eta(x)) * E(x)``. Either single-year (one per age ``band_starts[0] .. max_age``, the
        last being ``max_age`` and over) or one per band, in which case they are first ungrouped
        with :func:`pclm` (default settings) themselves. With exposures the latent grid stops at
        ``max_age`` (the exposure of the ages above is not known separately) and ``values`` are
        single-year counts (e.g. deaths); use :func:`pclm_rates` for the rates.
    order : int
        Order of the difference penalty on the spline coefficients of the latent
        log-distribution, 1-4. Default 4: see the module docstring for why not the usual 2.

    Returns
    -------
    PCLMResult
        ``values`` (age,) for ages ``band_starts[0] .. max_age``, the chosen ``lam``, the
        criterion value, the effective dimension ``edf`` and whether the scoring converged.
        If every count is zero, ``values`` are zeros and ``lam`` and ``criterion`` are NaN.

    Raises
    ------
    DataFormatError
        ``counts`` and ``band_starts`` differ in length, or are not 1-D numbers.
    InvalidValueError
        Negative, NaN or infinite counts; band starts not strictly increasing or not whole ages;
        ``max_age`` below the last band start; a bad ``open_band_width``, ``criterion``,
        ``lambdas``, ``order`` or ``exposures``.

    Notes
    -----
    Model: ``counts ~ Poisson(C gamma)``, ``gamma = E * exp(X b)`` on a latent single-year grid
    (``E = 1`` without exposures), ``X`` a cubic B-spline basis with equally spaced knots about
    3 years apart (at most 32 coefficients; the identity for grids under 24 years). ``b``
    maximises the Poisson log-likelihood minus ``lam/2 * |D b|^2``, ``D`` the difference matrix
    of ``order``, by the penalised scoring (IRLS) iteration of Rizzi, Gampe & Eilers (2015),
    with extra curvature for bands fitted above their count and a line search (see the module
    docstring). ``edf = trace((Q'WQ + lam D'D)^-1 Q'WQ)`` with ``Q = C diag(gamma) X`` and
    ``W = diag(1/mu)``.

    Without exposures the latent grid gets a pseudo-band of 10 years above its top with an
    observed count of zero (nobody is older than the top), which makes the tail of the open band
    come down instead of following the trend of the last closed bands. It enters the fit, not
    the result or the ``n_bands`` of BIC.

    Band totals: the PCLM's fitted band totals are close to, but not exactly, the observed ones.
    As is usual practice, the fitted single-year values are afterwards multiplied, band by band,
    by observed / fitted band total, so they sum to the input exactly (up to rounding); a band
    with a zero count gives zeros. The open band's latent ages at and above ``max_age`` are then
    added into the ``max_age`` cell.

    Examples
    --------
    The KWB bands of Assen, 1 January 2021:

    >>> res = pclm([10779, 8247, 15914, 19620, 14276], [0, 15, 25, 45, 65])
    >>> res.ages[[0, -1]].tolist()
    [0, 100]
    >>> round(float(res.values[:15].sum()), 6)
    10779.0
    """
    starts = _as_band_starts(band_starts)
    y = _as_counts(counts, starts.size)
    crit = _check_options(criterion, order)
    log10_lams = _as_log10_lambdas(lambdas)
    max_age = _check_max_age(max_age, starts)
    ages = np.arange(starts[0], max_age + 1)

    if exposures is None:
        latent_top = _latent_top(starts, max_age, open_band_width)
        latent_ages = np.arange(starts[0], latent_top + 1)
        weight = np.ones(latent_ages.size)
    else:
        if open_band_width is not None:
            raise InvalidValueError(
                "open_band_width cannot be combined with exposures: with exposures the latent "
                "grid ends at max_age (whose exposure covers max_age and over); drop one of them"
            )
        latent_ages = ages
        weight = _single_year_exposures(exposures, starts, max_age, crit=crit)
        _check_exposure_support(y, starts, latent_ages, weight)

    values, fit, lam, score = _ungroup(
        y, starts, latent_ages, weight, crit=crit, log10_lambdas=log10_lams,
        order=order, zero_tail=_ZERO_TAIL if exposures is None else 0,
    )
    return PCLMResult(
        values=_readonly(_collapse(values, latent_ages, max_age)),
        ages=_readonly(ages, np.int64),
        lam=lam,
        criterion=score,
        edf=fit.edf if fit is not None else 0.0,
        converged=fit.converged if fit is not None else True,
        criterion_name=crit,
        deviance=fit.deviance if fit is not None else 0.0,
        iterations=fit.iterations if fit is not None else 0,
        exposures=None if exposures is None else _readonly(weight),
    )


def pclm_rates(
    deaths,
    exposures,
    band_starts,
    *,
    max_age: int = 100,
    criterion: str = "bic",
    lambdas=None,
    order: int = _RATE_ORDER,
) -> PCLMResult:
    """Single-year rates ``m(x)`` from deaths and exposures in age bands (PCLM with offset).

    Parameters
    ----------
    deaths : array_like (band,) [deaths]
        Non-negative deaths (or other events) per band; the last band is open.
    exposures : array_like (age,) or (band,) [person-years]
        Either single-year exposures for ages ``band_starts[0] .. max_age`` (the last being
        ``max_age`` and over), or exposures per band. Band exposures are first ungrouped with
        :func:`pclm` (same criterion, default order for counts) and the result is used as the
        single-year exposures. If every band is one year wide the two readings coincide.
    band_starts : array_like of int (band,) [years]
        Strictly increasing lower bounds of the bands.
    max_age : int [years]
        Last age; ``m(max_age)`` is the rate of the open interval ``max_age`` and over.
    criterion : {"bic", "aic"}
        Criterion that chooses lambda, as in :func:`pclm`.
    lambdas : float or array_like or None [-]
        Smoothing parameters to try, as in :func:`pclm`.
    order : int
        Order of the difference penalty on the spline coefficients of ``log m(x)``, 1-4. The
        default 2 leaves log-linear (Gompertz) rates unpenalised.

    Returns
    -------
    PCLMResult
        ``values`` are the rates ``m(x)`` [deaths per person-year] for ages
        ``band_starts[0] .. max_age``; ``exposures`` holds the single-year exposures used.

    Notes
    -----
    The model is the PCLM with the exposures as offset: ``deaths ~ Poisson(C (E * m))`` with
    ``m = exp(eta)`` smooth on the single-year grid ``band_starts[0] .. max_age`` (which ends at
    the open cell ``max_age`` and over, because exposures are only known up to there). The
    fitted rates are rescaled band by band by observed / fitted deaths, so that
    ``sum over the band of m(x) * E(x)`` equals the observed deaths of every band exactly. A
    band with zero deaths gives zero rates; a band with deaths but no exposure is an error.
    There is no zero-count pseudo-band above the grid here: rates do not fall to zero.
    Lambda is chosen as in :func:`pclm`.
    """
    starts = _as_band_starts(band_starts)
    y = _as_counts(deaths, starts.size, name="deaths")
    crit = _check_options(criterion, order)
    log10_lams = _as_log10_lambdas(lambdas)
    max_age = _check_max_age(max_age, starts)
    ages = np.arange(starts[0], max_age + 1)
    weight = _single_year_exposures(exposures, starts, max_age, crit=crit)
    _check_exposure_support(y, starts, ages, weight)

    if y.sum() == 0:
        rates = np.zeros(ages.size)
        fit = None
        lam, score = float("nan"), float("nan")
    else:
        fit, lam, score = _pclm_latent(
            y, starts, ages, weight, crit=crit, log10_lambdas=log10_lams,
            order=order,
        )
        rates = _exact_rates(y, starts, ages, fit.eta, weight)
    return PCLMResult(
        values=_readonly(rates),
        ages=_readonly(ages, np.int64),
        lam=lam,
        criterion=score,
        edf=fit.edf if fit is not None else 0.0,
        converged=fit.converged if fit is not None else True,
        criterion_name=crit,
        deviance=fit.deviance if fit is not None else 0.0,
        iterations=fit.iterations if fit is not None else 0,
        exposures=_readonly(weight),
    )


def ungroup_bands(
    frame: pd.DataFrame,
    *,
    value: str = "persons",
    by: Sequence[str] | None = None,
    max_age: int = 100,
    **pclm_kwargs,
) -> pd.DataFrame:
    """Ungroup every group of a tidy band table into single years of age with :func:`pclm`.

    Parameters
    ----------
    frame : pandas.DataFrame (row,) [value unit]
        Tidy table with columns ``age_lo`` (int, lower bound in years), ``age_hi`` (exclusive
        upper bound, pandas nullable ``Int64``; ``<NA>`` for the open top band), the ``value``
        column and the grouping columns. Within each group the bands must be contiguous and the
        top one open; a closed top band (``age_hi`` given) is treated as holding everyone from
        ``age_lo`` on, nobody at ``age_hi`` or older, and must reach ``max_age``.
    value : str
        Name of the value column [persons].
    by : sequence of str or None
        Grouping columns, e.g. ``("area", "sex")``. ``None`` (default): every column other than
        ``age_lo``, ``age_hi`` and ``value``.
    max_age : int [years]
        Last age of the result; ``max_age`` means "``max_age`` and over".
    **pclm_kwargs
        Passed on to :func:`pclm` (``criterion``, ``lambdas``, ``order``).

    Returns
    -------
    pandas.DataFrame (row,) [value unit]
        Columns ``*by``, ``age`` (``age_lo`` of the first band .. ``max_age``) and ``value``;
        the single-year values of each group sum to its band totals exactly.

    Raises
    ------
    DataFormatError
        A missing column, bands that overlap or leave a gap, an open band that is not the top
        one, a closed top band below ``max_age``, or a non-integer ``age_lo``.
    InvalidValueError
        As :func:`pclm`, naming the group.
    """
    missing = [c for c in ("age_lo", "age_hi", value) if c not in frame.columns]
    if missing:
        raise DataFormatError(
            f"frame lacks column(s) {missing}; ungroup_bands needs 'age_lo', 'age_hi' (exclusive, "
            f"<NA> for the open band) and the value column {value!r} (pass value=... if it is "
            "named differently)"
        )
    if by is None:
        by = [c for c in frame.columns if c not in ("age_lo", "age_hi", value)]
    else:
        by = [by] if isinstance(by, str) else list(by)
        unknown = [c for c in by if c not in frame.columns]
        if unknown:
            raise DataFormatError(
                f"grouping column(s) {unknown} not in frame (columns: {list(frame.columns)}); "
                "pass by= with existing columns"
            )
    if "open_band_width" in pclm_kwargs or "exposures" in pclm_kwargs:
        raise InvalidValueError(
            "ungroup_bands takes the open band's width from age_hi and has no exposures; "
            "call pclm or pclm_rates directly for those"
        )

    pieces = []
    groups = frame.groupby(by, sort=False, dropna=False) if by else [((), frame)]
    for key, g in groups:
        key = key if isinstance(key, tuple) else (key,)
        label = ", ".join(f"{c}={k!r}" for c, k in zip(by, key)) or "the frame"
        starts, width = _bands_of_group(g, label)
        if width is not None and starts[-1] + width - 1 < max_age:
            raise DataFormatError(
                f"in group {label}: the top band {starts[-1]}-{starts[-1] + width} is closed and "
                f"ends below max_age = {max_age}; mark it open (age_hi <NA>) if it holds everyone "
                f"older, or pass max_age={starts[-1] + width - 1}"
            )
        g = g.sort_values("age_lo")
        try:
            res = pclm(
                g[value].to_numpy(dtype=float, na_value=np.nan),
                starts,
                max_age=max_age,
                open_band_width=width,
                **pclm_kwargs,
            )
        except (InvalidValueError, DataFormatError) as exc:
            raise type(exc)(f"in group {label}: {exc}") from exc
        piece = pd.DataFrame({"age": res.ages, value: res.values})
        for c, k in zip(by, key):
            piece.insert(len(piece.columns) - 2, c, k)
        pieces.append(piece)
    out = pd.concat(pieces, ignore_index=True)
    for c in by:  # keep categorical/nullable dtypes of the grouping columns
        out[c] = out[c].astype(frame[c].dtype)
    return out


# --------------------------------------------------------------------------- helpers


def _check_max_age(max_age, starts: np.ndarray) -> int:
    if not isinstance(max_age, (int, np.integer)) or isinstance(max_age, bool):
        raise InvalidValueError(f"max_age = {max_age!r} must be a whole age in years, e.g. 100")
    if max_age < starts[-1]:
        raise InvalidValueError(
            f"max_age = {max_age} is below the last band start {starts[-1]}; raise max_age to at "
            f"least {starts[-1]} or merge the bands above {max_age} into one open band"
        )
    return int(max_age)


def _latent_top(starts: np.ndarray, max_age: int, open_band_width) -> int:
    if open_band_width is None:
        return max(_LATENT_TOP, max_age + _MIN_TAIL)
    if (
        not isinstance(open_band_width, (int, np.integer))
        or isinstance(open_band_width, bool)
        or open_band_width < 1
    ):
        raise InvalidValueError(
            f"open_band_width = {open_band_width!r} must be a whole number of years >= 1"
        )
    top = int(starts[-1] + open_band_width - 1)
    if top < max_age:
        raise InvalidValueError(
            f"open_band_width = {open_band_width} spreads the open band from {starts[-1]} only to "
            f"age {top}, below max_age = {max_age}; widen it to at least "
            f"{max_age - starts[-1] + 1} or lower max_age to {top}"
        )
    return top


def _single_year_exposures(exposures, starts, max_age, *, crit) -> np.ndarray:
    n_ages = max_age - starts[0] + 1
    try:
        E = np.asarray(exposures, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataFormatError(f"exposures must be numeric, got {exposures!r}") from exc
    if E.ndim != 1 or E.size not in (n_ages, starts.size):
        raise DataFormatError(
            f"exposures has shape {E.shape}; pass one value per single-year age "
            f"{starts[0]}..{max_age} ({n_ages} values) or one per band ({starts.size} values)"
        )
    if E.size == n_ages:
        return _as_counts(E, n_ages, name="exposures")
    E = _as_counts(E, starts.size, name="exposures")
    return pclm(E, starts, max_age=max_age, criterion=crit).values.copy()


def _check_exposure_support(y, starts, ages, weight) -> None:
    C = _composition_matrix(starts, ages)
    band_E = C @ weight
    bad = (y > 0) & (band_E <= 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InvalidValueError(
            f"band starting at age {starts[i]} has {y[i]} events but zero exposure; "
            "a rate needs exposure, so check the exposures or merge the band with a neighbour"
        )


def _ungroup(y, starts, latent_ages, weight, *, crit, log10_lambdas, order, zero_tail=0):
    """Fit, choose lambda and rescale to the band totals on the latent grid.

    ``zero_tail`` > 0 adds a pseudo-band of that many latent ages above the grid with an observed
    count of zero: nobody is older than the top of the latent grid.
    """
    if y.sum() == 0:
        return np.zeros(latent_ages.size), None, float("nan"), float("nan")
    J = latent_ages.size
    if zero_tail > 0:
        top = int(latent_ages[-1])
        y_fit = np.append(y, 0.0)
        starts_fit = np.append(starts, top + 1)
        ages_fit = np.arange(latent_ages[0], top + zero_tail + 1)
        weight_fit = np.append(weight, np.ones(zero_tail))
    else:
        y_fit, starts_fit, ages_fit, weight_fit = y, starts, latent_ages, weight
    fit, lam, score = _pclm_latent(
        y_fit, starts_fit, ages_fit, weight_fit, crit=crit, log10_lambdas=log10_lambdas,
        order=order, n_obs=y.size,
    )
    values = weight * _exact_rates(y, starts, latent_ages, fit.eta[:J], weight)
    return values, fit, lam, score


def _collapse(latent_values: np.ndarray, latent_ages: np.ndarray, max_age: int) -> np.ndarray:
    """Add the latent ages at and above max_age into the max_age cell."""
    n = max_age - latent_ages[0] + 1
    out = latent_values[:n].copy()
    out[-1] += latent_values[n:].sum()
    return out


def _readonly(a: np.ndarray, dtype=float) -> np.ndarray:
    a = np.array(a, dtype=dtype)
    a.setflags(write=False)
    return a


def _bands_of_group(g: pd.DataFrame, label: str) -> tuple[np.ndarray, int | None]:
    """Lower bounds and open-band width of one group; checks contiguity and the open top."""
    lo_raw = g["age_lo"]
    if lo_raw.isna().any():
        raise DataFormatError(f"in group {label}: age_lo has missing values; every band needs one")
    lo = lo_raw.to_numpy(dtype=float)
    if (lo != np.round(lo)).any():
        raise DataFormatError(f"in group {label}: age_lo must be whole ages, got {lo.tolist()}")
    order = np.argsort(lo, kind="stable")
    lo = lo[order].astype(np.int64)
    hi = pd.array(g["age_hi"], dtype="Int64")[order]
    if len(np.unique(lo)) != lo.size:
        raise DataFormatError(
            f"in group {label}: age_lo {lo.tolist()} repeats a band; add the column that tells "
            "them apart to by= or aggregate first"
        )
    is_open = np.asarray(hi.isna())
    if is_open[:-1].any():
        i = int(np.flatnonzero(is_open[:-1])[0])
        raise DataFormatError(
            f"in group {label}: the band starting at {lo[i]} is open (age_hi <NA>) but is not the "
            "top band; only the highest band may be open"
        )
    hi_closed = np.asarray(hi[:-1], dtype=np.int64) if lo.size > 1 else np.array([], np.int64)
    gaps = hi_closed != lo[1:]
    if gaps.any():
        i = int(np.flatnonzero(gaps)[0])
        raise DataFormatError(
            f"in group {label}: band {lo[i]}-{hi_closed[i]} (age_hi exclusive) is followed by a "
            f"band starting at {lo[i + 1]}; bands must be contiguous (age_hi = next age_lo)"
        )
    if is_open[-1]:
        return lo, None
    top_hi = int(hi[-1])
    if top_hi <= lo[-1]:
        raise DataFormatError(
            f"in group {label}: top band {lo[-1]}-{top_hi} has age_hi <= age_lo; "
            "age_hi is the exclusive upper bound"
        )
    return lo, top_hi - lo[-1]
