"""Helpers shared by the Kimi-Linear SGLang cookbook notebooks.

Importing this package touches no network, GPU or environment state.
"""

from importlib.metadata import PackageNotFoundError, version

try:  # the version is written once, in pyproject.toml; installed metadata carries it
    __version__ = version("kimi-cookbook")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"

MODEL_ID = "moonshotai/Kimi-Linear-48B-A3B-Instruct"
