"""``smoke`` (prove a GPU host with real SGLang on a tiny Kimi-Linear) and ``tiny-model`` (build one)."""

from __future__ import annotations

import argparse
import sys

from kimi_cookbook import bench
from kimi_cookbook.cli.errors import Interrupted
from kimi_cookbook.cli.types import non_negative_float, positive_float, positive_int
from kimi_cookbook.hardware import GPUS
from kimi_cookbook.smoke import CONTEXT_LENGTH, format_summary, run_smoke
from kimi_cookbook.tiny_kimi import build, ensure_tiny_kimi_linear
from kimi_cookbook.tiny_model import ensure_tiny_model


def _cmd_smoke(args: argparse.Namespace) -> int:
    if not args.full_size:
        given = [f for f, v in (("--num-experts", args.num_experts), ("--preset", args.preset)) if v is not None]
        if given:
            raise ValueError(f"{', '.join(given)}: only with --full-size (the tiny model runs the tiny preset)")
    elif args.base_url:
        raise ValueError("--full-size launches SGLang on the model folder it builds; leave --base-url out")
    try:
        if args.full_size:
            from kimi_cookbook.smoke_full import run_full_size_smoke

            report = run_full_size_smoke(
                args.hardware, tp=args.tp, num_experts=args.num_experts, preset=args.preset or "page",
                run_dir=args.run_dir, extra_args=tuple(args.extra_arg or ()), context_length=args.context_length,
                mem_fraction_static=args.mem_fraction_static, timeout_s=args.timeout,
                stall_s=None if args.stall_timeout == 0 else args.stall_timeout, progress=sys.stderr.isatty(),
            )
        else:
            report = run_smoke(
                args.hardware, tp=args.tp, base_url=args.base_url or "", run_dir=args.run_dir,
                mem_fraction_static=args.mem_fraction_static,
                context_length=CONTEXT_LENGTH if args.context_length is None else args.context_length,
                extra_args=tuple(args.extra_arg or ()), timeout_s=args.timeout, progress=sys.stderr.isatty(),
                notebook_dir=args.notebooks,
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
    p.add_argument("--notebooks", default="notebooks", help="folder of the notebooks (default: notebooks)")
    p.add_argument("--mem-fraction-static", type=float, default=None, help="SGLang's flag (default: SGLang's)")
    p.add_argument("--context-length", type=int, default=None,
                   help=f"SGLang's --context-length (default {CONTEXT_LENGTH} for the tiny model; the model's own "
                   "with --full-size)")
    p.add_argument("--extra-arg", action="append", metavar="--FLAG[=VALUE]",
                   help="extra launch flag, repeatable, e.g. --extra-arg=--attention-backend=triton")
    p.add_argument("--timeout", type=positive_float, default=1800.0, help="seconds to wait for readiness")
    f = p.add_argument_group(
        "full size", "Kimi-Linear-48B-A3B at full width with random weights (--load-format dummy, no download): "
        "SGLang's pools vs the planner, a bench preset beside the page and the decode floor. Weights that do not "
        "fit tp GPUs are refused before anything starts (exit 2), naming the tp that would fit.")
    f.add_argument("--full-size", action="store_true", help="the published config instead of the tiny model")
    f.add_argument("--num-experts", type=positive_int, default=None, metavar="N",
                   help="fewer routed experts (8-256) so the weights fit a smaller GPU: NOT the full model (same "
                   "active path per token), said in every output")
    f.add_argument("--preset", default=None, choices=list(bench.PRESETS), help="bench preset (default page)")
    f.add_argument("--stall-timeout", type=non_negative_float, default=bench.STALL_S, metavar="SECONDS",
                   help=f"stop a scenario when no request finished for this long (default {bench.STALL_S:g}; 0: never)")
    p.set_defaults(func=_cmd_smoke)

    t = sub.add_parser("tiny-model", help="build a tiny random-weight model locally and print its folder",
                       description="kimi_linear: the tiny Kimi-Linear checkpoint SGLang loads (smoke); "
                       "llama: the embedded server's model. No download, no torch.")
    t.add_argument("--arch", choices=("kimi_linear", "llama"), default="kimi_linear")
    t.add_argument("--out", default=None, help="a new folder (default: the cookbook cache)")
    t.set_defaults(func=_cmd_tiny_model)
