"""SGLang pool prediction: real launch logs (a table, add rows as launches are captured) and the 0.5.7 / 0.5.16
rules written out by hand from the sources (sglang_memory's docstring cites them)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from kimi_cookbook import capacity
from kimi_cookbook.hardware import get_gpu
from kimi_cookbook.sglang_memory import (
    DEFAULT_OTHER_BYTES,
    DEFAULT_STARTUP_OVERHEAD_BYTES,
    parse_sglang_log,
    pools_table,
    predict_for_gpu,
    predict_pools,
)

ROOT = Path(__file__).resolve().parents[1]
GIB = 2**30


def _tiny_config() -> dict:
    """The tiny Kimi-Linear config.json real SGLang 0.5.16 loaded (a copy of ../shared/offline-gpu's, so CI's
    clean clone has it)."""
    return json.loads((ROOT / "tests" / "data" / "tiny-kimi-linear-config.json").read_text())


# ---- real launches ------------------------------------------------------------------------------------------
# One row per captured launch: the GPU (torch total bytes, nvidia-smi MiB), the launch flags as predict_pools
# keywords, and where its log is. The logged values are read from the log with parse_sglang_log, not retyped.
H100 = {"gpu_memory_bytes": 85_017_493_504, "gpu_capacity_mib": 81559}
VALIDATION = ROOT / "docs" / "validation" / "2026-11-23-sglang-0.5.16-h100"
POOL_LOGS = ROOT / "tests" / "data" / "sglang_pool_logs_0.5.16.txt"  # four launches' pool lines, one after another
TINY = {"tp": 1, "context_length": 8192}  # all launched with --attention-backend triton (no effect on CUDA pools)


def _launch_logs(path: Path) -> list[dict]:
    """The logged figures of each launch in ``path``: one launch per "server_args" line, in file order."""
    chunks, current = [], None
    for line in path.read_text().splitlines():
        if "server_args" in line:
            current = []
            chunks.append(current)
        if current is not None:
            current.append(line)
    return [parse_sglang_log("\n".join(c)) for c in chunks]


LOGGED_LAUNCHES = [
    # (id, log file, launch index in it, version, GPU, flags)
    ("0.5.16-h100-tp1-mfs0.3-ctx8192", VALIDATION / "server.log", 0, "0.5.16", H100,
     {**TINY, "mem_fraction_static": 0.3}),  # = ../shared/offline-gpu/README.md's launch, re-run to the token
    ("0.5.16-h100-tp1-default-mfs-ctx8192", POOL_LOGS, 0, "0.5.16", H100, {**TINY}),
    ("0.5.16-h100-tp1-mfs0.6-ctx8192", POOL_LOGS, 1, "0.5.16", H100, {**TINY, "mem_fraction_static": 0.6}),
    # no overlap scheduler: auto resolves to no_buffer (3 slots per request); the 4096 cap still wins here
    ("0.5.16-h100-tp1-mfs0.3-no-overlap", POOL_LOGS, 2, "0.5.16", H100,
     {**TINY, "mem_fraction_static": 0.3, "disable_overlap_schedule": True}),
    ("0.5.16-h100-tp1-mfs0.3-no-radix-mrr256-no-graph", POOL_LOGS, 3, "0.5.16", H100,
     {**TINY, "mem_fraction_static": 0.3, "disable_radix_cache": True, "max_running_requests": 256,
      "disable_cuda_graph": True}),
]
TOLERANCE = 0.02
COUNTS = ("max_total_num_tokens", "max_mamba_cache_size", "max_running_requests")


@pytest.mark.parametrize(("log", "index", "version", "gpu", "args"), [pytest.param(*row[1:], id=row[0])
                                                                       for row in LOGGED_LAUNCHES])
def test_prediction_matches_logged_launch(log, index, version, gpu, args):
    logged = _launch_logs(log)[index]
    p = predict_pools(_tiny_config(), sglang_version=version, **gpu, **args)
    for key in COUNTS:
        if key in logged:
            assert getattr(p, key) == pytest.approx(logged[key], rel=TOLERANCE), (key, p.explain())
    # the pool sizes SGLang prints (GiB, two decimals) from the predicted counts
    if "kv_gib" in logged:
        kv = round(p.kv_pool_bytes / GIB, 2)
        assert kv == pytest.approx(logged["kv_gib"], abs=0.01 + TOLERANCE * logged["kv_gib"])
    if "ssm_gib" in logged:
        ssm = p.max_mamba_cache_size * p.recurrent_bytes_per_slot / GIB
        assert ssm == pytest.approx(logged["ssm_gib"], abs=0.01 + TOLERANCE * logged["ssm_gib"])
    if "conv_gib" in logged:
        conv = p.max_mamba_cache_size * p.conv_bytes_per_slot / GIB
        assert conv == pytest.approx(logged["conv_gib"], abs=0.01 + TOLERANCE * logged["conv_gib"])
    # SGLang leaves the strategy at its given value ('auto') when the radix cache is off; it matters only when on
    if "mamba_radix_cache_strategy" in logged and p.radix_cache:
        assert p.mamba_strategy == logged["mamba_radix_cache_strategy"]
    if "mem_fraction_static" in logged:
        assert p.mem_fraction_static == pytest.approx(logged["mem_fraction_static"], abs=0.001)
    if "disable_overlap_schedule" in logged:
        assert logged["disable_overlap_schedule"] == args.get("disable_overlap_schedule", False)
    # the free memory SGLang printed around the weight load (GiB, two decimals) fits the assumed overhead:
    # at "Load weight begin" the other allocations are (mostly) made, at "end" the weights are in too
    if "avail_gib_after_weights" in logged:
        after = (p.free_before_weights_bytes - p.weights_bytes_per_gpu - p.other_bytes) / GIB
        assert after == pytest.approx(logged["avail_gib_after_weights"], abs=0.005)
        assert p.free_before_weights_bytes / GIB >= logged["avail_gib_before_weights"] - 0.005


def test_the_logged_launches_are_all_there():
    """The fixture holds four launches, each with its pools (the no-overlap one captured on a later GPU run: auto
    resolved to no_buffer; 14,654 slots // 3 per request = 4,884, so the 4,096 cap decides its running requests)."""
    logs = _launch_logs(POOL_LOGS)
    assert len(logs) == 4
    assert [all(k in x for k in COUNTS) for x in logs] == [True, True, True, True]
    assert logs[2]["max_running_requests"] == 4096
    assert logs[2]["mamba_radix_cache_strategy"] == "no_buffer" and logs[2]["disable_overlap_schedule"] is True
    assert _launch_logs(VALIDATION / "server.log")[0]["max_running_requests"] == 2930


def test_logged_launches_pin_the_fitted_overheads():
    """The pool budget is linear in the fraction: the 0.3 and 0.835 launches give pre_model_load_memory (slope)
    and the memory used after it (intercept); the defaults are that fit (to a few kB of the logs' rounding)."""
    logs = _launch_logs(POOL_LOGS)
    first = _launch_logs(VALIDATION / "server.log")[0]

    def budget(x: dict) -> int:
        return x["max_total_num_tokens"] * 1152 + x["max_mamba_cache_size"] * 814_080

    pre_load = (budget(logs[0]) - budget(first)) / (0.835 - 0.3)
    used_after = pre_load * 0.3 - budget(first)
    assert H100["gpu_memory_bytes"] - pre_load == pytest.approx(DEFAULT_STARTUP_OVERHEAD_BYTES, abs=5_000)
    assert used_after - TINY_WEIGHTS == pytest.approx(DEFAULT_OTHER_BYTES, abs=5_000)
    # the third fraction lies on the same line
    assert budget(logs[1]) == pytest.approx(pre_load * 0.6 - used_after, abs=2 * 814_080)


def test_logged_sizes_are_the_planner_bytes_exactly():
    """The logged GiB are counts x the capacity planner's bytes (so only the counts need predicting)."""
    cfg = capacity.KimiLinearConfig.from_dict(_tiny_config())
    state = capacity.kda_state_bytes_per_sequence(cfg)
    assert capacity.mla_kv_bytes_per_token(cfg) == 1152
    assert (state["recurrent"], state["conv"]) == (786_432, 27_648)
    assert round(11507327 * 1152 / GIB, 2) == 12.35
    assert round(14654 * state["recurrent"] / GIB, 2) == 10.73
    assert round(14654 * state["conv"] / GIB, 2) == 0.38


def test_parse_sglang_log_reads_the_logged_lines():
    # lines as SGLang 0.5.16 printed them (../shared/offline-gpu/README.md) plus the format of its
    # "Load weight" lines (model_runner.py)
    log = "\n".join([
        "[2026-11-23 10:00:01] Load weight begin. avail mem=78.32 GB",
        "[2026-11-23 10:00:03] Load weight end. elapsed=1.2 s, type=KimiLinearForCausalLM, dtype=torch.bfloat16, "
        "avail mem=78.27 GB, mem usage=0.05 GB.",
        "Mamba Cache is allocated. max_mamba_cache_size: 14654, conv_state size: 0.38GB, ssm_state size: 10.73GB ",
        "KV Cache is allocated. dtype: torch.bfloat16, #tokens: 11507327, KV size: 12.35 GB",
        "server_args=ServerArgs(mem_fraction_static=0.3, mamba_radix_cache_strategy='extra_buffer', ...)",
        "max_total_num_tokens=11507327, chunked_prefill_size=8192, max_prefill_tokens=16384, "
        "max_running_requests=2930, context_len=8192, available_gpu_mem=41.20 GB",
    ])
    assert parse_sglang_log(log) == {
        "max_total_num_tokens": 11507327, "max_mamba_cache_size": 14654, "max_running_requests": 2930,
        "kv_gib": 12.35, "conv_gib": 0.38, "ssm_gib": 10.73, "mem_fraction_static": 0.3,
        "avail_gib_before_weights": 78.32, "avail_gib_after_weights": 78.27, "weights_gib": 0.05,
        "mamba_radix_cache_strategy": "extra_buffer",
    }
    assert parse_sglang_log("no pools here") == {}


# ---- 0.5.16 rules on the tiny config, by hand ------------------------------------------------------------------
# budget (GiB) = (total - overhead - weights - other) / 2**30 - (total - overhead) / 2**30 x (1 - mfs)
TINY_WEIGHTS = 43_709_280  # bf16 tensors of tiny-kimi-linear-tensors.tsv incl. the fp32 A_log / dt_bias


def _budget_gib(mfs: float, total: int = H100["gpu_memory_bytes"]) -> float:
    free_before = total - DEFAULT_STARTUP_OVERHEAD_BYTES
    return (free_before - TINY_WEIGHTS - DEFAULT_OTHER_BYTES) / GIB - free_before / GIB * (1 - mfs)


def test_tiny_weights_from_config_match_the_checkpoint():
    assert capacity.weight_bytes(capacity.KimiLinearConfig.from_dict(_tiny_config()))["per_gpu"] == TINY_WEIGHTS


def test_0516_split_is_linear_in_the_fraction_and_caps_requests_at_4096():
    rest = _budget_gib(0.6)
    slots = int(rest * 0.9 / 1.9 * GIB // 814_080)
    tokens = int((rest - slots * 814_080 / GIB) * GIB) // 1152
    p = predict_pools(_tiny_config(), sglang_version="0.5.16", tp=1, mem_fraction_static=0.6, context_length=8192,
                      **H100)
    assert (p.max_mamba_cache_size, p.max_total_num_tokens) == (slots, tokens)
    assert slots // 5 > 4096 and p.max_running_requests == 4096  # clamp(tokens/8192 x 512, 2048, 4096)


@pytest.mark.parametrize(("flags", "slots_per_request", "strategy"), [
    ({}, 5, "extra_buffer"),
    ({"disable_overlap_schedule": True}, 3, "no_buffer"),  # auto -> no_buffer without overlap at page size 1
    ({"disable_overlap_schedule": True, "mamba_radix_cache_strategy": "extra_buffer"}, 4, "extra_buffer"),
    ({"mamba_radix_cache_strategy": "extra_buffer_lazy"}, 4, "extra_buffer_lazy"),
    ({"mamba_radix_cache_strategy": "no_buffer"}, 3, "no_buffer"),
])
def test_0516_state_slots_per_running_request(flags, slots_per_request, strategy):
    p = predict_pools(_tiny_config(), sglang_version="0.5.16", tp=1, mem_fraction_static=0.3, context_length=8192,
                      **H100, **flags)
    assert (p.state_slots_per_request, p.mamba_strategy) == (slots_per_request, strategy)
    assert p.max_mamba_cache_size == 14654  # the split does not depend on the strategy
    assert p.max_running_requests == min(4096, 14654 // slots_per_request)


def test_0516_radix_cache_off_with_max_running_requests_fixes_the_state_pool():
    p = predict_pools(_tiny_config(), sglang_version="0.5.16", tp=1, mem_fraction_static=0.3, context_length=8192,
                      disable_radix_cache=True, max_running_requests=256, **H100)
    rest = _budget_gib(0.3)
    assert (p.max_mamba_cache_size, p.max_running_requests, p.mamba_strategy) == (256, 256, "off")
    assert p.max_total_num_tokens == int((rest - 256 * 814_080 / GIB) * GIB) // 1152


def test_0516_default_fraction_on_h100():
    # 81559 MiB: reserve max(512 + 1.5 x 8192 + 1/8 x 1024 + 2 x 256, 10240) = 13440 MiB -> 0.835
    p = predict_pools(_tiny_config(), sglang_version="0.5.16", tp=1, context_length=8192, **H100)
    assert p.mem_fraction_static == round((81559 - 13440) / 81559, 3) == 0.835
    assert "default" in p.mem_fraction_source


# ---- 0.5.7 rules on the real 48B config, by hand -----------------------------------------------------------------
MLA_PER_TOKEN = (512 + 64) * 7 * 2  # 8,064 B, replicated on every GPU
STATE_PER_SEQ = 20 * (32 * 128 * 128 * 4 + 3 * 3 * 4096 * 2)  # 43,417,600 B at tp 1


def _pools_057(gpu: str, tp: int, mfs: float, slots: int, weights: int):
    total = get_gpu(gpu).usable_memory_bytes
    free_before = total - DEFAULT_STARTUP_OVERHEAD_BYTES
    rest = (free_before - weights - DEFAULT_OTHER_BYTES) / GIB - free_before / GIB * (1 - mfs)
    return int((rest - slots * (STATE_PER_SEQ // tp) / GIB) * GIB) // MLA_PER_TOKEN


def test_057_h200_default_fixed_512_state_slots_and_512_requests():
    p = predict_for_gpu("h200", tp=1, sglang_version="0.5.7")
    # 143771 MiB: reserve max(512 + 12288 + 128 + 512, 10240) = 13440 MiB
    assert p.mem_fraction_static == round((143771 - 13440) / 143771, 3) == 0.907
    assert (p.max_mamba_cache_size, p.state_slots_per_request, p.radix_cache) == (512, 1, False)
    assert p.max_running_requests == 512
    weights = capacity.weight_bytes(None, tp=1)["per_gpu"]
    assert p.max_total_num_tokens == _pools_057("h200", 1, 0.907, 512, weights)
    assert p.context_length == 1_048_576


def test_057_max_running_requests_sets_the_state_pool():
    p = predict_for_gpu("h100", tp=2, sglang_version="0.5.7", mem_fraction_static=0.85, max_running_requests=64)
    assert (p.max_mamba_cache_size, p.max_running_requests) == (64, 64)
    assert p.state_bytes_per_slot == STATE_PER_SEQ // 2  # KDA state sharded by heads
    weights = capacity.weight_bytes(None, tp=2)["per_gpu"]
    assert p.max_total_num_tokens == _pools_057("h100", 2, 0.85, 64, weights)


def test_057_radix_flags_do_not_apply():
    a = predict_for_gpu("h200", tp=1, sglang_version="0.5.7")
    b = predict_for_gpu("h200", tp=1, sglang_version="0.5.7", mamba_radix_cache_strategy="extra_buffer")
    assert a.max_mamba_cache_size == b.max_mamba_cache_size == 512


def test_057_mi300x_page_launch_and_the_aiter_rule():
    page = predict_for_gpu("mi300x", tp=4, sglang_version="0.5.7")
    # 196608 MiB, tp 4: reserve 512 + 1.5 x 16384 + 2 x 512 + 4/8 x 1024 = 26624 MiB; 32 KV heads / 4 = 8 -> triton
    assert page.mem_fraction_static == 0.865 and page.attention_backend == "triton"
    assert page.max_running_requests == 512 and page.max_mamba_cache_size == 512
    # tp 2: 16 KV heads per rank -> aiter, and context 1M > 8192 -> fraction x 0.85
    tp2 = predict_for_gpu("mi300x", tp=2, sglang_version="0.5.7")
    assert tp2.attention_backend == "aiter"
    reserve = 512 + 1.5 * 16384 + 2 * 512 + 2 / 8 * 1024
    assert tp2.mem_fraction_static == pytest.approx(round((196608 - reserve) / 196608, 3) * 0.85)
    short = predict_for_gpu("mi300x", tp=2, sglang_version="0.5.7", context_length=8192)
    assert short.mem_fraction_static == round((196608 - reserve) / 196608, 3)


def test_too_little_memory_is_said():
    p = predict_for_gpu("h100", tp=1, sglang_version="0.5.7")  # 91.5 GiB of weights on a 79 GiB GPU
    assert p.max_total_num_tokens == 0 and p.max_running_requests == 0
    assert "refuse to start" in p.explain()


@pytest.mark.parametrize(("kw", "msg"), [
    ({"sglang_version": "0.5.9"}, "no SGLang memory rules"),
    ({"tp": 3}, "tp=3"),
    ({"mem_fraction_static": 1.2}, "between 0 and 1"),
    ({"max_running_requests": 0}, "positive integer"),
    ({"mamba_radix_cache_strategy": "bogus"}, "must be one of"),
])
def test_bad_input_is_one_clear_error(kw, msg):
    args = {"gpu_memory_bytes": H100["gpu_memory_bytes"], "tp": 1, "sglang_version": "0.5.16", **kw}
    with pytest.raises(ValueError, match=msg):
        predict_pools(_tiny_config(), **args)


def test_json_keys_and_explanation():
    p = predict_pools(_tiny_config(), sglang_version="0.5.16", tp=1, mem_fraction_static=0.3, context_length=8192,
                      **H100)
    assert p.json_keys() == {"sglang_max_total_num_tokens": p.max_total_num_tokens,
                             "sglang_state_slots": p.max_mamba_cache_size,
                             "sglang_max_running_requests": p.max_running_requests}
    text = p.explain()
    for word in ("Weights per GPU", "Reserve", "Pool budget", "per slot", "per token", "max_running_requests"):
        assert word in text
    assert json.dumps(p.to_dict())


def test_pools_table_one_row_per_selector_gpu():
    from kimi_cookbook.hardware import GPUS

    rows = pools_table()
    assert [r["hardware"] for r in rows] == [f"{g.default_tp} x {g.label}" for g in GPUS.values()]
    page = rows[0]  # the page's 4 x MI300X launch: defaults, SGLang 0.5.7
    p = predict_for_gpu("mi300x", tp=4, sglang_version="0.5.7")
    assert (page["max_total_num_tokens"], page["state_slots"], page["max_running_requests"]) == (
        p.max_total_num_tokens, 512, 512)
    assert page["mem_fraction_static"] == 0.865 and page["note"] == ""
    refused = pools_table([("h100", 1)], sglang_version="0.5.16")[0]  # 91.5 GiB of weights on one H100
    assert refused["max_total_num_tokens"] == 0 and "refuse" in refused["note"]


def test_versions_table_agrees_with_the_pool_rules():
    """kimi_cookbook.versions (image tags, per-version facts) and these rules know the same releases and the same
    default state slots per running request and prefix-cache setting."""
    from kimi_cookbook import versions

    for v, entry in versions.VERSIONS.items():
        p = predict_for_gpu("h200", tp=1, sglang_version=v)
        assert (p.state_slots_per_request, p.radix_cache) == (entry.state_slots_per_request, entry.prefix_cache)


def test_ratio_for_running_is_the_smallest_that_fits_the_pages_busiest_run():
    from kimi_cookbook.sglang_memory import predict_for_gpu, ratio_for_running
    from kimi_cookbook.smoke_full import full_size_config

    cfg = full_size_config(96)  # the H100 run of docs/validation/2026-12-05-full-size-h100: the defaults ran 67
    fit = ratio_for_running("h100", 100, cfg, tp=1, sglang_version="0.5.16", context=2000)
    assert fit["fits"] and fit["default_max_running_requests"] == 67 and fit["max_running_requests"] >= 100
    assert fit["max_total_num_tokens"] < fit["default_max_total_num_tokens"]  # what it costs: MLA cache tokens
    assert f"--mamba-full-memory-ratio {fit['ratio']:g} runs" in fit["note"] and "not measured" in fit["note"]
    below = predict_for_gpu("h100", cfg, tp=1, sglang_version="0.5.16",
                            mamba_full_memory_ratio=round(fit["ratio"] - 0.1, 6))
    assert below.max_running_requests < 100  # one step less does not fit: the smallest
    # the page's launch already runs far more than 100
    page = ratio_for_running("mi300x", 100, None, tp=4, sglang_version="0.5.7", context=2000)
    assert page["fits"] and page["ratio"] is None and "defaults already run" in page["note"]
    # 0.5.7 has no prefix cache: the ratio does not apply, and the note says so instead of looping
    old = ratio_for_running("h100", 100, None, tp=2, sglang_version="0.5.7", context=131072)
    assert not old["fits"] and "without a prefix cache" in old["note"]
    # requests too long for the MLA cache: no ratio fits them, whatever the running cap
    long = ratio_for_running("h100", 100, None, tp=2, sglang_version="0.5.16", context=131072)
    assert not long["fits"] and long["ratio"] is None and "use a larger tp" in long["note"]
    with pytest.raises(ValueError, match="whole number"):
        ratio_for_running("h100", 0, None, tp=2)
    with pytest.raises(ValueError, match="prefix cache on"):
        ratio_for_running("h100", 100, None, tp=2, sglang_version="0.5.16", disable_radix_cache=True)


def test_plan_cli_fits_the_running_requests_and_takes_the_ratio_flags(capsys):
    from test_errors import one_line, run_cli

    rc, out, err = run_cli(capsys, "plan", "--hardware", "h100", "--tp", "2", "--sglang-version", "0.5.16",
                           "--fit-running", "100", "--context", "2000", "--kv-dtype", "fp8_e4m3")
    assert rc == 0, err
    line = out.strip().splitlines()[-1]
    ratio = re.search(r"--mamba-full-memory-ratio ([\d.]+) runs ([\d,]+) at once \(defaults: ([\d,]+)\) with "
                      r"([\d,]+) MLA cache tokens instead of ([\d,]+)", line)
    assert ratio and int(ratio[2].replace(",", "")) >= 100 > int(ratio[3].replace(",", ""))
    # the same ratio given as the launch flag (the other flags too): the plan's pools say the same
    rc, out, err = run_cli(capsys, "plan", "--hardware", "h100", "--tp", "2", "--sglang-version", "0.5.16",
                           "--mamba-full-memory-ratio", ratio[1], "--context", "2000", "--kv-dtype", "fp8_e4m3",
                           "--json")
    pools = json.loads(out)["sglang_pools"]
    assert rc == 0 and pools["max_running_requests"] == int(ratio[2].replace(",", ""))
    assert pools["max_total_num_tokens"] == int(ratio[4].replace(",", ""))
    rc, out, err = run_cli(capsys, "plan", "--hardware", "h100", "--tp", "2", "--sglang-version", "0.5.16",
                           "--disable-radix-cache", "--json")
    assert rc == 0 and json.loads(out)["sglang_pools"]["max_running_requests"] > 100
    rc, out, err = run_cli(capsys, "plan", "--hardware", "h100", "--tp", "2", "--fit-running", "100")
    assert rc == 2 and "give --sglang-version too" in one_line(err)
    rc, out, err = run_cli(capsys, "plan", "--hardware", "h100", "--tp", "2", "--sglang-version", "0.5.16",
                           "--fit-running", "100", "--disable-radix-cache")
    assert rc == 2 and "leave out --disable-radix-cache" in one_line(err)
    rc, out, err = run_cli(capsys, "plan", "--hardware", "h100", "--sglang-version", "0.5.16", "--fit-running", "0")
    assert rc == 2 and "--fit-running" in one_line(err)
