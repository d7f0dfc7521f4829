"""Kept only so branches written against it still import: the checks live in :mod:`assen_demand.datamodel`."""

from assen_demand.datamodel import POPULATION_DIMS, check_population, check_share  # noqa: F401
