"""The model's ``config.json``: load it (the packaged published one, or a local one of the same family).

Every count the planner and the launch-command checks use -- layers of each kind, heads, head sizes,
experts, the context limit -- comes from here, so another config of the family gives its own numbers.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["KimiLinearConfig", "as_config", "check_context", "check_tp", "load_model_config"]


_REQUIRED = object()

FIELD_BOUNDS: dict[str, tuple[int, int]] = {
    # whole numbers, inclusive; far beyond any real model, small enough that no count overflows or allocates much
    "hidden_size": (1, 1 << 20),
    "num_hidden_layers": (1, 4096),
    "vocab_size": (1, 1 << 24),
    "num_attention_heads": (1, 4096),
    "intermediate_size": (1, 1 << 22),
    "num_experts": (1, 1 << 16),
    "num_shared_experts": (0, 1 << 10),
    "moe_intermediate_size": (1, 1 << 22),
    "q_lora_rank": (1, 1 << 20),
    "kv_lora_rank": (1, 1 << 20),
    "qk_nope_head_dim": (0, 1 << 14),
    "qk_rope_head_dim": (0, 1 << 14),
    "v_head_dim": (1, 1 << 14),
    "num_heads": (1, 4096),
    "head_dim": (1, 1 << 14),
    "short_conv_kernel_size": (1, 1 << 10),
    "max_context": (1, 1 << 27),
}
"""The range each config.json count must be in (``num_heads``, ``head_dim``, ``short_conv_kernel_size``: of
``linear_attn_config``; ``max_context``: the context-length fields)."""


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _whole(value, what: str, lo: int, hi: int) -> int:
    """``value`` as an int in [lo, hi]: an int or a float with no fraction (JSON writes 2048 as 2048.0 too);
    ValueError naming ``what`` for anything else (a list, a string, true, 1e400, NaN, a negative)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{what} must be a whole number from {lo} to {hi:,}, got {_shown(value)}")
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise ValueError(f"{what} must be a whole number from {lo} to {hi:,}, got {_shown(value)}")
        value = int(value)
    if not lo <= value <= hi:
        raise ValueError(f"{what} must be a whole number from {lo} to {hi:,}, got {_shown(value)}")
    return value


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
        """The planner's fields of a parsed ``config.json``. Every field is checked -- a whole number within
        :data:`FIELD_BOUNDS`, the layer lists within the layer count -- before any arithmetic, so a hostile or
        broken file is a ValueError naming the field, never a huge allocation or a crash."""
        name = source or "config"
        if not isinstance(d, dict) or not isinstance(d.get("linear_attn_config", {}), dict):
            raise ValueError(f"{name} is not a Kimi-Linear config.json: it must be a JSON object "
                             "with a 'linear_attn_config' object")
        if d.get("model_type") not in (None, "kimi_linear") or "linear_attn_config" not in d:
            raise ValueError(
                f"{name} is not a Kimi-Linear config.json (model_type "
                f"{d.get('model_type')!r}, needs 'linear_attn_config')"
            )
        lin = d["linear_attn_config"]

        def num(key: str, *, default=_REQUIRED, table: dict | None = None, prefix: str = "", lo=None, hi=None):
            table = d if table is None else table
            if key not in table or table[key] is None:
                if default is _REQUIRED:
                    raise ValueError(f"{name} lacks the field {prefix + key!r}")
                return default
            return _whole(table[key], f"{name}: {prefix + key}", *(FIELD_BOUNDS[key] if lo is None else (lo, hi)))

        max_ctx = None
        # SGLang's get_context_length order (utils/hf_transformers_utils.py CONTEXT_LENGTH_KEYS)
        for key in ("max_sequence_length", "seq_length", "max_seq_len", "model_max_length",
                    "max_position_embeddings"):
            if d.get(key) is not None:
                max_ctx = _whole(d[key], f"{name}: {key}", *FIELD_BOUNDS["max_context"])
                break
        layers = num("num_hidden_layers")
        experts = num("num_experts")

        def layer_list(key: str) -> tuple[int, ...]:
            if key not in lin:
                raise ValueError(f"{name} lacks the field 'linear_attn_config.{key}'")
            value = lin[key]
            if not isinstance(value, list) or len(value) > layers:
                raise ValueError(f"{name}: linear_attn_config.{key} must be a list of at most {layers} layer "
                                 f"numbers (num_hidden_layers), got {_shown(value)}")
            return tuple(_whole(x, f"{name}: linear_attn_config.{key}", 1, layers) for x in value)

        cfg = cls(
            hidden_size=num("hidden_size"),
            num_hidden_layers=layers,
            vocab_size=num("vocab_size"),
            num_attention_heads=num("num_attention_heads"),
            intermediate_size=num("intermediate_size"),
            first_k_dense_replace=num("first_k_dense_replace", default=0, lo=0, hi=layers),
            moe_layer_freq=num("moe_layer_freq", default=1, lo=1, hi=layers),
            num_experts=experts,
            num_experts_per_token=num("num_experts_per_token", lo=1, hi=experts),
            num_shared_experts=num("num_shared_experts", default=0),
            moe_intermediate_size=num("moe_intermediate_size"),
            q_lora_rank=num("q_lora_rank", default=None),
            kv_lora_rank=num("kv_lora_rank"),
            qk_nope_head_dim=num("qk_nope_head_dim"),
            qk_rope_head_dim=num("qk_rope_head_dim"),
            v_head_dim=num("v_head_dim"),
            tie_word_embeddings=bool(d.get("tie_word_embeddings", False)),
            max_context=max_ctx or 2048,
            full_attn_layers=layer_list("full_attn_layers"),
            kda_layers=layer_list("kda_layers"),
            kda_num_heads=num("num_heads", table=lin, prefix="linear_attn_config."),
            kda_head_dim=num("head_dim", table=lin, prefix="linear_attn_config."),
            short_conv_kernel_size=num("short_conv_kernel_size", table=lin, prefix="linear_attn_config."),
            source=source,
        )
        if set(cfg.full_attn_layers) | set(cfg.kda_layers) != set(range(1, layers + 1)) or set(
            cfg.full_attn_layers
        ) & set(cfg.kda_layers):
            raise ValueError(
                f"{name}: full_attn_layers and kda_layers must split layers "
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


@functools.cache
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
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(f"{p} is not valid JSON: {exc}") from None
    return KimiLinearConfig.from_dict(d, str(p))


def as_config(config: KimiLinearConfig | str | Path | None) -> KimiLinearConfig:
    """``config`` itself if already loaded, else :func:`load_model_config` of it (None: the packaged one)."""
    return config if isinstance(config, KimiLinearConfig) else load_model_config(config)


def check_tp(cfg: KimiLinearConfig, tp: int) -> int:
    """tp must be a positive integer dividing the KDA heads, the MLA heads and the conv width."""
    from kimi_cookbook.hardware import MAX_TP

    if isinstance(tp, bool) or not isinstance(tp, int) or not 1 <= tp <= MAX_TP:
        raise ValueError(f"tp must be a whole number between 1 and {MAX_TP} (the GPUs of one node), got {tp!r}")
    heads = {cfg.kda_num_heads, cfg.num_attention_heads}
    bad = [h for h in sorted(heads) if h % tp]
    if bad:
        ok = [t for t in range(1, MAX_TP + 1) if all(h % t == 0 for h in heads)]
        raise ValueError(
            f"tp={tp} does not divide the {bad[0]} attention heads; SGLang shards heads evenly, "
            f"so tp must be one of {ok}"
        )
    return tp


def check_context(cfg: KimiLinearConfig, context: int) -> int:
    """context must be a positive number of tokens within the model's limit."""
    if isinstance(context, bool) or not isinstance(context, int) or context < 1:
        raise ValueError(f"context must be a positive number of tokens, got {context!r}")
    if context > cfg.max_context:
        raise ValueError(
            f"context {context} exceeds the model's limit of {cfg.max_context} tokens "
            "(model_max_length in config.json)"
        )
    return context
