"""One cron module: the local loop's verdict and evaluation, and the AWS expression (or refusal) of each engine."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from pipelines.config import ConfigError, parse_config
from pipelines.cron import Cron, CronError, aws_cron, validate_cron

OK = "ok"
BOTH_DAYS = "restricts both day-of-month"
MODEL_MONITOR = "runs only the schedules Model Monitor accepts"
HOURLY = "minute must be one value (the schedule fires at most once an hour)"

# expression -> local verdict (OK or the error's words) -> processing (EventBridge Scheduler) -> model-monitor
TABLE = [
    ("0 * * * *", OK, "cron(0 * * * ? *)", "cron(0 * ? * * *)"),
    ("0 0 * * *", OK, "cron(0 0 * * ? *)", "cron(0 0 ? * * *)"),
    ("0 12 * * *", OK, "cron(0 12 * * ? *)", "cron(0 12 ? * * *)"),
    ("0 */2 * * *", OK, "cron(0 0/2 * * ? *)", "cron(0 0/2 ? * * *)"),
    ("0 5,17 * * *", OK, "cron(0 5/12 * * ? *)", "cron(0 5/12 ? * * *)"),
    ("0 9 * * MON-FRI", OK, "cron(0 9 ? * 2-6 *)", MODEL_MONITOR),
    ("0 9 * * mon-fri", OK, "cron(0 9 ? * 2-6 *)", MODEL_MONITOR),
    ("0 9 * * 1-5", OK, "cron(0 9 ? * 2-6 *)", MODEL_MONITOR),
    ("0 9 * * 0", OK, "cron(0 9 ? * 1 *)", MODEL_MONITOR),
    ("0 9 * * 7", OK, "cron(0 9 ? * 1 *)", MODEL_MONITOR),
    ("0 6 * * 5-7", OK, "cron(0 6 ? * 1,6-7 *)", MODEL_MONITOR),
    ("0 6 * * */2", OK, "cron(0 6 ? * 1,3,5,7 *)", MODEL_MONITOR),  # EventBridge lists no / for day-of-week
    ("0 6 1 * *", OK, "cron(0 6 1 * ? *)", MODEL_MONITOR),
    ("0 6 1 * ?", OK, "cron(0 6 1 * ? *)", MODEL_MONITOR),
    ("0 0 1 JAN,JUL *", OK, "cron(0 0 1 1/6 ? *)", MODEL_MONITOR),
    ("0 0 1-31 * 1", OK, "cron(0 0 * * ? *)", "cron(0 0 ? * * *)"),  # either day matching: every day
    ("0 9 1 * 1", OK, BOTH_DAYS, BOTH_DAYS),  # the 1st or a Monday: AWS cannot say "or"
    ("0 0 */2 * 1", OK, BOTH_DAYS, BOTH_DAYS),  # odd days that are Mondays
    ("15 * * * *", OK, "cron(15 * * * ? *)", MODEL_MONITOR),
    ("15 */2 * * *", OK, "cron(15 0/2 * * ? *)", MODEL_MONITOR),
    ("59 23 * * *", OK, "cron(59 23 * * ? *)", MODEL_MONITOR),
    ("0-0 * * * *", OK, "cron(0 * * * ? *)", "cron(0 * ? * * *)"),  # one value, however written
    ("*/60 * * * *", OK, "cron(0 * * * ? *)", "cron(0 * ? * * *)"),  # a step past the field: minute 0 only
    # more than one run an hour would check the same hour again: refused for both engines
    ("*/15 * * * *", HOURLY, None, None),
    ("*/30 9-17 * * 1-5", HOURLY, None, None),
    ("0,30 * * * *", HOURLY, None, None),
    ("0-1 * * * *", HOURLY, None, None),
    ("1-10/3 * * * *", HOURLY, None, None),
    ("* * * * *", HOURLY, None, None),
    ("0/59 * * * *", HOURLY, None, None),
    ("99 * * * *", "minute must use values 0-59", None, None),
    ("0 24 * * *", "hour must use values 0-23", None, None),
    ("*/0 * * * *", "steps of at least 1", None, None),
    ("0 0 30 2 *", "on a day the chosen months have", None, None),
    ("0 0 * 13 *", "month must use values 1-12 or JAN-DEC", None, None),
    ("0 9 * * 8", "day-of-week must use values 0-7", None, None),
    ("0 9 * * 5-1", "ascending ranges", None, None),
    ("0 MON * * *", "hour must use values 0-23", None, None),
    ("0 0 L * *", "day-of-month must be *, N or N-M", None, None),
    ("0 0 * * 1#2", "day-of-week must be *, N or N-M", None, None),
    ("? 0 * * *", "minute must be *, N or N-M", None, None),
    ("@hourly", "must be five cron fields", None, None),
    ("0 * * * * *", "must be five cron fields", None, None),
    ("0 * * *", "must be five cron fields", None, None),
    ("hourly", "must be five cron fields", None, None),
]


@pytest.mark.parametrize(("expression", "local", "processing", "model_monitor"), TABLE)
def test_local_verdict_and_aws_expression(expression, local, processing, model_monitor):
    if local != OK:
        with pytest.raises(CronError, match=re.escape(local)):
            Cron.parse(expression)
        for engine in ("processing", "model-monitor"):  # refused everywhere, with the same words
            with pytest.raises(CronError, match=re.escape(local)):
                aws_cron(expression, engine)
        return
    assert Cron.parse(expression).expression == expression
    for engine, expected in (("processing", processing), ("model-monitor", model_monitor)):
        if expected.startswith("cron("):
            assert aws_cron(expression, engine) == expected
            assert validate_cron(expression, engine) == expression
        else:
            with pytest.raises(CronError, match=re.escape(expected)):
                aws_cron(expression, engine)
            with pytest.raises(CronError, match=re.escape(expected)):
                validate_cron(expression, engine)


def test_errors_name_the_field_and_the_value():
    with pytest.raises(CronError) as caught:
        validate_cron("99 * * * *")
    assert str(caught.value) == (
        "minute must use values 0-59, ascending ranges and steps of at least 1, got '99' in '99 * * * *'"
    )
    with pytest.raises(CronError, match=r"day-of-month \('1'\) and day-of-week \('1'\)"):
        validate_cron("0 9 1 * 1")
    with pytest.raises(CronError, match="engine must be one of processing, model-monitor, got 'lambda'"):
        validate_cron("0 * * * *", "lambda")
    with pytest.raises(CronError, match="five-field cron expression"):
        validate_cron(None)  # type: ignore[arg-type]


def test_cron_error_is_a_value_error():
    """Configuration validators (pydantic's included) turn a ValueError into a field error."""
    assert issubclass(CronError, ValueError)


def test_a_cron_cannot_be_built_around_the_validation():
    with pytest.raises(CronError, match="minute must use values 0-59"):
        Cron("99 * * * *")
    with pytest.raises(CronError, match="five-field cron expression"):
        Cron.parse(None)  # type: ignore[arg-type]


def test_validate_returns_the_expression_with_single_spaces():
    assert validate_cron("  0  *  * * *  ") == "0 * * * *"
    assert Cron.parse(" 0 9\t* * MON-FRI").expression == "0 9 * * MON-FRI"


T = datetime(2026, 11, 25, 10, 7, tzinfo=timezone.utc)  # a Wednesday


def test_next_after_is_strictly_after_in_utc():
    hourly = Cron.parse("0 * * * *")
    assert hourly.next_after(T) == datetime(2026, 11, 25, 11, 0, tzinfo=timezone.utc)
    on_the_hour = datetime(2026, 11, 25, 11, 0, tzinfo=timezone.utc)
    assert hourly.next_after(on_the_hour) == datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
    assert hourly.next_after(on_the_hour.replace(microsecond=500)) == datetime(2026, 11, 25, 12, tzinfo=timezone.utc)
    plus_one = T.astimezone(timezone(timedelta(hours=1)))  # 11:07 at UTC+1 is 10:07 UTC
    assert hourly.next_after(plus_one) == datetime(2026, 11, 25, 11, 0, tzinfo=timezone.utc)
    assert hourly.next_after(plus_one).utcoffset() == timedelta(0)


def test_weekday_names_and_numbers_fire_alike():
    friday_9 = datetime(2026, 11, 27, 9, 0, tzinfo=timezone.utc)
    for expression in ("0 9 * * MON-FRI", "0 9 * * 1-5"):
        cron = Cron.parse(expression)
        assert cron.next_after(T) == datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)
        assert cron.next_after(friday_9) == datetime(2026, 11, 30, 9, 0, tzinfo=timezone.utc)  # Monday
    assert Cron.parse("30 2 * * 0").next_after(T).weekday() == 6  # Sunday
    assert Cron.parse("30 2 * * 7").next_after(T).weekday() == 6


def test_both_day_fields_fire_when_either_matches_locally():
    cron = Cron.parse("0 9 1 * 1")  # valid locally, refused for AWS
    fired = cron.fires_between(datetime(2026, 11, 28, tzinfo=timezone.utc), datetime(2026, 12, 8, tzinfo=timezone.utc))
    assert [f.day for f in fired] == [30, 1, 7]  # Monday 30th, Tuesday 1st, Monday 7th


def test_fires_between_is_open_at_the_start_closed_at_the_end():
    cron = Cron.parse("0 */2 * * *")
    start, end = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc), datetime(2026, 11, 25, 16, 0, tzinfo=timezone.utc)
    assert [f.hour for f in cron.fires_between(start, end)] == [12, 14, 16]
    assert cron.fires_between(start, start) == []
    assert len(Cron.parse("0 * * * *").fires_between(T, T + timedelta(hours=3))) == 3
    working_hours = Cron.parse("15 9-17 * * 1-5")
    assert working_hours.next_after(T) == datetime(2026, 11, 25, 10, 15, tzinfo=timezone.utc)
    assert working_hours.next_after(datetime(2026, 11, 27, 17, 45, tzinfo=timezone.utc)) == datetime(
        2026, 11, 30, 9, 15, tzinfo=timezone.utc
    )  # Friday evening -> Monday morning


@pytest.mark.parametrize(
    ("monitoring", "message"),
    [
        ({"schedule": "99 * * * *"}, "monitoring.schedule: minute must use values 0-59"),
        ({"schedule": "0 9 1 * 1"}, "monitoring.schedule: restricts both day-of-month ('1') and day-of-week ('1')"),
        ({"schedule": "*/15 * * * *"}, "monitoring.schedule: minute must be one value"),
        ({"engine": "model-monitor", "schedule": "*/15 * * * *"}, "monitoring.schedule: minute must be one value"),
        ({"engine": "model-monitor", "schedule": "15 * * * *"}, "monitoring.schedule: the model-monitor engine"),
        ({"engine": "model-monitor", "schedule": "0 9 * * MON-FRI"}, "monitoring.schedule: the model-monitor engine"),
    ],
)
def test_the_configuration_refuses_what_its_engine_cannot_run(monitoring, message):
    with pytest.raises(ConfigError) as caught:
        parse_config({"monitoring": monitoring}, "mlops.yaml")
    assert str(caught.value).startswith("mlops.yaml") and message in str(caught.value)


def test_the_configuration_accepts_what_its_engine_runs():
    weekdays = parse_config({"monitoring": {"schedule": "0 9 * * MON-FRI"}}, "mlops.yaml").monitoring
    assert aws_cron(weekdays.schedule, weekdays.engine) == "cron(0 9 ? * 2-6 *)"
    every_two_hours = parse_config({"monitoring": {"engine": "model-monitor", "schedule": "0 */2 * * *"}}).monitoring
    assert aws_cron(every_two_hours.schedule, every_two_hours.engine) == "cron(0 0/2 ? * * *)"
