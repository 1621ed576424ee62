"""A model-quality baseline data set: a CSV with a header, one record a line (Evaluate's
``label,prediction[,probability]`` file, or any CSV naming its ground truth and inference columns).

Record keys are the data row numbers (1 for the first line after the header), the key the standard deviations'
subsamples are chosen by. Binary classification: labels must be 0 or 1; the inference column holds the predicted
label (0/1), or, when no probability column is named and it holds numbers in [0, 1], the probability itself, the
predicted label then being ``probability >= probability_threshold``. Every problem is told with the file, the line,
the column and the value (cut to ``ECHO`` characters). A named column must appear once in the header line, by its
exact name: pandas would rename a second ``label`` to ``label.1`` and an empty name to ``Unnamed: 1``. A leading
UTF-8 BOM is not part of the first name.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mlops_errors import MlopsError
from monitoring.labelled import LabelledPredictions
from monitoring.model_quality import BINARY, ModelQualityError, problem_type_key


class DatasetError(ModelQualityError):
    """A baseline data set that cannot be read as labelled predictions; the message names file, line and value."""


class DatasetNotFoundError(MlopsError, FileNotFoundError):
    """No file at the data set's path."""


ECHO = 100  # characters of a value or name echoed in a message


def _echo(value: str) -> str:
    """``repr`` of a value cut to ``ECHO`` characters: a 300 KB field is named, not printed."""
    return repr(value[:ECHO]) + (f"... ({len(value)} characters)" if len(value) > ECHO else "")


def _read(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DatasetNotFoundError(f"Dataset not found: {path}: expected a CSV file with a header line")
    if path.stat().st_size == 0:
        raise DatasetError(f"{path} is empty: expected a CSV with a header line and one record a line")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path} is not a readable CSV with a header line: {exc}") from exc
    if frame.empty:
        raise DatasetError(
            f"{path} holds no records: expected data lines after the header {[str(c)[:ECHO] for c in frame.columns]}"
        )
    return frame


def _header(path: Path) -> list[str]:
    """The header line's names as written (``frame.columns`` has pandas' renamings of duplicate and empty names)."""
    row = pd.read_csv(path, header=None, nrows=1, dtype=str, keep_default_na=False, skipinitialspace=True)
    return [str(name) for name in row.iloc[0]] if len(row) else []


def _names(names: list[str]) -> str:
    """The header's names for a message, each cut to ``ECHO`` characters."""
    return ", ".join(name[:ECHO] + ("..." if len(name) > ECHO else "") for name in names)


def _column(frame: pd.DataFrame, header: list[str], path: Path, name: str, role: str) -> pd.Series:
    """The column named ``name`` in the header line, refused when it is missing or given twice."""
    positions = [i for i, given in enumerate(header) if given == name]
    if not positions:
        raise DatasetError(f"Column {_echo(name)} ({role}) not found in {path}; columns are: {_names(header)}")
    if len(positions) > 1:
        raise DatasetError(
            f"{path} line 1: column {_echo(name)} ({role}) is named twice in the header (columns "
            f"{' and '.join(str(i + 1) for i in positions)}); expected it once"
        )
    return frame.iloc[:, positions[0]].rename(name)


def _fail(path: Path, column: pd.Series, bad: np.ndarray, role: str, expected: str) -> None:
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise DatasetError(
            f"{path} line {first + 2}: column {_echo(str(column.name))} ({role}) must be {expected}, "
            f"got {_echo(column.iloc[first])} ({int(bad.sum())} such lines)"
        )


def _numbers(path: Path, column: pd.Series, role: str) -> np.ndarray:
    text = column.str.strip()
    values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
    _fail(path, column, ~np.isfinite(values), role, "a number")
    # numpy parses text as Python's float() does, to the nearest double; pandas' fast parser can miss it by one unit
    # in the last place, which shows in the figures Model Monitor writes to the last digit
    return text.to_numpy(dtype=str).astype(np.float64)


def _binary_columns(
    path: Path, inference: pd.Series, values: np.ndarray, probability: pd.Series | None, cut: float
) -> tuple[np.ndarray, np.ndarray | None]:
    """Predicted labels and probabilities of a binary data set, checked."""
    if probability is not None:
        probabilities = _numbers(path, probability, "probability attribute")
        _fail(path, probability, (probabilities < 0) | (probabilities > 1), "probability attribute", "in [0, 1]")
        _fail(path, inference, ~np.isin(values, (0.0, 1.0)), "inference attribute", "a predicted label, 0 or 1")
        return values, probabilities
    if np.isin(values, (0.0, 1.0)).all():
        return values, None
    _fail(
        path,
        inference,
        (values < 0) | (values > 1),
        "inference attribute",
        "a predicted label (0 or 1) or a probability in [0, 1]",
    )
    return (values >= cut).astype(float), values


def read_labelled_csv(
    path: Path,
    *,
    problem_type: str,
    ground_truth_attribute: str,
    inference_attribute: str,
    probability_attribute: str | None = None,
    probability_threshold: float = 0.5,
) -> LabelledPredictions:
    """The labelled predictions of a CSV data set with a header line."""
    problem = problem_type_key(problem_type)
    if not 0 < probability_threshold < 1:
        raise DatasetError(f"probability threshold must be between 0 and 1, got {probability_threshold!r}")
    path = Path(path)
    frame = _read(path)
    header = _header(path)
    truth = _column(frame, header, path, ground_truth_attribute, "ground truth attribute")
    inference = _column(frame, header, path, inference_attribute, "inference attribute")
    probability = (
        _column(frame, header, path, probability_attribute, "probability attribute") if probability_attribute else None
    )
    labels = _numbers(path, truth, "ground truth attribute")
    values = _numbers(path, inference, "inference attribute")
    keys = np.arange(1, len(frame) + 1).astype(str).astype(object)
    if problem != BINARY:
        return LabelledPredictions(keys, labels, values)
    _fail(path, truth, ~np.isin(labels, (0.0, 1.0)), "ground truth attribute", "0 or 1 for binary classification")
    predictions, probabilities = _binary_columns(path, inference, values, probability, probability_threshold)
    return LabelledPredictions(keys, labels, predictions, probabilities)
