"""The suite runs on pytest-xdist workers (scripts/test.sh: -n CORES+1 --dist loadgroup). What tests/conftest.py
promises there, checked on a small suite of its own with this very conftest: a module-scoped fixture is made once
(its tests share one worker), and the other tests spread over every worker."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CONFTEST = Path(__file__).with_name("conftest.py")

EXAMPLE = '''
import os, time
from pathlib import Path
import pytest

LOG = Path(os.environ["PARALLEL_LOG"])


def record(name):
    with open(LOG / name, "a") as f:
        f.write(os.environ["PYTEST_XDIST_WORKER"] + "\\n")


@pytest.fixture(scope="module")
def built():
    record("built")  # made once for all the tests below, whichever worker runs them
    return 1


@pytest.mark.parametrize("i", range(6))
def test_uses_built(built, i):
    record("uses-built")
    time.sleep(0.2)


@pytest.mark.parametrize("i", range(6))
def test_alone(i):
    record("alone")
    time.sleep(0.2)
'''


@pytest.mark.slow
def test_a_module_fixture_is_made_once_and_other_tests_spread(tmp_path):
    suite = tmp_path / "suite"
    suite.mkdir()
    shutil.copy(CONFTEST, suite / "conftest.py")
    (suite / "pytest.ini").write_text("[pytest]\n")
    (suite / "test_example.py").write_text(EXAMPLE)
    log = tmp_path / "log"
    log.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}  # this suite's own workers
    # only the plugin under test (xdist): loading every installed plugin in 3 processes took most of this test's time
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "xdist", "-p", "no:cacheprovider", "-n", "2",
                           "--dist", "loadgroup", str(suite)], cwd=suite, capture_output=True, text=True,
                          timeout=120, env={**env, "PARALLEL_LOG": str(log), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "12 passed" in proc.stdout
    assert len((log / "built").read_text().split()) == 1  # made once
    assert len(set((log / "uses-built").read_text().split())) == 1  # its 6 tests on one worker
    everyone = set((log / "uses-built").read_text().split()) | set((log / "alone").read_text().split())
    assert everyone == {"gw0", "gw1"}  # both workers had work
