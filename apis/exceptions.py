"""Errors of the served-call pipeline, each with a stable machine code."""

from __future__ import annotations

from rest_framework import exceptions, status


class InvalidCredential(exceptions.AuthenticationFailed):
    """401 with ``WWW-Authenticate: Bearer error="invalid_token"``."""

    default_detail = "The API key or access token is not valid."
    default_code = "invalid_token"

    def __init__(self, detail: str | None = None, code: str | None = None):
        super().__init__(detail or self.default_detail, code or self.default_code)
        self.problem_code = code or self.default_code


class CredentialForbidden(exceptions.PermissionDenied):
    """403 for a valid credential that may not do this."""

    default_code = "forbidden"

    def __init__(self, detail: str, code: str):
        super().__init__(detail, code)
        self.problem_code = code


class InsufficientScope(CredentialForbidden):
    """403 with ``WWW-Authenticate: Bearer error="insufficient_scope"``."""

    def __init__(self, missing: list[str]):
        self.missing = sorted(missing)
        super().__init__(
            "This call needs the scope(s) " + ", ".join(self.missing) + ".",
            "insufficient_scope",
        )


class NoSubscription(CredentialForbidden):
    def __init__(self, api_slug: str):
        super().__init__(
            f"The app has no active subscription to the {api_slug} API. Subscribe "
            "it to a plan in the developer portal.",
            "no_subscription",
        )


class SubscriptionPending(CredentialForbidden):
    def __init__(self, api_slug: str):
        super().__init__(
            f"The app's subscription to the {api_slug} API is waiting for staff "
            "approval.",
            "subscription_pending",
        )


class InvalidQuery(exceptions.ValidationError):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid_query"
    problem_code = "invalid_query"
