#!/usr/bin/env python3
"""Maintainers: read a committed full-size GPU run (docs/validation/<date>-full-size-<gpu>/) into the JSON that
notebook 05 shows (kimi_cookbook/data/full_size_run.json).

    python scripts/full_size_results.py docs/validation/2026-12-05-full-size-h100
"""

import json
import sys
from pathlib import Path

from kimi_cookbook.bench.measured import DATA_FILE, derive

if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python scripts/full_size_results.py docs/validation/<date>-full-size-<gpu>")
    target = Path(__file__).resolve().parents[1] / "kimi_cookbook" / "data" / DATA_FILE
    target.write_text(json.dumps(derive(sys.argv[1]), indent=1) + "\n")
    print(f"wrote {target}")
