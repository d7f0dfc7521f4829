"""One year of ageing: the survival convention shared by the base population and the components.

Convention. ``survival[..., sex, x]`` is the probability that a person aged ``x`` on 1 January of
year t is alive on 1 January of year t + 1, when aged ``x + 1`` (a cohort survival over one year,
indexed by the age at the start of the year). Survivors move up one age; the open age group
(:data:`~assen_demand.datamodel.MAX_AGE`, 100 and over) keeps its own survivors and receives those
of age 99: ``aged[100] = pop[99] * s[99] + pop[100] * s[100]``, in that order. Age 0 on 1 January
t + 1 (the births of year t) is left at zero for the caller, who knows the births.

Three places age a population by a year and differ only in where ``survival`` comes from:

* :mod:`~assen_demand.demography.base` (estimating a base year forward from an older KWB year):
  ``exp(-f * m(x))`` with national single-year rates scaled by the gemeente's observed deaths;
* :mod:`~assen_demand.demography.components` (the residual method of net migration): the life
  table's survival ratios;
* the projection engine (:mod:`~assen_demand.demography.projection`) applies the same convention
  with the same operations in the same order, but fused with migration in place on contiguous
  blocks (its hot loop), so it does not call this function (``tests/test_projection.py`` checks
  the engine against a plain reference step of this form).
"""

from __future__ import annotations

import numpy as np

__all__ = ["age_one_year"]


def age_one_year(population: np.ndarray, survival: np.ndarray) -> np.ndarray:
    """Survivors of one year, moved up one age, with the open age group kept; age 0 left at 0.

    Parameters
    ----------
    population : numpy.ndarray (area, sex, age) [persons]
        On 1 January of year t; age 0..MAX_AGE on the last axis.
    survival : numpy.ndarray (sex, age) [probability]
        One-year survival by age at the start of the year (see the module docstring).

    Returns
    -------
    numpy.ndarray (area, sex, age) [persons]
        Survivors on 1 January of year t + 1; age 0 is 0.

    Examples
    --------
    >>> pop = np.array([[[10.0, 20.0, 30.0]]])          # one area, one sex, ages 0, 1, 2+
    >>> age_one_year(pop, np.array([[0.9, 0.8, 0.5]])).tolist()
    [[[0.0, 9.0, 31.0]]]
    """
    aged = np.zeros_like(population)
    aged[..., 1:] = population[..., :-1] * survival[None, :, :-1]
    aged[..., -1] += population[..., -1] * survival[None, :, -1]
    return aged
