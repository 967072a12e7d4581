"""What a reviewer checks on a cookbook notebook, as a command; and the README's notebook index.

:func:`check_static` and :func:`check_execution` (``kimi-cookbook check-notebook``) report, one line per problem:

* ``name``       -- ``NN_short_name.ipynb``, or ``NNx_short_name.ipynb`` to slot one in (``_``-prefixed files such
                    as the template are exempt), so the demo, the tests and the README index pick it up;
* ``title``      -- the first cell is markdown starting with ``# `` and has an intro paragraph;
* ``parameters`` -- exactly one code cell tagged ``parameters``, holding plain literal assignments only;
* ``stripped``   -- outputs only in ``# NBVAL_CHECK_OUTPUT`` cells with nbstripout's ``keep_output`` metadata,
                    and there they are committed (nbval compares them with a fresh run); no execution
                    counts or stored widget state (run ``nbstripout --keep-id``, ``kimi-cookbook keep-outputs``);
* ``kernel``     -- the shared kernelspec (``python3``, "Python 3 (ipykernel)");
* ``secret``     -- no hard-coded tokens, keys or passwords (``hf_...``, ``sk-...``, ``api_key="..."``, ...);
* ``helper-logic`` -- no function or class definitions longer than a few lines and no loose ``utils``
                    modules: logic belongs in ``kimi_cookbook``;
* ``execute``    -- it runs under papermill against the embedded server (skipped with ``--no-execute``).

:func:`render_index` / :func:`update_index` (``kimi-cookbook index``) keep the table between
``<!-- notebook-index:start -->`` and ``<!-- notebook-index:end -->`` in README.md equal to what the notebooks
say about themselves (title = first markdown heading, description = first sentence of the intro paragraph).
"""

from __future__ import annotations

import ast
import json
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from kimi_cookbook.paths import atomic_write
from kimi_cookbook.runner import execute_notebook, list_notebooks, notebook_parameters

MAX_DEF_LINES = 6  # a def/class longer than this in a cell is helper logic: move it into kimi_cookbook
# two digits, optionally one letter to slot a notebook between two others (04b_ runs after 04_), then words
NAME_RE = re.compile(r"^\d{2}[a-z]?_[a-z0-9]+(?:_[a-z0-9]+)*\.ipynb$")
INDEX_START = "<!-- notebook-index:start -->"
INDEX_END = "<!-- notebook-index:end -->"

# Hard-coded credentials. Placeholders that local OpenAI-compatible servers accept are allowed.
SECRET_PATTERNS = [
    ("Hugging Face token", re.compile(r"\bhf_[A-Za-z0-9]{20,}")),
    ("OpenAI-style API key", re.compile(r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}")),
    ("GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}")),
    ("AWS access key id", re.compile(r"\bAKIA[0-9A-Z]{16}\b")),
    ("private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    ("bearer token", re.compile(r"\bBearer\s+[A-Za-z0-9._~+/-]{20,}")),
    ("token in a URL", re.compile(r"[?&](?:token|api_key|access_token)=[A-Za-z0-9._-]{12,}")),
]
ASSIGNED_SECRET = re.compile(
    r"""(?ix)\b(?P<name>(?:[a-z0-9_]*_)?(?:api[_-]?key|password|passwd|secret(?:[_-]?key)?|token|access[_-]?key))\b
        ["']?\s*(?::\s*str\s*=|[=:])\s*(?P<q>["'])(?P<value>[^"'\n]*)(?P=q)"""
)
PLACEHOLDERS = {"", "empty", "none", "null", "dummy", "not-needed", "not-used", "no-key", "sk-no-key-required",
                "changeme", "xxx", "..."}


@dataclass
class Problem:
    path: str
    check: str
    message: str
    cell: int | None = None

    def __str__(self) -> str:
        where = f"{self.path}" + (f" cell {self.cell}" if self.cell is not None else "")
        return f"{where}: [{self.check}] {self.message}"


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _load(path: Path) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _python(source: str) -> str:
    """A cell's source as plain Python (IPython magics and shell escapes turned into calls)."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return TransformerManager().transform_cell(source)
    except Exception:  # pragma: no cover - IPython is always there with a kernel
        return source


def _parse(source: str) -> ast.Module | None:
    try:
        return ast.parse(_python(source))
    except SyntaxError:
        return None


def _is_literal(node: ast.AST) -> bool:
    try:
        ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


def title_and_intro(nb: dict) -> tuple[str, str]:
    """The notebook's ``# `` title and the first paragraph after it (``""`` when missing)."""
    cells = nb.get("cells") or []
    if not cells or cells[0].get("cell_type") != "markdown":
        return "", ""
    text = _source(cells[0]).strip()
    if not text.startswith("# "):
        return "", ""
    first, _, rest = text.partition("\n")
    paragraph = []
    for line in rest.splitlines():
        if not line.strip():
            if paragraph:
                break
            continue
        if line.lstrip().startswith("#"):
            break
        paragraph.append(line.strip())
    return first[2:].strip(), " ".join(paragraph)


def first_sentence(paragraph: str) -> str:
    """Up to the first ``.``/``!``/``?`` that ends a sentence (outside backticks, brackets and e.g./i.e.)."""
    depth, code = 0, False
    for i, ch in enumerate(paragraph):
        if ch == "`":
            code = not code
        elif code:
            continue
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth = max(0, depth - 1)
        elif ch in ".!?" and depth == 0 and (i + 1 == len(paragraph) or paragraph[i + 1] == " "):
            word = paragraph[:i + 1].rsplit(" ", 1)[-1].lower()
            if word in {"e.g.", "i.e.", "etc.", "vs.", "approx.", "(e.g.", "(i.e."}:
                continue
            return paragraph[:i + 1]
    return paragraph


def _papermill_names(path: Path, tree: ast.Module, cell: int) -> list[Problem]:
    """Every name assigned in the parameters cell must be one papermill sees (its parser is line based)."""
    import logging

    try:
        import papermill
    except ImportError:  # pragma: no cover - papermill is a dependency
        return []
    assigned = [t.id for node in tree.body for t in (node.targets if isinstance(node, ast.Assign) else [node.target])]
    logging.getLogger("papermill").setLevel(logging.ERROR)
    try:
        seen = set(papermill.inspect_notebook(str(path)))
    except Exception as exc:
        return [Problem(str(path), "parameters", f"papermill cannot read the parameters cell: {exc}", cell)]
    return [Problem(str(path), "parameters", f"papermill cannot parse the line assigning {name} (keep one "
                    "`NAME = literal  # comment` per line; avoid '=' in the comment)", cell)
            for name in assigned if name not in seen]


# --- static checks --------------------------------------------------------------------------------
def _check_name(shown: str, path: Path) -> list[Problem]:
    if path.name.startswith("_") or NAME_RE.match(path.name):
        return []
    return [Problem(shown, "name", f"file name {path.name!r} should look like NN_short_name.ipynb "
                    "(two digits, maybe one letter, then lower-case words joined by '_') so the demo, "
                    "the tests and the README index find it")]


def _check_title(shown: str, nb: dict) -> list[Problem]:
    title, intro = title_and_intro(nb)
    if not title:
        return [Problem(shown, "title", "the first cell must be markdown starting with '# ' (the title)",
                        0 if nb["cells"] else None)]
    if not intro:
        return [Problem(shown, "title", "the title cell needs a short intro paragraph after the heading "
                        "(its first sentence becomes the README index entry)", 0)]
    return []


def _check_parameters(shown: str, path: Path, cells: list) -> list[Problem]:
    tagged = [i for i, c in enumerate(cells) if "parameters" in (c.get("metadata", {}).get("tags") or [])]
    if not tagged:
        return [Problem(shown, "parameters", "no code cell is tagged 'parameters' (papermill needs it: "
                        "cell toolbar > Property Inspector > Add Tag, or metadata "
                        "{\"tags\": [\"parameters\"]})")]
    problems = []
    if len(tagged) > 1:
        problems.append(Problem(shown, "parameters", f"{len(tagged)} cells are tagged 'parameters'; keep one",
                                tagged[1]))
    i = tagged[0]
    cell = cells[i]
    if cell.get("cell_type") != "code":
        return [*problems, Problem(shown, "parameters", "the cell tagged 'parameters' is not a code cell", i)]
    tree = _parse(_source(cell))
    if tree is None:
        return [*problems, Problem(shown, "parameters", "the parameters cell is not valid Python", i)]
    for node in tree.body:
        ok = (isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None
              and _is_literal(node.value)
              and all(isinstance(t, ast.Name) for t in (node.targets if isinstance(node, ast.Assign)
                                                        else [node.target])))
        if not ok:
            problems.append(Problem(shown, "parameters", f"line {node.lineno}: the parameters cell may only "
                                    "assign plain literals (NAME = 1, \"text\", True, [...]); compute "
                                    "derived values in the next cell", i))
    if not problems:
        problems += _papermill_names(path, tree, i)
    return problems


CHECK_MARK = "# NBVAL_CHECK_OUTPUT"
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def keeps_output(cell) -> bool:
    """nbstripout's rule: a cell whose metadata has ``"keep_output": true`` keeps its outputs in git."""
    return bool((cell.get("metadata") or {}).get("keep_output"))


def is_checked(cell) -> bool:
    """A code cell whose output nbval compares (its first line is ``# NBVAL_CHECK_OUTPUT``)."""
    return cell.get("cell_type") == "code" and _source(cell).lstrip().startswith(CHECK_MARK)


def _check_stripped(shown: str, nb: dict) -> list[Problem]:
    """Outputs only in ``# NBVAL_CHECK_OUTPUT`` cells that carry ``keep_output`` (what nbstripout and nbval see)."""
    cells = nb["cells"]
    code = [(i, c) for i, c in enumerate(cells) if c.get("cell_type") == "code"]
    problems = []
    loose = [i for i, c in code if c.get("outputs") and not keeps_output(c)]
    unchecked = [i for i, c in code if keeps_output(c) and not is_checked(c)]
    unkept = [i for i, c in code if is_checked(c) and not keeps_output(c)]
    empty = [i for i, c in code if is_checked(c) and keeps_output(c) and not c.get("outputs")]
    with_counts = [i for i, c in code if c.get("execution_count") is not None
                   or any(o.get("execution_count") is not None for o in c.get("outputs") or [])]
    if loose:
        problems.append(Problem(shown, "stripped", f"cells {loose} have outputs; run `nbstripout --keep-id {shown}` "
                                "(or install the pre-commit hooks): only `# NBVAL_CHECK_OUTPUT` cells keep theirs"))
    if unchecked:
        problems.append(Problem(shown, "stripped", f"cells {unchecked} keep their outputs (keep_output) but do not "
                                f"start with `{CHECK_MARK}`, so no test compares them with a fresh run"))
    if unkept:
        problems.append(Problem(shown, "stripped", f"cells {unkept} start with `{CHECK_MARK}` but lack "
                                f"keep_output metadata; run `kimi-cookbook keep-outputs {shown}`"))
    if empty:
        problems.append(Problem(shown, "stripped", f"cells {empty} start with `{CHECK_MARK}` but hold no committed "
                                f"output for nbval to compare; run `kimi-cookbook keep-outputs {shown}`"))
    if with_counts:
        problems.append(Problem(shown, "stripped", f"cells {with_counts} have execution counts; run "
                                f"`nbstripout --keep-id {shown}`"))
    if "widgets" in nb.get("metadata", {}):
        problems.append(Problem(shown, "stripped", "the notebook stores widget state (metadata.widgets); run "
                                f"`nbstripout --keep-id {shown}`"))
    return problems


def _check_kernel(shown: str, nb: dict) -> list[Problem]:
    spec = (nb.get("metadata") or {}).get("kernelspec") or {}
    if {k: spec.get(k) for k in KERNELSPEC} == KERNELSPEC:
        return []
    return [Problem(shown, "kernel", f"kernelspec is {spec or 'missing'}; every cookbook notebook uses {KERNELSPEC} "
                    "(papermill, nbval and the demo run it with the 'python3' kernel)")]


def _check_secrets(shown: str, cells: list) -> list[Problem]:
    """Sources and any outputs."""
    problems = []
    for i, cell in enumerate(cells):
        texts = [_source(cell)]
        for out in cell.get("outputs") or []:
            texts.append("".join(out.get("text", "")) if isinstance(out.get("text"), (list, str)) else "")
            texts += ["".join(v) if isinstance(v, list) else str(v) for v in (out.get("data") or {}).values()]
        text = "\n".join(texts)
        for label, pattern in SECRET_PATTERNS:
            if pattern.search(text):
                problems.append(Problem(shown, "secret", f"looks like a hard-coded {label}; read it from the "
                                        "environment (os.environ) and never print it", i))
        for m in ASSIGNED_SECRET.finditer(text):
            if m.group("value").strip().lower() not in PLACEHOLDERS and not m.group("value").startswith("$"):
                name = m.group("name")
                problems.append(Problem(shown, "secret", f"{name} is set to a literal string; read it from the "
                                        f"environment instead (os.environ.get({name.upper()!r}))", i))
    return problems


def _check_helper_logic(shown: str, cells: list) -> list[Problem]:
    """Functions or classes pasted into cells, loose helper modules beside the notebook."""
    problems = []
    for i, cell in enumerate(cells):
        tree = _parse(_source(cell)) if cell.get("cell_type") == "code" else None
        if tree is None:
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_DEF_LINES:
                    kind = "class" if isinstance(node, ast.ClassDef) else "function"
                    problems.append(Problem(shown, "helper-logic", f"{kind} {node.name!r} is defined in the "
                                            f"notebook ({length} lines, limit {MAX_DEF_LINES}); move it into "
                                            "kimi_cookbook and import it", i))
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                if any(n.split(".")[0] in {"utils", "helpers", "common"} for n in names):
                    problems.append(Problem(shown, "helper-logic", "imports a loose module beside the notebook "
                                            f"({', '.join(names)}); put the code in kimi_cookbook", i))
    return problems


def _is_text(value) -> bool:
    return isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))


def _malformed_cell(cells: list) -> str:
    """What makes a cell unlike nbformat's (a dict with a ``cell_type``, text ``source``, dict ``metadata``,
    list ``outputs``), or "" when every cell is well formed."""
    for i, cell in enumerate(cells):
        if not isinstance(cell, dict):
            return f"cell {i} is {type(cell).__name__}, not an object"
        if not isinstance(cell.get("cell_type"), str):
            return f"cell {i} has no cell_type"
        if not _is_text(cell.get("source", "")):
            return f"cell {i}'s source is not text (a string or a list of strings)"
        if not isinstance(cell.get("metadata", {}), dict):
            return f"cell {i}'s metadata is not an object"
        if not isinstance(cell.get("outputs", []), list):
            return f"cell {i}'s outputs are not a list"
    return ""


def check_static(path: Path | str) -> list[Problem]:
    """Every check but ``execute``, one :class:`Problem` per finding (``format`` if it is not a notebook)."""
    path = Path(path)
    shown = str(path)
    try:
        nb = _load(path)
    except (OSError, ValueError) as exc:  # JSONDecodeError, UnicodeDecodeError
        return [Problem(shown, "format", f"cannot read the notebook as JSON: {exc}")]
    except RecursionError:
        return [Problem(shown, "format", "cannot read the notebook as JSON: nested too deeply")]
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        return [Problem(shown, "format", "not a Jupyter notebook (no 'cells' list)")]
    cells = nb["cells"]
    bad = _malformed_cell(cells)
    if bad:
        return [Problem(shown, "format", f"not a Jupyter notebook: {bad}")]
    return [
        *_check_name(shown, path),
        *_check_title(shown, nb),
        *_check_parameters(shown, path, cells),
        *_check_stripped(shown, nb),
        *_check_kernel(shown, nb),
        *_check_secrets(shown, cells),
        *_check_helper_logic(shown, cells),
    ]


# --- execution ------------------------------------------------------------------------------------
def check_execution(paths: list[Path], base_url: str = "", timeout: int = 900) -> list[Problem]:
    """Run each notebook with papermill; notebooks with a ``BASE_URL`` parameter get the server's URL."""
    return _with_server(paths, base_url, timeout, store=False)


def keep_outputs(paths: list[Path], base_url: str = "", timeout: int = 900) -> list[Problem]:
    """Refresh the outputs kept in git: run each notebook with its defaults (notebooks with a ``BASE_URL``
    parameter against one embedded server, or ``base_url``), mark every ``# NBVAL_CHECK_OUTPUT`` cell with
    nbstripout's ``keep_output`` metadata, store those cells' outputs and strip every other cell."""
    return _with_server(paths, base_url, timeout, store=True)


def _with_server(paths: list[Path], base_url: str, timeout: int, store: bool) -> list[Problem]:
    problems: list[Problem] = []
    runnable = []
    for p in paths:
        try:
            runnable.append((p, notebook_parameters(p)))
        except Exception as exc:  # unreadable notebook: already reported by the static checks
            problems.append(Problem(str(p), "execute", f"papermill cannot inspect it: {exc}"))
    need_server = any("BASE_URL" in params for _, params in runnable)
    with tempfile.TemporaryDirectory(prefix="check-notebook-") as tmp:
        if need_server:
            from kimi_cookbook.server import connect

            with connect(backend="embedded", base_url=base_url, progress=False) as srv:
                problems += _execute_all(runnable, Path(tmp), srv.base_url, timeout, store)
        else:
            problems += _execute_all(runnable, Path(tmp), "", timeout, store)
    return problems


def _execute_all(runnable, out_dir: Path, base_url: str, timeout: int, store: bool = False) -> list[Problem]:
    problems = []
    for path, params in runnable:
        # a server to attach to, and result folders in the check's temporary folder, not beside the notebook
        given = {"BASE_URL": base_url, "RESULTS_DIR": str(out_dir / "runs" / f"bench-{path.stem}"),
                 "WORKDIR": str(out_dir / "runs" / f"gsm8k-{path.stem}")}
        values = {k: v for k, v in given.items() if v and k in params}
        result = execute_notebook(path, out_dir / path.name, values, timeout=timeout)
        print(f"  executed {path} ({result.status}, {result.seconds:.1f} s)", file=sys.stderr)
        if result.status != "ok":
            error = "\n    ".join(result.error.splitlines()[-6:])
            problems.append(Problem(str(path), "execute", f"fails under papermill:\n    {error}"))
        elif store:
            try:
                kept = store_outputs(path, result.output)
            except ValueError as exc:
                problems.append(Problem(str(path), "keep-outputs", str(exc)))
                continue
            print(f"  kept the outputs of {kept} cell(s) in {path}", file=sys.stderr)
    return problems


def store_outputs(source: Path | str, executed: Path | str) -> int:
    """Copy the outputs of ``source``'s ``# NBVAL_CHECK_OUTPUT`` cells from ``executed`` (papermill's copy) into
    ``source``, marked ``keep_output``; every other cell is stripped. Returns how many cells keep outputs.

    Cells are matched by id, or by position and source where ``source`` has no ids (nbformat 4.4: papermill's
    copy gets new ids, and its injected parameters cell is skipped). A checked cell with no match is a
    ValueError and ``source`` is left as it was; it is rewritten whole (temporary file, then renamed) or not
    at all."""
    import nbformat

    nb = nbformat.read(str(source), as_version=4)
    ran_cells = [c for c in nbformat.read(str(executed), as_version=4).cells
                 if "injected-parameters" not in c.get("metadata", {}).get("tags", [])]
    by_id = {c.get("id"): c for c in ran_cells if c.get("id")}
    same_shape = len(ran_cells) == len(nb.cells)

    def match(i: int, cell):
        if cell.get("id") and cell.get("id") in by_id:
            return by_id[cell["id"]]
        if same_shape and ran_cells[i].get("source") == cell.get("source"):
            return ran_cells[i]
        return None

    kept, missing = 0, []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        ran = match(i, cell) if is_checked(cell) else None
        if is_checked(cell) and ran is None:
            missing.append(i + 1)
        cell.execution_count = None
        cell.metadata.pop("keep_output", None)
        cell.outputs = []
        if ran is not None:
            cell.metadata["keep_output"] = True
            cell.outputs = ran.get("outputs", [])
            for out in cell.outputs:
                if "execution_count" in out:
                    out["execution_count"] = None
            kept += 1
    if missing:
        raise ValueError(f"{source}: cell(s) {missing} (# NBVAL_CHECK_OUTPUT) have no counterpart in the executed "
                         "copy (by id or by position); the notebook was left as it was")
    nb.metadata.pop("widgets", None)
    nb.metadata.pop("papermill", None)
    atomic_write(source, nbformat.writes(nb) + "\n")
    return kept


# --- README index ---------------------------------------------------------------------------------
def render_index(folder: Path | str = "notebooks", root: Path | str = ".") -> str:
    """The markdown table of the cookbook notebooks, from their own titles and intros."""
    lines = ["| notebook | what it does |", "|---|---|"]
    for path in list_notebooks(folder):
        title, intro = title_and_intro(_load(path))
        rel = path.resolve().relative_to(Path(root).resolve()).as_posix()
        cell = first_sentence(intro).replace("|", "\\|") or "(no intro paragraph)"
        label = (title or path.stem).replace("|", "\\|").replace("[", "\\[").replace("]", "\\]")
        lines.append(f"| [{label}]({rel}) | {cell} |")
    return "\n".join(lines)


def update_index(readme_text: str, table: str) -> str:
    start, end = readme_text.find(INDEX_START), readme_text.find(INDEX_END)
    if start < 0 or end < 0 or end < start:
        raise ValueError(f"README has no {INDEX_START} ... {INDEX_END} markers; add them where the index goes")
    head = readme_text[: start + len(INDEX_START)]
    return f"{head}\n{table}\n{readme_text[end:]}"
