"""Regenerate constraints.txt, the exact versions the cookbook's full set-up installs (run by `make lock`).

    python scripts/lock.py            # resolve anew with what PyPI has now, write constraints.txt
    python scripts/lock.py --check    # resolve again with the date recorded in constraints.txt; exit 1 if it differs

What is resolved: the package with its [dev] extra (which includes [embedded] and [bench]: notebooks, embedded
server, SGLang's benchmark client, test and contributor tools) plus pip itself, for every platform and Python >= 3.11
(`uv pip compile --universal`). SGLang is appended apart: it is installed with --no-deps (its wheel is pure Python,
its dependencies would pull the GPU stack), at the version of the [serve] extra. The resolution time is recorded
and passed to uv as --exclude-newer (an RFC 3339 UTC timestamp, so no time zone applies). `--check` (`make
lock-check`) reproduces the file only while the index shows what it showed then: uv filters files by the upload time
the index reports, so a file uploaded before the recorded time but not yet visible when the lock was made (a mirror
catching up, a clock ahead of the index) comes through later, and a yanked one drops out. It is a maintainer's
question, never a test verdict: tests/test_lock.py checks the lock offline.
The pins of .pre-commit-config.yaml's additional_dependencies are rewritten to the locked versions.
Needs uv (in the [dev] extra): this interpreter's `-m uv`, else `uv` on PATH.
"""

from __future__ import annotations

import argparse
import difflib
import datetime as dt
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "constraints.txt"
PRE_COMMIT = ROOT / ".pre-commit-config.yaml"
DATE_LINE = "# resolved with uv --exclude-newer "
HEADER = """\
# The exact version of every package the cookbook's full set-up installs: notebooks, embedded server, SGLang's
# benchmark client, test and contributor tools (`pip install -e '.[dev]'` plus `pip install --no-deps sglang`).
# Tested on Linux x86_64 with Python 3.11 (CI); the pins for other platforms and Pythons are resolved, not tested.
# Used as pip constraints by scripts/bootstrap.sh (`make demo`, `make test`), requirements.txt, binder/ and CI:
#     pip install -c constraints.txt -e '.[dev]'
# Do not edit by hand. Refresh with `make lock` (scripts/lock.py: uv pip compile pyproject.toml --extra dev
# --universal --python-version 3.11), then run `make test`; tests/test_lock.py checks the set-up matches this file.
"""


def uv_command() -> list[str]:
    probe = subprocess.run([sys.executable, "-m", "uv", "--version"], capture_output=True)
    if probe.returncode == 0:
        return [sys.executable, "-m", "uv"]
    if shutil.which("uv"):
        return ["uv"]
    raise SystemExit("lock: uv is not installed: pip install -c constraints.txt uv (it is in the [dev] extra)")


def sglang_pin(pyproject: dict) -> str:
    for req in pyproject["project"]["optional-dependencies"]["serve"]:
        m = re.fullmatch(r"sglang(?:\[[^\]]*\])?==([\w.]+)", req.replace(" ", ""))
        if m:
            return f"sglang=={m.group(1)}"
    raise SystemExit("lock: the [serve] extra in pyproject.toml must pin sglang==VERSION")


def resolve(exclude_newer: str) -> str:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        extra_in = Path(tmp) / "installer.in"
        extra_in.write_text("pip\n")  # scripts/bootstrap.sh upgrades pip under the same constraints
        out = Path(tmp) / "constraints.txt"
        cmd = [*uv_command(), "pip", "compile", "pyproject.toml", str(extra_in), "--extra", "dev",
               "--universal", "--python-version", "3.11", "--exclude-newer", exclude_newer,
               "--no-header", "--annotation-style", "line", "--quiet", "-o", str(out)]
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"lock: uv pip compile failed:\n{proc.stderr.strip()}")
        body = out.read_text().replace(str(extra_in), "installer")
    sglang = sglang_pin(pyproject)
    return (f"{HEADER}{DATE_LINE}{exclude_newer}\n{body.rstrip()}\n"
            f"{sglang}  # installed with --no-deps (benchmark client); version of the [serve] extra\n")


def recorded_date(text: str) -> str:
    for line in text.splitlines():
        if line.startswith(DATE_LINE):
            return line[len(DATE_LINE):].strip()
    raise SystemExit(f"lock: {LOCK.name} has no '{DATE_LINE.strip()}' line: run `make lock`")


def locked_versions(text: str) -> dict[str, str]:
    """name -> version of the pins that apply to this interpreter and platform (environment markers evaluated)."""
    from packaging.requirements import Requirement  # in the [dev] set-up (a dependency of build and pytest)

    pins = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate():
                pins[req.name.lower()] = next(iter(req.specifier)).version
    return pins


def sync_pre_commit(lock_text: str) -> list[str]:
    """Rewrite the `name==version` pins of additional_dependencies in .pre-commit-config.yaml to the locked
    versions; returns what changed."""
    pins = locked_versions(lock_text)
    changed = []

    def repin_one(name: str, old: str, text: str) -> str:
        new = pins.get(name.lower())
        if new is None or new == old:
            return text
        changed.append(f"{name} {old} -> {new}")
        return f"{name}=={new}"

    def repin_list(m: re.Match) -> str:
        return re.sub(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([\w.]+)",
                      lambda p: repin_one(p.group(1), p.group(2), p.group(0)), m.group(0))

    text = re.sub(r"additional_dependencies:\s*\[[^\]]*\]", repin_list, PRE_COMMIT.read_text())
    if changed:
        PRE_COMMIT.write_text(text)
    return changed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="re-resolve with the recorded date and compare; write nothing")
    args = ap.parse_args(argv)
    if args.check:
        current = LOCK.read_text()
        fresh = resolve(recorded_date(current))
        if fresh != current:
            sys.stdout.writelines(difflib.unified_diff(
                current.splitlines(True), fresh.splitlines(True), "constraints.txt", "resolved now"))
            print("lock: constraints.txt is not what pyproject.toml resolves to: run `make lock`", file=sys.stderr)
            return 1
        print(f"lock: constraints.txt is current ({sum(1 for _ in locked_lines(current))} pins)", file=sys.stderr)
        return 0
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = resolve(now)
    LOCK.write_text(text)
    for change in sync_pre_commit(text):
        print(f"lock: .pre-commit-config.yaml: {change}", file=sys.stderr)
    print(f"lock: wrote {LOCK.name} ({sum(1 for _ in locked_lines(text))} pins, PyPI as of {now}); "
          "now run `make test`", file=sys.stderr)
    return 0


def locked_lines(text: str):
    return (line for line in text.splitlines() if line and not line.startswith("#") and "==" in line)


if __name__ == "__main__":
    raise SystemExit(main())
