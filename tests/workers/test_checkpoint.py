"""Checkpoints: a long unit of work stores what it computed so far, and a rerun computes only the rest."""
from __future__ import annotations

import pytest

from runtime import Runtime
from runtime.db.models import Memo
from runtime.db.storage import DatabaseStorage
from salsaweb.regression.training import incremental_step, train
from tests.memo_store import programs
from tests.regression.conftest import correlated_batches, load_runtime

pytestmark = pytest.mark.django_db(transaction=True)


def _stored(namespace: str, function: str | None = None) -> int:
    memos = Memo.objects.filter(namespace__name=namespace)
    return (memos.filter(function=function) if function else memos).count()


def test_checkpoint_stores_the_memos_so_far_and_keeps_the_revision() -> None:
    rt = Runtime(storage=DatabaseStorage("ckpt"))
    programs.value.set(rt, 0, 1.0)
    with rt.unit_of_work():
        revision = rt.storage.revision
        programs.chain(rt, 10)
        assert _stored("ckpt") == 0  # buffered until the unit of work ends...
        rt.checkpoint()
        assert _stored("ckpt") == 11  # ...or until a checkpoint
        assert programs.chain(rt, 20) == 21.0
        assert _stored("ckpt") == 11 and rt.storage.revision == revision
    assert _stored("ckpt") == 21


def test_checkpoint_outside_a_database_store_is_harmless() -> None:
    rt = Runtime()
    programs.value.set(rt, 0, 1.0)
    with rt.unit_of_work():
        programs.chain(rt, 3)
        rt.checkpoint()
        assert programs.chain(rt, 4) == 5.0


class _Crash(BaseException):
    """Stands for the process dying in the middle of the loop (the test counts the rows stored at that moment)."""


def test_training_checkpoints_iterations_and_a_rerun_reuses_them(monkeypatch) -> None:
    batches, _ = correlated_batches(2, 300, features=4, seed=3)
    namespace = "ckpt-train"
    # A fixed-step method, so that the loop runs all 60 iterations (conjugate gradients would converge in ~5).
    rt = load_runtime(batches, Runtime(storage=DatabaseStorage(namespace)), max_iterations=60, tolerance=0.0,
                      momentum=0.0)
    function = incremental_step.id
    seen_at_crash: list[int] = []

    def crash_at_30(iteration: int, loss: float) -> None:
        if iteration == 30:
            seen_at_crash.append(_stored(namespace, function))
            raise _Crash()

    with pytest.raises(_Crash):
        train(rt, "incremental", crash_at_30, checkpoint_seconds=0.0)
    # Every iteration before the crash was already stored by a checkpoint (0 s: after each one).
    assert seen_at_crash == [30]

    fresh = Runtime(storage=DatabaseStorage(namespace))
    result = train(fresh, "incremental")
    assert result["iterations"] == 60
    # Iterations 0..30 are stored (30 when the unit of work unwound): only 31..60 run again.
    assert fresh.counters.executions == 30
