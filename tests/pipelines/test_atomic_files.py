"""Files replaced whole (``pipelines.atomic_files``): the old file or the new one, never half of one, and no temporary
left behind whatever happens."""

from __future__ import annotations

import os
import threading

import pytest

from pipelines.atomic_files import replace_file, temporary_name


def test_text_and_bytes_replace_the_file_and_create_its_folders(tmp_path):
    path = tmp_path / "a" / "b" / "record.json"
    assert replace_file(path, "première\n") == path
    assert path.read_bytes() == "première\n".encode()
    replace_file(path, b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    assert os.listdir(path.parent) == ["record.json"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "record.json"
    replace_file(path, "old")
    with pytest.raises(UnicodeEncodeError):
        replace_file(path, "bad \udc80 value")  # a lone surrogate cannot be UTF-8
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["record.json"]


def test_a_failed_rename_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "record.json"
    replace_file(path, "old")

    def refused(source, target):
        raise PermissionError(13, "Permission denied", str(target))

    monkeypatch.setattr(os, "replace", refused)
    with pytest.raises(PermissionError):
        replace_file(path, "new")
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["record.json"]


def test_sync_reaches_the_disk_before_the_rename(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: events.append("fsync") or real_fsync(fd))
    monkeypatch.setattr(os, "replace", lambda a, b: events.append("replace") or real_replace(a, b))
    replace_file(tmp_path / "synced", "x", sync=True)
    replace_file(tmp_path / "unsynced", "x")
    assert events == ["fsync", "replace", "replace"]


def test_every_thread_has_a_temporary_of_its_own(tmp_path):
    path = tmp_path / "shared.json"
    names = {temporary_name(path)}

    def name() -> None:
        names.add(temporary_name(path))

    thread = threading.Thread(target=name)
    thread.start()
    thread.join()
    assert len(names) == 2 and all(n.parent == tmp_path and n.name.startswith(".shared.json.") for n in names)


def test_concurrent_writers_leave_one_whole_version(tmp_path):
    path = tmp_path / "shared.bin"
    versions = [bytes([i]) * 2_000_000 for i in range(4)]
    threads = [threading.Thread(target=replace_file, args=(path, v)) for v in versions for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert path.read_bytes() in versions
    assert os.listdir(tmp_path) == ["shared.bin"]
