"""The speed benchmark: SGLang's own serving client, once per scenario, against a running server.

No load generator of our own. :func:`run_scenario` runs one client command (``python -m sglang.bench_serving``
in 0.5.7, the page's version; ``sglang.benchmark.serving`` in newer releases), built by the caller: notebook 05
writes it in its cell, :func:`run_bench` (the CLI) with :func:`bench_command`. It shows the client's progress and
result block as they come, takes the row from the JSON record the client appends to its ``--output-file`` and
saves the rows after *each* scenario, so an interrupted run keeps the scenarios that finished.
:func:`bench_settings` picks the client's backend, dataset and tokenizer for a connected server.

The client runs under :mod:`kimi_cookbook.bench.recorder` (the same client and arguments; each finished request
is appended to ``<scenario>.requests.jsonl`` as it finishes) and is watched (:mod:`kimi_cookbook.bench.watch`):
no finished request for ``stall_s`` seconds stops it, keeps the finished requests and writes
``<scenario>.stalled.md`` (why, what finished, the server's log tail).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from tqdm.auto import tqdm

from kimi_cookbook.bench.parse import BLOCK_TITLE, row_from_record, text_lines
from kimi_cookbook.bench.results import check_results_dir, load_results, save_results
from kimi_cookbook.bench.scenarios import CLIENT_BACKENDS, DATASETS, SHARED_PREFIX, Scenario, scenarios_of
from kimi_cookbook.bench.watch import ProgressWatch, finished_requests, partial_summary
from kimi_cookbook.errors import RunError
from kimi_cookbook.net import api_key, http_get, normalize_base_url, redact, redact_json
from kimi_cookbook.paths import atomic_write
from kimi_cookbook.processes import display_command as _render
from kimi_cookbook.processes import ProgressEcho, Stalled, run_streaming
from kimi_cookbook.tiny_model import TINY_MODEL_NAME, ensure_tiny_model
from kimi_cookbook.versions import dataset_problem

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "BenchError",
    "bench_command",
    "bench_settings",
    "check_base_url",
    "check_tokenizer",
    "client_env",
    "client_module",
    "display_command",
    "run_bench",
    "run_scenario",
]


RECORDER = "kimi_cookbook.bench.recorder"
STALL_S = 180.0  # default: no finished request for this long stops a scenario
LOG_TAIL_LINES = 40


class BenchError(RunError):
    """A scenario failed; ``results_dir`` holds the scenarios that finished and the failed one's log.
    ``log_tail``: the server log's last lines when a stalled scenario was stopped (empty when not known)."""

    def __init__(self, message: str, results_dir: Path | None = None, log_tail: str = ""):
        super().__init__(message)
        self.results_dir = results_dir
        self.log_tail = log_tail


def client_module() -> str:
    """The benchmark client's module in the installed SGLang, found without importing SGLang:
    ``sglang.benchmark.serving`` (newer releases) if present, else ``sglang.bench_serving`` (0.5.7).
    The flags used here are the same in both; only 0.5.7 is exercised by the tests."""
    spec = importlib.util.find_spec("sglang")
    if spec is None or not spec.submodule_search_locations:
        raise RunError(
            "SGLang is not installed: its benchmark client is needed "
            "(pip install --no-deps sglang==0.5.7, plus the cookbook's [bench] extra: "
            "pip install -c constraints.txt -e '.[bench]')"
        )
    for root in spec.submodule_search_locations:
        if (Path(root) / "benchmark" / "serving.py").is_file():
            return "sglang.benchmark.serving"
        if (Path(root) / "bench_serving.py").is_file():
            return "sglang.bench_serving"
    raise RunError(f"no benchmark client found in the installed SGLang ({list(spec.submodule_search_locations)})")


def check_base_url(base_url: str) -> str:
    """``http(s)://HOST:PORT`` (a trailing ``/`` or ``/v1`` is dropped), no path, no credentials: the URL ends
    up in manifests, logs and printouts, so one with credentials is refused without being echoed."""
    if isinstance(base_url, str) and "@" in base_url:
        raise ValueError(
            "base_url must look like http://HOST:PORT and must not carry credentials (user:password@...); "
            "set $SGLANG_API_KEY for a server started with --api-key"
        )
    try:
        url = normalize_base_url(base_url)
    except ValueError as exc:
        raise ValueError(f"base_url must look like http://HOST:PORT (no path): {exc}") from None
    if urlsplit(url).path or any(c.isspace() for c in url):
        raise ValueError(f"base_url must look like http://HOST:PORT (no path), got {base_url!r}")
    return url


def check_tokenizer(tokenizer: str | None) -> None:
    """A tokenizer given as a path (``/``, ``./``, ``../``, ``~``) must be a folder; hub ids pass."""
    if tokenizer and str(tokenizer).startswith(("/", "./", "../", "~")) and not Path(tokenizer).expanduser().is_dir():
        raise ValueError(f"tokenizer folder {tokenizer} does not exist: pass the folder with the server's "
                         "tokenizer files (the model folder), or leave --tokenizer out for the server's")


def display_command(cmd: list[str]) -> str:
    """``cmd`` for a terminal: ``python3`` for the interpreter, every argument shell-quoted."""
    return _render(["python3", *cmd[1:]])


def bench_command(
    scenario: Scenario,
    *,
    base_url: str,
    backend: str = "sglang",
    model: str | None = None,
    tokenizer: str | None = None,
    dataset_name: str = "random",
    dataset_path: str | None = None,
    output_file: str | os.PathLike | None = None,
    python: str | None = None,
    module: str | None = None,
) -> list[str]:
    """The client's argv for one scenario (run it as is, or :func:`display_command` it for a terminal)."""
    if backend not in CLIENT_BACKENDS:
        raise ValueError(f"unknown client backend {backend!r}; allowed: {', '.join(CLIENT_BACKENDS)}")
    if dataset_name not in DATASETS:
        raise ValueError(f"unknown dataset {dataset_name!r}; allowed: {', '.join(DATASETS)}")
    if scenario.dataset:  # the scenario's own dataset (generated-shared-prefix) needs no file
        dataset_name, dataset_path = scenario.dataset, None
    if dataset_name == "sharegpt" and not dataset_path:
        raise ValueError("dataset 'sharegpt' needs dataset_path (a local ShareGPT JSON); no downloads here")
    cmd = [python or sys.executable, "-m", module or client_module()]
    cmd += ["--backend", backend, "--base-url", check_base_url(base_url)]
    if model:
        cmd += ["--model", str(model)]
    if tokenizer:
        cmd += ["--tokenizer", str(tokenizer)]
    cmd += ["--dataset-name", dataset_name]
    if dataset_path:
        cmd += ["--dataset-path", str(dataset_path)]
    cmd += scenario.client_args()
    if output_file is not None:
        cmd += ["--output-file", str(output_file)]
    return cmd


def client_env(tokenizer: str | None = None) -> dict[str, str]:
    """The environment of SGLang's clients (benchmark, GSM8K harness): this one's, the output unbuffered, and the
    API key (:func:`kimi_cookbook.net.api_key`) as ``OPENAI_API_KEY``, the variable they read."""
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"  # stream the client's prints as they happen
    key = api_key()
    if key:
        env["OPENAI_API_KEY"] = key
    if tokenizer and Path(tokenizer).is_dir():
        # A local tokenizer folder needs no hub; the client still probes the hub for --model's chat
        # template, which must fail fast offline rather than wait on a network.
        env.setdefault("HF_HUB_OFFLINE", "1")
        env.setdefault("TRANSFORMERS_OFFLINE", "1")
    return env


def _scenario_env(env: dict[str, str], scenario: Scenario, out: Path) -> dict[str, str]:
    """The shared-prefix dataset caches its prompts in ``~/.cache/sglang/benchmark`` under a name made of the
    lengths and the tokenizer's *class* only, so another tokenizer of the same class would get stale prompts:
    the client gets a home of its own in the results folder (the prompts it made are kept there too); the
    Hugging Face cache stays where it was."""
    if scenario.dataset != SHARED_PREFIX:
        return env
    home = out / "client-home"
    home.mkdir(exist_ok=True)
    hf_home = env.get("HF_HOME") or os.path.join(
        env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "huggingface")
    return {**env, "HOME": str(home.resolve()), "HF_HOME": hf_home}


def mask_records(path: Path) -> None:
    """Rewrite the client's output file with every credential masked (:func:`kimi_cookbook.net.redact_json`):
    its records carry SGLang's ``/get_server_info``, all server arguments, ``api_key`` included."""
    if not path.is_file():
        return
    lines = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            lines.append(json.dumps(redact_json(json.loads(line))))
        except (ValueError, RecursionError):
            lines.append(redact(line))
    atomic_write(path, "".join(ln + "\n" for ln in lines))


def _sglang_version() -> str | None:
    try:
        return version("sglang")
    except PackageNotFoundError:
        return None


def _echo(piece: str) -> None:
    sys.stdout.write(piece)
    sys.stdout.flush()


def _check_scenarios(scenarios: Iterable[Scenario] | str) -> list[Scenario]:
    scenarios = scenarios_of(scenarios)
    if not scenarios:
        raise ValueError("no scenarios to run")
    names = [s.name for s in scenarios]
    if len(set(names)) != len(names):
        raise ValueError(f"scenario names must be unique, got {names}")
    return scenarios


def _flag(cmd: list[str], name: str) -> str | None:
    """The value after ``name`` in an argv (``None`` when absent)."""
    return cmd[cmd.index(name) + 1] if name in cmd[:-1] else None


def _add_to_manifest(out: Path, scenario: Scenario, cmd: list[str], label: str | None) -> None:
    """``manifest.json``: what ran, read from the commands themselves (server, backend, model, dataset), one
    scenario and command more per call; written before the client starts, so a failed run has one too."""
    path = out / "manifest.json"
    first = not path.is_file()
    manifest = json.loads(path.read_text(encoding="utf-8")) if not first else {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        **{key: _flag(cmd, "--" + key.replace("_", "-")) for key in
           ("base_url", "backend", "model", "tokenizer", "dataset_name", "dataset_path")},
        "client_module": cmd[2] if len(cmd) > 2 and cmd[1] == "-m" else None,
        **({"model_label": label} if label else {}),
        "sglang_version": _sglang_version(),
        "scenarios": [],
        "commands": [],
    }
    manifest["scenarios"].append(scenario.as_dict())
    manifest["commands"].append(display_command(cmd))
    try:  # the folder's claim: two runs given the same folder at once, the second is refused here
        atomic_write(path, json.dumps(manifest, indent=2) + "\n", exclusive=first)
    except FileExistsError:
        raise ValueError(f"results folder {out} was taken by another run just now; name a new one") from None


def result_block(text: str) -> str:
    """The client's printed result block (from its ``== Serving Benchmark Result ==`` line to the closing
    ``=`` line), the last one in ``text``; ``""`` when there is none."""
    lines = text_lines(text)
    starts = [i for i, ln in enumerate(lines) if BLOCK_TITLE in ln]
    if not starts:
        return ""
    block = [lines[starts[-1]]]
    for ln in lines[starts[-1] + 1:]:
        block.append(ln.rstrip())
        if ln.strip() and set(ln.strip()) == {"="}:
            break
    return "\n".join(block)


def _stall_report(scenario: Scenario, out: Path, reason: str, requests_file: Path, base_url: str | None,
                  server_log: str | os.PathLike | None) -> tuple[str, str]:
    """Write ``<scenario>.stalled.md``; return (one line for the error, the server log tail)."""
    summary = partial_summary(finished_requests(requests_file), scenario.num_prompts)
    seen = ""
    if base_url:
        status, body = http_get(base_url + "/metrics", timeout=3.0)
        if status == 200:
            from kimi_cookbook import metrics

            try:
                values = metrics.key_values(metrics.parse_metrics(body.decode("utf-8", "replace")))
            except ValueError:
                values = {}
            if values.get("num_running_reqs") is not None:
                seen = (f"; the server reported {values['num_running_reqs']:.0f} running, "
                        f"{values.get('num_queue_reqs') or 0:.0f} queued")
    tail = ""
    if server_log and Path(server_log).is_file():
        lines = Path(server_log).read_text(encoding="utf-8", errors="replace").splitlines()
        tail = "\n".join(lines[-LOG_TAIL_LINES:])
    report = out / f"{scenario.name}.stalled.md"
    text = [f"# {scenario.name}: stopped, {reason}{seen}", "",
            f"{summary['finished_requests']} of {scenario.num_prompts} requests finished "
            f"({summary['successful_requests']} successful); each is a line of {requests_file.name}.", "",
            "```json", json.dumps(summary, indent=2), "```", ""]
    if tail:
        text += [f"## Server log tail ({server_log})", "", "```", tail, "```", ""]
    else:
        text += ["Server log: not known here (an attached server: see its own log).", ""]
    report.write_text("\n".join(text), encoding="utf-8")
    line = (f"scenario {scenario.name!r}: {reason}{seen}; the client was stopped with {summary['finished_requests']} "
            f"of {scenario.num_prompts} requests finished (kept in {requests_file}); see {report}")
    return line, tail


def _run_scenario(scenario: Scenario, cmd: list[str], out: Path, *, env: dict, stream: bool, tail_lines: int,
                  timeout_s: float | None, stall_s: float | None = None, base_url: str | None = None,
                  server_log: str | os.PathLike | None = None) -> tuple[dict, float]:
    """Run the client for one scenario; return its new JSON record and the wall time. BenchError if it fails.

    With ``stream`` its whole output is shown as it comes; otherwise only its progress bar, then its result
    block (the last ``tail_lines`` lines when it printed none) and the log's path. The client runs under the
    recorder (``<scenario>.requests.jsonl``); with ``stall_s`` it is stopped when no request finished for that
    long."""
    client_jsonl = out / "client.jsonl"
    log = out / f"{scenario.name}.log"
    requests_file = out / f"{scenario.name}.requests.jsonl"
    before = len(finished_requests(client_jsonl))
    shown = display_command(cmd)
    print(f"\n[{scenario.name}] $ {shown}", flush=True)
    recorded = [cmd[0], "-m", RECORDER, str(requests_file), *cmd[2:]]  # cmd = [python, -m, MODULE, args...]
    started = time.perf_counter()
    echo = _echo if stream else ProgressEcho()
    watch = ProgressWatch(requests_file, stall_s) if stall_s else None

    def feed(piece: str) -> None:
        if watch is not None:
            watch.feed(piece)
        echo(piece)

    try:
        note = (f"{shown}\n# run as python3 -m {RECORDER} {requests_file.name} MODULE ARGS: the same client, each "
                f"finished request appended to {requests_file.name}")
        rc, text = run_streaming(recorded, env=_scenario_env(env, scenario, out), log_path=log, echo=feed,
                                 timeout=timeout_s, watch=watch.check if watch else None, shown_command=note)
    except Stalled as exc:
        line, tail = _stall_report(scenario, out, str(exc), requests_file, base_url, server_log)
        raise BenchError(line, out, tail) from exc
    except TimeoutError as exc:
        raise BenchError(f"scenario {scenario.name!r}: {exc}", out) from exc
    finally:
        if not stream:
            echo.close()
        mask_records(client_jsonl)
    wall = time.perf_counter() - started
    if not stream:
        shown = result_block(text) if rc == 0 else ""
        shown = shown or "\n".join(deque((ln for ln in text_lines(text) if ln.strip()), maxlen=tail_lines))
        print(f"{shown}\nfull output: {log}", flush=True)
    if rc != 0:
        raise BenchError(f"scenario {scenario.name!r}: the client exited with {rc}; see {log}", out)
    records = finished_requests(client_jsonl)
    if len(records) <= before:
        raise BenchError(f"scenario {scenario.name!r}: the client wrote no JSON record to {client_jsonl}; see {log}",
                         out)
    return records[-1], wall


def _row(scenario: Scenario, record: dict, wall: float, backend: str, dataset_name: str) -> dict:
    """Scenario parameters, then the record's values (the scenario's own names win), plus failure counts."""
    ours = {**scenario.as_dict(), "backend_arg": backend, "dataset_name": scenario.dataset or dataset_name,
            "wall_s": round(wall, 3)}
    metrics = {k: v for k, v in row_from_record(record).items() if k not in ours}
    completed = int(metrics.get("successful_requests") or 0)
    return {**ours, "failed_requests": scenario.num_prompts - completed, **metrics}


def run_scenario(
    scenario: Scenario,
    cmd: list[str],
    results_dir: str | os.PathLike,
    *,
    stream: bool = False,
    tail_lines: int = 15,
    timeout_s: float | None = None,
    stall_s: float | None = STALL_S,
    server_log: str | os.PathLike | None = None,
    label: str | None = None,
) -> dict:
    """Run one benchmark client command (an argv, as built by the caller) for ``scenario``; return its row.

    ``cmd`` must write its JSON record with ``--output-file RESULTS_DIR/client.jsonl``. ``results_dir`` gets
    ``<scenario>.log`` (the client's whole output), ``manifest.json`` (settings read from the command, every
    command run) and ``results.jsonl`` / ``results.csv`` rewritten with this row after the earlier ones: the
    scenario's parameters, ``wall_s``, ``failed_requests`` and the values of the client's JSON record, named as
    its printed block names them (:func:`kimi_cookbook.bench.parse.row_from_record`). With ``stream`` the
    client's output is echoed as it comes; by default only its progress bar, then its result block and the
    log's path.

    A client that exits non-zero, runs past ``timeout_s``, writes no record or completes no request raises
    :class:`BenchError`; the rows saved before stay. The scenario's finished requests are also appended one by
    one to ``<scenario>.requests.jsonl`` as they finish; when none finished for ``stall_s`` seconds (None: never
    stop) the client is stopped and :class:`BenchError` says so in one line, with ``<scenario>.stalled.md``
    holding what finished and the last lines of ``server_log`` (the server's log file, when known). ``label``
    (what was served, e.g. "not the full model") goes into ``manifest.json`` and a ``model_label`` column.
    """
    out = Path(results_dir)
    if timeout_s is not None and not (isinstance(timeout_s, (int, float)) and timeout_s > 0):
        raise ValueError(f"timeout_s must be a number of seconds above 0, got {timeout_s!r}")
    if stall_s is not None and not (isinstance(stall_s, (int, float)) and not isinstance(stall_s, bool)
                                    and stall_s > 0):
        raise ValueError(f"stall_s must be a number of seconds above 0 (or None), got {stall_s!r}")
    if Path(_flag(cmd, "--output-file") or "") != out / "client.jsonl":
        raise ValueError(f"the client command must write its records to {out / 'client.jsonl'} (--output-file)")
    out.mkdir(parents=True, exist_ok=True)
    _add_to_manifest(out, scenario, cmd, label)
    record, wall = _run_scenario(scenario, cmd, out, env=client_env(_flag(cmd, "--tokenizer")), stream=stream,
                                 tail_lines=tail_lines, timeout_s=timeout_s, stall_s=stall_s,
                                 base_url=_flag(cmd, "--base-url"), server_log=server_log)
    row = _row(scenario, record, wall, _flag(cmd, "--backend"), _flag(cmd, "--dataset-name"))
    if label:
        row = {"model_label": label, **row}
    if not row.get("successful_requests"):
        raise BenchError(f"scenario {scenario.name!r}: no successful requests; see {out / scenario.name}.log", out)
    if row["failed_requests"] > 0:
        print(f"[{scenario.name}] warning: {row['failed_requests']} of {scenario.num_prompts} requests failed",
              flush=True)
    save_results([*finished_requests(out / "results.jsonl"), row], out)
    return row


def run_bench(
    scenarios: Iterable[Scenario] | str,
    *,
    base_url: str,
    results_dir: str | os.PathLike,
    backend: str = "sglang",
    model: str | None = None,
    tokenizer: str | None = None,
    dataset_name: str = "random",
    dataset_path: str | None = None,
    stream: bool = False,
    tail_lines: int = 15,
    timeout_s: float | None = None,
    progress: bool = True,
    python: str | None = None,
    stall_s: float | None = STALL_S,
    server_log: str | os.PathLike | None = None,
    label: str | None = None,
) -> pd.DataFrame:
    """Run SGLang's benchmark client once per scenario (:func:`bench_command`, then :func:`run_scenario`, whose
    files ``results_dir`` gets); return the results as a DataFrame.

    ``scenarios`` is a preset name or Scenario objects. Bad input (a dataset that cannot be fetched here, a
    missing tokenizer folder, a reused results folder) is refused before any folder or client exists. A failing
    scenario raises :class:`BenchError` after the earlier scenarios were saved; Ctrl-C stops the client and
    keeps them too.
    """
    scenarios = _check_scenarios(scenarios)
    base_url = check_base_url(base_url)
    problem = dataset_problem(dataset_name, dataset_path)
    if problem:  # before any folder or client exists: SGLang's client would end in a hub traceback
        raise ValueError(problem)
    check_tokenizer(tokenizer)
    if timeout_s is not None and not (isinstance(timeout_s, (int, float)) and timeout_s > 0):
        raise ValueError(f"timeout_s must be a number of seconds above 0, got {timeout_s!r}")
    if stall_s is not None and not (isinstance(stall_s, (int, float)) and not isinstance(stall_s, bool)
                                    and stall_s > 0):
        raise ValueError(f"stall_s must be a number of seconds above 0 (or None), got {stall_s!r}")
    module = client_module()
    out = check_results_dir(results_dir)
    settings = {"base_url": base_url, "backend": backend, "model": model, "tokenizer": tokenizer,
                "dataset_name": dataset_name, "dataset_path": dataset_path}
    commands = [bench_command(s, **settings, output_file=out / "client.jsonl", python=python, module=module)
                for s in scenarios]
    with tqdm(total=len(scenarios), desc="scenarios", unit="scenario", disable=not progress) as bar:
        for scenario, cmd in zip(scenarios, commands):
            bar.set_postfix_str(scenario.name)
            run_scenario(scenario, cmd, out, stream=stream, tail_lines=tail_lines, timeout_s=timeout_s,
                         stall_s=stall_s, server_log=server_log, label=label)
            bar.update(1)
    return load_results(out)


def _default_dataset(client_backend: str, dataset_path: str | None) -> str:
    """``random`` (the page's; ShareGPT text, downloaded unless ``dataset_path``) against SGLang's native API
    or with a local ShareGPT file, else ``random-ids`` (no download). Where ``random`` cannot fetch ShareGPT
    (no hub, nothing cached) it falls back to ``random-ids`` and says so."""
    if dataset_path:
        return "random"
    if client_backend != "sglang":
        return "random-ids"
    problem = dataset_problem("random", None)
    if problem:
        print("dataset: random-ids instead of the page's 'random': the Hugging Face hub is not reachable for "
              "ShareGPT (give DATASET_PATH / --dataset-path a local ShareGPT JSON for 'random')", flush=True)
        return "random-ids"
    return "random"


def _known_tokenizer(model: str | None) -> str | None:
    """The local tokenizer folder of a model built here (the embedded tiny model), else None."""
    if model == TINY_MODEL_NAME:
        return str(ensure_tiny_model().tokenizer_path)
    return None


def bench_settings(
    srv,
    *,
    client_backend: str = "auto",
    dataset_name: str = "auto",
    dataset_path: str = "",
    tokenizer: str = "",
    model: str = "",
) -> dict:
    """:func:`run_bench` keyword arguments for a server handle from :func:`kimi_cookbook.server.connect`:
    client backend (``auto``: ``sglang``, the native ``/generate`` as on the page, when ``srv.flavor`` is SGLang,
    else ``sglang-oai``, ``/v1/completions``), dataset (``auto``: ``random`` as on the page for SGLang or with a
    local ShareGPT file, else ``random-ids``), model (``model``, else the server's), base URL, and tokenizer
    (``tokenizer``, else the server's, else the tiny model's folder when an attached server serves it)."""
    if client_backend == "auto":
        backend = "sglang" if srv.flavor == "sglang" else "sglang-oai"
    else:
        backend = client_backend
    if backend not in CLIENT_BACKENDS:
        raise ValueError(f"unknown client backend {backend!r}; allowed: auto, {', '.join(CLIENT_BACKENDS)}")
    dataset = _default_dataset(backend, dataset_path) if dataset_name == "auto" else dataset_name
    check_tokenizer(tokenizer)
    tokenizer = tokenizer or srv.tokenizer_path or _known_tokenizer(srv.model)
    if not tokenizer and srv.kind == "attached" and backend != "sglang":
        # the client would take the model name as a hub id: a minute of retries, then a traceback
        raise BenchError(f"the server at {srv.base_url} is not SGLang and serves {srv.model!r}, whose tokenizer is "
                         "not known here: pass --tokenizer (tokenizer=) with its local tokenizer folder")
    return {
        "base_url": srv.base_url,
        "backend": backend,
        "model": model or srv.model,
        "tokenizer": tokenizer,
        "dataset_name": dataset,
        "dataset_path": dataset_path or None,
    }
