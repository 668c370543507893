"""Background training in eager mode (tasks run in the test process): queue after commit, lease, folding, failures.

Transactional tests, so that ``on_commit`` fires as it does in production.
"""
from __future__ import annotations

from datetime import timedelta

import time

import numpy as np
import pytest
from django.db import transaction
from django.utils import timezone

from runtime import MissingInputError
from salsaweb.regression import leases, scheduling, selectors, services
from salsaweb.regression.descent import RegressionError
from salsaweb.regression.models import BatchRun, Dataset, TrainingState
from salsaweb.regression.tasks import sweep_training, train_model
from tests.regression.conftest import correlated_batches

pytestmark = pytest.mark.django_db(transaction=True)

FEATURES = ["x0", "x1", "x2"]


def to_csv(X: np.ndarray, y: np.ndarray) -> str:
    """A batch as the CSV text a client uploads."""
    rows = "\n".join(",".join(repr(float(v)) for v in row) for row in np.column_stack([X, y]))
    return ",".join([*FEATURES, "y"]) + "\n" + rows + "\n"


@pytest.fixture
def csvs() -> list[str]:
    """Four 100-row batches as CSV text."""
    batches, _ = correlated_batches(4, 100, features=3, seed=5)
    return [to_csv(X, y) for X, y in batches]


@pytest.fixture
def dataset(django_user_model) -> Dataset:
    owner = django_user_model.objects.create_user(username="owner", password="pw")
    return services.dataset_create(owner=owner, name="houses", features=FEATURES, target="y", tolerance=0.0,
                                   max_iterations=40, momentum=0.0)  # fixed-step descent: all 40 iterations run


def _state(dataset: Dataset, mode: str = "incremental") -> TrainingState:
    return TrainingState.objects.get(dataset=dataset, mode=mode)


def _runs(dataset: Dataset, mode: str = "incremental") -> list[tuple[int, int, int]]:
    """(first batch, last batch, attempts) of each record."""
    return list(
        BatchRun.objects.filter(dataset=dataset, mode=mode).order_by("batch__number")
        .values_list("first_batch", "batch__number", "attempts")
    )


def test_accepting_a_batch_queues_each_mode_after_the_commit_and_workers_bring_them_up_to_date(dataset, csvs):
    batch, queued = scheduling.batch_accept(dataset=dataset, content=csvs[0])
    assert batch.number == 1
    assert [(s.mode, s.status, s.requested) for s in queued] == [("incremental", "queued", 1), ("naive", "queued", 1)]
    for mode in dataset.modes:  # the eager task ran when the transaction committed
        state = _state(dataset, mode)
        assert (state.status, state.covered, state.attempts, state.error) == ("done", 1, 1, "")
        assert state.iteration == 40 and state.loss is not None
        assert _runs(dataset, mode) == [(1, 1, 1)]


def test_nothing_is_queued_when_the_transaction_rolls_back(dataset, csvs, monkeypatch):
    sent = []
    monkeypatch.setattr(scheduling, "_send", lambda *args, **kwargs: sent.append(args))
    with pytest.raises(RuntimeError), transaction.atomic():
        scheduling.batch_accept(dataset=dataset, content=csvs[0])
        raise RuntimeError("the request failed after accepting")
    assert sent == [] and not dataset.batches.exists() and not TrainingState.objects.exists()
    scheduling.batch_accept(dataset=dataset, content=csvs[0])
    assert sent == [(dataset.pk, "incremental"), (dataset.pk, "naive")]


def test_redelivered_and_duplicate_tasks_do_nothing(dataset, csvs):
    scheduling.batch_accept(dataset=dataset, content=csvs[0])
    assert train_model.delay(dataset.pk, "incremental").get() == "nothing to do"
    assert train_model.delay(dataset.pk, "incremental").get() == "nothing to do"
    assert BatchRun.objects.filter(dataset=dataset).count() == 2
    assert train_model.delay(dataset.pk + 1000, "incremental").get() == "nothing to do"  # deleted or unknown


def test_a_live_lease_keeps_other_workers_out(dataset, csvs, monkeypatch):
    monkeypatch.setattr(scheduling, "_send", lambda *args, **kwargs: None)
    scheduling.batch_accept(dataset=dataset, content=csvs[0])
    assert leases.training_claim(dataset_id=dataset.pk, mode="incremental", owner="A") is not None
    assert leases.training_claim(dataset_id=dataset.pk, mode="incremental", owner="B") is None
    assert leases.training_run(dataset_id=dataset.pk, mode="incremental", task_id="B") == "nothing to do"
    assert _state(dataset).lease_owner == "A" and _runs(dataset) == []


def test_batches_arriving_during_training_are_folded_into_one_more_update(dataset, csvs, monkeypatch, settings):
    settings.TRAINING_HEARTBEAT_SECONDS = 0.0
    dataset.modes = ["incremental"]
    dataset.save()
    beat = leases._Heartbeat.__call__
    arrived = []

    def beat_and_accept(self, iteration, loss):
        beat(self, iteration, loss)
        if iteration == 5 and not arrived:  # two batches arrive while batch 1 trains
            for content in csvs[1:3]:
                arrived.append(scheduling.batch_accept(dataset=dataset, content=content)[0].number)
            state = _state(dataset)
            assert (state.status, state.requested, state.covered, state.iteration) == ("running", 3, 0, 5)

    monkeypatch.setattr(leases._Heartbeat, "__call__", beat_and_accept)
    scheduling.batch_accept(dataset=dataset, content=csvs[0])
    assert arrived == [2, 3]
    # The data changed while it trained, so the update ran again (from its memos) and its one
    # record reflects revision 3: revisions 1 to 3, batches 1 to 3.
    assert _runs(dataset) == [(1, 3, 1)]
    state = _state(dataset)
    assert (state.status, state.covered, state.first_batch) == ("done", 3, 1)
    rows = [row for row in selectors.run_list(dataset=dataset)]
    assert [(r["first_batch"], r["revision"], r["batch"]) for r in rows] == [(1, 3, 3)]


def test_progress_is_written_while_training_runs(dataset, csvs, monkeypatch, settings):
    settings.TRAINING_HEARTBEAT_SECONDS = 0.0
    beat = leases._Heartbeat.__call__
    seen = []

    def beat_and_look(self, iteration, loss):
        beat(self, iteration, loss)
        state = TrainingState.objects.get(pk=self.pk)
        seen.append((state.status, state.iteration, state.loss == pytest.approx(loss)))

    monkeypatch.setattr(leases._Heartbeat, "__call__", beat_and_look)
    scheduling.batch_accept(dataset=dataset, content=csvs[0])
    assert seen[:3] == [("running", 0, True), ("running", 1, True), ("running", 2, True)]
    assert len(seen) == 2 * 41  # both modes, iterations 0..40


def test_a_failing_training_is_retried_a_bounded_number_of_times_then_recorded_failed(dataset, csvs, monkeypatch):
    def boom(**kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(leases, "model_train", boom)
    scheduling.batch_accept(dataset=dataset, content=csvs[0])
    state = _state(dataset)
    assert (state.status, state.attempts, state.error) == ("failed", 3, "RuntimeError: disk on fire")
    assert state.lease_owner == "" and BatchRun.objects.count() == 0

    monkeypatch.undo()  # a new batch queues the failed training again, and it succeeds
    scheduling.batch_accept(dataset=dataset, content=csvs[1])
    state = _state(dataset)
    assert (state.status, state.attempts, state.error, state.covered) == ("done", 1, "", 2)
    assert _runs(dataset) == [(1, 2, 1)]


def test_data_that_cannot_be_trained_fails_at_once(dataset, csvs, monkeypatch):
    def unfit(**kwargs):
        raise RegressionError("the data's sums of squares overflow 64-bit floats")

    monkeypatch.setattr(leases, "model_train", unfit)
    scheduling.batch_accept(dataset=dataset, content=csvs[0])
    state = _state(dataset)
    assert (state.status, state.attempts) == ("failed", 1)
    assert state.error.startswith("RegressionError: the data's sums")


def test_the_sweep_requeues_a_dead_workers_lease_and_the_record_counts_its_attempt(dataset, csvs, monkeypatch):
    sent = []
    monkeypatch.setattr(scheduling, "_send", lambda *args, **kwargs: sent.append(args))
    scheduling.batch_accept(dataset=dataset, content=csvs[0])
    leases.training_claim(dataset_id=dataset.pk, mode="incremental", owner="host:1:dead")
    assert leases.training_sweep() == {"requeued": 0, "resent": 0}  # its lease still runs
    TrainingState.objects.filter(mode="incremental").update(lease_expires=timezone.now() - timedelta(seconds=1))
    sent.clear()
    monkeypatch.undo()
    assert sweep_training.delay().get() == {"requeued": 1, "resent": 0}
    state = _state(dataset)
    assert (state.status, state.attempts, state.covered) == ("done", 2, 1)
    assert _runs(dataset) == [(1, 1, 2)]


def test_the_sweep_sends_again_work_whose_task_was_lost(dataset, csvs, monkeypatch, settings):
    monkeypatch.setattr(scheduling, "_send", lambda *args, **kwargs: None)  # the broker loses both tasks
    scheduling.batch_accept(dataset=dataset, content=csvs[0])
    assert leases.training_sweep() == {"requeued": 0, "resent": 0}  # not overdue yet
    monkeypatch.undo()
    settings.TRAINING_QUEUE_TIMEOUT_SECONDS = 0.0
    assert leases.training_sweep() == {"requeued": 0, "resent": 2}
    assert [s.status for s in TrainingState.objects.order_by("mode")] == ["done", "done"]


def test_a_claim_after_the_lease_ran_out_takes_over_and_the_old_worker_stops(dataset, csvs, monkeypatch, settings):
    settings.TRAINING_HEARTBEAT_SECONDS = 0.0
    dataset.modes = ["incremental"]
    dataset.save()
    beat = leases._Heartbeat.__call__

    def taken_over(self, iteration, loss):
        if iteration == 3:  # in one transaction, so the lease thread cannot renew in between
            with transaction.atomic():
                TrainingState.objects.filter(pk=self.pk).update(lease_expires=timezone.now() - timedelta(seconds=1))
                assert leases.training_claim(dataset_id=dataset.pk, mode="incremental", owner="B") is not None
        beat(self, iteration, loss)

    monkeypatch.setattr(leases._Heartbeat, "__call__", taken_over)
    monkeypatch.setattr(scheduling, "_send", lambda *args, **kwargs: None)
    scheduling.batch_accept(dataset=dataset, content=csvs[0])
    assert leases.training_run(dataset_id=dataset.pk, mode="incremental", task_id="A") == "lease lost"
    state = _state(dataset)
    assert (state.lease_owner, state.attempts) == ("B", 2) and "stopped renewing its lease" in state.error
    assert _runs(dataset) == []


def test_the_lease_thread_keeps_the_lease_through_one_engine_step_longer_than_the_lease(
        dataset, csvs, monkeypatch, settings):
    settings.TRAINING_LEASE_SECONDS, settings.TRAINING_HEARTBEAT_SECONDS = 0.4, 0.05
    dataset.modes = ["incremental"]
    dataset.save()
    train, claims = leases.model_train, []

    def one_long_step(**kwargs):
        time.sleep(1.2)  # three leases without a single progress call
        claims.append(leases.training_claim(dataset_id=dataset.pk, mode="incremental", owner="B"))
        return train(**kwargs)

    monkeypatch.setattr(leases, "model_train", one_long_step)
    monkeypatch.setattr(scheduling, "_send", lambda *args, **kwargs: None)
    scheduling.batch_accept(dataset=dataset, content=csvs[0])
    assert leases.training_run(dataset_id=dataset.pk, mode="incremental", task_id="A") == "done"
    assert claims == [None]  # the lease was still held: nobody else could start the same work
    state = _state(dataset)
    assert (state.status, state.attempts, state.error) == ("done", 1, "") and _runs(dataset) == [(1, 1, 1)]


def test_a_training_inside_a_callers_transaction_keeps_its_uncommitted_lease(dataset, csvs, monkeypatch, settings):
    settings.TRAINING_HEARTBEAT_SECONDS = 0.05
    dataset.modes = ["incremental"]
    dataset.save()
    train = leases.model_train

    def slow(**kwargs):
        time.sleep(0.3)  # several heartbeats: a lease thread on its own connection would not see the claim
        kwargs["progress"](0, 1.0)
        return train(**kwargs)

    monkeypatch.setattr(leases, "model_train", slow)
    monkeypatch.setattr(scheduling, "_send", lambda *args, **kwargs: None)
    with transaction.atomic():
        scheduling.batch_accept(dataset=dataset, content=csvs[0])
        assert leases.training_run(dataset_id=dataset.pk, mode="incremental", task_id="A") == "done"
    assert _runs(dataset) == [(1, 1, 1)]


def test_a_training_stalled_past_the_stall_limit_loses_its_lease_and_stops(dataset, csvs, monkeypatch, settings):
    settings.TRAINING_LEASE_SECONDS, settings.TRAINING_HEARTBEAT_SECONDS = 0.3, 0.05
    settings.TRAINING_STALL_SECONDS = 0.2
    dataset.modes = ["incremental"]
    dataset.save()
    train, claims = leases.model_train, []

    def stuck(**kwargs):
        time.sleep(1.0)  # no iteration for longer than the stall limit and the lease
        claims.append(leases.training_claim(dataset_id=dataset.pk, mode="incremental", owner="B"))
        return train(**kwargs)  # wakes up: its first progress call finds the lease taken

    monkeypatch.setattr(leases, "model_train", stuck)
    monkeypatch.setattr(scheduling, "_send", lambda *args, **kwargs: None)
    scheduling.batch_accept(dataset=dataset, content=csvs[0])
    assert leases.training_run(dataset_id=dataset.pk, mode="incremental", task_id="A") == "lease lost"
    assert claims[0] is not None
    state = _state(dataset)
    assert (state.lease_owner, state.attempts) == ("B", 2) and _runs(dataset) == []


def test_a_batch_deleted_under_a_running_training_retrains_the_current_revision_without_a_failed_attempt(
        dataset, csvs, monkeypatch):
    dataset.modes = ["incremental"]
    dataset.save()
    train, raised = leases.model_train, []

    def deleted_under_it(**kwargs):
        if not raised:  # the engine met batch 1 gone mid-training
            raised.append(scheduling.batch_withdraw(dataset=dataset, number=1)[0].revision)
            raise MissingInputError("input batch(rt, 1) was deleted")
        return train(**kwargs)

    monkeypatch.setattr(scheduling, "_send", lambda *args, **kwargs: None)
    scheduling.batch_accept(dataset=dataset, content=csvs[0])
    scheduling.batch_accept(dataset=dataset, content=csvs[1])
    monkeypatch.setattr(leases, "model_train", deleted_under_it)
    assert leases.training_run(dataset_id=dataset.pk, mode="incremental", task_id="A") == "done"
    state = _state(dataset)
    assert (state.status, state.attempts, state.error, state.covered) == ("done", 1, "", raised[0])
    run = BatchRun.objects.get(dataset=dataset)
    assert (run.revision, run.batch.number, run.attempts) == (raised[0], 2, 1)
    assert run.rows_total == 100  # batch 2 alone: what recomputing from scratch trains on


def test_a_missing_input_while_the_data_did_not_change_fails_at_once(dataset, csvs, monkeypatch):
    def missing(**kwargs):
        raise MissingInputError("input batch(rt, 1) was never set")

    monkeypatch.setattr(leases, "model_train", missing)
    scheduling.batch_accept(dataset=dataset, content=csvs[0])
    state = _state(dataset)
    assert (state.status, state.attempts) == ("failed", 1)
    assert state.error == "MissingInputError: input batch(rt, 1) was never set"


def test_training_state_list_shows_every_mode(dataset, csvs, monkeypatch):
    assert [(s["mode"], s["status"], s["pending"]) for s in selectors.training_state_list(dataset=dataset)] == [
        ("incremental", "idle", 0), ("naive", "idle", 0)]
    monkeypatch.setattr(scheduling, "_send", lambda *args, **kwargs: None)
    scheduling.batch_accept(dataset=dataset, content=csvs[0])
    scheduling.batch_accept(dataset=dataset, content=csvs[1])
    leases.training_claim(dataset_id=dataset.pk, mode="naive", owner="A")
    states = selectors.training_state_list(dataset=dataset)
    assert [(s["mode"], s["status"], s["requested"], s["pending"], s["lease_expired"]) for s in states] == [
        ("incremental", "queued", 2, 2, False), ("naive", "running", 2, 2, False)]
    TrainingState.objects.filter(mode="naive").update(lease_expires=timezone.now())
    assert selectors.training_state_list(dataset=dataset)[1]["lease_expired"] is True


def test_the_admin_lists_training_states(dataset, csvs, monkeypatch, admin_client):
    monkeypatch.setattr(scheduling, "_send", lambda *args, **kwargs: None)
    scheduling.batch_accept(dataset=dataset, content=csvs[0])
    page = admin_client.get("/admin/regression/trainingstate/")
    assert page.status_code == 200 and b"2 training states" in page.content
