"""The book-detail endpoint behind the two comparison set-ups.

Both subclass the Books API's own ``BookDetailApi``, so the query, the
serializer, the renderer and the error handling are the measured endpoint's
own; only authentication and permission differ.
"""

from __future__ import annotations

from rest_framework.permissions import AllowAny
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
