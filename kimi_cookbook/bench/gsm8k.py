"""GSM8K accuracy: SGLang's harness run from a command, or the same evaluation's answers scored here.

Notebook 06 builds the page's ``python3 -m sglang.test.few_shot_gsm8k`` (or 0.5.16's ``sglang.test.run_eval``)
command in its cell and :func:`run_gsm8k_harness` runs it; on a server that is not SGLang the notebook asks the
same few-shot prompt over ``/v1/completions`` itself, and :func:`score_gsm8k` scores the answers by the harness's
own rule (:func:`answer_value`). Both write ``gsm8k.json``, which the demo's summary reads.
"""

from __future__ import annotations

import ast
import functools
import json
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from kimi_cookbook.bench.parse import parse_gsm8k
from kimi_cookbook.bench.speed import BenchError, client_env, display_command
from kimi_cookbook.paths import atomic_write
from kimi_cookbook.processes import ProgressEcho, run_streaming

__all__ = [
    "INVALID",
    "GSM8KRun",
    "answer_value",
    "gsm8k_sample_path",
    "last_integer",
    "read_questions",
    "run_gsm8k_harness",
    "score_gsm8k",
]


def _echo(piece: str) -> None:
    sys.stdout.write(piece)
    sys.stdout.flush()


GSM8K_SAMPLE = "data/gsm8k_sample.jsonl"
INVALID = -9999999
"""What an answer without a readable number counts as (the value SGLang's harness uses)."""


def gsm8k_sample_path() -> str:
    """A handful of GSM8K-style questions written for this cookbook (not GSM8K itself), same JSONL format
    (``question``, ``answer`` ending in ``#### N``): usable as ``few_shot_gsm8k --data-path``."""
    return str(resources.files("kimi_cookbook").joinpath(GSM8K_SAMPLE))


def last_integer(text: str) -> int:
    """The answer rule of SGLang's ``few_shot_gsm8k`` (``get_answer_value``), written here for machines
    without SGLang: commas removed, the last run of digits read as a Python literal, :data:`INVALID` if
    there is none or it is not a valid literal (``"007"``: Python forbids leading zeros; ``"00"`` is 0)."""
    digits = re.findall(r"\d+", text.replace(",", ""))
    if not digits:
        return INVALID
    try:
        return ast.literal_eval(digits[-1])
    except SyntaxError:
        return INVALID


@functools.cache
def _sglang_answer_value() -> Callable[[str], int] | None:
    try:  # lazy and optional: the harness module pulls in SGLang's frontend, heavy and absent on most laptops
        from sglang.test.few_shot_gsm8k import get_answer_value
    except Exception:  # noqa: BLE001 - not installed, or installed without the frontend's dependencies
        return None
    return get_answer_value


def answer_value(text: str) -> int:
    """The number a GSM8K answer gives, extracted by SGLang's own ``get_answer_value`` where SGLang's
    harness imports, else by :func:`last_integer` (the same rule)."""
    extract = _sglang_answer_value() or last_integer
    return extract(text)


def read_questions(path: str | os.PathLike) -> list[dict]:
    """The items of a GSM8K-format JSONL file (one JSON object per line with a ``question`` and an ``answer``);
    ValueError naming the file (``data_path``) and the first line that is not one."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise ValueError(f"data_path {path}: no such file; give a GSM8K-format JSONL file (one JSON object with "
                         "'question' and 'answer' per line), or leave it empty for the shipped sample")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"data_path {path}: cannot be read as UTF-8 text ({exc}); give a GSM8K-format JSONL "
                         "file") from None
    items = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except (ValueError, RecursionError):
            item = None
        if not (isinstance(item, dict) and isinstance(item.get("question"), str)
                and isinstance(item.get("answer"), str)):
            raise ValueError(f"data_path {path}: line {n} is not a GSM8K item (a JSON object with 'question' and "
                             "'answer' strings); give a GSM8K-format JSONL file")
        items.append(item)
    if not items:
        raise ValueError(f"data_path {path}: no questions")
    return items


@dataclass
class GSM8KRun:
    """One GSM8K evaluation: parsed ``result``, printed ``text``, ``method`` (``few_shot_gsm8k`` or
    ``openai-sample``), the terminal ``command`` or a description, and ``reason`` for the method chosen."""

    result: dict[str, float]
    text: str
    method: str
    command: str
    reason: str
    num_questions: int


def run_gsm8k_harness(
    cmd: list[str],
    workdir: str | os.PathLike,
    *,
    timeout_s: float | None = 3600,
    stream: bool = False,
) -> GSM8KRun:
    """Run SGLang's GSM8K harness command ``cmd`` (an argv: ``few_shot_gsm8k`` or ``run_eval --eval-name gsm8k``)
    in ``workdir``, with its progress bar here (``stream``: all of its output) and its whole output in
    ``workdir/gsm8k.log``; parse its result (:func:`kimi_cookbook.bench.parse_gsm8k`) and save ``gsm8k.json``.

    Raises :class:`BenchError` (``results_dir`` = ``workdir``) when it exits non-zero or runs past ``timeout_s``."""
    harness = next((a.rsplit(".", 1)[-1] for a in cmd if a.startswith("sglang.test.")), "harness")
    flag = "--num-questions" if "--num-questions" in cmd else "--num-examples"
    num_questions = int(cmd[cmd.index(flag) + 1]) if flag in cmd[:-1] else 0
    data = next((cmd[i + 1] for i, a in enumerate(cmd[:-1]) if a in ("--data-path", "--gsm8k-data-path")), None)
    if data:
        read_questions(data)  # a missing or malformed file is named before the harness starts
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    env = client_env()  # the API key as OPENAI_API_KEY (run_eval reads it), output unbuffered
    # few_shot_gsm8k writes tmp_output_gsm8k.txt into its working directory: run it in ``workdir``
    echo = _echo if stream else ProgressEcho()
    try:
        rc, text = run_streaming(cmd, env=env, log_path=work / "gsm8k.log", echo=echo, timeout=timeout_s, cwd=work)
    except TimeoutError as exc:
        raise BenchError(str(exc), work) from exc
    finally:
        if not stream:
            echo.close()
    if rc != 0:
        raise BenchError(f"{harness} exited with {rc}; see {work / 'gsm8k.log'}", work)
    result = parse_gsm8k(text)
    if not stream:
        print("  ".join(f"{k} {v:g}" for k, v in result.items()) + f"\nfull output: {work / 'gsm8k.log'}")
    run = GSM8KRun(result, text, harness, display_command(cmd), "SGLang server", num_questions)
    _save(run, work)
    return run


def score_gsm8k(questions: list[dict], answers: list[tuple[str, int]], latency: float,
                workdir: str | os.PathLike, *, source: str = "") -> GSM8KRun:
    """Score ``answers`` (answer text, output tokens) to GSM8K-format ``questions`` (``answer`` ending in
    ``#### N``) the way few_shot_gsm8k does: accuracy, invalid share, latency and output throughput, its printed
    lines as ``text``; saved as ``workdir/gsm8k.json`` (method ``openai-sample``: not comparable with the page)."""
    if not answers or len(answers) != len(questions):
        raise ValueError(f"{len(answers)} answers for {len(questions)} questions")
    labels = [answer_value(q["answer"]) for q in questions]
    preds = [answer_value(text) for text, _ in answers]
    n = len(answers)
    result = {
        "accuracy": sum(p == y for p, y in zip(preds, labels)) / n,
        "invalid": sum(p == INVALID for p in preds) / n,
        "latency": latency,
        "output_throughput": sum(t for _, t in answers) / latency,
    }
    text = (
        f"Accuracy: {result['accuracy']:.3f}\nInvalid: {result['invalid']:.3f}\n"
        f"Latency: {result['latency']:.3f} s\nOutput throughput: {result['output_throughput']:.3f} token/s\n"
    )
    where = f" from {source}" if source else ""
    reason = (f"the harness's 5-shot prompt, stop strings and answer rule over /v1/completions on {n} local "
              f"question(s){where}, on a server that is not SGLang")
    run = GSM8KRun(result, text, "openai-sample", f"/v1/completions, {n} questions{where}", reason, n)
    _save(run, workdir)
    return run


def _save(run: GSM8KRun, workdir: str | os.PathLike) -> None:
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    record = {"result": run.result, "method": run.method, "reason": run.reason, "num_questions": run.num_questions,
              "command": run.command}
    atomic_write(work / "gsm8k.json", json.dumps(record, indent=2) + "\n")
