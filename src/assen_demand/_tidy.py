"""Kept only so branches written against it still import: ``tidy`` lives in :mod:`assen_demand.datamodel`."""

from assen_demand.datamodel import tidy  # noqa: F401
