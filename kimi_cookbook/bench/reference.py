"""The page's published numbers: its three MI300X speed runs and its GSM8K result, in one place.

They ship as ``kimi_cookbook/data/reference_mi300x.json`` holding the page's printed output verbatim; every
number is parsed from that text here, and the benchmark comparison and the capacity planner's roofline
both read them from this module.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import TYPE_CHECKING, Any

from kimi_cookbook.bench.parse import parse_bench_serving, parse_gsm8k

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["REFERENCE_COLUMNS", "load_reference", "load_reference_gsm8k", "page_speed_runs", "reference_data"]

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


@functools.cache
def _data_text() -> str:
    return resources.files("kimi_cookbook").joinpath("data/reference_mi300x.json").read_text(encoding="utf-8")


def reference_data() -> dict[str, Any]:
    """The reference file as a dict (a fresh copy): hardware, tp, SGLang version, commands, printed outputs."""
    return json.loads(_data_text())


def page_speed_runs() -> list[dict[str, Any]]:
    """The page's speed runs, one dict each: ``scenario``, ``num_prompts``, ``max_concurrency``,
    ``input_len``, ``output_len``, ``range_ratio``, then every value of its printed block."""
    rows = []
    for item in reference_data()["speed"]:
        row = {k: item[k] for k in ("scenario", "num_prompts", "max_concurrency", "input_len", "output_len",
                                    "range_ratio")}
        row.update(parse_bench_serving(item["output"]))
        rows.append(row)
    return rows


def load_reference() -> pd.DataFrame:
    """The page's speed runs (AMD MI300X, TP 4, SGLang 0.5.7) as a DataFrame: :func:`page_speed_runs` plus
    ``hardware``, ``tp`` and ``sglang_version`` columns."""
    import pandas as pd
    ref = reference_data()
    rows = [
        {**run, "hardware": ref["hardware"], "tp": ref["tp"], "sglang_version": ref["sglang_version"]}
        for run in page_speed_runs()
    ]
    return pd.DataFrame(rows)


def load_reference_gsm8k() -> dict[str, Any]:
    """The page's GSM8K result: parsed values plus ``num_questions``, ``hardware``, ``tp``, ``command``, and
    ``nvidia_range`` (what NVIDIA runs of the same harness see, per SGLang's CI)."""
    ref = reference_data()
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
