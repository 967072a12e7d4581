"""The command selector in a real JupyterLab, driven by headless Chromium.

Starts ``jupyter lab`` (token, 127.0.0.1 only, a temporary root holding a copy of
``notebooks/02_command_selector.ipynb``), opens the notebook in Debian's ``chromium`` through Playwright,
runs all cells from the Run menu, clicks through the widget and, after every click, compares the text the
page shows in the command box with ``render_command`` for the same choices. A screenshot of the final
state is kept in ``tests/artifacts/browser_selector.png``.

Needs ``playwright`` (pip) and ``/usr/bin/chromium`` (apt; Playwright's own browser download is not used).
Outside CI the test is skipped when either is missing; in CI (``CI=true``) that is a failure.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from kimi_cookbook.selector import PAGE_ERROR_TEXT, render_command

pytestmark = pytest.mark.slow  # JupyterLab, a kernel and Chromium

CHROMIUM = os.environ.get("KIMI_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "02_command_selector.ipynb"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
IN_CI = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def _missing() -> str:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -c constraints.txt -e '.[dev]')"
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} not found (make test SYSTEM_PACKAGES=1, or apt-get install chromium)"
    return ""


MISSING = _missing()


@pytest.fixture
def browser_tools():
    """Skip (locally) or fail (CI) when the browser tools are absent."""
    if MISSING:
        if IN_CI:
            pytest.fail(f"browser test cannot run in CI: {MISSING}")
        pytest.skip(f"browser test skipped: {MISSING}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def jupyter_lab(tmp_path, browser_tools):
    """A real JupyterLab on 127.0.0.1 with a random token; yields its base URL and token."""
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)
    settings = tmp_path / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    # no news/update prompt: nothing may pop up over the widget, and nothing goes to the network
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    token = secrets.token_hex(16)
    port = _free_port()
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"), IPYTHONDIR=str(tmp_path / "ipython"))
    log = (tmp_path / "jupyter.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
         f"--ServerApp.root_dir={root}", f"--LabApp.user_settings_dir={tmp_path / 'settings'}",
         f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}", "--LabApp.news_url=None",
         "--LabApp.extension_manager=readonly", "--ServerApp.terminals_enabled=False"]
        + (["--allow-root"] if os.geteuid() == 0 else []),
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                req = urllib.request.Request(f"{base}/api/status", headers={"Authorization": f"token {token}"})
                with urllib.request.urlopen(req, timeout=2) as resp:
                    if resp.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail("jupyter lab did not start:\n" + (tmp_path / "jupyter.log").read_text()[-3000:])
            time.sleep(0.3)
        yield base, token
    finally:
        try:  # clean shutdown stops the kernel too
            req = urllib.request.Request(f"{base}/api/shutdown", method="POST", data=b"",
                                         headers={"Authorization": f"token {token}"})
            urllib.request.urlopen(req, timeout=5).close()
            proc.wait(timeout=15)
        except Exception:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.close()


def _wait_for_text(locator, expected: str, timeout: float = 20.0) -> str:
    """The box's text once it equals ``expected`` (or the last text seen when time runs out)."""
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        seen = locator.inner_text()
        if seen == expected:
            break
        time.sleep(0.1)
    return seen


def test_selector_in_jupyterlab(jupyter_lab):
    from playwright.sync_api import expect, sync_playwright

    base, token = jupyter_lab
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "browser_selector.png"
    shot.unlink(missing_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(60_000)
            page.goto(f"{base}/lab/tree/{NOTEBOOK.name}?reset&token={token}")
            # the kernel is idle once the status bar says so; then Run > Run All Cells
            page.locator(".jp-Notebook").wait_for()
            page.get_by_text("| Idle").first.wait_for()
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_role("menuitem", name="Run All Cells", exact=True).click()

            box = page.locator(".kimi-command pre")
            box.wait_for()
            # every cell ran: the last one prints the typed API's command, and no cell raised
            page.get_by_text("--context-length 131072").first.wait_for()
            assert page.locator(".jp-OutputArea-output", has_text="Traceback").count() == 0
            assert page.locator(".kimi-command").count() == 1

            def row(title: str):
                return page.locator(".widget-hbox").filter(has=page.locator("b", has_text=title))

            def click(title: str, label: str):
                button = row(title).get_by_role("button", name=label, exact=True)
                button.click()
                expect(button).to_have_class(re.compile(r"\bmod-active\b"))  # shown as selected

            values = {"hardware": "mi300x", "toolcall": "disabled", "reasoning": "disabled"}
            steps = [
                (None, None, {}),
                ("Hardware Platform", "H100", {"hardware": "h100"}),
                ("Tool Call Parser", "Enabled", {"toolcall": "enabled"}),
                ("Reasoning Parser", "Enabled", {"reasoning": "enabled"}),
                ("Reasoning Parser", "Disabled", {"reasoning": "disabled"}),
            ]
            for title, label, change in steps:
                if title:
                    click(title, label)
                values.update(change)
                expected = render_command(values)
                assert _wait_for_text(box, expected) == expected, f"after clicking {title} / {label}"
                if values["reasoning"] == "enabled":
                    assert expected == PAGE_ERROR_TEXT
            # the required TP checkbox is shown checked and cannot be unticked
            tp = row("Deployment Strategy").get_by_role("checkbox")
            assert tp.is_checked() and tp.is_disabled()
            assert "--tool-call-parser kimi_k2" in box.inner_text()
            page.locator(".kimi-command").scroll_into_view_if_needed()
            page.screenshot(path=str(shot), full_page=False)
        finally:
            browser.close()
    assert shot.stat().st_size > 10_000
