"""The demo's data: traffic over past hours (sent with inference ids, as a client that later labels its requests
does) and the ground truth that arrives for part of it.

The model gets worse in the later hours in two ways at once: the inputs drift (bigger, heavier abalone, mostly
infants: the data-quality check sees it) and the relation of the inputs to the target shifts (regression: the
animals are younger than their size says, ``rings * LATER_RINGS_SCALE``; binary: a share of the labels flips).
Only the labels show the second: the model-quality check sees it.
"""

from __future__ import annotations

import http.client
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from pipelines.config import Config
from pipelines.objectstore import local_path

INFERENCE_ID_HEADER = "X-Amzn-SageMaker-Inference-Id"
REQUESTS_PER_HOUR = 240
LABELLED_SHARE = 0.75  # the share of each hour's requests whose label arrives
LATER_RINGS_SCALE = 0.7  # regression, later hours: the true rings of an abalone that looks this much older
LATER_FLIPPED = 0.4  # binary, later hours: the share of labels that flip
DRIFTED_NUMERIC = ("length", "diameter", "height", "whole_weight", "shucked_weight", "viscera_weight", "shell_weight")
DRIFTED_CATEGORICAL = "sex"


class DemoClock:
    """A settable clock, for the server (epoch seconds) and the monitor (datetimes)."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self) -> datetime:
        return self.moment

    def seconds(self) -> float:
        return self.moment.timestamp()


@dataclass(frozen=True)
class SentHour:
    """One hour of traffic: each request's inference id and the true target of the row it was made from."""

    hour: datetime
    ids: list[str]
    targets: list[str]
    shifted: bool  # the later hours: drifted inputs, shifted relation to the target
    ok: int  # requests answered 200


def read_rows(config: Config) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the labelled data ``data.input``: a CSV or Parquet file, or a directory of them read as
    Preprocess reads them (``processing.input_data``: sorted paths, each file checked against the schema, Parquet
    values as CSV text). The target and feature columns, in the first file's order (the endpoint's input order);
    a missing value is an empty field."""
    import pandas as pd

    from processing.input_data import DataSchema, input_files, read_checked

    data = config.data
    schema = DataSchema(data.target, data.numeric, data.categorical, data.problem_type, data.positive_class)
    frames = [read_checked(path, schema)[0] for path in input_files(data.input)]
    columns = [str(c) for c in frames[0].columns]
    frame = pd.concat([f[columns] for f in frames], ignore_index=True)
    return columns, frame.astype(object).where(frame.notna(), "").to_numpy().tolist()


def check_demo_columns(config: Config) -> None:
    """UsageError unless the configured features include the abalone columns the demo's drifted traffic changes:
    the demo drifts the bundled data's features by name (your own data runs with ``mlops run``)."""
    from pipelines.errors import UsageError

    data = config.data
    missing = [c for c in DRIFTED_NUMERIC if c not in data.numeric]
    missing += [] if DRIFTED_CATEGORICAL in data.categorical else [DRIFTED_CATEGORICAL]
    if missing:
        raise UsageError(
            f"{config.source}: the demo drifts the bundled abalone data's features by name, and data.numeric / "
            f"data.categorical lack {', '.join(missing)}: run the demo with the bundled mlops.yaml (its data section), "
            "and your own data with mlops run"
        )


def drifted(row: list[str], header: list[str], rng: random.Random) -> list[str]:
    """Bigger, heavier abalone and mostly infants: shifted size and weight features and a changed sex mix."""
    out = list(row)
    for name in DRIFTED_NUMERIC:
        i = header.index(name)
        out[i] = f"{float(row[i]) * 1.35:.4f}"
    sex = header.index(DRIFTED_CATEGORICAL)
    out[sex] = "I" if rng.random() < 0.7 else row[sex]
    return out


def send(port: int, rows: list[list[str]], clock: DemoClock, start: datetime, ids: list[str]) -> int:
    """POST each row as one text/csv request with its inference id, spread over the hour from ``start``; returns
    the 200s."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    ok = 0
    try:
        for i, (row, inference_id) in enumerate(zip(rows, ids, strict=True)):
            clock.moment = start + timedelta(seconds=int(i * 3600 / len(rows)))
            connection.request(
                "POST",
                "/invocations",
                body=",".join(row).encode(),
                headers={"Content-Type": "text/csv", "Accept": "text/csv", INFERENCE_ID_HEADER: inference_id},
            )
            response = connection.getresponse()
            response.read()
            ok += response.status == 200
    finally:
        connection.close()
    return ok


def send_hour(
    port: int,
    clock: DemoClock,
    hour: datetime,
    table: tuple[list[str], list[list[str]]],
    config: Config,
    rng: random.Random,
    shifted: bool,
) -> SentHour:
    """Send REQUESTS_PER_HOUR rows sampled from the labelled ``table`` (header, rows), drifted when ``shifted``."""
    header, rows = table
    features = [h for h in header if h != config.data.target]
    at = [header.index(f) for f in features]
    sample = rng.sample(rows, REQUESTS_PER_HOUR)
    batch = [[r[i] for i in at] for r in sample]
    if shifted:
        batch = [drifted(r, features, rng) for r in batch]
    ids = [f"demo-{hour:%Y%m%d%H}-{i:04d}" for i in range(len(batch))]
    ok = send(port, batch, clock, hour, ids)
    target = header.index(config.data.target)
    return SentHour(hour, ids, [r[target] for r in sample], shifted, ok)


def _as_binary(value: str, positive_class: str | None) -> int:
    text = value.strip()
    return int(text == positive_class if positive_class is not None else float(text) >= 0.5)


def labels_for(sent: SentHour, config: Config, rng: random.Random) -> list[tuple[str, str]]:
    """(inference id, label) for LABELLED_SHARE of the hour's requests: the true target, or in a shifted hour the
    shifted one (regression: rings scaled by LATER_RINGS_SCALE; binary: LATER_FLIPPED of them flipped)."""
    chosen = sorted(rng.sample(range(len(sent.ids)), round(len(sent.ids) * LABELLED_SHARE)))
    labels = []
    for i in chosen:
        value = sent.targets[i]
        if config.data.problem_type == "binary":
            positive = _as_binary(value, config.data.positive_class)
            flip = sent.shifted and rng.random() < LATER_FLIPPED
            labels.append((sent.ids[i], str(1 - positive if flip else positive)))
        else:
            rings = float(value) * (LATER_RINGS_SCALE if sent.shifted else 1.0)
            labels.append((sent.ids[i], f"{rings:g}"))
    return labels


def ingest_labels(labels: list[tuple[str, str]], config: Config, state_dir: Path, moment: datetime) -> str:
    """Write the labels as SageMaker ground-truth records into the hour folder of ``moment`` under the configured
    ground-truth destination (as ``mlops monitor ground-truth`` does); returns the file's URI."""
    from monitoring.ground_truth_records import ground_truth_key, ground_truth_lines, write_whole

    uri = ground_truth_key(config.ground_truth_destination, moment)
    write_whole(local_path(uri, state_dir), ground_truth_lines(labels))
    return uri
