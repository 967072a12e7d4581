#!/usr/bin/env python3
"""Maintainers: read a committed full-size GPU run (docs/validation/<date>-full-size-<gpu>/) into the JSON that
notebook 05 shows (kimi_cookbook/data/full_size_run.json).

    python scripts/full_size_results.py docs/validation/2026-12-05-full-size-h100

Exit status 0 written, 2 a folder it cannot read (one line says why).
"""

import json
import sys
from pathlib import Path

from kimi_cookbook.bench.measured import DATA_FILE, derive


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python scripts/full_size_results.py docs/validation/<date>-full-size-<gpu>", file=sys.stderr)
        return 2
    try:
        run = derive(argv[0])
    except (OSError, ValueError, KeyError) as exc:
        print(f"full_size_results: cannot read {argv[0]}: {exc}", file=sys.stderr)
        return 2
    target = Path(__file__).resolve().parents[1] / "kimi_cookbook" / "data" / DATA_FILE
    target.write_text(json.dumps(run, indent=1) + "\n")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
