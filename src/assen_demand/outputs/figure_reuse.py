"""Figures of an earlier run reused where a fingerprint proves that nothing they show changed (issue 20).

Drawing the 23 figures of an Assen run is most of the time of writing its products. A planner who
reruns with a new supply file or building programme changes the need and opgave charts but not the
population pyramids; a rerun with the same inputs changes none. Issue 20 allows skipping a figure
"only if the manifest proves it". The proof here:

* A figure is a deterministic function of the code, the libraries that draw it, the style
  (``rcParams``), its job (kind, argument, file name, dpi) and the fields of the forecast it reads.
* The fields it read are recorded while it is drawn (:func:`recording`): the forecast is handed
  to the plotting code as an instance of a subclass that notes every dataclass field read, also
  through methods and properties. A nested object counts as a whole: a figure that reads
  ``result.projection.area_names`` is tied to all of ``projection``.
* The fingerprint is a SHA-256 over all of these (:func:`job_fingerprint`): the content of every
  field read (:func:`content_digest`: values, labels and attributes; never ``pickle`` or
  ``hash()``, which differ between processes), the source of every module of the package, the
  versions of matplotlib, numpy and zlib, the style and the job.
* ``figures/fingerprints.json`` keeps, per PNG file, the fields read, the fingerprint and the
  file's SHA-256. A later run recomputes the fingerprint from its own forecast over the same
  fields; where it is equal and the earlier file still has its recorded SHA-256, the file is
  copied instead of drawn. Same content, same code path: the same fields are read, so the
  recorded list is the right one.
* What cannot be fingerprinted (an object of a type :func:`content_digest` does not know) gets
  no fingerprint and is always drawn. So is everything when the earlier folder has no
  ``fingerprints.json`` or it cannot be read.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import shutil
import struct
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from assen_demand.outputs.runfolder import file_sha256

__all__ = ["FINGERPRINTS", "NotFingerprintable", "content_digest", "code_digest", "recording", "fields_read",
           "job_fingerprint", "read_fingerprints", "write_fingerprints", "reuse_figure"]

#: The fingerprint file, in the figures folder
FINGERPRINTS = "fingerprints.json"
_FORMAT = 1


class NotFingerprintable(TypeError):
    """An object whose content :func:`content_digest` cannot state: the figure is drawn, not reused."""


def content_digest(obj) -> str:
    """SHA-256 (hex) of the content of ``obj``: equal for equal content, in any process.

    Knows numpy arrays and scalars, xarray DataArray and Dataset (values, dims, coordinates, name,
    attributes), pandas DataFrame, Series and Index (values, labels, dtypes), dataclasses (their
    fields), mappings, sequences, sets, plain scalars, dates and pandas' missing values. Floats are compared by their bytes, so
    NaN equals NaN and 0.0 differs from -0.0.

    Raises
    ------
    NotFingerprintable
        For any other type (a figure reading it is always drawn).
    """
    digest = hashlib.sha256()
    _feed(digest, obj, depth=0)
    return digest.hexdigest()


def _feed(digest, obj, depth: int) -> None:
    if depth > 50:
        raise NotFingerprintable("nested too deep to fingerprint")
    put = digest.update
    if obj is None or isinstance(obj, (bool, int, float, complex, str, bytes, np.generic)):
        if isinstance(obj, np.generic):
            put(b"np:" + obj.dtype.str.encode() + b":" + obj.tobytes())
        elif isinstance(obj, float):
            put(b"f:" + struct.pack("<d", obj))
        else:
            put(f"{type(obj).__name__}:{obj!r}".encode())
        return
    if isinstance(obj, np.ndarray):
        put(f"nd:{obj.dtype.str}:{obj.shape}".encode())
        if obj.dtype.hasobject:
            for item in obj.ravel():
                _feed(digest, item, depth + 1)
        else:
            put(np.ascontiguousarray(obj).tobytes())
        return
    if isinstance(obj, xr.DataArray):
        put(b"DataArray")
        _feed(digest, obj.name, depth + 1)
        _feed(digest, obj.variable, depth + 1)
        _feed(digest, {str(k): obj.coords[k].variable for k in obj.coords}, depth + 1)
        return
    if isinstance(obj, xr.Dataset):
        put(b"Dataset")
        _feed(digest, {str(k): obj[k].variable for k in obj.data_vars}, depth + 1)
        _feed(digest, {str(k): obj.coords[k].variable for k in obj.coords}, depth + 1)
        _feed(digest, obj.attrs, depth + 1)
        return
    if isinstance(obj, xr.Variable):
        put(b"Variable")
        _feed(digest, tuple(obj.dims), depth + 1)
        _feed(digest, obj.values, depth + 1)
        _feed(digest, obj.attrs, depth + 1)
        return
    if isinstance(obj, (pd.DataFrame, pd.Series)):
        frame = obj.to_frame() if isinstance(obj, pd.Series) else obj
        put(f"pd:{type(obj).__name__}".encode())
        _feed(digest, [str(c) for c in frame.columns], depth + 1)
        _feed(digest, [str(t) for t in frame.dtypes], depth + 1)
        _feed(digest, frame.index, depth + 1)
        for column in range(frame.shape[1]):
            _feed(digest, frame.iloc[:, column].to_numpy(), depth + 1)
        _feed(digest, dict(obj.attrs), depth + 1)
        return
    if isinstance(obj, pd.Index):
        put(f"index:{obj.dtype}:{obj.names}".encode())
        _feed(digest, obj.to_numpy(), depth + 1)
        return
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        put(f"dc:{type(obj).__module__}.{type(obj).__qualname__}".encode())
        for f in dataclasses.fields(obj):
            put(f.name.encode())
            _feed(digest, getattr(obj, f.name), depth + 1)
        return
    if isinstance(obj, Mapping):
        put(f"dict:{len(obj)}".encode())
        for key in sorted(obj, key=repr):
            _feed(digest, key, depth + 1)
            _feed(digest, obj[key], depth + 1)
        return
    if isinstance(obj, (list, tuple)):
        put(f"{type(obj).__name__}:{len(obj)}".encode())
        for item in obj:
            _feed(digest, item, depth + 1)
        return
    if isinstance(obj, (set, frozenset)):
        put(f"set:{len(obj)}".encode())
        for item in sorted(obj, key=repr):
            _feed(digest, item, depth + 1)
        return
    if isinstance(obj, Path):
        put(f"path:{obj}".encode())
        return
    if obj is pd.NA or obj is pd.NaT:
        put(f"missing:{obj!r}".encode())
        return
    if isinstance(obj, (_dt.date, _dt.time, _dt.timedelta, pd.Timestamp, pd.Timedelta)):
        put(f"{type(obj).__name__}:{obj.isoformat() if hasattr(obj, 'isoformat') else obj!r}".encode())
        return
    raise NotFingerprintable(f"cannot fingerprint an object of type {type(obj).__module__}.{type(obj).__qualname__}")


@lru_cache(maxsize=1)
def code_digest() -> str:
    """SHA-256 of what draws a figure besides its data: every module of the package (any change of
    code redraws every figure) and the versions of matplotlib, numpy and zlib."""
    import zlib

    import matplotlib  # import here: matplotlib (1.7 s) only to draw

    digest = hashlib.sha256()
    root = Path(__file__).resolve().parents[1]  # the assen_demand package
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(f"matplotlib {matplotlib.__version__} numpy {np.__version__} zlib {zlib.ZLIB_RUNTIME_VERSION}"
                  .encode())
    return digest.hexdigest()


_RECORDING_CLASSES: dict[type, type] = {}


def recording(result):
    """``result`` (a dataclass instance) as an instance of a subclass that notes each field read.

    The copy shares every field with ``result``; :func:`fields_read` gives the names read so far.
    It is an instance of ``type(result)``, so the plotting code sees no difference.
    """
    cls = type(result)
    if not dataclasses.is_dataclass(cls):
        raise NotFingerprintable(f"only a dataclass instance can be recorded (got {cls.__qualname__})")
    sub = _RECORDING_CLASSES.get(cls)
    if sub is None:
        names = frozenset(f.name for f in dataclasses.fields(cls))

        def __getattribute__(self, name, _names=names):
            if name in _names:
                try:
                    object.__getattribute__(self, "_fields_read").add(name)
                except AttributeError:  # a copy made by dataclasses.replace: its reads were recorded on self
                    pass
            return object.__getattribute__(self, name)

        sub = type(cls.__name__, (cls,), {"__getattribute__": __getattribute__, "__module__": cls.__module__,
                                          "__qualname__": cls.__qualname__})
        _RECORDING_CLASSES[cls] = sub
    copy = object.__new__(sub)
    for f in dataclasses.fields(cls):
        object.__setattr__(copy, f.name, getattr(result, f.name))
    object.__setattr__(copy, "_fields_read", set())
    return copy


def fields_read(recorded) -> list[str]:
    """Sorted names of the fields read from an instance made by :func:`recording`."""
    return sorted(object.__getattribute__(recorded, "_fields_read"))


def job_fingerprint(result, fields, job: tuple, dpi: int, style: dict, field_digests: dict | None = None) -> str | None:
    """The fingerprint of one figure job, or None when something it depends on cannot be fingerprinted.

    Parameters
    ----------
    result : Forecast
    fields : sequence of str
        The fields of ``result`` the figure reads.
    job : tuple
        ``(kind, argument, path)`` of :func:`assen_demand.outputs.plots._figure_jobs`; only the
        file name of ``path`` counts (the folder differs from run to run).
    dpi : int
    style : dict
        The ``rcParams`` the figure is drawn with.
    field_digests : dict, optional
        Digests of fields already computed (name -> digest), filled here: one digest per field
        for all figures of a run.
    """
    kind, argument, path = job
    cache = {} if field_digests is None else field_digests
    try:
        parts = [f"format {_FORMAT}", code_digest(), kind, content_digest(argument), Path(path).name, str(int(dpi)),
                 hashlib.sha256(repr(sorted((k, repr(v)) for k, v in style.items())).encode()).hexdigest()]
        for name in sorted(fields):
            if name not in cache:
                cache[name] = content_digest(getattr(result, name))
            parts.append(f"{name}={cache[name]}")
    except (NotFingerprintable, AttributeError):
        return None
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def read_fingerprints(folder) -> dict:
    """The entries of ``folder/fingerprints.json`` by job key; empty when missing or unreadable."""
    path = Path(folder) / FINGERPRINTS
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(record, dict) or record.get("format") != _FORMAT or not isinstance(record.get("figures"), dict):
        return {}
    return record["figures"]


def write_fingerprints(folder, entries: dict) -> Path:
    """Write ``fingerprints.json``: per job key the fields read, the fingerprint and the files' SHA-256."""
    path = Path(folder) / FINGERPRINTS
    record = {"format": _FORMAT,
              "about": "per figure: the forecast fields it read, a SHA-256 over their content, the code and the "
                       "style (fingerprint), and the SHA-256 of each PNG written; a later run copies a figure whose "
                       "fingerprint and file are unchanged instead of drawing it (assen_demand.outputs.figure_reuse)",
              "figures": {key: entries[key] for key in sorted(entries)}}
    path.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def reuse_figure(entry: dict | None, fingerprint: str | None, previous: Path, folder: Path) -> list[Path] | None:
    """Copy the files of an earlier figure into ``folder`` when the proof holds; else None.

    The proof: the earlier entry's fingerprint equals ``fingerprint`` (computed now over the
    fields the entry lists) and every file it wrote is in ``previous`` with its recorded SHA-256.
    """
    if not entry or fingerprint is None or entry.get("fingerprint") != fingerprint:
        return None
    files = entry.get("files")
    if not isinstance(files, dict) or not files:
        return None
    sources = []
    for name, sha in files.items():
        source = previous / name
        if Path(name).name != name or not source.is_file() or source.is_symlink() or file_sha256(source) != sha:
            return None
        sources.append(source)
    out = []
    for source in sources:
        target = folder / source.name
        if source.resolve() != target.resolve():
            shutil.copyfile(source, target)
        out.append(target)
    return out
