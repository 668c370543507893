"""What the engine did during one training update, from its events: what each function executed, reused and why.

``WorkLog`` listens on a dataset's runtime while ``services.model_train`` trains one mode and
sums, per derived function, its executions, memo hits, re-verifications and backdates, with
the reasons executions gave (``runtime.events.Event.why``: "input batch(rt, 7) changed",
"code of statistics changed").  ``summary()`` is what a run record keeps in ``work``;
``calls()`` (which calls executed and which were re-verified, capped per function) is kept in
``work_calls``, for colouring the model's dependency graph (``selectors.model_graph``).
"""
from __future__ import annotations

from collections import Counter
from typing import Any

from runtime import Event
from runtime.keys import Key, denormalize_args

#: Reasons listed per function in a summary (the rest are counted together as "other reasons").
REASONS_SHOWN = 5
#: Calls kept per function and kind in ``calls()`` (more are counted, not listed).
CALLS_KEPT = 1000
#: The kinds a summary counts, by the event that counts each.
COUNTED = {"did_execute": "executed", "memo_hit": "hits", "did_verify": "verified", "did_backdate": "backdated"}


def _short(function_id: str) -> str:
    """A function's name without its module, as call labels show it."""
    return function_id.rsplit(".", 1)[-1]


class WorkLog:
    """A runtime listener that tallies one update's engine events per function."""

    def __init__(self) -> None:
        self.counts: dict[str, Counter[str]] = {}
        self.reasons: dict[str, Counter[str]] = {}
        self.executed: dict[str, list[Key]] = {}
        self.verified: dict[str, list[Key]] = {}
        self._why: dict[Key, str] = {}

    def __call__(self, event: Event) -> None:
        """Count one event (``will_execute`` only notes why; ``did_execute`` counts it with that reason)."""
        function = event.key[0]
        if event.kind == "will_execute":
            self._why[event.key] = event.why or "unknown"
            return
        counted = COUNTED.get(event.kind)
        if counted is None:
            return
        self.counts.setdefault(function, Counter())[counted] += 1
        if event.kind == "did_execute":
            why = self._why.pop(event.key, "unknown")
            self.reasons.setdefault(function, Counter())[why] += 1
            self.executed.setdefault(function, []).append(event.key)
        elif event.kind == "did_verify":
            self.verified.setdefault(function, []).append(event.key)

    def summary(self) -> dict[str, Any]:
        """Totals and, per function (most executions first), its counts and most common reasons to execute."""
        totals: Counter[str] = Counter()
        functions = []
        for function, counts in self.counts.items():
            totals.update(counts)
            reasons = self.reasons.get(function, Counter()).most_common()
            shown = [{"why": why, "count": n} for why, n in reasons[:REASONS_SHOWN]]
            rest = sum(n for _, n in reasons[REASONS_SHOWN:])
            if rest:
                shown.append({"why": "other reasons", "count": rest})
            functions.append({"function": _short(function), **{k: counts[k] for k in COUNTED.values()},
                              "reasons": shown})
        functions.sort(key=lambda f: (-f["executed"], -f["verified"], f["function"]))
        return {**{k: totals[k] for k in COUNTED.values()}, "functions": functions}

    def calls(self) -> dict[str, dict[str, list[list[Any]]]]:
        """The arguments of the calls executed and re-verified, by kind and full function id (at most ``CALLS_KEPT``)."""
        return {
            kind: {fn: [list(denormalize_args(key[1])) for key in keys[:CALLS_KEPT]] for fn, keys in found.items()}
            for kind, found in (("executed", self.executed), ("verified", self.verified))
        }
