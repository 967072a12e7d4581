"""OpenAI-API helpers for a running server (SGLang, or the embedded one), on the official ``openai`` package.

Build one client with :func:`make_client` and pass it around. Requests time out and are retried by the
``openai`` client itself (``timeout``/``max_retries``); a server that goes away mid-stream raises
:class:`StreamInterrupted` with what had arrived so far.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from typing import Callable

import httpx
import openai

API_KEY_ENV = "SGLANG_API_KEY"  # set it when the server was started with --api-key; never printed

# The function schema used throughout the cookbook (OpenAI "tools" format).
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name, e.g. Paris"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city"],
        },
    },
}


def get_weather(city: str, unit: str = "celsius") -> dict:
    """A local stand-in for a weather API, so the tool round trip has a real function to call."""
    temps = {"paris": 18, "beijing": 24, "san francisco": 16}
    c = temps.get(city.strip().lower(), 20)
    return {"city": city, "temperature": c if unit == "celsius" else round(c * 9 / 5 + 32), "unit": unit}


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


def chat(client: openai.OpenAI, model: str, messages: list[dict], **kwargs) -> ChatResult:
    """One non-streaming chat completion."""
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
    ttft_s: float | None  # time to the first content token
    total_s: float
    finish_reason: str | None

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
                on_text: Callable[[str], None] | None = None, **kwargs) -> StreamResult:
    """Stream a chat completion, calling ``on_text`` with each piece; measure TTFT and tokens/s."""
    start = time.perf_counter()
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
            f"the server stopped answering after {chunks} chunks ({type(exc).__name__}: {exc}); "
            "is it still running? (check its log)", "".join(parts)) from exc
    except httpx.TransportError as exc:  # the connection broke while the stream was being read
        raise StreamInterrupted(
            f"the connection to the server broke after {chunks} chunks ({type(exc).__name__}: {exc})",
            "".join(parts),
        ) from exc
    if finish is None and chunks:
        raise StreamInterrupted(f"the stream ended after {chunks} chunks without a finish reason", "".join(parts))
    return StreamResult("".join(parts), chunks, usage_tokens, ttft, time.perf_counter() - start, finish)


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


@dataclass
class ToolRoundTrip:
    first: ChatResult  # the model's answer to the question, with its tool calls (if any)
    calls: list[dict]  # [{"id", "name", "arguments", "result"}]
    final: ChatResult | None  # the model's answer after the tool results were sent back
    model_called_tool: bool
    messages: list[dict]


def tool_round_trip(client: openai.OpenAI, model: str, question: str, tools: list[dict] | None = None,
                    functions: dict[str, Callable] | None = None, fallback_call: dict | None = None,
                    **kwargs) -> ToolRoundTrip:
    """Ask with ``tools``; run each tool call locally; send the results back; get the final answer.

    Kimi-Linear on SGLang (``--tool-call-parser kimi_k2``) returns OpenAI ``tool_calls`` with ids like
    ``functions.get_weather:0``. When the model makes no call (the embedded tiny model never does),
    ``fallback_call`` (``{"name":..., "arguments": {...}}``) is used as if the model had made it, so the
    second half of the request/response path still runs; ``model_called_tool`` says which happened.
    """
    tools = tools or [WEATHER_TOOL]
    functions = functions or {"get_weather": get_weather}
    messages: list[dict] = [{"role": "user", "content": question}]
    first = chat(client, model, messages, tools=tools, **kwargs)
    raw_calls = [
        {"id": c.id, "name": c.function.name, "arguments": c.function.arguments} for c in first.tool_calls
    ]
    called = bool(raw_calls)
    if not called:
        if fallback_call is None:
            return ToolRoundTrip(first, [], None, False, messages)
        name = fallback_call["name"]
        raw_calls = [{"id": f"functions.{name}:0", "name": name, "arguments": json.dumps(fallback_call["arguments"])}]
    messages.append({
        "role": "assistant",
        "content": first.text or None,
        "tool_calls": [
            {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
            for c in raw_calls
        ],
    })
    calls = []
    for c in raw_calls:
        if c["name"] not in functions:
            raise ValueError(f"the model called an unknown tool {c['name']!r}; known: {sorted(functions)}")
        try:
            args = json.loads(c["arguments"] or "{}")
        except json.JSONDecodeError as exc:
            raise ValueError(f"tool call {c['id']} has arguments that are not JSON: {c['arguments']!r}") from exc
        result = functions[c["name"]](**args)
        calls.append({**c, "result": result})
        messages.append({"role": "tool", "tool_call_id": c["id"], "content": json.dumps(result)})
    final = chat(client, model, messages, tools=tools, **kwargs)
    return ToolRoundTrip(first, calls, final, called, messages)
