"""Hardware catalog: the GPUs the cookbook knows, with datasheet figures.

Peak compute figures are *dense* (no 2:4 sparsity) — several vendor pages print the sparse figure,
twice as large. ``memory_gb`` is the capacity as the vendor's product page prints it ("192 GB");
``bandwidth_tbs`` is peak HBM bandwidth in TB/s (10^12 bytes/s).

Capacity: the vendors' "GB" is not always 10^9 bytes. AMD's own ROCm
GPU-specifications table lists the Instinct capacities in GiB (MI300X 192, MI325X 256, MI355X 288 GiB),
and an NVIDIA "80 GB" H100 shows 79.2 GiB to CUDA. The capacity planner therefore uses
``usable_memory_gib``: the capacity the runtime sees (what SGLang's memory profiler starts from).

Sources (figures agree unless noted):
- MI300X: AMD Instinct MI300X data sheet / product page — 192 GB HBM3, 5.3 TB/s, 1307.4 TFLOPS
  FP16/BF16 dense (2614.9 with sparsity), 2614.9 TFLOPS FP8 dense (5229.8 with sparsity).
  Cross-check: 304 CUs x 2.1 GHz x 2048 BF16 FLOP/clk/CU = 1307.4 TFLOPS.
  Capacity in GiB: https://rocm.docs.amd.com/en/latest/reference/gpu-specs.html (VRAM (GiB) = 192).
- MI325X: AMD Instinct MI325X product page — 256 GB HBM3E, 6.0 TB/s, 1307.4 / 2614.9 TFLOPS dense
  (same CDNA3 compute die as MI300X). ROCm GPU specs: 256 GiB.
- MI355X: AMD Instinct MI355X product page — 288 GB HBM3E, 8.0 TB/s, 2516.6 TFLOPS FP16/BF16 dense,
  5033.2 TFLOPS FP8 dense (10.1 PFLOPS with sparsity). Cross-check: 256 CUs x 2.4 GHz x 4096 BF16
  FLOP/clk/CU = 2516.6 TFLOPS; AMD's ISSCC presentation on MI355X gives 8192 FP8 FLOP/clk/CU -> 5033.2.
  ROCm GPU specs: 288 GiB.
- H100 SXM5: NVIDIA H100 Tensor Core GPU datasheet — 80 GB HBM3, 3.35 TB/s, 989.4 TFLOPS BF16 dense
  (1,979 with sparsity), 1978.9 TFLOPS FP8 dense (3,958 with sparsity). Usable capacity measured on an
  "NVIDIA H100 80GB HBM3" with torch.cuda.get_device_properties: 85,017,493,504 bytes (79.18 GiB;
  nvidia-smi: 81559 MiB); a 4 GiB device-to-device copy reached 3.02 TB/s (90% of the datasheet peak).
- H200 SXM: NVIDIA H200 datasheet — 141 GB HBM3e, 4.8 TB/s, same tensor cores as H100 SXM
  (989.4 / 1978.9 TFLOPS dense). Measured: 150,109,880,320 bytes (139.80 GiB; nvidia-smi 143771 MiB);
  copy 4.30 TB/s (90% of peak).
- B200 (HGX B200, per GPU): NVIDIA DGX/HGX B200 datasheet — 180 GB HBM3e (1,440 GB per 8 GPUs),
  8 TB/s (64 TB/s per 8), 2250 TFLOPS BF16 dense, 4500 TFLOPS FP8 dense (72 PFLOPS FP8 per 8 GPUs is
  the sparse figure). nvidia-smi on an HGX B200 reports about 179 GiB
  (docs.vultr.com inference cookbook, "NVIDIA HGX B200 Hardware Overview").
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_TP = 8
"""The largest tensor-parallel size anywhere in the cookbook: the GPUs of one node (the command, the plan)."""

VISIBLE_DEVICES_ENV = {"nvidia": "CUDA_VISIBLE_DEVICES", "amd": "HIP_VISIBLE_DEVICES"}
"""The variable that limits a process to some GPUs, by vendor (ROCm's HIP runtime reads HIP_VISIBLE_DEVICES)."""


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
    image_family: str | None = None  # the ROCm image build (-mi30x, -mi35x); CUDA images have one tag for all
    image_note: str = ""
    # Capacity the runtime sees, in GiB (2**30 bytes); see the module docstring for each source.
    usable_memory_gib: float = 0.0

    @property
    def usable_memory_bytes(self) -> int:
        gib = self.usable_memory_gib or self.memory_gb * 1e9 / 2**30
        return int(gib * 2**30)

    @property
    def is_rocm(self) -> bool:
        return self.vendor == "amd"


_BF16_WEIGHTS_NOTE = "the 48B model's bf16 weights take about 98 GB"

# Docker image tags and launch flags that depend on the SGLang release live in kimi_cookbook.versions.
GPUS: dict[str, GPU] = {
    g.id: g
    for g in [
        GPU(id="mi300x", label="MI300x", vendor="amd", memory_gb=192, bandwidth_tbs=5.3, bf16_tflops=1307.4,
            fp8_tflops=2614.9, default_tp=4,
            tp_reason="the page's setting: 4 x 192 GB leaves most memory for cache and gives 4x the bandwidth",
            image_family="mi30x", usable_memory_gib=192.0),
        GPU(id="mi325x", label="MI325x", vendor="amd", memory_gb=256, bandwidth_tbs=6.0, bf16_tflops=1307.4,
            fp8_tflops=2614.9, default_tp=4,
            tp_reason="the page's setting (the page uses --tp 4 for every AMD GPU)",
            image_family="mi30x",
            image_note="MI325X is a gfx942 GPU like MI300X, so it uses the page's -mi30x image.",
            usable_memory_gib=256.0),
        GPU(id="mi355x", label="MI355x", vendor="amd", memory_gb=288, bandwidth_tbs=8.0, bf16_tflops=2516.6,
            fp8_tflops=5033.2, default_tp=4,
            tp_reason="the page's setting (the page uses --tp 4 for every AMD GPU)",
            image_family="mi35x",
            image_note="The page names only the -mi30x image; MI355X (gfx950) needs SGLang's -mi35x tag of the "
                       "same release.",
            usable_memory_gib=288.0),
        GPU(id="h100", label="H100", vendor="nvidia", memory_gb=80, bandwidth_tbs=3.35, bf16_tflops=989.4,
            fp8_tflops=1978.9, default_tp=2,
            tp_reason=f"{_BF16_WEIGHTS_NOTE}: one 80 GB GPU cannot hold them, two leave ~20 GiB per GPU for cache "
                      "after SGLang's default reserve (SGLang's own CI runs this model with --tp-size 2)",
            usable_memory_gib=85_017_493_504 / 2**30),
        GPU(id="h200", label="H200", vendor="nvidia", memory_gb=141, bandwidth_tbs=4.8, bf16_tflops=989.4,
            fp8_tflops=1978.9, default_tp=1,
            tp_reason=f"{_BF16_WEIGHTS_NOTE}: one 141 GB GPU holds them with ~35 GiB for cache and KDA state at "
                      "SGLang's default memory fraction; use --tp 2 for long contexts or high concurrency",
            usable_memory_gib=150_109_880_320 / 2**30),
        GPU(id="b200", label="B200", vendor="nvidia", memory_gb=180, bandwidth_tbs=8.0, bf16_tflops=2250.0,
            fp8_tflops=4500.0, default_tp=1,
            tp_reason=f"{_BF16_WEIGHTS_NOTE}: one 180 GB GPU holds them with ~62 GiB for cache and KDA state",
            image_note="Blackwell (B200) needs a CUDA 12.8+ build; check SGLang's Docker tags for a -cu12x/-b200 "
                       "variant of the release if the plain tag fails to start.",
            usable_memory_gib=179.0),
    ]
}

PAGE_HARDWARE = ("mi300x", "mi325x", "mi355x")


def get_gpu(hardware: str) -> GPU:
    """Return the catalog entry for ``hardware`` (case-insensitive), or raise a clear ValueError."""
    key = str(hardware).strip().lower()
    if key not in GPUS:
        raise ValueError(f"unknown hardware {hardware!r}; choose one of: {', '.join(GPUS)}")
    return GPUS[key]
