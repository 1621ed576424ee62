"""The model-quality benchmark's contenders, one per process: ``python model_quality_contenders.py NAME DATA_DIR``.

Each prints one JSON line: seconds (after imports), matched pairs, auc, and its phases. Only the standard library
is imported at the top: the DuckDB contender runs in its own virtualenv (duckdb, numpy, scikit-learn).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

THRESHOLD = 0.5
START, END = "2026-11-20T01:00:00Z", "2026-11-20T23:59:59Z"


def _files(root: Path) -> list[str]:
    return sorted(str(p) for p in root.rglob("*.jsonl"))


def ours(data: Path) -> dict:
    from datetime import datetime

    from monitoring.ground_truth import ground_truth_files
    from monitoring.model_quality import model_quality_statistics
    from monitoring.model_quality_merge import merge_capture_with_ground_truth

    start, end = (datetime.fromisoformat(t.replace("Z", "+00:00")) for t in (START, END))
    began, cpu_began = time.perf_counter(), time.process_time()
    merged = merge_capture_with_ground_truth(
        [Path(p) for p in _files(data / "capture")],
        ground_truth_files(data / "ground-truth"),
        problem_type="binary",
        probability_threshold=THRESHOLD,
        start=start,
        end=end,
    )
    middle = time.perf_counter()
    stats = model_quality_statistics(merged.pairs, "binary")
    auc = stats["binary_classification_metrics"]["auc"]["value"]
    done, cpu = time.perf_counter(), time.process_time() - cpu_began  # all threads' CPU seconds of the work
    phases = {"merge": round(middle - began, 2), "statistics": round(done - middle, 2), "cpu": round(cpu, 2)}
    return {
        "seconds": done - began,
        "matched": len(merged.pairs),
        "auc": auc,
        "phases": phases,
        "counts": merged.counts,
    }


def sklearn_binary(labels, probabilities) -> float:
    """The binary metrics with scikit-learn (values, 5 subsamples of 80% for deviations, confusion matrix, curves)."""
    import numpy as np
    from sklearn import metrics

    predicted = (probabilities >= THRESHOLD).astype(int)

    def scalars(y, p, s) -> dict:
        return {
            "accuracy": metrics.accuracy_score(y, p),
            "precision": metrics.precision_score(y, p, zero_division=0),
            "recall": metrics.recall_score(y, p, zero_division=0),
            "f0_5": metrics.fbeta_score(y, p, beta=0.5, zero_division=0),
            "f1": metrics.f1_score(y, p, zero_division=0),
            "f2": metrics.fbeta_score(y, p, beta=2, zero_division=0),
            "auc": metrics.roc_auc_score(y, s),
            "au_prc": metrics.average_precision_score(y, s),
        }

    values = scalars(labels, predicted, probabilities)
    rng = np.random.default_rng(0)
    subsamples = []
    for _ in range(5):
        rows = rng.choice(len(labels), int(0.8 * len(labels)), replace=False)
        subsamples.append(scalars(labels[rows], predicted[rows], probabilities[rows]))
    _ = {k: float(np.std([s[k] for s in subsamples])) for k in values}
    metrics.confusion_matrix(labels, predicted, labels=[0, 1])
    metrics.roc_curve(labels, probabilities)
    metrics.precision_recall_curve(labels, probabilities)
    return float(values["auc"])


def _prediction(data, encoding, content_type):
    import base64

    if encoding == "BASE64":
        data = base64.b64decode(data, validate=True).decode()
        encoding = "JSON" if "json" in (content_type or "") else "CSV"
    if encoding == "CSV":
        text = data.strip()
        return float(text) if "\n" not in text else None
    values = json.loads(data)["predictions"]
    return float(values[0]) if len(values) == 1 and values[0] is not None else None


def pandas_sklearn(data: Path) -> dict:
    import pandas as pd

    began = time.perf_counter()
    rows = []
    for path in _files(data / "capture"):
        with open(path, "rb") as handle:
            for line in handle:
                try:
                    record = json.loads(line)
                    meta, out = record["eventMetadata"], record["captureData"]["endpointOutput"]
                    value = _prediction(out["data"], out["encoding"], out.get("observedContentType"))
                except (ValueError, KeyError, TypeError):
                    continue
                if value is not None:
                    rows.append((meta.get("inferenceId") or meta["eventId"], meta["inferenceTime"], value))
    capture = pd.DataFrame(rows, columns=["key", "time", "probability"])
    times = pd.to_datetime(capture["time"], utc=True, format="ISO8601")
    capture = capture[(times >= pd.Timestamp(START)) & (times <= pd.Timestamp(END))]
    labels = []
    for path in sorted(_files(data / "ground-truth")):
        with open(path, "rb") as handle:
            for line in handle:
                try:
                    record = json.loads(line)
                    labels.append((record["eventMetadata"]["eventId"], float(record["groundTruthData"]["data"])))
                except (ValueError, KeyError, TypeError):
                    continue
    truth = pd.DataFrame(labels, columns=["key", "label"]).drop_duplicates("key", keep="last")
    parsed = time.perf_counter()
    joined = capture.merge(truth, on="key", how="inner")
    merged = time.perf_counter()
    auc = sklearn_binary(joined["label"].to_numpy().astype(int), joined["probability"].to_numpy())
    done = time.perf_counter()
    phases = {"parse": round(parsed - began, 2), "merge": round(merged - parsed, 2), "metrics": round(done - merged, 2)}
    return {"seconds": done - began, "matched": len(joined), "auc": auc, "phases": phases}


_DUCKDB_SQL = """
WITH capture AS (
  SELECT coalesce(nullif(eventMetadata.inferenceId, ''), eventMetadata.eventId) AS key,
         TRY_CAST(eventMetadata.inferenceTime AS TIMESTAMPTZ) AS t,
         captureData.endpointOutput AS o
  FROM read_json(?, format='newline_delimited', ignore_errors=true, columns={
    captureData: 'STRUCT(endpointOutput STRUCT(observedContentType VARCHAR, data VARCHAR, encoding VARCHAR))',
    eventMetadata: 'STRUCT(eventId VARCHAR, inferenceId VARCHAR, inferenceTime VARCHAR)'})
), decoded AS (
  SELECT key, t,
         CASE WHEN o.encoding = 'BASE64' THEN TRY(decode(from_base64(o.data))) ELSE o.data END AS text,
         CASE WHEN o.encoding = 'BASE64' THEN (CASE WHEN o.observedContentType LIKE '%json%' THEN 'JSON' ELSE 'CSV' END)
              ELSE o.encoding END AS kind
  FROM capture WHERE t BETWEEN ?::TIMESTAMPTZ AND ?::TIMESTAMPTZ
), predictions AS (
  SELECT key,
         CASE WHEN kind = 'CSV' AND NOT contains(trim(text, E' \\n'), E'\\n')
                THEN TRY_CAST(trim(text, E' \\n') AS DOUBLE)
              WHEN kind = 'JSON' AND json_array_length(TRY(json_extract(text, '$.predictions'))) = 1
                THEN TRY_CAST(json_extract_string(text, '$.predictions[0]') AS DOUBLE) END AS probability
  FROM decoded
), truth AS (
  SELECT eventMetadata.eventId AS key, TRY_CAST(groundTruthData.data AS DOUBLE) AS label,
         row_number() OVER (PARTITION BY eventMetadata.eventId ORDER BY filename DESC, n DESC) AS latest
  FROM (SELECT *, row_number() OVER () AS n FROM read_json(?, format='newline_delimited', ignore_errors=true,
        filename=true, columns={groundTruthData: 'STRUCT(data VARCHAR, encoding VARCHAR)',
                                eventMetadata: 'STRUCT(eventId VARCHAR)'}))
)
SELECT p.probability, t.label FROM predictions p JOIN truth t ON p.key = t.key
WHERE t.latest = 1 AND p.probability IS NOT NULL AND t.label IS NOT NULL
"""


def duckdb_sklearn(data: Path) -> dict:
    import duckdb  # type: ignore[import-not-found]  # in the bench's own virtualenv

    began = time.perf_counter()
    connection = duckdb.connect()
    result = connection.execute(
        _DUCKDB_SQL, [_files(data / "capture"), START, END, _files(data / "ground-truth")]
    ).fetchnumpy()
    merged = time.perf_counter()
    auc = sklearn_binary(result["label"].astype(int), result["probability"])
    done = time.perf_counter()
    phases = {"read+join": round(merged - began, 2), "metrics": round(done - merged, 2)}
    return {"seconds": done - began, "matched": len(result["label"]), "auc": auc, "phases": phases}


CONTENDERS = {"ours": ours, "pandas": pandas_sklearn, "duckdb": duckdb_sklearn}

if __name__ == "__main__":
    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root))
    name, directory = sys.argv[1], Path(sys.argv[2])
    print(json.dumps(CONTENDERS[name](directory), default=str))
