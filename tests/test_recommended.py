"""The recommended-flags table (issue 24): loaded from the packaged data, gains computed from measured values only,
candidates shown as not yet measured and never added to a command, the selector's Advanced option."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from kimi_cookbook import bench, recommended
from kimi_cookbook.recommended import NOT_MEASURED, load_entries, recommended_flags, recommended_table

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "kimi_cookbook" / "data" / "recommended_flags.json"


def test_every_workload_has_a_bench_preset_and_candidates():
    wl = recommended.workloads()
    assert set(wl) == {"random", "shared-prefix", "long-context"}
    for key, w in wl.items():
        names = [s.name for s in bench.preset(w["preset"])]  # the workload's gains come from that preset
        assert w["scenario"] in names, key
        assert any(e.workload == key for e in load_entries())


def test_entries_are_measured_only_with_a_source_that_exists():
    for e in load_entries():
        if e.measured:  # filled by a GPU run: its records are committed
            assert (REPO / e.source_run).exists(), e.source_run
            assert e.hardware
        else:
            assert e.gain is None and not e.recommended


def test_table_says_not_yet_measured_and_nothing_is_added():
    table = recommended_table()
    assert list(table.columns) == ["workload", "flag", "gain", "cost", "why", "measured on", "recommended"]
    assert len(table) == len(load_entries())
    unmeasured = [e for e in load_entries() if not e.measured]
    assert (table["gain"] == NOT_MEASURED).sum() == len(unmeasured)
    for workload in recommended.workloads():
        won = [e for e in load_entries() if e.workload == workload and e.recommended]
        flags = recommended_flags(workload)
        # one flag, the largest winner: winners were measured alone, never together
        assert flags == (max(won, key=lambda e: e.gain).args() if won else ())
        rows = table[table["workload"] == recommended.workloads()[workload]["label"]]
        assert (rows["recommended"] == "yes").sum() == (1 if won else 0)
        assert rows["recommended"].str.startswith("alternative").sum() == max(0, len(won) - 1)
    assert set(recommended_table("long-context")["workload"]) == {"long context (32K-128K inputs)"}


def _measured(baseline, tuned, metric="output_token_throughput_tok_s", value=None):
    data = json.loads(DATA.read_text())
    data = copy.deepcopy(data)
    entry = data["entries"][0]
    entry.update(baseline=baseline, tuned=tuned, metric=metric, value=value, hardware="h100",
                 source_run="docs/validation")
    return load_entries(data)[0]


def test_gain_is_computed_from_the_two_measurements():
    assert _measured(1000.0, 1250.0).gain == pytest.approx(0.25)
    assert _measured(40.0, 32.0, metric="median_tpot_ms").gain == pytest.approx(0.25)  # lower latency is better
    won, lost = _measured(1000.0, 1100.0, value="128"), _measured(1000.0, 900.0)
    assert won.recommended and not lost.recommended
    assert won.args() == (f"{won.flag}=128",)
    assert recommended_flags(won.workload, "0.5.16", entries=[won, lost]) == (f"{won.flag}=128",)
    assert recommended_flags(won.workload, "0.5.7", entries=[won]) == ()  # measured on another version
    more = _measured(1000.0, 1300.0, value="256")
    for order in ([more, won, lost], [won, more, lost], [lost, won, more]):  # the largest, wherever it stands
        assert recommended_flags(won.workload, "0.5.16", entries=order) == (f"{won.flag}=256",)


@pytest.mark.parametrize(("change", "match"), [
    ({"baseline": 1.0}, "filled together"),
    ({"baseline": 1.0, "tuned": 2.0}, "filled together"),  # no source_run
    ({"baseline": -1.0, "tuned": 2.0, "source_run": "x"}, "positive number"),
    ({"flag": "disable radix"}, "one --flag"),
    ({"workload": "chat"}, "unknown workload"),
    ({"gain": 0.3}, "unknown fields"),  # a typed-in gain is refused: it is computed
])
def test_bad_entries_are_refused(change, match):
    data = json.loads(DATA.read_text())
    entry = next(e for e in data["entries"] if e["baseline"] is None)  # a candidate: nothing measured yet
    entry.update(change)
    with pytest.raises(ValueError, match=match):
        load_entries(data)


def test_selector_advanced_option_adds_only_measured_flags():
    from kimi_cookbook.widgets import CommandSelector

    sel = CommandSelector()
    plain = sel.command
    sel.advanced["sglang_version"].value = "0.5.16"
    base = sel.command
    sel.advanced["workload"].value = "random"
    flags = recommended_flags("random", "0.5.16")
    for flag in flags:
        assert flag.split("=")[0] in sel.command
    last = sel.command.splitlines()[-1]
    assert last.startswith("# recommended for random prompts")
    if not flags:  # nothing measured yet: the command is unchanged and says so
        assert sel.command == f"{base}\n{last}" and "none added" in last
    else:
        assert len(flags) == 1 and last.endswith(flags[0])
    sel.advanced["workload"].value = ""
    sel.advanced["sglang_version"].value = "0.5.7"
    assert sel.command == plain
