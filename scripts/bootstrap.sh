#!/usr/bin/env bash
# Set up everything the cookbook needs on a fresh CPU machine (laptop or CI), into .venv at the repo root.
# Idempotent: a second run only installs what changed. Never installs a GPU stack (CUDA/ROCm wheels).
#   scripts/bootstrap.sh          # notebooks + embedded server + SGLang's benchmark client
#   scripts/bootstrap.sh --test   # ... plus test tools (and, as root with apt-get, Debian's chromium/nodejs)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv
PY="${PYTHON:-python3}"
want_test=0
[ "${1:-}" = "--test" ] && want_test=1

step() { printf '\n==> %s\n' "$*"; }
start=$(date +%s)

if [ ! -x "$VENV/bin/python" ]; then
  step "creating $VENV with $($PY --version)"
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
fi
PIP=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)

step "notebook requirements (requirements.txt) and the embedded server"
reqs=(-r requirements.txt)
for f in requirements-embedded.txt requirements-bench.txt; do [ -f "$f" ] && reqs+=(-r "$f"); done
if [ "$want_test" = 1 ] && [ -f requirements-dev.txt ]; then reqs+=(-r requirements-dev.txt); fi
"${PIP[@]}" "${reqs[@]}"

step "SGLang's benchmark client (sglang==0.5.7 without its GPU dependencies)"
# The 0.5.7 wheel is pure Python; bench_serving and few_shot_gsm8k need only the light packages listed in
# requirements-bench.txt. --no-deps keeps torch/CUDA out. (The server itself runs in the GPU images.)
"${PIP[@]}" --no-deps "sglang==0.5.7"

if [ "$want_test" = 1 ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  missing=()
  command -v node >/dev/null || missing+=(nodejs)
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  if [ "${#missing[@]}" -gt 0 ]; then
    step "Debian packages for the tests: ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi

"$VENV/bin/python" -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (cookbook)" >/dev/null
step "set-up done in $(( $(date +%s) - start )) s"
