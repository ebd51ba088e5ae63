"""The Ray backend on a local cluster started by these tests: a head node and a worker node on this machine.

Skipped where Ray is not installed (`pip install "inpaint-studio[cluster]"`). The cluster's worker
processes import this module (it is on their PYTHONPATH) for `_worker_hook`, which makes photos
named slow* take a while and photos named crash* kill their worker.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, gradient_photo
from PIL import Image

from inpaint_studio.batch import FAILED, WRITTEN, BatchSettings, plan_batch, run_batch
from inpaint_studio.batch.runner import _run_item
from inpaint_studio.cli import main

ray = pytest.importorskip("ray")
from inpaint_studio.batch.ray_backend import CRASHED, run_on_ray  # noqa: E402 - after the skip

pytestmark = [pytest.mark.slow, pytest.mark.ray]

RAY = shutil.which("ray", path=str(Path(sys.executable).parent)) or shutil.which("ray") or "ray"
SLOW_SECONDS = 0.4


def _worker_hook() -> None:
    """Run by every worker process of the test cluster before it takes work."""
    from inpaint_studio.batch import ray_backend

    def run_item(engine, item, settings, cancel=None):
        if item.image.name.startswith("crash"):
            os._exit(1)  # as when the system kills the worker for memory
        if item.image.name.startswith("slow"):
            time.sleep(SLOW_SECONDS)
        return _run_item(engine, item, settings, cancel)

    ray_backend._run_item = run_item


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start(*args: str, env: dict[str, str]) -> subprocess.Popen:
    # --block: the processes of the node are children of this one, and end with it.
    return subprocess.Popen([str(RAY), "start", "--block", "--disable-usage-stats", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def cluster():
    """A head node (2 CPUs) and a worker node (1 CPU) on 127.0.0.1; its address."""
    port, client_port = _free_port(), _free_port()
    temp = tempfile.mkdtemp(prefix="ray-")  # short: Ray's socket paths must fit in 107 bytes
    # RAY_AUTH_MODE: a token in ~/.ray (`ray get-auth-token --generate`) would turn on token authentication for
    # `ray start` but not for ray.init in this process; the test cluster has none, whatever the home folder holds.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_AUTH_MODE", "disabled")
        yield from _cluster_nodes(port, client_port, temp)


def _cluster_nodes(port: int, client_port: int, temp: str):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "tests"), str(REPO)])}
    head = _start("--head", f"--port={port}", f"--ray-client-server-port={client_port}", "--num-cpus=2",
                  "--node-ip-address=127.0.0.1", "--include-dashboard=false", f"--temp-dir={temp}", env=env)
    nodes = [head]
    address = f"127.0.0.1:{port}"
    try:
        _wait_for_nodes(address, 1)
        nodes.append(_start(f"--address={address}", "--num-cpus=1", "--node-ip-address=127.0.0.1", env=env))
        _wait_for_nodes(address, 2)
        yield {"address": address, "client": f"ray://127.0.0.1:{client_port}", "head": head, "worker": nodes[1],
               "temp": temp}
    finally:
        for node in reversed(nodes):
            node.terminate()  # --block: SIGTERM stops the node's processes
            try:
                node.wait(30)
            except subprocess.TimeoutExpired:
                node.kill()
                node.wait()
        shutil.rmtree(temp, ignore_errors=True)


def _wait_for_nodes(address: str, count: int, timeout: float = 60) -> None:
    code = f"import ray; ray.init(address='{address}', logging_level='ERROR'); print(sum(n['Alive'] for n in ray.nodes()))"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        if result.returncode == 0 and int(result.stdout.split()[-1]) >= count:
            return
        time.sleep(0.5)
    raise AssertionError(f"the test cluster did not start {count} node(s)")


@pytest.fixture
def connected(cluster):
    """This process connected to the test cluster, its workers running `_worker_hook`."""
    ray.init(address=cluster["address"], runtime_env={"worker_process_setup_hook": _worker_hook},
             log_to_driver=False, logging_level="ERROR")
    try:
        yield cluster
    finally:
        ray.shutdown()


def _photos(folder: Path, names: list[str]) -> Path:
    folder.mkdir(parents=True)
    for index, name in enumerate(names):
        Image.fromarray(gradient_photo(90, 120, seed=index)).save(folder / name)
    mask = np.zeros((90, 120), np.uint8)
    mask[40:50, 50:70] = 255
    Image.fromarray(mask).save(folder.parent / "mask.png")
    return folder.parent / "mask.png"


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_same_results_and_outputs_as_the_local_backend(connected, tmp_path):
    folder = tmp_path / "photos"
    _photos(folder, ["a.png", "b.jpg", "c.png", "d.jpg"])
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    masks = tmp_path / "masks"
    masks.mkdir()
    mask = np.zeros((90, 120), np.uint8)
    mask[10:30, 20:60] = 255
    for stem in ("a", "b", "corrupt"):  # c.png and d.jpg have no mask
        Image.fromarray(mask).save(masks / f"{stem}.png")
    settings = BatchSettings("telea")
    local = run_batch(plan_batch(folder, tmp_path / "local", mask_dir=masks), settings, workers=2)
    results = []
    totals = run_on_ray(plan_batch(folder, tmp_path / "ray", mask_dir=masks), settings, on_result=results.append)
    assert sorted((r.item.image.name, r.status, r.message) for r in results) == sorted(
        (r.item.image.name, r.status, r.message) for r in local.results
    )
    assert (totals.written, totals.skipped, totals.failed, totals.cancelled) == (2, 0, 3, False)
    assert _digests(tmp_path / "ray") == _digests(tmp_path / "local")  # bit for bit
    assert all(r.worker and r.worker != local.results[0].worker for r in results)  # done by the cluster's workers


def test_cli_on_a_cluster_with_a_report_then_resume(cluster, tmp_path, capsys):
    folder = tmp_path / "photos"
    mask = _photos(folder / "2024", [f"p{i}.png" for i in range(5)])
    (folder / "2024" / "broken.png").write_bytes(b"not a png")
    out, report = tmp_path / "out", tmp_path / "report.jsonl"
    command = ["batch", str(folder), "--recursive", "--mask", str(mask), "-o", str(out), "--engine", "telea",
               "--backend", "ray", "--address", cluster["address"], "--report", str(report)]
    assert main(command) == 1  # the broken photo failed
    captured = capsys.readouterr().out
    assert "5 written, 0 skipped, 1 failed" in captured and f"Report: {report}" in captured
    assert sorted(p.name for p in (out / "2024").iterdir()) == [f"p{i}.png" for i in range(5)]
    lines = report.read_text().splitlines()
    assert sorted(json.loads(line)["status"] for line in lines) == [FAILED] + [WRITTEN] * 5

    # A run killed after two photos: its report holds two whole lines and half of a third.
    written = [line for line in lines if json.loads(line)["status"] == WRITTEN]
    report.write_text(written[0] + "\n" + written[1] + "\n" + written[2][:40])
    capsys.readouterr()
    assert main(command) == 1
    captured = capsys.readouterr().out
    assert "3 written, 0 skipped, 1 failed" in captured and "Left out 2 photo(s)" in captured
    kept = {Path(json.loads(line)["image"]).name for line in written[:2]}
    again = [Path(json.loads(line)["image"]).name for line in report.read_text().splitlines()[3:]]  # after the cut line
    assert sorted(again) == sorted({f"p{i}.png" for i in range(5)} - kept | {"broken.png"})


def test_ray_client_address(cluster, tmp_path, capsys):
    mask = _photos(tmp_path / "photos", ["a.png", "b.png"])
    argv = ["batch", str(tmp_path / "photos"), "--mask", str(mask), "-o", str(tmp_path / "out"), "--engine", "telea",
            "--backend", "ray", "--address", cluster["client"]]
    assert main(argv) == 0, capsys.readouterr().err + _client_server_logs(cluster)
    assert "2 written, 0 skipped, 0 failed" in capsys.readouterr().out


def _client_server_logs(cluster) -> str:
    """The ends of the Ray Client servers' logs: why a session failed to start, for a failure's message."""
    logs = sorted(Path(cluster["temp"]).glob("session_latest/logs/ray_client_server*"))
    return "".join(f"\n--- {log.name}:\n" + log.read_text(errors="replace")[-2000:] for log in logs)


def test_a_client_session_the_server_failed_to_start_is_asked_for_again(cluster, tmp_path, capsys, monkeypatch, caplog):
    # As the Ray Client server answers when the process it started for this client died on startup (seen in CI):
    # the client connected, then its session failed. A new connection gets a new process.
    mask = _photos(tmp_path / "photos", ["a.png"])
    real_init, addresses = ray.init, []

    def init(*args, **kwargs):
        addresses.append(kwargs["address"])
        if len(addresses) == 1:
            raise ConnectionAbortedError("Initialization failure from server:\npsutil.ZombieProcess: PID still exists")
        return real_init(*args, **kwargs)

    monkeypatch.setattr(ray, "init", init)
    argv = ["batch", str(tmp_path / "photos"), "--mask", str(mask), "-o", str(tmp_path / "out"), "--engine", "telea",
            "--backend", "ray", "--address", cluster["client"]]
    assert main(argv) == 0, capsys.readouterr().err
    assert addresses == [cluster["client"]] * 2 and not ray.is_initialized()
    assert any("failed to start a session (try 1 of 3)" in r.getMessage() for r in caplog.records)


def test_a_cluster_that_never_starts_a_session_is_said_with_the_tries(tmp_path, capsys, monkeypatch):
    mask = _photos(tmp_path / "photos", ["a.png"])
    attempts = []

    def init(*args, **kwargs):
        attempts.append(kwargs["address"])
        raise ConnectionAbortedError("Initialization failure from server: no room")

    monkeypatch.setattr(ray, "init", init)
    monkeypatch.setattr("inpaint_studio.batch.ray_backend.CLIENT_RETRY_SECONDS", 0.0)
    argv = ["batch", str(tmp_path / "photos"), "--mask", str(mask), "-o", str(tmp_path / "out"), "--engine", "telea",
            "--backend", "ray", "--address", "ray://127.0.0.1:1"]
    assert main(argv) == 1  # an error, said
    assert len(attempts) == 3
    said = "Cannot connect to the Ray cluster at 'ray://127.0.0.1:1' (tried 3 times): Initialization failure"
    assert said in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # nothing written, nothing half-made


def test_a_photo_that_kills_its_worker_fails_alone_and_the_batch_goes_on(connected, tmp_path):
    folder = tmp_path / "photos"
    mask = _photos(folder, ["a.png", "b.png", "crash.png", "d.png", "e.png", "f.png"])
    results = []
    totals = run_on_ray(plan_batch(folder, tmp_path / "out", mask=mask), BatchSettings("telea"), on_result=results.append)
    statuses = {r.item.image.name: r.status for r in results}
    assert len(results) == 6 and statuses.pop("crash.png") == FAILED
    assert set(statuses.values()) == {WRITTEN}
    assert next(r.message for r in results if r.item.image.name == "crash.png") == CRASHED
    assert (totals.written, totals.failed) == (5, 1)


def test_a_worker_killed_mid_batch_and_the_batch_still_completes(connected, tmp_path, caplog):
    names = [f"slow{i}.png" for i in range(10)]
    mask = _photos(tmp_path / "photos", names)
    results, killed = [], []

    def on_result(result):
        results.append(result)
        if not killed:  # its worker has the next photo running or waiting
            pid = int(result.worker.rsplit(":", 1)[1])
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    totals = run_on_ray(plan_batch(tmp_path / "photos", tmp_path / "out", mask=mask), BatchSettings("telea"), on_result=on_result)
    assert sorted(r.item.image.name for r in results) == sorted(names)  # every photo once
    assert {r.status for r in results} == {WRITTEN} and totals.written == 10  # the photos in flight were redone
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(names)  # nothing half-written
    [death] = [r.getMessage() for r in caplog.records if "stopped with" in r.getMessage()]
    assert "photo(s) in flight (slow" in death and "tried again alone" in death  # the photo running, at least
