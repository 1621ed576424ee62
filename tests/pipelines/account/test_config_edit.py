"""Writing bootstrap's values into mlops.yaml: only the three values change, comments and layout survive, the file is
replaced whole or not at all, and an unwritable file gets the lines to add instead."""

from __future__ import annotations

import os

import pytest
import yaml

from pipelines.account import config_edit
from pipelines.account.config_edit import edited_text, write_sagemaker_values
from pipelines.build import config_from_kwargs
from pipelines.errors import InputError

VALUES = {
    "role_arn": "arn:aws:iam::123456789012:role/abalone-execution",
    "bucket": "abalone-artifacts-123456789012",
    "kms_key_id": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
}


def test_only_the_three_values_change_and_their_comments_stay(config_file):
    before = config_file.read_text(encoding="utf-8").splitlines()
    update = write_sagemaker_values(config_file, VALUES)
    after = config_file.read_text(encoding="utf-8").splitlines()
    assert update.written
    changed = [(old, new) for old, new in zip(before, after, strict=True) if old != new]
    assert len(before) == len(after) and len(changed) == 3
    assert changed[0][1] == f"  role_arn: {VALUES['role_arn']}  # required for the cloud: --role-arn or here"
    assert changed[2][1].endswith("# KMS key for job volumes, outputs and data capture")
    config = config_from_kwargs({}, str(config_file))
    assert (config.sagemaker.role_arn, config.sagemaker.bucket, config.sagemaker.kms_key_id) == tuple(VALUES.values())


def test_a_short_value_keeps_the_comment_column():
    text = "sagemaker:\n  bucket: null                 # the bucket\n"
    assert edited_text(text, {"bucket": "b1"}) == "sagemaker:\n  bucket: b1                   # the bucket\n"


def test_missing_keys_are_added_under_the_section_and_a_missing_section_at_the_end():
    text = "project:\n  name: abalone\nsagemaker:\n    bucket: old   # kept comment\n"
    edited = edited_text(text, VALUES)
    assert yaml.safe_load(edited) == {"project": {"name": "abalone"}, "sagemaker": VALUES}
    assert "    bucket: abalone-artifacts-123456789012  # kept comment" in edited  # its 4-space indentation
    assert yaml.safe_load(edited_text("project:\n  name: a\n", VALUES))["sagemaker"] == VALUES


def test_a_value_yaml_would_read_differently_is_quoted():
    edited = edited_text("sagemaker:\n  bucket: null\n", {"bucket": "123", "role_arn": "yes: no"})
    assert yaml.safe_load(edited)["sagemaker"] == {"bucket": "123", "role_arn": "yes: no"}


def test_an_unwritable_file_is_left_alone_and_the_lines_to_add_are_returned(config_file, monkeypatch):
    original = config_file.read_bytes()
    # the tests run as root, for whom every file is writable: the permission check is what is faked
    monkeypatch.setattr(config_edit.os, "access", lambda path, mode: False)
    update = write_sagemaker_values(config_file, VALUES)
    assert not update.written and "not writable" in update.reason
    assert update.lines[1] == "  bucket: abalone-artifacts-123456789012"
    assert config_file.read_bytes() == original


def test_a_failed_write_leaves_the_file_as_it_was_and_no_temporary_file(config_file, monkeypatch):
    original = config_file.read_bytes()

    def full_disk(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(config_edit.os, "replace", full_disk)
    with pytest.raises(InputError, match=r"could not be written.*No space left.*left as it was"):
        write_sagemaker_values(config_file, VALUES)
    assert config_file.read_bytes() == original
    assert os.listdir(config_file.parent) == ["mlops.yaml"]


def test_a_file_that_is_not_yaml_is_refused_and_kept(tmp_path):
    path = tmp_path / "mlops.yaml"
    path.write_text("sagemaker: [unclosed\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"mlops\.yaml: not valid YAML"):
        write_sagemaker_values(path, VALUES)
    assert path.read_text(encoding="utf-8") == "sagemaker: [unclosed\n"


def test_a_layout_the_line_edit_cannot_handle_is_refused_without_writing(tmp_path):
    path = tmp_path / "mlops.yaml"
    text = "sagemaker: {bucket: old}\n"  # flow style: no line of its own to edit
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match="by hand"):
        write_sagemaker_values(path, VALUES)
    assert path.read_text(encoding="utf-8") == text


def test_the_file_keeps_its_permissions(config_file):
    config_file.chmod(0o640)
    write_sagemaker_values(config_file, VALUES)
    assert config_file.stat().st_mode & 0o777 == 0o640
