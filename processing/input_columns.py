"""Checks of the raw input that pandas and XGBoost would otherwise get wrong silently, or fail on without naming
the file, the column or the row: rows with more fields than the header, column names given twice, a file that is
not comma-separated, nested Parquet values, and numbers beyond the 32-bit floats XGBoost reads.

Container code (the SageMaker XGBoost image): standard library, numpy, pandas and pyarrow only.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from mlops_errors import MlopsError

FLOAT32_MAX = float(np.finfo(np.float32).max)
NUMBER_RANGE = f"finite numbers of at most {FLOAT32_MAX:.8g} in magnitude (XGBoost reads 32-bit floats)"
DELIMITERS = {";": "semicolon", "\t": "tab", "|": "vertical bar"}


class DataValidationError(MlopsError, ValueError):
    """The input data or the schema is not what the step expects; the message says what and where."""


def beyond_float32(numbers: np.ndarray) -> np.ndarray:
    """Where numbers are infinite, or become infinite as the 32-bit floats XGBoost reads (magnitude above
    ``FLOAT32_MAX``, e.g. 1e39 or 1e308): XGBoost then refuses them naming neither file, column nor row. NaN is not
    flagged."""
    with np.errstate(over="ignore"):
        return np.isinf(np.asarray(numbers, dtype=np.float64).astype(np.float32))


def read_csv_text(path: Path) -> pd.DataFrame:
    """A CSV file's data rows as text, named by its header row (names trimmed; an empty one ``Unnamed: <i>``).

    A row with more fields than the header is refused: pandas would otherwise take the first column as the index
    when every row has one more field (a trailing comma), shifting every value one column to the left."""
    try:
        rows = pd.read_csv(path, dtype=str, header=None)
        header = pd.read_csv(path, dtype=str, header=None, nrows=1, na_filter=False).iloc[0]
    except pd.errors.EmptyDataError:
        raise DataValidationError(f"{path} is empty: expected a header row and data rows") from None
    except pd.errors.ParserError as exc:
        raise DataValidationError(
            f"{path} is not a readable CSV file: {str(exc).strip()}; every row must have at most the header's "
            "number of fields (a comma at the end of a line adds one)"
        ) from None
    except UnicodeDecodeError as exc:
        raise DataValidationError(f"{path} is not a readable CSV file: {exc}") from None
    frame = rows.iloc[1:].reset_index(drop=True)
    frame.columns = [str(name).strip() or f"Unnamed: {i}" for i, name in enumerate(header)]
    return frame


def refuse_duplicates(columns: Sequence[str], wanted: Sequence[str], path: Path) -> None:
    """Refuse a schema column whose name is in the header more than once (after trimming spaces at the ends):
    which one holds the data would be a guess."""
    for column in wanted:
        places = [i + 1 for i, name in enumerate(columns) if name == column]
        if len(places) > 1:
            raise DataValidationError(
                f"Column '{column}' appears {len(places)} times among the columns of {path} (columns "
                f"{', '.join(map(str, places))}, names trimmed of spaces): expected it once; rename or drop the others"
            )


def delimiter_hint(columns: Sequence[str]) -> str:
    """A hint when a header read as one column holds another delimiter (a semicolon-separated export)."""
    if len(columns) != 1:
        return ""
    found = [name for mark, name in DELIMITERS.items() if mark in columns[0]]
    return f" (the header is one column holding {found[0]}s: the file must be comma-separated)" if found else ""


def refuse_nested(table: pa.Table, names: Sequence[str], wanted: Sequence[str], path: Path) -> None:
    """Refuse a schema column of a nested Parquet type (list, struct, map): a record holds one value per
    feature, so a model trained on such values as categories could never be sent them."""
    for column in wanted:
        if column not in names:
            continue  # reported with the other missing columns
        kind = table.column(list(names).index(column)).type
        if pa.types.is_nested(kind):
            raise DataValidationError(
                f"Column '{column}' in {path} has Parquet type {kind}: expected one value per row (a number, string, "
                "boolean or date), not a list, struct or map"
            )
