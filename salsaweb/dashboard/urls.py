"""Dashboard routes under /dashboard/."""
from django.urls import path

from salsaweb.api import converters  # noqa: F401 (registers the "id" path converter)

from . import views

app_name = "dashboard"

urlpatterns = [
    path("", views.dataset_list, name="datasets"),
    path("datasets/<id:pk>/", views.dataset_detail, name="dataset"),
    path("datasets/<id:pk>/delete/", views.dataset_delete, name="dataset-delete"),
]
