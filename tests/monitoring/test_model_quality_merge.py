"""The join of captured predictions with ground truth: keys, latest labels, encodings, windows, bad lines."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from monitoring.ground_truth_records import ground_truth_lines
from monitoring.model_quality_merge import merge_capture_with_ground_truth, window_capture_files

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "model-monitor" / "monitor-fixtures"
T0 = datetime(2026, 11, 30, 10, 0, tzinfo=timezone.utc)


def record(
    event_id: str,
    output: str,
    *,
    when: datetime = T0,
    inference_id: str | None = None,
    encoding: str = "CSV",
    content_type: str = "text/csv",
    stamp: str | None = None,
) -> str:
    """One capture line as SageMaker writes it (the output payload as given)."""
    meta = {"eventId": event_id, "inferenceTime": stamp or when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"}
    if inference_id is not None:
        meta["inferenceId"] = inference_id
    return json.dumps(
        {
            "captureData": {
                "endpointInput": {
                    "observedContentType": "text/csv",
                    "mode": "INPUT",
                    "data": "M,0.4",
                    "encoding": "CSV",
                },
                "endpointOutput": {
                    "observedContentType": content_type,
                    "mode": "OUTPUT",
                    "data": output,
                    "encoding": encoding,
                },
            },
            "eventMetadata": meta,
            "eventVersion": "0",
        }
    )


def write(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines))
    return path


def truth(path: Path, labels: list[tuple[str, str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(ground_truth_lines(labels))
    return path


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_reference_capture_joins_the_reference_ground_truth(tmp_path):
    stamp = "2019-11-24T07:30:50Z"
    capture = write(tmp_path / "c.jsonl", (FIXTURES / "capture.jsonl").read_text().replace("{%s}", stamp).splitlines())
    actuals = write(tmp_path / "a.jsonl", (FIXTURES / "actuals.jsonl").read_text().replace("{%s}", stamp).splitlines())
    result = merge_capture_with_ground_truth([capture], [actuals], problem_type="binary", probability_threshold=0.5)
    expected = {}
    for line in capture.read_text().splitlines():
        rec = json.loads(line)
        expected[rec["eventMetadata"]["eventId"]] = float(rec["captureData"]["endpointOutput"]["data"])
    labels = {
        json.loads(x)["eventMetadata"]["eventId"]: float(json.loads(x)["groundTruthData"]["data"])
        for x in actuals.read_text().splitlines()
    }
    assert result.counts["matched"] == len(result.pairs) == len(expected) == 44
    for key, label, predicted, probability in zip(
        result.pairs.keys, result.pairs.labels, result.pairs.predictions, result.pairs.probabilities, strict=True
    ):
        assert probability == expected[key] and label == labels[key]
        assert predicted == float(expected[key] >= 0.5)


def test_inference_id_is_the_key_when_present_else_event_id(tmp_path):
    capture = write(
        tmp_path / "c.jsonl",
        [
            record("ev-1", "1.5", inference_id="req-1"),
            record("ev-2", "2.5"),
            record("ev-3", "3.5", inference_id=""),
        ],
    )
    labels = truth(tmp_path / "gt.jsonl", [("req-1", "1"), ("ev-1", "100"), ("ev-2", "2"), ("ev-3", "3")])
    result = merge_capture_with_ground_truth([capture], [labels], problem_type="regression")
    assert result.pairs.keys.tolist() == ["req-1", "ev-2", "ev-3"]
    assert result.pairs.labels.tolist() == [1.0, 2.0, 3.0]
    assert result.pairs.predictions.tolist() == [1.5, 2.5, 3.5]
    assert result.counts["unmatched_ground_truth"] == 1  # ev-1: its request carried an inference id


def test_a_request_with_several_records_is_counted_not_joined(tmp_path):
    capture = write(
        tmp_path / "c.jsonl",
        [
            record("ev-1", "0.2\n0.9\n"),
            record("ev-2", '{"predictions": [0.1, 0.8]}', encoding="JSON", content_type="application/json"),
            record("ev-3", "0.7\n"),
        ],
    )
    reference = FIXTURES / "captured-data.jsonl"  # SageMaker's own: 3 predictions for one eventId
    labels = truth(tmp_path / "gt.jsonl", [("ev-1", "1"), ("ev-2", "1"), ("ev-3", "1")])
    result = merge_capture_with_ground_truth([capture, reference], [labels], problem_type="binary")
    assert result.pairs.keys.tolist() == ["ev-3"]
    assert result.counts["multi_record_requests"] == 4
    assert result.counts["unmatched_ground_truth"] == 2


def test_the_latest_label_wins_by_folder_hour_then_file_name(tmp_path):
    capture = write(tmp_path / "c.jsonl", [record("a", "1"), record("b", "2"), record("c", "3")])
    root = tmp_path / "gt"
    first = truth(root / "2026/11/30/10/b.jsonl", [("a", "10"), ("b", "20"), ("a", "11")])
    second = truth(root / "2026/11/30/10/c.jsonl", [("b", "21")])
    third = truth(root / "2026/11/30/11/a.jsonl", [("a", "12"), ("c", "30")])
    result = merge_capture_with_ground_truth([capture], [first, second, third], problem_type="regression")
    assert dict(zip(result.pairs.keys.tolist(), result.pairs.labels.tolist(), strict=True)) == {
        "a": 12.0,
        "b": 21.0,
        "c": 30.0,
    }
    assert result.counts["duplicate_labels"] == 3
    assert result.counts["ground_truth_records"] == 6 and result.counts["ground_truth_labels"] == 3


@pytest.mark.parametrize(
    ("output", "content_type"),
    [("0.75\n", "text/csv"), ('{"predictions": [0.75]}', "application/json"), ("0.75", "text/csv; charset=utf-8")],
)
def test_base64_outputs_are_decoded_by_content_type(tmp_path, output, content_type):
    capture = write(tmp_path / "c.jsonl", [record("a", b64(output), encoding="BASE64", content_type=content_type)])
    result = merge_capture_with_ground_truth(
        [capture], [truth(tmp_path / "g.jsonl", [("a", "1")])], problem_type="binary"
    )
    assert result.pairs.probabilities.tolist() == [0.75] and result.pairs.predictions.tolist() == [1.0]


def test_unreadable_outputs_are_counted_by_reason(tmp_path):
    capture = write(
        tmp_path / "c.jsonl",
        [
            record("a", "not base64!", encoding="BASE64"),
            record("b", base64.b64encode(b"\xff\xfe").decode(), encoding="BASE64"),
            record("c", b64("0.5"), encoding="BASE64", content_type="application/octet-stream"),
            record("d", "0.5", encoding="PARQUET"),
            record("e", '{"predictions": [null]}', encoding="JSON", content_type="application/json"),
            record("f", "high"),
            record("g", "1.5"),  # a probability above 1
            json.dumps({"captureData": {}, "eventMetadata": {"eventId": "h", "inferenceTime": "2026-11-30T10:00:00Z"}}),
            record("i", "0.25"),
        ],
    )
    labels = truth(tmp_path / "g.jsonl", [(k, "1") for k in "abcdefghi"])
    result = merge_capture_with_ground_truth([capture], [labels], problem_type="binary")
    assert result.pairs.keys.tolist() == ["i"]
    counts = {k: v for k, v in result.counts.items() if k.startswith("malformed.")}
    assert counts == {
        "malformed.capture.bad_base64": 2,
        "malformed.capture.unsupported_content": 2,
        "malformed.capture.bad_prediction": 3,
        "malformed.capture.missing_endpoint_output": 1,
    }


def test_window_edges_are_inclusive(tmp_path):
    start, end = T0, T0 + timedelta(hours=1)
    capture = write(
        tmp_path / "c.jsonl",
        [
            record("before", "1", stamp="2026-11-30T09:59:59.999Z"),
            record("start", "1", stamp="2026-11-30T10:00:00Z"),
            record("offset", "1", stamp="2026-11-30T12:30:00+02:00"),  # 10:30 UTC
            record("end", "1", stamp="2026-11-30T11:00:00.000Z"),
            record("after", "1", stamp="2026-11-30T11:00:00.001Z"),
            record("naive", "1", stamp="2026-11-30T10:15:00"),
            record("garbage", "1", stamp="yesterday"),
        ],
    )
    labels = truth(tmp_path / "g.jsonl", [(k, "2") for k in ("before", "start", "offset", "end", "after", "naive")])
    result = merge_capture_with_ground_truth([capture], [labels], problem_type="regression", start=start, end=end)
    assert sorted(result.pairs.keys.tolist()) == ["end", "naive", "offset", "start"]
    assert result.counts["capture_outside_window"] == 2
    assert result.counts["malformed.capture.bad_inference_time"] == 1


def test_malformed_lines_are_skipped_and_counted_never_fatal(tmp_path):
    lines = []
    for i in range(3000):
        line = record(f"k{i}", f"{i / 3000:.4f}")
        if i % 7 == 3:
            line = line[: len(line) // 2]  # truncated: not ending in }
        elif i % 11 == 5:
            line = line.replace('"eventId": ', '"eventId": } ')  # invalid JSON ending in }
        elif i % 13 == 6:
            line = line.replace(f'"eventId": "k{i}"', f'"eventId": {i}')  # valid JSON, a number for the id
        lines.append(line)
    lines.insert(100, "")
    lines.insert(200, "\xff not json")
    capture = write(tmp_path / "c.jsonl", lines)
    labels = truth(tmp_path / "g.jsonl", [(f"k{i}", "0") for i in range(3000)])
    result = merge_capture_with_ground_truth([capture], [labels], problem_type="regression")
    truncated = sum(1 for i in range(3000) if i % 7 == 3)
    invalid = sum(1 for i in range(3000) if i % 7 != 3 and i % 11 == 5)
    wrong = sum(1 for i in range(3000) if i % 7 != 3 and i % 11 != 5 and i % 13 == 6)
    assert result.counts["malformed.capture.invalid_json"] == truncated + invalid + 1
    assert result.counts["malformed.capture.wrong_type"] == wrong
    assert result.counts["matched"] == 3000 - truncated - invalid - wrong
    assert "line 4" in result.examples["malformed.capture.invalid_json"]


def test_attributes_read_a_json_key_or_a_csv_column(tmp_path):
    capture = write(
        tmp_path / "c.jsonl",
        [
            record(
                "a", '{"predictions": [{"score": 0.9, "label": 1}]}', encoding="JSON", content_type="application/json"
            ),
            record("b", '{"score": 0.2, "label": 0}', encoding="JSON", content_type="application/json"),
            record("c", b64('{"score": 0.6, "label": 0}'), encoding="BASE64", content_type="application/json"),
        ],
    )
    labels = truth(tmp_path / "g.jsonl", [("a", "1"), ("b", "0"), ("c", "1")])
    result = merge_capture_with_ground_truth(
        [capture], [labels], problem_type="binary", inference_attribute="label", probability_attribute="score"
    )
    assert result.pairs.probabilities.tolist() == [0.9, 0.2, 0.6]
    assert result.pairs.predictions.tolist() == [1.0, 0.0, 1.0]  # probability >= threshold
    csv = write(tmp_path / "csv.jsonl", [record("a", "7,0.25,x\n"), record("b", "8,0.5"), record("c", "9")])
    result = merge_capture_with_ground_truth([csv], [labels], problem_type="regression", inference_attribute="1")
    assert result.pairs.predictions.tolist() == [0.25, 0.5]
    assert result.counts["malformed.capture.bad_prediction"] == 1


def test_join_agrees_with_pandas_on_random_data(tmp_path):
    rng = np.random.default_rng(3)
    lines, keys = [], []
    for i in range(2000):
        with_id = rng.random() < 0.5
        key = f"req-{i}" if with_id else f"ev-{i}"
        keys.append(key)
        value = round(float(rng.random()), 6)
        kind = i % 3
        output = [f"{value}\n", f'{{"predictions": [{value}]}}', b64(f"{value}\n")][kind]
        encoding, ctype = [("CSV", "text/csv"), ("JSON", "application/json"), ("BASE64", "text/csv")][kind]
        lines.append(
            (
                key,
                value,
                record(f"ev-{i}", output, inference_id=key if with_id else None, encoding=encoding, content_type=ctype),
            )
        )
    capture = write(tmp_path / "c.jsonl", [line for _, _, line in lines])
    labelled = [(keys[int(j)], f"{rng.normal(5, 2):.3f}") for j in rng.integers(0, 2400, 3000) if j < 2000]
    files = [truth(tmp_path / f"gt/2026/11/30/{h:02d}/x.jsonl", labelled[h::3]) for h in range(3)]
    result = merge_capture_with_ground_truth([capture], files, problem_type="regression")
    ordered = [pair for h in range(3) for pair in labelled[h::3]]
    truth_frame = pd.DataFrame(ordered, columns=["key", "label"]).drop_duplicates("key", keep="last")
    capture_frame = pd.DataFrame([(k, v) for k, v, _ in lines], columns=["key", "prediction"])
    expected = capture_frame.merge(truth_frame, on="key").astype({"label": float})
    ours = pd.DataFrame(
        {"key": result.pairs.keys, "label": result.pairs.labels, "prediction": result.pairs.predictions}
    )
    pd.testing.assert_frame_equal(ours.reset_index(drop=True), expected[["key", "label", "prediction"]])
    assert result.counts["duplicate_labels"] == len(ordered) - len(truth_frame)
    assert result.counts["unmatched_capture"] == 2000 - len(expected)


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(ValueError, match="problem_type"):
        merge_capture_with_ground_truth([], [], problem_type="multiclass")
    with pytest.raises(ValueError, match="probability_threshold"):
        merge_capture_with_ground_truth([], [], problem_type="binary", probability_threshold=1.5)
    empty = merge_capture_with_ground_truth([], [], problem_type="binary")
    assert len(empty.pairs) == 0 and empty.counts["matched"] == 0


def test_binary_reads_only_the_probability_when_its_attribute_is_set(tmp_path):
    capture = write(
        tmp_path / "c.jsonl",
        [record("a", '{"score": 0.3}', encoding="JSON", content_type="application/json"), record("b", "0,0.8")],
    )
    labels = truth(tmp_path / "g.jsonl", [("a", "0"), ("b", "1")])
    json_result = merge_capture_with_ground_truth(
        [capture], [labels], problem_type="binary", probability_attribute="score"
    )
    assert json_result.pairs.keys.tolist() == ["a"] and json_result.pairs.predictions.tolist() == [0.0]
    csv_result = merge_capture_with_ground_truth(
        [capture], [labels], problem_type="binary", probability_attribute="1", probability_threshold=0.75
    )
    assert csv_result.pairs.probabilities.tolist() == [0.8] and csv_result.pairs.predictions.tolist() == [1.0]


def test_window_files_include_the_folder_of_the_end_hour(tmp_path):
    root = tmp_path / "capture"
    for hour in ("09", "10", "11", "12"):
        write(root / "ep" / "AllTraffic" / f"2026/11/30/{hour}" / "x.jsonl", [record(hour, "1")])
    files = window_capture_files(root, T0, T0 + timedelta(hours=1))
    assert [p.parent.name for p in files] == ["10", "11"]
