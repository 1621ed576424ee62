"""The error contract, checked on the source: the command lines catch only ``MlopsError`` (the user's errors), and every
error class the product declares for the user inherits it (so the CLI reports it in one line rather than as a bug)."""

from __future__ import annotations

import ast
from pathlib import Path

from mlops_errors import MlopsError
from tests.conftest import ROOT
from tests.test_architecture import product_modules

# Exceptions that never reach a command line: each is caught near where it is raised and answered otherwise. A
# private class (``_Name``) stays in its module, so it is not listed.
INTERNAL = {
    "ProtocolError": "inference/http_parse.py: a malformed HTTP request, answered 400 by the model server",
    "Refused": "inference/handler_input.py: a refused request, answered with its HTTP status by the handler",
}


def handlers(path: Path, function: str | None = None) -> list[ast.ExceptHandler]:
    """The ``except`` clauses of a module, or of one of its functions."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    if function is not None:
        tree = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == function)
    return [node for node in ast.walk(tree) if isinstance(node, ast.ExceptHandler)]


def caught(handler: ast.ExceptHandler) -> list[str]:
    """The names an ``except`` clause catches (``[]`` for a bare ``except:``)."""
    if handler.type is None:
        return []
    types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return [ast.unparse(t) for t in types]


def test_the_cli_catches_only_mlops_error_and_ctrl_c():
    """No bug can hide behind either: KeyboardInterrupt is no Exception, it is the user's Ctrl-C."""
    clauses = handlers(ROOT / "pipelines" / "cli.py")
    assert [caught(h) for h in clauses] == [["MlopsError"], ["KeyboardInterrupt"]]


def test_the_console_scripts_catch_only_mlops_error():
    clauses = handlers(ROOT / "pipelines" / "entrypoints.py", "_guard")
    assert [caught(h) for h in clauses] == [["MlopsError"]]


def _error_classes() -> dict[str, tuple[str, list[str]]]:
    """Every class of the product whose name says it is an error: name -> (module, base names)."""
    found = {}
    for module, path in product_modules(ROOT).items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and node.name.endswith(("Error", "Failure", "Refused")):
                found[node.name] = (module, [ast.unparse(base).rpartition(".")[2] for base in node.bases])
    return found


def _inherits_mlops_error(name: str, classes: dict[str, tuple[str, list[str]]]) -> bool:
    if name == "MlopsError":
        return True
    return any(_inherits_mlops_error(base, classes) for base in classes.get(name, ("", []))[1])


def test_every_error_class_for_the_user_inherits_mlops_error():
    classes = _error_classes()
    assert {"ConfigError", "DataValidationError", "TrainingError", "StepFailure"} <= set(classes)  # the walk sees them
    exceptions = {n: v for n, v in classes.items() if v[1]}  # RequestError is a plain dataclass, not an exception
    outside = sorted(
        f"{module}.{name}"
        for name, (module, _) in exceptions.items()
        if name not in INTERNAL and not name.startswith("_") and not _inherits_mlops_error(name, classes)
    )
    assert outside == [], "declare these as MlopsError subclasses, or list them in INTERNAL with why"


def test_mlops_error_is_a_plain_exception_the_subclasses_pair_with_a_builtin():
    from pipelines.config import ConfigError
    from training.hyperparameters import TrainingError

    assert MlopsError.__mro__[1:] == (Exception, BaseException, object)
    assert issubclass(ConfigError, ValueError) and issubclass(TrainingError, ValueError)  # callers catching those
