"""What a cookbook run measured, for its summary: the benchmark beside the page's MI300X numbers, GSM8K beside
the page's accuracy, the capacity headline and the plots.

``kimi-cookbook demo`` runs the notebooks into a run folder; the benchmark notebooks put their results folders
under ``RUN/results`` (``bench-*`` with the rows :func:`kimi_cookbook.bench.run_scenario` saved, ``gsm8k-*``
with ``gsm8k.json`` from :func:`kimi_cookbook.bench.run_gsm8k_harness` or :func:`kimi_cookbook.bench.score_gsm8k`).
:func:`gather` finds them, :func:`sections` turns them into markdown and HTML for ``summary.md`` /
``summary.html`` (the demo hands it to :func:`kimi_cookbook.runner.write_summary`).
Every number shown is read from those files, the page's reference or the capacity planner.
"""

from __future__ import annotations

import ast
import html
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kimi_cookbook.versions import PAGE_VERSION

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["BENCH_METRICS", "RunResults", "benchmark_table", "capacity_headline", "gather", "gsm8k_line",
           "md_cell", "notebook_defaults", "sections"]

BENCH_METRICS = {
    "output_token_throughput_tok_s": "output throughput (tok/s)",
    "mean_ttft_ms": "mean TTFT (ms)",
    "mean_tpot_ms": "mean TPOT (ms)",
    "mean_e2e_latency_ms": "mean end-to-end latency (ms)",
}
"""The metrics the summary sets beside the page's, with their labels."""

CAPACITY_DEFAULTS = {"HARDWARE": "mi300x", "TP": 4, "CONTEXT": 131072}
"""Notebook 07's parameters when the run has no copy of it (the summary uses the run's copy's defaults)."""


@dataclass
class RunResults:
    """The newest benchmark and GSM8K results of a run folder (``None`` where a notebook did not produce one)."""

    bench_dir: Path | None = None
    bench: pd.DataFrame | None = None
    manifest: dict[str, Any] = field(default_factory=dict)
    gsm8k_dir: Path | None = None
    gsm8k: dict[str, Any] | None = None


def _newest(folder: Path, pattern: str, wanted: str) -> Path | None:
    found = sorted(folder.glob(pattern + "/" + wanted), key=lambda p: p.stat().st_mtime)
    return found[-1].parent if found else None


def gather(run_dir: str | os.PathLike) -> RunResults:
    """The newest ``bench-*`` folder with rows and the newest ``gsm8k-*`` folder with ``gsm8k.json`` under
    ``run_dir/results``."""
    from kimi_cookbook.bench import load_results

    results = Path(run_dir) / "results"
    out = RunResults()
    if not results.is_dir():
        return out
    out.bench_dir = _newest(results, "bench-*", "results.jsonl")
    if out.bench_dir is not None:
        out.bench = load_results(out.bench_dir)
        manifest = out.bench_dir / "manifest.json"
        out.manifest = json.loads(manifest.read_text(encoding="utf-8")) if manifest.is_file() else {}
    out.gsm8k_dir = _newest(results, "gsm8k-*", "gsm8k.json")
    if out.gsm8k_dir is not None:
        out.gsm8k = json.loads((out.gsm8k_dir / "gsm8k.json").read_text(encoding="utf-8"))
    return out


def benchmark_table(run: pd.DataFrame, reference: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per (page scenario, metric): the page's value and this run's at the same max concurrency
    (empty where the run had no scenario at that concurrency)."""
    import pandas as pd

    from kimi_cookbook.bench import load_reference

    reference = load_reference() if reference is None else reference
    rows = []
    for _, ref in reference.iterrows():
        c = int(ref["max_concurrency"])
        match = run[run["max_concurrency"] == c] if "max_concurrency" in run else run.iloc[0:0]
        mine = match.iloc[-1] if len(match) else None
        for metric, label in BENCH_METRICS.items():
            value = None if mine is None else mine.get(metric)
            rows.append({
                "concurrency": c,
                "metric": label,
                f"page ({ref['hardware']}, TP {ref['tp']})": ref[metric],
                "this run": None if value is None or pd.isna(value) else round(float(value), 2),
                "prompts (page / this run)": f"{int(ref['num_prompts'])} / "
                                             + ("-" if mine is None else str(int(mine["num_prompts"]))),
            })
    return pd.DataFrame(rows)


def _comparable(manifest: dict[str, Any]) -> bool:
    """False for the embedded tiny model (the default on a laptop or in CI): a path check, not a measurement."""
    from kimi_cookbook.tiny_model import TINY_MODEL_NAME

    return bool(manifest) and manifest.get("model") != TINY_MODEL_NAME


def gsm8k_line(result: dict[str, Any]) -> str:
    """GSM8K beside the page's accuracy, with what was run."""
    from kimi_cookbook.bench import load_reference_gsm8k

    ref = load_reference_gsm8k()
    lo, hi = ref["nvidia_range"]
    line = (f"GSM8K accuracy {result['result']['accuracy']:.3f} on {result['num_questions']} question(s) "
            f"({result['method']}) beside the page's {ref['accuracy']:.3f} ({ref['num_questions']} questions, "
            f"{ref['hardware']}, TP {ref['tp']}, SGLang {ref['sglang_version']}; NVIDIA runs of the same harness "
            f"see {lo:.2f}-{hi:.2f}).")
    if result["method"] == "openai-sample":
        line += (f" Not comparable: {result['reason']}.")
    return line


def notebook_defaults(folder: str | os.PathLike, name: str, fallback: dict[str, Any]) -> dict[str, Any]:
    """The defaults of the parameters named in ``fallback`` from the notebook ``folder/name*.ipynb`` (a run folder
    holds the executed copies), else ``fallback``."""
    from kimi_cookbook.runner import notebook_parameters

    try:
        found = notebook_parameters(next(Path(folder).glob(f"{name}*.ipynb")))
        return {k: ast.literal_eval(found[k]) if k in found else v for k, v in fallback.items()}
    except Exception:  # not in the run, renamed or unreadable: the documented defaults
        return dict(fallback)


def capacity_headline(hardware: str | None = None, tp: int | None = None, context: int | None = None) -> str:
    """Notebook 07's answer for a setup (default: its documented defaults), in one sentence."""
    from kimi_cookbook import capacity

    d = CAPACITY_DEFAULTS
    p = capacity.plan(hardware or d["HARDWARE"], tp or d["TP"], context or d["CONTEXT"])
    label = capacity.GPUS[p.hardware].label
    return (f"On {p.tp} x {label} at {p.context:,} tokens per request, {p.max_concurrent_requests} requests fit "
            f"in memory ({p.full_attention_max_concurrent_requests} for a full-MLA model of the same size; "
            f"SGLang {PAGE_VERSION}'s default state pool runs {p.sglang_default_max_concurrent_requests}); the decode "
            f"floor at batch 1 is {p.tpot_floor_ms:.3f} ms per token.")


def _plots(found: RunResults, run_dir: Path) -> list[tuple[str, str]]:
    """(file name, caption) of the plots, drawn into ``run_dir`` when missing or older than their data."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from kimi_cookbook import bench, capacity

    plots = []
    if found.bench is not None:
        png = run_dir / "speed.png"
        source = found.bench_dir / "results.jsonl"
        if not png.exists() or png.stat().st_mtime < source.stat().st_mtime:
            fig = bench.plot_vs_concurrency(found.bench, run_label=f"this run ({found.manifest.get('model')})")
            fig.savefig(png, dpi=80, bbox_inches="tight")
            plt.close(fig)
        plots.append((png.name, "Speed: this run and the page's MI300X runs against max concurrency"))
    png = run_dir / "capacity.png"
    if not png.exists():
        setups = [(g.id, g.default_tp) for g in capacity.GPUS.values()]
        ax = capacity.plot_max_concurrency(setups)
        ax.figure.savefig(png, dpi=80, bbox_inches="tight")
        plt.close(ax.figure)
    plots.append((png.name, "Capacity: requests that fit against context, each GPU at its default tp"))
    return plots


def md_cell(value) -> str:
    """``value`` as the text of one markdown table cell, whatever it holds (a server's answer may hold anything):
    ``|`` escaped, line breaks as spaces, ``<``/``>``/``&`` as HTML entities (no markup gets through), long text
    cut at 300 characters."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    text = " ".join(str(value).split())
    text = html.escape(text, quote=False).replace("\\", "\\\\").replace("|", "\\|").replace("`", "\\`")
    return text if len(text) <= 300 else text[:299] + "…"


def _md_table(frame: pd.DataFrame) -> list[str]:
    lines = ["| " + " | ".join(md_cell(c) for c in frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(md_cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return lines


def sections(run_dir: str | os.PathLike) -> tuple[list[str], str]:
    """The summary's result sections: markdown lines and the same as HTML."""
    run_dir = Path(run_dir)
    found = gather(run_dir)
    md: list[str] = []
    parts: list[str] = []

    md += ["", "## Speed: SGLang's bench_serving beside the page", ""]
    parts.append("<h2>Speed: SGLang's bench_serving beside the page</h2>")
    if found.bench is None:
        text = "No benchmark results in this run (notebook 05 did not run or finished no scenario)."
        md.append(text)
        parts.append(f"<p>{html.escape(text)}</p>")
    else:
        table = benchmark_table(found.bench)
        m = found.manifest

        def where(esc) -> str:  # the model name and URL come from the server: escaped, never markup
            return (f"Results folder {esc(found.bench_dir.relative_to(run_dir))}; server model {esc(m.get('model'))} "
                    f"at {esc(m.get('base_url'))}, client backend {esc(m.get('backend'))}, dataset "
                    f"{esc(m.get('dataset_name'))}.")
        caveat = ("" if _comparable(found.manifest) else
                  " This run served the tiny embedded model on CPU: it shows the benchmark path works end to end; "
                  "its numbers say nothing about Kimi-Linear's speed. To measure it, run `kimi-cookbook bench "
                  "--base-url URL --preset page` against SGLang serving the model (or notebook 05 with "
                  "`PRESET = \"page\"`).")
        md += [where(md_cell) + caveat, ""] + _md_table(table)
        parts.append(f"<p>{html.escape(where(str) + caveat)}</p>" + table.to_html(index=False, na_rep=""))

    md += ["", "## Accuracy: GSM8K beside the page", ""]
    parts.append("<h2>Accuracy: GSM8K beside the page</h2>")
    if found.gsm8k is None:
        text = "No GSM8K result in this run (notebook 06 did not run or did not finish)."
    else:
        text = gsm8k_line(found.gsm8k)
    md.append(text)
    parts.append(f"<p>{html.escape(text)}</p>")

    md += ["", "## Capacity", ""]
    parts.append("<h2>Capacity</h2>")
    try:
        d = notebook_defaults(run_dir, "07_", CAPACITY_DEFAULTS)
        text = (capacity_headline(d["HARDWARE"], d["TP"], d["CONTEXT"])
                + " (notebook 07's defaults; see it for every GPU.)")
    except ValueError as exc:
        text = f"capacity plan failed: {exc}"
    md.append(text)
    parts.append(f"<p>{html.escape(text)}</p>")

    md += ["", "## Plots", ""]
    parts.append("<h2>Plots</h2>")
    for name, caption in _plots(found, run_dir):
        md += [f"![{caption}]({name})", ""]
        parts.append(f"<figure><img src='{html.escape(name)}' alt='{html.escape(caption)}'>"
                     f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    return md, "\n".join(parts)
