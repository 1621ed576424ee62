"""Capture outputs decoded from base64 all at once, checked against Python's own strict decoder."""

from __future__ import annotations

import base64
import binascii
import random

import pyarrow as pa
import pytest

from monitoring.capture_predictions import decode_base64


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
