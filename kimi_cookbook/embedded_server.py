"""llama.cpp's OpenAI server with what SGLang's router asks of a worker: ``GET /health`` and ``GET /get_server_info``.

SGLang's router (``sglang-router`` 0.3.2) registers a worker only once ``GET {worker}/health`` answers 2xx; the path
is fixed in its registration step (``--health-check-endpoint`` changes only the later periodic checks).
llama-cpp-python's server has no ``/health`` (404), so the router refuses it (``no_available_workers``). It then
reads the served model's name from ``GET /get_server_info`` (``served_model_name``; without it the router lists the
model as ``unknown`` in its ``/v1/models``). This module runs the very same server -- ``llama_cpp.server``'s own
``main()``: its argument parser, ``create_app`` and uvicorn, the same flags -- and adds those two read-only routes
to the app it creates; everything else (``/v1/models``, ``/v1/completions``, ``/v1/chat/completions``, ...) is
llama.cpp's.
``/get_model_info`` and ``/model_info`` stay 404 (the router only warns), so the cookbook still tells this server
from SGLang (:func:`kimi_cookbook.readiness.server_flavor`).

The model is loaded before the socket opens, so ``/health`` answers 200 from the first moment it answers at all,
like SGLang's after its warm-up. Run it as ``python -m kimi_cookbook.embedded_server --model ... --port ...``
(:func:`kimi_cookbook.server.launch_embedded` with ``health_endpoint=True`` does).
"""

from __future__ import annotations

import json

ROUTES = ("/health", "/get_server_info")


class MaxCompletionTokens:
    """ASGI middleware: a ``POST /v1/chat/completions`` whose JSON has ``max_completion_tokens`` and no
    ``max_tokens`` gets ``max_tokens`` set to it; every other request passes untouched."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != "/v1/chat/completions":
            await self.app(scope, receive, send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away before its body arrived
                await self.app(scope, _once(message, receive), send)
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
        try:
            data = json.loads(body)
        except ValueError:  # not JSON: llama.cpp's server answers it as it would
            data = None
        if isinstance(data, dict) and data.get("max_tokens") is None and data.get("max_completion_tokens") is not None:
            data["max_tokens"] = data["max_completion_tokens"]
            body = json.dumps(data).encode()
            headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-length"]
            scope = {**scope, "headers": [*headers, (b"content-length", str(len(body)).encode())]}
        await self.app(scope, _once({"type": "http.request", "body": body, "more_body": False}, receive), send)


def _once(first: dict, receive):
    """An ASGI ``receive`` that gives ``first``, then whatever the connection sends next (a disconnect)."""
    pending = [first]

    async def replay():
        return pending.pop() if pending else await receive()

    return replay


def main() -> None:
    """llama-cpp-python's own ``python -m llama_cpp.server`` (its argument parser, settings and uvicorn run), with
    its ``create_app`` wrapped so the app it serves has :data:`ROUTES` and :class:`MaxCompletionTokens`."""
    import llama_cpp.server.__main__ as llama_main

    create_app = llama_main.create_app

    def create_app_for_the_router(*args, **kwargs):
        app = create_app(*args, **kwargs)
        models = kwargs.get("model_settings") or []
        name = (models[0].model_alias or models[0].model) if models else None
        info = {"model_path": models[0].model if models else None, "served_model_name": name}

        async def health() -> dict:
            return {}

        async def server_info() -> dict:
            return info

        app.add_middleware(MaxCompletionTokens)
        app.add_api_route(ROUTES[0], health, methods=["GET"], include_in_schema=False)
        app.add_api_route(ROUTES[1], server_info, methods=["GET"], include_in_schema=False)
        return app

    llama_main.create_app = create_app_for_the_router
    llama_main.main()


if __name__ == "__main__":
    main()
