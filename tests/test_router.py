"""SGLang's real router (sglang-router, pinned) in front of real embedded servers, started and stopped by the cookbook:
routing to every replica, SGLang's benchmark client through the router, a replica killed mid-run (no hang, no orphan,
the finished rows kept, a one-line report), and nothing left behind when a start fails or the CLI is killed."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import openai
import pytest

from kimi_cookbook import bench
from kimi_cookbook import server as ks
from kimi_cookbook.bench import Scenario
from kimi_cookbook.net import free_port, http_get
from kimi_cookbook.readiness import ServerStartError, server_flavor
from kimi_cookbook.router import launch_replicas, launch_router, router_workers
from kimi_cookbook.tiny_model import TINY_MODEL_NAME
from test_server import _group_members


def _group_gone(pgid: int, timeout: float = 15.0) -> bool:
    """True once no live process is left in the process group ``pgid`` (zombies aside)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _group_members(pgid):
            return True
        time.sleep(0.2)
    return False


def _posts(log_path: str, path: str) -> int:
    """Requests to ``path`` that an embedded server's log (uvicorn's access lines) records."""
    return sum(1 for line in Path(log_path).read_text(errors="replace").splitlines() if f'"POST {path} ' in line)


@pytest.fixture(scope="module")
def fleet():
    with launch_replicas(2, policy="round_robin", progress=False) as f:
        yield f
    assert all(_group_gone(pid) for pid in [f.pid, *(w.pid for w in f.workers)])


@pytest.mark.slow
def test_the_router_registers_and_routes_to_both_embedded_servers(fleet):
    assert fleet.kind == "embedded" and fleet.model == TINY_MODEL_NAME and len(fleet.workers) == 2
    workers = router_workers(fleet.base_url)
    assert sorted(w["url"] for w in workers) == sorted(fleet.worker_urls)
    assert all(w["is_healthy"] and w["model_id"] == TINY_MODEL_NAME for w in workers)  # from /get_server_info
    assert fleet.models() == [TINY_MODEL_NAME]
    before = [_posts(w.log_path, "/v1/chat/completions") for w in fleet.workers]
    client = openai.OpenAI(base_url=fleet.openai_base_url, api_key="EMPTY")
    for i in range(6):
        reply = client.chat.completions.create(model=fleet.model, messages=[{"role": "user", "content": f"hi {i}"}],
                                               max_tokens=8, temperature=0)
        # the router sends max_tokens as max_completion_tokens; the embedded server reads it (else: 4,000 tokens)
        assert reply.usage.completion_tokens == 8
    served = [_posts(w.log_path, "/v1/chat/completions") - b for w, b in zip(fleet.workers, before)]
    assert sum(served) == 6 and min(served) >= 1, served  # round_robin: both replicas answered
    assert [s["alive"] for s in fleet.status()] == [True, True]


@pytest.mark.slow
def test_the_embedded_server_answers_what_the_router_asks_and_still_is_not_sglang(fleet):
    url = fleet.workers[0].base_url
    assert http_get(f"{url}/health")[0] == 200
    status, body = http_get(f"{url}/get_server_info")
    assert status == 200 and json.loads(body)["served_model_name"] == TINY_MODEL_NAME
    for path in ("/get_model_info", "/model_info"):  # SGLang's own: not imitated
        assert http_get(f"{url}{path}")[0] == 404
    assert server_flavor(url) == "llama.cpp" and fleet.flavor == "llama.cpp"
    assert server_flavor(fleet.base_url) != "sglang"  # through the router too
    assert bench.bench_settings(fleet)["backend"] == "sglang-oai"  # so the client posts to /v1/completions
    assert fleet.workers[0].command.startswith("python3 -m kimi_cookbook.embedded_server --model ")


@pytest.mark.slow
def test_the_plain_embedded_server_is_unchanged(embedded_server):
    assert embedded_server.command.startswith("python3 -m llama_cpp.server ")
    assert http_get(f"{embedded_server.base_url}/health")[0] == 404


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_replica_killed_mid_run(tmp_path):
    """The benchmark client runs two scenarios through the router; replica 1 is SIGKILLed once 16 requests of the
    second went through. Nothing hangs, the first scenario's row is kept, the second counts every request as
    completed or failed, the report is one line, and after stop no process of the fleet is left."""
    results = tmp_path / "results"
    scenarios = [Scenario("before", 16, 4, 64, 32, range_ratio=1.0), Scenario("during", 64, 8, 64, 32, range_ratio=1.0)]
    started = time.monotonic()
    with launch_replicas(2, policy="round_robin", progress=False) as f:
        pids = [f.pid, *(w.pid for w in f.workers)]
        killer = f.kill_replica_when(1, started=results / "during.log", after_requests=16, timeout_s=240)
        try:
            bench.run_bench(scenarios, results_dir=results, progress=False, server_log=f.log_path,
                            **bench.bench_settings(f))
        except bench.BenchError as exc:  # a client that failed outright still leaves the finished rows
            print(f"the client failed: {exc}")
        killer.join(timeout=30)
        assert not killer.is_alive() and 1 in f.killed
        rows = bench.load_results(results)
        report = f.outage_report(rows, "during")
        status = f.status()
        events = f.router_events()
    assert time.monotonic() - started < 240  # no hang
    print(report)
    assert "\n" not in report and report.startswith(f"replica 1 ({f.workers[1].base_url}) killed mid-run")
    before = rows[rows["name"] == "before"].iloc[0]
    assert (before["successful_requests"], before["failed_requests"]) == (16, 0)  # kept, as it finished
    during = rows[rows["name"] == "during"]
    if len(during):
        ok, failed = int(during.iloc[0]["successful_requests"]), int(during.iloc[0]["failed_requests"])
        assert ok + failed == 64 and ok >= 32 and f"{ok} of 64 requests completed, {failed} failed" in report
    else:
        assert "has no result row" in report
    dead = f.workers[1].base_url
    assert events["source"] == "metrics"  # the router's own Prometheus counters
    assert events["failed_sends"].get(dead, 0) >= 1  # round_robin sent the dead replica requests: they failed
    assert events["retries"] >= 1 and f.workers[0].base_url not in events["failed_sends"]
    assert re.search(r"(\d+) sends to the dead replica failed", report).group(1) == str(events["failed_sends"][dead])
    assert [s["alive"] for s in status] == [True, False]
    assert all(_group_gone(pid) for pid in pids), "a process of the fleet outlived it"


@pytest.mark.slow
def test_a_router_that_sees_no_healthy_worker_fails_fast_and_leaves_nothing():
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    started = time.monotonic()
    with pytest.raises(ServerStartError, match=r"not ready after 5 s \(0 of 1 workers healthy\)") as err:
        launch_router([dead], timeout_s=5)
    assert time.monotonic() - started < 30 and err.value.pid and _group_gone(err.value.pid)


@pytest.mark.slow
def test_a_failed_router_stops_the_replicas_started_for_it():
    live_before = set(ks._LIVE)
    with pytest.raises(ServerStartError, match="router exited with code 2") as err:
        launch_replicas(2, progress=False, router_args=["--no-such-flag"])
    assert _group_gone(err.value.pid)
    assert set(ks._LIVE) == live_before  # both embedded servers were stopped again


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGKILL])
def test_serve_replicas_stops_everything(stop):
    """`kimi-cookbook serve --replicas 2`: Ctrl-C stops the router and both servers (exit 0); a CLI killed outright
    takes them with it (they die with their parent)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "kimi_cookbook", "serve", "--replicas", "2", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if "Ctrl-C stops it." in line:
                break
        text = "".join(lines)
        pids = [int(p) for p in re.findall(r"\(pid (\d+)", text)]
        assert len(pids) == 3, text  # two replicas and the router
        assert http_get(f"http://127.0.0.1:{port}/readiness")[0] == 200
        proc.send_signal(stop)
        rc = proc.wait(timeout=60)
        assert rc == (0 if stop == signal.SIGINT else -signal.SIGKILL)
        assert all(_group_gone(pid, 30) for pid in pids), text
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        proc.stdout.close()
