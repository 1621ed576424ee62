"""The layering of the product packages (DESIGN.md "Layout"), checked on the source: an AST walk over every product
module that sees module-level imports, imports inside functions, and ``importlib.import_module("...")`` /
``__import__("...")`` calls with a literal name.

Contracts:
- ``mlops_errors`` (``MlopsError``, the user-error base class) is the lowest layer: every package may import it, it
  imports nothing of the project, and it is container code (staged in ``lib`` and training's source directory);
- only ``pipelines`` (the application) imports across top-level packages; below it, ``processing`` may import
  ``inference.feature_transform`` and ``inference.inference`` (a job may run the model's own handler);
- container code (what jobs and the model container run: ``processing``, ``training``, ``inference.inference``,
  ``inference.feature_transform``, ``monitoring``'s top level, the analyzer) imports only container code of the
  project, so the staged ``lib`` is closed: the analyzer never imports ``monitoring.local`` (the local loop) nor
  ``monitoring.cloud`` (the Lambdas);
- container code imports neither the SageMaker SDK nor boto3/botocore, except the analyzer's PutMetricData
  (``monitoring.metrics``), lazily inside a function.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGES = ("pipelines", "inference", "monitoring", "processing", "training")
APPLICATION = "pipelines"
BASE = "mlops_errors"  # the lowest layer, a top-level module: every package imports it, it imports none
ALLOWED_CROSSING = {"processing": ("inference.feature_transform", "inference.inference")}
CONTAINER_MODULES = (
    "inference",
    "inference.inference",
    "inference.feature_transform",
    "inference.handler_input",
    "monitoring",
)
CONTAINER_PACKAGES = ("processing", "training")
AWS_CLIENTS = ("sagemaker", "boto3", "botocore")
LAZY_AWS = {"monitoring.metrics": ("boto3", "botocore")}  # PutMetricData when the check publishes its metrics


@dataclass(frozen=True)
class Import:
    """One import of one module: what it names, where, and whether it runs only when a function is called."""

    importer: str
    imported: str
    line: int
    lazy: bool

    def __str__(self) -> str:
        where = "inside a function" if self.lazy else "at module level"
        return f"{self.importer}:{self.line} imports {self.imported} ({where})"


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def product_modules(root: Path) -> dict[str, Path]:
    """Every product module under ``root``: dotted name -> file."""
    found = {}
    if (root / f"{BASE}.py").is_file():
        found[BASE] = root / f"{BASE}.py"
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            if "__pycache__" not in path.parts:
                found[module_name(path, root)] = path
    return found


def _resolve(node: ast.ImportFrom, importer: str, is_package: bool, modules: dict[str, Path]) -> list[str]:
    """The modules a ``from X import a, b`` names: ``X.a`` when that is a module (or X is unknown, so ``a`` may
    be one), else ``X`` (``a`` is an attribute of the module or package X)."""
    base = node.module or ""
    if node.level:
        package = importer if is_package else importer.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{base}".strip(".")
    elif base and base not in modules and base.split(".")[0] not in PACKAGES:
        sibling = f"{importer.rpartition('.')[0]}.{base}"
        if sibling in modules:  # a flat import of a module staged next to it (``from feature_transform import``)
            base = sibling
    names = [f"{base}.{alias.name}".strip(".") for alias in node.names]
    return [name if name in modules or base not in modules else base for name in names]


def _literal_import(node: ast.Call) -> str | None:
    """The module named by ``importlib.import_module("x")``, ``import_module("x")`` or ``__import__("x")``."""
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    if name not in ("import_module", "__import__") or not node.args:
        return None
    first = node.args[0]
    return first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else None


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> Iterator[Import]:
    """Every import of one module, with whether it sits inside a function (runs only when called)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"

    def visit(node: ast.AST, lazy: bool) -> Iterator[Import]:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(name, alias.name, node.lineno, lazy)
        elif isinstance(node, ast.ImportFrom):
            for imported in _resolve(node, name, is_package, modules):
                yield Import(name, imported, node.lineno, lazy)
        elif isinstance(node, ast.Call) and (literal := _literal_import(node)) is not None:
            yield Import(name, literal, node.lineno, lazy)
        inner = lazy or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        for child in ast.iter_child_nodes(node):
            yield from visit(child, inner)

    yield from visit(tree, False)


def is_container(module: str, modules: dict[str, Path]) -> bool:
    """Whether jobs or the model container run ``module`` (so the staged code must hold it)."""
    top = module.split(".")[0]
    if top in CONTAINER_PACKAGES or module in CONTAINER_MODULES or module == BASE:
        return True
    if top != "monitoring" or module.count(".") != 1:
        return False
    # the analyzer: a module file at monitoring's top level, not a subpackage (local, cloud)
    return not (module in modules and modules[module].name == "__init__.py")


def _within(imported: str, modules: tuple[str, ...]) -> bool:
    return any(imported == m or imported.startswith(m + ".") for m in modules)


def violations(root: Path = ROOT) -> list[str]:
    """Every breach of the contracts above in the tree under ``root``, one line each."""
    modules = product_modules(root)
    found = []
    for name, path in modules.items():
        top = name.split(".")[0]
        for imp in imports_of(name, path, modules):
            target_top = imp.imported.split(".")[0]
            if top == BASE and target_top in PACKAGES:
                found.append(f"base: {imp}: {BASE} is the lowest layer and imports nothing of the project")
            crossing = target_top in PACKAGES and target_top != top and top not in (APPLICATION, BASE)
            if crossing and not _within(imp.imported, ALLOWED_CROSSING.get(top, ())):
                found.append(f"layering: {imp}: only {APPLICATION}/ imports across top-level packages")
            if not is_container(name, modules):
                continue
            if (target_top in PACKAGES or target_top == BASE) and not is_container(imp.imported, modules):
                found.append(f"staged lib: {imp}: container code imports only container code (what jobs get)")
            if target_top in AWS_CLIENTS and not (imp.lazy and target_top in LAZY_AWS.get(name, ())):
                found.append(f"container: {imp}: container code imports neither the SageMaker SDK nor boto3")
    return sorted(set(found))


def test_the_product_keeps_its_layering():
    assert violations() == []


def test_the_walk_sees_the_whole_product():
    modules = product_modules(ROOT)
    expected = {BASE, "pipelines.cli", "monitoring.analyzer", "monitoring.local.alerts", "monitoring.cloud.check_job"}
    assert expected <= set(modules)
    assert is_container("monitoring.analyzer", modules) and is_container("processing.preprocess", modules)
    assert is_container(BASE, modules)  # staged with the jobs' code
    assert not is_container("monitoring.local", modules) and not is_container("monitoring.local.alerts", modules)
    assert not is_container("monitoring.cloud.check_job", modules) and not is_container("inference.server", modules)
    lazy = [i for i in imports_of("monitoring.metrics", modules["monitoring.metrics"], modules) if i.lazy]
    assert any(i.imported == "boto3" for i in lazy)  # the one allowed exception is seen, and seen as lazy


def plant(root: Path, module: str, source: str) -> None:
    """Write a minimal product tree under ``root`` (the packages, monitoring's subpackages) with one module."""
    for package in (*PACKAGES, "monitoring/local", "monitoring/cloud"):
        (root / package).mkdir(parents=True, exist_ok=True)
        (root / package / "__init__.py").touch()
    path = root.joinpath(*module.split(".")).with_suffix(".py")
    path.parent.mkdir(parents=True, exist_ok=True)
    for parent in path.relative_to(root).parents:
        if parent != Path("."):
            (root / parent / "__init__.py").touch()
    path.write_text(source, encoding="utf-8")


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("inference.server", "from pipelines.objectstore import local_path\n", "layering: inference.server:1"),
        (
            "monitoring.cloud.names",
            "def f():\n    from pipelines import config\n",
            "layering: monitoring.cloud.names:2",
        ),
        (
            "inference.deploy",
            "import importlib\n\ndef f():\n    return importlib.import_module('pipelines.registry')\n",
            "layering: inference.deploy:4 imports pipelines.registry (inside a function)",
        ),
        ("training.train", "__import__('monitoring.analyzer')\n", "layering: training.train:1"),
        ("processing.preprocess", "from inference import server\n", "layering: processing.preprocess:1"),
        ("monitoring.analyzer", "from .local import alerts\n", "staged lib: monitoring.analyzer:1"),
        ("monitoring.analyzer", "from monitoring import cloud\n", "staged lib: monitoring.analyzer:1"),
        ("monitoring.drift", "def f():\n    import monitoring.cloud.s3util\n", "staged lib: monitoring.drift:2"),
        ("processing.evaluate", "def f():\n    import boto3\n", "container: processing.evaluate:2"),
        ("inference.inference", "from sagemaker.core import s3\n", "container: inference.inference:1"),
        ("monitoring.metrics", "import boto3\n", "container: monitoring.metrics:1 imports boto3 (at module level)"),
        ("mlops_errors", "from pipelines.config import ConfigError\n", "base: mlops_errors:1"),
        ("mlops_errors", "def f():\n    import monitoring.metrics\n", "base: mlops_errors:2"),
    ],
)
def test_a_planted_violation_is_reported(tmp_path: Path, module: str, source: str, expected: str):
    plant(tmp_path, module, source)
    found = violations(tmp_path)
    assert any(line.startswith(expected) for line in found), found


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("processing.preprocess", "from inference.feature_transform import fit_transform\n"),
        ("processing.evaluate", "def f():\n    from inference import inference\n"),
        ("monitoring.metrics", "def publish():\n    import boto3\n"),
        ("monitoring.local.alerts", "from monitoring.metrics import NAMESPACE\nimport json\n"),
        ("pipelines.cli", "import boto3\nfrom monitoring.local import alerts\nfrom inference import server\n"),
        ("inference.inference", "try:\n    from .feature_transform import x\nexcept ImportError:\n    pass\n"),
        ("processing.evaluate", "from mlops_errors import MlopsError\n"),
        ("training.hyperparameters", "from mlops_errors import MlopsError\n"),
        ("monitoring.analyzer", "from mlops_errors import MlopsError\n"),
        ("monitoring.cloud.check_job", "from mlops_errors import MlopsError\n"),
        ("mlops_errors", "from __future__ import annotations\n"),
    ],
)
def test_what_the_contracts_allow_passes(tmp_path: Path, module: str, source: str):
    plant(tmp_path, module, source)
    for module_file in ("feature_transform.py", "handler_input.py", "inference.py"):
        (tmp_path / "inference" / module_file).touch()
    (tmp_path / f"{BASE}.py").touch()
    assert violations(tmp_path) == []
