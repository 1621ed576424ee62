"""Values AWS, the training script or Preprocess would refuse later are refused at load, each with its path, what
was expected and what was found; ``--param`` values get the same rules before any definition is built (an abuse
test's findings D2, D4, D5, D8 and D9)."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import pandas as pd
import pytest
import yaml

from pipelines.config import ConfigError, load_config, parse_config
from pipelines.config_rules import MAX_SEED, is_bucket_name, is_instance_type, is_s3_uri
from pipelines.parameters import check_params
from processing.split import row_fractions
from tests.conftest import ROOT

BUNDLED = yaml.safe_load((ROOT / "mlops.yaml").read_text())
NAN, INF = float("nan"), float("inf")


def document(**changes) -> dict:
    """The bundled file with ``a__b=value`` changes."""
    raw = copy.deepcopy(BUNDLED)
    for dotted, value in changes.items():
        *path, key = dotted.split("__")
        block = raw
        for part in path:
            block = block.setdefault(part, {}) or {}
        block[key] = value
    return raw


def refused(**changes) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(document(**changes), "mlops.yaml")
    return str(info.value).splitlines()


def assert_refused(changes: dict, line: str) -> None:
    lines = refused(**changes)
    assert f"mlops.yaml: {line}" in lines, lines


def assert_accepted(**changes) -> None:
    parse_config(document(**changes), "mlops.yaml")


# -- D2: endpoint names ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["bad name/../x", "../../evil", "/tmp/x", "a b", "-a", "a-", "a_b", "a" * 64])
def test_an_endpoint_name_sagemaker_would_refuse_is_refused(name):
    assert_refused(
        {"serving__endpoint_name": name},
        f"serving.endpoint_name: must be 1-63 letters, digits or hyphens, got {name!r}",
    )


def test_a_derived_endpoint_name_is_checked_too():
    lines = refused(project__name="a" * 60)
    expected = "must be 1-63 letters, digits or hyphens (derived from project.name)"
    assert f"mlops.yaml: serving.endpoint_name: {expected}, got '{'a' * 60}-endpoint'" in lines
    assert_accepted(project__name="a" * 54)  # a 63-character endpoint name
    assert_accepted(serving__endpoint_name="a" * 63, project__name="a" * 60, sagemaker__pipeline_name="p")


# -- D5: NaN and inf in numbers ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["eta", "subsample", "min_child_weight", "colsample_bytree"])
@pytest.mark.parametrize("value", [NAN, INF, "nan", "1e999"])
def test_every_float_hyperparameter_refuses_non_finite_values(tmp_path, name, value):
    """YAML's .nan passed every range check (each comparison with NaN is false), then Evaluate failed; inf passed
    min_child_weight's open range."""
    path = tmp_path / "mlops.yaml"
    path.write_text(yaml.safe_dump(document(**{f"training__hyperparameters__{name}": value})))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    where = f"{path}: training.hyperparameters.{name}: Hyperparameter {name} must be "
    assert any(line.startswith(where) for line in str(info.value).splitlines()), str(info.value)


def test_num_round_is_bounded():
    assert_refused(
        {"training__hyperparameters__num_round": 10**12},
        "training.hyperparameters.num_round: Hyperparameter num_round must be in [1, 100000], got '1000000000000'",
    )
    assert_accepted(training__hyperparameters__num_round=100_000)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("serving__max_body_mib", INF),
        ("serving__max_body_mib", NAN),
        ("gate__threshold", NAN),
        ("monitoring__alarm__threshold", NAN),
        ("monitoring__retrain__cooldown_hours", NAN),
        ("serving__idle_timeout_seconds", INF),
        ("data__split", [0.7, 0.15, NAN]),
    ],
)
def test_numeric_settings_refuse_nan_and_inf(path, value):
    lines = refused(**{path: value})
    assert any(line.startswith(f"mlops.yaml: {path.replace('__', '.')}: must be") for line in lines), lines


# -- D8: the seed ---------------------------------------------------------------------------------------------------
def test_the_seed_is_at_most_what_preprocess_can_key_its_hash_with():
    """A 70-digit seed passed the check, then Preprocess failed: BLAKE2b keys are at most 64 bytes."""
    lines = refused(data__seed=10**70)
    assert lines == [f"mlops.yaml: data.seed: must be an integer from 0 to 10**64 - 1 {_seed_reason()}, got {10**70}"]
    assert_accepted(data__seed=MAX_SEED)
    schema = SimpleNamespace(target="y", features=("x",))
    data = pd.DataFrame({"y": ["1", "2"], "x": ["a", "b"]})
    assert len(row_fractions(data, schema, MAX_SEED)) == 2  # the largest seed allowed keys Preprocess's hash
    with pytest.raises(ValueError, match="key"):
        row_fractions(data, schema, MAX_SEED + 1)  # the first one refused does not


def _seed_reason() -> str:
    return "(at most 64 digits: Preprocess keys its split hash with its text)"


# -- D9: buckets and S3 URIs -----------------------------------------------------------------------------------------
BAD_BUCKETS = ["Bad_Bucket!", "b", "ab", "a" * 64, "-abc", "abc-", "a..b", "192.168.5.4", "xn--abc", "my bucket"]
GOOD_BUCKETS = ["abc", "my-bucket", "my.bucket.name", "a" * 63, "ap-abc123-s3alias", "base--use1-az4--x-s3"]


@pytest.mark.parametrize("bucket", BAD_BUCKETS)
def test_a_bucket_name_s3_would_refuse_is_refused(bucket):
    assert not is_bucket_name(bucket)
    lines = refused(sagemaker__bucket=bucket)
    assert any(
        line.startswith("mlops.yaml: sagemaker.bucket: must be an S3 bucket name (3-63 lowercase") for line in lines
    )
    assert lines[-1].endswith(f"got {bucket!r}"), lines


@pytest.mark.parametrize("bucket", GOOD_BUCKETS)
def test_valid_bucket_names_and_aliases_are_accepted(bucket):
    assert is_bucket_name(bucket) and is_s3_uri(f"s3://{bucket}") and is_s3_uri(f"s3://{bucket}/key/x.csv")
    assert_accepted(sagemaker__bucket=bucket, data__input=f"s3://{bucket}/data/")


def test_a_bucket_override_is_checked_like_the_file():
    config = load_config(ROOT / "mlops.yaml")
    with pytest.raises(ConfigError, match=r"sagemaker\.bucket: must be an S3 bucket name .*, got 'Bad_Bucket!'"):
        config.with_overrides(sagemaker={"bucket": "Bad_Bucket!"})


@pytest.mark.parametrize(
    "path",
    [
        "data__input",
        "serving__capture__destination",
        "monitoring__reports_destination",
        "monitoring__retrain__data_uri",
        "monitoring__model_quality__ground_truth_destination",
    ],
)
@pytest.mark.parametrize("uri", ["s3://", "s3:///key", "s3://Bad_Bucket/x"])
def test_an_s3_uri_must_name_a_bucket(path, uri):
    lines = refused(**{path: uri})
    where = f"mlops.yaml: {path.replace('__', '.')}: must be "
    assert any(
        line.startswith(where) and "s3://<bucket>/<key> URI" in line and line.endswith(repr(uri)) for line in lines
    )


def test_a_local_input_path_stays_a_path():
    assert_accepted(data__input="data/other.csv")
    assert_accepted(data__input="s3-data/abalone.csv")


# -- D9: AWS limits --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("changes", "line"),
    [
        (
            {"monitoring__alarm__period_seconds": 61},
            "monitoring.alarm.period_seconds: must be one of 60, 300, 900, 3600, 21600, 86400, got 61",
        ),
        (
            {"monitoring__alarm__period_seconds": 120},  # CloudWatch's, but not the monitoring template's
            "monitoring.alarm.period_seconds: must be one of 60, 300, 900, 3600, 21600, 86400, got 120",
        ),
        (
            {"monitoring__alarm__period_seconds": 60, "monitoring__alarm__evaluation_periods": 1441},
            "monitoring.alarm.evaluation_periods: must be at most 1440 (CloudWatch evaluates an alarm over at most "
            "86400 seconds with a period of 60 seconds, monitoring.alarm.period_seconds), got 1441",
        ),
        (
            {"monitoring__alarm__period_seconds": 3600, "monitoring__model_quality__evaluation_periods": 169},
            "monitoring.model_quality.evaluation_periods: must be at most 168 (CloudWatch evaluates an alarm over at "
            "most 604800 seconds with a period of 3600 seconds, monitoring.alarm.period_seconds), got 169",
        ),
        (
            {"sagemaker__max_runtime_seconds": 10**12},
            "sagemaker.max_runtime_seconds: must be an integer from 1 to 777600, got 1000000000000",
        ),
        (
            {"sagemaker__max_runtime_seconds": 777_601},
            "sagemaker.max_runtime_seconds: must be an integer from 1 to 777600, got 777601",
        ),
        (
            {"sagemaker__retry_attempts": 10**9},
            "sagemaker.retry_attempts: must be an integer from 0 to 19, got 1000000000",
        ),
        ({"sagemaker__retry_attempts": 20}, "sagemaker.retry_attempts: must be an integer from 0 to 19, got 20"),
        (
            {"sagemaker__processing_instance_type": "m5.huge"},
            "sagemaker.processing_instance_type: must be a SageMaker instance type ml.<family>.<size> such as "
            "ml.m5.xlarge, got 'm5.huge'",
        ),
        (
            {"sagemaker__training_instance_type": "ml.m5"},
            "sagemaker.training_instance_type: must be a SageMaker instance type ml.<family>.<size> such as "
            "ml.m5.xlarge, got 'ml.m5'",
        ),
        (
            {"sagemaker__inference_instance_types": ["ml.m5.large", "large"]},
            "sagemaker.inference_instance_types[1]: must be a SageMaker instance type ml.<family>.<size> such as "
            "ml.m5.xlarge, got 'large'",
        ),
        (
            {"serving__instance_type": "ML.M5.LARGE"},
            "serving.instance_type: must be a SageMaker instance type ml.<family>.<size> such as ml.m5.xlarge, "
            "got 'ML.M5.LARGE'",
        ),
        (
            {"monitoring__alerts__sns_emails": ["not-an-email"]},
            "monitoring.alerts.sns_emails[0]: must be an email address such as ops@example.com, got 'not-an-email'",
        ),
        (
            {"monitoring__alerts__sns_emails": ["ops@example.com", "a@b"]},
            "monitoring.alerts.sns_emails[1]: must be an email address such as ops@example.com, got 'a@b'",
        ),
        (
            {"monitoring__alerts__sns_https": ["http://hooks.example.com/x"]},
            "monitoring.alerts.sns_https[0]: must be an https:// URL, got 'http://hooks.example.com/x'",
        ),
        (
            {"data__positive_class": 10},
            "data.positive_class: must be null for regression (a positive class is only meaningful for binary "
            "classification), got '10'",
        ),
    ],
)
def test_values_aws_would_refuse_are_refused_at_load(changes, line):
    assert_refused(changes, line)


@pytest.mark.parametrize(
    "changes",
    [
        {"monitoring__alarm__period_seconds": 60, "monitoring__alarm__evaluation_periods": 1440},
        {"monitoring__alarm__period_seconds": 86400, "monitoring__alarm__evaluation_periods": 7},
        {"sagemaker__max_runtime_seconds": 777_600, "sagemaker__retry_attempts": 19},
        {
            "sagemaker__processing_instance_type": "ml.g4dn.12xlarge",
            "sagemaker__training_instance_type": "ml.p4de.24xlarge",
        },
        {"sagemaker__inference_instance_types": ["ml.inf2.xlarge", "ml.m5.large"]},
        {"monitoring__alerts__sns_emails": ["ops@example.com", "first.last+ml@mail.example.co.uk"]},
        {"monitoring__alerts__sns_https": ["https://hooks.example.com/x"]},
    ],
)
def test_the_limits_keep_what_aws_accepts(changes):
    assert_accepted(**changes)


def test_instance_types():
    assert all(is_instance_type(t) for t in ("ml.m5.xlarge", "ml.c5d.18xlarge", "ml.trn1n.32xlarge", "ml.g5.48xlarge"))
    assert not any(is_instance_type(t) for t in ("m5.huge", "ml.m5", "ml..xlarge", "ml.m5.xlarge ", "local"))


# -- D4, D5, D9: --param ---------------------------------------------------------------------------------------------
def param_problems(**params: str) -> list[str]:
    config = parse_config(document(), "mlops.yaml")
    with pytest.raises(ConfigError) as info:
        check_params(params, config)
    return str(info.value).splitlines()


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1e999", "Infinity"])
def test_the_gate_threshold_parameter_must_be_finite(value):
    """GateThreshold=inf (or 1e999) let every model through the quality gate."""
    assert param_problems(GateThreshold=value) == [f"--param GateThreshold: must be a finite number, got {value!r}"]


@pytest.mark.parametrize(
    ("name", "key", "value"),
    [("Eta", "eta", "nan"), ("Subsample", "subsample", "NaN"), ("MinChildWeight", "min_child_weight", "inf")],
)
def test_float_hyperparameter_parameters_must_be_finite(name, key, value):
    expected = f"--param {name}: Hyperparameter {key} must be a finite number, got {value!r}"
    assert param_problems(**{name: value}) == [expected]


def test_parameters_follow_the_configuration_rules():
    assert param_problems(NumRound="1000000000000") == [
        "--param NumRound: Hyperparameter num_round must be in [1, 100000], got '1000000000000'"
    ]
    assert param_problems(ProcessingInstanceType="m5.huge", InputDataUrl="s3://") == [
        "--param ProcessingInstanceType: must be a SageMaker instance type ml.<family>.<size> such as ml.m5.xlarge, "
        "got 'm5.huge'",
        "--param InputDataUrl: must be a local path or an s3://<bucket>/<key> URI naming a valid S3 bucket, got 's3://'",
    ]
    config = parse_config(document(), "mlops.yaml")
    good = {"GateThreshold": "2.5", "Eta": "0.2", "TrainingInstanceType": "ml.g4dn.xlarge"}
    check_params({**good, "InputDataUrl": "s3://my-bucket/data/"}, config)
    check_params({"InputDataUrl": "data/abalone.csv"}, config)


def test_a_config_file_that_is_not_utf8_is_named(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("project:\n  name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin1\.yaml: not UTF-8 text \(invalid continuation byte at byte 20\)"):
        load_config(path)


@pytest.mark.parametrize("value", ["http://example.com/x.csv", "https://h/x.csv", "file:///tmp/x.csv", "file:x.csv"])
def test_data_input_with_another_url_scheme_is_refused(value):
    with pytest.raises(ConfigError, match=r"data\.input: must be a local path or an s3://.*\(no other URL scheme\)"):
        load_config(ROOT / "mlops.yaml").with_overrides(data={"input": value})
