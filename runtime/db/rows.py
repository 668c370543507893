"""How keys, arguments, values and dependency lists are written into the store's rows.

A key is stored as its function id, the canonical text of its arguments (``args_text``, read
back by ``parse_args_text``) and ``key_digest``, which identifies it within a namespace.  A
value is stored encoded by ``runtime.db.codec`` (never pickled) with ``value_digest``: equal
digests mean bit-identical values, which is what backdating compares.  A memo's dependency
list is packed into one column (``pack_deps``): plain MessagePack behind the tag ``b"m"``
(``StoredMemo`` unpacks that case inline), the codec behind ``b"c"`` when an argument needs it.
"""
from __future__ import annotations

import ast
import functools
import hashlib
from typing import Hashable

import msgpack

from runtime.keys import Key

from .codec import decode, encode

__all__ = ["args_text", "key_digest", "pack_deps", "parse_args_text", "unpack_deps", "value_digest"]


def args_text(key_args: tuple[Hashable, ...]) -> str:
    """Canonical text of normalized arguments (``repr`` is exact for the types keys allow)."""
    return repr(key_args)


@functools.lru_cache(maxsize=65536)
def parse_args_text(text: str) -> tuple[Hashable, ...]:
    """Inverse of ``args_text``."""
    return ast.literal_eval(text)


@functools.lru_cache(maxsize=65536)
def key_digest(function: str, key_args: tuple[Hashable, ...]) -> str:
    """The 40-hex-digit digest that identifies a key within a namespace."""
    return hashlib.sha1(f"{function}\x00{args_text(key_args)}".encode()).hexdigest()


def value_digest(blob: bytes) -> str:
    """Digest of an encoded value: equal digests mean bit-identical values."""
    return hashlib.blake2b(blob, digest_size=16).hexdigest()


def pack_deps(deps: tuple[Key, ...]) -> bytes:
    """Encode a dependency list; plain MessagePack (decoded in C) unless an argument needs the codec."""
    try:
        return b"m" + msgpack.packb(deps, use_bin_type=True)
    except (OverflowError, TypeError):
        return b"c" + encode(deps)


def unpack_deps(blob: bytes) -> tuple[Key, ...]:
    """Inverse of ``pack_deps``: keys are tuples of tuples again (``StoredMemo`` inlines the plain case)."""
    if blob[0] == 0x6D:  # b"m"
        return _unpackb(blob[1:], use_list=False)
    return decode(bytes(blob[1:]))


_unpackb = msgpack.unpackb
