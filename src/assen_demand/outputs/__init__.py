"""Outputs: tidy tables, the workbook and provenance, charts, and the annual monitoring report."""
