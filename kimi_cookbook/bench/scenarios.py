"""What a speed benchmark runs: scenarios (one run of SGLang's client each) and named presets of them.

Lengths follow SGLang 0.5.7's ``bench_serving``: ``--random-range-ratio`` defaults to 0.0 and lengths are
drawn uniformly from ``[max(int(L * ratio), 1), L]``, so the page's "input 1000 / output 1000" means lengths
*up to* 1000 (its 10 prompts had 6101 input tokens in all). The ``page`` presets keep 0.0 to be comparable
with the page; 1.0 gives exact lengths. ``--dataset-name random`` samples ShareGPT text (downloaded unless
``--dataset-path`` names a local JSON); ``random-ids`` draws token ids and needs no download.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd

__all__ = ["CLIENT_BACKENDS", "DATASETS", "PRESETS", "Scenario", "preset", "scenario_table", "scenarios_of"]

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
        """The client's flags for this scenario."""
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
        """The fields as a flat dict (``extra_args`` joined by spaces): a table row."""
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


def scenarios_of(scenarios: Iterable[Scenario] | str) -> list[Scenario]:
    """A preset name or Scenario objects as a list."""
    return list(preset(scenarios) if isinstance(scenarios, str) else scenarios)


def scenario_table(scenarios: Iterable[Scenario] | str) -> pd.DataFrame:
    """Scenarios (or a preset name) as a DataFrame, one row each."""
    return pd.DataFrame([s.as_dict() for s in scenarios_of(scenarios)])
