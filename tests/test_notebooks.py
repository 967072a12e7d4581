"""Every notebook executed once by papermill (the session's ``notebook_run``: the demo's parameters against the
session's embedded server), its kept outputs compared with that fresh run by nbval's own comparison, and the
notebooks that have another parameter set executed with it. Add a notebook's other parameter set to ALT_PARAMS.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest
from nbval.plugin import (
    IPyNbCell,
    coalesce_streams,
    find_comment_markers,
    find_metadata_tags,
    nocolors,
)

from kimi_cookbook.runner import execute_notebook, list_notebooks, notebook_parameters
from kimi_cookbook.selector import build_launch_command, render_command

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = {p.stem: p for p in list_notebooks(NOTEBOOK_DIR)}

ALT_PARAMS = {
    "01_docker_setup": {"HARDWARE": "h100", "WORKDIR": "/srv/my work", "PORT": 8000},
    "02_command_selector": {"HARDWARE": "mi355x", "TOOLCALL": "enabled", "REASONING": "enabled"},
    "06_accuracy_benchmark": {"SGLANG_VERSION": "0.5.16", "NUM_QUESTIONS": 3, "PARALLEL": 2},
}


def test_notebooks_found_and_parameterised():
    assert {"01_docker_setup", "02_command_selector"} <= set(NOTEBOOKS)
    for name, path in NOTEBOOKS.items():
        assert notebook_parameters(path), f"{name} has no tagged parameters cell"


def params_for(name, extra, request):
    params = dict(extra)
    if "BASE_URL" in notebook_parameters(NOTEBOOKS[name]):
        server = request.getfixturevalue("embedded_server")
        params["BASE_URL"] = server.base_url
    return params


def cell_outputs(nb_path):
    nb = nbformat.read(nb_path, as_version=4)
    return ["".join(o.get("text", "") for o in c.get("outputs", []) if o.get("output_type") == "stream")
            for c in nb.cells if c.cell_type == "code"]


# nbval's comparison (IPyNbCell.compare_outputs, with nbval's own stream coalescing and markers), applied to the
# session's papermill run instead of a second execution in nbval's kernel. What IPyNbFile compares by default
# (without --nbdime): every output key but these.
NBVAL_SKIP_COMPARE = ("metadata", "traceback", "prompt_number", "output_type", "name", "execution_count",
                      "application/vnd.jupyter.widget-view+json", "image/png", "image/jpeg")


class NbvalCheck:
    """The parts of an nbval cell item its ``compare_outputs`` uses; ``config`` is pytest's (its assertion diff)."""

    compare_outputs = IPyNbCell.compare_outputs
    format_output_compare = IPyNbCell.format_output_compare
    sanitize = IPyNbCell.sanitize
    colors = nocolors

    def __init__(self, config):
        self.parent = SimpleNamespace(skip_compare=NBVAL_SKIP_COMPARE, sanitize_patterns={})
        self.config, self.ihook = config, config.hook


def checked_cells(nb):
    """The cells nbval --nbval-lax checks: a ``# NBVAL_CHECK_OUTPUT`` comment or tag (comments win)."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            options = {**dict(find_metadata_tags(cell.metadata)), **dict(find_comment_markers(cell.source))}
            if options.get("check") and not options.get("skip"):
                yield cell


def nbval_compare(committed, executed, config) -> list[str]:
    """nbval's verdict on each checked cell of ``committed`` (kept outputs) against the same cell (by id) of
    ``executed``: a list of failures, each with nbval's own report."""
    ran = {c.get("id"): c for c in executed.cells}
    failures = []
    for cell in checked_cells(committed):
        if cell.id not in ran:
            failures.append(f"cell {cell.id}: not in the executed notebook")
            continue
        check = NbvalCheck(config)
        test = coalesce_streams([nbformat.from_dict(o) for o in ran[cell.id].get("outputs", [])])
        ref = coalesce_streams([nbformat.from_dict(o) for o in cell.get("outputs", [])])
        if not check.compare_outputs(test, ref):
            failures.append(f"cell {cell.id}:\n" + "\n".join(map(str, check.comparison_traceback)))
    return failures


@pytest.mark.slow
def test_every_notebook_executes(notebook_run):
    """The session's run: every notebook ran to the end with the demo's parameters (what CI's `make demo` does)."""
    summary = (notebook_run.run_dir / "summary.md").read_text()
    assert notebook_run.rc == 0, summary
    assert summary.startswith(f"# Cookbook run: {len(NOTEBOOKS)}/{len(NOTEBOOKS)} notebooks passed"), summary
    for name in NOTEBOOKS:
        nb = notebook_run.read(name)
        assert not [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"], name


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_committed_outputs_match_a_fresh_run(name, notebook_run, request):
    """The outputs kept in git (cells starting with # NBVAL_CHECK_OUTPUT) are what the notebook prints today: a
    change in behaviour fails here until `kimi-cookbook keep-outputs` refreshes them (and the diff is reviewed)."""
    committed = nbformat.read(NOTEBOOKS[name], as_version=4)
    assert nbval_compare(committed, notebook_run.read(name), request.config) == []


@pytest.mark.slow
def test_a_changed_output_fails_nbval(notebook_run, request):
    """The check above has teeth: one character changed in a kept output of notebook 02 fails it, with nbval's
    report naming the difference."""
    committed = nbformat.read(NOTEBOOKS["02_command_selector"], as_version=4)
    kept = [c for c in checked_cells(committed) if c.outputs and c.outputs[0].get("output_type") == "stream"]
    assert kept, "notebook 02 keeps no printed output"
    kept[0].outputs[0]["text"] = kept[0].outputs[0]["text"].replace("--tp", "--tq", 1)
    failures = nbval_compare(committed, notebook_run.read("02_command_selector"), request.config)
    assert len(failures) == 1 and "--tq" in failures[0] and "mismatch 'stdout'" in failures[0], failures


SYNTHETIC = [
    ("# NBVAL_CHECK_OUTPUT\nprint('kept', 6 * 7)", [{"output_type": "stream", "name": "stdout", "text": "kept 42\n"}]),
    ("# NBVAL_CHECK_OUTPUT\nfrom IPython.display import HTML, display\ndisplay(HTML('<b>x</b>'))\n{'a': 1}",
     [{"output_type": "display_data", "metadata": {}, "data": {"text/html": "<b>x</b>",
                                                               "text/plain": "<IPython.core.display.HTML object>"}},
      {"output_type": "execute_result", "metadata": {}, "execution_count": 2, "data": {"text/plain": "{'a': 1}"}}]),
    ("print('not checked')", []),
]


@pytest.mark.slow
def test_the_comparison_is_nbvals_verdict(tmp_path, request):
    """On a small notebook (not a cookbook one) whose second cell keeps a changed value, nbval itself (`pytest
    --nbval-lax`, its own kernel) and the comparison above give the same verdict: that cell fails, the rest pass."""
    cells = []
    for i, (source, outputs) in enumerate(SYNTHETIC, 1):
        cell = nbformat.v4.new_code_cell(source, execution_count=i if outputs else None)
        cell.outputs = [nbformat.from_dict(json.loads(json.dumps(o))) for o in outputs]
        cells.append(cell)
    cells[1].outputs[1]["data"]["text/plain"] = "{'a': 2}"  # the kernel prints {'a': 1}
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "synthetic.ipynb"
    nbformat.write(nb, path)
    real = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "nbval", "-p", "no:cacheprovider",
                           "--nbval-lax", "--nbval-current-env", str(path)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300, env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert real.returncode == 1 and "1 failed, 2 passed" in real.stdout, real.stdout[-3000:]
    assert "synthetic.ipynb::Cell 1" in real.stdout and "Cell outputs differ" in real.stdout
    executed = tmp_path / "executed.ipynb"
    assert execute_notebook(path, executed).status == "ok"
    ours = nbval_compare(nb, nbformat.read(executed, as_version=4), request.config)
    assert len(ours) == 1 and ours[0].startswith(f"cell {cells[1].id}:") and "{'a': 2}" in ours[0], ours


def test_deterministic_notebooks_show_their_outputs_in_git():
    """What a reader sees on GitHub without running anything: commands, Docker lines, tables and plots."""
    for name in ("01_docker_setup", "02_command_selector", "07_capacity_planning"):
        nb = nbformat.read(NOTEBOOKS[name], as_version=4)
        kept = [c for c in nb.cells if c.cell_type == "code" and c.get("outputs")]
        assert len(kept) >= 2, f"{name} keeps {len(kept)} outputs"
    plots = [o for c in nbformat.read(NOTEBOOKS["07_capacity_planning"], as_version=4).cells
             for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(plots) >= 2


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ALT_PARAMS))
def test_notebook_runs_with_other_parameters(name, tmp_path, request):
    out = tmp_path / f"{name}.ipynb"
    params = params_for(name, ALT_PARAMS[name], request)
    result = execute_notebook(NOTEBOOKS[name], out, params)
    assert result.status == "ok", result.error
    text = "\n".join(cell_outputs(out))
    if name == "06_accuracy_benchmark":  # SGLang 0.5.16's harness, written for this server
        assert (f"$ python3 -m sglang.test.run_eval --eval-name gsm8k --api completion --base-url "
                f"{params['BASE_URL']} --model kimi-cookbook-tiny --num-examples 3 --num-threads 2") in text
    if name == "02_command_selector":
        values = {"hardware": "mi355x", "toolcall": "enabled", "reasoning": "enabled"}
        assert render_command(values) in text  # the page's error text
        assert "ValueError: Kimi-Linear-48B-A3B-Instruct doesn't support a reasoning parser" in text
    if name == "01_docker_setup":
        assert "--gpus all" in text and "-p 127.0.0.1:8000:8000" in text and "'/srv/my work:/workspace'" in text
        assert "The page has no docker command for H100" in text
        assert build_launch_command("h100", host="0.0.0.0", port=8000) in text
        assert "- 127.0.0.1:8000:8000" in text and "driver: nvidia" in text  # the Compose file


@pytest.mark.slow
def test_tool_loop_with_a_named_tool(notebook_run):
    """The session's run of notebook 04 with what the demo passes for the tiny model (TOOL_CHOICE get_weather, a
    named tool for the first turn): the server made the named call, the loop ran it and asked again."""
    assert notebook_run.parameters("04_invocation")["TOOL_CHOICE"] == "get_weather"
    text = "\n".join(cell_outputs(notebook_run.path("04_invocation")))
    assert "--- turn 1 (tool_choice=get_weather): finish_reason=tool_calls" in text
    assert re.search(r"  \S+: get_weather\(\{.*\}\) -> \{'city': ", text)
    assert "--- turn 2 (tool_choice=auto)" in text


@pytest.mark.slow
def test_selector_notebook_prints_the_page_command(notebook_run):
    """The default run (HARDWARE mi300x) prints the page generator's exact command as one output."""
    assert render_command({"hardware": "mi300x"}) + "\n" in cell_outputs(notebook_run.path("02_command_selector"))


@pytest.mark.slow
def test_a_failing_notebook_is_reported(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("X = 1", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("raise RuntimeError('boom ' + str(X))"),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    src = tmp_path / "99_bad.ipynb"
    src.write_text(json.dumps(nb))
    result = execute_notebook(src, tmp_path / "out" / "99_bad.ipynb", {"X": 7, "UNKNOWN": 1})
    assert result.status == "failed" and "boom 7" in result.error


def test_a_malformed_notebook_fails_alone(tmp_path):
    src = tmp_path / "98_broken.ipynb"
    src.write_text("{ not json")
    result = execute_notebook(src, tmp_path / "out" / "98_broken.ipynb")
    assert result.status == "failed" and result.error


def test_demo_parameters_are_ones_the_notebooks_declare(tmp_path):
    """Each notebook gets parameters it declares; a results folder only where it writes results, each its own (08's
    rows never land in 05's folder, 01's WORKDIR (a Docker mount) keeps its default)."""
    from types import SimpleNamespace

    from kimi_cookbook import demo
    from kimi_cookbook.tiny_model import TINY_MODEL_NAME

    srv = SimpleNamespace(base_url="http://127.0.0.1:1", tokenizer_path="/t", model=TINY_MODEL_NAME)
    folders = {}
    for name, path in NOTEBOOKS.items():
        declared = set(notebook_parameters(path))
        passed = {k: v for k, v in demo.notebook_parameters(srv, tmp_path, name).items() if k in declared}
        folders.update({name: v for k, v in passed.items() if k in ("RESULTS_DIR", "WORKDIR")})
        if "BASE_URL" in declared:
            assert passed["BASE_URL"] == srv.base_url, name
    assert folders == {"05_speed_benchmark": str(tmp_path.resolve() / "results" / "bench-05"),
                       "06_accuracy_benchmark": str(tmp_path.resolve() / "results" / "gsm8k-06"),
                       "08_replicas_router": str(tmp_path.resolve() / "results" / "replicas-08")}
    assert demo.notebook_parameters(srv, tmp_path, "04_invocation")["TOOL_CHOICE"] == "get_weather"
    other = SimpleNamespace(**{**vars(srv), "model": "m"})
    assert "TOOL_CHOICE" not in demo.notebook_parameters(other, tmp_path, "04_invocation")


# --- what the reader sees: the requests in the cells, plain prose --------------------------------------------
PAGE_URL = "https://docs.sglang.io/cookbook/autoregressive/Moonshotai/Kimi-Linear"


def _cells(name, kind):
    return [c.source for c in nbformat.read(NOTEBOOKS[name], as_version=4).cells if c.cell_type == kind]


def test_every_request_is_written_in_a_cell():
    """The OpenAI client, the streaming loop, the message list, the tools and the tool loop, /generate, the
    JSON-schema request and its validation are in the cells, not behind a helper; no test double either."""
    code04 = "\n".join(_cells("04_invocation", "code"))
    for needle in ("OpenAI(base_url=", "client.chat.completions.create(", "stream=True", "for chunk in stream:",
                   'messages.append({"role": "assistant"', "TOOLS = [", "tools=TOOLS, tool_choice=choice",
                   '"role": "tool", "tool_call_id": call.id', 'requests.post(\n    f"{server.base_url}/generate"'):
        assert needle in code04, needle
    code04b = "\n".join(_cells("04b_structured_output", "code"))
    for needle in ('"type": "json_schema", "json_schema"', "response_format=schema_format(", "iter_errors(",
                   "registry=Registry()", 'extra_body=constraint'):
        assert needle in code04b, needle
    for name in NOTEBOOKS:
        code = "\n".join(_cells(name, "code"))
        assert "TINY_MODEL_NAME" not in code and "kimi_cookbook import client" not in code, name
        assert not re.search(r"\bkc\.", code), name


def test_prose_links_the_page_and_spells_out_kda_and_mla():
    for name in NOTEBOOKS:
        md = "\n".join(_cells(name, "markdown"))
        if "the page" in md.lower():
            assert PAGE_URL in md, f"{name} talks about the page without linking it"
        assert "Kimi Delta Attention (KDA)" in md, name
        assert "multi-head latent attention (MLA)" in md, name
        opening = md.split("\n\n")[1]  # the paragraph after the title
        assert len(re.findall(r"[.!?](?:\s|$)", opening)) <= 3, f"{name}: the opening has more than 3 sentences"


def test_the_registry_validator_resolves_no_remote_ref(tmp_path):
    """04b's validator (an empty referencing.Registry) does not fetch a $ref from the network: a real local HTTP
    server that counts requests sees none."""
    import http.server
    import threading

    import jsonschema
    from referencing import Registry
    from referencing.exceptions import Unresolvable

    hits = []

    class Count(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'{"type": "string"}')

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Count)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        schema = {"$ref": f"http://127.0.0.1:{httpd.server_address[1]}/city.json"}
        assert "registry=Registry()" in "\n".join(_cells("04b_structured_output", "code"))
        with pytest.raises(Unresolvable):
            list(jsonschema.Draft202012Validator(schema, registry=Registry()).iter_errors("Paris"))
        assert hits == []
    finally:
        httpd.shutdown()
