"""OpenAI-API helpers for a running server (SGLang, or the embedded one), on the official ``openai`` package.

Build one client with :func:`make_client` and pass it around. Requests time out and are retried by the
``openai`` client itself (``timeout``/``max_retries``); a server that goes away mid-stream raises
:class:`StreamInterrupted` with what had arrived so far.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import openai

from kimi_cookbook.tool_calls import ToolCallAssembler

try:  # openai 3.x reads streams through httpx2, whose errors are not httpx's
    import httpx2

    _TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (httpx.TransportError, httpx2.TransportError)
except ImportError:  # openai 1.x/2.x: httpx
    _TRANSPORT_ERRORS = (httpx.TransportError,)

API_KEY_ENV = "SGLANG_API_KEY"  # set it when the server was started with --api-key; never printed

class StreamInterrupted(RuntimeError):
    """The server stopped answering in the middle of a streamed response."""

    def __init__(self, message: str, partial_text: str):
        super().__init__(message)
        self.partial_text = partial_text


def make_client(server, *, timeout: float = 60.0, max_retries: int = 2, api_key: str | None = None) -> openai.OpenAI:
    """An ``openai.OpenAI`` client for a server handle (``.base_url``) or a base URL string.

    The API key comes from ``api_key``, else ``$SGLANG_API_KEY``, else a placeholder (SGLang without
    ``--api-key`` accepts any).
    """
    from kimi_cookbook.server import normalize_base_url

    base_url = normalize_base_url(server if isinstance(server, str) else server.base_url)
    if timeout <= 0:
        raise ValueError(f"timeout must be positive, got {timeout}")
    key = api_key or os.environ.get(API_KEY_ENV) or "EMPTY"
    return openai.OpenAI(base_url=base_url + "/v1", api_key=key, timeout=timeout, max_retries=max_retries)


def list_models(client: openai.OpenAI) -> list[str]:
    return [m.id for m in client.models.list().data]


@dataclass
class ChatResult:
    text: str
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    seconds: float
    tool_calls: list = field(default_factory=list)
    message: object = None  # the raw assistant message (for multi-turn / tool round trips)


_REQUEST_ARGS: frozenset[str] | None = None


def check_request_args(kwargs: dict, *, reserved: tuple[str, ...] = ()) -> None:
    """``kwargs`` must be arguments of ``client.chat.completions.create`` (``max_tokens``, ``temperature``,
    ``extra_body``, ...): a misspelt one is a ValueError naming it, not the ``openai`` client's raw TypeError."""
    global _REQUEST_ARGS
    if _REQUEST_ARGS is None:
        import inspect

        from openai.resources.chat.completions import Completions

        params = inspect.signature(Completions.create).parameters
        _REQUEST_ARGS = frozenset(n for n, p in params.items() if p.kind is p.KEYWORD_ONLY)
    unknown = sorted(k for k in kwargs if k not in _REQUEST_ARGS or k in reserved or k in ("model", "messages"))
    if unknown:
        raise ValueError(f"unknown argument(s) {unknown} for a chat request; use the OpenAI API's names "
                         "(max_tokens, temperature, extra_body, ...)")


def _line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def chat(client: openai.OpenAI, model: str, messages: list[dict], **kwargs) -> ChatResult:
    """One non-streaming chat completion."""
    check_request_args(kwargs, reserved=("stream",))
    start = time.perf_counter()
    resp = client.chat.completions.create(model=model, messages=messages, **kwargs)
    seconds = time.perf_counter() - start
    choice = resp.choices[0]
    usage = resp.usage
    return ChatResult(
        text=choice.message.content or "",
        finish_reason=choice.finish_reason,
        prompt_tokens=usage.prompt_tokens if usage else None,
        completion_tokens=usage.completion_tokens if usage else None,
        seconds=seconds,
        tool_calls=list(choice.message.tool_calls or []),
        message=choice.message,
    )


@dataclass
class StreamResult:
    text: str
    chunks: int
    completion_tokens: int | None  # from the server's usage report when it sends one
    ttft_s: float | None  # time to the first content token (or tool-call piece)
    total_s: float
    finish_reason: str | None
    tool_calls: list = field(default_factory=list)  # ToolCall objects assembled from the streamed deltas

    @property
    def tokens(self) -> int:
        return self.completion_tokens if self.completion_tokens is not None else self.chunks

    @property
    def tokens_per_s(self) -> float | None:
        """Decode speed after the first token: (tokens - 1) / (total - ttft)."""
        if self.ttft_s is None or self.tokens < 2 or self.total_s <= self.ttft_s:
            return None
        return (self.tokens - 1) / (self.total_s - self.ttft_s)

    def summary(self) -> str:
        tps = f"{self.tokens_per_s:.1f} tok/s" if self.tokens_per_s else "n/a"
        ttft = f"{self.ttft_s * 1000:.0f} ms" if self.ttft_s is not None else "n/a"
        unit = "tokens" if self.completion_tokens is not None else "chunks (server sent no usage)"
        return f"{self.tokens} {unit} in {self.total_s:.2f} s; time to first token {ttft}; decode {tps}"


def stream_chat(client: openai.OpenAI, model: str, messages: list[dict],
                on_text: Callable[[str], None] | None = None,
                on_tool_call_delta: Callable[[int, str, str], None] | None = None, **kwargs) -> StreamResult:
    """Stream a chat completion, calling ``on_text`` with each piece; measure TTFT and tokens/s.

    Tool-call deltas (with ``tools=...``) are assembled into ``StreamResult.tool_calls``; ``on_tool_call_delta``
    gets ``(index, name, arguments piece)`` for each. A stream that ends without any text, call or finish reason
    (what llama.cpp's server sends for a prompt longer than its context, where ``chat`` gets a 400) raises
    :class:`StreamInterrupted`.
    """
    check_request_args(kwargs, reserved=("stream",))
    start = time.perf_counter()
    assembler = ToolCallAssembler()
    ttft = None
    parts: list[str] = []
    chunks = 0
    usage_tokens = None
    finish = None
    try:
        # include_usage: SGLang reports the exact token count in a last chunk; servers that ignore it
        # (llama.cpp's) leave the count to the number of content chunks.
        kwargs.setdefault("stream_options", {"include_usage": True})
        stream = client.chat.completions.create(model=model, messages=messages, stream=True, **kwargs)
        for chunk in stream:
            if getattr(chunk, "usage", None) and chunk.usage.completion_tokens is not None:
                usage_tokens = chunk.usage.completion_tokens
            if not chunk.choices:
                continue
            choice = chunk.choices[0]
            finish = choice.finish_reason or finish
            tool_deltas = getattr(choice.delta, "tool_calls", None) if choice.delta else None
            if tool_deltas:
                if ttft is None:
                    ttft = time.perf_counter() - start
                for index, name, args_piece in assembler.add(tool_deltas):
                    if on_tool_call_delta:
                        on_tool_call_delta(index, name, args_piece)
            piece = choice.delta.content if choice.delta else None
            if piece:
                if ttft is None:
                    ttft = time.perf_counter() - start
                chunks += 1
                parts.append(piece)
                if on_text:
                    on_text(piece)
    except (openai.APIConnectionError, openai.APITimeoutError, openai.InternalServerError) as exc:
        raise StreamInterrupted(
            f"the server stopped answering after {chunks} chunks ({type(exc).__name__}: {_line(exc)}); "
            "is it still running? (check its log)", "".join(parts)) from exc
    except _TRANSPORT_ERRORS as exc:  # the connection broke while the stream was being read
        raise StreamInterrupted(
            f"the connection to the server broke after {chunks} chunks ({type(exc).__name__}: {_line(exc)})",
            "".join(parts),
        ) from exc
    if finish is None and (chunks or assembler.calls()):
        raise StreamInterrupted(f"the stream ended after {chunks} chunks without a finish reason", "".join(parts))
    if finish is None:
        raise StreamInterrupted("the server answered with an empty stream: no text and no finish reason (a prompt "
                                "longer than the context? check the server's log)", "")
    return StreamResult("".join(parts), chunks, usage_tokens, ttft, time.perf_counter() - start, finish,
                        assembler.calls())


class Conversation:
    """A multi-turn chat: keeps the history, sends it each turn."""

    def __init__(self, client: openai.OpenAI, model: str, system: str | None = None, **defaults):
        self.client, self.model, self.defaults = client, model, defaults
        self.messages: list[dict] = [{"role": "system", "content": system}] if system else []

    def ask(self, text: str, **kwargs) -> ChatResult:
        self.messages.append({"role": "user", "content": text})
        try:
            result = chat(self.client, self.model, self.messages, **{**self.defaults, **kwargs})
        except Exception:
            self.messages.pop()  # a failed turn leaves the history as it was
            raise
        self.messages.append({"role": "assistant", "content": result.text})
        return result

    @property
    def turns(self) -> int:
        return sum(m["role"] == "user" for m in self.messages)


# The notebooks use one alias (``from kimi_cookbook import client as kc``) for the whole OpenAI-API side:
# structured output, tool calls and the agent loop live in their own modules and are re-exported here.
from kimi_cookbook.agent import *  # noqa: E402,F401,F403
from kimi_cookbook.structured import *  # noqa: E402,F401,F403
from kimi_cookbook.tool_calls import *  # noqa: E402,F401,F403
