"""The public entry points: declare inputs and derived functions, and read the previous output.

>>> @declare_input
... def sample(rt, i):
...     '''Feature vector of training row i.'''
>>> @derived
... def double(rt, i):
...     return tuple(2 * v for v in sample(rt, i))
>>> rt = Runtime()
>>> sample.set(rt, 1, (3.0,))
>>> double(rt, 1)
(6.0,)
"""
from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, TypeVar, overload

from .errors import InputWriteError, MissingInputError, OutsideDerivedError
from .fetch import fetch, top_level
from .keys import _PLAIN, call_label, code_fingerprint, function_id, normalize_args
from .registry import GENERATION, register
from .runtime import Runtime
from .storage.base import InputRecord, Key
from .values import freeze, values_equal

F = TypeVar("F", bound=Callable[..., Any])
_DELETE = object()


def _params(fn: Callable[..., Any]) -> tuple[str, ...]:
    """Names of the parameters after ``rt``, for error messages."""
    return tuple(inspect.signature(fn).parameters)[1:]


class InputFunction:
    """An input: a keyed value set from outside; reading it records a dependency."""

    is_input = True

    def __init__(self, fn: Callable[..., Any]) -> None:
        functools.update_wrapper(self, fn)
        self.id = function_id(fn)
        self.name = fn.__name__
        self._params = _params(fn)
        register(self)

    def _key(self, args: tuple[Any, ...]) -> Key:
        return (self.id, normalize_args(self.name, self._params, args))

    def __call__(self, rt: Runtime, *args: Any) -> Any:
        """Read the input's current value; raises MissingInputError if it has none."""
        key = self._key(args)
        frame = rt._tls.frame
        if frame is None:
            record = top_level(rt, lambda: rt.storage.get_input(key))
        else:
            frame.deps[key] = None
            record = rt.storage.get_input(key)
        if record is None or record.deleted:
            state = "was deleted" if record is not None else "was never set"
            raise MissingInputError(f"input {call_label(key)} {state}")
        return record.value

    def set(self, rt: Runtime, *keys_and_value: Any) -> bool:
        """Set the input for the given keys (value last); return whether a new revision began."""
        if not keys_and_value:
            raise TypeError(f"{self.name}.set() needs a value after the keys")
        *keys, value = keys_and_value
        return _write(rt, self._key(tuple(keys)), freeze(value, copy=True))

    def delete(self, rt: Runtime, *keys: Any) -> bool:
        """Remove the input's value; raises MissingInputError if it has none."""
        return _write(rt, self._key(keys), _DELETE)

    def __repr__(self) -> str:
        return f"<input {self.id}>"


class DerivedFunction:
    """A derived function: memoized per argument tuple and re-verified on each revision."""

    is_input = False

    def __init__(self, fn: Callable[..., Any], version: int | str = 0) -> None:
        functools.update_wrapper(self, fn)
        self.body = fn
        self.id = function_id(fn)
        self.name = fn.__name__
        self.version = version
        self.code = f"{version}:{code_fingerprint(fn.__code__)}"
        self._params = _params(fn)
        register(self)

    def _key_args(self, args: tuple[Any, ...]) -> tuple[Any, ...]:
        return normalize_args(self.name, self._params, args)

    def __call__(self, rt: Runtime, *args: Any) -> Any:
        """Return the memoized value, re-verifying or executing only when needed."""
        for a in args:
            if type(a) not in _PLAIN:
                key = (self.id, normalize_args(self.name, self._params, args))
                break
        else:
            key = (self.id, args)
        # Fast path: a memo verified at the current revision.
        frame = rt._tls.frame
        storage = rt.storage
        if frame is not None or (storage.always_current and rt._code_seen == GENERATION[0]):
            memo = storage.get_memo(key)
            if memo is not None and memo.verified_at == storage.revision and memo.code == self.code:
                if frame is not None:
                    frame.deps[key] = None
                rt.counters.hits += 1
                if rt._listeners:
                    rt._emit("memo_hit", key)
                return memo.value
        return fetch(rt, self, key, args)

    def __repr__(self) -> str:
        return f"<derived {self.id}>"


def _write(rt: Runtime, key: Key, value: Any) -> bool:
    """Set (or delete, for ``_DELETE``) an input, starting a revision only if it changes."""
    frame = rt._tls.frame
    if frame is not None:
        raise InputWriteError(
            f"cannot change input {call_label(key)} while {call_label(frame.key)} is executing: "
            "inputs are read-only during a computation"
        )
    with rt._lock, rt.storage.unit_of_work(write=True):
        storage = rt.storage
        old = storage.get_input(key)
        present = old is not None and not old.deleted
        if value is _DELETE:
            if not present:
                raise MissingInputError(f"cannot delete input {call_label(key)}: it has no value")
        elif present and values_equal(old.value, value):
            return False
        revision = storage.new_revision(key)
        if value is _DELETE:
            storage.set_input(key, InputRecord(None, revision, deleted=True))
        else:
            storage.set_input(key, InputRecord(value, revision))
        rt.counters.input_changes += 1
        if rt._listeners:
            rt._emit("input_set", key)
        return True


def declare_input(fn: Callable[..., Any]) -> InputFunction:
    """Declare an input; the body is unused and its docstring documents the input."""
    return InputFunction(fn)


@overload
def derived(fn: F) -> DerivedFunction: ...
@overload
def derived(*, version: int | str = 0) -> Callable[[F], DerivedFunction]: ...


def derived(fn: Callable[..., Any] | None = None, *, version: int | str = 0) -> Any:
    """Declare a derived function, as ``@derived`` or ``@derived(version=N)``.

    Bump ``version`` when the result changes for a reason the function's own code does not
    show (a helper it calls changed); its own code is fingerprinted automatically.
    """
    if fn is None:
        return lambda f: DerivedFunction(f, version)
    return DerivedFunction(fn, version)


def previous_output(rt: Runtime) -> Any:
    """Inside a derived function: the value this call had memoized before this execution, or None."""
    frame = rt._tls.frame
    if frame is None:
        raise OutsideDerivedError("previous_output() can only be called inside a derived function")
    return None if frame.old is None else frame.old.value
