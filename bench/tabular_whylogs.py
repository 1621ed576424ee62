"""Contender "whylogs": profile reference and current with ``why.log`` and score drift between them.

    venv-whylogs/bin/python bench/tabular_whylogs.py REFERENCE.parquet CURRENT.parquet OUTPUT_DIR

Writes the two profiles (.bin and summary .csv) and drift_scores.json to OUTPUT_DIR, and prints a
``BENCH_PHASES {json}`` line last.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pandas as pd

os.environ.setdefault("WHYLOGS_NO_ANALYTICS", "1")  # no usage telemetry: this benchmark sends no traffic


def main(argv: list[str]) -> int:
    """Read both files, profile them, compute drift scores, write everything out."""
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    reference_path, current_path, output = argv
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    phases: dict[str, float] = {}

    started = time.perf_counter()
    import whylogs as why
    from whylogs.viz.drift.column_drift_algorithms import calculate_drift_scores

    phases["import"] = time.perf_counter() - started

    started = time.perf_counter()
    reference = pd.read_parquet(reference_path)
    current = pd.read_parquet(current_path)
    phases["read"] = time.perf_counter() - started

    started = time.perf_counter()
    reference_view = why.log(reference).view()
    current_view = why.log(current).view()
    phases["profile"] = time.perf_counter() - started

    started = time.perf_counter()
    scores = calculate_drift_scores(target_view=current_view, reference_view=reference_view, with_thresholds=True)
    phases["drift"] = time.perf_counter() - started

    started = time.perf_counter()
    reference_view.write(str(out / "reference_profile.bin"))
    current_view.write(str(out / "current_profile.bin"))
    reference_view.to_pandas().to_csv(out / "reference_summary.csv")
    current_view.to_pandas().to_csv(out / "current_summary.csv")
    (out / "drift_scores.json").write_text(json.dumps(scores, indent=2, default=str))
    phases["save"] = time.perf_counter() - started

    drifted = sorted(name for name, score in scores.items() if score and score.get("drift_category") == "DRIFT")
    print(
        f"whylogs {why.__version__}: {len(reference):,} reference rows, {len(current):,} current rows, "
        f"{len(scores)} columns scored, drift in {drifted}"
    )
    print("BENCH_PHASES " + json.dumps(phases), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
