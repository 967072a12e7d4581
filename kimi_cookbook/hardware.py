"""Hardware catalog: the GPUs the cookbook knows, with datasheet figures.

Peak compute figures are *dense* (no 2:4 sparsity) — several vendor pages print the sparse figure,
twice as large. Memory is the usable HBM capacity per GPU in GB (10^9 bytes) as the vendor states it,
bandwidth in TB/s (10^12 bytes/s).

Sources (vendor datasheets / product pages):
- MI300X: AMD Instinct MI300X data sheet — 192 GB HBM3, 5.3 TB/s, 1307.4 TFLOPS BF16 dense,
  2614.9 TFLOPS FP8 dense.
- MI325X: AMD Instinct MI325X data sheet — 256 GB HBM3E, 6.0 TB/s, 1307.4 / 2614.9 TFLOPS dense.
- MI355X: AMD Instinct MI355X data sheet — 288 GB HBM3E, 8.0 TB/s, 2516.6 TFLOPS BF16 dense,
  5033.2 TFLOPS FP8 dense.
- H100 SXM5: NVIDIA H100 Tensor Core GPU datasheet — 80 GB HBM3, 3.35 TB/s, 989.4 TFLOPS BF16 dense
  (1979 with sparsity), 1978.9 TFLOPS FP8 dense.
- H200 SXM: NVIDIA H200 datasheet — 141 GB HBM3e, 4.8 TB/s, same tensor cores as H100 SXM.
- B200 (HGX B200, per GPU): NVIDIA DGX/HGX B200 datasheet — 180 GB HBM3e (1,440 GB per 8 GPUs),
  8 TB/s, 2250 TFLOPS BF16 dense, 4500 TFLOPS FP8 dense.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GPU:
    id: str
    label: str
    vendor: str  # "amd" or "nvidia"
    memory_gb: float
    bandwidth_tbs: float
    bf16_tflops: float  # dense
    fp8_tflops: float  # dense
    default_tp: int
    tp_reason: str
    docker_image: str | None
    image_note: str = ""
    extra_launch_args: tuple[str, ...] = ()
    extra_args_reason: str = ""

    @property
    def is_rocm(self) -> bool:
        return self.vendor == "amd"


_BF16_WEIGHTS_NOTE = "the 48B model's bf16 weights take about 98 GB"

GPUS: dict[str, GPU] = {
    g.id: g
    for g in [
        GPU(
            "mi300x", "MI300x", "amd", 192, 5.3, 1307.4, 2614.9, 4,
            "the page's setting: 4 x 192 GB leaves most memory for cache and gives 4x the bandwidth",
            "lmsysorg/sglang:v0.5.7-rocm700-mi30x",
        ),
        GPU(
            "mi325x", "MI325x", "amd", 256, 6.0, 1307.4, 2614.9, 4,
            "the page's setting (the page uses --tp 4 for every AMD GPU)",
            "lmsysorg/sglang:v0.5.7-rocm700-mi30x",
            "MI325X is a gfx942 GPU like MI300X, so it uses the page's -mi30x image.",
        ),
        GPU(
            "mi355x", "MI355x", "amd", 288, 8.0, 2516.6, 5033.2, 4,
            "the page's setting (the page uses --tp 4 for every AMD GPU)",
            "lmsysorg/sglang:v0.5.7-rocm700-mi35x",
            "The page names only the -mi30x image; MI355X (gfx950) needs SGLang's -mi35x tag of the "
            "same release.",
        ),
        GPU(
            "h100", "H100", "nvidia", 80, 3.35, 989.4, 1978.9, 2,
            f"{_BF16_WEIGHTS_NOTE}: one 80 GB GPU cannot hold them, two leave ~60 GB for cache "
            "(SGLang's own CI runs this model with --tp-size 2)",
            "lmsysorg/sglang:v0.5.7",
        ),
        GPU(
            "h200", "H200", "nvidia", 141, 4.8, 989.4, 1978.9, 1,
            f"{_BF16_WEIGHTS_NOTE}: one 141 GB GPU holds them with ~25 GB for cache at SGLang's default "
            "memory fraction; use --tp 2 for long contexts or high concurrency",
            "lmsysorg/sglang:v0.5.7",
        ),
        GPU(
            "b200", "B200", "nvidia", 180, 8.0, 2250.0, 4500.0, 1,
            f"{_BF16_WEIGHTS_NOTE}: one 180 GB GPU holds them with ~60 GB for cache",
            "lmsysorg/sglang:v0.5.7",
            "Blackwell (B200) needs a CUDA 12.8+ build; check SGLang's Docker tags for a -cu12x/-b200 "
            "variant of v0.5.7 if the plain tag fails to start.",
            ("--attention-backend", "triton"),
            "On SGLang 0.5.7 the default flashinfer attention backend on Blackwell fails at launch for "
            "this model ('ModelConfig' object has no attribute 'scaling'); triton avoids it.",
        ),
    ]
}

PAGE_HARDWARE = ("mi300x", "mi325x", "mi355x")


def get_gpu(hardware: str) -> GPU:
    """Return the catalog entry for ``hardware`` (case-insensitive), or raise a clear ValueError."""
    key = str(hardware).strip().lower()
    if key not in GPUS:
        raise ValueError(f"unknown hardware {hardware!r}; choose one of: {', '.join(GPUS)}")
    return GPUS[key]
