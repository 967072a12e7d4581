#!/usr/bin/env bash
# How docs/validation/ was produced: real SGLang on an offline NVIDIA Hopper host (Python 3.12 with
# torch 2.11.0+cu130 already installed, no network), from a wheel set made on a machine with PyPI:
#   .whl/     SGLang 0.5.16 and what its server and bench client import (shared/offline-gpu/make_wheels.sh)
#   .devwhl/  papermill, nbclient, ipykernel and friends, so smoke can run the notebooks there
# Usage (repo root):  bash docs/validation/offline_gpu_run.sh smoke|pools OUT_DIR
set -uo pipefail
what=${1:-smoke}; out=${2:-/tmp/out}; mkdir -p "$out"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
  .whl/*.whl .devwhl/*.whl >/dev/null 2>&1 || { echo "wheel install failed"; exit 1; }
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1
export TVM_FFI_CACHE_DIR=/tmp/jit/tvm TRITON_CACHE_DIR=/tmp/jit/triton FLASHINFER_WORKSPACE_BASE=/tmp/jit
export KIMI_COOKBOOK_CACHE=/tmp/kcache
nvidia-smi --query-gpu=name,memory.total,memory.used,driver_version --format=csv | tee "$out/nvidia-smi.csv"
py() { python3 -m kimi_cookbook "$@"; }
wait_log() {  # wait_log LOG PATTERN SECONDS
  for _ in $(seq 1 "$3"); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 1; done; return 1; }
if [ "$what" = smoke ]; then
  start=$(date +%s)
  py smoke --hardware h100 --tp 1 --mem-fraction-static 0.3 --run-dir "$out/smoke" \
    --extra-arg=--attention-backend=triton --extra-arg=--enable-metrics 2>&1 | tee "$out/smoke.txt"
  echo "smoke exit ${PIPESTATUS[0]} after $(( $(date +%s) - start )) s"
  nvidia-smi --query-gpu=memory.used --format=csv
  exit 0
fi
if [ "$what" = nooverlap ]; then  # one more pool launch (issue 15): extra_buffer without the overlap scheduler
  model=$(py tiny-model --arch kimi_linear 2>/dev/null | tail -1)
  python3 -m sglang.launch_server --model-path "$model" --tp 1 --trust-remote-code --context-length 8192 \
    --attention-backend triton --host 127.0.0.1 --port 30004 --mem-fraction-static 0.3 --disable-overlap-schedule \
    --disable-cuda-graph > "$out/nooverlap.log" 2>&1 &
  pid=$!
  wait_log "$out/nooverlap.log" "max_total_num_tokens=[0-9]" 240 && echo "nooverlap pools logged"
  kill $pid; sleep 3; pkill -9 -f sglang; exit 0
fi
# pools: launches that test the planner's prediction of SGLang's pools (issue 15), plus run_eval GSM8K,
# bench_serving's JSON record and /metrics captured against the first one.
model=$(py tiny-model --arch kimi_linear 2>/dev/null | tail -1)
base=(--model-path "$model" --tp 1 --trust-remote-code --context-length 8192 --attention-backend triton
      --host 127.0.0.1 --tool-call-parser kimi_k2)
launch() {  # launch NAME PORT FLAGS...
  local name=$1 port=$2; shift 2
  python3 -m sglang.launch_server "${base[@]}" --port "$port" "$@" > "$out/$name.log" 2>&1 &
  echo $! > "$out/$name.pid"; }
stop() { kill "$(cat "$out/$1.pid")" 2>/dev/null; sleep 3; pkill -9 -f "sglang" 2>/dev/null; sleep 2; }
t0=$(date +%s)
launch mfs06 30001 --mem-fraction-static 0.6 --enable-metrics
wait_log "$out/mfs06.log" "fired up and ready" 400 && echo "mfs06 ready after $(( $(date +%s) - t0 )) s"
curl -s 127.0.0.1:30001/metrics > "$out/metrics_before.txt"
python3 -m sglang.bench_serving --backend sglang --base-url http://127.0.0.1:30001 --dataset-name random-ids \
  --random-input-len 128 --random-output-len 32 --random-range-ratio 1 --num-prompts 20 --max-concurrency 4 \
  --tokenizer "$model" --output-file "$out/bench_client.jsonl" > "$out/bench_0.5.16.txt" 2>&1
python3 -m sglang.bench_serving --backend sglang --base-url http://127.0.0.1:30001 --dataset-name random \
  --num-prompts 2 --tokenizer "$model" > "$out/bench_random_offline.txt" 2>&1
curl -s 127.0.0.1:30001/metrics > "$out/metrics.txt"
(cd /tmp && python3 -m sglang.test.run_eval --eval-name gsm8k --gsm8k-data-path "$OLDPWD/kimi_cookbook/data/gsm8k_sample.jsonl" \
  --num-examples 10 --api completion --base-url http://127.0.0.1:30001 --model "$model" > "$out/run_eval_gsm8k.txt" 2>&1)
curl -s 127.0.0.1:30001/get_server_info > "$out/server_info_mfs06.json"; curl -s 127.0.0.1:30001/server_info > "$out/server_info2_mfs06.json"
stop mfs06
t0=$(date +%s); launch default 30002
wait_log "$out/default.log" "max_total_num_tokens=[0-9]" 300; echo "default pools after $(( $(date +%s) - t0 )) s"; stop default
t0=$(date +%s); launch noradix 30003 --mem-fraction-static 0.3 --disable-radix-cache --max-running-requests 256 --disable-cuda-graph
wait_log "$out/noradix.log" "max_total_num_tokens=[0-9]" 200; echo "noradix after $(( $(date +%s) - t0 )) s"; stop noradix
t0=$(date +%s); launch nooverlap 30004 --mem-fraction-static 0.3 --disable-overlap-schedule --disable-cuda-graph
wait_log "$out/nooverlap.log" "max_total_num_tokens=[0-9]" 200; echo "nooverlap after $(( $(date +%s) - t0 )) s"; stop nooverlap
grep -hE "mem_fraction_static=|Load weight (begin|end)|Mamba Cache is allocated|KV Cache is allocated|max_total_num_tokens=" "$out"/*.log | cut -c1-400
