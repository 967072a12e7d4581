"""SGLang's just-in-time kernel caches: where they live, kept across restarts, and whether a start found them full.

A first SGLang start on a fresh machine compiles kernels before it serves: on a lent H100 the full-size
Kimi-Linear was ready after ~195 s, a second launch on the same machine with these caches still on disk after 63 s
(docs: ``shared/offline-gpu/full-size-dummy.md``). A container loses them with its file system, so the cookbook's
``docker run`` line and Compose file keep them in one named Docker volume (:data:`VOLUME`, mounted at
:data:`CONTAINER_DIR`; a volume, not a host folder: nothing of the host is exposed), each cache pointed into it by
its own environment variable. ``smoke`` reports whether a launch found them empty (a first start) or not.

The caches, read from SGLang 0.5.16 and the libraries its wheel set installs (variable, default):

- Triton (SGLang's Triton kernels, e.g. ``--attention-backend triton``): ``TRITON_CACHE_DIR``, ``~/.triton/cache``;
- TVM-FFI (SGLang's ``jit_kernel`` modules, ``jit_kernel/utils/compile.py``): ``TVM_FFI_CACHE_DIR``,
  ``~/.cache/tvm-ffi``;
- FlashInfer (sampling and attention kernels it compiles with nvcc, ``flashinfer/jit/env.py``):
  ``FLASHINFER_WORKSPACE_BASE``, the home folder (the cache is ``<base>/.cache/flashinfer``);
- torch inductor (``torch.compile``): ``TORCHINDUCTOR_CACHE_DIR``, ``/tmp/torchinductor_<user>``;
- DeepGEMM (fp8 GEMMs, ``srt/layers/deep_gemm_wrapper``): ``SGLANG_DG_CACHE_DIR``, ``~/.cache/deep_gemm``;
- SGLang's own (FlashInfer autotune results, compiled graphs; ``srt/environ.py``): ``SGLANG_CACHE_DIR``,
  ``~/.cache/sglang``.

Not covered (not read here): ROCm's own kernel databases (MIOpen, AITER's JIT folder); on AMD images the Triton,
TVM-FFI and SGLang caches above still apply.
"""

from __future__ import annotations

import getpass
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CACHES", "CONTAINER_DIR", "VOLUME", "JitCache", "cache_state", "container_env", "host_dirs",
           "start_kind"]

VOLUME = "kimi-linear-jit"
CONTAINER_DIR = "/jit-cache"


@dataclass(frozen=True)
class JitCache:
    name: str
    env: str  # the variable that moves it
    default: str  # where it is without the variable ("~" = the home folder)
    sub: str  # its folder in the volume
    suffix: str = ""  # what the library appends to the variable's value


CACHES: tuple[JitCache, ...] = (
    JitCache("Triton", "TRITON_CACHE_DIR", "~/.triton/cache", "triton"),
    JitCache("TVM-FFI", "TVM_FFI_CACHE_DIR", "~/.cache/tvm-ffi", "tvm-ffi"),
    JitCache("FlashInfer", "FLASHINFER_WORKSPACE_BASE", "~", "flashinfer", suffix=".cache/flashinfer"),
    JitCache("torch inductor", "TORCHINDUCTOR_CACHE_DIR", "", "inductor"),
    JitCache("DeepGEMM", "SGLANG_DG_CACHE_DIR", "~/.cache/deep_gemm", "deep_gemm"),
    JitCache("SGLang", "SGLANG_CACHE_DIR", "~/.cache/sglang", "sglang"),
)


def container_env(root: str = CONTAINER_DIR) -> dict[str, str]:
    """The variables that put every cache under ``root`` (the volume's mount point in the container)."""
    return {c.env: f"{root}/{c.sub}" for c in CACHES}


def _inductor_default() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return os.path.join(tempfile.gettempdir(), f"torchinductor_{user}")


def host_dirs(env: dict[str, str] | None = None) -> dict[str, Path]:
    """Where each cache is for a server started with ``env`` (default: this process's environment)."""
    env = dict(os.environ if env is None else env)
    home = env.get("HOME") or os.path.expanduser("~")
    out = {}
    for c in CACHES:
        base = env.get(c.env) or (c.default.replace("~", home, 1) if c.default else _inductor_default())
        out[c.name] = Path(base) / c.suffix if c.suffix else Path(base)
    return out


def _files(path: Path, limit: int = 1_000_000) -> int:
    n = 0
    for _root, _dirs, names in os.walk(path):
        n += len(names)
        if n >= limit:
            break
    return n


def cache_state(env: dict[str, str] | None = None) -> dict[str, dict]:
    """Per cache: its folder and how many files it holds now (0 when absent)."""
    return {name: {"path": str(path), "files": _files(path) if path.is_dir() else 0}
            for name, path in host_dirs(env).items()}


def start_kind(before: dict[str, dict]) -> str:
    """``"first"`` when every cache was empty before the launch (kernels compiled during start-up), else
    ``"cached"`` (some kernels came from disk)."""
    return "cached" if any(v["files"] for v in before.values()) else "first"
