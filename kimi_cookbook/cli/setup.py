"""``docker``: the pull / run / pre-install / exec commands for a GPU, or what this host has."""

from __future__ import annotations

import argparse
import json

from kimi_cookbook.docker import check_host, docker_exec, docker_pull, docker_run, preinstall
from kimi_cookbook.hardware import GPUS
from kimi_cookbook.versions import PAGE_VERSION, VERSIONS


def _cmd_docker(args: argparse.Namespace) -> int:
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
    p.set_defaults(func=_cmd_docker)
