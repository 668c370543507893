"""Execute: run a derived function's body, recording what it reads, and store its memo."""
from __future__ import annotations

from time import perf_counter
from typing import Any

from .backdate import backdated_changed_at
from .context import NOT_ASKED, Context, Frame
from .function import REGISTRY, DerivedFunction
from .keys import Key
from .memo import InputDeps, InputRecord, Memo, failed_code
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


def execute(
    rt: Context,
    fn: DerivedFunction,
    key: Key,
    args: tuple[Any, ...],
    old: Memo | None,
    derived_changed: bool = True,
    reason: tuple[str, Key | None] = ("new", None),
) -> Memo:
    """Run ``fn`` for ``key`` at the current revision and store the new memo.

    Dependencies are re-recorded from scratch, except that a maintained execution (one that
    called ``changes`` and was told what changed) keeps those of the previous one
    (``maintained_deps``).  ``derived_changed`` is false only when verification found that
    nothing but inputs changed.  An exception stores no new value; the old memo, if any, is
    kept as this call's failure marker (see ``runtime.memo.failed_code``), and the error is
    raised again, without executing, wherever the same top-level call asks for ``key`` again.
    ``reason`` (an ``Event.reason`` kind and its cause, see ``runtime.events``) goes to listeners with ``will_execute``.
    """
    thread = rt.thread
    stack = thread.stack
    if len(stack) >= rt.max_depth:
        raise Suspend(fn, key, args, [f.key for f in stack])
    frame = Frame(key, old, derived_changed)
    stack.append(frame)
    thread.frame = frame
    thread.in_progress[key] = None
    if rt.listeners:
        rt.emit("will_execute", key, *reason)
    start = perf_counter()
    try:
        value = freeze(fn.body(rt, *args))
    except Exception as error:
        thread.failed[key] = error
        if old is not None:
            marker = Memo(
                old.value, old.changed_at, old.verified_at, old.deps, failed_code(fn.code), old.duration, old.inputs
            )
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
    if frame.delta is NOT_ASKED:
        memo = Memo(value, changed_at, revision, tuple(frame.deps), fn.code, duration)
    else:
        deps, inputs = maintained_deps(rt, frame)
        memo = Memo(value, changed_at, revision, deps, fn.code, duration, inputs)
    storage.put_memo(key, memo)
    rt.counters.executions += 1
    if rt.listeners:
        rt.emit("did_execute", key)
    return memo


def maintained_deps(rt: Context, frame: Frame) -> tuple[tuple[Key, ...], InputDeps]:
    """A maintained execution's derived dependencies and input dependencies.

    When ``changes`` told it what changed, it still depends on everything the previous
    execution read (carried over: the previous ``inputs`` object is updated in place, so a
    large set is never copied), and the inputs it was told about count as read at their
    new records.  When ``changes`` returned None, the body was told to start over, so only
    what it read now counts.
    """
    lookup = REGISTRY.lookup
    derived: dict[Key, None] = {}
    reads: dict[Key, InputRecord | None] = {}
    for dep, record in frame.deps.items():
        dep_fn = lookup(dep[0])
        if dep_fn is not None and dep_fn.is_input:
            reads[dep] = record
        else:
            derived[dep] = None
    old = frame.old
    if frame.delta is None or old is None or old.inputs is None:
        inputs = rt.storage.new_input_deps()
        deps = tuple(derived)
    else:
        inputs = old.inputs
        deps = tuple(dict.fromkeys((*old.deps, *derived)))
    inputs.saw(reads)
    return deps, inputs
