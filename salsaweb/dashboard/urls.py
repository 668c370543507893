"""Dashboard routes under /dashboard/."""
from django.urls import path

from . import views

app_name = "dashboard"

urlpatterns = [
    path("", views.dataset_list, name="datasets"),
    path("datasets/<id:pk>/", views.dataset_detail, name="dataset"),
    path("datasets/<id:pk>/delete/", views.dataset_delete, name="dataset-delete"),
    path("datasets/<id:pk>/settings/", views.dataset_settings, name="dataset-settings"),
    path("datasets/<id:pk>/batches/<id:number>/delete/", views.batch_delete, name="batch-delete"),
    path("datasets/<id:pk>/batches/<id:number>/replace/", views.batch_replace, name="batch-replace"),
]
