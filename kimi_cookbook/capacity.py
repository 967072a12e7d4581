"""Capacity planner and decode roofline for Kimi-Linear-48B-A3B-Instruct on SGLang.

Everything here is arithmetic on the model's published ``config.json`` (shipped as
``kimi_cookbook/data/kimi_linear_config.json``, or any local ``config.json`` of the same family) and the
hardware catalog in :mod:`kimi_cookbook.hardware`. Nothing needs a GPU.

What SGLang 0.5.7 stores, and in which dtype by default (``sglang/srt``):

* MLA layers (7 of 27) keep a paged latent cache: ``kv_lora_rank + qk_rope_head_dim`` = 576 values per
  token per layer (``ModelRunnerKVCacheMixin.get_cell_size_per_token``). Default dtype: ``--kv-cache-dtype
  auto`` = the model dtype, **bfloat16**. The latent is shared by all heads, so with tensor parallelism
  every rank keeps the *whole* cache (replicated, not sharded).
* KDA layers (20 of 27) keep a fixed-size state per sequence (``KimiLinearStateShape``): a recurrent
  state ``(32/tp, 128, 128)`` in ``--mamba-ssm-dtype`` (default **float32**) and three short-conv states
  (q, k, v) of ``(kernel-1, 4096/tp)`` each in **bfloat16** (``CONV_DTYPE``, fixed in 0.5.7). The state
  is sharded by heads across tp ranks.
* Weights: ``--dtype auto`` = the checkpoint dtype, **bfloat16**. fp8 (``--quantization fp8``) stores the
  linear layers in one byte per weight; embeddings, lm_head, norms and the router stay bf16, and SGLang
  keeps the tiny conv1d / A_log / dt_bias parameters in float32 either way. Quantization scales are
  ignored (< 0.1 %).
* Each running request holds ``state_slots`` KDA state slots: one in 0.5.7, which disables the radix
  (prefix) cache for this model; later releases enable prefix caching and keep extra slots per request.

The JSON/logical byte counts are for one copy of the model, one sequence, one token; per-GPU figures
apply SGLang's sharding.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from kimi_cookbook.hardware import GPU, GPUS, get_gpu

GIB = 2**30

# --------------------------------------------------------------------------------------------------
# dtypes
# --------------------------------------------------------------------------------------------------

_DTYPE_ALIASES = {
    "bf16": "bfloat16",
    "bfloat16": "bfloat16",
    "fp16": "float16",
    "float16": "float16",
    "half": "float16",
    "fp32": "float32",
    "float32": "float32",
    "float": "float32",
    "fp8": "fp8_e4m3",
    "fp8_e4m3": "fp8_e4m3",
    "fp8_e5m2": "fp8_e5m2",
}
_DTYPE_BYTES = {"bfloat16": 2, "float16": 2, "float32": 4, "fp8_e4m3": 1, "fp8_e5m2": 1}

#: dtypes each kind of memory may take (SGLang 0.5.7's choices, fp32 KV/weights left out on purpose)
KV_DTYPES = ("bfloat16", "float16", "fp8_e4m3", "fp8_e5m2")
STATE_DTYPES = ("float32", "bfloat16")  # --mamba-ssm-dtype choices
CONV_DTYPES = ("bfloat16", "float16", "float32")
WEIGHT_DTYPES = ("bfloat16", "float16", "fp8_e4m3")

#: SGLang 0.5.7 defaults for this model
DEFAULT_KV_DTYPE = "bfloat16"  # --kv-cache-dtype auto -> model dtype
DEFAULT_STATE_DTYPE = "float32"  # --mamba-ssm-dtype float32
DEFAULT_CONV_DTYPE = "bfloat16"  # mamba_utils.CONV_DTYPE
DEFAULT_WEIGHT_DTYPE = "bfloat16"  # --dtype auto -> checkpoint dtype
DEFAULT_STATE_SLOTS = 1  # 0.5.7: radix cache off for KimiLinearForCausalLM
SGLANG_DEFAULT_STATE_POOL = 512  # 0.5.7: max_mamba_cache_size when --max-running-requests is unset


def canonical_dtype(name: str, allowed: tuple[str, ...] | None = None, what: str = "dtype") -> str:
    """Normalise a dtype name ('bf16', 'fp8', 'float32', ...) or raise ValueError naming the choices."""
    key = str(name).strip().lower()
    canon = _DTYPE_ALIASES.get(key)
    if canon is None or (allowed is not None and canon not in allowed):
        choices = allowed if allowed is not None else tuple(_DTYPE_BYTES)
        raise ValueError(f"unknown {what} {name!r}; allowed: {', '.join(choices)}")
    return canon


def dtype_bytes(name: str) -> int:
    return _DTYPE_BYTES[canonical_dtype(name)]


# --------------------------------------------------------------------------------------------------
# model config
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KimiLinearConfig:
    """The config.json fields the planner uses (1-based layer numbers, as published)."""

    hidden_size: int
    num_hidden_layers: int
    vocab_size: int
    num_attention_heads: int
    intermediate_size: int
    first_k_dense_replace: int
    moe_layer_freq: int
    num_experts: int
    num_experts_per_token: int
    num_shared_experts: int
    moe_intermediate_size: int
    q_lora_rank: int | None
    kv_lora_rank: int
    qk_nope_head_dim: int
    qk_rope_head_dim: int
    v_head_dim: int
    tie_word_embeddings: bool
    max_context: int
    full_attn_layers: tuple[int, ...]
    kda_layers: tuple[int, ...]
    kda_num_heads: int
    kda_head_dim: int
    short_conv_kernel_size: int
    source: str = ""

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "") -> KimiLinearConfig:
        if d.get("model_type") not in (None, "kimi_linear") or "linear_attn_config" not in d:
            raise ValueError(
                f"{source or 'config'} is not a Kimi-Linear config.json (model_type "
                f"{d.get('model_type')!r}, needs 'linear_attn_config')"
            )
        lin = d["linear_attn_config"]
        max_ctx = None
        # SGLang's get_context_length order (utils/hf_transformers_utils.py CONTEXT_LENGTH_KEYS)
        for key in ("max_sequence_length", "seq_length", "max_seq_len", "model_max_length",
                    "max_position_embeddings"):
            if d.get(key) is not None:
                max_ctx = int(d[key])
                break
        try:
            cfg = cls(
                hidden_size=int(d["hidden_size"]),
                num_hidden_layers=int(d["num_hidden_layers"]),
                vocab_size=int(d["vocab_size"]),
                num_attention_heads=int(d["num_attention_heads"]),
                intermediate_size=int(d["intermediate_size"]),
                first_k_dense_replace=int(d.get("first_k_dense_replace", 0)),
                moe_layer_freq=int(d.get("moe_layer_freq", 1)),
                num_experts=int(d["num_experts"]),
                num_experts_per_token=int(d["num_experts_per_token"]),
                num_shared_experts=int(d.get("num_shared_experts", 0) or 0),
                moe_intermediate_size=int(d["moe_intermediate_size"]),
                q_lora_rank=None if d.get("q_lora_rank") is None else int(d["q_lora_rank"]),
                kv_lora_rank=int(d["kv_lora_rank"]),
                qk_nope_head_dim=int(d["qk_nope_head_dim"]),
                qk_rope_head_dim=int(d["qk_rope_head_dim"]),
                v_head_dim=int(d["v_head_dim"]),
                tie_word_embeddings=bool(d.get("tie_word_embeddings", False)),
                max_context=max_ctx or 2048,
                full_attn_layers=tuple(int(x) for x in lin["full_attn_layers"]),
                kda_layers=tuple(int(x) for x in lin["kda_layers"]),
                kda_num_heads=int(lin["num_heads"]),
                kda_head_dim=int(lin["head_dim"]),
                short_conv_kernel_size=int(lin["short_conv_kernel_size"]),
                source=source,
            )
        except KeyError as exc:
            raise ValueError(f"{source or 'config'} lacks the field {exc.args[0]!r}") from None
        layers = set(cfg.full_attn_layers) | set(cfg.kda_layers)
        if layers != set(range(1, cfg.num_hidden_layers + 1)) or set(cfg.full_attn_layers) & set(
            cfg.kda_layers
        ):
            raise ValueError(
                f"{source or 'config'}: full_attn_layers and kda_layers must split layers "
                f"1..{cfg.num_hidden_layers} between them"
            )
        return cfg

    @property
    def num_mla_layers(self) -> int:
        return len(self.full_attn_layers)

    @property
    def num_kda_layers(self) -> int:
        return len(self.kda_layers)

    @property
    def num_moe_layers(self) -> int:
        # SGLang KimiDecoderLayer: MoE where layer_idx >= first_k_dense_replace and idx % freq == 0
        return sum(
            1
            for i in range(self.num_hidden_layers)
            if i >= self.first_k_dense_replace and i % self.moe_layer_freq == 0
        )

    @property
    def num_dense_layers(self) -> int:
        return self.num_hidden_layers - self.num_moe_layers


def _packaged_config() -> tuple[dict[str, Any], str]:
    text = resources.files("kimi_cookbook").joinpath("data/kimi_linear_config.json").read_text()
    d = json.loads(text)
    return d, d.get("_source", "packaged kimi_linear_config.json")


def load_model_config(path: str | Path | None = None) -> KimiLinearConfig:
    """The packaged published config, or a local ``config.json`` (file or model folder)."""
    if path is None or str(path) == "":
        d, source = _packaged_config()
        return KimiLinearConfig.from_dict(d, source)
    p = Path(path)
    if p.is_dir():
        p = p / "config.json"
    if not p.is_file():
        raise ValueError(f"no config.json at {path}")
    try:
        d = json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{p} is not valid JSON: {exc}") from None
    return KimiLinearConfig.from_dict(d, str(p))


def _cfg(config: KimiLinearConfig | str | Path | None) -> KimiLinearConfig:
    return config if isinstance(config, KimiLinearConfig) else load_model_config(config)


# --------------------------------------------------------------------------------------------------
# cache and state bytes
# --------------------------------------------------------------------------------------------------


def check_tp(cfg: KimiLinearConfig, tp: int) -> int:
    """tp must be a positive integer dividing the KDA heads, the MLA heads and the conv width."""
    if isinstance(tp, bool) or not isinstance(tp, int) or tp < 1:
        raise ValueError(f"tp must be a positive integer, got {tp!r}")
    heads = {cfg.kda_num_heads, cfg.num_attention_heads}
    bad = [h for h in sorted(heads) if h % tp]
    if bad:
        ok = [t for t in range(1, max(heads) + 1) if all(h % t == 0 for h in heads)]
        raise ValueError(
            f"tp={tp} does not divide the {bad[0]} attention heads; SGLang shards heads evenly, "
            f"so tp must be one of {ok}"
        )
    return tp


def check_context(cfg: KimiLinearConfig, context: int) -> int:
    if isinstance(context, bool) or not isinstance(context, int) or context < 1:
        raise ValueError(f"context must be a positive number of tokens, got {context!r}")
    if context > cfg.max_context:
        raise ValueError(
            f"context {context} exceeds the model's limit of {cfg.max_context} tokens "
            "(model_max_length in config.json)"
        )
    return context


def mla_kv_bytes_per_token(config=None, kv_dtype: str = DEFAULT_KV_DTYPE, num_layers: int | None = None) -> int:
    """MLA cache bytes per token: (kv_lora_rank + qk_rope_head_dim) x MLA layers x dtype.

    One token's logical size; SGLang replicates it on every tp rank (per-GPU = this value).
    """
    cfg = _cfg(config)
    kv = canonical_dtype(kv_dtype, KV_DTYPES, "KV cache dtype")
    layers = cfg.num_mla_layers if num_layers is None else num_layers
    return (cfg.kv_lora_rank + cfg.qk_rope_head_dim) * layers * _DTYPE_BYTES[kv]


def full_mla_kv_bytes_per_token(config=None, kv_dtype: str = DEFAULT_KV_DTYPE) -> int:
    """The counterfactual: the same model with every layer MLA (no KDA layers)."""
    cfg = _cfg(config)
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
    cfg = _cfg(config)
    check_tp(cfg, tp)
    sd = _DTYPE_BYTES[canonical_dtype(state_dtype, STATE_DTYPES, "KDA state dtype")]
    cd = _DTYPE_BYTES[canonical_dtype(conv_dtype, CONV_DTYPES, "conv state dtype")]
    h, d, k = cfg.kda_num_heads, cfg.kda_head_dim, cfg.short_conv_kernel_size
    recurrent = (h // tp) * d * d * sd * cfg.num_kda_layers
    conv = 3 * (k - 1) * (h * d // tp) * cd * cfg.num_kda_layers
    return {"recurrent": recurrent, "conv": conv, "total": recurrent + conv}


# --------------------------------------------------------------------------------------------------
# weights
# --------------------------------------------------------------------------------------------------


def parameter_counts(config=None) -> dict[str, int]:
    """Parameter counts by group, following SGLang 0.5.7's kimi_linear.py module shapes."""
    cfg = _cfg(config)
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
    return sum(_groups(parameter_counts(config)).values())


def activated_parameters(config=None) -> int:
    """Parameters used per token: everything but the unused routed experts and the embedding table
    (one row of it is read per token)."""
    cfg = _cfg(config)
    g = _groups(parameter_counts(cfg))
    per_expert = 3 * cfg.hidden_size * cfg.moe_intermediate_size
    active_routed = cfg.num_moe_layers * cfg.num_experts_per_token * per_expert
    return sum(g.values()) - g["routed_experts"] - g["embedding"] + active_routed


def _weight_group_bytes(cfg: KimiLinearConfig, weight_dtype: str) -> dict[str, int]:
    w = canonical_dtype(weight_dtype, WEIGHT_DTYPES, "weight dtype")
    lin = _DTYPE_BYTES[w]  # linear layers
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
    cfg = _cfg(config)
    check_tp(cfg, tp)
    b = _weight_group_bytes(cfg, weight_dtype)
    total = sum(b.values())
    per_expert = b["routed_experts"] // (cfg.num_experts * max(cfg.num_moe_layers, 1))
    active_routed = cfg.num_moe_layers * cfg.num_experts_per_token * per_expert
    activated = total - b["routed_experts"] - b["embedding"] + active_routed
    sharded = b["sharded_linear"] + b["routed_experts"] + b["embedding"] + b["lm_head"] + b["fp32"]
    per_gpu = math.ceil(sharded / tp) + b["replicated_linear"] + b["replicated_bf16"]
    return {"total": total, "activated": activated, "per_gpu": per_gpu}


# --------------------------------------------------------------------------------------------------
# memory plan
# --------------------------------------------------------------------------------------------------


def sglang_reserved_bytes(gpu: GPU | str, tp: int, chunked_prefill_size: int | None = None,
                          cuda_graph_max_bs: int | None = None) -> int:
    """Per-GPU memory SGLang 0.5.7 leaves outside weights + cache when ``--mem-fraction-static`` is not
    given (ServerArgs._handle_gpu_memory_settings): 512 MiB + 1.5 MiB x chunked-prefill tokens + 2 MiB x
    cuda-graph max batch + tp/8 GiB, at least 10 GiB on GPUs above 60 GiB (activations, CUDA graphs)."""
    g = get_gpu(gpu) if isinstance(gpu, str) else gpu
    mem_mib = g.usable_memory_bytes / 2**20
    if mem_mib < 20 * 1024:
        cps, bs = 2048, 8
    elif mem_mib < 35 * 1024:
        cps, bs = 2048, (24 if tp < 4 else 80)
    elif mem_mib < 60 * 1024:
        cps, bs = 4096, (32 if tp < 4 else 160)
    elif mem_mib < 160 * 1024:
        cps, bs = 8192, (256 if tp < 4 else 512)
    else:
        cps, bs = 16384, 512
    cps = chunked_prefill_size if chunked_prefill_size is not None else cps
    bs = cuda_graph_max_bs if cuda_graph_max_bs is not None else bs
    reserved = 512 + max(cps, 2048) * 1.5 + bs * 2 + tp / 8 * 1024
    if mem_mib > 60 * 1024:
        reserved = max(reserved, 10 * 1024)
    return int(reserved * 2**20)


def max_requests(budget_bytes: float, context: int, kv_per_token: float, state_per_request: float) -> int:
    """How many requests of ``context`` tokens fit in ``budget_bytes`` (0 if none)."""
    need = context * kv_per_token + state_per_request
    if budget_bytes <= 0 or need <= 0:
        return 0
    return int(budget_bytes // need)


def crossover_context(kv_hybrid: float, kv_full: float, state_per_request: float) -> int:
    """Smallest context at which a hybrid request needs less memory than a full-MLA one:
    ``c * kv_full > c * kv_hybrid + state``."""
    return math.floor(state_per_request / (kv_full - kv_hybrid)) + 1


# --------------------------------------------------------------------------------------------------
# roofline
# --------------------------------------------------------------------------------------------------


def expected_distinct_experts(num_experts: int, top_k: int, batch: float) -> float:
    """Experts a MoE layer touches for ``batch`` tokens routed independently and uniformly."""
    if batch <= 0:
        return 0.0
    return num_experts * (1.0 - (1.0 - top_k / num_experts) ** batch)


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
    cfg = _cfg(config)
    check_tp(cfg, tp)
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch!r}")
    check_context(cfg, context)
    b = _weight_group_bytes(cfg, weight_dtype)
    n_moe = cfg.num_moe_layers
    per_expert = b["routed_experts"] / (cfg.num_experts * max(n_moe, 1))
    distinct = expected_distinct_experts(cfg.num_experts, cfg.num_experts_per_token, batch)
    emb_rows = batch * cfg.hidden_size * 2 / tp
    weights_read = (
        (b["sharded_linear"] + b["lm_head"] + b["fp32"] + n_moe * distinct * per_expert) / tp
        + b["replicated_linear"] + b["replicated_bf16"] + emb_rows
    )
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

    # FLOPs (whole model, then / tp)
    act_params = activated_parameters(cfg)
    matmul = 2 * act_params * batch
    nh = cfg.num_attention_heads
    lat = cfg.kv_lora_rank + cfg.qk_rope_head_dim
    n_mla = cfg.num_hidden_layers if full_mla else cfg.num_mla_layers
    # absorbed MLA decode: scores over (kv_lora_rank + rope) and values over kv_lora_rank, per head
    attn = n_mla * batch * 2 * nh * context * (lat + cfg.kv_lora_rank)
    if not full_mla:
        H, d = cfg.kda_num_heads, cfg.kda_head_dim
        attn += cfg.num_kda_layers * batch * 8 * H * d * d  # gated delta-rule update + readout
    flops_gpu = (matmul + attn) / tp
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


# The page's three MI300X runs (SGLang 0.5.7, --tp 4, bench_serving random 1000/1000, range ratio 0).
PAGE_RUNS: tuple[dict[str, Any], ...] = (
    {"name": "low", "max_concurrency": 1, "num_prompts": 10, "mean_concurrency": 1.00,
     "total_input_tokens": 6101, "total_generated_tokens": 4220, "mean_tpot_ms": 5.32,
     "output_throughput": 176.86},
    {"name": "medium", "max_concurrency": 16, "num_prompts": 80, "mean_concurrency": 14.13,
     "total_input_tokens": 39668, "total_generated_tokens": 40805, "mean_tpot_ms": 10.75,
     "output_throughput": 1300.37},
    {"name": "high", "max_concurrency": 100, "num_prompts": 500, "mean_concurrency": 94.80,
     "total_input_tokens": 249831, "total_generated_tokens": 252662, "mean_tpot_ms": 29.63,
     "output_throughput": 3169.72},
)


def page_roofline(hardware: str = "mi300x", tp: int = 4, *, config=None, weight_dtype: str = DEFAULT_WEIGHT_DTYPE,
                  kv_dtype: str = DEFAULT_KV_DTYPE, state_dtype: str = DEFAULT_STATE_DTYPE,
                  runs=PAGE_RUNS) -> list[dict[str, Any]]:
    """The page's runs against the floor: batch = the run's mean concurrency (rounded), context = mean
    input length + half the mean output length (the average context while decoding)."""
    rows = []
    for r in runs:
        batch = max(1, round(r["mean_concurrency"]))
        mean_in = r["total_input_tokens"] / r["num_prompts"]
        mean_out = r["total_generated_tokens"] / r["num_prompts"]
        context = round(mean_in + mean_out / 2)
        step = decode_step(hardware, tp, batch, context, config=config, weight_dtype=weight_dtype,
                           kv_dtype=kv_dtype, state_dtype=state_dtype)
        rows.append({
            "run": r["name"],
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


def decoding_speedup(hardware: str = "mi300x", tp: int = 4, contexts=(4096, 131072, 1048576), *,
                     config=None, **dtypes) -> list[dict[str, Any]]:
    """Hybrid vs full-MLA decode, from bytes and FLOPs alone, at each context:
    the TPOT-floor ratio at batch 1, and the throughput ratio when each runs the largest batch its
    cache allows (the setting behind the tech report's "up to 6x decoding throughput at 1M")."""
    rows = []
    for c in contexts:
        p = plan(hardware, tp, int(c), config=config, **dtypes)
        h1 = decode_step(hardware, tp, 1, int(c), config=config, **dtypes)
        f1 = decode_step(hardware, tp, 1, int(c), config=config, full_mla=True, **dtypes)
        bh, bf = p.max_concurrent_requests, p.full_attention_max_concurrent_requests
        hb = decode_step(hardware, tp, bh, int(c), config=config, **dtypes)
        row = {
            "context": int(c),
            "tpot_floor_hybrid_b1_ms": h1["tpot_floor_ms"],
            "tpot_floor_full_mla_b1_ms": f1["tpot_floor_ms"],
            "batch1_speedup": f1["tpot_floor_ms"] / h1["tpot_floor_ms"],
            "max_batch_hybrid": bh,
            "max_batch_full_mla": bf,
            "throughput_hybrid_tok_s": bh / hb["tpot_floor_ms"] * 1e3,
        }
        if bf > 0:
            fb = decode_step(hardware, tp, bf, int(c), config=config, full_mla=True, **dtypes)
            row["throughput_full_mla_tok_s"] = bf / fb["tpot_floor_ms"] * 1e3
            row["max_batch_throughput_speedup"] = row["throughput_hybrid_tok_s"] / row["throughput_full_mla_tok_s"]
        else:  # full MLA cannot hold even one request
            row["throughput_full_mla_tok_s"] = 0.0
            row["max_batch_throughput_speedup"] = math.inf
        rows.append(row)
    return rows


# --------------------------------------------------------------------------------------------------
# the plan
# --------------------------------------------------------------------------------------------------


@dataclass
class Plan:
    hardware: str
    tp: int
    context: int
    batch: int
    kv_dtype: str
    state_dtype: str
    conv_dtype: str
    weight_dtype: str
    state_slots: int
    # logical sizes (independent of tp)
    kv_bytes_per_token: int
    full_attention_kv_bytes_per_token: int
    linear_state_bytes_per_sequence: int
    weights_bytes: int
    activated_weights_bytes: int
    total_parameters: int
    activated_parameters: int
    # per GPU
    usable_bytes_per_gpu: int
    reserve_bytes_per_gpu: int
    weights_bytes_per_gpu: int
    cache_budget_bytes_per_gpu: int
    kv_bytes_per_token_per_gpu: int
    linear_state_bytes_per_sequence_per_gpu: int
    request_bytes_per_gpu: int
    full_attention_request_bytes_per_gpu: int
    # results
    max_concurrent_requests: int
    full_attention_max_concurrent_requests: int
    sglang_default_max_concurrent_requests: int
    crossover_context: int
    crossover_context_per_gpu: int
    tpot_floor_ms: float
    tpot_floor_memory_ms: float
    tpot_floor_compute_ms: float
    max_context: int
    config_source: str
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def plan(
    hardware: str,
    tp: int | None = None,
    context: int = 131072,
    *,
    batch: int = 1,
    kv_dtype: str = DEFAULT_KV_DTYPE,
    state_dtype: str = DEFAULT_STATE_DTYPE,
    conv_dtype: str = DEFAULT_CONV_DTYPE,
    weight_dtype: str = DEFAULT_WEIGHT_DTYPE,
    state_slots: int = DEFAULT_STATE_SLOTS,
    reserve_gib: float | None = None,
    config=None,
) -> Plan:
    """Memory and roofline plan for one hardware choice, tp and context length."""
    g = get_gpu(hardware)
    cfg = _cfg(config)
    tp = g.default_tp if tp is None else tp
    check_tp(cfg, tp)
    check_context(cfg, context)
    if isinstance(state_slots, bool) or not isinstance(state_slots, int) or state_slots < 1:
        raise ValueError(f"state_slots must be a positive integer, got {state_slots!r}")
    kv_d = canonical_dtype(kv_dtype, KV_DTYPES, "KV cache dtype")
    st_d = canonical_dtype(state_dtype, STATE_DTYPES, "KDA state dtype")
    cv_d = canonical_dtype(conv_dtype, CONV_DTYPES, "conv state dtype")
    w_d = canonical_dtype(weight_dtype, WEIGHT_DTYPES, "weight dtype")
    if reserve_gib is not None and (reserve_gib < 0 or not math.isfinite(reserve_gib)):
        raise ValueError(f"reserve_gib must be a non-negative number, got {reserve_gib!r}")

    kv_tok = mla_kv_bytes_per_token(cfg, kv_d)
    kv_full = full_mla_kv_bytes_per_token(cfg, kv_d)
    state_logical = kda_state_bytes_per_sequence(cfg, st_d, cv_d, 1)["total"]
    state_gpu = kda_state_bytes_per_sequence(cfg, st_d, cv_d, tp)["total"]
    w = weight_bytes(cfg, w_d, tp)
    usable = g.usable_memory_bytes
    reserve = sglang_reserved_bytes(g, tp) if reserve_gib is None else int(reserve_gib * GIB)
    budget = usable - reserve - w["per_gpu"]
    if budget <= 0:
        raise ValueError(
            f"the model does not fit: {w['per_gpu'] / GIB:.1f} GiB of {w_d} weights per GPU + "
            f"{reserve / GIB:.1f} GiB reserve exceed the {usable / GIB:.1f} GiB of one {g.label} at "
            f"tp={tp}; use a larger tp or fp8 weights"
        )
    req = context * kv_tok + state_slots * state_gpu
    req_full = context * kv_full
    n_h = max_requests(budget, context, kv_tok, state_slots * state_gpu)
    if n_h == 0:
        raise ValueError(
            f"the model does not fit a single {context}-token request: {budget / GIB:.1f} GiB of cache "
            f"per GPU on {tp} x {g.label} hold at most {int(budget // kv_tok)} tokens; use a larger tp "
            "or a smaller context"
        )
    n_f = max_requests(budget, context, kv_full, 0)
    # SGLang 0.5.7 default: a pool of 512 state slots is reserved first, the rest becomes MLA cache
    pool = SGLANG_DEFAULT_STATE_POOL
    tokens_default = max(0, budget - pool * state_gpu) // kv_tok
    n_default = min(pool // state_slots, int(tokens_default // context))
    step = decode_step(g, tp, batch, context, config=cfg, kv_dtype=kv_d, state_dtype=st_d,
                       conv_dtype=cv_d, weight_dtype=w_d)
    notes = [
        (f"reserve: {'SGLang 0.5.7 default (activations, CUDA graphs)' if reserve_gib is None else 'given'}"
         f" {reserve / GIB:.1f} GiB per GPU"),
        "MLA cache replicated on every rank; KDA state sharded by heads over tp",
        (f"SGLang 0.5.7 pre-reserves {pool} state slots (--max-running-requests unset) and caps running "
         f"requests at that pool: {n_default} request(s) fit at this context"),
        "full-MLA counterfactual assumes the same weight bytes",
    ]
    return Plan(
        hardware=g.id, tp=tp, context=context, batch=batch,
        kv_dtype=kv_d, state_dtype=st_d, conv_dtype=cv_d, weight_dtype=w_d, state_slots=state_slots,
        kv_bytes_per_token=kv_tok,
        full_attention_kv_bytes_per_token=kv_full,
        linear_state_bytes_per_sequence=state_logical,
        weights_bytes=w["total"],
        activated_weights_bytes=w["activated"],
        total_parameters=total_parameters(cfg),
        activated_parameters=activated_parameters(cfg),
        usable_bytes_per_gpu=usable,
        reserve_bytes_per_gpu=reserve,
        weights_bytes_per_gpu=w["per_gpu"],
        cache_budget_bytes_per_gpu=budget,
        kv_bytes_per_token_per_gpu=kv_tok,
        linear_state_bytes_per_sequence_per_gpu=state_gpu,
        request_bytes_per_gpu=req,
        full_attention_request_bytes_per_gpu=req_full,
        max_concurrent_requests=n_h,
        full_attention_max_concurrent_requests=n_f,
        sglang_default_max_concurrent_requests=n_default,
        crossover_context=crossover_context(kv_tok, kv_full, state_slots * state_logical),
        crossover_context_per_gpu=crossover_context(kv_tok, kv_full, state_slots * state_gpu),
        tpot_floor_ms=step["tpot_floor_ms"],
        tpot_floor_memory_ms=step["memory_floor_ms"],
        tpot_floor_compute_ms=step["compute_floor_ms"],
        max_context=cfg.max_context,
        config_source=cfg.source,
        notes=notes,
    )


def concurrency_curve(hardware: str, tp: int | None, contexts, *, full_mla: bool = False, **kw) -> list[int]:
    """Max concurrent requests at each context (0 where not even one fits), for plotting."""
    g = get_gpu(hardware)
    cfg = _cfg(kw.pop("config", None))
    tp = g.default_tp if tp is None else tp
    base = plan(hardware, tp, min(1024, cfg.max_context), config=cfg, **kw)
    slots_state = base.state_slots * base.linear_state_bytes_per_sequence_per_gpu
    out = []
    for c in contexts:
        check_context(cfg, int(c))
        if full_mla:
            out.append(max_requests(base.cache_budget_bytes_per_gpu, int(c), base.full_attention_kv_bytes_per_token, 0))
        else:
            out.append(max_requests(base.cache_budget_bytes_per_gpu, int(c), base.kv_bytes_per_token, slots_state))
    return out


def hardware_table(context: int, setups=None, *, config=None, **kw) -> list[dict[str, Any]]:
    """One row per (hardware, tp) at ``context`` (default: every catalog GPU at its default tp); a
    setup that cannot hold the model or one request gets its error text instead of numbers."""
    setups = setups or [(g.id, g.default_tp) for g in GPUS.values()]
    rows = []
    for hw, tp in setups:
        g = get_gpu(hw)
        row: dict[str, Any] = {"hardware": f"{tp} x {g.label}"}
        try:
            p = plan(hw, tp, context, config=config, **kw)
        except ValueError as exc:
            row["error"] = str(exc)
        else:
            row.update({
                "cache_GiB_per_gpu": round(p.cache_budget_bytes_per_gpu / GIB, 1),
                "max_requests_hybrid": p.max_concurrent_requests,
                "max_requests_full_mla": p.full_attention_max_concurrent_requests,
                "sglang_0.5.7_default": p.sglang_default_max_concurrent_requests,
                "tpot_floor_b1_ms": round(p.tpot_floor_ms, 3),
            })
        rows.append(row)
    return rows


# --------------------------------------------------------------------------------------------------
# presentation + CLI
# --------------------------------------------------------------------------------------------------


def _gib(x: float) -> str:
    return f"{x / GIB:,.2f} GiB"


def _mb(x: float) -> str:
    return f"{x / 1e6:,.2f} MB"


def format_plan(p: Plan) -> str:
    g = GPUS[p.hardware]
    rows = [
        ("Hardware", f"{p.tp} x {g.label} ({_gib(p.usable_bytes_per_gpu)} usable, {g.bandwidth_tbs} TB/s each)"),
        ("Context / batch for TPOT", f"{p.context:,} tokens (limit {p.max_context:,}) / {p.batch}"),
        ("dtypes (KV / state / conv / weights)",
         f"{p.kv_dtype} / {p.state_dtype} / {p.conv_dtype} / {p.weight_dtype}"),
        ("", ""),
        ("Logical sizes (one copy, tp-independent)", ""),
        ("  MLA KV cache per token (7 layers)", f"{p.kv_bytes_per_token:,} B"),
        ("  full-MLA counterfactual per token (27)", f"{p.full_attention_kv_bytes_per_token:,} B"),
        ("  KDA state per sequence (20 layers)",
         f"{p.linear_state_bytes_per_sequence:,} B ({_mb(p.linear_state_bytes_per_sequence)})"),
        ("  weights total / activated per token", f"{_gib(p.weights_bytes)} / {_gib(p.activated_weights_bytes)}"),
        ("  parameters total / activated", f"{p.total_parameters / 1e9:.2f} B / {p.activated_parameters / 1e9:.2f} B"),
        ("", ""),
        ("Per GPU", ""),
        ("  weights", _gib(p.weights_bytes_per_gpu)),
        ("  reserve (activations, graphs)", _gib(p.reserve_bytes_per_gpu)),
        ("  left for cache + state", _gib(p.cache_budget_bytes_per_gpu)),
        ("  KV per token (replicated)", f"{p.kv_bytes_per_token_per_gpu:,} B"),
        ("  KDA state per sequence (sharded)", f"{p.linear_state_bytes_per_sequence_per_gpu:,} B"),
        ("  one request, hybrid", f"{_gib(p.request_bytes_per_gpu)} ({p.state_slots} state slot(s))"),
        ("  one request, full MLA", _gib(p.full_attention_request_bytes_per_gpu)),
        ("", ""),
        ("Max concurrent requests, hybrid", f"{p.max_concurrent_requests:,}"),
        ("Max concurrent requests, full MLA", f"{p.full_attention_max_concurrent_requests:,}"),
        ("  SGLang 0.5.7 default (512-slot pool)", f"{p.sglang_default_max_concurrent_requests:,}"),
        ("Hybrid saves memory from context",
         f"{p.crossover_context:,} tokens (per GPU at tp={p.tp}: {p.crossover_context_per_gpu:,})"),
        (f"TPOT floor at batch {p.batch}",
         f"{p.tpot_floor_ms:.3f} ms (memory {p.tpot_floor_memory_ms:.3f}, compute {p.tpot_floor_compute_ms:.3f})"),
    ]
    width = max(len(k) for k, _ in rows)
    lines = [f"{k:<{width}}  {v}".rstrip() for k, v in rows]
    lines.append("")
    lines += [f"note: {n}" for n in p.notes]
    lines.append(f"config: {p.config_source}")
    return "\n".join(lines)


def _cmd_plan(args: argparse.Namespace) -> int:
    p = plan(
        args.hardware, args.tp, args.context, batch=args.batch, kv_dtype=args.kv_dtype,
        state_dtype=args.state_dtype, conv_dtype=args.conv_dtype, weight_dtype=args.weight_dtype,
        state_slots=args.state_slots, reserve_gib=args.reserve_gib, config=args.config,
    )
    if args.json:
        print(json.dumps(p.to_dict(), indent=2))
    else:
        print(format_plan(p))
    return 0


def register_cli(subparsers) -> None:
    sp = subparsers.add_parser(
        "plan",
        help="capacity plan: cache sizes, max concurrency, TPOT floor",
        description="What fits where: Kimi-Linear's MLA cache and KDA state on a GPU choice, the maximum "
        "concurrent requests at a context length (hybrid vs full MLA), and the decode TPOT floor.",
    )
    sp.add_argument("--hardware", required=True, help=f"one of: {', '.join(GPUS)}")
    sp.add_argument("--tp", type=int, default=None, help="tensor parallel size (default: the GPU's default)")
    sp.add_argument("--context", type=int, default=131072, help="tokens per request (default 131072)")
    sp.add_argument("--batch", type=int, default=1, help="batch size for the TPOT floor (default 1)")
    sp.add_argument("--kv-dtype", default=DEFAULT_KV_DTYPE, help=f"MLA cache dtype (default {DEFAULT_KV_DTYPE})")
    sp.add_argument("--state-dtype", default=DEFAULT_STATE_DTYPE,
                    help=f"KDA recurrent state dtype (default {DEFAULT_STATE_DTYPE})")
    sp.add_argument("--conv-dtype", default=DEFAULT_CONV_DTYPE,
                    help=f"KDA conv state dtype (default {DEFAULT_CONV_DTYPE})")
    sp.add_argument("--weight-dtype", default=DEFAULT_WEIGHT_DTYPE,
                    help=f"weights dtype (default {DEFAULT_WEIGHT_DTYPE})")
    sp.add_argument("--state-slots", type=int, default=DEFAULT_STATE_SLOTS,
                    help="KDA state slots per request (1 in SGLang 0.5.7; more with prefix caching)")
    sp.add_argument("--reserve-gib", type=float, default=None,
                    help="per-GPU memory kept out of weights+cache (default: SGLang 0.5.7's heuristic)")
    sp.add_argument("--config", default=None, help="a local config.json (or model folder) of the same family")
    sp.add_argument("--json", action="store_true", help="print JSON instead of a table")
    sp.set_defaults(func=_cmd_plan)


# --------------------------------------------------------------------------------------------------
# plots (matplotlib imported lazily; used by notebooks/07_capacity_planning.ipynb)
# --------------------------------------------------------------------------------------------------


def context_grid(max_context: int = 1048576, points: int = 41) -> list[int]:
    """Log-spaced contexts from 1k to ``max_context`` (inclusive)."""
    lo, hi = math.log10(1024), math.log10(max_context)
    grid = sorted({round(10 ** (lo + (hi - lo) * i / (points - 1))) for i in range(points)})
    grid[-1] = max_context
    return grid


def plot_memory_per_request(ax=None, *, config=None, kv_dtype: str = DEFAULT_KV_DTYPE,
                            state_dtype: str = DEFAULT_STATE_DTYPE, state_slots: int = DEFAULT_STATE_SLOTS):
    """Logical memory one request holds vs context: hybrid (MLA cache + KDA state) and full MLA."""
    import matplotlib.pyplot as plt

    cfg = _cfg(config)
    ctx = context_grid(cfg.max_context)
    kv, kv_full = mla_kv_bytes_per_token(cfg, kv_dtype), full_mla_kv_bytes_per_token(cfg, kv_dtype)
    state = state_slots * kda_state_bytes_per_sequence(cfg, state_dtype)["total"]
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    ax.loglog(ctx, [(c * kv + state) / GIB for c in ctx], label="Kimi-Linear (7 MLA + 20 KDA layers)")
    ax.loglog(ctx, [c * kv_full / GIB for c in ctx], "--", label="full MLA (27 MLA layers)")
    ax.loglog(ctx, [state / GIB] * len(ctx), ":", label="KDA state alone (constant)")
    x = crossover_context(kv, kv_full, state)
    ax.axvline(x, color="grey", lw=0.8)
    ax.annotate(f"hybrid smaller from {x:,} tokens", (x, x * kv_full / GIB), xytext=(8, 20),
                textcoords="offset points", fontsize=8)
    ax.set_xlabel("context length (tokens)")
    ax.set_ylabel("memory per request (GiB, one copy)")
    ax.set_title(f"Cache per request ({canonical_dtype(kv_dtype)} KV, {canonical_dtype(state_dtype)} state)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return ax


def plot_max_concurrency(setups, ax=None, *, config=None, **kw):
    """Max concurrent requests vs context for each (hardware, tp) in ``setups``; hybrid solid,
    full MLA dashed, same colour."""
    import matplotlib.pyplot as plt

    cfg = _cfg(config)
    ctx = context_grid(cfg.max_context)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.5))
    for i, (hw, tp) in enumerate(setups):
        colour = f"C{i}"
        label = f"{tp} x {get_gpu(hw).label}"
        hy = concurrency_curve(hw, tp, ctx, config=cfg, **kw)
        fu = concurrency_curve(hw, tp, ctx, full_mla=True, config=cfg, **kw)
        ax.plot(ctx, [n or float("nan") for n in hy], color=colour, label=f"{label} hybrid")
        ax.plot(ctx, [n or float("nan") for n in fu], "--", color=colour, label=f"{label} full MLA")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("context length (tokens)")
    ax.set_ylabel("max concurrent requests (memory bound)")
    ax.set_title("What fits: requests held at once (gaps: not even one fits)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    return ax
