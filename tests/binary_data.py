"""The bundled abalone data as binary classification (is it old: 10 rings or more?), with its configuration."""

from __future__ import annotations

import csv
from pathlib import Path

from tests.conftest import ABALONE


def binary_abalone_config(directory: Path) -> Path:
    """Write ``abalone-old.csv`` (target ``old``: yes / no) and a configuration for it into ``directory``."""
    data = directory / "abalone-old.csv"
    with open(ABALONE, newline="") as source, open(data, "w", newline="") as target:
        reader, writer = csv.reader(source), csv.writer(target)
        header = next(reader)
        writer.writerow([*header[:-1], "old"])
        for row in reader:
            writer.writerow([*row[:-1], "yes" if int(row[-1]) >= 10 else "no"])
    config = directory / "binary.yaml"
    config.write_text(
        "project: {name: abalone-old}\n"
        f"data: {{input: {data}, target: old, problem_type: binary, positive_class: 'yes', categorical: [sex],\n"
        "       numeric: [length, diameter, height, whole_weight, shucked_weight, viscera_weight, shell_weight]}\n"
        "training: {objective: 'binary:logistic', eval_metric: auc,\n"
        "           hyperparameters: {num_round: 100, max_depth: 4, eta: 0.2, early_stopping_rounds: 10}}\n"
        "gate: {metric: auc, threshold: 0.75}\n"
    )
    return config
