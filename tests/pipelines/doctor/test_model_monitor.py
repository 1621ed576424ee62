"""Whether Model Monitor is usable (SageMaker stubbed): pass, fail, cannot-tell."""

from __future__ import annotations

from datetime import datetime, timezone

from pipelines.doctor.model_monitor import check_model_monitor
from tests.pipelines.doctor.stubs import stubbed

SCHEDULE = {
    "MonitoringScheduleName": "abalone-endpoint-dq",
    "MonitoringScheduleArn": "arn:aws:sagemaker:us-east-1:123456789012:monitoring-schedule/abalone-endpoint-dq",
    "CreationTime": datetime(2026, 1, 1, tzinfo=timezone.utc),
    "LastModifiedTime": datetime(2026, 1, 1, tzinfo=timezone.utc),
    "MonitoringScheduleStatus": "Scheduled",
}


def _check(response=None, error=None):
    client, stubber = stubbed("sagemaker")
    if error:
        stubber.add_client_error("list_monitoring_schedules", *error)
    else:
        stubber.add_response("list_monitoring_schedules", response, {"MaxResults": 1})
    return check_model_monitor(client)


def test_pass_when_the_account_has_schedules():
    assert _check({"MonitoringScheduleSummaries": [SCHEDULE]}).status == "pass"


def test_cannot_tell_for_an_account_without_schedules():
    row = _check({"MonitoringScheduleSummaries": []})
    assert row.status == "cannot-tell" and "closed to new customers" in row.detail
    assert "monitoring.engine: processing" in row.fix


def test_fail_when_sagemaker_refuses_the_account():
    row = _check(error=("ValidationException", "Amazon SageMaker Model Monitor is not available to new customers"))
    assert row.status == "fail" and "monitoring.engine: processing" in row.fix


def test_cannot_tell_when_the_caller_may_not_list():
    assert _check(error=("AccessDeniedException", "not authorized")).status == "cannot-tell"
