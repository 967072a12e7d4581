"""Execute cookbook notebooks with papermill into a run folder, with a summary.

Used by ``kimi-cookbook demo`` (the main job), ``check-notebook`` and the tests. Every function takes the
notebooks or the folder to read as an argument: nothing here knows where a checkout keeps them.
"""

from __future__ import annotations

import html
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kimi_cookbook.net import redact
from kimi_cookbook.paths import atomic_write

Sections = Callable[[Path], tuple[list[str], str]]
"""What a run measured, for its summary: ``run_dir`` -> (markdown lines, HTML), e.g.
:func:`kimi_cookbook.report.sections`."""


def list_notebooks(folder: Path | str) -> list[Path]:
    """The cookbook notebooks in run order (``NN_name.ipynb``); the ``_template`` is not one."""
    return sorted(p for p in Path(folder).glob("[0-9]*.ipynb"))


def notebook_parameters(path: Path | str) -> dict:
    """The names and defaults of a notebook's ``parameters`` cell (papermill's own inspection)."""
    import papermill

    return {name: info["default"] for name, info in papermill.inspect_notebook(str(path)).items()}


@dataclass
class NotebookResult:
    name: str
    status: str  # "ok" or "failed"
    seconds: float
    output: Path
    error: str = ""


KERNEL_START_TIMEOUT_S = 180


def execute_notebook(path: Path | str, output: Path | str, parameters: dict | None = None,
                     timeout: int = 900, progress: bool = False) -> NotebookResult:
    """Run one notebook with papermill (kernel ``python3``, cwd = the notebook's folder)."""
    import papermill

    path, output = Path(path), Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        known = notebook_parameters(path)
        params = {k: v for k, v in (parameters or {}).items() if k in known}
        papermill.execute_notebook(
            str(path), str(output), parameters=params, kernel_name="python3", cwd=str(path.parent),
            progress_bar=progress, execution_timeout=timeout, log_output=False,
            # papermill waits 60 s for a new kernel by default; a loaded 2-core machine (CI, several notebooks at
            # once) once took longer, failing a notebook that had not started
            start_timeout=KERNEL_START_TIMEOUT_S,
            # the kernel's own log (e.g. ipykernel's "running over TCP without encryption" warning on every
            # start, "KeyboardInterrupt caught" at shutdown) is not the notebook's output; a dead kernel still
            # fails the run
            extra_arguments=["--IPKernelApp.log_level=CRITICAL"],
        )
    except Exception as exc:  # papermill's PapermillExecutionError carries the cell's error
        lines = str(exc).strip().splitlines()
        return NotebookResult(path.stem, "failed", time.perf_counter() - start, output, "\n".join(lines[-8:]))
    return NotebookResult(path.stem, "ok", time.perf_counter() - start, output)


def run_notebooks(paths: list[Path], run_dir: Path | str, parameters: dict | Callable[[Path], dict] | None = None,
                  timeout: int = 900, sections: Sections | None = None) -> list[NotebookResult]:
    """Execute each notebook into ``run_dir`` (a failure does not stop the others); write summaries, with
    ``sections`` (what the run measured) at the end. ``parameters``: one set for all, or a function of the
    notebook's path giving its own (each notebook takes those it declares)."""
    from tqdm.auto import tqdm

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    results: list[NotebookResult] = []
    bar = tqdm(paths, desc="notebooks", unit="nb", disable=not sys.stderr.isatty())
    try:
        for path in bar:
            bar.set_postfix_str(path.stem)
            given = parameters(path) if callable(parameters) else parameters
            results.append(execute_notebook(path, run_dir / path.name, given, timeout))
            write_summary(results, run_dir, planned=len(paths))  # an interrupted run keeps what finished
    except KeyboardInterrupt:  # Ctrl-C: the summary's first line says the run is partial
        write_summary(results, run_dir, planned=len(paths), interrupted=True)
        raise KeyboardInterrupt(f"{len(results)} of {len(paths)} notebooks finished") from None
    write_summary(results, run_dir, sections=sections)
    return results


def format_table(results: list[NotebookResult]) -> str:
    width = max([len(r.name) for r in results] + [8])
    lines = [f"{'notebook':<{width}}  status  seconds", f"{'-' * width}  ------  -------"]
    lines += [f"{r.name:<{width}}  {r.status:<6}  {r.seconds:7.1f}" for r in results]
    return "\n".join(lines)


def summary_title(results: list[NotebookResult], planned: int | None = None, interrupted: bool = False) -> str:
    """The summary's first line: ``4/4 notebooks passed`` for a whole run, else what it is: ``interrupted: 4 of 7
    notebooks`` or ``running: 4 of 7 notebooks done`` (written after each notebook)."""
    ok = sum(r.status == "ok" for r in results)
    planned = len(results) if planned is None else planned
    if interrupted:
        return f"interrupted: {len(results)} of {planned} notebooks ({ok} passed)"
    if len(results) < planned:
        return f"running: {len(results)} of {planned} notebooks done ({ok} passed)"
    return f"{ok}/{len(results)} notebooks passed"


def write_summary(results: list[NotebookResult], run_dir: Path, sections: Sections | None = None,
                  planned: int | None = None, interrupted: bool = False) -> None:
    """``summary.md`` and ``summary.html``: each notebook (linked to its executed copy) with its status, then
    ``sections(run_dir)``: what the run measured (the demo passes :func:`kimi_cookbook.report.sections`)."""
    title = summary_title(results, planned, interrupted)  # the first line says when the run is partial
    md = [f"# Cookbook run: {title}", "", "| notebook | status | seconds |",
          "|---|---|---|"]
    md += [f"| [{r.name}]({r.output.name}) | {r.status} | {r.seconds:.1f} |" for r in results]
    for r in results:
        if r.error:
            fence = "`" * max(3, 1 + max((len(m) for m in re.findall(r"`+", r.error)), default=0))
            md += ["", f"## {r.name} failed", "", fence, redact(r.error), fence]
    results_md, results_html = sections(Path(run_dir)) if sections else ([], "")
    atomic_write(run_dir / "summary.md", "\n".join(md + results_md) + "\n")
    rows = "".join(
        f"<tr><td><a href='{html.escape(r.output.name)}'>{html.escape(r.name)}</a></td>"
        f"<td>{r.status}</td><td>{r.seconds:.1f}</td></tr>" for r in results
    )
    errors = "".join(f"<h2>{html.escape(r.name)} failed</h2><pre>{html.escape(redact(r.error))}</pre>"
                     for r in results if r.error)
    atomic_write(
        run_dir / "summary.html",
        f"<!doctype html><meta charset='utf-8'><title>Cookbook run</title>"
        f"<h1>Cookbook run: {html.escape(title)}</h1><table border=1><tr><th>notebook</th>"
        f"<th>status</th><th>seconds</th></tr>{rows}</table>{errors}\n{results_html}\n",
    )
