"""constraints.txt, the lock of what was tested: the set-up installs exactly it, it covers pyproject.toml, and it is
what its documented command (`make lock`, scripts/lock.py) produces."""

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO_ROOT = Path(__file__).resolve().parent.parent
LOCK = REPO_ROOT / "constraints.txt"
PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
SETUP_MARK = Path(sys.prefix) / "kimi-cookbook-setup.txt"  # written by scripts/bootstrap.sh into its venv
# in a venv by `python -m venv`, not installed by the set-up (pip is: bootstrap upgrades it from the lock)
VENV_SEEDS = {"setuptools", "wheel"}
SELF = "kimi-cookbook"


def lock_requirements(text: str | None = None) -> list[Requirement]:
    reqs = []
    for line in (text if text is not None else LOCK.read_text()).splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            reqs.append(Requirement(line))
    return reqs


def pins_here(reqs: list[Requirement]) -> dict[str, str]:
    """name -> version of the pins whose environment marker holds on this interpreter and platform."""
    pins = {}
    for req in reqs:
        if req.marker is None or req.marker.evaluate():
            (spec,) = req.specifier
            assert spec.operator == "==", f"{req}: the lock pins exact versions only"
            name = canonicalize_name(req.name)
            assert name not in pins, f"{name} pinned twice for this platform"
            pins[name] = spec.version
    return pins


def test_lock_pins_exact_versions_and_is_generated():
    text = LOCK.read_text()
    assert "make lock" in text and "resolved with uv --exclude-newer 20" in text
    reqs = lock_requirements(text)
    assert len(reqs) > 100  # the full set-up: notebooks, embedded server, bench client, test tools
    for req in reqs:
        assert len(req.specifier) == 1 and next(iter(req.specifier)).operator == "==", str(req)
    pins = pins_here(reqs)
    for name in ("pip", "sglang", "llama-cpp-python", "jupyterlab", "pytest", "ruff", "openai", "pandas"):
        assert name in pins, f"{name} is not in constraints.txt"


def test_lock_covers_every_declared_dependency():
    """Each dependency of the package and of its [embedded], [bench] and [dev] extras is locked at a version that
    satisfies pyproject.toml: adding one without `make lock` fails here."""
    pins = pins_here(lock_requirements())
    project = PYPROJECT["project"]
    declared = list(project["dependencies"])
    for extra in ("embedded", "bench", "dev"):
        declared += project["optional-dependencies"][extra]
    unmet = []
    for raw in declared:
        req = Requirement(raw)
        name = canonicalize_name(req.name)
        if name == SELF or (req.marker is not None and not req.marker.evaluate()):
            continue
        if name not in pins or not req.specifier.contains(pins[name], prereleases=True):
            unmet.append(f"{raw} (locked: {pins.get(name, 'missing')})")
    assert unmet == [], "run `make lock`: " + ", ".join(unmet)
    # SGLang: installed with --no-deps from the lock; the [serve] extra for GPU hosts names the same version
    (serve,) = project["optional-dependencies"]["serve"]
    assert Requirement(serve).specifier.contains(pins["sglang"])


def test_pre_commit_hooks_pin_the_locked_versions():
    pins = pins_here(lock_requirements())
    config = (REPO_ROOT / ".pre-commit-config.yaml").read_text()
    hook_pins = re.findall(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([\w.]+)", config)
    assert {name for name, _ in hook_pins} >= {"ruff", "nbstripout", "pre-commit-hooks", "papermill"}
    for name, version in hook_pins:
        assert pins.get(canonicalize_name(name)) == version, f"{name}=={version} in .pre-commit-config.yaml: make lock"


def test_the_set_up_installed_exactly_the_lock():
    """The venv scripts/bootstrap.sh made (`make test`) holds the locked version of every package, and nothing
    else (the editable cookbook itself and python -m venv's own setuptools aside)."""
    if not SETUP_MARK.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{sys.prefix} was not made by scripts/bootstrap.sh (no {SETUP_MARK.name})")
        pytest.skip(f"not the venv of scripts/bootstrap.sh ({sys.prefix}): nothing to compare")
    assert "extras=dev" in SETUP_MARK.read_text()
    listed = subprocess.run([sys.executable, "-m", "pip", "list", "--format", "json", "--disable-pip-version-check"],
                            capture_output=True, text=True, check=True).stdout
    installed = {canonicalize_name(d["name"]): d["version"] for d in json.loads(listed)}
    installed.pop(SELF, None)
    locked = pins_here(lock_requirements())
    for seed in VENV_SEEDS - locked.keys():
        installed.pop(seed, None)
    wrong = [f"{n} {installed[n]} (locked {v})" for n, v in sorted(locked.items()) if n in installed
             and installed[n] != v]
    missing = sorted(locked.keys() - installed.keys())
    extra = [f"{n} {installed[n]}" for n in sorted(installed.keys() - locked.keys())]
    assert (wrong, missing, extra) == ([], [], []), (
        f"the venv differs from constraints.txt: other version {wrong}, not installed {missing}, not locked {extra}")
    assert len(installed) == len(locked)


def test_lock_is_what_make_lock_resolves():
    """`scripts/lock.py --check` re-resolves pyproject.toml with the date recorded in the lock (uv --exclude-newer):
    the same file comes out, so the lock is exactly its documented command's output. Needs PyPI and uv (in the
    [dev] extra)."""
    if subprocess.run([sys.executable, "-m", "uv", "--version"], capture_output=True).returncode != 0:
        if os.environ.get("CI"):
            pytest.fail("uv is not installed in the test venv (it is in the [dev] extra)")
        pytest.skip("uv is not installed (pip install -c constraints.txt uv)")
    proc = subprocess.run([sys.executable, "scripts/lock.py", "--check"], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "constraints.txt is current" in proc.stderr
