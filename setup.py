"""Packaging for the SageMaker Pipelines project with a monitoring loop."""

from setuptools import find_packages, setup

# Versions inside the SageMaker XGBoost 3.0-5 framework image (Python 3.10), which runs the
# Train, Evaluate, serving and processing steps: pinned here so artefacts move between local and cloud.
CONTAINER_PINS = [
    "numpy==2.1.0",
    "pandas==2.2.3",
    "pyarrow==22.0.0",
    "scikit-learn==1.5.2",  # Evaluate's metrics (sklearn.metrics)
    "xgboost-cpu==3.0.5",
]

setup(
    name="sagemaker-mlops-loop",
    version="0.1.0",
    description="SageMaker Pipelines project with a monitoring loop, runnable locally without AWS",
    python_requires=">=3.10,<3.13",
    packages=find_packages(include=["pipelines*", "processing*", "training*", "inference*", "monitoring*"]),
    py_modules=["mlops_errors"],  # MlopsError, the user-error base every package imports (the lowest layer)
    include_package_data=True,
    install_requires=[
        *CONTAINER_PINS,
        # The pipeline definition is built with the SageMaker Python SDK v3 (about 1 GB with mlflow and pyiceberg),
        # locally too: the local runner executes the very definition SageMaker gets.
        "sagemaker==3.27.0",
        "PyYAML>=6.0",
        "pydantic>=2,<3",  # mlops.yaml's schema (pipelines/ only: never in container code or the Lambdas)
        "boto3>=1.35",
        "cronsim==2.8",  # monitoring.schedule: evaluated by the local loop, translated for AWS (pipelines/cron.py)
    ],
    extras_require={
        "test": [
            "pytest>=8",
            "pytest-mock>=3.14",
            "moto[all]==5.2.5",
            "cfn-lint>=1.20",
            "ruff>=0.6",
            "mypy==2.4.1",  # tests/test_types.py: zero errors over the product packages ([tool.mypy])
            "types-PyYAML>=6.0.12",  # PyYAML's stubs for mypy
        ],
    },
    entry_points={
        "console_scripts": [
            "mlops=pipelines.cli:main",
            "get-pipeline-definition=pipelines.entrypoints:main_get_pipeline_definition",
            "run-pipeline=pipelines.entrypoints:main_run_pipeline",
        ],
    },
)
