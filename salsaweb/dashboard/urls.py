"""Dashboard routes under /dashboard/."""
from django.urls import path

from . import views

app_name = "dashboard"

urlpatterns = [
    path("", views.dataset_list, name="datasets"),
    path("datasets/<id:pk>/", views.dataset_detail, name="dataset"),
    path("datasets/<id:pk>/delete/", views.dataset_delete, name="dataset-delete"),
]
