"""One disposable "container" of the image: a fresh ``SAGEMAKER_BASE_DIR`` in place of /opt/ml (the toolkit's own
way to move it: sagemaker_containers/_env.py reads it at import), a private HOME and TEMP, the image's environment
variables, no network, and an overlay virtualenv on top of the cached image environment: whatever the toolkit's
``pip install .`` installs lands in the overlay and is thrown away with it, so nothing survives between runs and
the shared cache is never written."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

from tests.parity.environment import ParityEnvironment

OPT_ML = "/opt/ml"
MIRROR = Path(__file__).resolve().with_name("toolkit")  # the stand-in sagemaker_xgboost_container (see its README)
TAIL_LINES = 40

# ENV lines of docker/3.0-5/base/Dockerfile.cpu and docker/3.0-5/final/Dockerfile.cpu at v3.0-5 that Python code
# reads (left out: XGBOOST_MMS_CONFIG, multi-model server only; LD_LIBRARY_PATH to NCCL, GPU only; TEMP is mapped
# below). /opt/ml paths are mapped onto the container's base dir.
IMAGE_ENVIRONMENT = {
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONUNBUFFERED": "1",
    "PYTHONIOENCODING": "utf-8",
    "SM_INPUT": "/opt/ml/input",
    "SM_INPUT_TRAINING_CONFIG_FILE": "/opt/ml/input/config/hyperparameters.json",
    "SM_INPUT_DATA_CONFIG_FILE": "/opt/ml/input/config/inputdataconfig.json",
    "SM_CHECKPOINT_CONFIG_FILE": "/opt/ml/input/config/checkpointconfig.json",
    "SM_MODEL_DIR": "/opt/ml/model",
    "NCCL_SOCKET_IFNAME": "eth",
    "SAGEMAKER_TRAINING_MODULE": "sagemaker_xgboost_container.training:main",
    "SAGEMAKER_SERVING_MODULE": "sagemaker_xgboost_container.serving:main",
}

# Loaded by every Python process of the overlay (site imports sitecustomize): connections and name lookups go to
# loopback and Unix sockets only, so a job that needed the network fails instead of quietly using it.
NO_NETWORK = '''"""Parity harness: this container has no network; loopback and Unix sockets only."""
import errno
import ipaddress
import socket

_connect, _connect_ex, _getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo


def _local(host):
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if host in (None, "", "localhost"):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def _refuse(sock, address):
    if sock.family != getattr(socket, "AF_UNIX", None) and not _local(address[0]):
        raise OSError(errno.ENETUNREACH, "parity harness: no network (connection to %r refused)" % (address,))


def connect(self, address):
    _refuse(self, address)
    return _connect(self, address)


def connect_ex(self, address):
    _refuse(self, address)
    return _connect_ex(self, address)


def getaddrinfo(host, *args, **kwargs):
    if not _local(host):
        raise socket.gaierror(socket.EAI_NONAME, "parity harness: no network (lookup of %r refused)" % (host,))
    return _getaddrinfo(host, *args, **kwargs)


socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = connect, connect_ex, getaddrinfo
'''


SERVE_SCRIPT = """import sys

from sagemaker_xgboost_container.serving import serving_entrypoint

if __name__ == "__main__":
    sys.exit(serving_entrypoint())
"""


class JobFailed(AssertionError):
    """A command in the container exited non-zero; the message has its log's last lines."""


class Container:
    """A fresh container under ``root``: ``root/opt/ml`` is its /opt/ml."""

    def __init__(self, environment: ParityEnvironment, root: Path) -> None:
        self.environment = environment
        self.root = root
        self.base_dir = root / "opt" / "ml"
        self.overlay = root / "venv"
        for directory in (self.base_dir, root / "home", root / "tmp"):
            directory.mkdir(parents=True, exist_ok=True)
        self._make_overlay()

    @property
    def python(self) -> Path:
        """The container's ``python3``: the overlay's interpreter."""
        return self.overlay / "bin" / "python"

    def map(self, path: str) -> Path:
        """A container path under /opt/ml, on the host."""
        if path != OPT_ML and not path.startswith(OPT_ML + "/"):
            raise ValueError(f"container path {path!r} is outside {OPT_ML}")
        return self.base_dir / path[len(OPT_ML) :].lstrip("/")

    def text(self, value: str) -> str:
        """A value with its /opt/ml paths (colon lists included) mapped onto the base dir."""
        return ":".join(str(self.map(p)) if p.startswith(OPT_ML) else p for p in value.split(":"))

    def environ(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The image's environment with /opt/ml mapped, plus ``extra``; nothing of the host's but PATH."""
        environ = {key: self.text(value) for key, value in IMAGE_ENVIRONMENT.items()}
        environ.update(
            {
                "PATH": f"{self.overlay / 'bin'}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
                "HOME": str(self.root / "home"),
                "TEMP": str(self.root / "tmp"),  # the image sets TEMP=/home/model-server/tmp
                "TMPDIR": str(self.root / "tmp"),
                "SAGEMAKER_BASE_DIR": str(self.base_dir),
                "PIP_CONFIG_FILE": os.devnull,  # the image has no pip configuration; the host's stays out
                "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            }
        )
        environ.update({key: self.text(str(value)) for key, value in (extra or {}).items()})
        return environ

    def run(
        self, arguments: list[str], log: Path, extra: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> None:
        """Run ``python <arguments>`` in the container; a non-zero exit raises JobFailed with the log's tail."""
        log.parent.mkdir(parents=True, exist_ok=True)
        command = [str(self.python), *arguments]
        with open(log, "ab") as out:
            out.write(f"$ {' '.join(command)}\n".encode())
            out.flush()
            done = subprocess.run(
                command,
                env=self.environ(extra),
                cwd=cwd or self.base_dir,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=900,
                check=False,
            )
        if done.returncode != 0:
            tail = "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-TAIL_LINES:])
            raise JobFailed(f"{' '.join(arguments[:2])} exited {done.returncode}; log {log}:\n{tail}")

    def _make_overlay(self) -> None:
        subprocess.run(
            [str(self.environment.python), "-m", "venv", "--without-pip", str(self.overlay)],
            check=True,
            capture_output=True,
        )
        major, minor, _ = self.environment.interpreter.version
        site = self.overlay / "lib" / f"python{major}.{minor}" / "site-packages"
        base = str(self.environment.site_packages)
        # addsitedir (not a bare path line) so the image environment's own .pth files are processed too
        (site / "zz-parity-image.pth").write_text(f"import site; site.addsitedir({base!r})\n", encoding="utf-8")
        (site / "zz-parity-mirror.pth").write_text(f"{MIRROR}\n", encoding="utf-8")
        (site / "sitecustomize.py").write_text(NO_NETWORK, encoding="utf-8")
        source_bin, target_bin = self.environment.root / "bin", self.overlay / "bin"
        shebang = f"#!{self.python}\n".encode()
        for script in sorted(source_bin.iterdir()):
            target = target_bin / script.name
            if target.exists() or script.is_symlink() or not script.is_file():
                continue
            data = script.read_bytes()
            first, _, rest = data.partition(b"\n")
            if first.startswith(b"#!") and str(self.environment.root).encode() in first:
                target.write_bytes(shebang + rest)  # console scripts (gunicorn, ...) run the overlay's Python
                target.chmod(0o755)
        # the image's own wheel installs `serve` over sagemaker-containers' (its setup.py entry_points at v3.0-5)
        serve = target_bin / "serve"
        serve.write_bytes(shebang + SERVE_SCRIPT.encode())
        serve.chmod(0o755)
