"""The local endpoint resolves and calls the handler by the SageMaker container's rules.

The rules are those of aws/sagemaker-xgboost-container v3.0-5 ``serving.py`` (lines 116-134) and
sagemaker-containers 2.8.6.post2 (``_transformer.Transformer.transform``, ``_worker.Request``): transform_fn mixed
with the other request functions is a start-up error, a returned tuple is answered 200, a returned response object
with its own status, and a missing or ``*/*`` Accept is ``SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT``.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from inference.model_loader import Invocation, ModelLoadError, content_type_sent, load_model
from tests.training.steps import tar_model

ECHO = """
class Model:
    def unseen_categories(self):
        return {"sex": 3}

def model_fn(model_dir):
    return Model()

def input_fn(body, content_type):
    return (body, content_type)

def predict_fn(data, model):
    return data

"""


class Answer:
    """A response object with the attributes flask.Response has (status_code, get_data(), mimetype)."""

    def __init__(self, data: bytes, status: int, mimetype: str) -> None:
        self.data, self.status_code, self.mimetype = data, status, mimetype

    def get_data(self) -> bytes:
        return self.data


def archive(tmp_path: Path, source: str) -> Path:
    model = tmp_path / "model"
    (model / "code").mkdir(parents=True)
    (model / "code" / "inference.py").write_text(textwrap.dedent(source))
    return tar_model(model, tmp_path / "out")


def loaded(tmp_path: Path, source: str, environment: dict[str, str] | None = None):
    return load_model(archive(tmp_path, source), tmp_path / "models", "test/1", environment)


def test_transform_fn_with_any_request_function_is_the_containers_user_error(tmp_path):
    source = ECHO + "def transform_fn(model, body, content_type, accept):\n    return body, accept\n"
    with pytest.raises(ModelLoadError, match=r"defines transform_fn and input_fn, predict_fn: .*UserError"):
        loaded(tmp_path, source)


def test_transform_fn_alone_is_served(tmp_path):
    source = "def model_fn(d):\n    return 2\n\ndef transform_fn(m, body, ct, accept):\n    return body * 2, accept\n"
    answer = loaded(tmp_path, source).invoke(b"ab", "text/csv", "text/csv")
    assert answer == Invocation(b"abab", "text/csv; charset=utf-8", 200)  # Flask's header for a text type


@pytest.mark.parametrize("missing", ["model_fn", "input_fn", "predict_fn", "output_fn"])
def test_a_missing_function_is_refused_with_its_name_and_why(tmp_path, missing):
    source = ECHO + "def output_fn(prediction, accept):\n    return b'x', accept\n"
    source = source.replace(f"def {missing}(", f"def unused_{missing}(")
    with pytest.raises(ModelLoadError, match=rf"defines no {missing}: .*default_{missing}.*does not reproduce"):
        loaded(tmp_path, source)


def test_a_returned_tuple_is_answered_200_whatever_it_says(tmp_path):
    source = ECHO + "def output_fn(prediction, accept):\n    return 'text' + prediction[1], 'text/plain'\n"
    answer = loaded(tmp_path, source).invoke(b"1,2", "text/csv", "text/csv")
    assert answer == Invocation(b"texttext/csv", "text/plain; charset=utf-8", 200)


@pytest.mark.parametrize(
    ("mimetype", "header"),
    [
        ("text/csv", "text/csv; charset=utf-8"),
        ("application/json", "application/json"),
        ("application/xml", "application/xml; charset=utf-8"),
        ("application/atom+xml", "application/atom+xml; charset=utf-8"),
        ("application/x-npy", "application/x-npy"),
        ("text/csv; charset=latin-1", "text/csv; charset=latin-1; charset=utf-8"),  # Werkzeug 0.15 appends anyway
    ],
)
def test_the_content_type_header_is_the_one_flask_1_1_sends_for_a_returned_mimetype(mimetype, header):
    assert content_type_sent(mimetype) == header


def test_a_returned_response_object_keeps_its_status_body_and_mimetype(tmp_path, monkeypatch):
    monkeypatch.setattr("builtins.Answer", Answer, raising=False)
    source = ECHO + 'def output_fn(prediction, accept):\n    return Answer(b\'{"error": "no"}\', 406, accept)\n'
    answer = loaded(tmp_path, source).invoke(b"1,2", "text/csv", "application/json")
    assert answer == Invocation(b'{"error": "no"}', "application/json", 406)


@pytest.mark.parametrize(
    ("environment", "accept", "expected"),
    [
        ({}, None, "application/json"),
        ({}, "*/*", "application/json"),
        ({}, "", "application/json"),
        ({"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv"}, None, "text/csv"),
        ({"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv"}, "*/*", "text/csv"),
        ({"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv"}, "application/json", "application/json"),
        ({"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv"}, "text/csv, */*", "text/csv, */*"),
    ],
)
def test_the_accept_default_is_the_models_environment_as_in_the_toolkit(tmp_path, environment, accept, expected):
    source = ECHO + "def output_fn(prediction, accept):\n    return accept.encode(), 'text/plain'\n"
    assert loaded(tmp_path, source, environment).invoke(b"1", "text/csv", accept).body == expected.encode()


def test_the_request_reaches_input_fn_as_the_toolkits_request_gives_it(tmp_path):
    source = ECHO + "def output_fn(prediction, accept):\n    return repr(prediction).encode(), 'text/plain'\n"
    model = loaded(tmp_path, source)
    assert model.invoke(b"1,\xff", "text/csv", "text/csv").body == repr(("1,\ufffd", "text/csv")).encode()
    assert model.invoke(b"[1]", "", "text/csv").body == repr(("[1]", "application/json")).encode()
    assert model.invoke(b"1", "text/csv; charset=utf-8", "x").body == repr((b"1", "text/csv; charset=utf-8")).encode()


def test_handler_exceptions_propagate_for_the_servers_500(tmp_path):
    source = ECHO + "def output_fn(prediction, accept):\n    raise ValueError('bad')\n"
    with pytest.raises(ValueError, match="bad"):
        loaded(tmp_path, source).invoke(b"1", "text/csv", "text/csv")


def test_unseen_categories_come_from_the_model_object(tmp_path):
    source = ECHO + "def output_fn(prediction, accept):\n    return b'', accept\n"
    assert loaded(tmp_path, source).unseen_categories() == {"sex": 3}
    plain = "def model_fn(d):\n    return 1\n\ndef transform_fn(model, body, ct, accept):\n    return body, accept\n"
    assert loaded(tmp_path / "plain", plain).unseen_categories() == {}
