"""``StoreLock``: a store object's re-entrant lock, which refuses a wait that could never end.

Every top-level call and input change holds the lock of the runtime's store object
(``runtime.context``).  A derived function that starts a thread calling the same runtime,
and waits for it, would hang for good: the thread waits for the lock the function's thread
holds.  ``StoreLock`` turns that into a ``RuntimeEngineError`` that says so, in the thread
that wants the lock, which then ends, so the wait it was in returns.

How it tells: a thread that cannot take the lock within ``POLL_SECONDS`` looks at the
holder's innermost Python frames (``sys._current_frames``).  It is a deadlock when the
holder waits, with no timeout, for the waiting thread, directly or through threads that
wait the same way: in ``Thread.join()`` (a thread, or an executor's ``shutdown``), in
``Future.result()`` or ``Future.exception()``, or in ``concurrent.futures.wait`` for all
of its futures, on a future that a ``ThreadPoolExecutor`` worker runs.  Otherwise it waits
on, looking again every ``POLL_SECONDS``, with no overall timeout.  The limits: a wait with
a timeout is not a deadlock (the holder gets the lock back when it times out), and a wait
on anything else (an ``Event``, a queue, a lock, a ``Future`` completed by hand, a process
pool) cannot be seen, so such a thread keeps waiting, as with a plain lock.
"""
from __future__ import annotations

import gc
import sys
import threading
from _thread import get_ident
from types import FrameType
from typing import Any, Callable, Iterable, Iterator, Protocol, Sequence

from .errors import RuntimeEngineError

#: How long a thread waits for the lock before it checks for a deadlock, and between checks.
POLL_SECONDS = 0.05
#: Serializes ``_all_frames``, so that one caller cannot turn the collector back on under another.
_FRAMES_GUARD = threading.Lock()


class CallStacks(Protocol):
    """Per-thread state (a ``threading.local``): ``stack`` is the current thread's executing calls, innermost last."""

    stack: Sequence[Any]


class StoreLock:
    """A re-entrant lock that raises ``RuntimeEngineError`` instead of waiting for a deadlock.

    It keeps a reference to the holder's ``thread.stack``, and ``label(call)`` names a call
    on it, so that the error can say what the holder is computing.
    """

    __slots__ = ("_lock", "_thread", "_label", "_owner", "_count", "_holder_calls")

    def __init__(self, thread: CallStacks, label: Callable[[Any], str]) -> None:
        self._lock = threading.Lock()
        self._thread = thread
        self._label = label
        #: The holding thread's ident (None while free), how often it holds it, and its calls.
        self._owner: int | None = None
        self._count = 0
        self._holder_calls: Sequence[Any] = ()

    def __enter__(self) -> None:
        """Take the lock (again, in the thread that holds it); raise if the wait would never end."""
        me = get_ident()
        if self._owner == me:
            self._count += 1
            return
        if not self._lock.acquire(False):
            self._wait(me)
        self._holder_calls = self._thread.stack
        self._owner = me
        self._count = 1

    def __exit__(self, kind: object, error: object, traceback: object) -> None:
        """Release one hold; the last one frees the lock."""
        self._count -= 1
        if not self._count:
            self._owner = None
            self._lock.release()

    def _wait(self, me: int) -> None:
        """Wait for the lock, checking every ``POLL_SECONDS`` that its holder is not waiting for ``me``."""
        while not self._lock.acquire(timeout=POLL_SECONDS):
            holder = self._owner
            if holder is None:
                continue
            path = _wait_path(holder, me)
            # Still held by the same thread: it held the lock all along while it waited for us.
            if path is not None and self._owner == holder:
                raise RuntimeEngineError(self._deadlock_message(path))

    def _deadlock_message(self, path: list[int]) -> str:
        """Why the wait of the last thread on ``path`` for the lock held by the first would never end."""
        names = {thread.ident: thread.name for thread in threading.enumerate()}

        def name(ident: int) -> str:
            return f"thread {names.get(ident, ident)!r}"

        calls = self._holder_calls
        doing = f"which is computing {self._label(calls[-1])}" if calls else "which is in a unit of work"
        waits = ", which waits for ".join(name(ident) for ident in path[1:])
        return (
            f"deadlock: {name(path[-1])} waits for the runtime's lock, held by {name(path[0])}, "
            f"{doing} and waits for {waits}; a derived function's threads cannot call "
            "the same runtime: compute in the parent thread, or use another Runtime on its own store"
        )


def _wait_path(holder: int, waiter: int) -> list[int] | None:
    """The threads from ``holder`` to ``waiter``, each waiting with no timeout for the next; None if there is none."""
    frames = _all_frames()
    runners = _future_runners(frames)
    path: list[int] = []
    seen: set[int] = set()

    def reaches(ident: int) -> bool:
        path.append(ident)
        if ident == waiter:
            return True
        seen.add(ident)
        if any(t not in seen and reaches(t) for t in _awaited_threads(frames.get(ident), runners)):
            return True
        path.pop()
        return False

    return path if reaches(holder) else None


def _all_frames() -> dict[int, FrameType]:
    """Every thread's innermost frame, with the garbage collector off meanwhile.

    A collection inside ``sys._current_frames`` can hang the process on CPython 3.11 and
    older (CPython issue 106883: freeing a ``threading.local`` there takes a lock that
    ``_current_frames`` holds), and the engine's call stacks are ``threading.local``.
    """
    with _FRAMES_GUARD:
        enabled = gc.isenabled()
        gc.disable()
        try:
            return sys._current_frames()
        finally:
            if enabled:
                gc.enable()


def _future_runners(frames: dict[int, FrameType]) -> dict[int, int]:
    """The thread running each future that a ``ThreadPoolExecutor`` worker runs, by the future's id."""
    work_item = getattr(sys.modules.get("concurrent.futures.thread"), "_WorkItem", None)
    if work_item is None:
        return {}
    run = work_item.run.__code__
    runners: dict[int, int] = {}
    for ident, frame in frames.items():
        for f in _outward(frame):
            if f.f_code is run:
                item = f.f_locals.get("self")
                if item is not None:
                    runners[id(item.future)] = ident
    return runners


def _awaited_threads(frame: FrameType | None, runners: dict[int, int]) -> Iterator[int]:
    """The threads that the thread whose innermost frame is ``frame`` waits for with no timeout."""
    base = sys.modules.get("concurrent.futures._base")
    waits_in = [threading.__dict__] + ([base.__dict__] if base is not None else [])
    for f in _outward(frame):
        code = f.f_code
        if code is threading.Thread.join.__code__:
            thread = f.f_locals.get("self")
            if f.f_locals.get("timeout") is None and thread is not None and thread.ident is not None:
                yield thread.ident
            return
        if base is not None and code in (base.Future.result.__code__, base.Future.exception.__code__):
            if f.f_locals.get("timeout") is None:
                yield from _runners_of([f.f_locals.get("self")], runners)
            return
        if base is not None and code is base.wait.__code__:
            if f.f_locals.get("timeout") is None and f.f_locals.get("return_when") == base.ALL_COMPLETED:
                yield from _runners_of(f.f_locals.get("fs") or (), runners)
            return
        if not any(f.f_globals is module for module in waits_in):
            return  # running code of its own, not inside a wait we know


def _runners_of(pending: Iterable[Any], runners: dict[int, int]) -> Iterator[int]:
    """The threads running those of the futures ``pending`` that are not done yet."""
    for future in pending:
        if future is not None and not future.done() and id(future) in runners:
            yield runners[id(future)]


def _outward(frame: FrameType | None) -> Iterator[FrameType]:
    """``frame`` and its callers, innermost first."""
    while frame is not None:
        yield frame
        frame = frame.f_back
