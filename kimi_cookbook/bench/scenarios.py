"""What a speed benchmark runs: scenarios (one run of SGLang's client each) and named presets of them.

Lengths follow SGLang 0.5.7's ``bench_serving``: ``--random-range-ratio`` defaults to 0.0 and lengths are
drawn uniformly from ``[max(int(L * ratio), 1), L]``, so the page's "input 1000 / output 1000" means lengths
*up to* 1000 (its 10 prompts had 6101 input tokens in all). The ``page`` presets keep 0.0 to be comparable
with the page; 1.0 gives exact lengths. ``--dataset-name random`` samples ShareGPT text (downloaded unless
``--dataset-path`` names a local JSON); ``random-ids`` draws token ids and needs no download.

Two workloads beyond the page, each with a CPU toy-size twin the tests run against the embedded server:

- **shared system prompt** (``shared-prefix``): SGLang's own ``generated-shared-prefix`` dataset of its client
  (``--gsp-num-groups`` groups of ``--gsp-prompts-per-group`` prompts; each prompt is its group's system prompt of
  ``--gsp-system-prompt-len`` tokens, then a question of ``--gsp-question-len`` tokens; ``--gsp-output-len`` out).
  Prompts are random token ids of the client's ``--tokenizer`` turned into text, so a local tokenizer folder is
  enough (no download). What prefix caching buys Kimi-Linear (SGLang 0.5.16: on by default) shows here.
- **long context** (``long-context``): 32K and 128K-token inputs with short outputs (the hybrid's reason to exist:
  a fixed KDA state instead of a growing cache in 3 of 4 layers), exact lengths (range ratio 1.0).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


__all__ = ["CLIENT_BACKENDS", "DATASETS", "PRESETS", "SHARED_PREFIX", "Scenario", "preset", "scenario_table",
           "scenarios_of"]

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
SHARED_PREFIX = "generated-shared-prefix"  # SGLang's client dataset: groups of prompts sharing a system prompt
MAX_PROMPTS = 100_000
MAX_LEN = 1_000_000


@dataclass(frozen=True)
class Scenario:
    """One run of the benchmark client. ``request_rate`` is requests/s or ``inf`` (all at once).

    With ``prefix_len`` > 0 the scenario uses SGLang's ``generated-shared-prefix`` dataset whatever the run's
    dataset: ``prefix_groups`` groups of ``num_prompts / prefix_groups`` prompts, each a shared system prompt of
    ``prefix_len`` tokens and a question of ``input_len`` tokens, ``output_len`` tokens out."""

    name: str
    num_prompts: int
    max_concurrency: int
    input_len: int = 1000
    output_len: int = 1000
    request_rate: float = math.inf
    range_ratio: float = 0.0
    extra_args: tuple[str, ...] = ()
    prefix_len: int = 0
    prefix_groups: int = 1

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
        for key, low, high in (("prefix_len", 0, MAX_LEN), ("prefix_groups", 1, MAX_PROMPTS)):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"{key} must be an integer in [{low}, {high}], got {value!r}")
        if self.prefix_len and self.num_prompts % self.prefix_groups:
            raise ValueError(f"num_prompts ({self.num_prompts}) must be a multiple of prefix_groups "
                             f"({self.prefix_groups}): every group gets the same number of prompts")

    @property
    def dataset(self) -> str | None:
        """The dataset this scenario needs whatever the run's (``generated-shared-prefix``), else None."""
        return SHARED_PREFIX if self.prefix_len else None

    def client_args(self) -> list[str]:
        """The client's flags for this scenario."""
        rate = "inf" if math.isinf(float(self.request_rate)) else repr(float(self.request_rate))
        if self.prefix_len:
            return [
                "--num-prompts", str(self.num_prompts),  # the client makes groups x prompts-per-group prompts
                "--max-concurrency", str(self.max_concurrency),
                "--gsp-num-groups", str(self.prefix_groups),
                "--gsp-prompts-per-group", str(self.num_prompts // self.prefix_groups),
                "--gsp-system-prompt-len", str(self.prefix_len),
                "--gsp-question-len", str(self.input_len),
                "--gsp-output-len", str(self.output_len),
                "--gsp-range-ratio", repr(float(self.range_ratio)),
                "--request-rate", rate,
                *self.extra_args,
            ]
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


def _shared(name: str, groups: int, per_group: int, c: int, prefix: int, question: int, out: int) -> Scenario:
    # range ratio 1.0: exact lengths, the client's own default for this dataset
    return Scenario(name, num_prompts=groups * per_group, max_concurrency=c, input_len=question, output_len=out,
                    range_ratio=1.0, prefix_len=prefix, prefix_groups=groups)


def _long(name: str, n: int, c: int, in_len: int, out: int) -> Scenario:
    return Scenario(name, num_prompts=n, max_concurrency=c, input_len=in_len, output_len=out, range_ratio=1.0)


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
    # A shared system prompt: SGLang's client defaults for the lengths (system prompt 2048, question 128, output
    # 256 tokens), 16 prompts per group, at the page's concurrencies 16 and 100.
    "shared-prefix": (
        _shared("prefix-c16", 8, 16, 16, 2048, 128, 256),
        _shared("prefix-c100", 32, 16, 100, 2048, 128, 256),
    ),
    # Long inputs, short answers: 32K and 128K tokens in, 256 out, one at a time and 8 at once (32K).
    "long-context": (
        _long("long-32k-c1", 4, 1, 32768, 256),
        _long("long-32k-c8", 16, 8, 32768, 256),
        _long("long-128k-c1", 2, 1, 131072, 256),
    ),
    # CPU toy sizes of the two (the embedded tiny model serves 4,096 tokens of context).
    "shared-prefix-tiny": (_shared("prefix-tiny-c4", 2, 4, 4, 256, 32, 16),),
    "long-context-tiny": (_long("long-tiny-c1", 2, 1, 2048, 16),),
}


def preset(name: str) -> tuple[Scenario, ...]:
    """The scenarios of a preset: ``page`` (the page's three), ``sweep`` (concurrency sweep), ``tiny`` (CI),
    ``shared-prefix`` and ``long-context`` (the workloads beyond the page) and their CPU ``-tiny`` twins."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; allowed: {', '.join(PRESETS)}") from None


def scenarios_of(scenarios: Iterable[Scenario] | str) -> list[Scenario]:
    """A preset name or Scenario objects as a list."""
    return list(preset(scenarios) if isinstance(scenarios, str) else scenarios)


def scenario_table(scenarios: Iterable[Scenario] | str) -> pd.DataFrame:
    """Scenarios (or a preset name) as a DataFrame, one row each (the shared-prefix columns only when one has a
    shared prefix)."""
    import pandas as pd
    chosen = scenarios_of(scenarios)
    table = pd.DataFrame([s.as_dict() for s in chosen])
    if not any(s.prefix_len for s in chosen):
        table = table.drop(columns=["prefix_len", "prefix_groups"])
    return table
