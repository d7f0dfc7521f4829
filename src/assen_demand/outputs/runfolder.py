"""Atomic, owned output folders: a run never loses or mixes results.

A run writes into a staging folder beside ``--out`` (same file system, so moving is a rename)
and moves it into place only when every file is written. The files a run wrote are listed with
their SHA-256 in ``provenance.json`` under ``"manifest"``; that list is what a later run may
replace. The rules, from the user guide and issues 16 and 19:

* ``--out`` missing or empty: the staging folder is renamed into place;
* ``--out`` holds only an earlier run's manifest-listed files (and ``provenance.json``): they
  are replaced safely without ``--force`` (the old folder is moved aside, the new one renamed
  in, the old one deleted) -- rerunning the README command works;
* ``--out`` holds other files: refused, unless ``--force``; then only manifest-listed files are
  replaced, one atomic rename each, links are never followed out of the folder (a symlink
  where a file or ``figures/`` should be is removed as a link, its target left alone), and
  every other file stays;
* a lock file beside ``--out`` refuses a second run into the same folder, naming the first
  (pid, start time, command); a lock left by a killed run (its pid is gone) is taken over;
* SIGINT/SIGTERM during the move are held until the move is done; before it, the staging
  folder is removed and the old results are untouched.

The checks run when the context is entered, before anything is computed, so an unwritable
``--out`` is found in a second, not after the whole forecast. The messages are Dutch and name the
CLI flags: this module is the CLI's output folder, and the planner reads them (issue 19).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

from assen_demand.errors import OutputError

__all__ = ["PROVENANCE", "MANIFEST_KEY", "atomic_output", "write_manifest", "read_manifest", "lock_path",
           "atomic_write_file", "file_sha256"]

PROVENANCE = "provenance.json"
MANIFEST_KEY = "manifest"
_STAGING = ".{name}.staging-{pid}-"
_LOCK = ".{name}.lock"


def lock_path(out: Path) -> Path:
    """The lock file of an output folder: beside it, so it survives the folder being swapped."""
    out = Path(out)
    return out.parent / _LOCK.format(name=out.name)


def file_sha256(path) -> str:
    """SHA-256 (hex) of a file, read in blocks of 1 MiB (the manifest's and the figure fingerprints' checksum)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------
# manifest
# --------------------------------------------------------------------------------------------


def write_manifest(folder) -> list[dict]:
    """Add the list of every file in ``folder`` (except ``provenance.json`` itself) to its provenance.

    Parameters
    ----------
    folder : path
        A finished staging folder holding ``provenance.json``.

    Returns
    -------
    list of dict
        ``{"path": relative POSIX path, "sha256": ..., "bytes": ...}``, sorted by path.
    """
    folder = Path(folder)
    entries = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()):
        rel = path.relative_to(folder).as_posix()
        if rel == PROVENANCE:
            continue
        entries.append({"path": rel, "sha256": file_sha256(path), "bytes": path.stat().st_size})
    record_path = folder / PROVENANCE
    record = json.loads(record_path.read_text(encoding="utf-8")) if record_path.is_file() else {}
    record[MANIFEST_KEY] = entries
    record_path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return entries


def read_manifest(folder) -> list[str] | None:
    """Relative paths an earlier run listed in ``folder/provenance.json``; None without a manifest."""
    record_path = Path(folder) / PROVENANCE
    if not record_path.is_file() or record_path.is_symlink():
        return None
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    entries = record.get(MANIFEST_KEY) if isinstance(record, dict) else None
    if not isinstance(entries, list):
        return None
    paths = [e.get("path") for e in entries if isinstance(e, dict)]
    # a manifest can only name paths inside the folder
    return [p for p in paths if isinstance(p, str) and p and not Path(p).is_absolute() and ".." not in Path(p).parts]


def _contents(out: Path) -> list[str]:
    """Relative paths of every file, link and empty folder in ``out`` (links not followed)."""
    found = []
    for root, dirs, names in os.walk(out, followlinks=False):
        base = Path(root)
        for d in list(dirs):
            if (base / d).is_symlink():
                found.append((base / d).relative_to(out).as_posix())
        for name in names:
            found.append((base / name).relative_to(out).as_posix())
    return found


def _foreign(out: Path) -> list[str]:
    """Entries of ``out`` that no earlier run's manifest lists (all of them without a manifest)."""
    owned = set(read_manifest(out) or [])
    if owned:
        owned.add(PROVENANCE)
    return [p for p in _contents(out) if p not in owned]


# --------------------------------------------------------------------------------------------
# lock
# --------------------------------------------------------------------------------------------


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        return True
    return True


def _acquire_lock(out: Path, command: str | None) -> Path:
    path = lock_path(out)
    info = {"pid": os.getpid(), "started": _dt.datetime.now().replace(microsecond=0).isoformat(sep=" "),
            "command": command or ""}
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                other = json.loads(path.read_text(encoding="utf-8"))
                pid = int(other["pid"])
            except (OSError, ValueError, KeyError, TypeError):
                other, pid = {}, -1
            if pid > 0 and _alive(pid):
                raise OutputError(
                    f"een andere run schrijft naar {out} (pid {pid}, gestart {other.get('started', '?')}); wacht tot "
                    f"die klaar is of kies een andere --out (bestaat die run niet meer, verwijder dan {path})"
                ) from None
            path.unlink(missing_ok=True)  # left by a killed run: take it over
            continue
        except OSError as exc:
            raise OutputError(f"kan niet schrijven naast --out {out} ({exc.strerror}); kies een map waarin u mag "
                              "schrijven") from None
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(info, handle)
        return path
    raise OutputError(f"kan het slot {path} niet nemen; verwijder het als geen run naar {out} schrijft")


def _remove_stale_staging(out: Path) -> None:
    prefix = f".{out.name}.staging-"
    for old in out.parent.glob(prefix + "*"):
        pid = old.name[len(prefix):].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)) and old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# signals during the move
# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT/SIGTERM until the block is done, then deliver them (main thread only)."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s in previous:
        signal.signal(s, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        for s in received[:1]:
            signal.raise_signal(s)


# --------------------------------------------------------------------------------------------
# the context manager
# --------------------------------------------------------------------------------------------


def _check_target(out: Path, force: bool) -> None:
    if out.is_symlink():
        raise OutputError(f"--out {out} is een symbolische koppeling; geef de echte map (koppelingen worden nooit "
                          "gevolgd)")
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} is een bestand; geef een map")
    if out.is_dir() and not force:
        foreign = sorted(_foreign(out))  # sorted: the same message on every file system
        if foreign:
            shown = ", ".join(foreign[:3]) + (f" en nog {len(foreign) - 3}" if len(foreign) > 3 else "")
            raise OutputError(
                f"uitvoermap {out} bevat bestanden die geen eerdere run schreef ({shown}); kies een andere --out of "
                "voeg --force toe (vervangt alleen de bestanden die een run in provenance.json noemt, de rest blijft)"
            )


@contextlib.contextmanager
def atomic_output(out, *, force: bool = False, command: str | None = None) -> Iterator[Path]:
    """Write a run into a staging folder and move it into ``out`` when the block ends without error.

    Parameters
    ----------
    out : path
        The output folder (created with its parents if missing).
    force : bool
        Replace an earlier run's files in a folder that also holds other files (those stay).
    command : str, optional
        The command line, recorded in the lock file for a second run's message.

    Yields
    ------
    pathlib.Path
        The staging folder: write every file there, ``provenance.json`` included; the manifest
        is added on leaving the block.

    Raises
    ------
    OutputError
        ``out`` is a file or a link, holds files of no run (without ``force``), is locked by a
        running run, or cannot be written.
    """
    out = Path(out).absolute()
    _check_target(out, force)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"kan de map {out.parent} voor --out niet maken ({exc.strerror}); "
                          "kies een map waarin u mag schrijven") from None
    lock = _acquire_lock(out, command)
    staging = None
    try:
        _remove_stale_staging(out)
        try:
            staging = Path(tempfile.mkdtemp(prefix=_STAGING.format(name=out.name, pid=os.getpid()), dir=out.parent))
        except OSError as exc:
            raise OutputError(f"kan niet schrijven in {out.parent} ({exc.strerror}); kies een --out waarin u mag "
                              "schrijven") from None
        yield staging
        write_manifest(staging)
        _check_target(out, force)  # the folder may have changed while the run computed
        with _signals_held():
            _move_into_place(staging, out)
    finally:
        if staging is not None and staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
        lock.unlink(missing_ok=True)


def _move_into_place(staging: Path, out: Path) -> None:
    if not out.exists():
        os.rename(staging, out)
        return
    if not _contents(out):
        shutil.rmtree(out)  # only empty folders
        os.rename(staging, out)
        return
    if not _foreign(out):
        # only an earlier run's files: swap whole folders, then drop the old one
        aside = Path(tempfile.mkdtemp(prefix=f".{out.name}.previous-", dir=out.parent))
        aside.rmdir()
        os.rename(out, aside)
        os.rename(staging, out)
        shutil.rmtree(aside, ignore_errors=True)
        return
    _replace_owned_files(staging, out)


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def _real_dir(folder: Path, root: Path) -> None:
    """Make ``folder`` (inside ``root``) a real directory: a link there is removed, not followed."""
    rel = folder.relative_to(root)
    current = root
    for part in rel.parts:
        current = current / part
        if current.is_symlink() or (current.exists() and not current.is_dir()):
            current.unlink()  # the link itself (or a file where a folder belongs); its target stays
        current.mkdir(exist_ok=True)


def _replace_owned_files(staging: Path, out: Path) -> None:
    """--force into a folder with other files: replace the listed files one rename at a time."""
    old_owned = set(read_manifest(out) or [])
    new_files = [p.relative_to(staging) for p in sorted(staging.rglob("*")) if p.is_file()]
    new_names = {p.as_posix() for p in new_files}
    # provenance.json last: the folder reads as finished only when every other file is in place
    for rel in sorted(new_files, key=lambda p: p.as_posix() == PROVENANCE):
        target = out / rel
        _real_dir(target.parent, out)
        if target.is_symlink():
            target.unlink()
        os.replace(staging / rel, target)
    for rel in sorted(old_owned - new_names):
        target = out / rel
        if target.is_symlink() or (target.is_file() and _inside(target, out)):
            target.unlink()


def atomic_write_file(path, write, *, force: bool = False, flag: str = "--out") -> Path:
    """Write one file by ``write(temporary_path)`` and rename it over ``path`` when done.

    Parameters
    ----------
    path : path
        The file to write.
    write : callable
        ``write(tmp)`` writes the content to ``tmp`` (same folder and suffix as ``path``).
    force : bool
        Replace an existing file (default: refuse).
    flag : str
        The CLI flag that named the path, for messages.

    Returns
    -------
    pathlib.Path
    """
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{flag} {path} is een map; geef een bestandsnaam")
    if path.exists() and not force:
        raise OutputError(f"{flag} {path} bestaat al; kies een andere naam of voeg --force toe om het te vervangen")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    except OSError as exc:
        raise OutputError(f"kan {flag} {path} niet schrijven ({exc.strerror}); kies een map waarin u mag "
                          "schrijven") from None
    os.close(fd)
    try:
        write(Path(tmp))
        with _signals_held():
            os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path
