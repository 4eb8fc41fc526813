"""RFC 9457 problem details for every error a served or management API returns."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django_ratelimit.exceptions import Ratelimited
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from apis.exceptions import InsufficientScope
from apis.parsers import BodyTooLarge
from portal.errors import GatehouseError
from portal.web.outage import ServiceUnavailable, is_outage, note_outage

PROBLEM_CONTENT_TYPE = "application/problem+json"

TITLES = {
    400: "Bad request",
    401: "Authentication required",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}

# DRF's exception classes, named by our stable codes.
DRF_CODES = {
    exceptions.ParseError: "malformed_body",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "rate_limited",
    exceptions.NotFound: "not_found",
    exceptions.ValidationError: "invalid",
    exceptions.PermissionDenied: "forbidden",
    exceptions.AuthenticationFailed: "invalid_token",
}


def problem_type(code: str) -> str:
    return f"{getattr(settings, 'PROBLEM_TYPE_BASE', '/docs/problems/')}{code}"


def problem_body(status_code: int, code: str, detail: str, **extra) -> dict:
    return {
        "type": problem_type(code),
        "title": TITLES.get(status_code, "Error"),
        "status": status_code,
        "detail": detail,
        "code": code,
        **extra,
    }


def _code_for(exc: exceptions.APIException) -> str:
    if hasattr(exc, "problem_code"):
        return exc.problem_code
    for cls in type(exc).__mro__:
        if cls in DRF_CODES:
            return DRF_CODES[cls]
    return "error"


def _www_authenticate(exc: exceptions.APIException, code: str) -> str | None:
    challenge = getattr(exc, "auth_header", None) or 'Bearer realm="api"'
    if isinstance(exc, exceptions.NotAuthenticated):
        return challenge  # no credentials: no error code (RFC 6750 §3.1)
    if isinstance(exc, exceptions.AuthenticationFailed):
        return f'{challenge}, error="invalid_token"'
    if isinstance(exc, InsufficientScope):
        return (
            f'{challenge}, error="insufficient_scope", scope="{" ".join(exc.missing)}"'
        )
    return None


def _from_domain_error(error: GatehouseError) -> exceptions.APIException:
    exc = exceptions.APIException(error.message, error.code)
    exc.status_code = error.status
    exc.problem_code = error.code
    if error.field and error.status == status.HTTP_400_BAD_REQUEST:
        # A rule on one input field (an expiry in the past, a redirect URI
        # that is not https): named in `errors`, as the serializers' are.
        exc.problem_extra = {"errors": {error.field: [error.message]}}
    return exc


def problem_exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF exception handler: every error as ``application/problem+json``.

    Keeps ``WWW-Authenticate`` and ``Retry-After``; maps django-ratelimit's
    ``Ratelimited`` (a PermissionDenied) to 429 explicitly.
    """
    if isinstance(exc, GatehouseError):
        exc = _from_domain_error(exc)
    elif isinstance(exc, RequestDataTooBig):
        # DRF reads a JSON body through request.body, where Django enforces
        # DATA_UPLOAD_MAX_MEMORY_SIZE: a 413 problem, not the portal's page.
        exc = BodyTooLarge(
            "The request body is over the limit of "
            f"{settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."
        )
    elif isinstance(exc, Ratelimited):
        exc = exceptions.Throttled()
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif is_outage(exc):  # the database is unreachable: 503, not 500
        note_outage(exc)
        exc = ServiceUnavailable()
    response = drf_exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response
    code = _code_for(exc)
    extra: dict = {}
    if isinstance(exc, exceptions.ValidationError):
        detail = "The request has invalid fields; see errors."
        extra["errors"] = (
            exc.detail
            if isinstance(exc.detail, dict)
            else {"non_field_errors": exc.detail}
        )
    else:
        detail = str(exc.detail)
    if isinstance(exc, InsufficientScope):
        extra["missing_scopes"] = exc.missing
    extra.update(getattr(exc, "problem_extra", {}))
    response.data = problem_body(response.status_code, code, detail, **extra)
    response.content_type = PROBLEM_CONTENT_TYPE
    challenge = (
        _www_authenticate(exc, code) if response.status_code in (401, 403) else None
    )
    if challenge:
        response["WWW-Authenticate"] = challenge
    if response.status_code == 401 and "WWW-Authenticate" not in response:
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


def problem_response(request: HttpRequest, status_code: int, code: str, detail: str):
    """A plain Django problem+json response, for errors outside DRF views."""
    return JsonResponse(
        problem_body(status_code, code, detail),
        status=status_code,
        content_type=PROBLEM_CONTENT_TYPE,
    )


# No state to protect, and an API client sends no CSRF token: without this a
# POST, PUT, PATCH or DELETE to an unknown path was the portal's HTML 403 page.
@csrf_exempt
def api_not_found(request: HttpRequest) -> JsonResponse:
    return problem_response(
        request, status.HTTP_404_NOT_FOUND, "not_found", "No such endpoint."
    )
