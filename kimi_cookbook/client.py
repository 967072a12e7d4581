"""OpenAI-API helpers for a running server (SGLang, or the embedded one), on the official ``openai`` package.

Build one client with :func:`make_client` and pass it around. Requests time out and are retried by the
``openai`` client itself (``timeout``/``max_retries``); a server that goes away mid-stream raises
:class:`StreamInterrupted` with what had arrived so far.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from typing import Callable

import httpx
import openai

try:  # openai 3.x reads streams through httpx2, whose errors are not httpx's
    import httpx2

    _TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (httpx.TransportError, httpx2.TransportError)
except ImportError:  # openai 1.x/2.x: httpx
    _TRANSPORT_ERRORS = (httpx.TransportError,)

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
                "city": {"type": "string", "description": "City name, e.g. Paris", "maxLength": 40},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city"],
        },
    },
}


# A second function, so a loop has a reason for another turn (weather in celsius -> fahrenheit).
CONVERT_TOOL = {
    "type": "function",
    "function": {
        "name": "celsius_to_fahrenheit",
        "description": "Convert a temperature from degrees Celsius to degrees Fahrenheit.",
        "parameters": {
            "type": "object",
            "properties": {
                "celsius": {"type": "number", "minimum": -100, "maximum": 100, "description": "degrees Celsius"},
            },
            "required": ["celsius"],
        },
    },
}


def get_weather(city: str, unit: str = "celsius") -> dict:
    """A local stand-in for a weather API, so the tool calls have a real function to run."""
    temps = {"paris": 18, "beijing": 24, "san francisco": 16}
    c = temps.get(city.strip().lower(), 20)
    return {"city": city, "temperature": c if unit == "celsius" else round(c * 9 / 5 + 32), "unit": unit}


def celsius_to_fahrenheit(celsius: float) -> dict:
    return {"celsius": celsius, "fahrenheit": round(celsius * 9 / 5 + 32, 1)}


TOOLS = [WEATHER_TOOL, CONVERT_TOOL]
FUNCTIONS = {"get_weather": get_weather, "celsius_to_fahrenheit": celsius_to_fahrenheit}


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


# --- which server answers --------------------------------------------------------------------------
SGLANG, LLAMA_CPP, OPENAI = "sglang", "llama.cpp", "openai"
FLAVORS = (SGLANG, LLAMA_CPP, OPENAI)
_FLAVOR_CACHE: dict[str, str] = {}


def _root_url(client_or_url) -> str:
    from kimi_cookbook.server import normalize_base_url

    if isinstance(client_or_url, str):
        return normalize_base_url(client_or_url)
    if isinstance(client_or_url, openai.OpenAI):
        return normalize_base_url(str(client_or_url.base_url))
    return normalize_base_url(client_or_url.base_url)  # a kimi_cookbook.server.Server


def server_flavor(client_or_url, *, timeout: float = 5.0) -> str:
    """Which dialect of structured output the server speaks: ``"sglang"``, ``"llama.cpp"`` or ``"openai"``.

    SGLang answers its own ``/model_info`` (``/get_model_info`` in 0.5.7; the same check as
    :func:`kimi_cookbook.bench.default_client_backend`); llama-cpp-python's server titles its OpenAPI page
    "llama.cpp Python API"; anything else is taken as plain OpenAI. A positive answer is cached per base URL.
    """
    root = _root_url(client_or_url)
    if root in _FLAVOR_CACHE:
        return _FLAVOR_CACHE[root]
    headers = {}
    if isinstance(client_or_url, openai.OpenAI) and client_or_url.api_key:
        headers["Authorization"] = f"Bearer {client_or_url.api_key}"  # SGLang started with --api-key
    flavor = OPENAI
    with httpx.Client(timeout=timeout, headers=headers) as http:
        for path in ("/model_info", "/get_model_info"):
            try:
                if http.get(root + path).status_code == 200:
                    flavor = SGLANG
                    break
            except httpx.HTTPError:
                pass
        if flavor == OPENAI:
            try:
                resp = http.get(root + "/openapi.json")
                if resp.status_code == 200 and "llama.cpp" in str(resp.json().get("info", {}).get("title", "")):
                    flavor = LLAMA_CPP
            except (httpx.HTTPError, ValueError):
                pass
    if flavor != OPENAI:  # not cached: a server that is still starting may answer later
        _FLAVOR_CACHE[root] = flavor
    return flavor


def _check_flavor(flavor: str | None, client) -> str:
    if flavor is None:
        return server_flavor(client)
    if flavor not in FLAVORS:
        raise ValueError(f"flavor must be one of {FLAVORS}, got {flavor!r}")
    return flavor


# --- structured output -----------------------------------------------------------------------------
# The cookbook's example schemas. SKY_REPORT_SCHEMA uses only what grammars enforce (structure, enum, maxLength);
# WEATHER_REPORT_SCHEMA adds a bounded integer: llama-cpp-python 0.3.36's grammar does not enforce integer
# minimum/maximum, so only validation catches a reply outside them.
SKY_REPORT_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "maxLength": 20},
        "sky": {"enum": ["clear", "cloudy", "rain", "snow"]},
    },
    "required": ["city", "sky"],
    "additionalProperties": False,
}
WEATHER_REPORT_SCHEMA = {
    **SKY_REPORT_SCHEMA,
    "properties": {**SKY_REPORT_SCHEMA["properties"],
                   "temperature_c": {"type": "integer", "minimum": -90, "maximum": 60}},
    "required": ["city", "sky", "temperature_c"],
}

class StructuredOutputError(ValueError):
    """The reply is not JSON or breaks the schema. ``text`` is the raw reply, ``path`` where it broke (JSON path)."""

    def __init__(self, message: str, text: str, path: str | None = None):
        super().__init__(message)
        self.text, self.path = text, path


def _validator(schema: dict):
    import jsonschema

    if not isinstance(schema, dict):
        raise ValueError(f"schema must be a JSON Schema object (a dict), got {type(schema).__name__}")
    cls = jsonschema.validators.validator_for(schema)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ValueError(f"the schema itself is not valid JSON Schema: {exc.message}") from None
    return cls(schema)


def validate_reply(text: str, schema: dict, *, finish_reason: str | None = None, what: str = "the reply"):
    """``json.loads(text)`` checked against ``schema`` (jsonschema); :class:`StructuredOutputError` otherwise.

    The error names the first violation jsonschema reports (in the schema's order) with its JSON path, and
    says how many there were.
    """
    validator = _validator(schema)
    cut = " (finish_reason=length: the reply was cut off; raise max_tokens)" if finish_reason == "length" else ""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        shown = text if len(text) <= 80 else text[:77] + "..."
        raise StructuredOutputError(f"not JSON in {what} ({exc.msg} at character {exc.pos}){cut}: {shown!r}",
                                    text) from None
    errors = list(validator.iter_errors(value))
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more violation{'s' * (len(errors) > 2)})" if len(errors) > 1 else ""
        raise StructuredOutputError(
            f"schema violation in {what} at {first.json_path}: {first.message}{more}{cut}", text, first.json_path
        )
    return value


def response_format_for(schema: dict, flavor: str, name: str = "reply") -> dict:
    """The ``response_format`` that constrains a reply to ``schema`` on each kind of server.

    SGLang and OpenAI: ``{"type": "json_schema", "json_schema": {"name", "schema"}}`` (SGLang hands the schema
    to its grammar backend); llama-cpp-python: ``{"type": "json_object", "schema": ...}`` (it builds a GBNF
    grammar from the schema).
    """
    if flavor == LLAMA_CPP:
        return {"type": "json_object", "schema": schema}
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema}}


def chat_json(client: openai.OpenAI, model: str, messages: list[dict], schema: dict, *, flavor: str | None = None,
              name: str = "reply", **kwargs) -> dict:
    """A chat completion constrained to ``schema`` by the server, then validated here; returns the parsed reply.

    The server's grammar shapes the reply, but grammars do not enforce every keyword (llama-cpp-python 0.3.36
    ignores integer ``minimum``/``maximum``), so the reply is always checked with jsonschema:
    :class:`StructuredOutputError` names the first violation. ``flavor`` overrides :func:`server_flavor`.
    """
    _validator(schema)  # a bad schema is the caller's error: say so before any request
    fmt = response_format_for(schema, _check_flavor(flavor, client), name)
    result = chat(client, model, messages, response_format=fmt, **kwargs)
    return validate_reply(result.text, schema, finish_reason=result.finish_reason)


def _regex_literal(text: str) -> str:
    return "".join("\\" + c if c in ".^$*+?()[]{}|\\" else c for c in text)


def chat_choice(client: openai.OpenAI, model: str, messages: list[dict], choices: list[str], *,
                flavor: str | None = None, **kwargs) -> str:
    """A reply constrained to exactly one of ``choices``: SGLang's ``regex`` request field, or llama-cpp-python's
    ``grammar`` (GBNF). A plain OpenAI server has neither: ``NotImplementedError`` saying so."""
    choices = list(choices)
    if not choices or not all(isinstance(c, str) and c for c in choices):
        raise ValueError(f"choices must be non-empty strings, got {choices!r}")
    flavor = _check_flavor(flavor, client)
    extra = dict(kwargs.pop("extra_body", None) or {})
    if flavor == SGLANG:
        extra["regex"] = "(" + "|".join(_regex_literal(c) for c in choices) + ")"
    elif flavor == LLAMA_CPP:
        extra["grammar"] = "root ::= " + " | ".join(json.dumps(c) for c in choices)
    else:
        raise NotImplementedError("this server takes neither SGLang's `regex` nor llama.cpp's `grammar` field; "
                                  "use chat_json with an enum schema instead")
    text = chat(client, model, messages, extra_body=extra, **kwargs).text
    if text not in choices:
        raise StructuredOutputError(f"the reply {text!r} is not one of {choices}", text)
    return text


# --- tool calls ------------------------------------------------------------------------------------
_KIMI_ID = re.compile(r"functions\.(?P<name>[\w.-]+):(?P<index>\d+)")


@dataclass
class ToolCall:
    """One call as the server returned it (``arguments`` is the JSON text it sent)."""

    id: str
    name: str
    arguments: str
    index: int = 0

    def parsed_arguments(self) -> dict:
        try:
            value = json.loads(self.arguments or "{}")
        except json.JSONDecodeError as exc:
            raise ValueError(f"tool call {self.id} has arguments that are not JSON ({exc.msg}): "
                             f"{self.arguments!r}") from None
        if not isinstance(value, dict):
            raise ValueError(f"tool call {self.id} has arguments that are not a JSON object: {self.arguments!r}")
        return value

    def as_message_part(self) -> dict:
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}

    @property
    def kimi_index(self) -> int | None:
        """``IDX`` of a Kimi-style id ``functions.NAME:IDX`` (SGLang's ``kimi_k2`` parser; counted across the
        conversation), else ``None``."""
        m = _KIMI_ID.fullmatch(self.id or "")
        return int(m["index"]) if m else None


def named_tool(name: str) -> dict:
    """``tool_choice`` that forces a call of the function ``name``."""
    return {"type": "function", "function": {"name": name}}


class ToolCallAssembler:
    """Builds whole :class:`ToolCall` objects from streamed ``delta.tool_calls`` pieces.

    Keyed by the delta's ``index``. The id and name are taken from the first delta that carries them
    (SGLang sends them once; llama-cpp-python repeats both in every delta); ``arguments`` pieces are
    concatenated in order.
    """

    def __init__(self) -> None:
        self._calls: dict[int, ToolCall] = {}

    def add(self, deltas) -> list[tuple[int, str, str]]:
        """Feed one chunk's ``delta.tool_calls``; returns ``(index, name, arguments piece)`` for each."""
        seen = []
        for d in deltas or []:
            index = d.index if getattr(d, "index", None) is not None else max(self._calls, default=0)
            call = self._calls.setdefault(index, ToolCall(id="", name="", arguments="", index=index))
            fn = getattr(d, "function", None)
            if getattr(d, "id", None) and not call.id:
                call.id = d.id
            if fn is not None and fn.name and not call.name:
                call.name = fn.name
            piece = (fn.arguments or "") if fn is not None else ""
            call.arguments += piece
            seen.append((index, call.name, piece))
        return seen

    def calls(self) -> list[ToolCall]:
        return [self._calls[i] for i in sorted(self._calls)]


@dataclass
class ToolStep:
    """One model turn of :func:`agent_loop`: what it said, the calls it made, what the tools returned."""

    turn: int
    tool_choice: object
    text: str
    calls: list[ToolCall]
    results: list  # one per call, in order: the function's return value, or {"error": "..."}
    finish_reason: str | None
    seconds: float


@dataclass
class AgentRun:
    steps: list[ToolStep]
    messages: list[dict]  # the whole history, ready to continue
    answer: str | None  # the text of the last turn when it made no call
    stopped: str  # "answered" (a turn without calls) or "max_turns"

    @property
    def calls(self) -> list[ToolCall]:
        return [c for s in self.steps for c in s.calls]

    def table(self):
        """One row per call: turn, id (as the server gave it), function, arguments, result."""
        import pandas as pd

        rows = [{"turn": s.turn, "id": c.id, "function": c.name, "arguments": c.arguments,
                 "result": json.dumps(r, default=str)}
                for s in self.steps for c, r in zip(s.calls, s.results)]
        return pd.DataFrame(rows, columns=["turn", "id", "function", "arguments", "result"])


def _tool_schemas(tools: list[dict]) -> dict[str, dict]:
    return {t["function"]["name"]: t["function"].get("parameters") or {} for t in tools}


def run_tool_call(call: ToolCall, functions: dict[str, Callable], schemas: dict[str, dict]):
    """Run one call locally: arguments parsed and checked against the tool's parameter schema first.

    Whatever goes wrong (unknown tool, arguments that are not JSON or break the schema, the function
    raising) becomes ``{"error": "..."}``, which goes back to the model as the tool's result.
    """
    if call.name not in functions:
        return {"error": f"unknown tool {call.name!r}; known: {sorted(functions)}"}
    try:
        args = call.parsed_arguments()
        if call.name in schemas:
            validate_reply(call.arguments or "{}", schemas[call.name], what=f"the arguments of {call.name}")
        return functions[call.name](**args)
    except (ValueError, StructuredOutputError) as exc:
        return {"error": str(exc)}
    except Exception as exc:  # noqa: BLE001 - reported to the model, not raised
        return {"error": f"{call.name} failed: {type(exc).__name__}: {exc}"}


def run_tool_calls(calls: list[ToolCall], functions: dict[str, Callable], tools: list[dict], *,
                   parallel: bool = True) -> list:
    """:func:`run_tool_call` for each call, results in call order; several calls run concurrently with
    ``parallel`` (one thread each), as a model that makes parallel calls expects."""
    from concurrent.futures import ThreadPoolExecutor

    schemas = _tool_schemas(tools)
    if not parallel or len(calls) < 2:
        return [run_tool_call(c, functions, schemas) for c in calls]
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(lambda c: run_tool_call(c, functions, schemas), calls))


def _tool_choice_for(tool_choice, turn: int):
    if isinstance(tool_choice, (list, tuple)):
        return tool_choice[turn] if turn < len(tool_choice) else "auto"
    return tool_choice


def _describe_choice(choice) -> str:
    return choice["function"]["name"] if isinstance(choice, dict) else str(choice)


def agent_loop(client: openai.OpenAI, model: str, messages: list[dict] | str, tools: list[dict],
               functions: dict[str, Callable], *, max_turns: int = 4, tool_choice="auto", stream: bool = True,
               parallel: bool = True, echo: bool = False, **kwargs) -> AgentRun:
    """Model -> tool calls -> tool results -> model, until a turn makes no call or ``max_turns`` turns ran.

    ``messages`` is the history (or one user question). Each turn is one chat request with ``tools``;
    ``tool_choice`` is ``"auto"``, ``"required"``, ``"none"``, :func:`named_tool`, or a list giving one per
    turn (turns past its end use ``"auto"``). With ``stream`` the reply is streamed and the tool-call deltas are
    assembled into calls (:class:`ToolCallAssembler`). All calls of a turn (a model may make several at once)
    go back in one assistant message with their ids as the server gave them (``functions.NAME:IDX`` from
    SGLang's ``kimi_k2`` parser), then run -- concurrently with ``parallel`` -- and their results go back as
    ``tool`` messages in call order. ``echo`` prints the exchange as it happens. Other keyword arguments go to
    each request (``max_tokens``, ``temperature``, ...).
    """
    check_request_args(kwargs, reserved=("stream", "tools", "tool_choice", "on_text", "on_tool_call_delta"))
    max_turns = int(max_turns)
    if max_turns < 1:
        raise ValueError(f"max_turns must be at least 1, got {max_turns}")
    history = [{"role": "user", "content": messages}] if isinstance(messages, str) else list(messages)
    say = print if echo else (lambda *a, **k: None)
    steps: list[ToolStep] = []
    for turn in range(max_turns):
        choice = _tool_choice_for(tool_choice, turn)
        say(f"--- turn {turn + 1} (tool_choice={_describe_choice(choice)})")
        started = time.perf_counter()
        if stream:
            shown: list = []  # call indexes already announced, and "text" once text was printed

            def on_text(piece, shown=shown):
                if "text" not in shown:
                    shown.append("text")
                say(piece, end="", flush=True)

            def on_delta(index, name, piece, shown=shown):
                if index not in shown:
                    say(("\n" if shown else "") + f"call {index}: {name} ", end="", flush=True)
                    shown.append(index)
                say(piece, end="", flush=True)

            r = stream_chat(client, model, history, tools=tools, tool_choice=choice, on_text=on_text,
                            on_tool_call_delta=on_delta, **kwargs)
            say("")
            text, calls, finish = r.text, r.tool_calls, r.finish_reason
        else:
            r = chat(client, model, history, tools=tools, tool_choice=choice, **kwargs)
            calls = [ToolCall(c.id, c.function.name, c.function.arguments or "", i) for i, c in enumerate(r.tool_calls)]
            text, finish = r.text, r.finish_reason
            say(text)
        seconds = time.perf_counter() - started
        if not calls:
            history.append({"role": "assistant", "content": text})
            steps.append(ToolStep(turn + 1, choice, text, [], [], finish, seconds))
            if choice == "required" or isinstance(choice, dict):
                say(f"(the server made no call although tool_choice={_describe_choice(choice)})")
            return AgentRun(steps, history, text, "answered")
        # content "" rather than None: llama-cpp-python 0.3.36 rejects a null content (HTTP 500)
        history.append({"role": "assistant", "content": text or "",
                        "tool_calls": [c.as_message_part() for c in calls]})
        results = run_tool_calls(calls, functions, tools, parallel=parallel)
        for call, result in zip(calls, results):
            content = json.dumps(result, default=str)
            say(f"  {call.id} -> {content}")
            history.append({"role": "tool", "tool_call_id": call.id, "content": content})
        steps.append(ToolStep(turn + 1, choice, text, calls, results, finish, seconds))
    return AgentRun(steps, history, None, "max_turns")
