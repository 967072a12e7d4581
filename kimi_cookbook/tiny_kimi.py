"""A tiny random-weight Kimi-Linear checkpoint that real SGLang loads: the smoke test's model.

Before pulling ~100 GB of weights, a GPU host can prove that its SGLang, driver and flags serve the
Kimi-Linear architecture with this checkpoint: the published ``config.json`` of
Kimi-Linear-48B-A3B-Instruct (model_type ``kimi_linear``; KDA and MLA layers; MoE with a shared expert and a
sigmoid router with correction bias; a first dense layer) shrunk in width and depth only. Head sizes, the
layer pattern, the MoE layout and every other field come from the published config, so SGLang takes the
same code paths as for the real model. Weights are random (seeded numpy, bf16 written by hand into
safetensors: numpy has no bfloat16), named and shaped as SGLang's ``kimi_linear`` loader expects; the
tokenizer is a small byte-level BPE trained on local text with a Kimi-style chat template that renders
tools, assistant tool calls and ``tool`` messages. No torch, no network; a few seconds on a CPU.

Location: ``$KIMI_COOKBOOK_CACHE/tiny-kimi-linear`` (default ``~/.cache/kimi-cookbook/tiny-kimi-linear``),
built once and reused, installed atomically like the embedded model (``tiny_model``).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import struct
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from kimi_cookbook.tiny_model import (
    _hold,
    _install,
    cache_root,
    fast_tokenizer_class,
    remove_stale_builds,
    train_byte_level_bpe,
)

TINY_KIMI_NAME = "kimi-cookbook-tiny-kimi-linear"
RECIPE_VERSION = 2  # 2: tokenizer trained on data/tokenizer_corpus.txt
SEED = 0

# What is shrunk; everything else is the published config's value.
TINY_SIZES = {
    "hidden_size": 512,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
    "intermediate_size": 1024,
    "num_experts": 8,
    "num_experts_per_token": 2,
    "moe_intermediate_size": 256,
    "kda_num_heads": 4,
}
TOKENIZER_VOCAB = 4000  # trained vocabulary (fewer if the local text runs out of merges)
PADDED_VOCAB = 4096  # config vocab_size: the embedding rows, a multiple of 64 like the real model's
CONTEXT = 8192

# Kimi's special tokens: ids 0..4 as in the published tokenizer's order of bos/eos/unk/pad and end-of-turn.
SPECIAL_TOKENS = [
    "[BOS]", "[EOS]", "[UNK]", "[PAD]", "<|im_end|>", "<|im_user|>", "<|im_assistant|>", "<|im_system|>",
    "<|im_middle|>", "<|tool_calls_section_begin|>", "<|tool_calls_section_end|>", "<|tool_call_begin|>",
    "<|tool_call_argument_begin|>", "<|tool_call_end|>",
]

# Kimi-style chat template: role headers <|im_user|>user<|im_middle|> ... <|im_end|>, tools declared in a
# system block, assistant tool calls in the section tokens SGLang's kimi_k2 parser reads (ids like
# functions.get_weather:0), tool results as role "tool". Empty assistant content is fine.
CHAT_TEMPLATE = (
    "{%- if tools -%}<|im_system|>tool_declare<|im_middle|>{{ tools | tojson }}<|im_end|>{%- endif -%}"
    "{%- for message in messages -%}"
    "{%- set role = message['role'] -%}"
    "{%- if role == 'user' -%}<|im_user|>user<|im_middle|>"
    "{%- elif role == 'assistant' -%}<|im_assistant|>assistant<|im_middle|>"
    "{%- elif role == 'tool' -%}<|im_system|>tool<|im_middle|>"
    "## Return of {{ message.get('tool_call_id', '') }}{{ '\\n' }}"
    "{%- else -%}<|im_system|>{{ role }}<|im_middle|>{%- endif -%}"
    "{%- if message['content'] is string -%}{{ message['content'] }}"
    "{%- elif message['content'] -%}{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'text' -%}{{ part['text'] }}{%- endif -%}{%- endfor -%}{%- endif -%}"
    "{%- if role == 'assistant' and message.get('tool_calls') -%}<|tool_calls_section_begin|>"
    "{%- for call in message['tool_calls'] -%}"
    "<|tool_call_begin|>{{ call.get('id') or ('functions.' ~ call['function']['name'] ~ ':' ~ loop.index0) }}"
    "<|tool_call_argument_begin|>"
    "{%- if call['function']['arguments'] is string -%}{{ call['function']['arguments'] }}"
    "{%- else -%}{{ call['function']['arguments'] | tojson }}{%- endif -%}<|tool_call_end|>"
    "{%- endfor -%}<|tool_calls_section_end|>{%- endif -%}"
    "<|im_end|>"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}<|im_assistant|>assistant<|im_middle|>{%- endif -%}"
)


@dataclass(frozen=True)
class TinyKimiLinear:
    """Paths of a built tiny Kimi-Linear checkpoint (an HF folder SGLang's --model-path takes)."""

    path: Path
    name: str = TINY_KIMI_NAME

    @property
    def config(self) -> dict:
        return json.loads((self.path / "config.json").read_text())


def published_config() -> dict:
    """The published Kimi-Linear-48B-A3B-Instruct config.json fields shipped with the package."""
    text = resources.files("kimi_cookbook").joinpath("data/kimi_linear_config.json").read_text()
    return {k: v for k, v in json.loads(text).items() if not k.startswith("_")}


def _layer_pattern(published: dict, layers: int) -> tuple[list[int], list[int]]:
    """1-based (full_attn_layers, kda_layers) for ``layers`` layers, keeping the published rhythm: a full
    (MLA) layer wherever the published model has one, and the last layer full as in the published model."""
    full_pub = set(published["linear_attn_config"]["full_attn_layers"])
    full = sorted({i for i in range(1, layers + 1) if i in full_pub} | {layers})
    return full, [i for i in range(1, layers + 1) if i not in full]


def tiny_config(sizes: dict | None = None, *, vocab_size: int = PADDED_VOCAB, bos_id: int = 0, eos_id: int = 4,
                pad_id: int = 3) -> dict:
    """The published config with only the sizes in ``TINY_SIZES`` (or ``sizes``) changed."""
    s = {**TINY_SIZES, **(sizes or {})}
    pub = published_config()
    cfg = dict(pub)
    hidden, heads = s["hidden_size"], s["num_attention_heads"]
    kda_head_dim = pub["linear_attn_config"]["head_dim"]
    if hidden != heads * kda_head_dim:
        # SGLang's fused KDA projection assumes v_head_dim == linear_attn_config.head_dim == hidden / heads
        raise ValueError(f"hidden_size must be num_attention_heads x {kda_head_dim}, got {hidden} and {heads}")
    full, kda = _layer_pattern(pub, s["num_hidden_layers"])
    cfg.update(
        vocab_size=vocab_size,
        hidden_size=hidden,
        num_hidden_layers=s["num_hidden_layers"],
        num_attention_heads=heads,
        num_key_value_heads=s["num_key_value_heads"],
        head_dim=hidden // heads,
        intermediate_size=s["intermediate_size"],
        num_experts=s["num_experts"],
        num_experts_per_token=s["num_experts_per_token"],
        moe_intermediate_size=s["moe_intermediate_size"],
        bos_token_id=bos_id,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
        linear_attn_config={**pub["linear_attn_config"], "full_attn_layers": full, "kda_layers": kda,
                            "num_heads": s["kda_num_heads"]},
    )
    # The one deliberate difference besides the sizes: the routing scale real SGLang 0.5.16 loaded this model with
    # on the GPU (docs/validation/2026-11-23-*, tests/data/tiny-kimi-linear-config.json); published: 2.446.
    # SGLang reads it only as the routed experts' output multiplier.
    cfg["routed_scaling_factor"] = 2.5
    return cfg


def tensor_shapes(cfg: dict) -> dict[str, tuple[tuple[int, ...], str]]:
    """Every tensor SGLang's ``kimi_linear`` loader reads: name -> (shape, dtype "BF16"/"F32")."""
    h, v = cfg["hidden_size"], cfg["vocab_size"]
    lin = cfg["linear_attn_config"]
    kda_heads, kda_dim, conv = lin["num_heads"], lin["head_dim"], lin["short_conv_kernel_size"]
    proj = kda_heads * kda_dim
    heads = cfg["num_attention_heads"]
    nope, rope, vdim, lora = cfg["qk_nope_head_dim"], cfg["qk_rope_head_dim"], cfg["v_head_dim"], cfg["kv_lora_rank"]
    full = set(lin["full_attn_layers"])
    bf, f32 = "BF16", "F32"
    t: dict[str, tuple[tuple[int, ...], str]] = {
        "model.embed_tokens.weight": ((v, h), bf),
        "model.norm.weight": ((h,), bf),
    }
    if not cfg.get("tie_word_embeddings"):
        t["lm_head.weight"] = ((v, h), bf)
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        t[p + "input_layernorm.weight"] = ((h,), bf)
        t[p + "post_attention_layernorm.weight"] = ((h,), bf)
        a = p + "self_attn."
        if (i + 1) in full:  # MLA (q_lora_rank null: a plain q projection)
            if cfg.get("q_lora_rank"):
                raise ValueError("q_lora_rank is not supported by the tiny builder")
            t[a + "q_proj.weight"] = ((heads * (nope + rope), h), bf)
            t[a + "kv_a_proj_with_mqa.weight"] = ((lora + rope, h), bf)
            t[a + "kv_a_layernorm.weight"] = ((lora,), bf)
            t[a + "kv_b_proj.weight"] = ((heads * (nope + vdim), lora), bf)
            t[a + "o_proj.weight"] = ((h, heads * vdim), bf)
        else:  # KDA
            for x in "qkv":
                t[a + f"{x}_proj.weight"] = ((proj, h), bf)
                t[a + f"{x}_conv1d.weight"] = ((proj, 1, conv), bf)
            t[a + "b_proj.weight"] = ((kda_heads, h), bf)
            for x in "fg":
                t[a + f"{x}_a_proj.weight"] = ((kda_dim, h), bf)
                t[a + f"{x}_b_proj.weight"] = ((proj, kda_dim), bf)
            t[a + "A_log"] = ((1, 1, kda_heads, 1), f32)
            t[a + "dt_bias"] = ((proj,), f32)
            t[a + "o_norm.weight"] = ((kda_dim,), bf)
            t[a + "o_proj.weight"] = ((h, proj), bf)
        moe = i >= cfg.get("first_k_dense_replace", 0) and i % cfg.get("moe_layer_freq", 1) == 0
        if not moe:
            inter = cfg["intermediate_size"]
            t[p + "mlp.gate_proj.weight"] = ((inter, h), bf)
            t[p + "mlp.up_proj.weight"] = ((inter, h), bf)
            t[p + "mlp.down_proj.weight"] = ((h, inter), bf)
            continue
        m, e = p + "block_sparse_moe.", cfg["num_experts"]
        inter = cfg["moe_intermediate_size"]
        t[m + "gate.weight"] = ((e, h), bf)
        t[m + "gate.e_score_correction_bias"] = ((e,), f32)
        for j in range(e):
            t[m + f"experts.{j}.w1.weight"] = ((inter, h), bf)
            t[m + f"experts.{j}.w3.weight"] = ((inter, h), bf)
            t[m + f"experts.{j}.w2.weight"] = ((h, inter), bf)
        shared = inter * int(cfg.get("num_shared_experts") or 0)
        if shared:
            t[m + "shared_experts.gate_proj.weight"] = ((shared, h), bf)
            t[m + "shared_experts.up_proj.weight"] = ((shared, h), bf)
            t[m + "shared_experts.down_proj.weight"] = ((h, shared), bf)
    return t


def _init(name: str, shape: tuple[int, ...], rng: np.random.Generator, std: float) -> np.ndarray:
    if name.endswith(("norm.weight", "layernorm.weight")):
        return np.ones(shape, np.float32)
    if name.endswith("A_log"):  # decay rates a = exp(A_log) in [1, 16], as in Mamba-style initialisation
        return np.log(rng.uniform(1.0, 16.0, size=shape)).astype(np.float32)
    if name.endswith(("dt_bias", "e_score_correction_bias")):
        return np.zeros(shape, np.float32)
    return (rng.standard_normal(shape) * std).astype(np.float32)


def _bf16_bytes(a: np.ndarray) -> bytes:
    """float32 -> bfloat16 (round to nearest even), little-endian bytes."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    return rounded.astype("<u2").tobytes()


def write_safetensors(path: Path, tensors: dict[str, tuple[np.ndarray, str]], metadata: dict | None = None) -> None:
    """Write a safetensors file (8-byte header size, JSON header, raw data) with BF16 and F32 tensors."""
    header: dict = {"__metadata__": metadata or {"format": "pt"}}
    blobs, offset = [], 0
    for name, (arr, dtype) in tensors.items():
        data = _bf16_bytes(arr) if dtype == "BF16" else np.ascontiguousarray(arr, dtype="<f4").tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # data starts 8-byte aligned
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(raw)))
        fh.write(raw)
        for blob in blobs:
            fh.write(blob)


def _build_tokenizer(folder: Path):
    PreTrainedTokenizerFast = fast_tokenizer_class()  # noqa: N806

    tok = train_byte_level_bpe(TOKENIZER_VOCAB, SPECIAL_TOKENS, unk_token="[UNK]")
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="[BOS]", eos_token="<|im_end|>", unk_token="[UNK]", pad_token="[PAD]",
        model_max_length=CONTEXT, additional_special_tokens=SPECIAL_TOKENS[4:],
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(folder)
    return fast


def _is_complete(path: Path) -> bool:
    try:
        ok = json.loads((path / "recipe.json").read_text()).get("recipe") == RECIPE_VERSION
    except (OSError, ValueError):
        return False
    return ok and all((path / f).is_file() for f in ("config.json", "model.safetensors", "tokenizer.json"))


def build(out_dir: str | os.PathLike) -> Path:
    """Write the checkpoint into ``out_dir`` (created; must be empty or absent). Returns the folder.

    The files are written into a hidden folder beside it, which is renamed to ``out_dir`` once complete: Ctrl-C
    or a crash leaves no partial folder (a rerun just works), and of two builds into one folder at once the
    second is refused instead of mixing its files into the first's."""
    out = Path(out_dir).expanduser()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"{out} is not empty; give a new folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-build-", dir=out.parent))
    try:
        _write_checkpoint(tmp)
        tmp.chmod(0o755)
        try:
            os.rename(tmp, out)  # onto an absent or empty folder only: atomic, and refused when filled meanwhile
        except OSError as exc:
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR, errno.EISDIR):
                raise ValueError(f"{out} was filled by another build meanwhile; give a new folder") from None
            raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def _write_checkpoint(out: Path) -> None:
    fast = _build_tokenizer(out)
    if len(fast) > PADDED_VOCAB:
        raise ValueError(f"tokenizer has {len(fast)} tokens, more than the {PADDED_VOCAB} embedding rows")
    ids = fast.convert_tokens_to_ids(["[BOS]", "<|im_end|>", "[PAD]"])
    cfg = tiny_config(bos_id=ids[0], eos_id=ids[1], pad_id=ids[2])
    cfg["architectures"] = ["KimiLinearForCausalLM"]
    (out / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    (out / "generation_config.json").write_text(
        json.dumps({"bos_token_id": ids[0], "eos_token_id": ids[1], "pad_token_id": ids[2]}, indent=2) + "\n"
    )
    rng = np.random.default_rng(SEED)
    std = float(cfg.get("initializer_range", 0.02))
    tensors = {name: (_init(name, shape, rng, std), dtype) for name, (shape, dtype) in tensor_shapes(cfg).items()}
    write_safetensors(out / "model.safetensors", tensors)
    (out / "recipe.json").write_text(json.dumps({"recipe": RECIPE_VERSION, "name": TINY_KIMI_NAME}) + "\n")


def ensure_tiny_kimi_linear(cache_dir: str | os.PathLike | None = None, *, force: bool = False) -> TinyKimiLinear:
    """Build the checkpoint once into the cache (a few seconds) and return it; later calls reuse it."""
    root = Path(cache_dir).expanduser() if cache_dir else cache_root() / "tiny-kimi-linear"
    if not force and _is_complete(root):
        return TinyKimiLinear(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_builds(root.parent, ".tiny-kimi-")
    tmp = Path(tempfile.mkdtemp(prefix=".tiny-kimi-", dir=root.parent))
    held = _hold(tmp)
    try:
        build(tmp / "model")
        tmp_model = tmp / "model"
        tmp_model.chmod(0o755)
        _install(tmp_model, root, replace_complete=force, is_complete=_is_complete)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        held.close()
    return TinyKimiLinear(root)


def read_safetensors_header(path: str | os.PathLike) -> dict[str, dict]:
    """Name -> {dtype, shape, data_offsets} from a safetensors file's header (no tensor data read)."""
    with open(path, "rb") as fh:
        (size,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(size))
    header.pop("__metadata__", None)
    return header
