"""Input writes during computations, and a runtime shared by threads (spec: semantics 8).

The design: a write from inside a derived function of the same runtime raises
InputWriteError; a write from another thread waits on the runtime's lock until the
computation in progress finishes; every result is consistent with one revision.  A thread
that a derived function starts and waits for, and that calls the same runtime, gets a
RuntimeEngineError saying it would deadlock, instead of waiting for good.
"""
from __future__ import annotations

import re
import threading
import time
from concurrent import futures
from typing import Any, Callable

import pytest

from runtime import InputWriteError, Runtime, RuntimeEngineError, declare_input, derived
from tests.execution_log import assert_log, log
from tests.runtime.threads import JOIN_SECONDS, Gate, Worker

#: How long a test waits for a call that would hang if a deadlock went unnoticed.
DEADLOCK_SECONDS = 5

GATE = Gate()


@pytest.fixture(autouse=True)
def _fresh_gate() -> None:
    global GATE
    GATE = Gate()


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


# -- a derived function's own threads calling the same runtime ---------------------------

#: The threads and pools the derived functions below started, for the test to look at afterwards.
SPAWNED: list[Worker] = []
POOLS: list[tuple[futures.ThreadPoolExecutor, futures.Future[int]]] = []


@pytest.fixture(autouse=True)
def _nothing_spawned() -> None:
    SPAWNED.clear()
    POOLS.clear()


def spawn(target: Callable[[], Any], name: str) -> Worker:
    """Start a ``Worker`` named ``name`` and keep it in ``SPAWNED``."""
    worker = Worker(target, name)
    SPAWNED.append(worker)
    worker.start()
    return worker


@derived
def plus_x(rt, n: int) -> int:
    log.add(("plus_x", n))
    return n + x(rt)


@derived
def joins_its_thread(rt) -> int:
    log.add("joins_its_thread")
    child = spawn(lambda: plus_x(rt, 1), "child")
    child.join()
    return child.outcome()


@derived
def waits_for_its_pool(rt, how: str) -> int:
    log.add("waits_for_its_pool")
    pool = futures.ThreadPoolExecutor(1, thread_name_prefix="pool")
    try:
        future = pool.submit(plus_x, rt, 1)
        POOLS.append((pool, future))
        if how == "wait":
            futures.wait([future])
        return future.result()
    finally:
        # Not joining the pool's thread, which the test could not unblock were the deadlock missed.
        pool.shutdown(wait=False)


@derived
def joins_a_thread_that_joins_its_own(rt) -> int:
    log.add("joins_a_thread_that_joins_its_own")

    def middle_body() -> int:
        child = spawn(lambda: plus_x(rt, 1), "child")
        child.join()
        return child.outcome()

    middle = spawn(middle_body, "middle")
    middle.join()
    return middle.outcome()


@derived
def joins_its_thread_a_while(rt) -> bool:
    log.add("joins_its_thread_a_while")
    child = spawn(lambda: plus_x(rt, 1), "child")
    child.join(0.3)
    return child.is_alive()


@derived
def joins_a_thread_that_waits_at_the_gate(rt) -> int:
    log.add("joins_a_thread_that_waits_at_the_gate")
    spawn(GATE.pass_through, "helper").join()
    return x(rt)


def in_a_thread(target: Callable[[], Any], name: str | None = None) -> Any:
    """Run ``target`` in a new thread and return its outcome, failing if it hangs."""
    worker = Worker(target, name)
    worker.start()
    return worker.outcome(DEADLOCK_SECONDS)


def deadlock(holder: str, call: str, waits: str) -> str:
    """A regex of the error's start: the last thread ``waits`` names wants the lock ``holder`` holds in ``call``."""
    waiter = waits.split()[-1]
    return (
        f"^deadlock: thread {re.escape(waiter)} waits for the runtime's lock, held by thread '{holder}', "
        f"which is computing {re.escape(call)} and waits for {re.escape(waits)}; a derived function's threads "
        "cannot call the same runtime"
    )


def test_thread_that_a_derived_function_joins_gets_a_deadlock_error_when_it_calls_the_runtime(rt):
    x.set(rt, 10)
    caller = Worker(lambda: joins_its_thread(rt), "caller")
    start = time.monotonic()
    caller.start()
    with pytest.raises(RuntimeEngineError, match=deadlock("caller", "joins_its_thread(rt)", "thread 'child'")):
        caller.outcome(DEADLOCK_SECONDS)
    assert time.monotonic() - start < 1
    [child] = SPAWNED
    assert isinstance(child.error, RuntimeEngineError)
    assert_log(["joins_its_thread"])
    assert plus_x(rt, 1) == 11
    assert in_a_thread(lambda: plus_x(rt, 2)) == 12


@pytest.mark.parametrize("how", ["result", "wait"])
def test_pool_thread_whose_future_a_derived_function_waits_for_gets_a_deadlock_error(rt, how):
    x.set(rt, 10)
    caller = Worker(lambda: waits_for_its_pool(rt, how), "caller")
    start = time.monotonic()
    caller.start()
    caller.join(DEADLOCK_SECONDS)
    if caller.is_alive():  # the deadlock went unnoticed: end the wait and the pool, which would keep the process
        pool, future = POOLS[0]
        future.set_exception(TimeoutError("the deadlock went unnoticed"))
        pool.shutdown(wait=True)
    call = f"waits_for_its_pool(rt, '{how}')"
    with pytest.raises(RuntimeEngineError, match=deadlock("caller", call, "thread 'pool_0'")):
        caller.outcome(DEADLOCK_SECONDS)
    assert time.monotonic() - start < 1
    assert_log(["waits_for_its_pool"])
    assert plus_x(rt, 1) == 11


def test_deadlock_through_a_chain_of_joined_threads_names_each(rt):
    x.set(rt, 10)
    caller = Worker(lambda: joins_a_thread_that_joins_its_own(rt), "caller")
    caller.start()
    waits = "thread 'middle', which waits for thread 'child'"
    with pytest.raises(RuntimeEngineError, match=deadlock("caller", "joins_a_thread_that_joins_its_own(rt)", waits)):
        caller.outcome(DEADLOCK_SECONDS)
    assert_log(["joins_a_thread_that_joins_its_own"])


def test_thread_joined_inside_a_unit_of_work_gets_a_deadlock_error_when_it_calls_the_runtime(rt):
    x.set(rt, 10)

    def joins_inside_a_unit_of_work() -> int:
        with rt.unit_of_work():
            child = spawn(lambda: plus_x(rt, 1), "child")
            child.join()
            return child.outcome()

    caller = Worker(joins_inside_a_unit_of_work, "caller")
    caller.start()
    message = "^deadlock: thread 'child' waits for the runtime's lock, held by thread 'caller', which is in a unit of work"
    with pytest.raises(RuntimeEngineError, match=message):
        caller.outcome(DEADLOCK_SECONDS)


def test_join_with_a_timeout_is_not_a_deadlock_the_thread_waits_and_then_computes(rt):
    x.set(rt, 10)
    assert in_a_thread(lambda: joins_its_thread_a_while(rt)) is True
    [child] = SPAWNED
    assert child.outcome(DEADLOCK_SECONDS) == 11
    assert_log(["joins_its_thread_a_while", ("plus_x", 1)])


def _another_call_waits_for(rt, holder: Callable[[], int]) -> None:
    """Hold the lock in ``holder`` (at the gate); ``plus_x(rt, 1)`` must wait for it, not fail, then compute."""
    x.set(rt, 10)
    holding = Worker(holder)
    holding.start()
    assert GATE.entered.wait(JOIN_SECONDS)
    waiting = Worker(lambda: plus_x(rt, 1))
    waiting.start()
    waiting.join(0.3)
    assert waiting.is_alive(), "the call did not wait for the computation"
    GATE.release.set()
    assert holding.outcome() == 10
    assert waiting.outcome() == 11


def test_thread_waiting_for_a_slow_computation_is_not_a_deadlock(rt):
    _another_call_waits_for(rt, lambda: gated_read(rt))
    assert_log(["gated_read", ("plus_x", 1)])


def test_computation_joining_a_thread_that_does_not_need_the_lock_is_not_a_deadlock_for_others(rt):
    _another_call_waits_for(rt, lambda: joins_a_thread_that_waits_at_the_gate(rt))
    assert_log(["joins_a_thread_that_waits_at_the_gate", ("plus_x", 1)])


def test_the_thread_holding_the_lock_takes_it_again(rt):
    def nested() -> tuple[int, int]:
        x.set(rt, 3)
        with rt.unit_of_work():
            with rt.unit_of_work():
                value = doubled(rt)
                rt.checkpoint()
            return value, x(rt)

    assert in_a_thread(nested) == (6, 3)
    assert in_a_thread(lambda: x.set(rt, 4)) is True
    assert doubled(rt) == 8
