"""Building the definition from configuration: the one path the CLI, the templates' entry points and the
local runner share (config + overrides -> staged artefacts -> definition JSON)."""

from __future__ import annotations

import importlib
import warnings
from dataclasses import dataclass
from pathlib import Path

from pipelines.config import Config, ConfigError, load_config
from pipelines.staging import Artifact, code_artifacts, data_artifact, require_bucket, staged_objects

LOCAL_BUCKET = "mlops-local"
LOCAL_ROLE = "arn:aws:iam::000000000000:role/mlops-local"
TEMPLATE_KWARGS = {
    "region": ("project", "region"),
    "role": ("sagemaker", "role_arn"),
    "role_arn": ("sagemaker", "role_arn"),
    "default_bucket": ("sagemaker", "bucket"),
    "bucket": ("sagemaker", "bucket"),
    "pipeline_name": ("sagemaker", "pipeline_name"),
    "model_package_group_name": ("sagemaker", "model_package_group"),
    "engine": ("monitoring", "engine"),
}
EXTRA_KWARGS = ("config", "sagemaker_project_name", "sagemaker_project_id", "base_job_prefix")


@dataclass(frozen=True)
class BuiltDefinition:
    config: Config
    json: str
    artifacts: dict[str, Artifact]
    data: Artifact | None

    def objects(self) -> list[tuple[str, bytes]]:
        """What must be staged for the definition's references to resolve."""
        items = dict(self.artifacts)
        if self.data is not None:
            items["data"] = self.data
        return staged_objects(items, require_bucket(self.config.sagemaker.bucket), self.config.pipeline_name)


def config_from_kwargs(kwargs: dict, config_path: str | None = None) -> Config:
    """Configuration from the file plus the SageMaker project templates' ``--kwargs`` and our own overrides."""
    unknown = sorted(set(kwargs) - set(TEMPLATE_KWARGS) - set(EXTRA_KWARGS))
    if unknown:
        known = ", ".join(sorted([*TEMPLATE_KWARGS, *EXTRA_KWARGS]))
        raise ConfigError(f"--kwargs: unknown key(s) {', '.join(unknown)}; known keys are {known}")
    config = load_config(kwargs.get("config") or config_path)
    sections: dict[str, dict] = {}
    for key, (section, name) in TEMPLATE_KWARGS.items():
        if kwargs.get(key) is not None:
            sections.setdefault(section, {})[name] = kwargs[key]
    project, project_id = kwargs.get("sagemaker_project_name"), kwargs.get("sagemaker_project_id")
    if project and project_id and "model_package_group" not in sections.get("sagemaker", {}):
        sections.setdefault("sagemaker", {})["model_package_group"] = f"{project}-{project_id}"
    return config.with_overrides(**sections)


def local_config(config: Config) -> Config:
    """The configuration for the embedded default: a local bucket and a placeholder role where unset."""
    return config.with_overrides(
        sagemaker={
            "bucket": config.sagemaker.bucket or LOCAL_BUCKET,
            "role_arn": config.sagemaker.role_arn or LOCAL_ROLE,
        }
    )


def build_definition(
    config: Config,
    module_name: str = "pipelines.definition",
    root: Path | None = None,
    session=None,
    artifacts: dict[str, Artifact] | None = None,
    data: Artifact | None = None,
) -> BuiltDefinition:
    """Stage nothing, build everything: artefacts hashed from the tree, the definition JSON offline."""
    from pipelines.sdk import offline_sdk, pipeline_session

    with offline_sdk(config.project.region):  # a user module may import the SDK at its top
        module = importlib.import_module(module_name)
    if not hasattr(module, "get_pipeline"):
        raise ConfigError(f"--module-name {module_name}: the module has no get_pipeline(config, session)")
    if artifacts is None:  # read once: what is staged and what the definition names must be the same bytes
        artifacts = code_artifacts(root) if root else code_artifacts()
    if data is None and not config.data.input.startswith("s3://"):
        path = Path(config.data.input)
        if not path.is_absolute() and root is not None:
            path = root / path
        data = data_artifact(path)
    with warnings.catch_warnings():
        # "Running within a PipelineSession, there will be No Wait...": expected, that is the point
        warnings.filterwarnings("ignore", message="Running within a PipelineSession", category=UserWarning)
        session = session or pipeline_session(config.project.region, require_bucket(config.sagemaker.bucket))
        pipeline = module.get_pipeline(config, session, artifacts, data)
        from pipelines.definition import definition_json

        return BuiltDefinition(config, definition_json(pipeline), artifacts, data)
