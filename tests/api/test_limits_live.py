"""Rate and sign-in limits across two real gunicorn processes sharing the cache (the database table, or Redis)."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REDIS_URL
from tests.workers.live import ROOT, database_url

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

#: Seconds a server may take to answer /healthz after it starts.
START_TIMEOUT = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def post(port: int, path: str, body: dict, **headers: str) -> tuple[int, dict, dict]:
    """POST JSON to the server on ``port``: status, JSON body and headers."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read()), dict(answer.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), dict(error.headers)


def wait_until_up(port: int, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server on {port} exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"server on {port} did not answer within {START_TIMEOUT} s:\n{log.read_text()}")


@pytest.fixture(params=["db://salsaweb_cache", pytest.param("redis", marks=pytest.mark.services("redis"))])
def servers(request, tmp_path) -> Iterator[list[int]]:
    """Two gunicorn processes (one worker each) on the test database, sharing the cache the parameter names."""
    cache_url = REDIS_URL if request.param == "redis" else request.param
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "salsaweb.settings.test", "DATABASE_URL": database_url(),
           "SALSAWEB_CACHE_URL": cache_url, "SALSAWEB_CACHE_KEY_PREFIX": f"test-{uuid.uuid4().hex[:10]}",
           "SALSAWEB_WRITE_RATE": "8/min", "SALSAWEB_LOGIN_FAILURES_PER_USERNAME": "3"}
    procs, ports = [], []
    try:
        for name in ("a", "b"):
            port, log = free_port(), tmp_path / f"gunicorn-{name}.log"
            with open(log, "ab") as out:
                procs.append(subprocess.Popen(
                    [sys.executable, "-m", "gunicorn", "salsaweb.wsgi:application", "--bind", f"127.0.0.1:{port}",
                     "--workers", "1"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                    start_new_session=True))
            ports.append(port)
            wait_until_up(port, procs[-1], log)
        yield ports
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_sign_in_and_write_limits_hold_across_two_server_processes(servers, django_user_model) -> None:
    django_user_model.objects.create_user(username="ada", password="secret-pw-1")
    a, b = servers
    token = "/api/auth/token/"
    # Three failed sign-ins, alternating servers: the username is locked on both, the right password too.
    failed = [post(port, token, {"username": "ada", "password": "wrong"})[0] for port in (a, b, a)]
    assert failed == [401, 401, 401]
    for port in (b, a):
        code, body, headers = post(port, token, {"username": "ada", "password": "secret-pw-1"})
        assert (code, body["code"]) == (429, "throttled") and "failed sign-ins" in body["detail"]
        assert int(headers["Retry-After"]) > 0
    # Writes so far: 5 of 8 a minute from this address. A forged X-Forwarded-For per request does not
    # make a new client: the next three pass, then both servers answer 429.
    codes = [post(port, token, {"username": f"user{i}", "password": "x"},
                  **{"X-Forwarded-For": f"192.0.2.{i}"})[0] for i, port in enumerate((b, a, b, a, b))]
    assert codes == [401, 401, 401, 429, 429]
