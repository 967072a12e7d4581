"""Tool calls as servers return them: one call, and whole calls assembled from streamed deltas.

SGLang's ``kimi_k2`` parser gives ids like ``functions.get_weather:0``; a streamed answer sends each call in
pieces (``delta.tool_calls``) that :class:`ToolCallAssembler` puts together. Used by
:func:`kimi_cookbook.client.stream_chat` and the agent loop (:mod:`kimi_cookbook.agent`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

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
