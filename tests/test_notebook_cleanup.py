"""A failing cell stops the notebook's server at once (IPython post_run_cell hook), in a real kernel."""

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.slow  # a kernel and the embedded server


def test_failing_cell_stops_the_launched_server(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(
            "from kimi_cookbook.notebook import start_server\n"
            f"server = start_server('embedded', progress=False, log_path={str(tmp_path / 'srv.log')!r})\n"
            "print(server.running)"
        ),
        nbformat.v4.new_code_cell("raise RuntimeError('a cell fails')"),
        nbformat.v4.new_code_cell("print('after failure running:', server.running, server.process.poll() is not None)"),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True).execute()
    out = ["".join(o.get("text", "") for o in c.outputs if o.get("output_type") == "stream") for c in nb.cells]
    assert out[0].startswith("$ ") and "llama_cpp.server" in out[0]  # the terminal equivalent, then readiness
    assert "embedded server ready at http://127.0.0.1:" in out[0] and out[0].strip().endswith("True")
    assert "stopping the embedded server" in out[1]
    assert out[2].strip() == "after failure running: False True"


def test_outside_ipython_the_hook_is_not_installed():
    from kimi_cookbook.notebook import stop_server_if_a_cell_fails

    assert stop_server_if_a_cell_fails(object()) is False
