"""Code changes: a derived function whose code changed starts a new revision.

A memo written by other code is never served, but its dependents may be memos verified at
the current revision, which are served without looking at their dependencies.  So when a
runtime finds that the store last saw different code for a function this process declares
(a deploy, a reload), it starts a new revision: every memo is re-verified, the changed
function's memos count as changed, and only what depends on them re-executes.  Each
runtime compares once per generation of the declarations (``Registry.generation``).
"""
from __future__ import annotations

from .context import Context
from .function import REGISTRY

#: The key that code-change revisions are logged under.
CODE_CHANGE = ("runtime.code", ())


def changed_code(rt: Context) -> dict[str, str]:
    """Inside a unit of work: declared code that differs from what the store last saw."""
    declared = REGISTRY.codes()
    return {
        fn_id: declared[fn_id]
        for fn_id, code in rt.storage.stored_code().items()
        if fn_id in declared and declared[fn_id] != code
    }


def apply_code_change(rt: Context) -> None:
    """Start a new revision if the store saw other code for a declared function (a write unit of work)."""
    generation = REGISTRY.generation
    with rt.storage.unit_of_work(write=True):
        changed = changed_code(rt)
        if changed:
            rt.storage.new_revision(CODE_CHANGE)
            rt.storage.record_code(changed)
            rt.counters.input_changes += 1
    rt.code_seen = generation


def code_is_current(rt: Context) -> bool:
    """Inside a unit of work: whether the store's code matches the declarations (and remember it)."""
    if rt.code_seen == REGISTRY.generation:
        return True
    if changed_code(rt):
        return False
    rt.code_seen = REGISTRY.generation
    return True
