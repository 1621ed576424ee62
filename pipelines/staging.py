"""Content-addressed code staging: the pipeline references code by the hash of its bytes.

Left to itself the SDK uploads code at definition time under timestamped keys, so two builds differ and
step caching breaks. Instead the CLI stages the code itself to
``s3://<bucket>/<pipeline>/code/<sha256>/<name>`` with deterministic archives (sorted entries, fixed
mtimes and owners, no ``__pycache__``), and the definition only references those URIs.

Artefacts:
- ``preprocess.py``, ``evaluate.py``: processing step scripts (ScriptProcessor ``code``);
- ``lib/``: the project's packages that container code imports (``monitoring``'s top level, the analyzer;
  ``processing``; ``inference``'s handler and feature transform; ``mlops_errors``, the user-error base class), one
  file per key, delivered as a ProcessingInput put on ``PYTHONPATH``. Not the local loop (``monitoring/local``), the
  Lambda code (``monitoring/cloud``) nor the endpoint: tests/pipelines/test_staging.py checks that editing them
  changes no digest;
- ``sourcedir.tar.gz``: training's script-mode source (``train.py``, ``hyperparameters.py``, ``multihost.py`` and
  ``mlops_errors.py``,
  with the handler files it copies into the model), delivered as the ``code`` input channel.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

from pipelines.config_values import ConfigError
from pipelines.errors import InputFileNotFoundError

ROOT = Path(__file__).resolve().parents[1]
# What container code imports, and nothing else: serving, the local loop and the Lambda code stay out, so editing
# them neither ships them to jobs nor invalidates the step cache. "monitoring/*.py" is the top level only (the
# analyzer): monitoring/local/ and monitoring/cloud/ are subpackages, which this glob does not reach.
# The serving handler and its sibling modules: copied into the model's code/ by training (training/train.py's
# HANDLER_FILES, which tests/pipelines/test_staging.py holds equal to this) and run by jobs from the lib.
HANDLER_FILES = ("inference.py", "feature_transform.py", "handler_input.py")
LIB_FILES = (
    "mlops_errors.py",  # MlopsError, the user-error base class container code raises (the lowest layer)
    "monitoring/*.py",
    "processing/*.py",
    "inference/__init__.py",
    *(f"inference/{name}" for name in HANDLER_FILES),
)


@dataclass(frozen=True)
class Artifact:
    """One staged thing: its files (relative key -> bytes) under one content hash."""

    name: str
    files: tuple[tuple[str, bytes], ...]
    kind: str = "code"  # the key prefix: code/<sha256>/... or data/<sha256>/...
    directory: bool = False  # a staged directory: its URI is the prefix of its files

    @property
    def digest(self) -> str:
        sha = hashlib.sha256()
        for key, data in self.files:
            sha.update(key.encode() + b"\0" + hashlib.sha256(data).digest())
        return sha.hexdigest()

    def prefix(self, bucket: str, pipeline: str) -> str:
        return f"s3://{bucket}/{pipeline}/{self.kind}/{self.digest}"

    def uri(self, bucket: str, pipeline: str, key: str | None = None) -> str:
        """URI of one file of the artefact (the artefact's only file when ``key`` is None; a directory's prefix)."""
        if key is None and self.directory:
            return f"{self.prefix(bucket, pipeline)}/"
        if key is None:
            if len(self.files) != 1:
                raise ValueError(f"artefact {self.name} has {len(self.files)} files: name the key")
            key = self.files[0][0]
        return f"{self.prefix(bucket, pipeline)}/{key}"


def deterministic_tarball(files: list[tuple[str, bytes]]) -> bytes:
    """A gzip'd tar whose bytes depend only on the names and contents given."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(files):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, filename="") as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def code_artifacts(root: Path = ROOT) -> dict[str, Artifact]:
    """The artefacts the pipeline needs, read from the source tree."""
    lib = []
    for pattern in LIB_FILES:
        for path in sorted(root.glob(pattern)):
            lib.append((f"lib/{path.relative_to(root).as_posix()}", path.read_bytes()))
    training = [
        ("train.py", (root / "training" / "train.py").read_bytes()),
        ("hyperparameters.py", (root / "training" / "hyperparameters.py").read_bytes()),
        ("multihost.py", (root / "training" / "multihost.py").read_bytes()),  # the multi-host ring
        ("mlops_errors.py", (root / "mlops_errors.py").read_bytes()),  # TrainingError's base, imported flat
        *((name, (root / "inference" / name).read_bytes()) for name in HANDLER_FILES),
    ]
    return {
        "preprocess": Artifact(
            "preprocess", (("preprocess.py", (root / "processing" / "preprocess.py").read_bytes()),)
        ),
        "evaluate": Artifact("evaluate", (("evaluate.py", (root / "processing" / "evaluate.py").read_bytes()),)),
        "lib": Artifact("lib", tuple(sorted(lib))),
        "training": Artifact("training", (("sourcedir.tar.gz", deterministic_tarball(training)),)),
    }


DATA_SUFFIXES = (".csv", ".parquet", ".pq")  # what Preprocess reads from a directory (processing.input_data)


def data_artifact(path: Path) -> Artifact:
    """A local data file, or a directory of CSV / Parquet files staged as a prefix of them (its content hash over
    their relative names and contents), staged by content like the code."""
    if path.is_dir():
        found = sorted(p for p in path.rglob("*") if p.suffix.lower() in DATA_SUFFIXES)
        found = [p for p in found if not any(part.startswith(".") for part in p.relative_to(path).parts)]
        broken = next((p for p in found if p.is_symlink() and not p.exists()), None)
        if broken is not None:  # skipped, it would leave out data without a word
            raise InputFileNotFoundError(
                f"Input data directory {path}: {broken.relative_to(path)} is a broken symbolic link (to "
                f"{os.readlink(broken)}): fix or remove it"
            )
        files = [p for p in found if p.is_file()]
        if not files:
            raise InputFileNotFoundError(f"Input data directory {path} holds no .csv, .parquet or .pq files")
        staged = tuple((p.relative_to(path).as_posix(), p.read_bytes()) for p in files)
        return Artifact("data", staged, kind="data", directory=True)
    if not path.is_file():
        raise InputFileNotFoundError(f"Input data file not found: {path} (expected a file or a directory of files)")
    return Artifact("data", ((path.name, path.read_bytes()),), kind="data")


def require_bucket(bucket: str | None) -> str:
    """``sagemaker.bucket``, which staging needs (the local default sets one: ``pipelines.build.local_config``)."""
    if not bucket:
        raise ConfigError("sagemaker.bucket is not set: pass --bucket or set it in the configuration")
    return bucket


def staged_objects(artifacts: dict[str, Artifact], bucket: str, pipeline: str) -> list[tuple[str, bytes]]:
    """Every (s3 uri, bytes) to put so that the definition's references resolve."""
    return [(f"{a.prefix(bucket, pipeline)}/{key}", data) for a in artifacts.values() for key, data in a.files]


def stage_to_directory(objects: list[tuple[str, bytes]], state_dir: Path) -> int:
    """Write staged objects into the local object store; returns how many were new."""
    from pipelines.atomic_files import replace_file
    from pipelines.objectstore import local_path

    written = 0
    for uri, data in objects:
        target = local_path(uri, state_dir)
        if target.is_file() and target.stat().st_size == len(data):
            continue  # content-addressed: same key, same bytes
        replace_file(target, data)
        written += 1
    return written


def stage_to_s3(objects: list[tuple[str, bytes]], s3_client, kms_key_id: str | None = None) -> int:
    """Upload staged objects that S3 does not hold yet; returns how many were uploaded."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    from pipelines.cloud import CloudError
    from pipelines.objectstore import split_s3_uri

    uploaded = 0
    for uri, data in objects:
        bucket, key = split_s3_uri(uri)
        try:
            try:
                s3_client.head_object(Bucket=bucket, Key=key)
                continue
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
                    raise
            extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_id} if kms_key_id else {}
            s3_client.put_object(Bucket=bucket, Key=key, Body=data, **extra)
        except NoCredentialsError as exc:
            raise CloudError(
                f"Cannot stage code to {uri}: no AWS credentials found (configure a profile, or the CodeBuild role)"
            ) from exc
        except (ClientError, BotoCoreError) as exc:
            raise CloudError(f"Cannot stage code to {uri}: {exc}") from exc
        uploaded += 1
    return uploaded
