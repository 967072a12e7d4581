"""The OpenAI-API helpers against a real server (llama.cpp's, tiny local model)."""

import socket
import threading

import openai
import pytest

from kimi_cookbook import client as kc
from kimi_cookbook.server import launch_embedded


@pytest.fixture(scope="module")
def cl(embedded_server):
    return kc.make_client(embedded_server, timeout=30)


def test_list_models(cl, embedded_server):
    assert kc.list_models(cl) == [embedded_server.model]


def test_chat_runs_to_max_tokens(cl, embedded_server):
    r = kc.chat(cl, embedded_server.model, [{"role": "user", "content": "hello"}], max_tokens=16, temperature=0)
    assert r.text and r.finish_reason == "length"
    assert r.completion_tokens == 16 and r.prompt_tokens > 0 and r.seconds > 0


def test_stream_measures_ttft_and_speed(cl, embedded_server):
    pieces = []
    s = kc.stream_chat(cl, embedded_server.model, [{"role": "user", "content": "hello"}], max_tokens=32,
                       temperature=0, on_text=pieces.append)
    assert s.text == "".join(pieces) and s.chunks == len(pieces) > 1
    assert 0 < s.ttft_s <= s.total_s
    assert s.tokens_per_s and s.tokens_per_s > 0
    assert s.finish_reason == "length"
    assert "time to first token" in s.summary()


def test_conversation_sends_the_history(cl, embedded_server):
    conv = kc.Conversation(cl, embedded_server.model, system="Be brief.", max_tokens=8, temperature=0)
    first = conv.ask("one")
    second = conv.ask("two")
    assert conv.turns == 2 and [m["role"] for m in conv.messages] == ["system", "user", "assistant", "user",
                                                                     "assistant"]
    assert second.prompt_tokens > first.prompt_tokens + first.completion_tokens - 1


def test_failed_turn_leaves_the_history_unchanged():
    from kimi_cookbook.server import free_port

    c = kc.make_client(f"http://127.0.0.1:{free_port()}", timeout=2, max_retries=0)  # nothing listens there
    conv = kc.Conversation(c, "m", system="x", max_tokens=4)
    with pytest.raises(openai.APIConnectionError):
        conv.ask("hi")
    assert conv.messages == [{"role": "system", "content": "x"}] and conv.turns == 0


def test_tool_round_trip_with_fallback(cl, embedded_server):
    trip = kc.tool_round_trip(cl, embedded_server.model, "Weather in Paris?",
                              fallback_call={"name": "get_weather", "arguments": {"city": "Paris"}},
                              max_tokens=8, temperature=0)
    assert trip.model_called_tool is False  # random weights never produce a call
    assert trip.calls[0]["id"] == "functions.get_weather:0"
    assert trip.calls[0]["result"] == {"city": "Paris", "temperature": 18, "unit": "celsius"}
    assert [m["role"] for m in trip.messages] == ["user", "assistant", "tool"]
    assert trip.final is not None and trip.final.completion_tokens == 8


def test_tool_round_trip_without_fallback_stops_after_first(cl, embedded_server):
    trip = kc.tool_round_trip(cl, embedded_server.model, "Weather?", max_tokens=4)
    assert trip.calls == [] and trip.final is None


def test_tool_with_unknown_function_is_an_error(cl, embedded_server):
    with pytest.raises(ValueError, match="unknown tool 'launch_rockets'"):
        kc.tool_round_trip(cl, embedded_server.model, "x", max_tokens=4,
                           fallback_call={"name": "launch_rockets", "arguments": {}})


@pytest.mark.parametrize("url, message", [
    ("localhost:8000", "must start with http"), ("ftp://x", "must start"),
    ("http://user:pw@127.0.0.1:1", "must not carry credentials"), ("http://a:b:c", "invalid port"),
])
def test_bad_base_url(url, message):
    with pytest.raises(ValueError, match=message):
        kc.make_client(url)


def test_bad_timeout():
    with pytest.raises(ValueError, match="timeout must be positive"):
        kc.make_client("http://127.0.0.1:1", timeout=0)


def test_api_key_from_env_is_used_not_printed(monkeypatch):
    monkeypatch.setenv(kc.API_KEY_ENV, "sk-secret-123")
    c = kc.make_client("http://127.0.0.1:1/")
    assert c.api_key == "sk-secret-123" and str(c.base_url).rstrip("/") == "http://127.0.0.1:1/v1"
    assert "sk-secret-123" not in repr(c.base_url)


def test_unresponsive_server_times_out():
    """A real socket that accepts connections but never answers: the request times out, retried once."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    try:
        c = kc.make_client(f"http://127.0.0.1:{sock.getsockname()[1]}", timeout=0.5, max_retries=1)
        with pytest.raises(openai.APITimeoutError):
            kc.list_models(c)
    finally:
        sock.close()


def test_server_that_goes_away_mid_stream(tmp_path):
    srv = launch_embedded(log_path=tmp_path / "server.log", progress=False)
    try:
        c = kc.make_client(srv, timeout=10, max_retries=0)
        killed = threading.Event()

        def kill_on_first_piece(_piece):
            if not killed.is_set():
                killed.set()
                srv.stop(grace_s=0.1)

        with pytest.raises(kc.StreamInterrupted) as info:
            kc.stream_chat(c, srv.model, [{"role": "user", "content": "go"}], max_tokens=3000,
                           on_text=kill_on_first_piece)
        assert killed.is_set()
        assert "after" in str(info.value) and len(info.value.partial_text) > 0
    finally:
        srv.stop()
