"""The README's run command on the embedded default: ``manage.py serve`` runs the web server and a real worker
on SQLite and the no-server broker, trains what is accepted, and stops both on SIGTERM."""
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


def test_serve_runs_web_and_worker_on_the_embedded_default_and_stops_both(tmp_path):
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("CELERY_", "DJANGO_SETTINGS_MODULE", "DATABASE_URL", "TRAINING_"))}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", CELERY_BROKER_FOLDER=str(tmp_path / "broker"))
    port = _free_port()
    log = open(tmp_path / "serve.log", "wb")
    serve = subprocess.Popen([sys.executable, "manage.py", "serve", f"127.0.0.1:{port}", "--concurrency=1"],
                             cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    output = lambda: (tmp_path / "serve.log").read_text(errors="replace")  # noqa: E731
    worker_pid = None
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    assert json.load(response) == {"status": "ok", "database": True}
                break
            except OSError:
                assert time.monotonic() < deadline and serve.poll() is None, output()
                time.sleep(0.2)
        worker_pid = int(re.search(r"Worker started \(pid (\d+)\)", output()).group(1))
        assert re.search(r"username:\s+salsa\n\s+password:\s+\S{12,}", output()), output()  # first run

        shell = subprocess.run([sys.executable, "manage.py", "shell", "-c", ACCEPT_AND_WAIT], cwd=ROOT, env=env,
                               capture_output=True, text=True, timeout=90)
        assert shell.returncode == 0, shell.stderr
        result = json.loads(shell.stdout.strip().splitlines()[-1])
        assert result["queued"] == ["queued", "queued"] and result["accepted_s"] < 2.0
        assert result["states"] == [["incremental", "done", 1], ["naive", "done", 1]], output()
        assert result["runs"] == [["incremental", 1], ["naive", 1]]
        assert "regression.train_model" in output()  # the worker process did it, not the shell

        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=30) == 0, output()
        assert not _alive(worker_pid), "the worker outlived serve"
    finally:
        for pgid in (serve.pid, worker_pid):
            if pgid is not None and _alive(pgid):
                os.killpg(pgid, signal.SIGKILL)
        serve.wait(timeout=30)
        log.close()
