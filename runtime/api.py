"""The public entry points: declare inputs and derived functions, and read the previous output.

``changes``, the other half of maintaining a result, lives in ``runtime.maintain``.

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

from typing import Any, Callable, TypeVar, overload

from .context import Context
from .errors import OutsideDerivedError
from .function import DerivedFunction, InputFunction

F = TypeVar("F", bound=Callable[..., Any])


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


def untracked(rt: Context, fn: DerivedFunction, *args: Any) -> Any:
    """Inside a derived function: ``fn(rt, *args)``, up to date, without recording it as a dependency.

    Sound only when the caller depends itself on every input that value depends on (a maintained
    function over those inputs, see ``changes``): it is then executed again whenever the value could
    change, and verifying it never walks ``fn``'s memos.  A dependency read before stays one.
    """
    frame = rt.thread.frame
    if frame is None:
        raise OutsideDerivedError("untracked() can only be called inside a derived function")
    key = fn.key(args)
    tracked = key in frame.deps
    try:
        return fn(rt, *args)
    finally:
        if not tracked:
            frame.deps.pop(key, None)


def previous_output(rt: Context) -> Any:
    """Inside a derived function: the value this call had memoized before this execution, or None."""
    frame = rt.thread.frame
    if frame is None:
        raise OutsideDerivedError("previous_output() can only be called inside a derived function")
    return None if frame.old is None else frame.old.value
