"""The console script, run as a real subprocess (``python -m kimi_cookbook``), agrees with the core."""

import re
import subprocess
import sys

import pytest

from kimi_cookbook.docker import docker_run
from kimi_cookbook.selector import PAGE_ERROR_TEXT, build_launch_command, render_command


def cli(*args):
    return subprocess.run([sys.executable, "-m", "kimi_cookbook", *args], capture_output=True, text=True)


@pytest.mark.slow
@pytest.mark.parametrize("hardware", ["mi300x", "mi325x", "mi355x"])
@pytest.mark.parametrize("tool", [False, True])
def test_page_exact_matches_render_command(hardware, tool):
    args = ["command", "--page-exact", "--hardware", hardware] + (["--tool-call-parser", "kimi_k2"] if tool else [])
    r = cli(*args)
    assert r.returncode == 0, r.stderr
    assert r.stdout == render_command({"hardware": hardware, "toolcall": "enabled" if tool else "disabled"}) + "\n"


@pytest.mark.slow
def test_page_exact_prints_the_page_error_and_fails():
    r = cli("command", "--page-exact", "--reasoning-parser", "kimi_k2")
    assert r.returncode == 1
    assert r.stdout == PAGE_ERROR_TEXT + "\n"


@pytest.mark.slow
def test_typed_command_matches_the_api():
    r = cli("command", "--hardware", "h100", "--tp", "4", "--port", "8000", "--model", "my model;x")
    assert r.returncode == 0, r.stderr
    assert r.stdout == build_launch_command("h100", tp=4, port=8000, model="my model;x") + "\n"


@pytest.mark.slow
def test_bad_input_is_one_clear_line_without_traceback():
    r = cli("command", "--hardware", "h100", "--tp", "3")
    assert r.returncode == 2
    assert "does not divide the model's 32 attention heads" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.slow
def test_page_exact_refuses_knobs_the_page_lacks():
    r = cli("command", "--page-exact", "--port", "8000")
    assert r.returncode == 2 and "--page-exact takes only the page's options" in r.stderr


@pytest.mark.slow
def test_enable_metrics_flag():
    r = cli("command", "--hardware", "h200", "--enable-metrics")
    assert r.returncode == 0 and r.stdout == build_launch_command("h200", enable_metrics=True) + "\n"
    r = cli("command", "--page-exact", "--enable-metrics")
    assert r.returncode == 2 and "drop ['enable_metrics']" in r.stderr


@pytest.mark.slow
def test_docker_subcommand():
    r = cli("docker", "--hardware", "mi300x", "--page-exact")
    assert r.returncode == 0, r.stderr
    assert docker_run("mi300x", page_exact=True) in r.stdout
    assert "docker pull lmsysorg/sglang:v0.5.7-rocm700-mi30x" in r.stdout
    assert "pip install sentencepiece tiktoken" in r.stdout


@pytest.mark.slow
def test_docker_check_host_never_fails():
    r = cli("docker", "--check-host", "--json")
    assert r.returncode == 0, r.stderr
    assert '"docker"' in r.stdout


@pytest.mark.slow
def test_help_lists_every_subcommand():
    r = cli("--help")
    assert r.returncode == 0
    listed = set(re.findall(r"^ {4}(\S+)", r.stdout, flags=re.M))
    assert {"command", "docker", "demo", "serve", "bench", "compare", "plan", "check-notebook", "index"} <= listed


@pytest.mark.slow
def test_launch_flags_come_from_build_launch_spec():
    """Every scalar knob of build_launch_spec is a flag of `command` and `serve`, its default the function's."""
    import inspect

    from kimi_cookbook.selector import LAUNCH_KNOBS, build_launch_spec

    params = inspect.signature(build_launch_spec).parameters
    assert LAUNCH_KNOBS == tuple(params)
    for sub in ("command", "serve"):
        r = cli(sub, "--help")
        assert r.returncode == 0, r.stderr
        flags = set(re.findall(r"--[a-z][a-z-]*", r.stdout))
        for name in LAUNCH_KNOBS:
            if name != "extra_args":  # a list: not a flag
                assert "--" + name.replace("_", "-") in flags, (sub, name)
    # a flag left at its default gives the function's default command
    assert cli("command").stdout == build_launch_command() + "\n"


def test_no_domain_module_imports_argparse():
    from pathlib import Path

    import kimi_cookbook

    root = Path(kimi_cookbook.__file__).parent
    users = sorted(str(p.relative_to(root)) for p in root.rglob("*.py")
                   if re.search(r"^\s*(import argparse|from argparse)", p.read_text(), flags=re.M))
    assert all(u.startswith("cli/") for u in users), users


def test_no_import_circles():
    """The package's imports (module level and inside functions) form no circle: a module imports only modules
    that do not import it back, directly or through others. Importing ``a.b.c`` also runs the ``__init__`` of
    ``a.b``, so that counts as imported too (unless the importer is inside it)."""
    import ast
    from pathlib import Path

    import kimi_cookbook

    root = Path(kimi_cookbook.__file__).parent
    modules = {}
    for path in root.rglob("*.py"):
        parts = ["kimi_cookbook", *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path

    def targets(name, node):
        if isinstance(node, ast.Import):
            found = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            return set()
        out = set()
        for target in found:
            parts = target.split(".")
            for n in range(2, len(parts) + 1):  # the module and the packages whose __init__ it runs
                prefix = ".".join(parts[:n])
                if prefix in modules and prefix != name and not name.startswith(prefix + "."):
                    out.add(prefix)
        return out

    graph = {name: set().union(*(targets(name, node) for node in ast.walk(ast.parse(path.read_text()))))
             for name, path in modules.items()}
    state, circles = {}, []

    def visit(name, stack):
        state[name] = "open"
        for dep in sorted(graph[name]):
            if state.get(dep) == "open":
                circles.append(" -> ".join(stack[stack.index(dep):] + [dep]))
            elif dep not in state:
                visit(dep, stack + [dep])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert circles == []


def test_the_cli_starts_without_pandas_or_matplotlib():
    """Every subcommand's parser is built without importing pandas or matplotlib (half a second each start): they
    load only when a subcommand reads or plots results. `kimi-cookbook command`/`plan` start in a quarter second."""
    probe = ("import sys; from kimi_cookbook.cli import build_parser; build_parser(); "
             "print(sorted(m for m in ('pandas', 'matplotlib', 'pyarrow') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stdout + r.stderr
