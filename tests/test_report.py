"""The demo's summary shows what the run measured: the session's demo run (tests/conftest.py::notebook_run), whose
real benchmark and GSM8K notebooks ran into its run folder."""

import json

import nbformat
import pytest

from kimi_cookbook import report
from kimi_cookbook.bench import load_reference, load_reference_gsm8k


@pytest.fixture(scope="module")
def demo_run(notebook_run):
    """The session's demo run (`kimi-cookbook demo` against the session's embedded server, every notebook)."""
    return notebook_run.rc, notebook_run.run_dir


def outputs_text(path):
    nb = nbformat.read(path, as_version=4)
    texts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            texts.append("".join(out.get("text", "")))
            texts += ["".join(v) if isinstance(v, list) else str(v) for v in out.get("data", {}).values()]
    return "\n".join(texts)


@pytest.mark.slow
def test_summary_sets_the_results_beside_the_page(demo_run):
    rc, run_dir = demo_run
    assert rc == 0
    md = (run_dir / "summary.md").read_text()
    page_c1 = load_reference().set_index("max_concurrency").loc[1, "output_token_throughput_tok_s"]
    assert page_c1 == 176.86
    row = next(ln for ln in md.splitlines() if ln.startswith("| 1 | output throughput (tok/s) |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2] == "176.86" and float(cells[3]) > 0  # the page's number, then this run's
    run = json.loads((run_dir / "results" / "gsm8k-06" / "gsm8k.json").read_text())  # the demo's WORKDIR
    assert (run_dir / "results" / "bench-05" / "results.jsonl").is_file()  # and RESULTS_DIR
    assert f"GSM8K accuracy {run['result']['accuracy']:.3f} on {run['num_questions']} question(s)" in md
    assert f"beside the page's {load_reference_gsm8k()['accuracy']:.3f}" in md and "0.705" in md
    assert "Not comparable" in md and "tiny embedded model" in md  # said, since the server was the toy one
    assert report.capacity_headline() in md and "143 requests fit" in md
    for link in ("05_speed_benchmark.ipynb", "06_accuracy_benchmark.ipynb", "07_capacity_planning.ipynb",
                 "speed.png", "capacity.png"):
        assert f"]({link})" in md and (run_dir / link).is_file()
    html = (run_dir / "summary.html").read_text()
    assert "176.86" in html and "<img src='speed.png'" in html and "0.705" in html


@pytest.mark.slow
def test_executed_notebooks_are_quiet_by_default(demo_run):
    """No argument dumps, hub connection warnings or kernel transport warnings in what a reader sees."""
    _, run_dir = demo_run
    for name in ("05_speed_benchmark", "06_accuracy_benchmark"):
        text = outputs_text(run_dir / f"{name}.ipynb")
        assert "Namespace(" not in text, name
        assert "huggingface.co" not in text and "couldn't connect" not in text, name
        assert "without encryption" not in text, name
    text = outputs_text(run_dir / "05_speed_benchmark.ipynb")
    assert "Serving Benchmark Result" in text and "full output: " in text  # the result block and the log's path
    assert "<table" in text  # tables render as HTML DataFrames
    gsm = outputs_text(run_dir / "06_accuracy_benchmark.ipynb")
    assert "12 questions from gsm8k_sample.jsonl, 8 at a time" in gsm  # what the OpenAI-API run was cut to
    assert gsm.index("Not comparable") < gsm.index("run_accuracy")
