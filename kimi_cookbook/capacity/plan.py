"""The capacity plan: for one hardware choice, tp and context, what fits and how fast decode can be.

Brings together the model's sizes (:mod:`.sizes`), SGLang's memory split (:mod:`.memory`) and the decode
roofline (:mod:`.roofline`); also the hybrid vs full-MLA comparisons built on them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from kimi_cookbook.capacity.config import KimiLinearConfig, as_config, check_context, check_tp
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
)
from kimi_cookbook.capacity.memory import crossover_context, max_requests, sglang_reserved_bytes
from kimi_cookbook.capacity.roofline import decode_step
from kimi_cookbook.capacity.sizes import (
    activated_parameters,
    full_mla_kv_bytes_per_token,
    kda_state_bytes_per_sequence,
    mla_kv_bytes_per_token,
    total_parameters,
    weight_bytes,
)
from kimi_cookbook.hardware import GPU, GPUS, get_gpu
from kimi_cookbook.capacity.pools import predict_for_gpu
from kimi_cookbook.versions import VERSIONS

__all__ = ["GIB", "Plan", "concurrency_curve", "decoding_speedup", "format_plan", "hardware_table", "plan"]

GIB = 2**30


@dataclass
class Plan:
    """One hardware choice, tp and context: what the memory holds, how many requests fit, the decode floor."""

    hardware: str
    tp: int
    context: int
    batch: int
    kv_dtype: str
    state_dtype: str
    conv_dtype: str
    weight_dtype: str
    state_slots: int
    # the model's layers (from its config)
    num_layers: int
    mla_layers: int
    kda_layers: int
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
    # SGLang's own pools for this launch (kimi_cookbook.capacity.pools), when a version is given
    sglang_version: str | None = None
    sglang_max_total_num_tokens: int | None = None
    sglang_state_slots: int | None = None
    sglang_max_running_requests: int | None = None
    sglang_pools: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _dtypes(kv_dtype: str, state_dtype: str, conv_dtype: str, weight_dtype: str) -> tuple[str, str, str, str]:
    return (
        canonical_dtype(kv_dtype, KV_DTYPES, "KV cache dtype"),
        canonical_dtype(state_dtype, STATE_DTYPES, "KDA state dtype"),
        canonical_dtype(conv_dtype, CONV_DTYPES, "conv state dtype"),
        canonical_dtype(weight_dtype, WEIGHT_DTYPES, "weight dtype"),
    )


def _cache_budget(g: GPU, tp: int, weights_per_gpu: int, weight_dtype: str,
                  reserve_gib: float | None) -> tuple[int, int]:
    """(reserve, bytes left for cache + state) per GPU; ValueError when the weights do not fit."""
    usable = g.usable_memory_bytes
    if reserve_gib is not None and not (0 <= reserve_gib < usable / GIB and math.isfinite(reserve_gib)):
        raise ValueError(f"reserve_gib must be from 0 to less than one {g.label}'s {usable / GIB:.1f} GiB, "
                         f"got {reserve_gib!r}")
    reserve = sglang_reserved_bytes(g, tp) if reserve_gib is None else int(reserve_gib * GIB)
    budget = usable - reserve - weights_per_gpu
    if budget <= 0:
        raise ValueError(
            f"the model does not fit: {weights_per_gpu / GIB:.1f} GiB of {weight_dtype} weights per GPU + "
            f"{reserve / GIB:.1f} GiB reserve exceed the {usable / GIB:.1f} GiB of one {g.label} at "
            f"tp={tp}; use a larger tp or fp8 weights"
        )
    return reserve, budget


def _sglang_default_requests(budget: int, context: int, kv_tok: int, state_gpu: int, state_slots: int) -> int:
    """Requests SGLang 0.5.7 runs at once by default: it reserves a pool of state slots first, the rest
    becomes MLA cache, and caps running requests at that pool."""
    pool = SGLANG_DEFAULT_STATE_POOL
    tokens = max(0, budget - pool * state_gpu) // kv_tok
    return min(pool // state_slots, int(tokens // context))


def _check_pools(pools) -> None:
    """ValueError when SGLang would refuse to start the launch it was predicted for (no memory for its pools)."""
    if pools.pool_budget_bytes > 0 and pools.max_total_num_tokens > 0 and pools.max_running_requests > 0:
        return
    v, mfs = pools.sglang_version, pools.mem_fraction_static
    if pools.pool_budget_bytes <= 0:
        need = (pools.free_before_weights_bytes - pools.pool_budget_bytes - pools.reserve_bytes) / \
            pools.free_before_weights_bytes
        raise ValueError(f"SGLang {v} would refuse to start: at --mem-fraction-static {mfs:.3f} the weights and "
                         f"the reserve leave {pools.pool_budget_bytes / GIB:.2f} GiB for the KV cache and state; "
                         f"raise --mem-fraction-static above {need:.3f}, or use more GPUs")
    raise ValueError(f"SGLang {v} would refuse to start: its pools at --mem-fraction-static {mfs:.3f} hold "
                     f"{pools.max_total_num_tokens:,} cache tokens and {pools.max_mamba_cache_size:,} state slots, "
                     "not one running request; raise --mem-fraction-static, lower --max-mamba-cache-size "
                     "or --max-running-requests, or use more GPUs")


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
    config: KimiLinearConfig | str | None = None,
    sglang_version: str | None = None,
    mem_fraction_static: float | None = None,
    max_running_requests: int | None = None,
    chunked_prefill_size: int | None = None,
    context_length: int | None = None,
    mamba_full_memory_ratio: float | None = None,
    disable_radix_cache: bool = False,
) -> Plan:
    """Memory and roofline plan for one hardware choice, tp and context length (``config``: a loaded
    config, a local ``config.json`` or model folder, or None for the packaged published one).

    With ``sglang_version`` the plan also carries the pools that SGLang version will allocate for this launch
    (:func:`kimi_cookbook.capacity.pools.predict_pools`: ``max_total_num_tokens``, state slots,
    ``max_running_requests``, and how they follow); ``mem_fraction_static``, ``max_running_requests``,
    ``chunked_prefill_size``, ``context_length``, ``mamba_full_memory_ratio`` and ``disable_radix_cache`` are the
    launch flags of those names (SGLang's defaults when None/False; ``context_length`` is the server's limit,
    ``context`` the planned request length)."""
    g = get_gpu(hardware)
    cfg = as_config(config)
    tp = g.default_tp if tp is None else tp
    check_tp(cfg, tp)
    check_context(cfg, context)
    if isinstance(state_slots, bool) or not isinstance(state_slots, int) or state_slots < 1:
        raise ValueError(f"state_slots must be a positive integer, got {state_slots!r}")
    kv_d, st_d, cv_d, w_d = _dtypes(kv_dtype, state_dtype, conv_dtype, weight_dtype)
    launch = {"mem_fraction_static": mem_fraction_static, "max_running_requests": max_running_requests,
              "chunked_prefill_size": chunked_prefill_size, "context_length": context_length,
              "mamba_full_memory_ratio": mamba_full_memory_ratio, "disable_radix_cache": disable_radix_cache or None}
    if sglang_version is None and any(v is not None for v in launch.values()):
        given = ", ".join(k for k, v in launch.items() if v is not None)
        raise ValueError(f"{given}: SGLang launch flags, used only to predict SGLang's pools; give the SGLang "
                         f"version too (--sglang-version {' or '.join(VERSIONS)})")
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch must be a whole number of requests, 1 or more, got {batch!r}")
    if context_length is not None and not isinstance(context_length, bool) and isinstance(context_length, int) \
            and context > context_length:
        raise ValueError(f"context {context:,} is longer than context_length {context_length:,} (the server's "
                         "--context-length): SGLang refuses such requests; plan a shorter context or raise "
                         "--context-length")

    kv_tok = mla_kv_bytes_per_token(cfg, kv_d)
    kv_full = full_mla_kv_bytes_per_token(cfg, kv_d)
    state_logical = kda_state_bytes_per_sequence(cfg, st_d, cv_d, 1)["total"]
    state_gpu = kda_state_bytes_per_sequence(cfg, st_d, cv_d, tp)["total"]
    w = weight_bytes(cfg, w_d, tp)
    reserve, budget = _cache_budget(g, tp, w["per_gpu"], w_d, reserve_gib)

    n_h = max_requests(budget, context, kv_tok, state_slots * state_gpu)
    if n_h == 0:
        raise ValueError(
            f"the model does not fit a single {context}-token request: {budget / GIB:.1f} GiB of cache "
            f"per GPU on {tp} x {g.label} hold at most {int(budget // kv_tok)} tokens; use a larger tp "
            "or a smaller context"
        )
    n_default = _sglang_default_requests(budget, context, kv_tok, state_gpu, state_slots)
    if batch > n_h:
        raise ValueError(f"batch {batch:,} does not fit: at most {n_h:,} requests of {context:,} tokens fit in the "
                         f"cache of {tp} x {g.label}, so a TPOT floor for {batch:,} would describe a run that cannot "
                         f"happen; use a batch from 1 to {n_h:,}")
    step = decode_step(g, tp, batch, context, config=cfg, kv_dtype=kv_d, state_dtype=st_d,
                       conv_dtype=cv_d, weight_dtype=w_d)
    pools = None
    if sglang_version is not None:
        pools = predict_for_gpu(g, cfg, tp=tp, sglang_version=sglang_version, kv_dtype=kv_d, state_dtype=st_d,
                                conv_dtype=cv_d, weight_dtype=w_d,
                                **{k: v for k, v in launch.items() if v is not None})
        _check_pools(pools)
    notes = [
        (f"reserve: {'SGLang 0.5.7 default (activations, CUDA graphs)' if reserve_gib is None else 'given'}"
         f" {reserve / GIB:.1f} GiB per GPU"),
        "MLA cache replicated on every rank; KDA state sharded by heads over tp",
        (f"SGLang 0.5.7 pre-reserves {SGLANG_DEFAULT_STATE_POOL} state slots (--max-running-requests unset) "
         f"and caps running requests at that pool: {n_default} request(s) fit at this context"),
        "full-MLA counterfactual assumes the same weight bytes",
    ]
    return Plan(
        hardware=g.id, tp=tp, context=context, batch=batch,
        kv_dtype=kv_d, state_dtype=st_d, conv_dtype=cv_d, weight_dtype=w_d, state_slots=state_slots,
        num_layers=cfg.num_hidden_layers, mla_layers=cfg.num_mla_layers, kda_layers=cfg.num_kda_layers,
        kv_bytes_per_token=kv_tok,
        full_attention_kv_bytes_per_token=kv_full,
        linear_state_bytes_per_sequence=state_logical,
        weights_bytes=w["total"],
        activated_weights_bytes=w["activated"],
        total_parameters=total_parameters(cfg),
        activated_parameters=activated_parameters(cfg),
        usable_bytes_per_gpu=g.usable_memory_bytes,
        reserve_bytes_per_gpu=reserve,
        weights_bytes_per_gpu=w["per_gpu"],
        cache_budget_bytes_per_gpu=budget,
        kv_bytes_per_token_per_gpu=kv_tok,
        linear_state_bytes_per_sequence_per_gpu=state_gpu,
        request_bytes_per_gpu=context * kv_tok + state_slots * state_gpu,
        full_attention_request_bytes_per_gpu=context * kv_full,
        max_concurrent_requests=n_h,
        full_attention_max_concurrent_requests=max_requests(budget, context, kv_full, 0),
        sglang_default_max_concurrent_requests=n_default,
        crossover_context=crossover_context(kv_tok, kv_full, state_slots * state_logical),
        crossover_context_per_gpu=crossover_context(kv_tok, kv_full, state_slots * state_gpu),
        tpot_floor_ms=step["tpot_floor_ms"],
        tpot_floor_memory_ms=step["memory_floor_ms"],
        tpot_floor_compute_ms=step["compute_floor_ms"],
        max_context=cfg.max_context,
        config_source=cfg.source,
        notes=notes,
        sglang_version=pools.sglang_version if pools else None,
        sglang_max_total_num_tokens=pools.max_total_num_tokens if pools else None,
        sglang_state_slots=pools.max_mamba_cache_size if pools else None,
        sglang_max_running_requests=pools.max_running_requests if pools else None,
        sglang_pools=pools.to_dict() if pools else None,
    )


def concurrency_curve(hardware: str, tp: int | None, contexts, *, full_mla: bool = False, **kw) -> list[int]:
    """Max concurrent requests at each context (0 where not even one fits), for plotting."""
    g = get_gpu(hardware)
    cfg = as_config(kw.pop("config", None))
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


def _gib(x: float) -> str:
    return f"{x / GIB:,.2f} GiB"


def _mb(x: float) -> str:
    return f"{x / 1e6:,.2f} MB"


def format_plan(p: Plan) -> str:
    """The plan as an aligned two-column table, its notes and the config it came from."""
    g = GPUS[p.hardware]
    rows = [
        ("Hardware", f"{p.tp} x {g.label} ({_gib(p.usable_bytes_per_gpu)} usable, {g.bandwidth_tbs} TB/s each)"),
        ("Context / batch for TPOT", f"{p.context:,} tokens (limit {p.max_context:,}) / {p.batch}"),
        ("dtypes (KV / state / conv / weights)",
         f"{p.kv_dtype} / {p.state_dtype} / {p.conv_dtype} / {p.weight_dtype}"),
        ("", ""),
        ("Logical sizes (one copy, tp-independent)", ""),
        (f"  MLA KV cache per token ({p.mla_layers} layers)", f"{p.kv_bytes_per_token:,} B"),
        (f"  full-MLA counterfactual per token ({p.num_layers})", f"{p.full_attention_kv_bytes_per_token:,} B"),
        (f"  KDA state per sequence ({p.kda_layers} layers)",
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
        (f"  SGLang 0.5.7 default ({SGLANG_DEFAULT_STATE_POOL}-slot pool)",
         f"{p.sglang_default_max_concurrent_requests:,}"),
        ("Hybrid saves memory from context",
         f"{p.crossover_context:,} tokens (per GPU at tp={p.tp}: {p.crossover_context_per_gpu:,})"),
        (f"TPOT floor at batch {p.batch}",
         f"{p.tpot_floor_ms:.3f} ms (memory {p.tpot_floor_memory_ms:.3f}, compute {p.tpot_floor_compute_ms:.3f})"),
    ]
    width = max(len(k) for k, _ in rows)
    lines = [f"{k:<{width}}  {v}".rstrip() for k, v in rows]
    if p.sglang_pools is not None:
        lines += ["", f"SGLang {p.sglang_version} pools, predicted per GPU (what its log will say)"]
        sg = [("  max_total_num_tokens (MLA cache)", f"{p.sglang_max_total_num_tokens:,}"),
              ("  state slots (max_mamba_cache_size)", f"{p.sglang_state_slots:,}"),
              ("  max_running_requests", f"{p.sglang_max_running_requests:,}")]
        lines += [f"{k:<{width}}  {v}" for k, v in sg]
        lines += [f"  {line}" for line in p.sglang_pools["lines"]]
    lines.append("")
    lines += [f"note: {n}" for n in p.notes]
    lines.append(f"config: {p.config_source}")
    return "\n".join(lines)


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


def request_memory_table(contexts, *, config=None, kv_dtype: str = DEFAULT_KV_DTYPE,
                         state_dtype: str = DEFAULT_STATE_DTYPE, conv_dtype: str = DEFAULT_CONV_DTYPE,
                         state_slots: int = DEFAULT_STATE_SLOTS) -> list[dict[str, Any]]:
    """Memory one request holds (one copy, tp-independent) at each context: the hybrid's MLA cache plus its
    KDA state, the full-MLA counterfactual's cache, and full / hybrid (above 1: the hybrid needs less)."""
    cfg = as_config(config)
    kv = mla_kv_bytes_per_token(cfg, canonical_dtype(kv_dtype))
    full = full_mla_kv_bytes_per_token(cfg, canonical_dtype(kv_dtype))
    state = state_slots * kda_state_bytes_per_sequence(cfg, canonical_dtype(state_dtype),
                                                       canonical_dtype(conv_dtype), 1)["total"]
    rows = []
    for c in sorted({int(c) for c in contexts}):
        check_context(cfg, c)
        hybrid = c * kv + state
        rows.append({"context": c, "hybrid_MB": round(hybrid / 1e6, 1), "full_mla_MB": round(c * full / 1e6, 1),
                     "full_mla_over_hybrid": round(c * full / hybrid, 2)})
    return rows
