"""How much memory SGLang leaves for cache and state, and how many requests fit in it.

SGLang keeps part of each GPU out of weights and cache when ``--mem-fraction-static`` is not given (activations,
CUDA graphs); the rest after the weights holds the MLA cache and the KDA state slots. The reserve rule here is the
one :mod:`kimi_cookbook.capacity.pools` uses too.
"""

from __future__ import annotations

import math

from kimi_cookbook.hardware import GPU, get_gpu

__all__ = ["crossover_context", "default_prefill_and_graph", "default_reserve_mib", "max_requests",
           "sglang_reserved_bytes"]


def default_prefill_and_graph(capacity_mib: float, tp: int) -> tuple[int, int]:
    """SGLang's ``chunked_prefill_size`` and decode CUDA-graph max batch by GPU capacity in MiB (the same table in
    every release the cookbook knows, ``ServerArgs._handle_gpu_memory_settings``)."""
    if capacity_mib < 20 * 1024:
        return 2048, 8
    if capacity_mib < 35 * 1024:
        return 2048, (24 if tp < 4 else 80)
    if capacity_mib < 60 * 1024:
        return 4096, (32 if tp < 4 else 160)
    if capacity_mib < 160 * 1024:
        return 8192, (256 if tp < 4 else 512)
    return 16384, 512


def default_reserve_mib(capacity_mib: float, tp: int, *, chunked_prefill_size: int, cuda_graph_max_bs: int,
                        graph_reserve: bool = True) -> float:
    """MiB SGLang keeps out of weights + cache per GPU when ``--mem-fraction-static`` is not given:
    ``512 + 1.5 x max(chunked_prefill_size, 2048) + tp/8 x 1024 (+ 2 x graph max batch)``, at least 10 GiB on GPUs
    above 60 GiB (activations, CUDA graphs)."""
    reserved = 512 + max(chunked_prefill_size, 2048) * 1.5 + tp / 8 * 1024
    if graph_reserve:
        reserved += cuda_graph_max_bs * 2
    if capacity_mib > 60 * 1024:
        reserved = max(reserved, 10 * 1024)
    return reserved


def sglang_reserved_bytes(gpu: GPU | str, tp: int, chunked_prefill_size: int | None = None,
                          cuda_graph_max_bs: int | None = None) -> int:
    """Per-GPU bytes SGLang leaves outside weights + cache by default (:func:`default_reserve_mib` for the GPU's
    usable memory and its capacity defaults)."""
    g = get_gpu(gpu) if isinstance(gpu, str) else gpu
    mem_mib = g.usable_memory_bytes / 2**20
    cps, bs = default_prefill_and_graph(mem_mib, tp)
    cps = chunked_prefill_size if chunked_prefill_size is not None else cps
    bs = cuda_graph_max_bs if cuda_graph_max_bs is not None else bs
    return int(default_reserve_mib(mem_mib, tp, chunked_prefill_size=cps, cuda_graph_max_bs=bs) * 2**20)


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
