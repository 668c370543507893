"""Real processes sharing one namespace: no duplicate or torn rows, results consistent with one revision.

These start ``python -m tests.memo_store.procs`` against the test database (SQLite in WAL
mode, or PostgreSQL when DATABASE_URL names it, as CI's second run does).
"""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from runtime import Runtime
from runtime.db.models import Memo
from runtime.db.storage import DatabaseStorage

from . import programs
from .checks import store_problems

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]


def _database_url() -> str:
    """A URL for the test database that the worker processes can open."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def _start(*args: str) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": _database_url(), "DJANGO_SETTINGS_MODULE": "salsaweb.settings.test"}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.memo_store.procs", *args],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _result(proc: subprocess.Popen, timeout: float = 90) -> dict:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def _fill(namespace: str, cells: int) -> Runtime:
    rt = Runtime(storage=DatabaseStorage(namespace))
    programs.size.set(rt, cells)
    for i in range(cells):
        programs.value.set(rt, i, float(i))
    return rt


def test_two_processes_computing_the_same_namespace_store_each_memo_once():
    cells = 300
    _fill("shared", cells)
    expected = float(sum(i * i for i in range(cells)))
    procs = [_start("total", "shared") for _ in range(3)]
    results = [_result(p) for p in procs]
    assert [r["total"] for r in results] == [expected] * 3
    assert Memo.objects.filter(namespace__name="shared").count() == cells + 1
    assert store_problems("shared") == []


def test_input_changes_during_computation_leave_results_of_one_revision():
    cells = 25
    _fill("moving", cells)
    reader = _start("read", "moving", "4")
    time.sleep(0.5)
    writer = _start("write", "moving", "120", str(cells))
    log = _result(writer)["log"]
    seen = _result(reader)["seen"]
    values = {0: [float(i) for i in range(cells)]}  # revision -> cell values
    current = list(values[0])
    first_write = log[0][0]
    for revision, i, v in log:
        current[i] = v
        values[revision] = list(current)
    assert len(seen) >= 5
    for revision, total in seen:
        cells_at = values[0] if revision < first_write else values[revision]
        assert total == sum(v * v for v in cells_at), f"torn result at revision {revision}"
    assert store_problems("moving") == []


def test_a_killed_process_leaves_whole_rows_and_the_rest_is_recomputed():
    rt = Runtime(storage=DatabaseStorage("crash"))
    programs.value.set(rt, 0, 1.0)
    rng = random.Random(7)
    for attempt in range(3):
        proc = _start("chain", "crash", "4000")
        proc.stdout.readline()  # it has started computing
        time.sleep(rng.uniform(0.05, 0.6))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert store_problems("crash") == [], f"after kill {attempt}"
    stored = Memo.objects.filter(namespace__name="crash").count()
    assert 0 < stored < 4001
    fresh = Runtime(storage=DatabaseStorage("crash"))
    assert programs.chain(fresh, 4000) == 4001.0
    assert fresh.counters.executions == 4001 - stored  # only what was not committed runs again
    assert store_problems("crash") == []
