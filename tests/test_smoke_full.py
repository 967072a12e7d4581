"""``smoke --full-size`` on a CPU (issue 24): the fit refusal before anything is built or launched, the fewer-experts
label in every output, SGLang's pools beside the planner's, results beside the page and the decode floor."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kimi_cookbook import bench, capacity
from kimi_cookbook.smoke import SmokeReport, Step, format_summary
from kimi_cookbook.smoke_full import check_fit, floor_table, full_size_config, pools_vs_log

REPO = Path(__file__).resolve().parents[1]


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kimi_cookbook", "smoke", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})


def test_full_model_fits_one_h200_not_one_h100():
    assert check_fit("h200", 1).num_experts == 256
    assert check_fit("mi300x", 1).num_experts == 256
    with pytest.raises(ValueError) as err:
        check_fit("h100", 1)
    msg = str(err.value)
    assert "\n" not in msg and "91.5 GiB" in msg and "use --tp 2" in msg and "not the full model" in msg
    fewer = int(msg.split("--num-experts ")[1].split()[0])
    check_fit("h100", 1, fewer)  # the number it names does fit ...
    with pytest.raises(ValueError):
        check_fit("h100", 1, fewer + 1)  # ... and is the largest that does
    assert check_fit("h100", 2).num_experts == 256
    assert check_fit("h100", 1, 96).num_experts == 96  # the 96-expert run of the lent H100 (36.7 GiB)


@pytest.mark.parametrize("bad", [7, 257, True])
def test_num_experts_out_of_range_is_bad_input(bad):
    with pytest.raises(ValueError, match="--num-experts"):
        check_fit("h200", 1, bad)


def test_a_tp_that_does_not_divide_the_heads_says_so():
    with pytest.raises(ValueError, match="tp=3") as err:
        check_fit("h100", 3)
    assert "does not fit" not in str(err.value)


@pytest.mark.slow
def test_cli_refuses_before_building_or_launching(tmp_path):
    run_dir = tmp_path / "run"
    done = _cli("--full-size", "--hardware", "h100", "--run-dir", str(run_dir), cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "does not fit tp=1 on H100" in lines[0] and "--tp 2" in lines[0]
    assert not run_dir.exists()  # nothing built, nothing launched
    done = _cli("--num-experts", "96", cwd=tmp_path)
    assert done.returncode == 2 and "only with --full-size" in done.stderr
    done = _cli("--full-size", "--base-url", "http://127.0.0.1:1", cwd=tmp_path)
    assert done.returncode == 2 and "--base-url" in done.stderr


def test_pools_beside_the_planner_on_the_real_h100_log():
    """The tiny Kimi-Linear launch SGLang 0.5.16 logged on an H100 (--mem-fraction-static 0.3, context 8192)."""
    log = (REPO / "docs" / "validation" / "2026-11-23-sglang-0.5.16-h100" / "server.log").read_text()
    rows = pools_vs_log("h100", 1, REPO / "tests" / "data" / "tiny-kimi-linear-config.json", log, "0.5.16",
                        {"mem_fraction_static": 0.3, "context_length": 8192})
    assert [r["figure"] for r in rows] == ["max_total_num_tokens", "max_mamba_cache_size", "max_running_requests"]
    assert [r["logged"] for r in rows] == [11507327, 14654, 2930]
    assert all(r["logged_over_predicted"] == 1.0 for r in rows)
    assert pools_vs_log("h100", 1, REPO / "tests" / "data", log, "0.5.23") == []  # a version not modelled


def test_planner_predicts_the_96_expert_h100_launch():
    """SGLang 0.5.16's defaults on the 96-expert folder on one H100 logged #tokens 2019653, max_mamba_cache_size
    337, max_running_requests=67 (shared/offline-gpu/full-size-dummy.md): the planner within 2 %."""
    p = capacity.plan("h100", 1, 8192, config=full_size_config(96), sglang_version="0.5.16")
    assert p.sglang_max_total_num_tokens == pytest.approx(2019653, rel=0.02)
    assert p.sglang_state_slots == pytest.approx(337, rel=0.02) and p.sglang_max_running_requests == 67


def test_floor_table_agrees_with_the_planners_page_roofline():
    runs = bench.page_speed_runs()
    rows = [{**r, "name": r["scenario"]} for r in runs]
    got = floor_table(rows, "mi300x", 4, capacity.load_model_config())
    want = capacity.page_roofline("mi300x", 4)
    assert [g["scenario"] for g in got] == [w["run"] for w in want]
    for g, w, r in zip(got, want, runs, strict=True):
        assert g["floor_tpot_ms"] == pytest.approx(w["tpot_floor_ms"], abs=0.001)
        assert g["measured_over_floor"] == pytest.approx(1 / w["fraction_of_floor"], abs=0.01)
        assert g["page_output_tok_s"] == r["output_token_throughput_tok_s"] == g["output_tok_s"]


def test_summary_says_not_the_full_model_everywhere(tmp_path):
    label = "Kimi-Linear-48B-A3B with 96 of 256 experts (random weights; not the full model: same active path)"
    r = SmokeReport(run_dir=tmp_path, hardware="h100", tp=1, mode="full-size", label=label, full_model=False,
                    start_kind="first", jit_before={"Triton": {"path": "/x", "files": 0}}, finished=True,
                    steps=[Step("full-size model", "ok", 0.5, label)],
                    floor=[{"scenario": "low-c1", "mean_tpot_ms": 4.5, "floor_tpot_ms": 2.0,
                            "measured_over_floor": 2.25}])
    text = format_summary(r)
    assert text.startswith("# Full-size smoke test (NOT the full model) passed")
    assert f"- model: {label}" in text and "- first start: 0 files in SGLang's JIT caches" in text
    assert "decode floor of 1 x H100 (NOT the full model)" in text and "| low-c1 | 4.5 | 2.0 | 2.25 |" in text
    from kimi_cookbook.smoke import write_summary

    write_summary(r)
    data = json.loads((tmp_path / "summary.json").read_text())
    assert data["full_model"] is False and data["label"] == label


@pytest.mark.parametrize("preset", ["page", "shared-prefix", "long-context", "tiny"])
def test_the_warm_up_has_the_presets_longest_input_and_is_short(preset):
    # the 2026-12-05 H100 run: the first batches after a start waited ~90 s; smoke --full-size warms up first
    from kimi_cookbook import bench
    from kimi_cookbook.smoke_full import WARMUP_STALL_S, warmup_for

    scenarios = bench.preset(preset)
    warm = warmup_for(preset)
    assert warm.input_len == max(s.prefix_len + s.input_len for s in scenarios) and warm.range_ratio == 1.0
    assert warm.output_len <= 64 and warm.num_prompts <= min(8, max(s.max_concurrency for s in scenarios))
    assert warm.name not in {s.name for s in scenarios}  # its rows never mix with the benchmark's
    assert WARMUP_STALL_S > 93  # longer than the slowest first batch seen (93 s)
