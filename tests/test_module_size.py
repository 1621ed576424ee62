"""Product code stays small enough to read in one sitting: modules of at most 300 lines and functions of at most 60,
unless a ``# size: <why>`` comment says why (for a module: in its docstring or before its first statement; for a
function: on the line just above its ``def`` or its decorators). Every offender is reported at once."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGES = ("pipelines", "inference", "monitoring", "processing", "training")
MAX_MODULE_LINES = 300
MAX_FUNCTION_LINES = 60
MARK = "# size:"


def _marked(line: str) -> bool:
    text = line.strip()
    return text.startswith(MARK) and len(text) > len(MARK) + 1  # a reason, not just the marker


def module_exempt(source: str, tree: ast.Module) -> bool:
    """A ``# size: <why>`` line in the module docstring or among the comments before the first statement."""
    body = tree.body
    first = body[0] if body else None
    docstring = ast.get_docstring(tree, clean=False) if first is not None else None
    if docstring and any(_marked(line) for line in docstring.splitlines()):
        return True
    start = (body[1] if docstring and len(body) > 1 else first) if first is not None else None
    head = source.splitlines()[: (start.lineno - 1) if start is not None else None]
    return any(_marked(line) for line in head)


def function_exempt(lines: list[str], node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """A ``# size: <why>`` comment on the line just above the ``def`` or its first decorator."""
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    return first >= 2 and _marked(lines[first - 2])


def offenders(root: Path, packages: tuple[str, ...] = PACKAGES) -> list[str]:
    """Every module over MAX_MODULE_LINES and function over MAX_FUNCTION_LINES without a size comment."""
    found = []
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            source = path.read_text(encoding="utf-8")
            tree = ast.parse(source, filename=str(path))
            lines = source.splitlines()
            where = path.relative_to(root).as_posix()
            if len(lines) > MAX_MODULE_LINES and not module_exempt(source, tree):
                found.append(f"{where}: {len(lines)} lines (over {MAX_MODULE_LINES})")
            for node in ast.walk(tree):
                if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                length = (node.end_lineno or node.lineno) - first + 1
                if length > MAX_FUNCTION_LINES and not function_exempt(lines, node):
                    found.append(f"{where}:{node.lineno} {node.name}(): {length} lines (over {MAX_FUNCTION_LINES})")
    return found


def test_product_modules_and_functions_are_small_or_say_why():
    found = offenders(ROOT)
    assert not found, (
        f"{len(found)} module(s) or function(s) too long; split them by job, or add a '{MARK} <why>' comment "
        "(module: in its docstring or before its first statement; function: just above its def):\n  "
        + "\n  ".join(found)
    )


def plant(root: Path, name: str, source: str) -> None:
    path = root / "pipelines" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source, encoding="utf-8")


def long_function(name: str, lines: int, above: str = "") -> str:
    body = "".join(f"    x{i} = {i}\n" for i in range(lines - 2))
    return f'{above}def {name}():\n    """Doc."""\n{body}'


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (long_function("fits", 60), []),
        (long_function("long", 61), ["pipelines/m.py:1 long(): 61 lines (over 60)"]),
        (long_function("said", 61, "# size: one table of cases, read top to bottom\n"), []),
        (long_function("bare", 61, "# size:\n"), ["pipelines/m.py:2 bare(): 61 lines (over 60)"]),
        (long_function("far", 61, "# size: too far above\n\n"), ["pipelines/m.py:3 far(): 61 lines (over 60)"]),
        (
            "class A:\n" + "".join("    " + line + "\n" for line in long_function("method", 61).splitlines()),
            ["pipelines/m.py:2 method(): 61 lines (over 60)"],
        ),
        ("import os\n" * 301, ["pipelines/m.py: 301 lines (over 300)"]),
        ("import os\n" * 300, []),
        (
            '"""A module.\n\n# size: one state machine: split, its transitions scatter\n"""\n' + "x = 1\n" * 300,
            [],
        ),
        ("# size: generated table\n" + "x = 1\n" * 300, []),
        ("x = 1\n# size: too late\n" + "x = 1\n" * 300, ["pipelines/m.py: 302 lines (over 300)"]),
    ],
    ids=["60", "61", "said", "bare-marker", "not-adjacent", "method", "301", "300", "docstring", "comment", "late"],
)
def test_offenders_are_found_and_a_reason_exempts(tmp_path: Path, source: str, expected: list[str]):
    plant(tmp_path, "m.py", source)
    assert offenders(tmp_path, ("pipelines",)) == expected


def test_every_offender_is_reported_at_once(tmp_path: Path):
    plant(tmp_path, "a.py", long_function("one", 70) + long_function("two", 80))
    plant(tmp_path, "sub/b.py", "x = 1\n" * 400)
    assert offenders(tmp_path, ("pipelines",)) == [
        "pipelines/a.py:1 one(): 70 lines (over 60)",
        "pipelines/a.py:71 two(): 80 lines (over 60)",
        "pipelines/sub/b.py: 400 lines (over 300)",
    ]
