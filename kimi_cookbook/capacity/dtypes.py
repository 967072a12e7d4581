"""The dtypes SGLang 0.5.7 stores this model's memory in, with their byte sizes and defaults.

MLA cache: ``--kv-cache-dtype auto`` = the model dtype (bfloat16). KDA recurrent state: ``--mamba-ssm-dtype``
(float32 by default); its short-conv state is bfloat16 (``CONV_DTYPE``, fixed in 0.5.7). Weights:
``--dtype auto`` = the checkpoint dtype (bfloat16); ``--quantization fp8`` stores linear layers in one byte.
"""

from __future__ import annotations

from kimi_cookbook import versions

_PAGE = versions.get(versions.PAGE_VERSION)

__all__ = [
    "CONV_DTYPES", "DEFAULT_CONV_DTYPE", "DEFAULT_KV_DTYPE", "DEFAULT_STATE_DTYPE", "DEFAULT_STATE_SLOTS",
    "DEFAULT_WEIGHT_DTYPE", "KV_DTYPES", "SGLANG_DEFAULT_STATE_POOL", "STATE_DTYPES", "WEIGHT_DTYPES",
    "canonical_dtype", "dtype_bytes",
]

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
DTYPE_BYTES = {"bfloat16": 2, "float16": 2, "float32": 4, "fp8_e4m3": 1, "fp8_e5m2": 1}

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
DEFAULT_STATE_SLOTS = _PAGE.state_slots_per_request  # 1: 0.5.7 turns the radix cache off for KimiLinearForCausalLM
SGLANG_DEFAULT_STATE_POOL = _PAGE.fixed_state_pool  # 512: 0.5.7's max_mamba_cache_size without --max-running-requests


def canonical_dtype(name: str, allowed: tuple[str, ...] | None = None, what: str = "dtype") -> str:
    """Normalise a dtype name ('bf16', 'fp8', 'float32', ...) or raise ValueError naming the choices."""
    key = str(name).strip().lower()
    canon = _DTYPE_ALIASES.get(key)
    if canon is None or (allowed is not None and canon not in allowed):
        choices = allowed if allowed is not None else tuple(DTYPE_BYTES)
        raise ValueError(f"unknown {what} {name!r}; allowed: {', '.join(choices)}")
    return canon


def dtype_bytes(name: str) -> int:
    """Bytes per value of a dtype (any name :func:`canonical_dtype` accepts)."""
    return DTYPE_BYTES[canonical_dtype(name)]
