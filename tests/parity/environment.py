"""The SageMaker XGBoost 3.0-5 image's Python environment, built once from the pins file into a cache outside the
repository (keyed by the pins' sha256 and the interpreter), under a file lock, atomically, and reused between runs
(tests/cached_venv.py).

Python 3.10 is the image's Python: it is looked for in MLOPS_PARITY_PYTHON, on PATH and under pyenv. Under CI
(``CI=true``) it is required. Elsewhere, without it, the same pins are built on the Python running the tests and the
test output says so; pins that cannot install there fail with pip's own message, never a silent skip.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tests import cached_venv

PINS = Path(__file__).resolve().with_name("requirements-sagemaker-xgboost-3.0-5.txt")
IMAGE_PYTHON = (3, 10)
RECIPE = "2"  # bump when the build steps below change: the cache key includes it
MANIFEST = "parity-build.json"
UNINSTALLED_AFTER_CHECK = ("typing",)
BOOTSTRAP = ("pip", "setuptools", "wheel")  # final Dockerfile: `pip uninstall -y typing`
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9._+!-]+)$")
_PROBE = "import sys; print(sys.version_info[0], sys.version_info[1], sys.version_info[2]); print(sys.executable)"


class ParityEnvironmentError(RuntimeError):
    """The parity environment cannot be found or built; the message says what to do."""


@dataclass(frozen=True)
class Interpreter:
    """A Python that builds the environment: the image's 3.10, or the fallback."""

    path: Path
    version: tuple[int, int, int]

    @property
    def is_image_python(self) -> bool:
        return self.version[:2] == IMAGE_PYTHON

    @property
    def version_text(self) -> str:
        return ".".join(map(str, self.version))


@dataclass(frozen=True)
class ParityEnvironment:
    """A built environment: its root (a virtualenv), interpreter, site-packages and the pins it holds."""

    root: Path
    interpreter: Interpreter
    pins_sha256: str

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    @property
    def site_packages(self) -> Path:
        major, minor, _ = self.interpreter.version
        return self.root / "lib" / f"python{major}.{minor}" / "site-packages"


def read_pins(path: Path = PINS) -> dict[str, str]:
    """Normalised name -> version of every pin; anything but ``name==version`` is refused (nothing floats)."""
    pins: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = _PIN.match(line)
        if not match:
            raise ParityEnvironmentError(f"{path}:{number}: expected an exact pin 'name==version', got {line!r}")
        name = normalise(match.group(1))
        if name in pins:
            raise ParityEnvironmentError(f"{path}:{number}: {name} is pinned twice")
        pins[name] = match.group(2)
    return pins


def normalise(name: str) -> str:
    """PEP 503 normalised project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _probe(candidate: str | Path) -> Interpreter | None:
    try:
        done = subprocess.run([str(candidate), "-c", _PROBE], capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = done.stdout.split("\n")
    if done.returncode != 0 or len(lines) < 2:
        return None
    major, minor, micro = (int(part) for part in lines[0].split())
    return Interpreter(Path(lines[1].strip()), (major, minor, micro))


def _pyenv_candidates(environ: Mapping[str, str]) -> list[Path]:
    """pyenv's 3.10.x interpreters, newest first."""
    versions = Path(environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    found = versions.glob("3.10.*/bin/python3.10")
    return sorted(found, key=lambda p: [int(x) if x.isdigit() else 0 for x in p.parents[1].name.split(".")])[::-1]


def is_ci(environ: Mapping[str, str] = os.environ) -> bool:
    """True under CI (``CI=true``), where the image's Python is required."""
    return environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def find_interpreter(environ: Mapping[str, str] = os.environ) -> Interpreter:
    """The image's Python 3.10 if there is one; else (not under CI) the Python running the tests."""
    explicit = environ.get("MLOPS_PARITY_PYTHON")
    if explicit:
        found = _probe(explicit)
        if found is None or not found.is_image_python:
            got = found.version_text if found else "not runnable"
            raise ParityEnvironmentError(f"MLOPS_PARITY_PYTHON={explicit} must be a Python 3.10, got {got}")
        return found
    name = f"python{IMAGE_PYTHON[0]}.{IMAGE_PYTHON[1]}"
    on_path = shutil.which(name, path=environ.get("PATH"))
    for candidate in [*([on_path] if on_path else []), *_pyenv_candidates(environ)]:
        found = _probe(candidate)
        if found is not None and found.is_image_python:
            return found
    if is_ci(environ):
        raise ParityEnvironmentError(
            f"CI=true: the parity suite needs the image's Python 3.10 and found none ({name} on PATH, pyenv "
            "versions/3.10.*, MLOPS_PARITY_PYTHON). Install it, e.g. `pyenv install 3.10`."
        )
    version = sys.version_info
    return Interpreter(Path(sys.executable), (version.major, version.minor, version.micro))


def fallback_notice(interpreter: Interpreter) -> str | None:
    """What the test output says when the pins run on another Python than the image's 3.10 (None on 3.10)."""
    if interpreter.is_image_python:
        return None
    return (
        f"parity suite: no Python 3.10 found (the image's Python); the image's pins run on Python "
        f"{interpreter.version_text} ({interpreter.path}) instead. Install Python 3.10 (e.g. `pyenv install 3.10`) "
        "or set MLOPS_PARITY_PYTHON for the real check; CI requires it."
    )


def cache_root(environ: Mapping[str, str] = os.environ) -> Path:
    """MLOPS_PARITY_CACHE, else ``$XDG_CACHE_HOME/mlops-parity`` (``~/.cache/mlops-parity``): outside the repo."""
    explicit = environ.get("MLOPS_PARITY_CACHE")
    return Path(explicit) if explicit else cached_venv.cache_base(environ) / "mlops-parity"


def cache_key(pins: Path, interpreter: Interpreter) -> str:
    """sha256 of the pins file, with the recipe and the interpreter that builds it."""
    digest = hashlib.sha256(pins.read_bytes()).hexdigest()
    return f"{digest[:32]}-r{RECIPE}-py{interpreter.version_text}"


def ensure_environment(
    interpreter: Interpreter | None = None, pins: Path = PINS, root: Path | None = None
) -> ParityEnvironment:
    """The built environment for these pins and this interpreter: reused if present, else built now."""
    interpreter = interpreter or find_interpreter()
    read_pins(pins)  # refuse a floating pin before anything is built
    final = (root or cache_root()) / cache_key(pins, interpreter)
    cached_venv.ensure_built(final, MANIFEST, lambda target: _build(interpreter, pins, target))
    return ParityEnvironment(final, interpreter, hashlib.sha256(pins.read_bytes()).hexdigest())


def _build(interpreter: Interpreter, pins: Path, final: Path) -> None:
    started = time.monotonic()
    cached_venv.atomic_build(final, MANIFEST, lambda work, log: _populate(interpreter, pins, work, log, started))


def _populate(interpreter: Interpreter, pins: Path, work: Path, log: Path, started: float) -> str:
    """Install the pins into the virtualenv ``work`` as the image's Dockerfile does; the manifest's text."""
    _run([str(interpreter.path), "-m", "venv", str(work)], log, "create the virtualenv")
    python = str(work / "bin" / "python")
    pip = [python, "-m", "pip", "--disable-pip-version-check"]
    # the image's pip, setuptools and wheel first: the rest is installed as the image's pip installs it (wheels
    # built by pip, console scripts without pkg_resources' start-up check of every requirement)
    bootstrap = [f"{n}=={v}" for n, v in read_pins(pins).items() if n in BOOTSTRAP]
    if bootstrap:
        _run([*pip, "install", "--no-deps", "--no-input", *bootstrap], log, "install the image's pip")
    _run([*pip, "install", "--no-deps", "--no-input", "-r", str(pins)], log, f"install the pins of {pins}")
    _run([*pip, "check"], log, "pip check (a pin's dependency is missing or has another version)")
    _patch_mapping(ParityEnvironment(work, interpreter, "").site_packages)
    _run([*pip, "uninstall", "-y", *UNINSTALLED_AFTER_CHECK], log, "uninstall typing (final Dockerfile)")
    installed = _installed(python, log)
    expected = {n: v for n, v in read_pins(pins).items() if n not in UNINSTALLED_AFTER_CHECK}
    if installed != expected:
        extra = {n: v for n, v in installed.items() if expected.get(n) != v}
        missing = {n: v for n, v in expected.items() if installed.get(n) != v}
        raise ParityEnvironmentError(f"installed packages differ from {pins}: extra {extra}, missing {missing}")
    manifest = {
        "pins": str(pins),
        "pins_sha256": hashlib.sha256(pins.read_bytes()).hexdigest(),
        "python": interpreter.version_text,
        "interpreter": str(interpreter.path),
        "image_python": interpreter.is_image_python,
        "build_seconds": round(time.monotonic() - started, 1),
        "packages": installed,
    }
    return json.dumps(manifest, indent=2, sort_keys=True)


def _run(command: list[str], log: Path, what: str) -> None:
    cached_venv.run_logged(
        command,
        log,
        what,
        error=ParityEnvironmentError,
        subject="parity environment",
        advice="The pins are the SageMaker XGBoost 3.0-5 image's: they install on Python 3.10 (`pyenv install 3.10`, "
        "or MLOPS_PARITY_PYTHON=/path/to/python3.10).",
    )


def _installed(python: str, log: Path) -> dict[str, str]:
    done = subprocess.run(
        [python, "-m", "pip", "--disable-pip-version-check", "list", "--format=json"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise ParityEnvironmentError(f"pip list failed in the parity environment: {done.stderr.strip()} ({log})")
    return {normalise(item["name"]): item["version"] for item in json.loads(done.stdout)}


def _patch_mapping(site_packages: Path) -> None:
    """The final Dockerfile's ``sed -i 's/collections\\.Mapping/collections.abc.Mapping/g'`` on _mapping.py."""
    path = site_packages / "sagemaker_containers" / "_mapping.py"
    text = path.read_text(encoding="utf-8")
    patched = re.sub(r"collections\.Mapping", "collections.abc.Mapping", text)
    if patched == text:
        raise ParityEnvironmentError(f"{path}: no 'collections.Mapping' to patch (the image's sed): another version?")
    path.write_text(patched, encoding="utf-8")


def report_header(environ: Mapping[str, str] = os.environ) -> str:
    """One line for pytest's header: which Python runs the image's pins, and whether the build is cached."""
    try:
        interpreter = find_interpreter(environ)
    except ParityEnvironmentError as exc:
        return f"parity: {exc}"
    notice = fallback_notice(interpreter)
    if notice:
        return notice
    location = cache_root(environ) / cache_key(PINS, interpreter)
    state = "cached" if (location / MANIFEST).is_file() else "not built yet: the first parity test builds it once"
    return (
        f"parity: SageMaker XGBoost 3.0-5 image's pins on Python {interpreter.version_text} "
        f"({interpreter.path}); environment {location} ({state})"
    )
