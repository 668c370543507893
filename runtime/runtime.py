"""The Runtime: one store, its lock, per-thread call stacks, counters and listeners.

Threads: a runtime may be shared.  Memo hits are served without locking; anything that
executes or verifies, and every input change, holds the lock of the runtime's store
object (shared by every Runtime on that object, since the revision lives in the store),
so a computation always sees one revision and an input change made by another thread
waits for the computation in progress to finish.  Changing an input from inside a
derived function of the same runtime raises ``InputWriteError``.
"""
from __future__ import annotations

import sys
import threading
import weakref
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator

from .code import apply_code_change, code_is_current
from .events import Counters, Event, Listener
from .registry import GENERATION
from .storage.base import Key, Storage
from .storage.memory import MemoryStorage

if TYPE_CHECKING:
    from .api import DerivedFunction
    from .execute import Frame
    from .explain import Explanation


class _ThreadState(threading.local):
    """One thread's view of the computation it is running."""

    def __init__(self) -> None:
        self.stack: list[Frame] = []
        self.frame: Frame | None = None
        self.in_progress: dict[Key, None] = {}
        self.prefix: list[Key] = []
        #: Exceptions of calls the driver ran on a fresh stack, re-raised to their callers.
        self.failed: dict[Key, Exception] = {}


_STORE_STATE: weakref.WeakKeyDictionary[Storage, tuple[threading.RLock, _ThreadState]] = weakref.WeakKeyDictionary()
_STORE_STATE_GUARD = threading.Lock()


def _store_state(storage: Storage) -> tuple[threading.RLock, _ThreadState]:
    """The lock and per-thread call stacks of one store object, shared by every Runtime made on it.

    The revision lives in the store, so two runtimes on one store must not compute at once,
    and an input write through either is refused while either is executing in this thread.
    """
    with _STORE_STATE_GUARD:
        state = _STORE_STATE.get(storage)
        if state is None:
            state = _STORE_STATE[storage] = (threading.RLock(), _ThreadState())
        return state


def _default_max_depth() -> int:
    """How many nested executions fit comfortably in the interpreter's recursion limit."""
    return max(20, (sys.getrecursionlimit() - 250) // 6)


class Runtime:
    """A database of inputs and memoized derived values, and the engine that keeps them current."""

    def __init__(self, storage: Storage | None = None, *, max_depth: int | None = None) -> None:
        self.storage = storage if storage is not None else MemoryStorage()
        self.max_depth = max_depth if max_depth is not None else _default_max_depth()
        self.counters = Counters()
        self._listeners: list[Listener] = []
        self._lock, self._tls = _store_state(self.storage)
        #: The declarations generation whose code this runtime last matched with its store.
        self._code_seen = -1

    @property
    def revision(self) -> int:
        """The current revision: bumped once per input change."""
        if self.storage.always_current:
            return self.storage.revision
        with self.unit_of_work():
            return self.storage.revision

    @contextmanager
    def unit_of_work(self) -> Iterator[None]:
        """Group several top-level calls into one unit of work: one load, one bulk write.

        Calls inside see one revision (unless another process changes an input they read,
        in which case the call restarts at the newer one; ``revision`` tells which).  A
        persistent backend writes the memos when the outermost block exits.
        """
        with self._lock:
            if self._code_seen != GENERATION[0]:
                with self.storage.unit_of_work():
                    current = code_is_current(self)
                if not current:
                    apply_code_change(self)
            with self.storage.unit_of_work():
                yield

    def checkpoint(self) -> None:
        """Inside a unit of work, between top-level calls: store the memos computed so far.

        A long unit of work (a training loop, say) calls this now and then so that a crash
        loses only what was computed since; the calls after it still see the same revision.
        """
        with self._lock:
            self.storage.checkpoint()

    def reset_counters(self) -> dict[str, int]:
        """Zero the counters and return their values before the reset."""
        before = self.counters.snapshot()
        self.counters = Counters()
        return before

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(event)`` for every engine event (see ``runtime.events``)."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        """Stop calling ``listener``."""
        self._listeners.remove(listener)

    def _emit(self, kind: str, key: Key) -> None:
        event = Event(kind, key, self.storage.revision)
        for listener in list(self._listeners):
            listener(event)

    def explain(self, fn: DerivedFunction, *args: Any) -> Explanation:
        """The stored dependency tree of ``fn(rt, *args)`` with each node's revisions."""
        from .explain import explain

        return explain(self, fn, args)

    def __repr__(self) -> str:
        return f"<Runtime {type(self.storage).__name__} revision={self.storage.revision}>"
