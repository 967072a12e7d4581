"""Every notebook executed by papermill (defaults + another parameter set), then checked by nbval.

Notebooks that talk to a server get ``BASE_URL`` of the session's embedded server (when the notebook has
that parameter), so one tiny server serves them all. Add a notebook's other parameter set to ALT_PARAMS.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from kimi_cookbook.runner import execute_notebook, list_notebooks, notebook_parameters
from kimi_cookbook.selector import build_launch_command, render_command

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = {p.stem: p for p in list_notebooks(NOTEBOOK_DIR)}

ALT_PARAMS = {
    "01_docker_setup": {"HARDWARE": "h100", "WORKDIR": "/srv/my work", "PORT": 8000},
    "02_command_selector": {"HARDWARE": "mi355x", "TOOLCALL": "enabled", "REASONING": "enabled"},
    # what the demo passes for the tiny model: a named tool for the first turn of the tool loop
    "04_invocation": {"TOOL_CHOICE": "get_weather"},
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


def nbval(notebook, timeout=900):
    """nbval re-runs ``notebook`` in a fresh kernel and compares each `# NBVAL_CHECK_OUTPUT` cell's stored outputs
    with the new ones (images excepted); any cell that raises fails too."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax", "--nbval-current-env",
         str(notebook)],
        capture_output=True, text=True, cwd=notebook.parent, timeout=timeout,
    )


def committed_copy(name, params, folder):
    """The notebook as committed (its kept outputs included), with papermill's parameters cell injected when
    ``params`` is not empty (the session server's BASE_URL), written into ``folder``. Cells with kept outputs get
    an execution count (git holds none), or nbval would take them for never run."""
    nb = nbformat.read(NOTEBOOKS[name], as_version=4)
    if params:  # as papermill does: a cell after the parameters cell overrides them
        at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
        source = "\n".join(f"{k} = {v!r}" for k, v in params.items())
        nb.cells.insert(at + 1, nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]}))
    for i, cell in enumerate(nb.cells, 1):
        if cell.get("outputs"):  # nbstripout clears counts; nbval skips a cell it believes was never run
            cell.execution_count = i
    path = folder / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_committed_outputs_match_a_fresh_run(name, tmp_path, request):
    """The outputs kept in git (cells starting with # NBVAL_CHECK_OUTPUT) are what the notebook prints today: a
    change in behaviour fails here until `kimi-cookbook keep-outputs` refreshes them (and the diff is reviewed)."""
    proc = nbval(committed_copy(name, params_for(name, {}, request), tmp_path))
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert " passed" in proc.stdout


def test_a_changed_output_fails_nbval(tmp_path):
    """The check above has teeth: one character changed in a kept output of notebook 02 fails it."""
    path = committed_copy("02_command_selector", {}, tmp_path)
    nb = nbformat.read(path, as_version=4)
    kept = [c for c in nb.cells if c.get("metadata", {}).get("keep_output") and c.outputs
            and c.outputs[0].get("output_type") == "stream"]
    assert kept, "notebook 02 keeps no printed output"
    kept[0].outputs[0]["text"] = kept[0].outputs[0]["text"].replace("--tp", "--tq", 1)
    nbformat.write(nb, path)
    proc = nbval(path)
    assert proc.returncode != 0 and "--tq" in proc.stdout, proc.stdout[-3000:]


def test_deterministic_notebooks_show_their_outputs_in_git():
    """What a reader sees on GitHub without running anything: commands, Docker lines, tables and plots."""
    for name in ("01_docker_setup", "02_command_selector", "07_capacity_planning"):
        nb = nbformat.read(NOTEBOOKS[name], as_version=4)
        kept = [c for c in nb.cells if c.cell_type == "code" and c.get("outputs")]
        assert len(kept) >= 2, f"{name} keeps {len(kept)} outputs"
    plots = [o for c in nbformat.read(NOTEBOOKS["07_capacity_planning"], as_version=4).cells
             for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(plots) >= 2


@pytest.mark.parametrize("name", sorted(ALT_PARAMS))
def test_notebook_runs_with_other_parameters(name, tmp_path, request):
    out = tmp_path / f"{name}.ipynb"
    params = params_for(name, ALT_PARAMS[name], request)
    result = execute_notebook(NOTEBOOKS[name], out, params)
    assert result.status == "ok", result.error
    text = "\n".join(cell_outputs(out))
    if name == "04_invocation":  # the server made the named call, the loop ran it and asked again
        assert "--- turn 1 (tool_choice=get_weather): finish_reason=tool_calls" in text
        assert re.search(r"  \S+: get_weather\(\{.*\}\) -> \{'city': ", text)
        assert "--- turn 2 (tool_choice=auto)" in text
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


def test_selector_notebook_prints_the_page_command(tmp_path):
    out = tmp_path / "02.ipynb"
    assert execute_notebook(NOTEBOOKS["02_command_selector"], out, {"HARDWARE": "mi325x"}).status == "ok"
    assert render_command({"hardware": "mi325x"}) + "\n" in cell_outputs(out)


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
    from types import SimpleNamespace

    from kimi_cookbook import demo
    from kimi_cookbook.tiny_model import TINY_MODEL_NAME

    declared = set().union(*(notebook_parameters(p) for p in NOTEBOOKS.values()))
    srv = SimpleNamespace(base_url="http://127.0.0.1:1", tokenizer_path="/t", model=TINY_MODEL_NAME)
    passed = demo.notebook_parameters(srv, tmp_path)
    assert {"BASE_URL", "RESULTS_DIR", "WORKDIR", "TOOL_CHOICE"} <= set(passed) <= declared, set(passed) - declared
    assert "TOOL_CHOICE" not in demo.notebook_parameters(SimpleNamespace(**{**vars(srv), "model": "m"}), tmp_path)


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
