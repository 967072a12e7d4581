#!/usr/bin/env bash
# Set up everything the cookbook needs on a fresh CPU machine (laptop or CI), into .venv at the repo root, at the
# exact versions of constraints.txt. Idempotent: a second run only installs what changed. Never installs a GPU
# stack (CUDA/ROCm wheels), and touches nothing outside .venv unless asked to.
#   scripts/bootstrap.sh          # notebooks + embedded server + SGLang's benchmark client: .[embedded,bench]
#   scripts/bootstrap.sh --test   # ... plus test and contributor tools: .[dev]
#   --with-system-packages        # also apt-get install what the browser test needs (Debian's chromium, nodejs);
#                                 # root only. Same as KIMI_COOKBOOK_APT=1. CI passes it (`make test SYSTEM_PACKAGES=1`).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv
PY="${PYTHON:-python3}"
want_test=0
want_apt=0
[ "${KIMI_COOKBOOK_APT:-0}" = 1 ] && want_apt=1
for arg in "$@"; do
  case "$arg" in
    --test) want_test=1 ;;
    --with-system-packages) want_apt=1 ;;
    -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bootstrap: unknown option '$arg' (use --test, --with-system-packages)" >&2; exit 2 ;;
  esac
done

step() { printf '\n==> %s\n' "$*"; }
start=$(date +%s)

if [ ! -x "$VENV/bin/python" ]; then
  step "creating $VENV with $($PY --version)"
  "$PY" -m venv "$VENV"
fi
# --no-warn-conflicts: pip's own check would list every requirement of SGLang (installed below with --no-deps) as
# missing, in a block starting "ERROR:"; the set-up runs `pip check` itself at the end, SGLang aside.
PIP=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-warn-conflicts -c constraints.txt)
"${PIP[@]}" --upgrade pip
# The packages go in with uv (its locked version, installed into the venv first): the same constraints, so the same
# exact versions as pip, but downloads and installs run in parallel, and llama.cpp compiles while the rest
# downloads. If uv cannot be installed here (no wheel for this platform), pip does it all, as before.
INSTALL=("${PIP[@]}")
if "${PIP[@]}" uv 2>/dev/null && "$VENV/bin/python" -m uv --version >/dev/null 2>&1; then
  # --compile-bytecode: as pip does; without it every notebook kernel compiles what it imports, again and again
  # where PYTHONDONTWRITEBYTECODE is set
  INSTALL=("$VENV/bin/python" -m uv pip install --quiet --compile-bytecode --python "$VENV/bin/python" \
    -c constraints.txt)
fi

extras=embedded,bench
[ "$want_test" = 1 ] && extras=dev
# llama.cpp is compiled for what the embedded server uses: libllama and ggml (text models). Not compiled: the
# multimodal library (LLAVA_BUILD=OFF) and llama.cpp's `common` helpers for its own command-line tools, which
# llama-cpp-python forces on but never loads (switched off right after llama.cpp's project() call): about 40% of
# the compile. Your own CMAKE_ARGS are kept, after these. A re-run in the same clone finds it installed; under uv a
# new clone compiles it again (measured: uv kept no built wheel across clones here), under pip the wheel cached by
# version (not by these flags) is reused as it is.
cmake_dir=$(mktemp -d)
trap 'rm -rf "$cmake_dir"' EXIT
printf 'set(LLAMA_BUILD_COMMON OFF CACHE BOOL "not used by the Python bindings" FORCE)\n' > "$cmake_dir/no-common.cmake"
export CMAKE_ARGS="-DLLAVA_BUILD=OFF -DCMAKE_PROJECT_llama.cpp_INCLUDE=$cmake_dir/no-common.cmake ${CMAKE_ARGS:-}"
step "the cookbook with [$extras] at the versions of constraints.txt (compiles llama.cpp once per clone)"
echo "    the first run compiles llama.cpp from source (the parts the embedded server uses): about 2 minutes on"
echo "    2 cores, with no output meanwhile; later runs in this clone take seconds"
# (setuptools' "Editable installation ... folders with the same name as your package" caution is about a layout
# this repository has on purpose: not shown)
PYTHONWARNINGS="ignore:Editable installation" "${INSTALL[@]}" -e ".[$extras]"

step "SGLang's benchmark client (sglang without its GPU dependencies)"
# The wheel is pure Python; bench_serving and few_shot_gsm8k need only the light packages of the [bench] extra.
# --no-deps keeps torch/CUDA out; constraints.txt gives the version. (The server itself runs in the GPU images.)
"${INSTALL[@]}" --no-deps sglang
# What pip check finds, SGLang's deliberately missing requirements aside: anything else is a broken set-up.
checked=$("$VENV/bin/python" -m pip check --disable-pip-version-check 2>&1 || true)
broken=$(printf '%s\n' "$checked" | grep -v -e '^sglang ' -e '^No broken requirements' -e '^$' || true)
if [ -n "$broken" ]; then
  printf '%s\n' "$broken" >&2
  echo "bootstrap: the venv has broken requirements (above); constraints.txt and pyproject.toml disagree: make lock" >&2
  exit 1
fi
echo "    left out on purpose: SGLang's own $(printf '%s\n' "$checked" | grep -c '^sglang ') requirements (torch, its CUDA"
echo "    kernels, the server's packages); the benchmark client needs only the [bench] extra"

if [ "$want_test" = 1 ]; then
  missing=()
  command -v node >/dev/null || missing+=(nodejs)
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$want_apt" = 1 ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
      step "Debian packages for the browser test (asked for): ${missing[*]}"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    elif [ "$want_apt" = 1 ]; then
      echo "bootstrap: --with-system-packages needs root and apt-get; install ${missing[*]} yourself" >&2
      exit 1
    else
      step "not installed: ${missing[*]} (the browser test needs them; it is skipped locally, required in CI)." \
        "Install them with your package manager, or as root: scripts/bootstrap.sh --test --with-system-packages"
    fi
  fi
fi

"$VENV/bin/python" -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (cookbook)" >/dev/null
# tests/test_lock.py compares this venv with constraints.txt when it finds this mark (a venv made here)
grep -qx 'extras=dev' "$VENV/kimi-cookbook-setup.txt" 2>/dev/null || echo "extras=$extras" > "$VENV/kimi-cookbook-setup.txt"
step "set-up done in $(( $(date +%s) - start )) s"
