"""Benchmark of the persistent memo store against the goals in the memo-store spec.

    python bench/bench_memo_store.py [--repeat N] [--postgres URL | --no-postgres]

Runs on a fresh SQLite file (WAL mode, as the default settings use) and, when reachable, on
PostgreSQL (default postgres://postgres@127.0.0.1:5432/salsaweb_bench, created and dropped
here), and prints one table measured in one run, best of N repeats:

- cold: execute and write a chain of 1,000 cheap memos (goals: <= 10 queries; on SQLite within
  10x the in-memory backend);
- warm: re-verify that chain in the running process that holds it, after another process
  (another store object) changed an input the chain does not read: the revision is read, the
  log followed, 1,000 verifications written (goals: <= 10 queries; on SQLite within 5x the
  in-memory backend's re-verification);
- after restart: the same re-verification by a new process, which reads the rows first
  (goal: <= 10 queries; its time is reported against both in-memory cases: a restarted
  in-memory runtime has nothing and must execute everything again).

Exits with status 1 if a goal is missed.
"""
from __future__ import annotations

import argparse
import itertools
import sys
from time import perf_counter
from typing import Callable

from databases import setup_databases

CHAIN = 1000
_names = itertools.count()


def _best(repeat: int, run: Callable[[], float]) -> float:
    return min(run() for _ in range(repeat))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432/salsaweb_bench")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    aliases = setup_databases(None if args.no_postgres else args.postgres)

    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    from runtime import Runtime, declare_input, derived
    from runtime.storage import MemoryStorage
    from runtime.db.storage import DatabaseStorage

    @declare_input
    def base(rt) -> float:
        """The bottom of the chain."""

    @declare_input
    def elsewhere(rt) -> int:
        """Read by nothing in the chain."""

    @derived
    def chain(rt, n: int) -> float:
        return base(rt) if n == 0 else chain(rt, n - 1) + 1.0

    def store(alias: str | None):
        return MemoryStorage() if alias is None else DatabaseStorage(f"bench-{next(_names)}", using=alias)

    def cold(alias: str | None, count: bool) -> tuple[float, int]:
        rt = Runtime(storage=store(alias))
        base.set(rt, 1.0)
        return timed(alias, count, lambda: chain(rt, CHAIN - 1), rt, executions=CHAIN, verifications=0)

    def computed(alias: str | None) -> tuple[Runtime, Runtime]:
        """A runtime that computed the chain, and another process's runtime that set an input it does not read."""
        storage = store(alias)
        rt = Runtime(storage=storage)
        base.set(rt, 1.0)
        elsewhere.set(rt, 0)
        chain(rt, CHAIN - 1)
        other = rt if alias is None else Runtime(storage=DatabaseStorage(storage.namespace, using=alias))
        elsewhere.set(other, 1)
        return rt, other

    def warm(alias: str | None, count: bool) -> tuple[float, int]:
        rt, _ = computed(alias)
        if alias is None:  # a fresh runtime object on the same store, as before
            rt = Runtime(storage=rt.storage)
        return timed(alias, count, lambda: chain(rt, CHAIN - 1), rt, executions=0, verifications=CHAIN)

    def restarted(alias: str, count: bool) -> tuple[float, int]:
        _, other = computed(alias)
        rt = Runtime(storage=DatabaseStorage(other.storage.namespace, using=alias))
        return timed(alias, count, lambda: chain(rt, CHAIN - 1), rt, executions=0, verifications=CHAIN)

    def timed(alias: str | None, count: bool, call: Callable[[], object], rt: Runtime, **expected: int):
        """Time ``call`` (or count its queries: Django's query capture slows statements down)."""
        before = {name: getattr(rt.counters, name) for name in expected}
        if count:
            with CaptureQueriesContext(connections[alias or "default"]) as queries:
                call()
            result = (0.0, len(queries))
        else:
            start = perf_counter()
            call()
            result = (perf_counter() - start, 0)
        assert {name: getattr(rt.counters, name) - before[name] for name in expected} == expected
        return result

    def measure(fn, alias):
        """Best time of ``repeat`` runs, and the query count of one more."""
        best = min(fn(alias, False)[0] for _ in range(args.repeat))
        return best, (fn(alias, True)[1] if alias else 0)

    mem_cold, _ = measure(cold, None)
    mem_warm, _ = measure(warm, None)
    print(f"{'backend':<12}{'case':<40}{'ms':>9}{'vs memory':>12}{'queries':>9}{'goal':>22}")
    print(f"{'memory':<12}{'cold: execute 1,000 memos':<40}{mem_cold * 1e3:>9.2f}{'1.0x':>12}{'-':>9}")
    print(f"{'memory':<12}{'warm: re-verify 1,000 memos':<40}{mem_warm * 1e3:>9.2f}{'1.0x':>12}{'-':>9}")
    failed = []
    for alias in aliases:
        vendor = connections[alias].vendor
        c, cq = measure(cold, alias)
        w, wq = measure(warm, alias)
        r, rq = measure(restarted, alias)
        rows = [
            ("cold: execute 1,000 memos", c, f"{c / mem_cold:.1f}x", cq, 10.0 if vendor == "sqlite" else None,
             c / mem_cold),
            ("warm: re-verify 1,000 memos", w, f"{w / mem_warm:.1f}x", wq, 5.0 if vendor == "sqlite" else None,
             w / mem_warm),
            ("after restart: re-verify 1,000", r, f"{r / mem_warm:.1f}x/{r / mem_cold:.2f}x", rq, None, 0.0),
        ]
        for case, t, ratio_text, q, goal, ratio in rows:
            ok = q <= 10 and (goal is None or ratio <= goal)
            goal_text = f"<=10 queries" + (f", <={goal:g}x" if goal else "")
            print(f"{vendor:<12}{case:<40}{t * 1e3:>9.2f}{ratio_text:>12}{q:>9}{goal_text:>22}{'' if ok else '  MISSED'}")
            if not ok:
                failed.append(f"{vendor} {case}")
    print("after restart: time against the in-memory re-verification / against in-memory execution of all 1,000")
    if "postgres" in aliases:
        connections["postgres"].close()
    if failed:
        print("missed:", ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
