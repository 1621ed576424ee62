"""What one id and one label of a user's labels file must be, and how a value is quoted in a message: the rules
``ground_truth_labels`` applies to every line, kept apart from the file formats so they can be read on their own.

Ids are kept exactly as given, because the join matches them exactly: an id starting with whitespace, or with a
character that is not printable (a control character, a lone surrogate), is refused rather than stripped or kept,
since it could only miss its capture record silently (InvokeEndpoint's InferenceId is printable ASCII that cannot
start with a space, though it may end with spaces, which are kept; event ids are UUIDs). A JSON id is a string; a
JSON integer is taken as its decimal text; other JSON values (``true``, ``1e3``) are refused rather than turned into
text nobody sent.

Each label is checked against the problem type:

- regression: a finite number, as JSON or as text in ASCII decimal syntax, the syntax pandas and the model-quality
  reader take (``float()`` alone would also take ``1_000``, other scripts' digits, ``nan`` and ``inf``);
- binary: ``0`` or ``1`` (``0.0``/``1.0`` and JSON ``false``/``true`` too), the positive class text (the configured
  ``data.positive_class``) for 1 and, when given, the negative class text for 0; anything else is an error, so a
  misspelt class never turns silently into a 0. Class options that contradict each other (the negative class is the
  positive class or reads as 1, the positive class reads as 0, a negative class for regression, one column for both
  the id and the label) are refused before anything is read.

A value quoted in a message is cut to ``MAX_SHOWN`` characters (``shown``), so a huge id is named, not printed.
"""

from __future__ import annotations

import json
import math
import re

from mlops_errors import MlopsError

MAX_SHOWN = 60  # characters of a value quoted in a message: a 200,000-character id is named, not printed

_DECIMAL = re.compile(r"[ \t\n\r\f\v]*[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[ \t\n\r\f\v]*")  # ASCII
_READS_AS = {"1": "1", "1.0": "1", "0": "0", "0.0": "0"}  # binary label text read as a number


class LabelsError(MlopsError, ValueError):
    """A labels file that cannot be ingested: names the file, the lines and what was expected."""


class JsonInteger(str):
    """A JSON integer kept as its text: an id takes it as written, a label is read as a number from it, and a
    5,000-digit integer never becomes an ``int`` (Python refuses past 4,300 digits, with a traceback)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return str.__str__(self)


class LabelRules:
    """Turns one label value into the ground-truth text for a problem type (see the module docstring)."""

    def __init__(self, problem_type: str, positive_class: str | None = None, negative_class: str | None = None):
        if problem_type not in ("regression", "binary"):
            raise ValueError(f"problem_type must be regression or binary, got {problem_type!r}")
        self.problem_type = problem_type
        self.positive = None if positive_class is None else str(positive_class).strip()
        self.negative = None if negative_class is None else str(negative_class).strip()
        problem = self._contradiction()
        if problem:
            raise LabelsError(problem)

    def _contradiction(self) -> str | None:
        """Why the class options cannot hold together, or None: each case would silently give some label the wrong
        number (or be ignored), which a user who set it did not mean."""
        positive, negative = self.positive, self.negative
        if self.problem_type == "regression":
            if negative is not None:
                return f"--negative-class {negative!r} is for binary labels; data.problem_type is regression"
            return None
        if negative == "":
            return "--negative-class is empty: every empty label would mean 0; give the text of the class meaning 0"
        if negative is not None and negative == positive:
            return (
                f"--negative-class {negative!r} is also data.positive_class: a label {negative!r} cannot mean both "
                "0 and 1; give the text of the other class"
            )
        if negative is not None and _READS_AS.get(negative) == "1":
            return (
                f"--negative-class {negative!r} would mean 0, but the label {negative} always means 1 (the positive "
                "class); give the text of the class meaning 0, or leave it out for 0/1 labels"
            )
        if positive is not None and _READS_AS.get(positive) == "0":
            return (
                f"data.positive_class {positive!r} would mean 1, but the label {positive} always means 0; "
                "name the positive class by another text"
            )
        return None

    def expected(self) -> str:
        if self.problem_type == "regression":
            return "a finite number"
        classes = [f"{c!r}" for c in (self.positive, self.negative) if c is not None]
        return "0 or 1" + (f" (or the class {' / '.join(classes)})" if classes else "")

    def convert(self, value: object) -> str | None:
        """The label as ground-truth text, or None when it does not fit the problem type."""
        if self.problem_type == "regression":
            return _number(value)
        if isinstance(value, bool):
            return "1" if value else "0"
        if isinstance(value, (int, float)):
            return "1" if value == 1 else "0" if value == 0 else None
        if not isinstance(value, str):
            return None
        text = value.strip()
        if text in _READS_AS:
            return _READS_AS[text]
        if text == self.positive:
            return "1"
        if text == self.negative:
            return "0"
        return None


def _number(value: object) -> str | None:
    """A finite number as Python's shortest text for it, or None: a JSON number, or text in ASCII decimal syntax
    (what pandas and the model-quality reader read; ``float()`` would also take ``1_000``, ``١٢``, ``nan``)."""
    if isinstance(value, str):
        if not _DECIMAL.fullmatch(value):
            return None
        number = float(value)  # past float's range: inf, refused below; never an error
    elif isinstance(value, bool):
        return None
    elif isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:
            return None
    else:
        return None
    return repr(number) if math.isfinite(number) else None


def shown(value: object) -> str:
    """A value as a message quotes it (text as a Python literal, JSON values as JSON), cut to MAX_SHOWN characters."""
    if isinstance(value, (dict, list)):
        return "a JSON object" if isinstance(value, dict) else "a JSON array"
    if isinstance(value, str) and not isinstance(value, JsonInteger):
        cut = repr(value[:MAX_SHOWN])
    else:
        text = str.__str__(value) if isinstance(value, JsonInteger) else json.dumps(value, default=repr)
        cut = text[:MAX_SHOWN]
    length = len(value) if isinstance(value, str) else len(cut)
    return cut if length <= MAX_SHOWN else f"{cut}... ({length:,} characters)"


def checked_id(key: object) -> tuple[str, str | None]:
    """(the id exactly as given, what is wrong with it or None); see the module docstring for why ids are never
    stripped or turned from other JSON values into text."""
    if type(key) is str and key and key.isprintable() and key[0] != " ":
        return key, None  # the common case, in one pass (the only whitespace a printable id can hold is the space)
    if isinstance(key, JsonInteger):
        return str.__str__(key), None  # digits, perhaps a minus: printable
    if key is None or (isinstance(key, str) and not key.strip()):
        return "", "no id"
    if not isinstance(key, str):
        kind = "a boolean" if isinstance(key, bool) else "a number with a fraction or exponent"
        kind = "an object or array" if isinstance(key, (dict, list)) else kind
        return "", f"id {shown(key)} is {kind}; expected a string (or an integer)"
    if key != key.lstrip():  # InferenceId cannot start with whitespace (\A\S[\p{Print}]*); it may end with spaces
        return "", (
            f"id {shown(key)} starts with whitespace, which no inference id or event id does; expected the id "
            "exactly as sent (ids are matched exactly)"
        )
    at = next(i for i, character in enumerate(key) if not character.isprintable())
    return "", (
        f"id {shown(key)} has U+{ord(key[at]):04X} (a control character or other unprintable one) at character "
        f"{at + 1}; expected printable text"
    )
