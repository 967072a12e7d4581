"""Predict the memory pools SGLang allocates for Kimi-Linear before a launch.

Kimi-Linear mixes MLA layers (a paged latent cache, bytes per *token*) with KDA linear-attention layers (a fixed
state per *sequence*). SGLang handles it as a "mambaish" hybrid model: it measures free GPU memory, keeps a slack
of ``(1 - mem_fraction_static)`` of the pre-load free memory for activations and CUDA graphs, splits the rest
between a state pool (``max_mamba_cache_size`` slots) and the MLA token pool (``max_total_num_tokens``), and caps
``max_running_requests`` by the state slots each request needs. This module redoes that arithmetic from the
model's ``config.json`` (pure functions, no torch, no GPU). The byte sizes come from
:mod:`kimi_cookbook.capacity.sizes` (``mla_kv_bytes_per_token``, ``kda_state_bytes_per_sequence``,
``weight_bytes``); :func:`kimi_cookbook.capacity.plan` and ``kimi-cookbook plan --sglang-version`` show the
prediction beside the planner's own figures.

What SGLang does, by version (paths under ``sglang/srt``; read from the released wheels):

SGLang 0.5.7
  * ``model_executor/model_runner.py`` ``init_torch_distributed``: ``min_per_gpu_memory`` = free GPU memory
    (GiB, ``torch.cuda.mem_get_info``) after the CUDA context and NCCL exist, *before* the weights load.
  * ``model_executor/model_runner_kv_cache_mixin.py`` ``profile_max_num_token``: ``rest = free_now -
    min_per_gpu_memory * (1 - mem_fraction_static)`` (free_now: after the weights);
    ``handle_max_mamba_cache``: radix cache off (forced for ``KimiLinearForCausalLM`` in ``server_args.py``
    ``_handle_model_specific_adjustments``) -> ``max_mamba_cache_size = --max-running-requests`` or **512**;
    the state pool ``slots * mamba_cache_per_req`` is taken off ``rest``; the MLA pool gets
    ``int(rest * 2**30) // cell_size`` tokens (``get_cell_size_per_token``: ``(kv_lora_rank + qk_rope_head_dim)
    x MLA layers x dtype`` bytes, replicated on every tp rank).
  * ``init_memory_pool``: ``max_num_reqs = --max-running-requests`` or ``clamp(int(tokens / context_len * 512),
    2048, 4096)``, then ``min(max_num_reqs, slots // 1)`` (ratio 1: radix cache off); tokens rounded down to
    ``page_size``. ``model_runner.py`` ``initialize``: ``max_running_requests = min(--max-running-requests or
    tokens // 2, req_to_token_pool.size)``.
  * ``server_args.py`` ``_handle_gpu_memory_settings`` (default ``--mem-fraction-static``): GPU capacity in MiB
    (nvidia-smi / amd-smi), ``reserved = 512 + 1.5 x max(chunked_prefill_size, 2048) + 2 x cuda_graph_max_bs +
    tp x pp / 8 x 1024`` MiB, at least 10,240 MiB above 60 GiB; ``round((cap - reserved) / cap, 3)``;
    chunked-prefill / graph-batch defaults by capacity (< 20, 35, 60, 90, 160 GiB, else 16384 / 512).
    ``_handle_attention_backend_compatibility``: with the ``aiter`` backend and ``context_len > 8192`` the
    fraction (given or default) is multiplied by 0.85. On ROCm the default MLA backend is ``aiter`` only when
    the KV heads per rank are 16 or 128 (Kimi-Linear: 32 / tp), else ``triton``.

SGLang 0.5.16
  * Same budget (``mem_cache/kv_cache_configurator.py`` ``_profile_available_bytes``: ``rest = free_now -
    pre_model_load_memory * (1 - mem_fraction_static)``; the post-capture re-sizing is off for MLA models,
    ``server_args.py`` ``post_capture_kv_sizing_planned``).
  * ``_handle_max_mamba_cache``: ``--max-mamba-cache-size`` if given; else with ``--disable-radix-cache`` and
    ``--max-running-requests`` that value; otherwise (the default: prefix caching **on** for Kimi-Linear) the
    split ``slots = int(rest x r / (1 + r) x 2**30 // mamba_cache_per_req)`` with ``r =
    --mamba-full-memory-ratio`` (0.9).
  * ``resolve_max_num_reqs`` / ``_calculate_mamba_ratio``: ``min(--max-running-requests or clamp(int(tokens /
    context_len x 512), 2048, 4096), tokens // 2, slots // k)`` with ``k`` state slots per request: 1 without
    radix cache, else 3 + 2 (``extra_buffer`` with overlap schedule, the default from ``arg_groups/overrides.py``
    ``_mamba_radix_cache_resolution``), 3 + 1 (``extra_buffer_lazy``, or ``extra_buffer`` without overlap),
    3 (``no_buffer``).
  * Default fraction: as 0.5.7 but the graph reserve is ``reserve_for_graph_mb`` (2 x decode max batch; the
    prefill graph is disabled for MLA models, ``_disable_breakable_cudagraph_if_incompatible``).

What is *measured* by SGLang at run time and therefore a parameter here (both fitted to real launches: SGLang
0.5.16, tiny config, one H100, tp 1, ``tests/test_sglang_memory.py``'s table; larger tp, other GPUs and ROCm
will differ):
  * ``startup_overhead_bytes``: GPU memory in use when SGLang measures ``pre_model_load_memory`` (CUDA context,
    NCCL) = total - ``pre_model_load_memory``. Default :data:`DEFAULT_STARTUP_OVERHEAD_BYTES`.
  * ``other_bytes``: memory allocated after that measurement and before the pool profiling besides the weights
    (the logs show it before "Load weight begin": kernels' workspaces, the model's buffers). Default
    :data:`DEFAULT_OTHER_BYTES`. The weights themselves are computed from the config (``capacity.sizes.weight_bytes``).
  The pool budget is linear in the fraction, ``rest = mfs x pre_model_load_memory - weights - other``, so launches
  at two fractions give both: the slope is ``pre_model_load_memory``, the intercept the memory used after it.
Not modelled: speculative decoding, DP attention, pipeline parallelism, hierarchical cache, fp4 KV cache.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from kimi_cookbook import versions
from kimi_cookbook.capacity.config import KimiLinearConfig, check_context, check_tp, load_model_config
from kimi_cookbook.capacity.dtypes import (
    DEFAULT_CONV_DTYPE,
    DEFAULT_KV_DTYPE,
    DEFAULT_STATE_DTYPE,
    DEFAULT_WEIGHT_DTYPE,
)
from kimi_cookbook.capacity.memory import default_prefill_and_graph, default_reserve_mib
from kimi_cookbook.capacity.sizes import kda_state_bytes_per_sequence, mla_kv_bytes_per_token, weight_bytes
from kimi_cookbook.hardware import GPU, get_gpu

__all__ = ["DEFAULT_OTHER_BYTES", "DEFAULT_STARTUP_OVERHEAD_BYTES", "SMI_MEMORY_MIB", "SGLangPools",
           "default_attention_backend", "default_mem_fraction_static", "parse_sglang_log", "pools_table",
           "predict_for_gpu", "predict_pools"]

GIB = 2**30
MIB = 2**20

# Fitted to the real launches (SGLang 0.5.16, tiny config, one H100 of 85,017,493,504 B, tp 1, context 8192):
# the pools SGLang sized (tokens x 1,152 B + slots x 814,080 B) are 23.456 GiB at --mem-fraction-static 0.3,
# 47.028 at 0.6 and 65.492 at its default 0.835 -- a straight line, slope 78.572 GiB (pre_model_load_memory: 0.607
# GiB in use before it) and intercept -0.115 GiB (0.041 GiB of weights + 0.075 GiB of other allocations). The logs
# agree: "Load weight begin. avail mem=78.50 GB" (0.07 GiB below 78.57: the other allocations came first) and
# "Load weight end. avail mem=78.46 GB" (78.572 - 0.115 = 78.456). The first fit, to the 0.3 launch alone
# (0.855 GiB overhead, no other), put pre_model_load_memory at 78.32 GiB -- below the 78.50 GiB the log shows
# free later, which cannot be -- and under-predicted the 0.835 launch by 0.2 %.
# Any pair in a band of a few kB reproduces all four logged launches to the token; these are round ones in it.
DEFAULT_STARTUP_OVERHEAD_BYTES = 651_821_000
DEFAULT_OTHER_BYTES = 80_023_000

# GPU capacity as nvidia-smi reports it (MiB); SGLang's default fraction uses this, not torch's total.
# Measured on the lent machines (kimi_cookbook/hardware.py docstring).
SMI_MEMORY_MIB = {"h100": 81559, "h200": 143771}

_STATE_SLOT_RATIO_BASE = 3  # MAMBA_CACHE_SIZE_MAX_RUNNING_REQUESTS_RATIO
_STRATEGIES = ("auto", "no_buffer", "extra_buffer", "extra_buffer_lazy")


@dataclass
class SGLangPools:
    """SGLang's predicted pools for one launch (per GPU) and how they were derived."""

    sglang_version: str
    tp: int
    context_length: int
    mem_fraction_static: float
    mem_fraction_source: str
    chunked_prefill_size: int
    cuda_graph_max_bs: int
    attention_backend: str
    radix_cache: bool
    mamba_strategy: str  # "off" (radix cache off), "no_buffer", "extra_buffer", "extra_buffer_lazy"
    state_slots_per_request: int
    # inputs (bytes, per GPU)
    gpu_memory_bytes: int
    free_before_weights_bytes: int
    weights_bytes_per_gpu: int
    other_bytes: int
    reserve_bytes: int
    pool_budget_bytes: int
    kv_bytes_per_token: int
    state_bytes_per_slot: int
    recurrent_bytes_per_slot: int
    conv_bytes_per_slot: int
    # results
    max_mamba_cache_size: int
    state_pool_bytes: int
    kv_pool_bytes: int
    max_total_num_tokens: int
    max_running_requests: int
    lines: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def json_keys(self) -> dict[str, int]:
        """The keys ``plan --json`` carries."""
        return {
            "sglang_max_total_num_tokens": self.max_total_num_tokens,
            "sglang_state_slots": self.max_mamba_cache_size,
            "sglang_max_running_requests": self.max_running_requests,
        }

    def explain(self) -> str:
        return "\n".join(self.lines)


def _rules(version: str | None) -> versions.SGLangVersion:
    try:
        return versions.get(version)
    except ValueError:
        raise ValueError(f"no SGLang memory rules for version {version!r}; known: {', '.join(versions.VERSIONS)} "
                         "(the rules were read from those releases' sources)") from None


def _config(config: dict | KimiLinearConfig | str | None) -> KimiLinearConfig:
    if isinstance(config, dict):
        return KimiLinearConfig.from_dict(config, "config")
    if isinstance(config, KimiLinearConfig):
        return config
    return load_model_config(config)


def _positive_int(name: str, value: Any, *, allow_none: bool = True) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def default_mem_fraction_static(capacity_mib: float, tp: int, *, chunked_prefill_size: int,
                                cuda_graph_max_bs: int, graph_reserve: bool = True) -> float:
    """SGLang's default ``--mem-fraction-static`` for one GPU of ``capacity_mib`` (nvidia-smi / amd-smi MiB):
    ``round((capacity - reserve) / capacity, 3)`` with :func:`kimi_cookbook.capacity.memory.default_reserve_mib`.
    Kimi-Linear is an MLA model, whose prefill CUDA graph 0.5.16 disables before sizing, so no prefill-graph
    reserve is added."""
    reserved = default_reserve_mib(capacity_mib, tp, chunked_prefill_size=chunked_prefill_size,
                                   cuda_graph_max_bs=cuda_graph_max_bs, graph_reserve=graph_reserve)
    return round((capacity_mib - reserved) / capacity_mib, 3)


def default_attention_backend(rocm: bool, tp: int, num_kv_heads: int) -> str:
    """0.5.7 default for an MLA model (``server_args.py``): on CUDA fa3 (Hopper) / flashinfer (Blackwell) / triton,
    returned as ``"cuda default"`` (only ``aiter`` changes the pools); on ROCm ``aiter`` only for 16 or 128 KV
    heads per rank, else ``triton``."""
    if not rocm:
        return "cuda default"
    heads = max(1, num_kv_heads // tp)
    return "aiter" if heads in (16, 128) else "triton"


def predict_pools(
    config: dict | KimiLinearConfig | str | None = None,
    *,
    gpu_memory_bytes: int,
    tp: int = 1,
    sglang_version: str | None = None,
    gpu_capacity_mib: float | None = None,
    rocm: bool = False,
    mem_fraction_static: float | None = None,
    context_length: int | None = None,
    max_running_requests: int | None = None,
    chunked_prefill_size: int | None = None,
    cuda_graph_max_bs: int | None = None,
    max_total_tokens: int | None = None,
    max_mamba_cache_size: int | None = None,
    mamba_full_memory_ratio: float = 0.9,
    disable_radix_cache: bool = False,
    mamba_radix_cache_strategy: str = "auto",
    disable_overlap_schedule: bool = False,
    disable_cuda_graph: bool = False,
    attention_backend: str | None = None,
    page_size: int = 1,
    kv_dtype: str = DEFAULT_KV_DTYPE,
    state_dtype: str = DEFAULT_STATE_DTYPE,
    conv_dtype: str = DEFAULT_CONV_DTYPE,
    weight_dtype: str = DEFAULT_WEIGHT_DTYPE,
    num_kv_heads: int | None = None,
    startup_overhead_bytes: int = DEFAULT_STARTUP_OVERHEAD_BYTES,
    other_bytes: int = DEFAULT_OTHER_BYTES,
) -> SGLangPools:
    """Predict ``max_total_num_tokens``, ``max_mamba_cache_size`` (state slots) and ``max_running_requests``
    that SGLang ``sglang_version`` (default :data:`kimi_cookbook.versions.DEFAULT_VERSION`) logs for Kimi-Linear on
    one GPU of a ``tp``-GPU launch. What differs between releases comes from their entry in
    :mod:`kimi_cookbook.versions` (``prefix_cache``, ``fixed_state_pool``, ...).

    ``gpu_memory_bytes``: the GPU's total memory as CUDA/ROCm reports it (torch ``total_memory``);
    ``gpu_capacity_mib``: as nvidia-smi / amd-smi reports it (used only for SGLang's default fraction and
    defaults; defaults to ``gpu_memory_bytes``). The keyword arguments mirror the launch flags of the same
    name. ``startup_overhead_bytes`` and ``other_bytes`` stand for what SGLang measures at run time (module
    docstring).
    """
    rules = _rules(sglang_version)
    v = rules.version
    cfg = _config(config)
    check_tp(cfg, tp)
    for name, val in (("max_running_requests", max_running_requests), ("chunked_prefill_size", chunked_prefill_size),
                      ("cuda_graph_max_bs", cuda_graph_max_bs), ("max_total_tokens", max_total_tokens),
                      ("max_mamba_cache_size", max_mamba_cache_size), ("context_length", context_length)):
        _positive_int(name, val)
    _positive_int("page_size", page_size, allow_none=False)
    if isinstance(gpu_memory_bytes, bool) or not isinstance(gpu_memory_bytes, int) or gpu_memory_bytes <= 0:
        raise ValueError(f"gpu_memory_bytes must be a positive integer, got {gpu_memory_bytes!r}")
    if mem_fraction_static is not None and not 0 < mem_fraction_static < 1:
        raise ValueError(f"mem_fraction_static must be between 0 and 1, got {mem_fraction_static!r}")
    if mamba_radix_cache_strategy not in _STRATEGIES:
        raise ValueError(f"mamba_radix_cache_strategy must be one of {', '.join(_STRATEGIES)}, "
                         f"got {mamba_radix_cache_strategy!r}")
    if mamba_full_memory_ratio <= 0:
        raise ValueError(f"mamba_full_memory_ratio must be positive, got {mamba_full_memory_ratio!r}")
    ctx = check_context(cfg, context_length) if context_length is not None else cfg.max_context
    cap_mib = gpu_capacity_mib if gpu_capacity_mib is not None else gpu_memory_bytes / MIB
    lines: list[str] = []

    # ---- server_args: defaults that depend on the GPU --------------------------------------------------------
    cps_default, bs_default = default_prefill_and_graph(cap_mib, tp)
    cps = chunked_prefill_size if chunked_prefill_size is not None else cps_default
    bs = cuda_graph_max_bs if cuda_graph_max_bs is not None else bs_default
    if num_kv_heads is None:
        num_kv_heads = cfg.num_attention_heads
    backend = attention_backend or default_attention_backend(rocm, tp, num_kv_heads)
    if mem_fraction_static is None:
        mfs = default_mem_fraction_static(cap_mib, tp, chunked_prefill_size=cps, cuda_graph_max_bs=bs,
                                          graph_reserve=not (disable_cuda_graph
                                                             and rules.graph_reserve_skipped_without_cuda_graph))
        source = (f"SGLang {v}'s default for a {cap_mib:,.0f} MiB GPU at tp {tp} "
                  f"(chunked prefill {cps}, graph batch {bs})")
    else:
        mfs, source = float(mem_fraction_static), "given"
    if backend == "aiter" and ctx > 8192:
        mfs *= 0.85
        source += "; x 0.85 for the aiter backend with context > 8192"

    # ---- radix cache and state slots per request ------------------------------------------------------------
    radix = rules.prefix_cache and not disable_radix_cache  # 0.5.7 forces it off for KimiLinearForCausalLM
    if not radix:
        strategy, k = "off", 1
    else:
        strategy = mamba_radix_cache_strategy
        overlap = not disable_overlap_schedule
        if strategy == "auto":  # _mamba_radix_cache_resolution; linear_attn_backend default triton
            strategy = "extra_buffer" if (overlap or page_size > 1) else "no_buffer"
        if strategy == "no_buffer":
            k = _STATE_SLOT_RATIO_BASE
        elif strategy == "extra_buffer_lazy" or not overlap:
            k = _STATE_SLOT_RATIO_BASE + 1
        else:
            k = _STATE_SLOT_RATIO_BASE + 2

    # ---- bytes -----------------------------------------------------------------------------------------------
    cell = mla_kv_bytes_per_token(cfg, kv_dtype)
    state = kda_state_bytes_per_sequence(cfg, state_dtype=state_dtype, conv_dtype=conv_dtype, tp=tp)
    per_slot = state["total"]
    weights = weight_bytes(cfg, weight_dtype, tp)["per_gpu"]
    free_before = gpu_memory_bytes - startup_overhead_bytes
    # SGLang works in float GiB here (get_available_gpu_memory returns GiB); so do we, to round the same way.
    free_before_gib = free_before / GIB
    free_now_gib = (free_before - weights - other_bytes) / GIB
    reserve_gib = free_before_gib * (1 - mfs)
    rest_gib = free_now_gib - reserve_gib

    # ---- state pool ------------------------------------------------------------------------------------------
    if max_mamba_cache_size is not None:
        slots, how = max_mamba_cache_size, "--max-mamba-cache-size"
    elif not radix and max_running_requests is not None:
        slots, how = max_running_requests, "--max-running-requests (radix cache off)"
    elif not radix and rules.fixed_state_pool is not None:
        slots = rules.fixed_state_pool
        how = f"SGLang {v}'s fixed {slots} (radix cache off for this model)"
    else:
        r = mamba_full_memory_ratio
        slots = int((rest_gib * r / (1 + r)) * GIB // per_slot) if rest_gib > 0 else 0
        how = f"{r:g} / {1 + r:g} of the pool budget (--mamba-full-memory-ratio {r:g})"
    state_gib = slots * per_slot / GIB
    kv_gib = rest_gib - state_gib

    # ---- token pool and requests -----------------------------------------------------------------------------
    tokens = int(kv_gib * GIB) // cell if kv_gib > 0 else 0
    profiled = tokens
    if max_total_tokens is not None:
        tokens = min(tokens, max_total_tokens)
    tokens = tokens // page_size * page_size
    # the request pool is estimated from the capped, page-aligned tokens (0.5.16) or the profiled ones (0.5.7)
    basis = tokens if rules.request_pool_from_capped_tokens else profiled
    estimated = max(min(int(basis / ctx * 512), 4096), 2048)
    wanted = max_running_requests if max_running_requests is not None else estimated
    token_cap = tokens // 2
    if max_running_requests is not None and not rules.given_max_running_capped_by_tokens:
        token_cap = max_running_requests  # 0.5.7 takes a given --max-running-requests without the token cap
    running = max(min(wanted, token_cap, slots // k), 0)

    g = GIB
    lines += [
        f"SGLang {v}, tp {tp}, context {ctx:,}: --mem-fraction-static {mfs:.3f} ({source}).",
        f"GPU memory {gpu_memory_bytes / g:.2f} GiB; free before the model loads (pre_model_load_memory) "
        f"{free_before_gib:.2f} GiB (assumed startup overhead {startup_overhead_bytes / g:.2f} GiB: CUDA context, "
        "NCCL; measured by SGLang).",
        f"Weights per GPU {weights / g:.2f} GiB (from config.json, {weight_dtype}, tp {tp} sharding)"
        + (f" + other allocations {other_bytes / g:.2f} GiB (assumed; measured by SGLang)" if other_bytes else "")
        + f"; free after them {free_now_gib:.2f} GiB.",
        f"Reserve for activations and CUDA graphs {reserve_gib:.2f} GiB = pre_model_load_memory x (1 - {mfs:.3f}).",
        f"Pool budget {rest_gib:.2f} GiB = free after weights - reserve.",
        f"State: {per_slot:,} B per slot per GPU ({state['recurrent']:,} recurrent {state_dtype} + "
        f"{state['conv']:,} conv); {slots:,} slots = {how} -> {state_gib:.2f} GiB.",
        f"MLA cache: {cell:,} B per token (replicated on each GPU); {kv_gib:.2f} GiB -> "
        f"max_total_num_tokens {tokens:,}" + (f" (page size {page_size})" if page_size > 1 else "") + ".",
        f"Radix (prefix) cache {'on, ' + strategy if radix else 'off'}: {k} state slot(s) per running request; "
        f"max_running_requests {running:,} = min(" + (
            f"--max-running-requests {max_running_requests}" if max_running_requests is not None
            else f"{estimated} (tokens/context x 512, clamped to 2048..4096)"
        ) + f", tokens // 2, {slots:,} // {k}).",
    ]
    if rest_gib <= 0 or tokens <= 0:
        lines.append("SGLang would refuse to start: no memory left for the KV cache; raise --mem-fraction-static "
                     "or use more GPUs.")
    if slots <= 0 or running <= 0:
        lines.append("SGLang would refuse to start: the state pool cannot hold one request.")

    return SGLangPools(
        sglang_version=v, tp=tp, context_length=ctx, mem_fraction_static=round(mfs, 6),
        mem_fraction_source=source, chunked_prefill_size=cps, cuda_graph_max_bs=bs, attention_backend=backend,
        radix_cache=radix, mamba_strategy=strategy, state_slots_per_request=k,
        gpu_memory_bytes=gpu_memory_bytes, free_before_weights_bytes=free_before, weights_bytes_per_gpu=weights,
        other_bytes=other_bytes, reserve_bytes=int(reserve_gib * GIB), pool_budget_bytes=int(rest_gib * GIB),
        kv_bytes_per_token=cell, state_bytes_per_slot=per_slot, recurrent_bytes_per_slot=state["recurrent"],
        conv_bytes_per_slot=state["conv"], max_mamba_cache_size=slots, state_pool_bytes=slots * per_slot,
        kv_pool_bytes=tokens * cell, max_total_num_tokens=tokens, max_running_requests=running, lines=lines,
    )


def predict_for_gpu(gpu: GPU | str, config: dict | KimiLinearConfig | str | None = None, *,
                    tp: int | None = None, sglang_version: str | None = None, **kw: Any) -> SGLangPools:
    """:func:`predict_pools` for a GPU of the catalog (:mod:`kimi_cookbook.hardware`): its usable memory,
    its nvidia-smi capacity where measured, ROCm or not, and its default tp."""
    g = get_gpu(gpu) if isinstance(gpu, str) else gpu
    return predict_pools(
        config,
        gpu_memory_bytes=g.usable_memory_bytes,
        gpu_capacity_mib=kw.pop("gpu_capacity_mib", SMI_MEMORY_MIB.get(g.id, g.usable_memory_bytes / MIB)),
        rocm=g.is_rocm,
        tp=tp if tp is not None else g.default_tp,
        sglang_version=sglang_version,
        **kw,
    )


_LOG_PATTERNS = {
    "max_total_num_tokens": r"max_total_num_tokens=(\d+)",
    "max_mamba_cache_size": r"max_mamba_cache_size: (\d+)",
    "max_running_requests": r"max_running_requests=(\d+)",
    "kv_gib": r"KV Cache is allocated\..*?KV size: ([\d.]+) GB",
    "conv_gib": r"conv_state size: ([\d.]+) ?GB",
    "ssm_gib": r"ssm_state size: ([\d.]+) ?GB",
    "mem_fraction_static": r"mem_fraction_static=([\d.]+)",
    "avail_gib_before_weights": r"Load weight begin\. avail mem=([\d.]+) GB",
    "avail_gib_after_weights": r"Load weight end\..*?avail mem=([\d.]+) GB",
    "weights_gib": r"Load weight end\..*?mem usage=([\d.]+) GB",
    "mamba_radix_cache_strategy": r"mamba_radix_cache_strategy='([a-z_]+)'",
    "disable_overlap_schedule": r"disable_overlap_schedule=(True|False)",
}


def parse_sglang_log(text: str) -> dict[str, Any]:
    """The pool figures a SGLang server log states (first occurrence of each; absent ones left out), to compare
    with :func:`predict_pools`: ``max_total_num_tokens``, ``max_mamba_cache_size``, ``max_running_requests``,
    the pool sizes in GiB (SGLang prints ``GB`` but divides by 2**30), ``mem_fraction_static``, the radix strategy
    and ``disable_overlap_schedule`` of its server_args, the free memory SGLang saw before and after loading
    the weights, and what the weights took."""
    out: dict[str, Any] = {}
    for key, pat in _LOG_PATTERNS.items():
        m = re.search(pat, text)
        if m:
            val = m.group(1)
            if key == "mamba_radix_cache_strategy":
                out[key] = val
            elif key == "disable_overlap_schedule":
                out[key] = val == "True"
            else:
                out[key] = float(val) if "." in val else int(val)
    return out


def ratio_for_running(gpu: GPU | str, running: int, config: dict | KimiLinearConfig | str | None = None, *,
                      tp: int | None = None, sglang_version: str | None = None, context: int | None = None,
                      step: float = 0.1, highest: float = 20.0, **kw: Any) -> dict[str, Any]:
    """The smallest ``--mamba-full-memory-ratio`` (in ``step``s up to ``highest``) at which SGLang is predicted to
    run ``running`` requests at once with the prefix cache kept on (and, with ``context``, to hold that many
    requests of ``context`` tokens in its MLA cache). Returns ``fits``, ``ratio`` (None when the defaults already
    fit, or nothing does), the pools with and without it, and ``note``: the one sentence to show.
    ``kw``: the other launch flags, as :func:`predict_pools`."""
    if isinstance(running, bool) or not isinstance(running, int) or running < 1:
        raise ValueError(f"running must be a whole number of requests, at least 1, got {running!r}")
    if not 0 < step <= highest:
        raise ValueError(f"step must be above 0 and at most highest ({highest}), got {step!r}")
    if kw.get("disable_radix_cache"):
        raise ValueError("the ratio is for a launch with the prefix cache on; leave out --disable-radix-cache")
    cfg = _config(config)
    base = predict_for_gpu(gpu, cfg, tp=tp, sglang_version=sglang_version, **kw)
    need_tokens = running * context if context else 1

    def fits(p: SGLangPools) -> bool:
        return p.max_running_requests >= running and p.max_total_num_tokens >= need_tokens

    what = f"{running} requests" + (f" of {context:,} tokens" if context else "")
    out = {"running": running, "context": context, "highest": highest,
           "default_max_running_requests": base.max_running_requests,
           "default_max_total_num_tokens": base.max_total_num_tokens}
    if fits(base):
        return {**out, "fits": True, "ratio": None, "max_running_requests": base.max_running_requests,
                "max_total_num_tokens": base.max_total_num_tokens,
                "note": f"SGLang {base.sglang_version}'s defaults already run {what} at once "
                        f"(up to {base.max_running_requests:,})"}
    if not versions.get(base.sglang_version).prefix_cache:
        return {**out, "fits": False, "ratio": None, "max_running_requests": base.max_running_requests,
                "max_total_num_tokens": base.max_total_num_tokens,
                "note": f"SGLang {base.sglang_version} runs Kimi-Linear without a prefix cache, so "
                        f"--mamba-full-memory-ratio does not apply; it runs up to {base.max_running_requests:,} "
                        f"at once and not {what}: use a larger tp"}
    for i in range(1, int(round(highest / step)) + 1):
        ratio = round(i * step, 6)
        p = predict_for_gpu(gpu, cfg, tp=tp, sglang_version=sglang_version, **{**kw, "mamba_full_memory_ratio": ratio})
        if fits(p):
            return {**out, "fits": True, "ratio": ratio, "max_running_requests": p.max_running_requests,
                    "max_total_num_tokens": p.max_total_num_tokens,
                    "note": f"--mamba-full-memory-ratio {ratio:g} runs {p.max_running_requests:,} at once "
                            f"(defaults: {base.max_running_requests:,}) with {p.max_total_num_tokens:,} MLA cache "
                            f"tokens instead of {base.max_total_num_tokens:,}: {what} fit with the prefix cache "
                            "on (predicted; its speed is not measured)"}
    return {**out, "fits": False, "ratio": None, "max_running_requests": base.max_running_requests,
            "max_total_num_tokens": base.max_total_num_tokens,
            "note": f"no --mamba-full-memory-ratio up to {highest:g} runs {what} at once with the prefix cache on: "
                    "use a larger tp, or --disable-radix-cache (no prefix reuse)"}


def pools_table(setups=None, *, sglang_version: str | None = None, config: dict | KimiLinearConfig | str | None = None,
                **kw: Any) -> list[dict[str, Any]]:
    """One row per (GPU id, tp) of SGLang's predicted pools (default: every catalog GPU at its default tp, as the
    page's selector offers them); a setup SGLang would refuse says so in ``note``. ``kw``: as :func:`predict_pools`
    (e.g. ``mem_fraction_static``, ``context_length``), applied to every row."""
    from kimi_cookbook.hardware import GPUS

    cfg = _config(config)
    setups = setups or [(g.id, g.default_tp) for g in GPUS.values()]
    rows = []
    for hw, tp in setups:
        g = get_gpu(hw)
        p = predict_for_gpu(g, cfg, tp=tp, sglang_version=sglang_version, **kw)
        refused = p.max_total_num_tokens <= 0 or p.max_running_requests <= 0
        rows.append({
            "hardware": f"{tp} x {g.label}",
            "sglang": p.sglang_version,
            "mem_fraction_static": round(p.mem_fraction_static, 3),
            "weights_GiB_per_gpu": round(p.weights_bytes_per_gpu / GIB, 2),
            "reserve_GiB": round(p.reserve_bytes / GIB, 2),
            "pool_budget_GiB": round(p.pool_budget_bytes / GIB, 2),
            "state_slots": p.max_mamba_cache_size,
            "max_total_num_tokens": p.max_total_num_tokens,
            "max_running_requests": p.max_running_requests,
            "note": "SGLang would refuse to start (no room for the pools)" if refused else "",
        })
    return rows
