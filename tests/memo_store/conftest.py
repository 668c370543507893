"""Memo-store test setup: every test starts with an empty execution log (tests/execution_log.py)."""
from __future__ import annotations

import pytest

from tests.execution_log import log


@pytest.fixture(autouse=True)
def _fresh_execution_log() -> None:
    """Start every test with an empty execution log, so it sees only its own executions."""
    log.clear()
