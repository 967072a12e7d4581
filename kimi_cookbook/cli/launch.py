"""``command`` (the SGLang launch command) and ``serve`` (a server in the foreground).

Their launch flags are derived from :func:`kimi_cookbook.selector.build_launch_spec`'s signature: a knob
added there gets its flag here without a second list.
"""

from __future__ import annotations

import argparse
import inspect
import sys
import time
import typing

from kimi_cookbook import MODEL_ID
from kimi_cookbook.cli.types import positive_float, positive_int
from kimi_cookbook.hardware import GPUS, PAGE_HARDWARE
from kimi_cookbook.net import DEFAULT_HOST
from kimi_cookbook.selector import LAUNCH_KNOBS, build_launch_command, build_launch_spec, render_command
from kimi_cookbook.server import BACKENDS, connect

HELP = {
    "hardware": f"one of {', '.join(GPUS)} (default mi300x)",
    "model": "model path or hub id",
    "tp": "tensor parallel size (default: per hardware)",
    "tool_call_parser": "kimi_k2 to enable tool calls",
    "reasoning_parser": "not supported by the Instruct model",
    "sglang_version": "SGLang version whose flags to use (default the page's 0.5.7)",
    "enable_metrics": "serve Prometheus metrics at /metrics",
}
PAGE_KNOBS = ("hardware", "tool_call_parser", "reasoning_parser")  # what the page's generator offers


def launch_flags() -> dict[str, tuple[type, object]]:
    """``{knob: (type, default)}`` for every knob of ``build_launch_spec`` that takes one bool, int, float or str
    (a bool knob becomes an on/off flag)."""
    hints = typing.get_type_hints(build_launch_spec)
    params = inspect.signature(build_launch_spec).parameters
    flags = {}
    for name in LAUNCH_KNOBS:
        hint = hints.get(name)
        options = typing.get_args(hint) or (hint,)
        kind = next((t for t in (bool, int, float, str) if t in options), None)
        if kind is not None:
            flags[name] = (kind, params[name].default)
    return flags


def add_launch_arguments(parser: argparse.ArgumentParser) -> None:
    """One ``--knob-name`` flag per scalar knob of ``build_launch_spec``, its default the function's."""
    for name, (kind, default) in launch_flags().items():
        flag = "--" + name.replace("_", "-")
        if kind is bool:
            parser.add_argument(flag, dest=name, action="store_true", default=default, help=HELP.get(name))
        else:
            parser.add_argument(flag, dest=name, type=kind, default=default, help=HELP.get(name))


def launch_knobs(args: argparse.Namespace) -> dict:
    """The launch knobs from parsed flags, as ``build_launch_spec`` keyword arguments."""
    return {name: getattr(args, name) for name in launch_flags()}


def _cmd_command(args: argparse.Namespace) -> int:
    knobs = launch_knobs(args)
    if not args.page_exact:
        print(build_launch_command(**knobs))
        return 0
    extra = [k for k, v in knobs.items() if not (v is None or v is False or v == MODEL_ID) and k not in PAGE_KNOBS]
    if extra:
        raise ValueError(f"--page-exact takes only the page's options (hardware, parsers); drop {extra}")
    if args.hardware.lower() not in PAGE_HARDWARE:
        raise ValueError(f"--page-exact: the page offers --hardware {', '.join(PAGE_HARDWARE)}, not "
                         f"{args.hardware!r}; leave --page-exact out for the typed command on {args.hardware}")
    text = render_command({
        "hardware": args.hardware.lower(),
        "toolcall": "enabled" if args.tool_call_parser else "disabled",
        "reasoning": "enabled" if args.reasoning_parser else "disabled",
    })
    print(text)
    return 1 if text.startswith("# Error") else 0


def _cmd_serve(args: argparse.Namespace) -> int:
    knobs = {k: v for k, v in launch_knobs(args).items() if k not in ("host", "port")}
    if args.backend == "embedded":
        defaults = {name: default for name, (_, default) in launch_flags().items()}
        ignored = ["--" + k.replace("_", "-") for k, v in knobs.items() if v != defaults[k]]
        if ignored:
            raise ValueError(f"{', '.join(ignored)} only apply to --backend sglang; the embedded server would "
                             "ignore them: drop them or add --backend sglang")
        knobs = {}
    kw: dict = {"port": args.port or 0, "host": args.host or DEFAULT_HOST, "progress": sys.stderr.isatty()}
    if args.timeout is not None:
        kw["timeout_s"] = args.timeout
    if args.replicas > 1:  # that many servers, then SGLang's router in front of them on --port
        from kimi_cookbook.router import launch_replicas

        from kimi_cookbook.hardware import get_gpu

        tp = args.tp or get_gpu(args.hardware).default_tp  # SGLang replica i on GPUs i*tp .. i*tp+tp-1
        gpus = [tuple(range(i * tp, (i + 1) * tp)) for i in range(args.replicas)]
        srv = launch_replicas(args.replicas, args.backend, gpus=gpus, **kw, **knobs)
    else:
        srv = connect(args.backend, **kw, **knobs)  # the embedded server ignores SGLang's knobs
    try:
        for i, worker in enumerate(getattr(srv, "workers", [])):
            print(f"replica {i}: $ {worker.command}\n  ready at {worker.base_url} (pid {worker.pid}, "
                  f"log {worker.log_path})")
        print(f"$ {srv.command}")
        what = f"SGLang's router in front of {args.replicas} {srv.kind} servers" if args.replicas > 1 else \
            f"{srv.kind} server"
        print(f"{what} (pid {srv.pid}) ready in {srv.startup_s:.1f} s at {srv.openai_base_url}")
        print(f"model: {srv.model}")
        if srv.tokenizer_path:
            print(f"tokenizer: {srv.tokenizer_path}")
        print(f"log: {srv.log_path}\nCtrl-C stops it.", flush=True)
        while srv.running:
            time.sleep(1.0)
        print(f"server exited with code {srv.process.returncode}; last log lines:\n{srv.log_tail()}")
        return 1
    except KeyboardInterrupt:  # the way to stop a ready server
        print("\nstopping ...", flush=True)
        return 0
    finally:
        srv.stop()


def register(sub) -> None:
    p = sub.add_parser(
        "command",
        help="print the SGLang launch command",
        description="Print the launch command for Kimi-Linear on SGLang. With --page-exact, print exactly "
        "what the cookbook page's generator shows (including its error text, exit status 1).",
    )
    add_launch_arguments(p)
    p.add_argument("--page-exact", action="store_true", help="the page generator's text, character for character")
    p.set_defaults(func=_cmd_command)

    s = sub.add_parser(
        "serve",
        help="run the embedded server or SGLang in the foreground (Ctrl-C stops it)",
        description="Start a server and keep it in the foreground until Ctrl-C. 'embedded' (default) serves "
        "a tiny local model with llama.cpp's OpenAI server on CPU; 'sglang' launches "
        "python3 -m sglang.launch_server with the selector's options.",
    )
    s.add_argument("--backend", choices=BACKENDS, default="embedded")
    s.add_argument("--timeout", type=positive_float, default=None, help="seconds to wait for readiness")
    s.add_argument("--replicas", type=positive_int, default=1,
                   help="start that many servers (free ports; SGLang's pinned to --tp GPUs each, in order) and "
                   "SGLang's router in front of them on --port")
    add_launch_arguments(s)
    s.set_defaults(func=_cmd_serve)
