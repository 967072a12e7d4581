#!/usr/bin/env python3
"""Maintainers: read a committed full-size GPU run (docs/validation/<date>-full-size-<gpu>/) into the JSON that
notebook 05 shows (kimi_cookbook/data/full_size_run.json), and put the launch comparisons it proves (SGLang's
defaults vs one flag changed, same call, both finished: measured.flag_gains) into the recommended-flags table
(kimi_cookbook/data/recommended_flags.json), replacing that flag's measured values for the call's workload (the
driver's --workload: random, or shared-prefix for a <date>-shared-prefix-<gpu> folder; per workload and flag the
comparison with the most prompts: measured.table_gains; a loss is written too, and never recommended). Several dated
folders of one model on one GPU kind are read as one run:

    python scripts/full_size_results.py docs/validation/2026-12-05-full-size-h100 \
        docs/validation/2026-12-06-full-size-h100 docs/validation/2026-12-06-shared-prefix-h100

Exit status 0 written, 2 a folder it cannot read (one line says why).
"""

import json
import sys
from pathlib import Path

from kimi_cookbook.bench.measured import DATA_FILE, derive, table_gains
from kimi_cookbook.recommended import DATA_FILE as FLAGS_FILE
from kimi_cookbook.recommended import load_entries


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python scripts/full_size_results.py docs/validation/<date>-full-size-<gpu> [...]",
              file=sys.stderr)
        return 2
    try:
        run = derive(*argv)
    except (OSError, ValueError, KeyError) as exc:
        print(f"full_size_results: cannot read {' '.join(argv)}: {exc}", file=sys.stderr)
        return 2
    data_dir = Path(__file__).resolve().parents[1] / "kimi_cookbook" / "data"
    (data_dir / DATA_FILE).write_text(json.dumps(run, indent=1) + "\n")
    print(f"wrote {data_dir / DATA_FILE}")
    gains = table_gains(run)
    if gains:
        table = json.loads((data_dir / FLAGS_FILE).read_text())
        for gain in gains:
            entry = next((e for e in table["entries"] if (e["workload"], e["flag"]) == (gain["workload"],
                                                                                     gain["flag"])), None)
            if entry is None:
                print(f"full_size_results: no {gain['flag']} entry for {gain['workload']} in {FLAGS_FILE}; add its "
                      "why and cost first", file=sys.stderr)
                return 2
            entry.update({k: gain[k] for k in ("value", "sglang_version", "baseline", "tuned", "hardware",
                                               "source_run")})
        load_entries(table)  # the table's own checks, before it is written
        text = json.dumps(table, indent=2, ensure_ascii=False) + "\n"
        (data_dir / FLAGS_FILE).write_text(text)
        print(f"wrote {data_dir / FLAGS_FILE}: " + "; ".join(f"{g['flag']} {g['baseline']} -> {g['tuned']} tok/s"
                                                             for g in gains))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
