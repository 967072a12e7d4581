"""Benchmarks: parsers on real outputs, presets/commands, reference data, and real runs of SGLang's client."""

from __future__ import annotations

import ast
import json
import math
import re
from pathlib import Path

import pytest

from kimi_cookbook import bench
from kimi_cookbook.runner import notebook_parameters

DATA = Path(__file__).parent / "data" / "bench"


def read(name: str) -> str:
    return (DATA / name).read_text(encoding="utf-8")


# --- parse_bench_serving: exact on real outputs ---------------------------------------------------

PAGE_C1 = {
    "backend": "sglang",
    "traffic_request_rate": math.inf,
    "max_request_concurrency": 1,
    "successful_requests": 10,
    "benchmark_duration_s": 23.86,
    "total_input_tokens": 6101,
    "total_input_text_tokens": 6101,
    "total_input_vision_tokens": 0,
    "total_generated_tokens": 4220,
    "total_generated_tokens_retokenized": 4001,
    "request_throughput_req_s": 0.42,
    "input_token_throughput_tok_s": 255.70,
    "output_token_throughput_tok_s": 176.86,
    "peak_output_token_throughput_tok_s": 190.00,
    "peak_concurrent_requests": 2,
    "total_token_throughput_tok_s": 432.56,
    "concurrency": 1.00,
    "mean_e2e_latency_ms": 2383.93,
    "median_e2e_latency_ms": 1911.63,
    "mean_ttft_ms": 141.33,
    "median_ttft_ms": 126.27,
    "p99_ttft_ms": 294.76,
    "mean_tpot_ms": 5.32,
    "median_tpot_ms": 5.33,
    "p99_tpot_ms": 5.36,
    "mean_itl_ms": 5.33,
    "median_itl_ms": 5.32,
    "p95_itl_ms": 5.44,
    "p99_itl_ms": 5.58,
    "max_itl_ms": 11.46,
}

# The labels sglang 0.5.7's bench_serving.benchmark() prints, in order (Accept length only with spec decoding).
SGLANG_057_KEYS = list(PAGE_C1)

VLLM_PR35714 = {
    "successful_requests": 16,
    "failed_requests": 0,
    "maximum_request_concurrency": 1,
    "benchmark_duration_s": 38.06,
    "total_input_tokens": 281,
    "total_generated_tokens": 1521,
    "request_throughput_req_s": 0.42,
    "output_token_throughput_tok_s": 39.96,
    "peak_output_token_throughput_tok_s": 47.00,
    "peak_concurrent_requests": 2.00,
    "total_token_throughput_tok_s": 47.35,
    "mean_ttft_ms": 330.66,
    "median_ttft_ms": 149.12,
    "p99_ttft_ms": 2602.80,
    "mean_tpot_ms": 21.80,
    "median_tpot_ms": 21.71,
    "p99_tpot_ms": 23.00,
    "mean_itl_ms": 21.54,
    "median_itl_ms": 21.70,
    "p99_itl_ms": 22.24,
}


def assert_exact(got: dict, want: dict) -> None:
    assert list(got) == list(want)  # same keys, in printed order
    for key, value in want.items():
        assert type(got[key]) is type(value), key
        assert got[key] == value, key


def test_page_block_low_concurrency_exact():
    assert_exact(bench.parse_bench_serving(read("page_mi300x_c1.txt")), PAGE_C1)


@pytest.mark.parametrize(
    ("name", "checks"),
    [
        (
            "page_mi300x_c16.txt",
            {
                "max_request_concurrency": 16,
                "successful_requests": 80,
                "concurrency": 14.13,
                "p99_itl_ms": 116.80,
            },
        ),
        (
            "page_mi300x_c100.txt",
            {
                "successful_requests": 500,
                "total_generated_tokens": 252662,
                "max_itl_ms": 2481.11,
            },
        ),
    ],
)
def test_page_blocks(name, checks):
    got = bench.parse_bench_serving(read(name))
    assert list(got) == SGLANG_057_KEYS
    for key, value in checks.items():
        assert got[key] == value and type(got[key]) is type(value)


def test_sglang_block_with_accept_length():
    got = bench.parse_bench_serving(read("sglang_accept_length.txt"))
    want_keys = SGLANG_057_KEYS.copy()
    want_keys.insert(want_keys.index("concurrency") + 1, "accept_length")
    assert list(got) == want_keys
    assert got["accept_length"] == 2.61
    assert got["successful_requests"] == 10 and got["benchmark_duration_s"] == 81.27


def test_last_block_wins():
    got = bench.parse_bench_serving(read("sglang_accept_length_then_plain.txt"))
    assert list(got) == SGLANG_057_KEYS  # the second block has no Accept length
    assert got["successful_requests"] == 1000 and got["max_itl_ms"] == 43465.60


def test_newer_sglang_block_padded_values_p90_lines():
    got = bench.parse_bench_serving(read("sglang_newer_p90_accept_length.txt"))
    assert got["backend"] == "sglang"  # printed "sglang    " (padded)
    assert got["traffic_request_rate"] == math.inf
    assert got["accept_length"] == 4.55
    assert got["benchmark_duration_s"] == 348.86  # the second of two blocks
    for key in (
        "p90_e2e_latency_ms",
        "p95_e2e_latency_ms",
        "p90_ttft_ms",
        "p95_tpot_ms",
        "p90_itl_ms",
    ):
        assert isinstance(got[key], float)
    assert got["p95_e2e_latency_ms"] == 109325.60
    assert "total_input_vision_tokens" not in got
    assert len(got) == 38


def test_vllm_block_exact():
    assert_exact(bench.parse_bench_serving(read("vllm_bench_serve_pr35714.txt")), VLLM_PR35714)


def test_vllm_spec_decoding_block():
    got = bench.parse_bench_serving(read("vllm_spec_decode_then_fp8.txt"))
    assert got["benchmark_duration_s"] == 12.58  # last block
    assert got["acceptance_rate"] == 22.67 and got["acceptance_length"] == 1.45
    assert got["drafts"] == 14054 and got["draft_tokens"] == 28108 and got["accepted_tokens"] == 6371
    assert got["position_0"] == 36.45 and got["position_1"] == 8.89
    assert "per_position_acceptance" not in got  # a label without a value adds no key
    assert list(got)[-7:] == [
        "acceptance_rate",
        "acceptance_length",
        "drafts",
        "draft_tokens",
        "accepted_tokens",
        "position_0",
        "position_1",
    ]


def test_block_after_progress_bar_on_same_line_and_not_set():
    # sglang 0.5.7 prints "not set" without --max-concurrency; a tqdm bar may end the line before the header.
    text = "100%|██████████| 4/4 [00:01<00:00,  3.1it/s]\r" + read("page_mi300x_c1.txt").replace(
        "Max request concurrency:                 1", "Max request concurrency:                 not set"
    )
    got = bench.parse_bench_serving(text)
    assert got["max_request_concurrency"] == "not set"
    assert got["successful_requests"] == 10


@pytest.mark.parametrize("cut_after", ["Mean TPOT (ms):", "Max ITL (ms):"])
def test_truncated_block_raises(cut_after):
    text = read("page_mi300x_c16.txt")
    cut = text[: text.index(cut_after)]
    with pytest.raises(ValueError, match="cut off"):
        bench.parse_bench_serving(cut)
    # a complete block followed by a cut-off one: the last one counts, and it is cut off
    with pytest.raises(ValueError, match="cut off"):
        bench.parse_bench_serving(read("page_mi300x_c1.txt") + "\nlog noise\n" + cut)


def test_no_block_raises():
    with pytest.raises(ValueError, match="no 'Serving Benchmark Result' block"):
        bench.parse_bench_serving("Accuracy: 0.5\n")


def test_snake_case_examples_from_the_issue():
    assert bench.snake_case("Mean TPOT (ms)") == "mean_tpot_ms"
    assert bench.snake_case("Output token throughput (tok/s)") == "output_token_throughput_tok_s"
    assert bench.snake_case("Backend") == "backend"


# --- parse_gsm8k --------------------------------------------------------------------------------------


def test_gsm8k_page_exact():
    got = bench.parse_gsm8k(read("page_gsm8k.txt"))
    assert got == {
        "accuracy": 0.705,
        "invalid": 0.0,
        "latency": 11.855,
        "output_throughput": 3224.982,
    }


def test_gsm8k_progress_bars_two_runs_last_wins():
    got = bench.parse_gsm8k(read("gsm8k_pr15464_progress.txt"))
    assert got == {
        "accuracy": 0.810,
        "invalid": 0.0,
        "latency": 21.098,
        "output_throughput": 1272.783,
    }


def test_gsm8k_indented_and_download_lines():
    # few_shot_gsm8k 0.5.7 prints this line (sglang.utils.download_and_cache_file) and a byte progress bar.
    noise = (
        "Downloading from https://raw.githubusercontent.com/openai/grade-school-math/master/grade_school_math/"
        "data/test.jsonl to /tmp/test.jsonl\n/tmp/test.jsonl: 100%|██████████| 732k/732k [00:00<00:00, 3.1MB/s]\n"
    )
    got = bench.parse_gsm8k(noise + read("gsm8k_deepseek_v3_indented.txt"))
    assert got == {
        "accuracy": 0.960,
        "invalid": 0.0,
        "latency": 32.450,
        "output_throughput": 614.211,
    }


def test_gsm8k_incomplete_raises():
    with pytest.raises(ValueError, match="missing latency, output_throughput"):
        bench.parse_gsm8k("Accuracy: 0.705\nInvalid: 0.000\n")


# --- presets, commands, reference ---------------------------------------------------------------------


def test_page_preset_matches_the_page():
    assert [(s.num_prompts, s.max_concurrency, s.input_len, s.output_len) for s in bench.preset("page")] == [
        (10, 1, 1000, 1000),
        (80, 16, 1000, 1000),
        (500, 100, 1000, 1000),
    ]
    assert all(math.isinf(s.request_rate) and s.range_ratio == 0.0 for s in bench.preset("page"))
    sweep = bench.preset("sweep")
    assert [s.max_concurrency for s in sweep] == sorted(s.max_concurrency for s in sweep)
    with pytest.raises(ValueError, match="allowed: page, sweep, tiny"):
        bench.preset("nope")


def test_command_is_the_pages_plus_output_file(tmp_path):
    s = bench.preset("page")[1]
    cmd = bench.bench_command(
        s,
        base_url="http://127.0.0.1:30000",
        model="moonshotai/Kimi-Linear-48B-A3B-Instruct",
        output_file=tmp_path / "c.jsonl",
    )
    assert cmd[1:3] == ["-m", "sglang.bench_serving"]  # sglang 0.5.7 installed here
    text = bench.display_command(cmd)
    for part in (
        "--backend sglang",
        "--dataset-name random",
        "--random-input-len 1000",
        "--random-output-len 1000",
        "--num-prompts 80",
        "--max-concurrency 16",
        "--request-rate inf",
        "--random-range-ratio 0.0",
    ):
        assert part in text
    assert text.startswith("python3 -m sglang.bench_serving ")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"backend": "openai"}, "allowed: sglang, sglang-native"),
        ({"dataset_name": "sharegpt"}, "needs dataset_path"),
        ({"dataset_name": "mmmu"}, "allowed: random, random-ids, sharegpt"),
        ({"base_url": "127.0.0.1:30000"}, "http://HOST:PORT"),
        ({"base_url": "http://h:1/v1; rm -rf /"}, "http://HOST:PORT"),
    ],
)
def test_command_rejects_bad_input(kwargs, match):
    args = {"base_url": "http://127.0.0.1:30000", **kwargs}
    with pytest.raises(ValueError, match=match):
        bench.bench_command(bench.preset("tiny")[0], **args)


@pytest.mark.parametrize(
    "url",
    [
        "http://user:secret@127.0.0.1:30000",  # credentials would land in manifest.json, logs, printouts
        "http://:secret@127.0.0.1:30000",
        "http://a:b:c:d",  # nonsense port
        "http://127.0.0.1:99999",  # port out of range
        "ftp://127.0.0.1:30000",
        "http://127.0.0.1:30000/generate",  # a path
    ],
)
def test_base_url_rejects_credentials_and_nonsense(url, tmp_path):
    with pytest.raises(ValueError, match="http://HOST:PORT") as err:
        bench.bench_command(bench.preset("tiny")[0], base_url=url)
    assert "secret" not in str(err.value)  # the error message does not echo the credentials
    with pytest.raises(ValueError, match="http://HOST:PORT"):
        bench.run_bench("tiny", base_url=url, results_dir=tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()  # nothing written, no manifest holding the URL


def test_base_url_normalised():
    for url in ("http://127.0.0.1:30000", "http://127.0.0.1:30000/", "http://127.0.0.1:30000/v1"):
        cmd = bench.bench_command(bench.preset("tiny")[0], base_url=url)
        assert cmd[cmd.index("--base-url") + 1] == "http://127.0.0.1:30000"


def test_new_results_dir_unique_and_env(tmp_path, monkeypatch):
    monkeypatch.setenv("KIMI_COOKBOOK_RUNS", str(tmp_path / "elsewhere"))
    dirs = [bench.new_results_dir(prefix="gsm8k") for _ in range(3)]  # same second, most likely
    assert len(set(dirs)) == 3
    assert all(d.is_dir() and d.parent == tmp_path / "elsewhere" and d.name.startswith("gsm8k-") for d in dirs)
    assert bench.new_results_dir(tmp_path / "b").parent == tmp_path / "b"  # an explicit base wins
    with pytest.raises(ValueError, match="prefix"):
        bench.new_results_dir(tmp_path, prefix="../x")


def test_save_writes_both_files_atomically(tmp_path):
    records = [{"name": "a", "wall_s": 1.0}, {"name": "b", "wall_s": 2.0}]
    bench.save_results(records[:1], tmp_path)
    bench.save_results(records, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.csv", "results.jsonl"]  # no .tmp left
    assert list(bench.load_results(tmp_path)["name"]) == ["a", "b"]
    assert (tmp_path / "results.csv").read_text().splitlines() == ["name,wall_s", "a,1.0", "b,2.0"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_prompts": 0}, r"num_prompts must be an integer in \[1, 100000\]"),
        ({"max_concurrency": 2.5}, "max_concurrency"),
        ({"range_ratio": 1.5}, r"range_ratio must be in \[0, 1\]"),
        ({"request_rate": 0}, "request_rate"),
        ({"name": "../x"}, "scenario name"),
    ],
)
def test_scenario_validation(kwargs, match):
    args = {"name": "x", "num_prompts": 1, "max_concurrency": 1, **kwargs}
    with pytest.raises(ValueError, match=match):
        bench.Scenario(**args)


def test_reference_dataframe_and_gsm8k():
    ref = bench.load_reference()
    assert list(ref["max_concurrency"]) == [1, 16, 100]
    assert list(ref["output_token_throughput_tok_s"]) == [176.86, 1300.37, 3169.72]
    assert set(ref["hardware"]) == {"AMD MI300X"} and set(ref["tp"]) == {4}
    row = ref.iloc[0]
    for key, value in PAGE_C1.items():
        assert row[key] == value
    g = bench.load_reference_gsm8k()
    assert g["accuracy"] == 0.705 and g["num_questions"] == 200 and g["nvidia_range"] == (0.88, 0.90)


def test_compare_ratios_against_reference_itself():
    ref = bench.load_reference()
    table = bench.compare(ref, ref)
    assert set(table["ratio"]) == {1.0}
    assert len(table) == 3 * len(bench.COMPARE_METRICS)
    half = ref.copy()
    half["output_token_throughput_tok_s"] = half["output_token_throughput_tok_s"] / 2
    t = bench.compare(half.iloc[:1], ref)  # only concurrency 1 ran
    row = t[(t.max_concurrency == 1) & (t.metric == "output_token_throughput_tok_s")].iloc[0]
    assert row["ratio"] == pytest.approx(0.5)
    assert t[t.max_concurrency == 16]["ratio"].isna().all()


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("The answer is 42.", 42),
        ("#### 1,234", 1234),  # commas removed first
        ("3 apples and 5 pears, so 8", 8),  # the last number wins
        ("It is 007", bench.INVALID),  # a leading zero is not a Python literal: the harness counts it invalid
        ("00", 0),  # ... while "00" is one
        ("-5", 5),  # digits only: no sign
        ("3.75", 75),  # nor a decimal point
        ("no number here", bench.INVALID),
        ("", bench.INVALID),
    ],
)
def test_answer_extraction_is_sglangs(text, value):
    assert bench.last_integer(text) == value
    assert bench.answer_value(text) == value
    try:
        from sglang.test.few_shot_gsm8k import get_answer_value
    except Exception:  # noqa: BLE001 - SGLang's harness needs its frontend's dependencies
        return
    assert get_answer_value(text) == value


def test_row_from_record_names_columns_as_the_printed_block():
    record = {"completed": 7, "duration": 1.5, "output_throughput": 10.0, "std_ttft_ms": 0.5, "p99_ttft_ms": 2.0,
              "max_concurrency": 4, "server_info": {"x": 1}, "ttfts": [0.1]}
    assert bench.row_from_record(record) == {
        "successful_requests": 7, "benchmark_duration_s": 1.5, "output_token_throughput_tok_s": 10.0,
        "std_ttft_ms": 0.5, "p99_ttft_ms": 2.0, "max_request_concurrency": 4,
    }
    page = bench.parse_bench_serving(read("page_mi300x_c1.txt"))
    assert set(bench.RECORD_COLUMNS.values()) <= set(page)  # every renamed column is one the page prints


def test_gsm8k_sample_is_valid_for_few_shot_gsm8k():
    lines = [json.loads(x) for x in Path(bench.gsm8k_sample_path()).read_text().splitlines() if x.strip()]
    assert len(lines) >= 10
    for item in lines:
        assert set(item) == {"question", "answer"}
        assert item["answer"].rsplit("####", 1)[1].strip().isdigit()


@pytest.fixture
def recording_server():
    """A real local HTTP server that answers /get_model_info and /v1/completions and records headers."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen: list[tuple[str, str | None]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _answer(self, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            seen.append((self.path, self.headers.get("Authorization")))
            if self.path == "/get_model_info":
                self._answer({"model_path": "m"})
            else:
                self.send_error(404)

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            seen.append((self.path, self.headers.get("Authorization")))
            self._answer(
                {
                    "id": "c",
                    "object": "text_completion",
                    "created": 0,
                    "model": "m",
                    "choices": [{"index": 0, "text": " 18", "finish_reason": "stop", "logprobs": None}],
                    "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
                }
            )

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", seen
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_score_gsm8k_applies_the_harness_rule_and_saves(tmp_path):
    questions = [json.loads(x) for x in Path(bench.gsm8k_sample_path()).read_text().splitlines() if x.strip()][:4]
    answers = [(q["answer"], 10) for q in questions[:3]] + [("no number", 5)]
    run = bench.score_gsm8k(questions, answers, 2.0, tmp_path / "work", source="sample.jsonl")
    assert run.result == {"accuracy": 0.75, "invalid": 0.25, "latency": 2.0, "output_throughput": 17.5}
    assert bench.parse_gsm8k(run.text) == pytest.approx(run.result, abs=1e-3)  # printed as the harness prints
    assert run.method == "openai-sample" and run.num_questions == 4 and "sample.jsonl" in run.reason
    saved = json.loads((tmp_path / "work" / "gsm8k.json").read_text())
    assert saved["result"] == run.result and saved["method"] == "openai-sample"
    cmp = bench.compare_gsm8k(run.result)
    assert cmp["reference_accuracy"] == 0.705 and "0.88-0.90" in cmp["note"]
    with pytest.raises(ValueError, match="3 answers for 4 questions"):
        bench.score_gsm8k(questions, answers[:3], 1.0, tmp_path / "other")


def test_server_flavor_is_decided_once_from_what_answers(recording_server, embedded_server):
    from kimi_cookbook.readiness import server_flavor
    from kimi_cookbook.server import attach

    url, seen = recording_server
    assert server_flavor(url) == "sglang"  # /get_model_info answers SGLang's JSON
    assert seen[0][0] == "/get_model_info"
    assert server_flavor(embedded_server.base_url) == "llama.cpp"  # its OpenAPI title
    assert server_flavor("http://127.0.0.1:9", timeout=1) == "openai"  # nothing listens
    assert embedded_server.flavor == "llama.cpp"  # launched: known without a probe
    assert attach(embedded_server.base_url, progress=False).flavor == "llama.cpp"


def test_real_sglang_057_capture_with_noise():
    # The whole output of sglang 0.5.7's client (Namespace dumps, tokenizer warnings, tqdm bars) from a
    # run against the embedded llama.cpp server.
    text = read("sglang057_embedded_capture.txt")
    assert "Warmup completed" in text and "it/s]" in text
    got = bench.parse_bench_serving(text)
    assert list(got) == SGLANG_057_KEYS
    assert got["backend"] == "sglang-oai" and got["max_request_concurrency"] == 1
    assert got["successful_requests"] == 4 and got["total_input_tokens"] == 128
    assert got["total_generated_tokens"] == 64


# --- real runs of SGLang's client against the embedded server ------------------------------------------


@pytest.fixture
def settings(embedded_server):
    st = bench.bench_settings(embedded_server)
    assert st["backend"] == "sglang-oai" and st["dataset_name"] == "random-ids"  # no /generate, no download
    return st


def test_tiny_preset_real_run_saves_results(settings, tmp_path, capsys):
    out = tmp_path / "run"
    df = bench.run_bench("tiny", results_dir=out, progress=False, **settings)
    printed = capsys.readouterr().out
    assert "Serving Benchmark Result" in printed  # the client's own output was streamed
    assert list(df["name"]) == ["tiny-c1", "tiny-c4"]
    assert (df["successful_requests"] > 0).all()
    assert df.loc[0, "successful_requests"] == 4  # concurrency 1: every request succeeds
    assert (df["output_token_throughput_tok_s"] > 0).all()
    for name in (
        "results.csv",
        "results.jsonl",
        "client.jsonl",
        "manifest.json",
        "tiny-c1.log",
        "tiny-c4.log",
    ):
        assert (out / name).is_file(), name
    client_rows = [json.loads(x) for x in (out / "client.jsonl").read_text().splitlines()]
    assert [r["max_concurrency"] for r in client_rows] == [
        1,
        4,
    ]  # the client's own JSONL
    assert client_rows[0]["completed"] == df.loc[0, "successful_requests"]
    # rows come from the client's JSON record: its std/p99 metrics and exact counts, none of its nested data
    for i, record in enumerate(client_rows):
        for key in ("std_ttft_ms", "p99_ttft_ms", "std_tpot_ms", "p99_tpot_ms", "std_itl_ms", "p99_itl_ms",
                    "std_e2e_latency_ms", "p99_e2e_latency_ms", "mean_ttft_ms"):
            assert df.loc[i, key] == pytest.approx(record[key]), key
        assert df.loc[i, "output_token_throughput_tok_s"] == pytest.approx(record["output_throughput"])
        assert df.loc[i, "failed_requests"] == df.loc[i, "num_prompts"] - record["completed"]
    assert "server_info" not in df and "client" not in df
    # ... and agree with the block the client printed (two decimals there)
    printed_c1 = bench.parse_bench_serving((out / "tiny-c1.log").read_text())
    for key in ("successful_requests", "total_input_tokens", "total_generated_tokens", "mean_tpot_ms", "p99_ttft_ms",
                "request_throughput_req_s", "benchmark_duration_s", "concurrency"):
        assert df.loc[0, key] == pytest.approx(printed_c1[key], abs=0.006), key
    import pandas as pd

    csv = pd.read_csv(out / "results.csv")
    assert list(csv["name"]) == ["tiny-c1", "tiny-c4"] and "mean_tpot_ms" in csv
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["client_module"] == "sglang.bench_serving" and len(manifest["commands"]) == 2
    table = bench.compare(out)  # concurrency 1 is beside the page's low-concurrency scenario
    row = table[(table.max_concurrency == 1) & (table.metric == "output_token_throughput_tok_s")].iloc[0]
    assert row["ratio"] == pytest.approx(df.loc[0, "output_token_throughput_tok_s"] / 176.86)
    assert row["run_scenario"] == "tiny-c1"
    fig = bench.plot_vs_concurrency(out)
    assert len(fig.axes) == 3 and all(len(ax.lines) >= 2 for ax in fig.axes)


def test_failed_scenario_keeps_finished_ones(settings, tmp_path):
    out = tmp_path / "run"
    ok = bench.preset("tiny")[0]
    # longer than the tiny model's 4096-token context: the server rejects it, the client's warm-up fails
    too_long = bench.Scenario(
        "too-long",
        num_prompts=2,
        max_concurrency=1,
        input_len=6000,
        output_len=8,
        range_ratio=1.0,
    )
    with pytest.raises(bench.BenchError, match="too-long") as err:
        bench.run_bench([ok, too_long], results_dir=out, progress=False, stream=False, **settings)
    assert err.value.results_dir == out
    df = bench.load_results(out)
    assert list(df["name"]) == ["tiny-c1"] and df.loc[0, "successful_requests"] == 4
    assert (out / "too-long.log").read_text().strip()  # the failed client's output is kept


def test_cli_interrupted_run_keeps_first_scenario(embedded_server, tmp_path):
    import os
    import signal
    import subprocess
    import sys

    out = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "kimi_cookbook.cli",
        "bench",
        "--base-url",
        embedded_server.base_url,
        "--tokenizer",
        str(embedded_server.tokenizer_path),
        "--preset",
        "tiny",
        "--results",
        str(out),
        "--quiet",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    frozen = False
    try:
        # "[tiny-c4] $ ..." is printed after tiny-c1's row was saved and before tiny-c4's client starts. The
        # server is then frozen (SIGSTOP), so tiny-c4 cannot finish whatever the timing: Ctrl-C lands while it runs.
        seen = []
        for line in proc.stdout:
            seen.append(line)
            if line.startswith("[tiny-c4] $"):
                break
        else:
            raise AssertionError("the second scenario did not start: " + "".join(seen))
        os.killpg(embedded_server.pid, signal.SIGSTOP)
        frozen = True
        proc.send_signal(signal.SIGINT)  # Ctrl-C while the second scenario's client runs
        output, _ = proc.communicate(timeout=60)
    finally:
        if frozen:
            os.killpg(embedded_server.pid, signal.SIGCONT)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, output
    assert "interrupted; finished scenarios are kept" in output
    assert list(bench.load_results(out)["name"]) == ["tiny-c1"]  # the second scenario had started: not kept


def test_cli_timeout_keeps_results_and_exits_1(embedded_server, tmp_path, monkeypatch, capsys):
    from kimi_cookbook.cli import main

    runs = tmp_path / "runs"
    monkeypatch.setenv("KIMI_COOKBOOK_RUNS", str(runs))  # the default results folder goes here
    argv = [
        "bench",
        "--base-url",
        embedded_server.base_url,
        "--tokenizer",
        str(embedded_server.tokenizer_path),
        "--preset",
        "tiny",
        "--quiet",
        "--timeout",
        "0.5",  # the client cannot even finish importing in that time: a real timeout
    ]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "ran past 0.5 s and was stopped" in err and "tiny-c1" in err
    (results,) = runs.iterdir()
    assert results.name.startswith("bench-")
    assert f"finished scenarios are kept in {results}" in err
    assert (results / "manifest.json").is_file() and (results / "tiny-c1.log").is_file()
    assert not (results / "results.jsonl").exists()  # no scenario finished


def test_gsm8k_harness_timeout_raises_bench_error(embedded_server, tmp_path):
    import sys

    work = tmp_path / "work"
    port = embedded_server.base_url.rsplit(":", 1)[1]
    cmd = [sys.executable, "-m", "sglang.test.few_shot_gsm8k", "--num-questions", "1", "--host", "http://127.0.0.1",
           "--port", port]
    with pytest.raises(bench.BenchError, match="ran past 0.3 s") as err:
        bench.run_gsm8k_harness(cmd, work, timeout_s=0.3)
    assert err.value.results_dir == work
    assert (work / "gsm8k.log").read_text().startswith("$ python3 -m sglang.test.few_shot_gsm8k")


@pytest.mark.slow
def test_cli_compare_prints_ratios_and_plots(tmp_path, capsys):
    from kimi_cookbook.cli import main

    out = tmp_path / "res"
    out.mkdir()
    ref = bench.load_reference()
    rows = [dict(r, name=r["scenario"]) for r in ref.to_dict("records")]
    (out / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["compare", str(out), "--plot", str(tmp_path / "p.png")]) == 0
    text = capsys.readouterr().out
    assert "output_token_throughput_tok_s" in text and "1.000" in text
    assert (tmp_path / "p.png").stat().st_size > 10_000
    assert main(["compare", str(tmp_path / "missing")]) == 2


# --- notebooks 05/06 as the session's run executed them (papermill, embedded server) ----------------------


def _outputs(path):
    import nbformat

    nb = nbformat.read(path, as_version=4)
    texts, images = [], 0
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            if o.get("output_type") == "stream":
                texts.append(o["text"])
            texts.append(o.get("data", {}).get("text/plain", ""))  # tables render as HTML DataFrames
            images += "image/png" in o.get("data", {})
            assert o.get("output_type") != "error", o
    return "".join(texts), images


NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def _code(nb) -> str:
    import nbformat

    return "\n".join(c.source for c in nbformat.read(nb, as_version=4).cells if c.cell_type == "code")


@pytest.mark.slow
def test_speed_notebook_on_embedded_server(notebook_run):
    """The session's run of notebook 05 (the demo's parameters: PRESET "tiny" and STREAM False are its defaults;
    RESULTS_DIR under RUN/results)."""
    nb = NOTEBOOKS / "05_speed_benchmark.ipynb"
    # the client command is written in the cell that runs it, flag by flag
    code = _code(nb)
    for flag in ("--backend", "--base-url", "--dataset-name", "--num-prompts", "--max-concurrency",
                 "--random-input-len", "--random-output-len", "--random-range-ratio", "--request-rate",
                 "--output-file"):
        assert f'"{flag}"' in code, flag
    assert 'sys.executable, "-m", module' in code and "bench.run_scenario(s, cmd, results_dir" in code
    params = notebook_run.parameters("05_speed_benchmark")
    defaults = {k: ast.literal_eval(v) for k, v in notebook_parameters(nb).items()}
    assert defaults["PRESET"] == "tiny" and defaults["STREAM"] is False
    assert not {"PRESET", "STREAM"} & set(params)  # the defaults ran
    results = Path(params["RESULTS_DIR"])
    text, images = _outputs(notebook_run.path("05_speed_benchmark"))
    assert "python3 -m sglang.bench_serving --backend sglang-oai" in text  # the terminal equivalent
    assert "low-c1" in text and "176.86" in text  # the page's reference table
    # quiet by default: the progress bar and result block, the log's path; no argument dump, no ratio for a toy run
    assert "Serving Benchmark Result" in text and "full output: " in text and "Namespace(" not in text
    assert "Not comparable: the 'tiny' preset against 'kimi-cookbook-tiny' on a llama.cpp server" in text
    assert re.search(r"\bmetric\s+reference\s+run\s*\n", text)  # the side-by-side table has no ratio column
    # throughput / TPOT / TTFT vs concurrency (the embedded server has no metrics to plot), and section 7's
    # committed full-size H100 runs: beside the page and the floor, and the one-flag comparisons at concurrency 100
    assert images == 3
    assert "Kimi-Linear-48B-A3B with 96 of 256 experts" in text and "measured_over_floor" in text
    from kimi_cookbook.bench import measured

    pools = len(measured.load_full_size_run()["pools"])
    assert f"planner vs SGLang's log: {pools} pool figures" in text and "--disable-radix-cache" in text
    assert "the selector adds: --disable-radix-cache" in text
    assert "No server metrics for this run: GET " in text and "/metrics answered 404: this server has no" in text
    assert results.parent == notebook_run.run_dir / "results"
    df = bench.load_results(results)
    assert list(df["name"]) == ["tiny-c1", "tiny-c4"] and (df["successful_requests"] > 0).all()


@pytest.mark.slow
def test_accuracy_notebook_on_embedded_server(notebook_run):
    """The session's run of notebook 06 (the demo's parameters: defaults, its WORKDIR under RUN/results)."""
    nb = NOTEBOOKS / "06_accuracy_benchmark.ipynb"
    code = _code(nb)  # the harness command, and the OpenAI-API evaluation, are written in the cells
    assert '"sglang.test.few_shot_gsm8k", "--num-questions"' in code and '"sglang.test.run_eval", "--eval-name"' in code
    assert "client.completions.create(" in code and 'stop=["Question", "Assistant:", "<|separator|>"]' in code
    params = notebook_run.parameters("06_accuracy_benchmark")
    text, _ = _outputs(notebook_run.path("06_accuracy_benchmark"))
    assert "accuracy           0.705" in text and "0.88-0.90" in text
    port = params["BASE_URL"].rsplit(":", 1)[1]
    assert (f"$ python3 -m sglang.test.few_shot_gsm8k --num-questions 200 --parallel 128 --host http://127.0.0.1 "
            f"--port {port}") in text
    # what runs is said before it runs, with what was cut, and "not comparable" before any number
    assert "not run: it needs SGLang's native API and this is a llama.cpp server (see section 4)" in text
    assert "12 questions from gsm8k_sample.jsonl, 8 at a time" in text
    assert text.index("not run") < text.index("Accuracy: ")
    assert json.loads((Path(params["WORKDIR"]) / "gsm8k.json").read_text())["method"] == "openai-sample"
    assert text.index("Not comparable") < text.index("run_accuracy") and "accuracy_diff" not in text
    run_block = text[text.index("Accuracy: ") :]
    assert bench.parse_gsm8k(run_block)["output_throughput"] > 0


def test_record_and_block_of_sglang_0516_agree():
    """A real 0.5.16 run on an H100 (tiny Kimi-Linear): the row from its JSON record has the printed block's
    columns and values, plus the std metrics the block does not print."""
    data = Path(__file__).parent / "data"
    record = json.loads((data / "bench_client_0.5.16.jsonl").read_text().splitlines()[0])
    row = bench.row_from_record(record)
    block = bench.parse_bench_serving((data / "bench_serving_0.5.16.txt").read_text())
    shared = [k for k in block if k in row and isinstance(block[k], (int, float))]
    assert {"successful_requests", "output_token_throughput_tok_s", "mean_tpot_ms", "p99_ttft_ms"} <= set(shared)
    for key in shared:
        assert row[key] == pytest.approx(block[key], abs=0.006), key
    assert row["successful_requests"] == record["completed"] == block["successful_requests"]
    assert {"std_ttft_ms", "std_tpot_ms", "std_itl_ms", "std_e2e_latency_ms"} <= set(row) - set(block)
