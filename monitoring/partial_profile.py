"""One host's profile of its shard, in a form another process can merge (``monitoring.profile_merge``).

A partial profile holds, per column, everything the merge needs and nothing derived: type and missing counts, the
numeric count and sum, Chan / Welford moments (mean, M2), min and max, the KLL sketch's full state (buffers,
compaction counts, offsets and its error weight, ``KLLSketch.to_state``), the value frequencies (or, once the column
passed the distinct-value cap, the lower bound of its distinct count), and where the column first appeared (file
relative to the dataset root, row in that file) so the merged column order is the one-host order whichever host
read which file. It also carries the read counters, the host, the job's hosts and the profile settings.

The serialised form is JSON with sorted keys, compact separators and frequencies in key order: the same profile
always serialises to the same bytes. Floats are written with Python's shortest round-trip repr, so a value reads
back bit for bit. A host writes ``partial_profile-<host>.json``: names never collide across hosts.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from monitoring.errors import AnalyzerInputError
from monitoring.kll import KLLSketch
from monitoring.profile import ColumnProfile, DatasetProfile
from monitoring.report import ReadReport

KIND = "mlops.partial_profile"
SCHEMA = 1
PREFIX = "partial_profile-"
HOST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
_COUNTS = ("num_missing", "num_integral", "num_fractional", "num_boolean", "num_string", "count", "distinct_overflow")
Origin = tuple[str, int]  # (file path relative to the dataset root, row within that file)


class PartialProfileError(AnalyzerInputError):
    """A partial profile file that cannot be read or does not fit with the others."""


@dataclass
class PartialProfile:
    """A shard's profile with its read counters and the job's topology."""

    host: str
    hosts: tuple[str, ...]
    profile: DatasetProfile
    report: ReadReport = field(default_factory=ReadReport)
    origins: dict[str, Origin] = field(default_factory=dict)

    @property
    def settings(self) -> dict:
        sketch_size, shrinking_factor, max_distinct = self.profile.options
        return {"sketch_size": sketch_size, "shrinking_factor": shrinking_factor, "max_distinct": max_distinct}

    def to_json(self) -> dict:
        """The JSON document (see ``dumps`` for its deterministic text)."""
        return {
            "kind": KIND,
            "schema": SCHEMA,
            "host": self.host,
            "hosts": list(self.hosts),
            "settings": self.settings,
            "item_count": self.profile.item_count,
            "read": _report_to_json(self.report),
            "columns": [_column_to_json(col, self.origins.get(name)) for name, col in self.profile.columns.items()],
        }

    def dumps(self) -> str:
        """Deterministic text: sorted keys, compact separators."""
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"), allow_nan=False)


def file_name(host: str) -> str:
    """The per-host file name of a partial profile."""
    if not HOST_NAME.match(host):
        raise PartialProfileError(f"host name {host!r} cannot name a file: expected letters, digits, '.', '_', '-'")
    return f"{PREFIX}{host}.json"


def write_partial(partial: PartialProfile, output: Path) -> Path:
    """Write ``partial_profile-<host>.json`` into ``output`` atomically."""
    path = Path(output) / file_name(partial.host)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(partial.dumps() + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def _report_to_json(report: ReadReport) -> dict:
    return {
        "files": report.files,
        "records": report.records,
        "rows": report.rows,
        "outside_window": report.outside_window,
        "skipped": dict(sorted(report.skipped.items())),
        "examples": dict(sorted(report.examples.items())),
    }


def _report_from_json(doc: dict) -> ReadReport:
    return ReadReport(
        files=_int(doc, "files"),
        records=_int(doc, "records"),
        rows=_int(doc, "rows"),
        outside_window=_int(doc, "outside_window"),
        skipped=Counter({str(k): int(v) for k, v in doc["skipped"].items()}),
        examples={str(k): str(v) for k, v in doc["examples"].items()},
    )


def _column_to_json(col: ColumnProfile, origin: Origin | None) -> dict:
    doc: dict = {name: getattr(col, name) for name in _COUNTS}
    numeric = col.count > 0
    doc.update(
        name=col.name,
        sum=col.sum if numeric else None,
        mean=col.moment_mean if numeric else None,
        m2=col.m2 if numeric else None,
        min=col.min if numeric else None,
        max=col.max if numeric else None,
        sketch=col.sketch.to_state(),
        frequencies=dict(sorted(col.frequencies.items())) if col.frequencies is not None else None,
        origin=list(origin) if origin is not None else None,
    )
    return doc


def _int(doc: dict, key: str) -> int:
    value = doc[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{key} must be a non-negative integer, got {value!r}")
    return value


def _float(doc: dict, key: str) -> float:
    value = doc[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{key} must be a finite number, got {value!r}")
    return float(value)


def _column_from_json(doc: dict, settings: dict) -> tuple[ColumnProfile, Origin | None]:
    col = ColumnProfile(
        str(doc["name"]), settings["sketch_size"], settings["shrinking_factor"], settings["max_distinct"]
    )
    for name in _COUNTS:
        setattr(col, name, _int(doc, name))
    if col.count:
        col.sum, col.moment_mean, col.m2 = _float(doc, "sum"), _float(doc, "mean"), _float(doc, "m2")
        col.min, col.max = _float(doc, "min"), _float(doc, "max")
    col.sketch = KLLSketch.from_state(doc["sketch"], f"column {col.name!r} sketch")
    if col.sketch.count != col.count:
        raise ValueError(f"column {col.name!r}: its sketch holds {col.sketch.count} values, count says {col.count}")
    freq = doc["frequencies"]
    col.frequencies = None if freq is None else {str(k): int(v) for k, v in freq.items()}
    origin = doc.get("origin")
    return col, (str(origin[0]), int(origin[1])) if origin is not None else None


def _check_counts(profile: DatasetProfile) -> None:
    """ValueError when a column's counts do not fit the profile (every row is missing or of one type in every column;
    min <= max): a damaged partial would otherwise merge into wrong statistics."""
    for col in profile.columns.values():
        rows = col.num_missing + col.num_integral + col.num_fractional + col.num_boolean + col.num_string
        if rows != profile.item_count:
            raise ValueError(f"column {col.name!r} counts {rows} rows, item_count says {profile.item_count}")
        if col.count and col.min > col.max:
            raise ValueError(f"column {col.name!r}: min {col.min!r} is above max {col.max!r}")


def partial_from_json(doc: dict, source: str) -> PartialProfile:
    """Parse a partial profile document; errors name ``source`` and what is wrong."""
    if not isinstance(doc, dict) or doc.get("kind") != KIND:
        raise PartialProfileError(f'{source}: not a partial profile (expected "kind": "{KIND}")')
    if doc.get("schema") != SCHEMA:
        raise PartialProfileError(
            f"{source}: partial profile schema {doc.get('schema')!r}, this analyzer reads {SCHEMA}"
        )
    try:
        settings = doc["settings"]
        profile = DatasetProfile(settings["sketch_size"], settings["shrinking_factor"], settings["max_distinct"])
        profile.item_count = _int(doc, "item_count")
        origins: dict[str, Origin] = {}
        for raw in doc["columns"]:
            col, origin = _column_from_json(raw, settings)
            if col.name in profile.columns:
                raise ValueError(f"column {col.name!r} appears twice")
            profile.columns[col.name] = col
            if origin is not None:
                origins[col.name] = origin
        _check_counts(profile)
        hosts = tuple(str(h) for h in doc["hosts"])
        host = str(doc["host"])
        if host not in hosts:
            raise ValueError(f"host {host!r} is not one of the job's hosts {list(hosts)}")
        return PartialProfile(host, hosts, profile, _report_from_json(doc["read"]), origins)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise PartialProfileError(f"{source}: invalid partial profile: {type(exc).__name__}: {exc}") from exc


def read_partial(path: Path) -> PartialProfile:
    """Load one partial profile file."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PartialProfileError(f"{path}: cannot read the partial profile: {exc}") from exc
    return partial_from_json(doc, str(path))


def read_partials(directory: Path) -> list[PartialProfile]:
    """Every ``partial_profile-*.json`` under ``directory`` (recursively), checked to be one complete job: the same
    hosts and settings in each, and each host exactly once. Returned in the job's host order."""
    directory = Path(directory)
    if not directory.is_dir():
        raise PartialProfileError(f"Partial profiles directory not found: {directory}")
    paths = sorted(p for p in directory.rglob(f"{PREFIX}*.json") if p.is_file())
    if not paths:
        raise PartialProfileError(f"No {PREFIX}<host>.json files under {directory}")
    return one_job([read_partial(p) for p in paths], paths, directory, PartialProfileError, "partial profile")


def one_job(partials: list, paths: list[Path], directory: Path, error: type[Exception], noun: str) -> list:
    """``partials`` (read from ``paths``; each with ``host``, ``hosts`` and ``settings``) checked to be one complete
    job: the same hosts and settings in each, each host exactly once; returned in the job's host order. A breach
    raises ``error`` naming the file, or the directory and the missing hosts (``noun`` names the kind of file)."""
    first, first_path = partials[0], paths[0]
    seen: dict[str, Path] = {}
    for partial, path in zip(partials, paths, strict=True):
        if partial.hosts != first.hosts or partial.settings != first.settings:
            raise error(
                f"{path}: written by a different job than {first_path} (hosts {list(partial.hosts)}, settings "
                f"{partial.settings}; expected hosts {list(first.hosts)}, settings {first.settings})"
            )
        if partial.host in seen:
            raise error(f"{path}: host {partial.host} already has a {noun} in {seen[partial.host]}")
        seen[partial.host] = path
    missing = [h for h in first.hosts if h not in seen]
    if missing:
        raise error(f"{directory}: no {noun} from host(s) {', '.join(missing)} of {list(first.hosts)}")
    return sorted(partials, key=lambda p: first.hosts.index(p.host))
