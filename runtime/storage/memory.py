"""The in-memory backend: plain dicts, lost with the process; the default storage."""
from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

from ..keys import Key
from ..memo import FAILED_PREFIX, InputRecord, Memo
from .base import Storage, StoreStats


class MemoryStorage(Storage):
    """Keeps everything in dicts owned by one process; nothing to load or flush."""

    always_current = True

    def __init__(self) -> None:
        self.revision = 0
        self._inputs: dict[Key, InputRecord] = {}
        self._memos: dict[Key, Memo] = {}
        self._codes: dict[str, str] = {}
        # Bound C methods: the memo-hit path calls these directly.
        self.get_memo = self._memos.get  # type: ignore[method-assign]
        self.get_input = self._inputs.get  # type: ignore[method-assign]

    def unit_of_work(self, write: bool = False) -> AbstractContextManager[None]:
        """Nothing to load or flush: the dicts are the store."""
        return nullcontext()

    def get_input(self, key: Key) -> InputRecord | None:  # replaced per instance
        """Return the input record for ``key``."""
        return self._inputs.get(key)

    def set_input(self, key: Key, record: InputRecord) -> None:
        """Store the input record."""
        self._inputs[key] = record

    def new_revision(self, changed: Key) -> int:
        """Bump the revision counter."""
        self.revision += 1
        return self.revision

    def get_memo(self, key: Key) -> Memo | None:  # replaced per instance
        """Return the memo for ``key``."""
        return self._memos.get(key)

    def put_memo(self, key: Key, memo: Memo) -> None:
        """Store the memo."""
        self._memos[key] = memo
        if not memo.code.startswith(FAILED_PREFIX):
            self._codes[key[0]] = memo.code

    def stored_code(self) -> dict[str, str]:
        """The code of each function's latest memo."""
        return dict(self._codes)

    def record_code(self, codes: dict[str, str]) -> None:
        """Remember the new code."""
        self._codes.update(codes)

    def mark_verified(self, key: Key, memo: Memo) -> None:
        """Memos are shared objects here, so verifying updates them in place."""
        memo.verified_at = self.revision

    def stats(self) -> StoreStats:
        """Count inputs, memos and dependency edges."""
        return StoreStats(
            inputs=len(self._inputs),
            memos=len(self._memos),
            edges=sum(len(m.deps) for m in self._memos.values()),
        )
