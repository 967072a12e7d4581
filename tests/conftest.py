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


@pytest.fixture(scope="session", autouse=True)
def results_outside_the_tree(tmp_path_factory):
    """Notebooks and the bench CLI write result folders under $KIMI_COOKBOOK_RUNS (default ./runs next to
    the notebook); keep the tests' ones in pytest's temporary folder, not in notebooks/runs/."""
    import os

    folder = tmp_path_factory.mktemp("runs")
    old = os.environ.get("KIMI_COOKBOOK_RUNS")
    os.environ["KIMI_COOKBOOK_RUNS"] = str(folder)
    yield folder
    if old is None:
        os.environ.pop("KIMI_COOKBOOK_RUNS", None)
    else:
        os.environ["KIMI_COOKBOOK_RUNS"] = old
