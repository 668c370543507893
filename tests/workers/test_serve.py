"""The README's run command on the embedded default: ``manage.py serve`` runs the web server and a real worker
on SQLite and the no-server broker, trains what is accepted, and stops both within 3 s on SIGTERM or SIGINT, in a
terminal or started in the background by a script (which leaves SIGINT ignored)."""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from .live import ROOT

pytestmark = pytest.mark.slow

ACCEPT_AND_WAIT = """
import json, time
import numpy as np
from django.contrib.auth import get_user_model
from salsaweb.regression import scheduling, selectors, services
from tests.regression.conftest import correlated_batches
owner = get_user_model().objects.create_user(username="owner")
dataset = services.dataset_create(owner=owner, name="d", features=["x0", "x1"], target="y")
(X, y), = correlated_batches(1, 500, features=2)[0]
content = "x0,x1,y\\n" + "\\n".join(",".join(repr(float(v)) for v in row) for row in np.column_stack([X, y]))
started = time.monotonic()
batch, queued = scheduling.batch_accept(dataset=dataset, content=content)
accepted = time.monotonic() - started
while time.monotonic() - started < 30:
    states = selectors.training_state_list(dataset=dataset)
    if all(state["status"] == "done" for state in states):
        break
    time.sleep(0.05)
print(json.dumps({"queued": [s.status for s in queued], "accepted_s": accepted,
                  "states": [[s["mode"], s["status"], s["covered"]] for s in states],
                  "runs": [[r["mode"], r["batch"]] for r in selectors.run_list(dataset=dataset)]}))
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


#: How long serve may take to stop the web server and the worker.
STOP_SECONDS = 3.0


def _environment(tmp_path) -> dict[str, str]:
    """This environment on a fresh SQLite file and broker folder, with the local settings' defaults."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("CELERY_", "DJANGO_SETTINGS_MODULE", "DATABASE_URL", "TRAINING_"))}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", CELERY_BROKER_FOLDER=str(tmp_path / "broker"))
    return env


def _ignore_sigint() -> None:
    """What a shell script's ``&`` does to a background command."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _start_serve(tmp_path, env: dict[str, str], background: bool = False) -> tuple[subprocess.Popen, int, int]:
    """Start ``serve`` (as a script's background job if asked); wait until it answers: (process, port, worker pid)."""
    port = _free_port()
    log = open(tmp_path / "serve.log", "wb")
    serve = subprocess.Popen([sys.executable, "manage.py", "serve", f"127.0.0.1:{port}", "--concurrency=1"],
                             cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                             preexec_fn=_ignore_sigint if background else None)
    log.close()
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                assert json.load(response) == {"status": "ok", "database": True}
            break
        except OSError:
            if time.monotonic() > deadline or serve.poll() is not None:
                _kill(serve.pid)
                raise AssertionError(_output(tmp_path)) from None
            time.sleep(0.2)
    worker = re.search(r"Worker started \(pid (\d+)\)", _output(tmp_path))
    return serve, port, int(worker.group(1)) if worker else 0


def _output(tmp_path) -> str:
    """What serve printed so far."""
    return (tmp_path / "serve.log").read_text(errors="replace")


def _group(pgid: int) -> str:
    """The processes of group ``pgid``, as ``ps`` lists them (what outlived serve)."""
    return subprocess.run(["ps", "-o", "pid,ppid,stat,etime,args", "-g", str(pgid)], capture_output=True,
                          text=True).stdout


def _kill(pgid: int) -> None:
    """Kill a process group this test started, if it is still there."""
    if pgid and _alive(pgid):
        os.killpg(pgid, signal.SIGKILL)


def _running(pgid: int) -> list[int]:
    """The processes of group ``pgid`` still running (a zombie has stopped: it only waits to be reaped)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue  # it ended meanwhile
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def _stop_and_time(serve: subprocess.Popen, signum: int, worker_pgid: int) -> float:
    """Send ``signum`` to serve; return how long until it and every process of the worker's group had stopped."""
    started = time.monotonic()
    serve.send_signal(signum)
    serve.wait(timeout=30)
    while _running(worker_pgid) and time.monotonic() - started < 30:
        time.sleep(0.02)
    return time.monotonic() - started


def test_serve_runs_web_and_worker_on_the_embedded_default_and_stops_both(tmp_path):
    env = _environment(tmp_path)
    serve, port, worker_pid = _start_serve(tmp_path, env)
    output = lambda: _output(tmp_path)  # noqa: E731
    try:
        assert worker_pid, output()
        assert re.search(r"username:\s+salsa\n\s+password:\s+\S{12,}", output()), output()  # first run

        shell = subprocess.run([sys.executable, "manage.py", "shell", "-c", ACCEPT_AND_WAIT], cwd=ROOT, env=env,
                               capture_output=True, text=True, timeout=90)
        assert shell.returncode == 0, shell.stderr
        result = json.loads(shell.stdout.strip().splitlines()[-1])
        assert result["queued"] == ["queued", "queued"] and result["accepted_s"] < 2.0
        assert result["states"] == [["incremental", "done", 1], ["naive", "done", 1]], output()
        assert result["runs"] == [["incremental", 1], ["naive", 1]]
        assert "regression.train_model" in output()  # the worker process did it, not the shell

        took = _stop_and_time(serve, signal.SIGTERM, worker_pid)
        assert serve.returncode == 0, output()
        assert not _running(worker_pid), _group(worker_pid)
        assert took < STOP_SECONDS, output()
        assert f"SIGTERM: stopping the web server (pid {serve.pid}) and the worker (pid {worker_pid})" in output()
    finally:
        for pgid in (serve.pid, worker_pid):
            _kill(pgid)
        serve.wait(timeout=30)


def test_serve_started_in_the_background_by_a_script_stops_on_sigint_within_3_seconds(tmp_path):
    serve, _, worker_pid = _start_serve(tmp_path, _environment(tmp_path), background=True)
    try:
        assert worker_pid, _output(tmp_path)
        took = _stop_and_time(serve, signal.SIGINT, worker_pid)
        assert serve.returncode == 0, _output(tmp_path)
        assert not _running(worker_pid), _group(worker_pid)
        assert took < STOP_SECONDS, _output(tmp_path)
        said = _output(tmp_path)
        assert f"SIGINT: stopping the web server (pid {serve.pid}) and the worker (pid {worker_pid})..." in said
        assert re.search(r"Worker \(pid \d+\) (stopped|not done after 1.5 s: killed it)", said), said
        assert re.search(r"Stopped in \d+\.\d s\.", said), said
    finally:
        for pgid in (serve.pid, worker_pid):
            _kill(pgid)
        serve.wait(timeout=30)
