"""The command line's error rule: which exceptions are expected failures, their exit status, their one line.

A subcommand raises; :func:`kimi_cookbook.cli.main` prints ``kimi-cookbook SUB: <one line>`` and returns
the status. :class:`~kimi_cookbook.errors.InputError` (and any ``ValueError``) is bad input (2), an unwritable or
missing path too; :class:`~kimi_cookbook.errors.RunError` (a server that does not start or answer, a failed
benchmark scenario, the smoke test) and a timeout or broken connection are 1; Ctrl-C is 130. Anything else is
a bug: one line that says so, the traceback with ``--debug``.
Every line passes through :func:`kimi_cookbook.net.redact`, so no credential is shown.
"""

from __future__ import annotations

import sys

from kimi_cookbook.errors import CookbookError, InputError, RunError
from kimi_cookbook.net import redact

EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED = 2, 1, 130


class RunFailed(RunError):
    """A run failed in a way its subcommand already explained (exit 1)."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, with what was kept (exit 130)."""


class Terminated(Interrupted):
    """SIGTERM, handled like Ctrl-C: what finished is kept, summaries say "interrupted" (exit 130)."""


# expected failures: the cookbook's own (kimi_cookbook.errors) and the standard library's for time and network
_FAILURES = (RunError, TimeoutError, ConnectionError)
_BAD_INPUT = (InputError, ValueError, OSError)  # bad input, or a path that cannot be read or written


def _failures() -> tuple[type, ...]:
    """The run failures, with the openai SDK's API error when it was imported (only then can one be raised;
    nothing is imported here: the CLI starts without openai installed)."""
    openai = sys.modules.get("openai")
    api_error = getattr(openai, "APIError", None) if openai is not None else None
    return _FAILURES + ((api_error,) if isinstance(api_error, type) else ())


def exit_code(exc: BaseException) -> int:
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(exc, _failures()):
        return EXIT_FAILED
    if isinstance(exc, _BAD_INPUT):
        return EXIT_BAD_INPUT
    return EXIT_FAILED


def _terminated(exc: BaseException | None) -> bool:
    """Whether ``exc`` or an exception it was raised while handling is SIGTERM's."""
    seen = 0
    while exc is not None and seen < 20:
        if isinstance(exc, Terminated):
            return True
        exc, seen = exc.__context__, seen + 1
    return False


def one_line(exc: BaseException) -> str:
    """What was wrong and what to do, on one line."""
    if isinstance(exc, KeyboardInterrupt):
        how = "interrupted (SIGTERM)" if _terminated(exc) else "interrupted"
        if str(exc) and not isinstance(exc, Terminated):
            text = f"{how}; {exc}"
        else:
            text = how if how != "interrupted" else "interrupted (Ctrl-C)"
    elif isinstance(exc, OSError) and not isinstance(exc, (TimeoutError, ConnectionError)) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        text = f"error: {where}{exc.strerror.lower()}; check the path (a folder you can write, a file that exists)"
    elif isinstance(exc, (CookbookError, ValueError, *_failures())):
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        log = getattr(exc, "log_path", None)
        if log and str(log) not in first:
            first += f"; see the log {log}"
        text = f"error: {first}"
    else:
        what = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        text = f"unexpected error ({type(exc).__name__}: {what}); a bug: rerun with --debug and report the traceback"
    return redact(" ".join(text.split()))
