"""Shared fixtures. ``embedded_server``: a real OpenAI-compatible server with a tiny local model.
``notebook_run``: every cookbook notebook executed once per test session, as `kimi-cookbook demo` runs them; the
tests that need an executed notebook read that run (none executes a notebook with the demo's parameters again).

Markers (registered in pyproject.toml): ``slow`` (a server, a notebook execution or a build: left out by
``make test-fast``), ``network`` (needs the package index: pip or pre-commit installs; run in CI)."""

from __future__ import annotations

import os
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
    from kimi_cookbook.demo import run_demo

    server = request.getfixturevalue("embedded_server")
    run_dir = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("KIMI_COOKBOOK_RUNS", raising=False)  # the demo keeps result folders under RUN/results
        rc = run_demo(base_url=server.base_url, run_dir=run_dir, notebook_dir=NOTEBOOK_DIR)
    return NotebookRun(run_dir, rc, False, names)


def pytest_collection_modifyitems(config, items):
    """``slow`` for every test that uses the session's server or notebook run (so `-m "not slow"` never starts
    them), on top of the markers set in the modules."""
    for item in items:
        if {"embedded_server", "notebook_run"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
