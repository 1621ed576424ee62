"""A user's labels file read and checked: (id, ground-truth label text) pairs in file order, or one error naming the
file and its bad lines.

A labels file (CSV or JSON Lines, see ``ground_truth_label_formats``) is keyed by the inference id given to
InvokeEndpoint (or, for requests sent without one, the capture record's event id); each id and label is checked
against the problem type (``ground_truth_label_rules``). The options and the file's kind are checked at the call,
before anything is read.

A labels file is read as a stream (``stream_labels``): each line is checked as it is iterated, every bad line
counted and the first ``MAX_REPORTED`` named in a ``LabelsError`` raised after the last line, so the consumer
(``ground_truth_records``: the records written in chunks to a temporary file renamed into place only after the last
line passed) keeps nothing of a bad file and memory does not grow with the file. A file that is not UTF-8 is named
by the line and file offset of its first bad byte.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Iterator
from pathlib import Path

from monitoring.ground_truth_label_formats import Row
from monitoring.ground_truth_label_formats import label_rows as _rows
from monitoring.ground_truth_label_formats import labels_kind as _labels_kind
from monitoring.ground_truth_label_rules import LabelRules, LabelsError
from monitoring.ground_truth_label_rules import checked_id as _id
from monitoring.ground_truth_label_rules import shown as _shown

ID_COLUMN = "inference_id"
LABEL_COLUMN = "label"
MAX_REPORTED = 10  # bad lines named in one error


class _BadLines:
    """The bad lines of one labels file: every one counted, the first MAX_REPORTED named."""

    def __init__(self, path: Path):
        self.path = path
        self.count = 0
        self.named: list[str] = []

    def add(self, line: int, problem: str) -> None:
        self.count += 1
        if len(self.named) < MAX_REPORTED:
            self.named.append(f"  line {line}: {problem}")

    def error(self) -> LabelsError:
        more = f"\n  ... and {self.count - MAX_REPORTED} more" if self.count > MAX_REPORTED else ""
        return LabelsError(
            f"{self.path}: {self.count} bad line(s); nothing was written:\n" + "\n".join(self.named) + more
        )


def _checked(rows: Iterable[Row], path: Path, rules: LabelRules) -> Iterator[tuple[str, str]]:
    """(id, label text) of the rows, in order, until a bad row is seen (the rest are only checked); after the last
    row a LabelsError naming the bad lines, so whatever was written from the pairs is thrown away."""
    bad = _BadLines(path)
    good = 0
    try:
        for line, key, value, problem in rows:
            if problem is None:
                text, problem = _id(key)
            if problem is None:
                label = rules.convert(value)
                if label is not None:
                    good += 1
                    if not bad.count:
                        yield text, label
                    continue
                problem = f"label {_shown(value)} is not {rules.expected()}"
            bad.add(line, problem)
    except UnicodeDecodeError as exc:
        raise _not_utf8(path, exc) from exc
    except OSError as exc:
        raise LabelsError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    if bad.count:
        raise bad.error()
    if not good:
        raise LabelsError(f"{path}: no labels found")


def _not_utf8(path: Path, exc: UnicodeDecodeError) -> LabelsError:
    """The error for a file that is not UTF-8, with the line and file offset of its first bad byte (the decoder's
    own offset counts from the start of its buffer, somewhere in the file)."""
    try:
        found = _first_bad_utf8(path)
    except OSError:
        found = None
    if found is None:  # the file changed under us
        return LabelsError(f"{path}: not UTF-8 text ({exc.reason}); save it as UTF-8")
    line, offset, reason = found
    return LabelsError(
        f"{path}: line {line}: not UTF-8 text ({reason} at byte {offset:,} of the file); save it as UTF-8"
    )


def _first_bad_utf8(path: Path, size: int = 1 << 20) -> tuple[int, int, str] | None:
    """(line, file offset, reason) of the first byte of a file that is not UTF-8, or None; lines end at LF, CR or
    CRLF, as the readers count them."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, line, after_cr = 0, 1, False
    with open(path, "rb") as handle:
        while True:
            chunk = handle.read(size)
            held = len(decoder.getstate()[0])  # bytes of a character cut by the last chunk
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                at = offset - held + exc.start
                return line + _line_breaks(chunk[: max(at - offset, 0)], after_cr), at, exc.reason
            if not chunk:
                return None
            line += _line_breaks(chunk, after_cr)
            offset += len(chunk)
            after_cr = chunk.endswith(b"\r")


def _line_breaks(data: bytes, after_cr: bool) -> int:
    """Line ends (LF, CR, CRLF) in ``data``; ``after_cr``: the data before it ended with a CR (then a first LF
    completes that CRLF)."""
    return data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n") - (after_cr and data.startswith(b"\n"))


def stream_labels(
    path: Path,
    problem_type: str,
    *,
    id_column: str = ID_COLUMN,
    label_column: str = LABEL_COLUMN,
    positive_class: str | None = None,
    negative_class: str | None = None,
) -> Iterator[tuple[str, str]]:
    """(id, ground-truth label text) of every line of a CSV or JSON Lines labels file, in file order, read as they
    are iterated; after the last one a LabelsError naming the file and its bad lines (invalid JSON, no id, a label
    that does not fit), so a consumer must not keep what it got unless the iteration ends cleanly. The options and
    the file's kind are checked at the call, before anything is read."""
    path = Path(path)
    if id_column == label_column:
        raise LabelsError(f"--id-column and --label-column are both {id_column!r}; expected two different columns")
    rules = LabelRules(problem_type, positive_class, negative_class)
    kind = _labels_kind(path)
    return _checked(_rows(path, kind, id_column, label_column), path, rules)


def read_labels(
    path: Path,
    problem_type: str,
    *,
    id_column: str = ID_COLUMN,
    label_column: str = LABEL_COLUMN,
    positive_class: str | None = None,
    negative_class: str | None = None,
) -> list[tuple[str, str]]:
    """``stream_labels`` as a list: for small files (each pair is a Python tuple)."""
    return list(
        stream_labels(
            path,
            problem_type,
            id_column=id_column,
            label_column=label_column,
            positive_class=positive_class,
            negative_class=negative_class,
        )
    )
