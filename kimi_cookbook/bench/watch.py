"""Progress watching for a benchmark client: no finished request for ``stall_s`` seconds means it is stuck.

A server can stop making progress without dying (seen with SGLang 0.5.16 on an H100: after a burst of 100
requests it scheduled nothing for 78 s, with every request still open). The client would then wait for hours (its
HTTP timeout), so a run must notice and stop it instead. Progress is a finished request, read from the
per-request file :mod:`kimi_cookbook.bench.recorder` appends to (or, for a client it could not wrap, the count in
its progress bar); before the first request finishes, any output of the client counts (importing, building the
prompts). :func:`finished_requests` and :func:`partial_summary` read what finished, so it is kept and reported.
"""

from __future__ import annotations

import json
import re
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["ProgressWatch", "finished_requests", "partial_summary"]

_BAR_COUNT = re.compile(r"\|\s*(\d+)/(\d+)\s*\[")  # tqdm: " 40%|████      | 4/10 [00:01<00:02, ...]"


def finished_requests(path: str | Path) -> list[dict]:
    """The JSON objects of a JSON-lines file (the recorder's, the client's ``--output-file``, ``results.jsonl``);
    a line cut by a kill, or that is not an object, is skipped; a missing file has none."""
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def partial_summary(rows: list[dict], num_prompts: int) -> dict:
    """What the finished benchmark requests (warm-up left out) measured: counts, TTFT, TPOT, output tokens."""
    done = [r for r in rows if not r.get("warmup")]
    ok = [r for r in done if r.get("success")]
    out: dict = {"num_prompts": num_prompts, "finished_requests": len(done), "successful_requests": len(ok),
                 "failed_requests": len(done) - len(ok), "not_finished": num_prompts - len(done),
                 "total_generated_tokens": sum(int(r.get("output_len") or 0) for r in ok)}
    if ok:
        ttft = [r["ttft_s"] * 1e3 for r in ok]
        tpot = [(r["latency_s"] - r["ttft_s"]) / (r["output_len"] - 1) * 1e3 for r in ok if r.get("output_len", 0) > 1]
        out.update(mean_ttft_ms=round(statistics.fmean(ttft), 3), median_ttft_ms=round(statistics.median(ttft), 3))
        if tpot:
            out.update(mean_tpot_ms=round(statistics.fmean(tpot), 3), median_tpot_ms=round(statistics.median(tpot), 3))
    return out


class ProgressWatch:
    """Call :meth:`feed` with the client's output and :meth:`check` now and then: it returns why the run is
    stuck (no finished request for ``stall_s`` seconds), else None."""

    def __init__(self, requests_file: str | Path, stall_s: float, *, clock: Callable[[], float] = time.monotonic):
        if not (isinstance(stall_s, (int, float)) and stall_s > 0):
            raise ValueError(f"stall_s must be a number of seconds above 0, got {stall_s!r}")
        self.requests_file = Path(requests_file)
        self.stall_s = float(stall_s)
        self._clock = clock
        self._lock = threading.Lock()
        self._last = clock()
        self._size = self._file_size()
        self._bars: dict[int, int] = {}  # progress bars seen (the client's, building prompts too): total -> count
        self._recorded = self._size > 0

    def _file_size(self) -> int:
        try:
            return self.requests_file.stat().st_size
        except OSError:
            return 0

    def feed(self, piece: str) -> None:
        """Client output: any is progress until the first request finished; afterwards only a progress bar whose
        count went up."""
        with self._lock:
            moved = False
            for m in _BAR_COUNT.finditer(piece):
                count, total = int(m.group(1)), int(m.group(2))
                if count > self._bars.get(total, -1):
                    self._bars[total] = count
                    moved = True
            if moved or (piece.strip() and not self._recorded):
                self._last = self._clock()

    def check(self) -> str | None:
        size = self._file_size()
        with self._lock:
            now = self._clock()
            if size != self._size:
                self._size, self._recorded, self._last = size, True, now
            idle = now - self._last
        if idle >= self.stall_s:
            return f"no request finished for {idle:.0f} s"
        return None
