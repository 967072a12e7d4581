"""constraints.txt, the lock of what was tested, checked offline: it pins every dependency pyproject.toml declares
(every extra) at a version that satisfies it, the set-up installs exactly it, the locked set is complete and
consistent on this platform (every requirement of every package it reaches is pinned and met, nothing unreached is
pinned), and the pre-commit hooks pin the same versions.

Nothing here asks the package index, so the verdict does not change when new releases appear. Whether the lock is
still what `make lock` would resolve is a maintainer's question: `make lock-check` (`scripts/lock.py --check`)."""

import json
import os
import re
import subprocess
import sys
import tomllib
from importlib import metadata
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
# installed with --no-deps (scripts/bootstrap.sh): its own requirements would pull the GPU stack
NO_DEPS = {"sglang"}
# what the set-up installs besides the package's [dev] extra (scripts/lock.py resolves it too: "installer")
INSTALLER = ["pip"]


def lock_text(path: Path | None = None) -> str:
    """The lock under test: $KIMI_COOKBOOK_LOCK when set (to show a changed lock fails), else constraints.txt."""
    return Path(path or os.environ.get("KIMI_COOKBOOK_LOCK") or LOCK).read_text()


def lock_requirements(text: str | None = None) -> list[Requirement]:
    reqs = []
    for line in (text if text is not None else lock_text()).splitlines():
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


def declared() -> dict[str, list[Requirement]]:
    """pyproject.toml's requirements by where they are declared: "dependencies" and each extra, [serve] included."""
    project = PYPROJECT["project"]
    groups = {"dependencies": project["dependencies"], **project["optional-dependencies"]}
    return {group: [Requirement(raw) for raw in reqs] for group, reqs in groups.items()}


def test_lock_pins_exact_versions_and_is_generated():
    text = lock_text()
    assert "make lock" in text and "resolved with uv --exclude-newer 20" in text
    reqs = lock_requirements(text)
    assert len(reqs) > 100  # the full set-up: notebooks, embedded server, bench client, test tools
    for req in reqs:
        assert len(req.specifier) == 1 and next(iter(req.specifier)).operator == "==", str(req)
    pins = pins_here(reqs)
    for name in ("pip", "sglang", "llama-cpp-python", "jupyterlab", "pytest", "ruff", "openai", "pandas"):
        assert name in pins, f"{name} is not in constraints.txt"


def test_lock_covers_every_declared_dependency():
    """Each dependency of the package and of every extra ([embedded], [bench], [dev] and [serve]'s SGLang pin) is
    locked, on every platform the lock resolves for, at a version that satisfies pyproject.toml: adding or raising
    one without `make lock` fails here."""
    reqs = lock_requirements()
    by_name: dict[str, list[Requirement]] = {}
    for req in reqs:
        by_name.setdefault(canonicalize_name(req.name), []).append(req)
    groups = declared()
    assert set(groups) == {"dependencies", "embedded", "bench", "dev", "serve"}, "a new extra: say here what it is"
    unmet = []
    for group, group_reqs in groups.items():
        for req in group_reqs:
            name = canonicalize_name(req.name)
            if name == SELF:
                continue
            locked = by_name.get(name, [])
            versions = [next(iter(pin.specifier)).version for pin in locked]
            if not versions or not all(req.specifier.contains(v, prereleases=True) for v in versions):
                unmet.append(f"[{group}] {req} (locked: {', '.join(versions) or 'missing'})")
    assert unmet == [], "run `make lock`: " + "; ".join(unmet)
    # SGLang: installed with --no-deps from the lock; the [serve] extra for GPU hosts names exactly that version
    serve = next(r for r in groups["serve"] if canonicalize_name(r.name) == "sglang")  # beside it: SGLang's router
    assert str(serve.specifier) == f"=={pins_here(reqs)['sglang']}"


def test_a_lock_with_one_pin_changed_fails_the_coverage_check(tmp_path):
    """The check above has teeth: the committed lock with one declared pin moved outside its specifier fails."""
    text = lock_text(LOCK)
    changed = re.sub(r"^sglang==[\w.]+", "sglang==0.5.6", text, count=1, flags=re.M)
    assert changed != text
    env = {**os.environ, "KIMI_COOKBOOK_LOCK": str(tmp_path / "constraints.txt"),
           "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}  # a plain pytest run: no installed plugin needed, none loaded
    (tmp_path / "constraints.txt").write_text(changed)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           f"{__file__}::test_lock_covers_every_declared_dependency"],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "sglang[all]==0.5.7 (locked: 0.5.6)" in proc.stdout, proc.stdout[-3000:]


def test_pre_commit_hooks_pin_the_locked_versions():
    pins = pins_here(lock_requirements())
    config = (REPO_ROOT / ".pre-commit-config.yaml").read_text()
    hook_pins = re.findall(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([\w.]+)", config)
    assert {name for name, _ in hook_pins} >= {"ruff", "nbstripout", "pre-commit-hooks", "papermill"}
    for name, version in hook_pins:
        assert pins.get(canonicalize_name(name)) == version, f"{name}=={version} in .pre-commit-config.yaml: make lock"


def set_up_venv_only():
    if not SETUP_MARK.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{sys.prefix} was not made by scripts/bootstrap.sh (no {SETUP_MARK.name})")
        pytest.skip(f"not the venv of scripts/bootstrap.sh ({sys.prefix}): nothing to compare")
    assert "extras=dev" in SETUP_MARK.read_text()


def test_the_set_up_installed_exactly_the_lock():
    """The venv scripts/bootstrap.sh made (`make test`) holds the locked version of every package, and nothing
    else (the editable cookbook itself and python -m venv's own setuptools aside)."""
    set_up_venv_only()
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


def requirements_of(dist: metadata.Distribution, extras: set[str]) -> list[Requirement]:
    """What ``dist`` requires here with ``extras`` asked for (environment markers evaluated as pip does)."""
    reqs = []
    for raw in dist.requires or []:
        req = Requirement(raw)
        if req.marker is None or any(req.marker.evaluate({"extra": extra}) for extra in extras | {""}):
            reqs.append(req)
    return reqs


def test_the_locked_set_is_complete_and_consistent_here():
    """What a resolver would check, done offline from the installed packages' own metadata: starting from
    pyproject.toml's [dev] set (and pip), every requirement reached is installed at a version that meets it, and
    every locked package for this platform is reached (the lock has no stale pin). SGLang is reached but its
    requirements are not followed (installed with --no-deps)."""
    set_up_venv_only()
    locked = pins_here(lock_requirements())
    start = [Requirement(f"{SELF}[dev]"), *(Requirement(r) for r in INSTALLER), *declared()["serve"]]
    reached: dict[str, set[str]] = {}  # name -> extras already followed
    queue = [(req, "pyproject.toml") for req in start]
    unmet = []
    while queue:
        req, wanted_by = queue.pop()
        name = canonicalize_name(req.name)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            unmet.append(f"{req} (wanted by {wanted_by}): not installed")
            continue
        if not req.specifier.contains(dist.version, prereleases=True):
            unmet.append(f"{req} (wanted by {wanted_by}): {dist.version} installed")
        extras = {canonicalize_name(e) for e in req.extras}
        seen = reached.get(name)
        if seen is not None and extras <= seen:
            continue
        reached[name] = (seen or set()) | extras
        if name in NO_DEPS:
            continue
        for sub in requirements_of(dist, reached[name]):
            queue.append((sub, name))
    assert unmet == [], "requirements the lock does not meet (run `make lock`): " + "; ".join(sorted(unmet))
    stale = sorted(locked.keys() - reached.keys())
    assert stale == [], f"locked but required by nothing here (run `make lock`): {stale}"
