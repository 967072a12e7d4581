"""Issue 24: the workload presets (page, shared system prompt, long context) run by SGLang's own client against a
real server, every finished request recorded as it finishes, and a server that stops answering noticed: one-line
error, the finished requests kept, the server's log tail in the report."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from kimi_cookbook import bench
from kimi_cookbook.bench.watch import ProgressWatch, finished_requests, partial_summary

REPO = Path(__file__).resolve().parents[1]


# --- presets ------------------------------------------------------------------------------------------------------

def test_page_preset_is_the_pages_three_scenarios():
    rows = [(s.num_prompts, s.max_concurrency, s.input_len, s.output_len, s.range_ratio, s.dataset)
            for s in bench.preset("page")]
    # 10 @ 1, 80 @ 16, 500 @ 100; random 1000/1000 at the client's default range ratio 0.0; the run's dataset
    assert rows == [(10, 1, 1000, 1000, 0.0, None), (80, 16, 1000, 1000, 0.0, None), (500, 100, 1000, 1000, 0.0, None)]


def test_shared_prefix_scenario_is_sglangs_dataset_with_its_flags(tmp_path):
    (s,) = bench.preset("shared-prefix-tiny")
    cmd = bench.bench_command(s, base_url="http://127.0.0.1:30000", dataset_name="random-ids", tokenizer="/tok",
                              module="sglang.bench_serving", python="python3")
    args = dict(zip(cmd[3::2], cmd[4::2], strict=False))
    assert cmd[cmd.index("--dataset-name") + 1] == "generated-shared-prefix"  # whatever the run's dataset
    groups, per_group = int(args["--gsp-num-groups"]), int(args["--gsp-prompts-per-group"])
    assert groups * per_group == s.num_prompts == int(args["--num-prompts"])
    assert int(args["--gsp-system-prompt-len"]) == s.prefix_len and int(args["--gsp-question-len"]) == s.input_len
    assert int(args["--gsp-output-len"]) == s.output_len and "--random-input-len" not in cmd
    for big in bench.preset("shared-prefix"):  # SGLang's client defaults for the lengths: 2048 / 128 / 256
        assert (big.prefix_len, big.input_len, big.output_len) == (2048, 128, 256)
    assert [s.max_concurrency for s in bench.preset("shared-prefix")] == [16, 100]


def test_long_context_presets():
    lengths = sorted({s.input_len for s in bench.preset("long-context")})
    assert lengths == [32768, 131072] and all(s.range_ratio == 1.0 for s in bench.preset("long-context"))
    (tiny,) = bench.preset("long-context-tiny")
    assert tiny.input_len + tiny.output_len <= 4096  # the embedded tiny model's context


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"prefix_len": 64, "prefix_groups": 3}, "multiple of prefix_groups"),
    ({"prefix_len": -1}, "prefix_len"),
    ({"prefix_len": 64, "prefix_groups": 0}, "prefix_groups"),
])
def test_shared_prefix_scenario_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        bench.Scenario("x", num_prompts=8, max_concurrency=2, **kwargs)


# --- progress watching, pure --------------------------------------------------------------------------------------

class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_watch_counts_finished_requests_not_time(tmp_path):
    f = tmp_path / "r.jsonl"
    clock = Clock()
    w = ProgressWatch(f, 10, clock=clock)
    w.feed("Namespace(backend='sglang-oai', ...)\n")  # start-up output is progress before any request finished
    clock.t = 9
    assert w.check() is None
    f.write_text('{"warmup": true, "success": true}\n')
    clock.t = 15
    assert w.check() is None  # the warm-up request finished at 15
    w.feed("some warning\n")  # after a request finished, output alone is not progress
    clock.t = 25
    assert w.check() == "no request finished for 10 s"
    with f.open("a") as fh:
        fh.write('{"warmup": false, "success": true}\n')
    assert w.check() is None


def test_watch_reads_the_progress_bar_of_an_unwrapped_client(tmp_path):
    clock = Clock()
    f = tmp_path / "r.jsonl"
    f.write_text('{"warmup": true, "success": true}\n')  # a request finished: from now on output alone is no progress
    w = ProgressWatch(f, 5, clock=clock)
    w.feed("Generating system prompt: 100%|##########| 32/32 [00:00<00:00]\r")  # another bar, another total
    w.feed(" 10%|#         | 1/10 [00:01<00:09,  1.00it/s]\r")
    clock.t = 4
    w.feed(" 10%|#         | 1/10 [00:05<00:45,  0.20it/s]\r")  # redrawn, same count: no progress
    clock.t = 6
    assert w.check() == "no request finished for 6 s"
    w.feed(" 20%|##        | 2/10 [00:06<00:24,  0.33it/s]\r")
    assert w.check() is None


def test_partial_summary_leaves_the_warmup_out():
    rows = [{"warmup": True, "success": True, "latency_s": 9, "ttft_s": 9, "output_len": 2},
            {"warmup": False, "success": True, "latency_s": 1.1, "ttft_s": 0.1, "output_len": 11},
            {"warmup": False, "success": False, "latency_s": 0, "ttft_s": 0, "output_len": 0, "error": "x"}]
    got = partial_summary(rows, num_prompts=5)
    assert got["finished_requests"] == 2 and got["successful_requests"] == 1 and got["not_finished"] == 3
    assert got["mean_ttft_ms"] == 100.0 and got["mean_tpot_ms"] == 100.0 and got["total_generated_tokens"] == 11


# --- real runs against the embedded server ------------------------------------------------------------------------

@pytest.fixture
def settings(embedded_server):
    return bench.bench_settings(embedded_server)


@pytest.mark.parametrize("preset", ["shared-prefix-tiny", "long-context-tiny"])
def test_workload_preset_real_run(preset, settings, tmp_path):
    out = tmp_path / preset
    label = "the embedded tiny model (not Kimi-Linear)"
    df = bench.run_bench(preset, results_dir=out, progress=False, label=label, **settings)
    (scenario,) = bench.preset(preset)
    row = df.iloc[0]
    assert row["model_label"] == label == json.loads((out / "manifest.json").read_text())["model_label"]
    assert row["successful_requests"] == scenario.num_prompts and row["failed_requests"] == 0
    assert row["dataset_name"] == (scenario.dataset or settings["dataset_name"])
    # every request the client finished is in the recorder's file, as it finished: the warm-up and the benchmark's
    rows = finished_requests(out / f"{scenario.name}.requests.jsonl")
    assert [r["warmup"] for r in rows].count(True) == 1 and len(rows) == scenario.num_prompts + 1
    assert sum(r["output_len"] for r in rows if not r["warmup"]) == row["total_generated_tokens"]
    assert sum(r["prompt_len"] for r in rows if not r["warmup"]) == row["total_input_tokens"]
    log = (out / f"{scenario.name}.log").read_text()
    assert log.startswith("$ python3 -m sglang.bench_serving ")  # the reader's command, then how it was run
    if scenario.dataset:
        assert "Generated shared prefix dataset statistics" in log
        # the client's prompt cache stays in the results folder, not in ~/.cache/sglang (keyed by tokenizer class)
        assert list((out / "client-home" / ".cache" / "sglang" / "benchmark").glob("gen_shared_prefix_*.pkl"))
    else:
        assert row["total_input_tokens"] == scenario.num_prompts * scenario.input_len  # exact lengths


def _marked(marker: str) -> list[int]:
    needle = f"KIMI_FAULT={marker}".encode()
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if needle in (d / "environ").read_bytes().split(b"\0"):
                    if (d / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                        pids.append(int(d.name))
            except OSError:
                continue
    return pids


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@pytest.mark.slow
def test_server_that_stops_answering_mid_run(tmp_path):
    """The CLI launches its own embedded server; once a benchmark request has finished, the server is frozen
    (SIGSTOP: alive, port open, nothing answers). The run stops within the stall time with one line, keeps what
    finished and writes the server's log tail; nothing it started is left running."""
    out = tmp_path / "run"
    marker = uuid.uuid4().hex
    proc = subprocess.Popen(
        [sys.executable, "-m", "kimi_cookbook", "bench", "--server", "embedded", "--num-prompts", "400",
         "--max-concurrency", "1", "--input-len", "32", "--output-len", "32", "--range-ratio", "1",
         "--results", str(out), "--stall-timeout", "4"],
        cwd=REPO, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO), "KIMI_FAULT": marker})
    requests_file = out / "custom-c1.requests.jsonl"
    frozen = None
    try:
        deadline = time.monotonic() + 300
        while len(finished_requests(requests_file)) < 3:  # the warm-up and two benchmark requests
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no request finished"
            time.sleep(0.02)
        (frozen,) = [p for p in _marked(marker) if "llama_cpp.server" in _cmdline(p)]
        os.kill(frozen, signal.SIGSTOP)
        stopped_at = time.monotonic()
        stdout, stderr = proc.communicate(timeout=120)
        took = time.monotonic() - stopped_at
    finally:
        if frozen is not None:
            try:
                os.kill(frozen, signal.SIGCONT)
            except ProcessLookupError:
                pass
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, stdout + stderr
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    line = lines[0]
    assert "custom-c1" in line and "no request finished for" in line and f"kept in {out}" in line
    assert took < 60  # noticed within seconds (stall 4 s + stopping), not at the client's hours-long HTTP timeout
    kept = finished_requests(requests_file)
    done = [r for r in kept if not r["warmup"]]
    assert len(done) >= 2 and all(r["success"] for r in done) and len(done) < 400
    report = (out / "custom-c1.stalled.md").read_text()
    assert f"{len(done)} of 400 requests finished" in report
    assert "## Server log tail" in report and "llama" in report.lower()  # the embedded server's own log lines
    summary = json.loads(report.split("```json", 1)[1].split("```", 1)[0])
    assert summary["successful_requests"] == len(done) and summary["mean_tpot_ms"] > 0
    assert not (out / "results.jsonl").exists()  # the stopped scenario is not a finished row
    deadline = time.monotonic() + 20
    while _marked(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _marked(marker), [_cmdline(p) for p in _marked(marker)]
