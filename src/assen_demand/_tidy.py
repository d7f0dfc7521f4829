"""DataArray/Dataset -> tidy long pandas table, shared by the to_frame helpers."""

from __future__ import annotations

import pandas as pd
import xarray as xr


def tidy(obj: xr.DataArray | xr.Dataset, *, value_name: str = "value") -> pd.DataFrame:
    """One row per coordinate combination, one column per dimension and per variable."""
    if isinstance(obj, xr.DataArray):
        obj = obj.to_dataset(name=obj.name or value_name)
    frame = obj.to_dataframe().reset_index()
    # Scalar coordinates (left over from .sel) are not dimensions of the result.
    extra = [c for c in obj.coords if c not in obj.dims and c in frame.columns]
    return frame.drop(columns=extra)
