"""Capacity planner: byte counts against a hand computation, the plan CLI, bad input, notebook 07."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kimi_cookbook import capacity
from kimi_cookbook.hardware import GPUS

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "07_capacity_planning.ipynb"
GIB = 2**30

# ---- hand computation from the published config.json, written out (no planner code) -------------
# hidden 2304; 27 layers: MLA at 4, 8, 12, 16, 20, 24, 27 (7), KDA elsewhere (20)
# KDA: 32 heads x 128, conv kernel 4; MLA: kv_lora_rank 512, rope 64, nope 128, v 128, 32 heads
# MoE: 256 experts, 8 per token, 1 shared, moe_intermediate 1024; layer 0 dense, intermediate 9216
# vocab 163840, untied lm_head

MLA_BF16_PER_TOKEN = (512 + 64) * 7 * 2  # 8,064
FULL_MLA_BF16_PER_TOKEN = (512 + 64) * 27 * 2  # 31,104
RECURRENT_FP32 = 20 * (32 * 128 * 128) * 4  # 41,943,040
CONV_BF16 = 20 * 3 * (3 * 4096) * 2  # q, k, v conv states (kernel-1 = 3) -> 1,474,560

KDA_LINEAR = (
    3 * 2304 * 4096  # q, k, v
    + 2304 * 128 + 128 * 4096  # f_a, f_b
    + 2304 * 32  # b_proj
    + 2304 * 128 + 128 * 4096  # g_a, g_b
    + 4096 * 2304  # o_proj
)  # 39,460,864 per KDA layer
KDA_FP32 = 3 * 4096 * 4 + 4096 + 32  # conv1d weights, dt_bias, A_log: 53,280
MLA_LINEAR = 2304 * 32 * 192 + 2304 * 576 + 512 * 32 * 256 + 4096 * 2304  # q, kv_a, kv_b, o: 29,114,368
EXPERT = 3 * 2304 * 1024  # 7,077,888
ROUTER = 2304 * 256 + 256  # gate + correction bias
NORMS = 27 * 2 * 2304 + 2304 + 20 * 128 + 7 * 512  # layer norms, final norm, o_norm, kv_a_layernorm
EMBED = 163840 * 2304  # 377,487,360 (lm_head the same)
DENSE = 3 * 2304 * 9216  # 63,700,992

LINEAR_PARAMS = 20 * KDA_LINEAR + 7 * MLA_LINEAR + 26 * 257 * EXPERT + DENSE  # 256 routed + 1 shared
BF16_PARAMS = 2 * EMBED + 26 * ROUTER + NORMS  # stay bf16 even with fp8 weights
FP32_PARAMS = 20 * KDA_FP32
TOTAL_PARAMS = LINEAR_PARAMS + BF16_PARAMS + FP32_PARAMS
ACTIVE_PARAMS = TOTAL_PARAMS - 26 * (256 - 8) * EXPERT - EMBED  # unused experts, embedding table

WEIGHTS_BF16 = 2 * (LINEAR_PARAMS + BF16_PARAMS) + 4 * FP32_PARAMS
WEIGHTS_FP8 = 1 * LINEAR_PARAMS + 2 * BF16_PARAMS + 4 * FP32_PARAMS

# modules SGLang 0.5.7 replicates on every tp rank instead of sharding
REPLICATED_BF16 = 2 * (20 * 2 * 2304 * 128 + 7 * 2304 * 576 + 26 * ROUTER + NORMS)


def test_hand_numbers_are_what_we_think():
    assert MLA_BF16_PER_TOKEN == 8064 and FULL_MLA_BF16_PER_TOKEN == 31104
    assert RECURRENT_FP32 + CONV_BF16 == 43_417_600
    assert 49.0e9 < TOTAL_PARAMS < 49.3e9  # "48B" total
    assert 3.0e9 < ACTIVE_PARAMS < 3.2e9  # "A3B"


def test_cache_and_state_bytes_match_hand_computation():
    cfg = capacity.load_model_config()
    assert capacity.mla_kv_bytes_per_token(cfg) == MLA_BF16_PER_TOKEN
    assert capacity.mla_kv_bytes_per_token(cfg, "fp8_e4m3") == MLA_BF16_PER_TOKEN // 2
    assert capacity.full_mla_kv_bytes_per_token(cfg) == FULL_MLA_BF16_PER_TOKEN
    s = capacity.kda_state_bytes_per_sequence(cfg)
    assert s == {"recurrent": RECURRENT_FP32, "conv": CONV_BF16, "total": RECURRENT_FP32 + CONV_BF16}
    s4 = capacity.kda_state_bytes_per_sequence(cfg, tp=4)  # sharded by heads: (8, 128, 128), (3, 1024) x 3
    assert s4["recurrent"] == 20 * 8 * 128 * 128 * 4 and s4["conv"] == 20 * 3 * 3 * 1024 * 2
    assert capacity.kda_state_bytes_per_sequence(cfg, "bf16")["recurrent"] == RECURRENT_FP32 // 2


def test_weight_bytes_match_hand_computation():
    cfg = capacity.load_model_config()
    assert capacity.total_parameters(cfg) == TOTAL_PARAMS
    assert capacity.activated_parameters(cfg) == ACTIVE_PARAMS
    bf16 = capacity.weight_bytes(cfg, "bf16")
    assert bf16["total"] == WEIGHTS_BF16
    assert bf16["activated"] == WEIGHTS_BF16 - 2 * (26 * 248 * EXPERT + EMBED)
    assert capacity.weight_bytes(cfg, "fp8")["total"] == WEIGHTS_FP8
    sharded = WEIGHTS_BF16 - REPLICATED_BF16
    assert capacity.weight_bytes(cfg, "bf16", tp=4)["per_gpu"] == -(-sharded // 4) + REPLICATED_BF16


def test_plan_mi300x_tp4_against_hand_computation():
    p = capacity.plan("mi300x", 4, 131072)
    usable = 192 * GIB  # ROCm GPU specs: 192 GiB
    # SGLang 0.5.7 reserve on a >160 GiB GPU: 512 MiB + 16384 x 1.5 + 512 x 2 + tp/8 GiB
    reserve = (512 + 16384 * 1.5 + 512 * 2 + 4 / 8 * 1024) * 2**20
    weights = -(-(WEIGHTS_BF16 - REPLICATED_BF16) // 4) + REPLICATED_BF16
    budget = usable - int(reserve) - weights
    state_gpu = 20 * (8 * 128 * 128 * 4 + 3 * 3 * 1024 * 2)
    assert p.reserve_bytes_per_gpu == int(reserve) == 26 * GIB
    assert p.cache_budget_bytes_per_gpu == budget
    assert p.max_concurrent_requests == budget // (131072 * 8064 + state_gpu) == 143
    assert p.full_attention_max_concurrent_requests == budget // (131072 * 31104) == 37
    # hybrid needs less memory once c * 31104 > c * 8064 + state
    assert p.crossover_context == 43_417_600 // (31104 - 8064) + 1 == 1885
    assert p.crossover_context_per_gpu == state_gpu // (31104 - 8064) + 1
    # SGLang 0.5.7's 512-slot state pool comes out of the budget first
    assert p.sglang_default_max_concurrent_requests == min(512, (budget - 512 * state_gpu) // 8064 // 131072)


def test_roofline_batch1_memory_floor_by_hand():
    """Batch 1, 821 tokens, 4 x MI300X: weight shards with 8 experts per MoE layer + cache + state."""
    step = capacity.decode_step("mi300x", 4, 1, 821)
    routed_all = 2 * 26 * 256 * EXPERT
    embed_bytes = lm_head_bytes = 2 * EMBED
    other_sharded = WEIGHTS_BF16 - REPLICATED_BF16 - routed_all - embed_bytes - lm_head_bytes
    # shards: other linear layers, the whole lm_head, 8 experts per MoE layer; one embedding row
    weights = (other_sharded + lm_head_bytes + 2 * 26 * 8 * EXPERT) / 4 + REPLICATED_BF16 + 2304 * 2 / 4
    state = 2 * 20 * (8 * 128 * 128 * 4 + 3 * 3 * 1024 * 2)  # read + write
    expected = (weights + 821 * 8064 + state) / 5.3e12 * 1e3
    assert step["memory_floor_ms"] == pytest.approx(expected, rel=1e-9)
    assert step["compute_floor_ms"] < step["memory_floor_ms"]


def test_page_roofline_fractions():
    rows = capacity.page_roofline("mi300x", 4)
    assert [r["measured_tpot_ms"] for r in rows] == [5.32, 10.75, 29.63]
    assert [r["batch"] for r in rows] == [1, 14, 95]
    for r in rows:
        assert 0 < r["fraction_of_floor"] < 1  # nobody beats the hardware floor
        assert r["fraction_of_floor"] == pytest.approx(r["tpot_floor_ms"] / r["measured_tpot_ms"])
    assert rows[0]["fraction_of_floor"] < rows[1]["fraction_of_floor"]  # batch 1 is furthest from it
    assert capacity.expected_distinct_experts(256, 8, 1) == pytest.approx(8)
    assert capacity.expected_distinct_experts(256, 8, 10_000) == pytest.approx(256)


def test_decoding_speedup_grows_with_context():
    rows = capacity.decoding_speedup("mi300x", 4, (4096, 1048576))
    assert rows[0]["batch1_speedup"] < 1.1  # short context: same speed
    assert rows[1]["batch1_speedup"] > 2 and rows[1]["max_batch_throughput_speedup"] > 3


def test_local_config_of_same_family(tmp_path):
    d = json.loads((ROOT / "kimi_cookbook" / "data" / "kimi_linear_config.json").read_text())
    d["linear_attn_config"]["full_attn_layers"] = [9, 18, 27]
    d["linear_attn_config"]["kda_layers"] = [i for i in range(1, 28) if i not in (9, 18, 27)]
    (tmp_path / "config.json").write_text(json.dumps(d))
    cfg = capacity.load_model_config(tmp_path)
    assert capacity.mla_kv_bytes_per_token(cfg) == 576 * 3 * 2
    assert capacity.kda_state_bytes_per_sequence(cfg)["total"] == 24 * (32 * 128 * 128 * 4 + 3 * 3 * 4096 * 2)
    (tmp_path / "other.json").write_text(json.dumps({"model_type": "llama", "hidden_size": 8}))
    with pytest.raises(ValueError, match="not a Kimi-Linear config"):
        capacity.load_model_config(tmp_path / "other.json")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"hardware": "tpu-v5"}, "unknown hardware 'tpu-v5'; choose one of: mi300x"),
        ({"tp": 3}, r"tp=3 does not divide the 32 attention heads.*\[1, 2, 4, 8\]"),
        ({"tp": 16}, "tp must be a whole number between 1 and 8"),  # the command's limit too (one limit)
        ({"tp": 0}, "tp must be a whole number between 1 and 8"),
        ({"context": 1_048_577}, "exceeds the model's limit of 1048576 tokens"),
        ({"context": 0}, "context must be a positive number"),
        ({"hardware": "h100", "tp": 1}, r"does not fit: 91.5 GiB of bfloat16 weights per GPU"),
        ({"hardware": "h100", "tp": 2, "context": 1_048_576, "kv_dtype": "bf16", "reserve_gib": 28},
         "does not fit a single 1048576-token request"),
        ({"kv_dtype": "int4"}, "unknown KV cache dtype 'int4'; allowed: bfloat16"),
        ({"state_dtype": "fp8"}, "unknown KDA state dtype 'fp8'; allowed: float32, bfloat16"),
        ({"state_slots": 0}, "state_slots must be a positive integer"),
    ],
)
def test_bad_input_raises_clear_valueerror(kwargs, message):
    args = {"hardware": "mi300x", "tp": 4, "context": 131072} | kwargs
    hw, tp, ctx = args.pop("hardware"), args.pop("tp"), args.pop("context")
    with pytest.raises(ValueError, match=message):
        capacity.plan(hw, tp, ctx, **args)


def _cli(*argv):
    return subprocess.run([sys.executable, "-m", "kimi_cookbook", "plan", *argv], check=False, capture_output=True,
                          text=True, timeout=120, cwd=ROOT)


@pytest.mark.slow
def test_cli_json():
    r = _cli("--hardware", "mi300x", "--tp", "4", "--context", "131072", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["kv_bytes_per_token"] == MLA_BF16_PER_TOKEN
    assert out["full_attention_kv_bytes_per_token"] == FULL_MLA_BF16_PER_TOKEN
    assert out["linear_state_bytes_per_sequence"] == RECURRENT_FP32 + CONV_BF16
    assert out["weights_bytes"] == WEIGHTS_BF16
    assert out["max_concurrent_requests"] == 143
    assert 0 < out["tpot_floor_ms"] < 5.32
    # logical sizes do not depend on tp
    out2 = json.loads(_cli("--hardware", "mi300x", "--tp", "8", "--context", "131072", "--json").stdout)
    for key in ("kv_bytes_per_token", "linear_state_bytes_per_sequence", "weights_bytes"):
        assert out2[key] == out[key]
    assert out2["linear_state_bytes_per_sequence_per_gpu"] == out["linear_state_bytes_per_sequence_per_gpu"] // 2


@pytest.mark.slow
def test_cli_table_and_errors():
    r = _cli("--hardware", "mi300x", "--tp", "4", "--context", "8192", "--kv-dtype", "fp8_e4m3")
    assert r.returncode == 0, r.stderr
    assert "MLA KV cache per token (7 layers)       4,032 B" in r.stdout
    assert "Max concurrent requests, hybrid" in r.stdout
    bad = _cli("--hardware", "mi300x", "--tp", "3", "--context", "8192")
    assert bad.returncode == 2 and "tp=3 does not divide" in bad.stderr and "Traceback" not in bad.stderr
    big = _cli("--hardware", "b200", "--tp", "1", "--context", "2000000")
    assert big.returncode == 2 and "limit of 1048576" in big.stderr


def test_catalog_usable_memory():
    assert GPUS["mi300x"].usable_memory_bytes == 192 * GIB
    assert GPUS["h100"].usable_memory_bytes == 85_017_493_504
    for g in GPUS.values():  # the usable figure stays within a few percent of the printed one
        assert 0.9 < g.usable_memory_bytes / (g.memory_gb * 1e9) < 1.1


def _run_notebook(tmp_path, name, parameters):
    import papermill as pm

    out = tmp_path / name
    pm.execute_notebook(str(NOTEBOOK), str(out), parameters=parameters, kernel_name="python3",
                        cwd=str(tmp_path), progress_bar=False)
    return _read(out)


def _read(path):
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    outs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    text = "\n".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in outs)
    images = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code"
                 for o in c.get("outputs", []))
    return text, images


@pytest.mark.slow
def test_notebook_defaults(notebook_run):
    """The session's run of notebook 07 (every parameter its default)."""
    text, images = _read(notebook_run.path("07_capacity_planning"))
    assert "4 x MI300x" in text and "Max concurrent requests, hybrid           143" in text
    assert "layers 27: MLA [4, 8, 12, 16, 20, 24, 27], KDA 20" in text
    assert "0.058" in text and "0.17" in text and "0.165" in text  # the page's three runs vs the floor
    assert images == 2
    # section 3: the hybrid's saving computed, not typed (3.70x at 131,072 tokens, 1.67x at 4,096)
    assert "the hybrid needs less memory per request from 1,885 tokens" in text
    assert "3.70" in text and "1.67" in text and "3.9x" not in "".join(NOTEBOOK.read_text())
    # section 7: SGLang's own pools for the page's launch and a row per selector GPU
    from kimi_cookbook.sglang_memory import pools_table, predict_for_gpu

    page = predict_for_gpu("mi300x", tp=4, sglang_version="0.5.7")
    assert page.explain() in text
    for row in pools_table(sglang_version="0.5.7"):
        assert row["hardware"] in text and str(row["max_total_num_tokens"]) in text


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_notebook_other_parameters(tmp_path):
    text, images = _run_notebook(tmp_path, "07_h200.ipynb", {"HARDWARE": "h200", "TP": 2, "CONTEXT": 8192,
                                                                      "SGLANG_VERSION": "0.5.16"})
    assert "2 x H200" in text and "8,192 tokens" in text
    assert "at 8,192 tokens per request" in text
    assert images == 2
    # sections 3 and 6 follow the parameters (nothing typed for 4 x MI300X)
    assert "on 2 x h200: per step the MLA cache is" in text and "$ kimi-cookbook plan --hardware h200 --tp 2" in text
    speed = {r["context"]: r for r in capacity.decoding_speedup("h200", 2, (4096, 8192, 1048576))}
    assert f"{speed[8192]['batch1_speedup']:.2f}" in text
    from kimi_cookbook.sglang_memory import pools_table

    row = pools_table([("h200", 2)], sglang_version="0.5.16")[0]  # SGLANG_VERSION's rules for the chosen setup
    assert f"{row['max_total_num_tokens']}" in text and f"{row['state_slots']}" in text


# ---- SGLang's own pools through the planner (kimi_cookbook.sglang_memory; its rules tested there) -----------
SGLANG_KEYS = ("sglang_max_total_num_tokens", "sglang_state_slots", "sglang_max_running_requests")


@pytest.mark.slow
def test_cli_sglang_pools_json_keys_are_the_prediction():
    from kimi_cookbook.sglang_memory import predict_for_gpu

    out = json.loads(_cli("--hardware", "mi300x", "--tp", "4", "--sglang-version", "0.5.7", "--json").stdout)
    page = predict_for_gpu("mi300x", tp=4, sglang_version="0.5.7")  # the page's launch: SGLang's defaults
    assert {k: out[k] for k in SGLANG_KEYS} == page.json_keys()
    assert (out["sglang_state_slots"], out["sglang_max_running_requests"]) == (512, 512)
    assert out["sglang_pools"]["mem_fraction_static"] == 0.865 and out["sglang_version"] == "0.5.7"
    # no version: the keys are there, empty
    plain = json.loads(_cli("--hardware", "mi300x", "--tp", "4", "--json").stdout)
    assert all(plain[k] is None for k in SGLANG_KEYS) and plain["sglang_pools"] is None


@pytest.mark.slow
def test_cli_sglang_launch_flags_reach_the_prediction():
    from kimi_cookbook.sglang_memory import predict_for_gpu

    flags = {"mem_fraction_static": 0.8, "max_running_requests": 64, "chunked_prefill_size": 4096,
             "context_length": 65536}
    argv = ["--hardware", "h200", "--tp", "1", "--context", "8192", "--sglang-version", "0.5.16", "--json"]
    for k, v in flags.items():
        argv += [f"--{k.replace('_', '-')}", str(v)]
    r = _cli(*argv)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    expected = predict_for_gpu("h200", tp=1, sglang_version="0.5.16", **flags)
    assert {k: out[k] for k in SGLANG_KEYS} == expected.json_keys()
    pools = out["sglang_pools"]
    assert (pools["mem_fraction_static"], pools["chunked_prefill_size"], pools["context_length"]) == (0.8, 4096, 65536)
    # each flag changes the answer: the default launch differs
    default = predict_for_gpu("h200", tp=1, sglang_version="0.5.16")
    assert default.json_keys() != expected.json_keys()
    # --max-running-requests caps the running requests (64 here, lower if the state slots allow fewer)
    assert out["sglang_max_running_requests"] == min(64, out["sglang_state_slots"] // 5)
    # --chunked-prefill-size moves SGLang's default fraction (its activation reserve)
    small = json.loads(_cli("--hardware", "b200", "--tp", "1", "--sglang-version", "0.5.7", "--chunked-prefill-size",
                            "2048", "--json").stdout)
    big = json.loads(_cli("--hardware", "b200", "--tp", "1", "--sglang-version", "0.5.7", "--json").stdout)
    assert small["sglang_pools"]["mem_fraction_static"] > big["sglang_pools"]["mem_fraction_static"]
    assert small["sglang_max_total_num_tokens"] > big["sglang_max_total_num_tokens"]


@pytest.mark.slow
def test_cli_sglang_pools_table_and_errors():
    r = _cli("--hardware", "mi300x", "--tp", "4", "--sglang-version", "0.5.7", "--mem-fraction-static", "0.7")
    assert r.returncode == 0, r.stderr
    for text in ("SGLang 0.5.7 pools, predicted per GPU", "max_total_num_tokens (MLA cache)",
                 "state slots (max_mamba_cache_size)", "--mem-fraction-static 0.700 (given)", "Weights per GPU",
                 "Reserve for activations", "Pool budget"):
        assert text in r.stdout
    no_version = _cli("--hardware", "mi300x", "--tp", "4", "--mem-fraction-static", "0.7")
    assert no_version.returncode == 2 and "--sglang-version" in no_version.stderr
    assert "Traceback" not in no_version.stderr and len(no_version.stderr.strip().splitlines()) == 1
    bad = _cli("--hardware", "mi300x", "--tp", "4", "--sglang-version", "0.5.7", "--mem-fraction-static", "1.5")
    assert bad.returncode == 2 and "between 0 and 1" in bad.stderr and "Traceback" not in bad.stderr
    unknown = _cli("--hardware", "mi300x", "--sglang-version", "0.4.0")
    assert unknown.returncode == 2 and "invalid choice" in unknown.stderr
