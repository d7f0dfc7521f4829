"""Griffe extension for the docs build: Sphinx roles in docstrings become mkdocs-autorefs links.

The docstrings are numpydoc and use Sphinx roles (``:func:`forecast```, ``:class:`~a.b.C```),
which read well in ``help()`` and in an editor but which mkdocstrings prints literally. Rewriting
the ~270 roles in the source by hand would be noisy; this extension rewrites them while the API
reference is built (``mkdocs.yml``: ``mkdocstrings`` ... ``extensions``), so the source keeps one
convention and the site gets links.

Each role target is resolved the way Sphinx resolves it: as written if it is a full path, else
relative to the object's class, its module, then the package. The result is an
``<autoref identifier=... optional>`` tag: mkdocs-autorefs turns it into a link to the rendered
object, and a target that is not rendered anywhere (a private helper, ``numpy.polyfit``) stays
plain code instead of failing the strict build.
"""

from __future__ import annotations

import html
import re

import griffe

ROLE = re.compile(r":(?:py:)?(func|class|meth|mod|attr|data|obj|exc|const|ref):`(?P<body>[^`]+)`")


def _split(body: str) -> tuple[str, str]:
    """``title <target>`` or ``~target`` or ``target`` -> (target, shown text)."""
    explicit = re.fullmatch(r"\s*(.+?)\s*<([^>]+)>\s*", body)
    if explicit:
        return explicit.group(2).strip(), explicit.group(1)
    target = body.strip()
    if target.startswith("~"):
        target = target[1:]
        return target, target.rsplit(".", 1)[-1]
    return target, target


def _lookup(package: griffe.Module, path: str):
    if path == package.path:
        return package
    prefix = package.path + "."
    if not path.startswith(prefix):
        return None
    try:
        obj = package[path[len(prefix):]]
    except (KeyError, ValueError, griffe.AliasResolutionError, griffe.CyclicAliasError):
        return None
    try:
        return obj.final_target if obj.is_alias else obj
    except (griffe.AliasResolutionError, griffe.CyclicAliasError):
        return None


def _resolve(package: griffe.Module, scope, target: str) -> str:
    """The canonical dotted path of ``target`` seen from ``scope``; the target itself if unknown."""
    candidates = [target]
    obj = scope
    while obj is not None:  # class, then module, then parent packages
        candidates.append(f"{obj.path}.{target}")
        obj = obj.parent
    candidates.append(f"{package.path}.{target}")
    for path in candidates:
        found = _lookup(package, path)
        if found is not None:
            return found.path
    return target


class SphinxRoles(griffe.Extension):
    """Rewrite ``:func:`x``` and friends in every docstring of the package as autorefs."""

    def on_package(self, *, pkg: griffe.Module, **kwargs) -> None:
        self._walk(pkg, pkg, set())

    def _walk(self, package: griffe.Module, obj, seen: set) -> None:
        if obj.path in seen or obj.is_alias:
            return
        seen.add(obj.path)
        if obj.docstring is not None:
            obj.docstring.value = self.rewrite(package, obj, obj.docstring.value)
        for member in obj.members.values():
            if not member.is_alias:
                self._walk(package, member, seen)

    @staticmethod
    def rewrite(package: griffe.Module, obj, text: str) -> str:
        def replace(match: re.Match) -> str:
            target, shown = _split(match.group("body"))
            scope = obj if obj.is_class or obj.is_module else obj.parent
            path = _resolve(package, scope, target)
            return (f'<autoref identifier="{html.escape(path, quote=True)}" optional>'
                    f"<code>{html.escape(shown)}</code></autoref>")

        return ROLE.sub(replace, text)
