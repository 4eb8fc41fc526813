from django.urls import path

from portal.docs import views

app_name = "docs"

urlpatterns = [
    path("", views.index, name="index"),
    path("getting-started/", views.getting_started, name="getting-started"),
    path("problems/", views.problem_list, name="problem-list"),
    # No trailing slash: a problem's ``type`` is /docs/problems/<code> exactly.
    path("problems/<slug:code>", views.problem_detail, name="problem"),
    path("<slug:api_slug>/", views.reference, name="reference"),
    path("<slug:api_slug>/redoc/", views.redoc, name="redoc"),
]
