"""The ``kimi-cookbook`` command line, built only on the package's public API.

Each module here adds a group of subcommands with ``register(subparsers)``; each subcommand's ``func`` gets
the parsed namespace and returns an exit code. The one rule for errors lives here, in :func:`main`: an
expected failure is one line on stderr (what was wrong, what to do), exit status 2 for bad input, 1 for a
failed run, 130 when interrupted (Ctrl-C, or SIGTERM: handled the same way, so what finished is kept and
summaries say "interrupted"); ``--debug`` shows the traceback instead. No domain module imports argparse.
The subcommands are imported inside :func:`main`, so Ctrl-C while they load is one line too.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from kimi_cookbook import __version__
from kimi_cookbook.cli.errors import EXIT_INTERRUPTED, Terminated, exit_code, one_line


def groups() -> tuple:
    """The subcommand modules, each with ``register(subparsers)``."""
    from kimi_cookbook.cli import bench, launch, notebooks, plan, replicas, setup, smoke

    return (launch, setup, notebooks, bench, plan, replicas, smoke)


class Parser(argparse.ArgumentParser):
    """argparse with the cookbook's rule: a usage error is one line (and the hint to ``--help``), exit 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The parser with every subcommand."""
    parser = Parser(
        prog="kimi-cookbook",
        description="Kimi-Linear-48B-A3B-Instruct on SGLang: commands, server, benchmarks, planning. "
        "Exit status: 0 done, 1 a run failed, 2 bad input, 130 interrupted (Ctrl-C); errors are one line, "
        "--debug shows the traceback.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = parser.add_subparsers(dest="subcommand", metavar="SUBCOMMAND")
    sub.required = True
    for group in groups():
        group.register(sub)
    for p in sub.choices.values():  # --debug after the subcommand works too
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


def _raise_terminated(signum, frame):
    raise Terminated("stopped by SIGTERM")


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; return its exit status (see the module's rule)."""
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        try:
            parser = build_parser()
        except KeyboardInterrupt as exc:
            print(f"kimi-cookbook: {one_line(exc)} while starting", file=sys.stderr, flush=True)
            return EXIT_INTERRUPTED
        args = parser.parse_args(argv)
        prog = f"kimi-cookbook {args.subcommand}"
        try:
            return int(args.func(args) or 0)
        except BaseException as exc:
            if isinstance(exc, SystemExit) or getattr(args, "debug", False):
                raise
            print(f"{prog}: {one_line(exc)}", file=sys.stderr, flush=True)
            return exit_code(exc)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
