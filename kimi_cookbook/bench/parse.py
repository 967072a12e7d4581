"""Parsers for what benchmark tools print and write: pure functions, no I/O.

:func:`parse_bench_serving` reads the "Serving Benchmark Result" block that SGLang's ``bench_serving`` (and
vLLM's ``vllm bench serve``) prints -- the form the page's numbers and pasted logs come in.
:func:`row_from_record` reads the JSON record SGLang's client appends to its ``--output-file`` for each run,
the primary source for our own runs: it has more metrics (std, p99) and the exact request counts, and it
names them the way the printed block does so a run lines up with the page. :func:`parse_gsm8k` reads
``few_shot_gsm8k``'s four result lines.
"""

from __future__ import annotations

import re

__all__ = [
    "BLOCK_TITLE",
    "RECORD_COLUMNS", "parse_bench_serving", "parse_gsm8k", "row_from_record", "snake_case", "text_lines",
]

BLOCK_TITLE = "Serving Benchmark Result"
_HEADER_RE = re.compile(r"=+\s*" + re.escape(BLOCK_TITLE) + r"\s*=+")
_CLOSE_RE = re.compile(r"^\s*={10,}\s*$")
_SECTION_RE = re.compile(r"^\s*-{3,}.*-{3,}\s*$")
_KV_RE = re.compile(r"^\s*(?P<label>[^:]+?)\s*:(?P<value>.*)$")
_INT_RE = re.compile(r"^[+-]?\d+$")
_FLOAT_RE = re.compile(r"^[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?$")


def snake_case(label: str) -> str:
    """``"Mean TPOT (ms)"`` -> ``"mean_tpot_ms"``: lower-case, runs of non-alphanumerics -> ``_``, stripped."""
    return re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")


def _value(text: str) -> int | float | str:
    text = text.strip()
    if _INT_RE.match(text):
        return int(text)
    if _FLOAT_RE.match(text) or text.lower() in {
        "inf",
        "+inf",
        "-inf",
        "nan",
        "infinity",
        "-infinity",
    }:
        return float(text)
    return text


def text_lines(text: str) -> list[str]:
    """Lines as a terminal shows them: a progress bar redraws with "\\r", so only what follows the last one."""
    return [line.rsplit("\r", 1)[-1] for line in text.split("\n")]


def block_text(text: str) -> str:
    """The last "Serving Benchmark Result" block of ``text`` as printed, from its title line to its closing
    ``=`` line (to the end of the text if it is cut off); ``""`` when there is none."""
    lines = text_lines(text)
    starts = [i for i, line in enumerate(lines) if _HEADER_RE.search(line)]
    if not starts:
        return ""
    end = next((j for j in range(starts[-1] + 1, len(lines)) if _CLOSE_RE.match(lines[j])), len(lines) - 1)
    return "\n".join(lines[starts[-1]:end + 1])


def parse_bench_serving(text: str) -> dict[str, int | float | str]:
    """Parse the last "Serving Benchmark Result" block in ``text`` (log noise around it is fine).

    Keys are the printed labels in snake case (``"Output token throughput (tok/s)"`` ->
    ``"output_token_throughput_tok_s"``); values are ``int`` for integers, ``float`` for other numbers
    (``inf`` -> ``float("inf")``), ``str`` for words (``"sglang"``, ``"not set"``). Section rules
    (``---Time to First Token---``) and labels without a value (vLLM's ``Per-position acceptance (%):``)
    add no key. Reads SGLang's ``bench_serving`` block and vLLM's ``vllm bench serve`` block.

    Raises ``ValueError`` if there is no block, or the last one is cut off before its closing ``=`` line.
    """
    if not isinstance(text, str):
        raise ValueError(f"parse_bench_serving expects str, got {type(text).__name__}")  # noqa: TRY004
    headers = list(_HEADER_RE.finditer(text))
    if not headers:
        raise ValueError(f"no '{BLOCK_TITLE}' block found in the text ({len(text)} characters)")
    body = text[headers[-1].end() :]
    result: dict[str, int | float | str] = {}
    closed = False
    for line in text_lines(body):
        if _CLOSE_RE.match(line):
            closed = True
            break
        if not line.strip() or _SECTION_RE.match(line):
            continue
        m = _KV_RE.match(line)
        if not m:
            continue
        value = m.group("value").strip()
        if not value:
            continue
        key = snake_case(m.group("label"))
        if key and key not in result:
            result[key] = _value(value)
    if not closed:
        raise ValueError(
            f"the last '{BLOCK_TITLE}' block is cut off: no closing line of '=' after "
            f"{len(result)} value(s) (was the benchmark interrupted?)"
        )
    if not result:
        raise ValueError(f"the last '{BLOCK_TITLE}' block holds no 'Label: value' lines")
    return result


_GSM8K_PATTERNS = {
    # few_shot_gsm8k (the page's harness; 0.5.7 and later)
    "accuracy": re.compile(r"^\s*Accuracy:\s*(\S+)\s*$"),
    "invalid": re.compile(r"^\s*Invalid:\s*(\S+)\s*$"),
    "latency": re.compile(r"^\s*Latency:\s*(\S+)\s*s\s*$"),
    "output_throughput": re.compile(r"^\s*Output throughput:\s*(\S+)\s*token/s\s*$"),
}
_RUN_EVAL_PATTERNS = {
    # python -m sglang.test.run_eval --eval-name gsm8k (0.5.16): Score is the accuracy; it has no Invalid line
    "accuracy": re.compile(r"^\s*Score:\s*(\S+)\s*$"),
    "latency": re.compile(r"^\s*Total latency:\s*(\S+)\s*s\s*$"),
    "output_throughput": re.compile(r"^\s*Output throughput:\s*(\S+)\s*token/s\s*$"),
}


def _match_all(text: str, patterns: dict[str, re.Pattern]) -> dict[str, float]:
    found: dict[str, float] = {}
    for line in text_lines(text):
        for key, pattern in patterns.items():
            m = pattern.match(line)
            if m:
                try:
                    found[key] = float(m.group(1))
                except ValueError:
                    pass
    return found


def parse_gsm8k(text: str) -> dict[str, float]:
    """Parse GSM8K harness output: ``few_shot_gsm8k``'s (keys ``accuracy``, ``invalid``, ``latency`` in s,
    ``output_throughput`` in token/s) or ``run_eval --eval-name gsm8k``'s (``Score`` is the accuracy,
    ``Total latency`` the latency; no ``invalid``). Floats. Progress and warning lines are ignored; where the
    text holds several runs, the last value of each wins. Raises ``ValueError`` naming the missing lines."""
    if not isinstance(text, str):
        raise ValueError(f"parse_gsm8k expects str, got {type(text).__name__}")  # noqa: TRY004
    found = _match_all(text, _GSM8K_PATTERNS)
    if "accuracy" not in found:
        run_eval = _match_all(text, _RUN_EVAL_PATTERNS)
        if "accuracy" in run_eval and "latency" in run_eval:
            return run_eval
    missing = [k for k in _GSM8K_PATTERNS if k not in found]
    if missing:
        raise ValueError(
            "GSM8K output incomplete: missing "
            + ", ".join(missing)
            + " (expected few_shot_gsm8k's 'Accuracy: ...', 'Invalid: ...', 'Latency: ... s', 'Output throughput: "
            "... token/s', or run_eval's 'Score: ...' and 'Total latency: ... s')"
        )
    return found


RECORD_COLUMNS = {
    # sglang 0.5.7 bench_serving's JSON record key -> the printed block's label in snake case
    "duration": "benchmark_duration_s",
    "completed": "successful_requests",
    "total_output_tokens": "total_generated_tokens",
    "total_output_tokens_retokenized": "total_generated_tokens_retokenized",
    "request_throughput": "request_throughput_req_s",
    "input_throughput": "input_token_throughput_tok_s",
    "output_throughput": "output_token_throughput_tok_s",
    "total_throughput": "total_token_throughput_tok_s",
    "max_output_tokens_per_s": "peak_output_token_throughput_tok_s",
    "max_concurrent_requests": "peak_concurrent_requests",
    "max_concurrency": "max_request_concurrency",
}
"""Record keys whose printed label differs; every other key (``mean_ttft_ms``, ``std_ttft_ms``,
``p99_tpot_ms``, ...) is already named as the block names it, or is printed by no block (``std_*``)."""


def row_from_record(record: dict) -> dict[str, int | float | str | None]:
    """One benchmark row from the client's JSON record: its scalar values (nested ``server_info`` and
    per-request lists are left out), keys renamed by :data:`RECORD_COLUMNS` so that a row and a parsed
    block (the page's) share column names. ``successful_requests`` is the record's exact ``completed``."""
    if not isinstance(record, dict):
        raise ValueError(f"a bench_serving record is a JSON object, got {type(record).__name__}")
    scalars = (int, float, str, bool, type(None))
    return {RECORD_COLUMNS.get(k, k): v for k, v in record.items()
            if k != "server_info" and isinstance(v, scalars)}
