"""The package's own exceptions.

Every error a user can trigger with bad input is one of these, so a caller can catch
``AssenDemandError`` and still use the built-in ``ValueError``/``KeyError`` semantics.
Messages name the bad item and say what would fix it.
"""

from __future__ import annotations

__all__ = [
    "AssenDemandError",
    "DataFormatError",
    "InvalidValueError",
    "UnknownAreaError",
    "MissingDataError",
    "ScenarioError",
    "ArgumentError",
    "OutputError",
]


class AssenDemandError(Exception):
    """Base class of every error raised on purpose by assen_demand."""


class DataFormatError(AssenDemandError, ValueError):
    """A file or table has the wrong shape: missing columns, non-numeric counts, unknown labels."""


class InvalidValueError(AssenDemandError, ValueError):
    """Values are out of range: negative counts, NaN, rates above 1, inconsistent margins."""


class _PlainKeyError(AssenDemandError, KeyError):
    # KeyError.__str__ wraps the message in quotes; users should read the plain sentence.
    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class UnknownAreaError(_PlainKeyError):
    """A gemeente, wijk or buurt code or name that the data do not contain."""


class MissingDataError(_PlainKeyError):
    """A year, file or table that the requested computation needs is not in the data directory."""


class ScenarioError(AssenDemandError, ValueError):
    """A scenario file with an unknown key or a value of the wrong type."""


class ArgumentError(AssenDemandError, TypeError):
    """A public function called with a value of the wrong type or a keyword it does not take."""


class OutputError(AssenDemandError, OSError):
    """An output folder or file that cannot or must not be written (locked, foreign files, no permission)."""
