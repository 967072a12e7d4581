"""Tool calls for real: the cookbook's example tools and a multi-turn agent loop.

model -> tool calls -> tool results -> model, up to ``max_turns``, streamed or not, with ``tool_choice``
(auto / required / a named function, or one per turn). The calls a turn makes run concurrently; each call's
arguments are checked against the tool's schema first, and whatever goes wrong goes back to the model as the
tool's result. Every call shown comes from the server (on the embedded server a named ``tool_choice`` makes
llama.cpp constrain the arguments with a grammar).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import openai

from kimi_cookbook.client import check_request_args, chat, stream_chat
from kimi_cookbook.structured import StructuredOutputError, validate_reply
from kimi_cookbook.tool_calls import ToolCall

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
