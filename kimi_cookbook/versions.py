"""SGLang versions the cookbook knows: what differs between them for Kimi-Linear, in one table.

The page pins SGLang 0.5.7 (its Docker tag). 0.5.16 was validated here on an H100 with the tiny Kimi-Linear
(``docs/validation/``). This module is the one registry of what differs between them: per version the Docker
image tag per GPU family, the benchmark client's module, the GSM8K harness, launch flags that differ, the rules
SGLang sizes its memory pools by (read by :mod:`kimi_cookbook.capacity.pools`), and the dated list of changes that
matter for this model, each with its public source. Every other module asks :func:`get`; the default is
:data:`DEFAULT_VERSION`, the page's. The newest release at the time of writing (0.5.23) is named but not
offered: no public source seen here confirms its image tags.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field

from kimi_cookbook.hardware import get_gpu

__all__ = ["CHANGES", "DEFAULT_VERSION", "NEWEST_RELEASE", "PAGE_VERSION", "VALIDATED_VERSION", "VERSIONS",
           "SGLangVersion", "changes_markdown", "dataset_problem", "get", "hub_reachable", "launch_extra_args",
           "sharegpt_cached"]

PAGE_VERSION = "0.5.7"
VALIDATED_VERSION = "0.5.16"
NEWEST_RELEASE = "0.5.23"  # 2026-10; not offered (image tags unconfirmed)
DEFAULT_VERSION = PAGE_VERSION
"""The version every function uses when none is given: the page's."""


@dataclass(frozen=True)
class SGLangVersion:
    """What one SGLang release means for Kimi-Linear: its images, tools, launch flags and memory rules."""

    version: str
    torch: str  # the torch its wheel pins
    rocm_tag: str  # the ROCm part of its AMD image tags
    bench_module: str  # python -m ... for the serving benchmark client
    gsm8k_harness: str  # "few_shot_gsm8k" or "run_eval"
    prefix_cache: bool  # radix (prefix) cache on for Kimi-Linear by default (False: forced off)
    state_slots_per_request: int  # KDA state slots SGLang reserves per running request (default strategy)
    # flags a GPU needs at launch on this release, and why
    gpu_launch_args: dict[str, tuple[str, ...]] = field(default_factory=dict)
    gpu_launch_reasons: dict[str, str] = field(default_factory=dict)
    # memory rules (kimi_cookbook.capacity.pools.predict_pools reads them; no per-version branches there)
    fixed_state_pool: int | None = None  # state slots when the radix cache is off and --max-running-requests is
    # unset (0.5.7: 512); None: split the pool budget by --mamba-full-memory-ratio
    request_pool_from_capped_tokens: bool = True  # the request-pool estimate uses the tokens after
    # --max-total-tokens and page rounding (0.5.7: the profiled tokens, before them)
    given_max_running_capped_by_tokens: bool = True  # a given --max-running-requests is also capped at tokens // 2
    graph_reserve_skipped_without_cuda_graph: bool = True  # --disable-cuda-graph drops the graph term of the
    # default --mem-fraction-static reserve (0.5.7 always adds it)
    sources: tuple[str, ...] = field(default=())

    def image(self, hardware: str) -> str:
        """The Docker image for ``hardware`` (the GPU's image family: -mi30x for MI300X/MI325X, -mi35x for MI355X)."""
        gpu = get_gpu(hardware)
        if gpu.is_rocm:
            return f"lmsysorg/sglang:v{self.version}-{self.rocm_tag}-{gpu.image_family}"
        return f"lmsysorg/sglang:v{self.version}"


VERSIONS: dict[str, SGLangVersion] = {
    v.version: v
    for v in (
        SGLangVersion(
            version="0.5.7", torch="2.9.1", rocm_tag="rocm700", bench_module="sglang.bench_serving",
            gsm8k_harness="few_shot_gsm8k", prefix_cache=False, state_slots_per_request=1,
            gpu_launch_args={"b200": ("--attention-backend", "triton")},
            gpu_launch_reasons={"b200": "the default flashinfer attention backend on Blackwell fails at launch for "
                                        "this model ('ModelConfig' object has no attribute 'scaling'); triton "
                                        "avoids it"},
            fixed_state_pool=512, request_pool_from_capped_tokens=False, given_max_running_capped_by_tokens=False,
            graph_reserve_skipped_without_cuda_graph=False,
            sources=("the SGLang cookbook's Kimi-Linear page (lmsysorg/sglang:v0.5.7-rocm700-mi30x)",
                     "SGLang 0.5.7 sources: srt/server_args.py, bench_serving.py, test/few_shot_gsm8k.py"),
        ),
        SGLangVersion(
            version="0.5.16", torch="2.11.0", rocm_tag="rocm720", bench_module="sglang.benchmark.serving",
            gsm8k_harness="run_eval", prefix_cache=True, state_slots_per_request=5,
            sources=("AMD-AGI/TraceLens docs: lmsysorg/sglang:v0.5.16-rocm720-mi30x / -mi35x",
                     "docs/validation/2026-11-23-sglang-0.5.16-h100 (this repository)"),
        ),
    )
}


def get(version: str | None = None) -> SGLangVersion:
    """The entry for ``version`` (default :data:`DEFAULT_VERSION`, the page's); a clear ValueError for others."""
    key = DEFAULT_VERSION if version in (None, "") else str(version).strip().lstrip("v")
    if key not in VERSIONS:
        extra = ""
        if key == NEWEST_RELEASE:
            extra = f" ({NEWEST_RELEASE} is out, but its image tags are not confirmed here)"
        raise ValueError(f"SGLang version {version!r} is not one the cookbook knows{extra}; "
                         f"use one of {', '.join(VERSIONS)}")
    return VERSIONS[key]


def launch_extra_args(hardware: str, version: str | None = None) -> tuple[str, ...]:
    """Launch flags a GPU needs on this version (B200's ``--attention-backend triton`` on 0.5.7)."""
    return get(version).gpu_launch_args.get(get_gpu(hardware).id, ())


# One row per change that matters for Kimi-Linear, oldest first: the version that has it, what changed, what it
# means for this cookbook, and the public source.
CHANGES: tuple[dict[str, str], ...] = (
    {"version": "0.5.7", "change": "Radix (prefix) cache forced off for KimiLinearForCausalLM; a fixed pool of "
     "512 KDA state slots (or --max-running-requests)",
     "effect": "no prefix reuse; at most 512 running requests by default",
     "source": "SGLang 0.5.7 srt/server_args.py, srt/model_executor/model_runner.py"},
    {"version": "0.5.7", "change": "On ROCm, the fused MLA decode path assumes rotary embeddings; Kimi-Linear's MLA "
     "layers use none", "effect": "the page's SGLANG_ROCM_FUSED_DECODE_MLA=0 (kept by the cookbook on AMD GPUs)",
     "source": "sgl-project/sglang PR 19324 (AMD Kimi-Linear test and ROCm MLA fixes; gsm8k collapses to ~0.5 "
     "on the lossy decode kernel)"},
    {"version": "0.5.16", "change": "Prefix caching for Kimi-Linear (MambaRadixCache), first proposed in PR 15783",
     "effect": "shared prompt prefixes are reused; 0.5.16 logs uses_mamba_radix_cache=True",
     "source": "sgl-project/sglang PR 15783 (\"Kimi Linear supports radix cache (50% gsm8k speedup)\")"},
    {"version": "0.5.16", "change": "KDA prefix caching fixed under the extra_buffer strategy and enabled for "
     "kimi_linear", "effect": "GSM8K 0.150 -> 0.895 with prefix caching on (4x B200, 200 questions); "
     "5 state slots per running request (observed: 14,654 slots, 2,930 requests)",
     "source": "sgl-project/sglang PR 31474 (merged 2026-07-16); docs/validation/ server log"},
    {"version": "0.5.16", "change": "Benchmark client moved to sglang.benchmark.serving (sglang.bench_serving still "
     "runs) and prints P90/P95 lines", "effect": "the cookbook runs the client the installed SGLang has",
     "source": "docs/validation/ bench logs"},
    {"version": "0.5.16", "change": "few_shot_gsm8k deprecated for python -m sglang.test.run_eval --eval-name gsm8k "
     "(prints Score / Total latency)", "effect": "parse_gsm8k reads both outputs",
     "source": "docs/validation/ few_shot_gsm8k.log, run_eval_gsm8k.txt"},
    {"version": "0.5.16", "change": "--dataset-name random still samples ShareGPT text, fetched from the hub "
     "(LocalEntryNotFoundError offline)", "effect": "offline hosts use random-ids or --dataset-path",
     "source": "docs/validation/ bench-random-offline-error.txt"},
    {"version": "0.5.16", "change": "torch 2.11 (cu13), ROCm 7.2 images (-rocm720-), FA3 the default attention "
     "for MLA on Hopper", "effect": "new image tags; 0.5.7's B200 flashinfer failure is gone",
     "source": "SGLang 0.5.16 wheel metadata; AMD-AGI/TraceLens docs (image tags)"},
)


def changes_markdown() -> str:
    """``CHANGES`` as a Markdown table (notebook 02 and the README show it)."""
    rows = ["| version | what changed | what it means here | source |", "|---|---|---|---|"]
    rows += [f"| {c['version']} | {c['change']} | {c['effect']} | {c['source']} |" for c in CHANGES]
    return "\n".join(rows)


# --- the ShareGPT download behind --dataset-name random -------------------------------------------
SHAREGPT_REPO = "anon8231489123/ShareGPT_Vicuna_unfiltered"


def hub_reachable(timeout_s: float = 3.0) -> bool:
    """False when the Hugging Face hub is off (HF_HUB_OFFLINE) or huggingface.co does not answer on 443."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return False
    try:
        with socket.create_connection(("huggingface.co", 443), timeout=timeout_s):
            return True
    except OSError:
        return False


def sharegpt_cached() -> bool:
    """Whether the ShareGPT file the client samples for ``random`` is already in the local hub cache."""
    home = os.environ.get("HF_HUB_CACHE") or os.path.join(
        os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface"), "hub")
    folder = os.path.join(home, "datasets--" + SHAREGPT_REPO.replace("/", "--"), "snapshots")
    return os.path.isdir(folder) and any(os.scandir(folder))


def dataset_problem(dataset_name: str, dataset_path: str | None, *, check_hub=hub_reachable) -> str | None:
    """Why ``dataset_name`` cannot run here, or None. ``random`` samples ShareGPT text that SGLang's client
    downloads from the hub unless ``dataset_path`` names a local copy (0.5.7 and 0.5.16 alike)."""
    if dataset_name != "random" or dataset_path or sharegpt_cached() or check_hub():
        return None
    return ("dataset 'random' samples ShareGPT text that SGLang's client downloads from the Hugging Face hub, "
            "which is not reachable from here: use dataset 'random-ids' (no download) or give --dataset-path "
            "a local ShareGPT JSON")
