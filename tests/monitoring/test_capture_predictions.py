"""Capture outputs decoded from base64 all at once, checked against Python's own strict decoder; inference times read
as one ISO-8601 grammar, checked against a Python reading of it, whatever a text's neighbours."""

from __future__ import annotations

import base64
import binascii
import random
import re
from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pytest

from monitoring.capture_predictions import decode_base64
from monitoring.capture_times import parse_times


def _python(text: str | None) -> str | None:
    """Python's strict decode of one string as UTF-8 text; None when it refuses (or the text is empty)."""
    if not text or len(text) % 4:
        return None
    try:
        return base64.b64decode(text, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
        return None


def _assert_as_python(texts: list[str | None], array: pa.Array) -> None:
    decoded, ok = decode_base64(array)
    for index, text in enumerate(texts):
        expected = _python(text)
        assert (bool(ok[index]), decoded[index].as_py()) == (expected is not None, expected or ""), text


@pytest.mark.parametrize(
    "text",
    [
        "QUJD",
        "QUI=",
        "QQ==",
        "QUJDRA==",
        "QQ==QQ==",
        "Q===",
        "QQ=A",
        "====",
        "QUJD\nQQ==",
        "QU*D",
        "QUJ",
        "",
        None,
        "/w==",
        "w6k=",
        "4oKs",
    ],
)
def test_one_string_decodes_as_pythons_strict_decoder_does(text):
    _assert_as_python([text], pa.array([text], pa.string()))


def test_random_strings_good_and_damaged_decode_as_pythons_strict_decoder_does():
    rng = random.Random(11)
    for _ in range(200):
        texts: list[str | None] = []
        for _ in range(rng.randint(0, 40)):
            raw = "".join(rng.choice('ab{}"é€0.5,\n') for _ in range(rng.randint(0, 14))).encode()
            if rng.random() < 0.2:
                raw = bytes(rng.randrange(256) for _ in range(rng.randint(1, 6)))  # often not UTF-8
            chars = list(base64.b64encode(raw).decode())
            for _ in range(rng.randint(0, 2) if rng.random() < 0.4 else 0):
                if chars:
                    chars[rng.randrange(len(chars))] = rng.choice("=*A/ ")
            texts.append(None if rng.random() < 0.05 else "".join(chars))
        array = pa.array(texts, pa.string())
        if len(texts) > 2 and rng.random() < 0.3:  # an offset into the buffers, as a filtered array may have
            texts, array = texts[1:], array.slice(1)
        _assert_as_python(texts, array)


EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ISO = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d)(?::(\d\d)(?::(\d\d)(?:\.(\d{1,9}))?)?)?(?:Z|([+-])(\d\d)(?::?(\d\d))?)?"
)


def _python_micros(text: str) -> int | None:
    """The documented grammar read by Python: UTC microseconds, or None when it is not a time."""
    match = _ISO.fullmatch(text)
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, sign, zone_hours, zone_minutes = match.groups()
    micros = int((fraction or "").ljust(6, "0")[:6])
    try:
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute or 0), int(second or 0), micros)
    except ValueError:
        return None
    if sign:
        if int(zone_hours) > 23 or int(zone_minutes or 0) > 59:
            return None
        offset = timedelta(hours=int(zone_hours), minutes=int(zone_minutes or 0))
        moment = moment - offset if sign == "+" else moment + offset
    return (moment.replace(tzinfo=timezone.utc) - EPOCH) // timedelta(microseconds=1)


def _parsed(texts: list[str | None]) -> list[int | None]:
    times, ok = parse_times(pa.chunked_array([texts], pa.string()))
    return [times[i].value if ok[i].as_py() else None for i in range(len(texts))]


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2026-11-30T08:00:00Z", "2026-11-30T08:00:00"),
        ("2026-11-30T08:00:00.123Z", "2026-11-30T08:00:00.123000"),
        ("2026-11-30T08:00:00.123456789Z", "2026-11-30T08:00:00.123456"),
        ("2026-11-30T10:30:00+02:00", "2026-11-30T08:30:00"),
        ("2026-11-30T03:30:00-0500", "2026-11-30T08:30:00"),
        ("2026-11-30T08:00:00", "2026-11-30T08:00:00"),
        ("2026-11-30 08:00Z", "2026-11-30T08:00:00"),
        ("2024-02-29T00:00:00Z", "2024-02-29T00:00:00"),
        ("2026-13-45T08:00:00Z", None),
        ("2026-02-29T00:00:00Z", None),
        ("2026-11-30T24:00:00Z", None),
        ("2026-11-30T23:59:60Z", None),
        ("2026-11-30T08:00:00+24:00", None),
        ("2026-11-30Tgarbage", None),
        ("2026-11-30", None),
        ("", None),
        (None, None),
    ],
)
def test_a_time_reads_alike_alone_and_beside_a_bad_one(text, utc):
    expected = None if utc is None else _python_micros(utc)
    assert _parsed([text])[0] == expected
    assert _parsed([text, "2026-13-45T08:00:00Z"])[0] == expected  # Arrow's cast refuses the array: the fallback


def test_random_times_read_as_the_documented_grammar():
    rng = random.Random(5)
    parts = [  # the commonest pieces first, more often
        ["2026-11-30"] * 6 + ["2024-02-29", "2026-02-29", "2026-04-31", "2026-00-10", "2026-1-30", "20261130"],
        ["T"] * 8 + [" ", "t", ""],
        ["10:10:10"] * 6 + ["10", "10:10", "1010", "24:00:00", "23:59:60", "10:60", "10:10:1"],
        [""] * 4 + [".1", ".123", ".123456", ".1234567", ".123456789", ".1234567891", ".", ",5"],
        ["Z"] * 6 + ["", "z", "+01", "+0100", "+01:00", "-05:30", "+1", "+24:00", "+23:59", "+01:60", " Z", "UTC"],
    ]
    texts = ["".join(rng.choice(choices) for choices in parts) for _ in range(400)]
    expected = [_python_micros(text) for text in texts]
    assert 40 < sum(value is not None for value in expected) < 360  # both kinds are tried
    assert [_parsed([text])[0] for text in texts] == expected
    assert _parsed(texts) == expected  # one array: the fallback, cast in halves
