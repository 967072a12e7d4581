"""Structured output: a reply constrained to a JSON Schema (or one of a few choices), validated before use.

Servers speak different dialects: SGLang takes OpenAI's ``response_format={"type": "json_schema", ...}`` and a
``regex`` field; llama-cpp-python's server takes ``{"type": "json_object", "schema": ...}`` and a GBNF
``grammar``. :func:`server_flavor` tells which one answers. A grammar is not a guarantee (llama-cpp-python 0.3.36
does not enforce integer ``minimum``/``maximum``), so every reply is validated with jsonschema.
"""

from __future__ import annotations

import json

import httpx
import openai

from kimi_cookbook.client import chat

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
