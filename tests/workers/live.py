"""Real ``celery -A salsaweb worker`` processes for tests, on the test database and a queue of their own.

The test process points its own Celery app at the same broker and queue, so ``batch_accept``
sends real messages that the workers take.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.db import connection

from salsaweb.celery import app

ROOT = Path(__file__).resolve().parents[2]
#: Short lease, sweep and checkpoint intervals, so a crash is recovered within seconds.
FAST_RECOVERY = {
    "TRAINING_LEASE_SECONDS": "1.5",
    "TRAINING_SWEEP_SECONDS": "0.5",
    "TRAINING_HEARTBEAT_SECONDS": "0.1",
    "TRAINING_CHECKPOINT_SECONDS": "0.25",
}


def database_url() -> str:
    """A URL for the test database that worker processes can open."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def _reset_app_caches() -> None:
    """Make the app build its connection pool and queue declarations from the current ``conf`` again."""
    app._pool = None
    app.__dict__.pop("amqp", None)


@contextmanager
def live_app(broker_url: str, queue: str) -> Iterator[None]:
    """Within the block, this process's Celery app sends real messages to ``queue`` at ``broker_url``."""
    keys = ("task_always_eager", "broker_url", "broker_transport", "broker_transport_options", "task_default_queue")
    saved = {key: app.conf[key] for key in keys}
    app.conf.update(task_always_eager=False, broker_url=broker_url, broker_transport=None,
                    broker_transport_options={}, task_default_queue=queue)
    _reset_app_caches()
    try:
        yield
    finally:
        app.conf.update(saved)
        _reset_app_caches()


class Workers:
    """Starts worker processes (each in its own process group) and kills every one of them at the end."""

    def __init__(self, broker_url: str, logs: Path, fast: bool = True, **settings: str) -> None:
        """``fast``: the ``FAST_RECOVERY`` intervals; else the defaults, as a deployment gets them."""
        self.queue = f"salsaweb-test-{uuid.uuid4().hex[:10]}"
        self.broker_url, self.logs = broker_url, logs
        self.env = {
            **{k: v for k, v in os.environ.items() if fast or not k.startswith("TRAINING_")},
            "DATABASE_URL": database_url(),
            "DJANGO_SETTINGS_MODULE": "salsaweb.settings.test",
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "CELERY_BROKER_URL": broker_url,
            "CELERY_TASK_DEFAULT_QUEUE": self.queue,
            **(FAST_RECOVERY if fast else {}),
            **settings,
        }
        self.procs: list[subprocess.Popen] = []

    def start(self, name: str) -> subprocess.Popen:
        """Start ``celery -A salsaweb worker`` with one pool process, logging to ``<logs>/<name>.log``."""
        log = open(self.logs / f"{name}.log", "ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "salsaweb", "worker", "--concurrency=1", "--loglevel=INFO",
             "--without-mingle", "--without-gossip", "-n", f"{name}-{self.queue}@%h"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()
        self.procs.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen) -> None:
        """SIGKILL the worker and its pool process at once, as a crash or power loss would."""
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)

    def holding(self, lease_owner: str) -> subprocess.Popen:
        """The started worker whose pool process holds a lease (owner ``host:pid:task``)."""
        pid = int(lease_owner.split(":")[1])
        return next(proc for proc in self.procs if os.getpgid(pid) == proc.pid)

    def kill_all(self) -> None:
        for proc in self.procs:
            self.kill(proc)

    def log_tail(self, lines: int = 30) -> str:
        """The end of every worker's log, for failure messages."""
        out = []
        for path in sorted(self.logs.glob("*.log")):
            out.append(f"--- {path.name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:]))
        return "\n".join(out)

    def wait_for(self, what: str, check: Callable[[], Any], timeout: float = 30.0, every: float = 0.02) -> Any:
        """Poll ``check`` until it returns something truthy; fail with the workers' logs after ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = check()
            if found:
                return found
            time.sleep(every)
        raise AssertionError(f"timed out after {timeout:g} s waiting for {what}\n{self.log_tail()}")
