"""Capacity planning for Kimi-Linear on SGLang: what fits where, and how close a run is to the hardware floor.

Arithmetic on the model's ``config.json`` (:mod:`.config`) and the GPU catalog (:mod:`kimi_cookbook.hardware`);
nothing needs a GPU. :mod:`.sizes` counts bytes (MLA cache per token, KDA state per sequence, weights),
:mod:`.memory` splits a GPU's memory the way SGLang 0.5.7 does, :mod:`.roofline` bounds a decode step, and
:mod:`.plan` puts them together for one setup; :mod:`.plots` draws them. The names below are the public API.
"""

from kimi_cookbook.capacity.config import KimiLinearConfig, as_config, check_context, check_tp, load_model_config
from kimi_cookbook.capacity.dtypes import (
    CONV_DTYPES,
    DEFAULT_CONV_DTYPE,
    DEFAULT_KV_DTYPE,
    DEFAULT_STATE_DTYPE,
    DEFAULT_STATE_SLOTS,
    DEFAULT_WEIGHT_DTYPE,
    KV_DTYPES,
    SGLANG_DEFAULT_STATE_POOL,
    STATE_DTYPES,
    WEIGHT_DTYPES,
    canonical_dtype,
    dtype_bytes,
)
from kimi_cookbook.capacity.memory import crossover_context, max_requests, sglang_reserved_bytes
from kimi_cookbook.capacity.plan import (
    GIB,
    Plan,
    concurrency_curve,
    decoding_speedup,
    format_plan,
    hardware_table,
    plan,
    request_memory_table,
)
from kimi_cookbook.capacity.plots import context_grid, plot_max_concurrency, plot_memory_per_request
from kimi_cookbook.capacity.roofline import decode_step, expected_distinct_experts, page_roofline
from kimi_cookbook.capacity.sizes import (
    activated_parameters,
    full_mla_kv_bytes_per_token,
    kda_state_bytes_per_sequence,
    mla_kv_bytes_per_token,
    parameter_counts,
    total_parameters,
    weight_bytes,
    weight_group_bytes,
)
from kimi_cookbook.hardware import GPUS

__all__ = [
    "CONV_DTYPES",
    "DEFAULT_CONV_DTYPE",
    "DEFAULT_KV_DTYPE",
    "DEFAULT_STATE_DTYPE",
    "DEFAULT_STATE_SLOTS",
    "DEFAULT_WEIGHT_DTYPE",
    "GIB",
    "GPUS",
    "KV_DTYPES",
    "SGLANG_DEFAULT_STATE_POOL",
    "STATE_DTYPES",
    "WEIGHT_DTYPES",
    "KimiLinearConfig",
    "Plan",
    "activated_parameters",
    "as_config",
    "canonical_dtype",
    "check_context",
    "check_tp",
    "concurrency_curve",
    "context_grid",
    "crossover_context",
    "decode_step",
    "decoding_speedup",
    "dtype_bytes",
    "expected_distinct_experts",
    "format_plan",
    "full_mla_kv_bytes_per_token",
    "hardware_table",
    "kda_state_bytes_per_sequence",
    "load_model_config",
    "max_requests",
    "mla_kv_bytes_per_token",
    "page_roofline",
    "parameter_counts",
    "plan",
    "request_memory_table",
    "plot_max_concurrency",
    "plot_memory_per_request",
    "sglang_reserved_bytes",
    "total_parameters",
    "weight_bytes",
    "weight_group_bytes",
]
