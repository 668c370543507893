"""Threads for runtime tests: a ``Worker`` that keeps its result, a ``Gate`` that holds a body mid-execution.

Shared by the tests of threads, transactions and maintained functions that need a second thread.
"""
from __future__ import annotations

import threading
from typing import Any, Callable

#: How long a test waits for a thread before it fails instead of hanging.
JOIN_SECONDS = 30


class Gate:
    """Lets a test hold a derived function in the middle of its execution."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def pass_through(self) -> None:
        """Signal that the body is running, then wait until the test releases it."""
        self.entered.set()
        assert self.release.wait(JOIN_SECONDS), "the test never released the gate"


class Worker(threading.Thread):
    """A thread that runs ``target`` and keeps its result or exception."""

    def __init__(self, target: Callable[[], Any], name: str | None = None) -> None:
        super().__init__(name=name, daemon=True)
        self._target_fn = target
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        """Run the target, keeping what it returned or raised."""
        try:
            self.result = self._target_fn()
        except BaseException as exc:  # re-raised in the test's thread by outcome()
            self.error = exc

    def outcome(self, seconds: float = JOIN_SECONDS) -> Any:
        """Join the thread (for at most ``seconds``) and return its result, re-raising its exception."""
        self.join(seconds)
        assert not self.is_alive(), "worker thread did not finish"
        if self.error is not None:
            raise self.error
        return self.result

    def waits(self, seconds: float = 0.3) -> bool:
        """Whether the thread is still blocked after ``seconds``."""
        self.join(seconds)
        return self.is_alive()
