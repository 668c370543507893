"""Declared functions: inputs, set from outside, and derived functions, memoized per argument tuple.

A call turns its arguments into a key (``runtime.keys``).  A derived call serves a memo
verified at the current revision itself, without the lock (the memo-hit fast path), and
asks the runtime it is called with for anything else (``Context.fetch``); an input read
records a dependency of the executing call, or outside one is a unit of work of its own
(``Context.read_input``).  Every declaration is registered in ``REGISTRY`` by its id.
"""
from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, Union

from .context import Context
from .errors import InputWriteError, MissingInputError
from .keys import PLAIN_TYPES, Key, call_label, code_fingerprint, function_id, normalize_args
from .memo import InputRecord
from .registry import Registry
from .values import freeze, values_equal

_DELETE = object()

#: Every declared function of this process, by id.
REGISTRY: Registry[Union[InputFunction, DerivedFunction]] = Registry()


class _Declared:
    """What inputs and derived functions share: a stable id, a name, and how arguments become a key."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        functools.update_wrapper(self, fn)
        self.id = function_id(fn)
        self.name = fn.__name__
        #: Names of the parameters after ``rt``, for error messages.
        self.params = tuple(inspect.signature(fn).parameters)[1:]

    def key(self, args: tuple[Any, ...]) -> Key:
        """The store key of this function at ``args`` (a TypeError names a disallowed argument)."""
        return (self.id, normalize_args(self.name, self.params, args))


class InputFunction(_Declared):
    """An input: a keyed value set from outside; reading it records a dependency."""

    is_input = True

    def __init__(self, fn: Callable[..., Any]) -> None:
        super().__init__(fn)
        REGISTRY.register(self.id, self, None)

    def __call__(self, rt: Context, *args: Any) -> Any:
        """Read the input's current value; raises MissingInputError if it has none."""
        key = self.key(args)
        record = self._read(rt, key)
        if record is None or record.deleted:
            state = "was deleted" if record is not None else "was never set"
            raise MissingInputError(f"input {call_label(key)} {state}")
        return record.value

    def has(self, rt: Context, *args: Any) -> bool:
        """Whether the input has a value, read as a dependency exactly like a call, but without reading the value.

        For a function that must hear of every change to many inputs whose values it takes from elsewhere.
        """
        record = self._read(rt, self.key(args))
        return record is not None and not record.deleted

    @staticmethod
    def _read(rt: Context, key: Key) -> InputRecord | None:
        """The input's record, recorded as a dependency of the derived call running (if any)."""
        frame = rt.thread.frame
        if frame is None:
            return rt.read_input(key)
        record = frame.deps[key] = rt.storage.get_input(key)
        return record

    def set(self, rt: Context, *keys_and_value: Any) -> bool:
        """Set the input for the given keys (value last); return whether a new revision began."""
        if not keys_and_value:
            raise TypeError(f"{self.name}.set() needs a value after the keys")
        *keys, value = keys_and_value
        return _write(rt, self.key(tuple(keys)), freeze(value, copy=True))

    def delete(self, rt: Context, *keys: Any) -> bool:
        """Remove the input's value; raises MissingInputError if it has none."""
        return _write(rt, self.key(keys), _DELETE)

    def __repr__(self) -> str:
        return f"<input {self.id}>"


class DerivedFunction(_Declared):
    """A derived function: memoized per argument tuple and re-verified on each revision.

    ``code`` is ``"{version}:{fingerprint of the body's code}"``: a memo written by other
    code is never served (``runtime.code``).
    """

    is_input = False

    def __init__(self, fn: Callable[..., Any], version: int | str = 0) -> None:
        super().__init__(fn)
        self.body = fn
        self.version = version
        self.code = f"{version}:{code_fingerprint(fn.__code__)}"
        REGISTRY.register(self.id, self, self.code)

    def __call__(self, rt: Context, *args: Any) -> Any:
        """Return the memoized value, re-verifying or executing only when needed."""
        for a in args:
            if type(a) not in PLAIN_TYPES:
                key = self.key(args)
                break
        else:
            key = (self.id, args)
        # Fast path: a memo verified at the current revision (a top-level call inside a
        # transaction goes to ``fetch``, which refuses it).
        thread = rt.thread
        frame = thread.frame
        storage = rt.storage
        if frame is not None or (
            storage.always_current and rt.code_seen == REGISTRY.generation and thread.transaction is None
        ):
            memo = storage.get_memo(key)
            if memo is not None and memo.verified_at == storage.revision and memo.code == self.code:
                if frame is not None:
                    frame.deps[key] = None
                rt.counters.hits += 1
                if rt.listeners:
                    rt.emit("memo_hit", key)
                return memo.value
        return rt.fetch(self, key, args)

    def __repr__(self) -> str:
        return f"<derived {self.id}>"


def _write(rt: Context, key: Key, value: Any) -> bool:
    """Set (or delete, for ``_DELETE``) an input, starting a revision only if it changes.

    Inside ``Runtime.transaction`` every write after the first joins the first one's revision.
    """
    frame = rt.thread.frame
    if frame is not None:
        raise InputWriteError(
            f"cannot change input {call_label(key)} while {call_label(frame.key)} is executing: "
            "inputs are read-only during a computation"
        )
    with rt.lock, rt.storage.unit_of_work(write=True):
        storage = rt.storage
        old = storage.get_input(key)
        present = old is not None and not old.deleted
        if value is _DELETE:
            if not present:
                raise MissingInputError(f"cannot delete input {call_label(key)}: it has no value")
        elif present and values_equal(old.value, value):
            return False
        transaction = rt.thread.transaction
        if transaction is None:
            revision = storage.new_revision(key)
        elif transaction.revision is None:
            revision = transaction.revision = storage.new_revision(key)
        else:
            revision = transaction.revision
        if value is _DELETE:
            storage.set_input(key, InputRecord(None, revision, deleted=True))
        else:
            storage.set_input(key, InputRecord(value, revision))
        rt.counters.input_changes += 1
        if rt.listeners:
            rt.emit("input_set", key)
        return True
