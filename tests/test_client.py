"""The OpenAI-API helpers against a real server (llama.cpp's, tiny local model)."""

import json
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


# --- structured output ------------------------------------------------------------------------------


def test_server_flavor(cl, embedded_server):
    from kimi_cookbook.server import free_port

    assert kc.server_flavor(cl) == kc.LLAMA_CPP  # llama-cpp-python's OpenAPI title; not SGLang's /model_info
    assert kc.server_flavor(embedded_server.base_url) == kc.LLAMA_CPP
    assert kc.server_flavor(f"http://127.0.0.1:{free_port()}", timeout=1) == kc.OPENAI  # nothing answers


def test_response_format_for_each_server():
    schema = {"type": "object"}
    assert kc.response_format_for(schema, kc.LLAMA_CPP) == {"type": "json_object", "schema": schema}
    for flavor in (kc.SGLANG, kc.OPENAI):
        assert kc.response_format_for(schema, flavor, "w") == {"type": "json_schema",
                                                               "json_schema": {"name": "w", "schema": schema}}


def test_chat_json_returns_a_schema_valid_dict(cl, embedded_server):
    import jsonschema

    reply = kc.chat_json(cl, embedded_server.model, [{"role": "user", "content": "Weather in Paris, as JSON."}],
                         kc.SKY_REPORT_SCHEMA, max_tokens=200, temperature=0)
    assert isinstance(reply, dict) and set(reply) == {"city", "sky"}
    jsonschema.validate(reply, kc.SKY_REPORT_SCHEMA)
    assert reply["sky"] in ("clear", "cloudy", "rain", "snow") and len(reply["city"]) <= 20


def test_chat_json_names_the_first_violation(cl, embedded_server):
    """llama.cpp's grammar does not enforce integer minimum/maximum: the tiny model writes a 16-digit number."""
    schema = kc.WEATHER_REPORT_SCHEMA
    assert schema["properties"]["temperature_c"] == {"type": "integer", "minimum": -90, "maximum": 60}
    with pytest.raises(kc.StructuredOutputError) as info:
        kc.chat_json(cl, embedded_server.model, [{"role": "user", "content": "Weather in Paris, as JSON."}],
                     schema, max_tokens=200, temperature=0)
    err = info.value
    assert err.path == "$.temperature_c"
    assert str(err).startswith("schema violation in the reply at $.temperature_c: ")
    assert "maximum of 60" in str(err) or "minimum of -90" in str(err)
    assert json.loads(err.text)["temperature_c"] not in range(-90, 61)


def test_validate_reply_messages():
    schema = {"type": "object", "properties": {"n": {"type": "integer", "maximum": 3}, "s": {"type": "string"}},
              "required": ["n", "s"]}
    assert kc.validate_reply('{"n": 2, "s": "x"}', schema) == {"n": 2, "s": "x"}
    with pytest.raises(kc.StructuredOutputError, match=r"not JSON in the reply .*finish_reason=length.*max_tokens"):
        kc.validate_reply('{"n": 2, "s": "unfinis', schema, finish_reason="length")
    with pytest.raises(kc.StructuredOutputError, match=r"at \$\.n: 7 is greater than the maximum of 3 \(and 1 more"):
        kc.validate_reply('{"n": 7, "s": 1}', schema)


def test_a_bad_schema_is_refused_before_any_request():
    from kimi_cookbook.server import free_port

    c = kc.make_client(f"http://127.0.0.1:{free_port()}", timeout=1, max_retries=0)  # nothing listens there
    with pytest.raises(ValueError, match="the schema itself is not valid JSON Schema"):
        kc.chat_json(c, "m", [{"role": "user", "content": "x"}], {"type": "no-such-type"}, flavor=kc.SGLANG)


def test_chat_choice_is_constrained_by_the_servers_grammar(cl, embedded_server):
    msgs = [{"role": "user", "content": "Is Paris in France? yes or no"}]
    assert kc.chat_choice(cl, embedded_server.model, msgs, ["yes", "no"], max_tokens=8, temperature=0) in ("yes", "no")
    odd = ['say "hi"', "a|b (c)"]  # quoting and regex characters survive
    assert kc.chat_choice(cl, embedded_server.model, msgs, odd, max_tokens=16, temperature=0) in odd
    with pytest.raises(NotImplementedError, match="neither SGLang's `regex` nor llama.cpp's `grammar`"):
        kc.chat_choice(cl, embedded_server.model, msgs, ["yes", "no"], flavor=kc.OPENAI)


# --- tool calls -------------------------------------------------------------------------------------
def test_a_named_tool_choice_makes_the_server_call_it(cl, embedded_server):
    """llama.cpp constrains the arguments to the tool's schema: a real call, produced by the server."""
    r = kc.chat(cl, embedded_server.model, [{"role": "user", "content": "Weather in Paris?"}], tools=kc.TOOLS,
                tool_choice=kc.named_tool("get_weather"), max_tokens=64, temperature=0)
    (call,) = r.tool_calls
    assert r.finish_reason == "tool_calls" and call.function.name == "get_weather"
    args = json.loads(call.function.arguments)
    assert set(args) <= {"city", "unit"} and len(args["city"]) <= 40


def test_streamed_tool_call_deltas_are_assembled(cl, embedded_server):
    pieces = []
    s = kc.stream_chat(cl, embedded_server.model, [{"role": "user", "content": "Weather in Paris?"}], tools=kc.TOOLS,
                       tool_choice=kc.named_tool("get_weather"), max_tokens=64, temperature=0,
                       on_tool_call_delta=lambda i, name, piece: pieces.append((i, name, piece)))
    (call,) = s.tool_calls
    assert s.finish_reason == "tool_calls" and s.text == ""
    assert len(pieces) > 2 and {(i, n) for i, n, _ in pieces} == {(0, "get_weather")}
    assert call.name == "get_weather"  # llama.cpp repeats the name in every delta: taken once
    assert call.arguments == "".join(p for _, _, p in pieces) and json.loads(call.arguments)["city"]
    assert call.id.startswith("call_") and call.kimi_index is None  # llama.cpp's ids, not Kimi's


def test_assembler_with_parallel_calls_streamed_as_sglang_does():
    """Deltas in the shape SGLang's serving_chat streams them (id and name once, then argument pieces), for two
    parallel calls with kimi_k2 ids; the second conversation turn's ids continue the count."""
    from openai.types.chat.chat_completion_chunk import ChoiceDeltaToolCall, ChoiceDeltaToolCallFunction as F

    def delta(index, id=None, name=None, args=""):
        return ChoiceDeltaToolCall(index=index, id=id, type="function" if id else None,
                                   function=F(name=name, arguments=args))

    asm = kc.ToolCallAssembler()
    for chunk in [[delta(0, "functions.get_weather:2", "get_weather")], [delta(0, args='{"city": "Par')],
                  [delta(0, args='is"}')], [delta(1, "functions.get_weather:3", "get_weather")],
                  [delta(1, args='{"city": "Beijing"}')]]:
        asm.add(chunk)
    first, second = asm.calls()
    assert (first.id, first.name, first.parsed_arguments()) == ("functions.get_weather:2", "get_weather",
                                                                 {"city": "Paris"})
    assert (second.kimi_index, second.parsed_arguments()) == (3, {"city": "Beijing"})


def test_tool_calls_run_concurrently_in_call_order():
    barrier = threading.Barrier(2, timeout=5)  # both calls must be running at once to pass it

    def slow_weather(city, unit="celsius"):
        barrier.wait()
        return kc.get_weather(city, unit)

    calls = [kc.ToolCall("functions.get_weather:0", "get_weather", '{"city": "Paris"}', 0),
             kc.ToolCall("functions.get_weather:1", "get_weather", '{"city": "Beijing"}', 1)]
    results = kc.run_tool_calls(calls, {"get_weather": slow_weather}, kc.TOOLS)
    assert [r["city"] for r in results] == ["Paris", "Beijing"] and results[1]["temperature"] == 24


def test_bad_tool_calls_become_error_results():
    def boom(city, unit="celsius"):
        raise RuntimeError("weather service down")

    tc = kc.ToolCall
    results = kc.run_tool_calls([
        tc("a", "launch_rockets", "{}"), tc("b", "get_weather", "{not json"), tc("c", "get_weather", '{"unit": "K"}'),
        tc("d", "celsius_to_fahrenheit", '{"celsius": 1e300}'),
    ], kc.FUNCTIONS, kc.TOOLS, parallel=False)
    assert "unknown tool 'launch_rockets'" in results[0]["error"]
    assert "not JSON" in results[1]["error"]
    assert "schema violation in the arguments of get_weather at $" in results[2]["error"]
    assert "at $.celsius: 1e+300 is greater than the maximum of 100" in results[3]["error"]
    assert kc.run_tool_calls([tc("e", "get_weather", '{"city": "x"}')], {"get_weather": boom}, kc.TOOLS) == [
        {"error": "get_weather failed: RuntimeError: weather service down"}]


def test_streamed_multi_turn_agent_loop(cl, embedded_server, capsys):
    run = kc.agent_loop(cl, embedded_server.model, "Weather in Paris, in Fahrenheit?", kc.TOOLS, kc.FUNCTIONS,
                        tool_choice=[kc.named_tool("get_weather"), kc.named_tool("celsius_to_fahrenheit")],
                        max_turns=4, max_tokens=64, temperature=0, echo=True)
    assert run.stopped == "answered" and len(run.steps) == 3 and run.answer == run.steps[-1].text
    assert [c.name for c in run.calls] == ["get_weather", "celsius_to_fahrenheit"]
    assert [m["role"] for m in run.messages] == ["user", "assistant", "tool", "assistant", "tool", "assistant"]
    for step in run.steps[:2]:
        (call,) = step.calls
        assert step.finish_reason == "tool_calls"
        tool_msg = next(m for m in run.messages if m.get("tool_call_id") == call.id)
        assert json.loads(tool_msg["content"]) == step.results[0]
    weather = run.steps[0].results[0]
    assert set(weather) == {"city", "temperature", "unit"} or "error" in weather
    out = capsys.readouterr().out
    assert "--- turn 2 (tool_choice=celsius_to_fahrenheit)" in out and "call 0: get_weather {" in out


def test_agent_loop_stops_after_max_turns_and_without_streaming(cl, embedded_server):
    run = kc.agent_loop(cl, embedded_server.model, "Weather?", kc.TOOLS, kc.FUNCTIONS, stream=False, max_turns=2,
                        tool_choice=kc.named_tool("get_weather"), max_tokens=64, temperature=0)
    assert run.stopped == "max_turns" and run.answer is None and len(run.calls) == 2
    assert run.calls[0].id != run.calls[1].id and run.messages[-1]["role"] == "tool"


def test_agent_loop_auto_without_a_call_is_an_answer(cl, embedded_server):
    """The tiny random model never decides to call; llama-cpp-python 0.3.36 also ignores "required"."""
    for choice in ("auto", "required"):
        run = kc.agent_loop(cl, embedded_server.model, "Weather?", kc.TOOLS, kc.FUNCTIONS, tool_choice=choice,
                            max_tokens=8, temperature=0)
        assert run.stopped == "answered" and run.calls == [] and run.answer
    with pytest.raises(ValueError, match="max_turns must be at least 1"):
        kc.agent_loop(cl, embedded_server.model, "x", kc.TOOLS, kc.FUNCTIONS, max_turns=0)
