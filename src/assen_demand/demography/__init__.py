"""Demography: ungrouping (PCLM), base population, components of change and the projection engine."""
