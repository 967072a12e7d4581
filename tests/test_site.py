"""The static website (`make site`, scripts/build_site.py): built for real with Sphinx + MyST-NB (-W), checked
offline for broken links, and read in headless Chromium -- the index, a notebook page with a plot, and the static
command selector clicked through every combination it offers, each compared with ``render_command``.

The browser part needs ``playwright`` (pip) and Debian's ``/usr/bin/chromium``, like tests/test_browser.py:
skipped locally without them, a failure in CI (``CI=true``).
"""

from __future__ import annotations

import functools
import html
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from kimi_cookbook.docker import docker_pull, image_for
from kimi_cookbook.hardware import GPUS
from kimi_cookbook.selector import OPTIONS, PAGE_ERROR_TEXT, build_launch_spec, render_command
from kimi_cookbook.versions import PAGE_VERSION, VERSIONS, changes_markdown
from test_browser import CHROMIUM, CHROMIUM_ARGS, IN_CI, _missing  # one home for the browser set-up

REPO_ROOT = Path(__file__).resolve().parent.parent
SCRIPT = REPO_ROOT / "scripts" / "build_site.py"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
REPO = "example-owner/kimi-cookbook"  # Binder links are made for this repository in the test build


def _load_builder():
    spec = importlib.util.spec_from_file_location("build_site", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_site"] = module
    spec.loader.exec_module(module)
    return module


site_builder = _load_builder()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site built once for this module, as `make site` builds it (into a temporary folder)."""
    out = tmp_path_factory.mktemp("site") / "site"
    info = site_builder.build(out, repo=REPO)
    print(f"site built in {info['total_s']} s: {info}")
    return out, info


class _Text(HTMLParser):
    """A page's visible text (scripts and styles left out) and its tags of interest."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0
        self.links: list[tuple[str, str]] = []  # (href, text)
        self._href: str | None = None
        self._link_text: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self.skip += 1
        if tag == "a":
            self._href, self._link_text = dict(attrs).get("href"), []

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self.skip -= 1
        if tag == "a" and self._href is not None:
            self.links.append((self._href, " ".join("".join(self._link_text).split())))
            self._href = None

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)
            if self._href is not None:
                self._link_text.append(data)

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.parts).split())


def plain(text: str) -> str:
    """Text as compared here: Markdown's backticks and escapes dropped, Sphinx's curly quotes made straight."""
    text = html.unescape(text).replace("`", "").replace("\\", "")
    return " ".join(text.translate(str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"'})).split())


def read_page(path: Path) -> _Text:
    parser = _Text()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def kept_outputs(notebook: Path) -> list[dict]:
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    return [out for cell in nb["cells"] if cell["cell_type"] == "code" for out in cell.get("outputs", [])]


def first_line(output: dict) -> str | None:
    """The first non-empty line of an output's text, as a reader sees it."""
    text = output.get("text") or output.get("data", {}).get("text/plain")
    if text is None or set(output.get("data", {})) - {"text/plain"}:
        return None
    text = "".join(text) if isinstance(text, list) else text
    return next((" ".join(line.split()) for line in text.splitlines() if line.strip()), None)


# --- the selector's data and combinations (no build) ------------------------------------------------------------
def test_selector_data_comes_from_the_python_modules():
    data = site_builder.selector_data()
    assert data["options"] == OPTIONS and data["errorText"] == PAGE_ERROR_TEXT
    assert list(data["hardware"]) == [item["id"] for item in OPTIONS["hardware"]["items"]] == list(GPUS)
    for gid, facts in data["hardware"].items():
        spec = build_launch_spec(gid)
        assert facts["tp"] == spec.option("--tp") and facts["env"] == spec.env
        assert facts["images"] == {v: image_for(gid, None if v == PAGE_VERSION else v) for v in VERSIONS}
    assert [i["id"] for i in data["versionGroup"]["items"]] == list(VERSIONS)
    # the JSON is what the page embeds; it survives the trip
    assert json.loads(json.dumps(data)) == data


def test_the_selector_offers_every_combination_once():
    combos = site_builder.combinations(site_builder.selector_data())
    radio = [g for g in OPTIONS.values() if g.get("type") != "checkbox"]
    expected = len(VERSIONS)
    for group in radio:
        expected *= len(group["items"])
    assert len(combos) == expected == 6 * 1 * 2 * 2 * 2
    assert len({json.dumps([v, ver], sort_keys=True) for v, ver in combos}) == expected
    assert all(v["strategy"] == ["tp"] for v, _ in combos)  # the required checkbox stays checked


def test_render_command_takes_the_sglang_version():
    assert "--attention-backend" in render_command({"hardware": "b200"})
    assert "--attention-backend" not in render_command({"hardware": "b200"}, sglang_version="0.5.16")
    assert render_command({"hardware": "mi300x"}, sglang_version=PAGE_VERSION) == render_command()
    assert render_command({"reasoning": "enabled"}, sglang_version="0.5.16") == PAGE_ERROR_TEXT


# --- the link check and the warnings rule (small inputs) --------------------------------------------------------
def test_link_check_finds_broken_links_missing_anchors_and_network_loads(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "index.html").write_text(
        '<a id="top" href="sub/page.html#here">ok</a> <a href="#top">ok</a> <a href="https://example.org/">external'
        '</a> <a href="missing.html">broken</a> <a href="sub/page.html#nowhere">no anchor</a>'
        '<img src="sub/pic.png"> <script src="https://cdn.example.org/x.js"></script>')
    (tmp_path / "sub" / "page.html").write_text('<h1 id="here">x</h1><a href="../index.html">back</a>')
    checked, problems = site_builder.check_links(tmp_path)
    assert checked == 6
    assert len(problems) == 4, problems
    assert any("missing.html is broken" in p for p in problems)
    assert any("#nowhere" in p for p in problems)
    assert any("sub/pic.png is broken" in p for p in problems)
    assert any("loads https://cdn.example.org/x.js from the network" in p for p in problems)


@pytest.mark.slow
def test_a_sphinx_warning_fails_the_build(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "index.md").write_text("# Title\n\nA link to [a page that does not exist](missing.md).\n")
    with pytest.raises(site_builder.SiteError, match="sphinx-build failed") as err:
        site_builder.sphinx_build(src, tmp_path / "out", tmp_path / "doctrees")
    assert "missing" in str(err.value)


def test_the_readme_index_is_required(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# A README without the notebook table\n")
    with pytest.raises(site_builder.SiteError, match="kimi-cookbook index"):
        site_builder.readme_index(readme)
    rows = site_builder.readme_index()
    assert [r["path"] for r in rows] == sorted(r["path"] for r in rows) and rows


def test_links_are_rewritten_for_where_a_file_is_on_the_site():
    notebook = REPO_ROOT / "notebooks" / "01_docker_setup.ipynb"
    run = sorted(p for p in (REPO_ROOT / "docs" / "validation").iterdir() if p.is_dir())[0]
    own = next(n for n in ("README.md", "summary.md") if (run / n).is_file())
    text = (f"[next](02_command_selector.ipynb#the-selector) [run](../docs/validation/{run.name}/{own}) "
            "[code](../kimi_cookbook/selector.py) [web](https://example.org/x) [here](#top) [gone](../nothing.md)")
    with_repo = site_builder.rewrite_links(text, notebook, REPO)
    assert "[next](02_command_selector.ipynb#the-selector)" in with_repo
    assert f"[run](../validation/{run.name}/index.md)" in with_repo
    assert f"[code](https://github.com/{REPO}/blob/HEAD/kimi_cookbook/selector.py)" in with_repo
    assert "[web](https://example.org/x)" in with_repo and "[here](#top)" in with_repo
    assert "gone (`nothing.md` in the repository)" in with_repo
    assert "code (`kimi_cookbook/selector.py` in the repository)" in site_builder.rewrite_links(text, notebook, None)
    # from a validation page back to a notebook and to the README (the site's index)
    back = site_builder.rewrite_links("[nb](../../../notebooks/05_speed_benchmark.ipynb) [r](../../../README.md)",
                                      run / own, None)
    assert back == "[nb](../../notebooks/05_speed_benchmark.ipynb) [r](../../index.md)"


@pytest.mark.slow
def test_a_new_validation_folder_becomes_a_page(tmp_path, monkeypatch):
    """Generic over what a run commits: summary.md (no README), a benchmark CSV, a long CSV, JSON, a log with a
    space in its name, links back into the cookbook, a fence in a language Pygments does not know."""
    repo = tmp_path / "repo"  # a checkout's layout: docs/validation/<run>, notebooks/
    validation = repo / "docs" / "validation"
    run = validation / "2027-01-02-sglang-0.5.16-mi300x"
    (repo / "notebooks").mkdir(parents=True)
    (repo / "notebooks" / "05_speed_benchmark.ipynb").write_text("{}")
    (run / "bench").mkdir(parents=True)
    (run / "summary.md").write_text(
        "# Four MI300X, the real model\n\nSee [notebook 05](../../../notebooks/05_speed_benchmark.ipynb), "
        "[the planner](../../../kimi_cookbook/capacity/plan.py) and [the log](server%20log.txt).\n\n"
        "```weird-lexer\nraw output\n```\n")
    (run / "server log.txt").write_text("started\n")
    rows = ["name,max_concurrency,num_prompts,output_token_throughput_tok_s,mean_ttft_ms,mean_tpot_ms,"
            "median_ttft_ms,median_tpot_ms,mean_e2e_latency_ms"]
    rows += [f"c{c},{c},{10 * c},{150.5 * c},{100 + c},{5 + c / 10},{90 + c},{4 + c / 10},{2000 + c}"
             for c in (1, 16, 100)]
    (run / "bench" / "results.csv").write_text("\n".join(rows) + "\n")
    (run / "metrics.csv").write_text("t,value\n" + "".join(f"{i},{i * i}\n" for i in range(100)))
    (run / "manifest.json").write_text(json.dumps({"model": "moonshotai/Kimi-Linear-48B-A3B-Instruct", "tp": 4,
                                                   "ok": True, "log": "line\n" * 20, "gpus": ["MI300X"] * 4}))
    for name, value in (("ROOT", repo), ("VALIDATION", validation), ("NOTEBOOKS", repo / "notebooks"),
                        ("README", repo / "README.md")):
        monkeypatch.setattr(site_builder, name, value)
    src = tmp_path / "src"
    runs = site_builder.stage_validation(src / "validation", None)
    assert runs == [{"name": run.name, "title": "Four MI300X, the real model"}]
    (src / "notebooks").mkdir()
    (src / "notebooks" / "05_speed_benchmark.md").write_text("# Notebook 05 stand-in\n")
    (src / "index.md").write_text("# Site\n\n```{toctree}\nvalidation/index\nnotebooks/05_speed_benchmark\n```\n")
    staged = (src / "validation" / run.name / "index.md").read_text()
    assert "[notebook 05](../../notebooks/05_speed_benchmark.ipynb)" in staged
    assert "the planner (`kimi_cookbook/capacity/plan.py` in the repository)" in staged
    # stand in for the notebook page the full build has (a .md of the same name resolves the same link)
    (src / "validation" / run.name / "index.md").write_text(staged.replace(".ipynb)", ".md)"))
    site_builder.sphinx_build(src, tmp_path / "out", tmp_path / "doctrees")
    assert site_builder.check_links(tmp_path / "out")[1] == []
    page = tmp_path / "out" / "validation" / run.name / "index.html"
    text = read_page(page).text
    assert text.index("Four MI300X, the real model") < text.index("Result files")
    assert "page (AMD MI300X, TP 4)" in text and "150.5" in text and "15050.0" in text
    assert "the first 30 of 100 rows" in text
    assert re.search(r'<img [^>]*src="[^"]*_images/bench-results\.png"', page.read_text())
    assert "server log.txt" in text and "MI300X, MI300X" in text and "log (20 lines)" in text


# --- the built site ---------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_the_site_has_every_page_and_no_broken_link(site):
    out, info = site
    assert (out / "index.html").is_file() and (out / "selector.html").is_file() and (out / "versions.html").is_file()
    for rel in info["notebooks"]:
        assert (out / rel).with_suffix(".html").is_file(), rel
    for run in info["runs"]:
        assert (out / "validation" / run / "index.html").is_file(), run
    assert info["links"] > 100
    assert site_builder.check_links(out) == (info["links"], [])
    # the command-line form of the check
    proc = subprocess.run([sys.executable, str(SCRIPT), "--check-links", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0 and f"{info['links']} internal links checked, 0 problem(s)" in proc.stdout
    empty = subprocess.run([sys.executable, str(SCRIPT), "--check-links", str(out.parent)], capture_output=True,
                           text=True)
    assert empty.returncode == 1 and empty.stderr.count("\n") == 1 and "run `make site`" in empty.stderr


@pytest.mark.slow
def test_the_index_follows_the_readme(site):
    out, info = site
    page = read_page(out / "index.html")
    rows = site_builder.readme_index()
    assert info["notebooks"] == [r["path"] for r in rows]
    main = plain(page.text[page.text.index("notebook what it does open"):])
    positions = [main.index(plain(r["title"])) for r in rows]
    assert positions == sorted(positions)
    hrefs = [href for href, _ in page.links]
    for row in rows:
        name = Path(row["path"]).name
        assert f"notebooks/{Path(name).stem}.html" in hrefs
        assert f"https://mybinder.org/v2/gh/{REPO}/HEAD?urlpath=lab/tree/notebooks/{name}" in hrefs
        assert f"http://localhost:8888/lab/tree/{name}" in hrefs
    for target in ("selector.html", "versions.html", "validation/index.html"):
        assert target in hrefs


@pytest.mark.slow
def test_every_notebook_page_shows_its_kept_outputs(site):
    out, info = site
    plots = 0
    for rel in info["notebooks"]:
        outputs = kept_outputs(REPO_ROOT / rel)
        body = (out / rel).with_suffix(".html").read_text(encoding="utf-8")
        text = read_page((out / rel).with_suffix(".html")).text
        shown = body.count('class="cell_output')
        with_outputs = sum(1 for c in json.loads((REPO_ROOT / rel).read_text())["cells"] if c.get("outputs"))
        assert shown == with_outputs, f"{rel}: {shown} output areas, {with_outputs} cells keep outputs"
        for output in outputs:
            line = first_line(output)
            if line:
                assert line in text, f"{rel}: kept output line {line!r} is not on the page"
        pngs = sum(1 for o in outputs if "image/png" in o.get("data", {}))
        assert len(re.findall(r'<img [^>]*src="\.\./_images/', body)) == pngs, rel
        plots += pngs
        assert "Open this notebook:" in text and "Traceback" not in text
    assert plots > 0, "no notebook keeps a plot"


@pytest.mark.slow
def test_validation_pages_show_tables_and_plots_from_the_result_files(site):
    out, info = site
    index = read_page(out / "validation" / "index.html")
    for run in info["runs"]:
        folder = REPO_ROOT / "docs" / "validation" / run
        assert any(href == f"{run}/index.html" for href, _ in index.links)
        page_path = out / "validation" / run / "index.html"
        body = page_path.read_text(encoding="utf-8")
        text = read_page(page_path).text
        results = sorted(p for p in folder.rglob("*") if p.suffix in (".csv", ".json"))
        for path in results:
            rel = path.relative_to(folder).as_posix()
            assert rel in text, f"{run}: no section for {rel}"
        assert body.count("<table") >= len(results)
        # a benchmark result file is set beside the page's MI300X numbers, with its plot
        for csv in folder.rglob("*.csv"):
            head = csv.read_text().splitlines()[0]
            if "max_concurrency" in head and "output_token_throughput_tok_s" in head:
                assert "page (AMD MI300X, TP 4)" in text
                assert re.search(r'<img [^>]*src="[^"]*_images/[^"]*\.png"', body)
                first = csv.read_text().splitlines()[1].split(",")[0]
                assert first in text  # the committed rows themselves
        # the folder's own text comes first
        own = next((folder / n for n in ("README.md", "summary.md") if (folder / n).is_file()), None)
        if own:
            title = next(line[2:].strip() for line in own.read_text().splitlines() if line.startswith("# "))
            assert text.index(" ".join(title.split())) < text.index("Result files")


@pytest.mark.slow
def test_versions_page_has_the_versions_table(site):
    out, _ = site
    text = read_page(out / "versions.html").text
    for line in changes_markdown().splitlines()[2:]:
        version = line.split("|")[1].strip()
        assert version in text
    for v in VERSIONS.values():
        for gid in GPUS:
            assert v.image(gid) in text
    # flags are shown as written: no typographic dashes or quotes
    assert "--dataset-name random" in text and "--attention-backend triton" in text
    assert not set(text) & {"\u2013", "\u2019", "\u201c"}  # (the theme joins its title with an em dash)


@pytest.mark.slow
def test_the_selector_page_embeds_the_data_and_a_no_script_command(site):
    out, _ = site
    body = (out / "selector.html").read_text(encoding="utf-8")
    m = re.search(r'<script type="application/json" id="kimi-selector-data">(.*?)</script>', body, re.S)
    assert m and json.loads(m.group(1)) == site_builder.selector_data()
    assert html.escape(render_command()) in body  # what readers without JavaScript see
    assert (out / "_static" / "selector.js").is_file()


# --- in the browser ---------------------------------------------------------------------------------------------
@pytest.fixture
def served(site):
    """The built site over HTTP on 127.0.0.1, as a reader's browser gets it."""
    missing = _missing()
    if missing:
        if IN_CI:
            pytest.fail(f"site browser test cannot run in CI: {missing}")
        pytest.skip(f"site browser test skipped: {missing}")
    out, info = site

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(out)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", info
    finally:
        server.shutdown()
        server.server_close()


def _notebook_with_a_plot(info) -> str:
    for rel in info["notebooks"]:
        if any("image/png" in o.get("data", {}) for o in kept_outputs(REPO_ROOT / rel)):
            return rel
    pytest.fail("no notebook keeps a plot in its outputs")


@pytest.mark.slow
def test_the_site_in_chromium(served):
    from playwright.sync_api import expect, sync_playwright

    base, info = served
    ARTIFACTS.mkdir(exist_ok=True)
    shots = {name: ARTIFACTS / f"site_{name}.png" for name in ("index", "notebook", "selector")}
    for shot in shots.values():
        shot.unlink(missing_ok=True)
    data = site_builder.selector_data()
    offsite, errors = [], []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(30_000)
            page.on("request", lambda r: None if r.url.startswith((base, "data:")) else offsite.append(r.url))
            page.on("pageerror", lambda e: errors.append(str(e)))

            # the index: the README's title, every notebook in its order, and a link that leads to its page
            page.goto(f"{base}/index.html")
            expect(page.locator("h1").first).to_contain_text("Kimi-Linear on SGLang")
            rows = site_builder.readme_index()
            table = page.locator("table").first
            links = table.locator("tbody tr td:first-child a")
            assert links.count() == len(rows)
            for i, row in enumerate(rows):
                assert plain(links.nth(i).inner_text()) == plain(row["title"])
            page.screenshot(path=str(shots["index"]))

            # a notebook page with a plot: reached by its link on the index, every kept image drawn
            rel = _notebook_with_a_plot(info)
            links.nth(info["notebooks"].index(rel)).click()
            page.wait_for_url(f"**/{Path(rel).with_suffix('.html').as_posix()}")
            images = page.locator(".cell_output img")
            pngs = sum(1 for o in kept_outputs(REPO_ROOT / rel) if "image/png" in o.get("data", {}))
            assert images.count() == pngs > 0
            for i in range(pngs):
                images.nth(i).scroll_into_view_if_needed()
                assert images.nth(i).evaluate("img => img.complete && img.naturalWidth > 100"), f"image {i} of {rel}"
            page.screenshot(path=str(shots["notebook"]))

            # the selector: from the sidebar, then every combination, clicked
            page.locator("nav.bd-docs-nav").get_by_role("link", name="Command selector", exact=True).click()
            page.wait_for_url("**/selector.html")
            root = page.locator("#kimi-selector[data-ready=true]")
            root.wait_for()
            command, docker = page.locator("#kimi-command"), page.locator("#kimi-docker")
            assert command.inner_text() == render_command()
            tp = page.locator('label.kimi-item[data-group="strategy"] input')
            assert tp.is_checked() and tp.is_disabled()
            version_key = data["versionGroup"]["name"]
            state = {k: None for k in list(OPTIONS) + [version_key] if OPTIONS.get(k, {}).get("type") != "checkbox"}
            checked = 0
            for values, version in site_builder.combinations(data):
                wanted = dict(values, **{version_key: version})
                for group in state:
                    if state[group] != wanted[group]:
                        label = page.locator(f'label.kimi-item[data-group="{group}"][data-id="{wanted[group]}"]')
                        label.click()
                        expect(label).to_have_class(re.compile(r"\bkimi-checked\b"))
                        state[group] = wanted[group]
                expected = render_command(values, sglang_version=version)
                shown = command.inner_text()
                assert shown == expected, f"{wanted}: the page shows\n{shown}\nrender_command gives\n{expected}"
                pull = docker_pull(values["hardware"], sglang_version=None if version == PAGE_VERSION else version)
                assert docker.inner_text() == pull == docker_pull(values["hardware"], sglang_version=version)
                checked += 1
            assert checked == len(site_builder.combinations(data)) == 48
            # back to a useful state for the picture: H100, tool calls on, the validated version
            for group, item in (("hardware", "h100"), ("toolcall", "enabled"), ("reasoning", "disabled"),
                                (version_key, "0.5.16")):
                page.locator(f'label.kimi-item[data-group="{group}"][data-id="{item}"]').click()
            assert "--tool-call-parser kimi_k2" in command.inner_text()
            page.screenshot(path=str(shots["selector"]))
        finally:
            browser.close()
    assert offsite == [], f"the site fetched from outside: {offsite[:5]}"
    assert errors == [], errors
    for shot in shots.values():
        assert shot.stat().st_size > 10_000


@pytest.mark.slow
def test_make_site_builds_into_build_site_and_make_clean_removes_it(tmp_path):
    """The Makefile's target, README and the builder agree on build/site/; `make clean CONFIRM=1` removes it."""
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert re.search(r"^site:.*## ", makefile, re.M) and ".venv/bin/python scripts/build_site.py" in makefile
    assert "build/site/index.html" in (REPO_ROOT / "README.md").read_text()
    assert site_builder.DEFAULT_OUT == REPO_ROOT / "build" / "site"
    root = tmp_path / "repo"
    (root / "scripts").mkdir(parents=True)
    shutil.copy2(REPO_ROOT / "scripts" / "clean.sh", root / "scripts")
    for rel in ("build/site/index.html", "build/site-src/index.md", "docs/site/conf.py"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("x")
    env = dict(os.environ, KIMI_COOKBOOK_CACHE=str(tmp_path / "no-cache"))
    done = subprocess.run(["bash", "scripts/clean.sh", "--delete"], cwd=root, env=env, capture_output=True,
                          text=True, check=True)
    assert "./build" in done.stdout
    assert not (root / "build").exists() and (root / "docs" / "site" / "conf.py").is_file()
