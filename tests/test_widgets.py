"""The ipywidgets UI, driven headlessly: set widget values, read the command it shows."""

import html
import itertools

import ipywidgets as W
import pytest

from kimi_cookbook.selector import PAGE_ERROR_TEXT, build_launch_command, render_command
from kimi_cookbook.widgets import CommandSelector


def shown(sel: CommandSelector) -> str:
    """The text inside the command box's <pre>, as a browser would show it."""
    value = sel.output.value
    return html.unescape(value[value.index(">") + 1: value.rindex("</pre>")])


def test_first_load_shows_the_pages_first_command():
    sel = CommandSelector()
    assert shown(sel) == render_command()


def test_groups_mirror_the_page():
    sel = CommandSelector()
    assert list(sel.groups) == ["hardware", "modelname", "strategy", "reasoning", "toolcall"]
    assert [o[1] for o in sel.groups["hardware"].options] == ["mi300x", "mi325x", "mi355x", "h100", "h200", "b200"]
    tp_box = sel.groups["strategy"].items[0]
    assert isinstance(tp_box, W.Checkbox) and tp_box.value is True and tp_box.disabled is True
    assert tp_box.description == "TP"


@pytest.mark.parametrize("hw, r, t", list(itertools.product(
    ["mi300x", "mi325x", "mi355x", "h100", "h200", "b200"], ["disabled", "enabled"], ["disabled", "enabled"])))
def test_clicking_updates_the_command(hw, r, t):
    sel = CommandSelector()
    sel.groups["hardware"].value = hw
    sel.groups["reasoning"].value = r
    sel.groups["toolcall"].value = t
    expected = render_command({"hardware": hw, "reasoning": r, "toolcall": t})
    assert shown(sel) == expected == sel.command


def test_error_is_shown_as_the_page_shows_it_and_clears():
    sel = CommandSelector()
    sel.groups["reasoning"].value = "enabled"
    assert shown(sel) == PAGE_ERROR_TEXT
    sel.groups["reasoning"].value = "disabled"
    assert shown(sel) == render_command()


def test_advanced_knobs_use_the_typed_api():
    sel = CommandSelector({"hardware": "h200"})
    sel.advanced["tp"].value = 2
    sel.advanced["port"].value = 8080
    sel.advanced["tokenizer_path"].value = "/models/kimi tok"
    assert shown(sel) == build_launch_command("h200", tp=2, port=8080, tokenizer_path="/models/kimi tok")
    sel.advanced["tp"].value = "auto"
    sel.advanced["port"].value = 0
    sel.advanced["tokenizer_path"].value = ""
    assert shown(sel) == render_command({"hardware": "h200"})


def test_impossible_advanced_choice_shows_an_error():
    sel = CommandSelector({"hardware": "h100"})
    sel.advanced["tp"].value = 1
    assert shown(sel).startswith("# Error: tp=1 on H100: each GPU would hold")


def test_html_in_values_is_escaped():
    sel = CommandSelector()
    sel.advanced["tokenizer_path"].value = "<script>alert(1)</script>"
    assert "<script>" not in sel.output.value
    assert "'<script>alert(1)</script>'" in shown(sel)


def test_set_helper_and_unknown_option():
    sel = CommandSelector()
    expected = render_command({"hardware": "mi355x", "toolcall": "enabled"})
    assert sel.set(hardware="mi355x", toolcall="enabled") == expected
    with pytest.raises(ValueError, match="unknown option"):
        sel.set(colour="red")


def test_sglang_version_changes_the_flags_that_differ():
    sel = CommandSelector()
    sel.set(hardware="b200")
    assert "--attention-backend triton" in sel.command  # the page's version, 0.5.7
    assert sel.set(sglang_version="0.5.16") == build_launch_command("b200", sglang_version="0.5.16")
    assert "--attention-backend" not in sel.command
    sel.set(sglang_version="0.5.7")
    assert sel.command == render_command({"hardware": "b200"})
