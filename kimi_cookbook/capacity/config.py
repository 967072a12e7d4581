"""The model's ``config.json``: load it (the packaged published one, or a local one of the same family).

Every count the planner and the launch-command checks use -- layers of each kind, heads, head sizes,
experts, the context limit -- comes from here, so another config of the family gives its own numbers.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["KimiLinearConfig", "as_config", "check_context", "check_tp", "load_model_config"]


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
        if not isinstance(d, dict) or not isinstance(d.get("linear_attn_config", {}), dict):
            raise ValueError(f"{source or 'config'} is not a Kimi-Linear config.json: it must be a JSON object "
                             "with a 'linear_attn_config' object")
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
