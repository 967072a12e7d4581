"""``docker``: the pull / run / pre-install / exec commands for a GPU, a Compose file, or what this host has."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from kimi_cookbook import jit_cache
from kimi_cookbook.cli.types import positive_int
from kimi_cookbook.docker import (
    check_host,
    compose_yaml,
    docker_exec,
    docker_pull,
    docker_run,
    preinstall,
    with_fingerprint,
    written_by_cookbook,
)
from kimi_cookbook.hardware import GPUS
from kimi_cookbook.paths import atomic_write
from kimi_cookbook.versions import PAGE_VERSION, VERSIONS


def _cmd_compose(args: argparse.Namespace) -> int:
    """``docker --compose [-o compose.yaml]``: print the Compose file, or write it."""
    text = compose_yaml(args.hardware, port=DEFAULTS["port"] if args.port is None else args.port,
                        model_cache=args.model_cache or DEFAULTS["model_cache"], tp=args.tp,
                        tool_call_parser=args.tool_call_parser, enable_metrics=args.enable_metrics,
                        sglang_version=args.sglang_version, replicas=args.replicas,
                        jit_volume=DEFAULTS["jit_volume"] if args.jit_volume is None else args.jit_volume)
    if not args.output:
        print(text, end="")
        return 0
    out = Path(args.output)
    if out.is_dir():
        raise ValueError(f"-o {out} is a folder; name the file to write, e.g. {out / 'compose.yaml'}")
    if (out.exists() or out.is_symlink()) and not args.force:
        try:
            ours = written_by_cookbook(out.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            ours = False
        if not ours:
            raise ValueError(f"-o {out} exists and was not written by kimi-cookbook, or was edited since; pass "
                             "--force to replace it, or name another file")
    atomic_write(out, with_fingerprint(text))  # whole or not at all; a symlink is replaced, its target left alone
    print(f"wrote {out}; start it with: docker compose -f {shlex.quote(str(out))} up -d")
    return 0


PAGE_EXACT_WARNING = (
    "warning: the page's docker run line gives the container the host's privileges (--privileged, "
    "--cap-add=CAP_SYS_ADMIN, --device=/dev/mem, -v /:/work, seccomp=unconfined); run it without --page-exact "
    "for GPU devices only, the model cache mounted and the port on 127.0.0.1"
)
DEFAULTS = {"name": "kimi-linear", "model_cache": "~/.cache/huggingface", "workdir": None, "port": 30000,
            "host_network": False, "pass_hf_token": False, "jit_volume": jit_cache.VOLUME}


def _cmd_docker(args: argparse.Namespace) -> int:
    if args.compose:
        return _cmd_compose(args)
    if args.check_host:
        report = check_host()
        print(json.dumps(report.to_dict(), indent=2) if args.json else report.summary())
        return 0
    given = [k for k in DEFAULTS if getattr(args, k) is not None]
    if args.page_exact and given:
        flags = ", ".join("--" + k.replace("_", "-") for k in given)
        raise ValueError(f"--page-exact prints the page's line as written and would drop {flags}; "
                         "leave --page-exact out to use them")
    opts = {k: DEFAULTS[k] if getattr(args, k) is None else getattr(args, k) for k in DEFAULTS}
    run = docker_run(args.hardware, page_exact=args.page_exact, sglang_version=args.sglang_version, **opts)
    if args.page_exact:
        print(PAGE_EXACT_WARNING, file=sys.stderr, flush=True)
    name = "Kimi-linear" if args.page_exact else opts["name"]
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
    p.add_argument("--name", default=None, help="container name (default kimi-linear)")
    p.add_argument("--model-cache", default=None, help="host model cache (default ~/.cache/huggingface)")
    p.add_argument("--workdir", default=None)
    p.add_argument("--port", type=int, default=None, help="published port (default 30000)")
    p.add_argument("--host-network", action="store_true", default=None)
    p.add_argument("--pass-hf-token", action="store_true", default=None,
                   help="forward HF_TOKEN by name (value not printed)")
    p.add_argument("--jit-volume", default=None, metavar="NAME",
                   help=f"named Docker volume keeping SGLang's JIT kernel caches across restarts (default "
                   f"{jit_cache.VOLUME}; '' leaves it out)")
    p.add_argument("--check-host", action="store_true", help="report rocm-smi/amd-smi/nvidia-smi/docker")
    p.add_argument("--json", action="store_true")
    p.add_argument("--compose", action="store_true", help="print a compose.yaml that launches the server")
    p.add_argument("-o", "--output", default=None, help="with --compose: write it to this file (an existing file only "
                   "if kimi-cookbook wrote it and it was not edited since)")
    p.add_argument("--force", action="store_true", help="with -o: replace the file even if it was edited or not "
                   "written by kimi-cookbook")
    p.add_argument("--tp", type=int, default=None, help="with --compose: tensor parallel size")
    p.add_argument("--tool-call-parser", default=None, help="with --compose: kimi_k2 to enable tool calls")
    p.add_argument("--enable-metrics", action="store_true", help="with --compose: Prometheus /metrics")
    p.add_argument("--replicas", type=positive_int, default=1,
                   help="with --compose: that many servers of --tp GPUs each, behind SGLang's router (default 1)")
    p.set_defaults(func=_cmd_docker)
