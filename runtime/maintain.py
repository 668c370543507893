"""Maintained functions: ``changes(rt)`` tells an executing call what changed among the inputs it read.

``previous_output`` gives a call its last value; ``changes`` gives the diff of its inputs
between then and now, so the call can update that value in proportion to the change.  A
call that asks is *maintained*: it keeps depending on everything its previous executions
read, whether it reads it again or not (``execute.maintained_deps``), so a function that
reads only new rows still hears of a later change to an old one.

The diff comes from the store's change log (``Storage.inputs_changed_since``) intersected
with the memo's input dependencies (``InputDeps.seen``): its cost follows the number of
changed inputs, not the number read.  It is None (start over) wherever ``previous_output``
is None, after a failed execution, and when a *derived* dependency changed: a derived
value's old and new versions are not inputs with a diff to report.
"""
from __future__ import annotations

from typing import Any

from .change import MISSING, Change
from .context import NOT_ASKED, Context
from .errors import OutsideDerivedError
from .function import REGISTRY, InputFunction
from .keys import Key, denormalize_args
from .memo import FAILED_PREFIX, InputRecord, Memo, Seen
from .values import values_equal


def changes(rt: Context) -> tuple[Change, ...] | None:
    """Inside a derived function: the inputs whose values differ since its previous execution, or None.

    One ``Change(function, key, old, new)`` per input the previous execution depended on
    whose value is different now, in the order it was first read; ``MISSING`` stands for no
    value.  None means there is nothing to maintain from: compute from scratch.  Calling it
    makes the function maintained (see the module docstring).
    """
    frame = rt.thread.frame
    if frame is None:
        raise OutsideDerivedError("changes() can only be called inside a derived function")
    if frame.delta is NOT_ASKED:
        old = frame.old
        if old is None or old.inputs is None or frame.derived_changed or old.code.startswith(FAILED_PREFIX):
            frame.delta = None
        else:
            frame.delta = _diff(rt, old, frame.deps)
    return frame.delta


def _diff(rt: Context, old: Memo, reads: dict[Key, InputRecord | None]) -> tuple[Change, ...] | None:
    """The changes of ``old``'s inputs since it was verified; each reported input counts as read now."""
    assert old.inputs is not None
    storage = rt.storage
    candidates = storage.inputs_changed_since(old.verified_at)
    seen: dict[Key, Seen] = old.inputs.seen(candidates) if candidates is not None else dict(old.inputs.entries())
    found: list[tuple[int, Change]] = []
    lookup = REGISTRY.lookup
    for key, (position, before) in seen.items():
        now = storage.get_input(key)
        if now is before or (now is not None and before is not None and now.changed_at == before.changed_at):
            continue
        fn = lookup(key[0])
        if not isinstance(fn, InputFunction):
            return None  # an input no longer declared: nothing sound to report
        reads.setdefault(key, now)
        old_value, new_value = _value(before), _value(now)
        if not values_equal(old_value, new_value):
            found.append((position, Change(fn, denormalize_args(key[1]), old_value, new_value)))
    found.sort(key=lambda pair: pair[0])
    return tuple(change for _, change in found)


def _value(record: InputRecord | None) -> Any:
    """An input record's value, or MISSING when it has none."""
    return MISSING if record is None or record.deleted else record.value
