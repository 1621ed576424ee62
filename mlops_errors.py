"""The one base class for errors meant for the user, shared by every package (the lowest layer: imports nothing).

``MlopsError`` is bad input, configuration or state that the user can fix: its message says what was given and what
was expected (the file, field, line or value). The ``mlops`` command line catches only these: one line on stderr and
exit 2. Any other exception is a bug of ours and keeps its traceback.

Each package declares its own subclasses (``ConfigError``, ``DataValidationError``, ...). Most of them also inherit
the built-in they replaced (``class ConfigError(MlopsError, ValueError)``), so callers that catch ``ValueError``,
``RuntimeError`` or ``FileNotFoundError`` keep working.

Container code imports it too (processing and training jobs, the analyzer): ``pipelines/staging.py`` stages this file
in the ``lib`` artefact and in training's source directory. Standard library only; Python 3.10 compatible.
"""

from __future__ import annotations


class MlopsError(Exception):
    """An error meant for the user: bad input, configuration or state; its message says what was expected."""
