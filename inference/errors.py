"""The serving side's user errors beyond the model archive's (``inference.artefact.ModelLoadError``).

Not container code: the model's handler (``inference.inference``) and its siblings never import it, since the model
archive carries only them. Each class inherits ``MlopsError`` (``mlops`` reports it in one line, exit 2) and
``ValueError``, which callers caught before.
"""

from __future__ import annotations

from mlops_errors import MlopsError


class CaptureSettingsError(MlopsError, ValueError):
    """Data-capture settings (sampling percentage, destination) that are not what was expected; names the field."""


class EndpointStateError(MlopsError, ValueError):
    """A local endpoint's state file that cannot be read; names the file and field, and how to recover."""


class ListenError(MlopsError, OSError):
    """The local endpoint cannot listen where it was told (a host that does not resolve, a port in use or not
    allowed); names the address and the setting or option that chose it."""
