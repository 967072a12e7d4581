"""Bytes per token, per sequence and per model: MLA cache, KDA state, parameters and weights.

Arithmetic on the config, following SGLang 0.5.7's storage (``sglang/srt``). MLA layers keep a paged latent
cache of ``kv_lora_rank + qk_rope_head_dim`` values per token per layer; the latent is shared by all heads,
so with tensor parallelism every rank keeps the *whole* cache. KDA layers keep a fixed-size state per
sequence (``KimiLinearStateShape``): a recurrent state ``(heads/tp, d, d)`` and three short-conv states of
``(kernel-1, heads*d/tp)``, sharded by heads. Weights: linear layers in the weight dtype; embeddings,
lm_head, norms and the router stay bf16 and the tiny conv1d / A_log / dt_bias parameters float32 either way
(quantization scales, < 0.1 %, are ignored). Figures are logical (one copy) unless named per GPU.
"""

from __future__ import annotations

import math

from kimi_cookbook.capacity.config import KimiLinearConfig, as_config, check_tp
from kimi_cookbook.capacity.dtypes import (
    CONV_DTYPES,
    DEFAULT_CONV_DTYPE,
    DEFAULT_KV_DTYPE,
    DEFAULT_STATE_DTYPE,
    DEFAULT_WEIGHT_DTYPE,
    DTYPE_BYTES,
    KV_DTYPES,
    STATE_DTYPES,
    WEIGHT_DTYPES,
    canonical_dtype,
)

__all__ = [
    "activated_parameters", "full_mla_kv_bytes_per_token", "kda_state_bytes_per_sequence", "mla_kv_bytes_per_token",
    "parameter_counts", "total_parameters", "weight_bytes", "weight_group_bytes",
]


def mla_kv_bytes_per_token(config=None, kv_dtype: str = DEFAULT_KV_DTYPE, num_layers: int | None = None) -> int:
    """MLA cache bytes per token: (kv_lora_rank + qk_rope_head_dim) x MLA layers x dtype.

    One token's logical size; SGLang replicates it on every tp rank (per-GPU = this value).
    """
    cfg = as_config(config)
    kv = canonical_dtype(kv_dtype, KV_DTYPES, "KV cache dtype")
    layers = cfg.num_mla_layers if num_layers is None else num_layers
    return (cfg.kv_lora_rank + cfg.qk_rope_head_dim) * layers * DTYPE_BYTES[kv]


def full_mla_kv_bytes_per_token(config=None, kv_dtype: str = DEFAULT_KV_DTYPE) -> int:
    """The counterfactual: the same model with every layer MLA (no KDA layers)."""
    cfg = as_config(config)
    return mla_kv_bytes_per_token(cfg, kv_dtype, num_layers=cfg.num_hidden_layers)


def kda_state_bytes_per_sequence(
    config=None,
    state_dtype: str = DEFAULT_STATE_DTYPE,
    conv_dtype: str = DEFAULT_CONV_DTYPE,
    tp: int = 1,
) -> dict[str, int]:
    """KDA state held by one sequence (one slot), independent of context length.

    ``tp=1`` gives the logical size; ``tp>1`` the per-GPU share (SGLang shards by heads):
    recurrent ``(H/tp, d, d)`` and conv ``3 x (kernel-1, H*d/tp)`` per KDA layer.
    """
    cfg = as_config(config)
    check_tp(cfg, tp)
    sd = DTYPE_BYTES[canonical_dtype(state_dtype, STATE_DTYPES, "KDA state dtype")]
    cd = DTYPE_BYTES[canonical_dtype(conv_dtype, CONV_DTYPES, "conv state dtype")]
    h, d, k = cfg.kda_num_heads, cfg.kda_head_dim, cfg.short_conv_kernel_size
    recurrent = (h // tp) * d * d * sd * cfg.num_kda_layers
    conv = 3 * (k - 1) * (h * d // tp) * cd * cfg.num_kda_layers
    return {"recurrent": recurrent, "conv": conv, "total": recurrent + conv}


def parameter_counts(config=None) -> dict[str, int]:
    """Parameter counts by group, following SGLang 0.5.7's kimi_linear.py module shapes."""
    cfg = as_config(config)
    hs, H, d = cfg.hidden_size, cfg.kda_num_heads, cfg.kda_head_dim
    P = H * d
    kda_linear = 3 * hs * P + hs * d + d * P + hs * H + hs * d + d * P + P * hs  # qkv,f_a,f_b,b,g_a,g_b,o
    kda_fp32 = 3 * P * cfg.short_conv_kernel_size + P + H  # conv1d weights, dt_bias, A_log
    kda_norm = d  # o_norm
    nh = cfg.num_attention_heads
    qk = cfg.qk_nope_head_dim + cfg.qk_rope_head_dim
    if cfg.q_lora_rank is None:
        q_params = hs * nh * qk
        q_norm = 0
    else:
        q_params = hs * cfg.q_lora_rank + cfg.q_lora_rank * nh * qk
        q_norm = cfg.q_lora_rank
    mla_kv_a = hs * (cfg.kv_lora_rank + cfg.qk_rope_head_dim)  # ReplicatedLinear in SGLang
    mla_sharded = q_params + cfg.kv_lora_rank * nh * (cfg.qk_nope_head_dim + cfg.v_head_dim) + nh * cfg.v_head_dim * hs
    mla_norm = cfg.kv_lora_rank + q_norm
    expert = 3 * hs * cfg.moe_intermediate_size  # gate, up, down
    n_kda, n_mla, n_moe = cfg.num_kda_layers, cfg.num_mla_layers, cfg.num_moe_layers
    return {
        "embedding": cfg.vocab_size * hs,
        "lm_head": 0 if cfg.tie_word_embeddings else cfg.vocab_size * hs,
        "kda_linear": n_kda * kda_linear,
        "kda_replicated_linear": n_kda * 2 * hs * d,  # f_a_proj, g_a_proj (ReplicatedLinear)
        "kda_fp32": n_kda * kda_fp32,
        "mla_linear": n_mla * mla_sharded,
        "mla_replicated_linear": n_mla * mla_kv_a,
        "dense_mlp": cfg.num_dense_layers * 3 * hs * cfg.intermediate_size,
        "routed_experts": n_moe * cfg.num_experts * expert,
        "shared_experts": n_moe * cfg.num_shared_experts * expert,
        "router": n_moe * (hs * cfg.num_experts + cfg.num_experts),  # gate + e_score_correction_bias
        "norms": cfg.num_hidden_layers * 2 * hs + hs + n_kda * kda_norm + n_mla * mla_norm,
        # kda_replicated_linear is counted inside kda_linear too; exclude it from totals
    }


def _groups(counts: dict[str, int]) -> dict[str, int]:
    """Disjoint groups: (sharded linear, replicated linear, high-precision, routed experts, ...)."""
    return {
        "sharded_linear": counts["kda_linear"] - counts["kda_replicated_linear"] + counts["mla_linear"]
        + counts["dense_mlp"] + counts["shared_experts"],
        "replicated_linear": counts["kda_replicated_linear"] + counts["mla_replicated_linear"],
        "routed_experts": counts["routed_experts"],
        "embedding": counts["embedding"],
        "lm_head": counts["lm_head"],
        "replicated_bf16": counts["router"] + counts["norms"],  # router + norms stay bf16, replicated
        "fp32": counts["kda_fp32"],  # sharded, always float32
    }


def total_parameters(config=None) -> int:
    """All parameters of one copy of the model."""
    return sum(_groups(parameter_counts(config)).values())


def activated_parameters(config=None) -> int:
    """Parameters used per token: everything but the unused routed experts and the embedding table
    (one row of it is read per token)."""
    cfg = as_config(config)
    g = _groups(parameter_counts(cfg))
    per_expert = 3 * cfg.hidden_size * cfg.moe_intermediate_size
    active_routed = cfg.num_moe_layers * cfg.num_experts_per_token * per_expert
    return sum(g.values()) - g["routed_experts"] - g["embedding"] + active_routed


def weight_group_bytes(cfg: KimiLinearConfig, weight_dtype: str) -> dict[str, int]:
    """Weight bytes by disjoint group (sharded or replicated linear, routed experts, embedding, ...)."""
    w = canonical_dtype(weight_dtype, WEIGHT_DTYPES, "weight dtype")
    lin = DTYPE_BYTES[w]  # linear layers
    hi = 2  # embedding / lm_head / router / norms: bf16 (also under fp8 quantization)
    g = _groups(parameter_counts(cfg))
    return {
        "sharded_linear": g["sharded_linear"] * lin,
        "replicated_linear": g["replicated_linear"] * lin,
        "routed_experts": g["routed_experts"] * lin,
        "embedding": g["embedding"] * hi,
        "lm_head": g["lm_head"] * hi,
        "replicated_bf16": g["replicated_bf16"] * hi,
        "fp32": g["fp32"] * 4,
    }


def weight_bytes(config=None, weight_dtype: str = DEFAULT_WEIGHT_DTYPE, tp: int = 1) -> dict[str, int]:
    """Weight bytes: ``total`` (one copy of the model), ``activated`` (read per token at batch 1,
    excluding the embedding table), ``per_gpu`` (SGLang tp sharding; replicated modules counted on
    every rank)."""
    cfg = as_config(config)
    check_tp(cfg, tp)
    b = weight_group_bytes(cfg, weight_dtype)
    total = sum(b.values())
    per_expert = b["routed_experts"] // (cfg.num_experts * max(cfg.num_moe_layers, 1))
    active_routed = cfg.num_moe_layers * cfg.num_experts_per_token * per_expert
    activated = total - b["routed_experts"] - b["embedding"] + active_routed
    sharded = b["sharded_linear"] + b["routed_experts"] + b["embedding"] + b["lm_head"] + b["fp32"]
    per_gpu = math.ceil(sharded / tp) + b["replicated_linear"] + b["replicated_bf16"]
    return {"total": total, "activated": activated, "per_gpu": per_gpu}
