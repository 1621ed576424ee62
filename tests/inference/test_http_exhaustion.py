"""Descriptor exhaustion: a server process with a low descriptor limit, and more idle client connections than it
has descriptors. The connection cap (by default below the limit) keeps accept() working, so /ping is answered at
once, and the log stays small (without the cap: /ping waited for idle timeouts and asyncio logged every failed
accept with a traceback)."""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from tests.conftest import ROOT
from tests.inference.http_harness import exchange, status_of

DESCRIPTORS = 256
CLIENTS = 400

SERVER = textwrap.dedent(
    """
    import resource, sys
    resource.setrlimit(resource.RLIMIT_NOFILE, ({limit}, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    from pathlib import Path
    from inference.server import ServeOptions, serve_forever
    from pipelines.objectstore import locator
    serve_forever(ServeOptions(Path(sys.argv[1]), "exhausted", locate=locator(Path(sys.argv[1])), port=0),
                  lambda port, _: print(port, flush=True))
    """
)


def test_more_idle_clients_than_descriptors_neither_starve_ping_nor_flood_the_log(tmp_path: Path):
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < CLIENTS + 64:
        resource.setrlimit(resource.RLIMIT_NOFILE, (CLIENTS + 64, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    log = tmp_path / "server.log"
    with open(log, "wb") as errors:
        process = subprocess.Popen(
            [sys.executable, "-c", SERVER.format(limit=DESCRIPTORS), str(tmp_path / "state")],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=errors,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
    clients: list[socket.socket] = []
    try:
        port = int(process.stdout.readline())
        for _ in range(CLIENTS):
            try:
                clients.append(socket.create_connection(("127.0.0.1", port), timeout=5))
            except OSError:
                break
        time.sleep(1.0)  # let the server accept (or fail to accept) them all
        started = time.monotonic()
        answer = exchange(port, b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", timeout=5)
        waited = time.monotonic() - started
        assert answer and status_of(answer) == 503 and b"No model deployed to endpoint 'exhausted'" in answer
        assert waited < 2.0, f"/ping waited {waited:.1f} s"
        time.sleep(2.0)  # a flood would keep growing the log meanwhile
    finally:
        for client in clients:
            client.close()
        process.terminate()
        process.wait(30)
    assert log.stat().st_size < 4096, log.read_text(errors="replace")[:2000]
