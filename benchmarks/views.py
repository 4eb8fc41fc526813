"""The book-detail endpoint behind the comparison set-ups.

Each subclasses the Books API's own ``BookDetailApi``, so the query, the
serializer, the renderer and the error handling are the measured endpoint's
own; only authentication, permission and throttling differ.
"""

from __future__ import annotations

from oauth2_provider.contrib.rest_framework import OAuth2Authentication, TokenHasScope
from rest_framework.permissions import AllowAny
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView
from rest_framework_api_key.permissions import HasAPIKey

from apis.books.views import BookDetailApi


class BaselineBookDetailApi(BookDetailApi):
    """No authentication at all: the ceiling the other set-ups are held to."""

    authentication_classes = ()
    permission_classes = (AllowAny,)


class DrfApiKeyBookDetailApi(BookDetailApi):
    """djangorestframework-api-key: ``Authorization: Api-Key <key>``."""

    authentication_classes = ()
    permission_classes = (HasAPIKey,)


class DotOAuthBookDetailApi(BookDetailApi):
    """django-oauth-toolkit's own resource-server check of the same token:
    ``Authorization: Bearer <access token>``, scope ``books:read``."""

    # DOT reads a flat list of scopes; ServedApiView's import-time check
    # wants one per HTTP method, so this class opts out of that check.
    abstract = True
    authentication_classes = (OAuth2Authentication,)
    permission_classes = (TokenHasScope,)
    required_scopes = ["books:read"]
    throttle_classes = ()


class DrfThrottledBookDetailApi(BookDetailApi):
    """No authentication, DRF's ``ScopedRateThrottle`` (scope ``bench``,
    50/min, counted in the default cache: Redis)."""

    authentication_classes = ()
    permission_classes = (AllowAny,)
    throttle_classes = (ScopedRateThrottle,)
    throttle_scope = "bench"

    def throttled(self, request, wait):
        # ServedApiView answers a refusal with Gatehouse's plan-limit error,
        # which knows nothing of this throttle (503): DRF's own 429 instead.
        APIView.throttled(self, request, wait)
