"""The committed full-size GPU run: read from ``docs/validation/<date>-full-size-<gpu>/`` into one small JSON
(``kimi_cookbook/data/full_size_run.json``) that notebook 05 shows without a GPU, and the table and plot of it.

:func:`derive` is the only code that reads the raw folder (``scripts/full_size_results.py`` writes its result;
``tests/test_full_size.py`` proves the committed JSON is what the folder gives). Everything in the JSON is read
from SGLang's own output: the client's JSON records, its progress lines, the server's logs; nothing is typed in.
"""

from __future__ import annotations

import json
import re
import statistics
import tarfile
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from kimi_cookbook.bench.parse import row_from_record

DATA_FILE = "full_size_run.json"
# the client's tqdm line: "163/500 [00:46<01:35,  3.53it/s]"
_PROGRESS = re.compile(r"(\d+)/(\d+) \[(?:(\d+):)?(\d+):(\d+)<")
_DECODE = re.compile(r"Decode batch, #running-req: (\d+),.*?gen throughput \(token/s\): ([\d.]+), #queue-req: (\d+)")


def _summary(call: Path) -> dict:
    return json.loads((call / "summary.json").read_text())


def _log(call: Path, launch: str) -> str:
    with tarfile.open(call / "logs.tar.gz") as tar:
        member = tar.extractfile(f"server-{launch}.log")
        return member.read().decode("utf-8", "replace") if member else ""


def last_progress(stdout_text: str, scenario: str) -> dict | None:
    """The last progress line the client printed for ``scenario`` (``===== name:`` sections): requests finished,
    of how many, after how many seconds; None when it printed none."""
    section = stdout_text.split(f"===== {scenario}:", 1)
    if len(section) < 2:
        return None
    body = section[1].split("\n===== ", 1)[0]
    found = _PROGRESS.findall(body)
    if not found:
        return None
    done, total, hours, minutes, seconds = found[-1]
    elapsed = int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds)
    return {"completed": int(done), "num_prompts": int(total), "elapsed_s": elapsed,
            "requests_per_s": round(int(done) / elapsed, 2) if elapsed else None}


def decode_lines(log_text: str, min_running: int) -> dict | None:
    """SGLang's own 'Decode batch' log lines with at least ``min_running`` requests running: how many, the median
    of their generated tokens/s, the most running requests and queued ones seen."""
    rows = [(int(r), float(t), int(q)) for r, t, q in _DECODE.findall(log_text) if int(r) >= min_running]
    if not rows:
        return None
    return {"lines": len(rows), "median_gen_tok_s": round(statistics.median(t for _, t, _ in rows), 1),
            "max_running": max(r for r, _, _ in rows), "max_queued": max(q for _, _, q in rows)}


def derive(folder: str | Path) -> dict[str, Any]:
    """The run in ``folder`` as the cookbook shows it (see the module's doc)."""
    from kimi_cookbook import smoke_full
    from kimi_cookbook.full_size import build_full_size

    folder = Path(folder)
    calls = sorted(p for p in folder.iterdir() if (p / "summary.json").is_file())
    if not calls:
        raise ValueError(f"{folder} has no call folder with a summary.json")
    first = _summary(calls[0])
    model = first["model"]
    experts = model["num_experts"] if not model["full_model"] else None
    config = smoke_full.full_size_config(experts)
    gpu_name = first["gpu"].lower()
    hardware = next((h for h in ("h200", "h100", "b200") if h in gpu_name), None)
    if hardware is None:
        raise ValueError(f"the planner has no entry for the run's GPU: {first['gpu']}")
    version = None  # the server's own answer, in every record the client wrote
    for call in calls:
        if (call / "bench.jsonl").exists():
            for line in (call / "bench.jsonl").read_text().splitlines():
                version = version or json.loads(line).get("server_info", {}).get("version")
    out: dict[str, Any] = {
        "source": f"docs/validation/{folder.name}", "gpu": first["gpu"], "sglang_version": version,
        "model": model["label"], "full_model": model["full_model"], "tokenizer": model["tokenizer"],
        "scenarios": [], "c100": [], "pools": [], "starts": [], "first_requests": [],
    }
    with tempfile.TemporaryDirectory() as tmp:  # the model folder as the run built it (config + tokenizer only)
        (Path(tmp) / "no-hub").mkdir()  # the config is what counts; never look in a hub cache for a tokenizer
        model_dir = build_full_size(Path(tmp) / "model", num_experts=experts, hub_cache=Path(tmp) / "no-hub").path
        for call in calls:
            summary = _summary(call)
            stdout = (call / "bench-stdout.txt").read_text() if (call / "bench-stdout.txt").exists() else ""
            for launch in summary["launches"]:
                if "ready_s" not in launch:
                    continue
                name = launch["name"]
                log_text = _log(call, name)
                options = {"disable_radix_cache": True} if "--disable-radix-cache" in launch["flags"] else {}
                out["starts"].append({"call": call.name, "launch": name, "order_in_call": launch["order"],
                                      "ready_s": launch["ready_s"]})
                for row in smoke_full.pools_vs_log(hardware, 1, model_dir, log_text, version, options):
                    out["pools"].append({"call": call.name, "launch": name, **row})
                for b in summary["bench"]:
                    if b.get("launch") != name:
                        continue
                    if b["scenario"].endswith("warmup"):  # SGLang's client (call 2, 3) or the driver's /generate
                        answered = b.get("completed") or b.get("answered")
                        if answered:
                            seconds = b.get("duration", b.get("duration_s"))
                            out["first_requests"].append({"call": call.name, "launch": name, "requests": answered,
                                                          "duration_s": round(seconds, 1)})
                    elif b["scenario"].endswith("c100"):
                        seen = last_progress(stdout, b["scenario"])
                        if not seen or not seen["completed"]:  # skipped, or stopped before a request finished
                            continue
                        out["c100"].append({
                            "call": call.name, "launch": name, "flags": " ".join(launch["flags"]) or "(defaults)",
                            "status": b["status"], **seen, "output_tok_s": b.get("output_throughput"),
                            "mean_tpot_ms": b.get("mean_tpot_ms"),
                            "decode_log": decode_lines(log_text, min_running=60)})
            records = {}
            if (call / "bench.jsonl").exists():
                for line in (call / "bench.jsonl").read_text().splitlines():
                    rec = json.loads(line)
                    records[(rec["max_concurrency"], rec["random_output_len"])] = rec
            rows = []
            for b in summary["bench"]:
                if b["scenario"] in ("c1", "c16") and b.get("completed"):
                    rec = records[(b["max_concurrency"], b["output_len"])]
                    rows.append({**row_from_record(rec), "name": b["scenario"],
                                 "max_concurrency": b["max_concurrency"]})
            for row in smoke_full.floor_table(rows, hardware, 1, config):
                out["scenarios"].append({"call": call.name, **row})
        if "routing" in first:
            routing = first["routing"]
            out["routing"] = {k: routing[k] for k in ("experts", "moe_layers_counted", "min_experts_used",
                                                      "top8_share_min", "top8_share_max", "uniform_top8_share")}
    return out


def load_full_size_run() -> dict[str, Any]:
    """The committed run (the JSON :func:`derive` made)."""
    return json.loads(resources.files("kimi_cookbook.data").joinpath(DATA_FILE).read_text())


def full_size_tables(run: dict[str, Any] | None = None) -> dict[str, pd.DataFrame]:
    """The committed run as tables: ``scenarios`` (beside the page and the floor), ``c100`` (defaults vs radix cache
    off), ``pools`` (planner vs log) and ``starts``."""
    run = run or load_full_size_run()
    c100 = pd.DataFrame([{**{k: v for k, v in r.items() if k != "decode_log"},
                          **{f"log_{k}": v for k, v in (r.get("decode_log") or {}).items()}} for r in run["c100"]])
    return {"scenarios": pd.DataFrame(run["scenarios"]), "c100": c100, "pools": pd.DataFrame(run["pools"]),
            "starts": pd.DataFrame(run["starts"])}


def plot_full_size_run(run: dict[str, Any] | None = None):
    """Time per output token at concurrency 1 and 16: this run, the page (4x MI300X) and the planner's floor."""
    import matplotlib.pyplot as plt

    run = run or load_full_size_run()
    rows = run["scenarios"]
    gpu = run["gpu"].split(",")[0].replace("NVIDIA ", "")
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    width = 0.27
    xs = range(len(rows))
    series = (("mean_tpot_ms", f"this run ({gpu})"), ("page_mean_tpot_ms", "page (4x MI300X)"),
              ("floor_tpot_ms", f"planner's floor ({gpu})"))
    for i, (key, label) in enumerate(series):
        values = [r[key] or 0 for r in rows]
        bars = ax.bar([x + (i - 1) * width for x in xs], values, width, label=label)
        ax.bar_label(bars, fmt="%.1f", fontsize=8)
    ax.set_xticks(list(xs), [f"concurrency {r['max_concurrency']}" for r in rows])
    ax.set_ylabel("mean time per output token (ms)")
    what = "the full model" if run["full_model"] else "fewer experts, not the full model"
    ax.set_title(f"Kimi-Linear-48B-A3B, random weights ({what}): lower is faster", fontsize=10)
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig
