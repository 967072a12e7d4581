"""The cookbook's exceptions: one base, two kinds of expected failure.

Every failure the cookbook expects raises a :class:`CookbookError` whose message is one line saying what was
wrong and what to do: :class:`InputError` for bad input (a value, a path, a port; the command line exits 2) and
:class:`RunError` for a run that failed (a server that did not start or answer, a benchmark scenario, the smoke
test; exit 1). ``InputError`` is also a ``ValueError`` and ``RunError`` a ``RuntimeError``, so code that catches
the built-in kinds keeps working. :mod:`kimi_cookbook.cli.errors` maps them to exit codes. Standard library only.
"""

from __future__ import annotations

__all__ = ["CookbookError", "InputError", "RunError"]


class CookbookError(Exception):
    """An expected failure of the cookbook; ``str()`` is one line saying what was wrong and what to do."""


class InputError(CookbookError, ValueError):
    """Bad input: a value, a path or a port the cookbook cannot use (exit status 2)."""


class RunError(CookbookError, RuntimeError):
    """A run failed: a server, a benchmark, a harness or the smoke test (exit status 1)."""
