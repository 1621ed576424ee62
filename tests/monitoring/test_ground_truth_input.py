"""Labels files from an abuse test: every bad input is a named bad line or a clear refusal, never a traceback; ids
are kept exactly as given; class options that contradict each other are refused; files are read as a stream."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from monitoring import ground_truth_label_rules, ground_truth_labels
from monitoring.ground_truth_label_rules import MAX_SHOWN, LabelRules, LabelsError
from monitoring.ground_truth_labels import read_labels, stream_labels
from monitoring.ground_truth_records import IdTally, ground_truth_chunks, ground_truth_lines, write_whole


def _file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _refused(path: Path, problem_type: str = "regression", **options) -> str:
    with pytest.raises(LabelsError) as error:
        read_labels(path, problem_type, **options)
    message = str(error.value)
    assert str(path) in message
    return message


def _sagemaker(key: str, data: str, encoding: str | None) -> str:
    truth = {"data": data} if encoding is None else {"data": data, "encoding": encoding}
    return json.dumps({"groundTruthData": truth, "eventMetadata": {"eventId": key}, "eventVersion": "0"})


# D3: inputs that raised inside the csv and json modules are bad lines.


def test_a_csv_field_over_the_readers_limit_is_a_bad_line_and_the_next_lines_are_read(tmp_path):
    path = _file(tmp_path, "big.csv", "inference_id,label\na,1\n" + "x" * 200_000 + ",2\nb,oops\n")
    message = _refused(path)
    assert "2 bad line(s)" in message
    assert "line 3: a field longer than 131,072 characters, the CSV reader's limit" in message
    assert "line 4: label 'oops' is not a finite number" in message


def test_a_csv_header_field_over_the_readers_limit_is_named(tmp_path):
    message = _refused(_file(tmp_path, "big.csv", "x" * 200_000 + ",label\na,1\n"))
    assert "line 1: a field longer than 131,072 characters" in message and "(the header)" in message


def test_json_nested_deeper_than_the_recursion_limit_is_a_bad_line(tmp_path):
    deep = "[" * 100_000 + "]" * 100_000
    path = _file(
        tmp_path, "deep.jsonl", f'{{"inference_id": "a", "label": 1}}\n{{"inference_id": "b", "label": {deep}}}\n'
    )
    assert "line 2: JSON nested deeper than the reader's recursion limit" in _refused(path)


@pytest.mark.parametrize(("problem", "expected"), [("regression", "a finite number"), ("binary", "0 or 1")])
def test_a_json_integer_of_5000_digits_is_a_bad_label_named_briefly(tmp_path, problem, expected):
    path = _file(tmp_path, "big.jsonl", '{"inference_id": "a", "label": 1' + "0" * 5000 + "}\n")
    message = _refused(path, problem)
    assert f"line 1: label 1{'0' * (MAX_SHOWN - 1)}... (5,001 characters) is not {expected}" in message
    assert len(message) < 400


def test_values_that_are_not_json_are_shown_too():
    assert ground_truth_label_rules.shown(object)[:7] == '"<class'


def test_long_values_are_cut_in_messages(tmp_path):
    path = _file(tmp_path, "long.csv", f"inference_id,label\na,{'y' * 100_000}\n")
    message = _refused(path)
    assert f"label {'y' * MAX_SHOWN!r}... (100,000 characters) is not a finite number" in message
    assert len(message) < 400


# D9: a file that is not UTF-8 is named by line and file offset.


def test_not_utf8_names_the_line_and_the_file_offset(tmp_path):
    path = tmp_path / "latin1.csv"
    rows = b"".join(b"id-%06d,1\n" % i for i in range(100_000))
    path.write_bytes(b"inference_id,label\n" + rows + b"caf\xe9,2\n")
    offset = len(b"inference_id,label\n") + len(rows) + len(b"caf")
    message = _refused(path)
    assert f"line 100002: not UTF-8 text (invalid continuation byte at byte {offset:,} of the file)" in message


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_not_utf8_lines_are_counted_as_the_readers_count_them(tmp_path, newline):
    path = tmp_path / "labels.jsonl"
    path.write_bytes(newline.join([b'{"inference_id": "a", "label": 1}', b"", b'{"inference_id": "\xff"}', b""]))
    assert "line 3: not UTF-8 text (invalid start byte at byte" in _refused(path)


@pytest.mark.parametrize("size", [1, 2, 3, 5, 1 << 20])
def test_the_first_bad_byte_is_found_across_read_boundaries(tmp_path, size):
    path = tmp_path / "labels.csv"
    good = "inference_id,label\r\nçé€😀,1\n\rx,".encode()  # 2-, 3- and 4-byte characters, a CRLF, an LF, a CR
    path.write_bytes(good + b"\xe2\x82" + b"!\n")  # a 3-byte character cut short
    assert ground_truth_labels._first_bad_utf8(path, size) == (4, len(good), "invalid continuation byte")
    path.write_bytes(good + b"\xf0\x9f")  # cut short by the end of the file
    assert ground_truth_labels._first_bad_utf8(path, size) == (4, len(good), "unexpected end of data")
    path.write_bytes(good)
    assert ground_truth_labels._first_bad_utf8(path, size) is None


# D10: class options that contradict each other are refused before anything is read.


@pytest.mark.parametrize(
    ("problem", "positive", "negative", "expected"),
    [
        ("binary", "M", "M", "--negative-class 'M' is also data.positive_class"),
        ("binary", "M", " M ", "--negative-class 'M' is also data.positive_class"),
        ("binary", "M", "1", "--negative-class '1' would mean 0, but the label 1 always means 1"),
        ("binary", "M", "1.0", "--negative-class '1.0' would mean 0"),
        ("binary", "M", "", "--negative-class is empty"),
        ("binary", "0", None, "data.positive_class '0' would mean 1, but the label 0 always means 0"),
        ("regression", None, "F", "--negative-class 'F' is for binary labels; data.problem_type is regression"),
    ],
)
def test_contradictory_class_options_are_refused(problem, positive, negative, expected):
    with pytest.raises(LabelsError, match="^" + re.escape(expected)):
        LabelRules(problem, positive, negative)


def test_consistent_class_options_are_taken(tmp_path):
    path = _file(tmp_path, "labels.csv", "inference_id,label\na,M\nb,F\nc,0\nd,1\n")
    assert [x for _, x in read_labels(path, "binary", positive_class="M", negative_class="F")] == ["1", "0", "0", "1"]
    path = _file(tmp_path, "zero.csv", "inference_id,label\na,M\nc,0\nd,1\n")
    assert [x for _, x in read_labels(path, "binary", positive_class="M", negative_class="0")] == ["1", "0", "1"]
    path = _file(tmp_path, "numbers.csv", "inference_id,label\nc,0\nd,1\n")
    assert read_labels(path, "regression", positive_class="M") == [("c", "0.0"), ("d", "1.0")]  # ignored, as training


def test_one_column_for_both_the_id_and_the_label_is_refused(tmp_path):
    path = _file(tmp_path, "labels.csv", "inference_id,label\na,1\n")
    with pytest.raises(LabelsError, match="--id-column and --label-column are both 'label'"):
        read_labels(path, "regression", id_column="label", label_column="label")


def test_options_are_checked_before_the_file_is_read(tmp_path):
    with pytest.raises(LabelsError, match=r"is also data\.positive_class"):
        stream_labels(tmp_path / "missing.csv", "binary", positive_class="M", negative_class="M")
    with pytest.raises(LabelsError, match="no such file"):
        stream_labels(tmp_path / "missing.csv", "binary", positive_class="M")


# D12: ids exactly as given, numbers in ASCII decimal syntax, SageMaker records' encodings, files that are not files.


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('{"inference_id": true, "label": 1}', "id true is a boolean; expected a string (or an integer)"),
        ('{"inference_id": 1e3, "label": 1}', "id 1000.0 is a number with a fraction or exponent"),
        ('{"inference_id": 1.5, "label": 1}', "id 1.5 is a number with a fraction or exponent"),
        ('{"inference_id": {"a": 1}, "label": 1}', "id a JSON object is an object or array"),
        ('{"inference_id": " a ", "label": 1}', "id ' a ' starts with whitespace"),
        ('{"inference_id": "\\ta", "label": 1}', "id '\\ta' starts with whitespace"),
        ('{"inference_id": "a\\u0000b", "label": 1}', "id 'a\\x00b' has U+0000 (a control character"),
        (
            '{"inference_id": "a\\u2028b", "label": 1}',
            "id 'a\\u2028b' has U+2028 (a control character or other unprintable one)",
        ),
        ('{"inference_id": "a\\ud800", "label": 1}', "id 'a\\ud800' has U+D800"),
        ('{"inference_id": "   ", "label": 1}', "no id"),
    ],
)
def test_json_ids_must_be_strings_or_integers_kept_exactly(tmp_path, line, expected):
    assert f"line 1: {expected}" in _refused(_file(tmp_path, "labels.jsonl", line + "\n"))


def test_json_integer_ids_are_their_decimal_text_and_other_ids_are_kept_exactly(tmp_path):
    lines = [
        '{"inference_id": 17, "label": 1}',
        '{"inference_id": -3, "label": 1}',
        '{"inference_id": "a b", "label": 1}',
        '{"inference_id": "ends with a space ", "label": 1}',  # InferenceId may end with spaces
    ]
    path = _file(tmp_path, "labels.jsonl", "\n".join(lines) + "\n")
    keys = [key for key, _ in read_labels(path, "regression")]
    assert keys == ["17", "-3", "a b", "ends with a space "] and {type(key) for key in keys} == {str}


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("a\x00b,1", "id 'a\\x00b' has U+0000"),
        ("a\x7f,1", "id 'a\\x7f' has U+007F"),
        (" a,1", "id ' a' starts with whitespace"),
    ],
)
def test_csv_ids_are_refused_rather_than_stripped(tmp_path, row, expected):
    assert f"line 2: {expected}" in _refused(_file(tmp_path, "labels.csv", f"inference_id,label\n{row}\n"))


@pytest.mark.parametrize("label", ["1_000", "١٢", "nan", "-inf", "0x10", "1e", "1,5", "+", "1.5\u00a0"])
def test_regression_labels_must_be_ascii_decimal_numbers(tmp_path, label):
    path = _file(tmp_path, "labels.csv", f'inference_id,label\na,"{label}"\n')
    assert f"line 2: label {label!r} is not a finite number" in _refused(path)


def test_regression_labels_in_decimal_syntax_are_read_as_pandas_reads_them(tmp_path):
    path = _file(tmp_path, "labels.csv", "inference_id,label\na, 1e3 \nb,-.5\nc,+7.\nd,1e400\n")
    assert "line 5: label '1e400' is not a finite number" in _refused(path)
    path = _file(tmp_path, "labels.csv", "inference_id,label\na, 1e3 \nb,-.5\nc,+7.\n")
    assert [x for _, x in read_labels(path, "regression")] == ["1000.0", "-0.5", "7.0"]


def test_sagemaker_records_base64_labels_are_decoded(tmp_path):
    lines = [
        _sagemaker("e1", base64.b64encode(b"1").decode(), "BASE64"),
        _sagemaker("e2", base64.b64encode(b"M").decode(), "base64"),
        _sagemaker("e3", "0", "csv"),
        _sagemaker("e4", "1", None),
    ]
    path = _file(tmp_path, "labels.jsonl", "\n".join(lines) + "\n")
    assert read_labels(path, "binary", positive_class="M") == [("e1", "1"), ("e2", "1"), ("e3", "0"), ("e4", "1")]
    path = _file(tmp_path, "labels.jsonl", _sagemaker("e1", base64.b64encode(b"12.5").decode(), "BASE64") + "\n")
    assert read_labels(path, "regression") == [("e1", "12.5")]


@pytest.mark.parametrize(
    ("data", "encoding", "expected"),
    [
        ("1", "JSON", "groundTruthData.encoding 'JSON' is not supported"),
        ("1", "XML", "groundTruthData.encoding 'XML' is not supported"),
        ("M*==", "BASE64", "groundTruthData.data 'M*==' is not base64"),
        (
            base64.b64encode(b"\xff").decode(),
            "BASE64",
            "groundTruthData.data '/w==' decodes to bytes that are not UTF-8 text",
        ),
        (base64.b64encode(b"7").decode(), "BASE64", "label '7' is not 0 or 1"),
    ],
)
def test_sagemaker_records_other_encodings_and_bad_base64_are_refused(tmp_path, data, encoding, expected):
    path = _file(tmp_path, "labels.jsonl", _sagemaker("e1", data, encoding) + "\n")
    assert f"line 1: {expected}" in _refused(path, "binary")


def test_a_directory_is_named_as_one(tmp_path):
    (tmp_path / "labels.csv").mkdir()
    assert "labels.csv: is a directory; expected a labels file" in _refused(tmp_path / "labels.csv")


@pytest.mark.parametrize("name", ["labels.csv", "labels.jsonl"])
def test_a_leading_byte_order_mark_is_accepted_in_both_formats(tmp_path, name):
    text = "inference_id,label\na,1\n" if name.endswith(".csv") else '{"inference_id": "a", "label": 1}\n'
    path = tmp_path / name
    path.write_text(text, encoding="utf-8-sig")
    assert read_labels(path, "regression") == [("a", "1.0")]


# D11: read, checked and written as a stream; nothing kept on a bad line.


def test_pairs_come_while_the_file_is_read_and_a_bad_line_still_fails_the_whole(tmp_path):
    path = _file(tmp_path, "labels.csv", "inference_id,label\n" + "".join(f"r{i},1\n" for i in range(50)) + "z,x\n")
    pairs = stream_labels(path, "regression")
    assert next(pairs) == ("r0", "1.0")
    with pytest.raises(LabelsError, match="line 52: label 'x'"):
        list(pairs)


def test_pairs_stop_at_the_first_bad_line_but_every_bad_line_is_named(tmp_path):
    path = _file(tmp_path, "labels.csv", "inference_id,label\na,1\nb,x\nc,2\nd,y\n")
    got = []
    with pytest.raises(LabelsError, match=r"2 bad line\(s\)"):
        for pair in stream_labels(path, "regression"):
            got.append(pair)
    assert got == [("a", "1.0")]


def test_chunks_are_the_records_in_order_and_the_ids_are_tallied(tmp_path):
    pairs = [(f"id-{i % 7}", str(i)) for i in range(20)]
    tally = IdTally()
    chunks = list(ground_truth_chunks(pairs, tally, lines=6))
    assert len(chunks) == 4
    assert b"".join(chunks) == ground_truth_lines(pairs)
    assert tally.labels == 20 and tally.repeated() == 13


def test_the_tally_counts_repeats_across_compactions(monkeypatch):
    monkeypatch.setattr(IdTally, "COMPACT_AT", 4)
    tally = IdTally()
    seen: set[str] = set()
    repeats = 0
    for batch in ([str(i % 11) for i in range(j, j + 5)] for j in range(0, 60, 5)):
        tally.add(batch)
        repeats += sum(1 for key in batch if key in seen or seen.add(key))  # type: ignore[func-returns-value]
        assert len(tally._hashes) <= max(2 * 11, 4) + 5  # held hashes stay near the distinct ids
    assert (tally.labels, tally.repeated()) == (60, repeats) == (60, 49)
    tally.add(["new"])
    assert (tally.labels, tally.repeated()) == (61, 49)


def test_a_failure_while_chunks_are_made_leaves_nothing_not_even_new_folders(tmp_path):
    (tmp_path / "state").mkdir()
    target = tmp_path / "state" / "s3" / "2026" / "11" / "a.jsonl"

    def chunks():
        yield b"x\n" * 1000
        raise LabelsError("a bad line")

    with pytest.raises(LabelsError):
        write_whole(target, chunks())
    assert list((tmp_path / "state").iterdir()) == []  # the folder that was there stays, the ones made are gone
    write_whole(target, iter([b"a\n", b"b\n"]))
    assert target.read_bytes() == b"a\nb\n"
    with pytest.raises(LabelsError):
        write_whole(target.with_name("b.jsonl"), chunks())
    assert [p.name for p in target.parent.iterdir()] == ["a.jsonl"]  # a folder in use stays
