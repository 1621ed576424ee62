"""monitoring/arrow_without_pandas.py: a data-quality analyzer process runs without pandas, with the same results."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas  # noqa: F401  (this process has pandas: settling must then change nothing)

from monitoring.arrow_without_pandas import settle_without_pandas
from monitoring.container_entry import run
from tests.conftest import ABALONE, ROOT

ENTRY_PROBE = (  # the container's entry run as SageMaker runs it; prints its exit code and what it imported
    "import json, runpy, sys\n"
    "sys.argv = ['container_entry']\n"
    "try:\n"
    "    runpy.run_module('monitoring.container_entry', run_name='__main__')\n"
    "except SystemExit as exc:\n"
    "    code = exc.code\n"
    "print(json.dumps({'code': code, 'arrow': 'pyarrow' in sys.modules, 'pandas': 'pandas' in sys.modules}))\n"
)


def run_python(code: str, env: dict[str, str] | None = None, cwd=None) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), **(env or {})},
        capture_output=True,
        text=True,
        cwd=cwd,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_data_quality_container_never_imports_pandas_and_writes_what_an_in_process_run_writes(tmp_path):
    env = {"SM_OPT_ML": str(tmp_path / "opt_ml"), "dataset_source": str(ABALONE), "output_path": str(tmp_path / "out")}
    report = run_python(ENTRY_PROBE, env, cwd=tmp_path)
    assert report == {"code": 0, "arrow": True, "pandas": False}
    code, _ = run({**env, "output_path": str(tmp_path / "in_process")}, tmp_path / "opt_ml_in_process")
    assert code == 0
    for name in ("statistics.json", "constraints.json"):
        assert (tmp_path / "out" / name).read_bytes() == (tmp_path / "in_process" / name).read_bytes()


def test_after_settling_pandas_can_still_be_imported_and_pyarrow_still_converts():
    probe = (
        "import json, sys\n"
        "from monitoring.arrow_without_pandas import settle_without_pandas\n"
        "settled = settle_without_pandas()\n"
        "import numpy as np, pyarrow as pa, pyarrow.compute as pc\n"
        "values = pa.array(np.array([1.5, 2.5])).to_numpy().tolist()\n"
        "text = pc.equal(pa.array(['a', 'b']), 'a').to_pylist()\n"
        "without = 'pandas' not in sys.modules\n"
        "import pandas as pd\n"
        "frame = pa.table({'x': [1, 2]}).to_pandas()\n"
        "print(json.dumps({'settled': settled, 'without': without, 'values': values, 'text': text,\n"
        "                  'frame': frame['x'].tolist(),\n"
        "                  'hidden': [type(f).__name__ for f in sys.meta_path if 'Hide' in type(f).__name__]}))\n"
    )
    report = run_python(probe)
    assert report["settled"] is True and report["without"] is True
    assert report["values"] == [1.5, 2.5] and report["text"] == [True, False] and report["frame"] == [1, 2]
    assert report["hidden"] == []  # the finder that hid pandas is gone


def test_settling_changes_nothing_where_pandas_is_already_imported():
    hooks = list(sys.meta_path)
    assert settle_without_pandas() is False
    assert sys.meta_path == hooks


def test_a_model_quality_container_keeps_pyarrow_s_pandas(tmp_path):
    """Model quality uses pandas (the subsample hashes): its entry leaves pyarrow as it is."""
    probe = (
        "import json, os, sys\n"
        "os.environ['analysis_type'] = 'model_quality'\n"
        "import monitoring.container_entry as entry\n"
        "called = []\n"
        "import monitoring.arrow_without_pandas as hide\n"
        "hide.settle_without_pandas = lambda: called.append(1) or True\n"
        "entry.run = lambda env, opt_ml, cloudwatch=None: (0, 'Completed: stub run')\n"
        "os.environ['SM_OPT_ML'] = sys.argv[1]\n"
        "code = entry.main()\n"
        "os.environ['analysis_type'] = 'DATA_QUALITY'\n"
        "entry.main()\n"
        "print(json.dumps({'code': code, 'called': len(called)}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path / "opt_ml")],
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"code": 0, "called": 1}
