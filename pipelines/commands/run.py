"""``mlops run``: the pipeline, executed locally from its real definition (``mlops executions``: the records).

What the run would fail on late is refused before anything is written: ``--parallel`` below 1, an input that is
neither a local path nor an s3:// URI, a data file of another type, a broken link among a directory's data files.
Ctrl-C or SIGTERM during the run ends it as Failed ("interrupted"), its jobs stopped, and says how to resume it
(exit 130 or 143, no traceback)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from pipelines.commands import executions, positive_int
from pipelines.commands.options import state_dir_option
from pipelines.errors import UsageError
from pipelines.invocation import command

DATA_SUFFIXES = (".csv", ".parquet", ".pq")  # pipelines.staging's: what Preprocess reads
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


def register(commands) -> None:
    run = commands.add_parser("run", help="run the pipeline locally (the embedded default: no Docker, no AWS)")
    run.add_argument("--config", default=None, help="configuration file (default mlops.yaml)")
    run.add_argument(
        "--state-dir", type=state_dir_option, default=None, help="local state directory (default from config)"
    )
    run.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="pipeline parameter override, e.g. GateThreshold=3.5 or InputDataUrl=path.csv",
    )
    run.add_argument("--engine", choices=("processing", "model-monitor"), help="baseline engine")
    run.add_argument("--resume", metavar="EXECUTION", help="re-run a failed execution from its failed steps")
    run.add_argument(
        "--parallel", type=positive_int("steps run at once"), default=2, help="steps run at once (default 2)"
    )
    run.add_argument("--quiet", action="store_true", help="no live progress")
    run.set_defaults(handler=_run)
    executions.register(commands)


def _state(args, reading: bool):
    """The configuration and the checked state directory (``reading``: it must exist)."""
    from pipelines.build import config_from_kwargs, local_config
    from pipelines.commands import state_directory

    config = local_config(config_from_kwargs({"engine": getattr(args, "engine", None)}, args.config))
    return config, state_directory(args.state_dir, config, reading)


class Printer:
    """Live progress: one line per step state change, with the time since the run started."""

    def __init__(
        self, quiet: bool = False, say: Callable[[str], None] | None = None, names: dict[str, str] | None = None
    ) -> None:
        self.started = time.monotonic()
        self.quiet = quiet
        self.names = names or {}  # staged input URI -> the path the user gave, for failure reasons
        self.say = say or (lambda line: print(line, flush=True))

    def __call__(self, step: str, status: str, info: dict) -> None:
        if self.quiet:
            return
        detail = ""
        if "cached_from" in info:
            detail = f"(cached from {info['cached_from']})"
        elif "seconds" in info:
            detail = f"({info['seconds']:.1f} s)"
        if "outcome" in info:
            detail += f" -> {'if' if info['outcome'] else 'else'} branch"
        if "reason" in info:
            detail += f" {user_names(info['reason'], self.names).splitlines()[0]}"
        if "attempt" in info:
            detail = f"attempt {info['attempt']} failed ({info['error']}); retrying in {info['delay']:.0f} s"
        self.say(f"  [{time.monotonic() - self.started:6.1f}s] {step:<22} {status:<10} {detail}".rstrip())


def user_names(text: str, names: dict[str, str]) -> str:
    """``text`` with each staged input's URI replaced by the path the user gave for it."""
    for staged, given in names.items():
        text = text.replace(staged, given)
    return text


def _input_names(config, given: str | None, staged: str | None) -> dict[str, str]:
    """Staged URI -> the user's input: ``--param InputDataUrl=PATH`` if given, else ``data.input`` (a file, or a
    directory: its staged prefix, so a file under it is named under the user's directory)."""
    from pipelines.staging import data_artifact

    if given is not None:
        return _named(staged, given) if staged and staged != given else {}
    if config.data.input.startswith("s3://") or not Path(config.data.input).exists():
        return {}
    uri = data_artifact(Path(config.data.input)).uri(config.sagemaker.bucket, config.pipeline_name)
    return _named(uri, config.data.input)


def _named(staged: str, given: str) -> dict[str, str]:
    """A staged directory's prefix (it ends in ``/``) names a file under it as ``<the user's directory>/<file>``
    whether or not the user's path ends in ``/``; the prefix alone, without its ``/``, is the directory."""
    if not staged.endswith("/"):
        return {staged: given}
    directory = given.rstrip("/") or given
    return {staged: directory.rstrip("/") + "/", staged.rstrip("/"): directory}


def check_input(value: str, where: str) -> None:
    """Refuse, before anything is staged or recorded, an input the run could not read as given (UsageError naming
    ``where`` and the value): a URI other than s3:// (only local paths and s3:// URIs are read), a file whose name does
    not end in .csv, .parquet or .pq, a broken symbolic link, or a directory holding a data file that is one (it would
    be skipped without a word)."""
    if value.startswith("s3://"):
        return
    if _SCHEME.match(value) or value.lower().startswith("file:"):
        hint = " (for a file:// URI, give its path)" if value.lower().startswith("file:") else ""
        raise UsageError(f"{where}: only a local path or an s3:// URI is supported, got {value!r}{hint}")
    path = Path(value)
    if path.is_symlink() and not path.exists():
        raise UsageError(f"{where}: {value} is a broken symbolic link (to {os.readlink(path)})")
    if path.is_file() and path.suffix.lower() not in DATA_SUFFIXES:
        raise UsageError(f"{where}: a data file's name must end in .csv, .parquet or .pq, got {value}")
    if path.is_dir():
        for entry in sorted(path.rglob("*")):
            hidden = any(part.startswith(".") for part in entry.relative_to(path).parts)
            if entry.suffix.lower() in DATA_SUFFIXES and not hidden and entry.is_symlink() and not entry.exists():
                raise UsageError(
                    f"{where}: {entry} is a broken symbolic link (to {os.readlink(entry)}): remove it, or point it "
                    "at a data file"
                )


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """While a run executes, SIGTERM interrupts it as Ctrl-C does (``KeyboardInterrupt('SIGTERM')``)."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set a handler
        yield
        return

    def interrupt(signum: int, frame) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run(args) -> int:
    from pipelines.entrypoints import parse_params
    from pipelines.local.runner import Interrupted
    from pipelines.parameters import check_params

    config, state = _state(args, reading=bool(args.resume))
    params = parse_params(args.param)
    check_params(params, config)  # before the definition (and maybe the SDK's import): a typo answers at once
    if args.resume:
        from pipelines.local.record import check_execution_id

        check_execution_id(args.resume)
        if params:
            raise UsageError("--resume re-runs with the execution's own parameters: drop --param")
    else:
        given = params.get("InputDataUrl")
        where = "--param InputDataUrl" if given is not None else f"data.input (in {config.source})"
        check_input(given if given is not None else config.data.input, where)
    printer = Printer(args.quiet)
    try:
        with _sigterm_interrupts():
            result = _execute(args, config, state, params, printer)
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM: the record (if any) is Failed and resumes
        name = "SIGTERM" if str(exc.__cause__ if isinstance(exc, Interrupted) else exc) == "SIGTERM" else "SIGINT"
        if not isinstance(exc, Interrupted):
            print(f"Interrupted ({name}) before an execution started: nothing to resume.", file=sys.stderr)
        else:
            _summary(exc.result, time.monotonic() - printer.started, printer.names, _reach(args))
            resume = command("run", "--resume", exc.result.execution_id, *_reach(args))
            print(f"Interrupted ({name}); resume with: {resume}", file=sys.stderr)
        return 128 + signal.Signals[name]
    _summary(result, time.monotonic() - printer.started, printer.names, _reach(args))
    return 0 if result.status == "Succeeded" else 1


def _execute(args, config, state: Path, params: dict[str, str], printer: Printer):
    """Start (or resume) the execution; its result."""
    from pipelines.local.definitions import local_definition, stage_input_override
    from pipelines.local.runner import LocalRunner
    from pipelines.registry.factory import open_registry

    runner = LocalRunner(state, open_registry("local", config, state), max_parallel=args.parallel, progress=printer)
    if args.resume:
        print(f"Resuming execution {args.resume}")
        return runner.resume(args.resume)
    given = params.get("InputDataUrl")
    definition, cached = local_definition(config, state)
    print(
        f"Pipeline {config.pipeline_name}: definition {'from cache' if cached else 'built'} "
        f"({time.monotonic() - printer.started:.1f} s)"
    )
    if given is not None:
        params["InputDataUrl"] = stage_input_override(given, config, state)
    printer.names = _input_names(config, given, params.get("InputDataUrl"))
    return runner.start(definition, config.pipeline_name, params)


def _reach(args) -> list[str]:
    """The options a follow-on command needs to reach this run's state: its --state-dir and --config."""
    import shlex

    words = []
    if args.state_dir is not None:
        words += ["--state-dir", shlex.quote(str(args.state_dir))]
    if args.config is not None:
        words += ["--config", shlex.quote(str(args.config))]
    return words


def _summary(result, seconds: float, names: dict[str, str] | None = None, reach: list[str] | None = None) -> None:
    print(f"Execution {result.execution_id}: {result.status} in {seconds:.1f} s")
    register = result.steps.get("Register", {})
    if register.get("status") == "Succeeded":
        props = register["properties"]
        print(
            f"Registered {props['ModelPackageGroupName']}/{props['ModelPackageVersion']} "
            f"({props['ModelApprovalStatus']}); approve with: "
            + command(
                "models",
                "approve",
                f"{props['ModelPackageGroupName']}/{props['ModelPackageVersion']}",
                "--note '...'",
                *(reach or []),
            )
        )
    if result.failure_reason:
        print(f"Failure: {user_names(result.failure_reason, names or {})}", file=sys.stderr)
    show = command("executions", "show", result.execution_id, *(reach or []))
    print(f"Record: {result.directory / 'execution.json'}  ({show})")
