"""The Makefile's helper targets and the set-up scripts' options, run for real in a scratch copy of the repo."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def test_make_help_lists_every_target():
    out = subprocess.run(["make", "-s", "help"], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout
    targets = [line.split()[1] for line in out.splitlines() if line.startswith("  make ")]
    assert targets == ["help", "demo", "test", "test-fast", "lab", "lint", "lock", "lock-check", "clean",
                       "binder", "site"]
    assert "SYSTEM_PACKAGES=1" in out and "CONFIRM=1" in out


@pytest.fixture
def scratch(tmp_path):
    """A copy of the Makefile and scripts/ with the leftovers `make clean` is for, and things it must keep."""
    root = tmp_path / "repo"
    (root / "scripts").mkdir(parents=True)
    shutil.copy2(REPO_ROOT / "Makefile", root)
    for name in ("clean.sh", "bootstrap.sh"):
        shutil.copy2(REPO_ROOT / "scripts" / name, root / "scripts")
    leftovers = ["runs/20250101-000000/summary.md", "notebooks/runs/bench-1/result.jsonl",
                 "kimi_cookbook/__pycache__/x.pyc", ".pytest_cache/v", "build/lib/x", "dist/x.whl",
                 "kimi_cookbook.egg-info/PKG-INFO", "tests/artifacts/shot.png", "sglang_2025.jsonl",
                 "cache/tiny-model/model.gguf", "cache/logs/embedded-8000-20250101-000000-1.log"]
    kept = [".venv/bin/python", "notebooks/01_a.ipynb", "kimi_cookbook/data/config.json", "README.md"]
    for rel in leftovers + kept:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("x")
    (root / "cache/tiny-model/recipe.json").write_text('{"recipe": 3, "name": "kimi-cookbook-tiny", "build": "x"}')
    # not the outer make's variables: under `make test SYSTEM_PACKAGES=1` (CI) MAKEFLAGS would hand
    # SYSTEM_PACKAGES=1 to these sub-makes and MAKELEVEL makes them print "Entering directory"
    outer = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "SYSTEM_PACKAGES", "KIMI_COOKBOOK_APT")
    env = {k: v for k, v in os.environ.items() if k not in outer}
    env["KIMI_COOKBOOK_CACHE"] = str(root / "cache")
    return root, env, kept


def test_make_clean_lists_first_and_deletes_only_when_confirmed(scratch):
    root, env, kept = scratch
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    dry = subprocess.run(["make", "-s", "clean"], cwd=root, env=env, capture_output=True, text=True, check=True)
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before  # nothing removed
    listed = {line.split()[0] for line in dry.stdout.splitlines() if line.startswith("  ")}
    assert listed == {"./runs", "./notebooks/runs", "./kimi_cookbook/__pycache__", "./.pytest_cache", "./build",
                      "./dist", "./kimi_cookbook.egg-info", "./tests/artifacts", "./sglang_2025.jsonl",
                      str(root / "cache/tiny-model"), str(root / "cache/logs")}
    assert "would remove 11 path(s); run 'make clean CONFIRM=1'" in dry.stdout
    done = subprocess.run(["make", "-s", "clean", "CONFIRM=1"], cwd=root, env=env, capture_output=True, text=True,
                          check=True)
    assert "removed 11 path(s)" in done.stdout
    assert not (root / "cache").exists()  # emptied by the clean, so removed
    left = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert left == sorted(kept + ["Makefile", "scripts/bootstrap.sh", "scripts/clean.sh"])
    again = subprocess.run(["make", "-s", "clean"], cwd=root, env=env, capture_output=True, text=True, check=True)
    assert again.stdout.strip() == "clean: nothing to remove"


def test_bootstrap_options(scratch):
    root, env, _ = scratch
    bad = subprocess.run(["bash", "scripts/bootstrap.sh", "--yes-install-everything"], cwd=root, env=env,
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.strip() == ("bootstrap: unknown option '--yes-install-everything' "
                                  "(use --test, --with-system-packages)")
    usage = subprocess.run(["bash", "scripts/bootstrap.sh", "--help"], cwd=root, env=env, capture_output=True,
                           text=True, check=True).stdout
    assert "--with-system-packages" in usage and "KIMI_COOKBOOK_APT=1" in usage
    # system packages only on request: `make test` passes the flag only with SYSTEM_PACKAGES=1 (what .ci/run does)
    env.pop("KIMI_COOKBOOK_APT", None)
    plain = subprocess.run(["make", "-n", "test"], cwd=root, env=env, capture_output=True, text=True,
                           check=True).stdout
    asked = subprocess.run(["make", "-n", "test", "SYSTEM_PACKAGES=1"], cwd=root, env=env, capture_output=True,
                           text=True, check=True).stdout
    assert plain.splitlines()[0].strip() == "bash scripts/bootstrap.sh --test"
    assert asked.splitlines()[0] == "bash scripts/bootstrap.sh --test --with-system-packages"
    assert "make test SYSTEM_PACKAGES=1" in (REPO_ROOT / ".ci" / "run").read_text()
