"""Service quotas per configured instance type and usage (Service Quotas stubbed: moto lists no applied quotas)."""

from __future__ import annotations

from pipelines.config import ServingConfig
from pipelines.doctor.quotas import Want, check_quotas, wanted
from tests.pipelines.doctor.stubs import REGION, add_quotas, config, default_quotas, quota, stubbed


def _rows(applied, defaults=None, wants=None):
    client, stubber = stubbed("service-quotas")
    add_quotas(stubber, applied, defaults)
    cfg = config()
    rows = check_quotas(client, wants or wanted(cfg.sagemaker, cfg.serving), REGION)
    stubber.assert_no_pending_responses()
    return rows


def test_wanted_covers_processing_training_and_every_endpoint_type():
    cfg = config(processing_instance_count=3, inference_instance_types=("ml.m5.large", "ml.c5.xlarge"))
    wants = wanted(cfg.sagemaker, ServingConfig(instance_count=2))
    assert [(w.quota_name, w.count) for w in wants] == [
        ("ml.m5.xlarge for processing job usage", 3),
        ("ml.m5.xlarge for training job usage", 1),
        ("ml.m5.large for endpoint usage", 2),
        ("ml.c5.xlarge for endpoint usage", 2),
    ]


def test_an_autoscaled_endpoint_asks_for_its_maximum():
    from pipelines.config_sections import AutoscalingConfig

    cfg = config()
    scaled = ServingConfig(instance_count=2, autoscaling=AutoscalingConfig(enabled=True, max_instances=6))
    assert [w.count for w in wanted(cfg.sagemaker, scaled) if w.usage == "endpoint usage"] == [6]
    off = ServingConfig(instance_count=2, autoscaling=AutoscalingConfig(enabled=False, max_instances=6))
    assert [w.count for w in wanted(cfg.sagemaker, off) if w.usage == "endpoint usage"] == [2]


def test_quotas_pass():
    rows = _rows(default_quotas(2))
    assert [r.status for r in rows] == ["pass"] * 3
    assert rows[0].name == "quota: ml.m5.xlarge for processing job usage"


def test_quota_below_the_count_fails_with_the_increase_request():
    wants = [Want("ml.m5.xlarge", "processing job usage", 4)]
    (row,) = _rows([quota("ml.m5.xlarge for processing job usage", 2, "L-P")], wants=wants)
    assert row.status == "fail" and "quota 2, the config asks for 4" in row.detail
    assert "--quota-code L-P --desired-value 4" in row.fix


def test_quota_of_zero_fails_and_default_is_used_when_not_applied():
    rows = _rows([], [quota("ml.m5.xlarge for processing job usage", 0), *default_quotas(1)[1:]])
    assert [r.status for r in rows] == ["fail", "pass", "pass"]


def test_instance_type_without_a_quota_fails():
    (row,) = _rows(default_quotas(), wants=[Want("ml.p9.huge", "training job usage", 1)])
    assert row.status == "fail" and "no quota named 'ml.p9.huge for training job usage'" in row.detail


def test_quotas_cannot_tell_when_refused():
    client, stubber = stubbed("service-quotas")
    stubber.add_client_error("list_service_quotas", "AccessDeniedException", "no")
    cfg = config()
    rows = check_quotas(client, wanted(cfg.sagemaker, cfg.serving), REGION)
    assert [r.status for r in rows] == ["cannot-tell"] * 3
    assert "servicequotas:ListServiceQuotas" in rows[0].fix
