"""Fetch: return a derived call's up-to-date value, from its memo when it can.

``fetch`` is the slow path behind ``DerivedFunction.__call__`` (which serves plain memo
hits itself), reached through ``Runtime.fetch``; ``top_level`` also serves input reads.  A top-level call takes the runtime's lock, opens a unit of work and runs
the driver loop; calls made from inside a derived function go straight to
``fetch_memo``.  The driver is what lets dependency chains of any depth compute: an
execution nested deeper than ``Context.max_depth`` is abandoned (``Suspend``) and the
call it needed is computed first on a fresh stack, after which the abandoned one is
retried and finds it memoized (or, if it raised, meets the same exception there).

A call that raised is not executed again in the same top-level call: wherever it is asked
for again (by a caller that re-executes after verification ran it, say), the same
exception is raised again, so a failing leaf under ten callers runs once, not once per
caller.  The next top-level call tries it afresh.
"""
from __future__ import annotations

from typing import Any, Callable, TypeVar

from .code import apply_code_change, code_is_current
from .context import Context
from .errors import CycleError, RuntimeEngineError
from .execute import Suspend, execute
from .function import DerivedFunction
from .keys import Key, call_label
from .memo import Memo, failed_code
from .storage.base import StaleSnapshot
from .verify import deep_verify

T = TypeVar("T")

#: How often a top-level call restarts because other processes keep changing inputs.
MAX_SNAPSHOT_RETRIES = 100


def fetch(rt: Context, fn: DerivedFunction, key: Key, args: tuple[Any, ...]) -> Any:
    """Return the value of ``fn(rt, *args)`` (already normalized to ``key``)."""
    if rt.thread.frame is None:
        if rt.thread.transaction is not None:
            raise RuntimeEngineError(
                f"cannot compute {call_label(key)} inside a transaction: its writes are not applied yet"
            )
        return top_level(rt, lambda: _drive(rt, fn, key, args))
    return fetch_memo(rt, fn, key, args).value


def top_level(rt: Context, body: Callable[[], T]) -> T:
    """Run ``body`` under the runtime's lock in a unit of work, restarting on a stale snapshot.

    The first call after functions were declared (or redeclared) checks that the store saw
    the same code, and starts a new revision first if it did not (``runtime.code``).
    """
    with rt.lock:
        for _ in range(MAX_SNAPSHOT_RETRIES):
            try:
                with rt.storage.unit_of_work():
                    if code_is_current(rt):
                        return body()
            except StaleSnapshot:
                rt.storage.refresh()
                continue
            apply_code_change(rt)
        raise RuntimeEngineError(
            f"gave up after {MAX_SNAPSHOT_RETRIES} restarts: other processes keep changing the inputs"
        )


def fetch_memo(rt: Context, fn: DerivedFunction, key: Key, args: tuple[Any, ...]) -> Memo:
    """Return the valid memo of ``key``: a hit, a re-verified memo, or a fresh execution.

    The caller (if any) records ``key`` as a dependency even when this raises, so that a
    caller which handles the error is re-executed once the cause goes away.
    """
    thread = rt.thread
    try:
        if key in thread.in_progress:
            raise CycleError(_cycle(rt, key))
        error = thread.failed.get(key)
        if error is not None:
            raise error
        storage = rt.storage
        memo = storage.get_memo(key)
        if memo is not None and memo.code != fn.code:
            # Other code's memo is not even previous_output; this call's failure marker is.
            failed = memo.code == failed_code(fn.code)
            return execute(rt, fn, key, args, memo if failed else None, reason=("failed" if failed else "code", None))
        if memo is None:
            return execute(rt, fn, key, args, None)
        if memo.verified_at == storage.revision:
            rt.counters.hits += 1
            if rt.listeners:
                rt.emit("memo_hit", key)
            return memo
        return deep_verify(rt, fn, key, args, memo)
    finally:
        parent = thread.frame
        if parent is not None:
            parent.deps[key] = None


def _drive(rt: Context, fn: DerivedFunction, key: Key, args: tuple[Any, ...]) -> Any:
    """Compute a top-level call, restarting too-deep executions on a fresh stack."""
    thread = rt.thread
    pending: list[tuple[DerivedFunction, Key, tuple[Any, ...], int]] = [(fn, key, args, 0)]
    try:
        while True:
            target_fn, target, target_args, _ = pending[-1]
            try:
                memo = fetch_memo(rt, target_fn, target, target_args)
            except Suspend as suspended:
                rt.counters.suspensions += 1
                if rt.listeners:
                    rt.emit("suspended", suspended.key)
                pending.append((suspended.fn, suspended.key, suspended.args, len(thread.prefix)))
                thread.prefix.extend(suspended.path)
                thread.in_progress.update(dict.fromkeys(suspended.path))
                continue
            except Exception as error:
                if len(pending) == 1:
                    raise
                # The abandoned caller meets the error where it calls ``target`` again (``execute``
                # records its own failures; this also keeps one raised before executing: a cycle).
                thread.failed[target] = error
            else:
                if len(pending) == 1:
                    return memo.value
            mark = pending.pop()[3]
            for done in thread.prefix[mark:]:
                del thread.in_progress[done]
            del thread.prefix[mark:]
    finally:
        thread.prefix.clear()
        thread.in_progress.clear()
        thread.failed.clear()


def _cycle(rt: Context, key: Key) -> list[str]:
    """The calls from the first occurrence of ``key`` on the logical call chain back to it."""
    thread = rt.thread
    chain = [*thread.prefix, *(frame.key for frame in thread.stack)]
    start = chain.index(key)
    return [call_label(k) for k in chain[start:]] + [call_label(key)]
