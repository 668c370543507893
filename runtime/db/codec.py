"""Exact, pickle-free encoding of memo and input values for persistent backends.

Values round-trip bit for bit: None, bool, int (any size), float (NaN payloads aside,
including inf and -0.0), str, bytes, tuple, list, dict (any encodable keys), numpy arrays of
any shape and numeric dtype (bool, int, uint, float, complex) and numpy scalars, nested, and
the engine's ``MISSING`` and ``Change`` (what ``changes(rt)`` returns; the change's input
function is stored by id and must be declared where it is decoded).  Anything else is a
``TypeError`` unless a codec was registered for its exact type with ``register_codec``.  The
format is MessagePack with extension types for what it lacks.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import msgpack
import numpy as np

from runtime.change import MISSING, Change
from runtime.function import REGISTRY, InputFunction

_BIGINT, _TUPLE, _NDARRAY, _NPSCALAR, _CUSTOM = 1, 2, 3, 4, 5
_NUMERIC_KINDS = frozenset("biufc")


@dataclass(frozen=True)
class Codec:
    """How to store values of one type: ``encode`` to an encodable value, ``decode`` back."""

    name: str
    type: type
    encode: Callable[[Any], Any]
    decode: Callable[[Any], Any]


_BY_TYPE: dict[type, Codec] = {}
_BY_NAME: dict[str, Codec] = {}


def register_codec(cls: type, name: str, encode: Callable[[Any], Any], decode: Callable[[Any], Any]) -> None:
    """Allow values of exactly ``cls`` to be stored, as ``encode(value)`` under ``name``.

    ``encode`` must return an encodable value and ``decode(encode(v))`` must equal ``v``.
    The name is stored with each value, so keep it stable across releases.
    """
    known = _BY_NAME.get(name)
    if known is not None and known.type is not cls:
        raise ValueError(f"codec name {name!r} is already registered for {known.type.__qualname__}")
    codec = Codec(name, cls, encode, decode)
    _BY_TYPE[cls] = codec
    _BY_NAME[name] = codec


def _input_function(fn_id: str) -> InputFunction:
    """The declared input function ``fn_id`` (a stored ``Change`` names its function by id)."""
    fn = REGISTRY.lookup(fn_id)
    if not isinstance(fn, InputFunction):
        raise ValueError(f"stored change names input {fn_id!r}, which is not declared in this process")
    return fn


register_codec(type(MISSING), "runtime.MISSING", lambda _: None, lambda _: MISSING)
register_codec(
    Change,
    "runtime.Change",
    lambda c: [c.function.id, c.key, c.old, c.new],
    lambda fields: Change(_input_function(fields[0]), tuple(fields[1]), fields[2], fields[3]),
)


def _default(obj: Any) -> msgpack.ExtType:
    t = type(obj)
    if t is tuple:
        return msgpack.ExtType(_TUPLE, _pack(list(obj)))
    if t is int:  # only reached when it does not fit in 64 bits
        return msgpack.ExtType(_BIGINT, str(obj).encode())
    if t is np.ndarray:
        if obj.dtype.kind not in _NUMERIC_KINDS or obj.dtype.fields is not None:
            raise TypeError(f"numpy array of dtype {obj.dtype}")
        # A byte view packs as bin, the same bytes as ``tobytes()`` without copying them first.
        data = memoryview(np.ascontiguousarray(obj)).cast("B") if obj.size else b""
        return msgpack.ExtType(_NDARRAY, _pack([obj.dtype.str, list(obj.shape), data]))
    if isinstance(obj, np.generic) and obj.dtype.kind in _NUMERIC_KINDS:
        return msgpack.ExtType(_NPSCALAR, _pack([obj.dtype.str, obj.tobytes()]))
    codec = _BY_TYPE.get(t)
    if codec is not None:
        return msgpack.ExtType(_CUSTOM, _pack([codec.name, codec.encode(obj)]))
    raise TypeError(t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}")


def _ext_hook(code: int, data: bytes) -> Any:
    if code == _TUPLE:
        return tuple(_unpack(data))
    if code == _BIGINT:
        return int(data.decode())
    if code == _NDARRAY:
        dtype, shape, raw = _unpack(data)
        return np.frombuffer(raw, dtype=np.dtype(dtype)).reshape(shape)  # read-only, like every memo
    if code == _NPSCALAR:
        dtype, raw = _unpack(data)
        return np.frombuffer(raw, dtype=np.dtype(dtype))[0]
    if code == _CUSTOM:
        name, payload = _unpack(data)
        codec = _BY_NAME.get(name)
        if codec is None:
            raise ValueError(f"stored value needs codec {name!r}, which is not registered in this process")
        return codec.decode(payload)
    raise ValueError(f"unknown extension type {code} in stored value")


def _pack(value: Any) -> bytes:
    return msgpack.packb(value, default=_default, strict_types=True, use_bin_type=True, datetime=False)


def _unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, ext_hook=_ext_hook, raw=False, strict_map_key=False, use_list=True)


def encode(value: Any) -> bytes:
    """Encode a value; a ``TypeError`` names the first type that cannot be stored."""
    try:
        return _pack(value)
    except TypeError as exc:
        raise TypeError(f"cannot store a value of type {exc.args[0]}") from None
    except OverflowError:
        raise TypeError("cannot store an integer this large as a dict key or inside an array") from None


def decode(data: bytes) -> Any:
    """Decode what ``encode`` produced."""
    return _unpack(bytes(data))


def preview(value: Any, limit: int = 120) -> str:
    """A short human-readable rendering for the admin: numbers, short lists, array shape/dtype/head."""
    text = _preview(value, 0)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _preview(value: Any, depth: int) -> str:
    if type(value) is np.ndarray:
        head = ", ".join(repr(x) for x in value.ravel()[:4].tolist())
        more = ", …" if value.size > 4 else ""
        return f"array{value.shape} {value.dtype} [{head}{more}]"
    if depth > 2:
        return "…"
    if type(value) in (tuple, list):
        inner = ", ".join(_preview(v, depth + 1) for v in value[:5])
        more = ", …" if len(value) > 5 else ""
        open_, close = ("(", ")") if type(value) is tuple else ("[", "]")
        return f"{open_}{inner}{more}{close}" if len(value) != 1 or type(value) is list else f"({inner},)"
    if type(value) is dict:
        items = list(value.items())
        inner = ", ".join(f"{k!r}: {_preview(v, depth + 1)}" for k, v in items[:5])
        return "{" + inner + (", …" if len(items) > 5 else "") + "}"
    return repr(value)
