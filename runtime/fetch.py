"""Fetch: return a derived call's up-to-date value, from its memo when it can.

``fetch`` is the slow path behind ``DerivedFunction.__call__`` (which serves plain memo
hits itself).  A top-level call takes the runtime's lock, opens a unit of work and runs
the driver loop; calls made from inside a derived function go straight to
``fetch_memo``.  The driver is what lets dependency chains of any depth compute: an
execution nested deeper than ``Runtime.max_depth`` is abandoned (``Suspend``) and the
call it needed is computed first on a fresh stack, after which the abandoned one is
retried and finds it memoized (or, if it raised, meets the same exception there).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, TypeVar

from .code import apply_code_change, code_is_current
from .errors import CycleError, RuntimeEngineError
from .execute import Suspend, execute, failed_code
from .keys import call_label
from .storage.base import Key, Memo, StaleSnapshot
from .verify import deep_verify

if TYPE_CHECKING:
    from .api import DerivedFunction
    from .runtime import Runtime

T = TypeVar("T")

#: How often a top-level call restarts because other processes keep changing inputs.
MAX_SNAPSHOT_RETRIES = 100


def fetch(rt: Runtime, fn: DerivedFunction, key: Key, args: tuple[Any, ...]) -> Any:
    """Return the value of ``fn(rt, *args)`` (already normalized to ``key``)."""
    if rt._tls.frame is None:
        return top_level(rt, lambda: _drive(rt, fn, key, args))
    return fetch_memo(rt, fn, key, args).value


def top_level(rt: Runtime, body: Callable[[], T]) -> T:
    """Run ``body`` under the runtime's lock in a unit of work, restarting on a stale snapshot.

    The first call after functions were declared (or redeclared) checks that the store saw
    the same code, and starts a new revision first if it did not (``runtime.code``).
    """
    with rt._lock:
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


def fetch_memo(rt: Runtime, fn: DerivedFunction, key: Key, args: tuple[Any, ...]) -> Memo:
    """Return the valid memo of ``key``: a hit, a re-verified memo, or a fresh execution.

    The caller (if any) records ``key`` as a dependency even when this raises, so that a
    caller which handles the error is re-executed once the cause goes away.
    """
    tls = rt._tls
    try:
        if key in tls.in_progress:
            raise CycleError(_cycle(rt, key))
        error = tls.failed.get(key)
        if error is not None:
            raise error
        storage = rt.storage
        memo = storage.get_memo(key)
        if memo is not None and memo.code != fn.code:
            # Other code's memo is not even previous_output; this call's failure marker is.
            return execute(rt, fn, key, args, memo if memo.code == failed_code(fn.code) else None)
        if memo is None:
            return execute(rt, fn, key, args, None)
        if memo.verified_at == storage.revision:
            rt.counters.hits += 1
            if rt._listeners:
                rt._emit("memo_hit", key)
            return memo
        return deep_verify(rt, fn, key, args, memo)
    finally:
        parent = tls.frame
        if parent is not None:
            parent.deps[key] = None


def _drive(rt: Runtime, fn: DerivedFunction, key: Key, args: tuple[Any, ...]) -> Any:
    """Compute a top-level call, restarting too-deep executions on a fresh stack."""
    tls = rt._tls
    pending: list[tuple[DerivedFunction, Key, tuple[Any, ...], int]] = [(fn, key, args, 0)]
    try:
        while True:
            target_fn, target, target_args, _ = pending[-1]
            try:
                memo = fetch_memo(rt, target_fn, target, target_args)
            except Suspend as suspended:
                rt.counters.suspensions += 1
                if rt._listeners:
                    rt._emit("suspended", suspended.key)
                pending.append((suspended.fn, suspended.key, suspended.args, len(tls.prefix)))
                tls.prefix.extend(suspended.path)
                tls.in_progress.update(dict.fromkeys(suspended.path))
                continue
            except Exception as error:
                if len(pending) == 1:
                    raise
                # The abandoned caller meets the error where it calls ``target`` again.
                tls.failed[target] = error
            else:
                if len(pending) == 1:
                    return memo.value
            mark = pending.pop()[3]
            for done in tls.prefix[mark:]:
                del tls.in_progress[done]
            del tls.prefix[mark:]
    finally:
        tls.prefix.clear()
        tls.in_progress.clear()
        tls.failed.clear()


def _cycle(rt: Runtime, key: Key) -> list[str]:
    """The calls from the first occurrence of ``key`` on the logical call chain back to it."""
    tls = rt._tls
    chain = [*tls.prefix, *(frame.key for frame in tls.stack)]
    start = chain.index(key)
    return [call_label(k) for k in chain[start:]] + [call_label(key)]
