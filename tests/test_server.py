"""Server lifecycle against real processes: the embedded llama.cpp server, SGLang's launcher, scripts,
a papermill notebook. No process may outlive its owner: each test checks the pid (and group) is gone."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from kimi_cookbook import server as ks
from kimi_cookbook.server import PortInUseError, ServerStartError

REPO = Path(__file__).resolve().parents[1]


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting to be reaped counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(entry.name))
    return members


def _wait_gone(pid: int, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid) and not _group_members(pid):
            return True
        time.sleep(0.2)
    return False


def _kill_leftovers(proc: subprocess.Popen | None, server_pid: int | None = None) -> None:
    """Test cleanup: SIGKILL ``proc`` and the server's process group if they still run, then reap."""
    if server_pid is not None and (_alive(server_pid) or _group_members(server_pid)):
        try:
            os.killpg(server_pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if proc is not None:
        if proc.poll() is None:
            proc.kill()
        try:
            proc.communicate(timeout=30)
        except (subprocess.TimeoutExpired, ValueError):
            pass
    if server_pid is not None:
        _wait_gone(server_pid, timeout=10)


def _wait_file(path: Path, proc: subprocess.Popen, timeout: float = 120.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        if proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            pytest.fail(f"script exited early with {proc.returncode}: {out[-3000:]}")
        time.sleep(0.2)
    pytest.fail(f"{path} not written in {timeout} s")


# --- start / ready / stop ---------------------------------------------------------------------------
@pytest.mark.slow
def test_embedded_start_ready_stop(tmp_path):
    log = tmp_path / "embedded.log"
    with ks.launch_embedded(log_path=log, progress=False) as srv:
        pid = srv.pid
        assert srv.kind == "embedded" and srv.running and _alive(pid)
        assert os.getpgid(pid) == pid  # its own process group
        assert srv.base_url.startswith("http://127.0.0.1:") and not srv.base_url.endswith("/v1")
        assert srv.models() == [srv.model]
        assert (Path(srv.tokenizer_path) / "tokenizer.json").is_file()
        assert srv.startup_s is not None and srv.startup_s < 60
        assert srv.command.startswith("python3 -m llama_cpp.server --model ")
        assert log.read_text().startswith("$ python3 -m llama_cpp.server")
        port = int(srv.base_url.rsplit(":", 1)[1])
    assert not srv.running
    assert _wait_gone(pid), "server process or its group survived stop()"
    assert ks.check_port(port) == port  # the port is free again
    srv.stop()  # idempotent


def test_embedded_server_takes_sglang_bench_fields(embedded_server):
    """SGLang's bench client always sends ignore_eos (and best_of): the server must accept them."""
    from openai import OpenAI

    client = OpenAI(base_url=embedded_server.openai_base_url, api_key="none", timeout=60)
    extra = {"ignore_eos": True, "best_of": 1, "some_future_field": 1}
    done = client.completions.create(
        model=embedded_server.model, prompt="Hello", max_tokens=12, temperature=0, extra_body=extra
    )
    assert done.usage.completion_tokens == 12  # the tiny model never emits end-of-turn: runs to max_tokens
    chunks = client.chat.completions.create(
        model=embedded_server.model,
        messages=[{"role": "user", "content": "Hi"}],
        max_tokens=8,
        stream=True,
        extra_body={"ignore_eos": True},
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip()


def test_attach_to_running_server(embedded_server):
    srv = ks.attach(embedded_server.base_url + "/v1/", timeout_s=10, progress=False)
    assert srv.kind == "attached" and srv.base_url == embedded_server.base_url
    assert srv.model == embedded_server.model and srv.tokenizer_path is None and srv.pid is None
    with ks.connect("sglang", base_url=embedded_server.base_url, hardware="mi300x", tp=4, progress=False) as again:
        assert again.kind == "attached"
    assert embedded_server.running  # leaving an attached handle never stops the server


# --- bad inputs -------------------------------------------------------------------------------------
def test_busy_port_is_a_clear_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PortInUseError, match=f"port {port} .* already in use"):
            ks.launch_embedded(port=port, progress=False)
        with pytest.raises(ValueError, match="already in use"):
            ks.launch_sglang(port=port, progress=False)


@pytest.mark.parametrize("port", [-1, 65536, "http", 1.5, True])
def test_bad_port_values(port):
    with pytest.raises(ValueError, match="port must be"):
        ks.check_port(port)


@pytest.mark.parametrize("timeout", [0, -3, "soon", None])
def test_bad_timeouts(timeout):
    with pytest.raises(ValueError, match="timeout_s"):
        ks.launch_embedded(timeout_s=timeout, progress=False)


def test_bad_backend():
    with pytest.raises(ValueError, match="backend must be one of"):
        ks.connect("vllm")


@pytest.mark.parametrize(
    "url", ["", "localhost:30000", "ftp://127.0.0.1:30000", "http://", "http://user:pw@127.0.0.1:1", "http://h:99999"]
)
def test_attach_bad_base_url(url):
    with pytest.raises(ValueError, match="base_url"):
        ks.attach(url, progress=False)


def test_attach_nothing_listening_fails_at_once():
    port = ks.free_port()
    t0 = time.monotonic()
    with pytest.raises(ServerStartError, match=rf"nothing answers at http://127\.0\.0\.1:{port}: start the server"):
        ks.attach(f"http://127.0.0.1:{port}", timeout_s=30, progress=False)
    assert time.monotonic() - t0 < 10  # no wait for a server that is not there


@pytest.mark.slow
def test_sglang_that_dies_shows_its_log_tail(tmp_path):
    """A real SGLang launch on this CPU machine exits at once; the error carries the log's last lines."""
    log = tmp_path / "sglang.log"
    with pytest.raises(ServerStartError) as info:
        ks.launch_sglang("mi300x", log_path=log, timeout_s=300, progress=False)
    err = info.value
    assert "exited with code" in str(err) and "last lines of the server log" in str(err)
    assert err.log_tail and err.log_tail in str(err) and err.log_path == str(log)
    assert "Traceback" in err.log_tail or "Error" in err.log_tail
    head = log.read_text().splitlines()[0]
    assert head == "$ SGLANG_ROCM_FUSED_DECODE_MLA=0 python3 -m sglang.launch_server \\"


def test_timeout_stops_the_process(tmp_path):
    log = tmp_path / "slow.log"
    with pytest.raises(ServerStartError, match="not ready after 0.05 s") as info:
        ks.launch_embedded(timeout_s=0.05, log_path=log, progress=False)
    err = info.value
    assert err.pid is not None and f"(pid {err.pid})" in str(err)
    assert err.argv[1:3] == ["-m", "llama_cpp.server"] and err.env == {}
    # launch_embedded has stopped it before raising: the process and its group are gone already
    assert not _alive(err.pid) and not _group_members(err.pid)
    assert log.read_text().startswith("$ python3 -m llama_cpp.server")


def test_foreign_server_on_the_port_is_not_ready(embedded_server):
    """Another server answering /v1/models on our port (the port-race case) is not taken for ours."""
    ok, state = ks.ready(embedded_server.base_url, health=False, model=embedded_server.model)
    assert ok and state == "ready"
    ok, state = ks.ready(embedded_server.base_url, health=False, model="moonshotai/Kimi-Linear-48B-A3B-Instruct")
    assert not ok
    assert state.startswith(f"foreign server at {embedded_server.base_url}") and "kimi-cookbook-tiny" in state
    with pytest.raises(
        ServerStartError, match="was not ready after 1 s .*foreign server.*another server took the port"
    ):
        ks.wait_ready(embedded_server.base_url, timeout_s=1, health=False, model="not-the-tiny-model", progress=False)
    assert embedded_server.running


def test_http_get_answers_0_when_nothing_listens():
    assert ks.http_get(f"http://127.0.0.1:{ks.free_port()}/v1/models", timeout=2) == (0, b"")


# --- no orphans ---------------------------------------------------------------------------------------
SCRIPT = """
import sys, time
from pathlib import Path
from kimi_cookbook.server import connect, launch_embedded
pidfile = Path(sys.argv[1])
mode = sys.argv[2]
if mode == "raise":  # no context manager: atexit must stop it
    srv = launch_embedded(progress=False)
    pidfile.write_text(str(srv.pid))
    raise RuntimeError("the notebook code failed")
with connect("embedded", progress=False) as srv:  # "sigint" and "sigkill": wait to be signalled
    pidfile.write_text(str(srv.pid))
    time.sleep(300)
"""


def _run_script(tmp_path: Path, mode: str) -> tuple[subprocess.Popen, int]:
    script = tmp_path / "owner.py"
    script.write_text(textwrap.dedent(SCRIPT))
    pidfile = tmp_path / "server.pid"
    proc = subprocess.Popen(
        [sys.executable, str(script), str(pidfile), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
    )
    try:
        return proc, int(_wait_file(pidfile, proc))
    except BaseException:
        _kill_leftovers(proc)  # the server (if any) dies with it: parent-death signal
        raise


@pytest.mark.slow
def test_no_orphan_after_code_raises(tmp_path):
    proc, pid = _run_script(tmp_path, "raise")
    try:
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 1 and "the notebook code failed" in out
        assert _wait_gone(pid), f"server {pid} outlived the script that raised"
    finally:
        _kill_leftovers(proc, pid)


@pytest.mark.slow
def test_no_orphan_after_keyboard_interrupt(tmp_path):
    proc, pid = _run_script(tmp_path, "sigint")
    try:
        assert _alive(pid)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
        assert "KeyboardInterrupt" in out
        assert _wait_gone(pid), f"server {pid} outlived a KeyboardInterrupt"
    finally:
        _kill_leftovers(proc, pid)


@pytest.mark.slow
def test_no_orphan_when_owner_is_killed(tmp_path):
    """SIGKILL gives the owner no chance to clean up: the child's parent-death signal ends it."""
    proc, pid = _run_script(tmp_path, "sigkill")
    try:
        proc.kill()
        proc.wait(timeout=30)
        assert _wait_gone(pid), f"server {pid} outlived its SIGKILLed owner"
    finally:
        _kill_leftovers(proc, pid)


THREAD_SCRIPT = """
import os, signal, sys, threading, time
from pathlib import Path
from kimi_cookbook.server import launch_embedded
pidfile = Path(sys.argv[1])
box = []
worker = threading.Thread(target=lambda: box.append(launch_embedded(progress=False)))
worker.start()
worker.join()  # the thread that asked for the launch is gone now
srv = box[0]
time.sleep(1.5)
print("alive after the launching thread ended:", srv.running, flush=True)
pidfile.write_text(str(srv.pid))
time.sleep(300)  # until SIGKILLed by the test
"""


@pytest.mark.slow
def test_launch_from_a_worker_thread_lives_with_the_process(tmp_path):
    """PR_SET_PDEATHSIG fires when the forking *thread* ends: a launch from a short-lived thread must
    still live after that thread ends, and still die when the process is SIGKILLed."""
    script = tmp_path / "thread_owner.py"
    script.write_text(textwrap.dedent(THREAD_SCRIPT))
    pidfile = tmp_path / "server.pid"
    proc = subprocess.Popen(
        [sys.executable, str(script), str(pidfile)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
    )
    pid = None
    try:
        pid = int(_wait_file(pidfile, proc))
        assert _alive(pid)
        proc.kill()
        out, _ = proc.communicate(timeout=30)
        assert "alive after the launching thread ended: True" in out, out
        assert _wait_gone(pid), f"server {pid} outlived its SIGKILLed owner"
    finally:
        _kill_leftovers(proc, pid)


@pytest.mark.slow
def test_no_orphan_after_notebook_raises(tmp_path):
    """A papermill notebook that starts the server and then fails leaves no server behind."""
    import nbformat
    import papermill as pm

    pidfile = tmp_path / "server.pid"
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(f"PIDFILE = {str(pidfile)!r}", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(
            "from pathlib import Path\nfrom kimi_cookbook.server import launch_embedded\n"
            "srv = launch_embedded(progress=False)\nPath(PIDFILE).write_text(str(srv.pid))"
        ),
        nbformat.v4.new_code_cell("raise RuntimeError('cell failed')"),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    src, out = tmp_path / "raises.ipynb", tmp_path / "raises.out.ipynb"
    nbformat.write(nb, src)
    with pytest.raises(pm.PapermillExecutionError, match="cell failed"):
        pm.execute_notebook(str(src), str(out), kernel_name="python3", progress_bar=False, cwd=str(REPO))
    pid = int(pidfile.read_text())
    assert _wait_gone(pid), f"server {pid} outlived the failed notebook"
    executed = json.loads(out.read_text())
    assert any("RuntimeError" in json.dumps(c.get("outputs", [])) for c in executed["cells"])


# --- notebook 03 --------------------------------------------------------------------------------------
def _stream_text(nb_path: Path) -> str:
    import nbformat

    nb = nbformat.read(nb_path, as_version=4)
    return "\n".join(
        "".join(o.get("text", "") for o in c.get("outputs", []) if o.get("output_type") == "stream")
        for c in nb.cells
        if c.cell_type == "code"
    )


@pytest.mark.slow
def test_notebook_03_launches_its_own_server_and_stops(tmp_path):
    """Papermill without BASE_URL: the notebook launches its own embedded server and stops it. (HARDWARE h200, TP 2:
    the SGLang command it shows is NVIDIA's, with no ROCm variable; the defaults are the session's run below.)"""
    import papermill as pm

    out = tmp_path / "03.ipynb"
    pm.execute_notebook(
        str(REPO / "notebooks" / "03_launch_server.ipynb"), str(out), progress_bar=False, cwd=str(REPO / "notebooks"),
        parameters={"HARDWARE": "h200", "TP": 2, "MAX_TOKENS": 4},
    )
    text = _stream_text(out)
    assert "$ python3 -m llama_cpp.server --model " in text
    assert "python3 -m sglang.launch_server" in text and "--tp 2" in text
    assert "SGLANG_ROCM_FUSED_DECODE_MLA" not in text  # NVIDIA: no ROCm variable
    assert "['kimi-cookbook-tiny']" in text and "4 tokens, finish reason" in text
    assert "embedded server running: False" in text
    port = text.split("--port ", 1)[1].split()[0]
    assert ks.check_port(int(port)) == int(port)  # stopped: the port is free again


@pytest.mark.slow
def test_notebook_03_attaches_and_leaves_the_server_running(notebook_run, request):
    """The session's run of notebook 03 (the demo's parameters: BASE_URL of the session's server, defaults else)."""
    text = _stream_text(notebook_run.path("03_launch_server"))
    if not notebook_run.reused:  # (a folder made by `make demo` attached to the demo's own server, now stopped)
        embedded_server = request.getfixturevalue("embedded_server")
        assert f"(attached to {embedded_server.base_url})" in text
        assert embedded_server.running
    assert f"(attached to {notebook_run.parameters('03_launch_server')['BASE_URL']})" in text
    assert "SGLANG_ROCM_FUSED_DECODE_MLA=0 python3 -m sglang.launch_server" in text and "--tp 4" in text  # mi300x
    assert "['kimi-cookbook-tiny']" in text and "16 tokens, finish reason 'length'" in text
    assert "attached server running: True" in text


# --- CLI ------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_cli_serve_runs_until_ctrl_c():
    port = ks.free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "kimi_cookbook", "serve", "--port", str(port), "--timeout", "120"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
    )
    pid = None
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if "Ctrl-C stops it." in line or len(lines) > 50:
                break
        text = "".join(lines)
        assert "$ python3 -m llama_cpp.server" in text and f"--port {port}" in text, text
        pid = int(text.split("(pid ", 1)[1].split(")", 1)[0])
        assert ks.list_models(f"http://127.0.0.1:{port}") == ["kimi-cookbook-tiny"]
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0 and "stopping" in rest
        assert _wait_gone(pid)
    finally:
        _kill_leftovers(proc, pid)


@pytest.mark.slow
def test_cli_serve_busy_port_is_one_line_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "kimi_cookbook", "serve", "--port", str(port)],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=120,
        )
    assert proc.returncode == 2
    assert f"kimi-cookbook serve: error: port {port} on 127.0.0.1 is already in use" in proc.stderr
    assert "Traceback" not in proc.stderr


def _watch_environ(port: int, found: dict, stop: threading.Event) -> None:
    """Read /proc/<pid>/environ of the SGLang child listening-to-be on ``port`` while it lives."""
    marker = f"--port\0{port}\0".encode()
    while not stop.is_set() and "environ" not in found:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmd = (entry / "cmdline").read_bytes()
                if b"sglang.launch_server" in cmd and marker in cmd:
                    environ = (entry / "environ").read_bytes()
                    found.update(
                        pid=int(entry.name),
                        environ=dict(kv.split(b"=", 1) for kv in environ.split(b"\0") if b"=" in kv),
                        argv=[a.decode() for a in cmd.rstrip(b"\0").split(b"\0")],
                    )
                    break
            except OSError:
                continue
        time.sleep(0.01)


@pytest.mark.slow
@pytest.mark.parametrize(("hardware", "expected"), [("mi300x", b"0"), ("h200", None)])
def test_sglang_child_gets_the_selector_env_and_argv(tmp_path, monkeypatch, hardware, expected):
    """The real SGLang launcher with the real interpreter (it fails on this GPU-less machine after a
    couple of seconds): its live process's environment and argv, read from /proc while it runs."""
    monkeypatch.delenv("SGLANG_ROCM_FUSED_DECODE_MLA", raising=False)
    port = ks.free_port()
    found: dict = {}
    stop = threading.Event()
    watcher = threading.Thread(target=_watch_environ, args=(port, found, stop), daemon=True)
    watcher.start()
    try:
        with pytest.raises(ServerStartError, match="exited with code") as info:
            ks.launch_sglang(hardware, port=port, log_path=tmp_path / "s.log", timeout_s=120, progress=False)
    finally:
        stop.set()
        watcher.join(timeout=10)
    err = info.value
    assert "environ" in found, "never saw the SGLang child in /proc"
    assert found["pid"] == err.pid and not _alive(err.pid)
    assert found["environ"].get(b"SGLANG_ROCM_FUSED_DECODE_MLA") == expected
    assert err.env == ({"SGLANG_ROCM_FUSED_DECODE_MLA": "0"} if expected else {})
    argv = found["argv"]
    assert argv == err.argv and argv[0] == sys.executable
    assert argv[1:5] == ["-m", "sglang.launch_server", "--model-path", "moonshotai/Kimi-Linear-48B-A3B-Instruct"]
    joined = " ".join(argv)
    assert "--host 127.0.0.1 --port " in joined and "--trust-remote-code" in joined
    head = (tmp_path / "s.log").read_text().splitlines()[0]
    assert head.startswith("$ SGLANG_ROCM_FUSED_DECODE_MLA=0 python3 -m sglang" if expected else "$ python3 -m sglang")


# --- the tiny model's cache -----------------------------------------------------------------------------
BUILD_SCRIPT = """
import json, sys, time
from pathlib import Path
from kimi_cookbook.tiny_model import ensure_tiny_model
cache, go = Path(sys.argv[1]), Path(sys.argv[2])
while not go.exists():  # both builders start together
    time.sleep(0.01)
model = ensure_tiny_model(cache)
print("build:", json.loads((model.root / "recipe.json").read_text())["build"], flush=True)
from llama_cpp import Llama
llm = Llama(model_path=str(model.gguf_path), n_ctx=64, verbose=False)
print("tokens:", len(llm.tokenize(b"Hello world")), flush=True)
"""


@pytest.mark.slow
def test_two_concurrent_builds_both_end_with_a_complete_model(tmp_path):
    """Two processes build the tiny model into the same fresh cache at once; both load it, and so do we."""
    from safetensors.numpy import load_file
    from transformers import AutoConfig, AutoTokenizer

    from kimi_cookbook.tiny_model import _is_complete, _paths

    cache, go = tmp_path / "cache" / "tiny-model", tmp_path / "go"
    script = tmp_path / "build.py"
    script.write_text(textwrap.dedent(BUILD_SCRIPT))
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(cache), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=REPO,
        )
        for _ in range(2)
    ]
    try:
        time.sleep(1.0)  # let both import first
        go.touch()
        outs = [p.communicate(timeout=240)[0] for p in procs]
    finally:
        for p in procs:
            _kill_leftovers(p)
    for p, out in zip(procs, outs, strict=True):
        assert p.returncode == 0, out[-3000:]
        assert "tokens:" in out
    model = _paths(cache)
    assert _is_complete(model)
    # Both got the same build, the one still in place: the second finished build discarded itself
    # instead of replacing the model the first had just installed.
    final = json.loads((cache / "recipe.json").read_text())["build"]
    assert [out.split("build: ", 1)[1].split()[0] for out in outs] == [final, final]
    assert sorted(x.name for x in cache.parent.iterdir() if x.name.startswith(".tiny-model-")) == []
    # the HF folder is whole too (read without torch: CI's venv has none)
    tok = AutoTokenizer.from_pretrained(model.tokenizer_path)
    config = AutoConfig.from_pretrained(model.hf_dir)
    weights = load_file(str(Path(model.hf_dir) / "model.safetensors"))
    assert config.vocab_size == len(tok) and tok.chat_template
    assert weights["model.embed_tokens.weight"].shape == (config.vocab_size, config.hidden_size)


@pytest.mark.slow
def test_install_keeps_a_complete_model_and_discards_the_new_build(tmp_path):
    """The check made under the lock: a finished build never replaces (deletes) a complete model."""
    from kimi_cookbook.tiny_model import _install, _is_complete, _paths, ensure_tiny_model

    root = tmp_path / "tiny-model"
    ensure_tiny_model(root)
    gguf_before = (root / "recipe.json").read_text(), _paths(root).gguf_path.stat().st_ino
    staged = ensure_tiny_model(tmp_path / "other").root
    assert _install(staged, root, replace_complete=False) is False
    assert ((root / "recipe.json").read_text(), _paths(root).gguf_path.stat().st_ino) == gguf_before
    assert staged.is_dir()  # not moved: the caller removes its own temporary build
    # an incomplete model (here: no stamp) is replaced, and force replaces a complete one
    (root / "recipe.json").unlink()
    assert _install(staged, root, replace_complete=False) is True and _is_complete(_paths(root))
    assert not staged.exists() and not any(p.name.startswith(".tiny-model-") for p in tmp_path.iterdir())
