#!/usr/bin/env bash
# What `make clean` removes: leftovers that do not depend on the venv (.venv itself is kept). Lists them first;
# deletes only with --delete (`make clean CONFIRM=1`).
#   In the project: runs/ folders (demo and benchmark results), SGLang's bench client's result files at the root,
#   build/ dist/ *.egg-info, tests/artifacts/, Python/pytest/ruff caches.
#   In the cookbook's cache ($KIMI_COOKBOOK_CACHE or ~/.cache/kimi-cookbook) only what the cookbook provably made:
#   tiny-model/ and tiny-kimi-linear/ (each stamped with the cookbook's recipe.json), the server logs in logs/
#   (embedded-*.log, sglang-*.log), half-finished builds (.tiny-model-*, .tiny-kimi-*) and their lock files.
#   Nothing else there is touched, whatever the variable points at (a home folder, the repository).
# A symlink is never followed: one in place of an entry is left alone (and said so), and no path ends in '/'.
set -euo pipefail
cd "$(dirname "$0")/.."
delete=0
case "${1:-}" in
  --delete) delete=1 ;;
  "") ;;
  *) echo "clean: unknown option '$1' (use --delete)" >&2; exit 2 ;;
esac

cache="${KIMI_COOKBOOK_CACHE:-$HOME/.cache/kimi-cookbook}"
while [ "${#cache}" -gt 1 ] && [ "${cache%/}" != "$cache" ]; do cache="${cache%/}"; done

real_dir() { [ -d "$1" ] && [ ! -L "$1" ]; }
real_file() { [ -f "$1" ] && [ ! -L "$1" ]; }
# a model folder the cookbook built: a real folder whose real recipe.json names the cookbook's model
stamped() { real_dir "$1" && real_file "$1/recipe.json" && grep -q "\"name\": *\"$2\"" "$1/recipe.json"; }

targets=()   # removed whole (rm -rf)
logs=()      # server log files, removed one by one (the logs/ folder only if that leaves it empty)
skipped=()
while IFS= read -r -d '' p; do targets+=("$p"); done < <(
  find . -path ./.venv -prune -o -path ./.git -prune -o \
    \( -type d \( -name runs -o -name __pycache__ -o -name .pytest_cache -o -name .ruff_cache \
                 -o -name .ipynb_checkpoints -o -name '*.egg-info' \) -prune -print0 \)
  for p in build dist tests/artifacts ./sglang_*.jsonl ./vllm_*.jsonl; do
    [ -e "$p" ] && [ ! -L "$p" ] && printf '%s\0' "./${p#./}"
  done
  true
)
for p in build dist tests/artifacts; do [ -L "$p" ] && skipped+=("./$p (a symlink)"); done

if [ -L "$cache" ] && [ ! -d "$cache" ]; then
  skipped+=("$cache (a symlink to no folder)")
elif [ -d "$cache" ]; then
  for entry in tiny-model:kimi-cookbook-tiny tiny-kimi-linear:kimi-cookbook-tiny-kimi-linear; do
    name="${entry%%:*}" stamp="${entry#*:}"
    if stamped "$cache/$name" "$stamp"; then
      targets+=("$cache/$name")
    elif [ -e "$cache/$name" ] || [ -L "$cache/$name" ]; then
      skipped+=("$cache/$name (not a model folder the cookbook built)")
    fi
  done
  for p in "$cache"/.tiny-model-* "$cache"/.tiny-kimi-*; do
    real_dir "$p" && targets+=("$p")
  done
  for p in "$cache/.tiny-model.lock" "$cache/.tiny-kimi-linear.lock"; do
    real_file "$p" && targets+=("$p")
  done
  if real_dir "$cache/logs"; then
    for p in "$cache"/logs/embedded-*.log "$cache"/logs/sglang-*.log; do
      real_file "$p" && logs+=("$p")
    done
  elif [ -L "$cache/logs" ]; then
    skipped+=("$cache/logs (a symlink)")
  fi
fi

for s in "${skipped[@]+"${skipped[@]}"}"; do printf '  kept: %s\n' "$s"; done
n=$(( ${#targets[@]} + ${#logs[@]} ))
if [ "$n" = 0 ]; then
  echo "clean: nothing to remove"
  exit 0
fi
for p in "${targets[@]+"${targets[@]}"}"; do printf '  %s  (%s)\n' "$p" "$(du -sh "$p" 2>/dev/null | cut -f1)"; done
[ "${#logs[@]}" = 0 ] || printf '  %s  (%s server log(s))\n' "$cache/logs" "${#logs[@]}"
if [ "$delete" = 1 ]; then
  [ "${#targets[@]}" = 0 ] || rm -rf -- "${targets[@]}"
  [ "${#logs[@]}" = 0 ] || rm -f -- "${logs[@]}"
  rmdir -- "$cache/logs" 2>/dev/null || true   # only if it is now empty
  [ -L "$cache" ] || rmdir -- "$cache" 2>/dev/null || true
  echo "clean: removed $n path(s)"
else
  echo "clean: would remove $n path(s); run 'make clean CONFIRM=1' to delete them"
fi
