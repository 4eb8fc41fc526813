from django.urls import path

from apis.manage import views

app_name = "manage"

urlpatterns = [
    path("apps/<int:app_id>/usage/", views.AppUsageApi.as_view(), name="app-usage"),
]
