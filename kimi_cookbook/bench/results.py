"""Results folders: where a benchmark run keeps its rows, written so an interrupted run keeps what finished."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from kimi_cookbook.paths import check_unused_dir, unique_dir

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["RUNS_ENV", "check_results_dir", "load_results", "new_results_dir", "save_results"]

RUNS_ENV = "KIMI_COOKBOOK_RUNS"
"""Environment variable naming the default parent folder of results folders (default ``runs``)."""


def new_results_dir(base: str | os.PathLike | None = None, prefix: str = "bench") -> Path:
    """A fresh, empty, timestamped results folder ``BASE/PREFIX-YYYYmmdd-HHMMSS``, created here so that two runs
    in the same second get different ones (``-2``, ``-3``, ... appended). ``base`` defaults to
    ``$KIMI_COOKBOOK_RUNS``, else ``runs`` (relative to the working directory)."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", prefix or ""):
        raise ValueError(f"prefix {prefix!r}: use 1-64 of A-Z a-z 0-9 _ . - (a folder name)")
    return unique_dir(base if base is not None else (os.environ.get(RUNS_ENV) or "runs"), prefix)


RESULT_FILES = ("results.jsonl", "results.csv", "client.jsonl", "manifest.json", "*.log", "*.requests.jsonl",
                "gsm8k.json")
"""What a benchmark run writes into its folder (names and patterns): any of them there means the folder is used."""


def check_results_dir(results_dir: str | os.PathLike) -> Path:
    """``results_dir`` checked before a run writes there: a folder (or a place one can be made) that holds none
    of an earlier run's files (:data:`RESULT_FILES`: rows, the client's records, the manifest, logs -- an
    interrupted run's too). A reused folder is refused, naming a free one: every earlier file stays as it was."""
    return check_unused_dir(results_dir, "results folder", RESULT_FILES,
                            " or leave it out for a fresh runs/bench-TIMESTAMP")


def save_results(rows: list[dict], results_dir: str | os.PathLike) -> None:
    """Write ``results.jsonl`` and ``results.csv`` (one row per finished scenario) into ``results_dir``.

    Each goes to a temporary file first, then is renamed (atomic): ``results.jsonl`` first, ``results.csv``
    last, so a ``results.csv`` that exists means ``results.jsonl`` holds at least the same rows.
    """
    import pandas as pd
    out = Path(results_dir)
    jsonl_tmp, csv_tmp = out / "results.jsonl.tmp", out / "results.csv.tmp"
    with open(jsonl_tmp, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    pd.DataFrame(rows).to_csv(csv_tmp, index=False)
    os.replace(jsonl_tmp, out / "results.jsonl")
    os.replace(csv_tmp, out / "results.csv")


def load_results(results_dir: str | os.PathLike) -> pd.DataFrame:
    """A results folder's ``results.jsonl`` as a DataFrame (one row per finished scenario)."""
    import pandas as pd
    path = Path(results_dir) / "results.jsonl"
    if not path.is_file():
        raise ValueError(f"{path} does not exist: not a results folder of kimi_cookbook.bench.run_bench")
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (ValueError, RecursionError):
            row = None
        if not isinstance(row, dict) or "name" not in row:
            raise ValueError(f"{path} line {n} is not a result row (a JSON object with a 'name'): "
                             "not a results.jsonl written by kimi_cookbook.bench")
        rows.append(row)
    for r in rows:
        r.pop("client", None)  # folders written before rows came from the client's record nested it here
    return pd.DataFrame(rows)
