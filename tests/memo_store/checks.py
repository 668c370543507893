"""Whole-store consistency checks shared by the memo-store tests."""
from __future__ import annotations

from runtime import Runtime
from runtime.db.codec import decode
from runtime.db.models import InputValue, Memo, MemoDependency, Namespace
from runtime.db.rows import parse_args_text
from runtime.function import REGISTRY
from runtime.keys import denormalize_args
from runtime.values import values_equal


def store_problems(namespace: str) -> list[str]:
    """Every way the stored namespace disagrees with itself or with recomputing from its inputs.

    Structural: revisions in order, edges numbered 0..k-1.  Semantic: each memo claimed
    current (verified at the namespace's revision) has the value and the dependency list
    that a fresh in-memory runtime computes from the stored inputs.
    """
    problems = []
    ns = Namespace.objects.get(name=namespace)
    fresh = Runtime()
    for row in InputValue.objects.filter(namespace=ns, deleted=False):
        REGISTRY.lookup(row.function).set(fresh, *denormalize_args(parse_args_text(row.args_key)), decode(row.value))
    edges: dict[int, list[tuple[int, str, str]]] = {}
    for memo_id, position, function, args_key in MemoDependency.objects.filter(namespace=ns).values_list(
        "memo_id", "position", "function", "args_key"
    ):
        edges.setdefault(memo_id, []).append((position, function, args_key))
    for memo in Memo.objects.filter(namespace=ns).with_verified_at().select_related("verification"):
        verification = getattr(memo, "verification", None)
        if verification is not None and verification.verified_at <= memo.executed_at:
            problems.append(f"{memo.label}: verification {verification.verified_at} not after its execution")
        if not memo.changed_at <= memo.executed_at <= memo.verified_at <= ns.revision:
            problems.append(f"{memo.label}: changed {memo.changed_at} verified {memo.verified_at} rev {ns.revision}")
        stored_deps = sorted(edges.get(memo.id, []))
        if [p for p, _, _ in stored_deps] != list(range(len(stored_deps))):
            problems.append(f"{memo.label}: edge positions {[p for p, _, _ in stored_deps]}")
        if memo.verified_at != ns.revision:
            continue
        fn = REGISTRY.lookup(memo.function)
        key_args = parse_args_text(memo.args_key)
        expected = fn(fresh, *denormalize_args(key_args))
        if not values_equal(decode(memo.value), expected):
            problems.append(f"{memo.label}: stored {decode(memo.value)!r}, recomputed {expected!r}")
        fresh_deps = [(f, repr(a)) for f, a in fresh.storage.get_memo((memo.function, key_args)).deps]
        if [(f, a) for _, f, a in stored_deps] != fresh_deps:
            problems.append(f"{memo.label}: stored deps differ from recomputed deps")
    return problems
