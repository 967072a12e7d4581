"""The page's interactive command generator, as plain Python.

``render_command(values)`` reproduces the SGLang cookbook page's generator character for character for the
page's own options, including its two-line ``# Error: ...`` text. ``build_launch_spec(...)`` /
``build_launch_command(...)`` is the typed API for code: it raises ``ValueError`` for impossible choices
instead of returning error text, shell-quotes every value, and adds what the page lacks (NVIDIA GPUs, tp,
host, port, context length, memory fraction, tokenizer path); with default knobs it gives the page's text.
Limits that come from the model (attention heads, context length, weight size) are read from its config.
"""

from __future__ import annotations

import copy
import inspect
import json
import re
import shlex
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from kimi_cookbook import MODEL_ID
from kimi_cookbook.capacity import load_model_config, weight_bytes
from kimi_cookbook.hardware import GPUS, MAX_TP, PAGE_HARDWARE, get_gpu
from kimi_cookbook.net import redact
from kimi_cookbook.versions import launch_extra_args

# --- the page's option groups, ids, titles and labels (its generator's ``const options``, kept as data) --------
PAGE_OPTIONS: dict[str, dict] = json.loads(
    resources.files("kimi_cookbook").joinpath("data", "page_options.json").read_text(encoding="utf-8"))["options"]

# The cookbook's options: the page's, plus NVIDIA GPUs appended after the page's hardware (so the
# first-load state, which picks the first hardware item, is unchanged).
OPTIONS: dict[str, dict] = copy.deepcopy(PAGE_OPTIONS)
OPTIONS["hardware"]["items"] += [
    {"id": gid, "label": gpu.label, "default": False}
    for gid, gpu in GPUS.items()
    if gid not in PAGE_HARDWARE
]

MODEL_MAP = {"instruct": MODEL_ID}

PAGE_ERROR_TEXT = (
    "# Error: Kimi-Linear doesn't support reasoning parser\n"
    '# Please select "Disabled" for Reasoning Parser or choose Kimi-Linear-Thinking model'
)
# The page's error names a "Kimi-Linear-Thinking" model; none is published. The typed API says so instead
# of pointing users at it.
REASONING_ERROR = (
    "Kimi-Linear-48B-A3B-Instruct doesn't support a reasoning parser: with --reasoning-parser kimi_k2 "
    "all of its output would land in reasoning_content and content would stay empty. Leave "
    "reasoning_parser unset (no Kimi-Linear thinking model is published)."
)

TOOL_CALL_PARSERS = ("kimi_k2",)
REASONING_PARSERS = ("kimi_k2",)
# flags build_launch_spec sets from its typed knobs; extra_args may not override them
_TYPED_FLAGS = {"--model-path", "--model", "--tokenizer-path", "--tp", "--tp-size", "--tensor-parallel-size",
                "--trust-remote-code", "--tool-call-parser", "--reasoning-parser", "--host", "--port",
                "--context-length", "--mem-fraction-static"}
_SECRET_FLAG = re.compile(r"(api|admin)[-_]?key|(^|-)token($|-)|secret|password|passwd", re.IGNORECASE)
_EXTRA_ARG = re.compile(r"--[A-Za-z0-9][A-Za-z0-9-]*(=[^\n\x00]*)?")


def initial_state(options: dict | None = None) -> dict:
    """The page's ``getInitialState``: default item, else the first item; checkboxes list defaults."""
    state: dict = {}
    for key, option in (options or PAGE_OPTIONS).items():
        items = option.get("items") or []
        if option.get("type") == "checkbox":
            state[key] = [item["id"] for item in items if item.get("default")]
            continue
        default = next((item for item in items if item.get("default")), None)
        state[key] = default["id"] if default else (items[0]["id"] if items else "")
    return state


def check_values(values: dict) -> dict:
    """The generator's full state for ``values`` (option group -> choice); ValueError naming the group of a value
    that is not one of its choices (``hardware: unknown choice 'h100\\n'; choose one of [...]``)."""
    unknown = set(values) - set(OPTIONS)
    if unknown:
        raise ValueError(f"unknown option group(s) {sorted(unknown)}; groups are: {', '.join(OPTIONS)}")
    state = initial_state()
    state.update(values)
    for key, option in OPTIONS.items():
        ids = [item["id"] for item in option["items"]]
        value = state[key]
        if option.get("type") == "checkbox":
            chosen = [value] if isinstance(value, str) else list(value)
            bad = [v for v in chosen if v not in ids]
            if bad:
                raise ValueError(f"{key}: unknown choice(s) {bad}; choose from {ids}")
            required = [item["id"] for item in option["items"] if item.get("required")]
            missing = [r for r in required if r not in chosen]
            if missing:
                raise ValueError(f"{key}: {missing} is required and cannot be unchecked")
            state[key] = chosen
        elif value not in ids:
            raise ValueError(f"{key}: unknown choice {value!r}; choose one of {ids}")
    return state


def render_command(values: dict | None = None, *, sglang_version: str | None = None) -> str:
    """Exactly what the page's generator shows for ``values`` (the first-load state when ``None``).

    ``values`` maps option group -> item id (``{"hardware": "mi325x", "toolcall": "enabled"}``); groups
    left out take the page's initial state. Unknown groups or ids raise ``ValueError``. ``sglang_version``
    (default: the page's) picks the flags that differ between versions, as :func:`build_launch_spec` does.
    """
    state = check_values(values or {})
    if state["modelname"] == "instruct" and state["reasoning"] == "enabled":
        return PAGE_ERROR_TEXT
    return build_launch_command(
        hardware=state["hardware"],
        model=MODEL_MAP[state["modelname"]],
        tool_call_parser="kimi_k2" if state["toolcall"] == "enabled" else None,
        reasoning_parser="kimi_k2" if state["reasoning"] == "enabled" else None,
        sglang_version=sglang_version,
    )


@dataclass
class LaunchSpec:
    """A launch command as data: environment, module, options. ``to_shell()`` renders it."""

    env: dict[str, str] = field(default_factory=dict)
    options: list[tuple[str, str | None]] = field(default_factory=list)
    module: str = "sglang.launch_server"
    hardware: str = "mi300x"

    def argv(self, python: str = "python3") -> list[str]:
        args = [python, "-m", self.module]
        for flag, value in self.options:
            args.append(flag)
            if value is not None:
                args.append(value)
        return args

    def option(self, flag: str) -> str | None:
        return next((value for f, value in self.options if f == flag), None)

    def to_shell(self) -> str:
        prefix = "".join(f"{k}={shlex.quote(v)} " for k, v in self.env.items())
        lines = [f"{prefix}python3 -m {self.module}"]
        for flag, value in self.options:
            flag = shlex.quote(flag)
            lines.append(f"  {flag}" if value is None else f"  {flag} {shlex.quote(value)}")
        return " \\\n".join(lines)


def _positive_int(name: str, value, upper: int | None = None) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if value < 1 or (upper is not None and value > upper):
        limit = f"between 1 and {upper}" if upper is not None else "at least 1"
        raise ValueError(f"{name} must be {limit}, got {value}")
    return value


def _text(name: str, value) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    if "\n" in value or "\x00" in value:
        raise ValueError(f"{name} must be a single line")
    if value.startswith("-"):
        raise ValueError(f"{name} {value!r} starts with '-': it would read as another option (a missing value?)")
    return value


def local_model_config(model: str):
    """The capacity planner's config for a local model folder (``model``/config.json), else ``None``.

    A hub id (the page's model) or a folder whose config.json is not a Kimi-Linear one gives ``None``: the
    checks then use the published Kimi-Linear-48B-A3B-Instruct config.
    """
    folder = Path(model).expanduser()
    if not (folder / "config.json").is_file():
        return None
    try:
        return load_model_config(folder)
    except ValueError:
        return None


def _check_weights_fit(gpu, tp: int, cfg) -> None:
    """Each GPU holds its shard of the bf16 weights (plus replicated parts), counted by the capacity planner
    for ``cfg`` (the served model's own config)."""

    def shard(n: int) -> int:
        return weight_bytes(cfg, tp=n)["per_gpu"]

    if shard(tp) >= gpu.usable_memory_bytes:
        fits = [n for n in (1, 2, 4, 8) if shard(n) < gpu.usable_memory_bytes]
        raise ValueError(
            f"tp={tp} on {gpu.label}: each GPU would hold {shard(tp) / 2**30:.1f} GiB of bf16 weights but has "
            f"{gpu.usable_memory_bytes / 2**30:.1f} GiB; use tp >= {fits[0]}"
        )


def build_launch_spec(
    hardware: str = "mi300x",
    *,
    model: str = MODEL_ID,
    tp: int | None = None,
    tool_call_parser: str | None = None,
    reasoning_parser: str | None = None,
    tokenizer_path: str | None = None,
    host: str | None = None,
    port: int | None = None,
    context_length: int | None = None,
    mem_fraction_static: float | None = None,
    enable_metrics: bool = False,
    extra_args: tuple[str, ...] | list[str] = (),
    sglang_version: str | None = None,
) -> LaunchSpec:
    """Typed launch command. ``None`` knobs are left out, so the defaults give the page's command.
    ``sglang_version`` (default the page's 0.5.7) picks the flags that differ between versions."""
    gpu = get_gpu(hardware)
    model = _text("model", model)
    tp = gpu.default_tp if tp is None else _positive_int("tp", tp, MAX_TP)
    # the model's limits: a local folder's own config, else the published one
    cfg = local_model_config(model) or load_model_config()
    heads = sorted({cfg.num_attention_heads, cfg.kda_num_heads})
    if any(h % tp for h in heads):
        allowed = [n for n in range(1, MAX_TP + 1) if all(h % n == 0 for h in heads)]
        shown = " and ".join(str(h) for h in heads)
        raise ValueError(f"tp={tp} does not divide the model's {shown} attention heads; use one of {allowed}")
    _check_weights_fit(gpu, tp, cfg)
    if tool_call_parser is not None and tool_call_parser not in TOOL_CALL_PARSERS:
        raise ValueError(
            f"tool_call_parser {tool_call_parser!r} is not for Kimi-Linear; use one of {TOOL_CALL_PARSERS}"
        )
    if reasoning_parser is not None:
        if "instruct" in model.lower():
            raise ValueError(REASONING_ERROR)
        if reasoning_parser not in REASONING_PARSERS:
            raise ValueError(f"reasoning_parser {reasoning_parser!r} unknown; use one of {REASONING_PARSERS}")

    options: list[tuple[str, str | None]] = [("--model-path", model)]
    if tokenizer_path is not None:
        options.append(("--tokenizer-path", _text("tokenizer_path", tokenizer_path)))
    options += [("--tp", str(tp)), ("--trust-remote-code", None)]
    if tool_call_parser:
        options.append(("--tool-call-parser", tool_call_parser))
    if reasoning_parser:
        options.append(("--reasoning-parser", reasoning_parser))
    if host is not None:
        options.append(("--host", _text("host", host)))
    if port is not None:
        options.append(("--port", str(_positive_int("port", port, 65535))))
    if context_length is not None:
        options.append(("--context-length", str(_positive_int("context_length", context_length, cfg.max_context))))
    if mem_fraction_static is not None:
        try:
            frac = float(mem_fraction_static)
        except (TypeError, ValueError):
            raise ValueError(f"mem_fraction_static must be a number, got {mem_fraction_static!r}") from None
        if not 0.0 < frac < 1.0:
            raise ValueError(f"mem_fraction_static must be between 0 and 1 (exclusive), got {frac}")
        options.append(("--mem-fraction-static", f"{frac:g}"))
    if not isinstance(enable_metrics, bool):
        raise ValueError(f"enable_metrics must be True or False, got {enable_metrics!r}")
    if enable_metrics:  # Prometheus text at GET /metrics (SGLang 0.5.7 server_args: --enable-metrics)
        options.append(("--enable-metrics", None))
    extras = list(launch_extra_args(gpu.id, sglang_version))  # flags this GPU needs on that SGLang version
    for i in range(0, len(extras), 2):
        options.append((extras[i], extras[i + 1] if i + 1 < len(extras) else None))
    typed = {flag for flag, _ in options} | _TYPED_FLAGS
    for arg in extra_args:
        if not isinstance(arg, str) or not _EXTRA_ARG.fullmatch(arg):
            raise ValueError(f"extra_args items must look like '--flag' or '--flag=value', got {redact(repr(arg))}")
        flag = arg.split("=", 1)[0]
        if _SECRET_FLAG.search(flag):
            raise ValueError(f"extra_args must not carry a secret ({flag}=...): the command is printed and logged; "
                             "start SGLang yourself with it and attach with base_url, $SGLANG_API_KEY set")
        if flag in typed:
            knob = flag.removeprefix("--").replace("-", "_").removesuffix("_path")
            raise ValueError(f"extra_args may not set {flag}: it is a typed option here (use {knob}=...)")
        options.append((arg, None))
    env = {"SGLANG_ROCM_FUSED_DECODE_MLA": "0"} if gpu.is_rocm else {}
    return LaunchSpec(env=env, options=options, hardware=gpu.id)


def build_launch_command(hardware: str = "mi300x", **knobs) -> str:
    """``build_launch_spec(...).to_shell()``: the multi-line shell command, every value quoted."""
    return build_launch_spec(hardware, **knobs).to_shell()


LAUNCH_KNOBS: tuple[str, ...] = tuple(inspect.signature(build_launch_spec).parameters)
"""The knobs of :func:`build_launch_spec`, in order: the one list the CLI flags and ``server.connect`` use."""
