"""Execute: run a derived function's body, recording what it reads, and store its memo."""
from __future__ import annotations

from time import perf_counter
from typing import TYPE_CHECKING, Any

from .backdate import backdated_changed_at
from .storage.base import FAILED_PREFIX, Key, Memo
from .values import freeze

if TYPE_CHECKING:
    from .api import DerivedFunction
    from .runtime import Runtime


class Frame:
    """One executing derived call: its key, the memo it had before, and what it has read."""

    __slots__ = ("key", "old", "deps")

    def __init__(self, key: Key, old: Memo | None) -> None:
        self.key = key
        self.old = old
        self.deps: dict[Key, None] = {}


class Suspend(BaseException):
    """Unwinds a call stack that got too deep, so the driver can run ``key`` on a fresh one.

    A BaseException so that a derived function's ``except Exception`` does not swallow it.
    """

    def __init__(self, fn: DerivedFunction, key: Key, args: tuple[Any, ...], path: list[Key]) -> None:
        super().__init__(key)
        self.fn = fn
        self.key = key
        self.args = args
        self.path = path


def failed_code(code: str) -> str:
    """The code a memo is re-stored under when its call fails: a failure marker.

    Callers that caught the error were memoized at this revision, so the next value must
    count as changed even if it equals the one before the failure: a marker is never
    served (its code is not the function's), never verified, never backdated against,
    and still gives ``previous_output`` its value.
    """
    return FAILED_PREFIX + code


def execute(rt: Runtime, fn: DerivedFunction, key: Key, args: tuple[Any, ...], old: Memo | None) -> Memo:
    """Run ``fn`` for ``key`` at the current revision and store the new memo.

    Dependencies are re-recorded from scratch.  An exception stores no new value; the old
    memo, if any, is kept as this call's failure marker (see ``failed_code``).
    """
    tls = rt._tls
    stack = tls.stack
    if len(stack) >= rt.max_depth:
        raise Suspend(fn, key, args, [f.key for f in stack])
    frame = Frame(key, old)
    stack.append(frame)
    tls.frame = frame
    tls.in_progress[key] = None
    if rt._listeners:
        rt._emit("will_execute", key)
    start = perf_counter()
    try:
        value = freeze(fn.body(rt, *args))
    except Exception:
        if old is not None:
            marker = Memo(old.value, old.changed_at, old.verified_at, old.deps, failed_code(fn.code), old.duration)
            rt.storage.put_memo(key, marker)
        raise
    finally:
        stack.pop()
        tls.frame = stack[-1] if stack else None
        del tls.in_progress[key]
    duration = perf_counter() - start
    storage = rt.storage
    revision = storage.revision
    same_code = old is not None and old.code == fn.code
    changed_at = backdated_changed_at(storage, old, value) if same_code else None
    if changed_at is None:
        changed_at = revision
    else:
        rt.counters.backdates += 1
        if rt._listeners:
            rt._emit("did_backdate", key)
    memo = Memo(value, changed_at, revision, tuple(frame.deps), fn.code, duration)
    storage.put_memo(key, memo)
    rt.counters.executions += 1
    if rt._listeners:
        rt._emit("did_execute", key)
    return memo
