"""The portal's URLconf plus the two comparison routes of ``make bench``."""

from __future__ import annotations

from django.urls import include, path

from benchmarks.views import BaselineBookDetailApi, DrfApiKeyBookDetailApi

urlpatterns = [
    path(
        "bench/baseline/books/<int:book_id>/",
        BaselineBookDetailApi.as_view(),
        name="bench-baseline-book-detail",
    ),
    path(
        "bench/drf-api-key/books/<int:book_id>/",
        DrfApiKeyBookDetailApi.as_view(),
        name="bench-drf-api-key-book-detail",
    ),
    path("", include("portal.urls")),
]
