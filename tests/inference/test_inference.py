"""The serving handler on a model trained from the bundled data: formats, equality with the booster, bad requests,
and loading from the model's code/ directory as the SageMaker XGBoost container does."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

import inference.inference
from inference.feature_transform import InputPolicy
from inference.inference import HandlerResponse, Model, RequestError, input_fn, model_fn, output_fn, predict_fn
from tests.conftest import ABALONE
from tests.training.steps import trained

RAW = pd.read_csv(ABALONE, dtype=str).drop(columns="rings")
ROWS = RAW.to_numpy().tolist()
LINES = [",".join(row) for row in ROWS]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return trained(tmp_path_factory.mktemp("serve"))


@pytest.fixture(scope="module")
def model(model_dir) -> Model:
    return model_fn(str(model_dir))


def invoke(model: Model, body, content_type: str, accept: str | None = None) -> tuple[bytes, str]:
    return output_fn(predict_fn(input_fn(body, content_type), model), accept)


def csv_values(body: bytes) -> np.ndarray:
    return np.array([float(x) for x in body.decode().splitlines()], dtype=np.float32)


def json_values(body: bytes) -> np.ndarray:
    return np.array(json.loads(body)["predictions"], dtype=np.float32)


def booster_predictions(model_dir: Path, rows) -> np.ndarray:
    booster = xgb.Booster(model_file=str(model_dir / "xgboost-model.json"))
    return booster.predict(xgb.DMatrix(model_fn(str(model_dir)).transform.apply(rows)))


def test_model_fn_loads_booster_and_transform(model):
    assert model.problem_type == "regression"
    assert model.transform.input_columns == tuple(RAW.columns)
    assert model.booster.num_features() == len(model.transform.feature_names) == 10


def test_csv_single_record(model, model_dir):
    body, content_type = invoke(model, LINES[0].encode(), "text/csv")
    assert content_type == "text/csv" and body.endswith(b"\n") and body.count(b"\n") == 1
    np.testing.assert_array_equal(csv_values(body), booster_predictions(model_dir, ROWS[:1]))


def test_csv_batch_equals_the_booster_on_transformed_features(model, model_dir):
    body, _ = invoke(model, ("\r\n".join(LINES) + "\r\n").encode(), "text/csv; charset=utf-8", "text/csv")
    predictions = csv_values(body)
    assert len(predictions) == 4177
    np.testing.assert_array_equal(predictions, booster_predictions(model_dir, RAW))
    assert 5 < predictions.mean() < 15  # rings


def test_csv_quoted_fields_and_missing_values(model, model_dir):
    body = b'"M","0.455",0.365,"0.095",0.514,0.2245,0.101,0.15\nF,,0.4,,0.5,0.2,0.1,\n'
    predictions = csv_values(invoke(model, body, "text/csv")[0])
    rows = [ROWS[0], ["F", None, "0.4", None, "0.5", "0.2", "0.1", None]]
    np.testing.assert_array_equal(predictions, booster_predictions(model_dir, rows))


def test_json_shapes(model, model_dir):
    records = RAW.iloc[:3].to_dict(orient="records")
    numbers = [[row[0], *map(float, row[1:])] for row in ROWS[:3]]
    want = booster_predictions(model_dir, ROWS[:3])
    for payload in (records, numbers, {"instances": records}, {"instances": numbers}):
        body, content_type = invoke(model, json.dumps(payload).encode(), "application/json")
        assert content_type == "application/json"
        np.testing.assert_array_equal(json_values(body), want)
    one, _ = invoke(model, json.dumps(records[0]), "application/json")  # one object, as text
    np.testing.assert_array_equal(json_values(one), want[:1])
    flat, _ = invoke(model, json.dumps(numbers[0]).encode(), "application/json")  # one positional record
    np.testing.assert_array_equal(json_values(flat), want[:1])
    with_null = dict(records[0], height=None, extra="ignored")
    body, _ = invoke(model, json.dumps([with_null]).encode(), "application/json")
    np.testing.assert_array_equal(
        json_values(body), booster_predictions(model_dir, [[*ROWS[0][:3], None, *ROWS[0][4:]]])
    )


def test_accept_negotiation(model):
    csv_body = LINES[0].encode()
    assert invoke(model, csv_body, "text/csv", None)[1] == "text/csv"
    assert invoke(model, csv_body, "text/csv", "*/*")[1] == "text/csv"
    body, content_type = invoke(model, csv_body, "text/csv", "application/json")
    assert content_type == "application/json" and len(json_values(body)) == 1
    assert invoke(model, b"[" + json.dumps(ROWS[0]).encode() + b"]", "application/json", "text/csv")[1] == "text/csv"
    assert invoke(model, csv_body, "text/csv", "application/xml, application/json;q=0.9")[1] == "application/json"
    assert invoke(model, csv_body, "text/csv", "")[1] == "text/csv"


@pytest.mark.parametrize(
    ("accept", "request_type", "answered"),
    [
        ("text/*", "application/json", "text/csv"),  # a media range matches the type offered under it
        ("application/*", "text/csv", "application/json"),
        ("application/json;q=0, text/csv;q=1", "application/json", "text/csv"),  # q=0: not this one
        ("application/json;q=0.5, text/csv;q=0.9", "application/json", "text/csv"),  # the higher q wins
        ("text/csv;q=0, */*", "text/csv", "application/json"),  # */* is not a type refused by q=0
        ("text/plain, application/json", "text/csv", "application/json"),  # ties: the order given
        ("APPLICATION/JSON; Q=1", "text/csv", "application/json"),
    ],
)
def test_accept_media_ranges_and_q_values_as_rfc_9110_negotiates(model, accept, request_type, answered):
    body = LINES[0].encode() if request_type == "text/csv" else json.dumps([ROWS[0]]).encode()
    assert invoke(model, body, request_type, accept)[1] == answered


def test_accept_refusing_every_type_offered_is_a_406(model):
    answer = invoke(model, LINES[0].encode(), "text/csv", "text/csv;q=0, application/json;q=0, */*;q=0.1")
    assert_refused(answer, 406, r"Unsupported Accept")


def test_csv_records_are_split_at_line_ends_only(model, model_dir):
    """csv.reader's lines (CRLF, LF, CR), with or without a quote in the body: a form feed, a vertical tab or
    U+2028 inside a line does not make two records of it."""
    line = LINES[0]
    for separator in ("\x0b", "\x0c", "\u2028", "\x1e"):
        assert_refused(invoke(model, f"{line}{separator}{line}".encode(), "text/csv"), 400, r"Record 1")
    for ending in ("\n", "\r\n", "\r"):
        body, _ = invoke(model, ending.join(LINES[:3]).encode(), "text/csv")
        np.testing.assert_array_equal(csv_values(body), booster_predictions(model_dir, ROWS[:3]))


@pytest.mark.parametrize("value", ["1_000", "0.4_5", "\u0661\u0662", "\uff11", "0.\u0664"])
def test_number_text_that_training_reads_as_a_string_is_refused(model, value):
    """Python's float() reads underscores and other scripts' digits; pandas (training) and the analyzer read such
    values as text, so the endpoint refuses them rather than answer for a value monitoring will see as a string."""
    body = f"M,{value},0.365,0.095,0.514,0.2245,0.101,0.15".encode()
    assert_refused(invoke(model, body, "text/csv"), 400, r"Column 'length' must be numeric \(ASCII digits\)")
    record = json.dumps([["M", value, 0.365, 0.095, 0.514, 0.2245, 0.101, 0.15]]).encode()
    assert_refused(invoke(model, record, "application/json"), 400, r"Column 'length' must be numeric")


def test_binary_model_returns_probabilities(tmp_path):
    model_dir = trained(tmp_path, binary=True)
    model = model_fn(str(model_dir))
    assert model.problem_type == "binary"
    body, _ = invoke(model, "\n".join(LINES[:500]).encode(), "text/csv")
    probabilities = csv_values(body)
    assert ((probabilities > 0) & (probabilities < 1)).all()
    np.testing.assert_array_equal(probabilities, booster_predictions(model_dir, ROWS[:500]))
    old = (pd.read_csv(ABALONE)["rings"].to_numpy()[:500] >= 10).astype(float)
    assert probabilities[old == 1].mean() > probabilities[old == 0].mean() + 0.2


@pytest.mark.parametrize(
    ("body", "content_type", "status", "message"),
    [
        (
            b"M,1,1,1,1,1,1,1",
            "text/plain",
            415,
            r"Unsupported content type 'text/plain': use text/csv or application/json",
        ),
        (b"M,1,1,1,1,1,1,1", None, 415, r"Unsupported content type 'none'"),
        (b"", "text/csv", 400, r"Empty request body"),
        (b" \n\n ", "application/json", 400, r"Empty request body"),
        (b"\xff\xfe", "text/csv", 400, r"not UTF-8"),
        (b"\xef\xbb\xbf" + LINES[0].encode(), "text/csv", 400, r"starts with a UTF-8 byte order mark \(BOM\)"),
        (b"\xef\xbb\xbf[" + json.dumps(ROWS[0]).encode() + b"]", "application/json", 400, r"byte order mark"),
        (b'{"length": ' + b"9" * 5000 + b"}", "application/json", 400, r"a number has more than \d+ digits"),
        (b'"M,0.4",0.3,0.1,0.5,0.2,0.1,0.1', "text/csv", 400, r"has 7 field\(s\).*got: '\"M,0\.4\",0\.3,"),
        (b'M,"0.4', "text/csv", 400, r"Malformed CSV"),
        (b"M,0.4,0.3", "text/csv", 400, r"Record 1 has 3 field\(s\), expected 8 \(sex, length, diameter"),
        (b"M,0.4,0.3,0.1,0.5,0.2,0.1,0.1\nM,0.4,0.3", "text/csv", 400, r"Record 2 has 3 field\(s\), expected 8"),
        (
            b"M,long,0.3,0.1,0.5,0.2,0.1,0.1",
            "text/csv",
            400,
            r"Column 'length' must be numeric, got 'long' \(record 1\)",
        ),
        (
            b"sex,length,diameter,height,whole_weight,shucked_weight,viscera_weight,shell_weight\n" + LINES[0].encode(),
            "text/csv",
            400,
            r"starts with a header row; send data rows only, in this order: sex,length,diameter",
        ),
        (
            b"Sex,Length,Diameter,Height,Whole_Weight,Shucked_Weight,Viscera_Weight,Shell_Weight\n" + LINES[0].encode(),
            "text/csv",
            400,
            r"starts with a header row",
        ),
        (b'{"sex": "M", "length": 0.4', "application/json", 400, r"Malformed JSON: Expecting"),
        (b'{"sex": "M", "length": 0.4}', "application/json", 400, r"Record 1 has no feature 'diameter' \(and 5 more\)"),
        (b'{"instances": {"sex": "M"}}', "application/json", 400, r'"instances" must be a list of records, got dict'),
        (b"[]", "application/json", 400, r"No records: the JSON list is empty"),
        (b"42", "application/json", 400, r"JSON body must be a list of records"),
        (b'[{"sex": "M"}, ["M"]]', "application/json", 400, r"all objects or all lists, got a mix of dict, list"),
        (b'[["M", true, 1, 1, 1, 1, 1, 1]]', "application/json", 400, r"Column 'length' must be numeric, got True"),
    ],
)
def test_bad_requests_are_answered_with_their_status_never_raised(model, body, content_type, status, message):
    answer = invoke(model, body, content_type)  # raises nothing: the container would answer any exception 500
    assert_refused(answer, status, message)


def assert_refused(answer, status: int, message: str) -> str:
    """A response object (not a tuple, which the container answers 200) with ``status`` and a JSON error."""
    assert not isinstance(answer, tuple)
    assert (answer.status_code, answer.mimetype) == (status, "application/json")
    error = json.loads(answer.get_data())["error"]
    assert re.search(message, error), error
    return error


def test_unsupported_accept(model):
    assert_refused(invoke(model, LINES[0].encode(), "text/csv", "application/xml"), 406, r"Unsupported Accept")


def test_input_and_predict_return_the_error_value_and_pass_it_through(model):
    error = input_fn(b"M,1", "text/plain")
    assert error == RequestError("Unsupported content type 'text/plain': use text/csv or application/json", 415)
    assert predict_fn(error, model) is error
    refused = predict_fn(input_fn(b"M,long,1,1,1,1,1,1", "text/csv"), model)
    assert isinstance(refused, RequestError) and refused.status == 400
    assert_refused(output_fn(error, "text/csv"), 415, "Unsupported content type")  # whatever the Accept


def test_error_responses_are_flask_responses_where_flask_is_importable(model, monkeypatch):
    flask = pytest.importorskip("flask")
    inference.inference._response_class.cache_clear()
    assert isinstance(output_fn(RequestError("no"), "text/csv"), flask.Response)
    monkeypatch.setitem(sys.modules, "flask", None)  # as if flask were not installed
    inference.inference._response_class.cache_clear()
    try:
        answer = output_fn(RequestError("no", 415), "text/csv")
        assert isinstance(answer, HandlerResponse) and answer.status_code == 415
        assert answer.get_data() == b'{"error": "no"}'
    finally:
        inference.inference._response_class.cache_clear()


def test_deeply_nested_json_is_a_400(model):
    assert_refused(invoke(model, b"[" * 5000, "application/json"), 400, r"Malformed JSON: nested too deeply")
    assert_refused(invoke(model, b"[" * 5000 + b"]" * 5000, "application/json"), 400, "nested too deeply")
    nested = json.dumps([["M", *[[[[[1]]]]] * 7]]).encode()
    assert_refused(invoke(model, nested, "application/json"), 400, r"Column 'length' must be numeric")
    assert_refused(invoke(model, b"[" + b"1" * 5000 + b"]", "application/json"), 400, "")


def test_long_error_messages_are_cut(model):
    row = json.dumps([["M", "x" * 10_000, 1, 1, 1, 1, 1, 1]]).encode()
    error = assert_refused(invoke(model, row, "application/json"), 400, r"^Column 'length' must be numeric")
    assert len(error) == 2000 and error.endswith("…")


def test_model_fn_refuses_a_dir_without_a_booster(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"No xgboost-model\.json or xgboost-model\.ubj in"):
        model_fn(str(tmp_path))


def test_loads_from_the_model_code_dir_like_the_container(model_dir):
    """SAGEMAKER_SUBMIT_DIRECTORY=/opt/ml/model/code on sys.path, ``import inference`` as a top-level module,
    with ``feature_transform`` as its sibling (and no repository on the path)."""
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); import inference, feature_transform\n"
        "assert inference.__file__.startswith(sys.argv[1]) and feature_transform.__file__.startswith(sys.argv[1])\n"
        "m = inference.model_fn(sys.argv[2])\n"
        "records = inference.input_fn(sys.argv[3].encode(), 'text/csv')\n"
        "body, ctype = inference.output_fn(inference.predict_fn(records, m), None)\n"
        "sys.stdout.write(body.decode())\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    code = model_dir / "code"
    done = subprocess.run(
        [sys.executable, "-I", "-c", script, str(code), str(model_dir), "\n".join(LINES[:5])],
        cwd=code,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    np.testing.assert_array_equal(csv_values(done.stdout.encode()), booster_predictions(model_dir, ROWS[:5]))


NON_FINITE = [
    (b"M,inf,0.3,0.1,0.5,0.2,0.1,0.1", "text/csv", r"Record 1, feature 'length': 'inf' is not a finite number"),
    (LINES[0].encode() + b"\nM,0.4,1e999,0.1,0.5,0.2,0.1,0.1", "text/csv", r"Record 2, feature 'diameter': '1e999'"),
    (b"M,0.4,0.3,-Infinity,0.5,0.2,0.1,0.1", "text/csv", r"feature 'height': '-Infinity' is not a finite"),
    (b"M,0.4,0.3,0.1,NaN,0.2,0.1,0.1", "text/csv", r"feature 'whole_weight': 'NaN' is not a finite"),
    (b"M,0.4,0.3,0.1,0.5,-4e38,0.1,0.1", "text/csv", r"'shucked_weight': '-4e38' is not a finite number for the model"),
    (b'[["M", 0.4, 0.3, 0.1, 0.5, 0.2, 1e300, 0.1]]', "application/json", r"'viscera_weight': 1e\+300 is not a finite"),
    (b'[["M", 0.4, 0.3, 0.1, 0.5, NaN, 0.1, 0.1]]', "application/json", r"feature 'shucked_weight': nan is not"),
    (b'[["M", 0.4, 0.3, 0.1, 0.5, 0.2, Infinity, 0.1]]', "application/json", r"'viscera_weight': inf is not"),
    (b'[["M", 0.4, 0.3, 0.1, 0.5, 0.2, 0.1, 1e999]]', "application/json", r"'shell_weight': inf is not"),
    (b'[["M", 0.4, 0.3, 0.1, 0.5, 0.2, 0.1, 1' + b"0" * 400 + b"]]", "application/json", r"'shell_weight': 1000"),
    (
        b'{"sex": "M", "length": "inf", "diameter": 1, "height": 1, "whole_weight": 1, "shucked_weight": 1, '
        b'"viscera_weight": 1, "shell_weight": 1}',
        "application/json",
        r"Record 1, feature 'length': 'inf'",
    ),
]
EMPTY = [
    (b",,,,,,,", "text/csv", r"Record 1 is empty: every feature \(sex, length, .*\) is missing"),
    (LINES[0].encode() + b'\n"",NA,,,,,,\n', "text/csv", r"Record 2 is empty"),
    (b"[[null, null, null, null, null, null, null, null]]", "application/json", r"Record 1 is empty"),
]


@pytest.mark.parametrize(("body", "content_type", "message"), NON_FINITE + EMPTY)
def test_non_finite_values_and_empty_records_are_refused_by_default(model, body, content_type, message):
    assert model.policy == InputPolicy()
    assert_refused(invoke(model, body, content_type), 400, message)


def with_policy(model_dir: Path, target: Path, **policy: bool) -> Model:
    shutil.copytree(model_dir, target)
    spec = json.loads((target / "transform.json").read_text())
    (target / "transform.json").write_text(json.dumps({**spec, "input_policy": policy}))
    return model_fn(str(target))


@pytest.mark.parametrize(("body", "content_type", "message"), NON_FINITE)
def test_non_finite_values_are_answered_when_the_model_allows_them(model_dir, tmp_path, body, content_type, message):
    allowing = with_policy(model_dir, tmp_path / "m", allow_non_finite=True)
    body_out, _ = invoke(allowing, body, content_type, "application/json")
    assert len(json_values(body_out)) == body.count(b"\n") + 1
    assert_refused(invoke(allowing, b",,,,,,,", "text/csv"), 400, "Record 1 is empty")  # the other half stays


@pytest.mark.parametrize(("body", "content_type", "message"), EMPTY)
def test_empty_records_are_answered_when_the_model_allows_them(model_dir, tmp_path, body, content_type, message):
    allowing = with_policy(model_dir, tmp_path / "m", allow_empty_records=True)
    body_out, _ = invoke(allowing, body, content_type, "text/csv")
    assert np.isfinite(csv_values(body_out)).all()
    assert_refused(invoke(allowing, b"M,inf,1,1,1,1,1,1", "text/csv"), 400, "not a finite number")


def test_missing_values_are_not_non_finite(model, model_dir):
    body = b"F,,0.4,NA,0.5,0.2,0.1,\nM,0.4,0.3,0.1,0.5,0.2,0.1,null\n"
    want = booster_predictions(
        model_dir,
        [
            ["F", None, "0.4", None, "0.5", "0.2", "0.1", None],
            [*ROWS[0][:1], "0.4", "0.3", "0.1", "0.5", "0.2", "0.1", None],
        ],
    )
    np.testing.assert_array_equal(csv_values(invoke(model, body, "text/csv")[0]), want)


def test_unseen_categories_encode_as_missing_and_are_counted(model_dir, tmp_path, caplog):
    fresh = model_fn(str(model_dir))
    assert fresh.unseen_categories() == {}
    body = b"X,0.4,0.3,0.1,0.5,0.2,0.1,0.1\nF,0.4,0.3,0.1,0.5,0.2,0.1,0.1\n,0.4,0.3,0.1,0.5,0.2,0.1,0.1\n"
    caplog.set_level("WARNING")
    answer, _ = invoke(fresh, body, "text/csv")
    missing = invoke(fresh, b",0.4,0.3,0.1,0.5,0.2,0.1,0.1", "text/csv")[0]
    assert answer.splitlines()[0] + b"\n" == missing  # unseen encodes as missing
    assert fresh.unseen_categories() == {"sex": 1}  # the missing value is not counted
    invoke(fresh, json.dumps([{**RAW.iloc[0].to_dict(), "sex": "Z"}] * 9).encode(), "application/json")
    assert fresh.unseen_categories() == {"sex": 10}
    assert [r.getMessage() for r in caplog.records if "unseen" in r.getMessage()] == [
        f"Feature 'sex': {n} value(s) unseen in training so far, encoded as missing" for n in (1, 10)
    ]
    invoke(fresh, b"Y,inf,0.3,0.1,0.5,0.2,0.1,0.1", "text/csv")  # refused: not counted
    assert fresh.unseen_categories() == {"sex": 10}
