"""Helpers shared by the Kimi-Linear SGLang cookbook notebooks.

Importing this package touches no network, GPU or environment state.
"""

__version__ = "0.1.0"

MODEL_ID = "moonshotai/Kimi-Linear-48B-A3B-Instruct"
