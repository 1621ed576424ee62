"""Step caching as CacheConfig asks: a step whose type, name and arguments (with parameters and upstream
properties resolved, execution variables left symbolic) match an earlier successful run within
``ExpireAfter`` reuses that run's outputs."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

from pipelines.atomic_files import replace_file
from pipelines.config import ConfigError
from pipelines.local.expressions import Context, evaluate

CACHEABLE = ("Processing", "Training", "QualityCheck", "Transform", "Tuning")
_DURATION = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")


def expire_after(text: str | None) -> timedelta | None:
    """ISO-8601 duration (P30D, PT12H, P1Y) to a timedelta (years and months counted as 365 and 30 days)."""
    if not text:
        return None
    match = _DURATION.match(text)
    if not match or text in ("P", "PT"):
        raise ConfigError(f"CacheConfig ExpireAfter must be an ISO-8601 duration such as P30D, got {text!r}")
    y, mo, w, d, h, mi, s = (int(g or 0) for g in match.groups())
    return timedelta(days=365 * y + 30 * mo + 7 * w + d, hours=h, minutes=mi, seconds=s)


def cache_key(step: dict, ctx: Context) -> str:
    symbolic = Context(
        ctx.parameters, {k: f"{{Execution.{k}}}" for k in ctx.execution}, ctx.properties, ctx.read_property_file
    )
    arguments = evaluate(step.get("Arguments", {}), symbolic)
    payload = {"name": step["Name"], "type": step["Type"], "arguments": arguments}
    for key in ("PropertyFiles", "CheckType", "SkipCheck", "RegisterNewBaseline"):
        if key in step:
            payload[key] = evaluate(step[key], symbolic)
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


class StepCache:
    """``<state>/cache/<pipeline>/<key>.json``: the properties of the run that produced the outputs."""

    def __init__(self, state_dir: Path, pipeline: str) -> None:
        self.directory = Path(state_dir) / "cache" / pipeline

    def lookup(self, key: str, max_age: timedelta | None) -> dict | None:
        path = self.directory / f"{key}.json"
        if not path.is_file():
            return None
        entry = json.loads(path.read_text(encoding="utf-8"))
        if max_age is not None:
            created = datetime.fromisoformat(entry["created"])
            if datetime.now(timezone.utc) - created > max_age:
                return None
        return entry

    def store(self, key: str, execution_id: str, properties: dict) -> None:
        entry = {
            "execution_id": execution_id,
            "created": datetime.now(timezone.utc).isoformat(),
            "properties": properties,
        }
        replace_file(self.directory / f"{key}.json", json.dumps(entry, indent=2))
