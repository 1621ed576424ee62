"""The host names of a local multi-instance job (``algo-1`` .. ``algo-N``) resolving to loopback in its host
processes, as they resolve to the instances' addresses inside a SageMaker job, without root or /etc/hosts.

The local runner copies this file as ``sitecustomize.py`` into a directory of the job, next to
``loopback_names.json`` (the job's host names), and puts that directory first on the host processes' PYTHONPATH:
Python's ``site`` imports it at start-up, before the job's code runs. It then wraps ``socket.getaddrinfo``,
``socket.gethostbyname`` and ``socket.gethostbyname_ex`` so that exactly those names (case-insensitive, with or
without a trailing dot) resolve to 127.0.0.1; every other name goes to the system resolver as before, so an unknown
name still fails. Only Python's resolution is covered: a library resolving in C (libc) does not see these names,
which is why ``training/multihost.py`` resolves the tracker's host in Python and hands XGBoost the address.

A ``sitecustomize`` that this one shadows (the interpreter's or the virtual environment's) is found further along
``sys.path`` and run first, so nothing it does is lost; the names are then installed over whatever resolution it set
up (a name of the job is answered before any wrapper of its own sees it, as /etc/hosts is read before DNS).

Standard library only, Python 3.10 compatible: it runs inside whatever interpreter the host's command starts.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import os
import socket
import sys

NAMES_FILE = "loopback_names.json"
MODULE_NAME = "sitecustomize"
LOOPBACK = "127.0.0.1"


def _key(host: object) -> str | None:
    """The lookup key of a host argument (str or bytes), None for anything else (an address tuple, None)."""
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    return host.rstrip(".").lower() if isinstance(host, str) else None


def install(names: list[str], address: str = LOOPBACK) -> None:
    """Make ``names`` resolve to ``address`` for every Python resolution in this process."""
    known = {n.rstrip(".").lower() for n in names}
    getaddrinfo, gethostbyname, gethostbyname_ex = socket.getaddrinfo, socket.gethostbyname, socket.gethostbyname_ex

    def resolve_info(host, port, family=0, type=0, proto=0, flags=0):  # socket.getaddrinfo's parameters
        return getaddrinfo(address if _key(host) in known else host, port, family, type, proto, flags)

    def resolve_name(hostname):
        return address if _key(hostname) in known else gethostbyname(hostname)

    def resolve_name_ex(hostname):
        return (hostname, [], [address]) if _key(hostname) in known else gethostbyname_ex(hostname)

    socket.getaddrinfo = resolve_info
    socket.gethostbyname = resolve_name
    socket.gethostbyname_ex = resolve_name_ex


def _run_shadowed(directory: str) -> None:
    """Run the ``sitecustomize`` this module shadows, the next one on ``sys.path`` after ``directory``."""
    here = os.path.realpath(directory)
    rest = [p for p in sys.path if os.path.realpath(p or os.getcwd()) != here]
    spec = importlib.machinery.PathFinder.find_spec(MODULE_NAME, rest)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules[MODULE_NAME] = module
    spec.loader.exec_module(module)


def _start() -> None:
    directory = os.path.dirname(os.path.abspath(__file__))
    try:
        with open(os.path.join(directory, NAMES_FILE), encoding="utf-8") as handle:
            names = json.load(handle)["hosts"]
    except FileNotFoundError:
        names = []
    try:
        _run_shadowed(directory)
    finally:  # the job's names outermost, as /etc/hosts entries come before any resolver
        install(names)


if __name__ == MODULE_NAME:  # imported by site at start-up as the job's sitecustomize; a plain import does nothing
    _start()
