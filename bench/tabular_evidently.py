"""Contender "evidently": DataSummaryPreset + DataDriftPreset report on the Parquet pair (evidently >= 0.7).

    venv-evidently/bin/python bench/tabular_evidently.py REFERENCE.parquet CURRENT.parquet OUTPUT_DIR

Writes OUTPUT_DIR/report.json and OUTPUT_DIR/report.html, and prints a ``BENCH_PHASES {json}`` line last.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pandas as pd

os.environ.setdefault("DO_NOT_TRACK", "1")  # no usage telemetry: this benchmark sends no traffic
os.environ.setdefault("ITERATIVE_DO_NOT_TRACK", "1")  # no usage telemetry: this benchmark sends no traffic


def definition_for(frame: pd.DataFrame):
    """Numeric dtypes as numerical columns, everything else as categorical (no text/descriptor inference)."""
    from evidently import DataDefinition

    numerical = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
    categorical = [c for c in frame.columns if c not in numerical]
    return DataDefinition(numerical_columns=numerical, categorical_columns=categorical)


def main(argv: list[str]) -> int:
    """Read both files, run the report, save it as JSON and HTML."""
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    reference_path, current_path, output = argv
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    phases: dict[str, float] = {}

    started = time.perf_counter()
    import evidently
    from evidently import Dataset, Report
    from evidently.presets import DataDriftPreset, DataSummaryPreset

    phases["import"] = time.perf_counter() - started

    started = time.perf_counter()
    reference = pd.read_parquet(reference_path)
    current = pd.read_parquet(current_path)
    phases["read"] = time.perf_counter() - started

    started = time.perf_counter()
    definition = definition_for(reference)
    reference_ds = Dataset.from_pandas(reference, data_definition=definition)
    current_ds = Dataset.from_pandas(current, data_definition=definition)
    report = Report([DataSummaryPreset(), DataDriftPreset()])
    snapshot = report.run(current_data=current_ds, reference_data=reference_ds)
    phases["report"] = time.perf_counter() - started

    started = time.perf_counter()
    snapshot.save_json(str(out / "report.json"))
    snapshot.save_html(str(out / "report.html"))
    phases["save"] = time.perf_counter() - started

    summary = json.loads((out / "report.json").read_text())
    metrics = summary.get("metrics", [])
    print(
        f"evidently {evidently.__version__}: {len(reference):,} reference rows, {len(current):,} current rows, "
        f"{len(metrics)} metrics"
    )
    print("BENCH_PHASES " + json.dumps(phases), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
