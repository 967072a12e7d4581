"""How much memory SGLang leaves for cache and state, and how many requests fit in it.

SGLang 0.5.7 keeps part of each GPU out of weights and cache when ``--mem-fraction-static`` is not given
(activations, CUDA graphs); the rest after the weights holds the MLA cache and the KDA state slots.
"""

from __future__ import annotations

import math

from kimi_cookbook.hardware import GPU, get_gpu

__all__ = ["crossover_context", "max_requests", "sglang_reserved_bytes"]


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
