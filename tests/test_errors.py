"""The command line's one rule (issue 10): an expected failure is one line on stderr that names what was wrong
and what to do, exit 2 for bad input, 1 for a failed run, 130 when interrupted; a traceback only with --debug.
No credential is ever shown, not even inside a URL. Bad input is refused, not silently dropped."""

import http.server
import json
import os
import threading
import time
from pathlib import Path

import pytest

from kimi_cookbook import bench, net
from kimi_cookbook.cli import main


def run_cli(capsys, *argv):
    """``kimi-cookbook ARGV`` in this process: (exit status, stdout, stderr). An escaping exception fails the test."""
    try:
        rc = main(list(argv))
    except SystemExit as exc:  # argparse
        rc = exc.code
    out, err = capsys.readouterr()
    return rc, out, err


def one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


# --- the rule: one line, documented codes, traceback only with --debug --------------------------------------
@pytest.mark.parametrize(
    "argv, code, words",
    [
        # item 7: tracebacks that became one line
        (["plan", "--hardware", "h100", "--reserve-gib", "1e300"], 2, "reserve"),
        (["index", "--check", "--readme", "/nonexistent/README.md"], 2, "/nonexistent/README.md"),
        (["serve", "--host", "not a host", "--timeout", "5"], 2, "not a host"),
        # item 9: bad input accepted before
        (["command", "--page-exact", "--hardware", "h100"], 2, "mi300x"),
        (["command", "--model=--port=1"], 2, "model"),
        (["serve", "--timeout", "0"], 2, "--timeout"),
        (["bench", "--timeout", "-1"], 2, "--timeout"),
        (["demo", "--timeout", "0"], 2, "--timeout"),
        (["keep-outputs", "--timeout", "0"], 2, "--timeout"),
        (["plan", "--hardware", "h100", "--tp", "16"], 2, "tp"),
        (["serve", "--tp", "2"], 2, "--tp"),  # an SGLang option the embedded backend would ignore
        (["bogus-subcommand"], 2, "bogus-subcommand"),
        (["command", "--tp", "many"], 2, "--tp"),
    ],
)
def test_expected_failures_are_one_line(capsys, argv, code, words):
    rc, _, err = run_cli(capsys, *argv)
    line = one_line(err)
    assert rc == code, err
    assert line.startswith("kimi-cookbook"), line
    assert words in line, line


def test_debug_shows_the_traceback(capsys):
    with pytest.raises(ValueError, match="reserve"):
        main(["--debug", "plan", "--hardware", "h100", "--reserve-gib", "1e300"])
    with pytest.raises(ValueError, match="reserve"):  # after the subcommand too
        main(["plan", "--hardware", "h100", "--reserve-gib", "1e300", "--debug"])


def test_plan_config_that_is_not_an_object(capsys, tmp_path):
    cfg = tmp_path / "config.json"
    cfg.write_text("[1, 2]")
    rc, _, err = run_cli(capsys, "plan", "--hardware", "h100", "--config", str(cfg))
    assert rc == 2 and "JSON object" in one_line(err)


@pytest.mark.parametrize("text", ['{"cells": [null, 5]}', '{"cells": [{"cell_type": "code", "source": 5}]}',
                                  "[" * 100_000 + "]" * 100_000, '{"cells": [{"source": ["a", 1]}]}'])
def test_check_notebook_on_structurally_wrong_json(capsys, tmp_path, text):
    nb = tmp_path / "01_bad.ipynb"
    nb.write_text(text)
    rc, out, err = run_cli(capsys, "check-notebook", "--no-execute", str(nb))
    assert rc == 1 and "Traceback" not in err
    assert "format" in out


def test_results_and_run_dir_that_are_files(capsys, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    for argv in (["bench", "--base-url", "http://127.0.0.1:1", "--results", str(afile)],
                 ["demo", "--run-dir", str(afile)],
                 ["bench", "--base-url", "http://127.0.0.1:1", "--results", str(afile / "sub")],
                 ["compare", str(afile)]):
        rc, _, err = run_cli(capsys, *argv)
        assert rc == 2, (argv, err)
        assert str(afile) in one_line(err)


def test_compare_bad_results_file_and_plot_folder(capsys, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "results.jsonl").write_text('{"name": "x"}\n[1, 2]\nnot json\n')
    rc, _, err = run_cli(capsys, "compare", str(bad))
    assert rc == 2 and "results.jsonl" in one_line(err)
    good = tmp_path / "good"
    good.mkdir()
    ref = bench.load_reference()
    (good / "results.jsonl").write_text("".join(json.dumps(dict(r, name=r["scenario"])) + "\n"
                                                for r in ref.to_dict("records")))
    rc, _, err = run_cli(capsys, "compare", str(good), "--plot", str(tmp_path / "missing" / "p.png"))
    assert rc == 2 and "missing" in one_line(err)


# --- item 4: credentials in URLs are never shown ---------------------------------------------------------------
@pytest.mark.parametrize("url, shown", [
    ("http://user:s3cret@host:1", "http://***@host:1"),
    ("https://:s3cret@host", "https://***@host"),
    ("see http://u:s3cret@h:2/v1 and https://h/x?api_key=s3cret&a=1", "see http://***@h:2/v1 and https://h/x?api_key=***&a=1"),
    ("http://127.0.0.1:30000", "http://127.0.0.1:30000"),
    ("--api-key=s3cret --api-key s3cret", "--api-key=*** --api-key ***"),
])
def test_redact(url, shown):
    assert net.redact(url) == shown


@pytest.mark.parametrize("sub", [["demo"], ["bench"], ["check-notebook", "notebooks/04_invocation.ipynb"]])
def test_password_in_base_url_is_not_printed(capsys, sub):
    rc, out, err = run_cli(capsys, *sub, "--base-url", "http://user:s3cret@127.0.0.1:1")
    assert rc == 2
    assert "s3cret" not in out + err
    assert "credentials" in one_line(err)


def test_normalize_base_url_does_not_echo_the_password():
    with pytest.raises(ValueError) as err:
        net.normalize_base_url("http://user:s3cret@127.0.0.1:1/v1?x=1")
    assert "s3cret" not in str(err.value)


# --- item 5: attach failures are quick and say what is wrong ---------------------------------------------------
def test_nothing_listening_fails_at_once(capsys):
    port = net.free_port()
    t0 = time.monotonic()
    rc, _, err = run_cli(capsys, "bench", "--base-url", f"http://127.0.0.1:{port}", "--preset", "tiny")
    assert time.monotonic() - t0 < 10
    line = one_line(err)
    assert rc == 1 and "nothing answers" in line
    assert line.count(f"127.0.0.1:{port}") == 1  # the URL is named once


class _Html(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802  a web page for every path, like a dashboard on the port
        body = b"<html>hello</html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


class _Models(_Html):
    def do_GET(self):  # noqa: N802  lists a model at /v1/models but is no OpenAI server (no /get_model_info)
        if self.path != "/v1/models":
            return super().do_GET()
        body = b'{"object": "list", "data": [{"id": "some-org/unknown-model"}]}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(params=[_Html, http.server.SimpleHTTPRequestHandler], ids=["html-everywhere", "file-server"])
def foreign_server(request, tmp_path):
    handler = request.param
    if handler is http.server.SimpleHTTPRequestHandler:
        handler = type("Quiet", (handler,), {"log_message": lambda *a: None})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.mark.parametrize("sub", ["bench", "demo"])
def test_foreign_server_fails_within_seconds(capsys, foreign_server, sub, tmp_path):
    t0 = time.monotonic()
    where = ["--results", str(tmp_path / "r")] if sub == "bench" else ["--run-dir", str(tmp_path / "d")]
    rc, _, err = run_cli(capsys, sub, "--base-url", foreign_server, *where)
    assert time.monotonic() - t0 < 10
    line = one_line(err)
    assert rc == 1 and "not an OpenAI-compatible server" in line
    assert "Expecting value" not in line
    assert not (tmp_path / "r").exists()  # no results folder for a run that never started


@pytest.mark.slow
def test_server_listing_an_unknown_model_needs_a_tokenizer(capsys, tmp_path):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Models)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        t0 = time.monotonic()
        rc, _, err = run_cli(capsys, "bench", "--base-url", f"http://127.0.0.1:{httpd.server_address[1]}",
                             "--preset", "tiny", "--results", str(tmp_path / "r"))
        assert time.monotonic() - t0 < 10  # no minute of model-hub retries
        assert rc == 1 and "--tokenizer" in one_line(err)
    finally:
        httpd.shutdown()


def test_missing_tokenizer_folder_fails_at_once(capsys, embedded_server, tmp_path):
    t0 = time.monotonic()
    rc, _, err = run_cli(capsys, "bench", "--base-url", embedded_server.base_url, "--tokenizer",
                         str(tmp_path / "no-such-folder"), "--preset", "tiny", "--results", str(tmp_path / "r"))
    assert time.monotonic() - t0 < 10
    assert rc == 2 and "no-such-folder" in one_line(err)
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_sglang_that_cannot_start_is_one_line(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("KIMI_COOKBOOK_CACHE", str(tmp_path / "cache"))
    rc, _, err = run_cli(capsys, "serve", "--backend", "sglang", "--hardware", "h100", "--timeout", "60")
    line = one_line(err)
    assert rc == 1 and ("SGLang" in line or "log" in line)


# --- item 6: docker --page-exact ---------------------------------------------------------------------------
def test_docker_page_exact_warns_about_privileges(capsys):
    rc, out, err = run_cli(capsys, "docker", "--page-exact", "--hardware", "mi300x")
    assert rc == 0 and "--privileged" in out
    line = one_line(err)
    assert "warning" in line and "--privileged" in line and "without --page-exact" in line


@pytest.mark.parametrize("flag", [["--name", "x"], ["--port", "8000"], ["--workdir", "/tmp"],
                                  ["--model-cache", "/tmp"], ["--pass-hf-token"], ["--host-network"]])
def test_docker_page_exact_refuses_what_it_would_drop(capsys, flag):
    rc, out, err = run_cli(capsys, "docker", "--page-exact", "--hardware", "mi300x", *flag)
    assert rc == 2 and flag[0] in one_line(err) and not out


# --- item 9: bad input in the API ---------------------------------------------------------------------------
@pytest.mark.parametrize("extra", [("--port=1",), ("--host=0.0.0.0",), ("--tp=2",), ("--model-path=x",),
                                   ("--api-key=s3cret",), ("--admin-api-key=s3cret",)])
def test_extra_args_cannot_override_typed_knobs_or_carry_secrets(extra):
    from kimi_cookbook.selector import build_launch_spec

    with pytest.raises(ValueError) as err:
        build_launch_spec("h100", port=30000, host="127.0.0.1", extra_args=extra)
    assert "s3cret" not in str(err.value)


def test_timeouts_must_be_positive():
    from kimi_cookbook.processes import run_streaming

    for bad in (0, -1, float("nan")):
        with pytest.raises(ValueError, match="timeout"):
            run_streaming(["true"], env=dict(os.environ), log_path=os.devnull, timeout=bad)


# --- item 10: no leftovers ------------------------------------------------------------------------------------
def test_rejected_bench_leaves_no_results_folder(capsys, tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    monkeypatch.setenv("KIMI_COOKBOOK_RUNS", str(runs))
    for url in (f"http://127.0.0.1:{net.free_port()}", "http://user:pw@127.0.0.1:1", "nonsense"):
        rc, _, _ = run_cli(capsys, "bench", "--base-url", url, "--preset", "tiny")
        assert rc in (1, 2)
    assert not runs.exists() or not list(runs.iterdir())


def test_server_logs_are_capped(tmp_path, monkeypatch):
    from kimi_cookbook import server

    monkeypatch.setenv("KIMI_COOKBOOK_CACHE", str(tmp_path))
    logs = tmp_path / "logs"
    logs.mkdir()
    for i in range(server.KEEP_LOGS + 10):
        p = logs / f"embedded-{i}-20240101-000000.log"
        p.write_text("old")
        os.utime(p, (1_000_000 + i, 1_000_000 + i))
    new = server.new_log_path("embedded", 1234)
    kept = sorted(logs.glob("*.log"))
    assert len(kept) <= server.KEEP_LOGS
    assert logs / f"embedded-{server.KEEP_LOGS + 9}-20240101-000000.log" in kept  # the newest stay
    assert new.parent == logs


@pytest.mark.slow
def test_unique_run_folders_within_one_second_and_across_processes(tmp_path):
    import subprocess
    import sys

    from kimi_cookbook.demo import new_run_dir

    made = {new_run_dir(tmp_path) for _ in range(5)}
    assert len(made) == 5 and all(p.is_dir() for p in made)
    code = f"from kimi_cookbook.demo import new_run_dir; print(new_run_dir({str(tmp_path)!r}))"
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(4)]
    others = {Path(p.communicate()[0].strip()) for p in procs}
    assert len(others) == 4 and not others & made


def test_reused_results_folder_keeps_earlier_rows(embedded_server, tmp_path):
    out = tmp_path / "run"
    one = [bench.Scenario("one", num_prompts=2, max_concurrency=1, input_len=16, output_len=4)]
    st = bench.bench_settings(embedded_server)
    bench.run_bench(one, results_dir=out, progress=False, stream=False, **st)
    before = (out / "results.jsonl").read_text(), (out / "results.csv").read_text()
    with pytest.raises(ValueError, match="already holds") as err:
        bench.run_bench(one, results_dir=out, progress=False, stream=False, **st)
    assert "run-2" in str(err.value)  # names a new folder
    assert ((out / "results.jsonl").read_text(), (out / "results.csv").read_text()) == before


def test_demo_summary_of_a_partial_run_says_so(tmp_path):
    from kimi_cookbook.runner import NotebookResult, write_summary

    done = [NotebookResult(f"0{i}_x", "ok", 1.0, tmp_path / f"0{i}_x.ipynb") for i in range(1, 5)]
    write_summary(done, tmp_path, planned=7, interrupted=True)
    first = (tmp_path / "summary.md").read_text().splitlines()[0]
    assert "interrupted: 4 of 7 notebooks" in first
    write_summary(done, tmp_path, planned=4)
    assert "4/4 notebooks passed" in (tmp_path / "summary.md").read_text().splitlines()[0]


@pytest.mark.slow
def test_only_sglangs_own_model_info_makes_an_attached_server_sglang(tmp_path):
    """/get_model_info as SGLang 0.5.16 answered on the H100 says SGLang; a page served with 200 at every path
    does not (it would send SGLang's native client at a server without /generate)."""
    real = Path(__file__).parent / "data" / "sglang_model_info_0.5.16.json"

    class Info(_Html):
        def do_GET(self):  # noqa: N802
            if self.path != "/get_model_info":
                return super().do_GET()
            body = real.read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    from kimi_cookbook.readiness import server_flavor

    for handler, expected in ((Info, "sglang"), (_Html, "openai")):
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        try:
            url = f"http://127.0.0.1:{httpd.server_address[1]}"
            assert server_flavor(url) == expected
        finally:
            httpd.shutdown()


def test_one_exception_base():
    """Every exception class the package defines is a CookbookError of one kind (input: exit 2, run: exit 1), so
    cli/errors.py maps them by class, not by module name; only the CLI's Ctrl-C marker is a KeyboardInterrupt."""
    import importlib
    import inspect
    import pkgutil

    import kimi_cookbook
    from kimi_cookbook.cli.errors import Interrupted, exit_code
    from kimi_cookbook.errors import CookbookError, InputError, RunError

    found = {}
    for info in pkgutil.walk_packages(kimi_cookbook.__path__, "kimi_cookbook."):
        if info.name.startswith("kimi_cookbook.sglang_ext") or info.name.endswith("__main__"):
            continue  # SGLang's own model code (loaded inside SGLang only); the entry points run the CLI
        module = importlib.import_module(info.name)
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseException) and cls.__module__ == info.name:
                found[f"{info.name}.{name}"] = cls
    assert len(found) >= 6, found
    for name, cls in found.items():
        if issubclass(cls, Interrupted):  # Ctrl-C and SIGTERM (Terminated): exit 130, not a failure
            continue
        assert issubclass(cls, CookbookError), name
        if cls is not CookbookError:
            assert issubclass(cls, (InputError, RunError)), name
    assert exit_code(InputError("x")) == 2 and exit_code(RunError("x")) == 1
