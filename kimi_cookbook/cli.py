"""The ``kimi-cookbook`` command line.

Each subcommand lives in its own module, which exposes ``register_cli(subparsers)``; that function adds
its parser and sets ``func`` (called with the parsed namespace, returns an exit code). Add a module to
``COMMAND_MODULES`` to add a subcommand.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMAND_MODULES = [
    "kimi_cookbook.selector",  # command
    "kimi_cookbook.server",  # serve
    "kimi_cookbook.docker",  # docker, hosts
    "kimi_cookbook.demo",  # demo (the main job)
    "kimi_cookbook.bench",  # bench, compare
    "kimi_cookbook.capacity",  # plan
    "kimi_cookbook.checks",  # check-notebook, index
    "kimi_cookbook.smoke",  # smoke, tiny-model
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kimi-cookbook",
        description="Kimi-Linear-48B-A3B-Instruct on SGLang: commands, server, benchmarks, planning.",
    )
    sub = parser.add_subparsers(dest="subcommand", metavar="SUBCOMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register_cli(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ValueError as exc:  # bad input: one clear line, no traceback
        print(f"kimi-cookbook {args.subcommand}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
