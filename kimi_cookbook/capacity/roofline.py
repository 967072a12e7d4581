"""Decode roofline: lower bounds on one decode step from bytes moved and FLOPs, per GPU.

Memory floor = bytes one GPU must read / its peak bandwidth (tensor-parallel ranks run in lockstep, so a step
takes as long as one rank); compute floor = FLOPs / peak dense FLOPS of the weight dtype. Measured runs (the
page's, by default) are set against it.
"""

from __future__ import annotations

from typing import Any

from kimi_cookbook.bench.reference import page_speed_runs
from kimi_cookbook.capacity.config import as_config, check_context, check_tp
from kimi_cookbook.capacity.dtypes import (
    DEFAULT_CONV_DTYPE,
    DEFAULT_KV_DTYPE,
    DEFAULT_STATE_DTYPE,
    DEFAULT_WEIGHT_DTYPE,
    WEIGHT_DTYPES,
    canonical_dtype,
)
from kimi_cookbook.capacity.sizes import (
    activated_parameters,
    full_mla_kv_bytes_per_token,
    kda_state_bytes_per_sequence,
    mla_kv_bytes_per_token,
    weight_group_bytes,
)
from kimi_cookbook.hardware import GPU, get_gpu

__all__ = ["decode_step", "expected_distinct_experts", "page_roofline"]


def expected_distinct_experts(num_experts: int, top_k: int, batch: float) -> float:
    """Experts a MoE layer touches for ``batch`` tokens routed independently and uniformly."""
    if batch <= 0:
        return 0.0
    return num_experts * (1.0 - (1.0 - top_k / num_experts) ** batch)


def _weight_bytes_read(cfg, weight_dtype: str, tp: int, batch: int) -> tuple[float, float]:
    """(weight bytes one GPU reads per step, distinct experts per MoE layer): its shards with only the experts
    the batch routes to, the replicated modules, and one embedding row per sequence."""
    b = weight_group_bytes(cfg, weight_dtype)
    n_moe = cfg.num_moe_layers
    per_expert = b["routed_experts"] / (cfg.num_experts * max(n_moe, 1))
    distinct = expected_distinct_experts(cfg.num_experts, cfg.num_experts_per_token, batch)
    emb_rows = batch * cfg.hidden_size * 2 / tp
    read = ((b["sharded_linear"] + b["lm_head"] + b["fp32"] + n_moe * distinct * per_expert) / tp
            + b["replicated_linear"] + b["replicated_bf16"] + emb_rows)
    return read, distinct


def _flops(cfg, batch: int, context: int, full_mla: bool) -> float:
    """FLOPs of one decode step for the whole model: matmuls over the activated weights plus attention."""
    matmul = 2 * activated_parameters(cfg) * batch
    lat = cfg.kv_lora_rank + cfg.qk_rope_head_dim
    n_mla = cfg.num_hidden_layers if full_mla else cfg.num_mla_layers
    # absorbed MLA decode: scores over (kv_lora_rank + rope) and values over kv_lora_rank, per head
    attn = n_mla * batch * 2 * cfg.num_attention_heads * context * (lat + cfg.kv_lora_rank)
    if not full_mla:
        h, d = cfg.kda_num_heads, cfg.kda_head_dim
        attn += cfg.num_kda_layers * batch * 8 * h * d * d  # gated delta-rule update + readout
    return matmul + attn


def decode_step(
    gpu: GPU | str,
    tp: int,
    batch: int,
    context: int,
    *,
    config=None,
    kv_dtype: str = DEFAULT_KV_DTYPE,
    state_dtype: str = DEFAULT_STATE_DTYPE,
    conv_dtype: str = DEFAULT_CONV_DTYPE,
    weight_dtype: str = DEFAULT_WEIGHT_DTYPE,
    full_mla: bool = False,
) -> dict[str, float]:
    """Lower bounds on one decode step (one token for each of ``batch`` sequences at ``context``).

    Memory floor = bytes one GPU must read / its peak bandwidth (ranks run in lockstep, so the step
    takes as long as one rank): its weight shards (only the experts the batch routes to), the whole MLA
    cache of every sequence (replicated), and its share of every KDA state, read and written once.
    Compute floor = matmul FLOPs (2 x activated weights x batch, experts at the distinct-expert count do
    not change FLOPs) + attention FLOPs, split over tp, / peak dense FLOPS of the weight dtype.
    """
    g = get_gpu(gpu) if isinstance(gpu, str) else gpu
    cfg = as_config(config)
    check_tp(cfg, tp)
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch!r}")
    check_context(cfg, context)
    weights_read, distinct = _weight_bytes_read(cfg, weight_dtype, tp, batch)
    if full_mla:
        kv_tok = full_mla_kv_bytes_per_token(cfg, kv_dtype)
        state = 0
    else:
        kv_tok = mla_kv_bytes_per_token(cfg, kv_dtype)
        state = kda_state_bytes_per_sequence(cfg, state_dtype, conv_dtype, tp)["total"]
    kv_read = batch * context * kv_tok
    state_rw = batch * 2 * state
    bytes_gpu = weights_read + kv_read + state_rw
    mem_s = bytes_gpu / (g.bandwidth_tbs * 1e12)
    flops_gpu = _flops(cfg, batch, context, full_mla) / tp
    w = canonical_dtype(weight_dtype, WEIGHT_DTYPES, "weight dtype")
    peak = (g.fp8_tflops if w.startswith("fp8") else g.bf16_tflops) * 1e12
    comp_s = flops_gpu / peak
    return {
        "bytes_per_gpu": bytes_gpu,
        "weight_bytes_per_gpu": weights_read,
        "kv_bytes_per_gpu": kv_read,
        "state_bytes_per_gpu": state_rw,
        "flops_per_gpu": flops_gpu,
        "distinct_experts_per_layer": distinct,
        "memory_floor_ms": mem_s * 1e3,
        "compute_floor_ms": comp_s * 1e3,
        "tpot_floor_ms": max(mem_s, comp_s) * 1e3,
    }


def page_roofline(hardware: str = "mi300x", tp: int = 4, *, config=None, weight_dtype: str = DEFAULT_WEIGHT_DTYPE,
                  kv_dtype: str = DEFAULT_KV_DTYPE, state_dtype: str = DEFAULT_STATE_DTYPE,
                  runs=None) -> list[dict[str, Any]]:
    """Measured runs against the floor (default: the page's, from :mod:`kimi_cookbook.bench.reference`).

    Each run is a dict with the benchmark block's keys (``concurrency``, ``total_input_tokens``,
    ``total_generated_tokens``, ``mean_tpot_ms``) plus ``scenario``, ``num_prompts`` and ``max_concurrency``.
    Batch = the run's mean concurrency (rounded); context = mean input length + half the mean output length
    (the average context while decoding).
    """
    rows = []
    for r in page_speed_runs() if runs is None else runs:
        batch = max(1, round(r["concurrency"]))
        mean_in = r["total_input_tokens"] / r["num_prompts"]
        mean_out = r["total_generated_tokens"] / r["num_prompts"]
        context = round(mean_in + mean_out / 2)
        step = decode_step(hardware, tp, batch, context, config=config, weight_dtype=weight_dtype,
                           kv_dtype=kv_dtype, state_dtype=state_dtype)
        rows.append({
            "run": r["scenario"],
            "max_concurrency": r["max_concurrency"],
            "batch": batch,
            "context": context,
            "memory_floor_ms": step["memory_floor_ms"],
            "compute_floor_ms": step["compute_floor_ms"],
            "tpot_floor_ms": step["tpot_floor_ms"],
            "measured_tpot_ms": r["mean_tpot_ms"],
            "fraction_of_floor": step["tpot_floor_ms"] / r["mean_tpot_ms"],
            "distinct_experts_per_layer": step["distinct_experts_per_layer"],
        })
    return rows
