"""Rows as the engine's records: memos and inputs read at a revision, the rest read on first use.

``StoredMemo`` is a memo row read at the unit of work's revision R: it holds what verification
needs (``changed_at``, ``verified_at``, code version, dependency list) and raises
``StaleSnapshot`` if the row changed after R; its value digest, duration and value (its
*details*) come with a read by key, or on first use for a memo of a function loaded whole.
``StoredInput`` is an input row whose value is decoded (or, when large, read) on first use, and
``ArchivedInput`` an overwritten version of one (``InputVersion``).  A large value is read only
if its row still holds what its metadata described, so a record never mixes two versions of a
row.  ``FunctionRows`` is what is known of one function's rows: loaded whole, or read key by key.

``StoredInputDeps`` is a maintained memo's input dependencies: edge rows that belong to one
write of the memo row (its flush token), read by key when asked (``seen``) and never loaded
whole on the common path, plus what the latest execution read (``saw``), written as upserts
of just those edges when the memo is flushed.  Records read what they lack from a
``RowSource`` passed in.
"""
from __future__ import annotations

from typing import Any, Iterable, Iterator, Mapping, Protocol

from msgpack import unpackb

from runtime.keys import Key
from runtime.memo import InputDeps, InputRecord, Memo, Seen
from runtime.storage.base import StaleSnapshot

from .codec import decode
from .rows import unpack_deps
from .sql import INPUT, MEMO, VERSION

__all__ = ["ArchivedInput", "FunctionRows", "RowSource", "StoredInput", "StoredInputDeps", "StoredMemo"]

#: A record's value before it was decoded (None is a value).
_UNREAD: Any = object()


class RowSource(Protocol):
    """Where records read what their rows did not bring."""

    def memo_details(self, rows: FunctionRows, memo: StoredMemo) -> tuple[str, float, bytes | None]:
        """The value digest, duration and inline value of ``memo``, a row of ``rows``."""

    def large_value(self, table: str, record: StoredMemo | StoredInput) -> bytes:
        """The value of ``record``'s row in ``table``, if the row still holds what was read."""

    def input_deps(self, deps: StoredInputDeps, keys: Iterable[Key] | None) -> dict[Key, Seen]:
        """The stored input edges of ``deps`` among ``keys`` (all of them for None), with the records they read."""


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
        token = row[6]
        self.inputs = None if token is None else StoredInputDeps(rows.source, row[0], token, row[7])
        self.details, self._rows, self._value = row[8:] or None, rows, _UNREAD

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
    #: The table its large value is read from.
    table = INPUT

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
            value = decode(self._blob if self._blob is not None else self._source.large_value(self.table, self))
            object.__setattr__(self, "_value", value)
            object.__setattr__(self, "_blob", None)
        return value


class ArchivedInput(StoredInput):
    """An overwritten version of an input, read from ``InputVersion`` (a row of its own: its large value too)."""

    __slots__ = ()
    table = VERSION


class StoredInputDeps(InputDeps):
    """A maintained memo's input dependencies: stored edges, read by key on demand, and what was seen since.

    ``row_id`` and ``token`` name the memo row and the write of it whose edges these are (None
    until first written: then every entry is held here); a read finding the row rewritten by
    someone else raises ``StaleSnapshot``.  ``saw`` buffers in ``pending`` until the flush writes
    those edges (``stored``), or a put that failed drops them (``discard``).
    """

    __slots__ = ("_source", "row_id", "token", "_count", "_known", "_absent", "pending", "_added", "_complete")

    def __init__(self, source: RowSource, row_id: int | None = None, token: str | None = None, count: int = 0) -> None:
        self._source, self.row_id, self.token, self._count = source, row_id, token, count
        #: Stored entries read so far, and keys known not to be among them.
        self._known: dict[Key, Seen] = {}
        self._absent: set[Key] = set()
        #: Entries the latest executions saw, not written yet; ``_added`` of them are new keys.
        self.pending: dict[Key, Seen] = {}
        self._added = 0
        #: Whether ``_known`` holds every stored entry (nothing to read).
        self._complete = row_id is None

    def __len__(self) -> int:
        return self._count + self._added

    def seen(self, keys: Iterable[Key]) -> dict[Key, Seen]:
        """What was read of those keys the memo depends on: held ones at once, the rest in one read."""
        found: dict[Key, Seen] = {}
        unread = []
        pending, known = self.pending, self._known
        for key in keys:
            entry = pending.get(key) or known.get(key)
            if entry is not None:
                found[key] = entry
            elif not self._complete and key not in self._absent:
                unread.append(key)
        if unread:
            found.update(self._read(unread))
        return found

    def entries(self) -> Iterator[tuple[Key, Seen]]:
        """Every entry in first-read order (reads every stored edge the first time)."""
        if not self._complete:
            self._known = self._source.input_deps(self, None)
            self._absent.clear()
            self._complete = True
        merged = {**self._known, **self.pending}
        return iter(sorted(merged.items(), key=lambda item: item[1].position))

    def saw(self, reads: Mapping[Key, InputRecord | None]) -> None:
        """Buffer the records read: known keys keep their position, new ones go last (one read to tell which)."""
        pending, known, absent = self.pending, self._known, self._absent
        if not self._complete:
            unread = [key for key in reads if key not in pending and key not in known and key not in absent]
            if unread:
                self._read(unread)
        for key, record in reads.items():
            old = pending.get(key) or known.get(key)
            if old is None:
                position = len(self)
                self._added += 1
            else:
                position = old.position
            pending[key] = Seen(position, record)

    def stored(self, row_id: int, token: str) -> None:
        """The flush wrote ``pending`` as row ``row_id``'s edges under ``token``."""
        self._known.update(self.pending)
        self._absent.difference_update(self.pending)
        self.pending = {}
        self._count += self._added
        self._added = 0
        self.row_id, self.token = row_id, token

    def discard(self) -> None:
        """Forget what was seen since the last write (the memo holding it was not stored)."""
        self.pending = {}
        self._added = 0

    def _read(self, keys: list[Key]) -> dict[Key, Seen]:
        """Read the stored entries of ``keys`` and remember which keys have none."""
        found = self._source.input_deps(self, keys)
        self._known.update(found)
        self._absent.update(key for key in keys if key not in found)
        return found
