"""Keep pyarrow from importing pandas in an analyzer process that never uses it.

pyarrow imports pandas the first time it converts anything (a Python scalar, a numpy array: its pandas shim looks
for pandas objects first), and it tries only once a process. The data-quality analyzer uses numpy and pyarrow
alone, so in its process that import is start-up cost and nothing else: 0.38 s of CPU and about 40 MB on this
machine, paid by every host of every job (a baseline, an hourly check, each host of a sharded job and its merge).

``settle_without_pandas`` lets pyarrow make its one attempt now, while ``pandas`` cannot be found, and then lets it
be found again: code that imports pandas itself (a record preprocessor script, say) still can. What is off in that
process is only pyarrow's own pandas conversions (``to_pandas``, reading pandas objects), which the data-quality
analyzer does not use. It is called by the container's entry point, never in a process that already has pandas or
that runs other code (the local runner calls the analyzer in its own process through ``container_entry.run``).
"""

from __future__ import annotations

import sys
from importlib.abc import MetaPathFinder


class _HidePandas(MetaPathFinder):
    """A finder that says pandas cannot be imported (for as long as it is on ``sys.meta_path``)."""

    def find_spec(self, fullname: str, path=None, target=None):
        if fullname == "pandas" or fullname.startswith("pandas."):
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


def settle_without_pandas() -> bool:
    """Have pyarrow settle, once for this process, that pandas is not there; whether it did (False when pandas
    was already imported: pyarrow then uses it, and nothing is changed)."""
    if "pandas" in sys.modules:
        return False
    import pyarrow as pa

    hide = _HidePandas()
    sys.meta_path.insert(0, hide)
    try:
        pa.array([0])  # pyarrow's first conversion: its one attempt to import pandas fails here
    finally:
        sys.meta_path.remove(hide)
    return "pandas" not in sys.modules
