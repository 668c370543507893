"""The execution log: which derived bodies ran, in order, so an engine test can pin what executed.

Counters say how many calls executed; the log says which, and in what order. The test
derived functions call ``log.add(entry)`` first thing in their bodies, and a test reads as
the scenario it pins: do something, ``assert_log(["outer", "inner"])``, do more,
``assert_log([])``. ``assert_log`` compares everything logged since the last check and
clears it; ``log.take()`` does the same for tests that compare a set, a sorted list or a
count; ``log.clear()`` forgets the setup's executions before the step under test. An
autouse fixture in ``tests/runtime/conftest.py`` and ``tests/memo_store/conftest.py``
starts every test there with an empty log.

The log belongs to the process: the worker processes that ``tests/memo_store/procs.py``
runs keep their own. This follows salsa-rs's ``tests/common`` log database
(``db.assert_logs(expect![[...]])``).
"""
from __future__ import annotations

#: What a body logs: its name ("outer"), a call ((name, argument)), or a chain level (an int).
Entry = str | int | tuple[object, ...]


class ExecutionLog:
    """Entries appended by derived bodies, in execution order, until taken or cleared."""

    def __init__(self) -> None:
        self._entries: list[Entry] = []

    def add(self, entry: Entry) -> None:
        """Record that a body ran (called from inside the body)."""
        self._entries.append(entry)

    def take(self) -> list[Entry]:
        """The entries logged since the last take or clear, which are then forgotten."""
        entries, self._entries = self._entries, []
        return entries

    def clear(self) -> None:
        """Forget what ran so far: only executions after this count."""
        self._entries = []


log = ExecutionLog()


def assert_log(expected: list[Entry]) -> None:
    """Assert that exactly ``expected`` ran, in that order, since the last check; then start afresh."""
    actual = log.take()
    assert actual == expected, f"executed {actual!r}, expected {expected!r}"
