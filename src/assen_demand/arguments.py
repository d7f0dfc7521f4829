"""Argument checks of the public API: the package's own error for a wrong type or an unknown keyword.

Python would answer ``forecast(end_year="2040")`` with a comparison TypeError deep in the engine,
and an unknown keyword with a TypeError about a function the caller never called. These checks
run first and name the argument, what it got and what it takes.
"""

from __future__ import annotations

import difflib
import inspect
import numbers
from collections.abc import Callable, Iterable, Mapping

from assen_demand.errors import ArgumentError

__all__ = ["check_whole_numbers", "check_keywords"]


def check_whole_numbers(function: str, values: Mapping[str, object], *, optional: Iterable[str] = ()) -> None:
    """Raise :class:`ArgumentError` unless every value is an int (numpy ints too; not bool, not str).

    Parameters
    ----------
    function : str
        Name of the public function, for the message.
    values : mapping of str -> object
        Argument name -> value given.
    optional : iterable of str
        Arguments that may also be None.

    Examples
    --------
    >>> check_whole_numbers("forecast", {"end_year": 2040})
    >>> check_whole_numbers("forecast", {"end_year": "2040"})
    Traceback (most recent call last):
    ...
    assen_demand.errors.ArgumentError: forecast(): end_year must be a whole number (int), got the str '2040'; pass end_year=2040 (no quotes)
    """
    optional = set(optional)
    for name, value in values.items():
        if value is None and name in optional:
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            hint = f"; pass {name}={value.strip()} (no quotes)" if isinstance(value, str) and value.strip().isdigit() else ""
            raise ArgumentError(
                f"{function}(): {name} must be a whole number (int), got the {type(value).__name__} "
                f"{value!r}{hint}"
            )


def check_keywords(function: str, given: Mapping[str, object], *targets: Callable) -> None:
    """Raise :class:`ArgumentError` for a keyword that neither ``function`` nor ``targets`` accept.

    Parameters
    ----------
    function : str
        Name of the public function the user called.
    given : mapping
        The ``**options`` passed on to ``targets``.
    *targets : callable
        The public function itself and the functions its ``**options`` are passed to.
    """
    accepted: set[str] = set()
    for target in targets:
        accepted |= {n for n, p in inspect.signature(target).parameters.items()
                     if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}
    unknown = [k for k in given if k not in accepted]
    if unknown:
        close = difflib.get_close_matches(unknown[0], sorted(accepted), n=1)
        hint = f"did you mean {close[0]}=?" if close else f"accepted: {', '.join(sorted(accepted))}"
        raise ArgumentError(f"{function}() got an unknown keyword {unknown[0]}=; {hint}")
