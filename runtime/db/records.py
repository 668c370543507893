"""Rows as the engine's records: memos and inputs read at a revision, the rest read on first use.

``StoredMemo`` is a memo row read at the unit of work's revision R: it holds what verification
needs (``changed_at``, ``verified_at``, code version, dependency list) and raises
``StaleSnapshot`` if the row changed after R; its value digest, duration and value (its
*details*) come with a read by key, or on first use for a memo of a function loaded whole.
``StoredInput`` is an input row whose value is decoded (or, when large, read) on first use.
A large value is read only if its row still holds what its metadata described, so a record
never mixes two versions of a row.  ``FunctionRows`` is what is known of one function's rows:
loaded whole, or read key by key.  Records read what they lack from a ``RowSource`` passed in.
"""
from __future__ import annotations

from typing import Any, Protocol

from msgpack import unpackb

from runtime.memo import InputRecord, Memo
from runtime.storage.base import StaleSnapshot

from .codec import decode
from .rows import unpack_deps
from .sql import INPUT, MEMO

__all__ = ["FunctionRows", "RowSource", "StoredInput", "StoredMemo"]

#: A record's value before it was decoded (None is a value).
_UNREAD: Any = object()


class RowSource(Protocol):
    """Where records read what their rows did not bring."""

    def memo_details(self, rows: FunctionRows, memo: StoredMemo) -> tuple[str, float, bytes | None]:
        """The value digest, duration and inline value of ``memo``, a row of ``rows``."""

    def large_value(self, table: str, record: StoredMemo | StoredInput) -> bytes:
        """The value of ``record``'s row in ``table``, if the row still holds what was read."""


class FunctionRows:
    """What is known of one function's rows: loaded whole (``by_digest``) or read key by key.

    ``details`` holds, once a memo loaded whole was used, every row's details by row id.
    """

    __slots__ = ("source", "function", "by_digest", "details", "asked", "too_many")

    def __init__(self, source: RowSource, function: str) -> None:
        self.source, self.function = source, function
        self.by_digest: dict[str, tuple[Any, ...]] | None = None
        self.details: dict[int, tuple[Any, ...]] | None = None
        self.asked = 0
        self.too_many = False  # more rows than a whole-function load takes: always read by key


class StoredMemo(Memo):
    """A memo read from the table at revision R: what verification needs now, the rest on first use.

    ``details`` is the row's value digest, duration and inline value (None when large: read on
    first use); a read by key brings them with the row, a whole-function load does not.  The
    value lives in this class's own slot, decoded on first use.
    """

    __slots__ = ("row_id", "details", "_rows", "_value")

    def __init__(self, rows: FunctionRows, row: tuple[Any, ...], revision: int) -> None:
        """Raise StaleSnapshot if the row changed after ``revision``."""
        # Slots are set directly (not through Memo.__init__): a walk makes thousands.
        self.row_id, self.changed_at, verified_at, self.code, deps = row[0], row[2], row[3], row[4], row[5]
        if self.changed_at > revision:
            raise StaleSnapshot()
        # A memo verified after R but unchanged since before R is valid at R too.
        self.verified_at = verified_at if verified_at < revision else revision
        self.deps = unpackb(deps[1:], use_list=False) if deps[0] == 0x6D else unpack_deps(deps)
        self.details, self._rows, self._value = row[6:] or None, rows, _UNREAD
        self.inputs = None

    @classmethod
    def written(cls, rows: FunctionRows, row_id: int, memo: Memo, digest: str) -> StoredMemo:
        """``memo`` as this process just wrote it to row ``row_id``."""
        stored = cls.__new__(cls)
        stored.row_id, stored.changed_at, stored.verified_at = row_id, memo.changed_at, memo.verified_at
        stored.code, stored.deps, stored.details, stored._rows = memo.code, memo.deps, (digest, memo.duration, None), rows
        stored._value, stored.inputs = memo.value, memo.inputs
        return stored

    def _details(self) -> tuple[str, float, bytes | None]:
        if self.details is None:
            self.details = self._rows.source.memo_details(self._rows, self)
        return self.details

    @property
    def digest(self) -> str:
        """Digest of the encoded value (equal digests: equal values)."""
        return self._details()[0]

    @property  # type: ignore[override]
    def duration(self) -> float:
        """Seconds the execution took."""
        return self._details()[1]

    @property  # type: ignore[override]
    def value(self) -> Any:
        """The decoded value."""
        value = self._value
        if value is _UNREAD:
            blob = self._details()[2]
            if blob is None:
                blob = self._rows.source.large_value(MEMO, self)
            value = self._value = decode(blob)
        return value

    @value.setter
    def value(self, new: Any) -> None:
        self._value = new

    @property
    def decoded(self) -> bool:
        """Whether the value was decoded (or set) already."""
        return self._value is not _UNREAD


class StoredInput(InputRecord):
    """An input row: its value is decoded (or, when large, read) on first use.

    ``value`` is a property over this class's own ``_value`` slot.  The record is frozen like
    every ``InputRecord`` (and on Python 3.11 a frozen dataclass's ``__setattr__`` refuses even
    a slotted subclass's own slots), so slots are set with ``object.__setattr__``, as the
    dataclass's own ``__init__`` sets its fields.
    """

    __slots__ = ("row_id", "_source", "_blob", "_value")

    def __init__(self, source: RowSource, row: tuple[Any, ...]) -> None:
        row_id, _, changed_at, deleted, blob = row
        for name, value in (("row_id", row_id), ("changed_at", changed_at), ("deleted", bool(deleted)),
                            ("_source", source), ("_blob", blob), ("_value", None if deleted else _UNREAD)):
            object.__setattr__(self, name, value)

    @property  # type: ignore[override]
    def value(self) -> Any:
        """The decoded value (None for a deleted input)."""
        value = self._value
        if value is _UNREAD:
            value = decode(self._blob if self._blob is not None else self._source.large_value(INPUT, self))
            object.__setattr__(self, "_value", value)
            object.__setattr__(self, "_blob", None)
        return value
