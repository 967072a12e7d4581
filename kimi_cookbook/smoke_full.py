"""``smoke --full-size``: Kimi-Linear-48B-A3B at full width with random weights, measured on this GPU host.

No ~100 GB download: :func:`kimi_cookbook.full_size.build_full_size` writes the published config (optionally with
fewer routed experts, labelled *not the full model* in every output) and a tokenizer; SGLang builds the model from
it with ``--load-format dummy``, the cookbook's model class (``SGLANG_EXTERNAL_MODEL_PACKAGE``,
:func:`kimi_cookbook.full_size.launch_env`) making random weights serve (SGLang 0.5.16) and route by token. Every
kernel, weight byte, cache and state is the real model's; only the answers are noise, so no notebook or GSM8K runs
here -- the speed does: a ``bench`` preset (default the page's three scenarios) with SGLang's own client, progress
watched, beside the page and the planner's decode floor for this GPU, plus SGLang's pools beside the planner's
prediction and whether the start found the JIT caches full.

Before anything is built or launched, weights that cannot fit ``tp`` GPUs are refused (:func:`check_fit`, one
line, exit 2) naming the tp that would fit, and the number of experts that would fit at this tp.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from kimi_cookbook import bench
from kimi_cookbook.capacity import decode_step, load_model_config, plan
from kimi_cookbook.capacity.config import KimiLinearConfig, check_tp
from kimi_cookbook.hardware import MAX_TP, get_gpu
from kimi_cookbook.jit_cache import cache_state, start_kind
from kimi_cookbook.server import ServerStartError, launch_sglang
from kimi_cookbook.sglang_memory import parse_sglang_log, predict_for_gpu
from kimi_cookbook.versions import VERSIONS
from kimi_cookbook.smoke import (
    SmokeError,
    SmokeReport,
    Step,
    _run_dir,
    allocation_from_log,
    not_ready,
    preflight,
    server_facts,
    write_summary,
)
from kimi_cookbook.tiny_kimi import published_config

__all__ = ["FIT_CONTEXT", "check_fit", "floor_table", "full_size_config", "pools_vs_log", "run_full_size_smoke"]

FIT_CONTEXT = 8192  # the fit check asks for room for at least one request of this length beside the weights
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


# how long the warm-up (see warmup_for) may wait for a first token
WARMUP_STALL_S = 300.0


def warmup_for(preset: str) -> bench.Scenario:
    """The requests sent before ``preset``'s benchmark, not counted: 8 (fewer when the preset never runs 8 at once)
    of the preset's longest input, 32 tokens out. On a fresh H100 the first batches after a start waited ~90 s
    (kernels compiled for their shapes; docs/validation/2026-12-05-full-size-h100), and no scenario should pay it."""
    scenarios = bench.preset(preset)
    longest = max(s.prefix_len + s.input_len for s in scenarios)
    at_once = min(8, max(s.max_concurrency for s in scenarios))
    return bench.Scenario("warmup", num_prompts=at_once, max_concurrency=at_once, input_len=longest, output_len=32,
                          range_ratio=1.0)


def full_size_config(num_experts: int | None = None) -> KimiLinearConfig:
    """The published config the folder will hold (``num_experts`` routed experts when given), for the planner."""
    d = published_config()
    if num_experts is not None:
        d["num_experts"] = num_experts
    return KimiLinearConfig.from_dict(d, "published config" + (f", {num_experts} experts" if num_experts else ""))


def _fits(hardware: str, tp: int, cfg: KimiLinearConfig) -> bool:
    try:
        plan(hardware, tp, FIT_CONTEXT, config=cfg)
    except ValueError:
        return False
    return True


def check_fit(hardware: str, tp: int, num_experts: int | None = None) -> KimiLinearConfig:
    """The config to build, or ValueError (one line) when its bf16 weights, SGLang's reserve and one
    ``FIT_CONTEXT``-token request do not fit ``tp`` x ``hardware``: it names the tp that would, and how many experts
    would fit at this tp (an option that is not the full model)."""
    g = get_gpu(hardware)
    published = published_config()
    top_k, all_experts = published["num_experts_per_token"], published["num_experts"]
    if num_experts is not None and (isinstance(num_experts, bool) or not isinstance(num_experts, int)
                                    or not top_k <= num_experts <= all_experts):
        raise ValueError(f"--num-experts must be a whole number from {top_k} (experts per token) to {all_experts}, "
                         f"got {num_experts!r}")
    cfg = full_size_config(num_experts)
    check_tp(cfg, tp)  # a tp that does not divide the heads is its own error
    if _fits(g.id, tp, cfg):
        return cfg
    from kimi_cookbook.capacity import weight_bytes

    w = weight_bytes(cfg, tp=tp)
    what = (f"the full-size Kimi-Linear ({all_experts} experts)" if num_experts in (None, all_experts) else
            f"Kimi-Linear with {num_experts} of {all_experts} experts")
    tps = [t for t in (1, 2, 4, 8) if t <= MAX_TP and t > tp and _fits(g.id, t, cfg)]
    fewer = [n for n in range(min(num_experts or all_experts, all_experts) - 1, top_k - 1, -1)
             if _fits(g.id, tp, full_size_config(n))]
    options = []
    if tps:
        options.append(f"use --tp {tps[0]}")
    if fewer:
        options.append(f"--num-experts {fewer[0]} (not the full model: same active path per token)")
    advice = " or ".join(options) if options else "use a GPU with more memory"
    raise ValueError(f"{what} does not fit tp={tp} on {g.label}: {w['per_gpu'] / 2**30:.1f} GiB of bf16 weights per "
                     f"GPU ({w['total'] / 2**30:.1f} GiB in all), SGLang's reserve and one {FIT_CONTEXT}-token request "
                     f"exceed its {g.usable_memory_bytes / 2**30:.1f} GiB; {advice}")


def pools_vs_log(hardware: str, tp: int, model_dir: str | Path, log_text: str, sglang_version: str | None,
                 launch: dict | None = None) -> list[dict]:
    """SGLang's three pools as its log states them beside the planner's prediction for this launch (rows: figure,
    predicted, logged, logged/predicted); empty for a version the planner does not model or a log without them."""
    if sglang_version not in VERSIONS:
        return []
    logged = parse_sglang_log(log_text)
    pred = predict_for_gpu(hardware, load_model_config(model_dir), tp=tp, sglang_version=sglang_version,
                           **(launch or {}))
    rows = []
    for key, predicted in (("max_total_num_tokens", pred.max_total_num_tokens),
                           ("max_mamba_cache_size", pred.max_mamba_cache_size),
                           ("max_running_requests", pred.max_running_requests)):
        if key in logged:
            rows.append({"figure": key, "predicted": predicted, "logged": logged[key],
                         "logged_over_predicted": round(logged[key] / predicted, 4) if predicted else None})
    return rows


def floor_table(rows: list[dict], hardware: str, tp: int, config) -> list[dict]:
    """Each finished scenario beside the page (same concurrency) and the planner's decode floor on this GPU:
    batch = the run's mean concurrency, context = mean input + half the mean output (as for the page's runs)."""
    page = {r["max_concurrency"]: r for r in bench.page_speed_runs()}
    out = []
    for r in rows:
        n = r.get("successful_requests") or 0
        if not n or not r.get("mean_tpot_ms"):
            continue
        batch = max(1, round(float(r.get("concurrency") or 1)))
        context = round(r["total_input_tokens"] / n + r["total_generated_tokens"] / n / 2)
        floor = decode_step(hardware, tp, batch, max(1, context), config=config)["tpot_floor_ms"]
        ref = page.get(r["max_concurrency"], {})
        out.append({
            "scenario": r["name"], "max_concurrency": r["max_concurrency"],
            "output_tok_s": r.get("output_token_throughput_tok_s"),
            "page_output_tok_s": ref.get("output_token_throughput_tok_s"),
            "mean_tpot_ms": r["mean_tpot_ms"], "page_mean_tpot_ms": ref.get("mean_tpot_ms"),
            "floor_tpot_ms": round(floor, 3), "measured_over_floor": round(r["mean_tpot_ms"] / floor, 2),
        })
    return out


def run_full_size_smoke(
    hardware: str = "h200",
    *,
    tp: int = 1,
    num_experts: int | None = None,
    preset: str = "page",
    run_dir: str | os.PathLike | None = None,
    extra_args: tuple[str, ...] | list[str] = (),
    context_length: int | None = None,
    mem_fraction_static: float | None = None,
    timeout_s: float = 1800.0,
    stall_s: float | None = bench.STALL_S,
    python: str = sys.executable,
    progress: bool = True,
    log=print,
) -> SmokeReport:
    """Build the full-size folder, launch SGLang on it with random weights, run ``preset``; the report is also
    ``summary.md`` / ``summary.json`` in the run folder. ValueError before anything when it cannot fit (bad
    input); SmokeError when SGLang cannot start; a stalled or failed benchmark is a failed step."""
    g = get_gpu(hardware)
    cfg = check_fit(g.id, tp, num_experts)  # before any folder, build or launch
    bench.preset(preset)  # an unknown preset is bad input too
    out = _run_dir(run_dir)
    report = SmokeReport(run_dir=out, hardware=g.id, tp=tp, mode="full-size")

    def step(name: str, started: float, status: str = "ok", detail: str = "") -> None:
        report.steps.append(Step(name, status, round(time.perf_counter() - started, 1), detail))
        write_summary(report)
        log(f"[smoke] {name}: {status} ({report.steps[-1].seconds:.1f} s){' - ' + detail if detail else ''}")

    from kimi_cookbook.full_size import build_full_size, launch_env

    srv = None
    current, t = "full-size model", time.perf_counter()
    try:
        info = build_full_size(out / "model", num_experts=num_experts)
        report.label = info["label"]
        report.full_model = bool(info["full_model"])
        model_path = str(info["path"])
        args = ("--load-format=dummy", *(a for a in extra_args if a.split("=")[0] != "--load-format"))
        step(current, t, detail=f"{info['label']}; {info['weight_gib']} GiB of weights (random, not read from "
                                f"disk); tokenizer: {info['tokenizer']}")
        current, t = "preflight", time.perf_counter()
        report.sglang_version, report.gpus = preflight(tp, python)
        step(current, t, detail=f"SGLang {report.sglang_version}; {len(report.gpus)} GPU(s): "
                                f"{', '.join(sorted(set(report.gpus)))}")
        current, t = "server ready", time.perf_counter()
        env = {**OFFLINE_ENV, **launch_env()}
        report.jit_before = cache_state({**os.environ, **env})
        report.start_kind = start_kind(report.jit_before)
        log(f"[smoke] launching SGLang on {info['label']}: a {report.start_kind} start "
            f"({'the JIT caches were empty: kernels compile' if report.start_kind == 'first' else 'JIT caches found'})")
        srv = launch_sglang(g.id, tp=tp, model=model_path, enable_metrics=True, extra_args=args, timeout_s=timeout_s,
                            context_length=context_length, mem_fraction_static=mem_fraction_static,
                            log_path=out / "server.log", python=python, progress=progress, env=env)
        report.command = srv.command
        report.startup_s = srv.startup_s
        step(current, t, detail=f"after {srv.startup_s:.1f} s ({report.start_kind} start)")
        current, t = "server facts", time.perf_counter()
        report.allocation = server_facts(srv.base_url, out)
        log_text = (out / "server.log").read_text(errors="replace")
        report.allocation.update(allocation_from_log(log_text))
        launch = {k: v for k, v in (("context_length", context_length), ("mem_fraction_static", mem_fraction_static))
                  if v is not None}
        report.pools = pools_vs_log(g.id, tp, model_path, log_text, report.sglang_version, launch)
        step("server facts", t, detail=", ".join(f"{r['figure']} {r['logged']} vs {r['predicted']} predicted"
                                                 for r in report.pools) or "no pool prediction for this version")
        current, t = "warm-up", time.perf_counter()
        warmup = warmup_for(preset)
        warm = False
        try:
            bench.run_bench((warmup,), results_dir=out / "warmup", base_url=srv.base_url, backend="sglang",
                            model=srv.model, tokenizer=model_path, dataset_name="random-ids",
                            stall_s=None if stall_s is None else max(stall_s, WARMUP_STALL_S),
                            server_log=srv.log_path, progress=progress, label="warm-up (not counted)")
            warm = True
            step(current, t, detail=f"{warmup.num_prompts} requests of {warmup.input_len} tokens in, "
                                    f"{warmup.output_len} out (the preset's longest input); not counted")
        except bench.BenchError as exc:  # a server that cannot answer 8 requests: the benchmark is not run
            report.log_tail = exc.log_tail
            step(current, t, "failed", str(exc).splitlines()[0])
        current, t = f"bench {preset}", time.perf_counter()
        results = out / "bench"
        if not warm:
            step(current, t, "skipped", "the warm-up failed")
        else:
            try:
                rows = bench.run_bench(preset, results_dir=results, base_url=srv.base_url, backend="sglang",
                                       model=srv.model, tokenizer=model_path, dataset_name="random-ids",
                                       stall_s=stall_s, server_log=srv.log_path, progress=progress,
                                       label=info["label"])
                report.bench_rows = rows.to_dict("records")
                step(current, t, detail=f"{len(rows)} scenario(s) in {results}")
            except bench.BenchError as exc:
                report.log_tail = exc.log_tail
                report.bench_rows = (bench.load_results(results).to_dict("records")
                                     if (results / "results.jsonl").is_file() else [])
                step(current, t, "failed", str(exc).splitlines()[0])
        report.floor = floor_table(report.bench_rows, g.id, tp, cfg)
        report.finished = True
    except SmokeError as exc:
        step(current, t, "failed", str(exc))
        raise
    except ServerStartError as exc:
        report.log_tail = exc.log_tail
        step(current, t, "failed", str(exc).splitlines()[0])
        raise not_ready(exc, out, "SGLang") from exc
    except KeyboardInterrupt:
        report.interrupted = True
        raise
    except BaseException as exc:  # a crash: recorded as the step it stopped, never "passed"
        step(current, t, "failed", f"unexpected error ({type(exc).__name__}: {str(exc).strip()[:200]})")
        raise
    finally:
        if srv is not None:
            srv.stop()
        write_summary(report)
    return report
