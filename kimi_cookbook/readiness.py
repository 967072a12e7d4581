"""Is a server there, and is it ready? One look (``probe``), the readiness test (``ready``), the model list, and
which server it is (``server_flavor``).

Used by :mod:`kimi_cookbook.server` while it waits for a launched server and when it attaches to one. SGLang's
``/health`` answers 503 until its warm-up generation is done, so 200 there means really serving; a server
without ``/health`` (404) is judged by ``/v1/models`` alone.
"""

from __future__ import annotations

import json

from kimi_cookbook.errors import RunError
from kimi_cookbook.net import http_get, normalize_base_url

__all__ = ["FLAVORS", "ServerStartError", "list_models", "probe", "ready", "server_flavor"]


class ServerStartError(RunError):
    """The server process exited, or was not ready in time. ``log_tail`` holds the log's last lines.

    For a launched server, ``pid`` is the child's pid (it leads its own process group, already stopped
    when this is raised), ``argv`` its command line and ``env`` the variables added to its environment.
    """

    def __init__(
        self,
        message: str,
        log_tail: str = "",
        log_path: str | None = None,
        *,
        pid: int | None = None,
        argv: list[str] | None = None,
        env: dict[str, str] | None = None,
    ):
        self.log_tail = log_tail
        self.log_path = log_path
        self.pid = pid
        self.argv = list(argv or [])
        self.env = dict(env or {})
        if log_tail:
            where = f" ({log_path})" if log_path else ""
            message = f"{message}\n--- last lines of the server log{where} ---\n{log_tail}"
        super().__init__(message)


def list_models(base_url: str, timeout: float = 10.0) -> list[str]:
    """Model ids from ``GET {base_url}/v1/models``."""
    url = normalize_base_url(base_url)
    status, body = http_get(f"{url}/v1/models", timeout)
    if status != 200:
        raise ServerStartError(f"GET {url}/v1/models answered {status or 'nothing'}")
    ids = _model_ids(body)
    if ids is None:
        raise ServerStartError(f"{url} is not an OpenAI-compatible server: /v1/models is not a model list")
    return ids


def _model_ids(body: bytes) -> list[str] | None:
    try:
        return [str(m["id"]) for m in json.loads(body).get("data", [])]
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
        return None


def probe(base_url: str, timeout: float = 5.0) -> tuple[str, str]:
    """One look at ``base_url``: ("openai" | "starting" | "nothing" | "foreign" | "locked", what was seen).

    "nothing": no answer at all (nothing listens, or the host drops the packets); "foreign": something answers
    but ``/v1/models`` is missing or is not an OpenAI model list; "locked": it wants an API key; "starting":
    it answers 5xx (a server still loading).
    """
    status, body = http_get(f"{base_url}/v1/models", timeout=timeout)
    if status == 0:
        return "nothing", "no answer"
    if status == 200:
        ids = _model_ids(body)
        if ids is None:
            return "foreign", "its /v1/models answer is not an OpenAI model list"
        return "openai", f"models {ids}"
    if status in (401, 403):
        return "locked", f"/v1/models answered {status}"
    if status >= 500:
        return "starting", f"/v1/models: {status}"
    return "foreign", f"/v1/models answered {status}"


FLAVORS = ("sglang", "llama.cpp", "openai")
"""What a server speaks beyond the OpenAI API: SGLang (native ``/generate``, ``regex``, its benchmark and GSM8K
harness), llama-cpp-python's server (the embedded one: a schema under ``json_object``, a GBNF ``grammar``), or
plain OpenAI."""


def server_flavor(base_url: str, timeout: float = 5.0) -> str:
    """Which server answers at ``base_url`` (one of :data:`FLAVORS`).

    SGLang answers ``/get_model_info`` (``/model_info`` in newer releases) with its JSON (a ``model_path``); a
    page served with 200 at every path is not enough. llama-cpp-python's server titles its OpenAPI page
    "llama.cpp". Anything else counts as plain OpenAI. Asked once, when a server is attached (a launched one's
    flavour is known); everything else reads :attr:`kimi_cookbook.server.Server.flavor`.
    """
    url = normalize_base_url(base_url)
    for path in ("/get_model_info", "/model_info"):
        status, body = http_get(url + path, timeout)
        info = _json(body) if status == 200 else None
        if isinstance(info, dict) and "model_path" in info:
            return "sglang"
    status, body = http_get(url + "/openapi.json", timeout)
    spec = _json(body) if status == 200 else None
    title = spec.get("info", {}).get("title", "") if isinstance(spec, dict) else ""
    return "llama.cpp" if isinstance(title, str) and "llama.cpp" in title else "openai"


def _json(body: bytes):
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def ready(base_url: str, health: bool, model: str | None = None) -> tuple[bool, str]:
    """Readiness: ``/v1/models`` answers 200 and, with ``health``, ``/health`` answers 200 or 404.

    ``/health`` is SGLang's: 503 until warm-up is done. A server without it (404) is judged by
    ``/v1/models`` alone. With ``model``, ``/v1/models`` must list that id: a server that lists others
    is a foreign one on our port (state starts with "foreign server").
    """
    status, body = http_get(f"{base_url}/v1/models", timeout=5.0)
    if status != 200:
        return False, f"/v1/models: {status or 'no answer'}"
    if model is not None:
        ids = _model_ids(body)
        if ids is None or model not in ids:
            shown = "an unreadable model list" if ids is None else f"models {ids}"
            return False, f"foreign server at {base_url}: /v1/models lists {shown}, not {model!r}"
    if health:
        hstatus, _ = http_get(f"{base_url}/health", timeout=10.0)
        if hstatus not in (200, 404):
            return False, f"/health: {hstatus or 'no answer'}"
    return True, "ready"
