"""Fault injection (issue 10): the server killed during a benchmark and a demo notebook; Ctrl-C at
start-up and during a demo; a tiny-model build killed. Each checks: no orphan process, finished results intact
and not truncated, a one-line message, the exit code. Every interruption waits for a state the code reports
(a line it prints, a file it writes, a child it started), never for a length of time.

Orphans are found by a marker in the environment: every process the run starts inherits it.
"""

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from kimi_cookbook.server import connect

pytestmark = pytest.mark.slow  # servers, demos and builds, each killed or interrupted

REPO = Path(__file__).resolve().parents[1]


def marked(marker: str) -> list[int]:
    """Pids of live processes whose environment holds ``KIMI_FAULT=<marker>``."""
    needle = f"KIMI_FAULT={marker}".encode()
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            if needle in (d / "environ").read_bytes().split(b"\0"):
                stat = (d / "stat").read_text()
                if stat.rsplit(")", 1)[1].split()[0] != "Z":
                    pids.append(int(d.name))
        except OSError:
            continue
    return pids


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def assert_no_orphans(marker: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while marked(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = marked(marker)
    assert not left, [cmdline(p) for p in left]


class Cli:
    """``kimi-cookbook ARGS`` as a child process with a marker; its stdout lines arrive on a queue."""

    def __init__(self, *args: str, cwd: Path = REPO, env: dict | None = None):
        self.marker = uuid.uuid4().hex
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kimi_cookbook", *args], cwd=cwd, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(REPO), **(env or {}), "KIMI_FAULT": self.marker},
        )
        self.lines: queue.Queue = queue.Queue()
        self.out: list[str] = []
        self.err: list[str] = []
        threading.Thread(target=self._pump, args=(self.proc.stdout, self.out, True), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.proc.stderr, self.err, False), daemon=True).start()

    def _pump(self, stream, sink, to_queue):
        for line in stream:
            sink.append(line)
            if to_queue:
                self.lines.put(line)

    def wait_for_line(self, prefix: str, timeout: float = 300) -> str:
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc.poll() is None or not self.lines.empty(), "".join(self.out + self.err)
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                assert time.monotonic() < deadline, f"no line {prefix!r}: " + "".join(self.out + self.err)
                continue
            if line.startswith(prefix):
                return line

    def wait_for(self, condition, what: str, timeout: float = 300):
        deadline = time.monotonic() + timeout
        while not (found := condition()):
            assert self.proc.poll() is None, f"exited before {what}: " + "".join(self.out + self.err)
            assert time.monotonic() < deadline, f"no {what}: " + "".join(self.out + self.err)
            time.sleep(0.05)
        return found

    def finish(self, timeout: float = 120) -> tuple[int, str, str]:
        try:
            rc = self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        time.sleep(0.2)  # let the pumps drain
        return rc, "".join(self.out), "".join(self.err)


def one_line(err: str) -> str:
    # Jupyter kernels share the demo's stderr and log there themselves ("[IPKernelApp] WARNING | ..."): not ours
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("[IPKernelApp]")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture
def own_server():
    """An embedded server of this test alone (the shared one must survive): killed by the test."""
    with connect("embedded", progress=False, timeout_s=180) as srv:
        yield srv


def kill_server(srv) -> None:
    os.killpg(srv.pid, signal.SIGKILL)
    srv.process.wait(timeout=10)


def test_server_killed_during_a_benchmark(own_server, tmp_path):
    out = tmp_path / "run"
    run = Cli("bench", "--base-url", own_server.base_url, "--tokenizer", str(own_server.tokenizer_path),
              "--preset", "tiny", "--results", str(out), "--quiet")
    run.wait_for_line("[tiny-c4] $")  # printed after tiny-c1's row was saved, before tiny-c4's client starts
    kill_server(own_server)
    rc, _, err = run.finish()
    line = one_line(err)
    assert rc == 1 and "tiny-c4" in line and f"kept in {out}" in line
    rows = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]  # complete JSON lines
    assert [r["name"] for r in rows] == ["tiny-c1"] and rows[0]["successful_requests"] == 4
    import pandas as pd

    assert list(pd.read_csv(out / "results.csv")["name"]) == ["tiny-c1"]
    assert_no_orphans(run.marker)


def test_server_killed_during_a_demo_notebook(own_server, tmp_path):
    run_dir = tmp_path / "demo"
    run = Cli("demo", "--base-url", own_server.base_url, "--run-dir", str(run_dir), "--only", "02", "04_")
    run.wait_for(lambda: (run_dir / "04_invocation.ipynb").exists(), "notebook 04 started")
    kill_server(own_server)
    rc, out, err = run.finish(timeout=300)
    assert rc == 1, out + err
    assert "Traceback" not in err
    summary = (run_dir / "summary.md").read_text().splitlines()
    assert summary[0].startswith("# Cookbook run: 1/2 notebooks passed")
    assert any("04_invocation" in ln and "failed" in ln for ln in summary)
    import nbformat

    nbformat.validate(nbformat.read(run_dir / "02_command_selector.ipynb", as_version=4))  # intact
    assert_no_orphans(run.marker)


def test_ctrl_c_at_server_start_up(tmp_path):
    run = Cli("serve", "--port", "0", "--timeout", "120")

    def child():
        return next((p for p in marked(run.marker) if "llama_cpp.server" in cmdline(p)), None)

    pid = run.wait_for(child, "server child")  # the launch has started the server process
    os.kill(pid, signal.SIGSTOP)  # it cannot become ready now: Ctrl-C lands during start-up, whatever the timing
    run.proc.send_signal(signal.SIGINT)
    rc, _, err = run.finish()
    assert rc == 130
    assert "interrupted" in one_line(err)
    assert_no_orphans(run.marker)


def test_ctrl_c_during_a_demo_says_so_first(own_server, tmp_path):
    run_dir = tmp_path / "demo"
    run = Cli("demo", "--base-url", own_server.base_url, "--run-dir", str(run_dir), "--only", "02", "07")

    def first_done():
        s = run_dir / "summary.md"
        return s.exists() and "02_command_selector" in s.read_text()

    run.wait_for(first_done, "notebook 02 finished")  # the summary is written after each notebook
    run.wait_for(lambda: (run_dir / "07_capacity_planning.ipynb").exists(), "notebook 07 started")
    run.proc.send_signal(signal.SIGINT)
    rc, _, err = run.finish(timeout=180)
    assert rc == 130
    assert "interrupted" in one_line(err)
    first = (run_dir / "summary.md").read_text().splitlines()[0]
    assert "interrupted: 1 of 2 notebooks" in first
    assert_no_orphans(run.marker)


def test_killed_tiny_model_build_leaves_nothing_behind(tmp_path):
    code = ("import sys; from kimi_cookbook.tiny_model import ensure_tiny_model; "
            "ensure_tiny_model(sys.argv[1])")
    target = tmp_path / "tiny-model"
    proc = subprocess.Popen([sys.executable, "-c", code, str(target)], env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        deadline = time.monotonic() + 120
        while not list(tmp_path.glob(".tiny-model-*/.building")):  # the build's staging folder, marked in use
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        proc.kill()
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert list(tmp_path.glob(".tiny-model-*"))  # the killed build left its staging folder
    from kimi_cookbook.tiny_model import ensure_tiny_model

    model = ensure_tiny_model(target)
    assert model.gguf_path.is_file()
    assert not list(tmp_path.glob(".tiny-model-*"))  # the next build cleaned it up
