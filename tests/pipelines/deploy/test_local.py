"""Local deploy: which version, idempotence, no silent rollback, deploy on approval, and a running server switching
versions under load without failing a request."""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import socket
import subprocess
import sys
import tarfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from inference.artefact import extraction_dir
from inference.endpoint_state import (
    advertise_server,
    models_dir,
    read_state,
    running_servers,
    servers_dir,
    state_path,
    write_state,
)
from inference.server import BackgroundServer, ServeOptions
from pipelines.build import config_from_kwargs, local_config
from pipelines.cli import main
from pipelines.commands import deploy as deploy_command
from pipelines.deploy.local import DeployError, deploy_local, deploy_on_approval, parse_package_arn
from pipelines.objectstore import local_path, locator
from pipelines.registry.sqlite import SQLiteRegistry
from tests.conftest import ROOT
from tests.inference.test_server_model import (
    ROW,
    abalone_rows,
    approve,
    archive_of,
    registration_request,
    state_copy,
)


@pytest.fixture(scope="module")
def config():
    return local_config(config_from_kwargs({}, str(ROOT / "mlops.yaml")))


@pytest.fixture()
def state(tmp_path) -> Path:
    return state_copy(tmp_path / "state")


def registry(state: Path) -> SQLiteRegistry:
    return SQLiteRegistry(state / "registry.db")


def test_nothing_approved_is_refused_with_what_to_do(state, config):
    with pytest.raises(DeployError, match=r"No Approved version in model package group 'abalone': approve one first"):
        deploy_local(config, state, registry(state))
    assert read_state(state, config.endpoint_name) is None


def test_deploys_the_newest_approved_version_and_is_idempotent(state, config):
    approve(state, 1)
    first = deploy_local(config, state, registry(state))
    assert (first.action, first.version, first.previous) == ("deployed", "abalone/1", None)
    live = read_state(state, config.endpoint_name)
    assert (live.group, live.version, live.variant) == ("abalone", 1, "AllTraffic")
    assert live.capture.destination == "s3://mlops-local/abalone-pipeline/datacapture"
    written = state_path(state, config.endpoint_name).read_text()
    again = deploy_local(config, state, registry(state))
    assert again.action == "unchanged" and "already live" in again.message
    assert state_path(state, config.endpoint_name).read_text() == written  # nothing rewritten
    approve(state, 2)
    second = deploy_local(config, state, registry(state))
    assert (second.action, second.version, second.previous) == ("deployed", "abalone/2", "abalone/1")


def test_an_older_version_needs_force(state, config):
    approve(state, 1)
    approve(state, 2)
    deploy_local(config, state, registry(state))
    with pytest.raises(DeployError, match=r"serves abalone/2, newer than abalone/1: not replacing .* --force"):
        deploy_local(config, state, registry(state), version=1)
    assert read_state(state, config.endpoint_name).version == 2
    rolled = deploy_local(config, state, registry(state), version=1, force=True)
    assert rolled.action == "deployed" and read_state(state, config.endpoint_name).version == 1


def test_a_version_not_approved_needs_force(state, config):
    with pytest.raises(DeployError, match=r"abalone/2 is PendingManualApproval, not Approved"):
        deploy_local(config, state, registry(state), version=2)
    assert deploy_local(config, state, registry(state), version=2, force=True).action == "deployed"


def test_by_model_package_arn(state, config):
    approve(state, 2)
    arn = registry(state).get("abalone", 2).arn
    assert parse_package_arn(arn) == ("abalone", 2)
    result = deploy_local(config, state, registry(state), arn=arn)
    assert result.version == "abalone/2"
    with pytest.raises(DeployError, match="--model-package-arn must look like"):
        deploy_local(config, state, registry(state), arn="arn:aws:sagemaker:us-east-1:1:model/abalone")


def test_a_missing_model_archive_is_refused_naming_the_file(state, config):
    approve(state, 1)
    archive = state / "s3" / registry(state).get("abalone", 1).model_data_url.removeprefix("s3://")
    archive.unlink()
    with pytest.raises(DeployError, match=r"abalone/1: model data s3://.*model.tar.gz not found at"):
        deploy_local(config, state, registry(state))


def test_deploy_on_approval_says_what_it_did(state, config):
    off = replace(config, serving=replace(config.serving, deploy_on_approval=False))
    approve(state, 1)
    skipped = deploy_on_approval(off, state, "abalone", 1)
    assert skipped.action == "skipped" and "serving.deploy_on_approval is false" in skipped.message
    assert read_state(state, config.endpoint_name) is None
    done = deploy_on_approval(config, state, "abalone", 1)
    assert done.action == "deployed" and "Deployed abalone/1 to local endpoint 'abalone-endpoint'" in done.message
    approve(state, 2)
    assert deploy_on_approval(config, state, "abalone", 2).action == "deployed"
    approve(state, 1)  # approving an older version again does not roll the endpoint back
    kept = deploy_on_approval(config, state, "abalone", 1)
    assert kept.action == "refused" and "serves abalone/2, newer than abalone/1" in kept.message
    assert read_state(state, config.endpoint_name).version == 2


def test_mlops_models_approve_deploys_through_the_cli(state, capsys):
    from pipelines.cli import main

    common = ["--config", str(ROOT / "mlops.yaml"), "--state-dir", str(state)]
    assert main(["models", "approve", "abalone/1", "--note", "good", *common]) == 0
    out = capsys.readouterr().out
    assert "abalone/1 is now Approved" in out and "Deployed abalone/1 to local endpoint 'abalone-endpoint'" in out
    live = read_state(state, "abalone-endpoint")
    assert live.version == 1 and live.capture.destination == "s3://mlops-local/abalone-pipeline/datacapture"
    assert main(["deploy", *common]) == 0
    assert "already live" in capsys.readouterr().out


def test_the_command_prints_the_outcome_and_fails_with_exit_2(state, capsys):
    approve(state, 1)
    args = ["--config", str(ROOT / "mlops.yaml"), "--state-dir", str(state)]
    assert deploy_command.main(args) == 0
    assert "Deployed abalone/1" in capsys.readouterr().out
    assert deploy_command.main(args) == 0
    assert "already live" in capsys.readouterr().out
    assert deploy_command.main([*args, "--version", "2"]) == 2
    assert "abalone/2 is PendingManualApproval" in capsys.readouterr().err


# -- a running server switches ---------------------------------------------------------------------------
def _load(port: int, body: bytes, stop: threading.Event, results: list) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        while not stop.is_set():
            try:
                connection.request("POST", "/invocations", body=body, headers={"Content-Type": "text/csv"})
                response = connection.getresponse()
                results.append((response.status, response.read()))
            except (OSError, http.client.HTTPException) as exc:
                results.append((0, repr(exc).encode()))
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    finally:
        connection.close()


def test_a_running_server_switches_under_load_without_a_failed_request(state, config):
    approve(state, 1)
    approve(state, 2)
    deploy_local(config, state, registry(state), version=1)
    batch = ("\n".join(",".join(r) for r in abalone_rows()[:2000])).encode()  # large: runs in a worker thread
    options = ServeOptions(state, config.endpoint_name, locate=locator(state), port=0, poll_seconds=0.05)
    with BackgroundServer(options) as server:
        stop = threading.Event()
        results: list[list] = [[] for _ in range(4)]
        bodies = [ROW, ROW, ROW, batch]
        threads = [
            threading.Thread(target=_load, args=(server.port, body, stop, out))
            for body, out in zip(bodies, results, strict=True)
        ]
        for thread in threads:
            thread.start()
        time.sleep(0.5)
        assert deploy_local(config, state, registry(state)).version == "abalone/2"
        deadline = time.monotonic() + 20
        while server.endpoint.active.state.version != 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        stop.set()
        for thread in threads:
            thread.join(30)
        status, body, _ = ping(server.port)
    failed = [(s, b[:200]) for out in results for s, b in out if s != 200]
    assert not failed, failed
    singles = [b for out in results[:3] for _, b in out]
    assert len(set(singles)) == 2  # both versions answered: before and after the switch
    assert status == 200 and server.endpoint.switches == 2 and json.loads(body)["model"] == "abalone/2"
    assert len(results[3]) >= 2 and all(len(b.split()) == 2000 for _, b in results[3])


def ping(port: int):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", "/ping")
    response = connection.getresponse()
    return response.status, response.read(), response.getheaders()


def test_a_version_that_fails_to_load_leaves_the_old_one_serving(state, config, caplog):
    approve(state, 1)
    deploy_local(config, state, registry(state))
    options = ServeOptions(state, config.endpoint_name, locate=locator(state), port=0, poll_seconds=0.05)
    with BackgroundServer(options) as server:
        live = read_state(state, config.endpoint_name)
        broken = state / "s3" / "mlops-local" / "broken" / "model.tar.gz"
        broken.parent.mkdir(parents=True)
        broken.write_bytes(b"not a tarball")
        write_state(state, replace(live, version=9, model_data_url="s3://mlops-local/broken/model.tar.gz"))
        deadline = time.monotonic() + 10
        while "Could not load abalone/9" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "Could not load abalone/9" in caplog.text and "still serving abalone/1" in caplog.text
        status, body, _ = ping(server.port)
        assert status == 200 and json.loads(body)["model"] == "abalone/1"


# -- a version that cannot be loaded is not deployed -----------------------------------------------------
IMPORT_FAILS = 'raise RuntimeError("broken at import")\n'
MODEL_FN_FAILS = 'def model_fn(model_dir):\n    raise ValueError("no booster here")\n'
SERVER_ONLY_FAILS = """
_model_fn = model_fn


def model_fn(model_dir):
    import threading

    if threading.current_thread().name.startswith("loader"):  # the server's loader thread, not the trial load
        raise RuntimeError("fails in the server only")
    return _model_fn(model_dir)
"""
HANGS = "def model_fn(model_dir):\n    import time\n\n    time.sleep(600)\n"


def register_broken(state: Path, appended: str) -> int:
    """Register and approve a copy of abalone/1 whose code/inference.py ends with ``appended``; its version."""
    reg = registry(state)
    first = reg.get("abalone", 1)
    url = f"s3://mlops-local/serving-tests/broken-{hashlib.sha256(appended.encode()).hexdigest()[:8]}/model.tar.gz"
    target = local_path(url, state)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive_of(state, 1)) as source, tarfile.open(target, "w:gz") as out:
        for member in source.getmembers():
            data = source.extractfile(member).read() if member.isfile() else b""
            if member.name == "code/inference.py":
                data += b"\n" + appended.encode()
                member.size = len(data)
            out.addfile(member, io.BytesIO(data) if member.isfile() else None)
    version = reg.register(registration_request(first, url), source="tests").version
    approve(state, version)
    return version


def invoke(port: int) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("POST", "/invocations", body=ROW, headers={"Content-Type": "text/csv"})
    response = connection.getresponse()
    return response.status, response.read()


def extractions(state: Path, endpoint: str) -> list[str]:
    return sorted(p.name for p in models_dir(state, endpoint).iterdir() if not p.name.startswith("."))


def test_mlops_deploy_of_a_version_whose_handler_fails_at_import_fails_and_keeps_the_live_one(state, config, capsys):
    approve(state, 1)
    deploy_local(config, state, registry(state))
    before = state_path(state, config.endpoint_name).read_bytes()
    broken = register_broken(state, IMPORT_FAILS)
    options = ServeOptions(state, config.endpoint_name, locate=locator(state), port=0, poll_seconds=0.05)
    with BackgroundServer(options) as server:
        answer = invoke(server.port)
        args = ["--config", str(ROOT / "mlops.yaml"), "--state-dir", str(state)]
        assert deploy_command.main(args) == 2
        out, err = capsys.readouterr()
        assert "Deployed" not in out
        assert f"abalone/{broken} cannot be loaded by the local endpoint's model loader: Importing " in err
        assert "inference.py failed: RuntimeError: broken at import" in err
        assert "endpoint 'abalone-endpoint' keeps serving abalone/1 and its deploy state is unchanged" in err
        assert state_path(state, config.endpoint_name).read_bytes() == before
        status, body, _ = ping(server.port)
        assert status == 200 and json.loads(body)["model"] == "abalone/1" and server.endpoint.switches == 1
        assert invoke(server.port) == answer
    assert extractions(state, config.endpoint_name) == [extraction_dir(archive_of(state, 1), Path("x")).name]


def test_deploy_on_approval_of_a_version_whose_model_fn_fails_is_refused_and_a_restart_serves_the_live_one(
    state, config
):
    approve(state, 1)
    deploy_on_approval(config, state, "abalone", 1)
    before = state_path(state, config.endpoint_name).read_bytes()
    broken = register_broken(state, MODEL_FN_FAILS)
    result = deploy_on_approval(config, state, "abalone", broken)
    assert result.action == "refused" and result.previous == "abalone/1"
    assert result.message.startswith(f"Not deployed: abalone/{broken} cannot be loaded by the local endpoint's")
    assert "failed: ValueError: no booster here" in result.message and "model_fn(" in result.message
    assert state_path(state, config.endpoint_name).read_bytes() == before
    with BackgroundServer(
        ServeOptions(state, config.endpoint_name, locate=locator(state), port=0)
    ) as server:  # a restart
        status, body, _ = ping(server.port)
        assert status == 200 and json.loads(body)["model"] == "abalone/1"
        assert invoke(server.port)[0] == 200


def test_a_version_the_running_server_cannot_load_is_rolled_back_in_the_state(state, config, caplog):
    approve(state, 1)
    deploy_local(config, state, registry(state))
    before = state_path(state, config.endpoint_name).read_bytes()
    broken = register_broken(state, SERVER_ONLY_FAILS)
    options = ServeOptions(state, config.endpoint_name, locate=locator(state), port=0, poll_seconds=0.05)
    with BackgroundServer(options) as server:
        url = f"http://127.0.0.1:{server.port}"
        with pytest.raises(DeployError) as caught:
            deploy_local(config, state, registry(state), switch_timeout=3)
        message = str(caught.value)
        assert message.startswith(f"abalone/{broken} was not deployed: the running server {url} (pid ")
        assert f"still reports abalone/1 3 s after the deploy state named abalone/{broken}" in message
        assert "The deploy state is restored, so endpoint 'abalone-endpoint' keeps serving abalone/1" in message
        assert state_path(state, config.endpoint_name).read_bytes() == before
        assert "fails in the server only" in caplog.text  # the server's log says why
        status, body, _ = ping(server.port)
        assert status == 200 and json.loads(body)["model"] == "abalone/1"
        approve(state, 2)
        done = deploy_local(config, state, registry(state), version=2)  # a good one deploys, waited for
        assert done.action == "deployed" and f"now served by {url}" in done.message
        assert json.loads(ping(server.port)[1])["model"] == "abalone/2"
    assert not running_servers(state, config.endpoint_name)  # a stopped server withdraws its advert
    old = [extraction_dir(archive_of(state, v), Path("x")).name for v in (1, 2)]
    assert extractions(state, config.endpoint_name) == sorted(old)  # the live and the previous version only


def test_a_model_fn_that_hangs_is_stopped_after_the_load_timeout(state, config):
    approve(state, 1)
    deploy_local(config, state, registry(state))
    before = state_path(state, config.endpoint_name).read_bytes()
    broken = register_broken(state, HANGS)
    started = time.monotonic()
    with pytest.raises(DeployError, match=rf"abalone/{broken} cannot be .*: loading abalone/{broken} did not finish"):
        deploy_local(config, state, registry(state), load_timeout=3)
    assert time.monotonic() - started < 30
    assert state_path(state, config.endpoint_name).read_bytes() == before


def test_adverts_of_servers_that_are_gone_are_ignored(state, config, tmp_path):
    approve(state, 1)
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = servers_dir(state, config.endpoint_name) / f"{done.stdout.strip()}-9.json"
    dead.parent.mkdir(parents=True)
    dead.write_text(json.dumps({"pid": int(done.stdout), "host": "127.0.0.1", "port": 9}))
    with socket.socket() as unused:  # a live process (this one) that does not listen on the port it advertised
        unused.bind(("127.0.0.1", 0))
        advert = advertise_server(state, config.endpoint_name, "0.0.0.0", unused.getsockname()[1])
    assert [s.connect_host for s in running_servers(state, config.endpoint_name)] == ["127.0.0.1"]
    assert not dead.exists()
    result = deploy_local(config, state, registry(state), switch_timeout=1)
    assert result.action == "deployed" and "no server is running" in result.message
    assert not advert.exists()


def test_the_extraction_caps_come_from_configuration(state, config):
    from pipelines.config_sections import parse_serving
    from pipelines.config_values import ConfigError

    parsed = parse_serving({"serving": {"max_model_mib": 5, "max_model_files": 7}}, "mlops.yaml: ")
    assert (parsed.max_model_mib, parsed.max_model_files) == (5, 7)
    assert (config.serving.max_model_mib, config.serving.max_model_files) == (2048, 10_000)
    with pytest.raises(ConfigError, match=r"serving\.max_model_mib"):
        parse_serving({"serving": {"max_model_mib": 0}}, "mlops.yaml: ")
    approve(state, 1)
    few = replace(config, serving=replace(config.serving, max_model_files=3))
    with pytest.raises(DeployError, match=r"member number 4, over the limit of 3 members \(serving\.max_model_files\)"):
        deploy_local(few, state, registry(state))
    assert read_state(state, config.endpoint_name) is None


def test_a_damaged_deploy_state_is_replaced_by_a_forced_deploy_and_kept_aside(state, config):
    approve(state, 1)
    deploy_local(config, state, registry(state))
    path = state_path(state, config.endpoint_name)
    path.write_text('{"endpoint": "abalone-endpoint", "gro')  # cut short
    with pytest.raises(DeployError, match=r"abalone-endpoint.json: not valid JSON .* deploy with --force"):
        deploy_local(config, state, registry(state))
    refused = deploy_on_approval(config, state, "abalone", 1)
    assert refused.action == "refused" and "not valid JSON" in refused.message
    forced = deploy_local(config, state, registry(state), force=True)  # what the error message says to run
    assert forced.action == "deployed" and "damaged deploy state it replaced is kept as" in forced.message
    assert read_state(state, config.endpoint_name).version == 1
    (kept,) = path.parent.glob("abalone-endpoint.json.damaged-*")
    assert kept.read_text() == '{"endpoint": "abalone-endpoint", "gro'


def test_a_deploy_to_a_state_directory_that_does_not_exist_creates_nothing(tmp_path, capsys):
    missing = tmp_path / "typo"
    assert main(["deploy", "--state-dir", str(missing), "--config", str(ROOT / "mlops.yaml")]) == 2
    assert f"--state-dir {missing}: no such directory" in capsys.readouterr().err
    assert not missing.exists()
