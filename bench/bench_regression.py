"""Per-batch cost of keeping a linear regression up to date: naive vs delta vs incremental.

Feeds N batches of CSV text (default: 200 batches of 1,000 rows, 10 correlated features
plus bias) through the real services (parse, accept, train every mode, record) on a fresh
SQLite database (or PostgreSQL with ``--postgres URL``), and prints per mode the median wall time per batch over windows of
batches, the flatness and speed-up ratios, where the incremental mode's time goes, and
how far each final model is from numpy's least-squares optimum.

    python bench/bench_regression.py                      # 200 batches, database store
    python bench/bench_regression.py --store memory       # the engine without the store
    python bench/bench_regression.py --batches 1000 --naive-every 50
    python bench/bench_regression.py --batches 1000 --modes incremental   # peak memory

Timings are wall-clock on whatever else the machine is doing; medians over 10 batches
smooth that out.  ``--naive-every K`` trains naive only on the first 20 batches, every
K-th and the last 10: naive reuses nothing from one batch to the next, so its cost at
batch k does not depend on whether it ran before, and skipping keeps long runs short.
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics as stats
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MODES = ("incremental", "naive", "delta")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--rows", type=int, default=1000, help="rows per batch")
    parser.add_argument("--features", type=int, default=10)
    parser.add_argument("--max-iterations", type=int, default=100)
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--store", choices=["database", "memory"], default="database")
    parser.add_argument("--naive-every", type=int, default=1, help="train naive only every K-th batch (see above)")
    parser.add_argument("--db", help="SQLite file to use (default: a new temporary file)")
    parser.add_argument("--postgres", metavar="URL",
                        help="run on this PostgreSQL database instead (dropped and created again), e.g. "
                             "postgres://postgres@127.0.0.1:5432/salsaweb_bench")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def setup_django(args: argparse.Namespace) -> None:
    """Point Django at a fresh SQLite file (or the PostgreSQL database ``--postgres``, made afresh) and create the
    tables."""
    if args.postgres:
        import psycopg

        name = args.postgres.rsplit("/", 1)[1]
        with psycopg.connect(args.postgres.rsplit("/", 1)[0] + "/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{name}"')
        os.environ["DATABASE_URL"] = where = args.postgres
    else:
        path = args.db or str(Path(tempfile.mkdtemp(prefix="bench-regression-")) / "bench.sqlite3")
        os.environ["DATABASE_URL"] = f"sqlite:///{path}"
        where = f"SQLite database: {path}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salsaweb.settings.test")
    sys.path.insert(0, str(ROOT))
    import django
    from django.conf import settings

    django.setup()
    settings.REGRESSION_STORE = args.store
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    print(f"# {where}; store: {args.store}", file=sys.stderr)


class Data:
    """The benchmark's badly conditioned data: correlation 0.8, spreads 1..10, mean 2; batch k from seed k."""

    def __init__(self, features: int, rows: int, seed: int) -> None:
        corr = np.full((features, features), 0.8)
        np.fill_diagonal(corr, 1.0)
        self.factor = np.linalg.cholesky(corr)
        self.spread = np.linspace(1.0, 10.0, features)
        self.truth = np.random.default_rng(seed).standard_normal(features)
        self.features, self.rows, self.seed = features, rows, seed
        self.names = [f"x{i}" for i in range(features)]

    def batch(self, number: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, number])
        X = (rng.standard_normal((self.rows, self.features)) @ self.factor.T) * self.spread + 2.0
        return X, X @ self.truth + 0.5 + rng.standard_normal(self.rows)

    def csv(self, number: int) -> str:
        X, y = self.batch(number)
        header = ",".join([*self.names, "y"])
        return header + "\n" + "\n".join(",".join(map(repr, row)) for row in np.column_stack([X, y]).tolist()) + "\n"


class Timer:
    """Accumulates wall time of wrapped functions per label (reset per batch)."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = defaultdict(float)

    def wrap(self, owner: Any, name: str, label: str) -> None:
        original: Callable[..., Any] = getattr(owner, name)

        def timed(*a: Any, **k: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*a, **k)
            finally:
                self.spent[label] += time.perf_counter() - start

        setattr(owner, name, timed)

    def sql(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        """A Django ``execute_wrapper``: time spent executing SQL statements."""
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.spent["sql"] += time.perf_counter() - start

    def take(self) -> dict[str, float]:
        spent, self.spent = dict(self.spent), defaultdict(float)
        return {k: v * 1e3 for k, v in spent.items()}


def numpy_floor_ms(data: Data, iterations: int) -> float:
    """The numpy work of one incremental update without engine or store: stats, merge, problem, iterations."""
    from salsaweb.regression.descent import descend, exact_gradient, problem_from_moments
    from salsaweb.regression.moments import moments_merge, moments_of

    X, y = data.batch(1)
    total = moments_of(*data.batch(2))
    settings = {"features": tuple(data.names), "learning_rate": "auto", "momentum": "auto",
                "max_iterations": iterations, "tolerance": 1e-6, "standardize": True}
    runs = []
    for _ in range(20):
        start = time.perf_counter()
        merged = moments_merge(total, moments_of(X, y))
        problem = problem_from_moments(merged, settings)
        theta = before = np.zeros(data.features + 1)
        for _ in range(iterations):
            gradient, _ = exact_gradient(problem, theta)
            theta, before = descend(problem, theta, before, gradient), theta
        runs.append((time.perf_counter() - start) * 1e3)
    return stats.median(runs)


def ingest_floors_ms(data: Data, repeats: int = 5) -> tuple[float, float]:
    """What no ingest of a batch here can beat: pyarrow's CSV reader alone on one batch's text (its defaults, all
    columns), and storing as many bytes as its rows in one new row of a scratch table and committing, through the
    store's own statement path on this run's database (medians of ``repeats``)."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv
    from django.db import connection, transaction

    from runtime.db.sql import Database

    text = data.csv(data.seed + 1_000_000).encode()
    X, y = data.batch(data.seed + 1_000_000)
    blob = X.tobytes() + y.tobytes()
    parse, write = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        pa_csv.read_csv(pa.BufferReader(text))
        parse.append((time.perf_counter() - start) * 1e3)
    kind = "bytea" if connection.vendor == "postgresql" else "blob"
    db = Database("default")
    db.run(f"CREATE TABLE bench_floor (id integer PRIMARY KEY, v {kind})")
    try:
        for number in range(repeats):
            start = time.perf_counter()
            with transaction.atomic():
                db.run("INSERT INTO bench_floor (id, v) VALUES (%s, %s)", [number, blob])
            write.append((time.perf_counter() - start) * 1e3)
    finally:
        db.run("DROP TABLE bench_floor")
    return stats.median(parse), stats.median(write)


def windows(count: int) -> list[tuple[int, int]]:
    """Ten-batch windows to report: the first two, some in between, the last."""
    starts = sorted({1, 11, *(s for s in (51, 101, 191, 491, 991) if s + 9 <= count), max(count - 9, 1)})
    return [(s, min(s + 9, count)) for s in starts if s <= count]


def main() -> None:
    args = parse_args()
    setup_django(args)
    from django.db import connection

    from salsaweb.regression import services
    from salsaweb.regression import inputs as regression_inputs
    from salsaweb.regression.descent import descend, exact_gradient, problem_from_moments
    from salsaweb.regression.moments import moments_empty, moments_merge, moments_of

    modes = [m for m in args.modes.split(",") if m]
    data = Data(args.features, args.rows, args.seed)
    timer = Timer()
    timer.wrap(services, "parse_batch", "parse")
    timer.wrap(services, "batch_content_hash", "hash")
    timer.wrap(services, "moments_of", "moments")
    for function in (regression_inputs.batch, regression_inputs.batch_moments, regression_inputs.batch_count):
        timer.wrap(function, "set", "input writes")
    timer.wrap(connection, "commit", "commit")
    from django.contrib.auth import get_user_model

    owner, _ = get_user_model().objects.get_or_create(username="bench")
    dataset = services.dataset_create(
        owner=owner, name=f"bench-{int(time.time())}", features=data.names, target="y", modes=modes,
        max_iterations=args.max_iterations,
    )
    results: dict[str, dict[int, dict[str, float]]] = {m: {} for m in modes}
    ingest: dict[int, dict[str, float]] = {}
    naive_batches = {k for k in range(1, args.batches + 1)
                     if args.naive_every == 1 or k <= 20 or k % args.naive_every == 0 or k > args.batches - 10}
    load_before = os.getloadavg()
    started = time.perf_counter()
    with connection.execute_wrapper(timer.sql):
        for k in range(1, args.batches + 1):
            text = data.csv(k)
            timer.take()
            begin, cpu = time.perf_counter(), time.process_time()
            services.batch_create(dataset=dataset, content=text, source=f"batch-{k}.csv")
            ingest_ms, ingest_cpu = (time.perf_counter() - begin) * 1e3, (time.process_time() - cpu) * 1e3
            ingest[k] = {"total": ingest_ms, **timer.take()}
            for mode in modes:
                if mode == "naive" and k not in naive_batches:
                    continue
                begin, cpu = time.perf_counter(), time.process_time()
                run = services.model_train(dataset=dataset, mode=mode)
                service_ms = (time.perf_counter() - begin) * 1e3
                results[mode][k] = {
                    "ms": ingest_ms + service_ms, "cpu": ingest_cpu + (time.process_time() - cpu) * 1e3,
                    "train": run.wall_ms, "record": service_ms - run.wall_ms, "sql": timer.take().get("sql", 0.0),
                    "iterations": run.iterations, "executed": run.executed, "reused": run.reused,
                    "converged": run.converged, "error": run.gradient_error or 0.0,
                    "weights": np.array(run.weights), "bias": run.bias,
                }
            if k % max(1, args.batches // 20) == 0 or k == args.batches:
                line = " ".join(f"{m}={results[m][k]['ms']:.1f}ms" for m in modes if k in results[m])
                print(f"# batch {k}/{args.batches} ({time.perf_counter() - started:.0f} s): {line}", file=sys.stderr)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    load_after = os.getloadavg()

    print(f"\nLinear regression, {args.features} features + bias, {args.rows}-row CSV batches, {args.batches} batches "
          f"({args.batches * args.rows:,} rows), up to {args.max_iterations} iterations, store: {args.store}")
    print("Median ms per batch, from CSV text to updated model and its record (ingest counted in every mode);")
    print("its = median iterations, exec/reuse = median memo executions / reuses per update; cpu = the same")
    print("window's median CPU time of this process (less sensitive to other load on the machine).")
    print(f"load average (1 min) before / after: {load_before[0]:.2f} / {load_after[0]:.2f} on {os.cpu_count()} CPUs\n")
    spans = windows(args.batches)
    header = f"{'mode':<12}" + "".join(f"{f'{a}-{b}':>11}" for a, b in spans) + f"{'its':>6}{'exec':>7}{'reuse':>7}"
    print(header)
    print("-" * len(header))
    medians: dict[str, dict[tuple[int, int], float]] = {}
    for mode in modes:
        runs = results[mode]
        medians[mode] = {}
        cells = []
        for a, b in spans:
            values = [runs[k]["ms"] for k in range(a, b + 1) if k in runs]
            medians[mode][(a, b)] = stats.median(values) if values else float("nan")
            cells.append(f"{medians[mode][(a, b)]:>11.1f}")
        last = [runs[k] for k in range(spans[-1][0], spans[-1][1] + 1) if k in runs]
        print(f"{mode:<12}" + "".join(cells)
              + f"{stats.median(r['iterations'] for r in last):>6.0f}"
              + f"{stats.median(r['executed'] for r in last):>7.0f}{stats.median(r['reused'] for r in last):>7.0f}")
        cpu_cells = []
        for a, b in spans:
            values = [runs[k]["cpu"] for k in range(a, b + 1) if k in runs]
            cpu_cells.append(f"{stats.median(values) if values else float('nan'):>11.1f}")
        print(f"{'  cpu':<12}" + "".join(cpu_cells))

    first, final = spans[1] if len(spans) > 1 else spans[0], spans[-1]
    print()
    if "incremental" in modes:
        inc = medians["incremental"]
        print(f"incremental flatness: median {final[0]}-{final[1]} / median {first[0]}-{first[1]} = "
              f"{inc[final] / inc[first]:.2f}x (goal <= 1.3x)")
        for mode in ("naive", "delta"):
            if mode in modes:
                at_last = results[mode][args.batches]["ms"] / results["incremental"][args.batches]["ms"]
                print(f"{mode} / incremental at batch {args.batches}: {at_last:.1f}x; "
                      f"medians {final[0]}-{final[1]}: {medians[mode][final] / inc[final]:.1f}x")
        print(f"incremental median per batch over {final[0]}-{final[1]}: {inc[final]:.1f} ms "
              "(goals: < 60 ms for 1,000-row batches, < 80 ms for 100,000-row batches)")

        breakdown = defaultdict(list)
        for k in range(final[0], final[1] + 1):
            parts, run = ingest[k], results["incremental"][k]
            named = {"parse": "CSV parsing", "hash": "content hash (duplicate check)",
                     "moments": "the batch's statistics", "input writes": "3 input writes (engine + store)",
                     "commit": "commit (SQLite: WAL write, checkpoint)"}
            for key, label in named.items():
                breakdown[f"ingest: {label}"].append(parts.get(key, 0.0))
            breakdown["ingest: Batch row, revision, the rest"].append(
                parts["total"] - sum(parts.get(key, 0.0) for key in named))
            breakdown["training (engine + store + numpy)"].append(run["train"])
            breakdown["BatchRun record"].append(run["record"])
            breakdown["SQL execution in all of the above"].append(parts.get("sql", 0.0) + run["sql"])
        floor = numpy_floor_ms(data, int(stats.median(results["incremental"][k]["iterations"]
                                                       for k in range(final[0], final[1] + 1))))
        print(f"\nwhere incremental's time goes (medians over batches {final[0]}-{final[1]}):")
        for label, values in breakdown.items():
            print(f"  {label:<42}{stats.median(values):>8.2f} ms")
        print(f"  {'numpy work of training, without engine':<42}{floor:>8.2f} ms")
        parse_floor, write_floor = ingest_floors_ms(data)
        print(f"\nfloors, measured now: pyarrow's CSV reader alone {parse_floor:.1f} ms; storing the rows' "
              f"{args.rows * (args.features + 1) * 8 / 1e6:.1f} MB in a new row and committing {write_floor:.1f} ms; "
              f"together {parse_floor + write_floor:.1f} ms, {(parse_floor + write_floor) / inc[final]:.0%} of the "
              "whole update")

    X_all = [data.batch(k) for k in range(1, args.batches + 1)]
    A = np.column_stack([np.vstack([b[0] for b in X_all]), np.ones(args.batches * args.rows)])
    target = np.concatenate([b[1] for b in X_all])
    reference = np.linalg.lstsq(A, target, rcond=None)[0]
    norm = np.linalg.norm(reference)
    print("\ndistance of the final model from numpy's lstsq optimum, ||(w, b) - opt|| / ||opt|| "
          "(badly conditioned data; defaults: standardized, auto step and momentum):")
    for mode in modes:
        final_run = results[mode][args.batches]
        distance = np.linalg.norm(np.r_[final_run["weights"], final_run["bias"]] - reference) / norm
        extra = f", largest relative gradient error {final_run['error']:.3g}" if mode == "delta" else ""
        print(f"  {mode:<12}{distance:.2e}  ({final_run['iterations']:.0f} iterations, "
              f"{'converged' if final_run['converged'] else 'not converged'}{extra})")
    moments = moments_empty(args.features)
    for X, y in X_all:
        moments = moments_merge(moments, moments_of(X, y))
    for label, overrides in (("plain GD, raw weights, optimal fixed step", {"standardize": False, "momentum": 0.0}),
                             ("plain GD, standardized, optimal fixed step", {"momentum": 0.0})):
        settings = {"features": tuple(data.names), "learning_rate": "auto", "momentum": "auto",
                    "max_iterations": args.max_iterations, "tolerance": 0.0, "standardize": True, **overrides}
        problem = problem_from_moments(moments, settings)
        theta = before = np.zeros(args.features + 1)
        for _ in range(args.max_iterations):
            gradient, _ = exact_gradient(problem, theta)
            theta, before = descend(problem, theta, before, gradient), theta
        weights = theta[:-1] / problem["scale"]
        bias = theta[-1] - problem["shift"] @ weights
        distance = np.linalg.norm(np.r_[weights, bias] - reference) / norm
        print(f"  for comparison, {label}: {distance:.2e} after {args.max_iterations} iterations")
    print(f"\npeak resident memory of this process (ru_maxrss) after the last batch: {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
