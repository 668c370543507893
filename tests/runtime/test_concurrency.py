"""Input writes during computations, and a runtime shared by threads (spec: semantics 8).

The design: a write from inside a derived function of the same runtime raises
InputWriteError; a write from another thread waits on the runtime's lock until the
computation in progress finishes; every result is consistent with one revision.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable

import pytest

from runtime import InputWriteError, Runtime, declare_input, derived
from tests.execution_log import assert_log, log

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


GATE = Gate()


@pytest.fixture(autouse=True)
def _fresh_gate() -> None:
    global GATE
    GATE = Gate()


class Worker(threading.Thread):
    """A thread that runs ``target`` and keeps its result or exception."""

    def __init__(self, target: Callable[[], Any]) -> None:
        super().__init__(daemon=True)
        self._target_fn = target
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self._target_fn()
        except BaseException as exc:  # re-raised in the test's thread by outcome()
            self.error = exc

    def outcome(self) -> Any:
        """Join the thread and return its result, re-raising its exception."""
        self.join(JOIN_SECONDS)
        assert not self.is_alive(), "worker thread did not finish"
        if self.error is not None:
            raise self.error
        return self.result


@declare_input
def x(rt) -> int:
    """A number."""


@declare_input
def left(rt) -> int:
    """Set to k before ``right`` is set to -k."""


@declare_input
def right(rt) -> int:
    """Set to -k after ``left`` is set to k."""


@derived
def writes_input(rt, mode: str) -> int:
    log.add("writes_input")
    if mode == "set":
        x.set(rt, 99)
    else:
        x.delete(rt)
    return 0


@derived
def gated_read(rt) -> int:
    log.add("gated_read")
    value = x(rt)
    GATE.pass_through()
    return value


@derived
def doubled(rt) -> int:
    return 2 * x(rt)


@derived
def slow_square(rt) -> int:
    log.add("slow_square")
    value = x(rt)
    time.sleep(0.05)
    return value * value


@derived
def pair(rt) -> tuple[int, int]:
    first = left(rt)
    time.sleep(0.002)
    return (first, right(rt))


@derived
def pair_gap(rt) -> int:
    first, second = pair(rt)
    return first + second


@pytest.mark.parametrize("mode", ["set", "delete"])
def test_input_write_inside_derived_function_raises_input_write_error(rt, mode):
    x.set(rt, 1)
    revision = rt.revision
    with pytest.raises(InputWriteError, match=rf"x\(rt\) while writes_input\(rt, '{mode}'\) is executing"):
        writes_input(rt, mode)
    assert rt.revision == revision
    assert x(rt) == 1
    with pytest.raises(InputWriteError):
        writes_input(rt, mode)
    assert_log(["writes_input", "writes_input"])


def test_write_from_another_thread_waits_for_the_running_computation(rt):
    x.set(rt, 1)
    reader = Worker(lambda: gated_read(rt))
    reader.start()
    assert GATE.entered.wait(JOIN_SECONDS)
    writer = Worker(lambda: x.set(rt, 2))
    writer.start()
    writer.join(0.3)
    assert writer.is_alive(), "the write did not wait for the computation"
    GATE.release.set()
    assert reader.outcome() == 1
    assert writer.outcome() is True
    assert x(rt) == 2
    assert gated_read(rt) == 2
    assert_log(["gated_read", "gated_read"])


def test_memo_hit_on_memory_storage_does_not_wait_for_a_running_computation():
    rt = Runtime()
    x.set(rt, 3)
    assert doubled(rt) == 6
    busy = Worker(lambda: gated_read(rt))
    busy.start()
    assert GATE.entered.wait(JOIN_SECONDS)
    hit = Worker(lambda: doubled(rt))
    hit.start()
    hit.join(5)
    finished = not hit.is_alive()
    GATE.release.set()
    busy.outcome()
    assert finished, "the memo hit waited for the runtime's lock"
    assert hit.outcome() == 6


def test_same_call_from_two_threads_executes_once(rt):
    x.set(rt, 4)
    workers = [Worker(lambda: slow_square(rt)) for _ in range(2)]
    for worker in workers:
        worker.start()
    assert [worker.outcome() for worker in workers] == [16, 16]
    assert_log(["slow_square"])


def race(reader_rt: Runtime, writer_rt: Runtime, writes: int = 100) -> list[tuple[tuple[int, int], int]]:
    """Four threads read ``pair`` and ``pair_gap`` through one runtime while another thread writes through the other."""
    left.set(writer_rt, 0)
    right.set(writer_rt, 0)
    done = threading.Event()

    def write() -> None:
        try:
            for k in range(1, writes + 1):
                left.set(writer_rt, k)
                right.set(writer_rt, -k)
                time.sleep(0.0005)
        finally:
            done.set()

    def read() -> list[tuple[tuple[int, int], int]]:
        seen = []
        while not done.is_set():
            seen.append((pair(reader_rt), pair_gap(reader_rt)))
            time.sleep(0.0002)
        return seen

    readers = [Worker(read) for _ in range(4)]
    writer = Worker(write)
    for thread in (*readers, writer):
        thread.start()
    writer.outcome()
    observations = [seen for reader in readers for seen in reader.outcome()]
    assert pair(reader_rt) == (writes, -writes)
    assert pair_gap(reader_rt) == 0
    return observations


def assert_one_revision_each(observations: list[tuple[tuple[int, int], int]]) -> None:
    """Every pair read is (k, -k) or (k, -(k - 1)): the state after some single input change."""
    assert observations
    for (first, second), gap in observations:
        assert second in (-first, -(first - 1)), f"torn pair {(first, second)}"
        assert gap in (0, 1)


def test_concurrent_readers_and_writer_always_see_one_revision(rt):
    assert_one_revision_each(race(rt, rt))


def test_two_runtimes_on_one_store_see_one_revision(rt, make_runtime):
    assert_one_revision_each(race(rt, make_runtime(rt.storage)))


def test_unit_of_work_block_holds_off_writers_from_other_threads(rt):
    x.set(rt, 1)
    with rt.unit_of_work():
        assert doubled(rt) == 2
        writer = Worker(lambda: x.set(rt, 5))
        writer.start()
        writer.join(0.3)
        assert writer.is_alive(), "the write did not wait for the unit of work"
        assert doubled(rt) == 2
    assert writer.outcome() is True
    assert doubled(rt) == 10



OTHER: list[Runtime] = []


@derived
def writes_through_other(rt) -> int:
    x.set(OTHER[0], 2)
    return 0


def test_write_through_a_second_runtime_on_the_same_store_is_refused_inside_a_computation(rt, make_runtime):
    OTHER[:] = [make_runtime(rt.storage)]
    x.set(rt, 1)
    with pytest.raises(InputWriteError):
        writes_through_other(rt)
    assert x(OTHER[0]) == 1
