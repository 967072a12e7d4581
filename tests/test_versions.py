"""SGLang versions: image tags, flags and datasets per version, and the table of changes with its sources."""

from __future__ import annotations

import pytest

from kimi_cookbook import docker, selector, versions
from kimi_cookbook.hardware import GPUS


def test_page_version_is_the_default_everywhere():
    """0.5.7 is the page's and the one default: its tags are what every image lookup gives without a version."""
    v = versions.get()
    assert v.version == versions.DEFAULT_VERSION == versions.PAGE_VERSION == "0.5.7"
    for gpu in GPUS.values():
        assert v.image(gpu.id) == docker.image_for(gpu.id)
    assert docker.image_for("mi300x") == "lmsysorg/sglang:v0.5.7-rocm700-mi30x"


@pytest.mark.parametrize("hardware, tag", [
    ("mi300x", "lmsysorg/sglang:v0.5.16-rocm720-mi30x"),
    ("mi325x", "lmsysorg/sglang:v0.5.16-rocm720-mi30x"),
    ("mi355x", "lmsysorg/sglang:v0.5.16-rocm720-mi35x"),
    ("h100", "lmsysorg/sglang:v0.5.16"),
    ("b200", "lmsysorg/sglang:v0.5.16"),
])
def test_0_5_16_images(hardware, tag):
    assert docker.image_for(hardware, "0.5.16") == tag
    assert f"docker pull {tag}" == docker.docker_pull(hardware, sglang_version="v0.5.16")
    assert docker.docker_run(hardware, sglang_version="0.5.16").splitlines()[-2].strip().rstrip(" \\") == tag


def test_unknown_and_newest_versions_are_refused_clearly():
    with pytest.raises(ValueError, match="0.5.7, 0.5.16"):
        versions.get("0.4.0")
    with pytest.raises(ValueError, match="image tags are not confirmed"):
        versions.get(versions.NEWEST_RELEASE)


def test_b200_flag_depends_on_the_version():
    page = selector.build_launch_command("b200")
    assert "--attention-backend triton" in page  # 0.5.7: flashinfer fails at launch on Blackwell for this model
    assert "--attention-backend" not in selector.build_launch_command("b200", sglang_version="0.5.16")
    assert selector.build_launch_command("mi300x", sglang_version="0.5.16") == selector.build_launch_command("mi300x")


def test_per_version_tools():
    assert versions.get("0.5.7").bench_module == "sglang.bench_serving"
    assert versions.get("0.5.16").bench_module == "sglang.benchmark.serving"
    assert versions.get("0.5.7").gsm8k_harness == "few_shot_gsm8k"
    assert versions.get("0.5.16").gsm8k_harness == "run_eval"
    assert not versions.get("0.5.7").prefix_cache and versions.get("0.5.16").prefix_cache


def test_random_dataset_offline_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))  # an empty hub cache: ShareGPT not downloaded
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    problem = versions.dataset_problem("random", None)
    assert "random-ids" in problem and "--dataset-path" in problem
    assert versions.dataset_problem("random", "/data/sharegpt.json") is None
    assert versions.dataset_problem("random-ids", None) is None
    # a cached copy is enough
    (tmp_path / "datasets--anon8231489123--ShareGPT_Vicuna_unfiltered" / "snapshots" / "abc").mkdir(parents=True)
    assert versions.dataset_problem("random", None) is None


def test_the_offline_error_text_is_what_0_5_16_printed():
    """docs/validation: SGLang 0.5.16's client with --dataset-name random on an offline host."""
    from pathlib import Path

    text = (Path(__file__).parents[1] / "docs/validation/2026-11-23-sglang-0.5.16-h100/"
            "bench-random-offline-error.txt").read_text()
    assert "LocalEntryNotFoundError" in text


def test_changes_table_has_a_source_per_row():
    cited = " ".join(c["source"] for c in versions.CHANGES)
    for pr in ("15783", "31474", "19324"):
        assert f"PR {pr}" in cited
    assert all(c["version"] in versions.VERSIONS and c["source"] and c["effect"] for c in versions.CHANGES)
    md = versions.changes_markdown()
    assert md.count("\n") == len(versions.CHANGES) + 1 and "0.150 -> 0.895" in md


def test_readme_shows_the_current_versions_table():
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    table = readme.split("<!-- versions-table:start -->\n", 1)[1].split("\n<!-- versions-table:end -->", 1)[0]
    assert table == versions.changes_markdown()


DATA = __import__("pathlib").Path(__file__).parent / "data"


def test_parse_gsm8k_reads_run_eval_and_few_shot_from_sglang_0_5_16():
    from kimi_cookbook.bench import parse_gsm8k

    run_eval = parse_gsm8k((DATA / "run_eval_gsm8k_0.5.16.txt").read_text())
    assert run_eval == {"accuracy": 0.0, "latency": 86.685, "output_throughput": 130.576}
    few_shot = parse_gsm8k((DATA / "few_shot_gsm8k_0.5.16.txt").read_text())
    assert few_shot == {"accuracy": 0.0, "invalid": 0.0, "latency": 5.907, "output_throughput": 823.938}
    # run_eval's Score is the accuracy, Total latency the latency (written here in its format)
    assert parse_gsm8k("Total latency: 12.5 s\nScore: 0.895\nOutput throughput: 4000.0 token/s\n")["accuracy"] == 0.895
    with pytest.raises(ValueError, match="run_eval's 'Score"):
        parse_gsm8k("Score: 0.9\n")


def test_run_bench_refuses_random_offline_before_any_folder(tmp_path, monkeypatch):
    from kimi_cookbook.bench import run_bench

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ValueError, match="random-ids"):
        run_bench("tiny", base_url="http://127.0.0.1:9", results_dir=tmp_path / "res", dataset_name="random")
    assert not (tmp_path / "res").exists()


def test_auto_dataset_falls_back_to_random_ids_offline(tmp_path, monkeypatch, capsys):
    from types import SimpleNamespace

    from kimi_cookbook.bench import bench_settings

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    srv = SimpleNamespace(kind="sglang", flavor="sglang", base_url="http://127.0.0.1:9", model="m", tokenizer_path="/t")
    assert bench_settings(srv)["dataset_name"] == "random-ids"
    assert "random-ids instead of the page's 'random'" in capsys.readouterr().out
    assert bench_settings(srv, dataset_path="/d/sharegpt.json")["dataset_name"] == "random"


def test_block_text_quotes_the_printed_block_of_sglang_0_5_16():
    from kimi_cookbook.bench import block_text, parse_bench_serving

    text = (DATA / "bench_serving_0.5.16.txt").read_text()
    block = block_text(text)
    lines = block.splitlines()
    assert "Serving Benchmark Result" in lines[0] and set(lines[-1].strip()) == {"="}
    assert parse_bench_serving(block) == parse_bench_serving(text)
    assert block_text("no block here") == ""


def test_version_strings_live_only_in_the_registry():
    """One home per fact: no module but kimi_cookbook.versions spells an SGLang release, and every function that
    takes a version defaults to the same one."""
    import inspect
    import re
    from pathlib import Path

    from kimi_cookbook import sglang_memory

    pkg = Path(versions.__file__).parent
    literal = re.compile(r"[\"']v?\d+\.\d+\.\d+[\"']")
    found = [f"{path.relative_to(pkg)}:{n}" for path in sorted(pkg.rglob("*.py")) if path.name != "versions.py"
             for n, line in enumerate(path.read_text().splitlines(), 1) if literal.search(line)]
    assert found == []
    for fn in (sglang_memory.predict_pools, sglang_memory.predict_for_gpu, sglang_memory.pools_table,
               docker.image_for, selector.build_launch_spec):
        assert inspect.signature(fn).parameters["sglang_version"].default is None, fn.__name__
    assert sglang_memory.predict_for_gpu("h200").sglang_version == versions.DEFAULT_VERSION
