"""A tiny random-weight chat model, built locally, for the embedded server.

CI and laptops have no GPU and no model hub, so the notebooks run against a real OpenAI-compatible
server (llama.cpp through ``llama-cpp-python``) that serves this model. It is built here, once, and
cached on disk:

* a byte-level BPE tokenizer trained with ``tokenizers`` on text that ships with Python itself,
  saved as a Hugging Face tokenizer folder with a ChatML chat template that renders tools
  (this folder is what ``sglang.bench_serving --tokenizer`` gets);
* a 2-layer Llama with random weights (seeded numpy), saved as an HF folder (``config.json`` +
  ``model.safetensors``) and as a GGUF file written with the ``gguf`` package (what llama.cpp loads).

The model's answers are random tokens: it exercises the serving path (HTTP, streaming, token counts,
tool-call plumbing), not quality. Its output rows for the special tokens (and for tokens that are not
whole printable text) are zero, so it never ends early on an end-of-turn token: every request runs to
``max_tokens``, like SGLang with ``ignore_eos`` (which SGLang's benchmark client asks for).

Location: ``$KIMI_COOKBOOK_CACHE/tiny-model`` (default ``~/.cache/kimi-cookbook/tiny-model``).
Nothing here touches the network, and importing this module is free of side effects.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

TINY_MODEL_NAME = "kimi-cookbook-tiny"
# Bump when the recipe changes: a cached model built by an older recipe is rebuilt.
RECIPE_VERSION = 4  # 4: tokenizer trained on data/tokenizer_corpus.txt

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
VOCAB_SIZE = 1024
HIDDEN = 64
LAYERS = 2
HEADS = 4
KV_HEADS = 2
INTERMEDIATE = 128
CONTEXT = 4096
SEED = 0

# ChatML with tools, in the spirit of Kimi's template: tools go into a system block as JSON, the
# assistant's tool calls are rendered as JSON lines, tool results come back as role "tool".
CHAT_TEMPLATE = (
    "{% if tools %}<|im_start|>system\nYou can call these tools; answer a call as JSON "
    '{"name": ..., "arguments": {...}}.\n'
    "{% for tool in tools %}{{ tool | tojson }}\n{% endfor %}<|im_end|>\n{% endif %}"
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% elif message['content'] %}{% for part in message['content'] %}"
    "{% if part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}"
    "{% if message['tool_calls'] is defined and message['tool_calls'] %}"
    "{% for call in message['tool_calls'] %}\n"
    '{"name": "{{ call[\'function\'][\'name\'] }}", "arguments": '
    "{% if call['function']['arguments'] is string %}{{ call['function']['arguments'] }}"
    "{% else %}{{ call['function']['arguments'] | tojson }}{% endif %}}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def cache_root() -> Path:
    """The cookbook's cache folder: ``$KIMI_COOKBOOK_CACHE`` or ``~/.cache/kimi-cookbook``."""
    env = os.environ.get("KIMI_COOKBOOK_CACHE", "").strip()
    return Path(env).expanduser() if env else Path.home() / ".cache" / "kimi-cookbook"


@dataclass(frozen=True)
class TinyModel:
    """Paths of a built tiny model."""

    root: Path  # the cache folder of this model
    hf_dir: Path  # HF folder: tokenizer files, chat template, config.json, model.safetensors
    gguf_path: Path  # the same weights and tokenizer as one GGUF file (llama.cpp)
    name: str = TINY_MODEL_NAME

    @property
    def tokenizer_path(self) -> str:
        return str(self.hf_dir)


def _paths(root: Path) -> TinyModel:
    return TinyModel(root=root, hf_dir=root / "hf", gguf_path=root / f"{TINY_MODEL_NAME}.gguf")


def _is_complete(model: TinyModel) -> bool:
    stamp = model.root / "recipe.json"
    try:
        ok = json.loads(stamp.read_text()).get("recipe") == RECIPE_VERSION
    except (OSError, ValueError):
        return False
    return ok and model.gguf_path.is_file() and (model.hf_dir / "tokenizer.json").is_file()


TRAINING_TEXT = "data/tokenizer_corpus.txt"


def _training_text() -> list[str]:
    """Local training text the cookbook owns (:data:`TRAINING_TEXT`: its own prose), one paragraph each."""
    from importlib import resources

    text = resources.files("kimi_cookbook").joinpath(TRAINING_TEXT).read_text(encoding="utf-8")
    return [p for p in text.split("\n\n") if p.strip()]


def train_byte_level_bpe(vocab_size: int, special_tokens: list[str], unk_token: str | None = None):
    """A byte-level BPE (GPT-2 style) trained on the cookbook's own text (:func:`_training_text`); a
    ``tokenizers.Tokenizer`` of at most ``vocab_size`` tokens (fewer when the text runs out of merges).
    Both tiny models use it: the embedded one and the tiny Kimi-Linear of :mod:`kimi_cookbook.tiny_kimi`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token=unk_token))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_training_text(), trainer=trainer)
    return tok


def fast_tokenizer_class():
    """transformers' ``PreTrainedTokenizerFast``, imported without its advice that PyTorch is missing (it is not
    needed for tokenizers; the line broke the command line's one-line errors on machines without torch)."""
    name = "TRANSFORMERS_NO_ADVISORY_WARNINGS"  # read while transformers imports; this process's setting restored
    before = os.environ.get(name)
    os.environ[name] = "1"
    try:
        from transformers import PreTrainedTokenizerFast
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before
    return PreTrainedTokenizerFast


def _build_tokenizer(hf_dir: Path):
    PreTrainedTokenizerFast = fast_tokenizer_class()  # noqa: N806

    tok = train_byte_level_bpe(VOCAB_SIZE, SPECIAL_TOKENS)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|endoftext|>",
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        model_max_length=CONTEXT,
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(hf_dir)
    return fast


def _permute_qk(w, n_head: int):
    """HF Llama stores q/k rows rotate-half ordered; GGUF (llama.cpp) expects them interleaved."""
    rows, cols = w.shape
    return w.reshape(n_head, 2, rows // n_head // 2, cols).swapaxes(1, 2).reshape(rows, cols)


def _unprintable_ids(fast) -> list[int]:
    """Ids the model must never produce: special tokens, and tokens that are not whole printable text.

    A byte-level BPE has tokens for single bytes of multi-byte characters and for control bytes. A
    random model that emits them produces invalid UTF-8; llama-cpp-python then holds the text back and
    re-decodes it on every step of a stream (slow, and nothing is shown). Their output rows are zeroed.
    """
    banned = []
    for tok_id in range(len(fast)):
        token = fast.convert_ids_to_tokens(tok_id)
        text = fast.convert_tokens_to_string([token])
        if token in SPECIAL_TOKENS or "\ufffd" in text or not text:
            banned.append(tok_id)
        elif any(unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs") and ch not in "\n\t" for ch in text):
            banned.append(tok_id)
    return banned


def _build_weights(vocab: int, banned_ids: list[int]) -> dict:
    import numpy as np

    rng = np.random.default_rng(SEED)
    head_dim = HIDDEN // HEADS

    def lin(out_f: int, in_f: int):
        return (rng.standard_normal((out_f, in_f)) * 0.5 / np.sqrt(in_f)).astype(np.float32)

    sd = {"model.embed_tokens.weight": rng.standard_normal((vocab, HIDDEN)).astype(np.float32)}
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        sd[p + "input_layernorm.weight"] = np.ones(HIDDEN, np.float32)
        sd[p + "post_attention_layernorm.weight"] = np.ones(HIDDEN, np.float32)
        sd[p + "self_attn.q_proj.weight"] = lin(HEADS * head_dim, HIDDEN)
        sd[p + "self_attn.k_proj.weight"] = lin(KV_HEADS * head_dim, HIDDEN)
        sd[p + "self_attn.v_proj.weight"] = lin(KV_HEADS * head_dim, HIDDEN)
        sd[p + "self_attn.o_proj.weight"] = lin(HIDDEN, HEADS * head_dim)
        sd[p + "mlp.gate_proj.weight"] = lin(INTERMEDIATE, HIDDEN)
        sd[p + "mlp.up_proj.weight"] = lin(INTERMEDIATE, HIDDEN)
        sd[p + "mlp.down_proj.weight"] = lin(HIDDEN, INTERMEDIATE)
    sd["model.norm.weight"] = np.ones(HIDDEN, np.float32)
    head = (rng.standard_normal((vocab, HIDDEN)) * 4.0).astype(np.float32)
    # Banned tokens get logit 0 whatever the input; the others' logits spread by ~30, so neither greedy
    # decoding nor sampling at temperature 1 picks them (in particular never the end-of-turn token).
    head[banned_ids] = 0.0
    sd["lm_head.weight"] = head
    return sd


def _hf_config(vocab: int, bos_id: int, eos_id: int) -> dict:
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": vocab,
        "hidden_size": HIDDEN,
        "intermediate_size": INTERMEDIATE,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS,
        "num_key_value_heads": KV_HEADS,
        "max_position_embeddings": CONTEXT,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "hidden_act": "silu",
        "tie_word_embeddings": False,
        "bos_token_id": bos_id,
        "eos_token_id": eos_id,
        "torch_dtype": "float32",
    }


def _write_gguf(path: Path, hf_dir: Path, sd: dict, vocab: int) -> None:
    import gguf

    writer = gguf.GGUFWriter(str(path), arch="llama")
    writer.add_name(TINY_MODEL_NAME)
    writer.add_context_length(CONTEXT)
    writer.add_embedding_length(HIDDEN)
    writer.add_block_count(LAYERS)
    writer.add_feed_forward_length(INTERMEDIATE)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(KV_HEADS)
    writer.add_rope_dimension_count(HIDDEN // HEADS)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(vocab)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)

    # Tokenizer: the same byte-level BPE (GPT-2 pre-tokenizer regex) as the HF folder.
    tok = json.loads((hf_dir / "tokenizer.json").read_text())
    by_id = {i: t for t, i in tok["model"]["vocab"].items()}
    for added in tok.get("added_tokens", []):
        by_id[added["id"]] = added["content"]
    tokens = [by_id[i] for i in range(vocab)]
    special = set(SPECIAL_TOKENS)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("gpt-2")  # llama.cpp name of the GPT-2 regex
    writer.add_token_list(tokens)
    writer.add_token_types([gguf.TokenType.CONTROL if t in special else gguf.TokenType.NORMAL for t in tokens])
    # merges, bos/eos/pad ids and the chat template, read from the HF folder by gguf's own helper
    gguf.SpecialVocab(hf_dir, load_merges=True, n_vocab=vocab).add_to_gguf(writer)
    writer.add_add_bos_token(False)

    names = {
        "model.embed_tokens.weight": "token_embd.weight",
        "model.norm.weight": "output_norm.weight",
        "lm_head.weight": "output.weight",
    }
    per_layer = {
        "input_layernorm.weight": "attn_norm.weight",
        "post_attention_layernorm.weight": "ffn_norm.weight",
        "self_attn.q_proj.weight": "attn_q.weight",
        "self_attn.k_proj.weight": "attn_k.weight",
        "self_attn.v_proj.weight": "attn_v.weight",
        "self_attn.o_proj.weight": "attn_output.weight",
        "mlp.gate_proj.weight": "ffn_gate.weight",
        "mlp.up_proj.weight": "ffn_up.weight",
        "mlp.down_proj.weight": "ffn_down.weight",
    }
    for i in range(LAYERS):
        for hf, gg in per_layer.items():
            names[f"model.layers.{i}.{hf}"] = f"blk.{i}.{gg}"
    for hf_name, arr in sd.items():
        if hf_name.endswith("q_proj.weight"):
            arr = _permute_qk(arr, HEADS)
        elif hf_name.endswith("k_proj.weight"):
            arr = _permute_qk(arr, KV_HEADS)
        writer.add_tensor(names[hf_name], arr)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def ensure_tiny_model(cache_dir: str | os.PathLike | None = None, *, force: bool = False) -> TinyModel:
    """Build the tiny model once (a few seconds) and return its paths; later calls reuse the cache.

    ``cache_dir`` overrides the folder (default ``cache_root() / "tiny-model"``); ``force`` rebuilds.
    The build goes to a temporary folder that is renamed into place, so a crash never leaves a
    half-written model behind. Two processes building at once both end with a complete one: the
    move into place is serialized by a lock file, and a build that finds a complete model already
    there discards itself instead of removing it (POSIX ``fcntl.flock``).
    """
    root = Path(cache_dir).expanduser() if cache_dir else cache_root() / "tiny-model"
    model = _paths(root)
    if not force and _is_complete(model):
        return model

    from safetensors.numpy import save_file

    root.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_builds(root.parent, ".tiny-model-")
    tmp = Path(tempfile.mkdtemp(prefix=".tiny-model-", dir=root.parent))
    tmp.chmod(0o755)
    held = _hold(tmp)
    try:
        staged = _paths(tmp)
        fast = _build_tokenizer(staged.hf_dir)
        vocab = len(fast)
        sd = _build_weights(vocab, _unprintable_ids(fast))
        config = _hf_config(vocab, fast.bos_token_id, fast.eos_token_id)
        (staged.hf_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        save_file(sd, str(staged.hf_dir / "model.safetensors"), metadata={"format": "pt"})
        _write_gguf(staged.gguf_path, staged.hf_dir, sd, vocab)
        stamp = {"recipe": RECIPE_VERSION, "name": TINY_MODEL_NAME, "build": tmp.name}  # which build won
        (tmp / "recipe.json").write_text(json.dumps(stamp))
        _install(tmp, root, replace_complete=force)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        held.close()
    return model


_BUILD_LOCK = ".building"


def _hold(staging: Path):
    """Mark ``staging`` as in use by this process: an exclusive lock the kernel drops when the process dies
    (however it dies), so a later build can tell a killed build's folder from a running one's."""
    import fcntl

    fh = open(staging / _BUILD_LOCK, "w")  # noqa: SIM115  (held open for the whole build)
    fcntl.flock(fh, fcntl.LOCK_EX)
    return fh


def remove_stale_builds(folder: Path, prefix: str) -> list[Path]:
    """Remove the staging folders ``folder/PREFIX*`` that no live build holds (left by a killed build)."""
    import fcntl

    removed = []
    for staging in folder.glob(prefix + "*"):
        if not staging.is_dir():
            continue
        try:
            fd = os.open(staging / _BUILD_LOCK, os.O_RDONLY)  # never created here
        except OSError:  # no lock: a trash folder of _install, a build just starting, or an older version's
            try:
                if time.time() - staging.stat().st_mtime < 3600:
                    continue
            except OSError:
                continue
        else:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # taken: nobody builds here any more
            except BlockingIOError:
                continue  # a live build
            finally:
                os.close(fd)
        shutil.rmtree(staging, ignore_errors=True)
        removed.append(staging)
    return removed


def _install(staged: Path, root: Path, *, replace_complete: bool, is_complete=None) -> bool:
    """Move the finished build ``staged`` to ``root``; True if it was used, False if discarded.

    Runs under an exclusive lock file next to ``root``, so concurrent builders take turns here. If
    ``root`` already holds a complete model (another process finished first), the staged build is
    discarded unless ``replace_complete`` (``force``). An incomplete ``root`` is first renamed aside
    and then removed, so nothing ever deletes a model that another process has just put in place.
    ``is_complete(path)`` tells whether a folder holds a finished model (default: this module's check).
    """
    import fcntl

    lock_path = root.parent / f".{root.name}.lock"
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            complete = is_complete(root) if is_complete else _is_complete(_paths(root))
            if not replace_complete and complete:
                return False
            trash = None
            if root.exists() or root.is_symlink():
                trash = Path(tempfile.mkdtemp(prefix=f".{root.name}-old-", dir=root.parent))
                os.replace(root, trash / "old")
            os.replace(staged, root)
            if trash is not None:
                shutil.rmtree(trash, ignore_errors=True)
            return True
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
