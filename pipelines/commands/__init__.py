"""The ``mlops`` subcommands, one module each, and what several of them share: the state directory they read or
write, checked before they touch it, and a standard output closed under them (``mlops ... | head``)."""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from pipelines.errors import StateError, UsageError


def state_directory(given: Path | None, config, reading: bool) -> Path:
    """The state directory: ``--state-dir`` (``given``), else the configuration's ``project.state_dir``.

    UsageError when it, or the nearest of its parents that exists, is not a directory (nothing could be written under
    it); for a command that only reads (``reading``), StateError when it does not exist (nothing has run there)."""
    path = Path(given if given is not None else config.project.state_dir)
    where = f"--state-dir {path}" if given is not None else f"project.state_dir {path} (from {config.source})"
    for part in (path, *path.parents):
        if part.is_dir():
            break
        if part.exists() or part.is_symlink():
            what = "a file" if part.exists() else "a broken symbolic link"
            if part == path:
                raise UsageError(f"{where}: is {what}, not a directory (one holding executions/, registry.db, s3/)")
            raise UsageError(f"{where}: cannot be a directory: {part} is {what}")
    if reading and not path.is_dir():
        raise StateError(f"{where}: no such directory: nothing has run with this state directory (mlops run makes it)")
    return path


def positive_int(what: str) -> Callable[[str], int]:
    """An argparse ``type``: a whole number, 1 or more, of ``what`` (argparse names the option, exit 2)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number of {what}, 1 or more, got {text!r}") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"must be 1 or more ({what}), got {value}")
        return value

    return parse


def closed_stdout_is_quiet(run: Callable[[], int]) -> int:
    """``run()``'s exit code; when standard output is closed under it (``mlops models show ... | head -2``), 141
    (128 + SIGPIPE, what a shell reports for a writer SIGPIPE ended) and no traceback, as command-line tools do.
    A BrokenPipeError on anything else (a job's pipe, a socket) is not this, and propagates."""
    try:
        code = run()
        sys.stdout.flush()
    except BrokenPipeError:
        if not _stdout_closed():
            raise
        with contextlib.suppress(OSError, ValueError):  # Python flushes stdout again at exit: into nowhere, not a pipe
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    return code


def _stdout_closed() -> bool:
    """Whether standard output is a pipe whose reader is gone (poll reports an error condition for its writer)."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # replaced by a stream without a file (tests capture it)
        return False
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(events & select.POLLERR for _, events in poller.poll(0))
