"""The one base every served endpoint inherits.

It fixes authentication, scope checks and the error shape, so no endpoint can
forget any of them: a subclass only names its API and the scopes each of its
methods needs, and a class that leaves a method's scopes undeclared fails at
import time.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from typing import ClassVar

from django.conf import settings
from rest_framework.generics import GenericAPIView
from rest_framework.renderers import JSONRenderer

from apis.parsers import SafeJSONParser
from apis.permissions import HasScopes
from apis.problems import problem_exception_handler
from portal.keys.authentication import ApiKeyAuthentication
from portal.limits.throttling import PlanThrottle, limit_headers
from portal.oauth.authentication import OAuthTokenAuthentication
from portal.usage.served import record_served_call

_METHODS = ("get", "post", "put", "patch", "delete")


class ServedApiView(GenericAPIView):
    api_slug: ClassVar[str]
    required_scopes: ClassVar[Mapping[str, Sequence[str]]]

    authentication_classes = (ApiKeyAuthentication, OAuthTokenAuthentication)
    permission_classes = (HasScopes,)
    throttle_classes = (PlanThrottle,)
    renderer_classes = (JSONRenderer,)
    parser_classes = (SafeJSONParser,)
    # DRF's default OPTIONS metadata introspects serializers these views do
    # not declare; the schema at <base path>schema/ is the description.
    metadata_class = None

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("abstract", False):
            return
        declared = {m.upper() for m in getattr(cls, "required_scopes", {})}
        undeclared = [
            m.upper() for m in _METHODS if hasattr(cls, m) and m.upper() not in declared
        ]
        if undeclared or not getattr(cls, "api_slug", ""):
            raise TypeError(
                f"{cls.__name__} must set api_slug and required_scopes for "
                f"{', '.join(undeclared) or 'its methods'}."
            )

    def scopes_for_method(self, method: str) -> Sequence[str]:
        method = "GET" if method in ("HEAD", "OPTIONS") else method
        return self.required_scopes.get(method, ())

    def get_exception_handler(self):
        return problem_exception_handler

    def throttled(self, request, wait):
        raise PlanThrottle.refusal(request)

    def dispatch(self, request, *args, **kwargs):
        """Serve the call, then record it (every call: 401s and 429s too)."""
        started_at, started = time.time(), time.perf_counter()
        self.request_id = uuid.uuid4().hex
        response = super().dispatch(request, *args, **kwargs)
        if settings.USAGE_RECORDING:
            # Rendered here (the handler would render it next anyway) so the
            # latency and size recorded are those of the whole response.
            if hasattr(response, "render"):
                response.render()
            record_served_call(self, response, started_at, started, self.request_id)
        return response

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Request-Id"] = self.request_id
        for name, value in limit_headers(request).items():
            response[name] = value
        return response
