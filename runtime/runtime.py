"""The Runtime: a store of inputs and memos, and the engine that keeps them current; what users hold.

It is the engine's ``Context`` (``runtime.context``: its store, lock, call stacks,
counters and listeners) and adds the public API: units of work, checkpoints, counters,
listeners and ``explain``, and the two entry points declared functions call into the steps
through (``fetch`` and ``read_input``).
"""
from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Any, Iterator

from .code import apply_code_change, code_is_current
from .context import Context, Transaction
from .errors import InputWriteError
from .events import Counters, Listener
from .explain import Explanation, explain
from .fetch import fetch, top_level
from .function import REGISTRY, DerivedFunction
from .keys import Key, call_label
from .memo import InputRecord
from .storage.base import Storage
from .storage.memory import MemoryStorage


def _default_max_depth() -> int:
    """How many nested executions fit comfortably in the interpreter's recursion limit."""
    return max(20, (sys.getrecursionlimit() - 250) // 6)


class Runtime(Context):
    """A database of inputs and memoized derived values, and the engine that keeps them current."""

    def __init__(self, storage: Storage | None = None, *, max_depth: int | None = None) -> None:
        super().__init__(
            storage if storage is not None else MemoryStorage(),
            max_depth if max_depth is not None else _default_max_depth(),
        )

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
        with self.lock:
            if self.code_seen != REGISTRY.generation:
                with self.storage.unit_of_work():
                    current = code_is_current(self)
                if not current:
                    apply_code_change(self)
            with self.storage.unit_of_work():
                yield

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group input writes into one revision: readers see all of them or none.

        Other threads wait for the block to end; other processes see it as one database
        transaction.  An exception inside applies none of the writes; a nested block joins
        the outer one.  Derived calls inside are refused (``RuntimeEngineError``): their
        inputs are not settled until the block ends.
        """
        thread = self.thread
        if thread.frame is not None:
            raise InputWriteError(
                f"cannot open a transaction while {call_label(thread.frame.key)} is executing: "
                "inputs are read-only during a computation"
            )
        if thread.transaction is not None:
            yield
            return
        with self.lock, self.storage.unit_of_work(write=True):
            thread.transaction = Transaction()
            try:
                yield
            finally:
                thread.transaction = None

    def checkpoint(self) -> None:
        """Inside a unit of work, between top-level calls: store the memos computed so far.

        A long unit of work (a training loop, say) calls this now and then so that a crash
        loses only what was computed since; the calls after it still see the same revision.
        """
        with self.lock:
            self.storage.checkpoint()

    def reset_counters(self) -> dict[str, int]:
        """Zero the counters and return their values before the reset."""
        before = self.counters.snapshot()
        self.counters = Counters()
        return before

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(event)`` for every engine event (see ``runtime.events``)."""
        self.listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        """Stop calling ``listener``."""
        self.listeners.remove(listener)

    def explain(self, fn: DerivedFunction, *args: Any) -> Explanation:
        """The stored dependency tree of ``fn(rt, *args)`` with each node's revisions."""
        return explain(self, fn, args)

    #: A derived call that is not a memo hit: verify it, or execute it.  The step itself, so that
    #: a nested call costs no extra interpreter frame (``max_depth`` counts on six per level).
    fetch = fetch

    def read_input(self, key: Key) -> InputRecord | None:
        """An input read outside any derived function: its own unit of work, at the current code."""
        return top_level(self, lambda: self.storage.get_input(key))

    def __repr__(self) -> str:
        return f"<Runtime {type(self.storage).__name__} revision={self.storage.revision}>"
