"""Benchmarks: SGLang's own serving client, GSM8K, parsers, reference data and plots.

Speed: :func:`run_bench` runs SGLang's benchmark client (``python -m sglang.bench_serving`` in 0.5.7, the
page's version; ``sglang.benchmark.serving`` in newer releases) once per scenario as a subprocess, shows
its output as it comes, asks it for its JSONL ``--output-file`` and saves ``results.csv`` /
``results.jsonl`` after *each* scenario, so an interrupted run keeps the scenarios that finished.
No load generator of our own: the numbers are the client's.

Accuracy: :func:`gsm8k_command` builds the page's ``python3 -m sglang.test.few_shot_gsm8k`` call (it needs
SGLang's native ``/generate`` and ``/get_model_info``); :func:`run_gsm8k_openai` is the same few-shot
prompt and answer extraction over the OpenAI completions API, for servers that are not SGLang (the
embedded one), on a small local sample.

Parsers: :func:`parse_bench_serving` reads the last "Serving Benchmark Result" block printed by SGLang's
``bench_serving`` or vLLM's ``vllm bench serve``; :func:`parse_gsm8k` reads few_shot_gsm8k's four lines.

Facts this module relies on (sglang 0.5.7, ``sglang/bench_serving.py``):

* ``--random-range-ratio`` defaults to 0.0; input and output lengths are drawn uniformly from
  ``[max(int(L * ratio), 1), L]`` (``compute_random_lens``). The page ran with the default, so "input 1000
  / output 1000" means lengths *up to* 1000 (its 10 prompts had 6101 input tokens in all). Use 1.0 for
  exact lengths. The page presets keep 0.0 to be comparable with the page.
* ``--dataset-name random`` samples ShareGPT text (downloaded unless ``--dataset-path`` names a local
  JSON); ``random-ids`` draws token ids from the tokenizer's vocabulary and needs no download.
* ``--backend sglang`` posts to ``/generate``; ``sglang-oai`` to ``/v1/completions``; ``sglang-oai-chat`` to
  ``/v1/chat/completions`` (``vllm``/``lmdeploy`` variants use the same OpenAI paths).
* Each run appends one JSON line to ``--output-file``.
"""

from __future__ import annotations

import codecs
import dataclasses
import importlib.util
import json
import math
import os
import re
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = [
    "CLIENT_BACKENDS",
    "DATASETS",
    "PRESETS",
    "BenchError",
    "Scenario",
    "bench_command",
    "client_module",
    "compare",
    "compare_gsm8k",
    "default_client_backend",
    "gsm8k_command",
    "load_reference",
    "load_reference_gsm8k",
    "load_results",
    "parse_bench_serving",
    "parse_gsm8k",
    "plot_vs_concurrency",
    "preset",
    "run_bench",
    "run_gsm8k_openai",
    "snake_case",
]

# --------------------------------------------------------------------------------------------------
# Parsers
# --------------------------------------------------------------------------------------------------

BLOCK_TITLE = "Serving Benchmark Result"
_HEADER_RE = re.compile(r"=+\s*" + re.escape(BLOCK_TITLE) + r"\s*=+")
_CLOSE_RE = re.compile(r"^\s*={10,}\s*$")
_SECTION_RE = re.compile(r"^\s*-{3,}.*-{3,}\s*$")
_KV_RE = re.compile(r"^\s*(?P<label>[^:]+?)\s*:(?P<value>.*)$")
_INT_RE = re.compile(r"^[+-]?\d+$")
_FLOAT_RE = re.compile(r"^[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?$")


def snake_case(label: str) -> str:
    """``"Mean TPOT (ms)"`` -> ``"mean_tpot_ms"``: lower-case, runs of non-alphanumerics -> ``_``, stripped."""
    return re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")


def _value(text: str) -> int | float | str:
    text = text.strip()
    if _INT_RE.match(text):
        return int(text)
    if _FLOAT_RE.match(text) or text.lower() in {
        "inf",
        "+inf",
        "-inf",
        "nan",
        "infinity",
        "-infinity",
    }:
        return float(text)
    return text


def _lines(text: str) -> list[str]:
    # A progress bar redraws with "\r": what a terminal shows is the text after the last "\r".
    return [line.rsplit("\r", 1)[-1] for line in text.split("\n")]


def parse_bench_serving(text: str) -> dict[str, int | float | str]:
    """Parse the last "Serving Benchmark Result" block in ``text`` (log noise around it is fine).

    Keys are the printed labels in snake case (``"Output token throughput (tok/s)"`` ->
    ``"output_token_throughput_tok_s"``); values are ``int`` for integers, ``float`` for other numbers
    (``inf`` -> ``float("inf")``), ``str`` for words (``"sglang"``, ``"not set"``). Section rules
    (``---Time to First Token---``) and labels without a value (vLLM's ``Per-position acceptance (%):``)
    add no key. Reads SGLang's ``bench_serving`` block and vLLM's ``vllm bench serve`` block.

    Raises ``ValueError`` if there is no block, or the last one is cut off before its closing ``=`` line.
    """
    if not isinstance(text, str):
        raise ValueError(f"parse_bench_serving expects str, got {type(text).__name__}")  # noqa: TRY004
    headers = list(_HEADER_RE.finditer(text))
    if not headers:
        raise ValueError(f"no '{BLOCK_TITLE}' block found in the text ({len(text)} characters)")
    body = text[headers[-1].end() :]
    result: dict[str, int | float | str] = {}
    closed = False
    for line in _lines(body):
        if _CLOSE_RE.match(line):
            closed = True
            break
        if not line.strip() or _SECTION_RE.match(line):
            continue
        m = _KV_RE.match(line)
        if not m:
            continue
        value = m.group("value").strip()
        if not value:
            continue
        key = snake_case(m.group("label"))
        if key and key not in result:
            result[key] = _value(value)
    if not closed:
        raise ValueError(
            f"the last '{BLOCK_TITLE}' block is cut off: no closing line of '=' after "
            f"{len(result)} value(s) (was the benchmark interrupted?)"
        )
    if not result:
        raise ValueError(f"the last '{BLOCK_TITLE}' block holds no 'Label: value' lines")
    return result


_GSM8K_PATTERNS = {
    "accuracy": re.compile(r"^\s*Accuracy:\s*(\S+)\s*$"),
    "invalid": re.compile(r"^\s*Invalid:\s*(\S+)\s*$"),
    "latency": re.compile(r"^\s*Latency:\s*(\S+)\s*s\s*$"),
    "output_throughput": re.compile(r"^\s*Output throughput:\s*(\S+)\s*token/s\s*$"),
}


def parse_gsm8k(text: str) -> dict[str, float]:
    """Parse ``few_shot_gsm8k`` output: keys ``accuracy``, ``invalid``, ``latency`` (s), ``output_throughput``
    (token/s), floats. Download and progress-bar lines are ignored; where the text holds several runs,
    the last value of each wins. Raises ``ValueError`` naming the missing lines."""
    if not isinstance(text, str):
        raise ValueError(f"parse_gsm8k expects str, got {type(text).__name__}")  # noqa: TRY004
    found: dict[str, float] = {}
    for line in _lines(text):
        for key, pattern in _GSM8K_PATTERNS.items():
            m = pattern.match(line)
            if m:
                try:
                    found[key] = float(m.group(1))
                except ValueError:
                    pass
    missing = [k for k in _GSM8K_PATTERNS if k not in found]
    if missing:
        raise ValueError(
            "few_shot_gsm8k output incomplete: missing "
            + ", ".join(missing)
            + " (expected lines 'Accuracy: ...', 'Invalid: ...', 'Latency: ... s', 'Output throughput: ... token/s')"
        )
    return found


# --------------------------------------------------------------------------------------------------
# Scenarios and presets
# --------------------------------------------------------------------------------------------------

CLIENT_BACKENDS = {
    # --backend: endpoint it posts to (sglang 0.5.7 bench_serving.run_benchmark)
    "sglang": "/generate",
    "sglang-native": "/generate",
    "sglang-oai": "/v1/completions",
    "sglang-oai-chat": "/v1/chat/completions",
    "vllm": "/v1/completions",
    "vllm-chat": "/v1/chat/completions",
    "lmdeploy": "/v1/completions",
    "lmdeploy-chat": "/v1/chat/completions",
}
DATASETS = ("random", "random-ids", "sharegpt")
MAX_PROMPTS = 100_000
MAX_LEN = 1_000_000


@dataclass(frozen=True)
class Scenario:
    """One run of the benchmark client. ``request_rate`` is requests/s or ``inf`` (all at once)."""

    name: str
    num_prompts: int
    max_concurrency: int
    input_len: int = 1000
    output_len: int = 1000
    request_rate: float = math.inf
    range_ratio: float = 0.0
    extra_args: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", self.name or ""):
            raise ValueError(f"scenario name {self.name!r}: use 1-64 of A-Z a-z 0-9 _ . - (file names)")
        for key, low, high in (
            ("num_prompts", 1, MAX_PROMPTS),
            ("max_concurrency", 1, MAX_PROMPTS),
            ("input_len", 1, MAX_LEN),
            ("output_len", 1, MAX_LEN),
        ):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"{key} must be an integer in [{low}, {high}], got {value!r}")
        rate = float(self.request_rate)
        if not (rate > 0):
            raise ValueError(f"request_rate must be > 0 or inf, got {self.request_rate!r}")
        if not 0.0 <= float(self.range_ratio) <= 1.0:
            raise ValueError(f"range_ratio must be in [0, 1], got {self.range_ratio!r}")
        if not all(isinstance(a, str) for a in self.extra_args):
            raise ValueError("extra_args must be strings")

    def client_args(self) -> list[str]:
        rate = "inf" if math.isinf(float(self.request_rate)) else repr(float(self.request_rate))
        return [
            "--num-prompts",
            str(self.num_prompts),
            "--max-concurrency",
            str(self.max_concurrency),
            "--random-input-len",
            str(self.input_len),
            "--random-output-len",
            str(self.output_len),
            "--random-range-ratio",
            repr(float(self.range_ratio)),
            "--request-rate",
            rate,
            *self.extra_args,
        ]

    def as_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["extra_args"] = " ".join(self.extra_args)
        return d


def _page(name: str, n: int, c: int) -> Scenario:
    return Scenario(name, num_prompts=n, max_concurrency=c, input_len=1000, output_len=1000)


PRESETS: dict[str, tuple[Scenario, ...]] = {
    # The page's section 5.1: random dataset, input/output 1000 (range ratio 0.0 = the client's default,
    # lengths drawn up to 1000 as on the page), request rate inf.
    "page": (
        _page("low-c1", 10, 1),
        _page("medium-c16", 80, 16),
        _page("high-c100", 500, 100),
    ),
    # Concurrency sweep, 5 prompts per concurrency slot like the page's 80@16 and 500@100 (10 minimum).
    "sweep": tuple(_page(f"sweep-c{c}", max(10, 5 * c), c) for c in (1, 2, 4, 8, 16, 32, 64, 100, 128)),
    # CI / laptop: a tiny CPU model behind the embedded server; exact lengths (range ratio 1.0).
    "tiny": (
        Scenario(
            "tiny-c1",
            num_prompts=4,
            max_concurrency=1,
            input_len=32,
            output_len=16,
            range_ratio=1.0,
        ),
        Scenario(
            "tiny-c4",
            num_prompts=8,
            max_concurrency=4,
            input_len=32,
            output_len=16,
            range_ratio=1.0,
        ),
    ),
}


def preset(name: str) -> tuple[Scenario, ...]:
    """The scenarios of a preset: ``page`` (the page's three), ``sweep`` (concurrency sweep), ``tiny`` (CI)."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; allowed: {', '.join(PRESETS)}") from None


# --------------------------------------------------------------------------------------------------
# The client
# --------------------------------------------------------------------------------------------------


def client_module() -> str:
    """The benchmark client's module in the installed SGLang, found without importing SGLang:
    ``sglang.benchmark.serving`` (newer releases) if present, else ``sglang.bench_serving`` (0.5.7).

    The flags used here (--backend, --base-url, --model, --tokenizer, --dataset-name/-path, --num-prompts,
    --max-concurrency, --random-input-len/-output-len/-range-ratio, --request-rate, --output-file) are the same
    in both (newer: ``sglang/benchmark/args.py``, click options); only 0.5.7 is exercised by the tests."""
    spec = importlib.util.find_spec("sglang")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "SGLang is not installed: its benchmark client is needed "
            "(pip install --no-deps sglang==0.5.7, plus aiohttp numpy pybase64 requests datasets pillow "
            "tqdm transformers)"
        )
    for root in spec.submodule_search_locations:
        if (Path(root) / "benchmark" / "serving.py").is_file():
            return "sglang.benchmark.serving"
        if (Path(root) / "bench_serving.py").is_file():
            return "sglang.bench_serving"
    raise RuntimeError(f"no benchmark client found in the installed SGLang ({list(spec.submodule_search_locations)})")


def _check_base_url(base_url: str) -> str:
    """``http(s)://HOST:PORT`` (a trailing ``/`` or ``/v1`` is dropped) via the server's
    :func:`~kimi_cookbook.server.normalize_base_url` (no credentials, a valid port); no other path, no
    whitespace. The URL ends up in manifests, logs and printouts: one with credentials is not echoed."""
    from urllib.parse import urlsplit

    from kimi_cookbook.server import normalize_base_url

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
    """The client's argv for one scenario (run it as is, or ``shlex.join`` it for a terminal)."""
    if backend not in CLIENT_BACKENDS:
        raise ValueError(f"unknown client backend {backend!r}; allowed: {', '.join(CLIENT_BACKENDS)}")
    if dataset_name not in DATASETS:
        raise ValueError(f"unknown dataset {dataset_name!r}; allowed: {', '.join(DATASETS)}")
    if dataset_name == "sharegpt" and not dataset_path:
        raise ValueError("dataset 'sharegpt' needs dataset_path (a local ShareGPT JSON); no downloads here")
    cmd = [python or sys.executable, "-m", module or client_module()]
    cmd += ["--backend", backend, "--base-url", _check_base_url(base_url)]
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


def display_command(cmd: list[str]) -> str:
    """``cmd`` for a terminal: ``python3`` for the interpreter, every argument shell-quoted."""
    from kimi_cookbook.server import display_command as render

    return render(["python3", *cmd[1:]])


class BenchError(RuntimeError):
    """A scenario failed; ``results_dir`` holds the scenarios that finished and the failed one's log."""

    def __init__(self, message: str, results_dir: Path | None = None):
        super().__init__(message)
        self.results_dir = results_dir


def _client_env(tokenizer: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"  # stream the client's prints as they happen
    if tokenizer and Path(tokenizer).is_dir():
        # A local tokenizer folder needs no hub; the client still probes the hub for --model's chat
        # template (check_chat_template), which must fail fast offline rather than wait on a network.
        env.setdefault("HF_HUB_OFFLINE", "1")
        env.setdefault("TRANSFORMERS_OFFLINE", "1")
    return env


def _kill_group(proc: subprocess.Popen) -> None:
    """Stop the client and everything it started (it runs in its own session): the server module's
    SIGTERM, then SIGKILL after 10 s."""
    from kimi_cookbook.server import _stop_group

    _stop_group(proc, grace_s=10.0)


def _run_streaming(
    cmd: list[str],
    *,
    env: dict[str, str],
    log_path: Path,
    echo: Callable[[str], None] | None,
    timeout: float | None,
    cwd: str | os.PathLike | None = None,
) -> tuple[int, str]:
    """Run ``cmd``, echo its merged stdout/stderr as it comes, write it to ``log_path``; return (rc, text)."""
    import threading

    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    chunks: list[str] = []
    timed_out = threading.Event()
    with open(log_path, "w", encoding="utf-8") as log:
        log.write("$ " + display_command(cmd) + "\n")
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
        watchdog = None
        if timeout is not None:

            def expire() -> None:
                timed_out.set()
                _kill_group(proc)

            watchdog = threading.Timer(timeout, expire)
            watchdog.daemon = True
            watchdog.start()
        try:
            fd = proc.stdout.fileno()
            while True:
                data = os.read(fd, 65536)
                piece = decoder.decode(data, final=not data)
                if piece:
                    chunks.append(piece)
                    log.write(piece)
                    log.flush()
                    if echo is not None:
                        echo(piece)
                if not data:
                    break
            rc = proc.wait()
        except BaseException:
            _kill_group(proc)  # interrupted (Ctrl-C): the client must not outlive us
            raise
        finally:
            if watchdog is not None:
                watchdog.cancel()
            proc.stdout.close()
    if timed_out.is_set():
        raise TimeoutError(f"{cmd[2]} ran past {timeout:g} s and was stopped; see {log_path}")
    return rc, "".join(chunks)


def _last_json_line(path: Path) -> dict | None:
    if not path.is_file():
        return None
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    if not lines:
        return None
    try:
        return json.loads(lines[-1])
    except json.JSONDecodeError:
        return None


def _save(records: list[dict], results_dir: Path) -> None:
    import pandas as pd

    # Both are written to temporary files first, then renamed (atomic): results.jsonl first, results.csv
    # last, so a results.csv that exists means results.jsonl holds at least the same rows.
    flat = [{k: v for k, v in r.items() if k != "client"} for r in records]
    jsonl_tmp = results_dir / "results.jsonl.tmp"
    csv_tmp = results_dir / "results.csv.tmp"
    with open(jsonl_tmp, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in records)
    pd.DataFrame(flat).to_csv(csv_tmp, index=False)
    os.replace(jsonl_tmp, results_dir / "results.jsonl")
    os.replace(csv_tmp, results_dir / "results.csv")


def _sglang_version() -> str | None:
    try:
        from importlib.metadata import version

        return version("sglang")
    except Exception:  # noqa: BLE001 - not installed / odd metadata: the manifest just says so
        return None


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
    stream: bool = True,
    tail_lines: int = 15,
    timeout_s: float | None = None,
    progress: bool = True,
    python: str | None = None,
):
    """Run SGLang's benchmark client once per scenario; return the results as a pandas DataFrame.

    ``scenarios`` is a preset name or Scenario objects. After each scenario, ``results_dir`` gets
    ``results.csv`` and ``results.jsonl`` (one row per finished scenario: the scenario's parameters,
    ``wall_s``, and the parsed "Serving Benchmark Result" block; the JSONL rows add the client's own JSON
    record under ``client``), ``client.jsonl`` (what the client appends via ``--output-file``),
    ``<scenario>.log`` (its whole output) and ``manifest.json``. With ``stream`` the client's output is
    echoed as it comes, else its last ``tail_lines`` lines are shown after each scenario.

    A scenario whose client exits non-zero, runs past ``timeout_s``, prints no complete block or completes no
    request raises :class:`BenchError` after the earlier scenarios were saved; Ctrl-C stops the client and
    keeps them too.
    """
    if isinstance(scenarios, str):
        scenarios = preset(scenarios)
    scenarios = list(scenarios)
    if not scenarios:
        raise ValueError("no scenarios to run")
    names = [s.name for s in scenarios]
    if len(set(names)) != len(names):
        raise ValueError(f"scenario names must be unique, got {names}")
    base_url = _check_base_url(base_url)
    module = client_module()
    out = Path(results_dir)
    out.mkdir(parents=True, exist_ok=True)
    client_jsonl = out / "client.jsonl"
    commands = [
        bench_command(
            s,
            base_url=base_url,
            backend=backend,
            model=model,
            tokenizer=tokenizer,
            dataset_name=dataset_name,
            dataset_path=dataset_path,
            output_file=client_jsonl,
            python=python,
            module=module,
        )
        for s in scenarios
    ]
    manifest = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "base_url": base_url,
        "client_module": module,
        "sglang_version": _sglang_version(),
        "backend": backend,
        "model": model,
        "tokenizer": tokenizer,
        "dataset_name": dataset_name,
        "dataset_path": dataset_path,
        "scenarios": [s.as_dict() for s in scenarios],
        "commands": [display_command(c) for c in commands],
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    env = _client_env(tokenizer)

    def echo(piece: str) -> None:
        sys.stdout.write(piece)
        sys.stdout.flush()

    records: list[dict] = []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(scenarios), desc="scenarios", unit="scenario")
    try:
        for scenario, cmd in zip(scenarios, commands):
            if bar is not None:
                bar.set_postfix_str(scenario.name)
            print(f"\n[{scenario.name}] $ {display_command(cmd)}", flush=True)
            started = time.perf_counter()
            try:
                rc, text = _run_streaming(
                    cmd,
                    env=env,
                    log_path=out / f"{scenario.name}.log",
                    echo=echo if stream else None,
                    timeout=timeout_s,
                )
            except TimeoutError as exc:
                raise BenchError(f"scenario {scenario.name!r}: {exc}", out) from exc
            wall = time.perf_counter() - started
            if not stream:
                tail = deque((ln for ln in _lines(text) if ln.strip()), maxlen=tail_lines)
                print("\n".join(tail), flush=True)
            log_name = f"{scenario.name}.log"
            if rc != 0:
                raise BenchError(
                    f"scenario {scenario.name!r}: the client exited with {rc}; see {out / log_name}",
                    out,
                )
            try:
                block = parse_bench_serving(text)
            except ValueError as exc:
                raise BenchError(f"scenario {scenario.name!r}: {exc}; see {out / log_name}", out) from exc
            if not block.get("successful_requests"):
                raise BenchError(
                    f"scenario {scenario.name!r}: no successful requests; see {out / log_name}",
                    out,
                )
            failed = scenario.num_prompts - int(block["successful_requests"])
            if failed > 0:
                print(
                    f"[{scenario.name}] warning: {failed} of {scenario.num_prompts} requests failed "
                    "(the client's block counts successful ones only)",
                    flush=True,
                )
            client = _last_json_line(client_jsonl) or {}
            client.pop("server_info", None)
            record = {
                **scenario.as_dict(),
                "backend_arg": backend,
                "dataset_name": dataset_name,
                "wall_s": round(wall, 3),
                "failed_requests": failed,
                **block,
                "client": client,
            }
            records.append(record)
            _save(records, out)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return load_results(out)


def load_results(results_dir: str | os.PathLike):
    """A results folder's ``results.jsonl`` as a DataFrame (one row per finished scenario, no ``client``)."""
    import pandas as pd

    path = Path(results_dir) / "results.jsonl"
    if not path.is_file():
        raise ValueError(f"{path} does not exist: not a results folder of kimi_cookbook.bench.run_bench")
    rows = [json.loads(ln) for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    for r in rows:
        r.pop("client", None)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------------
# Reference data (the page's MI300X results) and comparison
# --------------------------------------------------------------------------------------------------


def _reference_json() -> dict:
    text = resources.files("kimi_cookbook").joinpath("data/reference_mi300x.json").read_text(encoding="utf-8")
    return json.loads(text)


def load_reference():
    """The page's three speed results (AMD MI300X, TP 4, SGLang 0.5.7) as a DataFrame: one row per
    scenario, the parsed block's columns plus ``scenario``, ``num_prompts``, ``max_concurrency``,
    ``input_len``, ``output_len``, ``hardware``, ``tp``, ``sglang_version``."""
    import pandas as pd

    ref = _reference_json()
    rows = []
    for item in ref["speed"]:
        row = {
            "scenario": item["scenario"],
            "num_prompts": item["num_prompts"],
            "max_concurrency": item["max_concurrency"],
            "input_len": item["input_len"],
            "output_len": item["output_len"],
            "range_ratio": item["range_ratio"],
            "hardware": ref["hardware"],
            "tp": ref["tp"],
            "sglang_version": ref["sglang_version"],
        }
        row.update(parse_bench_serving(item["output"]))
        rows.append(row)
    return pd.DataFrame(rows)


def load_reference_gsm8k() -> dict[str, Any]:
    """The page's GSM8K result: parsed values plus ``num_questions``, ``hardware``, ``tp``, ``command``, and
    ``nvidia_range`` (what NVIDIA runs of the same harness see, per SGLang's CI)."""
    ref = _reference_json()
    g = ref["gsm8k"]
    return {
        **parse_gsm8k(g["output"]),
        "num_questions": g["num_questions"],
        "command": g["command"],
        "hardware": ref["hardware"],
        "tp": ref["tp"],
        "sglang_version": ref["sglang_version"],
        "nvidia_range": tuple(g["nvidia_range"]),
    }


REFERENCE_COLUMNS = (
    "scenario",
    "num_prompts",
    "max_concurrency",
    "total_input_tokens",
    "output_token_throughput_tok_s",
    "mean_ttft_ms",
    "mean_tpot_ms",
    "mean_e2e_latency_ms",
)
"""The columns a notebook shows of the reference table."""


def scenario_table(scenarios: Iterable[Scenario] | str):
    """Scenarios (or a preset name) as a DataFrame, one row each."""
    import pandas as pd

    if isinstance(scenarios, str):
        scenarios = preset(scenarios)
    return pd.DataFrame([s.as_dict() for s in scenarios])


COMPARE_METRICS = (
    "output_token_throughput_tok_s",
    "total_token_throughput_tok_s",
    "request_throughput_req_s",
    "mean_ttft_ms",
    "median_ttft_ms",
    "mean_tpot_ms",
    "median_tpot_ms",
    "mean_itl_ms",
    "mean_e2e_latency_ms",
)


def compare(run, reference=None, metrics: Iterable[str] = COMPARE_METRICS):
    """A run beside the reference, matched on ``max_concurrency``: one row per (concurrency, metric) with
    ``reference``, ``run`` and ``ratio`` = run / reference (throughput: >1 is faster; latency: >1 is slower).
    ``run`` is a DataFrame from :func:`run_bench`/:func:`load_results` or a results folder."""
    import pandas as pd

    if isinstance(run, (str, os.PathLike)):
        run = load_results(run)
    if reference is None:
        reference = load_reference()
    metrics = list(metrics)
    rows = []
    for _, ref_row in reference.iterrows():
        c = ref_row["max_concurrency"]
        match = run[run["max_concurrency"] == c] if "max_concurrency" in run else run.iloc[0:0]
        run_row = match.iloc[-1] if len(match) else None
        for m in metrics:
            ref_v = ref_row.get(m)
            run_v = None if run_row is None else run_row.get(m)
            ratio = None
            if run_v is not None and ref_v not in (None, 0) and not pd.isna(run_v) and not pd.isna(ref_v):
                ratio = float(run_v) / float(ref_v)
            rows.append(
                {
                    "max_concurrency": int(c),
                    "reference_scenario": ref_row["scenario"],
                    "run_scenario": None if run_row is None else run_row.get("name", run_row.get("scenario")),
                    "metric": m,
                    "reference": ref_v,
                    "run": run_v,
                    "ratio": ratio,
                }
            )
    return pd.DataFrame(rows)


def compare_gsm8k(result: dict[str, float], reference: dict[str, Any] | None = None) -> dict[str, Any]:
    """A GSM8K result beside the page's: accuracy difference and throughput ratio, with the caveat."""
    ref = reference or load_reference_gsm8k()
    lo, hi = ref["nvidia_range"]
    return {
        "reference_accuracy": ref["accuracy"],
        "run_accuracy": result["accuracy"],
        "accuracy_diff": result["accuracy"] - ref["accuracy"],
        "reference_output_throughput": ref["output_throughput"],
        "run_output_throughput": result["output_throughput"],
        "throughput_ratio": result["output_throughput"] / ref["output_throughput"]
        if ref["output_throughput"]
        else None,
        "note": (
            f"The page's {ref['accuracy']:.3f} was measured on {ref['hardware']} (TP {ref['tp']}, SGLang "
            f"{ref['sglang_version']}); NVIDIA runs of the same harness see {lo:.2f}-{hi:.2f}. "
            "Treat it as what the page measured, not as the model's accuracy."
        ),
    }


def plot_vs_concurrency(run=None, reference=None, *, run_label: str = "this run", title: str | None = None):
    """Output throughput, TPOT and TTFT vs max concurrency; reference (the page's MI300X) and run together.
    Returns the matplotlib Figure."""
    import matplotlib.pyplot as plt

    if isinstance(run, (str, os.PathLike)):
        run = load_results(run)
    if reference is None:
        reference = load_reference()
    panels = [
        ("Output token throughput (tok/s)", ["output_token_throughput_tok_s"]),
        ("TPOT (ms)", ["mean_tpot_ms", "median_tpot_ms"]),
        ("TTFT (ms)", ["mean_ttft_ms", "median_ttft_ms"]),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    ref_label = f"page: {reference['hardware'].iloc[0]}, TP {reference['tp'].iloc[0]}" if len(reference) else "page"
    for ax, (ylabel, cols) in zip(axes, panels):
        for frame, label, marker in (
            (reference, ref_label, "o"),
            (run, run_label, "s"),
        ):
            if frame is None or not len(frame):
                continue
            frame = frame.sort_values("max_concurrency")
            for col in cols:
                if col not in frame:
                    continue
                style = "-" if col.startswith(("mean", "output")) else "--"
                name = label if len(cols) == 1 else f"{label} ({col.split('_')[0]})"
                ax.plot(
                    frame["max_concurrency"],
                    frame[col],
                    style,
                    marker=marker,
                    label=name,
                )
        ax.set_xscale("log")
        ax.set_xlabel("max concurrency")
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title or "Speed vs concurrency: reference and run")
    fig.tight_layout()
    return fig


def default_client_backend(kind: str, base_url: str | None = None, *, timeout: float = 3.0) -> str:
    """The client ``--backend`` for a server: ``sglang`` (native ``/generate``, as on the page) for SGLang,
    ``sglang-oai`` (``/v1/completions``) otherwise. An attached server counts as SGLang when its
    ``/get_model_info`` answers 200."""
    if kind == "sglang":
        return "sglang"
    if kind == "attached" and base_url:
        from kimi_cookbook.server import _http_get

        status, _ = _http_get(_check_base_url(base_url) + "/get_model_info", timeout=timeout)
        if status == 200:
            return "sglang"
    return "sglang-oai"


# --------------------------------------------------------------------------------------------------
# GSM8K
# --------------------------------------------------------------------------------------------------


def _host_port(base_url: str) -> tuple[str, int]:
    from urllib.parse import urlsplit

    parts = urlsplit(_check_base_url(base_url))
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{parts.hostname}", port


def gsm8k_command(
    base_url: str = "http://127.0.0.1:30000",
    *,
    num_questions: int = 200,
    data_path: str | None = None,
    parallel: int = 128,
    python: str | None = None,
) -> list[str]:
    """The page's ``python3 -m sglang.test.few_shot_gsm8k --num-questions 200`` aimed at ``base_url``
    (``--host`` with scheme, ``--port``); ``data_path`` is a local GSM8K ``test.jsonl`` for machines
    without internet (otherwise it downloads from GitHub). Needs an SGLang server (native API)."""
    if isinstance(num_questions, bool) or not isinstance(num_questions, int) or not 1 <= num_questions <= 1319:
        raise ValueError(f"num_questions must be an integer in [1, 1319] (GSM8K test size), got {num_questions!r}")
    if isinstance(parallel, bool) or not isinstance(parallel, int) or not 1 <= parallel <= 1024:
        raise ValueError(f"parallel must be an integer in [1, 1024], got {parallel!r}")
    host, port = _host_port(base_url)
    cmd = [
        python or sys.executable,
        "-m",
        "sglang.test.few_shot_gsm8k",
        "--num-questions",
        str(num_questions),
        "--parallel",
        str(parallel),
        "--host",
        host,
        "--port",
        str(port),
    ]
    if data_path:
        cmd += ["--data-path", str(data_path)]
    return cmd


GSM8K_SAMPLE = "data/gsm8k_sample.jsonl"
_INVALID = -9999999


def gsm8k_sample_path() -> str:
    """A handful of GSM8K-style questions written for this cookbook (not GSM8K itself), same JSONL format
    (``question``, ``answer`` ending in ``#### N``): usable as ``few_shot_gsm8k --data-path``."""
    return str(resources.files("kimi_cookbook").joinpath(GSM8K_SAMPLE))


def _answer_value(text: str) -> int:
    # few_shot_gsm8k.get_answer_value (0.5.7): the last integer in the text, commas removed.
    numbers = re.findall(r"\d+", text.replace(",", ""))
    return int(numbers[-1]) if numbers else _INVALID


def run_gsm8k_openai(
    base_url: str,
    model: str,
    *,
    data_path: str | None = None,
    num_questions: int = 200,
    num_shots: int = 5,
    max_new_tokens: int = 512,
    parallel: int = 8,
    timeout_s: float = 300.0,
) -> tuple[dict[str, float], str]:
    """few_shot_gsm8k's evaluation over the OpenAI completions API (for servers without SGLang's native API).

    Same prompt (``num_shots`` solved examples, then ``Question: ...\\nAnswer:``), greedy decoding, the same
    stop strings and answer extraction (last integer). The first ``num_shots`` items serve as the shots and
    are also asked, as in few_shot_gsm8k. Returns (result dict like :func:`parse_gsm8k`'s, printed text in
    few_shot_gsm8k's format). ``num_questions`` must be in [1, number of questions in the file]; the API key
    is ``$SGLANG_API_KEY`` (see :func:`kimi_cookbook.client.make_client`).
    """
    from concurrent.futures import ThreadPoolExecutor

    from kimi_cookbook.client import make_client

    base_url = _check_base_url(base_url)
    path = data_path or gsm8k_sample_path()
    lines = [json.loads(ln) for ln in Path(path).read_text(encoding="utf-8").splitlines() if ln.strip()]
    if not lines:
        raise ValueError(f"{path}: no questions")
    if not 0 <= num_shots < len(lines):
        raise ValueError(f"num_shots must be in [0, {len(lines) - 1}] for {len(lines)} questions, got {num_shots}")
    if isinstance(num_questions, bool) or not isinstance(num_questions, int) or not 1 <= num_questions <= len(lines):
        raise ValueError(
            f"num_questions must be an integer in [1, {len(lines)}] (questions in {Path(path).name}), "
            f"got {num_questions!r}"
        )
    if isinstance(parallel, bool) or not isinstance(parallel, int) or not 1 <= parallel <= 1024:
        raise ValueError(f"parallel must be an integer in [1, 1024], got {parallel!r}")

    def one(i: int, with_answer: bool) -> str:
        s = "Question: " + lines[i]["question"] + "\nAnswer:"
        return s + " " + lines[i]["answer"] if with_answer else s

    shots = "".join(one(i, True) + "\n\n" for i in range(num_shots))
    items = list(range(num_questions))
    labels = [_answer_value(lines[i]["answer"]) for i in items]
    client = make_client(base_url, timeout=timeout_s)  # API key: $SGLANG_API_KEY if set

    def ask(i: int) -> tuple[str, int]:
        r = client.completions.create(
            model=model,
            prompt=shots + one(i, False),
            max_tokens=max_new_tokens,
            temperature=0,
            stop=["Question", "Assistant:", "<|separator|>"],
        )
        return r.choices[0].text, (r.usage.completion_tokens if r.usage else 0)

    tic = time.perf_counter()
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        answers = list(pool.map(ask, items))
    latency = time.perf_counter() - tic
    preds = [_answer_value(text) for text, _ in answers]
    n = len(items)
    result = {
        "accuracy": sum(p == y for p, y in zip(preds, labels)) / n,
        "invalid": sum(p == _INVALID for p in preds) / n,
        "latency": latency,
        "output_throughput": sum(t for _, t in answers) / latency,
    }
    text = (
        f"Accuracy: {result['accuracy']:.3f}\nInvalid: {result['invalid']:.3f}\n"
        f"Latency: {result['latency']:.3f} s\nOutput throughput: {result['output_throughput']:.3f} token/s\n"
    )
    return result, text


# --------------------------------------------------------------------------------------------------
# CLI: kimi-cookbook bench / kimi-cookbook compare
# --------------------------------------------------------------------------------------------------


def _cli_scenarios(args) -> list[Scenario]:
    custom = [
        args.num_prompts,
        args.max_concurrency,
        args.input_len,
        args.output_len,
        args.range_ratio,
    ]
    if all(v is None for v in custom) and args.request_rate is None:
        return list(preset(args.preset))
    if args.num_prompts is None or args.max_concurrency is None:
        raise ValueError("a custom scenario needs --num-prompts and --max-concurrency (or use --preset alone)")
    rate = math.inf if args.request_rate in (None, "inf") else float(args.request_rate)
    return [
        Scenario(
            f"custom-c{args.max_concurrency}",
            num_prompts=args.num_prompts,
            max_concurrency=args.max_concurrency,
            input_len=args.input_len or 1000,
            output_len=args.output_len or 1000,
            request_rate=rate,
            range_ratio=args.range_ratio if args.range_ratio is not None else 0.0,
        )
    ]


def _print_comparison(results_dir: Path) -> None:
    table = compare(results_dir)
    if table["run"].isna().all():
        print("(no scenario of this run has a concurrency the page measured: 1, 16, 100)")
        return
    shown = table.dropna(subset=["run"])
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


def _default_dataset(client_backend: str, dataset_path: str | None) -> str:
    """``random`` (the page's; ShareGPT text, downloaded unless ``dataset_path``) against SGLang's native API
    or with a local ShareGPT file, else ``random-ids`` (no download)."""
    return "random" if client_backend == "sglang" or dataset_path else "random-ids"


def _cli_bench(args) -> int:
    from kimi_cookbook.server import connect

    scenarios = _cli_scenarios(args)
    results = Path(args.results) if args.results else new_results_dir(prefix="bench")
    with connect(args.server, args.base_url or "") as srv:
        settings = bench_settings(
            srv,
            client_backend=args.client_backend,
            dataset_name=args.dataset_name,
            dataset_path=args.dataset_path or "",
            tokenizer=args.tokenizer or "",
        )
        if args.model:
            settings["model"] = args.model
        try:
            run_bench(
                scenarios,
                results_dir=results,
                stream=not args.quiet,
                timeout_s=args.timeout,
                **settings,
            )
        except BenchError as exc:
            print(f"kimi-cookbook bench: {exc}", file=sys.stderr)
            print(f"finished scenarios are kept in {results}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print(
                f"\nkimi-cookbook bench: interrupted; finished scenarios are kept in {results}",
                file=sys.stderr,
            )
            return 130
    print(f"\nresults: {results}/results.csv, {results}/results.jsonl")
    _print_comparison(results)
    return 0


def _cli_compare(args) -> int:
    results = Path(args.results)
    load_results(results)  # ValueError with a clear message if it is not a results folder
    _print_comparison(results)
    if args.plot:
        fig = plot_vs_concurrency(results, run_label=results.name)
        fig.savefig(args.plot, dpi=110)
        print(f"plot: {args.plot}")
    return 0


def register_cli(sub) -> None:
    p = sub.add_parser(
        "bench",
        help="run SGLang's benchmark client (a preset or one custom scenario), save a results folder",
        description=(
            "Runs python -m sglang.bench_serving once per scenario against a server (attached with --base-url, "
            "else launched: --server embedded|sglang), saving results.csv/results.jsonl after each scenario."
        ),
    )
    p.add_argument(
        "--preset",
        default="page",
        choices=list(PRESETS),
        help="scenario set (default: page)",
    )
    p.add_argument("--num-prompts", type=int, help="custom scenario: number of prompts")
    p.add_argument("--max-concurrency", type=int, help="custom scenario: concurrent requests")
    p.add_argument("--input-len", type=int, help="custom scenario: input tokens (default 1000)")
    p.add_argument("--output-len", type=int, help="custom scenario: output tokens (default 1000)")
    p.add_argument(
        "--range-ratio",
        type=float,
        help="custom scenario: --random-range-ratio (default 0.0)",
    )
    p.add_argument("--request-rate", help="custom scenario: requests/s or inf (default inf)")
    p.add_argument(
        "--base-url",
        default="",
        help="attach to a running server, e.g. http://127.0.0.1:30000",
    )
    p.add_argument(
        "--server",
        default="embedded",
        choices=["embedded", "sglang"],
        help="what to launch without --base-url",
    )
    p.add_argument(
        "--client-backend",
        default="auto",
        choices=["auto", *CLIENT_BACKENDS],
        help="bench_serving --backend (auto: sglang for SGLang servers, else sglang-oai)",
    )
    p.add_argument(
        "--dataset-name",
        default="auto",
        choices=["auto", *DATASETS],
        help="auto: random on SGLang (ShareGPT download unless --dataset-path), else random-ids",
    )
    p.add_argument("--dataset-path", help="local ShareGPT JSON for --dataset-name random/sharegpt")
    p.add_argument("--model", help="model name to send (default: the server's)")
    p.add_argument("--tokenizer", help="tokenizer folder or hub id (default: the server's)")
    p.add_argument("--results", help="results folder (default: $KIMI_COOKBOOK_RUNS or runs, /bench-TIMESTAMP)")
    p.add_argument(
        "--timeout",
        type=float,
        help="seconds per scenario before the client is stopped",
    )
    p.add_argument(
        "--quiet",
        action="store_true",
        help="show the client's last lines instead of its whole output",
    )
    p.set_defaults(func=_cli_bench)

    c = sub.add_parser(
        "compare",
        help="put a bench results folder beside the page's MI300X results (ratios), optionally plot",
    )
    c.add_argument("results", metavar="RESULTS", help="a folder written by kimi-cookbook bench")
    c.add_argument("--plot", help="write throughput/TPOT/TTFT vs concurrency to this image file")
    c.set_defaults(func=_cli_compare)


# --------------------------------------------------------------------------------------------------
# Notebook helpers: settings for a connected server, GSM8K dispatch
# --------------------------------------------------------------------------------------------------


RUNS_ENV = "KIMI_COOKBOOK_RUNS"
"""Environment variable naming the default parent folder of results folders (default ``runs``)."""


def new_results_dir(base: str | os.PathLike | None = None, prefix: str = "bench") -> Path:
    """A fresh, empty, timestamped results folder ``BASE/PREFIX-YYYYmmdd-HHMMSS``, created here so that two runs
    in the same second get different ones (``-2``, ``-3``, ... appended). ``base`` defaults to
    ``$KIMI_COOKBOOK_RUNS``, else ``runs`` (relative to the working directory)."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", prefix or ""):
        raise ValueError(f"prefix {prefix!r}: use 1-64 of A-Z a-z 0-9 _ . - (a folder name)")
    root = Path(base if base is not None else (os.environ.get(RUNS_ENV) or "runs"))
    root.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    n = 1
    while True:
        path = root / (f"{prefix}-{stamp}" if n == 1 else f"{prefix}-{stamp}-{n}")
        try:
            path.mkdir()  # atomic: only one caller gets a given name
        except FileExistsError:
            n += 1
            continue
        return path


def _known_tokenizer(model: str | None) -> str | None:
    """The local tokenizer folder of a model built here (the embedded tiny model), else None."""
    from kimi_cookbook.tiny_model import TINY_MODEL_NAME, ensure_tiny_model

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
) -> dict:
    """``run_bench`` keyword arguments for a server handle from :func:`kimi_cookbook.server.connect`:
    client backend (``auto``: ``sglang`` for SGLang, else ``sglang-oai``), dataset (``auto``: ``random`` as on
    the page for SGLang or with a local ShareGPT file, else ``random-ids``), model, base URL, and tokenizer
    (``tokenizer``, else the server's, else the tiny model's folder when an attached server serves it)."""
    backend = default_client_backend(srv.kind, srv.base_url) if client_backend == "auto" else client_backend
    if backend not in CLIENT_BACKENDS:
        raise ValueError(f"unknown client backend {backend!r}; allowed: auto, {', '.join(CLIENT_BACKENDS)}")
    dataset = _default_dataset(backend, dataset_path) if dataset_name == "auto" else dataset_name
    return {
        "base_url": srv.base_url,
        "backend": backend,
        "model": srv.model,
        "tokenizer": tokenizer or srv.tokenizer_path or _known_tokenizer(srv.model),
        "dataset_name": dataset,
        "dataset_path": dataset_path or None,
    }


def commands_for(
    scenarios: Iterable[Scenario] | str,
    settings: dict,
    output_file: str = "bench.jsonl",
) -> list[str]:
    """The terminal commands (``python3 -m sglang.bench_serving ...``) a run with ``settings`` executes."""
    if isinstance(scenarios, str):
        scenarios = preset(scenarios)
    return [display_command(bench_command(s, output_file=output_file, **settings)) for s in scenarios]


@dataclass
class GSM8KRun:
    """One GSM8K evaluation: parsed ``result``, printed ``text``, ``method`` (``few_shot_gsm8k`` or
    ``openai-sample``), the terminal ``command`` or a description, and ``reason`` for the method chosen."""

    result: dict[str, float]
    text: str
    method: str
    command: str
    reason: str
    num_questions: int


def run_gsm8k_harness(
    base_url: str,
    *,
    num_questions: int = 200,
    data_path: str | None = None,
    parallel: int = 128,
    workdir: str | os.PathLike = ".",
    timeout_s: float | None = 3600,
    stream: bool = True,
) -> GSM8KRun:
    """Run the page's ``python3 -m sglang.test.few_shot_gsm8k`` against an SGLang server; parse its output.

    Raises :class:`BenchError` (``results_dir`` = ``workdir``, which holds ``gsm8k.log``) when it exits
    non-zero or runs past ``timeout_s``."""
    cmd = gsm8k_command(base_url, num_questions=num_questions, data_path=data_path, parallel=parallel)
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)

    def echo(piece: str) -> None:
        sys.stdout.write(piece)
        sys.stdout.flush()

    env = dict(os.environ, PYTHONUNBUFFERED="1")
    # few_shot_gsm8k writes tmp_output_gsm8k.txt into its working directory: run it in ``workdir``
    try:
        rc, text = _run_streaming(
            cmd,
            env=env,
            log_path=work / "gsm8k.log",
            echo=echo if stream else None,
            timeout=timeout_s,
            cwd=work,
        )
    except TimeoutError as exc:
        raise BenchError(str(exc), work) from exc
    if rc != 0:
        raise BenchError(f"few_shot_gsm8k exited with {rc}; see {work / 'gsm8k.log'}", work)
    return GSM8KRun(
        parse_gsm8k(text),
        text,
        "few_shot_gsm8k",
        display_command(cmd),
        "SGLang server",
        num_questions,
    )


def run_gsm8k(
    srv,
    *,
    num_questions: int = 200,
    data_path: str = "",
    parallel: int = 128,
    workdir: str | os.PathLike = ".",
    sample_questions: int = 12,
    stream: bool = True,
) -> GSM8KRun:
    """GSM8K for a server handle: the page's harness on SGLang; on other servers (the embedded one) the same
    few-shot evaluation over the OpenAI API on a local sample (``data_path``, else the shipped sample),
    because few_shot_gsm8k needs SGLang's native ``/generate`` and ``/get_model_info``."""
    if default_client_backend(srv.kind, srv.base_url) == "sglang":
        return run_gsm8k_harness(
            srv.base_url,
            num_questions=num_questions,
            data_path=data_path or None,
            parallel=parallel,
            workdir=workdir,
            stream=stream,
        )
    path = data_path or gsm8k_sample_path()
    available = sum(1 for ln in Path(path).read_text(encoding="utf-8").splitlines() if ln.strip())
    n = min(num_questions, sample_questions, available)  # 0 or less: run_gsm8k_openai names the limit
    result, text = run_gsm8k_openai(
        srv.base_url,
        srv.model,
        data_path=path,
        num_questions=n,
        parallel=min(parallel, 8),
    )
    if stream:
        print(text, end="")
    reason = (
        f"{srv.kind} server is not SGLang: few_shot_gsm8k needs SGLang's native /generate and /get_model_info, "
        f"so the same 5-shot prompt, stop strings and answer extraction ran over /v1/completions on {n} local "
        f"question(s) from {Path(path).name}"
    )
    return GSM8KRun(
        result,
        text,
        "openai-sample",
        f"kimi_cookbook.bench.run_gsm8k_openai({n} questions)",
        reason,
        n,
    )
