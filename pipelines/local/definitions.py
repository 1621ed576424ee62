"""The built definition, cached by what determines it: configuration, staged code hashes, data hash and SDK
version. A run whose key matches imports no SDK (importing it alone takes about 4 s)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

from pipelines.atomic_files import replace_file
from pipelines.config import Config
from pipelines.staging import (
    Artifact,
    code_artifacts,
    data_artifact,
    require_bucket,
    stage_to_directory,
    staged_objects,
)


def definition_key(config: Config, artifacts: dict[str, Artifact], data: Artifact | None, sdk: str) -> str:
    described = asdict(config)
    payload = {
        # only what the definition is built from: serving and monitoring settings do not change it
        "config": {k: described[k] for k in ("project", "data", "training", "gate", "sagemaker")},
        "engine": config.monitoring.engine,
        "code": {name: a.digest for name, a in sorted(artifacts.items())},
        "data": data.digest if data else None,
        "sdk": sdk,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def local_definition(config: Config, state_dir: Path, root: Path | None = None) -> tuple[str, bool]:
    """The definition JSON for a local run (code and data, a file or a directory, staged into the object store);
    (json, from_cache)."""
    from importlib.metadata import version

    artifacts = code_artifacts(root) if root else code_artifacts()
    data = None
    if not config.data.input.startswith("s3://"):
        path = Path(config.data.input)
        data = data_artifact(root / path if root and not path.is_absolute() else path)
    items = dict(artifacts)
    if data is not None:
        items["data"] = data
    stage_to_directory(staged_objects(items, require_bucket(config.sagemaker.bucket), config.pipeline_name), state_dir)
    cache = Path(state_dir) / "definitions" / f"{definition_key(config, artifacts, data, version('sagemaker'))}.json"
    if cache.is_file():
        return cache.read_text(encoding="utf-8"), True
    from pipelines.build import build_definition

    built = build_definition(config, root=root, artifacts=artifacts, data=data)
    replace_file(cache, built.json)
    return built.json, False


def stage_input_override(value: str, config: Config, state_dir: Path) -> str:
    """``--param InputDataUrl=path``: a local file, or a directory of CSV / Parquet files (staged as a prefix of
    them, its content hash over their relative names and contents), is staged by content and replaced by its s3://
    URI (a directory's ends with ``/``); an s3:// URI, an object or a prefix, is passed through."""
    if value.startswith("s3://"):
        return value
    artifact = data_artifact(Path(value))
    bucket = require_bucket(config.sagemaker.bucket)
    stage_to_directory(staged_objects({"data": artifact}, bucket, config.pipeline_name), state_dir)
    return artifact.uri(bucket, config.pipeline_name)
