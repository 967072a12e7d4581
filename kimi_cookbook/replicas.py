"""Beyond one server: the tp x replicas layouts of a node (or several) that fit, and the commands that start them.

A server of Kimi-Linear-48B needs at most one node (``hardware.MAX_TP``), so on a node of ``gpus_per_node`` GPUs
the lever is data parallelism: ``gpus_per_node // tp`` independent servers (replicas) of ``tp`` GPUs each, behind
SGLang's router. :func:`layouts` lists every tp that holds the model and one request of ``context`` tokens, with
the per-server plan of :func:`kimi_cookbook.capacity.plan` (the pools SGLang will allocate, predicted by
:mod:`kimi_cookbook.sglang_memory`), the number of replicas and what they add up to. :func:`select_layout` picks
one for an objective. :func:`deployment` writes the launch commands: one ``python3 -m sglang.launch_server`` per
replica, pinned to its GPUs (``CUDA_VISIBLE_DEVICES`` / ``HIP_VISIBLE_DEVICES``, or SGLang's ``--base-gpu-id``),
each on its own port, and the router's command (:func:`kimi_cookbook.router.router_argv`) in front of them. A
server that needs more GPUs than a node has (nodes of 1, 2 or 4 GPUs) spans nodes: one command per node with
SGLang's ``--nnodes``, ``--node-rank`` and ``--dist-init-addr``; only node rank 0 serves HTTP. SGLang's own
alternative for one node, ``--dp-size`` (one process tree, SGLang's internal round-robin), is
:meth:`Deployment.dp_size_command`; SGLang refuses ``--dp-size`` across nodes without DP attention.

Pure arithmetic and text: nothing here starts a process (:mod:`kimi_cookbook.router` does, on this machine).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

from kimi_cookbook import capacity
from kimi_cookbook.hardware import MAX_TP, VISIBLE_DEVICES_ENV, get_gpu
from kimi_cookbook.router import DEFAULT_POLICY, POLICIES, router_argv
from kimi_cookbook.selector import LaunchSpec, build_launch_spec
from kimi_cookbook.versions import DEFAULT_VERSION, VERSIONS

__all__ = [
    "OBJECTIVES",
    "PINNINGS",
    "Deployment",
    "Layout",
    "WorkerLaunch",
    "deployment",
    "format_deployment",
    "layout_table",
    "layouts",
    "select_layout",
]

OBJECTIVES = ("throughput", "concurrency", "latency")
PINNINGS = ("visible-devices", "base-gpu-id")
ROUTER_PORT = 30000  # what clients use: the port a single server had
WORKER_PORT = 30001  # first replica's port on each node; the next ones count up
DIST_INIT_PORT = 50000  # multi-node rendezvous of replica r: DIST_INIT_PORT + r on its first node
DEFAULT_SGLANG_VERSION = DEFAULT_VERSION  # the page's, whose pools the layouts show unless told otherwise


def _count(name: str, value, upper: int | None = None) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 or (upper is not None and value > upper):
        limit = f"from 1 to {upper}" if upper is not None else "at least 1"
        raise ValueError(f"{name} must be a whole number {limit}, got {value!r}")
    return value


@dataclass
class Layout:
    """One way to fill ``nodes`` nodes of ``gpus_per_node`` GPUs with servers of ``tp`` GPUs each."""

    hardware: str
    gpus_per_node: int
    nodes: int
    tp: int
    nodes_per_replica: int  # 1, or the nodes one server spans (tp > gpus_per_node)
    replicas_per_node: int  # servers on each node (0 when one server spans nodes)
    replicas: int  # servers in all
    gpus_used: int
    gpus_idle: int
    context: int  # tokens per request the concurrency is counted for
    sglang_version: str
    # per server (the planner's numbers, kimi_cookbook.capacity.plan)
    cache_gib_per_gpu: float
    max_total_num_tokens: int  # SGLang's MLA token pool (predicted)
    max_running_requests: int  # SGLang's cap on running requests (predicted)
    requests_per_server: int  # requests of `context` tokens one server runs at once: min(cap, pool // context)
    planner_max_requests: int  # the planner's bound with the memory split tuned (--max-running-requests)
    tpot_floor_b1_ms: float  # decode floor of one server at batch 1
    decode_floor_tok_s_per_server: float  # output tokens/s bound of one server at `requests_per_server` running
    plan: capacity.Plan = field(repr=False)

    @property
    def multi_node(self) -> bool:
        """True when one server spans nodes (its commands carry --nnodes/--node-rank/--dist-init-addr)."""
        return self.nodes_per_replica > 1

    @property
    def aggregate_requests(self) -> int:
        """Requests of ``context`` tokens the whole layout runs at once: replicas x requests_per_server."""
        return self.replicas * self.requests_per_server

    @property
    def aggregate_decode_floor_tok_s(self) -> float:
        """Output tokens/s bound of all replicas together (each at its full batch; a roofline, not a measurement)."""
        return self.replicas * self.decode_floor_tok_s_per_server

    @property
    def name(self) -> str:
        if self.multi_node:
            return f"{self.replicas} x tp {self.tp} over {self.nodes_per_replica} nodes"
        nodes = f" x {self.nodes} nodes" if self.nodes > 1 else ""
        return f"tp {self.tp} x {self.replicas_per_node} per node{nodes}"

    def row(self) -> dict[str, Any]:
        """The layout as one table row (see :func:`layout_table`)."""
        return {
            "layout": self.name, "tp": self.tp, "replicas": self.replicas, "gpus_used": self.gpus_used,
            "gpus_idle": self.gpus_idle, "multi_node": self.multi_node, "cache_GiB_per_gpu": self.cache_gib_per_gpu,
            "max_total_num_tokens": self.max_total_num_tokens, "max_running_requests": self.max_running_requests,
            "requests_per_server": self.requests_per_server, "aggregate_requests": self.aggregate_requests,
            "tpot_floor_b1_ms": round(self.tpot_floor_b1_ms, 3),
            "aggregate_decode_floor_tok_s": round(self.aggregate_decode_floor_tok_s),
        }


def _placements(gpus_per_node: int, nodes: int, tp: int) -> tuple[int, int, int] | None:
    """(nodes per replica, replicas per node, replicas) for servers of ``tp`` GPUs, or None when none fits."""
    if tp <= gpus_per_node:
        per_node = gpus_per_node // tp
        return 1, per_node, per_node * nodes
    if tp % gpus_per_node:  # SGLang splits a server's tp evenly over its nodes
        return None
    span = tp // gpus_per_node
    return (span, 0, nodes // span) if nodes >= span else None


def layouts(
    hardware: str,
    *,
    gpus_per_node: int = 8,
    nodes: int = 1,
    context: int = 131072,
    tps=None,
    sglang_version: str = DEFAULT_SGLANG_VERSION,
    config=None,
    **plan_kw,
) -> list[Layout]:
    """Every layout of ``nodes`` x ``gpus_per_node`` GPUs of ``hardware`` whose servers hold the model and at least
    one request of ``context`` tokens, by tp (``tps``: the ones to consider, default every tp the model's heads
    allow). ``plan_kw`` go to :func:`kimi_cookbook.capacity.plan` (dtypes, ``mem_fraction_static``,
    ``max_running_requests``, ...). A tp that does not fit is left out (:func:`layout_table` says why)."""
    return [lay for lay in _layouts_or_errors(hardware, gpus_per_node=gpus_per_node, nodes=nodes, context=context,
                                              tps=tps, sglang_version=sglang_version, config=config, **plan_kw)
            if isinstance(lay, Layout)]


def _layouts_or_errors(hardware, *, gpus_per_node, nodes, context, tps, sglang_version, config, **plan_kw):
    gpu = get_gpu(hardware)
    gpus_per_node = _count("gpus_per_node", gpus_per_node, 64)
    nodes = _count("nodes", nodes, 1024)
    cfg = capacity.as_config(config)
    capacity.check_context(cfg, context)
    if sglang_version not in VERSIONS:
        raise ValueError(f"sglang_version must be one of {tuple(VERSIONS)}, got {sglang_version!r}")
    heads = {cfg.kda_num_heads, cfg.num_attention_heads}
    allowed = [t for t in range(1, MAX_TP + 1) if all(h % t == 0 for h in heads)]
    chosen = allowed if tps is None else [capacity.check_tp(cfg, _count("tp", t, MAX_TP)) for t in tps]
    out: list[Layout | tuple[int, str]] = []
    for tp in chosen:
        placed = _placements(gpus_per_node, nodes, tp)
        if placed is None:
            why = (f"tp {tp} needs {tp // gpus_per_node} nodes of {gpus_per_node} GPUs" if tp % gpus_per_node == 0
                   else f"tp {tp} does not split evenly over nodes of {gpus_per_node} GPUs")
            out.append((tp, why))
            continue
        span, per_node, replicas = placed
        try:
            p = capacity.plan(gpu.id, tp, context, config=cfg, sglang_version=sglang_version, **plan_kw)
        except ValueError as exc:
            out.append((tp, str(exc)))
            continue
        per_server = min(p.sglang_max_running_requests, p.sglang_max_total_num_tokens // context)
        if per_server < 1:
            out.append((tp, f"SGLang's pool ({p.sglang_max_total_num_tokens:,} tokens) holds no {context:,}-token "
                            "request"))
            continue
        step = capacity.decode_step(gpu, tp, per_server, context, config=cfg)
        used = replicas * tp
        out.append(Layout(
            hardware=gpu.id, gpus_per_node=gpus_per_node, nodes=nodes, tp=tp, nodes_per_replica=span,
            replicas_per_node=per_node, replicas=replicas, gpus_used=used, gpus_idle=gpus_per_node * nodes - used,
            context=context, sglang_version=p.sglang_version,
            cache_gib_per_gpu=round(p.cache_budget_bytes_per_gpu / capacity.GIB, 1),
            max_total_num_tokens=p.sglang_max_total_num_tokens, max_running_requests=p.sglang_max_running_requests,
            requests_per_server=per_server, planner_max_requests=p.max_concurrent_requests,
            tpot_floor_b1_ms=p.tpot_floor_ms, decode_floor_tok_s_per_server=per_server / step["tpot_floor_ms"] * 1e3,
            plan=p,
        ))
    return out


def layout_table(hardware: str, **kw) -> list[dict[str, Any]]:
    """:func:`layouts` as table rows, one per tp considered; a tp that does not fit has its reason in ``error``."""
    rows = []
    for item in _layouts_or_errors(hardware, **{"gpus_per_node": 8, "nodes": 1, "context": 131072, "tps": None,
                                                "sglang_version": DEFAULT_SGLANG_VERSION, "config": None, **kw}):
        rows.append(item.row() if isinstance(item, Layout) else {"layout": f"tp {item[0]}", "tp": item[0],
                                                                 "error": item[1]})
    return rows


def select_layout(candidates: list[Layout], objective: str = "throughput") -> Layout:
    """The layout that serves ``objective`` best: ``throughput`` (the highest aggregate decode bound),
    ``concurrency`` (the most requests running at once) or ``latency`` (the lowest batch-1 TPOT floor). Ties go
    to fewer GPUs, then fewer replicas (fewer processes to run)."""
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    if not candidates:
        raise ValueError("no layout fits: use more or larger GPUs, a shorter context, or fp8 weights")
    score = {
        "throughput": lambda lay: lay.aggregate_decode_floor_tok_s,
        "concurrency": lambda lay: lay.aggregate_requests,
        "latency": lambda lay: -lay.tpot_floor_b1_ms,
    }[objective]
    return max(candidates, key=lambda lay: (round(score(lay), 6), -lay.gpus_used, -lay.replicas))


# --- the commands --------------------------------------------------------------------------------------
@dataclass
class WorkerLaunch:
    """One ``sglang.launch_server`` process: a replica's server, or one node's part of a multi-node one."""

    replica: int
    node: int  # index of the node it runs on
    node_rank: int  # its rank within the replica (0 serves HTTP)
    gpus: tuple[int, ...]  # GPU indices on that node
    node_host: str
    port: int
    spec: LaunchSpec  # SGLang's command (env: the selector's, plus the GPU pinning when pinned by variable)

    @property
    def url(self) -> str | None:
        """The base URL the router sends requests to (rank 0 only; other ranks run the model's shards)."""
        return f"http://{self.node_host}:{self.port}" if self.node_rank == 0 else None

    def shell(self) -> str:
        """The terminal command, every value shell-quoted, the environment first."""
        return self.spec.to_shell()

    def argv(self, python: str = "python3") -> list[str]:
        return self.spec.argv(python)


@dataclass
class Deployment:
    """The commands of a :class:`Layout`: the workers (by node) and the router in front of them."""

    layout: Layout
    workers: list[WorkerLaunch]
    router: list[str]  # the router's argv (python3 -m sglang_router.launch_router ...)
    router_host: str
    router_port: int
    pinning: str
    knobs: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def worker_urls(self) -> list[str]:
        return [w.url for w in self.workers if w.url]

    @property
    def router_url(self) -> str:
        host = "127.0.0.1" if self.router_host in ("0.0.0.0", "::") else self.router_host
        return f"http://{host}:{self.router_port}"

    def router_shell(self) -> str:
        return " \\\n  ".join(_pairs(self.router))

    def dp_size_command(self, node: int = 0) -> LaunchSpec:
        """SGLang's own alternative on one node: one ``launch_server --tp T --dp-size D`` running this node's
        replicas as one process tree (SGLang's data-parallel controller spreads requests round-robin; one port,
        no router needed on one node). Not for layouts spanning nodes (SGLang needs DP attention for that)."""
        lay = self.layout
        if lay.multi_node:
            raise ValueError("--dp-size cannot span nodes without DP attention; a server spanning nodes uses "
                             "--nnodes (this layout's commands) instead")
        if not 0 <= node < lay.nodes:
            raise ValueError(f"node must be from 0 to {lay.nodes - 1}, got {node!r}")
        gpus = tuple(range(lay.replicas_per_node * lay.tp))
        host = self.workers[0].spec.option("--host") or "127.0.0.1"
        spec = build_launch_spec(lay.hardware, tp=lay.tp, host=host, port=self.router_port, **self.knobs)
        spec.options.append(("--dp-size", str(lay.replicas_per_node)))
        return _pin(spec, lay.hardware, gpus, "visible-devices")

    def script(self) -> str:
        """Every command, grouped by node, then the router: what an operator runs, node by node."""
        lay = self.layout
        nodes = f"{lay.nodes} node{'s' if lay.nodes > 1 else ''} of {lay.gpus_per_node} {get_gpu(lay.hardware).label}"
        lines = [f"# {lay.name}: {lay.replicas} server(s) of tp {lay.tp} on {nodes}; {lay.requests_per_server} x "
                 f"{lay.context:,}-token requests each (SGLang {lay.sglang_version}'s pools, predicted)"]
        if lay.multi_node:
            lines.append("# every node of a server must reach its --dist-init-addr; where the default network "
                         "interface is not the one between the nodes, set NCCL_SOCKET_IFNAME and GLOO_SOCKET_IFNAME")
        for node in sorted({w.node for w in self.workers}):
            on_node = [w for w in self.workers if w.node == node]
            lines.append(f"\n# node {node} ({on_node[0].node_host})")
            for w in on_node:
                what = (f"replica {w.replica}, GPUs {','.join(map(str, w.gpus))}"
                        + (f", node rank {w.node_rank} of {lay.nodes_per_replica}" if lay.multi_node else "")
                        + (f", serves {w.url}" if w.url else ", no HTTP API (rank 0 serves it)"))
                lines.append(f"# {what}\n{w.shell()} &")
        if len(self.worker_urls) == 1:
            lines.append(f"\n# one server: clients can use {self.worker_urls[0]}/v1 directly; the router gives them "
                         f"the address that stays when replicas are added\n{self.router_shell()}")
        else:
            lines.append(f"\n# the router (on node 0), in front of {len(self.worker_urls)} servers: clients use "
                         f"{self.router_url}/v1\n{self.router_shell()}")
        return "\n".join(lines)


def _pairs(argv: list[str]) -> list[str]:
    """argv quoted and grouped as ``--flag value`` for one flag per line (a flag's several values stay with it)."""
    out: list[str] = []
    for word in argv:
        quoted = shlex.quote(word)
        if word.startswith("--") or not out:
            out.append(quoted)
        else:
            out[-1] += " " + quoted
    # python3 -m module on the first line
    if len(out) > 1 and out[0] in ("python3", "python") and out[1].startswith("-m "):
        out[0:2] = [f"{out[0]} {out[1]}"]
    return out


def _pin(spec: LaunchSpec, hardware: str, gpus: tuple[int, ...], pinning: str) -> LaunchSpec:
    if pinning == "visible-devices":
        var = VISIBLE_DEVICES_ENV[get_gpu(hardware).vendor]
        spec.env = {var: ",".join(map(str, gpus)), **spec.env}
    else:  # SGLang's --base-gpu-id: the process sees every GPU and uses gpus[0] .. gpus[0] + tp - 1
        spec.options.append(("--base-gpu-id", str(gpus[0])))
    return spec


def deployment(
    layout: Layout,
    *,
    node_hosts: list[str] | tuple[str, ...] | None = None,
    host: str | None = None,
    worker_port: int = WORKER_PORT,
    router_host: str = "127.0.0.1",
    router_port: int = ROUTER_PORT,
    dist_init_port: int = DIST_INIT_PORT,
    pinning: str = "visible-devices",
    policy: str = DEFAULT_POLICY,
    **knobs,
) -> Deployment:
    """The commands that start ``layout``: one SGLang server per replica (per node of a replica that spans nodes),
    each pinned to its GPUs, and the router.

    ``node_hosts``: each node's address as the router (and, multi-node, the other ranks) reach it (default
    ``127.0.0.1`` on one node, ``node0``, ``node1``, ... placeholders otherwise). ``host``: what the servers listen
    on (default ``127.0.0.1`` on one node, where only the router talks to them; ``0.0.0.0`` across nodes). Replica
    ports count up from ``worker_port`` on each node; the router listens on ``router_host:router_port``.
    ``pinning``: ``visible-devices`` (``CUDA_VISIBLE_DEVICES`` / ``HIP_VISIBLE_DEVICES``; each process sees only
    its GPUs) or ``base-gpu-id`` (SGLang's ``--base-gpu-id``; each process sees all). ``knobs`` go to
    :func:`kimi_cookbook.selector.build_launch_spec` (``tool_call_parser``, ``context_length``,
    ``sglang_version``, ``extra_args``, ...); ``tp``, ``host`` and ``port`` come from the layout.
    """
    if pinning not in PINNINGS:
        raise ValueError(f"pinning must be one of {PINNINGS}, got {pinning!r}")
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
    bad = {"tp", "host", "port", "hardware"} & set(knobs)
    if bad:
        raise ValueError(f"{sorted(bad)} come from the layout and the deployment's own arguments")
    if node_hosts is None:
        node_hosts = ["127.0.0.1"] if layout.nodes == 1 else [f"node{i}" for i in range(layout.nodes)]
    node_hosts = list(node_hosts)
    if len(node_hosts) != layout.nodes:
        raise ValueError(f"node_hosts names {len(node_hosts)} node(s); the layout has {layout.nodes}")
    for h in node_hosts:
        if not isinstance(h, str) or not h or any(c.isspace() or c in "/@" for c in h):
            raise ValueError(f"node host {h!r} must be a host name or address")
    host = host or ("127.0.0.1" if layout.nodes == 1 else "0.0.0.0")
    top_port = worker_port + max(layout.replicas_per_node, 1) - 1
    for name, port in (("worker_port", worker_port), ("router_port", router_port), ("dist_init_port", dist_init_port),
                       ("the last replica's port", top_port)):
        _count(name, port, 65535)
    if worker_port <= router_port <= top_port:
        raise ValueError(f"router_port {router_port} falls among the replicas' ports {worker_port}-{top_port}")
    workers: list[WorkerLaunch] = []
    if not layout.multi_node:
        replica = 0
        for node in range(layout.nodes):
            for slot in range(layout.replicas_per_node):
                gpus = tuple(range(slot * layout.tp, (slot + 1) * layout.tp))
                port = worker_port + slot
                spec = build_launch_spec(layout.hardware, tp=layout.tp, host=host, port=port, **knobs)
                workers.append(WorkerLaunch(replica, node, 0, gpus, node_hosts[node], port,
                                            _pin(spec, layout.hardware, gpus, pinning)))
                replica += 1
    else:
        span = layout.nodes_per_replica
        gpus = tuple(range(layout.gpus_per_node))
        for replica in range(layout.replicas):
            first = replica * span
            rendezvous = f"{node_hosts[first]}:{dist_init_port + replica}"
            for rank in range(span):
                spec = build_launch_spec(layout.hardware, tp=layout.tp, host=host, port=worker_port, **knobs)
                spec.options += [("--nnodes", str(span)), ("--node-rank", str(rank)), ("--dist-init-addr", rendezvous)]
                workers.append(WorkerLaunch(replica, first + rank, rank, gpus, node_hosts[first + rank], worker_port,
                                            _pin(spec, layout.hardware, gpus, pinning)))
    urls = [w.url for w in workers if w.url]
    router = router_argv(urls, host=router_host, port=router_port, policy=policy, python="python3")
    return Deployment(layout=layout, workers=workers, router=router, router_host=router_host,
                      router_port=router_port, pinning=pinning, knobs=dict(knobs))


def format_deployment(dep: Deployment) -> str:
    """:meth:`Deployment.script`, then SGLang's ``--dp-size`` alternative where it applies."""
    text = dep.script()
    lay = dep.layout
    if not lay.multi_node and lay.replicas_per_node > 1:
        text += ("\n\n# SGLang's own alternative on one node: one server, "
                 f"{lay.replicas_per_node} data-parallel copies of tp {lay.tp} (no router needed on one node)\n"
                 + dep.dp_size_command().to_shell())
    return text
