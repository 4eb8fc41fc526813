"""503, never 500, while the database cannot be reached.

A dropped or refused PostgreSQL connection surfaces as Django's
``OperationalError`` or ``InterfaceError``. Served and management API calls
turn it into a 503 ``service_unavailable`` problem inside DRF's exception
handler (``apis.problems``), so the call still carries its ``Request-Id`` and
is counted in usage; everything else (portal pages, the API's own 404s, OAuth
views) is answered here: problem+json under ``/api/``, the 503 page elsewhere,
both with ``Retry-After``.

Nothing runs on a healthy request but one comparison on the way out. Each
process logs the outage at most once a minute; Django closes the broken
connection at the end of the request and, with ``CONN_HEALTH_CHECKS``, checks
a kept one before reusing it, so service resumes without a restart as soon as
the database answers again.
"""

from __future__ import annotations

import logging
import sys
import time

from django.core.signals import got_request_exception
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from rest_framework import exceptions

logger = logging.getLogger(__name__)

# What a client is told to wait before retrying.
RETRY_AFTER_SECONDS = 5
OUTAGE_ERRORS = (OperationalError, InterfaceError)
API_PREFIX = "/api/"

_last_warning = 0.0


def is_outage(exc: BaseException | None) -> bool:
    """True for the errors a lost or refused database connection raises."""
    return isinstance(exc, OUTAGE_ERRORS)


def note_outage(exc: BaseException) -> None:
    global _last_warning
    if time.monotonic() - _last_warning > 60:
        _last_warning = time.monotonic()
        logger.warning("Database unavailable (%s): answering 503", type(exc).__name__)


class ServiceUnavailable(exceptions.APIException):
    """503 while the database cannot be reached; DRF adds ``Retry-After``."""

    status_code = 503
    default_detail = "The service is temporarily unavailable; try again shortly."
    default_code = "service_unavailable"
    problem_code = "service_unavailable"
    wait = RETRY_AFTER_SECONDS


def outage_response(request: HttpRequest) -> HttpResponse:
    """The 503 for ``request``: problem+json for the APIs, a page otherwise."""
    if request.path.startswith(API_PREFIX):
        from apis.problems import problem_response

        response = problem_response(
            request,
            ServiceUnavailable.status_code,
            ServiceUnavailable.problem_code,
            str(ServiceUnavailable.default_detail),
        )
    else:
        # Rendered without the request: the context processors (the signed-in
        # user, the navigation) would query the database that is down.
        response = HttpResponse(
            render_to_string("503.html", {"retry_after": RETRY_AFTER_SECONDS}),
            status=503,
        )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _mark_outage(sender, request=None, **kwargs) -> None:
    # Django is about to turn an exception raised outside the view (in a
    # middleware's process_view, say) into a 500; note it if it was an outage.
    if request is not None and is_outage(sys.exc_info()[1]):
        request.gatehouse_outage = True


got_request_exception.connect(_mark_outage, dispatch_uid="gatehouse.outage")


class DatabaseOutageMiddleware:
    """Answer 503 instead of 500 when the database is unreachable.

    Views' errors arrive at ``process_exception``; an error Django already
    turned into a 500 (raised by a middleware further in) is recognised by the
    mark ``got_request_exception`` left on the request.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code == 500 and getattr(request, "gatehouse_outage", False):
            return outage_response(request)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception):
        if not is_outage(exception):
            return None
        note_outage(exception)
        return outage_response(request)
