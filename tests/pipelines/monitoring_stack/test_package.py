"""The functions' zip: deterministic, complete, and importable with only the standard library and boto3."""

from __future__ import annotations

import ast
import io
import subprocess
import sys
import zipfile
from pathlib import Path

from pipelines.monitoring_stack.package import HANDLERS, LAMBDA_MODULES, ZIP_NAME, lambda_artifact
from tests.conftest import ROOT

ALLOWED = {"__future__", "boto3", "botocore"} | set(sys.stdlib_module_names)


def _zip_files() -> dict[str, bytes]:
    artifact = lambda_artifact()
    ((name, data),) = artifact.files
    assert name == ZIP_NAME
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def test_the_zip_is_byte_identical_across_builds_and_named_by_its_content():
    first, second = lambda_artifact(), lambda_artifact()
    assert first.files == second.files and first.digest == second.digest
    assert first.uri("b", "abalone-pipeline") == f"s3://b/abalone-pipeline/code/{first.digest}/{ZIP_NAME}"


def test_the_zip_holds_the_lambda_modules_as_they_are_in_the_tree():
    files = _zip_files()
    assert sorted(files) == sorted(LAMBDA_MODULES)
    for module in LAMBDA_MODULES:
        assert files[module] == (ROOT / module).read_bytes()


def test_lambda_modules_import_only_the_runtime_and_each_other():
    packaged = {m[: -len(".py")].replace("/", ".") for m in LAMBDA_MODULES}
    packaged |= {m.removesuffix(".__init__") for m in packaged}
    for module in LAMBDA_MODULES:
        tree = ast.parse((ROOT / module).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                imported = [node.module or ""]
            else:
                continue
            for name in imported:
                assert name in packaged or name.split(".")[0] in ALLOWED, f"{module} imports {name}"


def test_the_handlers_load_from_the_extracted_zip_alone(tmp_path: Path):
    for name, data in _zip_files().items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    script = (
        "import importlib, sys\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        f"for handler in {list(HANDLERS)!r}:\n"
        "    module, _, function = handler.rpartition('.')\n"
        "    loaded = importlib.import_module(module)\n"
        f"    assert loaded.__file__.startswith({str(tmp_path)!r}), loaded.__file__\n"
        "    assert callable(getattr(loaded, function))\n"
        "project = [m for m in sys.modules if m.split('.')[0] in ('pipelines', 'inference', 'processing', 'numpy')]\n"
        "assert not project, project\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
