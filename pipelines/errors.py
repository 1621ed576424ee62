"""The application's user errors beyond the configuration's (``ConfigError``) and the registry's (``RegistryError``).

Each inherits ``MlopsError`` (``mlops`` reports it in one line, exit 2) and the built-in it replaced, so a caller that
catches ``ValueError``, ``RuntimeError`` or ``FileNotFoundError`` keeps working.
"""

from __future__ import annotations

from mlops_errors import MlopsError


class UsageError(MlopsError, ValueError):
    """A command-line argument, or a combination of them, the command cannot use; the message names the option."""


class InputError(MlopsError, ValueError):
    """A file, URI or value given to the command is not what was expected; the message names it."""


class InputFileNotFoundError(MlopsError, FileNotFoundError):
    """A file the command was pointed at does not exist; the message names the path."""


class StateError(MlopsError, RuntimeError):
    """The project's state (an execution, an endpoint, a deployed version) is not what the command needs."""
