#!/usr/bin/env bash
# Print this repository's Binder link, derived from its GitHub remote (default: origin), so README needs no
# owner filled in. Binder builds the repository's binder/ folder and opens notebook 02.
#   scripts/binder-url.sh [REMOTE]        (make binder)
# Exit 1 with one line when there is no GitHub remote. The remote URL itself is never printed (it may hold a token).
set -euo pipefail
cd "$(dirname "$0")/.."
remote="${1:-origin}"
form="https://mybinder.org/v2/gh/<github-owner>/<github-repo>/HEAD?urlpath=lab/tree/notebooks/02_command_selector.ipynb"
if ! url=$(git remote get-url "$remote" 2>/dev/null); then
  echo "no git remote '$remote': push this repository to GitHub first (the link has the form $form)" >&2
  exit 1
fi
case "$url" in
  *github.com[:/]*) path=${url#*github.com[:/]} ;;
  *) echo "git remote '$remote' is not on GitHub: Binder's gh/ links need a GitHub repository" >&2; exit 1 ;;
esac
path=${path%.git}
path=${path%/}
if ! [[ "$path" =~ ^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$ ]]; then
  echo "git remote '$remote' does not name a GitHub owner/repository" >&2
  exit 1
fi
echo "https://mybinder.org/v2/gh/${path}/HEAD?urlpath=lab/tree/notebooks/02_command_selector.ipynb"
