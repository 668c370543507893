"""Verify (red-green): decide, without executing, whether a memo is still valid.

Dependencies are checked in the order they were read.  A derived dependency not yet
verified at this revision is verified first (possibly re-executing it); the first
dependency whose ``changed_at`` is after the memo's ``verified_at`` means the memo must
be re-executed, and later dependencies are not looked at (the control flow may no longer
reach them).  The walk keeps its own stack, so chains of any depth verify without
recursion.

A maintained memo's inputs are not walked: its derived dependencies are checked as above,
then the store's change log is asked which inputs changed since the memo was verified
(``changed_input``), so the cost follows the change, not the number of inputs.  Whether
only inputs changed is passed on to ``execute``, which lets ``changes`` report them.
"""
from __future__ import annotations

from typing import Any

from .context import Context
from .execute import execute
from .function import REGISTRY, DerivedFunction
from .keys import Key, denormalize_args
from .memo import Memo
from .storage.base import Storage

def deep_verify(rt: Context, fn: DerivedFunction, key: Key, args: tuple[Any, ...], memo: Memo) -> Memo:
    """Bring ``memo`` of ``key`` up to the current revision and return the valid memo.

    Exceptions from re-executing ``key`` itself propagate; one from re-executing a
    dependency only marks that dependency changed, so the dependent re-executes and meets
    the error (or handles it) the way it did when it first ran.
    """
    storage = rt.storage
    revision = storage.revision
    in_progress = rt.thread.in_progress
    lookup = REGISTRY.lookup
    storage.prefetch(key)
    # Each entry: [key, memo, next dependency, why it must re-execute (None: not known to)],
    # the why being a ``Event.reason`` kind (``runtime.events``) and its cause.
    stack: list[list[Any]] = [[key, memo, 0, None]]
    on_stack = {key}
    while True:
        entry = stack[-1]
        node, node_memo, i, changed = entry
        deps = node_memo.deps
        verified_at = node_memo.verified_at
        push = None
        while not changed and i < len(deps):
            dep = deps[i]
            dep_fn = lookup(dep[0])
            if dep_fn is None:
                changed = ("missing", dep)
                break
            if dep_fn.is_input:
                record = storage.get_input(dep)
                if record is not None and record.changed_at > verified_at:
                    changed = ("input", dep)
                    break
            else:
                dep_memo = storage.get_memo(dep)
                if dep_memo is None or dep in in_progress or dep in on_stack:
                    changed = ("missing", dep)
                    break
                if dep_memo.code != dep_fn.code:
                    changed = ("code", dep)
                    break
                if dep_memo.verified_at != revision:
                    push = [dep, dep_memo, 0, None]
                    break
                if dep_memo.changed_at > verified_at:
                    changed = ("derived", dep)
                    break
            i += 1
        entry[2] = i
        if push is not None:
            stack.append(push)
            on_stack.add(push[0])
            continue
        if not changed and node_memo.inputs is not None:
            first = changed_input(storage, node_memo)
            if first is not None:
                changed = ("input", first)
        stack.pop()
        on_stack.discard(node)
        if changed:
            derived_changed = changed[0] != "input"
            if not stack:
                return execute(rt, fn, key, args, node_memo, derived_changed, changed)
            node_fn = lookup(node[0])
            assert isinstance(node_fn, DerivedFunction)  # its memo was pushed only if it is declared derived
            try:
                execute(rt, node_fn, node, denormalize_args(node[1]), node_memo, derived_changed, changed)
            except Exception:
                # The dependent re-executes and meets the error itself (raised again, not re-run).
                stack[-1][3] = ("derived", node)
            continue
        storage.mark_verified(node, node_memo)
        rt.counters.verifications += 1
        if rt.listeners:
            rt.emit("did_verify", node)
        if not stack:
            return node_memo


def changed_input(storage: Storage, memo: Memo) -> Key | None:
    """An input of maintained ``memo`` that changed after it was verified (the first the memo read), or None.

    Asks the store's change log for the inputs changed since, and the memo which of those it
    depends on; only when the log cannot tell does it walk every input dependency.
    """
    assert memo.inputs is not None
    verified_at = memo.verified_at
    changed = storage.inputs_changed_since(verified_at)
    if changed is not None:
        return next(iter(memo.inputs.seen(changed)), None) if changed else None
    get_input = storage.get_input
    for dep, _ in memo.inputs.entries():
        record = get_input(dep)
        if record is not None and record.changed_at > verified_at:
            return dep
    return None
