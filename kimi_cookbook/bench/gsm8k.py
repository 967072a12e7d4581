"""GSM8K accuracy: the page's harness on SGLang servers, the same evaluation over the OpenAI API elsewhere.

:func:`gsm8k_command` builds the page's ``python3 -m sglang.test.few_shot_gsm8k`` call, which needs SGLang's
native ``/generate`` and ``/get_model_info``. :func:`run_gsm8k_openai` asks the same few-shot prompt with the
same stop strings over ``/v1/completions`` and extracts answers by the harness's own rule
(:func:`answer_value`), for servers that are not SGLang (the embedded one) on a small local sample.
:func:`run_gsm8k` picks between them for a connected server; the notebook calls it.
"""

from __future__ import annotations

import ast
import functools
import json
import math
import os
import queue
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

from kimi_cookbook.bench.parse import parse_gsm8k
from kimi_cookbook.bench.speed import BenchError, check_base_url, client_env, default_client_backend, display_command
from kimi_cookbook.net import api_key
from kimi_cookbook.paths import atomic_write
from kimi_cookbook.processes import ProgressEcho, run_streaming
from kimi_cookbook.versions import get as get_version

__all__ = [
    "INVALID",
    "GSM8KRun",
    "answer_value",
    "gsm8k_command",
    "gsm8k_sample_path",
    "last_integer",
    "run_gsm8k",
    "run_gsm8k_harness",
    "run_gsm8k_openai",
]


def _echo(piece: str) -> None:
    sys.stdout.write(piece)
    sys.stdout.flush()


def _host_port(base_url: str) -> tuple[str, int]:
    parts = urlsplit(check_base_url(base_url))
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{parts.hostname}", port


def gsm8k_command(
    base_url: str = "http://127.0.0.1:30000",
    *,
    num_questions: int = 200,
    data_path: str | None = None,
    parallel: int = 128,
    python: str | None = None,
    sglang_version: str | None = None,
    model: str | None = None,
) -> list[str]:
    """The GSM8K harness command for ``sglang_version`` (default the page's 0.5.7) aimed at ``base_url``.

    0.5.7: the page's ``python3 -m sglang.test.few_shot_gsm8k --num-questions 200`` (``--host`` with scheme,
    ``--port``; SGLang's native API). 0.5.16: ``python3 -m sglang.test.run_eval --eval-name gsm8k`` over
    ``/v1/completions`` (few_shot_gsm8k still runs there but is deprecated). ``data_path`` is a local GSM8K
    ``test.jsonl`` for machines without internet (otherwise the harness downloads it)."""
    if isinstance(num_questions, bool) or not isinstance(num_questions, int) or not 1 <= num_questions <= 1319:
        raise ValueError(f"num_questions must be an integer in [1, 1319] (GSM8K test size), got {num_questions!r}")
    if isinstance(parallel, bool) or not isinstance(parallel, int) or not 1 <= parallel <= 1024:
        raise ValueError(f"parallel must be an integer in [1, 1024], got {parallel!r}")
    python = python or sys.executable
    if get_version(sglang_version).gsm8k_harness == "run_eval":
        cmd = [python, "-m", "sglang.test.run_eval", "--eval-name", "gsm8k", "--api", "completion",
               "--base-url", check_base_url(base_url), "--num-examples", str(num_questions),
               "--num-threads", str(parallel)]
        if model:
            cmd += ["--model", model]
        if data_path:
            cmd += ["--gsm8k-data-path", str(data_path)]
        return cmd
    host, port = _host_port(base_url)
    cmd = [python, "-m", "sglang.test.few_shot_gsm8k", "--num-questions", str(num_questions), "--parallel",
           str(parallel), "--host", host, "--port", str(port)]
    if data_path:
        cmd += ["--data-path", str(data_path)]
    return cmd


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


def _questions(path: str, num_questions: int, num_shots: int, parallel: int) -> list[dict]:
    """The questions of a GSM8K-format JSONL file, after checking the counts asked of it."""
    lines = read_questions(path)
    if not 0 <= num_shots < len(lines):
        raise ValueError(f"num_shots must be in [0, {len(lines) - 1}] for {len(lines)} questions, got {num_shots}")
    if isinstance(num_questions, bool) or not isinstance(num_questions, int) or not 1 <= num_questions <= len(lines):
        raise ValueError(
            f"num_questions must be an integer in [1, {len(lines)}] (questions in {Path(path).name}), "
            f"got {num_questions!r}"
        )
    if isinstance(parallel, bool) or not isinstance(parallel, int) or not 1 <= parallel <= 1024:
        raise ValueError(f"parallel must be an integer in [1, 1024], got {parallel!r}")
    return lines


def _score(labels: list[int], answers: list[tuple[str, int]], latency: float) -> tuple[dict[str, float], str]:
    """few_shot_gsm8k's four numbers from (answer text, output tokens) pairs, and its printed form."""
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
    return result, text


def run_gsm8k_openai(
    base_url: str,
    model: str,
    *,
    data_path: str | None = None,
    num_questions: int = 200,
    num_shots: int = 5,
    max_new_tokens: int = 512,
    parallel: int = 8,
    timeout_s: float = 300.0,
) -> tuple[dict[str, float], str]:
    """few_shot_gsm8k's evaluation over the OpenAI completions API (for servers without SGLang's native API).

    Same prompt (``num_shots`` solved examples, then ``Question: ...\\nAnswer:``), greedy decoding, the same
    stop strings and answer extraction (:func:`answer_value`). The first ``num_shots`` items serve as the shots and
    are also asked, as in few_shot_gsm8k. Returns (result dict like :func:`parse_gsm8k`'s, printed text in
    few_shot_gsm8k's format). ``num_questions`` must be in [1, number of questions in the file]; the API key
    is :func:`kimi_cookbook.net.api_key`'s (``$SGLANG_API_KEY``, else ``$OPENAI_API_KEY``).
    """
    import openai  # lazy: openai takes most of a second to import

    base_url = check_base_url(base_url)
    lines = _questions(data_path or gsm8k_sample_path(), num_questions, num_shots, parallel)

    def one(i: int, with_answer: bool) -> str:
        s = "Question: " + lines[i]["question"] + "\nAnswer:"
        return s + " " + lines[i]["answer"] if with_answer else s

    shots = "".join(one(i, True) + "\n\n" for i in range(num_shots))
    items = list(range(num_questions))
    labels = [answer_value(lines[i]["answer"]) for i in items]
    if not (isinstance(timeout_s, (int, float)) and timeout_s > 0):
        raise ValueError(f"timeout_s must be a number of seconds above 0, got {timeout_s!r}")
    client = openai.OpenAI(base_url=base_url + "/v1", api_key=api_key() or "EMPTY", timeout=timeout_s, max_retries=2)

    def ask(i: int) -> tuple[str, int]:
        r = client.completions.create(
            model=model,
            prompt=shots + one(i, False),
            max_tokens=max_new_tokens,
            temperature=0,
            stop=["Question", "Assistant:", "<|separator|>"],
        )
        return r.choices[0].text, (r.usage.completion_tokens if r.usage else 0)

    tic = time.perf_counter()
    answers = _with_deadline(ask, items, parallel, timeout_s * math.ceil(len(items) / parallel))
    return _score(labels, answers, time.perf_counter() - tic)


def _with_deadline(fn: Callable, items: list, parallel: int, deadline_s: float) -> list:
    """``[fn(x) for x in items]`` on ``parallel`` threads, all done within ``deadline_s`` seconds in total, else
    TimeoutError: the openai client's timeout is per read, so a server that answers a byte at a time would hold a
    request for ever. The threads are daemons: one still blocked on such a server never holds up the exit."""
    results: list = [None] * len(items)
    todo = queue.SimpleQueue()
    for i in range(len(items)):
        todo.put(i)
    failed: list[BaseException] = []

    def work() -> None:
        while not failed:
            try:
                i = todo.get_nowait()
            except queue.Empty:
                return
            try:
                results[i] = fn(items[i])
            except BaseException as exc:  # handed to the caller, as ThreadPoolExecutor.map does
                failed.append(exc)

    threads = [threading.Thread(target=work, daemon=True, name="gsm8k") for _ in range(min(parallel, len(items)))]
    for t in threads:
        t.start()
    end = time.monotonic() + deadline_s
    for t in threads:
        t.join(max(0.0, end - time.monotonic()))
    if failed:
        raise failed[0]
    if any(t.is_alive() for t in threads):
        failed.append(TimeoutError())  # the workers take no new question
        raise TimeoutError(f"GSM8K over /v1/completions did not finish within {deadline_s:g} s (the server answers "
                           "too slowly or not at all); the run was abandoned")
    return results


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
    base_url: str,
    *,
    num_questions: int = 200,
    data_path: str | None = None,
    parallel: int = 128,
    workdir: str | os.PathLike = ".",
    timeout_s: float | None = 3600,
    stream: bool = False,
    sglang_version: str | None = None,
    model: str | None = None,
) -> GSM8KRun:
    """Run SGLang's GSM8K harness (the page's ``few_shot_gsm8k``; ``run_eval`` for ``sglang_version`` 0.5.16)
    against an SGLang server; parse its output.

    Raises :class:`BenchError` (``results_dir`` = ``workdir``, which holds ``gsm8k.log``) when it exits
    non-zero or runs past ``timeout_s``."""
    if data_path:
        read_questions(data_path)  # a missing or malformed file is named before the harness starts
    cmd = gsm8k_command(base_url, num_questions=num_questions, data_path=data_path, parallel=parallel,
                        sglang_version=sglang_version, model=model)
    harness = cmd[2].rsplit(".", 1)[-1]
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)

    env = client_env()  # the API key as OPENAI_API_KEY (run_eval reads it), output unbuffered
    print("$", display_command(cmd), flush=True)
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
    return GSM8KRun(
        result,
        text,
        harness,
        display_command(cmd),
        "SGLang server",
        num_questions,
    )


def run_gsm8k(
    srv,
    *,
    num_questions: int = 200,
    data_path: str = "",
    parallel: int = 128,
    workdir: str | os.PathLike = ".",
    sample_questions: int = 12,
    stream: bool = False,
    sglang_version: str | None = None,
) -> GSM8KRun:
    """GSM8K for a server handle: the page's harness on SGLang; on other servers (the embedded one) the same
    few-shot evaluation over the OpenAI API on a local sample (``data_path``, else the shipped sample),
    because few_shot_gsm8k needs SGLang's native ``/generate`` and ``/get_model_info``. There the question
    count is cut to ``sample_questions`` (and what the file holds) and ``parallel`` to 8; each cut is printed.

    ``workdir`` gets ``gsm8k.json`` (result, method, reason, question count, command), which the demo's
    summary reads, and the harness's ``gsm8k.log``."""
    sglang = default_client_backend(srv.kind, srv.base_url) == "sglang"
    # SGLang 0.5.7's few_shot_gsm8k sends no API key (its RuntimeEndpoint is built without one)
    keyless = sglang and get_version(sglang_version).gsm8k_harness != "run_eval" and bool(api_key())
    if sglang and not keyless:
        run = run_gsm8k_harness(
            srv.base_url,
            num_questions=num_questions,
            data_path=data_path or None,
            parallel=parallel,
            workdir=workdir,
            stream=stream,
            sglang_version=sglang_version,
            model=srv.model,
        )
        _save(run, workdir)
        return run
    path = data_path or gsm8k_sample_path()
    available = len(read_questions(path))
    n = min(num_questions, sample_questions, available)  # 0 or less: run_gsm8k_openai names the limit
    par = min(parallel, 8)
    why = (f"SGLang {get_version(sglang_version).version}'s few_shot_gsm8k sends no API key and this server wants "
           "one" if keyless else f"the {srv.kind} server is not SGLang")
    where = "here" if keyless else "on a non-SGLang server"
    print(f"{why}, so SGLang's GSM8K harness cannot run here; the same 5-shot evaluation runs over "
          "/v1/completions on a local sample instead (a check of the path, not a score)")
    if n != num_questions:
        print(f"questions: {n} instead of {num_questions} ({Path(path).name} holds {available}; at most "
              f"{sample_questions} {where})")
    if par != parallel:
        print(f"parallel: {par} instead of {parallel} (at most 8 requests at once {where})")
    result, text = run_gsm8k_openai(
        srv.base_url,
        srv.model,
        data_path=path,
        num_questions=n,
        parallel=par,
    )
    print(text, end="")
    because = ("the server wants an API key, which SGLang 0.5.7's few_shot_gsm8k cannot send" if keyless else
               f"{srv.kind} server is not SGLang: few_shot_gsm8k needs SGLang's native /generate and /get_model_info")
    reason = (
        f"{because}, so the same 5-shot prompt, stop strings and answer extraction ran over /v1/completions on {n} "
        f"local question(s) from {Path(path).name}"
    )
    run = GSM8KRun(
        result,
        text,
        "openai-sample",
        f"kimi_cookbook.bench.run_gsm8k_openai({n} questions, parallel {par})",
        reason,
        n,
    )
    _save(run, workdir)
    return run


def _save(run: GSM8KRun, workdir: str | os.PathLike) -> None:
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    record = {"result": run.result, "method": run.method, "reason": run.reason, "num_questions": run.num_questions,
              "command": run.command}
    atomic_write(work / "gsm8k.json", json.dumps(record, indent=2) + "\n")
