"""Packaging: the wheel and sdist build with the OLDEST build backend pyproject.toml declares, the wheel installs into
a fresh venv, and its CLI works from outside the checkout (so kimi_cookbook/data/ ships). Needs PyPI or pip's
cache for setuptools/build (pip's cache is reused: a few seconds after the first run)."""

import json
import re
import shutil
import subprocess
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

from installers import install_command

REPO_ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
LOCK = REPO_ROOT / "constraints.txt"
# builds and installs: setuptools and the wheel's dependencies come from the package index (or pip's cache)
pytestmark = [pytest.mark.slow, pytest.mark.network]


def oldest_backend() -> str:
    (req,) = PYPROJECT["build-system"]["requires"]
    m = re.fullmatch(r"setuptools>=([\d.]+)", req.replace(" ", ""))
    assert m, f"build-system.requires {req!r}: expected setuptools>=X"
    return f"setuptools=={m.group(1)}"


def run(cmd, **kw):
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=600, **kw)
    assert proc.returncode == 0, f"{cmd}: exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def make_venv(path: Path) -> Path:
    venv.EnvBuilder(with_pip=True).create(path)
    return path / "bin" / "python"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """sdist + wheel by `python -m build` and a wheel by `pip wheel .`, all with exactly the oldest setuptools
    pyproject.toml allows (no build isolation: the build venv holds that version and nothing newer)."""
    tmp = tmp_path_factory.mktemp("pkg")
    py = make_venv(tmp / "build-env")
    # the lock pins build and its dependencies, not setuptools
    run([*install_command(py), "-c", LOCK, oldest_backend(), "build"])
    # build from a copy of what makes the package, so the checkout gets no build/ or *.egg-info
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(REPO_ROOT / name, src / name)
    shutil.copytree(REPO_ROOT / "kimi_cookbook", src / "kimi_cookbook",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    run([py, "-m", "build", "--no-isolation", "--outdir", tmp / "dist", src])
    run([py, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", tmp / "pipwheel", src])
    return tmp


def test_build_and_pip_wheel_with_the_oldest_backend(built):
    version = PYPROJECT["project"]["version"]
    assert sorted(p.name for p in (built / "dist").iterdir()) == [
        f"kimi_cookbook-{version}-py3-none-any.whl", f"kimi_cookbook-{version}.tar.gz"]
    (wheel,) = (built / "pipwheel").glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    data = {f"kimi_cookbook/data/{p.name}" for p in (REPO_ROOT / "kimi_cookbook" / "data").iterdir()}
    assert data and data <= names, f"data files missing from the wheel: {sorted(data - names)}"
    meta = zipfile.ZipFile(wheel).read(f"kimi_cookbook-{version}.dist-info/METADATA").decode()
    assert "License-Expression: Apache-2.0" in meta and "License-File: LICENSE" in meta
    for extra in ("embedded", "bench", "dev", "serve"):
        assert f"Provides-Extra: {extra}" in meta
    assert f"kimi_cookbook-{version}.dist-info/licenses/LICENSE" in names


def test_wheel_installs_into_a_fresh_venv_and_its_cli_works_outside_the_checkout(built, tmp_path):
    """The wheel goes in with --no-deps plus what the command line imports when it loads (numpy, pandas, tqdm; the
    rest is imported inside subcommands): fast, and a proof that `--help` and `plan` need no more."""
    (wheel,) = (built / "dist").glob("*.whl")
    py = make_venv(tmp_path / "user-env")
    run([py, "-m", "pip", "install", "-q", "--no-deps", "--disable-pip-version-check", "-c", LOCK, wheel])
    run([*install_command(py), "-c", LOCK, "numpy", "pandas", "tqdm"])  # what the command line needs besides
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = {"PATH": f"{py.parent}:/usr/bin:/bin", "HOME": str(tmp_path)}  # no PYTHONPATH: the checkout is not seen
    where = run([py, "-c", "import kimi_cookbook; print(kimi_cookbook.__file__, kimi_cookbook.__version__)"],
                cwd=outside, env=env)
    assert str(tmp_path / "user-env") in where and where.split()[1] == PYPROJECT["project"]["version"]
    assert "plan" in run([py.parent / "kimi-cookbook", "--help"], cwd=outside, env=env)
    assert run([py.parent / "kimi-cookbook", "--version"], cwd=outside, env=env).strip() == (
        f"kimi-cookbook {PYPROJECT['project']['version']}")
    plan = json.loads(run([py, "-m", "kimi_cookbook", "plan", "--json", "--hardware", "mi300x", "--tp", "4"],
                          cwd=outside, env=env))
    assert plan["hardware"] == "mi300x" and plan["tp"] == 4  # read kimi_cookbook/data/kimi_linear_config.json
