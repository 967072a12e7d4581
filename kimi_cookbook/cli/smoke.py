"""``smoke`` (prove a GPU host with real SGLang on a tiny Kimi-Linear) and ``tiny-model`` (build one)."""

from __future__ import annotations

import argparse
import sys

from kimi_cookbook.cli.errors import Interrupted
from kimi_cookbook.cli.types import positive_float
from kimi_cookbook.hardware import GPUS
from kimi_cookbook.smoke import CONTEXT_LENGTH, format_summary, run_smoke
from kimi_cookbook.tiny_kimi import build, ensure_tiny_kimi_linear
from kimi_cookbook.tiny_model import ensure_tiny_model


def _cmd_smoke(args: argparse.Namespace) -> int:
    try:
        report = run_smoke(
            args.hardware, tp=args.tp, base_url=args.base_url or "", run_dir=args.run_dir,
            mem_fraction_static=args.mem_fraction_static, context_length=args.context_length,
            extra_args=tuple(args.extra_arg or ()), timeout_s=args.timeout, progress=sys.stderr.isatty(),
        )
    except KeyboardInterrupt:
        raise Interrupted("the server was stopped, the summary keeps the finished steps") from None
    print(format_summary(report))
    print(f"summary: {report.run_dir / 'summary.md'}")
    return 0 if report.ok else 1


def _cmd_tiny_model(args: argparse.Namespace) -> int:
    if args.arch == "kimi_linear":
        path = build(args.out) if args.out else ensure_tiny_kimi_linear().path
    else:
        if args.out:
            raise ValueError("--out is for --arch kimi_linear; the embedded model lives in the cache")
        path = ensure_tiny_model().hf_dir
    print(path)
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "smoke",
        help="prove a GPU host: real SGLang on a tiny Kimi-Linear, notebooks 03-06 against it",
        description="Build a tiny random-weight Kimi-Linear, launch SGLang on it with the selector's flags, run "
        "notebooks 03-06 against it, stop it, and write summary.md. Run it before the ~100 GB download. "
        "Exit status: 0 passed, 1 a step failed (or no SGLang/GPU), 2 bad input, 130 interrupted.",
    )
    p.add_argument("--hardware", default="h100", help=f"one of {', '.join(GPUS)} (default h100)")
    p.add_argument("--tp", type=int, default=1, help="tensor parallel size (the tiny model takes 1, 2 or 4)")
    p.add_argument("--base-url", default="", help="attach to a server you started (e.g. in Docker) instead")
    p.add_argument("--run-dir", default=None, help="output folder (default runs/smoke-TIMESTAMP)")
    p.add_argument("--mem-fraction-static", type=float, default=None, help="SGLang's flag (default: SGLang's)")
    p.add_argument("--context-length", type=int, default=CONTEXT_LENGTH)
    p.add_argument("--extra-arg", action="append", metavar="--FLAG[=VALUE]",
                   help="extra launch flag, repeatable, e.g. --extra-arg=--attention-backend=triton")
    p.add_argument("--timeout", type=positive_float, default=1800.0, help="seconds to wait for readiness")
    p.set_defaults(func=_cmd_smoke)

    t = sub.add_parser("tiny-model", help="build a tiny random-weight model locally and print its folder",
                       description="kimi_linear: the tiny Kimi-Linear checkpoint SGLang loads (smoke); "
                       "llama: the embedded server's model. No download, no torch.")
    t.add_argument("--arch", choices=("kimi_linear", "llama"), default="kimi_linear")
    t.add_argument("--out", default=None, help="a new folder (default: the cookbook cache)")
    t.set_defaults(func=_cmd_tiny_model)
