"""The five-minute proof of a GPU host: real SGLang serving a tiny Kimi-Linear, driven by the notebooks.

Before a ~100 GB download, ``kimi-cookbook smoke --hardware h100`` checks that this host's SGLang, driver
and launch flags serve the Kimi-Linear architecture: it builds the tiny random-weight checkpoint of
:mod:`kimi_cookbook.tiny_kimi` (KDA + MLA layers, MoE, the published config's head sizes), launches
``python3 -m sglang.launch_server`` on it with the selector's flags for the chosen GPU (or attaches to a
server you started, ``base_url``), runs notebooks 03-06 against it through papermill, stops it, and
writes ``summary.md`` / ``summary.json`` into a run folder: each step's result, SGLang's start-up time, the
benchmark block, the GSM8K result, and what SGLang allocated (from its server info). The answers are
random tokens (random weights): it proves the serving path, not quality.

Every expected failure (no SGLang, no GPU, a server that dies -- with its log tail, Ctrl-C) ends as a
:class:`SmokeError` with one line saying what to do; finished steps are in the summary either way.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from kimi_cookbook import bench
from kimi_cookbook.errors import RunError
from kimi_cookbook.hardware import get_gpu
from kimi_cookbook.jit_cache import cache_state, start_kind
from kimi_cookbook.net import normalize_base_url, redact, redact_json
from kimi_cookbook.paths import atomic_write, check_unused_dir
from kimi_cookbook.report import gather, md_cell
from kimi_cookbook.runner import execute_notebook, list_notebooks
from kimi_cookbook.server import ServerStartError, attach, http_get, launch_sglang
from kimi_cookbook.sglang_memory import parse_sglang_log
from kimi_cookbook.tiny_kimi import ensure_tiny_kimi_linear

SMOKE_NOTEBOOKS = ("03", "04", "05", "06")
CONTEXT_LENGTH = 8192  # the tiny checkpoint's model_max_length
GSM8K_QUESTIONS = 10  # of the shipped sample (GSM8K-style items written for this cookbook), 3 of them as shots
GSM8K_PARALLEL = 4
# Random weights put any whitespace the JSON grammar allows between tokens until max_tokens runs out (seen with
# SGLang 0.5.16's xgrammar on an H100: notebook 04b's reply cut at 741 characters of blanks). A trained model does
# not; for the smoke test the grammar is made compact (a flag of SGLang 0.5.7 and 0.5.16).
SMOKE_LAUNCH_ARGS = ("--constrained-json-disable-any-whitespace",)


class SmokeError(RunError):
    """An expected failure: ``str()`` is one line saying what went wrong and what to do."""


@dataclass
class Step:
    name: str
    status: str  # "ok", "failed", "skipped"
    seconds: float
    detail: str = ""


@dataclass
class SmokeReport:
    run_dir: Path
    hardware: str
    tp: int
    steps: list[Step] = field(default_factory=list)
    startup_s: float | None = None
    sglang_version: str | None = None
    gpus: list[str] = field(default_factory=list)
    command: str = ""
    allocation: dict = field(default_factory=dict)
    bench_block: str = ""
    bench_rows: list[dict] = field(default_factory=list)
    gsm8k: dict = field(default_factory=dict)
    gsm8k_text: str = ""
    log_tail: str = ""  # the server log's last lines when it died, never got ready or stopped making progress
    interrupted: bool = False
    # first or cached start: the JIT caches' files before the launch (kimi_cookbook.jit_cache)
    start_kind: str = ""
    jit_before: dict = field(default_factory=dict)
    # smoke --full-size (kimi_cookbook.smoke_full): what was served, SGLang's pools vs the planner, vs the floor
    mode: str = "tiny"
    label: str = ""
    full_model: bool | None = None
    pools: list[dict] = field(default_factory=list)
    floor: list[dict] = field(default_factory=list)
    finished: bool = False  # every step ran (set last): a run that raised, crashed or was stopped never is

    @property
    def ok(self) -> bool:
        """True only for a run that got to its end with every step ok."""
        return (self.finished and not self.interrupted and bool(self.steps)
                and all(s.status != "failed" for s in self.steps))

    @property
    def state(self) -> str:
        """"passed", "failed", "interrupted", or "running" (written after each step of a run in progress)."""
        if self.interrupted:
            return "interrupted"
        if self.ok:
            return "passed"
        if self.finished or any(s.status == "failed" for s in self.steps):
            return "failed"
        return "running"


# --- checks ------------------------------------------------------------------------------------------
def sglang_version(python: str = sys.executable) -> str | None:
    """SGLang's version in ``python``'s environment, or None when it is not installed."""
    if python == sys.executable:
        if importlib.util.find_spec("sglang") is None:
            return None
        try:
            return importlib.metadata.version("sglang")
        except importlib.metadata.PackageNotFoundError:
            return "unknown"
    out = subprocess.run([python, "-c", "import importlib.metadata as m; print(m.version('sglang'))"],
                         capture_output=True, text=True, timeout=60)
    return out.stdout.strip() or None if out.returncode == 0 else None


_GPU_PROBE = (
    "import json, torch\n"
    "n = torch.cuda.device_count() if torch.cuda.is_available() else 0\n"
    "print(json.dumps({'torch': torch.__version__, 'hip': getattr(torch.version, 'hip', None),"
    " 'gpus': [torch.cuda.get_device_name(i) for i in range(n)]}))\n"
)


def probe_gpus(python: str = sys.executable, timeout_s: float = 120.0) -> dict:
    """``{"torch": ..., "hip": ..., "gpus": [names]}`` from torch in ``python``'s environment (a child
    process, so this one never initialises CUDA). Raises SmokeError when torch is missing."""
    try:
        out = subprocess.run([python, "-c", _GPU_PROBE], capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise SmokeError(f"the GPU probe (torch.cuda) did not answer within {timeout_s:.0f} s; check the driver "
                         "with nvidia-smi or rocm-smi") from None
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["no output"])[-1]
        raise SmokeError(f"torch could not be imported to look for GPUs ({last}); run smoke inside the SGLang "
                         "image or an environment with SGLang's torch")
    return json.loads(out.stdout.strip().splitlines()[-1])


def preflight(tp: int, python: str = sys.executable) -> tuple[str, list[str]]:
    """SGLang's version and the GPU names; SmokeError when SGLang or enough GPUs are missing."""
    version = sglang_version(python)
    if version is None:
        raise SmokeError("SGLang is not installed in this Python: run smoke inside the SGLang Docker image "
                         "(notebook 01), install it (pip install -e '.[serve]'), or attach with --base-url")
    info = probe_gpus(python)
    if len(info["gpus"]) < tp:
        found = f"{len(info['gpus'])} GPU(s)" if info["gpus"] else "no GPU"
        raise SmokeError(f"tp={tp} needs {tp} GPU(s) but torch {info['torch']} sees {found}; check the driver "
                         "(nvidia-smi / rocm-smi), the container's --gpus or --device flags, or lower --tp")
    return version, info["gpus"]


# --- server facts ------------------------------------------------------------------------------------
ALLOCATION_KEYS = ("max_total_num_tokens", "max_running_requests", "max_mamba_cache_size", "mem_fraction_static",
                   "context_length", "chunked_prefill_size", "attention_backend", "mamba_radix_cache_strategy",
                   "disable_radix_cache", "cuda_graph_max_bs", "tp_size")
# The summary's names for the pool figures that sglang_memory.parse_sglang_log reads from a server log.
_ALLOCATION_NAMES = {
    "max_total_num_tokens": "max_total_num_tokens",
    "max_running_requests": "max_running_requests",
    "max_mamba_cache_size": "max_mamba_cache_size",
    "kv_gib": "kv_cache_gb",
    "ssm_gib": "ssm_state_gb",
    "conv_gib": "conv_state_gb",
    "weights_gib": "weights_gb",
    "avail_gib_after_weights": "avail_mem_after_weights_gb",
}


def allocation_from_log(text: str) -> dict:
    """What SGLang logged about its memory pools (one launch's log), as numbers, under the summary's names."""
    logged = parse_sglang_log(text)
    return {name: logged[key] for key, name in _ALLOCATION_NAMES.items() if key in logged}


def server_facts(base_url: str, out: Path) -> dict:
    """Save /get_model_info, the server info and /metrics (when served) into ``out``, every credential masked
    (SGLang's server info lists all its arguments, ``api_key`` included); return the allocation."""
    facts: dict = {}
    for name, paths in (("model_info", ("/get_model_info", "/model_info")),
                        ("server_info", ("/get_server_info", "/server_info"))):
        for path in paths:
            status, body = http_get(base_url + path, 10.0)
            if status == 200:
                try:
                    facts[name] = redact_json(json.loads(body))
                except (ValueError, RecursionError):
                    atomic_write(out / f"{name}.txt", redact(body.decode("utf-8", "replace")))
                else:
                    atomic_write(out / f"{name}.json", json.dumps(facts[name], indent=2) + "\n")
                break
    status, body = http_get(base_url + "/metrics", 10.0)
    if status == 200 and body.strip():
        atomic_write(out / "metrics.txt", redact(body.decode("utf-8", "replace")))
    info = facts.get("server_info")
    info = info if isinstance(info, dict) else {}
    # 0.5.16 nests the scheduler's figures under internal_states; 0.5.7 has them at the top level
    states = info.get("internal_states")
    first = states[0] if isinstance(states, list) and states and isinstance(states[0], dict) else {}
    merged = {**info, **first}
    return {k: merged[k] for k in ALLOCATION_KEYS if k in merged}


# --- results -----------------------------------------------------------------------------------------
def _bench_block(run_dir: Path) -> tuple[str, list[dict]]:
    """The printed block of each scenario and the rows of the run's newest benchmark (report.gather finds it)."""
    folder = gather(run_dir).bench_dir
    if folder is None:
        return "", []
    rows = [json.loads(ln) for ln in (folder / "results.jsonl").read_text().splitlines() if ln.strip()]
    blocks = []
    for log in sorted(folder.glob("*.log")):
        block = bench.block_text(log.read_text(errors="replace"))
        if block:
            blocks.append(f"[{log.stem}]\n{block}")
    return "\n\n".join(blocks), rows


def _gsm8k(results_root: Path) -> tuple[dict, str]:
    """The newest GSM8K log's result and its result lines as the harness printed them (also when it failed)."""
    logs = sorted(results_root.glob("gsm8k-*/gsm8k.log"))
    if not logs:
        return {}, ""
    text = logs[-1].read_text(errors="replace")
    keep = [ln for ln in text.splitlines() if re.match(r"\s*(Accuracy|Invalid|Latency|Output throughput|Score|"
                                                        r"Total latency)\s*:", ln)]
    try:
        return bench.parse_gsm8k(text), "\n".join(keep)
    except ValueError:
        return {}, "\n".join(keep)


# --- the run -----------------------------------------------------------------------------------------
def notebook_parameters(srv, model_path: str, hardware: str, tp: int, results: Path) -> dict:
    """The notebooks' papermill parameters: attach to the smoke test's server, results in its run folder."""
    return {
        "RESULTS_DIR": str(results.resolve() / "bench-05"),
        "WORKDIR": str(results.resolve() / "gsm8k-06"),
        "BASE_URL": srv.base_url,
        "TOKENIZER": model_path,
        "MODEL": model_path,
        "HARDWARE": hardware,
        "TP": tp,
        "PRESET": "tiny",
        "DATASET": "random-ids",  # 'random' samples ShareGPT text, a download; random-ids needs none
        "DATA_PATH": bench.gsm8k_sample_path(),
        "NUM_QUESTIONS": GSM8K_QUESTIONS,
        "PARALLEL": GSM8K_PARALLEL,
        "STREAM": False,
    }


SMOKE_WRITES = ("summary.md", "summary.json", "server.log", "*.ipynb", "results", "model_info.*",
                "server_info.*", "metrics.txt", "model", "bench")
"""What a smoke run writes into its folder: a given ``--run-dir`` holding any of them is refused."""


def _run_dir(run_dir) -> Path:
    """The run's folder, made now: a given one checked (unused, writable) first, else a fresh runs/smoke-*."""
    if run_dir:
        out = check_unused_dir(run_dir, "--run-dir", SMOKE_WRITES,
                               " or leave --run-dir out for a fresh runs/smoke-TIMESTAMP")
        out.mkdir(parents=True, exist_ok=True)
        return out
    return bench.new_results_dir(prefix="smoke")


def not_ready(exc: ServerStartError, out: Path, what: str) -> SmokeError:
    """The one-line error for a server that did not get ready, naming its log only when there is one."""
    log_file = out / "server.log"
    where = f"; log: {log_file}" if log_file.is_file() and log_file.stat().st_size else ""
    return SmokeError(f"{what} did not get ready: {str(exc).splitlines()[0]}{where}")


def run_smoke(
    hardware: str = "h100",
    *,
    tp: int = 1,
    base_url: str = "",
    run_dir: str | os.PathLike | None = None,
    mem_fraction_static: float | None = None,
    context_length: int = CONTEXT_LENGTH,
    extra_args: tuple[str, ...] | list[str] = (),
    notebooks: tuple[str, ...] = SMOKE_NOTEBOOKS,
    notebook_dir: str | os.PathLike = "notebooks",
    timeout_s: float = 1800.0,
    cell_timeout_s: int = 900,
    python: str = sys.executable,
    progress: bool = True,
    log=print,
) -> SmokeReport:
    """Run the smoke test; the report is also written as ``summary.md`` / ``summary.json`` in the run folder.

    Bad input (hardware, tp, base URL, launch flags, a used ``run_dir``) raises ValueError before any folder
    exists. Raises :class:`SmokeError` for a failure before the server is up (no SGLang, no GPU, a launch that
    dies); later failures are recorded as failed steps. The summary says "passed" only when every step ran and
    passed: a run that raised, crashed or was interrupted says so. ``extra_args`` go to the launch (e.g.
    ``--attention-backend=triton``)."""
    from kimi_cookbook.selector import build_launch_spec

    gpu = get_gpu(hardware)
    if base_url:
        base_url = normalize_base_url(base_url)
    extra_args = tuple(SMOKE_LAUNCH_ARGS) + tuple(a for a in extra_args if a not in SMOKE_LAUNCH_ARGS)
    if run_dir:
        check_unused_dir(run_dir, "--run-dir", SMOKE_WRITES)
    chosen = [p for p in list_notebooks(notebook_dir) if p.stem[:2] in notebooks]
    if notebooks and not chosen:  # bad input, before any folder or GPU work
        raise ValueError(f"no notebooks {', '.join(notebooks)} in {notebook_dir}: run from the repository root or "
                         "pass --notebooks DIR")
    t = time.perf_counter()
    tiny = ensure_tiny_kimi_linear()  # the cache, not the run folder
    tiny_s = time.perf_counter() - t
    model_path = str(tiny.path)
    # bad input (tp, launch flags) fails here, before any folder or GPU work
    build_launch_spec(gpu.id, model=model_path, tp=tp, extra_args=extra_args, context_length=context_length,
                      mem_fraction_static=mem_fraction_static)
    out = _run_dir(run_dir)
    report = SmokeReport(run_dir=out, hardware=gpu.id, tp=tp)

    def step(name: str, started: float, status: str = "ok", detail: str = "") -> None:
        report.steps.append(Step(name, status, round(time.perf_counter() - started, 1), detail))
        write_summary(report)
        log(f"[smoke] {name}: {status} ({report.steps[-1].seconds:.1f} s){' - ' + detail if detail else ''}")

    srv = None
    current, t = "tiny Kimi-Linear", time.perf_counter() - tiny_s
    try:
        cfg = tiny.config
        lin = cfg["linear_attn_config"]
        step("tiny Kimi-Linear", t, detail=f"{tiny.path} ({cfg['num_hidden_layers']} layers: "
                                          f"{len(lin['kda_layers'])} KDA, {len(lin['full_attn_layers'])} MLA)")
        current, t = "preflight", time.perf_counter()
        if base_url:
            step("preflight", t, "skipped", "attached to a running server: its host was not checked")
        else:
            report.sglang_version, report.gpus = preflight(tp, python)
            step("preflight", t, detail=f"SGLang {report.sglang_version}; {len(report.gpus)} GPU(s): "
                                        f"{', '.join(sorted(set(report.gpus)))}")
        current, t = "server ready", time.perf_counter()
        if base_url:
            srv = attach(base_url, tokenizer_path=model_path, progress=progress)
        else:
            report.jit_before = cache_state()
            report.start_kind = start_kind(report.jit_before)
            what = ("a first start compiles kernels for a few minutes" if report.start_kind == "first"
                    else "JIT caches found")
            log(f"[smoke] launching SGLang ({report.start_kind} start: {what})")
            srv = launch_sglang(
                gpu.id, tp=tp, model=model_path, tool_call_parser="kimi_k2", context_length=context_length,
                mem_fraction_static=mem_fraction_static, extra_args=tuple(extra_args), timeout_s=timeout_s,
                log_path=out / "server.log", python=python, progress=progress,
                env={"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"},
            )
            report.command = srv.command
        report.startup_s = srv.startup_s
        kind = f", {report.start_kind} start" if report.start_kind else ""
        step("server ready", t, detail=f"{srv.kind} at {srv.base_url} after {srv.startup_s:.1f} s{kind}")
        current, t = "server facts", time.perf_counter()
        report.allocation = server_facts(srv.base_url, out)
        if (out / "server.log").is_file():
            report.allocation.update(allocation_from_log((out / "server.log").read_text(errors="replace")))
        step("server facts", t, detail=", ".join(f"{k}={v}" for k, v in report.allocation.items()) or "none")
        params = notebook_parameters(srv, model_path, gpu.id, tp, out / "results")
        for nb in chosen:
            current, t = f"notebook {nb.stem}", time.perf_counter()
            res = execute_notebook(nb, out / nb.name, params, timeout=cell_timeout_s)
            if res.status == "ok":
                step(current, t)
            else:
                step(current, t, "failed", res.error.splitlines()[-1] if res.error else "")
        current, t = "results", time.perf_counter()
        report.bench_block, report.bench_rows = _bench_block(out)
        report.gsm8k, report.gsm8k_text = _gsm8k(out / "results")
        report.finished = True
    except SmokeError as exc:
        step(current, t, "failed", str(exc))
        raise
    except ServerStartError as exc:
        report.log_tail = exc.log_tail
        step(current, t, "failed", str(exc).splitlines()[0])
        raise not_ready(exc, out, "the server" if base_url else "SGLang") from exc
    except KeyboardInterrupt:
        report.interrupted = True
        raise
    except BaseException as exc:  # a crash: recorded as the step it stopped, never "passed"
        step(current, t, "failed", f"unexpected error ({type(exc).__name__}: {str(exc).strip()[:200]})")
        raise
    finally:
        if srv is not None:
            srv.stop()
        write_summary(report)
    return report


# --- summary -----------------------------------------------------------------------------------------
def _md_table(rows: list[dict]) -> list[str]:
    if not rows:
        return []
    cols = list(rows[0])
    lines = ["| " + " | ".join(md_cell(c) for c in cols) + " |", "|" + "---|" * len(cols)]
    return lines + ["| " + " | ".join(md_cell(r.get(c)) for c in cols) + " |" for r in rows]


def format_summary(r: SmokeReport) -> str:
    """The summary as markdown; every server-supplied value escaped for its table cell, credentials masked."""
    done = sum(s.status == "ok" for s in r.steps)
    title = "Full-size smoke test" if r.mode == "full-size" else "Smoke test"
    partial = " (NOT the full model)" if r.full_model is False else ""
    lines = [f"# {title}{partial} {r.state}: {done} of {len(r.steps)} steps ok", ""]
    if r.label:
        lines.append(f"- model: {md_cell(r.label)}")
    lines.append(f"- hardware: {r.hardware}, tp {r.tp}; SGLang {r.sglang_version or 'version not known'}")
    if r.gpus:
        lines.append(f"- GPUs: {len(r.gpus)} x {', '.join(sorted(set(r.gpus)))}")
    if r.startup_s is not None:
        lines.append(f"- start-up: {r.startup_s:.1f} s until /health answered 200")
    if r.start_kind:
        files = sum(v["files"] for v in r.jit_before.values())
        lines.append(f"- {r.start_kind} start: {files} files in SGLang's JIT caches before the launch "
                     f"({', '.join(k + ' ' + str(v['files']) for k, v in r.jit_before.items())})")
    if r.command:
        lines += ["", "```bash", r.command, "```"]
    lines += ["", "| step | status | seconds | detail |", "|---|---|---|---|"]
    lines += [f"| {md_cell(s.name)} | {s.status} | {s.seconds:.1f} | {md_cell(s.detail)} |" for s in r.steps]
    if r.log_tail:
        lines += ["", "## Server log tail", "", "```", r.log_tail, "```"]
    if r.allocation:
        lines += ["", "## What SGLang allocated", "", "| figure | value |", "|---|---|"]
        lines += [f"| {md_cell(k)} | {md_cell(v)} |" for k, v in r.allocation.items()]
    if r.pools:
        lines += ["", "## SGLang's pools: logged vs the planner's prediction", ""] + _md_table(r.pools)
    if r.floor:
        lines += ["", f"## Beside the page (4 x MI300X) and the decode floor of {r.tp} x {get_gpu(r.hardware).label}"
                  + partial, ""] + _md_table(r.floor)
    if r.bench_block:
        lines += ["", "## Benchmark (SGLang's client, random-ids)", "", "```", r.bench_block, "```"]
    if r.gsm8k_text:
        lines += ["", "## GSM8K harness (random weights: the score only proves the path)", "", "```",
                  r.gsm8k_text, "```"]
    return redact("\n".join(lines) + "\n")


def write_summary(r: SmokeReport) -> None:
    """``summary.md`` and ``summary.json``, each replaced whole (an interrupted write leaves the previous one)."""
    atomic_write(r.run_dir / "summary.md", format_summary(r))
    data = asdict(r)
    data["run_dir"] = str(r.run_dir)
    data["ok"] = r.ok
    data["state"] = r.state
    data = redact_json(json.loads(json.dumps(data, default=str)))
    atomic_write(r.run_dir / "summary.json", json.dumps(data, indent=2) + "\n")
