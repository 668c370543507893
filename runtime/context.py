"""The context every step works in: a runtime's store, lock, this thread's calls, counters and listeners.

``Context`` is the one interface between the engine's steps (``fetch``, ``execute``,
``verify``, ``explain``, ...) and the ``Runtime`` that users hold: the steps and the declared
functions read and write only what it declares here.  ``Runtime`` implements it, and
provides the two entry points that sit above the steps (``fetch`` and ``read_input``).

Threads: a runtime may be shared.  Memo hits are served without locking; anything that
executes or verifies, and every input change, holds the lock of the runtime's store
object (shared by every runtime on that object, since the revision lives in the store),
so a computation always sees one revision and an input change made by another thread
waits for the computation in progress to finish.  The per-thread call stacks are shared
the same way, so a write through any runtime on the store is refused inside a computation.
The lock is a ``StoreLock`` (``runtime.lock``): a thread started by a derived function that
calls the same runtime while the function waits for it gets a ``RuntimeEngineError`` saying
so, instead of waiting for good.
"""
from __future__ import annotations

import threading
import weakref
from abc import ABC, abstractmethod
from typing import Any

from .events import Counters, Event, Listener
from .keys import Key, call_label
from .lock import StoreLock
from .memo import InputRecord, Memo
from .storage.base import Storage


#: ``Frame.delta`` before ``changes`` was called.
NOT_ASKED: Any = object()


class Frame:
    """One executing derived call: its key, the memo it had before, and what it has read so far.

    ``deps`` maps each key read, in first-read order, to the input record read (None for a
    derived call, or for an input that had no record).  ``delta`` is what ``changes``
    returned (``NOT_ASKED`` until it is called: a frame that asked is maintained), and
    ``derived_changed`` says that verification found a derived dependency changed (or could
    not tell), in which case ``changes`` reports nothing to maintain from.
    """

    __slots__ = ("key", "old", "deps", "delta", "derived_changed")

    def __init__(self, key: Key, old: Memo | None, derived_changed: bool = True) -> None:
        self.key = key
        self.old = old
        self.deps: dict[Key, InputRecord | None] = {}
        self.delta: Any = NOT_ASKED
        self.derived_changed = derived_changed


class Transaction:
    """Input writes grouped into one revision (``Runtime.transaction``): the revision, once one began."""

    __slots__ = ("revision",)

    def __init__(self) -> None:
        self.revision: int | None = None


class ThreadState(threading.local):
    """One thread's view of the computation it is running."""

    def __init__(self) -> None:
        #: The executing calls, outermost first; ``frame`` is the innermost (None at top level).
        self.stack: list[Frame] = []
        self.frame: Frame | None = None
        #: Every call on the logical call chain (the stack and the suspended ``prefix``): a cycle check.
        self.in_progress: dict[Key, None] = {}
        #: Calls of executions the driver abandoned to continue on a fresh stack (``runtime.fetch``).
        self.prefix: list[Key] = []
        #: Calls that raised during the current top-level call: raised again, not re-executed.
        self.failed: dict[Key, Exception] = {}
        #: The open ``Runtime.transaction`` of this thread, if any.
        self.transaction: Transaction | None = None


_STORE_STATE: weakref.WeakKeyDictionary[Storage, tuple[StoreLock, ThreadState]] = weakref.WeakKeyDictionary()
_STORE_STATE_GUARD = threading.Lock()


def _store_state(storage: Storage) -> tuple[StoreLock, ThreadState]:
    """The lock and per-thread call stacks of one store object, shared by every runtime made on it."""
    with _STORE_STATE_GUARD:
        state = _STORE_STATE.get(storage)
        if state is None:
            thread = ThreadState()
            lock = StoreLock(thread, lambda frame: call_label(frame.key))
            state = _STORE_STATE[storage] = (lock, thread)
        return state


class Context(ABC):
    """What the steps share of a runtime (see the module docstring); ``Runtime`` is the implementation."""

    def __init__(self, storage: Storage, max_depth: int) -> None:
        #: Where revisions, inputs and memos live.
        self.storage = storage
        #: Executions nested deeper than this are restarted on a fresh stack (``runtime.fetch``).
        self.max_depth = max_depth
        #: Running totals of what the engine did (``runtime.events``).
        self.counters = Counters()
        #: Callbacks given every event; the steps emit only while this is not empty.
        self.listeners: list[Listener] = []
        #: The store object's lock, and this thread's calls on it.
        self.lock, self.thread = _store_state(storage)
        #: The registry generation whose declared code this runtime last matched with its store.
        self.code_seen = -1

    def emit(self, kind: str, key: Key, reason: str | None = None, cause: Key | None = None) -> None:
        """Give every listener the event ``kind`` of ``key`` at the current revision (and why, for an execution)."""
        event = Event(kind, key, self.storage.revision, reason, cause)
        for listener in list(self.listeners):
            listener(event)

    @abstractmethod
    def fetch(self, fn: Any, key: Key, args: tuple[Any, ...]) -> Any:
        """The value of the derived call ``fn`` (a ``DerivedFunction``) at ``key`` when it is not a memo hit."""

    @abstractmethod
    def read_input(self, key: Key) -> InputRecord | None:
        """The record of an input read outside any derived function, in a unit of work of its own."""
