"""How the user started ``mlops``, so the follow-on commands the CLI prints work as typed in a new shell.

After the README's first command ``mlops`` lives in ``.venv/bin`` and is on ``PATH`` only in a shell that activated
the virtualenv. So a printed hint says ``mlops ...`` only when ``mlops`` on ``PATH`` is the very program running;
otherwise it repeats the path the user typed (``.venv/bin/mlops ...``), or ``python -m pipelines.cli`` with the
interpreter that runs it.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
from pathlib import Path


def _same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _shown(path: Path) -> str:
    """The path as short as it can be typed from the current directory."""
    try:
        relative = Path(os.path.abspath(path)).relative_to(Path(os.path.abspath(Path.cwd())))
    except ValueError:
        return str(path)
    return str(relative) if str(relative).startswith(".") else f"./{relative}"


def program(argv0: str | None = None) -> str:
    """The words that start ``mlops`` again from a new shell in the current directory."""
    argv0 = sys.argv[0] if argv0 is None else argv0
    module_form = f"{shlex.quote(_shown(Path(sys.executable)))} -m pipelines.cli"
    name = os.path.basename(argv0)
    if name != "mlops":  # python -m pipelines.cli, or called from other Python code (tests, notebooks)
        return module_form
    on_path = shutil.which(name)
    if on_path and _same_file(on_path, argv0):
        return name
    return shlex.quote(_shown(Path(argv0))) if os.path.exists(argv0) else module_form


def command(*words: str) -> str:
    """A complete ``mlops`` command line to print, e.g. ``command("models", "list")``."""
    return " ".join([program(), *words])


_MLOPS_COMMAND = re.compile(r"(?<![\w./-])mlops(?= (?:demo|run|executions|definition|models|deploy|serve|monitor)\b)")


def as_typed(text: str) -> str:
    """``text`` with every ``mlops <command>`` it suggests written as the user can type it (see :func:`program`)."""
    start = program()
    return text if start == "mlops" else _MLOPS_COMMAND.sub(lambda _: start, text)
