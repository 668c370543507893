"""Cost of keeping a maintained function up to date, against the goal in issue 11: in proportion to the change.

    python bench/bench_maintained.py [--sizes 100,1000,10000,100000] [--repeats 7]
                                     [--stores memory,sqlite,postgres] [--quick] [--require-postgres]

``total`` sums ``item(rt, 1..count(rt))`` (a deleted item counts 0): it reads every item on
its first run, then, through ``changes(rt)``, only the changed ones and, when ``count`` grew,
the new ones.  For each N and store (in-memory; ``DatabaseStorage`` on SQLite and on
PostgreSQL, which is skipped with a note when it does not answer) it times the call that
brings ``total`` up to date (median of the repeats; the write before it is not timed) after

- set: one ``item.set`` of an existing key;
- delete: one ``item.delete`` (the item is set again, untimed, before the next repeat);
- new key: ``item.set`` of key N+1 and ``count.set`` in one ``rt.transaction()``;

warm (the runtime that computed ``total`` before) and, on the database stores, after a
restart: the change is written, then a fresh ``DatabaseStorage`` and ``Runtime`` on the same
namespace (with the process-wide key caches of ``runtime.db.rows`` cleared) stand for a new
process.  One more run per case counts its SQL queries (Django's query capture slows
statements down, so it is not timed).  Every answer is checked against the sum of the
current values.  Goal, per row: time at the largest N within 2x of the smallest, and as many
queries.  ``--quick`` (sizes 100, 1000; 3 repeats) is a smoke run.  Exits with status 1 if a
goal is missed.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

from databases import setup_databases

from runtime import MISSING, MissingInputError, Runtime, changes, declare_input, derived, previous_output
from runtime.storage import MemoryStorage

STORES = ("memory", "sqlite", "postgres")
SCENARIOS = ("set", "delete", "new key")
SIZES = (100, 1_000, 10_000, 100_000)
QUICK_SIZES = (100, 1_000)
RATIO_GOAL = 2.0
POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/salsaweb_bench11"
#: How many executions of ``total`` started from scratch (``changes`` gave nothing to maintain from).
from_scratch = 0


@declare_input
def item(rt: Runtime, k: int) -> int:
    """One summed value."""


@declare_input
def count(rt: Runtime) -> int:
    """How many items there are: keys 1..count (it only grows here)."""


def item_or_zero(rt: Runtime, k: int) -> int:
    """``item(rt, k)``, 0 for a deleted item (the read is a dependency either way)."""
    try:
        return item(rt, k)
    except MissingInputError:
        return 0


def number(value: Any) -> int:
    """A reported value as a summand: MISSING counts 0."""
    return 0 if value is MISSING else value


@derived
def total(rt: Runtime) -> int:
    """The sum of the items: from scratch on the first run, afterwards from the reported changes."""
    global from_scratch
    prev, delta = previous_output(rt), changes(rt)
    if prev is None or delta is None:
        from_scratch += 1
        return sum(item_or_zero(rt, k) for k in range(1, count(rt) + 1))
    t = prev
    for c in delta:
        if c.function is item:
            t += number(c.new) - number(c.old)
        else:  # count grew: read the new items
            t += sum(item_or_zero(rt, k) for k in range(c.old + 1, c.new + 1))
    return t


@dataclass
class Measured:
    """One case at one N: the median update time, its query count, whether an update started from scratch."""

    seconds: float
    queries: int | None
    scratch: bool


@dataclass
class Workload:
    """A namespace holding N items, its runtime, and the values ``total`` must add up to."""

    store: str
    alias: str | None
    n: int
    rt: Runtime = field(init=False)
    values: dict[int, int] = field(default_factory=dict)
    namespace: str = field(default_factory=lambda: f"bench11-{uuid.uuid4().hex[:12]}")

    def __post_init__(self) -> None:
        self.rt = self.fresh_runtime()

    def fresh_runtime(self) -> Runtime:
        """A new runtime: on a database store, a new store object on the namespace, as a new process has."""
        if self.alias is None:
            return Runtime(storage=MemoryStorage())
        from runtime.db import rows
        from runtime.db.storage import DatabaseStorage

        rows.key_digest.cache_clear()
        rows.parse_args_text.cache_clear()
        return Runtime(storage=DatabaseStorage(self.namespace, using=self.alias))

    def fill(self) -> float:
        """Set items 1..N (values 1..N) and ``count`` in one transaction; return the seconds taken."""
        start = perf_counter()
        with self.rt.transaction():
            count.set(self.rt, self.n)
            for k in range(1, self.n + 1):
                item.set(self.rt, k, k)
        self.values = {k: k for k in range(1, self.n + 1)}
        return perf_counter() - start

    def update(self) -> float:
        """Bring ``total`` up to date, check it, and return the seconds the call took."""
        start = perf_counter()
        got = total(self.rt)
        seconds = perf_counter() - start
        want = sum(self.values.values())
        if got != want:
            raise SystemExit(f"WRONG ANSWER: {self.store}, N={self.n:,}: total is {got}, the items sum to {want}")
        return seconds

    def change(self, scenario: str, repeat: int) -> Callable[[], None]:
        """Write one change of ``scenario``; return what restores the items' state afterwards (untimed)."""
        rt = self.rt
        key = repeat * 7919 % self.n + 1
        if scenario == "set":
            self.values[key] += 1
            item.set(rt, key, self.values[key])
            return lambda: None
        if scenario == "delete":
            value = self.values[key]
            item.delete(rt, key)
            self.values[key] = 0

            def restore() -> None:
                item.set(self.rt, key, value)
                self.values[key] = value
                self.update()

            return restore
        new = len(self.values) + 1
        with rt.transaction():
            item.set(rt, new, new)
            count.set(rt, new)
        self.values[new] = new
        return lambda: None

    def once(self, scenario: str, restart: bool, repeat: int, count_queries: bool) -> tuple[float, int | None, bool]:
        """One change and the update after it: seconds, SQL queries (when counted), whether it started from scratch."""
        from django.db import connections
        from django.test.utils import CaptureQueriesContext

        restore = self.change(scenario, repeat)
        if restart:
            self.rt = self.fresh_runtime()
        scratch_before = from_scratch
        if count_queries:
            with CaptureQueriesContext(connections[self.alias]) as capture:
                seconds = self.update()
            queries: int | None = len(capture)
        else:
            seconds, queries = self.update(), None
        scratch = from_scratch > scratch_before
        restore()
        return seconds, queries, scratch


@contextmanager
def step(label: str) -> Iterator[None]:
    """Print ``label`` and how long the block took (progress on stderr)."""
    print(f"# {label} ...", end="", file=sys.stderr, flush=True)
    start = perf_counter()
    yield
    print(f" {perf_counter() - start:.1f} s", file=sys.stderr)


def bench_store(store: str, alias: str | None, sizes: list[int], repeats: int
                ) -> tuple[dict[tuple[str, str], dict[int, Measured]], dict[int, tuple[float, float]]]:
    """Every case of one store at every N; and per N the setup and first-run seconds.

    The repeats go round the N values in turn, starting at a different one each round, so
    that neither a change in the machine's load nor going first shows up as a ratio.
    """
    works: dict[int, Workload] = {}
    setup: dict[int, tuple[float, float]] = {}
    for n in sizes:
        with step(f"{store} N={n:,}: setup and first run"):
            works[n] = work = Workload(store, alias, n)
            filled = work.fill()
            before = from_scratch
            first = work.update()
            if from_scratch != before + 1:
                raise SystemExit(f"{store}, N={n:,}: the first run of total did not compute from scratch")
            setup[n] = (filled, first)
    results: dict[tuple[str, str], dict[int, Measured]] = {}
    for mode in ["warm"] if alias is None else ["warm", "restart"]:
        for scenario in SCENARIOS:
            with step(f"{store} {scenario} {mode}"):
                restart = mode == "restart"
                runs: dict[int, list[tuple[float, int | None, bool]]] = {n: [] for n in sizes}
                for repeat in range(repeats + (alias is not None)):  # the last round counts queries
                    for n in sizes[repeat % len(sizes):] + sizes[:repeat % len(sizes)]:
                        runs[n].append(works[n].once(scenario, restart, repeat, repeat == repeats))
                results[(scenario, mode)] = {
                    n: Measured(
                        statistics.median(seconds for seconds, _, _ in runs[n][:repeats]),
                        runs[n][-1][1],
                        any(scratch for _, _, scratch in runs[n]),
                    )
                    for n in sizes
                }
    return results, setup


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="comma-separated N values")
    parser.add_argument("--repeats", type=int, default=7, help="timed updates per case; the median is kept")
    parser.add_argument("--stores", default=",".join(STORES), help=f"comma-separated, of {', '.join(STORES)}")
    parser.add_argument("--quick", action="store_true", help="sizes 100, 1000 and 3 repeats: a smoke run")
    parser.add_argument("--postgres", default=POSTGRES_URL, help="PostgreSQL URL (its database is recreated)")
    parser.add_argument("--require-postgres", action="store_true", help="fail, not skip, if PostgreSQL is down")
    args = parser.parse_args()
    sizes = list(QUICK_SIZES) if args.quick else sorted(int(s.replace("_", "")) for s in args.sizes.split(","))
    repeats = 3 if args.quick else args.repeats
    stores = [s for s in args.stores.split(",") if s]
    unknown = set(stores) - set(STORES)
    if unknown:
        parser.error(f"unknown store(s): {', '.join(sorted(unknown))}")
    aliases = setup_databases(args.postgres if "postgres" in stores else None, require_postgres=args.require_postgres)
    alias_of = {"memory": None, "sqlite": "default", "postgres": "postgres" if "postgres" in aliases else None}
    stores = [s for s in stores if s == "memory" or alias_of[s] is not None]

    table: list[tuple[str, str, str, dict[int, Measured]]] = []
    setups: dict[str, dict[int, tuple[float, float]]] = {}
    for store in stores:
        results, setups[store] = bench_store(store, alias_of[store], sizes, repeats)
        table += [(store, scenario, mode, by_n) for (scenario, mode), by_n in results.items()]
    return report(table, setups, sizes, repeats)


def report(table: list[tuple[str, str, str, dict[int, Measured]]], setups: dict[str, dict[int, tuple[float, float]]],
           sizes: list[int], repeats: int) -> int:
    """Print the tables and one verdict per row; return the exit status."""
    low, high = sizes[0], sizes[-1]
    print(f"\nMaintained total over item(rt, 1..N): ms to bring it up to date after one change, "
          f"median of {repeats}; queries of one more run")
    head = f"{'store':<9}{'change':<9}{'when':<9}" + "".join(f"{f'N={n:,}':>12}" for n in sizes)
    head += f"{f'{high:,}/{low:,}':>14}" + "".join(f"{f'q@{n:,}':>10}" for n in sizes)
    print(head)
    print("-" * len(head))
    verdicts: list[tuple[str, bool]] = []
    scratch = False
    for store, scenario, mode, by_n in table:
        cells = ""
        for n in sizes:
            mark = "*" if by_n[n].scratch else " "
            scratch |= by_n[n].scratch
            cells += f"{by_n[n].seconds * 1e3:>11.3f}{mark}"
        ratio = by_n[high].seconds / by_n[low].seconds
        queries = [by_n[n].queries for n in sizes]
        qcells = "".join(f"{'-' if q is None else q:>10}" for q in queries)
        print(f"{store:<9}{scenario:<9}{mode:<9}{cells}{f'{ratio:.2f}x':>14}{qcells}")
        flat = queries[0] is None or all(q is not None and q <= queries[0] for q in queries)
        ok = ratio <= RATIO_GOAL and flat
        query_text = "" if queries[0] is None else f", queries {' -> '.join(map(str, queries))}"
        verdicts.append((f"{store} / {scenario} / {mode}: {ratio:.2f}x (goal <= {RATIO_GOAL:g}x){query_text}"
                         f"{'' if flat else ' (growing)'}", ok))
    if scratch:
        print("* an update recomputed total from scratch: changes() gave nothing to maintain from")
    print("\nsetup: seconds to set N items in one transaction / to run total the first time (reads all N)")
    for store, by_n in setups.items():
        print(f"{store:<9}" + "".join(f"{f'N={n:,}: {s:.2f} / {f:.2f}':>26}" for n, (s, f) in by_n.items()))
    print()
    for text, ok in verdicts:
        print(f"{'PASS' if ok else 'FAIL'}  {text}")
    failed = sum(not ok for _, ok in verdicts)
    print(f"{len(verdicts) - failed} of {len(verdicts)} goals met")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
