"""The analyzer's user errors: a dataset, baseline file, setting, script or output folder it cannot use (container
code).

Each inherits ``MlopsError`` (so ``mlops monitor ...`` reports them in one line) and the built-in they replaced (so a
caller catching ``ValueError``, ``FileNotFoundError`` or ``OSError`` keeps working). Standard library only; Python 3.10
compatible.
"""

from __future__ import annotations

from mlops_errors import MlopsError


class AnalyzerInputError(MlopsError, ValueError):
    """A dataset, baseline file or setting the analyzer cannot use; the message names it and what was expected."""


class AnalyzerFileNotFoundError(MlopsError, FileNotFoundError):
    """A file or folder the analyzer was pointed at does not exist; the message names the path."""


class AnalyzerOutputError(MlopsError, OSError):
    """An output folder the results cannot be written to (a file, under a file, or a result name taken by a folder);
    refused before any work is done, so nothing is half-written. ``OSError`` is what writing there would have raised."""
