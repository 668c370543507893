"""Execute: run a derived function's body, recording what it reads, and store its memo."""
from __future__ import annotations

from time import perf_counter
from typing import Any

from .backdate import backdated_changed_at
from .context import Context, Frame
from .function import DerivedFunction
from .keys import Key
from .memo import Memo, failed_code
from .values import freeze


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


def execute(rt: Context, fn: DerivedFunction, key: Key, args: tuple[Any, ...], old: Memo | None) -> Memo:
    """Run ``fn`` for ``key`` at the current revision and store the new memo.

    Dependencies are re-recorded from scratch.  An exception stores no new value; the old
    memo, if any, is kept as this call's failure marker (see ``runtime.memo.failed_code``).
    """
    thread = rt.thread
    stack = thread.stack
    if len(stack) >= rt.max_depth:
        raise Suspend(fn, key, args, [f.key for f in stack])
    frame = Frame(key, old)
    stack.append(frame)
    thread.frame = frame
    thread.in_progress[key] = None
    if rt.listeners:
        rt.emit("will_execute", key)
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
        thread.frame = stack[-1] if stack else None
        del thread.in_progress[key]
    duration = perf_counter() - start
    storage = rt.storage
    revision = storage.revision
    same_code = old is not None and old.code == fn.code
    changed_at = backdated_changed_at(storage, old, value) if same_code else None
    if changed_at is None:
        changed_at = revision
    else:
        rt.counters.backdates += 1
        if rt.listeners:
            rt.emit("did_backdate", key)
    memo = Memo(value, changed_at, revision, tuple(frame.deps), fn.code, duration)
    storage.put_memo(key, memo)
    rt.counters.executions += 1
    if rt.listeners:
        rt.emit("did_execute", key)
    return memo
