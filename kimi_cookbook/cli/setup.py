"""``docker``: the pull / run / pre-install / exec commands for a GPU, a Compose file, or what this host has."""

from __future__ import annotations

import argparse
import json
import shlex

from kimi_cookbook.docker import check_host, compose_yaml, docker_exec, docker_pull, docker_run, preinstall
from kimi_cookbook.hardware import GPUS
from kimi_cookbook.versions import PAGE_VERSION, VERSIONS


def _cmd_compose(args: argparse.Namespace) -> int:
    """``docker --compose [-o compose.yaml]``: print the Compose file, or write it."""
    text = compose_yaml(args.hardware, port=args.port, model_cache=args.model_cache, tp=args.tp,
                        tool_call_parser=args.tool_call_parser, enable_metrics=args.enable_metrics,
                        sglang_version=args.sglang_version)
    if not args.output:
        print(text, end="")
        return 0
    with open(args.output, "w", encoding="utf-8") as fh:
        fh.write(text)
    print(f"wrote {args.output}; start it with: docker compose -f {shlex.quote(args.output)} up -d")
    return 0


def _cmd_docker(args: argparse.Namespace) -> int:
    if args.compose:
        return _cmd_compose(args)
    if args.check_host:
        report = check_host()
        print(json.dumps(report.to_dict(), indent=2) if args.json else report.summary())
        return 0
    run = docker_run(args.hardware, page_exact=args.page_exact, name=args.name, model_cache=args.model_cache,
                     workdir=args.workdir, port=args.port, host_network=args.host_network,
                     pass_hf_token=args.pass_hf_token, sglang_version=args.sglang_version)
    name = "Kimi-linear" if args.page_exact else args.name
    print(f"# 1. pull the image\n{docker_pull(args.hardware, sglang_version=args.sglang_version)}\n")
    print(f"# 2. start the container\n{run}\n")
    print(f"# 3. pre-install inside the container (the page's step)\n{preinstall(name)}\n")
    print(f"# 4. a shell in the container\n{docker_exec(name)}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("docker", help="print docker pull/run/exec commands, or check this host")
    p.add_argument("--hardware", default="mi300x", help=f"one of {', '.join(GPUS)}")
    p.add_argument("--page-exact", action="store_true", help="the page's docker run line as written (AMD)")
    p.add_argument("--sglang-version", default=None,
                   help=f"image of this SGLang version ({', '.join(VERSIONS)}; default the page's {PAGE_VERSION})")
    p.add_argument("--name", default="kimi-linear")
    p.add_argument("--model-cache", default="~/.cache/huggingface")
    p.add_argument("--workdir", default=None)
    p.add_argument("--port", type=int, default=30000)
    p.add_argument("--host-network", action="store_true")
    p.add_argument("--pass-hf-token", action="store_true", help="forward HF_TOKEN by name (value not printed)")
    p.add_argument("--check-host", action="store_true", help="report rocm-smi/amd-smi/nvidia-smi/docker")
    p.add_argument("--json", action="store_true")
    p.add_argument("--compose", action="store_true", help="print a compose.yaml that launches the server")
    p.add_argument("-o", "--output", default=None, help="with --compose: write it to this file")
    p.add_argument("--tp", type=int, default=None, help="with --compose: tensor parallel size")
    p.add_argument("--tool-call-parser", default=None, help="with --compose: kimi_k2 to enable tool calls")
    p.add_argument("--enable-metrics", action="store_true", help="with --compose: Prometheus /metrics")
    p.set_defaults(func=_cmd_docker)
