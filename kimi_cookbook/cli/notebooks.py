"""``demo`` (every notebook end to end), ``check-notebook`` (what a reviewer checks) and ``index`` (README)."""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

from kimi_cookbook.cli.types import positive_int
from kimi_cookbook.checks import (
    INDEX_END,
    INDEX_START,
    check_execution,
    check_static,
    keep_outputs,
    render_index,
    update_index,
)
from kimi_cookbook.demo import run_demo
from kimi_cookbook.net import normalize_base_url
from kimi_cookbook.paths import atomic_write
from kimi_cookbook.runner import list_notebooks

NOTEBOOKS = Path("notebooks")  # the cookbook's notebooks, relative to the working directory (the repository root)


def _default_notebooks() -> list[Path]:
    found = list_notebooks(NOTEBOOKS)
    if not found:
        raise ValueError(f"no notebooks (NN_name.ipynb) in {NOTEBOOKS}/: run from the repository root or name them")
    return found


def _cmd_demo(args: argparse.Namespace) -> int:
    return run_demo(args.base_url or "", args.run_dir, args.only, args.timeout, notebook_dir=args.notebooks)


def _cmd_check(args: argparse.Namespace) -> int:
    if args.base_url:
        normalize_base_url(args.base_url)  # bad input is refused even when no notebook would attach
    paths = [Path(p) for p in args.paths] or _default_notebooks()
    for p in paths:
        if not p.is_file():
            raise ValueError(f"{p}: no such notebook")
    problems = [pr for p in paths for pr in check_static(p)]
    if not args.no_execute:
        clean = [p for p in paths if not any(pr.path == str(p) and pr.check == "format" for pr in problems)]
        problems += check_execution(clean, base_url=args.base_url, timeout=args.timeout)
    for pr in problems:
        print(pr)
    bad = len({pr.path for pr in problems})
    what = "static checks" if args.no_execute else "static checks and execution"
    print(f"check-notebook: {len(paths) - bad}/{len(paths)} notebook(s) pass ({what}); {len(problems)} problem(s)",
          file=sys.stderr)
    return 1 if problems else 0


def _cmd_keep_outputs(args: argparse.Namespace) -> int:
    if args.base_url:
        normalize_base_url(args.base_url)
    paths = [Path(p) for p in args.paths] or _default_notebooks()
    for p in paths:
        if not p.is_file():
            raise ValueError(f"{p}: no such notebook")
    problems = keep_outputs(paths, base_url=args.base_url, timeout=args.timeout)
    for pr in problems:
        print(pr)
    print(f"keep-outputs: {len(paths) - len({pr.path for pr in problems})}/{len(paths)} notebook(s) refreshed; "
          "review `git diff` before committing", file=sys.stderr)
    return 1 if problems else 0


def _cmd_index(args: argparse.Namespace) -> int:
    readme = Path(args.readme)
    if not readme.is_file():
        raise ValueError(f"--readme {readme}: no such file; name the README.md that holds the index")
    text = readme.read_text(encoding="utf-8")
    new = update_index(text, render_index(readme.parent / NOTEBOOKS, readme.parent))
    if args.write:
        if new != text:
            atomic_write(readme, new)  # whole or not at all: a full disk leaves the README as it was
            print(f"updated the notebook index in {readme}")
        else:
            print(f"the notebook index in {readme} is up to date")
        return 0
    if new == text:
        print(f"the notebook index in {readme} is up to date")
        return 0
    diff = difflib.unified_diff(text.splitlines(), new.splitlines(), str(readme), "generated", lineterm="", n=0)
    print("\n".join(diff))
    print(f"the notebook index in {readme} is stale: run `kimi-cookbook index --write`", file=sys.stderr)
    return 1


def register(sub) -> None:
    d = sub.add_parser("demo", help="run every notebook end to end (embedded server, or --base-url)")
    d.add_argument("--base-url", default="", help="attach to a running server (e.g. SGLang) instead")
    d.add_argument("--run-dir", default=None, help="output folder (default runs/YYYYmmdd-HHMMSS, unique)")
    d.add_argument("--only", nargs="*", default=None, help="notebook names or number prefixes, e.g. 01 03")
    d.add_argument("--timeout", type=positive_int, default=900, help="per-cell timeout in seconds")
    d.add_argument("--notebooks", default=str(NOTEBOOKS), help="folder of the notebooks (default: notebooks)")
    d.set_defaults(func=_cmd_demo)

    p = sub.add_parser(
        "check-notebook",
        help="check notebooks the way a reviewer would",
        description="Check cookbook notebooks: file name, title and intro, a tagged parameters cell of plain "
        "literals, outputs stripped except the `# NBVAL_CHECK_OUTPUT` cells' (kept, for nbval), one kernelspec, "
        "no hard-coded secrets, no helper logic pasted in, and that each runs "
        "under papermill against the embedded server. One line per problem; exit status 1 if any.",
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="notebooks (default: every notebooks/NN_*.ipynb)")
    p.add_argument("--no-execute", action="store_true", help="static checks only (fast; used by pre-commit)")
    p.add_argument("--base-url", default="", help="attach to this running server instead of the embedded one")
    p.add_argument("--timeout", type=positive_int, default=900, help="per-cell timeout in seconds (default 900)")
    p.set_defaults(func=_cmd_check)

    k = sub.add_parser(
        "keep-outputs",
        help="refresh the outputs kept in git (cells starting with # NBVAL_CHECK_OUTPUT)",
        description="Run each notebook with its defaults (against the embedded server when it has a BASE_URL "
        "parameter) and store the outputs of its `# NBVAL_CHECK_OUTPUT` cells in the notebook, marked with "
        "nbstripout's keep_output metadata; every other cell is stripped. The tests re-run the notebooks with "
        "nbval and fail when a kept output no longer matches.",
    )
    k.add_argument("paths", nargs="*", metavar="PATH", help="notebooks (default: every notebooks/NN_*.ipynb)")
    k.add_argument("--base-url", default="", help="run against this server instead of the embedded one")
    k.add_argument("--timeout", type=positive_int, default=900, help="per-cell timeout in seconds (default 900)")
    k.set_defaults(func=_cmd_keep_outputs)

    q = sub.add_parser(
        "index",
        help="check or rewrite README.md's notebook index",
        description=f"The table between {INDEX_START} and {INDEX_END} in README.md, generated from each "
        "notebook's title (first '# ' heading) and the first sentence of its intro paragraph.",
    )
    mode = q.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="exit 1 (and show the diff) if the index is stale")
    mode.add_argument("--write", action="store_true", help="rewrite the index in place")
    q.add_argument("--readme", default="README.md", help="README file, beside notebooks/ (default: README.md)")
    q.set_defaults(func=_cmd_index)
