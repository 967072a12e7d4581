"""The page's command generator as an ipywidgets UI, driven by :mod:`kimi_cookbook.selector`.

One row per option group (toggle buttons; the required ``TP`` checkbox checked and disabled), an
"Advanced" section with the cookbook's extra knobs, and the command in a monospace box that updates
live. Errors show the way the page shows them: as ``# Error: ...`` text in the command box.
"""

from __future__ import annotations

import html

import ipywidgets as W

from kimi_cookbook.recommended import recommended_flags, workloads
from kimi_cookbook.selector import OPTIONS, build_launch_command, check_values, render_command
from kimi_cookbook.versions import PAGE_VERSION, VERSIONS

_TITLE_LAYOUT = W.Layout(width="160px")
ADVANCED_DEFAULTS = {
    "tp": "auto",
    "host": "",
    "port": 0,
    "context_length": 0,
    "mem_fraction_static": 0.0,
    "tokenizer_path": "",
    "sglang_version": PAGE_VERSION,
    "workload": "",
}


class CommandSelector:
    """Build with ``CommandSelector()``, show ``.widget``; read ``.command`` or ``.values``."""

    def __init__(self, values: dict | None = None):
        state = check_values(values or {})  # a bad value is a ValueError naming its option, not a widget's TraitError
        self.groups: dict[str, W.Widget] = {}
        rows = []
        for key, option in OPTIONS.items():
            if option.get("type") == "checkbox":
                boxes = [
                    W.Checkbox(
                        value=item["id"] in state[key],
                        description=item["label"],
                        disabled=bool(item.get("required")),
                        indent=False,
                    )
                    for item in option["items"]
                ]
                control = W.HBox(boxes)
                control.items = boxes  # keep the item ids next to their boxes
                control.ids = [item["id"] for item in option["items"]]
                for box in boxes:
                    box.observe(self._refresh, names="value")
            else:
                control = W.ToggleButtons(
                    options=[(item["label"], item["id"]) for item in option["items"]],
                    value=state[key],
                    style={"button_width": "auto"},
                )
                control.observe(self._refresh, names="value")
            self.groups[key] = control
            rows.append(W.HBox([W.HTML(f"<b>{html.escape(option['title'])}</b>", layout=_TITLE_LAYOUT), control]))

        self.advanced = {
            "tp": W.Dropdown(options=["auto", 1, 2, 4, 8], value="auto", description="TP size"),
            "host": W.Text(value="", description="Host", placeholder="127.0.0.1"),
            "port": W.BoundedIntText(value=0, min=0, max=65535, description="Port (0=default)"),
            "context_length": W.BoundedIntText(value=0, min=0, max=1_048_576, description="Context (0=model)"),
            "mem_fraction_static": W.BoundedFloatText(value=0.0, min=0.0, max=0.99, step=0.01,
                                                      description="Mem frac (0=auto)"),
            "tokenizer_path": W.Text(value="", description="Tokenizer", placeholder="(same as model)"),
            "sglang_version": W.Dropdown(options=list(VERSIONS), value=PAGE_VERSION, description="SGLang version"),
            # adds the flags measured to beat SGLang's defaults for that workload (kimi_cookbook.recommended)
            "workload": W.Dropdown(options=[("none", "")] + [(w["label"], k) for k, w in workloads().items()],
                                   value="", description="Recommended for"),
        }
        for w in self.advanced.values():
            w.style = {"description_width": "130px"}
            w.observe(self._refresh, names="value")
        self.advanced_box = W.Accordion(children=[W.VBox(list(self.advanced.values()))])
        self.advanced_box.set_title(0, "Advanced (beyond the page)")
        self.advanced_box.selected_index = None

        self.output = W.HTML()
        self.output.add_class("kimi-command")
        rows.append(W.HBox([W.HTML("<b>Run this Command:</b>", layout=_TITLE_LAYOUT), self.output]))
        # the page's accent colour for the chosen button (ipywidgets marks it with the mod-active class)
        style = W.HTML(
            "<style>.kimi-selector .widget-toggle-button.mod-active"
            "{background:#D45D44;color:#fff;border-color:#D45D44}</style>"
        )
        self.widget = W.VBox([style] + rows[:-1] + [self.advanced_box, rows[-1]])
        self.widget.add_class("kimi-selector")
        self._refresh()

    # --- state -------------------------------------------------------------------------------------
    @property
    def values(self) -> dict:
        values = {}
        for key, control in self.groups.items():
            if isinstance(control, W.ToggleButtons):
                values[key] = control.value
            else:
                values[key] = [i for i, box in zip(control.ids, control.items) if box.value]
        return values

    def advanced_knobs(self) -> dict:
        """The advanced knobs the user changed, as ``build_launch_command`` keyword arguments (a chosen workload
        becomes ``extra_args``: the flags measured to win for it on the chosen SGLang version)."""
        knobs = {}
        for key, w in self.advanced.items():
            if w.value != ADVANCED_DEFAULTS[key]:
                knobs[key] = w.value.strip() if isinstance(w.value, str) else w.value
        knobs = {k: v for k, v in knobs.items() if v != ""}
        workload = knobs.pop("workload", None)
        if workload:
            flags = recommended_flags(workload, self.advanced["sglang_version"].value)
            if flags:
                knobs["extra_args"] = flags
        return knobs

    def recommendation_note(self) -> str:
        """One comment line about the chosen workload's flags ("" when none is chosen)."""
        workload = self.advanced["workload"].value
        if not workload:
            return ""
        version = self.advanced["sglang_version"].value
        flags = recommended_flags(workload, version)
        label = workloads()[workload]["label"]
        if flags:
            return f"# recommended for {label} (measured on SGLang {version}): {' '.join(flags)}"
        return (f"# recommended for {label}: no flag measured to beat SGLang {version}'s defaults yet; "
                "none added (kimi_cookbook.recommended.recommended_table() lists the candidates)")

    def compute(self) -> str:
        """The text the box shows: the page's text, or the typed API's when advanced knobs are set."""
        values = self.values
        knobs = self.advanced_knobs()
        note = self.recommendation_note()
        if not knobs:
            text = render_command(values)
            return f"{text}\n{note}" if note and not text.startswith("# Error") else text
        page_text = render_command(values)
        if page_text.startswith("# Error"):
            return page_text
        try:
            text = build_launch_command(
                values["hardware"],
                tool_call_parser="kimi_k2" if values["toolcall"] == "enabled" else None,
                **knobs,
            )
        except ValueError as exc:
            return f"# Error: {exc}"
        return f"{text}\n{note}" if note else text

    def _refresh(self, _change=None) -> None:
        self.command = self.compute()
        self.output.value = (
            "<pre style=\"font-family: Menlo, Monaco, 'Courier New', monospace; font-size: 12px; "
            "white-space: pre-wrap; background: #f5f5f5; padding: 12px 16px; margin: 0; border-radius: 6px\">"
            f"{html.escape(self.command)}</pre>"
        )

    def set(self, **values) -> str:
        """Set option groups by id (``set(hardware="h100", toolcall="enabled")``); returns the command."""
        for key, value in values.items():
            if key in self.advanced:
                self.advanced[key].value = value
            elif key in self.groups and isinstance(self.groups[key], W.ToggleButtons):
                self.groups[key].value = value
            else:
                raise ValueError(f"unknown option {key!r}")
        return self.command

    def _ipython_display_(self):  # pragma: no cover - display hook
        from IPython.display import display

        display(self.widget)


def command_selector(**values) -> CommandSelector:
    return CommandSelector(values or None)
