"""Tests of the project-wide pytest policy in conftest.py, run against throwaway test files via pytester."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

CONFTEST = Path(__file__).with_name("conftest.py")
INNER_INI = """
[pytest]
markers =
    slow: real-process test
    services: needs backing services
"""
INNER_TESTS = """
import pytest

def test_fast():
    pass

@pytest.mark.slow
def test_slow():
    pass

@pytest.mark.services("postgres", "redis")
def test_needs_services():
    pass
"""


def closed_port_url(scheme: str) -> str:
    """A URL on a loopback port that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"{scheme}://postgres@127.0.0.1:{port}/postgres"


@pytest.fixture
def services_down(monkeypatch: pytest.MonkeyPatch) -> None:
    """Point both service probes at closed ports."""
    monkeypatch.setenv("POSTGRES_URL", closed_port_url("postgres"))
    monkeypatch.setenv("REDIS_URL", closed_port_url("redis"))


@pytest.fixture
def inner(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A pytester project holding a copy of the real conftest, run outside CI."""
    monkeypatch.delenv("CI", raising=False)
    pytester.makeconftest(CONFTEST.read_text())
    pytester.makeini(INNER_INI)
    pytester.makepyfile(test_inner=INNER_TESTS)
    return pytester


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """Run the inner suite in-process, without the Django plugin or cache."""
    return pytester.runpytest("-p", "no:django", "-p", "no:cacheprovider", *args)


@pytest.mark.usefixtures("services_down")
def test_locally_slow_is_deselected_and_down_services_skip(inner: pytest.Pytester) -> None:
    run(inner).assert_outcomes(passed=1, skipped=1, deselected=1)


@pytest.mark.usefixtures("services_down")
def test_run_slow_option_runs_slow_tests(inner: pytest.Pytester) -> None:
    run(inner, "--run-slow").assert_outcomes(passed=2, skipped=1)


@pytest.mark.usefixtures("services_down")
def test_ci_runs_slow_tests_and_fails_on_down_services(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    result = run(inner)
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*unreachable: postgres, redis (CI=true*"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED


@pytest.mark.services("postgres", "redis")
def test_reachable_services_let_the_test_run(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    run(inner).assert_outcomes(passed=3)
