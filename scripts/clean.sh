#!/usr/bin/env bash
# What `make clean` removes: leftovers that do not depend on the venv (.venv itself is kept). Lists them first;
# deletes only with --delete (`make clean CONFIRM=1`).
#   runs/ folders (demo and benchmark results), SGLang's bench client's result files at the root, build/ dist/
#   *.egg-info, tests/artifacts/, Python/pytest/ruff caches, and the cookbook's own cache ($KIMI_COOKBOOK_CACHE or
#   ~/.cache/kimi-cookbook: the tiny model, rebuilt in seconds, and server logs).
set -euo pipefail
cd "$(dirname "$0")/.."
delete=0
case "${1:-}" in
  --delete) delete=1 ;;
  "") ;;
  *) echo "clean: unknown option '$1' (use --delete)" >&2; exit 2 ;;
esac

cache="${KIMI_COOKBOOK_CACHE:-$HOME/.cache/kimi-cookbook}"
targets=()
while IFS= read -r -d '' p; do targets+=("$p"); done < <(
  find . -path ./.venv -prune -o -path ./.git -prune -o \
    \( -type d \( -name runs -o -name __pycache__ -o -name .pytest_cache -o -name .ruff_cache \
                 -o -name .ipynb_checkpoints -o -name '*.egg-info' \) -prune -print0 \)
  for p in build dist tests/artifacts ./sglang_*.jsonl ./vllm_*.jsonl; do [ -e "$p" ] && printf '%s\0' "./${p#./}"; done
  [ -e "$cache" ] && printf '%s\0' "$cache"
  true
)
if [ "${#targets[@]}" = 0 ]; then
  echo "clean: nothing to remove"
  exit 0
fi
for p in "${targets[@]}"; do printf '  %s  (%s)\n' "$p" "$(du -sh "$p" 2>/dev/null | cut -f1)"; done
if [ "$delete" = 1 ]; then
  rm -rf -- "${targets[@]}"
  echo "clean: removed ${#targets[@]} path(s)"
else
  echo "clean: would remove ${#targets[@]} path(s); run 'make clean CONFIRM=1' to delete them"
fi
