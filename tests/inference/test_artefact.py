"""Model artefacts extracted safely (tarfile's ``data`` filter semantics, caps), verified before reuse, pruned.

Every refusal and mode rule runs twice: with the standard library's ``tarfile.data_filter`` (3.12, 3.10.12+,
3.11.4+) and without it (older Pythons), where only the module's own checks apply.
"""

from __future__ import annotations

import gzip
import io
import logging
import os
import stat
import tarfile
import time
from pathlib import Path

import pytest

from inference.artefact import (
    MANIFEST,
    STALE_SECONDS,
    ArtefactError,
    ExtractionLimits,
    extract_archive,
    extraction_dir,
    prune_extractions,
    verify_extraction,
)
from inference.model_loader import ModelLoadError

HANDLER = b"def model_fn(model_dir):\n    return 'model'\n"


@pytest.fixture(params=["stdlib data_filter", "own checks only"])
def filters(request, monkeypatch) -> str:
    if request.param == "own checks only":
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    elif not hasattr(tarfile, "data_filter"):
        pytest.fail("this Python has no tarfile.data_filter: use 3.12, 3.11.4+ or 3.10.12+")
    return request.param


def member(name: str, data: bytes = b"", **fields) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    for key, value in fields.items():
        setattr(info, key, value)
    if info.type != tarfile.REGTYPE:
        info.size = 0
    return info, data


def archive(path: Path, *members: tuple[tarfile.TarInfo, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return path


def model(path: Path, marker: bytes = b"1") -> Path:
    return archive(
        path,
        member("code", type=tarfile.DIRTYPE, mode=0o755),
        member("code/inference.py", HANDLER),
        member("xgboost-model.json", b'{"version": ' + marker + b"}"),
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_modes_are_0644_or_0755_without_setuid_and_owners_are_ignored(tmp_path, filters):
    root = {"uid": 0, "gid": 0, "uname": "root", "gname": "root"}
    source = archive(
        tmp_path / "model.tar.gz",
        member("code", type=tarfile.DIRTYPE, mode=0o1777, **root),
        member("code/inference.py", HANDLER, mode=0o777, **root),
        member("code/run.sh", b"#!/bin/sh\n", mode=0o4755, **root),
        member("code/setgid.py", b"", mode=0o2644, **root),
        member("private", type=tarfile.DIRTYPE, mode=0o700),
        member("private/secret.json", b"{}", mode=0o600),
        member("transform.json", b"{}", mode=0o666),
    )
    target = extract_archive(source, tmp_path / "models")
    assert mode(target / "code" / "inference.py") == 0o755  # 0777: executable by its owner
    assert mode(target / "code" / "run.sh") == 0o755  # setuid dropped
    assert mode(target / "code" / "setgid.py") == 0o644
    assert mode(target / "private" / "secret.json") == 0o644
    assert mode(target / "transform.json") == 0o644  # world-writable no more
    assert mode(target / "code") == mode(target / "private") == mode(target) == 0o755  # no sticky bit
    assert {os.lstat(p).st_uid for p in target.rglob("*")} == {os.getuid()}
    assert (target / "code" / "inference.py").read_bytes() == HANDLER


@pytest.mark.parametrize(
    "bad, rule",
    [
        (member("code/link.py", type=tarfile.SYMTYPE, linkname="inference.py"), "is a symbolic link .* refused"),
        (member("code/passwd", type=tarfile.SYMTYPE, linkname="/etc/passwd"), "is a symbolic link .* refused"),
        (member("code/hard.py", type=tarfile.LNKTYPE, linkname="code/inference.py"), "is a hard link .* refused"),
        (member("code/null", type=tarfile.CHRTYPE, devmajor=1, devminor=3), "is a device: refused"),
        (member("code/disk", type=tarfile.BLKTYPE, devmajor=8, devminor=0), "is a device: refused"),
        (member("code/pipe", type=tarfile.FIFOTYPE), "is a fifo: refused"),
        (member("../escape.py", b"x"), "points outside the model directory"),
        (member("code/../../escape.py", b"x"), "points outside the model directory"),
        (member("/etc/cron.d/job", b"x"), "has an absolute name"),
        (member(MANIFEST, b"{}"), "is reserved"),
    ],
    ids=["symlink", "symlink-out", "hardlink", "chr", "blk", "fifo", "dotdot", "nested-dotdot", "abs", "manifest"],
)
def test_links_devices_and_escaping_names_are_refused_and_nothing_is_left(tmp_path, filters, bad, rule):
    source = archive(tmp_path / "evil.tar.gz", member("code/inference.py", HANDLER), bad)
    models = tmp_path / "models"
    with pytest.raises(ArtefactError, match=rf"evil\.tar\.gz: member '{bad[0].name}' {rule}"):
        extract_archive(source, models)
    assert list(models.iterdir()) == []
    assert isinstance(ArtefactError("x"), ModelLoadError)  # the loader's callers catch one error type


def test_the_stdlib_data_filter_is_applied_where_present(tmp_path, monkeypatch):
    seen = []

    def refusing(info: tarfile.TarInfo, dest: str) -> tarfile.TarInfo:
        seen.append(info.name)
        raise tarfile.FilterError("refused by the test")

    monkeypatch.setattr(tarfile, "data_filter", refusing, raising=False)
    with pytest.raises(ArtefactError, match=r"member 'code' is refused by tarfile's data filter"):
        extract_archive(model(tmp_path / "model.tar.gz"), tmp_path / "models")
    assert seen == ["code"]


def test_an_archive_over_the_size_cap_is_refused_before_it_is_written(tmp_path, filters):
    zeros = tmp_path / "bomb.tar.gz"
    with tarfile.open(zeros, "w:gz") as tar:
        small, data = member("code/inference.py", HANDLER)
        tar.addfile(small, io.BytesIO(data))
        info, _ = member("xgboost-model.json")
        info.size = 3 * 1024 * 1024
        tar.addfile(info, io.BytesIO(bytes(info.size)))
    assert zeros.stat().st_size < 20_000  # a compression bomb in miniature
    models = tmp_path / "models"
    with pytest.raises(ArtefactError) as caught:
        extract_archive(zeros, models, ExtractionLimits(max_bytes=2 * 1024 * 1024))
    message = str(caught.value)
    assert "bomb.tar.gz: member 'xgboost-model.json' (3145728 bytes)" in message
    assert "over the limit of 2097152 bytes (serving.max_model_mib = 2)" in message
    assert list(models.iterdir()) == []  # the member written before it is gone too
    assert extract_archive(zeros, models, ExtractionLimits(max_bytes=4 * 1024 * 1024)).is_dir()


def test_an_archive_with_too_many_members_is_refused(tmp_path, filters):
    many = archive(tmp_path / "many.tar.gz", *(member(f"f{i}.txt", b"x") for i in range(12)))
    with pytest.raises(ArtefactError, match=r"many\.tar\.gz: member 'f10\.txt' is member number 11, over the limit"):
        extract_archive(many, tmp_path / "models", ExtractionLimits(max_members=10))
    assert list((tmp_path / "models").iterdir()) == []
    with pytest.raises(ValueError, match=r"ExtractionLimits\.max_bytes must be a positive integer, got 0"):
        ExtractionLimits(max_bytes=0)


def test_unreadable_and_truncated_archives_name_the_file(tmp_path):
    good = model(tmp_path / "good.tar.gz").read_bytes()
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(good[: len(good) // 2])
    with pytest.raises(ArtefactError, match=r"truncated\.tar\.gz: not a readable model\.tar\.gz"):
        extract_archive(truncated, tmp_path / "models")
    plain = tmp_path / "plain.tar.gz"
    plain.write_bytes(gzip.compress(b"not a tar file" * 100))
    with pytest.raises(ArtefactError, match=r"plain\.tar\.gz: not a readable model\.tar\.gz"):
        extract_archive(plain, tmp_path / "models")
    assert list((tmp_path / "models").iterdir()) == []


def test_a_verified_extraction_is_reused_as_is(tmp_path, caplog):
    source = model(tmp_path / "model.tar.gz")
    first = extract_archive(source, tmp_path / "models")
    inode = os.stat(first / "code" / "inference.py").st_ino
    (first / "code" / "__pycache__").mkdir()  # what importing the handler leaves
    (first / "code" / "__pycache__" / "inference.cpython-311.pyc").write_bytes(b"cache")
    with caplog.at_level(logging.WARNING, logger="inference.artefact"):
        assert extract_archive(source, tmp_path / "models") == first == extraction_dir(source, tmp_path / "models")
    assert os.stat(first / "code" / "inference.py").st_ino == inode and not caplog.text
    assert not (first / "code" / "__pycache__").exists()  # caches are rebuilt from the verified sources


@pytest.mark.parametrize(
    "tamper, problem",
    [
        (lambda d: (d / "code" / "inference.py").write_bytes(HANDLER + b"import os\n"), "has mode 0644 and"),
        (lambda d: (d / "xgboost-model.json").write_bytes(b'{"version": 2}'), "modified after extraction"),
        (lambda d: os.chmod(d / "code" / "inference.py", 0o777), "has mode 0777"),
        (lambda d: os.chmod(d / "code", 0o777), "directory code has mode 0777"),
        (lambda d: (d / "xgboost-model.json").unlink(), "xgboost-model.json is missing"),
        (lambda d: (d / "code" / "evil.py").write_text("x"), "code/evil.py is not in the archive"),
        (lambda d: (d / MANIFEST).unlink(), f"no {MANIFEST}"),
        (lambda d: (d / MANIFEST).write_text("{"), f"unreadable {MANIFEST}"),
    ],
    ids=["edited-code", "same-size-edit", "chmod-file", "chmod-dir", "partial", "added", "no-manifest", "bad-manifest"],
)
def test_a_tampered_or_partial_extraction_is_detected_and_extracted_again(tmp_path, caplog, tamper, problem):
    source = model(tmp_path / "model.tar.gz")
    target = extract_archive(source, tmp_path / "models")
    tamper(target)
    with caplog.at_level(logging.WARNING, logger="inference.artefact"):
        assert extract_archive(source, tmp_path / "models") == target
    assert f"Extraction {target} of {source} is not intact (" in caplog.text and problem in caplog.text
    assert (target / "code" / "inference.py").read_bytes() == HANDLER
    assert (target / "xgboost-model.json").read_bytes() == b'{"version": 1}'
    assert not (target / "code" / "evil.py").exists() and mode(target / "code" / "inference.py") == 0o644
    assert [p.name for p in (tmp_path / "models").iterdir()] == [target.name]  # no staging or stale copy left
    assert verify_extraction(target, target.name + "0" * 48) is not None  # a manifest binds to one archive


def test_pruning_keeps_the_live_and_the_next_version_only(tmp_path):
    models = tmp_path / "models"
    live, nxt, old, gone = (model(tmp_path / name / "model.tar.gz", name.encode()) for name in ("1", "2", "3", "4"))
    dirs = {path: extract_archive(path, models) for path in (live, nxt, old, gone)}
    staging_old = models / f".{'a' * 16}.{'b' * 8}.tmp"
    staging_new = models / f".{'c' * 16}.{'d' * 8}.stale"
    for leftover in (staging_old, staging_new):
        leftover.mkdir()
    os.utime(staging_old, (time.time() - STALE_SECONDS - 10,) * 2)
    (models / "notes.txt").write_text("not an extraction: left alone")
    live.unlink()  # the live version's archive left the object store: its extraction is kept by its manifest
    removed = prune_extractions(models, [live, nxt])
    assert sorted(removed) == sorted([dirs[old], dirs[gone], staging_old])
    assert sorted(p.name for p in models.iterdir()) == sorted(
        [dirs[live].name, dirs[nxt].name, staging_new.name, "notes.txt"]
    )
    assert prune_extractions(models, [live, nxt]) == []
    assert prune_extractions(tmp_path / "missing", [nxt]) == []
