"""SGLang's router in front of several servers, started and stopped here: ``python -m sglang_router.launch_router``.

The router (``sglang-router``, a Rust load balancer; :data:`ROUTER_REQUIREMENT`) takes ``--worker-urls``, registers
each worker once ``GET {worker}/health`` answers 2xx (then asks ``/get_server_info`` for the served model's name;
``/server_info``, ``/model_info``, ``/get_model_info`` are tried too, a 404 there is only a warning), and proxies the
OpenAI API (``/v1/models``, ``/v1/completions``, ``/v1/chat/completions``) and SGLang's ``/generate`` to a worker
its ``--policy`` picks (``cache_aware`` by default: the worker that served the longest shared prefix, unless the
load is unbalanced). Its own ``/readiness`` answers 200 once a worker is healthy; ``/workers`` lists them.

:func:`launch_replicas` starts ``n`` servers through :func:`kimi_cookbook.server.connect` (the embedded server
with ``/health``, or SGLang, one after the other: SGLang sizes its pools from the free memory it sees), then the
router, and returns a :class:`Fleet`: a handle that works wherever a :class:`~kimi_cookbook.server.Server` does
(``base_url``, ``model``, ``tokenizer_path``, ``kind``, ``flavor``; ``bench.bench_settings(fleet)`` and
``bench.run_scenario`` benchmark through the router) and stops the router and every server, also at exit. The
router renames its process to ``sglang::router`` (setproctitle), so nothing finds it by its command line: it is
started in its own process group (:mod:`kimi_cookbook.processes`) and stopped by that group.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from kimi_cookbook import processes
from kimi_cookbook.hardware import VISIBLE_DEVICES_ENV, get_gpu
from kimi_cookbook.net import DEFAULT_HOST, check_port, free_port, http_get
from kimi_cookbook.processes import display_command
from kimi_cookbook.readiness import ServerStartError

__all__ = [
    "DEFAULT_POLICY",
    "POLICIES",
    "ROUTER_MODULE",
    "ROUTER_REQUIREMENT",
    "Fleet",
    "launch_replicas",
    "launch_router",
    "router_argv",
    "router_workers",
    "stop_all",
]

ROUTER_MODULE = "sglang_router.launch_router"
ROUTER_REQUIREMENT = "sglang-router==0.3.2"  # the release whose CLI and worker endpoints are used here (pyproject)
POLICIES = ("cache_aware", "round_robin", "power_of_two", "random")
DEFAULT_POLICY = "cache_aware"
ROUTER_TIMEOUT_S = 120.0
# what sglang-router 0.3.2 writes to its log (after its colour codes are removed)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_STARTED = "started processing request"
_FAILED_SEND = "Failed to send typed request"
_CIRCUIT_OPEN = "Circuit breaker state transition: closed -> open"
STOP_GRACE_S = 10.0


def router_argv(
    worker_urls: list[str],
    *,
    host: str = DEFAULT_HOST,
    port: int = 30000,
    policy: str = DEFAULT_POLICY,
    python: str = sys.executable,
    extra_args: list[str] | tuple[str, ...] = (),
) -> list[str]:
    """The router's argv: ``python -m sglang_router.launch_router --worker-urls URL ... --policy P --host H --port P``
    (flags as in sglang-router 0.3.2's ``launch_router --help``). ``extra_args`` are more of its flags, e.g.
    ``["--health-check-interval-secs", "5"]``."""
    if not worker_urls:
        raise ValueError("the router needs at least one worker URL")
    for url in worker_urls:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")) or any(c.isspace() for c in url):
            raise ValueError(f"worker URL {url!r} must look like http://HOST:PORT")
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
    for arg in extra_args:
        if not isinstance(arg, str) or "\n" in arg or "\x00" in arg:
            raise ValueError(f"router extra_args must be single-line strings, got {arg!r}")
    return [python, "-m", ROUTER_MODULE, "--worker-urls", *worker_urls, "--policy", policy,
            "--host", host, "--port", str(port), *extra_args]


def router_workers(base_url: str, timeout: float = 5.0) -> list[dict] | None:
    """The router's ``/workers`` list (each with ``url``, ``model_id``, ``is_healthy``, ``load``), None if it
    does not answer."""
    status, body = http_get(f"{base_url}/workers", timeout)
    if status != 200:
        return None
    try:
        workers = json.loads(body).get("workers")
    except (ValueError, AttributeError, RecursionError):
        return None
    return workers if isinstance(workers, list) else None


def _tail(path: str | None, lines: int) -> str:
    """The last ``lines`` lines of a log (its last 64 KiB), "" when there is none."""
    try:
        with open(path or "", "rb") as fh:
            fh.seek(max(0, os.fstat(fh.fileno()).st_size - 64 * 1024))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


# --- the handle ----------------------------------------------------------------------------------------
_LIVE: set[Fleet] = set()
_LIVE_LOCK = threading.Lock()


@dataclass(eq=False)
class Fleet:
    """Servers behind SGLang's router, started here. Use it like a :class:`~kimi_cookbook.server.Server`: requests
    and benchmarks go to ``base_url`` (the router); ``kind`` is the servers' kind (``embedded`` or ``sglang``)."""

    base_url: str
    model: str
    tokenizer_path: str | None
    kind: str
    workers: list = field(default_factory=list)  # kimi_cookbook.server.Server, one per replica
    argv: list[str] = field(default_factory=list)
    command: str = ""  # the router's terminal command
    log_path: str | None = None  # the router's log
    startup_s: float | None = None
    process: subprocess.Popen | None = field(default=None, repr=False)
    killed: dict[int, float] = field(default_factory=dict)  # replica index -> time.monotonic() it was killed

    @property
    def openai_base_url(self) -> str:
        return f"{self.base_url}/v1"

    @property
    def flavor(self) -> str:
        """What the servers behind the router speak beyond the OpenAI API (:attr:`kimi_cookbook.server.Server.flavor`):
        the router passes their native routes on."""
        return self.workers[0].flavor if self.workers else "openai"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def running(self) -> bool:
        """True while the router lives."""
        return self.process is not None and self.process.poll() is None

    @property
    def metrics_url(self) -> str | None:
        """The router's Prometheus metrics (``--prometheus-host``/``--prometheus-port``), when its argv names them."""
        if "--prometheus-port" not in self.argv:
            return None
        at = self.argv.index("--prometheus-port")
        host = self.argv[self.argv.index("--prometheus-host") + 1] if "--prometheus-host" in self.argv else "127.0.0.1"
        return f"http://{host}:{self.argv[at + 1]}/metrics"

    @property
    def worker_urls(self) -> list[str]:
        return [w.base_url for w in self.workers]

    def models(self) -> list[str]:
        from kimi_cookbook.readiness import list_models

        return list_models(self.base_url)

    def status(self) -> list[dict]:
        """One row per replica: its URL, pid, whether its process lives, and what the router says of it."""
        seen = {w.get("url"): w for w in (router_workers(self.base_url) or [])}
        return [{"replica": i, "url": w.base_url, "pid": w.pid, "alive": w.running,
                 "router_healthy": seen.get(w.base_url, {}).get("is_healthy"),
                 "router_load": seen.get(w.base_url, {}).get("load")} for i, w in enumerate(self.workers)]

    def kill_replica(self, index: int, sig: int = signal.SIGKILL) -> None:
        """Kill replica ``index``'s whole process group with ``sig`` (default SIGKILL: a crash, no goodbye), as a
        failing node would; the router is not told. Its handle then reaps it."""
        srv = self.workers[index]
        if srv.process is None:
            raise ValueError(f"replica {index} was not started here; nothing to kill")
        try:
            os.killpg(srv.process.pid, sig)
        except ProcessLookupError:
            pass
        self.killed[index] = time.monotonic()
        srv.stop(grace_s=5.0)  # reaps the leader; the group is gone already after SIGKILL

    def kill_replica_when(self, index: int, *, started: str | os.PathLike | None = None, after_requests: int = 0,
                          timeout_s: float = 600.0) -> threading.Thread:
        """Kill replica ``index`` (:meth:`kill_replica`) from a background thread once the file ``started`` exists
        (e.g. a benchmark scenario's log, written when it starts) and ``after_requests`` more requests have gone
        through the router (counted in its log). Gives up after ``timeout_s``; returns the (daemon) thread."""
        if not 0 <= index < len(self.workers):
            raise ValueError(f"replica must be from 0 to {len(self.workers) - 1}, got {index!r}")

        def watch() -> None:
            deadline = time.monotonic() + timeout_s
            while started is not None and not Path(started).exists():
                if time.monotonic() > deadline or not self.running:
                    return
                time.sleep(0.05)
            base = self.requests_routed()
            while self.requests_routed() < base + after_requests:
                if time.monotonic() > deadline or not self.running:
                    return
                time.sleep(0.05)
            self.kill_replica(index)

        thread = threading.Thread(target=watch, name=f"kill-replica-{index}", daemon=True)
        thread.start()
        return thread

    def router_log(self) -> str:
        """The router's log without its terminal colour codes (it writes them even to a file)."""
        try:
            return _ANSI.sub("", Path(self.log_path or "").read_text(encoding="utf-8", errors="replace"))
        except OSError:
            return ""

    def requests_routed(self) -> int:
        """POST requests the router has started to handle (from its log)."""
        return sum(1 for line in self.router_log().splitlines() if "method=POST" in line and _STARTED in line)

    def router_events(self) -> dict:
        """What the router counted about failures, from its Prometheus metrics (sglang-router 0.3.2's ``smg_*``
        families): ``retries``, failed sends per worker URL (``failed_sends``: each one retried, or answered with an
        error once the retries ran out), circuit breakers opened and those open now (per worker URL), ``healthy``
        (its health checker's view per worker URL) and responses to clients by status (``answered_5xx``). Without
        its metrics, the same counts from its log (no per-worker breakdown)."""
        status, body = http_get(self.metrics_url, 5.0) if self.metrics_url else (0, b"")
        if status != 200:
            text = self.router_log()
            failed = text.count(_FAILED_SEND)
            return {"source": "log", "retries": failed, "failed_sends": {"?": failed},
                    "circuit_opened": {"?": text.count(_CIRCUIT_OPEN)}, "circuit_open": {}, "healthy": {},
                    "answered_5xx": len(re.findall(r"status_code=5\d\d", text))}
        from kimi_cookbook.metrics import parse_metrics

        frame = parse_metrics(body.decode("utf-8", "replace"), prefix="smg_")

        def by_worker(sample: str, **match) -> dict[str, float]:
            out: dict[str, float] = {}
            rows = frame[frame["sample"] == sample] if len(frame) else frame
            for labels, value in zip(rows["labels"], rows["value"]):
                if all(labels.get(k) == v for k, v in match.items()):
                    out[labels.get("worker", "?")] = out.get(labels.get("worker", "?"), 0.0) + value
            return out

        responses = frame[frame["sample"] == "smg_http_responses_total"] if len(frame) else frame
        failed = by_worker("smg_worker_cb_outcomes_total", outcome="failure")
        opened = by_worker("smg_worker_cb_transitions_total", to="open")
        return {
            "source": "metrics",
            "retries": int(sum(by_worker("smg_worker_retries_total").values())),
            "failed_sends": {k: int(v) for k, v in failed.items()},
            "circuit_opened": {k: int(v) for k, v in opened.items()},
            "circuit_open": {k: bool(v) for k, v in by_worker("smg_worker_cb_state").items() if v == 1},
            "healthy": {k: bool(v) for k, v in by_worker("smg_worker_health").items()},
            "answered_5xx": int(sum(v for labels, v in zip(responses["labels"], responses["value"])
                                    if str(labels.get("status_code", "")).startswith("5"))),
        }

    def outage_report(self, rows=None, scenario: str = "") -> str:
        """One line: which replica died, what the benchmark counted in ``scenario`` (its row in ``rows``, the
        rows of :func:`kimi_cookbook.bench.load_results`: a DataFrame or a list of dicts), what the router did
        and what it says now (:meth:`router_events`)."""
        if not self.killed:
            return f"no replica was killed; the router at {self.base_url} serves {len(self.workers)} replicas"
        dead = sorted(self.killed)
        urls = [self.workers[i].base_url for i in dead]
        killed = ", ".join(f"replica {i} ({u})" for i, u in zip(dead, urls))
        records = rows.to_dict("records") if hasattr(rows, "to_dict") else list(rows or [])
        row = next((r for r in records if r.get("name") == scenario), None)
        if row is None:
            requests = f"scenario {scenario!r} has no result row (its client failed: see its log)"
        else:
            ok, failed = int(row.get("successful_requests") or 0), int(row.get("failed_requests") or 0)
            requests = f"scenario {scenario!r}: {ok} of {ok + failed} requests completed, {failed} failed"
        ev = self.router_events()
        to_dead = sum(v for k, v in ev["failed_sends"].items() if k in urls or k == "?")
        opened = sum(v for k, v in ev["circuit_opened"].items() if k in urls or k == "?")
        listed = [f"replica {i} {'healthy' if ev['healthy'][u] else 'unhealthy'}" for i, u in zip(dead, urls)
                  if u in ev["healthy"]]
        health = f"; its health checker lists {', '.join(listed)}" if listed else ""
        return (f"{killed} killed mid-run; {requests}; the router: {to_dead} sends to the dead replica failed, "
                f"{ev['retries']} retries, its circuit breaker opened {opened}x (new requests go to the others), "
                f"{ev['answered_5xx']} requests answered 5xx{health}; {len(self.workers) - len(dead)} of "
                f"{len(self.workers)} replicas alive")

    def log_tail(self, lines: int = 40) -> str:
        return _ANSI.sub("", _tail(self.log_path, lines))

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """Stop the router (its process group), then every server. Idempotent."""
        with _LIVE_LOCK:
            _LIVE.discard(self)
        if self.process is not None:
            processes.stop_group(self.process, grace_s)
        for srv in self.workers:
            srv.stop(grace_s=grace_s)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


@atexit.register
def stop_all() -> None:
    """Stop every router (and its servers) this process started and has not stopped yet (also runs at exit)."""
    with _LIVE_LOCK:
        live = list(_LIVE)
    for fleet in live:
        fleet.stop(grace_s=5.0)


def _wait_router(base_url: str, proc: subprocess.Popen, urls: list[str], model: str | None, timeout_s: float,
                 log_path: str) -> float:
    """Seconds until the router lists every worker healthy (and, with ``model``, serves it in /v1/models)."""
    from kimi_cookbook.readiness import ready

    start = time.monotonic()
    state = "starting"
    while True:
        if proc.poll() is not None:
            raise ServerStartError(f"the router exited with code {proc.returncode} before it was ready ({state})",
                                   _tail(log_path, 40), log_path)
        workers = router_workers(base_url, 2.0)
        if workers is None:
            state = "no answer at /workers"
        else:
            healthy = {w.get("url") for w in workers if w.get("is_healthy")}
            missing = [u for u in urls if u not in healthy]
            state = f"{len(urls) - len(missing)} of {len(urls)} workers healthy"
            if not missing:
                ok, why = ready(base_url, True, model) if model else (True, "ready")
                if ok:
                    return time.monotonic() - start
                state = why
        if time.monotonic() - start >= timeout_s:
            raise ServerStartError(f"the router at {base_url} was not ready after {timeout_s:g} s ({state})",
                                   _tail(log_path, 40), log_path)
        time.sleep(0.2)


def launch_router(
    worker_urls: list[str],
    *,
    model: str | None = None,
    tokenizer_path: str | None = None,
    kind: str = "attached",
    port: int = 0,
    host: str = DEFAULT_HOST,
    policy: str = DEFAULT_POLICY,
    extra_args: list[str] | tuple[str, ...] = (),
    timeout_s: float = ROUTER_TIMEOUT_S,
    log_path: str | os.PathLike | None = None,
    workers: list | None = None,
) -> Fleet:
    """Start SGLang's router in front of ``worker_urls`` (already serving) and wait until it lists them all healthy
    (and serves ``model`` when given). The returned :class:`Fleet` stops the router, and ``workers`` (server
    handles) with it. The router's Prometheus metrics go to a free port on ``host`` (``fleet.metrics_url``) unless
    ``extra_args`` sets ``--prometheus-port``."""
    import importlib.util

    if importlib.util.find_spec("sglang_router") is None:
        raise ServerStartError(f"SGLang's router is not installed: pip install -c constraints.txt "
                               f"'{ROUTER_REQUIREMENT}' (it is in the cookbook's [embedded] and [serve] extras)")
    port = check_port(port, host)
    extra = list(extra_args)
    if "--prometheus-port" not in extra:  # its Prometheus exporter listens on 0.0.0.0:29000 unless told otherwise:
        # a second router on the host would fail to start ("Address already in use")
        extra += ["--prometheus-host", host, "--prometheus-port", str(free_port(host))]
    argv = router_argv(list(worker_urls), host=host, port=port, policy=policy, extra_args=extra)
    from kimi_cookbook.server import new_log_path

    log = Path(log_path) if log_path else new_log_path("router", port)
    log.parent.mkdir(parents=True, exist_ok=True)
    command = display_command(argv)
    with open(log, "ab") as fh:
        fh.write(f"$ {command}\n".encode())
        fh.flush()
        # NO_COLOR: the router's log lines without terminal colour codes, readable in the log file
        proc = processes.start(argv, stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT,
                               env={**os.environ, "NO_COLOR": "1"})
    fleet = Fleet(base_url=f"http://{host}:{port}", model=model or "", tokenizer_path=tokenizer_path, kind=kind,
                  workers=list(workers or []), argv=argv, command=command, log_path=str(log), process=proc)
    with _LIVE_LOCK:
        _LIVE.add(fleet)
    try:
        fleet.startup_s = _wait_router(fleet.base_url, proc, list(worker_urls), model, float(timeout_s), str(log))
    except BaseException as exc:  # timeout, a router that exited, Ctrl-C: nothing is left behind
        fleet.stop(grace_s=5.0)
        if isinstance(exc, ServerStartError):
            exc.pid, exc.argv = proc.pid, list(argv)
        raise
    if not model:
        ids = fleet.models()
        fleet.model = ids[0] if ids else ""
    return fleet


def launch_replicas(
    replicas: int = 2,
    backend: str = "embedded",
    *,
    port: int = 0,
    host: str = DEFAULT_HOST,
    policy: str = DEFAULT_POLICY,
    router_args: list[str] | tuple[str, ...] = (),
    router_timeout_s: float = ROUTER_TIMEOUT_S,
    gpus: list[tuple[int, ...]] | None = None,
    progress: bool = True,
    **kw,
) -> Fleet:
    """Start ``replicas`` servers of ``backend`` on this machine, one after the other, then SGLang's router in front
    of them on ``host:port`` (0: a free port). ``kw`` go to :func:`kimi_cookbook.server.connect` for every server
    (``hardware``, ``model``, ``tp``, ``mem_fraction_static``, ... for SGLang; ports are picked free). ``gpus``: the
    GPU indices of each replica (SGLang), set as ``CUDA_VISIBLE_DEVICES`` / ``HIP_VISIBLE_DEVICES``; without it
    every replica sees every GPU (two small servers on one GPU: split it with ``mem_fraction_static``). The embedded
    server gets its ``/health`` (the router registers a worker only once it answers). Anything that fails stops
    what was started."""
    from kimi_cookbook.server import BACKENDS, connect

    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if isinstance(replicas, bool) or not isinstance(replicas, int) or not 1 <= replicas <= 64:
        raise ValueError(f"replicas must be a whole number from 1 to 64, got {replicas!r}")
    if gpus is not None and len(gpus) != replicas:
        raise ValueError(f"gpus lists {len(gpus)} replica(s), not {replicas}")
    for taken in ("port", "base_url"):
        kw.pop(taken, None)
    check_port(port, host)  # a bad router port fails before any server starts
    started: list = []
    try:
        for i in range(replicas):
            extra: dict = {"health_endpoint": True} if backend == "embedded" else {}
            if gpus is not None and backend == "sglang":
                var = VISIBLE_DEVICES_ENV[get_gpu(kw.get("hardware", "mi300x")).vendor]
                extra["env"] = {**kw.get("env", {}), var: ",".join(str(g) for g in gpus[i])}
            started.append(connect(backend, port=0, host=host, progress=progress, **{**kw, **extra}))
        first = started[0]
        return launch_router([s.base_url for s in started], model=first.model, tokenizer_path=first.tokenizer_path,
                             kind=first.kind, port=port, host=host, policy=policy, extra_args=router_args,
                             timeout_s=router_timeout_s, workers=started)
    except BaseException:
        for srv in started:
            srv.stop(grace_s=5.0)
        raise
