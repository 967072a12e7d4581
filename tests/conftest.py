"""Shared fixtures. ``embedded_server``: a real OpenAI-compatible server with a tiny local model."""

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def embedded_server():
    """The embedded server (llama.cpp's OpenAI server, tiny local model) for the whole test session.

    Yields a ``kimi_cookbook.server.Server`` (``base_url``, ``model``, ``tokenizer_path``, ``kind``);
    stopped at the end of the session. The tiny model is cached under ``$KIMI_COOKBOOK_CACHE``.
    """
    from kimi_cookbook.server import connect

    with connect("embedded", progress=False, timeout_s=180) as srv:
        yield srv
