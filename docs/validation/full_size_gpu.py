#!/usr/bin/env python3
"""Full-size Kimi-Linear-48B-A3B with random weights on one lent GPU: how docs/validation/*-full-size-* was made.

Runs on an offline NVIDIA Hopper host with SGLang's wheel set installed (see offline_gpu_run.sh for the install
line). Stdlib only, apart from torch for reading the expert counts. Two modes, each one device call:

    python3 docs/validation/full_size_gpu.py page OUT [--experts 96]   # defaults: routing spread, pools, the page's
                                                                        # three scenarios (10@1, 80@16, 500@100)
    python3 docs/validation/full_size_gpu.py tune OUT [--experts 96]   # concurrency 100, one flag changed at a time
    python3 docs/validation/full_size_gpu.py all OUT                   # page, then c100 again with the radix cache off
    python3 docs/validation/full_size_gpu.py c100 OUT [--c100-prompts N] [--tuned FLAG]  # c100 on the defaults,
                                                                        # then with one flag changed (radix cache off)
    python3 docs/validation/full_size_gpu.py c100 OUT --workload shared-prefix [--tuned FLAG]  # the same on the
                                                                        # shared-prefix preset's prefix-c100

After every start, 8 short requests go first over SGLang's /generate and are recorded as `warmup` (on a fresh host
they took ~90 s: kernels compiled for the first batch shapes), so no measured scenario pays for them. The calls of
2026-12-06-full-size-h100/README.md were `c100 OUT --c100-prompts 200 [--tuned FLAG]` and `--c100-prompts 500
--c100-limit 300`: both launches on one machine, same prompts.

Every benchmark is SGLang's own client (python -m sglang.bench_serving, random-ids 1000/1000, range ratio 0.0 as the
page's client default) with progress watched through the server's /metrics: no generated token for --stall seconds
stops that benchmark and says so, and what finished is kept. `--workload shared-prefix` (mode c100 only) runs the
cookbook's `shared-prefix` preset's `prefix-c100` instead: SGLang's `generated-shared-prefix` dataset with the
scenario's own client arguments (kimi_cookbook/bench/scenarios.py, read here by file path: stdlib only) and
`--cache-report` (the client then records the prompt tokens the server answered from its prefix cache). A
deadline (--budget) skips steps that would not fit.
Writes OUT/summary.json, OUT/bench.jsonl (the client's records), OUT/logs.tar.gz (trimmed server logs), OUT/run.log.
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import os
import re
import signal
import subprocess
import sys
import tarfile
import time
import urllib.request
from pathlib import Path

T0 = time.monotonic()
PORT = 30000
PAGE = [  # the page's three scenarios: (name, prompts, concurrency)
    ("c1", 10, 1), ("c16", 80, 16), ("c100", 500, 100),
]
POOL_PATTERNS = {
    "weights_gb": r"Load weight end.*?mem usage=([\d.]+) GB",
    "max_mamba_cache_size": r"max_mamba_cache_size: (\d+)",
    "conv_state_gb": r"conv_state size: ([\d.]+)GB",
    "ssm_state_gb": r"ssm_state size: ([\d.]+)GB",
    "kv_tokens": r"KV Cache is allocated\..*?#tokens: (\d+)",
    "kv_gb": r"KV size: ([\d.]+) GB",
    "max_total_num_tokens": r"max_total_num_tokens=(\d+)",
    "max_running_requests": r"max_running_requests=(\d+)",
    "context_len": r"context_len=(\d+)",
    "available_gpu_mem_gb": r"available_gpu_mem=([\d.]+) GB",
    "cuda_graph_bs_max": r"Capture cuda graph bs \[.*?(\d+)\]",
}


def elapsed() -> float:
    return time.monotonic() - T0


RUN_LOG: list[Path] = []  # OUT/run.log once main() knows OUT


def log(msg: str) -> None:
    line = f"[{elapsed():6.1f}s] {msg}"
    print(line, flush=True)
    for path in RUN_LOG:
        with path.open("a") as f:
            f.write(line + "\n")


def http(path: str, data: bytes | None = None, timeout: float = 10.0) -> str:
    req = urllib.request.Request(f"http://127.0.0.1:{PORT}{path}", data=data, method="POST" if data is not None
                                 else "GET", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return resp.read(4 << 20).decode("utf-8", "replace")


def generated_tokens() -> float | None:
    try:
        text = http("/metrics", timeout=5)
    except OSError:
        return None
    total = 0.0
    seen = False
    for line in text.splitlines():
        if line.startswith("sglang:generation_tokens_total"):
            total += float(line.rsplit(" ", 1)[1])
            seen = True
    return total if seen else None


class Server:
    def __init__(self, name: str, model: str, out: Path, flags: list[str], env: dict[str, str]):
        self.name, self.log_path = name, out / f"server-{name}.log"
        cmd = [sys.executable, "-m", "sglang.launch_server", "--model-path", model, "--load-format", "dummy",
               "--tp", "1", "--trust-remote-code", "--attention-backend", "triton", "--enable-metrics",
               "--host", "127.0.0.1", "--port", str(PORT), *flags]
        self.cmd = cmd
        log(f"launch {name}: {' '.join(cmd[2:])}")
        self.start = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdout=open(self.log_path, "w"), stderr=subprocess.STDOUT,
                                     env={**os.environ, **env}, start_new_session=True)
        self.ready_s: float | None = None

    def wait_ready(self, limit: float) -> float:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server {self.name} exited with {self.proc.returncode}: {self.tail(15)}")
            try:
                if http("/health", timeout=3) is not None:
                    # /health answers before the warm-up request is through; the log line marks ready
                    if "fired up and ready" in self.log_path.read_text(errors="replace"):
                        self.ready_s = round(time.monotonic() - self.start, 1)
                        log(f"{self.name} ready after {self.ready_s} s")
                        return self.ready_s
            except OSError:
                pass
            time.sleep(2)
        raise RuntimeError(f"server {self.name} not ready after {limit:.0f} s: {self.tail(15)}")

    def tail(self, n: int) -> str:
        lines = self.log_path.read_text(errors="replace").splitlines()
        return " | ".join(lines[-n:])

    def pools(self) -> dict:
        text = self.log_path.read_text(errors="replace")
        found = {}
        for key, pattern in POOL_PATTERNS.items():
            m = re.findall(pattern, text)
            if m:
                found[key] = float(m[-1]) if "." in m[-1] else int(m[-1])
        return found

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        subprocess.run(["pkill", "-9", "-f", "sglang::"], capture_output=True)
        time.sleep(3)


@functools.cache
def load_scenarios():
    """kimi_cookbook/bench/scenarios.py by its path: stdlib only, so it imports wherever this driver runs (the
    package's __init__ pulls in tqdm and more)."""
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "kimi_cookbook" / "bench" / "scenarios.py"
    spec = importlib.util.spec_from_file_location("_kimi_scenarios", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


SHARED_PRESET, SHARED_SCENARIO = "shared-prefix", "prefix-c100"


def shared_prefix_scenario(groups: int | None = None):
    """The shared-prefix preset's prefix-c100 (groups x prompts per group at concurrency 100); with ``groups``, the
    same with fewer groups (same prompts per group, same lengths)."""
    import dataclasses

    mod = load_scenarios()
    scen = next(s for s in mod.preset(SHARED_PRESET) if s.name == SHARED_SCENARIO)
    if groups is not None and groups != scen.prefix_groups:
        per_group = scen.num_prompts // scen.prefix_groups
        scen = dataclasses.replace(scen, num_prompts=groups * per_group, prefix_groups=groups)
    return scen


def bench_args(tokenizer: str, out: Path, prompts: int, concurrency: int, *, in_len: int = 1000,
               out_len: int = 1000, scenario=None) -> list[str]:
    """SGLang's client command: random-ids (the page's workload), or ``scenario``'s own client arguments on the
    dataset it needs (generated-shared-prefix), with --cache-report."""
    if scenario is None:
        workload = ["--dataset-name", "random-ids", "--random-input-len", str(in_len), "--random-output-len",
                    str(out_len), "--random-range-ratio", "0.0", "--num-prompts", str(prompts), "--max-concurrency",
                    str(concurrency), "--request-rate", "inf"]
    elif not scenario.dataset:
        raise ValueError(f"scenario {scenario.name} needs no dataset of its own; the driver runs random-ids itself")
    else:
        workload = ["--dataset-name", scenario.dataset, *scenario.client_args(), "--cache-report"]
    return [sys.executable, "-m", "sglang.bench_serving", "--backend", "sglang", "--host", "127.0.0.1", "--port",
            str(PORT), *workload, "--tokenizer", tokenizer, "--seed", "1", "--output-file", str(out / "bench.jsonl")]


def bench(name: str, tokenizer: str, out: Path, prompts: int, concurrency: int, *, in_len: int = 1000,
          out_len: int = 1000, limit: float, stall: float, scenario=None) -> dict:
    if scenario is not None:  # the scenario says it all
        prompts, concurrency = scenario.num_prompts, scenario.max_concurrency
        in_len, out_len = scenario.prefix_len + scenario.input_len, scenario.output_len
    cmd = bench_args(tokenizer, out, prompts, concurrency, in_len=in_len, out_len=out_len, scenario=scenario)
    log(f"bench {name}: {prompts} prompts at concurrency {concurrency} ({in_len}/{out_len})")
    before = sum(1 for _ in open(out / "bench.jsonl")) if (out / "bench.jsonl").exists() else 0
    stdout = open(out / "bench-stdout.txt", "a")
    stdout.write(f"\n===== {name}: {' '.join(cmd[2:])}\n")
    stdout.flush()
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.STDOUT, start_new_session=True)
    last_tokens, last_change, status = generated_tokens(), time.monotonic(), "done"
    while proc.poll() is None:
        time.sleep(5)
        now = time.monotonic()
        tokens = generated_tokens()
        if tokens is not None and tokens != last_tokens:
            last_tokens, last_change = tokens, now
        if now - last_change > stall:
            status = f"stalled: no token generated for {stall:.0f} s"
        elif now - start > limit:
            status = f"over its {limit:.0f} s limit"
        else:
            continue
        log(f"bench {name} {status}; stopping it")
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        break
    stdout.close()
    wall = round(time.monotonic() - start, 1)
    records = [json.loads(x) for x in open(out / "bench.jsonl")][before:] if (out / "bench.jsonl").exists() else []
    rec = records[-1] if records else {}
    if status != "done" and rec.get("completed") == prompts:  # the client finished and wrote its record before
        log(f"bench {name}: its record has all {prompts} prompts: done")  # the stop (the limit counts its start-up)
        status = "done"
    keep = ("completed", "duration", "request_throughput", "input_throughput", "output_throughput",
            "mean_ttft_ms", "median_ttft_ms", "p99_ttft_ms", "mean_tpot_ms", "median_tpot_ms", "p99_tpot_ms",
            "mean_itl_ms", "median_itl_ms", "total_output_tokens", "total_input_tokens", "max_output_tokens_per_s",
            "concurrency", "total_output_tokens_retokenized", "cache_report")
    result = {"scenario": name, "num_prompts": prompts, "max_concurrency": concurrency, "input_len": in_len,
              "output_len": out_len, "status": status if rec or status != "done" else "no record written",
              "wall_s": wall, **{k: rec[k] for k in keep if k in rec}}
    if scenario is not None:
        result["prefix_groups"] = scenario.prefix_groups
    brief = {k: result.get(k) for k in ("status", "completed", "mean_tpot_ms", "output_throughput")}
    log(f"bench {name}: {json.dumps(brief)}")
    return result


def warm_up(n: int = 8, in_len: int = 1000, out_len: int = 32, limit: float = 240) -> dict:
    """n requests at once over SGLang's native /generate (random token ids of the benchmark's input length),
    stdlib only: the first batches after a start compile kernels for their shapes, and no measured scenario
    should pay for that. Returns how long they took and how many answered."""
    import random
    from concurrent.futures import ThreadPoolExecutor

    rng = random.Random(1)

    def one(_: int) -> bool:
        body = json.dumps({"input_ids": [rng.randrange(100, 3000) for _ in range(in_len)],
                           "sampling_params": {"max_new_tokens": out_len, "ignore_eos": True}}).encode()
        try:
            http("/generate", body, timeout=limit)
            return True
        except OSError:
            return False

    start = time.monotonic()
    with ThreadPoolExecutor(n) as pool:
        ok = sum(pool.map(one, range(n)))
    result = {"scenario": "warmup", "requests": n, "answered": ok, "duration_s": round(time.monotonic() - start, 1)}
    log(f"warm-up: {json.dumps(result)}")
    return result


def expert_spread(tokenizer: str, out: Path, rec_dir: Path, stall: float) -> dict:
    """Count which experts the router picks, with SGLang's expert-distribution recorder, over 32 prompts."""
    http("/start_expert_distribution_record", b"{}", timeout=30)
    bench("spread", tokenizer, out, 32, 16, in_len=256, out_len=64, limit=120, stall=stall)
    http("/stop_expert_distribution_record", b"{}", timeout=30)
    http("/dump_expert_distribution_record", b"{}", timeout=60)
    time.sleep(2)
    import torch

    files = sorted(rec_dir.glob("*.pt"))
    if not files:
        return {"error": f"no dump in {rec_dir}"}
    data = torch.load(files[-1], map_location="cpu", weights_only=False)
    count = data["logical_count"] if isinstance(data, dict) else data
    count = count.reshape(-1, count.shape[-2], count.shape[-1]).sum(0).double()  # [layers, experts]
    per_layer = []
    for layer, row in enumerate(count):
        total = float(row.sum())
        if total == 0:
            continue
        top8 = float(row.sort(descending=True).values[:8].sum())
        per_layer.append({"layer": layer, "expert_picks": total, "experts_used": int((row > 0).sum()),
                          "top8_share": round(top8 / total, 4)})
    shares = [p["top8_share"] for p in per_layer]
    return {"experts": int(count.shape[-1]), "moe_layers_counted": len(per_layer),
            "min_experts_used": min(p["experts_used"] for p in per_layer) if per_layer else 0,
            "top8_share_min": min(shares) if shares else None, "top8_share_max": max(shares) if shares else None,
            "uniform_top8_share": round(8 / int(count.shape[-1]), 4), "per_layer": per_layer}


def trim_log(path: Path) -> bytes:
    """Keep the lines that say what SGLang did (args, pools, graphs, errors) and the last 150."""
    lines = path.read_text(errors="replace").splitlines()
    keep = re.compile(r"server_args|Load weight|mamba|Mamba|KV Cache|max_total_num_tokens|cuda graph|Capture|"
                      r"fired up|Error|error|Traceback|WARNING|available_gpu_mem|ready")
    head = [x for x in lines if keep.search(x) and "Decode batch" not in x and "Prefill batch" not in x][:200]
    return ("\n".join(head + ["----- last 150 lines -----"] + lines[-150:]) + "\n").encode()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["page", "tune", "all", "c100"])
    ap.add_argument("out")
    ap.add_argument("--experts", default="auto", help="fewer routed experts (not the full model); auto: 96 when "
                    "the GPU has under 100 GiB (the 256-expert weights are 91.5 GiB), else all 256")
    ap.add_argument("--budget", type=float, default=560, help="seconds this call may take in all")
    ap.add_argument("--stall", type=float, default=60)
    ap.add_argument("--tune-prompts", type=int, default=300)
    ap.add_argument("--c100-prompts", type=int, default=None, help="mode c100: prompts at concurrency 100 (random "
                    "workload; default 500, the page's); the shared-prefix workload runs its scenario's")
    ap.add_argument("--workload", choices=["random", "shared-prefix"], default="random", help="mode c100: the "
                    "page's random-ids 1000/1000 (default), or the shared-prefix preset's prefix-c100")
    ap.add_argument("--c100-limit", type=float, default=120, help="mode c100: seconds the first c100 may take")
    ap.add_argument("--tuned", default="--disable-radix-cache", help="mode c100: the one flag (with its value) the "
                    "second launch changes against SGLang's defaults, e.g. '--mamba-full-memory-ratio 2.4'")
    args = ap.parse_args()
    shared = None
    if args.workload == "shared-prefix":
        if args.mode != "c100" or args.c100_prompts is not None:
            ap.error("--workload shared-prefix: mode c100 only, and its prompts are the scenario's (no --c100-prompts)")
        shared = shared_prefix_scenario()
    elif args.c100_prompts is None:
        args.c100_prompts = 500
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    RUN_LOG.append(out / "run.log")
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from kimi_cookbook.full_size import build_full_size, launch_env

    mem_mib = subprocess.run(["nvidia-smi", "--query-gpu=memory.total", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True).stdout.split()
    if args.experts == "auto":
        experts = 96 if mem_mib and int(mem_mib[0]) < 100 * 1024 else None
    else:
        experts = int(args.experts)
    model = build_full_size("/tmp/kfull", num_experts=experts)
    log(f"model: {model.label}; {model['weight_gib']} GiB of weights; tokenizer: {model['tokenizer']}")
    gpu = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
                         capture_output=True, text=True).stdout.strip()
    code = "import torch; print(torch.cuda.get_device_properties(0).total_memory)"
    # in a child process: no CUDA context stays in this one
    probe = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    total_bytes = int(probe.stdout.strip()) if probe.returncode == 0 and probe.stdout.strip().isdigit() else None
    rec_dir = out / "expert-dump"
    env = {**launch_env(), "SGLANG_EXPERT_DISTRIBUTION_RECORDER_DIR": str(rec_dir)}
    summary: dict = {"mode": args.mode, "argv": sys.argv[1:], "gpu": gpu, "gpu_total_memory_bytes": total_bytes,
                     "model": dict(model), "launches": [], "bench": []}
    if args.mode == "c100":
        summary["workload"] = args.workload
        summary["scenario"] = shared.name if shared else "c100"
        if shared:
            summary["preset"] = SHARED_PRESET

    def save() -> None:
        summary["elapsed_s"] = round(elapsed(), 1)
        (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")

    def left() -> float:
        return args.budget - elapsed()

    rec = ["--expert-distribution-recorder-mode", "stat"]
    if args.mode == "page":
        plan = [("default", rec)]
    elif args.mode == "c100":  # the page's 500@100 on SGLang's defaults, then the same with the radix cache off
        tuned = args.tuned.split()
        name = "no-radix" if tuned == ["--disable-radix-cache"] else "-".join(t.lstrip("-") for t in tuned)
        plan = [("default", []), (name, tuned)]
    elif args.mode == "all":  # one call: the page's scenarios on the defaults, then c100 with the radix cache off
        plan = [("default", rec), ("no-radix", [*rec, "--disable-radix-cache"])]
    else:
        plan = [("default", []), ("no-radix", ["--disable-radix-cache"]),
                ("mamba-ratio-3", ["--mamba-full-memory-ratio", "3.0"]),
                ("lazy-buffer", ["--mamba-radix-cache-strategy", "extra_buffer_lazy"])]
    servers = []
    try:
        for i, (name, flags) in enumerate(plan):
            need = (300 if i == 0 else 150)
            if left() < need:
                log(f"skip launch {name}: {left():.0f} s left, needs ~{need}")
                summary["launches"].append({"name": name, "flags": flags, "skipped": f"{left():.0f} s left"})
                break
            srv = Server(name, str(model.path), out, flags, env)
            servers.append(srv)
            entry = {"name": name, "flags": flags, "order": i}
            summary["launches"].append(entry)
            try:
                srv.wait_ready(min(420, left() - 30))
            except RuntimeError as exc:
                entry["error"] = str(exc)[-1500:]
                log(str(exc)[-600:])
                srv.stop()
                save()
                continue
            entry["ready_s"] = srv.ready_s
            entry["pools"] = srv.pools()
            save()
            # the first requests after a start compile Triton kernels for new shapes (a minute on a fresh host):
            # a few requests first, so no measured scenario pays for it
            summary["bench"].append({"launch": name, **warm_up(limit=max(10.0, min(240, left() - 60)))})
            save()
            if args.mode in ("page", "all") and i == 0:
                try:
                    summary["routing"] = expert_spread(str(model.path), out, rec_dir, args.stall)
                    log(f"routing: {json.dumps({k: v for k, v in summary['routing'].items() if k != 'per_layer'})}")
                except Exception as exc:  # the count is evidence, not the run: keep going
                    summary["routing"] = {"error": repr(exc)[-500:]}
                save()
                for scen, prompts, conc in PAGE:
                    guess = {"c1": 60, "c16": 60, "c100": 160}[scen]
                    if left() < guess + 20:
                        summary["bench"].append({"launch": name, "scenario": scen, "status": "skipped: no time"})
                        continue
                    r = bench(scen, str(model.path), out, prompts, conc, limit=left() - 20, stall=args.stall)
                    summary["bench"].append({"launch": name, **r})
                    save()
            elif args.mode == "c100" and i == 0:
                r = bench(shared.name if shared else "c100", str(model.path), out, args.c100_prompts, 100,
                          limit=min(args.c100_limit, left() - 150), stall=args.stall, scenario=shared)
                summary["bench"].append({"launch": name, **r})
            elif shared:  # the same scenario again; with too little time left, fewer groups (said in the record:
                # then evidence only, not a comparison: measured.flag_gains needs the same prompts)
                base = next((b for b in summary["bench"] if b.get("scenario") == shared.name and b.get("completed")),
                            None)
                scen = shared
                if base and left() < base["wall_s"] + 25:
                    groups = max(8, int(shared.prefix_groups * (left() - 25) / base["wall_s"]))
                    scen = shared_prefix_scenario(min(groups, shared.prefix_groups))
                r = bench(f"{name}-{shared.name}", str(model.path), out, scen.num_prompts, 100,
                          limit=left() - 15, stall=args.stall, scenario=scen)
                summary["bench"].append({"launch": name, **r})
            elif args.mode in ("all", "c100"):
                base = next((b for b in summary["bench"] if b.get("scenario") == "c100" and b.get("completed")), None)
                prompts = base["num_prompts"] if base else (args.c100_prompts if args.mode == "c100" else 500)
                if base and left() < base["wall_s"] + 25:  # fewer prompts, same concurrency: said in the record
                    prompts = max(100, int(prompts * (left() - 25) / base["wall_s"]) // 100 * 100)
                r = bench(f"{name}-c100", str(model.path), out, prompts, 100, limit=left() - 15, stall=args.stall)
                summary["bench"].append({"launch": name, **r})
            else:
                if left() < 100:
                    summary["bench"].append({"launch": name, "scenario": "c100", "status": "skipped: no time"})
                else:
                    r = bench(f"{name}-c100", str(model.path), out, args.tune_prompts, 100,
                              limit=min(200, left() - 20), stall=args.stall)
                    summary["bench"].append({"launch": name, **r})
            srv.stop()
            save()
    finally:
        for srv in servers:
            srv.stop()
        save()
        with tarfile.open(out / "logs.tar.gz", "w:gz") as tar:
            for srv in servers:
                data = trim_log(srv.log_path)
                info = tarfile.TarInfo(srv.log_path.name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        for srv in servers:
            srv.log_path.unlink(missing_ok=True)
        for f in rec_dir.glob("*.pt"):
            f.unlink()
        if rec_dir.exists():
            rec_dir.rmdir()
        log("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
