"""Benchmarks with SGLang's own tools, beside the SGLang cookbook page's MI300X numbers.

:mod:`.scenarios` says what a speed run runs, :mod:`.speed` runs SGLang's serving client and saves rows from
its JSON records (:mod:`.results`), :mod:`.gsm8k` measures accuracy, :mod:`.reference` holds the page's
numbers, :mod:`.compare` sets a run beside them and :mod:`.parse` reads printed output and records. The
names below are the public API; notebooks and the CLI use only these.
"""

from kimi_cookbook.bench.compare import COMPARE_METRICS, compare, compare_gsm8k, plot_vs_concurrency
from kimi_cookbook.bench.gsm8k import (
    INVALID,
    GSM8KRun,
    answer_value,
    gsm8k_sample_path,
    last_integer,
    read_questions,
    run_gsm8k_harness,
    score_gsm8k,
)
from kimi_cookbook.bench.parse import (
    BLOCK_TITLE,
    RECORD_COLUMNS,
    block_text,
    parse_bench_serving,
    parse_gsm8k,
    row_from_record,
    snake_case,
)
from kimi_cookbook.bench.reference import (
    REFERENCE_COLUMNS,
    load_reference,
    load_reference_gsm8k,
    page_speed_runs,
    reference_data,
)
from kimi_cookbook.bench.results import RUNS_ENV, check_results_dir, load_results, new_results_dir, save_results
from kimi_cookbook.bench.scenarios import (
    CLIENT_BACKENDS,
    DATASETS,
    PRESETS,
    SHARED_PREFIX,
    Scenario,
    preset,
    scenario_table,
)
from kimi_cookbook.bench.watch import finished_requests, partial_summary
from kimi_cookbook.bench.speed import (
    STALL_S,
    BenchError,
    bench_command,
    bench_settings,
    check_base_url,
    check_tokenizer,
    client_module,
    display_command,
    run_bench,
    run_scenario,
)

__all__ = [
    "BLOCK_TITLE",
    "CLIENT_BACKENDS",
    "COMPARE_METRICS",
    "DATASETS",
    "INVALID",
    "PRESETS",
    "RECORD_COLUMNS",
    "REFERENCE_COLUMNS",
    "RUNS_ENV",
    "SHARED_PREFIX",
    "STALL_S",
    "BenchError",
    "GSM8KRun",
    "Scenario",
    "answer_value",
    "bench_command",
    "bench_settings",
    "check_base_url",
    "check_results_dir",
    "check_tokenizer",
    "client_module",
    "compare",
    "compare_gsm8k",
    "display_command",
    "gsm8k_sample_path",
    "last_integer",
    "load_reference",
    "load_reference_gsm8k",
    "load_results",
    "new_results_dir",
    "page_speed_runs",
    "block_text",
    "parse_bench_serving",
    "parse_gsm8k",
    "read_questions",
    "plot_vs_concurrency",
    "preset",
    "reference_data",
    "row_from_record",
    "run_bench",
    "run_gsm8k_harness",
    "run_scenario",
    "save_results",
    "scenario_table",
    "score_gsm8k",
    "snake_case",
    "finished_requests",
    "partial_summary",
]
