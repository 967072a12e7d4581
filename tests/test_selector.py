"""The selector core against the page's own generator, run with node from the page's source."""

import itertools
import json
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from kimi_cookbook import MODEL_ID
from kimi_cookbook.selector import (
    OPTIONS,
    PAGE_ERROR_TEXT,
    PAGE_OPTIONS,
    build_launch_command,
    build_launch_spec,
    initial_state,
    render_command,
)

GENERATOR = Path(__file__).parent / "data" / "page_generator.js"
SEED = Path(__file__).resolve().parents[2] / "shared" / "seeds" / "002_183d36ebb45c81bb.txt"
PAGE_COMBOS = [
    {"hardware": h, "modelname": "instruct", "strategy": ["tp"], "reasoning": r, "toolcall": t}
    for h, r, t in itertools.product(["mi300x", "mi325x", "mi355x"], ["disabled", "enabled"], ["disabled", "enabled"])
]


def run_page_generator(states: list[dict]) -> dict:
    """Run the page's generateCommand/getInitialState under node; returns {'initial':..., 'commands': [...]}."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is required to run the page's generator (install nodejs)")
    script = (
        f"const m = require({json.dumps(str(GENERATOR))});"
        f"const states = {json.dumps(states)};"
        "const init = m.getInitialState();"
        "console.log(JSON.stringify({initial: init, initialCommand: m.generateCommand(init),"
        " options: m.options, commands: states.map(m.generateCommand)}));"
    )
    out = subprocess.run([node, "-e", script], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


@pytest.fixture(scope="module")
def page():
    return run_page_generator(PAGE_COMBOS)


def test_fixture_is_the_page_source():
    """The JS fixture is the page's code, byte for byte (checked when the seed page is present)."""
    if not SEED.exists():
        pytest.skip("seed page not beside the checkout")
    fixture = GENERATOR.read_text()
    body = fixture[fixture.index("  const options = {"): fixture.index("module.exports")]
    assert body in SEED.read_text()


def test_there_are_twelve_page_combinations():
    assert len(PAGE_COMBOS) == 12


def test_options_mirror_the_page(page):
    assert page["options"] == PAGE_OPTIONS
    assert list(OPTIONS) == list(PAGE_OPTIONS)
    page_ids = [i["id"] for i in PAGE_OPTIONS["hardware"]["items"]]
    assert [i["id"] for i in OPTIONS["hardware"]["items"]][:3] == page_ids
    assert [i["id"] for i in OPTIONS["hardware"]["items"]][3:] == ["h100", "h200", "b200"]


def test_first_load_state_matches_the_page(page):
    assert initial_state() == page["initial"]
    assert initial_state(OPTIONS) == page["initial"]  # NVIDIA items come after the page's
    assert render_command() == page["initialCommand"]
    assert render_command(None) == render_command({})


@pytest.mark.parametrize("index", range(12))
def test_every_page_combination_matches_character_for_character(page, index):
    assert render_command(PAGE_COMBOS[index]) == page["commands"][index]


def test_reasoning_error_text_is_the_pages(page):
    errors = [c for c in page["commands"] if c.startswith("# Error")]
    assert len(errors) == 6 and set(errors) == {PAGE_ERROR_TEXT}
    assert render_command({"reasoning": "enabled", "hardware": "h100"}) == PAGE_ERROR_TEXT


def test_partial_values_take_the_initial_state(page):
    assert render_command({"toolcall": "enabled"}) == page["commands"][1]


@pytest.mark.parametrize(
    "values, message",
    [
        ({"hardware": "tpu"}, "hardware: unknown choice 'tpu'"),
        ({"colour": "red"}, "unknown option group"),
        ({"strategy": []}, "required"),
        ({"toolcall": "on"}, "toolcall: unknown choice 'on'"),
    ],
)
def test_render_command_rejects_unknown_input(values, message):
    with pytest.raises(ValueError, match=message):
        render_command(values)


def test_typed_api_defaults_give_the_page_command(page):
    assert build_launch_command("mi300x") == page["commands"][0]
    assert build_launch_command("mi355x", tool_call_parser="kimi_k2") == page["commands"][9]


def test_typed_api_raises_for_the_reasoning_parser():
    with pytest.raises(ValueError, match="doesn't support a reasoning parser"):
        build_launch_command("mi300x", reasoning_parser="kimi_k2")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"hardware": "gtx1080"}, "unknown hardware 'gtx1080'"),
        ({"tp": 3}, r"tp=3 does not divide the model's 32 attention heads; use one of \[1, 2, 4, 8\]"),
        ({"tp": 16}, "tp must be between 1 and 8"),
        ({"tp": 0}, "tp must be between 1 and 8"),
        ({"tp": "four"}, "tp must be a whole number"),
        ({"hardware": "h100", "tp": 1},
         r"tp=1 on H100: each GPU would hold 91.5 GiB of bf16 weights but has 79.2 GiB; use tp >= 2"),
        ({"tool_call_parser": "hermes"}, "not for Kimi-Linear"),
        ({"port": 70000}, "port must be between 1 and 65535"),
        ({"context_length": 2_000_000}, "context_length must be between 1 and 1048576"),
        ({"mem_fraction_static": 1.5}, "mem_fraction_static must be between 0 and 1"),
        ({"model": ""}, "model must be a non-empty string"),
        ({"model": "a\nb"}, "single line"),
    ],
)
def test_typed_api_bad_input(kwargs, message):
    hardware = kwargs.pop("hardware", "mi300x")
    with pytest.raises(ValueError, match=message):
        build_launch_command(hardware, **kwargs)


@pytest.mark.parametrize("arg", ["--x; rm -rf ~", "$(id)", "-x", "--a\nb", 5])
def test_extra_args_must_be_flags(arg):
    with pytest.raises(ValueError, match="extra_args items must look like"):
        build_launch_command("mi300x", extra_args=[arg])


def test_extra_args_are_quoted():
    cmd = build_launch_command("h200", extra_args=["--enable-metrics", "--log-level=debug", "--chat-template=a b"])
    assert cmd.endswith("  --enable-metrics \\\n  --log-level=debug \\\n  '--chat-template=a b'")
    assert shlex.split(cmd.replace("\\\n", " "))[-1] == "--chat-template=a b"


def test_hostile_values_come_out_inert():
    cmd = build_launch_command("mi300x", model="x; rm -rf ~", tokenizer_path="$(reboot)", host="`id`")
    words = shlex.split(cmd.replace("\\\n", " "))
    assert "x; rm -rf ~" in words and "$(reboot)" in words and "`id`" in words
    assert "--model-path 'x; rm -rf ~'" in cmd


@pytest.mark.parametrize("hardware, tp", [("h100", "2"), ("h200", "1"), ("b200", "1")])
def test_nvidia_has_no_rocm_variable_and_a_sized_tp(hardware, tp):
    spec = build_launch_spec(hardware)
    assert spec.env == {}
    assert spec.option("--tp") == tp
    assert not spec.to_shell().startswith("SGLANG_ROCM")


def test_b200_uses_triton_attention_on_sglang_057():
    assert build_launch_spec("b200").option("--attention-backend") == "triton"


def test_spec_argv_and_knobs_in_order():
    spec = build_launch_spec("mi325x", tp=8, tool_call_parser="kimi_k2", tokenizer_path=MODEL_ID, host="0.0.0.0",
                             port=30000, context_length=131072, mem_fraction_static=0.85)
    assert spec.env == {"SGLANG_ROCM_FUSED_DECODE_MLA": "0"}
    assert spec.argv() == [
        "python3", "-m", "sglang.launch_server", "--model-path", MODEL_ID, "--tokenizer-path", MODEL_ID,
        "--tp", "8", "--trust-remote-code", "--tool-call-parser", "kimi_k2", "--host", "0.0.0.0",
        "--port", "30000", "--context-length", "131072", "--mem-fraction-static", "0.85",
    ]
    # the shell form splits back into exactly the same words
    assert shlex.split(spec.to_shell().replace("\\\n", " ")) == ["SGLANG_ROCM_FUSED_DECODE_MLA=0"] + spec.argv()


def test_enable_metrics_knob():
    assert build_launch_spec("mi300x", enable_metrics=True).argv()[-1] == "--enable-metrics"
    assert "--enable-metrics" not in build_launch_spec("mi300x").argv()
    with pytest.raises(ValueError, match="enable_metrics must be True or False"):
        build_launch_spec("mi300x", enable_metrics="yes")
