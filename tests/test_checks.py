"""check-notebook, the README index, and the contributor checks CI shares with pre-commit."""

import json
import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import nbformat
import pytest

from kimi_cookbook.checks import (
    INDEX_END,
    INDEX_START,
    KERNELSPEC,
    check_execution,
    check_static,
    first_sentence,
    render_index,
    title_and_intro,
    update_index,
)
from kimi_cookbook.cli import main
from kimi_cookbook.runner import list_notebooks

from installers import UV, install_command

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO_ROOT / "notebooks"

BAD = Path(__file__).parent / "fixtures" / "bad_notebook.ipynb"
TEMPLATE = NOTEBOOK_DIR / "_template.ipynb"
REAL = list_notebooks(NOTEBOOK_DIR) + [TEMPLATE]
VENV_BIN = Path(sys.executable).parent


def good_notebook(tmp_path, cells=None, name="01_good.ipynb"):
    nb = nbformat.v4.new_notebook(cells=cells or [
        nbformat.v4.new_markdown_cell("# A title\n\nIt does one thing. More words."),
        nbformat.v4.new_code_cell('X = 1  # a number\nNAME = "a"', metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("print(X, NAME)"),
    ])
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    path = tmp_path / name
    nbformat.write(nb, path)
    return path


def checks_found(problems):
    return {p.check for p in problems}


def test_bad_fixture_trips_every_static_check():
    problems = check_static(BAD)
    assert checks_found(problems) == {"name", "title", "parameters", "stripped", "kernel", "secret", "helper-logic"}
    text = "\n".join(map(str, problems))
    assert "first cell must be markdown starting with '# '" in text
    assert "line 2: the parameters cell may only assign plain literals" in text
    assert "cells [3] have outputs" in text and "cells [3] have execution counts" in text
    assert "stores widget state" in text
    assert "kernelspec is {'display_name': 'Python 3'," in text
    assert "hard-coded Hugging Face token" in text and "hard-coded OpenAI-style API key" in text
    assert "password is set to a literal string" in text and "api_key is set to a literal string" in text
    assert "function 'summarize' is defined in the notebook (7 lines" in text
    assert "imports a loose module beside the notebook (utils)" in text
    # secrets are named, never echoed
    assert "hf_0000" not in text and "hunter2" not in text


@pytest.mark.slow
def test_bad_fixture_fails_to_execute():
    problems = check_execution([BAD])
    assert [p.check for p in problems] == ["execute"]
    assert "RuntimeError: this notebook does not run" in problems[0].message


def test_cli_reports_each_problem_and_exits_non_zero(capsys):
    assert main(["check-notebook", "--no-execute", str(BAD)]) == 1
    out = capsys.readouterr()
    lines = out.out.splitlines()
    assert len(lines) == len(check_static(BAD)) >= 10 and all(line.startswith(str(BAD)) for line in lines)
    assert "0/1 notebook(s) pass" in out.err


@pytest.mark.parametrize("path", REAL, ids=lambda p: p.name)
def test_every_real_notebook_passes_the_static_checks(path):
    assert [str(p) for p in check_static(path)] == []


@pytest.mark.slow
def test_the_full_check_executes_a_notebook(embedded_server, capsys):
    """check-notebook's execution mode, on one notebook: the template (the cookbook notebooks' execution is the
    session's run, tests/test_notebooks.py::test_every_notebook_executes), against the embedded server."""
    problems = check_execution([TEMPLATE], base_url=embedded_server.base_url)
    assert [str(p) for p in problems] == []
    assert f"executed {TEMPLATE} (ok, " in capsys.readouterr().err


@pytest.mark.slow
def test_clean_notebook_passes_and_cli_exits_zero(tmp_path, capsys):
    path = good_notebook(tmp_path)
    assert check_static(path) == []
    assert main(["check-notebook", str(path)]) == 0  # static checks and papermill execution
    assert "1/1 notebook(s) pass (static checks and execution)" in capsys.readouterr().err


def test_what_is_allowed(tmp_path):
    cells = [
        nbformat.v4.new_markdown_cell("# T\n\nIntro."),
        nbformat.v4.new_code_cell('BACKEND = "embedded"  # page: mi300x, or: h100\nSIZES = [1, 2]\nRATE: float = 0.5',
                                  metadata={"tags": ["parameters"]}),
        # placeholder keys local servers accept, env lookups, short helpers, magics, tokenizer paths
        nbformat.v4.new_code_cell('import os\nclient_args = dict(api_key="EMPTY")\n'
                                  'key = os.environ.get("SGLANG_API_KEY")\ntokenizer_path = "/models/tok"\n'
                                  "%matplotlib inline\n!echo hi\n"
                                  "def double(x):\n    return 2 * x\nMAX_TOKENS = 64"),
    ]
    assert check_static(good_notebook(tmp_path, cells)) == []
    assert check_static(good_notebook(tmp_path, cells, name="_draft.ipynb")) == []
    assert check_static(good_notebook(tmp_path, cells, name="04b_slotted_in.ipynb")) == []  # runs after 04_
    for bad in ("4b_x.ipynb", "04bb_x.ipynb", "04B_x.ipynb"):
        assert checks_found(check_static(good_notebook(tmp_path, cells, name=bad))) == {"name"}, bad


def test_papermill_unparsable_parameter_line_is_found(tmp_path):
    cells = [
        nbformat.v4.new_markdown_cell("# T\n\nIntro."),
        nbformat.v4.new_code_cell('HARDWARE = "mi300x"  # for BACKEND = "sglang": mi300x',
                                  metadata={"tags": ["parameters"]}),
    ]
    problems = check_static(good_notebook(tmp_path, cells))
    assert [p.check for p in problems] == ["parameters"]
    assert "papermill cannot parse the line assigning HARDWARE" in problems[0].message
    assert "avoid '=' in the comment" in problems[0].message


def test_kept_outputs_follow_the_nbval_rule(tmp_path):
    """Outputs only where nbval compares them: `# NBVAL_CHECK_OUTPUT` cells with keep_output, and there present."""
    printed = [nbformat.v4.new_output("stream", name="stdout", text="1\n")]
    cells = [
        nbformat.v4.new_markdown_cell("# T\n\nIntro."),
        nbformat.v4.new_code_cell("X = 1", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("# NBVAL_CHECK_OUTPUT\nprint(X)", metadata={"keep_output": True}, outputs=printed),
        nbformat.v4.new_code_cell("print(X)", metadata={"keep_output": True}, outputs=printed),  # 3: not checked
        nbformat.v4.new_code_cell("# NBVAL_CHECK_OUTPUT\nprint(X)"),  # 4: not kept
        nbformat.v4.new_code_cell("# NBVAL_CHECK_OUTPUT\nprint(X)", metadata={"keep_output": True}),  # 5: empty
        nbformat.v4.new_code_cell("print(X)", outputs=printed),  # 6: a loose output
    ]
    text = "\n".join(map(str, check_static(good_notebook(tmp_path, cells))))
    assert "cells [3] keep their outputs (keep_output) but do not start with `# NBVAL_CHECK_OUTPUT`" in text
    assert "cells [4] start with `# NBVAL_CHECK_OUTPUT` but lack keep_output metadata" in text
    assert "cells [5] start with `# NBVAL_CHECK_OUTPUT` but hold no committed output" in text
    assert "cells [6] have outputs" in text
    assert "cells [2]" not in text
    assert check_static(good_notebook(tmp_path, cells[:3])) == []  # a kept, checked output is fine


@pytest.mark.slow
def test_keep_outputs_stores_only_checked_cells(tmp_path, capsys):
    cells = [
        nbformat.v4.new_markdown_cell("# T\n\nIntro."),
        nbformat.v4.new_code_cell("X = 2", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("# NBVAL_CHECK_OUTPUT\nprint('kept', X)"),
        nbformat.v4.new_code_cell("print('stripped', X)"),
    ]
    path = good_notebook(tmp_path, cells)
    assert main(["keep-outputs", str(path)]) == 0
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[2].metadata["keep_output"] is True
    assert nb.cells[2].outputs[0]["text"] == "kept 2\n" and nb.cells[2].execution_count is None
    assert nb.cells[3].outputs == [] and "keep_output" not in nb.cells[3].metadata
    assert check_static(path) == []
    assert "1/1 notebook(s) refreshed" in capsys.readouterr().err


def test_more_problem_kinds(tmp_path):
    cells = [
        nbformat.v4.new_markdown_cell("# Only a title"),
        nbformat.v4.new_code_cell("A = 1", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("B = 2", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell('url = "http://x/lab?token=0123456789abcdef0123"\n'
                                  'headers = {"Authorization": "Bearer abcdefghijklmnopqrstuvwxyz012345"}'),
        nbformat.v4.new_code_cell("class Helper:\n" + "".join(f"    a{i} = {i}\n" for i in range(8))),
    ]
    text = "\n".join(map(str, check_static(good_notebook(tmp_path, cells))))
    assert "needs a short intro paragraph" in text
    assert "2 cells are tagged 'parameters'" in text
    assert "token in a URL" in text and "bearer token" in text
    assert "class 'Helper' is defined in the notebook (9 lines" in text
    broken = tmp_path / "02_broken.ipynb"
    broken.write_text("{not json")
    assert [p.check for p in check_static(broken)] == ["format"]


def test_missing_path_is_a_usage_error(capsys):
    assert main(["check-notebook", "--no-execute", "no/such.ipynb"]) == 2
    assert "no/such.ipynb: no such notebook" in capsys.readouterr().err


# --- README index ---------------------------------------------------------------------------------
def test_first_sentence_and_title():
    assert first_sentence("It runs (e.g. on a laptop). Then more.") == "It runs (e.g. on a laptop)."
    assert first_sentence("Uses `a.b. c` and v0.5.7 here. Next.") == "Uses `a.b. c` and v0.5.7 here."
    assert first_sentence("No full stop") == "No full stop"
    nb = {"cells": [{"cell_type": "markdown", "source": "# Title\n\nLine one\nline two.\n\nSecond paragraph."}]}
    assert title_and_intro(nb) == ("Title", "Line one line two.")


def test_index_lists_every_notebook_from_its_own_text():
    table = render_index(NOTEBOOK_DIR, REPO_ROOT)
    for path in list_notebooks(NOTEBOOK_DIR):
        title, intro = title_and_intro(json.loads(path.read_text()))
        assert f"[{title}](notebooks/{path.name})" in table.replace("\\|", "|").replace("\\[", "[").replace("\\]", "]")
        assert first_sentence(intro).split("`")[0] in table
    assert "_template" not in table


def test_update_index_touches_only_the_marked_block():
    readme = f"intro\n{INDEX_START}\nold\n{INDEX_END}\nrest\n"
    assert update_index(readme, "| new |") == f"intro\n{INDEX_START}\n| new |\n{INDEX_END}\nrest\n"
    with pytest.raises(ValueError, match="notebook-index:start"):
        update_index("no markers", "x")


def test_index_check_and_write(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text(f"# R\n{INDEX_START}\nstale\n{INDEX_END}\n")
    assert main(["index", "--check", "--readme", str(readme)]) == 1
    assert "stale: run `kimi-cookbook index --write`" in capsys.readouterr().err
    assert main(["index", "--write", "--readme", str(readme)]) == 0
    assert main(["index", "--check", "--readme", str(readme)]) == 0
    assert readme.read_text().startswith(f"# R\n{INDEX_START}\n| notebook | what it does |")


def test_repo_readme_index_is_current():
    """A new notebook can't be forgotten in README.md: run `kimi-cookbook index --write` after adding one."""
    assert main(["index", "--check"]) == 0


# --- the checks pre-commit runs, applied in CI ------------------------------------------------------
def test_ruff_is_clean():
    proc = subprocess.run([str(VENV_BIN / "ruff"), "check", "--output-format", "concise", "."], cwd=REPO_ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


@pytest.mark.slow
def test_tracked_notebooks_are_stripped():
    tracked = subprocess.run(["git", "ls-files", "*.ipynb"], cwd=REPO_ROOT, capture_output=True, text=True).stdout
    paths = [p for p in tracked.split() if not p.startswith("tests/fixtures/")]
    if not paths:
        pytest.skip("not a git checkout")
    proc = subprocess.run([str(VENV_BIN / "nbstripout"), "--keep-id", "--verify", *paths], cwd=REPO_ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow
@pytest.mark.network
def test_pre_commit_runs_from_any_venv(tmp_path):
    """`pre-commit run --all-files` passes in a throw-away clone, with pre-commit installed in a fresh venv that is
    not named .venv and with the project's venv nowhere on PATH: no hook depends on a particular environment.
    Each hook runs in its own environment, built from PyPI with pinned versions on first use and kept in
    pre-commit's cache (~/.cache/pre-commit), so later runs take seconds."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    lock = (REPO_ROOT / "constraints.txt").read_text()
    pin = re.search(r"^pre-commit==([^\s;#]+)", lock, re.M)
    assert pin, "pre-commit is not in constraints.txt"
    env_dir = tmp_path / "contrib-env"
    venv.EnvBuilder(with_pip=not UV.exists()).create(env_dir)  # pre-commit is not what is tested: see installers
    subprocess.run([*install_command(env_dir / "bin" / "python"), "-c", REPO_ROOT / "constraints.txt",
                    f"pre-commit=={pin.group(1)}"], check=True, timeout=300)
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO_ROOT), str(clone)], check=True)
    # the working tree's hook config, so an uncommitted edit of it is what is tested
    (clone / ".pre-commit-config.yaml").write_text((REPO_ROOT / ".pre-commit-config.yaml").read_text())
    assert not (clone / ".venv").exists()
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "CONDA_PREFIX")}
    env["PATH"] = f"{env_dir / 'bin'}:/usr/local/bin:/usr/bin:/bin"
    proc = subprocess.run([env_dir / "bin" / "pre-commit", "run", "--all-files", "--show-diff-on-failure"],
                          cwd=clone, capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    for hook in ("trim trailing whitespace", "files end in one newline", "no large files added", "YAML parses",
                 "strip notebook outputs", "ruff", "kimi-cookbook check-notebook", "README notebook index"):
        assert re.search(rf"^{re.escape(hook)}.*Passed$", proc.stdout, re.M), proc.stdout[-4000:]


# --- README's Binder link -----------------------------------------------------------------------------
def test_binder_url_comes_from_the_github_remote(tmp_path):
    """`make binder`: the link from the repository's own remote, never a placeholder or a credential."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(REPO_ROOT / "scripts" / "binder-url.sh", repo / "scripts")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)

    def run(*remote):
        if remote:
            subprocess.run(["git", "-C", str(repo), "remote", "add", "origin", *remote], check=True)
        return subprocess.run(["bash", "scripts/binder-url.sh"], cwd=repo, capture_output=True, text=True)

    none = run()
    assert none.returncode == 1 and "no git remote 'origin'" in none.stderr
    found = run("https://someone:s3cret@github.com/acme/kimi-cookbook.git")
    assert found.stdout == ("https://mybinder.org/v2/gh/acme/kimi-cookbook/HEAD"
                            "?urlpath=lab/tree/notebooks/02_command_selector.ipynb\n")
    assert "s3cret" not in found.stdout + found.stderr
    readme = (REPO_ROOT / "README.md").read_text()
    assert "OWNER" not in readme and "make binder" in readme
