"""Ports and base URLs: a free port, a port check, a normalised ``http(s)://host:port``, a GET that never raises.

Shared by the server launcher, the benchmark client and the OpenAI client wrapper; standard library only.
"""

from __future__ import annotations

import errno
import re
import socket
import urllib.error
import urllib.parse
import urllib.request

from kimi_cookbook.errors import InputError

__all__ = ["DEFAULT_HOST", "PortInUseError", "check_port", "free_port", "http_get", "normalize_base_url", "redact"]

DEFAULT_HOST = "127.0.0.1"


_USERINFO = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*):[^/\s@]*@")
_SECRET_PARAM = re.compile(
    r"(?P<head>[?&](?:[A-Za-z_-]*(?:key|token|secret|password|passwd|pwd|auth)[A-Za-z_-]*)=)[^&#\s]*", re.IGNORECASE)
_SECRET_FLAG = re.compile(r"(?P<head>--(?:[A-Za-z-]*-)?(?:api-key|key|token|secret|password)(?:=|\s+))(?!-)\S+",
                          re.IGNORECASE)


def redact(text: str) -> str:
    """``text`` with every credential masked as ``***``: the password of a URL (``http://user:***@host``),
    secret-looking query values (``?api_key=***``) and secret flags (``--api-key=***``). The one helper for
    everything shown: messages, logs, summaries, notebook outputs."""
    text = _USERINFO.sub(r"\g<head>:***@", str(text))
    text = _SECRET_PARAM.sub(r"\g<head>***", text)
    return _SECRET_FLAG.sub(r"\g<head>***", text)


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
    shown = redact(base_url)
    url = base_url.strip().rstrip("/")
    url = url.removesuffix("/v1")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"base_url must start with http:// or https:// and name a host, got {shown!r}")
    if "@" in parts.netloc:
        raise ValueError(f"base_url must not carry credentials ({shown!r}): use http://HOST:PORT and set "
                         "$SGLANG_API_KEY for a server started with --api-key")
    try:
        parts.port  # noqa: B018  (raises ValueError for a bad port)
    except ValueError:
        raise ValueError(f"base_url has an invalid port: {shown!r}") from None
    if parts.query or parts.fragment:
        raise ValueError(f"base_url must not carry a query or a fragment: {shown!r}")
    return url


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """``GET url`` -> (status, body); status 0 when nothing answers. Never raises for HTTP errors."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read() or b""
    except (urllib.error.URLError, OSError, ValueError):
        return 0, b""
