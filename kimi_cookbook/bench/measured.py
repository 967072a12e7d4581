"""The committed full-size GPU runs: read from one or more ``docs/validation/<date>-full-size-<gpu>/`` folders (one
model, one GPU kind, one SGLang version) into one small JSON (``kimi_cookbook/data/full_size_run.json``) that
notebook 05 shows without a GPU, and the tables and plots of it.

:func:`derive` is the only code that reads the raw folders (``scripts/full_size_results.py`` writes its result;
``tests/test_full_size.py`` proves the committed JSON is what the folders give). Everything in the JSON is read
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
from typing import TYPE_CHECKING, Any

from kimi_cookbook.bench.parse import row_from_record
from kimi_cookbook.bench.watch import _BAR_COUNT, finished_requests
from kimi_cookbook.hardware import GPUS
from kimi_cookbook.recommended import workloads

if TYPE_CHECKING:
    import pandas as pd

DATA_FILE = "full_size_run.json"
# the client's tqdm line, "| 163/500 [00:46<01:35,  3.53it/s]": watch's bar count, then the elapsed time
_PROGRESS = re.compile(_BAR_COUNT.pattern + r"(?:(\d+):)?(\d+):(\d+)<")
# SGLang's log: "[2026-12-05 18:11:08] Capture ... CUDA graph end. elapsed=57.85 s", "... fired up and ready to roll!"
_STAMP = r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\]"
_CAPTURE_END = re.compile(_STAMP + r" Capture .*?CUDA graph end\. elapsed=([\d.]+) s")
_READY = re.compile(_STAMP + r" The server is fired up and ready to roll")
# the driver's launch flags the planner models (its launches are tp 1; anything else is refused)
_LAUNCH_FLAGS = {"--disable-radix-cache": ("disable_radix_cache", None),
                 "--mamba-full-memory-ratio": ("mamba_full_memory_ratio", float),
                 "--mamba-radix-cache-strategy": ("mamba_radix_cache_strategy", str),
                 "--chunked-prefill-size": ("chunked_prefill_size", int)}
_IGNORED_FLAGS = {"--expert-distribution-recorder-mode": 1}  # counting experts: no pool effect
PAGE_C100_PROMPTS = 500  # the page's third scenario: 500 prompts at concurrency 100
RANDOM = "random"  # the workload of a summary that names none: the page's random-ids (full_size_gpu.py's default)
_MAIN_RUN = "Starting main benchmark run"  # SGLang's client, after its own warm-up request
_DATASET_BAR = "Generating shared-prefix prompts"  # the generated-shared-prefix dataset's progress bar
_DECODE = re.compile(r"Decode batch, #running-req: (\d+),.*?gen throughput \(token/s\): ([\d.]+), #queue-req: (\d+)")


def _summary(call: Path) -> dict:
    return json.loads((call / "summary.json").read_text())


def _log(call: Path, launch: str) -> str:
    with tarfile.open(call / "logs.tar.gz") as tar:
        try:
            member = tar.extractfile(f"server-{launch}.log")
        except KeyError:
            member = None
        if member is None:
            raise ValueError(f"{call}/logs.tar.gz has no server-{launch}.log; was the folder made by "
                             "docs/validation/full_size_gpu.py?")
        return member.read().decode("utf-8", "replace")


def launch_options(flags: list[str]) -> dict[str, Any]:
    """The driver's launch flags as the planner's keyword arguments; a flag it does not model is refused."""
    options, i = {}, 0
    while i < len(flags):
        flag = flags[i]
        if flag in _IGNORED_FLAGS:
            i += 1 + _IGNORED_FLAGS[flag]
        elif flag in _LAUNCH_FLAGS:
            key, kind = _LAUNCH_FLAGS[flag]
            if kind is None:
                options[key], i = True, i + 1
            else:
                options[key], i = kind(flags[i + 1]), i + 2
        else:
            raise ValueError(f"launch flag {flag} is not modelled by the planner; add it to _LAUNCH_FLAGS in "
                             "kimi_cookbook/bench/measured.py")
    return options


def start_phases(log_text: str) -> dict[str, float]:
    """From SGLang's log: the decode CUDA-graph capture (its own ``elapsed``) and the time from its end to "fired
    up and ready" (SGLang's start-up warm-up request runs there)."""
    from datetime import datetime

    capture, ready = _CAPTURE_END.search(log_text), _READY.search(log_text)
    out: dict[str, float] = {}
    if capture:
        out["graph_capture_s"] = float(capture[2])
    if capture and ready:
        stamp = "%Y-%m-%d %H:%M:%S"
        out["capture_end_to_ready_s"] = (datetime.strptime(ready[1], stamp)
                                         - datetime.strptime(capture[1], stamp)).total_seconds()
    return out


def last_progress(stdout_text: str, scenario: str) -> dict | None:
    """The last progress line the client printed for ``scenario`` (``===== name:`` sections): requests finished,
    of how many, after how many seconds; None when it printed none. Bars before the client's "Starting main
    benchmark run" (the generated-shared-prefix dataset's own "Generating shared-prefix prompts") are not requests."""
    section = stdout_text.split(f"===== {scenario}:", 1)
    if len(section) < 2:
        return None
    body = section[1].split("\n===== ", 1)[0]
    if _MAIN_RUN in body:
        body = body.split(_MAIN_RUN, 1)[1]
    elif _DATASET_BAR in body:  # the dataset was still being made: no request yet
        return None
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


def _hardware(gpu: str) -> str:
    """The catalog id of the GPU nvidia-smi named (``NVIDIA H100 80GB HBM3, ...`` -> ``h100``)."""
    name = gpu.split(",")[0].upper()
    found = [g.id for g in GPUS.values() if g.label.upper() in name.split()]
    if len(found) != 1:
        raise ValueError(f"the planner has no entry for the run's GPU: {gpu}")
    return found[0]


def derive(*folders: str | Path) -> dict[str, Any]:
    """The run in ``folders`` (one or more dated folders of the same model on the same GPU kind) as the cookbook
    shows it (see the module's doc). Rows name their call as ``<folder>/<call>``."""
    from kimi_cookbook import smoke_full
    from kimi_cookbook.full_size import build_full_size

    if not folders:
        raise ValueError("no folder given")
    calls = []
    for folder in map(Path, folders):
        found = sorted(p for p in folder.iterdir() if (p / "summary.json").is_file())
        if not found:
            raise ValueError(f"{folder} has no call folder with a summary.json")
        calls += found
    summaries = {call: _summary(call) for call in calls}  # each file read once
    records = {call: list(finished_requests(call / "bench.jsonl")) for call in calls}
    first = summaries[calls[0]]
    model, hardware = first["model"], _hardware(first["gpu"])
    for call in calls[1:]:  # one model, one GPU kind: the pools and the floor are predicted once for all
        other = summaries[call]
        if other["model"]["label"] != model["label"] or _hardware(other["gpu"]) != hardware:
            raise ValueError(f"{call} ran {other['model']['label']} on {other['gpu']}, not what {calls[0]} ran; "
                             "derive one model on one GPU kind at a time")
    experts = model["num_experts"] if not model["full_model"] else None
    config = smoke_full.full_size_config(experts)
    # the server's own answer, in every record the client wrote
    seen = {r.get("server_info", {}).get("version") for rs in records.values() for r in rs} - {None}
    if len(seen) > 1:
        raise ValueError(f"the calls ran SGLang {', '.join(sorted(seen))}: derive one SGLang version at a time")
    version = next(iter(seen), None)
    out: dict[str, Any] = {
        "sources": [f"docs/validation/{Path(f).name}" for f in folders], "gpu": first["gpu"],
        "sglang_version": version, "model": model["label"], "full_model": model["full_model"],
        "tokenizer": model["tokenizer"], "scenarios": [], "c100": [], "pools": [], "starts": [],
        "first_requests": [],
    }
    with tempfile.TemporaryDirectory() as tmp:  # the model folder as the run built it (config + tokenizer only)
        (Path(tmp) / "no-hub").mkdir()  # the config is what counts; never look in a hub cache for a tokenizer
        model_dir = build_full_size(Path(tmp) / "model", num_experts=experts, hub_cache=Path(tmp) / "no-hub").path
        for call in calls:
            where = f"{call.parent.name}/{call.name}"
            summary = summaries[call]
            workload = summary.get("workload", RANDOM)  # the driver's --workload (older summaries: random)
            flags = {launch["name"]: " ".join(launch["flags"]) or "(defaults)" for launch in summary["launches"]}
            stdout = (call / "bench-stdout.txt").read_text() if (call / "bench-stdout.txt").exists() else ""
            rows = []
            for launch in summary["launches"]:
                if "ready_s" not in launch:
                    continue
                name = launch["name"]
                log_text = _log(call, name)
                options = launch_options(launch["flags"])
                out["starts"].append({"call": where, "launch": name, "order_in_call": launch["order"],
                                      "ready_s": launch["ready_s"], **start_phases(log_text)})
                for row in smoke_full.pools_vs_log(hardware, 1, model_dir, log_text, version, options):
                    out["pools"].append({"call": where, "launch": name, **row})
                for b in summary["bench"]:
                    if b.get("launch") != name:
                        continue
                    if b["scenario"].endswith("warmup"):  # SGLang's client (call 2, 3) or the driver's /generate
                        answered = b.get("completed") or b.get("answered")
                        if answered:
                            seconds = b.get("duration", b.get("duration_s"))
                            out["first_requests"].append({"call": where, "launch": name, "requests": answered,
                                                          "duration_s": round(seconds, 1)})
                    elif b["scenario"].endswith("c100"):
                        seen = last_progress(stdout, b["scenario"])
                        if not seen or not seen["completed"]:  # skipped, or stopped before a request finished
                            continue
                        out["c100"].append({
                            "call": where, "launch": name, "flags": flags[name], "workload": workload,
                            "status": b["status"], **seen, "output_tok_s": b.get("output_throughput"),
                            "mean_tpot_ms": b.get("mean_tpot_ms"),
                            # the c100 window: at least 60 % of what could run (the page's 100, or SGLang's cap)
                            "decode_log": decode_lines(log_text, min_running=int(0.6 * min(
                                100, launch["pools"]["max_running_requests"])))})
                        if workload == RANDOM and not launch["flags"] and b.get("completed") == PAGE_C100_PROMPTS:
                            # the page's third scenario exactly (500 at 100) on SGLang's defaults: a page row
                            rows.append({**_page_row(call, records[call], b, "c100"), "flags": flags[name]})
            for b in summary["bench"]:
                if b["scenario"] in ("c1", "c16") and b.get("completed"):  # the launch's flags go with the row
                    rows.append({**_page_row(call, records[call], b, b["scenario"]), "flags": flags[b["launch"]]})
            rows.sort(key=lambda r: r["max_concurrency"])
            for row, flagged in zip(smoke_full.floor_table(rows, hardware, 1, config), rows):
                out["scenarios"].append({"call": where, "flags": flagged["flags"], **row})
        if "routing" in first:
            routing = first["routing"]
            out["routing"] = {k: routing[k] for k in ("experts", "moe_layers_counted", "min_experts_used",
                                                      "top8_share_min", "top8_share_max", "uniform_top8_share")}
    return out


def _gpu_label(run: dict[str, Any]) -> str:
    """The GPU's name as nvidia-smi gave it, without the vendor (``H100 80GB HBM3``)."""
    return run["gpu"].split(",")[0].replace("NVIDIA ", "")


def _page_row(call: Path, records: list[dict], bench: dict, name: str) -> dict:
    """The client's own record of one finished benchmark (the driver's summary copies its output throughput)."""
    found = [r for r in records if r["max_concurrency"] == bench["max_concurrency"]
             and r["random_output_len"] == bench["output_len"]
             and r.get("output_throughput") == bench.get("output_throughput", r.get("output_throughput"))]
    if len(found) != 1:
        raise ValueError(f"{call}/bench.jsonl has {len(found)} records for {bench['scenario']}, not one")
    rec = found[0]
    return {**row_from_record(rec), "name": name, "max_concurrency": bench["max_concurrency"]}


def flag_gains(run: dict[str, Any]) -> list[dict[str, Any]]:
    """The launch comparisons a run can prove: in one call (one machine), SGLang's defaults and a launch that changed
    one flag, both of whose concurrency-100 benchmarks finished all their prompts (the client's own output tok/s).
    One dict per comparison, in the recommended-flags table's fields (``kimi_cookbook/data/recommended_flags.json``),
    for the call's workload (the driver's ``--workload``: random, or shared-prefix with the table's scenario for it);
    a stopped or partial benchmark proves nothing and gives none."""
    scenarios = {k: v["scenario"] for k, v in workloads().items()}
    gains = []
    what = "" if run["full_model"] else f" ({run['model'].split(' (')[0]}, not the full model)"
    gpu = _gpu_label(run)
    for call in dict.fromkeys(r["call"] for r in run["c100"]):
        rows = [r for r in run["c100"] if r["call"] == call and r["status"] == "done" and r.get("output_tok_s")
                and r["completed"] == r["num_prompts"]]
        base = next((r for r in rows if r["flags"] == "(defaults)"), None)
        if base is None:
            continue
        for row in rows:
            flags = row["flags"].split()
            if row is base or len(flags) not in (1, 2) or not flags[0].startswith("--") or (
                    len(flags) == 2 and flags[1].startswith("--")):
                continue  # one flag (with its value) changed, or it is not a one-variable comparison
            workload = base.get("workload", RANDOM)
            if row["num_prompts"] != base["num_prompts"] or row.get("workload", RANDOM) != workload:
                continue
            scenario = "" if workload == RANDOM else f" of {scenarios[workload]}"
            gains.append({"workload": workload, "flag": flags[0], "value": flags[1] if len(flags) == 2 else None,
                          "metric": "output_token_throughput_tok_s", "sglang_version": run["sglang_version"],
                          "baseline": round(base["output_tok_s"], 1), "tuned": round(row["output_tok_s"], 1),
                          "hardware": f"1x {gpu}{what}, {base['num_prompts']} prompts{scenario} at concurrency 100",
                          "num_prompts": base["num_prompts"], "source_run": f"docs/validation/{call}"})
    return gains


def table_gains(run: dict[str, Any]) -> list[dict[str, Any]]:
    """What goes into the recommended-flags table (one entry per workload and flag, whatever its value): per
    (workload, flag) the comparison with the most prompts (the page's 500 before a 200-prompt one; among equals the
    later call by its dated path), in first-seen order."""
    best: dict[tuple[str, str], dict[str, Any]] = {}
    for gain in flag_gains(run):
        key = (gain["workload"], gain["flag"])
        if key not in best or (gain["num_prompts"], gain["source_run"]) > (best[key]["num_prompts"],
                                                                          best[key]["source_run"]):
            best[key] = gain
    return list(best.values())


def load_full_size_run() -> dict[str, Any]:
    """The committed run (the JSON :func:`derive` made)."""
    return json.loads(resources.files("kimi_cookbook.data").joinpath(DATA_FILE).read_text())


def full_size_tables(run: dict[str, Any] | None = None) -> dict[str, pd.DataFrame]:
    """The committed run as tables: ``scenarios`` (beside the page and the floor, with the launch's flags), ``c100``
    (every concurrency-100 benchmark: defaults and one flag changed), ``pools`` (planner vs log) and ``starts``;
    calls shortened by :func:`_short_call`."""
    import pandas as pd
    run = run or load_full_size_run()
    c100 = pd.DataFrame([{**{k: v for k, v in r.items() if k != "decode_log"},
                          **{f"log_{k}": v for k, v in (r.get("decode_log") or {}).items()}} for r in run["c100"]])
    tables = {"scenarios": pd.DataFrame(run["scenarios"]), "c100": c100, "pools": pd.DataFrame(run["pools"]),
              "starts": pd.DataFrame(run["starts"])}
    for table in tables.values():
        if "call" in table:
            table["call"] = table["call"].map(_short_call)
    return tables


def _short_call(call: str) -> str:
    """A call's folder without the GPU and "-full-size": "2026-12-06-full-size-h100/call1-radix" ->
    "2026-12-06/call1-radix"; another workload's folder keeps its name: "2026-12-06-shared-prefix-h100/call1-radix"
    -> "2026-12-06-shared-prefix/call1-radix"."""
    folder, _, rest = call.partition("/")
    folder = re.sub(r"-full-size$", "", re.sub(r"-[a-z]+\d+[a-z]*$", "", folder))
    return f"{folder}/{rest}"


def plot_full_size_run(run: dict[str, Any] | None = None):
    """Time per output token in each of the page's scenarios the run finished: this run, the page (4x MI300X) and
    the planner's floor."""
    import matplotlib.pyplot as plt

    run = run or load_full_size_run()
    rows = run["scenarios"]
    gpu = _gpu_label(run)
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    width = 0.27
    xs = range(len(rows))
    series = (("mean_tpot_ms", f"measured ({gpu})"), ("page_mean_tpot_ms", "page (4x MI300X)"),
              ("floor_tpot_ms", f"planner's floor ({gpu})"))
    for i, (key, label) in enumerate(series):
        values = [float("nan") if r.get(key) is None else r[key] for r in rows]  # a missing value: no bar
        bars = ax.bar([x + (i - 1) * width for x in xs], values, width, label=label)
        ax.bar_label(bars, labels=["" if v != v else f"{v:.1f}" for v in values], fontsize=8)
    ax.margins(y=0.12)  # room for the tallest bar's label
    ax.set_xticks(list(xs), [f"concurrency {r['max_concurrency']}" for r in rows])
    ax.set_ylabel("mean time per output token (ms)")
    what = "the full model" if run["full_model"] else "fewer experts, not the full model"
    ax.set_title(f"Kimi-Linear-48B-A3B, random weights ({what})\nlower is faster", fontsize=10)
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def plot_flag_gains(run: dict[str, Any] | None = None):
    """Output tokens/s at concurrency 100: SGLang's defaults beside the one flag changed, per comparison
    (:func:`flag_gains`: one call, both finished, same prompts); the flag's gain over the defaults on each bar."""
    import matplotlib.pyplot as plt

    run = run or load_full_size_run()
    gains = flag_gains(run)
    if not gains:
        raise ValueError("the run has no finished defaults-vs-one-flag comparison at concurrency 100")
    gpu = _gpu_label(run)
    fig, ax = plt.subplots(figsize=(7.5, 0.55 * len(gains) + 1.6))
    labels = [f"{g['flag']}{'' if g['value'] is None else ' ' + g['value']}\n({g['num_prompts']} prompts, "
              f"{g['source_run'].rsplit('/', 1)[-1]})" for g in gains]
    ys = range(len(gains))
    ax.barh([y + 0.2 for y in ys], [g["baseline"] for g in gains], 0.4, label="SGLang's defaults", color="#999999")
    bars = ax.barh([y - 0.2 for y in ys], [g["tuned"] for g in gains], 0.4, label="the flag changed",
                   color=["#2a7" if g["tuned"] > g["baseline"] else "#c44" for g in gains])
    ax.bar_label(bars, labels=[f"{g['tuned'] / g['baseline'] - 1:+.1%}" for g in gains], fontsize=8, padding=3)
    ax.set_yticks(list(ys), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("output tokens/s at concurrency 100 (higher is better)")
    what = "the full model" if run["full_model"] else "fewer experts, not the full model"
    ax.set_title(f"One flag against SGLang's defaults, each pair in one call\n1x {gpu} ({what})", fontsize=10)
    ax.set_xlim(0, max(max(g["tuned"], g["baseline"]) for g in gains) * 1.18)
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    fig.tight_layout()
    return fig
