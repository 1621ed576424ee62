"""The analyzer's user errors: a dataset, baseline file, setting or script it cannot use (container code).

Both inherit ``MlopsError`` (so ``mlops monitor ...`` reports them in one line) and the built-in they replaced (so a
caller catching ``ValueError`` or ``FileNotFoundError`` keeps working). Standard library only; Python 3.10 compatible.
"""

from __future__ import annotations

from mlops_errors import MlopsError


class AnalyzerInputError(MlopsError, ValueError):
    """A dataset, baseline file or setting the analyzer cannot use; the message names it and what was expected."""


class AnalyzerFileNotFoundError(MlopsError, FileNotFoundError):
    """A file or folder the analyzer was pointed at does not exist; the message names the path."""
