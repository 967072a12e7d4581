#!/usr/bin/env bash
# The test suite: unit tests, every notebook under papermill + nbval, the real-server and browser tests.
# pytest's exit 5 ("no tests collected") is turned into a failure: an empty run must not pass.
set -uo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
# -n auto --dist loadgroup: one pytest-xdist worker per core; tests that share an expensive fixture (the notebooks'
# run, a wheel build, the site) stay on one worker (tests/conftest.py). Pass -n 0 to run in this process.
.venv/bin/python -m pytest -p no:cacheprovider --timeout=900 -n auto --dist loadgroup "$@"
rc=$?
if [ "$rc" = 5 ]; then echo "pytest collected no tests: failing" >&2; rc=1; fi
echo "test suite finished in $(( $(date +%s) - start )) s with exit status $rc"
exit "$rc"
