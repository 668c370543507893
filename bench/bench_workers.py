"""Background training through real Celery workers on Redis and PostgreSQL: queue overhead, scale-out, checkpoints.

Creates a fresh PostgreSQL database (``--db``, dropped and created again), starts real
``celery -A salsaweb worker --concurrency=1`` processes on Redis with a queue of their own,
and measures three things:

- ``overhead``: per 1,000-row batch, incremental mode, the time from a batch being accepted
  (committed) to its model being recorded, through a worker, against the same training run
  in this process right after ``batch_create`` (``model_train``'s wall time); medians after
  a warm-up, with where the worker path spends its time.
- ``scale``: 4 datasets trained by 1 worker process, then by 2; the makespan from accepting
  one batch per dataset to all four models recorded, and CPU seconds by process (workers,
  PostgreSQL, Redis, this process), for a CPU-heavy load (naive mode, 20,000 rows, 2,000
  iterations) and a stream of small updates (incremental, 4 clients each sending 15
  batches one after the other).
- ``checkpoints``: the cost of storing iterations as training goes (TRAINING_CHECKPOINT_SECONDS),
  in this process: no checkpoint, every iteration, every 0.1 s and every 1 s.
- ``takeover``: on the default lease, heartbeat and sweep settings, two workers; the one
  training is killed with SIGKILL (its whole process group) mid-training, and the seconds
  from the kill to another worker's claim are measured (``--rounds`` times), against the
  10 s goal; then a task message is lost (never sent) and the seconds until a worker claims
  the work are measured against the 30 s goal.

    python bench/bench_workers.py                       # everything (about two minutes)
    python bench/bench_workers.py --part overhead --batches 60
    python bench/bench_workers.py --part takeover --rounds 3   # about a minute

Wall-clock figures on a shared 2-core machine: run it on a quiet one.
"""
from __future__ import annotations

import argparse
import os
import re
import resource
import signal
import statistics as stats
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.regression.conftest import correlated_batches  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=["all", "overhead", "scale", "checkpoints", "takeover"], default="all")
    parser.add_argument("--rounds", type=int, default=3, help="takeover: kill -9 rounds")
    parser.add_argument("--batches", type=int, default=40, help="overhead: batches per path")
    parser.add_argument("--db", default="salsaweb_bench_workers", help="PostgreSQL database to (re)create")
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--poll", type=float, default=0.005, help="overhead: seconds between looks for the record")
    return parser.parse_args()


def setup(args: argparse.Namespace) -> None:
    """Recreate the database, point Django and this process's Celery app at it and at Redis, migrate."""
    import psycopg

    with psycopg.connect(f"{args.postgres}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{args.db}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{args.db}"')
    os.environ.update(
        DATABASE_URL=f"{args.postgres}/{args.db}", DJANGO_SETTINGS_MODULE="salsaweb.settings.production",
        DJANGO_SECRET_KEY="bench-only-" + "x" * 50, CELERY_BROKER_URL=args.redis,
        CELERY_TASK_DEFAULT_QUEUE=f"bench-{uuid.uuid4().hex[:8]}",
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def csv_text(X: np.ndarray, y: np.ndarray) -> str:
    names = [f"x{i}" for i in range(X.shape[1])]
    body = "\n".join(",".join(map(repr, row)) for row in np.column_stack([X, y]).tolist())
    return ",".join([*names, "y"]) + "\n" + body + "\n"


class Workers:
    """Worker processes with one pool process each, killed (whole process groups) by ``stop``."""

    def __init__(self, count: int, logs: Path) -> None:
        self.procs = []
        for i in range(count):
            log = open(logs / f"worker-{count}-{i}.log", "wb")
            self.procs.append(subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "salsaweb", "worker", "--concurrency=1", "--loglevel=WARNING",
                 "--without-mingle", "--without-gossip", "-n", f"bench{i}-{uuid.uuid4().hex[:6]}@%h"],
                cwd=ROOT, env=os.environ.copy(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
            log.close()
        time.sleep(0.5)
        self.ready()

    def ready(self) -> None:
        """Wait until each worker has its pool process (so start-up is not timed)."""
        deadline = time.monotonic() + 60
        while any(len(_group(p.pid)) < 2 for p in self.procs):
            if time.monotonic() > deadline:
                raise SystemExit("workers did not start")
            time.sleep(0.1)
        time.sleep(1.5)  # connected to Redis and consuming

    def cpu(self) -> float:
        return sum(_cpu(pid) for p in self.procs for pid in _group(p.pid))

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()

    def kill_holder(self, lease_owner: str) -> None:
        """SIGKILL the whole worker (main and pool process) whose pool process holds a lease ``host:pid:task``."""
        pgid = os.getpgid(int(lease_owner.split(":")[1]))
        proc = next(p for p in self.procs if p.pid == pgid)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return [text[: text.index(" (")], text[text.index("(") + 1: text.rindex(")")], *text[text.rindex(")") + 2:].split()]


def _group(pgid: int) -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()
            and (s := _stat(int(p.name))) is not None and int(s[4]) == pgid]


def _cpu(pid: int, children: bool = False) -> float:
    """CPU seconds of a process (and of its reaped children)."""
    s = _stat(pid)
    if s is None:
        return 0.0
    ticks = int(s[13]) + int(s[14]) + ((int(s[15]) + int(s[16])) if children else 0)
    return ticks / os.sysconf("SC_CLK_TCK")


def _by_name(name: str) -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()
            and (s := _stat(int(p.name))) is not None and s[1] == name]


def cpu_snapshot(workers: Workers) -> dict[str, float]:
    """CPU seconds so far: workers, PostgreSQL (with exited backends), Redis and this process."""
    pg = _by_name("postgres")
    postmaster = min(pg) if pg else None
    me = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "workers": workers.cpu(),
        "postgres": sum(_cpu(pid, children=pid == postmaster) for pid in pg),
        "redis": sum(_cpu(pid) for pid in _by_name("redis-server")),
        "bench": me.ru_utime + me.ru_stime,
    }


def wait_done(dataset_ids: list[int], covered: dict[int, int], poll: float = 0.001) -> None:
    from salsaweb.regression.models import TrainingState

    deadline = time.monotonic() + 600
    while True:
        rows = TrainingState.objects.filter(dataset_id__in=dataset_ids).values_list("dataset_id", "status", "covered")
        if all(status == "done" and done >= covered[pk] for pk, status, done in rows) and len(rows) == len(dataset_ids):
            return
        if any(status == "failed" for _, status, _ in rows):
            raise SystemExit(f"a training failed: {list(TrainingState.objects.values('dataset_id', 'error'))}")
        if time.monotonic() > deadline:
            raise SystemExit("training did not finish")
        time.sleep(poll)


def _dataset(name: str, **settings: Any) -> Any:
    from django.contrib.auth import get_user_model

    from salsaweb.regression import services

    owner, _ = get_user_model().objects.get_or_create(username="bench")
    features = settings.pop("features", 10)
    return services.dataset_create(owner=owner, name=name, features=[f"x{i}" for i in range(features)],
                                   target="y", **settings)


def overhead(args: argparse.Namespace, logs: Path) -> None:
    from django.conf import settings

    from salsaweb.regression import scheduling, services
    from salsaweb.regression.models import BatchRun, TrainingState

    batches, _ = correlated_batches(args.batches, 1000, features=10, seed=1)
    texts = [csv_text(X, y) for X, y in batches]
    local, queued = _dataset("in-process", modes=["incremental"]), _dataset("queued", modes=["incremental"])
    workers = Workers(1, logs)
    rows = []
    try:
        for number, text in enumerate(texts, start=1):
            services.batch_create(dataset=local, content=text)
            started = time.perf_counter()
            run = services.model_train(dataset=local, mode="incremental",
                                       checkpoint_seconds=settings.TRAINING_CHECKPOINT_SECONDS)
            in_process = time.perf_counter() - started

            started = time.perf_counter()
            scheduling.batch_accept(dataset=queued, content=text)
            accepted = time.perf_counter()
            wait_done([queued.pk], {queued.pk: number}, poll=args.poll)
            through_worker = time.perf_counter() - accepted
            state = TrainingState.objects.get(dataset=queued)
            worker_run = BatchRun.objects.get(dataset=queued, batch__number=number)
            claimed_to_done = (state.finished_at - state.started_at).total_seconds()
            rows.append({
                "accept": accepted - started, "in_process": in_process, "through_worker": through_worker,
                "worker_train": worker_run.wall_ms / 1e3, "claim_to_done": claimed_to_done,
                "in_process_train": run.wall_ms / 1e3,
            })
    finally:
        workers.stop()
    measured = rows[5:]  # warm-up: connections, imports, first loads

    def med(key: str) -> float:
        return stats.median(r[key] for r in measured) * 1e3

    print(f"\n## Queue overhead: incremental, 1,000-row batches, 10 features, median of {len(measured)} batches (ms)\n")
    print("| path | accepted -> model recorded | of which training (model_train wall) |")
    print("| --- | ---: | ---: |")
    print(f"| in process (batch_create, then model_train) | {med('in_process'):.1f} | {med('in_process_train'):.1f} |")
    print(f"| through a worker (Redis + PostgreSQL) | {med('through_worker'):.1f} | {med('worker_train'):.1f} |")
    print(f"\nratio through worker / in process: {med('through_worker') / med('in_process'):.2f}x; "
          f"batch_accept itself (parse, store, queue): {med('accept'):.1f} ms")
    rest = med("through_worker") - med("claim_to_done")
    print(f"worker: claim -> done {med('claim_to_done'):.1f} ms (training {med('worker_train'):.1f} + claim/finish "
          f"transactions {med('claim_to_done') - med('worker_train'):.1f}); delivery to the worker and seeing the "
          f"record ({args.poll * 1e3:g} ms polling) {rest:.1f} ms")


def scale(args: argparse.Namespace, logs: Path) -> None:
    from salsaweb.regression import scheduling

    heavy = [(X, y) for (X, y), in (correlated_batches(1, 20_000, features=3, seed=s)[0] for s in range(4))]
    heavy_texts = [csv_text(X, y) for X, y in heavy]
    stream, _ = correlated_batches(60, 1000, features=10, seed=2)
    stream_texts = [csv_text(X, y) for X, y in stream]
    print("\n## Scale-out: 4 datasets, 1 vs 2 worker processes (2 cores), makespan and CPU seconds by process\n")
    print("| load | workers | makespan s | speed-up | workers CPU s | PostgreSQL CPU s | Redis CPU s | bench CPU s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    loads = ("naive, 20,000 rows x 2,000 iterations, one batch each", "incremental, 15 batches of 1,000 per dataset")
    for load in loads:
        base = None
        for count in (1, 2):
            tag = uuid.uuid4().hex[:6]
            if load.startswith("naive"):
                datasets = [_dataset(f"heavy-{tag}-{i}", features=3, modes=["naive"], tolerance=0.0,
                                     max_iterations=2000) for i in range(4)]
            else:
                datasets = [_dataset(f"stream-{tag}-{i}", modes=["incremental"]) for i in range(4)]
            workers = Workers(count, logs)
            try:
                before = cpu_snapshot(workers)
                started = time.perf_counter()
                if load.startswith("naive"):
                    for dataset, text in zip(datasets, heavy_texts, strict=True):
                        scheduling.batch_accept(dataset=dataset, content=text)
                    wait_done([d.pk for d in datasets], {d.pk: 1 for d in datasets}, poll=0.01)
                else:
                    def client(dataset: Any, texts: list[str]) -> None:
                        from django.db import connection

                        for number, text in enumerate(texts, start=1):
                            scheduling.batch_accept(dataset=dataset, content=text)
                            wait_done([dataset.pk], {dataset.pk: number}, poll=0.005)
                        connection.close()

                    threads = [threading.Thread(target=client, args=(d, stream_texts[i * 15:(i + 1) * 15]))
                               for i, d in enumerate(datasets)]
                    for thread in threads:
                        thread.start()
                    for thread in threads:
                        thread.join()
                makespan = time.perf_counter() - started
                after = cpu_snapshot(workers)
            finally:
                workers.stop()
            base = base or makespan
            used = {k: after[k] - before[k] for k in before}
            print(f"| {load} | {count} | {makespan:.2f} | {base / makespan:.2f}x | {used['workers']:.2f} | "
                  f"{used['postgres']:.2f} | {used['redis']:.2f} | {used['bench']:.2f} |")


def checkpoints(args: argparse.Namespace, logs: Path) -> None:
    from salsaweb.regression import services

    print("\n## Checkpoint cost: one training in this process, PostgreSQL (median of 3)\n")
    print("| training | checkpoint every | wall s | memo flushes | vs none |")
    print("| --- | --- | ---: | ---: | ---: |")
    (X, y), = correlated_batches(1, 20_000, features=3, seed=9)[0]
    heavy = csv_text(X, y)
    small_batches, _ = correlated_batches(1, 1000, features=10, seed=3)
    small = csv_text(*small_batches[0])
    from runtime.db.storage import DatabaseStorage

    flushes = [0]
    original = DatabaseStorage._flush

    def counted(self: DatabaseStorage) -> None:
        if self._writes.pending:
            flushes[0] += 1
        original(self)

    DatabaseStorage._flush = counted  # type: ignore[method-assign]
    for label, text, settings in (("naive, 20,000 rows x 2,000 iterations", heavy,
                                   {"features": 3, "modes": ["naive"], "tolerance": 0.0, "max_iterations": 2000}),
                                  ("incremental, 1,000 rows x 100 iterations", small,
                                   {"modes": ["incremental"], "tolerance": 0.0, "max_iterations": 100})):
        base = None
        for every in (None, 0.0, 0.1, 1.0):
            times, counts = [], []
            for _ in range(3):
                dataset = _dataset(f"ckpt-{uuid.uuid4().hex[:6]}", **settings)
                services.batch_create(dataset=dataset, content=text)
                flushes[0] = 0
                started = time.perf_counter()
                services.model_train(dataset=dataset, mode=dataset.modes[0], checkpoint_seconds=every)
                times.append(time.perf_counter() - started)
                counts.append(flushes[0])
            wall = stats.median(times)
            base = base or wall
            name = "never (end only)" if every is None else ("every iteration" if every == 0 else f"{every:g} s")
            print(f"| {label} | {name} | {wall:.3f} | {stats.median(counts):.0f} | {wall / base:.2f}x |")
    DatabaseStorage._flush = original  # type: ignore[method-assign]


def _poll(check: Any, timeout: float, every: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(every)
    raise SystemExit("timed out")


def takeover(args: argparse.Namespace, logs: Path) -> None:
    from django.conf import settings

    from salsaweb.regression import scheduling
    from salsaweb.regression.models import TrainingState

    (X, y), = correlated_batches(1, 20_000, features=3, seed=4)[0]
    text = csv_text(X, y)
    kills = []
    for _ in range(args.rounds):
        dataset = _dataset(f"takeover-{uuid.uuid4().hex[:6]}", features=3, modes=["naive"], tolerance=0.0,
                           max_iterations=2000, momentum=0.0)
        workers = Workers(2, logs)
        try:
            scheduling.batch_accept(dataset=dataset, content=text)
            state = TrainingState.objects.filter(dataset=dataset)
            first = _poll(lambda: (s := state.first()) and s.iteration is not None and s.lease_owner, 120)
            workers.kill_holder(first)
            killed = time.monotonic()
            _poll(lambda: state.first().lease_owner not in ("", first), 60)
            claimed = time.monotonic() - killed
            wait_done([dataset.pk], {dataset.pk: dataset.revision + 1})
            kills.append((claimed, time.monotonic() - killed))
        finally:
            workers.stop()

    small, _ = correlated_batches(1, 1000, features=10, seed=5)
    dataset = _dataset(f"lost-{uuid.uuid4().hex[:6]}", modes=["incremental"])
    workers = Workers(1, logs)
    send = scheduling._send
    try:
        scheduling._send = lambda *args, **kwargs: None  # the broker loses the message
        scheduling.batch_accept(dataset=dataset, content=csv_text(*small[0]))
        scheduling._send = send
        lost = time.monotonic()
        wait_done([dataset.pk], {dataset.pk: 1})
        resent = time.monotonic() - lost
    finally:
        scheduling._send = send
        workers.stop()

    lease, sweep = settings.TRAINING_LEASE_SECONDS, settings.TRAINING_SWEEP_SECONDS
    print(f"\n## Takeover: lease {lease:g} s, heartbeat {settings.TRAINING_HEARTBEAT_SECONDS:g} s, sweep {sweep:g} s, "
          f"queue timeout {settings.TRAINING_QUEUE_TIMEOUT_SECONDS:g} s (seconds)\n")
    print("| failure | runs | median | max | goal | max / goal |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    claims = [claimed for claimed, _ in kills]
    print(f"| kill -9 mid-training -> another worker claims it | {len(kills)} | {stats.median(claims):.2f} | "
          f"{max(claims):.2f} | 10 | {max(claims) / 10:.2f} |")
    finished = [done for _, done in kills]
    print(f"| kill -9 mid-training -> model recorded (2,000 naive iterations, resumed) | {len(kills)} | "
          f"{stats.median(finished):.2f} | {max(finished):.2f} | | |")
    print(f"| task message lost -> sent again and model recorded | 1 | {resent:.2f} | {resent:.2f} | 30 | "
          f"{resent / 30:.2f} |")
    print(f"\nbound: a lease runs out at most {lease:g} s after the last renewal, and the next sweep "
          f"(every {sweep:g} s) queues it: {lease + sweep:g} s plus delivery")


def main() -> None:
    args = parse_args()
    setup(args)
    logs = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-workers-{os.getpid()}"
    logs.mkdir(parents=True, exist_ok=True)
    print(f"# database {args.db}, broker {args.redis}, worker logs in {logs}")
    if args.part in ("all", "overhead"):
        overhead(args, logs)
    if args.part in ("all", "scale"):
        scale(args, logs)
    if args.part in ("all", "checkpoints"):
        checkpoints(args, logs)
    if args.part in ("all", "takeover"):
        takeover(args, logs)
    errors = [line for path in logs.glob("*.log") for line in path.read_text().splitlines()
              if re.search(r"ERROR|Traceback", line)]
    if errors:
        print("\nworker errors:\n" + "\n".join(errors[:20]))


if __name__ == "__main__":
    main()
