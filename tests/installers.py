"""How tests install what they need but do not test (build tools, numpy, pandas, pre-commit) into a venv of their
own: through the uv the set-up put in ``.venv`` (its cache links them in a second; pip unpacks and compiles them
for ~15 s), else pip. What a test is about (the cookbook's wheel) still goes in the way a user installs it."""

from __future__ import annotations

from pathlib import Path

UV = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "uv"


def install_command(py: Path) -> list:
    """``pip install``'s equivalent for the venv whose interpreter is ``py`` (quiet; add requirements after it)."""
    if UV.exists():
        return [UV, "pip", "install", "-q", "--python", py]
    return [py, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
