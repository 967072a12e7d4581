"""A run beside the page: ratios per metric at matching concurrency, the GSM8K gap, and a plot."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from kimi_cookbook.bench.reference import load_reference, load_reference_gsm8k
from kimi_cookbook.bench.results import load_results

__all__ = ["COMPARE_METRICS", "compare", "compare_gsm8k", "plot_vs_concurrency"]

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
    import matplotlib.pyplot as plt  # lazy: pyplot is slow to import and only the plot needs it

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
