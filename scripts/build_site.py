"""Build the cookbook's static website: every notebook with its kept outputs, the validation runs, the versions
table and a command selector that needs no kernel (run by `make site`).

    python scripts/build_site.py                          # build/site/index.html
    python scripts/build_site.py --out DIR                # elsewhere
    python scripts/build_site.py --github OWNER/REPO      # Binder links for that repository (default: origin)
    python scripts/build_site.py --check-links DIR        # only the offline link check of a built site

Three steps. (1) Stage the sources in build/site-src/: the notebooks as committed (never executed: the outputs
kept in git are the truth) with an "open it" line added, an index in the README's order, one page per folder of
docs/validation/ (its README.md or summary.md, then tables and plots drawn now from its *.csv and *.json files,
benchmark tables beside the SGLang page's MI300X numbers), the versions table, and the selector page with the
selector module's data as JSON for docs/site/_static/selector.js. (2) sphinx-build with docs/site/conf.py
(MyST-NB), -W -n: any warning fails. (3) Check every internal link, anchor and asset of the built HTML offline,
and that no page loads anything from the network. Exit status 0 built, 1 failed, 2 bad input.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONF_DIR = ROOT / "docs" / "site"
VALIDATION = ROOT / "docs" / "validation"
README = ROOT / "README.md"
NOTEBOOKS = ROOT / "notebooks"
DEFAULT_OUT = ROOT / "build" / "site"
LAB_URL = "http://localhost:8888/lab/tree/{name}"  # `make lab` serves notebooks/ on JupyterLab's default port
BINDER_URL = "https://mybinder.org/v2/gh/{repo}/HEAD?urlpath=lab/tree/notebooks/{name}"
INDEX_START, INDEX_END = "<!-- notebook-index:start -->", "<!-- notebook-index:end -->"
MAIN_PAGE_NAMES = ("README.md", "summary.md")  # a validation folder's own text, first found wins
WIDE = 8  # tables with more columns than this are shown one column per row
LONG = 30  # rows shown of a longer table (the whole file is linked)


class SiteError(Exception):
    """An expected failure: one line says what was wrong and what to do."""


# --- the selector's data: one source of truth, the Python modules ---------------------------------------------
def selector_data() -> dict:
    """What selector.js needs, from kimi_cookbook.selector / hardware / versions / docker."""
    from kimi_cookbook.docker import image_for
    from kimi_cookbook.selector import (
        MODEL_MAP, OPTIONS, PAGE_ERROR_TEXT, REASONING_PARSERS, TOOL_CALL_PARSERS, LaunchSpec, build_launch_spec,
    )
    from kimi_cookbook.versions import PAGE_VERSION, VERSIONS, launch_extra_args

    hardware = {}
    for item in OPTIONS["hardware"]["items"]:
        gid = item["id"]
        spec = build_launch_spec(gid)
        hardware[gid] = {
            "tp": spec.option("--tp"),
            "env": spec.env,
            "extraArgs": {v: list(launch_extra_args(gid, v)) for v in VERSIONS},
            "images": {v: image_for(gid, None if v == PAGE_VERSION else v) for v in VERSIONS},
        }
    return {
        "options": OPTIONS,
        "versionGroup": {
            "name": "sglang_version",
            "title": "SGLang Version",
            "items": [{"id": v, "label": f"{v} (the page's)" if v == PAGE_VERSION else v, "default": v == PAGE_VERSION}
                      for v in VERSIONS],
        },
        "modelMap": MODEL_MAP,
        "errorText": PAGE_ERROR_TEXT,
        "toolCallParser": TOOL_CALL_PARSERS[0],
        "reasoningParser": REASONING_PARSERS[0],
        "module": LaunchSpec().module,
        "hardware": hardware,
    }


def combinations(data: dict) -> list[tuple[dict, str]]:
    """Every choice the static selector offers: (page values, SGLang version), radio groups crossed."""
    import itertools

    groups = dict(data["options"], **{data["versionGroup"]["name"]: data["versionGroup"]})
    radio = {k: [i["id"] for i in g["items"]] for k, g in groups.items() if g.get("type") != "checkbox"}
    fixed = {k: [i["id"] for i in g["items"] if i.get("default")]
             for k, g in groups.items() if g.get("type") == "checkbox"}
    out = []
    for choice in itertools.product(*radio.values()):
        values = dict(zip(radio, choice), **fixed)
        version = values.pop(data["versionGroup"]["name"])
        out.append((values, version))
    return out


# --- staging ----------------------------------------------------------------------------------------------------
def readme_index(readme: Path = README) -> list[dict]:
    """The README's notebook table (between the notebook-index markers), in its order."""
    text = readme.read_text(encoding="utf-8")
    start, end = text.find(INDEX_START), text.find(INDEX_END)
    if start < 0 or end < start:
        raise SiteError(f"{readme.name} has no {INDEX_START} ... {INDEX_END} table: run `kimi-cookbook index`")
    rows = []
    for line in text[start:end].splitlines():
        m = re.match(r"\|\s*\[(?P<title>(?:\\.|[^\]])*)\]\((?P<path>[^)]+)\)\s*\|\s*(?P<what>.*?)\s*\|\s*$", line)
        if m:
            rows.append({"title": m["title"], "path": m["path"], "what": m["what"]})
    return rows


def github_repo(remote: str = "origin") -> str | None:
    """owner/repo of the GitHub remote (as scripts/binder-url.sh derives it), else None. The URL is never shown."""
    try:
        url = subprocess.run(["git", "remote", "get-url", remote], cwd=ROOT, capture_output=True, text=True,
                             timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"github\.com[:/]([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+?)(?:\.git)?/?$", url)
    return m.group(1) if m else None


def open_links(name: str, repo: str | None) -> str:
    """Markdown: where to open notebook ``name``."""
    lab = f"[JupyterLab]({LAB_URL.format(name=urllib.parse.quote(name))}) (after `make lab`)"
    if repo:
        return f"[Binder]({BINDER_URL.format(repo=repo, name=urllib.parse.quote(name))}) · {lab}"
    return f"{lab} · Binder: `make binder` once the repository is on GitHub"


def stage_notebook(source: Path, dest: Path, repo: str | None) -> None:
    """The committed notebook, unexecuted, with one markdown cell after its title: where to open it."""
    nb = json.loads(source.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            cell["source"] = rewrite_links(text, source, repo)
    text = f"**Open this notebook:** {open_links(source.name, repo)}."
    if source.name.startswith("02_"):
        text += ("\n\nOn this site the selector widget below has no kernel behind it: the "
                 "[static command selector](../selector.md) gives the same commands in your browser.")
    cell = {"cell_type": "markdown", "metadata": {}, "source": text}
    if nb.get("nbformat", 4) >= 4 and nb.get("nbformat_minor", 0) >= 5:
        cell["id"] = "kimi-site-open-links"
    nb["cells"].insert(1, cell)
    dest.write_text(json.dumps(nb, indent=1, ensure_ascii=False), encoding="utf-8")


def _cell(value) -> str:
    """A value for a Markdown table cell, shown literally (JSON's spelling for true/false)."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    text = json.dumps(value) if isinstance(value, bool) else str(value).replace("\n", " ")
    return re.sub(r"([\\`*_{}\[\]<>()#+!|$~])", r"\\\1", text)


def md_table(header: list, rows: list[list]) -> str:
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def details(summary: str, lines: list[str]) -> list[str]:
    """Markdown lines folded under a one-line summary (an HTML <details>; the Markdown inside is still parsed)."""
    return ["<details>", f"<summary>{html.escape(summary)}</summary>", "", *lines, "", "</details>", ""]


def frame_table(frame) -> str:
    """A DataFrame as a Markdown table; a wide one turned so that each column is a row; a long one cut."""
    if len(frame.columns) > WIDE and len(frame) <= WIDE:
        label = frame.columns[0]
        header = ["column"] + [str(v) for v in frame[label]]
        rows = [[col] + list(frame[col]) for col in frame.columns[1:]]
        return md_table(header, rows)
    rows = frame.values.tolist()
    table = md_table(list(frame.columns), rows[:LONG])
    if len(rows) > LONG:
        table += f"\n\n(the first {LONG} of {len(rows)} rows: the whole file is linked above)"
    return table


def md_link(text: str, target: str) -> str:
    return f"[{_cell(text)}]({urllib.parse.quote(target)})"


def is_bench(frame) -> bool:
    return {"max_concurrency", "output_token_throughput_tok_s"} <= set(frame.columns)


def bench_section(frame, plots: Path, stem: str, page_dir: Path) -> list[str]:
    """A benchmark table beside the SGLang page's MI300X runs, and the plot of both against concurrency."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from kimi_cookbook.bench import plot_vs_concurrency
    from kimi_cookbook.bench.reference import reference_data
    from kimi_cookbook.report import benchmark_table

    ref = reference_data()
    table = benchmark_table(frame)
    plots.mkdir(exist_ok=True)
    png = plots / f"{stem}.png"
    fig = plot_vs_concurrency(frame, run_label="this run", title=f"{stem}: this run and the page's runs")
    fig.savefig(png, dpi=72, bbox_inches="tight")
    plt.close(fig)
    rel = png.relative_to(page_dir).as_posix()
    return [
        f"Beside the SGLang page's numbers ({ref['tp']} x {ref['hardware']}, TP {ref['tp']}, SGLang "
        f"{ref['sglang_version']}, `{ref['model']}`) at the same max concurrency. A run of the tiny random-weight "
        "model shows the path works; its speed says nothing about Kimi-Linear's.", "", frame_table(table), "",
        f"![{stem}: output throughput, TPOT and TTFT against max concurrency, this run beside the page's]({rel})", "",
    ]


def csv_section(path: Path, plots: Path, page_dir: Path) -> list[str]:
    import pandas as pd

    try:
        shown = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
        numeric = pd.read_csv(path, skipinitialspace=True)
    except (ValueError, pd.errors.ParserError) as exc:
        return [f"(not a table: {_cell(exc)})", ""]
    what = f"{len(shown)} row(s), {len(shown.columns)} column(s), as committed"
    if is_bench(numeric):
        return (bench_section(numeric, plots, _stem(path, page_dir), page_dir)
                + details(f"All of {path.name}: {what}", [frame_table(shown)]))
    if len(shown.columns) > WIDE and len(shown) > WIDE:
        return details(f"{path.name}: {what}", [frame_table(shown)])
    return [f"{what}.", "", frame_table(shown), ""]


def _stem(path: Path, page_dir: Path) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", path.relative_to(page_dir).with_suffix("").as_posix())


def json_section(path: Path, plots: Path, page_dir: Path) -> list[str]:
    """A JSON result file as tables: its scalars, each object, each list of objects; long text as code."""
    import pandas as pd

    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        return [f"(not JSON: {_cell(exc)})", ""]
    if isinstance(doc, list):
        doc = {"items": doc}
    if not isinstance(doc, dict):
        return ["```json", json.dumps(doc, indent=1), "```", ""]
    out: list[str] = []
    scalars = [[k, v] for k, v in doc.items()
               if not isinstance(v, (dict, list)) and not (isinstance(v, str) and ("\n" in v or len(v) > 160))]
    if scalars:
        out += [md_table(["key", "value"], scalars), ""]
    for key, value in doc.items():
        if isinstance(value, dict) and value:
            flat = [[k, json.dumps(v) if isinstance(v, (dict, list)) else v] for k, v in value.items()]
            out += [f"**{_cell(key)}**", "", md_table(["key", "value"], flat), ""]
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            frame = pd.DataFrame(value)
            table = [frame_table(frame.astype(object).where(frame.notna(), None))]
            out += [f"**{_cell(key)}**", ""]
            if is_bench(frame):
                out += bench_section(frame, plots, f"{_stem(path, page_dir)}-{key}", page_dir)
                out += details(f"All of {key}: {len(frame)} row(s), {len(frame.columns)} column(s)", table)
            else:
                out += table + [""]
        elif isinstance(value, list) and value:
            out += [f"**{_cell(key)}**: " + ", ".join(_cell(v) for v in value), ""]
        elif isinstance(value, str) and ("\n" in value or len(value) > 160):
            fence = "````" if "```" in value else "```"
            block = [f"{fence}text", value.rstrip("\n"), fence]
            lines = len(value.rstrip("\n").splitlines())
            out += (details(f"{key} ({lines} lines)", block) if lines > 15
                    else [f"**{_cell(key)}**", "", *block, ""])
    return out


GITHUB_BLOB = "https://github.com/{repo}/blob/HEAD/{path}"
_LINK = re.compile(r"(?<!!)\[(?P<text>[^\]]*)\]\((?P<target>[^)\s]+)\)")


def site_location(path: Path) -> str | None:
    """Where a repository file is on the site (relative to the site's sources), or None when it is not there."""
    path = path.resolve()
    if path == README.resolve():
        return "index.md"
    if path.parent == NOTEBOOKS.resolve() and re.match(r"\d", path.name) and path.suffix == ".ipynb":
        return f"notebooks/{path.name}"
    try:
        rel = path.relative_to(VALIDATION.resolve())
    except ValueError:
        return None
    if len(rel.parts) == 2 and rel.name in MAIN_PAGE_NAMES:
        folder = VALIDATION / rel.parts[0]
        if next(n for n in MAIN_PAGE_NAMES if (folder / n).is_file()) == rel.name:
            return f"validation/{rel.parts[0]}/index.md"
    if len(rel.parts) == 1 and rel.name == "README.md":
        return "validation/index.md"
    return f"validation/{rel.as_posix()}" if path.exists() else None


def rewrite_links(text: str, source: Path, repo: str | None) -> str:
    """Relative Markdown links of repository file ``source``, made to work from its place on the site: to the
    staged page or file where the target is on the site, else to the file on GitHub (when the repository is
    known), else plain text naming the file."""
    here = site_location(source)

    def fix(m: re.Match) -> str:
        target = m["target"]
        if re.match(r"^[a-z][a-z0-9+.-]*:|^#|^/", target) or here is None:
            return m.group(0)
        path_part, _, fragment = target.partition("#")
        resolved = (source.parent / urllib.parse.unquote(path_part)).resolve()
        there = site_location(resolved)
        if there is not None:
            new = os.path.relpath(there, os.path.dirname(here) or ".").replace(os.sep, "/")
            return f"[{m['text']}]({urllib.parse.quote(new)}{'#' + fragment if fragment else ''})"
        try:
            rel = resolved.relative_to(ROOT).as_posix()
        except ValueError:
            return m.group(0)
        if repo and resolved.exists():
            return f"[{m['text']}]({GITHUB_BLOB.format(repo=repo, path=rel)})"
        return f"{m['text']} (`{rel}` in the repository)"

    return _LINK.sub(fix, text)


def stage_validation(dest: Path, repo: str | None) -> list[dict]:
    """docs/validation/ copied to ``dest``, one page per run folder; returns [{'name', 'title'}] newest first."""
    dest.mkdir(parents=True)
    runs = []
    if not VALIDATION.is_dir():
        return runs
    for entry in sorted(VALIDATION.iterdir()):
        if entry.is_file() and entry.suffix != ".md":
            shutil.copy2(entry, dest / entry.name)
    for folder in sorted((p for p in VALIDATION.iterdir() if p.is_dir()), key=lambda p: p.name, reverse=True):
        page_dir = dest / folder.name
        shutil.copytree(folder, page_dir, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        main = next((page_dir / n for n in MAIN_PAGE_NAMES if (page_dir / n).is_file()), None)
        text = main.read_text(encoding="utf-8", errors="replace") if main else f"# {folder.name}\n"
        if main:
            text = rewrite_links(text, folder / main.name, repo)
            main.unlink()
        title = next((line[2:].strip() for line in text.splitlines() if line.startswith("# ")), folder.name)
        if not text.lstrip().startswith("# "):
            text = f"# {folder.name}\n\n{text}"
        others = sorted(p for p in page_dir.rglob("*.md"))
        for other in others:  # their links too
            text_of = other.read_text(encoding="utf-8", errors="replace")
            other.write_text(rewrite_links(text_of, folder / other.relative_to(page_dir), repo), encoding="utf-8")
        plots = page_dir / "_plots"
        lines = [text.rstrip(), "", "## Result files", "",
                 f"Tables and plots drawn when this site was built, from the files committed in "
                 f"`docs/validation/{folder.name}/`.", ""]
        for path in sorted(p for p in page_dir.rglob("*") if p.suffix in (".csv", ".json") and p.is_file()):
            rel = path.relative_to(page_dir).as_posix()
            lines += [f"### {rel}", "", md_link(rel, rel), ""]
            lines += (csv_section if path.suffix == ".csv" else json_section)(path, plots, page_dir)
        if others:
            lines += ["## Other pages of this run", ""]
            lines += [f"- {md_link(o.relative_to(page_dir).as_posix(), o.relative_to(page_dir).as_posix())}"
                      for o in others]
            lines += ["", "```{toctree}", ":hidden:", ""] + [o.relative_to(page_dir).with_suffix("").as_posix()
                                                             for o in others] + ["```", ""]
        raw = sorted(p for p in page_dir.rglob("*") if p.is_file() and p.suffix not in (".md", ".csv", ".json")
                     and plots not in p.parents)
        if raw:
            lines += ["## Logs and other files", ""]
            lines += [f"- {md_link(p.relative_to(page_dir).as_posix(), p.relative_to(page_dir).as_posix())}"
                      for p in raw]
            lines.append("")
        (page_dir / "index.md").write_text("\n".join(lines), encoding="utf-8")
        runs.append({"name": folder.name, "title": title})
    intro = VALIDATION / "README.md"
    head = (rewrite_links(intro.read_text(encoding="utf-8"), intro, repo).rstrip()
            if intro.is_file() else
            "# GPU validation runs\n\nEach run of the cookbook on real GPUs, as committed under `docs/validation/`: "
            "what was run, what it printed, and its result files as tables and plots.")
    body = [head, "", "| run | what |", "|---|---|"]
    body += [f"| [{_cell(r['name'])}]({r['name']}/index.md) | {_cell(r['title'])} |" for r in runs]
    body += ["", "```{toctree}", ":hidden:", ""] + [f"{r['name']}/index" for r in runs] + ["```", ""]
    (dest / "index.md").write_text("\n".join(body), encoding="utf-8")
    return runs


def versions_page() -> str:
    from kimi_cookbook.hardware import GPUS
    from kimi_cookbook.versions import PAGE_VERSION, VALIDATED_VERSION, VERSIONS, changes_markdown, launch_extra_args

    images = md_table(["GPU"] + [f"SGLang {v}" for v in VERSIONS],
                      [[g.label] + [v.image(gid) for v in VERSIONS.values()] for gid, g in GPUS.items()])
    flags = [[g.label, v, " ".join(launch_extra_args(gid, v)) or "(none)"]
             for gid, g in GPUS.items() for v in VERSIONS
             if any(gid in entry.gpu_launch_args for entry in VERSIONS.values())]
    return "\n".join([
        "# SGLang versions", "",
        f"The SGLang cookbook page pins SGLang {PAGE_VERSION}; the cookbook also knows {VALIDATED_VERSION}, validated "
        "on GPUs (see the [validation runs](validation/index.md)). Everything below comes from "
        "`kimi_cookbook.versions`, the one registry of what differs between versions.", "",
        "## What changed for Kimi-Linear", "", changes_markdown(), "",
        "## Docker images", "", images, "",
        "## Launch flags that differ", "",
        md_table(["GPU", "SGLang", "extra flags"], flags) if flags else "None.", "",
    ])


def selector_page(data: dict) -> str:
    from kimi_cookbook.selector import render_command

    payload = json.dumps(data, ensure_ascii=False, sort_keys=False).replace("</", "<\\/")
    n = len(combinations(data))
    return "\n".join([
        "# Command selector", "",
        "The launch command for your hardware, as the SGLang cookbook page's interactive generator writes it, with "
        "the NVIDIA GPUs and the SGLang versions the cookbook adds. It runs in your browser, with no kernel: its "
        "data is written from `kimi_cookbook.selector` when the site is built, and a browser test checks that all "
        f"{n} combinations print exactly what `render_command` prints.", "",
        "```{raw} html",
        '<div id="kimi-selector" class="kimi-selector"></div>',
        f'<noscript><pre class="kimi-command">{html.escape(render_command())}</pre></noscript>',
        f'<script type="application/json" id="kimi-selector-data">{payload}</script>',
        "```", "",
        "Tensor parallelism, host, port, context length and memory fraction are typed knobs of the cookbook's "
        "selector, which needs Python: [notebook 02](notebooks/02_command_selector.ipynb) in JupyterLab, or "
        "`kimi-cookbook command --hardware h100 --tp 4 --port 30000` on the command line.", "",
    ])


def index_page(rows: list[dict], runs: list[dict], repo: str | None) -> str:
    text = README.read_text(encoding="utf-8")
    title = next((line[2:].strip() for line in text.splitlines() if line.startswith("# ")), "Kimi-Linear cookbook")
    body = text.split("\n", 1)[1] if text.startswith("# ") else text
    intro = rewrite_links(body.split("\n## ", 1)[0].strip(), README, repo)
    table = ["| notebook | what it does | open |", "|---|---|---|"]
    for row in rows:
        name = Path(row["path"]).name
        table.append(f"| [{row['title']}]({row['path']}) | {row['what']} | {open_links(name, repo)} |")
    latest = (f" The newest: [{_cell(runs[0]['title'])}](validation/{runs[0]['name']}/index.md)." if runs else "")
    return "\n".join([
        f"# {title}", "", intro, "",
        "## Notebooks", "",
        "Each page shows the notebook as committed, with the outputs kept in git (nothing is run to build this "
        "site). Open one in JupyterLab (`make lab`) or on Binder to run it.", "",
        *table, "",
        "## Command selector", "",
        "The [command selector](selector.md) writes the launch command for your GPU and SGLang version in the "
        "browser, as the SGLang cookbook page does.", "",
        "## GPU validation runs", "",
        f"[{len(runs)} run(s)](validation/index.md) of the cookbook on real GPUs, with their result files as "
        f"tables and plots.{latest}", "",
        "## SGLang versions", "",
        "[What changed between SGLang versions](versions.md) for Kimi-Linear, the Docker images and the flags "
        "that differ.", "",
        "```{toctree}", ":hidden:", ":caption: Notebooks", "",
        *[row["path"].removesuffix(".ipynb") for row in rows], "```", "",
        "```{toctree}", ":hidden:", ":caption: Reference", "",
        "selector", "versions", "validation/index", "```", "",
    ])


def stage(src: Path, repo: str | None) -> dict:
    """Write the site's sources into ``src`` (emptied first); returns what was staged."""
    if src.exists():
        shutil.rmtree(src)
    (src / "notebooks").mkdir(parents=True)
    rows = readme_index()
    if not rows:
        raise SiteError("README's notebook index is empty: run `kimi-cookbook index`")
    listed = set()
    for row in rows:
        path = (ROOT / row["path"]).resolve()
        if path.parent != NOTEBOOKS.resolve() or not path.is_file():
            raise SiteError(f"README's index links {row['path']}, which is not a notebook in notebooks/: "
                            "run `kimi-cookbook index`")
        stage_notebook(path, src / "notebooks" / path.name, repo)
        listed.add(path.name)
    missing = sorted(p.name for p in NOTEBOOKS.glob("[0-9]*.ipynb") if p.name not in listed)
    if missing:
        raise SiteError(f"README's index lacks {', '.join(missing)}: run `kimi-cookbook index`")
    runs = stage_validation(src / "validation", repo)
    data = selector_data()
    (src / "selector.md").write_text(selector_page(data), encoding="utf-8")
    (src / "versions.md").write_text(versions_page(), encoding="utf-8")
    (src / "index.md").write_text(index_page(rows, runs, repo), encoding="utf-8")
    return {"notebooks": [r["path"] for r in rows], "runs": [r["name"] for r in runs],
            "combinations": len(combinations(data))}


def sphinx_build(src: Path, out: Path, doctrees: Path, quiet: bool = True) -> None:
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-n", "-E", "-c", str(CONF_DIR),
           "-d", str(doctrees), str(src), str(out)]
    if quiet:
        cmd.insert(3, "-q")
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        problems = [line for line in (proc.stderr + proc.stdout).splitlines() if line.strip()]
        raise SiteError("sphinx-build failed (warnings are errors):\n" + "\n".join(problems[-40:]))


# --- the offline link check -------------------------------------------------------------------------------------
class _Page(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[tuple[str, str]] = []  # (attribute, url)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("id", "name") if tag != "meta" else ("id",):
            if attrs.get(key):
                self.ids.add(attrs[key])
        for key in ("href", "src"):
            if attrs.get(key) is not None and tag not in ("base",):
                self.links.append((f"{tag}[{key}]", attrs[key]))


def check_links(out: Path) -> tuple[int, list[str]]:
    """Every relative link, image, script and stylesheet of the built site exists, with its #anchor; no page
    loads a script, stylesheet, image or font from the network. Returns (links checked, problems)."""
    out = out.resolve()
    pages: dict[Path, _Page] = {}
    for path in sorted(out.rglob("*.html")):
        if "_static" in path.relative_to(out).parts:  # the theme's Jinja macro files, not pages
            continue
        parser = _Page()
        parser.feed(path.read_text(encoding="utf-8", errors="replace"))
        pages[path] = parser
    problems, checked = [], 0
    for path, page in pages.items():
        where = path.relative_to(out).as_posix()
        for attr, url in page.links:
            parts = urllib.parse.urlsplit(url)
            if parts.scheme or url.startswith("//"):
                if attr != "a[href]" and parts.scheme in ("http", "https", "") and not url.startswith("data:"):
                    problems.append(f"{where}: {attr} loads {url} from the network")
                continue
            if url.startswith(("mailto:", "javascript:", "data:")):
                continue
            checked += 1
            target = path if not parts.path else (path.parent / urllib.parse.unquote(parts.path)).resolve()
            if parts.path.endswith("/") or target.is_dir():
                target = target / "index.html"
            if out not in target.parents and target != out:
                problems.append(f"{where}: {url} points outside the site")
            elif not target.is_file():
                problems.append(f"{where}: {url} is broken (no {target.relative_to(out).as_posix()})")
            elif parts.fragment and target.suffix == ".html":
                if parts.fragment not in pages[target].ids:
                    problems.append(f"{where}: {url} names an anchor #{parts.fragment} that "
                                    f"{target.relative_to(out).as_posix()} does not have")
    return checked, problems


# --- the whole build --------------------------------------------------------------------------------------------
def build(out: Path = DEFAULT_OUT, repo: str | None = None, quiet: bool = True) -> dict:
    out = Path(out).resolve()
    src = out.parent / f"{out.name}-src"
    t0 = time.monotonic()
    staged = stage(src, repo)
    t1 = time.monotonic()
    if out.exists():
        shutil.rmtree(out)
    sphinx_build(src, out, src / ".doctrees", quiet=quiet)
    t2 = time.monotonic()
    checked, problems = check_links(out)
    t3 = time.monotonic()
    if problems:
        raise SiteError(f"{len(problems)} broken link(s) in the built site:\n" + "\n".join(problems[:40]))
    pages = sum(1 for p in out.rglob("*.html") if "_static" not in p.relative_to(out).parts)
    return dict(staged, out=str(out), links=checked, pages=pages,
                stage_s=round(t1 - t0, 1), sphinx_s=round(t2 - t1, 1), check_s=round(t3 - t2, 1),
                total_s=round(t3 - t0, 1))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: build/site)")
    ap.add_argument("--github", metavar="OWNER/REPO", help="the GitHub repository for Binder links "
                    "(default: the origin remote's; none: no Binder links)")
    ap.add_argument("--check-links", type=Path, metavar="DIR", help="only check the links of a built site")
    ap.add_argument("--verbose", action="store_true", help="show Sphinx's progress")
    args = ap.parse_args(argv)
    try:
        if args.check_links:
            if not (args.check_links / "index.html").is_file():
                raise SiteError(f"{args.check_links} holds no built site (no index.html): run `make site`")
            checked, problems = check_links(args.check_links)
            for p in problems:
                print(p, file=sys.stderr)
            print(f"site: {checked} internal links checked, {len(problems)} problem(s)")
            return 1 if problems else 0
        repo = args.github or github_repo()
        if repo and not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", repo):
            print(f"site: --github takes OWNER/REPO, got {repo!r}", file=sys.stderr)
            return 2
        info = build(args.out, repo, quiet=not args.verbose)
    except SiteError as exc:
        print(f"site: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("site: interrupted", file=sys.stderr)
        return 130
    rel = os.path.relpath(Path(info["out"]) / "index.html")
    print(f"site: {info['pages']} pages ({len(info['notebooks'])} notebooks, {len(info['runs'])} validation run(s), "
          f"selector with {info['combinations']} combinations) in {info['total_s']} s (staging {info['stage_s']} s, "
          f"sphinx {info['sphinx_s']} s, link check {info['check_s']} s: {info['links']} internal links ok)")
    print(f"site: open {rel}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
