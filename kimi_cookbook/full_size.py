"""The full-size Kimi-Linear-48B-A3B model folder without its ~100 GB of weights, for SGLang's ``--load-format dummy``.

SGLang builds the model from ``config.json`` alone and fills every weight with random values: each kernel, each byte
of weights, KV cache and KDA state is the real model's, only the answers are noise. So a GPU host can measure how fast
Kimi-Linear will serve before the download. The folder holds:

- ``config.json``: the published config (every field SGLang's ``KimiLinearConfig`` reads, from the packaged copy),
  optionally with fewer routed experts (``num_experts``) so the weights fit a smaller GPU. With fewer experts the
  active path per token (8 routed + 1 shared expert, all attention) is unchanged, so batch-1 decode reads the same
  bytes, but it is **not the full model**: ``cookbook.json`` says so and every report built from it repeats it;
- a tokenizer: the real one when it is in the local Hugging Face cache (never downloaded), else the tiny model's
  byte-level BPE, which is enough for speed runs (``bench_serving --dataset-name random-ids`` draws token ids from it);
- ``cookbook.json``: what was built (experts, tokenizer source, the label to show).

Two things random weights get wrong for this model, and what SGLang is told to do about them, live in
``kimi_cookbook.sglang_ext`` (see ``launch_env``).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from kimi_cookbook.capacity.config import load_model_config
from kimi_cookbook.capacity.sizes import weight_bytes
from kimi_cookbook.tiny_kimi import _build_tokenizer, published_config

__all__ = ["EXT_PACKAGE", "FullSizeModel", "build_full_size", "launch_env", "local_tokenizer"]

# SGLang's hook for a model class of one's own (srt/models/registry.py registers the package's EntryClass with
# overwrite=True, in every server process).
EXT_PACKAGE = "kimi_cookbook.sglang_ext"
# Read by kimi_cookbook.sglang_ext: re-draw the routers after dummy init (never set for real weights).
SPREAD_ENV = "KIMI_COOKBOOK_SPREAD_ROUTER"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tiktoken.model", "tokenization_kimi.py",
                   "special_tokens_map.json", "chat_template.jinja")
HUB_REPO = "models--moonshotai--Kimi-Linear-48B-A3B-Instruct"


class FullSizeModel(dict):
    """``cookbook.json`` of a built folder, with its ``path``."""

    @property
    def path(self) -> Path:
        return Path(self["path"])

    @property
    def label(self) -> str:
        return self["label"]


def local_tokenizer(hub_cache: str | os.PathLike | None = None) -> Path | None:
    """The real tokenizer's snapshot folder if the local Hugging Face cache has it (no network), else None."""
    root = Path(hub_cache or os.environ.get("HF_HUB_CACHE") or
                Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")) / "hub")
    for snap in sorted((root / HUB_REPO / "snapshots").glob("*")):
        if (snap / "tokenizer_config.json").is_file() and ((snap / "tiktoken.model").is_file()
                                                            or (snap / "tokenizer.json").is_file()):
            return snap
    return None


def build_full_size(out_dir: str | os.PathLike, *, num_experts: int | None = None,
                    hub_cache: str | os.PathLike | None = None) -> FullSizeModel:
    """Write the folder into ``out_dir`` (created; must be empty or absent) and return its ``cookbook.json``."""
    out = Path(out_dir).expanduser()
    if out.exists() and any(out.iterdir()):
        raise ValueError(f"{out} is not empty; give a new folder")
    cfg = published_config()
    published_experts = cfg["num_experts"]
    if num_experts is not None:
        top_k = cfg["num_experts_per_token"]
        if not top_k <= num_experts <= published_experts:
            raise ValueError(f"num_experts must be between {top_k} (experts per token) and {published_experts}, "
                             f"got {num_experts}")
        cfg["num_experts"] = num_experts
    out.mkdir(parents=True, exist_ok=True)
    real = local_tokenizer(hub_cache)
    if real is not None:
        for name in TOKENIZER_FILES:
            if (real / name).is_file():
                shutil.copy2(real / name, out / name)
        tokenizer = f"the real tokenizer (local cache: {real})"
    else:
        fast = _build_tokenizer(out)
        bos, eos, pad = fast.convert_tokens_to_ids(["[BOS]", "<|im_end|>", "[PAD]"])
        # the published vocab_size stays (163,840 embedding rows); only the special ids follow this tokenizer
        cfg.update(bos_token_id=bos, eos_token_id=eos, pad_token_id=pad)
        tokenizer = f"the tiny byte-level tokenizer ({len(fast)} tokens; the real one is not in the local cache)"
    (out / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    weights = weight_bytes(load_model_config(out / "config.json"))["total"]  # the planner's count
    full = cfg["num_experts"] == published_experts
    label = ("Kimi-Linear-48B-A3B (published config, random weights)" if full else
             f"Kimi-Linear-48B-A3B with {cfg['num_experts']} of {published_experts} experts (random weights; "
             f"not the full model: same active path per token, {cfg['num_experts']}/{published_experts} of the "
             "expert weights)")
    info = FullSizeModel(
        path=str(out), label=label, full_model=full, num_experts=cfg["num_experts"],
        published_experts=published_experts, weight_gib=round(weights / 2**30, 2), tokenizer=tokenizer,
        load_format="dummy",
    )
    (out / "cookbook.json").write_text(json.dumps(info, indent=2) + "\n")
    return info


def launch_env() -> dict[str, str]:
    """Environment for ``sglang.launch_server --load-format dummy`` on this folder: the cookbook's model class
    (derives MLA's absorbed weights after dummy init on SGLang 0.5.16, re-draws the routers so routing depends on
    the token, lets the expert-distribution recorder start). Harmless on 0.5.17+, which derives the weights itself."""
    return {"SGLANG_EXTERNAL_MODEL_PACKAGE": EXT_PACKAGE, SPREAD_ENV: "1"}
