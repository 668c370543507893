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

    Structural: revisions in order, edges numbered 0..k-1 (per kind for a maintained memo, whose
    input edges number ``input_count``).  Semantic: each memo claimed current (verified at the
    namespace's revision) has the value and the dependency list that a fresh in-memory runtime
    computes from the stored inputs; a maintained memo, which carries dependencies over, at
    least those dependencies.
    """
    problems = []
    ns = Namespace.objects.get(name=namespace)
    maintained = set(Memo.objects.filter(namespace=ns, maintained=True).values_list("id", flat=True))
    memo_maintained = maintained.__contains__
    fresh = Runtime()
    for row in InputValue.objects.filter(namespace=ns, deleted=False):
        REGISTRY.lookup(row.function).set(fresh, *denormalize_args(parse_args_text(row.args_key)), decode(row.value))
    edges: dict[int, list[tuple[int, str, str]]] = {}
    input_edges: dict[int, list[tuple[int, str, str]]] = {}
    for memo_id, position, kind, function, args_key in MemoDependency.objects.filter(namespace=ns).values_list(
        "memo_id", "position", "kind", "function", "args_key"
    ):
        maintained_input = kind == "input" and memo_maintained(memo_id)
        (input_edges if maintained_input else edges).setdefault(memo_id, []).append((position, function, args_key))
    for memo in Memo.objects.filter(namespace=ns).with_verified_at().select_related("verification"):
        verification = getattr(memo, "verification", None)
        if verification is not None and verification.verified_at <= memo.executed_at:
            problems.append(f"{memo.label}: verification {verification.verified_at} not after its execution")
        if not memo.changed_at <= memo.executed_at <= memo.verified_at <= ns.revision:
            problems.append(f"{memo.label}: changed {memo.changed_at} verified {memo.verified_at} rev {ns.revision}")
        stored_deps = sorted(edges.get(memo.id, []))
        stored_inputs = sorted(input_edges.get(memo.id, []))
        for group in (stored_deps, stored_inputs):
            if [p for p, _, _ in group] != list(range(len(group))):
                problems.append(f"{memo.label}: edge positions {[p for p, _, _ in group]}")
        if memo.input_count != len(stored_inputs):
            problems.append(f"{memo.label}: input_count {memo.input_count}, {len(stored_inputs)} input edges")
        if memo.verified_at != ns.revision:
            continue
        fn = REGISTRY.lookup(memo.function)
        key_args = parse_args_text(memo.args_key)
        expected = fn(fresh, *denormalize_args(key_args))
        if not values_equal(decode(memo.value), expected):
            problems.append(f"{memo.label}: stored {decode(memo.value)!r}, recomputed {expected!r}")
        fresh_memo = fresh.storage.get_memo((memo.function, key_args))
        fresh_deps = [(f, repr(a)) for f, a in fresh_memo.deps]
        if not memo.maintained and [(f, a) for _, f, a in stored_deps] != fresh_deps:
            problems.append(f"{memo.label}: stored deps differ from recomputed deps")
        if memo.maintained:
            fresh_inputs = {(f, repr(a)) for (f, a), _ in fresh_memo.inputs.entries()}
            if not set(fresh_deps) <= {(f, a) for _, f, a in stored_deps}:
                problems.append(f"{memo.label}: stored derived deps miss recomputed ones")
            if not fresh_inputs <= {(f, a) for _, f, a in stored_inputs}:
                problems.append(f"{memo.label}: stored input deps miss recomputed ones")
    return problems
