"""``plan``: what fits where (cache sizes, concurrency) and the decode floor, for one GPU choice."""

from __future__ import annotations

import argparse
import json

from kimi_cookbook import capacity
from kimi_cookbook.capacity.pools import ratio_for_running
from kimi_cookbook.cli.types import positive_int
from kimi_cookbook.errors import InputError
from kimi_cookbook.versions import VERSIONS


def _cmd_plan(args: argparse.Namespace) -> int:
    p = capacity.plan(
        args.hardware, args.tp, args.context, batch=args.batch, kv_dtype=args.kv_dtype,
        state_dtype=args.state_dtype, conv_dtype=args.conv_dtype, weight_dtype=args.weight_dtype,
        state_slots=args.state_slots, reserve_gib=args.reserve_gib, config=args.config,
        sglang_version=args.sglang_version, mem_fraction_static=args.mem_fraction_static,
        max_running_requests=args.max_running_requests, chunked_prefill_size=args.chunked_prefill_size,
        context_length=args.context_length, mamba_full_memory_ratio=args.mamba_full_memory_ratio,
        disable_radix_cache=args.disable_radix_cache,
    )
    fit = None
    if args.fit_running is not None:
        if args.sglang_version is None:
            raise InputError("--fit-running predicts SGLang's pools: give --sglang-version too")
        if args.disable_radix_cache:
            raise InputError("--fit-running is for a launch with the prefix cache on: leave out --disable-radix-cache")
        # every launch flag of the plan, so the fit is for this launch
        fit = ratio_for_running(
            args.hardware, args.fit_running, args.config, tp=p.tp, sglang_version=args.sglang_version,
            context=args.context, kv_dtype=p.kv_dtype, state_dtype=p.state_dtype, conv_dtype=p.conv_dtype,
            weight_dtype=p.weight_dtype, mem_fraction_static=args.mem_fraction_static,
            max_running_requests=args.max_running_requests, chunked_prefill_size=args.chunked_prefill_size,
            context_length=args.context_length)
    if args.json:
        print(json.dumps({**p.to_dict(), **({"fit_running": fit} if fit is not None else {})}, indent=2))
        return 0
    print(capacity.format_plan(p))
    if fit is not None:
        print(f"fit {args.fit_running} running: {fit['note']}")
    return 0


def register(sub) -> None:
    sp = sub.add_parser(
        "plan",
        help="capacity plan: cache sizes, max concurrency, TPOT floor",
        description="What fits where: Kimi-Linear's MLA cache and KDA state on a GPU choice, the maximum "
        "concurrent requests at a context length (hybrid vs full MLA), and the decode TPOT floor.",
    )
    sp.add_argument("--hardware", required=True, help=f"one of: {', '.join(capacity.GPUS)}")
    sp.add_argument("--tp", type=int, default=None, help="tensor parallel size (default: the GPU's default)")
    sp.add_argument("--context", type=int, default=131072, help="tokens per request (default 131072)")
    sp.add_argument("--batch", type=int, default=1, help="batch size for the TPOT floor (default 1)")
    for flag, default, what in (
        ("--kv-dtype", capacity.DEFAULT_KV_DTYPE, "MLA cache dtype"),
        ("--state-dtype", capacity.DEFAULT_STATE_DTYPE, "KDA recurrent state dtype"),
        ("--conv-dtype", capacity.DEFAULT_CONV_DTYPE, "KDA conv state dtype"),
        ("--weight-dtype", capacity.DEFAULT_WEIGHT_DTYPE, "weights dtype"),
    ):
        sp.add_argument(flag, default=default, help=f"{what} (default {default})")
    sp.add_argument("--state-slots", type=int, default=capacity.DEFAULT_STATE_SLOTS,
                    help="KDA state slots per request (1 in SGLang 0.5.7; more with prefix caching)")
    sp.add_argument("--reserve-gib", type=float, default=None,
                    help="per-GPU memory kept out of weights+cache (default: SGLang 0.5.7's heuristic)")
    sp.add_argument("--config", default=None, help="a local config.json (or model folder) of the same family")
    sg = sp.add_argument_group(
        "SGLang's own pools", "predict what SGLang will allocate at launch (max_total_num_tokens, state slots, "
        "max_running_requests) from its memory logic; the flags below are SGLang's launch flags (its defaults "
        "when left out) and need --sglang-version")
    sg.add_argument("--sglang-version", choices=list(VERSIONS), default=None,
                    help="SGLang release whose rules to apply (the selector's images are 0.5.7)")
    sg.add_argument("--mem-fraction-static", type=float, default=None,
                    help="SGLang's --mem-fraction-static (default: SGLang's own for the GPU)")
    sg.add_argument("--max-running-requests", type=int, default=None, help="SGLang's --max-running-requests")
    sg.add_argument("--chunked-prefill-size", type=int, default=None, help="SGLang's --chunked-prefill-size")
    sg.add_argument("--context-length", type=int, default=None,
                    help="SGLang's --context-length (default: the model's limit; --context is the request length)")
    sg.add_argument("--mamba-full-memory-ratio", type=float, default=None,
                    help="SGLang's --mamba-full-memory-ratio (0.5.16: state slots vs MLA cache; default 0.9)")
    sg.add_argument("--disable-radix-cache", action="store_true", help="SGLang's --disable-radix-cache")
    sg.add_argument("--fit-running", type=positive_int, default=None, metavar="N",
                    help="also say the smallest --mamba-full-memory-ratio that runs N requests at once with the "
                    "prefix cache on (e.g. 100, the page's busiest benchmark)")
    sp.add_argument("--json", action="store_true", help="print JSON instead of a table")
    sp.set_defaults(func=_cmd_plan)
