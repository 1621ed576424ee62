"""The parity environment: exact pins, the image's Python (required under CI, said out loud elsewhere), one build
per pins file under a lock, the Dockerfile's patches, and containers without network or a host /opt/ml."""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.parity import environment as env_module
from tests.parity.container import JobFailed
from tests.parity.environment import (
    MANIFEST,
    PINS,
    Interpreter,
    ParityEnvironmentError,
    cache_key,
    ensure_environment,
    fallback_notice,
    find_interpreter,
    read_pins,
)


def test_pins_are_the_images_and_exact():
    pins = read_pins(PINS)
    assert {
        "sagemaker-containers": "2.8.6.post2",
        "flask": "1.1.1",
        "werkzeug": "0.15.6",
        "jinja2": "2.11.3",
        "itsdangerous": "2.0.1",
        "markupsafe": "1.1.1",
        "gunicorn": "23.0.0",
        "gevent": "23.9.1",
        "xgboost": "3.0.5",
        "numpy": "2.1.0",
        "pandas": "2.2.3",
        "pyarrow": "22.0.0",
        "scikit-learn": "1.5.2",
        "protobuf": "3.20.3",
        "pip": "25.2",
    }.items() <= pins.items()
    assert not {"dask", "dask-cuda", "cuda-python", "pynvml", "smdebug", "mlio"} & set(pins)


def test_a_floating_or_repeated_pin_is_refused(tmp_path):
    floating = tmp_path / "floating.txt"
    floating.write_text("# header\nflask==1.1.1\nnumpy>=2\n")
    with pytest.raises(ParityEnvironmentError, match=r"floating\.txt:3: expected an exact pin .*'numpy>=2'"):
        read_pins(floating)
    twice = tmp_path / "twice.txt"
    twice.write_text("Flask==1.1.1\nflask==1.1.2\n")
    with pytest.raises(ParityEnvironmentError, match=r"twice\.txt:2: flask is pinned twice"):
        read_pins(twice)


def test_ci_requires_the_images_python(tmp_path):
    nowhere = {"CI": "true", "PATH": str(tmp_path), "PYENV_ROOT": str(tmp_path)}
    with pytest.raises(ParityEnvironmentError, match=r"CI=true: the parity suite needs the image's Python 3\.10"):
        find_interpreter(nowhere)


def test_without_310_the_default_python_runs_the_pins_and_says_so(tmp_path):
    found = find_interpreter({"PATH": str(tmp_path), "PYENV_ROOT": str(tmp_path)})
    assert found.path == Path(sys.executable)
    notice = fallback_notice(found)
    if sys.version_info[:2] == (3, 10):
        assert notice is None
    else:
        assert notice is not None and "no Python 3.10 found" in notice and found.version_text in notice


def test_an_explicit_interpreter_must_be_310(tmp_path):
    with pytest.raises(ParityEnvironmentError, match=r"MLOPS_PARITY_PYTHON=.* must be a Python 3\.10"):
        find_interpreter({"MLOPS_PARITY_PYTHON": str(tmp_path / "missing-python")})


def test_the_cache_key_follows_the_pins_and_the_interpreter(tmp_path):
    pins = tmp_path / "pins.txt"
    pins.write_text("flask==1.1.1\n")
    py310, py311 = Interpreter(Path("/x/3.10"), (3, 10, 13)), Interpreter(Path("/x/3.11"), (3, 11, 7))
    first = cache_key(pins, py310)
    assert cache_key(pins, py310) == first and cache_key(pins, py311) != first
    pins.write_text("flask==1.1.2\n")
    assert cache_key(pins, py310) != first


def test_parallel_runs_build_once_under_the_lock(tmp_path, monkeypatch):
    pins = tmp_path / "pins.txt"
    pins.write_text("flask==1.1.1\n")
    builds = []

    def build(interpreter, pins_file, final):
        builds.append(final)
        time.sleep(0.3)  # the other run arrives while this one builds
        final.mkdir(parents=True)
        (final / MANIFEST).write_text("{}")

    monkeypatch.setattr(env_module, "_build", build)
    interpreter = Interpreter(Path(sys.executable), (3, 10, 13))
    roots = []
    threads = [
        threading.Thread(target=lambda: roots.append(ensure_environment(interpreter, pins, tmp_path / "cache").root))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(builds) == 1 and len(set(roots)) == 1 and roots[0] == builds[0]
    assert ensure_environment(interpreter, pins, tmp_path / "cache").root == roots[0] and len(builds) == 1


def test_a_failed_build_leaves_nothing_behind_and_says_why(tmp_path, monkeypatch):
    pins = tmp_path / "pins.txt"
    pins.write_text("flask==1.1.1\n")
    real_run = env_module._run

    def run(command, log, what):
        if "venv" in command:  # no real virtualenv needed to fail the install
            Path(command[-1]).mkdir(parents=True)
            return
        if "install" in command:
            command = [sys.executable, "-c", "import sys; print('no matching distribution'); sys.exit(1)"]
        real_run(command, log, what)

    monkeypatch.setattr(env_module, "_run", run)
    interpreter = Interpreter(Path(sys.executable), (3, 10, 13))
    with pytest.raises(
        ParityEnvironmentError, match=r"cannot install the pins of .*pins\.txt \(exit 1\)[\s\S]*no matching"
    ):
        ensure_environment(interpreter, pins, tmp_path / "cache")
    assert [p.name for p in (tmp_path / "cache").iterdir() if not p.name.endswith((".lock", ".log"))] == []


def test_the_built_environment_is_the_pins_with_the_dockerfiles_patches(parity_environment):
    manifest = json.loads((parity_environment.root / MANIFEST).read_text())
    expected = {n: v for n, v in read_pins(PINS).items() if n != "typing"}
    assert manifest["packages"] == expected  # `pip uninstall -y typing` of the final Dockerfile
    mapping = (parity_environment.site_packages / "sagemaker_containers" / "_mapping.py").read_text()
    assert "collections.abc.Mapping" in mapping and "(collections.Mapping)" not in mapping
    assert manifest["image_python"] == (parity_environment.interpreter.version[:2] == (3, 10))


def test_a_container_has_no_network_and_its_own_opt_ml(container, tmp_path):
    log = tmp_path / "probe.log"
    container.run(
        ["-c", "import os, sagemaker_containers._env as e; assert e.base_dir == os.environ['SAGEMAKER_BASE_DIR']"],
        log,
    )
    assert (container.base_dir / "code").is_dir()  # the toolkit's import-time mkdir went to the base dir
    with pytest.raises(JobFailed, match="parity harness: no network"):
        container.run(["-c", "import socket; socket.getaddrinfo('pypi.org', 443)"], log)
    with pytest.raises(JobFailed, match="parity harness: no network"):
        container.run(
            ["-c", "import urllib.request; urllib.request.urlopen('https://pypi.org/simple/', timeout=5)"], log
        )
