from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django_ratelimit.exceptions import Ratelimited

from portal.web.throttling import too_many_attempts


class RatelimitedMiddleware:
    """Render django-ratelimit's ``Ratelimited`` as a 429 page.

    ``Ratelimited`` subclasses ``PermissionDenied``; left alone it would be a
    403, which tells the user the wrong thing.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception):
        if isinstance(exception, Ratelimited):
            return too_many_attempts(request, 60)
        return None
