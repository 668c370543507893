"""Real worker processes on Redis and the test database (SQLite or PostgreSQL): training, crashes, parallelism."""
from __future__ import annotations

import time

import numpy as np
import pytest

from runtime.db.models import Memo
from salsaweb.regression import scheduling, selectors, services
from salsaweb.regression.models import BatchRun, Dataset, TrainingState
from salsaweb.regression.tasks import train_model
from salsaweb.regression.training import naive_step
from tests.conftest import REDIS_URL
from tests.regression.conftest import correlated_batches

from .live import Workers, live_app

pytestmark = [pytest.mark.slow, pytest.mark.services("redis"), pytest.mark.django_db(transaction=True)]

FEATURES = ["x0", "x1", "x2"]


def to_csv(X: np.ndarray, y: np.ndarray) -> str:
    rows = "\n".join(",".join(repr(float(v)) for v in row) for row in np.column_stack([X, y]))
    return ",".join([*FEATURES, "y"]) + "\n" + rows + "\n"


@pytest.fixture
def workers(tmp_path):
    """Worker processes on Redis, a queue of their own, and this process sending to it; all killed at the end."""
    pool = Workers(REDIS_URL, tmp_path)
    with live_app(REDIS_URL, pool.queue):
        try:
            yield pool
        finally:
            pool.kill_all()


@pytest.fixture
def owner(django_user_model):
    return django_user_model.objects.create_user(username="owner", password="pw")


def _slow_dataset(owner, name: str, iterations: int) -> Dataset:
    """A naive-mode dataset whose training takes about a second per 1,000 iterations over its 20,000 rows.

    A fixed momentum keeps heavy-ball descent (conjugate gradients would finish in a few steps).
    """
    dataset = services.dataset_create(owner=owner, name=name, features=FEATURES, target="y", modes=["naive"],
                                      tolerance=0.0, max_iterations=iterations, momentum=0.0)
    (X, y), = correlated_batches(1, 20_000, features=3, seed=len(name))[0]
    return dataset, to_csv(X, y)


def _state(dataset: Dataset, mode: str = "naive") -> TrainingState:
    return TrainingState.objects.get(dataset=dataset, mode=mode)


def test_a_worker_trains_what_was_accepted(workers, owner):
    workers.start("w1")
    dataset = services.dataset_create(owner=owner, name="small", features=FEATURES, target="y")
    batches, _ = correlated_batches(2, 1000, features=3, seed=1)
    started = time.monotonic()
    batch, queued = scheduling.batch_accept(dataset=dataset, content=to_csv(*batches[0]))
    assert time.monotonic() - started < 2.0 and [s.status for s in queued] == ["queued", "queued"]
    workers.wait_for("both modes trained", lambda: TrainingState.objects.filter(status="done", covered=1).count() == 2)
    scheduling.batch_accept(dataset=dataset, content=to_csv(*batches[1]))
    workers.wait_for("batch 2 trained", lambda: TrainingState.objects.filter(status="done", covered=2).count() == 2)
    runs = BatchRun.objects.filter(dataset=dataset).order_by("batch__number", "mode")
    assert [(r.batch.number, r.mode, r.first_batch, r.attempts) for r in runs] == [
        (1, "incremental", 1, 1), (1, "naive", 1, 1), (2, "incremental", 2, 1), (2, "naive", 2, 1)]
    assert selectors.model_get(dataset=dataset, mode="incremental")["up_to_date"]


def test_kill_9_mid_training_loses_only_uncommitted_iterations(workers, owner):
    iterations = 2000
    dataset, csv = _slow_dataset(owner, "crash", iterations)
    first = workers.start("first")
    scheduling.batch_accept(dataset=dataset, content=csv)

    # Kill the worker once it stored some iterations (checkpoints every 0.25 s here).
    steps = Memo.objects.filter(namespace__name=dataset.namespace, function=naive_step.id)
    stored_before = workers.wait_for("a first checkpoint", lambda: steps.count())
    reached = _state(dataset).iteration  # progress is visible from outside while it runs
    assert reached is not None and reached > 0
    workers.kill(first)
    committed = steps.count()
    assert stored_before <= committed < iterations + 1, f"committed {committed}"
    assert _state(dataset).status == "running"  # what the dashboard shows, until the lease runs out:
    workers.wait_for("the dead worker's lease to run out",
                     lambda: selectors.training_state_list(dataset=dataset)[0]["lease_expired"], timeout=10)

    workers.start("second")  # its sweep queues the work again; it resumes from the stored iterations
    errors = set()

    def done() -> bool:
        state = _state(dataset)
        errors.add(state.error)
        return state.status == "done"

    workers.wait_for("training to finish after the restart", done, timeout=120)  # a loaded machine is slow
    assert any("stopped renewing its lease" in error for error in errors)  # shown until the work succeeded
    state = _state(dataset)
    assert (state.attempts, state.error) == (2, "")
    run = BatchRun.objects.get(dataset=dataset)
    assert (run.iterations, run.attempts, run.first_batch) == (iterations, 2, 1)
    assert run.executed == iterations + 1 - committed  # only the iterations the crash had not committed
    assert run.reused >= committed
    assert steps.count() == iterations + 1


def test_datasets_train_in_parallel_and_each_on_one_worker_at_a_time(workers, owner):
    workers.start("w1")
    workers.start("w2")
    (a, csv_a), (b, csv_b) = _slow_dataset(owner, "a", 1000), _slow_dataset(owner, "b", 1000)
    workers.wait_for("both workers ready", lambda: workers.log_tail().count(" ready.") == 2)
    scheduling.batch_accept(dataset=a, content=csv_a)
    scheduling.batch_accept(dataset=b, content=csv_b)

    def both_running():
        states = {s.dataset_id: s for s in TrainingState.objects.all()}
        running = [s for s in states.values() if s.status == "running" and s.iteration is not None]
        return len(running) == 2 and running[0].lease_owner.split(":")[1] != running[1].lease_owner.split(":")[1]

    workers.wait_for("both datasets training at once, in different processes", both_running, timeout=20)
    owner_of_a = _state(a).lease_owner
    for _ in range(3):  # duplicate deliveries while it runs change nothing
        train_model.delay(a.pk, "naive")
    owners_seen = set()
    while (state := _state(a)).status == "running":
        owners_seen.add(state.lease_owner)
        time.sleep(0.02)
    assert owners_seen == {owner_of_a}
    workers.wait_for("both done", lambda: TrainingState.objects.filter(status="done").count() == 2)
    assert [(r.dataset.name, r.attempts) for r in BatchRun.objects.order_by("dataset__name")] == [("a", 1), ("b", 1)]


@pytest.fixture
def default_workers(tmp_path):
    """Like ``workers``, with the default lease, heartbeat, sweep and queue timeout of a deployment."""
    pool = Workers(REDIS_URL, tmp_path, fast=False)
    with live_app(REDIS_URL, pool.queue):
        try:
            yield pool
        finally:
            pool.kill_all()


def test_kill_9_mid_training_is_taken_over_within_10_seconds_on_default_settings(default_workers, owner):
    workers = default_workers
    workers.start("w1")
    workers.start("w2")
    dataset, csv = _slow_dataset(owner, "takeover", 2000)
    workers.wait_for("both workers ready", lambda: workers.log_tail().count(" ready.") == 2)
    scheduling.batch_accept(dataset=dataset, content=csv)
    first = workers.wait_for("training under way", lambda: (s := _state(dataset)).iteration and s.lease_owner, 60)
    workers.kill(workers.holding(first))
    killed = time.monotonic()
    second = workers.wait_for("another worker to take it over",
                              lambda: (o := _state(dataset).lease_owner) not in ("", first) and o, timeout=15)
    took = time.monotonic() - killed
    print(f"taken over {took:.2f} s after kill -9")
    assert took < 10.0, f"taken over after {took:.1f} s"
    assert second.split(":")[1] != first.split(":")[1]
    workers.wait_for("training to finish", lambda: _state(dataset).status == "done", timeout=120)
    run = BatchRun.objects.get(dataset=dataset)
    assert (run.iterations, run.attempts) == (2000, 2)


def test_a_lost_task_message_is_sent_again_within_30_seconds_on_default_settings(default_workers, owner, monkeypatch):
    workers = default_workers
    workers.start("w1")
    dataset = services.dataset_create(owner=owner, name="lost", features=FEATURES, target="y",
                                      modes=["incremental"])
    batches, _ = correlated_batches(1, 200, features=3, seed=3)
    workers.wait_for("the worker ready", lambda: " ready." in workers.log_tail())
    monkeypatch.setattr(scheduling, "_send", lambda *args, **kwargs: None)  # the broker loses the message
    scheduling.batch_accept(dataset=dataset, content=to_csv(*batches[0]))
    monkeypatch.undo()
    lost = time.monotonic()
    workers.wait_for("the lost task sent again and trained", lambda: _state(dataset, "incremental").status == "done",
                     timeout=40, every=0.1)
    took = time.monotonic() - lost
    print(f"lost message trained {took:.2f} s after it was lost")
    assert took < 30.0, f"sent again after {took:.1f} s"
