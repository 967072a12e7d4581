"""``kimi-cookbook demo``: the main job. Every notebook end to end against one server.

Starts the embedded server (or attaches to ``--base-url``), executes each notebook of a folder with papermill
into a run folder (executed copies + summary.md/summary.html), prints a table, stops the server, and exits
non-zero if any notebook failed. Everything a notebook needs to know about this run comes in as papermill
parameters (when the notebook has them): ``BASE_URL`` (and ``TOKENIZER``), so it attaches to this one server;
``RESULTS_DIR`` / ``WORKDIR`` of the notebooks that write results, so they land in the run folder, each in its own
(:data:`RESULT_FOLDERS`); and, for the tiny embedded model, :data:`TINY_MODEL_PARAMETERS`.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from kimi_cookbook.net import normalize_base_url
from kimi_cookbook.paths import atomic_write, check_unused_dir, unique_dir
from kimi_cookbook.report import sections
from kimi_cookbook.runner import format_table, list_notebooks, run_notebooks
from kimi_cookbook.server import connect
from kimi_cookbook.tiny_model import TINY_MODEL_NAME

TINY_MODEL_PARAMETERS = {"TOOL_CHOICE": "get_weather"}
"""Parameters for a server that serves the tiny random model: it never calls a tool on its own, so notebook 04
names one for the first turn of its tool loop (llama.cpp then constrains the reply to that tool's arguments)."""


def select_notebooks(notebook_dir: str | Path, only: list[str] | None) -> list[Path]:
    notebooks = list_notebooks(notebook_dir)
    if not notebooks:
        raise ValueError(f"no notebooks (NN_name.ipynb) in {notebook_dir}: run from the repository root or pass "
                         "--notebooks DIR")
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


RESULT_FOLDERS = {"05": ("RESULTS_DIR", "bench-05"), "06": ("WORKDIR", "gsm8k-06"),
                  "08": ("RESULTS_DIR", "replicas-08")}
"""The notebooks that write results, the parameter naming their folder, and that folder under ``RUN/results``: each
its own (notebook 01's WORKDIR is a host folder for Docker, not a results folder: it keeps its default)."""


def notebook_parameters(srv, run_dir: Path, notebook: str) -> dict:
    """The papermill parameters the notebook ``notebook`` (its name, e.g. ``05_speed_benchmark``) gets in this run
    (it takes those it declares): the server's, and its own results folder under ``RUN/results``."""
    params = {"BASE_URL": srv.base_url, "TOKENIZER": srv.tokenizer_path or ""}
    for prefix, (name, folder) in RESULT_FOLDERS.items():
        if notebook.startswith(prefix):
            params[name] = str(run_dir.resolve() / "results" / folder)
    if srv.model == TINY_MODEL_NAME:
        params.update(TINY_MODEL_PARAMETERS)
    return params


def run_demo(base_url: str = "", run_dir: str | Path | None = None, only: list[str] | None = None,
             timeout: int = 900, notebook_dir: str | Path = "notebooks") -> int:
    notebooks = select_notebooks(notebook_dir, only)
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
        if srv.command:
            print(f"$ {srv.command}")
        print(f"{srv.kind} server ready at {srv.base_url} (model {srv.model!r})", flush=True)
        try:
            results = run_notebooks(notebooks, run_dir, lambda p: notebook_parameters(srv, run_dir, p.stem),
                                    timeout=timeout,
                                    sections=sections)
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
