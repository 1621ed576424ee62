"""Rewrite the golden definitions after a reviewed change: ``python -m tests.pipelines.regenerate_golden``."""

from tests.conftest import ROOT
from tests.pipelines.definition_helpers import built_json, normalised

if __name__ == "__main__":
    for engine in ("processing", "model-monitor"):
        path = ROOT / "tests" / "pipelines" / "golden" / f"definition-{engine}.json"
        path.write_text(normalised(built_json(engine)))
        print(f"wrote {path}")
