"""API routes under /api/: tokens, datasets and their nested resources, schema and docs."""
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from . import views

app_name = "api"

router = SimpleRouter()
router.register("datasets", views.DatasetViewSet, basename="dataset")

urlpatterns = [
    path("auth/token/", views.TokenView.as_view(), name="token"),
    path("account/token/", views.AccountTokenView.as_view(), name="account-token"),
    path("", include(router.urls)),
    path("datasets/<id:dataset_id>/batches/", views.BatchListView.as_view(), name="dataset-batches"),
    path("datasets/<id:dataset_id>/batches/<id:number>/", views.BatchDetailView.as_view(), name="dataset-batch"),
    path("datasets/<id:dataset_id>/model/", views.ModelView.as_view(), name="dataset-model"),
    path("datasets/<id:dataset_id>/graph/", views.GraphView.as_view(), name="dataset-graph"),
    path("datasets/<id:dataset_id>/predict/", views.PredictView.as_view(), name="dataset-predict"),
    path("datasets/<id:dataset_id>/runs/", views.RunListView.as_view(), name="dataset-runs"),
    path("datasets/<id:dataset_id>/curves/", views.CurveListView.as_view(), name="dataset-curves"),
    path("datasets/<id:dataset_id>/training/", views.TrainingView.as_view(), name="dataset-training"),
    path("datasets/<id:dataset_id>/memos/", views.MemoListView.as_view(), name="dataset-memos"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    re_path(r"", views.not_found),  # anything else under /api/: a JSON 404, not Django's HTML page
]
