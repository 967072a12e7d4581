"""``kimi-cookbook demo``: the main job. Every notebook end to end against one server.

Starts the embedded server (or attaches to ``--base-url``), executes each notebook with papermill into a
run folder (executed copies + summary.md/summary.html), prints a table, stops the server, and exits
non-zero if any notebook failed. Notebooks get ``BASE_URL`` (and ``TOKENIZER`` when they have those
parameters), so they attach to this one server instead of starting their own.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from kimi_cookbook.net import normalize_base_url
from kimi_cookbook.paths import atomic_write, check_unused_dir, unique_dir
from kimi_cookbook.runner import NOTEBOOK_DIR, format_table, list_notebooks, run_notebooks
from kimi_cookbook.server import connect


def select_notebooks(only: list[str] | None) -> list[Path]:
    notebooks = list_notebooks(NOTEBOOK_DIR)
    if not only:
        return notebooks
    chosen = [p for p in notebooks if any(p.stem.startswith(o) for o in only)]
    unknown = [o for o in only if not any(p.stem.startswith(o) for p in notebooks)]
    if unknown:
        raise ValueError(f"no notebook matches {unknown}; notebooks are: {', '.join(p.stem for p in notebooks)}")
    return chosen


DEMO_WRITES = ("*.ipynb", "summary.md", "summary.html", "results", "*.png")
"""What a demo writes into its run folder: a given ``--run-dir`` holding any of them is refused."""


def _claim(run_dir: str | Path, planned: int) -> Path:
    """The given run folder, checked again and claimed: its ``summary.md`` is created only if no other run's
    is there (two demos given one folder at once: the second is refused)."""
    out = check_unused_dir(run_dir, "--run-dir", DEMO_WRITES)
    out.mkdir(parents=True, exist_ok=True)
    try:
        atomic_write(out / "summary.md", f"# Cookbook run: running: 0 of {planned} notebooks done\n", exclusive=True)
    except FileExistsError:
        raise ValueError(f"--run-dir {out} was taken by another run just now; name a new one") from None
    return out


def new_run_dir(base: str | Path = "runs") -> Path:
    """A fresh ``BASE/YYYYmmdd-HHMMSS`` folder (``-2``, ``-3``, ... when taken): never shared by two demos, even
    started in the same second by two processes."""
    return unique_dir(base)


def run_demo(base_url: str = "", run_dir: str | Path | None = None, only: list[str] | None = None,
             timeout: int = 900) -> int:
    notebooks = select_notebooks(only)
    if base_url:
        normalize_base_url(base_url)  # refused before any folder is made
    if run_dir:  # a file in the way, or an earlier run's files, refused before the server starts
        check_unused_dir(run_dir, "--run-dir", DEMO_WRITES, " or leave --run-dir out for a fresh runs/TIMESTAMP")
    started = time.perf_counter()
    if not base_url:
        print("starting the embedded server (llama.cpp, tiny local model on CPU)", flush=True)
    with connect("embedded", base_url=base_url, progress=sys.stderr.isatty()) as srv:
        run_dir = _claim(run_dir, len(notebooks)) if run_dir else new_run_dir()
        print(f"running {len(notebooks)} notebooks into {run_dir}/", flush=True)
        # benchmark notebooks put their result folders under $KIMI_COOKBOOK_RUNS: keep them in this run's folder
        os.environ.setdefault("KIMI_COOKBOOK_RUNS", str((run_dir / "results").resolve()))
        if srv.command:
            print(f"$ {srv.command}")
        print(f"{srv.kind} server ready at {srv.base_url} (model {srv.model!r})", flush=True)
        params = {"BASE_URL": srv.base_url, "TOKENIZER": srv.tokenizer_path or ""}
        try:
            results = run_notebooks(notebooks, run_dir, params, timeout=timeout)
        except KeyboardInterrupt as exc:
            raise KeyboardInterrupt(f"{exc}; the summary says so: {run_dir / 'summary.md'}") from None
    failed = [r for r in results if r.status != "ok"]
    print()
    print(format_table(results))
    for r in failed:
        print(f"\n{r.name} failed:\n{r.error}")
    print(f"\n{len(results) - len(failed)}/{len(results)} notebooks ok in {time.perf_counter() - started:.0f} s; "
          f"executed copies in {run_dir}/")
    print(f"what the run measured, beside the page's numbers: {run_dir / 'summary.md'} (and summary.html)")
    return 1 if failed else 0
