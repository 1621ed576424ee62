"""The serving handler on a model trained from the bundled data: formats, equality with the booster, bad requests,
and loading from the model's code/ directory as the SageMaker XGBoost container does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from inference.inference import Model, RequestError, input_fn, model_fn, output_fn, predict_fn
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
        (b'{"sex": "M", "length": 0.4', "application/json", 400, r"Malformed JSON: Expecting"),
        (b'{"sex": "M", "length": 0.4}', "application/json", 400, r"Record 1 has no feature 'diameter' \(and 5 more\)"),
        (b'{"instances": {"sex": "M"}}', "application/json", 400, r'"instances" must be a list of records, got dict'),
        (b"[]", "application/json", 400, r"No records: the JSON list is empty"),
        (b"42", "application/json", 400, r"JSON body must be a list of records"),
        (b'[{"sex": "M"}, ["M"]]', "application/json", 400, r"all objects or all lists, got a mix of dict, list"),
        (b'[["M", true, 1, 1, 1, 1, 1, 1]]', "application/json", 400, r"Column 'length' must be numeric, got True"),
    ],
)
def test_bad_requests_raise_request_error(model, body, content_type, status, message):
    with pytest.raises(RequestError, match=message) as caught:
        invoke(model, body, content_type)
    assert caught.value.status == status and caught.value.message == str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_unsupported_accept(model):
    with pytest.raises(RequestError, match=r"Unsupported Accept 'application/xml'") as caught:
        invoke(model, LINES[0].encode(), "text/csv", "application/xml")
    assert caught.value.status == 406


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
