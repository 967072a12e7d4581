"""Ports, base URLs and the API key: a free port, a port check, a normalised ``http(s)://host:port``, a GET
with a deadline that never raises, and ``redact`` (credentials masked in anything shown or saved).

Shared by the server launcher, the readiness probes, the metrics sampler and the benchmarks; standard library only.
"""

from __future__ import annotations

import errno
import http.client
import os
import re
import socket
import threading
import time
import urllib.parse

from kimi_cookbook.errors import InputError

__all__ = ["API_KEY_ENVS", "DEFAULT_HOST", "MAX_BODY_BYTES", "PortInUseError", "api_key", "api_key_env",
           "auth_headers", "check_port", "free_port", "http_get", "normalize_base_url", "redact", "redact_json",
           "redact_url"]

DEFAULT_HOST = "127.0.0.1"

API_KEY_ENVS = ("SGLANG_API_KEY", "OPENAI_API_KEY")
"""Where the key of a server started with ``--api-key`` is read, first set wins: the cookbook's own variable, then
the one the ``openai`` SDK (and SGLang's benchmark client) reads. Never printed, never saved."""

MAX_BODY_BYTES = 32 * 2**20
"""The most :func:`http_get` reads of one answer; a larger one counts as no usable answer."""


def api_key_env() -> str | None:
    """The name of the variable the API key comes from (see :data:`API_KEY_ENVS`), None when none is set."""
    return next((name for name in API_KEY_ENVS if os.environ.get(name, "").strip()), None)


def api_key() -> str | None:
    """The API key to send (``$SGLANG_API_KEY``, else ``$OPENAI_API_KEY``), or None when neither is set."""
    name = api_key_env()
    return os.environ[name].strip() if name else None


def auth_headers(key: str | None = None) -> dict[str, str]:
    """``{"Authorization": "Bearer KEY"}`` for ``key`` (default :func:`api_key`), ``{}`` without one: what SGLang
    started with ``--api-key`` wants on every path but ``/health`` and ``/metrics``."""
    key = api_key() if key is None else key
    return {"Authorization": f"Bearer {key}"} if key else {}


# A URL's userinfo is everything between "scheme://" and the last "@" of the URL, whatever it holds: a "/", a
# second "@", a bare token (http://TOKEN@host), a space. In free text a URL ends at whitespace, or, when it is
# quoted (as messages show values: 'http://...'), at its closing quote, so a quoted one may hold spaces too.
_SCHEME = r"\b[A-Za-z][A-Za-z0-9+.-]*://"
_QUOTED_URL = re.compile(r"(?P<q>['\"])(?P<url>" + _SCHEME + r"[^\n]*?)(?P=q)")
_USERINFO = re.compile(r"(?P<head>" + _SCHEME + r")\S*@")
_WHOLE_USERINFO = re.compile(r"^(?P<head>\s*[A-Za-z][A-Za-z0-9+.-]*://)[^\n]*@", re.DOTALL)


def redact_url(url: str) -> str:
    """One URL with its userinfo, everything before its last ``@``, masked: ``http://***@host:1``."""
    return _WHOLE_USERINFO.sub(r"\g<head>***@", str(url))
_SECRET_PARAM = re.compile(
    r"(?P<head>[?&](?:[A-Za-z_-]*(?:key|token|secret|password|passwd|pwd|auth)[A-Za-z_-]*)=)[^&#\s]*", re.IGNORECASE)
_SECRET_FLAG = re.compile(r"(?P<head>--(?:[A-Za-z-]*-)?(?:api-key|key|token|secret|password)(?:=|\s+))(?!-)\S+",
                          re.IGNORECASE)


_SECRET_KEY = re.compile(r"(?:^|_|-)(?:api_?key|key|token|secret|password|passwd|pwd|auth|authorization|"
                         r"credentials?)$", re.IGNORECASE)


def redact(text: str) -> str:
    """``text`` with every credential masked as ``***``: a URL's userinfo, whatever it holds, up to the last
    ``@`` (``http://***@host``), secret-looking query values (``?api_key=***``) and secret flags
    (``--api-key=***``). The one helper for everything shown or saved: messages, logs, summaries, notebook
    outputs, and (through :func:`redact_json`) the server facts written to files."""
    text = _QUOTED_URL.sub(lambda m: m["q"] + redact_url(m["url"]) + m["q"], str(text))
    text = _USERINFO.sub(r"\g<head>***@", text)
    text = _SECRET_PARAM.sub(r"\g<head>***", text)
    text = _SECRET_FLAG.sub(r"\g<head>***", text)
    key = api_key()
    return text.replace(key, "***") if key and len(key) >= 8 else text  # the key itself, wherever it shows


def redact_json(value, _depth: int = 0):
    """A copy of a JSON value with every credential masked: the value of a key named like a secret
    (``api_key``, ``admin_api_key``, ``hf_token``, ``password``, ...) becomes ``"***"`` when set, and every
    string passes through :func:`redact`. SGLang's ``/server_info`` lists all server arguments, ``api_key``
    included: this is what is saved of it."""
    if _depth > 100:
        return "***"
    if isinstance(value, dict):
        return {k: ("***" if isinstance(k, str) and _SECRET_KEY.search(k) and v not in (None, "", False)
                    else redact_json(v, _depth + 1)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_json(v, _depth + 1) for v in value]
    if isinstance(value, str):
        return redact(value)
    return value


class PortInUseError(InputError):
    """The requested port is already taken by another process."""


def free_port(host: str = DEFAULT_HOST) -> int:
    """A port that is free now on ``host`` (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        _bind(s, host, 0)
        return s.getsockname()[1]


def _bind(sock: socket.socket, host: str, port: int) -> None:
    try:
        sock.bind((host, port))
    except (socket.gaierror, UnicodeError, TypeError, OverflowError):
        raise ValueError(f"host {host!r} is not an address or a name this machine resolves; "
                         f"use e.g. {DEFAULT_HOST} (this machine only) or 0.0.0.0 (every interface)") from None


def check_port(port, host: str = DEFAULT_HOST) -> int:
    """``port`` as an int if it can be listened on; 0 picks a free one. Raises ValueError otherwise."""
    if isinstance(port, str) and port.strip().isdigit():
        port = int(port)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"port must be a whole number from 0 (pick a free one) to 65535, got {port!r}")
    if port == 0:
        return free_port(host)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            _bind(s, host, port)
        except ValueError:
            raise
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                raise PortInUseError(
                    f"port {port} on {host} is already in use (or not allowed): stop what listens there, "
                    "pick another port, or pass port=0 for a free one"
                ) from None
            raise
    return port


def normalize_base_url(base_url: str) -> str:
    """``http(s)://host:port`` without a trailing ``/`` or ``/v1``; ValueError for anything else."""
    if not isinstance(base_url, str) or not base_url.strip():
        raise ValueError(f"base_url must be a URL such as 'http://127.0.0.1:30000', got {base_url!r}")
    shown = redact(redact_url(base_url))
    if "@" in base_url:  # userinfo, whatever it holds (a "/" or a space in a password hides it from urlsplit)
        raise ValueError(f"base_url must not carry credentials ({shown!r}): use http://HOST:PORT and set "
                         "$SGLANG_API_KEY for a server started with --api-key")
    url = base_url.strip().rstrip("/")
    url = url.removesuffix("/v1")
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        raise ValueError(f"base_url is not a URL: {shown!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"base_url must start with http:// or https:// and name a host, got {shown!r}")
    try:
        parts.port  # noqa: B018  (raises ValueError for a bad port)
    except ValueError:
        raise ValueError(f"base_url has an invalid port: {shown!r}") from None
    if parts.query or parts.fragment:
        raise ValueError(f"base_url must not carry a query or a fragment: {shown!r}")
    return url


_ENV_KEY = object()


def http_get(url: str, timeout: float = 5.0, *, max_bytes: int = MAX_BODY_BYTES, key=_ENV_KEY) -> tuple[int, bytes]:
    """``GET url`` -> (status, body); status 0 when nothing answers in time. Never raises.

    ``timeout`` is a deadline for the whole request (connect, headers, body), not per read: a server that
    answers one byte a second is cut off on time. The body is read up to ``max_bytes``; a larger one comes
    back empty (with its status), never held in memory whole. The API key (``key``, default :func:`api_key`)
    goes in the ``Authorization`` header; redirects are not followed (the key stays with the server named)."""
    try:
        parts = urllib.parse.urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return 0, b""
    if parts.scheme not in ("http", "https") or not host or not timeout or timeout <= 0:
        return 0, b""
    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = cls(host, port, timeout=timeout)
    expired = threading.Event()

    def expire() -> None:  # wakes a read blocked on the socket, whatever phase the request is in
        expired.set()
        sock = conn.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    timer = threading.Timer(timeout, expire)
    timer.daemon = True
    timer.start()
    deadline = time.monotonic() + timeout
    try:
        conn.connect()
        if expired.is_set():
            return 0, b""
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn.request("GET", target, headers={"Accept": "*/*", **auth_headers(None if key is _ENV_KEY else key or "")})
        resp = conn.getresponse()
        length = resp.getheader("Content-Length")
        if length and length.strip().isdigit() and int(length) > max_bytes:
            return resp.status, b""
        chunks, size = [], 0
        while size <= max_bytes:
            piece = resp.read1(65536)
            if not piece:
                break
            chunks.append(piece)
            size += len(piece)
        if expired.is_set() or time.monotonic() > deadline:
            return 0, b""
        return resp.status, (b"".join(chunks) if size <= max_bytes else b"")
    except (OSError, http.client.HTTPException, ValueError, UnicodeError):
        return 0, b""
    finally:
        timer.cancel()
        conn.close()
