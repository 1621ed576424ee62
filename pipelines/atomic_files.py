"""Files replaced whole: the new content goes to a temporary file beside the target, which is then renamed over it.

A reader (or a crash) sees the old file or the new one, never half of one. A write that fails (a full disk, a value
that cannot be encoded) removes its temporary file and leaves the old file as it was. Every writer has a temporary
name of its own (process and thread), so two writers of one file never write into the same temporary: the last
rename wins, whole. The application's records, caches, staged code and local objects are written this way; the
container code (``monitoring``, ``processing``) has its own writers, since it cannot import the application.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path


def temporary_name(path: Path) -> Path:
    """The temporary file of this process and thread for ``path`` (hidden, in the same directory)."""
    return path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")


def replace_file(path: str | Path, content: bytes | str, sync: bool = False) -> Path:
    """Replace ``path`` (its parent folders created) with ``content`` (text is written as UTF-8); with ``sync`` the
    data reaches the disk before the rename, for records that must survive a power cut. Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode("utf-8") if isinstance(content, str) else content
    temporary = temporary_name(path)
    try:
        with open(temporary, "wb") as handle:
            handle.write(data)
            if sync:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path
