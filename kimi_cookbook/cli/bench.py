"""``bench`` (SGLang's serving client against a server, a results folder) and ``compare`` (beside the page)."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from kimi_cookbook import bench
from kimi_cookbook.cli.errors import Interrupted, RunFailed
from kimi_cookbook.cli.types import non_negative_float, positive_float
from kimi_cookbook.server import connect


def _scenarios(args: argparse.Namespace) -> list[bench.Scenario]:
    custom = [args.num_prompts, args.max_concurrency, args.input_len, args.output_len, args.range_ratio]
    if all(v is None for v in custom) and args.request_rate is None:
        return list(bench.preset(args.preset))
    if args.num_prompts is None or args.max_concurrency is None:
        raise ValueError("a custom scenario needs --num-prompts and --max-concurrency (or use --preset alone)")
    rate = math.inf if args.request_rate in (None, "inf") else float(args.request_rate)
    return [
        bench.Scenario(
            f"custom-c{args.max_concurrency}",
            num_prompts=args.num_prompts,
            max_concurrency=args.max_concurrency,
            input_len=args.input_len or 1000,
            output_len=args.output_len or 1000,
            request_rate=rate,
            range_ratio=args.range_ratio if args.range_ratio is not None else 0.0,
        )
    ]


def _print_comparison(results_dir: Path) -> None:
    table = bench.compare(results_dir)
    if table["run"].isna().all():
        print("(no scenario of this run has a concurrency the page measured: 1, 16, 100)")
        return
    shown = table.dropna(subset=["run"])
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


def _cmd_bench(args: argparse.Namespace) -> int:
    scenarios = _scenarios(args)
    # bad input is refused before a server starts or a folder is made
    if args.results:
        bench.check_results_dir(args.results)
    if args.base_url:
        bench.check_base_url(args.base_url)
    bench.check_tokenizer(args.tokenizer)
    kept = {}
    stall_s = None if args.stall_timeout == 0 else args.stall_timeout
    try:
        with connect(args.server, args.base_url or "", progress=sys.stderr.isatty()) as srv:
            settings = bench.bench_settings(srv, client_backend=args.client_backend, dataset_name=args.dataset_name,
                                            dataset_path=args.dataset_path or "", tokenizer=args.tokenizer or "",
                                            model=args.model or "")
            results = Path(args.results) if args.results else bench.new_results_dir(prefix="bench")
            kept["dir"] = results
            bench.run_bench(scenarios, results_dir=results, stream=args.live, timeout_s=args.timeout,
                            progress=sys.stderr.isatty(), stall_s=stall_s, server_log=srv.log_path, **settings)
    except bench.BenchError as exc:
        if "dir" not in kept:
            raise
        raise RunFailed(f"{str(exc).splitlines()[0]}; finished scenarios are kept in {kept['dir']}") from exc
    except KeyboardInterrupt:
        if "dir" not in kept:
            raise
        raise Interrupted(f"finished scenarios are kept in {kept['dir']}") from None
    finally:
        folder = kept.get("dir")
        if folder is not None and not args.results and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()  # refused before anything was written: no empty folder left behind
    print(f"\nresults: {results}/results.csv, {results}/results.jsonl")
    _print_comparison(results)
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    results = Path(args.results)
    bench.load_results(results)  # ValueError with a clear message if it is not a results folder
    if args.plot and not Path(args.plot).expanduser().parent.is_dir():
        raise ValueError(f"--plot {args.plot}: the folder {Path(args.plot).parent} does not exist; create it first")
    _print_comparison(results)
    if args.plot:
        fig = bench.plot_vs_concurrency(results, run_label=results.name)
        fig.savefig(args.plot, dpi=110)
        print(f"plot: {args.plot}")
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "bench",
        help="run SGLang's benchmark client (a preset or one custom scenario), save a results folder",
        description="Runs SGLang's bench_serving once per scenario against a server (attached with --base-url, "
        "else launched: --server embedded|sglang), saving results.csv/results.jsonl after each scenario.",
    )
    p.add_argument("--preset", default="page", choices=list(bench.PRESETS),
                   help="scenario set (default: page; shared-prefix, long-context and their -tiny CPU sizes)")
    p.add_argument("--num-prompts", type=int, help="custom scenario: number of prompts")
    p.add_argument("--max-concurrency", type=int, help="custom scenario: concurrent requests")
    p.add_argument("--input-len", type=int, help="custom scenario: input tokens (default 1000)")
    p.add_argument("--output-len", type=int, help="custom scenario: output tokens (default 1000)")
    p.add_argument("--range-ratio", type=float, help="custom scenario: --random-range-ratio (default 0.0)")
    p.add_argument("--request-rate", help="custom scenario: requests/s or inf (default inf)")
    p.add_argument("--base-url", default="", help="attach to a running server, e.g. http://127.0.0.1:30000")
    p.add_argument("--server", default="embedded", choices=["embedded", "sglang"],
                   help="what to launch without --base-url")
    p.add_argument("--client-backend", default="auto", choices=["auto", *bench.CLIENT_BACKENDS],
                   help="bench_serving --backend (auto: sglang for SGLang servers, else sglang-oai)")
    p.add_argument("--dataset-name", default="auto", choices=["auto", *bench.DATASETS],
                   help="auto: random on SGLang (ShareGPT download unless --dataset-path), else random-ids")
    p.add_argument("--dataset-path", help="local ShareGPT JSON for --dataset-name random/sharegpt")
    p.add_argument("--model", help="model name to send (default: the server's)")
    p.add_argument("--tokenizer", help="tokenizer folder or hub id (default: the server's)")
    p.add_argument("--results", help="results folder (default: $KIMI_COOKBOOK_RUNS or runs, /bench-TIMESTAMP)")
    p.add_argument("--timeout", type=positive_float, help="seconds per scenario before the client is stopped")
    p.add_argument("--stall-timeout", type=non_negative_float, default=bench.STALL_S, metavar="SECONDS",
                   help=f"stop a scenario when no request finished for this long, keeping the finished ones "
                   f"(default {bench.STALL_S:g}; 0: never)")
    p.add_argument("--live", action="store_true", help="show the client's whole output as it comes (default: its "
                   "progress bar and result block; the whole output is in each scenario's log)")
    p.add_argument("--quiet", action="store_true", help="the default (kept for scripts that pass it)")
    p.set_defaults(func=_cmd_bench)

    c = sub.add_parser("compare", help="put a bench results folder beside the page's MI300X results (ratios), "
                       "optionally plot")
    c.add_argument("results", metavar="RESULTS", help="a folder written by kimi-cookbook bench")
    c.add_argument("--plot", help="write throughput/TPOT/TTFT vs concurrency to this image file")
    c.set_defaults(func=_cmd_compare)
