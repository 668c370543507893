"""Admin: datasets link to batches, records and their namespace's memos; namespaces link back; read-only rows."""
from __future__ import annotations

import pytest

from runtime.db.models import Namespace
from salsaweb.regression import services
from salsaweb.regression.models import Batch, BatchRun, Dataset

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset(admin_user):
    dataset = services.dataset_create(owner=admin_user, name="linked", features=["a"], target="b")
    services.batch_create(dataset=dataset, content="a,b\n1,2\n2,4\n")
    services.dataset_train(dataset=dataset)
    return dataset


def test_dataset_links_to_batches_records_and_namespace_memos(admin_client, dataset) -> None:
    namespace = Namespace.objects.get(name=dataset.namespace)
    listing = admin_client.get("/admin/regression/dataset/").content.decode()
    assert f'href="/admin/runtime/memo/?namespace__id__exact={namespace.pk}"' in listing
    assert f'href="/admin/regression/batch/?dataset__id__exact={dataset.pk}">1</a>' in listing
    assert f'href="/admin/regression/batchrun/?dataset__id__exact={dataset.pk}"' in listing
    change = admin_client.get(f"/admin/regression/dataset/{dataset.pk}/change/").content.decode()
    assert f'href="/admin/runtime/namespace/{namespace.pk}/change/"' in change
    memos = admin_client.get(f"/admin/runtime/memo/?namespace__id__exact={namespace.pk}")
    assert memos.status_code == 200 and b"incremental" in memos.content


def test_namespace_links_back_to_its_dataset(admin_client, dataset) -> None:
    namespace = Namespace.objects.get(name=dataset.namespace)
    for url in ("/admin/runtime/namespace/", f"/admin/runtime/namespace/{namespace.pk}/change/"):
        html = admin_client.get(url).content.decode()
        assert f'href="/admin/regression/dataset/{dataset.pk}/change/">linked</a>' in html


def test_batches_and_records_are_read_only_and_deleting_a_dataset_retires_its_namespace(admin_client, dataset) -> None:
    batch = Batch.objects.get(dataset=dataset)
    run = BatchRun.objects.filter(dataset=dataset).first()
    assert admin_client.get("/admin/regression/batch/add/").status_code == 403
    assert admin_client.post(f"/admin/regression/batch/{batch.pk}/delete/", {"post": "yes"}).status_code == 403
    assert admin_client.get(f"/admin/regression/batchrun/{run.pk}/change/").status_code == 200
    assert admin_client.post(f"/admin/regression/batchrun/{run.pk}/delete/", {"post": "yes"}).status_code == 403
    batch_page = admin_client.get("/admin/regression/batch/").content.decode()
    assert f'href="/admin/regression/batchrun/?batch__id__exact={batch.pk}"' in batch_page
    answer = admin_client.post(f"/admin/regression/dataset/{dataset.pk}/delete/", {"post": "yes"})
    assert answer.status_code == 302 and not Dataset.objects.exists()
    assert Namespace.objects.get(name=dataset.namespace).deleted_at is not None


def test_batch_list_shows_revisions_and_deleted_batches(admin_client, dataset) -> None:
    services.batch_create(dataset=dataset, content="a,b\n3,2\n4,4\n", source="second.csv")
    services.batch_delete(dataset=dataset, number=1)
    listing = admin_client.get("/admin/regression/batch/").content.decode()
    assert "second.csv" in listing and "deleted at" in listing.lower()
    live = admin_client.get("/admin/regression/batch/?deleted_at__isnull=True").content.decode()
    assert "second.csv" in live and "batch.csv" not in live
    datasets = admin_client.get("/admin/regression/dataset/").content.decode()
    assert f'href="/admin/regression/batch/?dataset__id__exact={dataset.pk}">1</a>' in datasets  # one live batch
