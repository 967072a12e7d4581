"""The ``kimi-cookbook`` command line, built only on the package's public API.

Each module here adds a group of subcommands with ``register(subparsers)``; each subcommand's ``func`` gets
the parsed namespace and returns an exit code. Bad input (``ValueError``) is one line on stderr and exit
status 2; no domain module imports argparse.
"""

from __future__ import annotations

import argparse
import sys

from kimi_cookbook import __version__
from kimi_cookbook.cli import bench, launch, notebooks, plan, setup, smoke

GROUPS = (launch, setup, notebooks, bench, plan, smoke)


def build_parser() -> argparse.ArgumentParser:
    """The parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="kimi-cookbook",
        description="Kimi-Linear-48B-A3B-Instruct on SGLang: commands, server, benchmarks, planning.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="subcommand", metavar="SUBCOMMAND")
    sub.required = True
    for group in GROUPS:
        group.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; return its exit status."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ValueError as exc:  # bad input: one clear line, no traceback
        print(f"kimi-cookbook {args.subcommand}: error: {exc}", file=sys.stderr)
        return 2
