"""The planner's two plots: memory per request vs context, and requests that fit vs context."""

from __future__ import annotations

import math

from kimi_cookbook.capacity.config import as_config
from kimi_cookbook.capacity.dtypes import DEFAULT_KV_DTYPE, DEFAULT_STATE_DTYPE, DEFAULT_STATE_SLOTS, canonical_dtype
from kimi_cookbook.capacity.memory import crossover_context
from kimi_cookbook.capacity.plan import GIB, concurrency_curve
from kimi_cookbook.capacity.sizes import (
    full_mla_kv_bytes_per_token,
    kda_state_bytes_per_sequence,
    mla_kv_bytes_per_token,
)
from kimi_cookbook.hardware import get_gpu

__all__ = ["context_grid", "plot_max_concurrency", "plot_memory_per_request"]


def context_grid(max_context: int = 1048576, points: int = 41) -> list[int]:
    """Log-spaced contexts from 1k to ``max_context`` (inclusive)."""
    lo, hi = math.log10(1024), math.log10(max_context)
    grid = sorted({round(10 ** (lo + (hi - lo) * i / (points - 1))) for i in range(points)})
    grid[-1] = max_context
    return grid


def plot_memory_per_request(ax=None, *, config=None, kv_dtype: str = DEFAULT_KV_DTYPE,
                            state_dtype: str = DEFAULT_STATE_DTYPE, state_slots: int = DEFAULT_STATE_SLOTS):
    """Logical memory one request holds vs context: hybrid (MLA cache + KDA state) and full MLA."""
    import matplotlib.pyplot as plt  # lazy: pyplot is slow to import and only the plots need it

    cfg = as_config(config)
    ctx = context_grid(cfg.max_context)
    kv, kv_full = mla_kv_bytes_per_token(cfg, kv_dtype), full_mla_kv_bytes_per_token(cfg, kv_dtype)
    state = state_slots * kda_state_bytes_per_sequence(cfg, state_dtype)["total"]
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    hybrid = f"Kimi-Linear ({cfg.num_mla_layers} MLA + {cfg.num_kda_layers} KDA layers)"
    ax.loglog(ctx, [(c * kv + state) / GIB for c in ctx], label=hybrid)
    ax.loglog(ctx, [c * kv_full / GIB for c in ctx], "--", label=f"full MLA ({cfg.num_hidden_layers} MLA layers)")
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
    import matplotlib.pyplot as plt  # lazy: pyplot is slow to import and only the plots need it

    cfg = as_config(config)
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
