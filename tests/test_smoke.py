"""The tiny Kimi-Linear checkpoint and ``kimi-cookbook smoke`` / ``tiny-model`` on a CPU machine.

The checkpoint is checked against the published config's structure (layer kinds, head sizes and MoE layout read
from ``kimi_cookbook/data/kimi_linear_config.json``, not typed again here) and against the tensor list that real
SGLang 0.5.16 loaded (``tests/data/tiny-kimi-linear-tensors.tsv``). The GPU run itself is in docs/validation/.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors import safe_open

from kimi_cookbook import selector, smoke, tiny_kimi
from kimi_cookbook.capacity import load_model_config

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return tiny_kimi.build(tmp_path_factory.mktemp("tk") / "model")


@pytest.mark.slow
def test_config_keeps_the_published_structure(tiny):
    pub = tiny_kimi.published_config()
    cfg = json.loads((tiny / "config.json").read_text())
    assert cfg["model_type"] == pub["model_type"] == "kimi_linear"
    assert cfg["architectures"] == ["KimiLinearForCausalLM"]
    # head sizes, MLA layout, MoE layout: the published values
    for key in ("kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim", "q_lora_rank", "mla_use_nope",
                "first_k_dense_replace", "moe_layer_freq", "num_shared_experts", "dtype"):
        assert cfg[key] == pub[key], key
    lin, pub_lin = cfg["linear_attn_config"], pub["linear_attn_config"]
    assert lin["head_dim"] == pub_lin["head_dim"] and lin["short_conv_kernel_size"] == pub_lin["short_conv_kernel_size"]
    # both layer kinds present, the last layer full attention as in the published model, layers split between them
    assert lin["kda_layers"] and lin["full_attn_layers"]
    assert pub["num_hidden_layers"] in pub_lin["full_attn_layers"]
    assert cfg["num_hidden_layers"] in lin["full_attn_layers"]
    assert sorted(lin["kda_layers"] + lin["full_attn_layers"]) == list(range(1, cfg["num_hidden_layers"] + 1))
    # SGLang's fused KDA projection needs v_head_dim == linear head_dim == hidden / heads
    assert cfg["hidden_size"] // cfg["num_attention_heads"] == lin["head_dim"] == cfg["v_head_dim"]
    # the capacity planner reads it as a Kimi-Linear config
    planner = load_model_config(tiny)
    assert planner.num_kda_layers == len(lin["kda_layers"]) and planner.num_mla_layers == len(lin["full_attn_layers"])


def test_the_config_sglang_loaded_on_a_gpu_is_the_one_built_here(tiny):
    """tests/data/tiny-kimi-linear-config.json: the config real SGLang 0.5.16 served (docs/validation/)."""
    served = json.loads((DATA / "tiny-kimi-linear-config.json").read_text())
    built = json.loads((tiny / "config.json").read_text())
    assert {k: built.get(k) for k in served} == served


def test_tensors_match_what_sglang_loaded(tiny):
    rows = (DATA / "tiny-kimi-linear-tensors.tsv").read_text().splitlines()[1:]
    expected = {}
    for row in rows:
        name, shape, dtype = row.split("\t")
        expected[name] = (json.loads(shape), {"bf16": "BF16", "f32": "F32"}[dtype])
    header = tiny_kimi.read_safetensors_header(tiny / "model.safetensors")
    assert set(header) == set(expected)
    heads = json.loads((tiny / "config.json").read_text())["linear_attn_config"]["num_heads"]
    for name, (shape, dtype) in expected.items():
        shape = [heads if d == -1 else d for d in shape]  # the TSV writes A_log's head axis as -1
        assert header[name]["shape"] == shape, name
        assert header[name]["dtype"] == dtype, name
    # the file is a valid safetensors file that the safetensors library reads
    with safe_open(str(tiny / "model.safetensors"), framework="numpy") as fh:
        a_log = fh.get_tensor("model.layers.0.self_attn.A_log")
        assert set(fh.keys()) == set(expected)
    assert a_log.dtype.name == "float32" and (a_log > 0).all()


def test_bf16_rounding():
    import numpy as np

    values = np.array([1.0, -2.5, 3.14159265, 1e-3], dtype=np.float32)
    raw = np.frombuffer(tiny_kimi._bf16_bytes(values), dtype="<u2").astype(np.uint32) << 16
    back = raw.view(np.float32)
    assert np.allclose(back, values, rtol=2**-8)
    assert back[0] == 1.0 and back[1] == -2.5


def test_tokenizer_and_chat_template_with_tools(tiny):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny))
    cfg = json.loads((tiny / "config.json").read_text())
    assert len(tok) <= cfg["vocab_size"]
    assert tok.eos_token == "<|im_end|>" and tok.eos_token_id == cfg["eos_token_id"]
    call = {"id": "functions.get_weather:0", "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
    messages = [{"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": "", "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "functions.get_weather:0", "content": "21 C"}]
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    text = tok.apply_chat_template(messages, tools=tools, tokenize=False, add_generation_prompt=True)
    assert text.startswith("<|im_system|>tool_declare<|im_middle|>")
    assert ("<|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0<|tool_call_argument_begin|>"
            '{"city": "Paris"}<|tool_call_end|><|tool_calls_section_end|>') in text
    assert "<|im_system|>tool<|im_middle|>## Return of functions.get_weather:0\n21 C<|im_end|>" in text
    assert text.endswith("<|im_assistant|>assistant<|im_middle|>")
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert max(ids) < cfg["vocab_size"] and tok.convert_tokens_to_ids("<|tool_call_begin|>") in ids


def test_build_refuses_a_non_empty_folder(tmp_path):
    (tmp_path / "x").write_text("keep me")
    with pytest.raises(ValueError, match="not empty"):
        tiny_kimi.build(tmp_path)
    assert (tmp_path / "x").read_text() == "keep me"


@pytest.mark.slow
def test_ensure_builds_once_and_reuses(tmp_path):
    first = tiny_kimi.ensure_tiny_kimi_linear(tmp_path / "tk")
    stamp = (first.path / "model.safetensors").stat().st_mtime_ns
    again = tiny_kimi.ensure_tiny_kimi_linear(tmp_path / "tk")
    assert again.path == first.path and (again.path / "model.safetensors").stat().st_mtime_ns == stamp
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tiny-kimi-")]


def _cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "kimi_cookbook", *args], capture_output=True, text=True,
                          timeout=300, **kw)


@pytest.mark.slow
def test_command_for_a_local_tiny_folder_on_one_h100(tiny):
    """The weight-fit check uses the served model's config: tp 1 on an H100 is fine for the tiny model..."""
    res = _cli("command", "--hardware", "h100", "--tp", "1", "--model", str(tiny))
    assert res.returncode == 0, res.stderr
    assert f"--model-path {tiny}" in res.stdout and "--tp 1" in res.stdout
    # ...while the published 48B model still does not fit on one H100
    res = _cli("command", "--hardware", "h100", "--tp", "1")
    assert res.returncode == 2 and "bf16 weights" in res.stderr and "Traceback" not in res.stderr
    # head counts come from the served config too: the tiny model has 4 heads
    with pytest.raises(ValueError, match="4 attention heads"):
        selector.build_launch_spec("h200", model=str(tiny), tp=8)


@pytest.mark.slow
def test_tiny_model_cli_prints_the_folder(tmp_path):
    res = _cli("tiny-model", "--arch", "kimi_linear", "--out", str(tmp_path / "m"))
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().splitlines()[-1] == str(tmp_path / "m")
    assert (tmp_path / "m" / "model.safetensors").is_file()


@pytest.mark.slow
def test_smoke_without_a_gpu_stack_says_so_in_one_line(tmp_path):
    """CI has SGLang's client (no torch): smoke stops at the preflight with one line and exit status 1."""
    res = _cli("smoke", "--hardware", "h100", "--run-dir", str(tmp_path / "run"),
               env={**__import__("os").environ, "KIMI_COOKBOOK_CACHE": str(tmp_path / "cache")})
    assert res.returncode == 1
    err = [ln for ln in res.stderr.splitlines() if ln.startswith("kimi-cookbook smoke: error:")]
    assert len(err) == 1 and ("torch" in err[0] or "SGLang" in err[0]) and "Traceback" not in res.stderr
    summary = (tmp_path / "run" / "summary.md").read_text()
    assert summary.startswith("# Smoke test failed: 1 of 2 steps ok")
    assert "| preflight | failed |" in summary


@pytest.mark.slow
def test_smoke_bad_tp_is_bad_input(tmp_path):
    res = _cli("smoke", "--tp", "3", "--run-dir", str(tmp_path / "run"),
               env={**__import__("os").environ, "KIMI_COOKBOOK_CACHE": str(tmp_path / "cache")})
    assert res.returncode == 2 and "4 attention heads" in res.stderr


def test_allocation_and_results_from_the_real_gpu_run():
    """The smoke summary's parsers on the files real SGLang 0.5.16 wrote on an H100 (docs/validation/)."""
    folder = Path(__file__).parents[1] / "docs" / "validation" / "2026-11-23-sglang-0.5.16-h100"
    found = smoke.allocation_from_log((folder / "server.log").read_text())
    assert found["max_total_num_tokens"] == 11507327
    assert found["max_mamba_cache_size"] == 14654 and found["max_running_requests"] == 2930
    assert found["kv_cache_gb"] == 12.35 and found["ssm_state_gb"] == 10.73 and found["conv_state_gb"] == 0.38
    summary = json.loads((folder / "smoke-summary.json").read_text())
    assert summary["ok"] and [s["status"] for s in summary["steps"]] == ["ok"] * 8
