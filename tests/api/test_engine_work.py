"""The engine's work per run (executed, hits, verified, backdated and why) and a model's dependency graph."""
from __future__ import annotations

import pytest

from salsaweb.regression.models import BatchRun

from .conftest import batch_data, csv_text, token_client

pytestmark = pytest.mark.django_db


def _functions(work: dict) -> dict[str, dict]:
    return {f["function"]: f for f in work["functions"]}


def test_a_second_batch_reexecutes_statistics_because_its_input_batch_changed(api, trained) -> None:
    runs = api.get(f"/api/datasets/{trained.pk}/runs/", {"mode": "incremental"}).json()["results"]
    first, second = (r["work"] for r in runs)
    assert _functions(first)["statistics"]["reasons"] == [{"why": "no memo yet", "count": 1}]
    tree = _functions(second)["node"]  # the leaf node holding batches 1-32
    assert tree["executed"] == 1 and tree["reasons"] == [{"why": "input batch_moments(rt, 2) changed", "count": 1}]
    assert _functions(second)["statistics"]["reasons"] == [{"why": "input batch_count(rt) changed", "count": 1}]
    for run, work in zip(runs, (first, second)):
        assert work["executed"] == run["executed"] and work["hits"] + work["verified"] == run["reused"]
        assert work["executed"] == sum(f["executed"] for f in work["functions"])


def test_the_naive_mode_reuses_nothing_of_statistics_and_says_its_problem_changed(api, trained) -> None:
    second = api.get(f"/api/datasets/{trained.pk}/model/", {"mode": "naive"}).json()["work"]
    functions = _functions(second)
    assert "statistics" not in functions
    assert functions["naive_problem"]["reasons"] == [{"why": "input batch_count(rt) changed", "count": 1}]
    assert functions["naive_step"]["executed"] >= 1


def test_a_settings_change_that_keeps_a_value_is_backdated(api, trained, django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        assert api.patch(f"/api/datasets/{trained.pk}/", {"max_iterations": 51}, format="json").status_code == 200
    work = api.get(f"/api/datasets/{trained.pk}/model/", {"mode": "incremental"}).json()["work"]
    functions = _functions(work)
    assert functions["statistics"]["executed"] == 1 and functions["statistics"]["backdated"] == 1
    assert functions["statistics"]["reasons"] == [{"why": "input training_settings(rt) changed", "count": 1}]
    assert work["backdated"] >= 1


def test_the_graph_of_a_model_colours_what_its_run_executed_and_links_to_the_admin(api, trained, upload) -> None:
    graph = api.get(f"/api/datasets/{trained.pk}/graph/", {"mode": "incremental"}).json()
    assert (graph["mode"], graph["revision"]) == ("incremental", 2)
    functions = {f["function"]: f for f in graph["functions"]}
    assert graph["root"] == functions["incremental_step"]["nodes"][0]["label"]
    moments = functions["batch_moments"]  # the tree reads each batch's statistics, never its rows
    assert "batch" not in functions
    assert moments["kind"] == "input" and moments["states"] == {"input": 2, "unset": 30}
    assert functions["node"]["states"] == {"executed": 1} and functions["node"]["deps"] == ["training_settings",
                                                                                          "batch_moments"]
    step = functions["incremental_step"]
    run = BatchRun.objects.get(dataset=trained, revision=2, mode="incremental")
    assert step["chained"] and step["calls"] == run.iterations + 1 and set(step["states"]) == {"executed"}
    assert all(n["url"].startswith("/admin/runtime/memo/") for n in step["nodes"])
    assert moments["nodes"][0]["url"].startswith("/admin/runtime/inputvalue/")
    older = api.get(f"/api/datasets/{trained.pk}/graph/", {"mode": "incremental", "revision": 1}).json()
    assert older["revision"] == 1


def test_the_graph_of_an_untrained_mode_is_a_json_404(api, dataset) -> None:
    answer = api.get(f"/api/datasets/{dataset.pk}/graph/", {"mode": "naive"})
    assert answer.status_code == 404 and answer.json()["code"] == "not_trained"
    assert "mode" in api.get(f"/api/datasets/{dataset.pk}/graph/", {"mode": "exact"}).json()["fields"]


def test_the_graph_of_another_users_dataset_is_not_found(trained, other) -> None:
    assert token_client(other).get(f"/api/datasets/{trained.pk}/graph/").status_code == 404
