"""The command line's error rule: which exceptions are expected failures, their exit status, their one line.

A subcommand raises; :func:`kimi_cookbook.cli.main` prints ``kimi-cookbook SUB: <one line>`` and returns
the status. ``ValueError`` is bad input (2), an unwritable or missing path too; the run failures of the
domain modules (a server that does not start or answer, a failed benchmark scenario, a broken stream, a
timeout) are 1; Ctrl-C is 130. Anything else is a bug: one line that says so, the traceback with ``--debug``.
Every line passes through :func:`kimi_cookbook.net.redact`, so no credential is shown.
"""

from __future__ import annotations

import sys

from kimi_cookbook.net import redact

EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED = 2, 1, 130


class RunFailed(RuntimeError):
    """A run failed in a way its subcommand already explained (exit 1)."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, with what was kept (exit 130)."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: what finished is kept, summaries say "interrupted" (exit 130)."""


# the run failures of the domain modules, by name: only a module that was imported can have raised one, so
# nothing is imported here (the CLI starts without openai, pandas or SGLang's client installed)
_DOMAIN_FAILURES = (("kimi_cookbook.server", "ServerStartError"), ("kimi_cookbook.bench.speed", "BenchError"),
                    ("kimi_cookbook.smoke", "SmokeError"), ("kimi_cookbook.client", "StreamInterrupted"),
                    ("openai", "APIError"))


def _failures() -> tuple[type, ...]:
    found = [getattr(sys.modules[mod], name, None) for mod, name in _DOMAIN_FAILURES if mod in sys.modules]
    return (RunFailed, TimeoutError, ConnectionError, *(t for t in found if isinstance(t, type)))


def exit_code(exc: BaseException) -> int:
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(exc, _failures()):
        return EXIT_FAILED
    if isinstance(exc, (ValueError, OSError)):  # bad input, or a path that cannot be read or written
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
    elif isinstance(exc, (ValueError, *_failures())):
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        log = getattr(exc, "log_path", None)
        if log and str(log) not in first:
            first += f"; see the log {log}"
        text = f"error: {first}"
    else:
        what = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        text = f"unexpected error ({type(exc).__name__}: {what}); a bug: rerun with --debug and report the traceback"
    return redact(" ".join(text.split()))
