"""What the engine did: counters a caller can read and reset, and events for tracing."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable, NamedTuple

from .keys import Key, call_label

#: Event kinds, in the order they can happen for one call.
EVENT_KINDS = (
    "memo_hit",  # a memo verified at the current revision was returned
    "will_execute",  # a derived function is about to run
    "did_execute",  # it returned and its memo was stored
    "did_backdate",  # its new value equals the old one: changed_at kept
    "did_verify",  # a memo was re-verified at the current revision without running
    "suspended",  # a too-deep execution was abandoned to be restarted on a fresh stack
    "input_set",  # an input was set or deleted, starting a new revision
)


@dataclass(slots=True)
class Counters:
    """Running totals since the runtime was made or last reset.

    ``executions`` counts completed executions; ``suspensions`` executions abandoned
    because the call stack was too deep (they run again, so a deep chain's functions can
    run twice).  Increments from threads reading concurrently without the lock may be lost.
    """

    executions: int = 0
    hits: int = 0
    verifications: int = 0
    backdates: int = 0
    suspensions: int = 0
    input_changes: int = 0

    def snapshot(self) -> dict[str, int]:
        """The counters as a plain dict."""
        return asdict(self)


class Event(NamedTuple):
    """One thing the engine did to one key at one revision; ``will_execute`` also says why.

    ``reason`` is ``new`` (no memo yet: first call, or collected), ``failed`` (its last execution
    raised), ``code`` (the code of ``cause``, the call itself or a dependency, changed), ``input``
    (the input ``cause`` changed), ``derived`` (the derived dependency ``cause`` changed) or
    ``missing`` (``cause`` has no memo or is no longer declared); ``why`` says it as text.
    """

    kind: str
    key: Key
    revision: int
    reason: str | None = None
    cause: Key | None = None

    @property
    def label(self) -> str:
        """The call as text, e.g. ``double(rt, 1)``."""
        return call_label(self.key)

    @property
    def why(self) -> str | None:
        """Why it executes, as text, e.g. ``input batch(rt, 7) changed`` or ``code of statistics changed``."""
        cause = self.key if self.cause is None else self.cause
        texts = {
            "new": "no memo yet",
            "failed": "its last execution raised",
            "code": f"code of {cause[0].rsplit('.', 1)[-1]} changed",
            "input": f"input {call_label(cause)} changed",
            "derived": f"{call_label(cause)} changed",
            "missing": f"{call_label(cause)} has no memo",
        }
        return None if self.reason is None else texts.get(self.reason, self.reason)


Listener = Callable[[Event], Any]
