"""SGLang's memory pools for Kimi-Linear, predicted before a launch, and read back from its log.

The public name of :mod:`kimi_cookbook.capacity.pools` (where the rules live, beside the sizes they use), for
notebook 07, ``kimi-cookbook plan --sglang-version`` and the smoke test.
"""

from kimi_cookbook.capacity.pools import (
    DEFAULT_OTHER_BYTES,
    DEFAULT_STARTUP_OVERHEAD_BYTES,
    SMI_MEMORY_MIB,
    SGLangPools,
    default_attention_backend,
    default_mem_fraction_static,
    parse_sglang_log,
    pools_table,
    predict_for_gpu,
    predict_pools,
    ratio_for_running,
)

__all__ = ["DEFAULT_OTHER_BYTES", "DEFAULT_STARTUP_OVERHEAD_BYTES", "SMI_MEMORY_MIB", "SGLangPools",
           "default_attention_backend", "default_mem_fraction_static", "parse_sglang_log", "pools_table",
           "predict_for_gpu", "predict_pools", "ratio_for_running"]
