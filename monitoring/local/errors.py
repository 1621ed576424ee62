"""The local monitoring loop's user errors (not staged: the analyzer's own are in ``monitoring.errors``).

Each inherits ``MlopsError`` (``mlops monitor ...`` reports it in one line, exit 2) and the built-in it replaced, so a
caller that catches ``ValueError`` or ``FileNotFoundError`` keeps working.
"""

from __future__ import annotations

from mlops_errors import MlopsError


class AlarmError(MlopsError, ValueError):
    """An alarm definition or rule (CloudWatch's fields and limits) that cannot be evaluated; names the field."""


class AlertError(MlopsError, ValueError):
    """An alert sink setting or an analysis summary an alert cannot be written from; names the value or file."""


class MetricsStoreError(MlopsError, ValueError):
    """A metric datum or query the local metrics store refuses, as CloudWatch would (InvalidParameterValue)."""


class ReportInputError(MlopsError, ValueError):
    """A report input (statistics, constraints, violations) that is not valid; names the file."""


class ReportInputNotFoundError(MlopsError, FileNotFoundError):
    """A report input that does not exist; names the file."""
