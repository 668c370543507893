"""Explain a result: the stored dependency graph below one derived call, as JSON or DOT.

Each node carries the revisions the engine decides with (``changed_at``, ``verified_at``)
and whether it is current (and, for a derived call, whether it is maintained: its inputs are
then all it depends on, carried over from earlier executions), so a reader can see why a call would or would not re-execute.
The graph is read from the store as it is; nothing is computed or verified.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .context import Context
from .function import REGISTRY, DerivedFunction, InputFunction
from .keys import Key, call_label, denormalize_args
from .memo import Memo, failed_code

#: Graphviz attributes by node state; current and set nodes are drawn plain.
_DOT_STYLES = {"stale": ", style=dashed", "missing": ", color=red", "deleted": ", color=red", "failed": ", color=red"}


@dataclass(frozen=True)
class Explanation:
    """Nodes keyed by id (``n0`` is the root), each listing its dependencies' ids in read order."""

    root: str
    revision: int
    nodes: dict[str, dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: ``{"root", "revision", "nodes"}``."""
        return {"root": self.root, "revision": self.revision, "nodes": self.nodes}

    def to_json(self, indent: int | None = None) -> str:
        """The explanation as JSON text."""
        return json.dumps(self.to_dict(), indent=indent, default=repr)

    def to_dot(self) -> str:
        """The explanation as a Graphviz digraph (stale nodes dashed; missing, deleted and failed ones red)."""
        lines = ["digraph explain {", "  rankdir=LR;", "  node [shape=box, fontname=monospace];"]
        for node_id, node in self.nodes.items():
            detail = f"changed@{node['changed_at']}"
            if node["kind"] == "derived":
                detail += f" verified@{node['verified_at']}"
            label = f"{node['label']}\\n{detail} ({node['state']})"
            style = _DOT_STYLES.get(node["state"], "")
            shape = ", shape=ellipse" if node["kind"] == "input" else ""
            lines.append(f'  {node_id} [label="{_escape(label)}"{shape}{style}];')
            for dep in node["deps"]:
                lines.append(f"  {node_id} -> {dep};")
        lines.append("}")
        return "\n".join(lines) + "\n"


def _memo_state(memo: Memo, declared: DerivedFunction | None, revision: int) -> str:
    """``failed`` (its last execution raised), ``current`` or ``stale``."""
    if declared is not None and memo.code == failed_code(declared.code):
        return "failed"
    return "current" if memo.verified_at == revision else "stale"


def _escape(text: str) -> str:
    return text.replace('"', '\\"')


def explain(rt: Context, fn: DerivedFunction, args: tuple[Any, ...]) -> Explanation:
    """Walk the stored memos from ``fn(rt, *args)`` down to the inputs they read."""
    if not isinstance(fn, DerivedFunction):
        raise TypeError(f"explain() takes a derived function, not {fn!r}")
    root = fn.key(args)
    with rt.lock, rt.storage.unit_of_work():
        storage = rt.storage
        revision = storage.revision
        if storage.get_memo(root) is None:
            raise LookupError(f"{call_label(root)} has no memo to explain: call it first")
        ids: dict[Key, str] = {root: "n0"}
        nodes: dict[str, dict[str, Any]] = {}
        todo = [root]
        while todo:
            key = todo.pop()
            declared = REGISTRY.lookup(key[0])
            node: dict[str, Any] = {
                "label": call_label(key),
                "function": key[0],
                "args": list(denormalize_args(key[1])),
            }
            if isinstance(declared, InputFunction):
                record = storage.get_input(key)
                state = "unset" if record is None else ("deleted" if record.deleted else "set")
                node.update(kind="input", state=state, changed_at=record.changed_at if record else 0, deps=[])
            else:
                memo = storage.get_memo(key)
                if memo is None:
                    node.update(kind="derived", state="missing", changed_at=None, verified_at=None, deps=[])
                else:
                    deps = []
                    read = memo.deps if memo.inputs is None else (*memo.deps, *(k for k, _ in memo.inputs.entries()))
                    for dep in read:
                        if dep not in ids:
                            ids[dep] = f"n{len(ids)}"
                            todo.append(dep)
                        deps.append(ids[dep])
                    node.update(
                        kind="derived",
                        state=_memo_state(memo, declared, revision),
                        changed_at=memo.changed_at,
                        verified_at=memo.verified_at,
                        code=memo.code,
                        duration_ms=round(memo.duration * 1000, 3),
                        maintained=memo.inputs is not None,
                        deps=deps,
                    )
            nodes[ids[key]] = node
        ordered = {f"n{i}": nodes[f"n{i}"] for i in range(len(nodes))}
        return Explanation(root="n0", revision=revision, nodes=ordered)
