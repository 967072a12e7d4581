"""Issue 20: what trying to break the cookbook found, one fault-injection test (or a few) per numbered item.

The misbehaving servers are real HTTP servers on real sockets (tests/hostile_servers.py), some in front of the real
embedded llama.cpp server; filesystem faults are real (a file-size limit standing in for a full disk, symlinks,
folders that are not the cookbook's); signals are real. Nothing of the cookbook's own code is replaced. Item 7
(``$ref`` in ``chat_json``) and the Python client's raw errors in item 9 belonged to kimi_cookbook/structured.py,
client.py and agent.py, which issue 23 removed (notebooks build the openai client in their cells).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from hostile_servers import Drip, Fixed, Huge, KeyChecked, serve
from test_errors import run_cli

from kimi_cookbook import bench, net

REPO = Path(__file__).resolve().parents[1]
KEY = "sk-hostile-0123456789abcdef"
SGLANG_INFO = {  # the shape of SGLang's /get_server_info: every server argument, the key among them
    "model_path": "/models/tiny", "api_key": KEY, "admin_api_key": None, "hf_token": "hf_secret_token",
    "max_total_num_tokens": 4096, "max_running_requests": 8, "context_length": 4096, "tp_size": 1,
}


def one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("[IPKernelApp]")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def cli_proc(*args, env=None, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "kimi_cookbook", *args], cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})}, **kw)


def files_text(folder: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file())


@pytest.fixture
def keyed(embedded_server):
    """SGLang's --api-key check (every path but /health and /metrics) in front of the real embedded server."""
    with serve(KeyChecked, key=KEY, upstream=embedded_server.base_url, seen=[], server_info=SGLANG_INFO,
               metrics="sglang:num_running_reqs 0\n") as (url, httpd):
        yield url, httpd


def refused(httpd) -> list:
    return [s for s in httpd.seen if not s[2] and not s[1].startswith(KeyChecked.OPEN)]


# --- item 1: a server that wants an API key ------------------------------------------------------------------
@pytest.mark.parametrize("variable", ["SGLANG_API_KEY", "OPENAI_API_KEY"])
def test_bench_against_a_keyed_server_sends_the_key_everywhere(capsys, keyed, tmp_path, monkeypatch, variable):
    url, httpd = keyed
    for name in ("SGLANG_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, KEY)
    out = tmp_path / "bench"
    rc, stdout, err = run_cli(capsys, "bench", "--base-url", url, "--num-prompts", "2", "--max-concurrency", "1",
                              "--input-len", "8", "--output-len", "4", "--results", str(out))
    assert rc == 0, stdout + err
    assert not refused(httpd), refused(httpd)  # probes, readiness, model info, the client's requests: all keyed
    assert any(p == "/v1/completions" for _, p, _ in httpd.seen)  # SGLang's client went through the check
    record = json.loads((out / "client.jsonl").read_text().splitlines()[-1])
    assert record["server_info"]["api_key"] == "***" and record["server_info"]["hf_token"] == "***"
    assert record["server_info"]["max_total_num_tokens"] == 4096
    assert KEY not in files_text(out) + stdout + err and "hf_secret_token" not in files_text(out)


def test_smoke_attached_to_a_keyed_server_saves_no_key(keyed, tmp_path, monkeypatch):
    from kimi_cookbook.smoke import run_smoke

    url, httpd = keyed
    monkeypatch.setenv("SGLANG_API_KEY", KEY)
    report = run_smoke("h100", base_url=url, run_dir=tmp_path / "smoke", notebooks=(), progress=False,
                       log=lambda *a: None)
    assert report.ok and report.state == "passed"
    assert not refused(httpd)
    info = json.loads((tmp_path / "smoke" / "server_info.json").read_text())
    assert info["api_key"] == "***" and info["max_total_num_tokens"] == 4096
    assert report.allocation["max_total_num_tokens"] == 4096
    assert KEY not in files_text(tmp_path / "smoke")


def test_wrong_key_is_named_not_shown(capsys, keyed, monkeypatch):
    url, _ = keyed
    monkeypatch.setenv("SGLANG_API_KEY", "sk-wrong-key-123")
    rc, out, err = run_cli(capsys, "bench", "--base-url", url, "--preset", "tiny")
    line = one_line(err)
    assert rc == 1 and "refused the API key in $SGLANG_API_KEY" in line
    assert "sk-wrong-key-123" not in out + err


@pytest.mark.slow  # the embedded server
def test_embedded_server_started_with_a_key(tmp_path, monkeypatch):
    from kimi_cookbook.server import attach, connect

    monkeypatch.setenv("SGLANG_API_KEY", KEY)
    with connect("embedded", api_key=KEY, progress=False, timeout_s=180) as srv:
        assert net.http_get(srv.base_url + "/v1/models", key="")[0] == 401  # it wants the key
        assert net.http_get(srv.base_url + "/v1/models")[0] == 200  # the cookbook sends it
        assert KEY not in srv.command and 'API_KEY="$SGLANG_API_KEY"' in srv.command
        assert KEY not in Path(f"/proc/{srv.pid}/cmdline").read_text()  # not on the command line (ps)
        assert KEY not in Path(srv.log_path).read_text()
        assert attach(srv.base_url, progress=False).model == srv.model
        from openai import OpenAI  # as notebooks 03-06 build their client: the key from the environment

        client = OpenAI(base_url=f"{srv.base_url}/v1", api_key=net.api_key() or "EMPTY", timeout=60, max_retries=0)
        assert [m.id for m in client.models.list().data] == [srv.model]


@pytest.mark.slow  # the embedded server
def test_inherited_server_settings_do_not_move_the_embedded_server(monkeypatch):
    """Beyond the list: llama.cpp's server reads every setting from the environment too, and PORT/HOST even win
    over its flags, so a PORT set for something else moved it off the port the cookbook waits on."""
    from kimi_cookbook.server import connect

    monkeypatch.setenv("PORT", str(net.free_port()))
    monkeypatch.setenv("API_KEY", "not-for-this-server")
    with connect("embedded", progress=False, timeout_s=90) as srv:
        assert net.http_get(srv.base_url + "/v1/models", key="")[0] == 200


# --- item 2: clean deletes only what is provably the cookbook's ----------------------------------------------
@pytest.fixture
def scratch_repo(tmp_path):
    root = tmp_path / "repo"
    (root / "scripts").mkdir(parents=True)
    shutil.copy2(REPO / "scripts" / "clean.sh", root / "scripts")
    (root / "README.md").write_text("x")
    return root


def clean(root: Path, cache: str, delete: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "KIMI_COOKBOOK_CACHE": cache}
    return subprocess.run(["bash", "scripts/clean.sh", *(["--delete"] if delete else [])], cwd=root, env=env,
                          capture_output=True, text=True, check=True)


def cookbook_cache(cache: Path) -> None:
    (cache / "tiny-model" / "hf").mkdir(parents=True)
    (cache / "tiny-model" / "recipe.json").write_text('{"recipe": 3, "name": "kimi-cookbook-tiny", "build": "x"}')
    (cache / "logs").mkdir()
    (cache / "logs" / "embedded-1-20250101-000000-1.log").write_text("log")


def test_clean_keeps_a_home_like_cache(scratch_repo, tmp_path):
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519").write_text("private")
    (home / "logs").mkdir()
    (home / "logs" / "mine.log").write_text("mine")  # a user's logs folder: not one of the cookbook's logs
    (home / "tiny-model").mkdir()
    (home / "tiny-model" / "notes.txt").write_text("mine")  # the cookbook's name, not its recipe
    clean(scratch_repo, str(home))
    assert (home / ".ssh" / "id_ed25519").read_text() == "private"
    assert (home / "logs" / "mine.log").exists() and (home / "tiny-model" / "notes.txt").exists()


def test_clean_through_a_symlink_removes_only_the_cookbooks_entries(scratch_repo, tmp_path):
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / "precious.txt").write_text("keep")
    cookbook_cache(target)
    (target / "logs" / "other.txt").write_text("keep")
    link = tmp_path / "cache-link"
    link.symlink_to(target)
    out = clean(scratch_repo, str(link) + "/").stdout  # a trailing slash, as a user may type it
    assert "removed 2 path(s)" in out
    assert (target / "precious.txt").read_text() == "keep" and (target / "logs" / "other.txt").exists()
    assert not (target / "tiny-model").exists() and not list((target / "logs").glob("*.log"))
    assert link.is_symlink()


def test_clean_with_the_repository_as_cache_keeps_the_repository(scratch_repo):
    (scratch_repo / "notes").mkdir()
    (scratch_repo / "notes" / "a.txt").write_text("keep")
    (scratch_repo / "runs" / "x").mkdir(parents=True)
    clean(scratch_repo, str(scratch_repo))
    assert (scratch_repo / "README.md").exists() and (scratch_repo / "notes" / "a.txt").exists()
    assert (scratch_repo / "scripts" / "clean.sh").exists()
    assert not (scratch_repo / "runs").exists()  # the project's runs/ is the cookbook's


def test_clean_never_follows_a_symlinked_entry(scratch_repo, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "recipe.json").write_text('{"name": "kimi-cookbook-tiny"}')  # looks like the cookbook's, is a link
    (mine / "data.bin").write_text("keep")
    (cache / "tiny-model").symlink_to(mine)
    (scratch_repo / "build").symlink_to(mine)
    out = clean(scratch_repo, str(cache)).stdout
    assert (mine / "data.bin").read_text() == "keep" and (cache / "tiny-model").is_symlink()
    assert (scratch_repo / "build").is_symlink() and "kept" in out


# --- item 3: one masking rule for URLs ----------------------------------------------------------------------
SECRET_URLS = [
    "http://user:pa/ss3cret@127.0.0.1:1",  # a '/' in the password
    "http://user:pa ss3cret@127.0.0.1:1",  # a space
    "http://us@er:ss3cret@127.0.0.1:1",  # two '@'
    "http://TOKENss3cret@127.0.0.1:1",  # a username-only token
    "http://user:ss3cret@127.0.0.1:notaport",
]


@pytest.mark.parametrize("url", SECRET_URLS)
@pytest.mark.parametrize("sub", [["bench"], ["demo"], ["smoke"],
                                 ["check-notebook", "notebooks/02_command_selector.ipynb"]])
def test_no_part_of_a_url_credential_is_shown(capsys, url, sub):
    rc, out, err = run_cli(capsys, *sub, "--base-url", url)
    assert rc == 2, err
    for part in ("ss3cret", "pa/ss", "pa ss", "TOKEN", "us@er"):
        assert part not in out + err, (part, err)


@pytest.mark.parametrize("text, shown", [
    ("http://TOKEN@host:1/v1", "http://***@host:1/v1"),
    ("http://u:a/b@host", "http://***@host"),
    ("http://a@b:c@host/x", "http://***@host/x"),
    ("got 'http://u:p w@h:1' here", "got 'http://***@h:1' here"),
])
def test_redact_masks_all_userinfo(text, shown):
    assert net.redact(text) == shown


# --- item 4: deadlines, not per-read timeouts; bodies read up to a cap ----------------------------------------
@pytest.fixture
def drip():
    with serve(Drip, seconds=30) as (url, _):
        yield url


@pytest.mark.slow  # waits out a deadline
def test_slow_drip_is_cut_at_the_deadline(drip):
    from kimi_cookbook import metrics, readiness

    t0 = time.monotonic()
    assert net.http_get(drip + "/v1/models", timeout=1.5) == (0, b"")
    assert time.monotonic() - t0 < 4
    t0 = time.monotonic()
    ok, _ = metrics.metrics_status(drip, timeout=1.5)
    assert not ok and time.monotonic() - t0 < 4
    t0 = time.monotonic()
    assert readiness.probe(drip, timeout=1.5)[0] == "nothing"
    assert time.monotonic() - t0 < 4
    sampler = metrics.MetricsSampler(drip, interval_s=0.2, timeout_s=1.0).start()
    time.sleep(0.5)
    t0 = time.monotonic()
    sampler.stop()
    assert time.monotonic() - t0 < 6 and sampler.errors >= 1


@pytest.mark.slow  # waits out a deadline
def test_smoke_against_a_slow_drip_ends_on_time(capsys, drip, tmp_path):
    t0 = time.monotonic()
    rc, _, err = run_cli(capsys, "smoke", "--base-url", drip, "--run-dir", str(tmp_path / "s"))
    assert rc == 1 and time.monotonic() - t0 < 20, err
    assert "nothing answers" in one_line(err)


def test_a_huge_body_is_not_read_whole():
    with serve(Huge, size=512 * 2**20) as (url, _):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0 = time.monotonic()
        status, body = net.http_get(url + "/v1/models", timeout=30)
        grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        assert status == 200 and body == b""  # too large to be an answer
        assert grown_mib < 200 and time.monotonic() - t0 < 15, grown_mib


# --- item 5: run folders --------------------------------------------------------------------------------------
def used_folder(path: Path) -> dict:
    path.mkdir(parents=True)
    (path / "summary.md").write_text("# an earlier run\n")
    (path / "03_launch_server.ipynb").write_text("{}")
    return {p.name: p.read_text() for p in path.iterdir()}


@pytest.mark.parametrize("sub", ["smoke", "demo"])
def test_a_used_run_dir_is_refused(capsys, tmp_path, sub):
    run_dir = tmp_path / "used"
    before = used_folder(run_dir)
    rc, _, err = run_cli(capsys, sub, "--base-url", f"http://127.0.0.1:{net.free_port()}", "--run-dir", str(run_dir))
    assert rc == 2 and "already holds" in one_line(err)
    assert {p.name: p.read_text() for p in run_dir.iterdir()} == before


@pytest.mark.parametrize("bad", [["--base-url", "nonsense"], ["--tp", "3"], ["--extra-arg=--api-key=x"],
                                 ["--extra-arg=bogus"]])
def test_bad_smoke_input_leaves_no_folder(capsys, tmp_path, monkeypatch, bad):
    monkeypatch.setenv("KIMI_COOKBOOK_RUNS", str(tmp_path / "runs"))
    rc, _, err = run_cli(capsys, "smoke", *bad)
    assert rc == 2, err
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())


@pytest.fixture
def openai_like():
    """A server that passes the readiness checks: a model list and SGLang's /health."""
    routes = {"/v1/models": (200, b'{"object": "list", "data": [{"id": "m", "object": "model"}]}', "application/json"),
              "/health": (200, b"", "text/plain")}
    with serve(Fixed, routes=routes) as (url, httpd):
        yield url, httpd


def test_a_crashed_smoke_is_never_passed(openai_like, tmp_path):
    from kimi_cookbook.smoke import run_smoke

    url, _ = openai_like

    def log(message: str) -> None:
        if message.startswith("[smoke] server facts"):
            raise RuntimeError("a fault after the server facts")

    with pytest.raises(RuntimeError):
        run_smoke("h100", base_url=url, run_dir=tmp_path / "s", notebooks=(), progress=False, log=log)
    summary = json.loads((tmp_path / "s" / "summary.json").read_text())
    assert summary["ok"] is False and summary["state"] == "failed"
    assert (tmp_path / "s" / "summary.md").read_text().startswith("# Smoke test failed")
    done = run_smoke("h100", base_url=url, run_dir=tmp_path / "t", notebooks=(), progress=False, log=lambda m: None)
    assert done.ok and json.loads((tmp_path / "t" / "summary.json").read_text())["ok"] is True


def test_bench_refuses_an_interrupted_runs_folder(capsys, tmp_path):
    out = tmp_path / "bench"
    out.mkdir()
    (out / "manifest.json").write_text('{"scenarios": []}')
    (out / "tiny-c1.log").write_text("half a run")
    rc, _, err = run_cli(capsys, "bench", "--base-url", f"http://127.0.0.1:{net.free_port()}", "--results", str(out))
    assert rc == 2 and "already holds" in one_line(err)
    assert (out / "tiny-c1.log").read_text() == "half a run"


# --- item 6: whole files or none; a file the cookbook did not write is not overwritten --------------------------
LIMITED = textwrap.dedent("""
    import resource, signal, sys
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG, like a full disk
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
""")


def test_index_write_on_a_full_disk_keeps_the_readme(tmp_path):
    readme = tmp_path / "README.md"
    text = ("# R\n\n" + "words " * 1200 + "\n<!-- notebook-index:start -->\nold\n<!-- notebook-index:end -->\n")
    readme.write_text(text)
    code = LIMITED + ("from kimi_cookbook.cli import main; "
                      f"sys.exit(main(['index', '--write', '--readme', {str(readme)!r}]))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2, proc.stderr
    assert readme.read_text() == text  # not cut at 4,096 bytes
    assert not [p for p in tmp_path.iterdir() if p.name != "README.md"]  # no temporary file left


def test_keep_outputs_on_a_full_disk_keeps_the_notebook(tmp_path):
    import nbformat

    src = nbformat.v4.new_notebook()
    src.cells = [nbformat.v4.new_code_cell("# NBVAL_CHECK_OUTPUT\nprint('x' * 10000)")]
    source = tmp_path / "nb.ipynb"
    nbformat.write(src, str(source))
    ran = nbformat.v4.new_notebook()
    ran.cells = [nbformat.v4.new_code_cell(src.cells[0].source, id=src.cells[0].id)]
    ran.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="x" * 10000 + "\n")]
    executed = tmp_path / "ran.ipynb"
    nbformat.write(ran, str(executed))
    before = source.read_text()
    code = LIMITED + ("from kimi_cookbook.checks import store_outputs; "
                      f"store_outputs({str(source)!r}, {str(executed)!r})")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode != 0
    assert source.read_text() == before
    nbformat.validate(nbformat.read(str(source), as_version=4))


def test_compose_output_never_replaces_a_file_it_did_not_write(capsys, tmp_path):
    out = tmp_path / "compose.yaml"
    out.write_text("services: {}  # mine\n")
    rc, _, err = run_cli(capsys, "docker", "--compose", "--hardware", "h100", "-o", str(out))
    assert rc == 2 and "--force" in one_line(err)
    assert out.read_text() == "services: {}  # mine\n"
    rc, _, _ = run_cli(capsys, "docker", "--compose", "--hardware", "h100", "-o", str(out), "--force")
    assert rc == 0 and "sglang" in out.read_text()
    rc, _, _ = run_cli(capsys, "docker", "--compose", "--hardware", "h200", "-o", str(out))
    assert rc == 0  # its own, unedited: rewritten
    out.write_text(out.read_text().replace("restart: unless-stopped", "restart: always"))  # edited by hand
    rc, _, err = run_cli(capsys, "docker", "--compose", "--hardware", "h100", "-o", str(out))
    assert rc == 2 and "restart: always" in out.read_text()


# --- item 8: a hostile config.json in plan --config -----------------------------------------------------------
def hostile_config(tmp_path: Path, change) -> Path:
    cfg = json.loads((REPO / "kimi_cookbook" / "data" / "kimi_linear_config.json").read_text())
    change(cfg)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg).replace('"INF"', "1e400"))
    return path


@pytest.mark.parametrize("field, change", [
    ("num_hidden_layers", lambda c: c.update(num_hidden_layers=10**12)),
    ("hidden_size", lambda c: c.update(hidden_size="INF")),  # 1e400 in the file: infinity
    ("vocab_size", lambda c: c.update(vocab_size=[163840])),
    ("num_attention_heads", lambda c: c.update(num_attention_heads=0)),
    ("hidden_size", lambda c: c.update(hidden_size=-2304)),
    ("num_heads", lambda c: c["linear_attn_config"].update(num_heads=0)),
    ("kda_layers", lambda c: c["linear_attn_config"].update(kda_layers=list(range(1, 10**6)))),
    ("num_experts_per_token", lambda c: c.update(num_experts_per_token=10**9)),
])
def test_plan_with_a_hostile_config_is_one_line_naming_the_field(tmp_path, field, change):
    path = hostile_config(tmp_path, change)
    limit = "import resource; resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30)); "  # never the OOM killer
    code = limit + f"import sys; from kimi_cookbook.cli import main; sys.exit(main(['plan', '--hardware', " \
                   f"'mi300x', '--config', {str(path)!r}]))"
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 2, proc.stderr
    line = one_line(proc.stderr)
    assert field in line and "a bug" not in line
    assert time.monotonic() - t0 < 60


# --- item 9: the smaller ones ---------------------------------------------------------------------------------
def test_an_unparseable_metrics_line_never_kills_the_sampler():
    from kimi_cookbook import metrics

    routes = {"/metrics": (200, "sglang:num_running_reqs 1\n# TYPE \xa0 gauge\n".encode(), "text/plain")}
    crashed = []
    old_hook = threading.excepthook
    threading.excepthook = lambda args: crashed.append(args)
    try:
        with serve(Fixed, routes=routes) as (url, _):
            ok, why = metrics.metrics_status(url)  # documented as never raising
            assert not ok and "not Prometheus text" in why
            sampler = metrics.MetricsSampler(url, interval_s=0.05, timeout_s=2).start()
            time.sleep(0.4)
            assert sampler._thread.is_alive()
            frame = sampler.stop()
    finally:
        threading.excepthook = old_hook
    assert not crashed and sampler.errors >= 2 and frame.empty


def test_metrics_without_the_token_counter_still_give_a_frame():
    from kimi_cookbook import metrics

    routes = {"/metrics": (200, b"sglang:num_running_reqs 2\nsglang:token_usage 0.5\n", "text/plain")}
    with serve(Fixed, routes=routes) as (url, _):
        sampler = metrics.MetricsSampler(url, interval_s=0.05).start()
        time.sleep(0.3)
        frame = sampler.stop()
    assert len(frame) >= 2 and frame["num_running_reqs"].eq(2).all()
    assert frame["generation_tokens_per_s"].isna().all()


def test_sigterm_during_a_demo_is_an_interruption(embedded_server, tmp_path):
    run_dir = tmp_path / "demo"
    proc = cli_proc("demo", "--base-url", embedded_server.base_url, "--run-dir", str(run_dir), "--only", "02", "07")
    deadline = time.monotonic() + 300
    while not (run_dir / "07_capacity_planning.ipynb").exists():  # notebook 02 done, 07 started
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 130, err
    assert "interrupted (SIGTERM)" in one_line(err)
    assert "interrupted: 1 of 2 notebooks" in (run_dir / "summary.md").read_text().splitlines()[0]


@pytest.mark.slow  # builds the tiny model twice
def test_ctrl_c_during_tiny_model_leaves_no_folder(tmp_path):
    out = tmp_path / "tiny"
    # The build's last files take a fraction of a second after tokenizer.json: on a busy machine Ctrl-C can land after
    # the build finished (exit 0, a complete folder: correct too). Then try again, up to three times.
    for attempt in range(3):
        proc = cli_proc("tiny-model", "--out", str(out))
        deadline = time.monotonic() + 120
        while not list(tmp_path.glob(".tiny-build-*/tokenizer.json")):  # the build is writing its files
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        if proc.returncode == 0:  # finished before the signal: nothing half-made either
            assert (out / "recipe.json").is_file() and not list(tmp_path.glob(".tiny-build-*"))
            shutil.rmtree(out)
            continue
        break
    assert proc.returncode == 130 and "interrupted" in one_line(err), (attempt, err)
    assert not out.exists() and not list(tmp_path.glob(".tiny-build-*"))
    again = cli_proc("tiny-model", "--out", str(out))
    assert again.wait(timeout=120) == 0 and (out / "recipe.json").is_file()


@pytest.mark.slow  # builds the tiny model
def test_two_tiny_model_builds_into_one_folder(tmp_path):
    out = tmp_path / "tiny"
    procs = [cli_proc("tiny-model", "--out", str(out)) for _ in range(2)]
    results = [(p.wait(timeout=180), p.stderr.read()) for p in procs]
    assert sorted(rc for rc, _ in results) == [0, 2], results
    assert "give a new folder" in next(err for rc, err in results if rc == 2)
    from kimi_cookbook.tiny_kimi import _is_complete

    assert _is_complete(out) and not list(tmp_path.glob(".tiny-build-*"))


def test_ctrl_c_while_the_cli_loads_is_one_line(tmp_path):
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(textwrap.dedent("""
        import sys, time
        class SlowImport:  # holds the import of one subcommand module, so Ctrl-C lands there, not by timing
            def find_spec(self, name, path=None, target=None):
                if name == "kimi_cookbook.cli.bench":
                    print("importing", file=sys.stderr, flush=True)
                    time.sleep(60)
                return None
        sys.meta_path.insert(0, SlowImport())
    """))
    proc = cli_proc("plan", "--hardware", "h100", env={"PYTHONPATH": f"{hook}{os.pathsep}{REPO}"})
    assert proc.stderr.readline().strip() == "importing"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "interrupted" in one_line(err)


@pytest.mark.slow  # executes a notebook
def test_keep_outputs_on_a_notebook_without_cell_ids(capsys, tmp_path):
    import nbformat

    path = tmp_path / "old.ipynb"
    path.write_text(json.dumps({
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": ["# Old\n", "An nbformat 4.4 notebook."]},
            {"cell_type": "code", "execution_count": None, "metadata": {"tags": ["parameters"]}, "outputs": [],
             "source": ["X = 20"]},
            {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
             "source": ["# NBVAL_CHECK_OUTPUT\n", "print(X + 1)"]},
        ],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
        "nbformat": 4, "nbformat_minor": 4}))
    rc, _, err = run_cli(capsys, "keep-outputs", str(path))
    assert rc == 0, err
    cell = nbformat.read(str(path), as_version=4).cells[2]
    assert cell.metadata.get("keep_output") is True
    assert [o.get("text") for o in cell.outputs] == ["21\n"]


@pytest.mark.parametrize("argv, words", [
    (["--sglang-version", "0.5.7", "--mem-fraction-static", "0.05"], "refuse to start"),  # a negative pool budget
    (["--batch", "100000000000"], "does not fit"),  # a TPOT floor of 380 days
    (["--sglang-version", "0.5.7", "--context-length", "4096"], "longer than context_length"),
])
def test_plan_refuses_what_cannot_run(capsys, argv, words):
    rc, out, err = run_cli(capsys, "plan", "--hardware", "mi300x", *argv)
    assert rc == 2 and words in one_line(err) and out == ""


def test_model_cache_with_a_colon_is_a_valid_volume():
    import yaml

    from kimi_cookbook import docker as dk

    text = dk.compose_yaml("h100", model_cache="/data/hf:cache")
    dk.validate_compose(text)
    volume = yaml.safe_load(text)["services"][dk.COMPOSE_SERVICE]["volumes"][0]
    assert volume == {"type": "bind", "source": "/data/hf:cache", "target": dk.CONTAINER_CACHE}
    assert "--mount type=bind,source=/data/hf:cache,target=" in dk.docker_run("h100", model_cache="/data/hf:cache")


def test_server_supplied_values_cannot_break_the_summary_table(tmp_path):
    from kimi_cookbook.smoke import run_smoke

    info = {"max_total_num_tokens": "1 | evil | cell\n| injected | row |", "context_length": "<img src=x onerror=1>"}
    routes = {"/v1/models": (200, b'{"data": [{"id": "m"}]}', "application/json"), "/health": (200, b"", "text/plain"),
              "/get_server_info": (200, json.dumps(info).encode(), "application/json")}
    with serve(Fixed, routes=routes) as (url, _):
        run_smoke("h100", base_url=url, run_dir=tmp_path / "s", notebooks=(), progress=False, log=lambda m: None)
    md = (tmp_path / "s" / "summary.md").read_text()
    table = md.split("## What SGLang allocated")[1].strip().splitlines()
    rows = [ln for ln in table if ln.startswith("|")]
    assert len(rows) == 4  # header, rule, the two figures: no injected row
    assert all(ln.replace("\\|", "").count("|") == 3 for ln in rows)
    assert "<img" not in md


def test_attach_errors_name_no_log_that_does_not_exist(capsys, tmp_path):
    routes = {"/v1/models": (200, b'{"data": []}', "application/json"), "/health": (200, b"", "text/plain")}
    with serve(Fixed, routes=routes) as (url, _):
        rc, _, err = run_cli(capsys, "smoke", "--base-url", url, "--run-dir", str(tmp_path / "s"))
    line = one_line(err)
    assert rc == 1 and "lists no model" in line
    assert "server.log" not in line and not (tmp_path / "s" / "server.log").exists()


@pytest.mark.slow  # executes a notebook
def test_notebook_02_with_a_bad_hardware_names_it(tmp_path):
    from kimi_cookbook.runner import execute_notebook

    res = execute_notebook(REPO / "notebooks" / "02_command_selector.ipynb", tmp_path / "02.ipynb",
                           {"HARDWARE": "h100\n"}, timeout=120)
    assert res.status == "failed"
    assert "hardware: unknown choice 'h100\\n'" in res.error and "TraitError" not in res.error


@pytest.mark.parametrize("content", ["not json at all\n", '{"question": "q"}\n', "[1, 2]\n"])
def test_gsm8k_data_path_that_is_not_gsm8k_names_it(tmp_path, content):
    data = tmp_path / "data.txt"
    data.write_text(content)
    with pytest.raises(ValueError, match=r"data_path .*data\.txt: line 1 is not a GSM8K item"):
        bench.read_questions(data)  # notebook 06's check of DATA_PATH off SGLang
    cmd = [sys.executable, "-m", "sglang.test.few_shot_gsm8k", "--num-questions", "1", "--data-path", str(data)]
    with pytest.raises(ValueError, match=r"line 1 is not a GSM8K item"):
        bench.run_gsm8k_harness(cmd, tmp_path / "g")  # named before the harness starts
    assert not (tmp_path / "g").exists()
