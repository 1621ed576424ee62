"""The monitoring functions' code: a deterministic zip of the Lambda-side modules, staged content-addressed.

The zip holds only ``monitoring/__init__.py`` and the modules the three handlers import (standard library and the
runtime's boto3 beyond that), with fixed timestamps and modes, so identical code gives an identical key
``s3://<bucket>/<pipeline>/code/<sha256>/monitoring-lambdas.zip`` and an unchanged function in the change set.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from pipelines.staging import ROOT, Artifact

LAMBDA_MODULES = (
    "monitoring/__init__.py",
    "monitoring/cloud/__init__.py",
    "monitoring/cloud/s3util.py",
    "monitoring/cloud/datahash.py",
    "monitoring/cloud/check_settings.py",
    "monitoring/cloud/check_job.py",
    "monitoring/cloud/check_merge.py",
    "monitoring/cloud/model_quality_settings.py",
    "monitoring/cloud/model_quality_job.py",
    "monitoring/cloud/retrain_rules.py",
    "monitoring/cloud/retrain_store.py",
    "monitoring/cloud/retrain_job.py",
)
HANDLERS = (
    "monitoring.cloud.check_job.handler",
    "monitoring.cloud.model_quality_job.handler",
    "monitoring.cloud.retrain_job.handler",
)
ZIP_NAME = "monitoring-lambdas.zip"


def deterministic_zip(files: list[tuple[str, bytes]]) -> bytes:
    """A zip whose bytes depend only on the names and contents given."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in sorted(files):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return out.getvalue()


def lambda_artifact(root: Path = ROOT) -> Artifact:
    """The functions' zip as a content-addressed artefact (``Artifact.uri(bucket, pipeline)`` is its S3 URI)."""
    files = []
    for module in LAMBDA_MODULES:
        path = root / module
        if not path.is_file():
            raise FileNotFoundError(f"Lambda module {module} not found under {root}")
        files.append((module, path.read_bytes()))
    return Artifact("monitoring-lambdas", ((ZIP_NAME, deterministic_zip(files)),))
