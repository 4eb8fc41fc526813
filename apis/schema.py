"""The OpenAPI schemas of the served APIs and the management API.

drf-spectacular generates them from the views; this module teaches it what
every Gatehouse view has in common, so no view repeats it:

- the security each operation accepts (API key, bearer, OAuth 2.0, and for
  the management API the portal session), with the scopes the view declares
  for the method (``required_scopes`` / ``scopes_for_method``) as the OAuth
  requirement and in the operation's description;
- the RFC 9457 problem responses it can return (by what the view
  authenticates, checks and throttles), with the ``Problem`` body and an
  example per code;
- the ``RateLimit-Policy`` / ``RateLimit`` / ``Retry-After`` / ``Request-Id``
  response headers of served calls.

One schema per API is served at ``<base path>schema/``, and all of them
together at ``/api/schema/`` (``apis/urls.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import partial

from django.conf import settings
from django.http import HttpRequest
from django.urls import URLResolver
from drf_spectacular.drainage import error
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.generators import EndpointEnumerator, SchemaGenerator
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import force_instance
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework.authentication import SessionAuthentication
from rest_framework.generics import GenericAPIView

from apis.base import ServedApiView
from apis.manage.base import ManageApiView, ManageScope
from apis.manage.scopes import MANAGE_SCOPES
from apis.pagination import PAGE_NUMBER_MAX
from apis.permissions import HasScopes
from apis.problems import PROBLEM_CONTENT_TYPE, problem_body
from apis.registry import SERVED_APIS
from apis.serializers import StrictInputSerializer
from apis.spec import ApiSpec
from portal.docs.problem_types import PROBLEM_TYPES
from portal.keys.authentication import ApiKeyAuthentication
from portal.limits.throttling import ManageApiThrottle, PlanThrottle
from portal.oauth.authentication import OAuthTokenAuthentication

# --- what is documented -------------------------------------------------------


@dataclass(frozen=True)
class DocumentedApi:
    """An API with a schema and docs pages: a served API, or the management API."""

    slug: str
    name: str
    version: str
    base_path: str
    description: str
    scopes: dict[str, str]
    # Served APIs take API keys and are held to plans; the management API is
    # the portal's own (OAuth tokens and the portal session).
    served: bool = True

    @classmethod
    def from_spec(cls, spec: ApiSpec) -> DocumentedApi:
        return cls(
            slug=spec.slug,
            name=spec.name,
            version=spec.version,
            base_path=spec.base_path,
            description=spec.description,
            scopes=dict(spec.scopes),
        )

    @property
    def schema_path(self) -> str:
        return f"{self.base_path}schema/"


MANAGE_API = DocumentedApi(
    slug="manage",
    name="Management",
    version="v1",
    base_path="/api/manage/v1/",  # routed in apis/urls.py
    description=(
        "The portal's own API: your teams, apps, API keys, OAuth clients, "
        "subscriptions and usage, as on the portal's pages. Call it signed in "
        "to the portal, or with an OAuth access token of any of your apps "
        "carrying manage:read or manage:write (no subscription needed); a "
        "token acts for its app's team."
    ),
    scopes=dict(MANAGE_SCOPES),
    served=False,
)


def documented_apis() -> tuple[DocumentedApi, ...]:
    """Every served API of the registry, then the management API."""
    return (*(DocumentedApi.from_spec(spec) for spec in SERVED_APIS), MANAGE_API)


def documented_api_get(slug: str) -> DocumentedApi | None:
    return next((api for api in documented_apis() if api.slug == slug), None)


def all_scopes() -> dict[str, str]:
    scopes: dict[str, str] = {}
    for api in documented_apis():
        scopes.update(api.scopes)
    return scopes


ALL_APIS = DocumentedApi(
    slug="all",
    name="Gatehouse",
    version="v1",
    base_path="/api/",
    description="Every API this portal serves, and its management API.",
    scopes={},
    served=False,
)


def _api_for_path(path: str) -> DocumentedApi | None:
    return next(
        (api for api in documented_apis() if path.startswith(api.base_path)), None
    )


# --- security schemes ---------------------------------------------------------

SCHEME_API_KEY = "ApiKey"
SCHEME_OAUTH2 = "OAuth2"
SCHEME_SESSION = "PortalSession"
# API keys and access tokens share `Authorization: Bearer`: one scheme, which
# both requirements name and postprocess_schema defines (an extension defining
# it for each would be two components of one name).
SCHEME_BEARER = "Bearer"
BEARER_DEFINITION = {
    "type": "http",
    "scheme": "bearer",
    "description": (
        "`Authorization: Bearer <credential>`: an API key of your app "
        "(`gk_test_…` / `gk_live_…`, on served APIs) or an OAuth 2.0 access "
        "token, carrying the scopes the operation names."
    ),
}

# Relative here; made absolute for the origin the schema is served from.
OAUTH_AUTHORIZE = "/o/authorize/"
OAUTH_TOKEN = "/o/token/"  # noqa: S105 - an endpoint, not a secret
OAUTH_DEVICE = "/o/device-authorization/"


def _required_scopes(auto_schema) -> list[str]:
    scopes_for = getattr(auto_schema.view, "scopes_for_method", None)
    return list(scopes_for(auto_schema.method)) if scopes_for else []


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """API keys: ``X-API-Key`` or ``Authorization: Bearer``."""

    target_class = ApiKeyAuthentication
    match_subclasses = True
    name = SCHEME_API_KEY

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-API-Key",
            "description": (
                "An API key of your app, `gk_test_…` or `gk_live_…`. Create one "
                "on the app's page in the portal: the full key is shown once, "
                "when it is created. Its scopes must include those the "
                "operation names."
            ),
        }

    def get_security_requirement(self, auto_schema):
        return [{SCHEME_API_KEY: []}, {SCHEME_BEARER: []}]


class OAuthTokenScheme(OpenApiAuthenticationExtension):
    """OAuth 2.0 access tokens from the portal's authorization server."""

    target_class = OAuthTokenAuthentication
    match_subclasses = True
    name = SCHEME_OAUTH2

    def get_security_definition(self, auto_schema):
        scopes = all_scopes()
        return {
            "type": "oauth2",
            "description": (
                "The portal's OAuth 2.0 authorization server: authorization "
                "code with PKCE (S256, required), client credentials, refresh "
                "tokens (rotated on use), and the device authorization grant "
                "(RFC 8628, `x-device-authorization`) for command-line tools. "
                "Discovery: `/.well-known/oauth-authorization-server` and "
                "`/.well-known/openid-configuration`. An app may request the "
                "scopes its active subscriptions grant, and `manage:read` / "
                "`manage:write`."
            ),
            "flows": {
                "authorizationCode": {
                    "authorizationUrl": OAUTH_AUTHORIZE,
                    "tokenUrl": OAUTH_TOKEN,
                    "refreshUrl": OAUTH_TOKEN,
                    "scopes": scopes,
                },
                "clientCredentials": {"tokenUrl": OAUTH_TOKEN, "scopes": scopes},
            },
            # OpenAPI 3.0 has no device flow (3.2 adds one with these fields):
            # an extension on the scheme, since Swagger UI would offer an
            # unknown entry under "flows" as a flow of its own.
            "x-device-authorization": {
                "deviceAuthorizationUrl": OAUTH_DEVICE,
                "tokenUrl": OAUTH_TOKEN,
                "grantType": "urn:ietf:params:oauth:grant-type:device_code",
                "scopes": scopes,
            },
        }

    def get_security_requirement(self, auto_schema):
        return [
            {SCHEME_OAUTH2: _required_scopes(auto_schema)},
            {SCHEME_BEARER: []},
        ]


class PortalSessionScheme(OpenApiAuthenticationExtension):
    """The management API's other door: a developer signed in to the portal."""

    target_class = SessionAuthentication
    match_subclasses = True
    priority = 1  # over drf-spectacular's own "cookieAuth"
    name = SCHEME_SESSION

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": settings.SESSION_COOKIE_NAME,
            "description": (
                "Signed in to the portal in this browser. Such a call needs no "
                "scope; POST, PUT, PATCH and DELETE also need the `X-CSRFToken` "
                "header (the docs pages send it)."
            ),
        }


# --- problem responses and header fields --------------------------------------

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}

PROBLEM_SCHEMA = {
    "type": "object",
    "description": (
        "An RFC 9457 problem. `code` is stable and meant for programs; `type` "
        "links to a page explaining it and what to do."
    ),
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {
            "type": "string",
            "format": "uri-reference",
            "description": "`/docs/problems/<code>`: the page about this problem.",
            "example": "/docs/problems/invalid_token",
        },
        "title": {"type": "string", "description": "The status, in words."},
        "status": {"type": "integer", "description": "The HTTP status code."},
        "detail": {"type": "string", "description": "What went wrong, this time."},
        "code": {
            "type": "string",
            "description": "The machine code; see `/docs/problems/`.",
            "example": "invalid_token",
        },
        "errors": {
            "type": "object",
            "additionalProperties": {},
            "description": (
                "`invalid`, `invalid_query`, and any other 400 about input: "
                "each invalid or unknown field or parameter with its messages "
                "(by index for the items of a list)."
            ),
        },
        "missing_scopes": {
            "type": "array",
            "items": {"type": "string"},
            "description": "`insufficient_scope`: the scopes the call lacked.",
        },
        "limit": {
            "type": "string",
            "description": (
                '`rate_limited`, `quota_exceeded`: the tier reached ("10/s"), '
                'or "quota".'
            ),
        },
        "allowed": {"type": "integer", "description": "The calls that limit allows."},
        "count": {"type": "integer", "description": "The calls counted against it."},
        "reset": {
            "type": "integer",
            "description": "Seconds until its window resets (as `Retry-After`).",
        },
    },
}

HEADER_FIELDS = {
    "Request-Id": {
        "description": (
            "This call's id. The app's recent-calls log in the portal lists "
            "it; quote it when asking for help."
        ),
        "schema": {"type": "string"},
        "example": "0f8b4c2ad1e34f5d9c3e2b1a7d6f5e4c",
    },
    "RateLimit-Policy": {
        "description": (
            "Each limit this call was counted against "
            "(draft-ietf-httpapi-ratelimit-headers-10): a rate tier of the plan "
            'or key ("10/s") or the monthly quota ("quota"), with its quota '
            "`q` and window `w` in seconds."
        ),
        "schema": {"type": "string"},
        "example": '"10/s";q=10;w=1, "600/m";q=600;w=60, "quota";q=100000;w=2592000',
    },
    "RateLimit": {
        "description": (
            "For the same limits: the calls remaining `r` and the seconds `t` "
            "until the window resets. On a limit with ample room, `r` can be "
            "ahead by the calls other server processes made in the last second."
        ),
        "schema": {"type": "string"},
        "example": '"10/s";r=9;t=1, "600/m";r=597;t=41, "quota";r=99212;t=1771200',
    },
    "Retry-After": {
        "description": "Seconds to wait before calling again.",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
        "example": 1,
    },
    "WWW-Authenticate": {
        "description": (
            "The Bearer challenge (RFC 6750): no error when nothing was sent, "
            '`error="invalid_token"` for a bad credential, '
            '`error="insufficient_scope"` with the missing `scope`.'
        ),
        "schema": {"type": "string"},
        "example": (
            'Bearer realm="api", error="insufficient_scope", scope="books:write"'
        ),
    },
}

# Statuses of a served call that come after its limits were counted, so carry
# the RateLimit fields: not the 401/403 refusals, not a 503 without counters.
_COUNTED_ERRORS = {400, 404, 405, 409, 413, 415, 429}
_STATUS_DESCRIPTIONS = {
    400: "Invalid request.",
    401: "No credential, or one that is not valid.",
    403: "The credential may not make this call.",
    404: "Not found.",
    409: "Conflict with the current state.",
    413: "The body is too large.",
    415: "The body is not JSON.",
    429: "A rate limit or the monthly quota is used up.",
    503: "Limits cannot be checked right now.",
}
_CODE_IN_TEXT = re.compile(r"`([a-z][a-z_]+)`")


def problem_example(code: str) -> dict:
    """An example problem body for ``code`` (from the problem catalogue)."""
    problem = PROBLEM_TYPES[code]
    return problem_body(
        problem.status, code, problem.example_detail, **problem.example_extra
    )


def problem_response(*codes: str, description: str = "") -> OpenApiResponse:
    """For ``extend_schema(responses={409: problem_response("author_has_books")})``:
    a problem response naming its codes (the schema fills in body and examples)."""
    named = ", ".join(f"`{code}`" for code in codes)
    return OpenApiResponse(description=f"{named}: {description}".rstrip(": "))


# Text fields refuse NUL characters (DRF's CharField; PostgreSQL cannot store
# them), and those that may not be blank need more than whitespace, which DRF
# trims: what str.strip() removes, spelled out (JSON Schema's \s is not quite
# Python's).
_TRIMMED = (
    r"\t\n\x0b\x0c\r\x1c-\x1f\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029"
    r"\u202f\u205f\u3000"
)
NO_NUL_PATTERN = r"^[^\x00]*$"
NOT_BLANK_PATTERN = rf"^[^\x00]*[^\x00{_TRIMMED}][^\x00]*$"


def _text_rules(field_schema: dict) -> None:
    """State those rules on a free-text input field (or a list's items)."""
    if field_schema.get("type") == "array":
        _text_rules(field_schema.get("items", {}))
    elif field_schema.get("type") == "string" and not (
        {"pattern", "enum", "format"} & field_schema.keys()
    ):
        blank_allowed = field_schema.get("minLength", 0) == 0
        field_schema["pattern"] = NO_NUL_PATTERN if blank_allowed else NOT_BLANK_PATTERN


class GatehouseAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema plus what every Gatehouse view shares.

    Tags and operation ids are taken relative to the API's own base path and
    prefixed with its slug, so they are the same in the API's schema and in
    the combined one.
    """

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        api = _api_for_path(path)
        if api is not None:
            path_prefix = "^" + re.escape(api.base_path.rstrip("/"))
        self.api = api
        operation = super().get_operation(
            path, path_regex, path_prefix, method, registry
        )
        if operation is None:
            return None
        problems = self._add_problem_responses(operation)
        self._add_header_fields(operation, problems)
        operation["responses"] = dict(sorted(operation["responses"].items()))
        return operation

    def required_scopes(self) -> list[str]:
        """The scopes the view declares for this operation's method."""
        return _required_scopes(self)

    # -- naming ------------------------------------------------------------

    def get_operation_id(self) -> str:
        operation_id = super().get_operation_id()
        return f"{self.api.slug}_{operation_id}" if self.api else operation_id

    def get_tags(self) -> list[str]:
        tags = super().get_tags()
        if self.api and tags:
            return [f"{self.api.slug}: {tags[0]}"]
        return tags

    def get_serializer_name(self, serializer, direction) -> str:
        # BookOutput -> Book, BookInput -> BookRequest (COMPONENT_SPLIT_REQUEST
        # adds the suffix): the roles of our serializers, not the wire names.
        name = super().get_serializer_name(serializer, direction)
        return re.sub(r"(?<=.)(Output|Input)$", "", name)

    def _map_serializer(self, serializer, direction, bypass_extensions=False):
        schema = super()._map_serializer(serializer, direction, bypass_extensions)
        serializer_class = type(force_instance(serializer))
        if issubclass(serializer_class, StrictInputSerializer):
            # It refuses any field it does not declare (400): so does the schema.
            schema["additionalProperties"] = False
            for field_schema in schema.get("properties", {}).values():
                _text_rules(field_schema)
            if serializer_class.__doc__ is None:
                # Not StrictInputSerializer's docstring, which is about our code.
                schema.pop("description", None)
        return schema

    def _get_request_for_media_type(self, serializer, direction="request"):
        serializer = force_instance(serializer)
        if self.method == "PATCH" and getattr(serializer, "whole_on_patch", False):
            # drf-spectacular documents every PATCH body as partial (all
            # fields optional); this one's view reads it whole.
            self.method = "PUT"
            try:
                return super()._get_request_for_media_type(serializer, direction)
            finally:
                self.method = "PATCH"
        return super()._get_request_for_media_type(serializer, direction)

    # -- description: the scopes, in words -----------------------------------

    def get_description(self) -> str:
        description = super().get_description() or ""
        scopes = self.required_scopes()
        if not scopes:
            if isinstance(self.view, (ServedApiView, ManageApiView)):
                error(
                    f"{type(self.view).__name__} declares no scope for "
                    f"{self.method}: every operation of an API needs one."
                )
            return description
        plural = "s" if len(scopes) > 1 else ""
        line = f"**Requires scope{plural} {', '.join(scopes)}.**"
        if any(
            isinstance(a, SessionAuthentication) for a in self.view.get_authenticators()
        ):
            line = (
                f"**Requires scope{plural} {', '.join(scopes)}** with an OAuth "
                "access token; signed in to the portal, none."
            )
        return f"{description}\n\n{line}" if description else line

    # -- security: each credential once ------------------------------------

    def get_auth(self) -> list[dict]:
        # Keys and tokens both name the Bearer scheme.
        requirements: list[dict] = []
        for requirement in super().get_auth():
            if requirement not in requirements:
                requirements.append(requirement)
        return requirements

    # -- bodies of views that declare no serializer ---------------------------

    def _declares_serializer(self) -> bool:
        view_class = type(self.view)
        return (
            getattr(view_class, "serializer_class", None) is not None
            or view_class.get_serializer_class
            is not GenericAPIView.get_serializer_class
            or view_class.get_serializer is not GenericAPIView.get_serializer
        )

    def get_request_serializer(self):
        # Our views parse with their own input serializers; without an
        # extend_schema naming one, the body is not described (rather than
        # guessed, with a warning, from a serializer_class they do not have).
        return super().get_request_serializer() if self._declares_serializer() else None

    def get_response_serializers(self):
        if self._declares_serializer():
            return super().get_response_serializers()
        return OpenApiTypes.OBJECT

    # -- problem responses ------------------------------------------------------

    def problem_codes(self, operation: dict) -> dict[int, list[str]]:
        """The problem codes this operation can answer with, by status.

        Derived from what the view declares: its authentication classes,
        permission and throttle classes, and whether it takes a body, query
        parameters or path parameters.
        """
        view = self.view
        authenticators = [type(a) for a in view.get_authenticators()]
        permissions = [type(p) for p in view.get_permissions()]
        parameters = operation.get("parameters", [])
        has_body = "requestBody" in operation
        has_query = any(p.get("in") == "query" for p in parameters)
        has_path = any(p.get("in") == "path" for p in parameters)

        def uses(classes, base) -> bool:
            return any(issubclass(c, base) for c in classes)

        codes: dict[int, list[str]] = {}
        if has_body or has_query:
            codes[400] = ["invalid"]
            if has_query and isinstance(view, ManageApiView):
                codes[400].append("invalid_query")
            if has_body:
                codes[400].append("malformed_body")
        if authenticators:
            codes[401] = ["not_authenticated", "invalid_token"]
            if uses(authenticators, ApiKeyAuthentication):
                codes[401] += ["key_revoked", "key_expired"]
            if uses(authenticators, OAuthTokenAuthentication):
                codes[401].append("token_expired")
            codes[401].append("credential_suspended")
        forbidden: list[str] = []
        if uses(permissions, HasScopes) or uses(permissions, ManageScope):
            forbidden.append("insufficient_scope")
        if uses(permissions, HasScopes):
            forbidden += ["no_subscription", "subscription_pending"]
        if uses(authenticators, ApiKeyAuthentication):
            forbidden.append("ip_not_allowed")
        if uses(authenticators, SessionAuthentication) and self.method not in (
            "GET",
            "HEAD",
            "OPTIONS",
        ):
            forbidden.append("forbidden")
        if forbidden:
            codes[403] = forbidden
        paginated = self.method == "GET" and any(
            p.get("name") == "page" and p.get("in") == "query" for p in parameters
        )
        if has_path or paginated:
            codes[404] = ["not_found"]
        if has_body:
            codes[413] = ["body_too_large"]
            codes[415] = ["unsupported_media_type"]
        if uses(view.throttle_classes, ManageApiThrottle):
            # Rate tiers only, and it lets calls through when Redis is down.
            codes[429] = ["rate_limited"]
        elif uses(view.throttle_classes, PlanThrottle):
            codes[429] = ["rate_limited", "quota_exceeded"]
            codes[503] = ["limits_unavailable"]
        return codes

    def _add_problem_responses(self, operation: dict) -> dict[int, list[str]]:
        """Describe every error response as a problem; returns the codes."""
        responses = operation["responses"]
        by_status = self.problem_codes(operation)
        for status_code in list(responses):
            if status_code.isdigit() and int(status_code) >= 400:
                by_status.setdefault(int(status_code), [])
        for status_code, codes in by_status.items():
            response = responses.setdefault(str(status_code), {"description": ""})
            described = response.get("description", "")
            # Codes a view names itself (``problem_response``, or "`code`: ..."
            # in a description) come first.
            named = [c for c in _CODE_IN_TEXT.findall(described) if c in PROBLEM_TYPES]
            codes = by_status[status_code] = list(dict.fromkeys([*named, *codes]))
            links = ", ".join(f"[`{c}`](/docs/problems/{c})" for c in codes)
            if not described:
                described = _STATUS_DESCRIPTIONS.get(status_code, "Error.")
            if links:
                described = f"{described}\n\nProblem codes: {links}."
            response["description"] = described
            # Every error of these views is problem+json, whatever the view
            # declared for it.
            media = {"schema": PROBLEM_REF}
            examples = {
                c: {"$ref": f"#/components/examples/{c}"}
                for c in codes
                if c in PROBLEM_TYPES
            }
            if examples:
                media["examples"] = examples
            response["content"] = {PROBLEM_CONTENT_TYPE: media}
        return by_status

    # -- header fields ------------------------------------------------------------

    def _add_header_fields(
        self, operation: dict, problems: dict[int, list[str]]
    ) -> None:
        view = self.view
        served = isinstance(view, ServedApiView)
        counted = any(issubclass(t, PlanThrottle) for t in view.throttle_classes)
        for status_code, response in operation["responses"].items():
            status = int(status_code) if status_code.isdigit() else 0
            names: list[str] = []
            if served:
                names.append("Request-Id")
            if counted and (200 <= status < 300 or status in _COUNTED_ERRORS):
                names += ["RateLimit-Policy", "RateLimit"]
            if status == 429:
                names.append("Retry-After")
            if status == 401 or "insufficient_scope" in problems.get(status, ()):
                names.append("WWW-Authenticate")
            if names:
                headers = response.setdefault("headers", {})
                for name in names:
                    headers.setdefault(name, {"$ref": f"#/components/headers/{name}"})


# --- generation, one API at a time --------------------------------------------


class ApiEndpointEnumerator(EndpointEnumerator):
    """drf-spectacular's enumerator, keeping the endpoints under one base path."""

    def __init__(self, *args, path_prefix: str = "/api/", **kwargs):
        super().__init__(*args, **kwargs)
        self.path_prefix = path_prefix

    def should_include_endpoint(self, path, callback) -> bool:
        return path.startswith(self.path_prefix) and super().should_include_endpoint(
            path, callback
        )


class GatehouseSchemaGenerator(SchemaGenerator):
    """The schema of one documented API (``api``), or of all of them."""

    def __init__(self, *args, api: DocumentedApi = ALL_APIS, **kwargs):
        super().__init__(*args, **kwargs)
        self.api = api
        self.endpoint_inspector_cls = partial(
            ApiEndpointEnumerator, path_prefix=api.base_path
        )


def _origin(request: HttpRequest | None) -> str:
    if request is not None:
        return request.build_absolute_uri("/").rstrip("/")
    return getattr(settings, "PUBLIC_URL", "").rstrip("/")


_KEYS_OR_TOKENS = (
    "Send an API key of your app as `X-API-Key: <key>` or "
    "`Authorization: Bearer <key>`, or an OAuth 2.0 access token as "
    "`Authorization: Bearer <token>`. Each operation names the scopes it needs; "
    "the app must hold an active subscription to the API."
)
_SESSION_OR_OAUTH = (
    "Sign in to the portal, or send an OAuth 2.0 access token of one of your "
    "apps as `Authorization: Bearer <token>`. Each operation names the scope a "
    "token needs."
)


def _info(api: DocumentedApi) -> dict:
    if api is ALL_APIS:
        title = "Gatehouse APIs"
        authentication = [
            f"**Served APIs.** {_KEYS_OR_TOKENS}",
            f"**Management API.** {_SESSION_OR_OAUTH}",
        ]
    else:
        title = f"{api.name} API"
        authentication = [
            f"**Authentication.** "
            f"{_KEYS_OR_TOKENS if api.served else _SESSION_OR_OAUTH}"
        ]
    parts = [api.description, *authentication]
    parts.append(
        "**Errors** are RFC 9457 `application/problem+json` with a stable "
        "`code`; each `type` is a page under `/docs/problems/` saying what it "
        "means and what to do."
    )
    if api.served or api is ALL_APIS:
        parts.append(
            "**Limits.** Calls to a served API are held to the rate tiers and "
            "monthly quota of the app's plan. Every counted response carries "
            "`RateLimit-Policy` and `RateLimit` "
            "(draft-ietf-httpapi-ratelimit-headers-10) and a `Request-Id`; a "
            "refused call is a 429 with `Retry-After`."
        )
    return {"title": title, "version": api.version, "description": "\n\n".join(parts)}


# OpenAPI links of the management API: from what an operation creates to the
# operations on it (Swagger UI shows them; schemathesis' stateful phase
# follows them). By operation id: {(operation, status): {link: (target,
# {target parameter: runtime expression})}}.
_APP = {"app_id": "$request.path.app_id"}
_ENDPOINT = {"team_id": "$request.path.team_id", "endpoint_id": "$response.body#/id"}
_KEY = {**_APP, "lookup_id": "$response.body#/lookup_id"}
MANAGE_LINKS: dict[tuple[str, str], dict[str, tuple[str, dict[str, str]]]] = {
    ("manage_apps_create", "201"): {
        "ReadApp": ("manage_apps_retrieve", {"app_id": "$response.body#/id"}),
        "ChangeApp": ("manage_apps_partial_update", {"app_id": "$response.body#/id"}),
        "IssueKey": ("manage_apps_keys_create", {"app_id": "$response.body#/id"}),
        "ConfigureOAuthClient": (
            "manage_apps_oauth_client_update",
            {"app_id": "$response.body#/id"},
        ),
        "Subscribe": (
            "manage_apps_subscriptions_create",
            {"app_id": "$response.body#/id"},
        ),
    },
    ("manage_apps_keys_create", "201"): {
        "ReadKey": ("manage_apps_keys_retrieve", _KEY),
        "ChangeKey": ("manage_apps_keys_partial_update", _KEY),
        "RotateKey": ("manage_apps_keys_rotate_create", _KEY),
        "RevokeKey": ("manage_apps_keys_revoke_create", _KEY),
    },
    ("manage_apps_keys_rotate_create", "201"): {
        "ReadNewKey": ("manage_apps_keys_retrieve", _KEY),
        "RevokeNewKey": ("manage_apps_keys_revoke_create", _KEY),
    },
    ("manage_apps_subscriptions_create", "201"): {
        "ReadSubscription": (
            "manage_apps_subscriptions_retrieve",
            {**_APP, "subscription_id": "$response.body#/id"},
        ),
        "CancelSubscription": (
            "manage_apps_subscriptions_cancel_create",
            {**_APP, "subscription_id": "$response.body#/id"},
        ),
    },
    ("manage_teams_webhooks_create", "201"): {
        "ReadEndpoint": ("manage_teams_webhooks_retrieve", _ENDPOINT),
        "ChangeEndpoint": ("manage_teams_webhooks_partial_update", _ENDPOINT),
        "TestEndpoint": ("manage_teams_webhooks_test_create", _ENDPOINT),
        "DeleteEndpoint": ("manage_teams_webhooks_destroy", _ENDPOINT),
    },
}


def _add_links(paths: dict) -> None:
    """Put MANAGE_LINKS on the responses of the operations in ``paths``,
    for the targets in ``paths`` too."""
    operations = {
        operation["operationId"]: operation
        for methods in paths.values()
        for operation in methods.values()
    }
    for (source, status), links in MANAGE_LINKS.items():
        response = operations.get(source, {}).get("responses", {}).get(status)
        if response is None:
            continue
        response["links"] = {
            name: {"operationId": target, "parameters": parameters}
            for name, (target, parameters) in links.items()
            if target in operations
        }


def postprocess_schema(result, generator, request, public):
    """drf-spectacular post-processing hook: the shared components, the API's
    info, and the OAuth endpoints and scopes as seen from this origin."""
    api = getattr(generator, "api", ALL_APIS)
    origin = _origin(request)
    result["info"] = _info(api)
    if origin:
        result["servers"] = [{"url": origin}]
        result["externalDocs"] = {
            "description": "Gatehouse developer docs",
            "url": f"{origin}/docs/",
        }
    components = result.setdefault("components", {})
    components.setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    components["headers"] = dict(HEADER_FIELDS)
    components["examples"] = {
        code: {"summary": problem.title, "value": problem_example(code)}
        for code, problem in PROBLEM_TYPES.items()
    }
    schemes = components.setdefault("securitySchemes", {})
    if _requires(result["paths"], SCHEME_BEARER):
        schemes[SCHEME_BEARER] = BEARER_DEFINITION
    _narrow_oauth(schemes, result["paths"], origin)
    _add_links(result["paths"])
    return result


def _requires(paths: dict, scheme: str) -> bool:
    return any(
        scheme in requirement
        for operations in paths.values()
        for operation in operations.values()
        for requirement in operation.get("security", [])
    )


_URL_FIELDS = ("authorizationUrl", "tokenUrl", "refreshUrl", "deviceAuthorizationUrl")


def _narrow_oauth(schemes: dict, paths: dict, origin: str) -> None:
    """Offer the scopes this schema's operations use, at absolute URLs."""
    oauth = schemes.get(SCHEME_OAUTH2)
    if not oauth:
        return
    used: list[str] = []
    for operations in paths.values():
        for operation in operations.values():
            for requirement in operation.get("security", []):
                used += requirement.get(SCHEME_OAUTH2, [])
    known = all_scopes()
    scopes = {scope: known.get(scope, scope) for scope in sorted(set(used))}
    flows = {name: dict(flow) for name, flow in oauth["flows"].items()}
    device = dict(oauth["x-device-authorization"])
    for flow in (*flows.values(), device):
        flow["scopes"] = scopes
        for key in _URL_FIELDS:
            if key in flow and flow[key].startswith("/"):
                flow[key] = origin + flow[key]
    schemes[SCHEME_OAUTH2] = {**oauth, "flows": flows, "x-device-authorization": device}


# --- the views ----------------------------------------------------------------


def schema_view(api: DocumentedApi = ALL_APIS):
    """The view serving ``api``'s schema: YAML by default; JSON for
    ``Accept: application/json`` (or ``?format=json``)."""
    # Imported here: drf_spectacular.views reads DEFAULT_GENERATOR_CLASS, this
    # module's GatehouseSchemaGenerator, when it is imported.
    from drf_spectacular.views import SpectacularAPIView

    return SpectacularAPIView.as_view(
        generator_class=partial(GatehouseSchemaGenerator, api=api)
    )


# --- the operations, for pages that point at a real endpoint ------------------


@dataclass(frozen=True)
class Operation:
    path: str  # with {parameters}
    method: str
    scopes: tuple[str, ...]


def api_operations(api: DocumentedApi) -> list[Operation]:
    """``api``'s operations, in the order of the URL configuration (without
    generating a schema)."""
    enumerator = ApiEndpointEnumerator(path_prefix=api.base_path)

    def walk(patterns, prefix: str):
        for pattern in patterns:
            regex = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, regex)
                continue
            path = enumerator.get_path_from_regex(regex)
            callback = pattern.callback
            if not enumerator.should_include_endpoint(path, callback):
                continue
            view = callback.cls()
            scopes_for = getattr(view, "scopes_for_method", None)
            for method in enumerator.get_allowed_methods(callback):
                scopes = tuple(scopes_for(method)) if scopes_for else ()
                yield Operation(path=path, method=method, scopes=scopes)

    return list(walk(enumerator.patterns, ""))


# --- for views' extend_schema -------------------------------------------------

_FROM_ONE = {"type": "integer", "minimum": 1, "maximum": PAGE_NUMBER_MAX}
PAGE_PARAMETERS = [
    OpenApiParameter(
        "page",
        _FROM_ONE,
        description="The page, from 1; past the last page (or not a number): 404.",
    ),
    OpenApiParameter(
        "page_size",
        _FROM_ONE,
        description="Items per page: 20 unless given; more than 100 gives 100.",
    ),
]
