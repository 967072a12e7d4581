"""Start, attach to and stop an OpenAI-compatible server: SGLang on GPUs, or the embedded one on CPU.

One API for the notebooks, the tests and the CLI::

    from kimi_cookbook.server import connect
    with connect(backend="embedded", base_url="") as srv:   # attach if base_url, else launch
        srv.base_url        # "http://127.0.0.1:PORT" (no /v1)
        srv.model           # model name to send in requests
        srv.tokenizer_path  # HF tokenizer folder or hub id, None when unknown (attached)
        srv.kind            # "embedded" | "sglang" | "attached"
        srv.flavor          # "llama.cpp" | "sglang" | "openai": what it speaks beyond the OpenAI API

``sglang`` runs ``python3 -m sglang.launch_server`` with the argv from :mod:`kimi_cookbook.selector`;
``embedded`` runs llama.cpp's OpenAI-compatible server (``python -m llama_cpp.server``, from
``llama-cpp-python``) on the tiny model of :mod:`kimi_cookbook.tiny_model` -- a real server that SGLang's
benchmark client can drive. The child is started and stopped by :mod:`kimi_cookbook.processes` (own process
group, killed with this process), logs to a file, and is ready only when ``/v1/models`` lists the model it
was started with (so a foreign server that took the port is named, not used) and, for SGLang, ``/health``
answers 200 (after its warm-up generation). SGLang's own ``sglang.utils.launch_server_cmd`` /
``wait_for_server`` are not used: in 0.5.7 the first splits the command on spaces (no ``ENV=1`` prefix) and
the second polls forever without noticing a dead process.
"""

from __future__ import annotations

import atexit
import os
import re
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from kimi_cookbook import processes
from kimi_cookbook.net import (
    DEFAULT_HOST,
    PortInUseError,
    api_key,
    api_key_env,
    check_port,
    free_port,
    http_get,
    normalize_base_url,
)
from kimi_cookbook.processes import display_command
from kimi_cookbook.readiness import FLAVORS, ServerStartError, list_models, probe, ready, server_flavor
from kimi_cookbook.selector import LAUNCH_KNOBS, build_launch_spec
from kimi_cookbook.tiny_model import cache_root, ensure_tiny_model

__all__ = [
    "BACKENDS",
    "FLAVORS",
    "PortInUseError",
    "Server",
    "ServerStartError",
    "attach",
    "check_port",
    "connect",
    "display_command",
    "embedded_argv",
    "free_port",
    "http_get",
    "launch_embedded",
    "launch_sglang",
    "list_models",
    "normalize_base_url",
    "ready",
    "server_flavor",
    "stop_all",
    "wait_ready",
]

BACKENDS = ("embedded", "sglang")
KINDS = ("embedded", "sglang", "attached")
EMBEDDED_TIMEOUT_S = 120.0
SGLANG_TIMEOUT_S = 1800.0  # first start downloads ~100 GB of weights and compiles kernels
ATTACH_TIMEOUT_S = 30.0
STOP_GRACE_S = processes.STOP_GRACE_S
LOG_TAIL_LINES = 40
KEEP_LOGS = 50  # server logs kept in the cache's logs/ folder; older ones are removed at each launch

# Knobs only SGLang takes (host and port apply to every backend); connect() drops them for the embedded
# server and for attach mode, so one notebook cell works for every backend.
SGLANG_KNOBS = (*(k for k in LAUNCH_KNOBS if k not in ("host", "port")), "python", "env")


# --- the handle -------------------------------------------------------------------------------------
_LIVE: set[Server] = set()
_LIVE_LOCK = threading.Lock()


@dataclass(eq=False)
class Server:
    """A running (launched or attached) OpenAI-compatible server."""

    base_url: str
    model: str
    tokenizer_path: str | None
    kind: str
    flavor: str = "openai"  # one of FLAVORS, decided once: by the launch, or by server_flavor when attached
    argv: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)  # variables added to the child's environment
    command: str = ""  # the equivalent terminal command ("" when attached)
    log_path: str | None = None
    startup_s: float | None = None
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def openai_base_url(self) -> str:
        """``base_url + "/v1"``, what ``openai.OpenAI(base_url=...)`` wants."""
        return f"{self.base_url}/v1"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def running(self) -> bool:
        """True while the launched process lives (attached: while ``/v1/models`` answers)."""
        if self.process is None:
            return http_get(f"{self.base_url}/v1/models", 5.0)[0] == 200
        return self.process.poll() is None

    def models(self) -> list[str]:
        return list_models(self.base_url)

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        return _tail(self.log_path, lines)

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """SIGTERM to the process group, SIGKILL after ``grace_s``. Idempotent; no-op when attached."""
        with _LIVE_LOCK:
            _LIVE.discard(self)
        if self.process is not None:
            processes.stop_group(self.process, grace_s)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _tail(path: str | None, lines: int) -> str:
    if not path:
        return ""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 64 * 1024))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(deque(text.splitlines(), maxlen=lines))


@atexit.register
def stop_all() -> None:
    """Stop every server this process launched and has not stopped yet (also runs at exit)."""
    with _LIVE_LOCK:
        live = list(_LIVE)
    for srv in live:
        srv.stop(grace_s=5.0)


# --- launching --------------------------------------------------------------------------------------
def new_log_path(kind: str, port: int, keep: int = KEEP_LOGS) -> Path:
    """A new log file name in the cache's ``logs/`` folder; the oldest logs beyond ``keep`` are removed."""
    folder = cache_root() / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    old = sorted(folder.glob("*.log"), key=lambda p: p.stat().st_mtime if p.exists() else 0.0)
    for stale in old[: max(0, len(old) - (keep - 1))]:
        try:
            stale.unlink()
        except OSError:  # another launch removed it, or it is not ours to remove
            pass
    return folder / f"{kind}-{port}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"


_default_log_path = new_log_path


def _check_timeout(timeout_s) -> float:
    try:
        value = float(timeout_s)
    except (TypeError, ValueError):
        raise ValueError(f"timeout_s must be a number of seconds, got {timeout_s!r}") from None
    if not value > 0:
        raise ValueError(f"timeout_s must be more than 0, got {timeout_s!r}")
    return value


_FOREIGN_HINT = (
    "; another server took the port between the free-port check and the launch: "
    "stop it, pick another port, or pass port=0"
)


def _missing_module_hint(log_path: str | None) -> str:
    """"; <module> is not installed ..." when the child died of a ModuleNotFoundError (its log says so)."""
    found = re.findall(r"No module named '([\w.]+)'", _tail(log_path, LOG_TAIL_LINES))
    if not found:
        return ""
    return (f"; its Python lacks the module {found[-1]!r} (SGLang needs a GPU host with its dependencies: "
            "README, Docker), or use the embedded backend")


def wait_ready(
    base_url: str,
    *,
    timeout_s: float,
    health: bool,
    proc: subprocess.Popen | None = None,
    log_path: str | None = None,
    what: str = "server",
    progress: bool = True,
    model: str | None = None,
) -> float:
    """Poll until ready; returns seconds waited. Raises ServerStartError on exit or timeout.

    With ``model``, a server whose ``/v1/models`` does not list it is not ready (see :func:`ready`).
    """
    from tqdm.auto import tqdm

    start = time.monotonic()
    state = "starting"
    with tqdm(
        total=round(timeout_s),
        desc=f"waiting for {what}",
        unit="s",
        disable=not progress,
        bar_format="{desc}: {bar} {n:.0f}/{total:.0f} s {postfix}",
        leave=False,
    ) as bar:
        while True:
            if proc is not None and proc.poll() is not None:
                hint = _FOREIGN_HINT if state.startswith("foreign server") else _missing_module_hint(log_path)
                raise ServerStartError(
                    f"{what} exited with code {proc.returncode} before it was ready "
                    f"({state}, {time.monotonic() - start:.1f} s){hint}",
                    _tail(log_path, LOG_TAIL_LINES),
                    log_path,
                )
            ok, state = ready(base_url, health, model)
            if ok:
                return time.monotonic() - start
            elapsed = time.monotonic() - start
            if elapsed >= timeout_s:
                hint = _FOREIGN_HINT if state.startswith("foreign server") else ""
                raise ServerStartError(
                    f"{what} at {base_url} was not ready after {timeout_s:g} s (last check: {state}){hint}",
                    _tail(log_path, LOG_TAIL_LINES),
                    log_path,
                )
            bar.n = min(round(elapsed), bar.total)
            last = _tail(log_path, 1) if log_path else ""
            if last.startswith("$ "):  # the launch command heading the log: printed by the caller, not here
                last = ""
            bar.set_postfix_str((last or state)[-80:], refresh=True)
            time.sleep(min(0.5 if elapsed < 30 else 2.0, max(0.02, timeout_s - elapsed)))


def _spawn(
    argv: list[str],
    *,
    kind: str,
    flavor: str,
    base_url: str,
    model: str,
    tokenizer_path: str | None,
    command: str,
    env_add: dict[str, str],
    log_path: str | os.PathLike | None,
    port: int,
    timeout_s: float,
    health: bool,
    progress: bool,
    env_drop: frozenset[str] = frozenset(),
) -> Server:
    log = Path(log_path) if log_path else _default_log_path(kind, port)
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {**{k: v for k, v in os.environ.items() if k.lower() not in env_drop}, **env_add}
    with open(log, "ab") as fh:
        fh.write(f"$ {command}\n".encode())
        fh.flush()
        proc = processes.start(argv, stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT, env=env)
    srv = Server(
        base_url=base_url,
        model=model,
        tokenizer_path=tokenizer_path,
        kind=kind,
        flavor=flavor,
        argv=list(argv),
        env={k: ("***" if k in _SECRET_ENV else v) for k, v in env_add.items()},
        command=command,
        log_path=str(log),
        process=proc,
    )
    with _LIVE_LOCK:
        _LIVE.add(srv)
    try:
        srv.startup_s = wait_ready(
            base_url,
            timeout_s=timeout_s,
            health=health,
            proc=proc,
            log_path=str(log),
            what=f"{kind} server (pid {proc.pid})",
            progress=progress,
            model=model,
        )
    except BaseException as exc:  # timeout, dead child, KeyboardInterrupt: never leave the child behind
        srv.stop(grace_s=5.0)
        if isinstance(exc, ServerStartError):
            exc.pid, exc.argv, exc.env = proc.pid, list(argv), dict(srv.env)
        raise
    return srv


def embedded_argv(
    gguf_path: str,
    *,
    model: str,
    host: str = DEFAULT_HOST,
    port: int = 8000,
    n_ctx: int = 4096,
    python: str = sys.executable,
    health_endpoint: bool = False,
) -> list[str]:
    """The argv of llama-cpp-python's OpenAI-compatible server for the tiny model; with ``health_endpoint`` the
    same server with ``GET /health`` added (:mod:`kimi_cookbook.embedded_server`, what SGLang's router needs)."""
    return [
        python,
        "-m",
        "kimi_cookbook.embedded_server" if health_endpoint else "llama_cpp.server",
        "--model",
        str(gguf_path),
        "--model_alias",
        model,
        "--host",
        host,
        "--port",
        str(port),
        "--n_ctx",
        str(n_ctx),
        # queue concurrent requests instead of cancelling the running one (llama-cpp-python's default)
        "--interrupt_requests",
        "False",
        # no ": ping" SSE comments: SGLang's bench client parses every stream line as JSON
        "--disable_ping_events",
        "True",
    ]


_SECRET_ENV = frozenset({"API_KEY"})


def _embedded_env(key: str | None) -> tuple[dict[str, str], frozenset[str], str]:
    """(variables added, variables dropped, the command's prefix) for llama.cpp's server. Its settings are
    pydantic settings: every one of them is also read from the environment (``HOST``, ``PORT``, ``API_KEY``,
    ``MODEL``, ``N_CTX``, ... any case), and ``HOST``/``PORT`` even override the flags. So none is inherited
    (a ``PORT`` set for something else would move the server off the port waited on); the key, when given,
    goes in ``API_KEY`` (never on the command line, where ``ps`` shows it)."""
    from llama_cpp.server.settings import ModelSettings, ServerSettings

    drop = frozenset({f.lower() for f in (*ServerSettings.model_fields, *ModelSettings.model_fields)}
                     | {"config_file"})
    if not key:
        return {}, drop, ""
    name = api_key_env()
    shown = f'"${name}"' if name and key == api_key() else "***"
    return {"API_KEY": key}, drop, f"API_KEY={shown} "


def launch_embedded(
    *,
    port: int = 0,
    host: str = DEFAULT_HOST,
    timeout_s: float = EMBEDDED_TIMEOUT_S,
    log_path: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    n_ctx: int = 4096,
    progress: bool = True,
    health_endpoint: bool = False,
    api_key: str | None = None,
) -> Server:
    """Start llama.cpp's OpenAI server (llama-cpp-python) on the tiny local model; wait until ready.

    Ready: ``/v1/models`` lists the tiny model's name (a foreign server on the port is an error). With
    ``health_endpoint`` the server also answers ``GET /health`` (SGLang's router registers a worker only then),
    and ready needs it to answer 200. With ``api_key`` the server wants it on every request (as SGLang's
    ``--api-key`` does on every path but ``/health`` and ``/metrics``); the cookbook's requests send
    ``$SGLANG_API_KEY``, so set that to the same.
    """
    timeout_s = _check_timeout(timeout_s)
    try:  # optional dependency, imported only to say clearly when it is missing
        import llama_cpp  # noqa: F401
    except ImportError:
        raise ServerStartError(
            "the embedded server needs llama-cpp-python[server]: pip install -c constraints.txt -e '.[embedded]'"
        ) from None
    tiny = ensure_tiny_model(cache_dir)
    port = check_port(port, host)
    argv = embedded_argv(str(tiny.gguf_path), model=tiny.name, host=host, port=port, n_ctx=n_ctx,
                         health_endpoint=health_endpoint)
    env_add, env_drop, prefix = _embedded_env(api_key)
    return _spawn(
        argv,
        kind="embedded",
        flavor="llama.cpp",
        base_url=f"http://{host}:{port}",
        model=tiny.name,
        tokenizer_path=tiny.tokenizer_path,
        command=prefix + display_command(argv),
        env_add=env_add,
        log_path=log_path,
        port=port,
        timeout_s=timeout_s,
        health=health_endpoint,
        progress=progress,
        env_drop=env_drop,
    )


def launch_sglang(
    hardware: str = "mi300x",
    *,
    port: int = 0,
    host: str = DEFAULT_HOST,
    timeout_s: float = SGLANG_TIMEOUT_S,
    log_path: str | os.PathLike | None = None,
    python: str = sys.executable,
    progress: bool = True,
    env: dict[str, str] | None = None,
    **knobs,
) -> Server:
    """Start ``python -m sglang.launch_server`` with the selector's options; wait for ``/health`` 200.

    ``knobs`` go to :func:`kimi_cookbook.selector.build_launch_spec` (``model``, ``tp``,
    ``tool_call_parser``, ``context_length``, ...). The selector's environment (on AMD
    ``SGLANG_ROCM_FUSED_DECODE_MLA=0``) is added to the child's. Ready also needs ``/v1/models`` to
    list the served model (``--served-model-name`` or the model path). ``env`` adds variables to the child's
    environment (e.g. ``HF_HUB_OFFLINE=1`` for a local model).
    """
    timeout_s = _check_timeout(timeout_s)
    port = check_port(port, host)
    spec = build_launch_spec(hardware, host=host, port=port, **knobs)
    if python == sys.executable:
        import importlib.util

        if importlib.util.find_spec("sglang") is None:
            raise ServerStartError(f"SGLang is not installed in {python}: run on a GPU host with SGLang "
                                   "(README: Docker), or use the embedded backend")
    argv = spec.argv(python)
    model_path = spec.option("--model-path") or ""
    return _spawn(
        argv,
        kind="sglang",
        flavor="sglang",
        base_url=f"http://{host}:{port}",
        model=spec.option("--served-model-name") or model_path,  # the id SGLang lists in /v1/models
        tokenizer_path=spec.option("--tokenizer-path") or model_path,
        command=spec.to_shell(),
        env_add={**(env or {}), **spec.env},
        log_path=log_path,
        port=port,
        timeout_s=timeout_s,
        health=True,
        progress=progress,
    )


def attach(
    base_url: str,
    *,
    timeout_s: float = ATTACH_TIMEOUT_S,
    model: str | None = None,
    tokenizer_path: str | None = None,
    progress: bool = True,
) -> Server:
    """Use an already-running server (e.g. SGLang in Docker); waits until it is ready.

    Ready means ``/v1/models`` answers 200 and ``/health`` answers 200 (or does not exist). ``model``
    defaults to the first id from ``/v1/models``.
    """
    url = normalize_base_url(base_url)
    timeout_s = _check_timeout(timeout_s)
    state, seen = probe(url)
    if state == "nothing":
        raise ServerStartError(f"nothing answers at {url}: start the server first (SGLang listens only once its "
                               "model is loaded), or check the host and port")
    if state == "foreign":
        raise ServerStartError(f"{url} is not an OpenAI-compatible server ({seen}): check the port, or attach to "
                               "SGLang's http://HOST:PORT")
    if state == "locked":
        name = api_key_env()
        if name:
            raise ServerStartError(f"{url} refused the API key in ${name} ({seen}): set it to the server's "
                                   "--api-key")
        raise ServerStartError(f"{url} wants an API key ({seen}): set $SGLANG_API_KEY to the server's --api-key")
    waited = wait_ready(
        url,
        timeout_s=timeout_s,
        health=True,
        what="server",
        progress=progress,
    )
    if model is None:
        ids = list_models(url)
        if not ids:
            raise ServerStartError(f"{url}/v1/models lists no model")
        model = ids[0]
    return Server(
        base_url=url,
        model=model,
        tokenizer_path=tokenizer_path,
        kind="attached",
        flavor=server_flavor(url),
        startup_s=waited,
    )


def connect(backend: str = "embedded", base_url: str = "", **kw) -> Server:
    """Attach when ``base_url`` is set, else launch ``backend`` ("embedded" or "sglang").

    Use it as a context manager: the launched server stops on leaving the block. Keyword arguments go
    to :func:`attach`, :func:`launch_embedded` or :func:`launch_sglang`; SGLang-only knobs
    (``hardware``, ``tp``, ...) are ignored by the other two, so one notebook cell serves all cases. A
    launched server is killed with this process (see :mod:`kimi_cookbook.processes`).
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if base_url:
        allowed = {"timeout_s", "model", "tokenizer_path", "progress"}
        return attach(base_url, **{k: v for k, v in kw.items() if k in allowed})
    if backend == "embedded":
        return launch_embedded(**{k: v for k, v in kw.items() if k not in SGLANG_KNOBS})
    if kw.get("api_key"):
        raise ValueError("api_key is for the embedded server; start SGLang with --api-key yourself and attach with "
                         "base_url, $SGLANG_API_KEY set (the key stays off the command line the cookbook shows)")
    return launch_sglang(**{k: v for k, v in kw.items() if k not in ("cache_dir", "n_ctx", "api_key")})
