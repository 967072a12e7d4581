"""The full-size model folder for random-weight speed runs (kimi_cookbook.full_size) and the SGLang model class it
is launched with (kimi_cookbook.sglang_ext). The GPU run itself is in docs/validation/*-full-size-*."""

import ast
import json
import pkgutil
from pathlib import Path

import pytest

from kimi_cookbook import full_size, sglang_ext
from kimi_cookbook.capacity import config as capacity_config, sizes
from kimi_cookbook.tiny_kimi import published_config

EXT = Path(sglang_ext.__file__).parent / "kimi_linear.py"


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("full")
    empty_hub = root / "hub"
    empty_hub.mkdir()
    return (full_size.build_full_size(root / "full", hub_cache=empty_hub),
            full_size.build_full_size(root / "e96", num_experts=96, hub_cache=empty_hub))


def test_the_full_folder_is_the_published_config_and_no_weights(folders):
    full, _ = folders
    cfg = json.loads((full.path / "config.json").read_text())
    pub = published_config()
    # every published field SGLang reads is there with its value; only the tokenizer's special ids differ
    differ = {k for k in pub if cfg.get(k) != pub[k]}
    assert differ <= {"bos_token_id", "eos_token_id", "pad_token_id"}
    for field in ("routed_scaling_factor", "moe_router_activation_func", "rms_norm_eps", "rope_theta",
                  "use_grouped_topk", "num_expert_group", "topk_group", "hidden_act", "num_nextn_predict_layers"):
        assert field in cfg, field
    assert cfg["num_experts"] == 256 and cfg["vocab_size"] == 163840
    assert not list(full.path.glob("*.safetensors")) and not list(full.path.glob("*.bin"))
    info = json.loads((full.path / "cookbook.json").read_text())
    assert info["full_model"] is True and info["load_format"] == "dummy"
    assert "not the full model" not in info["label"]
    assert "tiny" in info["tokenizer"]  # the empty hub cache: no real tokenizer here


def test_weights_are_what_the_planner_counts(folders):
    full, fewer = folders
    assert full["weight_gib"] == pytest.approx(91.5, abs=0.05)  # the page's model: one H200/MI300X or tp >= 2 on H100
    assert fewer["weight_gib"] < 40  # fits one 80 GB H100 with room for the pools
    planner = sizes.weight_bytes(capacity_config.load_model_config(full.path / "config.json"))
    assert full["weight_gib"] == round(planner["total"] / 2**30, 2)


def test_fewer_experts_is_labelled_everywhere(folders):
    _, fewer = folders
    cfg = json.loads((fewer.path / "config.json").read_text())
    assert cfg["num_experts"] == 96 and cfg["num_experts_per_token"] == 8
    assert fewer["full_model"] is False and "not the full model" in fewer.label
    assert "96 of 256" in json.loads((fewer.path / "cookbook.json").read_text())["label"]


@pytest.mark.parametrize("experts", [7, 257, 0])
def test_expert_counts_outside_the_published_range_are_refused(tmp_path, experts):
    with pytest.raises(ValueError, match="num_experts must be between 8"):
        full_size.build_full_size(tmp_path / "m", num_experts=experts, hub_cache=tmp_path)
    assert not (tmp_path / "m").exists()


def test_a_used_folder_is_refused(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty"):
        full_size.build_full_size(tmp_path)
    assert (tmp_path / "keep.txt").read_text() == "mine"


def test_the_real_tokenizer_is_taken_from_the_local_cache_only(tmp_path):
    snap = tmp_path / "hub" / full_size.HUB_REPO / "snapshots" / "abc123"
    snap.mkdir(parents=True)
    (snap / "tokenizer_config.json").write_text("{}")
    (snap / "tiktoken.model").write_text("made here")
    (snap / "tokenization_kimi.py").write_text("# made here\n")
    info = full_size.build_full_size(tmp_path / "m", hub_cache=tmp_path / "hub")
    assert "real tokenizer" in info["tokenizer"]
    assert (tmp_path / "m" / "tiktoken.model").read_text() == "made here"
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    assert cfg["eos_token_id"] == published_config()["eos_token_id"]  # the real ids stay


def test_launch_env_names_the_model_package():
    env = full_size.launch_env()
    assert env["SGLANG_EXTERNAL_MODEL_PACKAGE"] == "kimi_cookbook.sglang_ext" == full_size.EXT_PACKAGE
    assert env[full_size.SPREAD_ENV] == "1"


def test_sglang_registry_would_find_one_entry_class_named_like_sglangs():
    """SGLang's registry imports every module of the package and maps EntryClass.__name__ to it (overwrite=True):
    the class must be named KimiLinearForCausalLM and supply what 0.5.16's lacks. Checked from the source (torch
    and SGLang are not installed on CPU machines)."""
    modules = [m.name for m in pkgutil.iter_modules(sglang_ext.__path__)]
    assert modules == ["kimi_linear"]
    tree = ast.parse(EXT.read_text())
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    cls = classes["KimiLinearForCausalLM"]
    assert [b.id for b in cls.bases if isinstance(b, ast.Name)] == ["_SGLangKimiLinear"]
    methods = {n.name for n in cls.body if isinstance(n, ast.FunctionDef)}
    assert {"post_load_weights", "spread_routers", "get_model_config_for_expert_location"} <= methods
    entry = [n for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "EntryClass"]
    assert len(entry) == 1 and entry[0].value.id == "KimiLinearForCausalLM"
    # the router is re-drawn only when the cookbook asks (dummy loads), never for real weights
    src = EXT.read_text()
    assert "os.environ.get(SPREAD_ENV) == \"1\"" in src and "from kimi_cookbook.full_size import SPREAD_ENV" in src


def test_importing_the_class_without_sglang_says_what_is_missing():
    with pytest.raises(ModuleNotFoundError) as err:
        import kimi_cookbook.sglang_ext.kimi_linear  # noqa: F401
    assert err.value.name in {"torch", "sglang"}


# ---- the committed GPU runs (docs/validation/2026-12-0[56]-full-size-h100), as notebook 05 shows them ----------

VALIDATION = Path(__file__).resolve().parents[1] / "docs" / "validation"
RUN_DIRS = [VALIDATION / "2026-12-05-full-size-h100", VALIDATION / "2026-12-06-full-size-h100",
            VALIDATION / "2026-12-06-shared-prefix-h100"]
RUN_DIR = RUN_DIRS[0]
# the shared-prefix call that came on an H200 (the full model) and was stopped: read alone (another GPU kind)
SHARED_H200 = VALIDATION / "2026-12-06-shared-prefix-h200"


def test_the_committed_run_json_is_what_the_validation_folder_gives():
    from kimi_cookbook.bench import measured

    # scripts/full_size_results.py wrote it; nothing in it was typed in, so re-deriving must give it exactly
    assert measured.derive(*RUN_DIRS) == measured.load_full_size_run()


def test_folders_of_another_model_or_gpu_are_not_read_as_one_run(tmp_path):
    import shutil

    from kimi_cookbook.bench import measured

    other = tmp_path / "2026-12-07-full-size-h200" / "call1"
    shutil.copytree(RUN_DIRS[1] / "call1-radix", other)
    summary = json.loads((other / "summary.json").read_text())
    summary["gpu"] = "NVIDIA H200, 143771 MiB, 580.159.04"
    (other / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(ValueError, match="one model on one GPU kind"):
        measured.derive(RUN_DIRS[1], other.parent)
    summary["gpu"], summary["model"]["label"] = "NVIDIA H100 80GB HBM3, 81559 MiB", "another model"
    (other / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(ValueError, match="one model on one GPU kind"):
        measured.derive(RUN_DIRS[1], other.parent)
    summary["model"]["label"] = json.loads((RUN_DIRS[1] / "call1-radix" / "summary.json").read_text())["model"]["label"]
    (other / "summary.json").write_text(json.dumps(summary))
    records = (other / "bench.jsonl").read_text().replace('"version": "0.5.16"', '"version": "0.5.17"')
    (other / "bench.jsonl").write_text(records)
    with pytest.raises(ValueError, match="SGLang 0.5.16, 0.5.17: derive one SGLang version at a time"):
        measured.derive(RUN_DIRS[1], other.parent)
    with pytest.raises(ValueError, match="no folder given"):
        measured.derive()


def test_the_committed_run_says_what_it_is_and_meets_the_pool_bar():
    from kimi_cookbook.bench import measured

    run = measured.load_full_size_run()
    assert run["full_model"] is False and "not the full model" in run["model"]
    assert run["sglang_version"] == "0.5.16" and run["gpu"].startswith("NVIDIA H100")
    # the planner's three pools against every launch's log: within 2 %; max_running_requests is the state slots
    # divided by 5 (prefix cache on) rounded down, so a slot count within 2 % may move it by one request
    assert {p["figure"] for p in run["pools"]} == {"max_total_num_tokens", "max_mamba_cache_size",
                                                   "max_running_requests"}
    for p in run["pools"]:
        assert abs(p["logged_over_predicted"] - 1) < 0.02 or (
            p["figure"] == "max_running_requests" and abs(p["logged"] - p["predicted"]) <= 1), p
    # the page's three scenarios, 500 at concurrency 100 included, each finished on one launch
    assert [r["max_concurrency"] for r in run["scenarios"]] == [1, 16, 100]
    # each finished page scenario beside the page and the floor, measured/floor computed from the two
    for row in run["scenarios"]:
        assert row["floor_tpot_ms"] > 0 and row["page_mean_tpot_ms"] > 0
        assert row["measured_over_floor"] == round(row["mean_tpot_ms"] / row["floor_tpot_ms"], 2)
    # routing spread: every expert used in every counted layer
    assert run["routing"]["min_experts_used"] == run["routing"]["experts"]


def test_the_recommended_table_holds_exactly_what_the_committed_run_proves():
    from kimi_cookbook import recommended
    from kimi_cookbook.bench import measured

    run = measured.load_full_size_run()
    proved = {(g["workload"], g["flag"]): g for g in measured.table_gains(run)}
    from_runs = [e for e in recommended.load_entries() if e.source_run and "full-size" in e.source_run]
    # scripts/full_size_results.py copies each proved comparison into the table; none is typed in by hand
    assert {(e.workload, e.flag) for e in from_runs} == set(proved)
    for e in from_runs:
        g = proved[(e.workload, e.flag)]
        assert (e.value, e.baseline, e.tuned, e.hardware, e.source_run) == (
            g["value"], g["baseline"], g["tuned"], g["hardware"], g["source_run"])


def test_only_a_finished_one_flag_comparison_in_one_call_counts_as_a_gain():
    from kimi_cookbook.bench import measured

    def row(call, flags, status="done", completed=200, prompts=200, tok_s=2000.0):
        return {"call": call, "flags": flags, "status": status, "completed": completed, "num_prompts": prompts,
                "output_tok_s": tok_s}

    run = {"full_model": False, "model": "Kimi-Linear-48B-A3B with 96 of 256 experts (random weights; ...)",
           "gpu": "NVIDIA H100 80GB HBM3, 81559 MiB, 580", "sglang_version": "0.5.16",
           "c100": [row("x/a", "(defaults)", tok_s=2000.0), row("x/a", "--disable-radix-cache", tok_s=2500.0),
                    row("x/a", "--mamba-full-memory-ratio 2.4", tok_s=1900.0),
                    row("x/b", "(defaults)"), row("x/b", "--disable-radix-cache", status="over its 90 s limit"),
                    row("x/c", "--disable-radix-cache"),  # no defaults in that call: nothing to compare with
                    row("x/d", "(defaults)"), row("x/d", "--disable-radix-cache", prompts=100, completed=100)]}
    gains = measured.flag_gains(run)
    assert [(g["source_run"], g["flag"], g["value"], g["baseline"], g["tuned"]) for g in gains] == [
        ("docs/validation/x/a", "--disable-radix-cache", None, 2000.0, 2500.0),
        ("docs/validation/x/a", "--mamba-full-memory-ratio", "2.4", 2000.0, 1900.0)]
    # the table keeps one comparison per flag: the one with most prompts, the later call among equals
    run["c100"] += [row("x/e", "(defaults)", prompts=500, completed=500, tok_s=2100.0),
                    row("x/e", "--disable-radix-cache", prompts=500, completed=500, tok_s=2400.0),
                    row("x/f", "(defaults)", tok_s=1000.0), row("x/f", "--disable-radix-cache", tok_s=3000.0)]
    table = measured.table_gains(run)
    assert [(g["flag"], g["source_run"], g["tuned"]) for g in table] == [
        ("--disable-radix-cache", "docs/validation/x/e", 2400.0),
        ("--mamba-full-memory-ratio", "docs/validation/x/a", 1900.0)]
    # equal prompts: the later call by its dated path, whatever the order the folders were read in
    run["c100"] = [row("y/2026-12-07/call1", "(defaults)"), row("y/2026-12-07/call1", "--disable-radix-cache",
                                                                tok_s=2600.0),
                   row("y/2026-12-06/call9", "(defaults)"), row("y/2026-12-06/call9", "--disable-radix-cache",
                                                                tok_s=2100.0)]
    assert [g["tuned"] for g in measured.table_gains(run)] == [2600.0]
    # two flags changed at once, one given as the other's value: not a one-flag comparison
    run["c100"] = [row("z", "(defaults)"), row("z", "--disable-radix-cache --enable-metrics")]
    assert measured.flag_gains(run) == []
    assert gains[0]["hardware"] == ("1x H100 80GB HBM3 (Kimi-Linear-48B-A3B with 96 of 256 experts, not the full "
                                    "model), 200 prompts at concurrency 100")


def test_progress_and_decode_lines_are_read_from_sglangs_own_output():
    from kimi_cookbook.bench import measured

    stdout = (RUN_DIR / "call1-page" / "bench-stdout.txt").read_text()
    seen = measured.last_progress(stdout, "no-radix-c100")
    assert seen == {"completed": 163, "num_prompts": 500, "elapsed_s": 46, "requests_per_s": 3.54}
    assert measured.last_progress(stdout, "no-such-scenario") is None
    log = ("[t] Decode batch, #running-req: 100, #full token: 95330, full token usage: 0.05, mamba num: 100, "
           "mamba usage: 0.30, cuda graph: True, gen throughput (token/s): 2600.0, #queue-req: 0\n"
           "[t] Decode batch, #running-req: 3, #full token: 10, full token usage: 0.00, mamba num: 3, "
           "mamba usage: 0.01, cuda graph: True, gen throughput (token/s): 1.5, #queue-req: 0\n")
    assert measured.decode_lines(log, min_running=60) == {"lines": 1, "median_gen_tok_s": 2600.0,
                                                          "max_running": 100, "max_queued": 0}
    assert measured.decode_lines(log, min_running=200) is None


def test_the_committed_run_plots(tmp_path):
    from kimi_cookbook.bench import measured

    fig = measured.plot_full_size_run()
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["measured (H100 80GB HBM3)", "page (4x MI300X)", "planner's floor (H100 80GB HBM3)"]
    fig.savefig(tmp_path / "run.png")
    assert (tmp_path / "run.png").stat().st_size > 5000
    # the one-flag comparisons: a bar pair per comparison, the gain written on the flag's bar
    run = measured.load_full_size_run()
    gains = measured.flag_gains(run)
    fig = measured.plot_flag_gains(run)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == [f"{g['tuned'] / g['baseline'] - 1:+.1%}" for g in gains] and len(gains) >= 3
    assert [t.get_text().split("\n")[0] for t in fig.axes[0].get_yticklabels()] == [
        g["flag"] + ("" if g["value"] is None else f" {g['value']}") for g in gains]
    with pytest.raises(ValueError, match="no finished defaults-vs-one-flag comparison"):
        measured.plot_flag_gains({**run, "c100": []})


def test_launch_flags_and_start_phases_are_read_not_guessed():
    from kimi_cookbook.bench import measured

    assert measured.launch_options(["--expert-distribution-recorder-mode", "stat", "--disable-radix-cache"]) == {
        "disable_radix_cache": True}
    assert measured.launch_options(["--mamba-full-memory-ratio", "3.0"]) == {"mamba_full_memory_ratio": 3.0}
    with pytest.raises(ValueError, match="--cuda-graph-max-bs is not modelled"):
        measured.launch_options(["--cuda-graph-max-bs", "100"])
    log = ("[2026-12-05 18:16:43] Capture target decode CUDA graph begin. backend=full\n"
           "[2026-12-05 18:16:56] Capture target decode CUDA graph end. elapsed=12.58 s, mem usage=6.75 GB\n"
           "[2026-12-05 18:16:59] The server is fired up and ready to roll!\n")
    assert measured.start_phases(log) == {"graph_capture_s": 12.58, "capture_end_to_ready_s": 3.0}
    assert measured.start_phases("no such lines") == {}
    with pytest.raises(ValueError, match="no server-nope.log"):
        measured._log(RUN_DIR / "call1-page", "nope")


# ---- the shared-prefix workload: the driver's --workload, and what derive and the table make of it ----------------

def _driver():
    import importlib.util

    spec = importlib.util.spec_from_file_location("full_size_gpu", VALIDATION / "full_size_gpu.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_driver_runs_the_shared_prefix_preset_as_it_is_and_random_as_before(tmp_path):
    from kimi_cookbook import recommended
    from kimi_cookbook.bench import preset

    drv = _driver()
    scen = drv.shared_prefix_scenario()
    table = recommended.workloads()["shared-prefix"]
    # one home per fact: the scenario the recommended-flags table names for the workload, from its preset
    assert (drv.SHARED_PRESET, scen.name) == (table["preset"], table["scenario"])
    # (the driver loads scenarios.py by its path: another class object, the same fields)
    assert scen.as_dict() == next(s for s in preset(table["preset"]) if s.name == table["scenario"]).as_dict()
    assert (scen.num_prompts, scen.prefix_groups, scen.max_concurrency) == (512, 32, 100)
    cmd = drv.bench_args("/tmp/kfull", tmp_path, 0, 0, scenario=scen)
    i = cmd.index("--dataset-name")
    assert cmd[i + 1] == "generated-shared-prefix"
    assert cmd[i + 2:i + 2 + len(scen.client_args())] == scen.client_args()
    assert cmd[i + 2 + len(scen.client_args()):] == ["--cache-report", "--tokenizer", "/tmp/kfull", "--seed", "1",
                                                     "--output-file", str(tmp_path / "bench.jsonl")]
    # the page's random workload: the client's arguments of the committed 2026-12-0[56] calls, unchanged
    assert drv.bench_args("/tmp/kfull", tmp_path, 500, 100)[2:] == [
        "sglang.bench_serving", "--backend", "sglang", "--host", "127.0.0.1", "--port", "30000", "--dataset-name",
        "random-ids", "--random-input-len", "1000", "--random-output-len", "1000", "--random-range-ratio", "0.0",
        "--num-prompts", "500", "--max-concurrency", "100", "--request-rate", "inf", "--tokenizer", "/tmp/kfull",
        "--seed", "1", "--output-file", str(tmp_path / "bench.jsonl")]
    fewer = drv.shared_prefix_scenario(8)  # too little time for a second launch: fewer groups, same groups' size
    assert (fewer.num_prompts, fewer.prefix_groups, fewer.prefix_len) == (128, 8, scen.prefix_len)


def test_the_stopped_h200_shared_prefix_call_is_read_with_its_workload_and_proves_nothing():
    from kimi_cookbook import recommended
    from kimi_cookbook.bench import measured

    summary = json.loads((SHARED_H200 / "call1-shared-prefix" / "summary.json").read_text())
    assert (summary["workload"], summary["scenario"], summary["preset"]) == ("shared-prefix", "prefix-c100",
                                                                           "shared-prefix")
    run = measured.derive(SHARED_H200)
    assert run["full_model"] is True and run["gpu"].startswith("NVIDIA H200")
    [row] = run["c100"]
    # the client's last request bar (not the dataset's "Generating shared-prefix prompts" bar of 512)
    assert (row["workload"], row["flags"], row["completed"], row["num_prompts"]) == ("shared-prefix", "(defaults)",
                                                                                     237, 512)
    assert row["status"].startswith("over its") and row["output_tok_s"] is None
    assert row["decode_log"]["max_running"] == 79  # SGLang's cap of 80 on that launch: prefix cache on
    assert run["scenarios"] == []  # no page row from another workload
    assert measured.flag_gains(run) == []  # one launch, stopped: no comparison, nothing for the table
    assert recommended.recommended_flags("shared-prefix", "0.5.16") == ()
    assert all(not e.measured for e in recommended.load_entries() if e.workload == "shared-prefix")


def test_a_shared_prefix_comparison_fills_the_shared_prefix_entry_and_a_loss_adds_nothing(tmp_path):
    import copy
    import shutil

    from kimi_cookbook import recommended
    from kimi_cookbook.bench import measured

    # a random-workload call relabelled as shared-prefix: what derive and the table do with the driver's workload
    call = tmp_path / "2026-12-07-shared-prefix-h100" / "call1-radix"
    shutil.copytree(RUN_DIRS[1] / "call1-radix", call)
    summary = json.loads((call / "summary.json").read_text())
    (call / "summary.json").write_text(json.dumps({**summary, "workload": "shared-prefix"}))
    run = measured.derive(call.parent)
    assert {r["workload"] for r in run["c100"]} == {"shared-prefix"}
    [gain] = measured.table_gains(run)
    assert (gain["workload"], gain["flag"], gain["value"]) == ("shared-prefix", "--disable-radix-cache", None)
    assert gain["hardware"].endswith("200 prompts of prefix-c100 at concurrency 100")
    # next to the committed random calls: one entry per (workload, flag), each from its own workload's calls
    both = measured.derive(RUN_DIRS[1], call.parent)
    keys = [(g["workload"], g["flag"], g["source_run"].rsplit("/", 2)[-2]) for g in measured.table_gains(both)]
    assert ("shared-prefix", "--disable-radix-cache", "2026-12-07-shared-prefix-h100") in keys
    assert ("random", "--disable-radix-cache", "2026-12-06-full-size-h100") in keys
    # what scripts/full_size_results.py does with it: the shared-prefix entry, filled; a loss is never added
    data = json.loads((Path(recommended.__file__).parent / "data" / recommended.DATA_FILE).read_text())
    for tuned, added in ((gain["baseline"] * 0.8, ()), (gain["baseline"] * 1.2, ("--disable-radix-cache",))):
        table = copy.deepcopy(data)
        entry = next(e for e in table["entries"] if (e["workload"], e["flag"]) == ("shared-prefix", gain["flag"]))
        entry.update({k: gain[k] for k in ("value", "sglang_version", "baseline", "hardware", "source_run")},
                     tuned=tuned)
        entries = recommended.load_entries(table)
        assert recommended.recommended_flags("shared-prefix", "0.5.16", entries=entries) == added
        assert recommended.recommended_flags("random", "0.5.16", entries=entries) == ("--disable-radix-cache",)


def test_a_dataset_bar_is_not_a_request():
    from kimi_cookbook.bench import measured

    made = ("===== prefix-c100: sglang.bench_serving ...\nGenerating shared-prefix prompts: 100%|##| 512/512 "
            "[00:03<00:00, 160.00it/s]\n")
    assert measured.last_progress(made, "prefix-c100") is None  # stopped before the first request
    ran = made + ("Warmup completed with 1 sequences. Starting main benchmark run...\n"
                  " 20%|##        | 100/512 [00:25<01:30,  4.00it/s]\n")
    assert measured.last_progress(ran, "prefix-c100") == {"completed": 100, "num_prompts": 512, "elapsed_s": 25,
                                                          "requests_per_s": 4.0}


def test_the_shared_prefix_call_on_the_h100_is_shown_but_proves_no_gain():
    """2026-12-06-shared-prefix-h100: the defaults finished all 512 prompts of prefix-c100, the radix-off launch had
    time for 16 of the 32 groups (256 prompts): rows for both, no comparison (different prompts), so the table's
    shared-prefix entries stay candidates and nothing is added to a command for that workload."""
    from kimi_cookbook import recommended
    from kimi_cookbook.bench import measured

    run = measured.load_full_size_run()
    rows = [r for r in run["c100"] if r["workload"] == "shared-prefix"]
    assert [(r["flags"], r["completed"], r["num_prompts"]) for r in rows] == [
        ("(defaults)", 512, 512), ("--disable-radix-cache", 256, 256)]
    assert all(g["workload"] == "random" for g in measured.flag_gains(run))
    shared = [e for e in recommended.load_entries() if e.workload == "shared-prefix"]
    assert shared and not any(e.measured for e in shared)
