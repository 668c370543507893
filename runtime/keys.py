"""Query keys: how a call's function and arguments become a store key, and back.

Arguments must be plain hashable values.  ``int``, ``str``, ``bytes`` and ``None`` are
kept as they are; ``bool``, ``float`` and ``tuple`` are tagged so that values Python
considers equal but that a function may treat differently get different keys:
``f(rt, 1)``, ``f(rt, 1.0)`` and ``f(rt, True)`` are three calls, and so are
``f(rt, 0.0)`` and ``f(rt, -0.0)``.  Every NaN is the same argument.
"""
from __future__ import annotations

import hashlib
import types
from typing import Any, Hashable

#: A query key: ``(function id, normalized argument tuple)``, the identity of one call (or one input).
Key = tuple[str, tuple[Hashable, ...]]

#: Argument types that are keys as they are, and the common case: checked before anything else.
PLAIN_TYPES = frozenset({int, str})
_UNTAGGED = frozenset({int, str, bytes, type(None)})
_ALLOWED = "int, float, str, bool, None, bytes or a tuple of these"


def function_id(fn: Any) -> str:
    """The stable name of a function in the store: ``module.qualname``."""
    return f"{fn.__module__}.{fn.__qualname__}"


def _normalize(value: Any) -> Hashable:
    """Tag one argument; raise TypeError (caught by the caller) for a disallowed type."""
    t = type(value)
    if t in _UNTAGGED:
        return value
    if t is bool:
        return ("b", value)
    if t is float:
        return ("f", "nan" if value != value else value.hex())
    if t is tuple:
        return ("t", tuple(_normalize(v) for v in value))
    raise TypeError(t.__name__)


def normalize_args(name: str, params: tuple[str, ...], args: tuple[Any, ...]) -> tuple[Hashable, ...]:
    """Turn call arguments into a key tuple, naming the offending argument if one is not allowed."""
    if all(type(a) in PLAIN_TYPES for a in args):
        return args
    out = []
    for i, a in enumerate(args):
        try:
            out.append(_normalize(a))
        except TypeError as exc:
            pname = f" ({params[i]!r})" if i < len(params) else ""
            raise TypeError(
                f"{name}(): argument {i + 1}{pname} must be {_ALLOWED}, not {exc.args[0]}"
            ) from None
    return tuple(out)


def _denormalize(value: Hashable) -> Any:
    if type(value) is tuple:
        tag, payload = value
        if tag == "b":
            return payload
        if tag == "f":
            return float("nan") if payload == "nan" else float.fromhex(payload)
        return tuple(_denormalize(v) for v in payload)
    return value


def denormalize_args(key_args: tuple[Hashable, ...]) -> tuple[Any, ...]:
    """Recover the call arguments from a key tuple (to re-execute a call found in the store)."""
    if all(type(a) in PLAIN_TYPES for a in key_args):
        return key_args
    return tuple(_denormalize(a) for a in key_args)


def call_label(key: Key) -> str:
    """A readable rendering of a key, e.g. ``double(rt, 1)``."""
    fn_id, key_args = key
    name = fn_id.rsplit(".", 1)[-1]
    args = denormalize_args(key_args)
    inner = ", ".join(["rt", *map(repr, args)])
    return f"{name}({inner})"


def code_fingerprint(code: types.CodeType) -> str:
    """A hash of what a function's code does, ignoring where it sits in its file."""
    h = hashlib.sha256()

    def feed(c: types.CodeType) -> None:
        h.update(c.co_code)
        h.update(repr((c.co_names, c.co_varnames, c.co_freevars, c.co_cellvars)).encode())
        for const in c.co_consts:
            if isinstance(const, types.CodeType):
                feed(const)
            else:
                h.update(_const_text(const).encode())

    feed(code)
    return h.hexdigest()[:16]


def _const_text(const: Any) -> str:
    """``repr`` of a code constant, with set elements sorted: their order follows string hashing.

    ``x in {"a", "b"}`` compiles to a frozenset constant whose repr changes with
    PYTHONHASHSEED, which would give the same code another fingerprint in every process.
    """
    if type(const) is frozenset:
        return "frozenset({" + ", ".join(sorted(_const_text(c) for c in const)) + "})"
    if type(const) is tuple:
        return "(" + "".join(_const_text(c) + ", " for c in const) + ")"
    return repr(const)
