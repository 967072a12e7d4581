"""Shared fixtures. ``embedded_server``: a real OpenAI-compatible server with a tiny local model.
``notebook_run``: every cookbook notebook executed once per test session, as `kimi-cookbook demo` runs them; the
tests that need an executed notebook read that run (none executes a notebook with the demo's parameters again).

Markers (registered in pyproject.toml): ``slow`` (a server, a notebook execution or a build: left out by
``make test-fast``), ``network`` (needs the package index: pip or pre-commit installs; run in CI)."""

from __future__ import annotations

import json
import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
# A folder `kimi-cookbook demo` made from this very checkout (CI: .ci/run runs `make demo RUN_DIR=runs/ci` first):
# the session reads it instead of executing every notebook again. Refused when it is not a complete, passing run
# of the current notebooks, or is older than the package or the notebooks.
DEMO_RUN_ENV = "KIMI_COOKBOOK_DEMO_RUN"


def _not_in_the_fast_tier(request, what: str) -> None:
    """`make test-fast` (-m "not slow ...") promises no server and no notebook execution: a test that reaches one
    without the ``slow`` marker (e.g. through request.getfixturevalue) fails instead of slowing the tier down."""
    if "not slow" in (request.config.option.markexpr or ""):
        pytest.fail(f"{request.node.nodeid} starts {what} but is not marked slow", pytrace=False)


@pytest.fixture(scope="session")
def embedded_server(request):
    """The embedded server (llama.cpp's OpenAI server, tiny local model) for the whole test session.

    Yields a ``kimi_cookbook.server.Server`` (``base_url``, ``model``, ``tokenizer_path``, ``kind``);
    stopped at the end of the session. The tiny model is cached under ``$KIMI_COOKBOOK_CACHE``.
    """
    from kimi_cookbook.server import connect

    _not_in_the_fast_tier(request, "the embedded server")

    with connect("embedded", progress=False, timeout_s=180) as srv:
        yield srv


@pytest.fixture(scope="session", autouse=True)
def results_outside_the_tree(tmp_path_factory):
    """Notebooks and the bench CLI write result folders under $KIMI_COOKBOOK_RUNS (default ./runs next to
    the notebook); keep the tests' ones in pytest's temporary folder, not in notebooks/runs/."""
    folder = tmp_path_factory.mktemp("runs")
    old = os.environ.get("KIMI_COOKBOOK_RUNS")
    os.environ["KIMI_COOKBOOK_RUNS"] = str(folder)
    yield folder
    if old is None:
        os.environ.pop("KIMI_COOKBOOK_RUNS", None)
    else:
        os.environ["KIMI_COOKBOOK_RUNS"] = old


@dataclass
class NotebookRun:
    """One demo run: ``run_dir`` holds each notebook executed by papermill (``NAME.ipynb``), ``summary.md`` and,
    under ``results/``, the benchmark notebooks' result folders. ``reused``: made by `make demo`, not here."""

    run_dir: Path
    rc: int
    reused: bool
    names: list[str] = field(default_factory=list)

    def path(self, name: str) -> Path:
        """The executed copy of the notebook whose name starts with ``name`` (``"05"``, ``"02_command_selector"``)."""
        (found,) = [n for n in self.names if n.startswith(name)]
        return self.run_dir / f"{found}.ipynb"

    def read(self, name: str):
        import nbformat

        return nbformat.read(self.path(name), as_version=4)

    def parameters(self, name: str) -> dict:
        """The parameters papermill passed to that notebook (as it records them in the executed copy)."""
        return dict(self.read(name).metadata.get("papermill", {}).get("parameters", {}))


def _code_sources(nb) -> dict:
    return {c.get("id"): c.source for c in nb.cells
            if c.cell_type == "code" and "injected-parameters" not in c.metadata.get("tags", [])}


def _check_reusable(run_dir: Path, names: list[str]) -> None:
    """A demo folder is read instead of a new run only when it is a passing run of every current notebook, with
    the same code cells, made after the last change to the package and the notebooks."""
    import nbformat

    summary = run_dir / "summary.md"
    if not summary.is_file():
        raise pytest.UsageError(f"{DEMO_RUN_ENV}={run_dir}: no summary.md there (not a `kimi-cookbook demo` folder)")
    first = summary.read_text().splitlines()[0]
    if first != f"# Cookbook run: {len(names)}/{len(names)} notebooks passed":
        raise pytest.UsageError(f"{DEMO_RUN_ENV}={run_dir}: '{first}': not a passing run of all {len(names)} "
                                "notebooks; unset it to execute them here")
    sources = [*(REPO_ROOT / "kimi_cookbook").rglob("*.py"), *(REPO_ROOT / "kimi_cookbook" / "data").iterdir(),
               *NOTEBOOK_DIR.glob("*.ipynb")]
    newest = max(sources, key=lambda p: p.stat().st_mtime)
    if newest.stat().st_mtime > summary.stat().st_mtime:
        raise pytest.UsageError(f"{DEMO_RUN_ENV}={run_dir}: older than {newest.relative_to(REPO_ROOT)}; "
                                "run `make demo` again or unset it")
    for name in names:
        ran = run_dir / f"{name}.ipynb"
        if not ran.is_file() or _code_sources(nbformat.read(ran, as_version=4)) != _code_sources(
                nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)):
            raise pytest.UsageError(f"{DEMO_RUN_ENV}={run_dir}: {name} is not the current notebook's run")


@pytest.fixture(scope="session")
def notebook_run(request, tmp_path_factory) -> NotebookRun:
    """Every cookbook notebook executed once for the whole session, exactly as `kimi-cookbook demo` runs them
    (``kimi_cookbook.demo.run_demo`` against the session's embedded server: ``BASE_URL`` and ``TOKENIZER`` set,
    every other parameter its default), or the demo folder named by $KIMI_COOKBOOK_DEMO_RUN (CI's `make demo`)."""
    from kimi_cookbook.runner import list_notebooks

    _not_in_the_fast_tier(request, "the notebooks' run")
    names = [p.stem for p in list_notebooks(NOTEBOOK_DIR)]
    given = os.environ.get(DEMO_RUN_ENV)
    if given:
        run_dir = Path(given).resolve()
        _check_reusable(run_dir, names)
        return NotebookRun(run_dir, 0, True, names)
    # One run for the whole suite, also with pytest-xdist (scripts/test.sh: -n CORES+1): the first worker that needs
    # it executes the notebooks into the run's shared temporary folder, under a lock; any other worker waits
    # and reads that folder. (The notebook_run tests also share one xdist group, so they seldom wait.)
    root = _shared_tmp(tmp_path_factory)
    run_dir, rc_file = root / "notebook-run", root / "notebook-run.rc"
    with _exclusive(root / "notebook-run.lock"):
        if not rc_file.is_file():
            from kimi_cookbook.demo import run_demo

            server = request.getfixturevalue("embedded_server")
            run_dir.mkdir()
            with pytest.MonkeyPatch.context() as mp:
                mp.delenv("KIMI_COOKBOOK_RUNS", raising=False)  # the demo keeps result folders under RUN/results
                rc = run_demo(base_url=server.base_url, run_dir=run_dir, notebook_dir=NOTEBOOK_DIR)
            rc_file.write_text(f"{rc}\n")
        rc = int(rc_file.read_text())
    return NotebookRun(run_dir, rc, False, names)


def _shared_tmp(tmp_path_factory) -> Path:
    """The temporary folder of this pytest run: under pytest-xdist each worker's basetemp is a sub-folder of it."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextmanager
def _exclusive(lock_path: Path):
    import fcntl

    with open(lock_path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)  # released when the file is closed (or the process dies)
        yield


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config, items):
    """``slow`` for every test that uses the session's server or notebook run (so `-m "not slow"` never starts
    them), on top of the markers set in the modules. ``xdist_group``: the tests of the session's notebook run
    share one group, and so do the tests of each module-scoped fixture (one worker makes it, once)."""
    groups = {}
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if {"embedded_server", "notebook_run"} & used:
            item.add_marker(pytest.mark.slow)
        group = _xdist_group(item, used)
        if group:
            item.add_marker(pytest.mark.xdist_group(group))
            groups[item.nodeid] = group
    if os.environ.get("PYTEST_XDIST_WORKER") and os.environ.get(_GROUPS_ENV):
        # for the controller's scheduler below: every worker collects the same tests, so any one's file will do
        Path(f"{os.environ[_GROUPS_ENV]}.{os.environ['PYTEST_XDIST_WORKER']}").write_text(json.dumps(groups))


def _xdist_group(item, used: set[str]) -> str | None:
    """Under pytest-xdist (`--dist loadgroup`), a fixture of module or session scope is made once per worker that
    runs one of its tests: the tests of the notebook run, and those of each module-scoped fixture (a wheel build,
    the site, a router fleet), go to one worker. The embedded server is left out on purpose: one per worker
    takes a second or two and lets its many tests spread over every core."""
    if "notebook_run" in used:
        return "notebook_run"
    info = getattr(item, "_fixtureinfo", None)
    for name in sorted(used):
        defs = info.name2fixturedefs.get(name, ()) if info else ()
        if defs and defs[-1].scope == "module":
            return f"{item.module.__name__}::{name}"
    return None


# pytest-xdist 3.8's `--dist loadgroup` tells the controller a test's group by appending "@GROUP" to its node id
# (item._nodeid), which pytest 9.2 no longer reads: every test would be scheduled alone. So the workers write their
# groups to a file and the controller's scheduler reads it (tests/test_parallel.py checks the groups hold).
_GROUPS_ENV = "KIMI_COOKBOOK_XDIST_GROUPS"


def pytest_configure(config):
    if not os.environ.get("PYTEST_XDIST_WORKER") and config.getoption("dist", "no") == "loadgroup":
        import tempfile

        folder = tempfile.mkdtemp(prefix="kimi-cookbook-xdist-")
        os.environ[_GROUPS_ENV] = os.path.join(folder, "groups.json")  # the workers start after this, with it
        config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    if config.getoption("dist", "no") != "loadgroup" or not os.environ.get(_GROUPS_ENV):
        return None
    from xdist.scheduler import LoadGroupScheduling

    class ByGroup(LoadGroupScheduling):
        """xdist's loadgroup scheduling, with the groups the workers wrote (a node id's "@GROUP" still counts)."""

        _groups: dict | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self._groups is None:
                written = sorted(Path(os.environ[_GROUPS_ENV]).parent.glob("groups.json.*"))
                self._groups = json.loads(written[0].read_text()) if written else {}
            group = self._groups.get(nodeid)
            return f"@{group}" if group else super()._split_scope(nodeid)

    return ByGroup(config, log)
