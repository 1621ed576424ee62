"""The local model registry: SQLite under the state directory, safe for concurrent registrations.

A registry file SQLite cannot use (not a database, damaged, locked past the timeout, unreadable) is a RegistryError
naming it, as is a version number outside 1 .. MAX_VERSION (SQLite's INTEGER)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import datetime, timezone
from pathlib import Path

from pipelines.registry.model import (
    STATUSES,
    ApprovalEvent,
    ModelVersion,
    RegistryError,
    check_approval,
    version_from_request,
)

MAX_VERSION = 2**63 - 1  # SQLite's largest INTEGER

_SCHEMA = """
CREATE TABLE IF NOT EXISTS groups (name TEXT PRIMARY KEY, created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS versions (
    grp TEXT NOT NULL REFERENCES groups(name), version INTEGER NOT NULL, status TEXT NOT NULL,
    created TEXT NOT NULL, body TEXT NOT NULL, approval_note TEXT NOT NULL DEFAULT '', source TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (grp, version));
CREATE TABLE IF NOT EXISTS approvals (
    grp TEXT NOT NULL, version INTEGER NOT NULL, from_status TEXT NOT NULL, to_status TEXT NOT NULL,
    by TEXT NOT NULL, at TEXT NOT NULL, note TEXT NOT NULL DEFAULT '');
"""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


class SQLiteRegistry:
    """Model package groups and versions in one SQLite file."""

    def __init__(self, path: str | Path, region: str = "local", account: str = "000000000000") -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RegistryError(f"Cannot make the local registry's directory {self.path.parent}: {exc}") from exc
        self.region, self.account = region, account
        with self._usable(), closing(self._connect()) as db:
            db.executescript(_SCHEMA)

    @contextmanager
    def _usable(self) -> Iterator[None]:
        """SQLite's errors about the file (not a database, damaged, locked, unreadable) as RegistryError naming it;
        a misuse of SQLite (ProgrammingError, IntegrityError) is a bug and propagates as it is."""
        try:
            yield
        except (sqlite3.ProgrammingError, sqlite3.IntegrityError):
            raise
        except sqlite3.DatabaseError as exc:
            hint = ""
            if type(exc) is sqlite3.DatabaseError:  # "file is not a database", "database disk image is malformed"
                hint = ": not a SQLite database, or a damaged one; restore it, or move it aside to start an empty one"
            raise RegistryError(f"The local registry {self.path} cannot be used ({exc}){hint}") from exc

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA busy_timeout=30000")
        return db

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: BEGIN IMMEDIATE (one writer at a time, so what it reads stays true until it
        commits), committed when the block ends, rolled back on any error."""
        with self._usable(), closing(self._connect()) as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def _query(self, sql: str, args: tuple | list = ()) -> list[tuple]:
        with self._usable(), closing(self._connect()) as db:
            return db.execute(sql, args).fetchall()

    def _arn(self, group: str, version: int) -> str:
        return f"arn:aws:sagemaker:{self.region}:{self.account}:model-package/{group}/{version}"

    def _row_to_version(self, row) -> ModelVersion:
        group, version, status, created, body, note, source = row
        fields = json.loads(body)
        return ModelVersion(
            group=group,
            version=version,
            status=status,
            created=created,
            arn=self._arn(group, version),
            model_data_url=fields["model_data_url"],
            image_uri=fields["image_uri"],
            environment=fields["environment"],
            content_types=tuple(fields["content_types"]),
            response_types=tuple(fields["response_types"]),
            metrics=fields["metrics"],
            drift_baselines=fields["drift_baselines"],
            approval_note=note,
            source=source,
        )

    def register(self, request: dict, source: str = "") -> ModelVersion:
        fields = version_from_request(request)
        group, status = fields.pop("group"), fields.pop("status")
        body = json.dumps(
            {
                **fields,
                "content_types": list(fields["content_types"]),
                "response_types": list(fields["response_types"]),
            },
            sort_keys=True,
        )
        created = _now()
        with self._writing() as db:  # version numbers are consecutive
            db.execute("INSERT OR IGNORE INTO groups (name, created) VALUES (?, ?)", (group, created))
            (latest,) = db.execute("SELECT COALESCE(MAX(version), 0) FROM versions WHERE grp = ?", (group,)).fetchone()
            version = latest + 1
            db.execute(
                "INSERT INTO versions (grp, version, status, created, body, source) VALUES (?, ?, ?, ?, ?, ?)",
                (group, version, status, created, body, source),
            )
        return self.get(group, version)

    def list_versions(self, group: str | None = None, status: str | None = None) -> list[ModelVersion]:
        if status is not None and status not in STATUSES:
            raise RegistryError(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
        query = "SELECT grp, version, status, created, body, approval_note, source FROM versions WHERE 1=1"
        args: list = []
        if group is not None:
            self._require_group(group)
            query += " AND grp = ?"
            args.append(group)
        if status is not None:
            query += " AND status = ?"
            args.append(status)
        return [self._row_to_version(r) for r in self._query(query + " ORDER BY grp, version DESC", args)]

    def _require_group(self, group: str) -> None:
        if not self._query("SELECT 1 FROM groups WHERE name = ?", (group,)):
            known = [r[0] for r in self._query("SELECT name FROM groups ORDER BY name")]
            raise RegistryError(
                f"Unknown model package group {group!r} in the local registry {self.path}; "
                f"groups: {', '.join(known) or 'none'} (another state directory? pass --state-dir)"
            )

    def get(self, group: str, version: int) -> ModelVersion:
        if not 1 <= version <= MAX_VERSION:  # SQLite cannot even look a larger one up (OverflowError)
            raise RegistryError(f"version {version} of {group} is out of range: versions are 1 to {MAX_VERSION}")
        self._require_group(group)
        rows = self._query(
            "SELECT grp, version, status, created, body, approval_note, source FROM versions "
            "WHERE grp = ? AND version = ?",
            (group, version),
        )
        if not rows:
            ((latest,),) = self._query("SELECT MAX(version) FROM versions WHERE grp = ?", (group,))
            raise RegistryError(f"Unknown version {group}/{version}; {group} has versions 1..{latest or 0}")
        return self._row_to_version(rows[0])

    def set_status(self, group: str, version: int, status: str, by: str, note: str = "") -> ModelVersion:
        check_approval(status, by, note)
        self.get(group, version)  # an unknown group or version is named
        with self._writing() as db:  # the status replaced is read in the transaction that replaces it
            ((previous,),) = db.execute(
                "SELECT status FROM versions WHERE grp = ? AND version = ?", (group, version)
            ).fetchall()
            db.execute(
                "UPDATE versions SET status = ?, approval_note = ? WHERE grp = ? AND version = ?",
                (status, note, group, version),
            )
            db.execute(
                "INSERT INTO approvals (grp, version, from_status, to_status, by, at, note) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (group, version, previous, status, by, _now(), note),
            )
        return self.get(group, version)

    def history(self, group: str, version: int) -> list[ApprovalEvent]:
        self.get(group, version)
        rows = self._query(
            "SELECT grp, version, from_status, to_status, by, at, note FROM approvals "
            "WHERE grp = ? AND version = ? ORDER BY rowid",
            (group, version),
        )
        return [ApprovalEvent(*row) for row in rows]
