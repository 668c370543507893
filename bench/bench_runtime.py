"""Benchmark of the engine's hot paths against the goals in the runtime spec (in-memory storage).

    python bench/bench_runtime.py [--repeat N]

Prints one table, measured in one run, best of N repeats (the machine is noisy):

- a memo hit at the current revision vs a ``functools.lru_cache`` hit of the same
  function (goal: at most 10x), with absolute nanoseconds;
- re-verifying a chain of 10,000 derived calls after an input change that does not
  reach it vs 10,000 memo hits (goal: at most 5x, and nothing executes);
- memory per memo entry (tracemalloc) over 100,000 small entries.

Exits with status 1 if a goal is missed.
"""
from __future__ import annotations

import argparse
import functools
import gc
import sys
import timeit
import tracemalloc
from pathlib import Path
from time import perf_counter
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from runtime import Runtime, declare_input, derived  # noqa: E402

CHAIN = 10_000
ENTRIES = 100_000
HIT_CALLS = 200_000
HIT_GOAL = 10.0
VERIFY_GOAL = 5.0


@declare_input
def weight(rt, i: int) -> int:
    """An input read by ``weighted``."""


@declare_input
def base(rt) -> int:
    """The bottom of ``chain``."""


@declare_input
def elsewhere(rt) -> int:
    """An input nothing in the chain reads: changing it starts a revision that does not reach the chain."""


@declare_input
def offset(rt) -> int:
    """Read by every ``small`` entry."""


def weighted_body(rt: Runtime, i: int) -> int:
    """The function measured both as a derived function and under lru_cache."""
    return weight(rt, i) * 3 + 1


weighted = derived(weighted_body)


@derived
def chain(rt, n: int) -> int:
    if n == 0:
        return base(rt)
    return chain(rt, n - 1) + 1


@derived
def small(rt, i: int) -> int:
    return offset(rt) + i


def per_call_ns(stmt: Callable[[], Any], number: int, repeat: int) -> float:
    """Best-of-``repeat`` nanoseconds per call of ``stmt`` over ``number`` calls, loop overhead included."""
    return min(timeit.repeat(stmt, number=number, repeat=repeat)) / number * 1e9


def bench_memo_hit(repeat: int) -> dict[str, float]:
    """A memo hit of ``weighted(rt, 7)`` vs a lru_cache hit of the same body with the same arguments."""
    rt = Runtime()
    weight.set(rt, 7, 2)
    cached = functools.lru_cache(maxsize=None)(weighted_body)
    assert weighted(rt, 7) == cached(rt, 7) == 7
    rt.reset_counters()
    timer_globals = {"weighted": weighted, "cached": cached, "rt": rt}
    memo = min(timeit.repeat("weighted(rt, 7)", number=HIT_CALLS, repeat=repeat, globals=timer_globals))
    lru = min(timeit.repeat("cached(rt, 7)", number=HIT_CALLS, repeat=repeat, globals=timer_globals))
    empty = min(timeit.repeat("pass", number=HIT_CALLS, repeat=repeat))
    assert rt.counters.executions == 0 and rt.counters.hits == HIT_CALLS * repeat
    ns = 1e9 / HIT_CALLS
    return {"memo_ns": memo * ns, "lru_ns": lru * ns, "loop_ns": empty * ns}


def bench_reverify(repeat: int) -> dict[str, float]:
    """Re-verify ``chain(rt, 9999)`` (10,000 calls) after an unrelated change vs 10,000 memo hits."""
    rt = Runtime()
    base.set(rt, 0)
    elsewhere.set(rt, 0)
    top = CHAIN - 1
    assert chain(rt, top) == top
    verify_best = float("inf")
    executions = 0
    for k in range(1, repeat + 1):
        elsewhere.set(rt, k)
        rt.reset_counters()
        start = perf_counter()
        chain(rt, top)
        verify_best = min(verify_best, perf_counter() - start)
        executions += rt.counters.executions
        assert rt.counters.verifications == CHAIN, rt.counters
    calls = range(CHAIN)

    def hits() -> None:
        for n in calls:
            chain(rt, n)

    rt.reset_counters()
    hits_best = min(timeit.repeat(hits, number=1, repeat=repeat))
    assert rt.counters.hits == CHAIN * repeat and rt.counters.executions == 0
    return {"verify_s": verify_best, "hits_s": hits_best, "executions": executions}


def bench_memory() -> dict[str, float]:
    """Bytes allocated per memo of ``small(rt, i)`` (an int value, one input dependency)."""
    rt = Runtime()
    offset.set(rt, 1_000_000)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(ENTRIES):
        small(rt, i)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert rt.storage.stats().memos == ENTRIES
    return {"bytes": (after - before) / ENTRIES}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7, help="repeats per measurement; the best is kept (default 7)")
    args = parser.parse_args()

    hit = bench_memo_hit(args.repeat)
    verify = bench_reverify(args.repeat)
    memory = bench_memory()

    hit_ratio = hit["memo_ns"] / hit["lru_ns"]
    net_ratio = (hit["memo_ns"] - hit["loop_ns"]) / (hit["lru_ns"] - hit["loop_ns"])
    verify_ratio = verify["verify_s"] / verify["hits_s"]
    rows = [
        ("memo hit, current revision", f"{hit['memo_ns']:.0f} ns/call", "", ""),
        ("lru_cache hit, same function", f"{hit['lru_ns']:.0f} ns/call", "", ""),
        ("  (timing loop overhead)", f"{hit['loop_ns']:.0f} ns/call", "", ""),
        ("  ratio memo / lru_cache", f"{hit_ratio:.1f}x", f"<= {HIT_GOAL:.0f}x", _status(hit_ratio <= HIT_GOAL)),
        ("  ratio, loop overhead removed", f"{net_ratio:.1f}x", f"<= {HIT_GOAL:.0f}x", _status(net_ratio <= HIT_GOAL)),
        (f"re-verify {CHAIN:,}-call chain", f"{verify['verify_s'] * 1e3:.2f} ms", "", ""),
        (f"{CHAIN:,} memo hits", f"{verify['hits_s'] * 1e3:.2f} ms", "", ""),
        ("  ratio re-verify / hits", f"{verify_ratio:.1f}x", f"<= {VERIFY_GOAL:.0f}x", _status(verify_ratio <= VERIFY_GOAL)),
        ("  executions while re-verifying", f"{verify['executions']:.0f}", "0", _status(verify["executions"] == 0)),
        (f"memory per memo entry ({ENTRIES:,})", f"{memory['bytes']:.0f} B", "", ""),
    ]
    print(f"Salsaweb runtime benchmark: in-memory storage, Python {sys.version.split()[0]}, best of {args.repeat}")
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    header = ("measurement", "value", "goal", "")
    widths = [max(w, len(h)) for w, h in zip(widths, header)]
    for row in (header, *rows):
        cells = [cell.rjust(w) if i == 1 else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths))]
        print("  ".join(cells).rstrip())
    met = hit_ratio <= HIT_GOAL and net_ratio <= HIT_GOAL and verify_ratio <= VERIFY_GOAL and verify["executions"] == 0
    return 0 if met else 1


def _status(ok: bool) -> str:
    """The table's verdict on one goal."""
    return "ok" if ok else "MISSED"


if __name__ == "__main__":
    sys.exit(main())
