"""The portal's URLconf plus the comparison routes of ``make bench``."""

from __future__ import annotations

from django.urls import include, path

from benchmarks.views import (
    BaselineBookDetailApi,
    DotOAuthBookDetailApi,
    DrfApiKeyBookDetailApi,
    DrfThrottledBookDetailApi,
    GetUsageBookDetailApi,
    PerCallLimitsBookDetailApi,
)

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
    path(
        "bench/dot-oauth/books/<int:book_id>/",
        DotOAuthBookDetailApi.as_view(),
        name="bench-dot-oauth-book-detail",
    ),
    path(
        "bench/drf-throttle/books/<int:book_id>/",
        DrfThrottledBookDetailApi.as_view(),
        name="bench-drf-throttle-book-detail",
    ),
    path(
        "bench/ratelimit-get-usage/books/<int:book_id>/",
        GetUsageBookDetailApi.as_view(),
        name="bench-ratelimit-get-usage-book-detail",
    ),
    path(
        "bench/limits-per-call/books/<int:book_id>/",
        PerCallLimitsBookDetailApi.as_view(),
        name="bench-limits-per-call-book-detail",
    ),
    path("", include("portal.urls")),
]
