"""The recommended-flags table: launch flags past SGLang's defaults per workload, with the gain measured for each.

The data is ``kimi_cookbook/data/recommended_flags.json``: per workload (random prompts as on the page, a shared
system prompt, long context; each tied to a ``bench`` preset) the candidate flags, why the planner points at them,
what they cost, and -- once a GPU run measured them, one flag at a time against SGLang's defaults on the same
machine in the same run -- the metric's baseline and tuned values and the run they come from. The gain is computed
from those two values, never typed in. An entry without them is a candidate, shown as "not yet measured" and never
added to a command; of the measured entries that won, the one that won most is recommended
(:func:`recommended_flags`; the others are alternatives, since no run measured them together), and only for the
SGLang version it was measured on. The selector's Advanced section adds them (:mod:`kimi_cookbook.widgets`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

__all__ = ["NOT_MEASURED", "FlagEntry", "load_entries", "recommended_flags", "recommended_table", "workloads"]

DATA_FILE = "recommended_flags.json"
NOT_MEASURED = "not yet measured"
_FIELDS = ("workload", "flag", "value", "why", "cost", "metric", "sglang_version", "baseline", "tuned", "hardware",
           "source_run")


@dataclass(frozen=True)
class FlagEntry:
    workload: str
    flag: str
    value: str | None
    why: str
    cost: str
    metric: str
    sglang_version: str
    baseline: float | None = None
    tuned: float | None = None
    hardware: str | None = None
    source_run: str | None = None

    @property
    def measured(self) -> bool:
        return self.baseline is not None and self.tuned is not None and bool(self.source_run)

    @property
    def higher_is_better(self) -> bool:
        """Throughputs (``..._tok_s``, ``..._req_s``) grow when better; latencies (``..._ms``) shrink."""
        return not self.metric.endswith("_ms")

    @property
    def gain(self) -> float | None:
        """The relative gain of the tuned launch over the defaults (0.12 = 12 % better), None until measured."""
        if not self.measured:
            return None
        base, tuned = float(self.baseline), float(self.tuned)
        return tuned / base - 1.0 if self.higher_is_better else base / tuned - 1.0

    @property
    def recommended(self) -> bool:
        return self.measured and self.gain is not None and self.gain > 0

    def args(self) -> tuple[str, ...]:
        """The flag as ``--flag`` or ``--flag=value`` (the form the selector's ``extra_args`` take)."""
        return (self.flag if self.value is None else f"{self.flag}={self.value}",)


def _load() -> dict:
    return json.loads(files("kimi_cookbook").joinpath("data", DATA_FILE).read_text(encoding="utf-8"))


def workloads() -> dict[str, dict[str, str]]:
    """Workload id -> ``label``, the ``bench`` ``preset`` and ``scenario`` its gains are measured with."""
    return dict(_load()["workloads"])


def load_entries(data: dict | None = None) -> list[FlagEntry]:
    """Every entry of the data file (or of ``data``), checked: known workload, a ``--flag``, numbers or null, a
    source for a measured one."""
    data = _load() if data is None else data
    known = data["workloads"]
    entries = []
    for i, raw in enumerate(data["entries"]):
        unknown = set(raw) - set(_FIELDS)
        if unknown:
            raise ValueError(f"recommended flags entry {i}: unknown fields {sorted(unknown)}")
        entry = FlagEntry(**{k: raw.get(k) for k in _FIELDS})
        if entry.workload not in known:
            raise ValueError(f"recommended flags entry {i}: unknown workload {entry.workload!r}")
        if not entry.flag.startswith("--") or " " in entry.flag:
            raise ValueError(f"recommended flags entry {i}: {entry.flag!r} is not one --flag")
        for key in ("baseline", "tuned"):
            value = getattr(entry, key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
                raise ValueError(f"recommended flags entry {i}: {key} must be a positive number or null")
        if (entry.baseline is None) != (entry.tuned is None) or (entry.baseline is not None and not entry.source_run):
            raise ValueError(f"recommended flags entry {i} ({entry.flag}): baseline, tuned and source_run are "
                             "filled together (a measured gain names the run it comes from)")
        entries.append(entry)
    return entries


def _best(workload: str, sglang_version: str | None, entries: list[FlagEntry]) -> FlagEntry | None:
    """The winner with the largest measured gain: each flag was measured alone against the defaults, so two
    winners are alternatives until a run measures them together (e.g. no prefix cache makes more KDA slots moot)."""
    won = [e for e in entries
           if e.workload == workload and e.recommended and sglang_version in (None, e.sglang_version)]
    return max(won, key=lambda e: e.gain, default=None)


def recommended_flags(workload: str, sglang_version: str | None = None, *,
                      entries: list[FlagEntry] | None = None) -> tuple[str, ...]:
    """The flag measured to beat SGLang's defaults by most for ``workload`` (on ``sglang_version`` when given), as
    ``extra_args``; empty while nothing is measured. Other winners are not added (see :func:`_best`).
    ``entries``: another table than the packaged one."""
    if workload not in workloads():
        raise ValueError(f"unknown workload {workload!r}; choose one of {', '.join(workloads())}")
    best = _best(workload, sglang_version, load_entries() if entries is None else entries)
    return best.args() if best else ()


def _gain_text(e: FlagEntry) -> str:
    if not e.measured:
        return NOT_MEASURED
    unit = e.metric.replace("_tok_s", " tok/s").replace("_req_s", " req/s").replace("_ms", " ms").replace("_", " ")
    return f"{e.gain:+.1%} {unit} ({e.baseline:g} -> {e.tuned:g})"


def recommended_table(workload: str | None = None):
    """The table as a pandas DataFrame: workload, flag, measured gain (or "not yet measured"), cost, why, where
    it was measured, and whether it is recommended."""
    import pandas as pd

    labels = {k: v["label"] for k, v in workloads().items()}
    entries = load_entries()
    best = {key: _best(*key, entries) for key in {(e.workload, e.sglang_version) for e in entries}}
    rows: list[dict[str, Any]] = []
    for e in entries:
        if workload is not None and e.workload != workload:
            continue
        rows.append({
            "workload": labels[e.workload],
            "flag": e.args()[0] if e.value is not None else e.flag,
            "gain": _gain_text(e),
            "cost": e.cost,
            "why": e.why,
            "measured on": (f"{e.hardware or '?'}, SGLang {e.sglang_version}: {e.source_run}" if e.measured
                            else f"SGLang {e.sglang_version}: {NOT_MEASURED}"),
            "recommended": ("yes" if e is best[(e.workload, e.sglang_version)] else
                            f"alternative: won alone, {best[(e.workload, e.sglang_version)].args()[0]} won more"
                            if e.recommended else
                            "no" if e.measured else NOT_MEASURED),
        })
    if workload is not None and not rows:
        raise ValueError(f"unknown workload {workload!r}; choose one of {', '.join(workloads())}")
    return pd.DataFrame(rows)
