"""``replicas``: the tp x replicas layouts of a node (or several) that fit, and the commands of the chosen one."""

from __future__ import annotations

import argparse
import json

from kimi_cookbook import replicas
from kimi_cookbook.cli.types import positive_int
from kimi_cookbook.hardware import GPUS
from kimi_cookbook.router import POLICIES
from kimi_cookbook.versions import VERSIONS

COLUMNS = ("layout", "replicas", "gpus_idle", "cache_GiB_per_gpu", "max_running_requests", "requests_per_server",
           "aggregate_requests", "tpot_floor_b1_ms", "aggregate_decode_floor_tok_s")


def _table(rows: list[dict]) -> str:
    shown = [[str(r.get(c, "")) for c in COLUMNS] if "error" not in r else [r["layout"], f"does not fit: {r['error']}"]
             for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in shown if len(row) == len(COLUMNS))) for i, c in enumerate(COLUMNS)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() if len(row) == len(COLUMNS)
              else f"{row[0].ljust(widths[0])}  {row[1]}" for row in shown]
    return "\n".join(lines)


def _cmd_replicas(args: argparse.Namespace) -> int:
    common = {"gpus_per_node": args.gpus_per_node, "nodes": args.nodes, "context": args.context,
              "sglang_version": args.sglang_version}
    rows = replicas.layout_table(args.hardware, **common)
    found = replicas.layouts(args.hardware, **common)
    if args.tp is not None:
        chosen = next((lay for lay in found if lay.tp == args.tp), None)
        if chosen is None:
            why = next((r.get("error") for r in rows if r["tp"] == args.tp), "tp not allowed for this model")
            raise ValueError(f"tp {args.tp} does not fit: {why}")
    else:
        chosen = replicas.select_layout(found, args.objective)
    knobs = {"sglang_version": args.sglang_version} if args.sglang_version != replicas.DEFAULT_SGLANG_VERSION else {}
    if args.tool_call_parser:
        knobs["tool_call_parser"] = args.tool_call_parser
    hosts = args.node_hosts.split(",") if args.node_hosts else None
    dep = replicas.deployment(chosen, node_hosts=hosts, pinning=args.pinning, policy=args.policy,
                              router_port=args.router_port, worker_port=args.worker_port, **knobs)
    if args.json:
        print(json.dumps({"layouts": rows, "chosen": chosen.row(),
                          "workers": [{"replica": w.replica, "node": w.node, "node_rank": w.node_rank,
                                       "gpus": list(w.gpus), "url": w.url, "command": w.shell()}
                                      for w in dep.workers],
                          "router": dep.router_shell()}, indent=2))
        return 0
    print(f"$ kimi-cookbook replicas --hardware {args.hardware} --gpus-per-node {args.gpus_per_node} "
          f"--nodes {args.nodes} --context {args.context}\n")
    print(f"layouts of {args.nodes} x {args.gpus_per_node} {GPUS[chosen.hardware].label}, requests of "
          f"{args.context:,} tokens, SGLang {chosen.sglang_version}'s pools (predicted):")
    print(_table(rows))
    how = f"--tp {args.tp}" if args.tp is not None else f"best for {args.objective}"
    print(f"\nchosen ({how}): {chosen.name}\n")
    print(replicas.format_deployment(dep))
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "replicas",
        help="layouts of a node (tp x replicas) and their launch + router commands",
        description="Every way to fill a node (or several) with Kimi-Linear servers: tp x replicas, each server's "
        "SGLang pools and concurrency, the totals, and the commands of the chosen layout: one SGLang server per "
        "replica pinned to its GPUs, SGLang's router in front (multi-node flags where a server spans nodes).",
    )
    p.add_argument("--hardware", required=True, help=f"one of: {', '.join(GPUS)}")
    p.add_argument("--gpus-per-node", type=positive_int, default=8, help="GPUs per node (default 8)")
    p.add_argument("--nodes", type=positive_int, default=1, help="nodes (default 1)")
    p.add_argument("--context", type=positive_int, default=131072, help="tokens per request (default 131072)")
    p.add_argument("--sglang-version", choices=list(VERSIONS), default=replicas.DEFAULT_SGLANG_VERSION,
                   help=f"SGLang release whose pools and flags to use (default {replicas.DEFAULT_SGLANG_VERSION})")
    p.add_argument("--objective", choices=replicas.OBJECTIVES, default="throughput",
                   help="what the chosen layout maximises when --tp is not given (default throughput)")
    p.add_argument("--tp", type=positive_int, default=None, help="choose the layout with this tp")
    p.add_argument("--node-hosts", default=None, help="comma-separated address of each node (default node0,node1,...)")
    p.add_argument("--pinning", choices=replicas.PINNINGS, default="visible-devices",
                   help="GPU pinning: CUDA_/HIP_VISIBLE_DEVICES (default) or SGLang's --base-gpu-id")
    p.add_argument("--policy", choices=POLICIES, default="cache_aware", help="the router's policy")
    p.add_argument("--router-port", type=positive_int, default=replicas.ROUTER_PORT)
    p.add_argument("--worker-port", type=positive_int, default=replicas.WORKER_PORT,
                   help="first replica's port on each node; the next ones count up")
    p.add_argument("--tool-call-parser", default=None, help="kimi_k2 to enable tool calls on every server")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=_cmd_replicas)
