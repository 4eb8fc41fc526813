from django.urls import include, path, re_path

from apis.problems import api_not_found

urlpatterns = [
    path("books/v1/", include("apis.books.urls")),
    path("manage/v1/", include("apis.manage.urls")),
    # Anything else under /api/ is a problem+json 404, not the portal's page.
    re_path(r"^.*$", api_not_found),
]
