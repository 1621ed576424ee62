"""Helpers shared by the step tests: the real abalone data through the real step functions, small models."""

from __future__ import annotations

import csv
import tarfile
from pathlib import Path

from processing.preprocess import DataSchema, preprocess
from tests.conftest import ABALONE

NUMERIC = ("length", "diameter", "height", "whole_weight", "shucked_weight", "viscera_weight", "shell_weight")
REGRESSION = DataSchema("rings", NUMERIC, ("sex",), "regression")
BINARY = DataSchema("age", NUMERIC, ("sex",), "binary", positive_class="old")
# one thread: small data trains faster without OpenMP, and stays fast on a busy 2-core machine
SMALL = {"num_round": "50", "max_depth": "4", "eta": "0.15", "early_stopping_rounds": "10", "seed": "1", "nthread": "1"}


def binary_abalone(path: Path) -> Path:
    """Abalone with the target ``age``: 'old' when rings >= 10, else 'young'."""
    with open(ABALONE, newline="") as source, open(path, "w", newline="") as target:
        reader, writer = csv.reader(source), csv.writer(target)
        header = next(reader)
        writer.writerow([*header[:-1], "age"])
        for row in reader:
            writer.writerow([*row[:-1], "old" if int(row[-1]) >= 10 else "young"])
    return path


def prepared(root: Path, binary: bool = False) -> Path:
    """Preprocess the bundled data (or its binary variant) into ``root/data``; returns that directory."""
    source = binary_abalone(root / "abalone-age.csv") if binary else ABALONE
    preprocess(source, root / "data", BINARY if binary else REGRESSION)
    return root / "data"


def trained(root: Path, binary: bool = False, **overrides: str) -> Path:
    """Preprocess, then train a small model into ``root/model``; returns the model directory."""
    from training.train import train

    data = prepared(root, binary)
    params = {**SMALL, **({"objective": "binary:logistic", "eval_metric": "auc"} if binary else {}), **overrides}
    train(data / "train", data / "validation", data / "transform", root / "model", params, root / "output")
    return root / "model"


def tar_model(model_dir: Path, destination: Path) -> Path:
    """Pack a model directory as SageMaker delivers it: ``destination/model.tar.gz``, files at the root."""
    destination.mkdir(parents=True, exist_ok=True)
    archive = destination / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(model_dir.rglob("*")):
            tar.add(path, arcname=path.relative_to(model_dir).as_posix(), recursive=False)
    return archive
