"""Every problem ``type`` the APIs return: what it means and what to do.

An error body's ``type`` is ``/docs/problems/<code>`` (``apis.problems``); the
page there is rendered from this catalogue, and the OpenAPI schemas take
their error examples from it. tests/apis/test_schema.py fails when code under
apis/ (or the services and limits it calls) raises a code missing here.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ProblemType:
    code: str
    # Where a code is returned with more than one status (a revoked key is a
    # 401 on a served call and a 409 when the management API changes it), the
    # first is the usual one.
    statuses: tuple[int, ...]
    title: str
    meaning: str
    what_to_do: str
    example_detail: str
    # Extension members the body carries, with example values.
    example_extra: dict = field(default_factory=dict)

    @property
    def status(self) -> int:
        return self.statuses[0]


def _types(*types: ProblemType) -> dict[str, ProblemType]:
    return {t.code: t for t in types}


PROBLEM_TYPES: dict[str, ProblemType] = _types(
    # --- authentication (401) ------------------------------------------------
    ProblemType(
        "not_authenticated",
        (401,),
        "No API key or access token",
        "The request carried no credential: neither an `X-API-Key` header nor "
        "an `Authorization: Bearer` header.",
        "Send your app's API key as `X-API-Key: <key>` or "
        "`Authorization: Bearer <key>`, or an OAuth access token as "
        "`Authorization: Bearer <token>`. The management API also accepts the "
        "portal session of a signed-in developer.",
        "Authentication credentials were not provided.",
    ),
    ProblemType(
        "invalid_token",
        (401,),
        "The API key or access token is not valid",
        "The key or token is malformed, truncated, fails its checksum, belongs "
        "to the other environment (`gk_live_` on a test portal or the "
        "reverse), or is unknown. The response's `WWW-Authenticate` header "
        'says `error="invalid_token"`.',
        "Check that the whole key was copied (it is shown once, when it is "
        "created). A lost key cannot be recovered: revoke it and create a new "
        "one on the app's page. For OAuth, request a new access token.",
        "The API key is not valid.",
    ),
    ProblemType(
        "key_revoked",
        (401, 409),
        "The API key was revoked",
        "The key was revoked by a member of the app's team or by staff. On a "
        "served call it is a 401; asking the management API to change a "
        "revoked key is a 409.",
        "Use another active key of the app, or create a new one on the app's "
        "page in the portal.",
        "The API key has been revoked.",
    ),
    ProblemType(
        "key_expired",
        (401, 409),
        "The API key has expired",
        "The key reached its expiry date, or it was rotated and the grace "
        "period of the old key has ended. On a served call it is a 401; asking "
        "the management API to change an expired key is a 409.",
        "Switch to the key that replaced it, or create a new key.",
        "The API key has expired.",
    ),
    ProblemType(
        "token_expired",
        (401,),
        "The access token has expired",
        "OAuth access tokens live 15 minutes.",
        "Use your refresh token at `/o/token/` (`grant_type=refresh_token`) "
        "for a new access token, or request a new one with client "
        "credentials.",
        "The access token has expired.",
    ),
    ProblemType(
        "credential_suspended",
        (401,),
        "The app, its team or its owner is suspended",
        "Staff suspended the app, its team or the user who created the key, "
        "so none of its credentials work.",
        "Contact the portal's staff.",
        "The app, its team or the key's owner is suspended.",
    ),
    # --- authorisation (403) -------------------------------------------------
    ProblemType(
        "insufficient_scope",
        (403,),
        "A scope the endpoint needs is missing",
        "The key or token lacks a scope this operation requires (each "
        "operation in the API reference names its scopes), or the app's plan "
        "does not grant it. `missing_scopes` lists them, and "
        '`WWW-Authenticate` says `error="insufficient_scope"` with the '
        "`scope`.",
        "Give the key the scope on its page in the portal (within what the "
        "app's plan grants), move the app to a plan that grants it, or request "
        "an OAuth token with that scope.",
        "This call needs the scope(s) books:write.",
        {"missing_scopes": ["books:write"]},
    ),
    ProblemType(
        "no_subscription",
        (403,),
        "The app is not subscribed to this API",
        "Calls to an API are served only under an active subscription of the "
        "app to one of its plans.",
        "Subscribe the app to a plan on its page in the portal (see the API's "
        "plans in the catalog).",
        "The app has no active subscription to the books API. Subscribe it to "
        "a plan in the developer portal.",
    ),
    ProblemType(
        "subscription_pending",
        (403,),
        "The subscription waits for approval",
        "The plan needs staff approval and staff have not decided yet.",
        "Wait for the email telling you the decision, or choose a plan that "
        "needs no approval meanwhile.",
        "The app's subscription to the books API is waiting for staff approval.",
    ),
    ProblemType(
        "ip_not_allowed",
        (403,),
        "The key may not be used from this address",
        "The key has allowed IP ranges and the call came from outside them.",
        "Call from an allowed address, or change the key's allowed ranges on "
        "its page in the portal.",
        "This key may not be used from your IP address.",
    ),
    ProblemType(
        "forbidden",
        (403,),
        "Not allowed",
        "The credential may not do this. From a signed-in portal session, an "
        "unsafe method without Django's CSRF token is refused this way too.",
        "Send the `X-CSRFToken` header with the session's CSRF token, or call "
        "with an OAuth access token instead of the session.",
        "You do not have permission to perform this action.",
    ),
    # --- limits (429, 503) ---------------------------------------------------
    ProblemType(
        "rate_limited",
        (429,),
        "A rate limit was reached",
        "One of the rate tiers of the app's plan (or of the key) is used up "
        "for its window. `limit` names the tier, `allowed` its size, `count` "
        "the calls counted and `reset` the seconds until the window ends; the "
        "`Retry-After` header says the same. A refused call consumes nothing.",
        "Wait `Retry-After` seconds, then retry; spread calls out, or move to "
        "a plan with higher limits. The `RateLimit` header on every response "
        "shows what remains.",
        "Rate limit 10/s reached; try again in 1 s.",
        {"limit": "10/s", "allowed": 10, "count": 10, "reset": 1},
    ),
    ProblemType(
        "quota_exceeded",
        (429,),
        "The monthly quota is used up",
        "The subscription's monthly quota (calendar month, UTC) is used up. "
        "The team's owners were emailed at 80% and 100%.",
        "Wait until the 1st of next month (`Retry-After`, `reset`), or move to "
        "a plan with a larger quota.",
        "The monthly quota of 100000 calls is used up; it resets in 86400 s.",
        {"limit": "quota", "allowed": 100000, "count": 100000, "reset": 86400},
    ),
    ProblemType(
        "limits_unavailable",
        (503,),
        "Limits cannot be checked right now",
        "The store that counts calls is unreachable and this portal is "
        "configured to refuse calls it cannot count.",
        "Retry shortly, with backoff.",
        "Rate limits cannot be checked right now; try again shortly.",
    ),
    ProblemType(
        "service_unavailable",
        (503,),
        "The service is temporarily unavailable",
        "The portal's database cannot be reached for a moment (a restart, a "
        "failover, a network cut). The response carries `Retry-After`.",
        "Retry after the number of seconds in `Retry-After`, with backoff. A "
        "read can simply be repeated; before repeating a create, check whether "
        "the first attempt was saved (a connection lost while committing "
        "leaves that unknown).",
        "The service is temporarily unavailable; try again shortly.",
    ),
    # --- the request itself (400, 404, 405, 406, 409, 415) ----------------------
    ProblemType(
        "invalid",
        (400,),
        "Invalid fields",
        "Fields of the body (or query parameters) are invalid, missing or "
        "unknown. `errors` maps each field to its messages.",
        "Fix the fields named in `errors`; the API reference lists each "
        "field's type and limits. Unknown fields are refused, not ignored, so "
        "check for typos.",
        "The request has invalid fields; see errors.",
        {"errors": {"year": ["Ensure this value is less than or equal to 2100."]}},
    ),
    ProblemType(
        "invalid_query",
        (400,),
        "Invalid query parameters",
        "A query parameter is invalid or unknown. `errors` names each.",
        "Fix the parameters named in `errors`.",
        "The request has invalid fields; see errors.",
        {"errors": {"range": ["Must be one of 1h, 24h, 7d, 30d."]}},
    ),
    ProblemType(
        "malformed_body",
        (400,),
        "The body is not valid JSON",
        "The request body could not be parsed as JSON.",
        "Send a JSON body with `Content-Type: application/json`.",
        "JSON parse error - Expecting value: line 1 column 1 (char 0)",
    ),
    ProblemType(
        "not_found",
        (404,),
        "Not found",
        "No such endpoint, object or page. An object that belongs to another "
        "team is not found either.",
        "Check the path and the id; list the collection to find ids; a page "
        "number past the last page is not found too.",
        "Not found.",
    ),
    ProblemType(
        "method_not_allowed",
        (405,),
        "Method not allowed",
        "The endpoint exists but does not take this HTTP method.",
        "Use one of the methods the API reference lists for the path (the "
        "`Allow` header names them).",
        'Method "PUT" not allowed.',
    ),
    ProblemType(
        "not_acceptable",
        (406,),
        "Not acceptable",
        "The `Accept` header asks for a format the endpoint cannot produce.",
        "Accept `application/json` (errors come as `application/problem+json`).",
        "Could not satisfy the request Accept header.",
    ),
    ProblemType(
        "unsupported_media_type",
        (415,),
        "Unsupported media type",
        "The body was sent with a `Content-Type` other than JSON.",
        "Send `Content-Type: application/json`.",
        'Unsupported media type "text/plain" in request.',
    ),
    ProblemType(
        "body_too_large",
        (413,),
        "The body is too large",
        "The request body is larger than the portal accepts (2.5 MB unless "
        "its operators changed `DATA_UPLOAD_MAX_MEMORY_SIZE`). Nothing was "
        "read past the limit and nothing changed.",
        "Send a smaller body; no operation needs one anywhere near this size.",
        "The request body is over the limit of 2621440 bytes.",
    ),
    ProblemType(
        "conflict",
        (409,),
        "Conflict",
        "The change conflicts with the current state of the object.",
        "Read the object again and retry with what it is now.",
        "Conflict.",
    ),
    ProblemType(
        "author_has_books",
        (409,),
        "The author still has books",
        "An author is deleted only once no book names them.",
        "Delete the author's books, or give them another author, first.",
        "Delete or reassign this author's books first.",
    ),
    ProblemType(
        "error",
        (500,),
        "Unexpected error",
        "An error without a more specific code.",
        "Retry; if it persists, contact the portal's staff with the "
        "`Request-Id` of the response.",
        "A server error occurred.",
    ),
    # --- the management API's own rules ---------------------------------------
    ProblemType(
        "slug_taken",
        (409,),
        "The address is taken",
        "Another app of the team, or another team, already has this slug (the "
        "address in its URLs).",
        "Choose another name or slug.",
        "The team already has an app with this address.",
    ),
    ProblemType(
        "slug_reserved",
        (400,),
        "The address is reserved",
        "The portal uses this slug for a page of its own.",
        "Choose another name or slug.",
        "This address is reserved; choose another.",
    ),
    ProblemType(
        "email_taken",
        (409,),
        "The email address is taken",
        "An account with this email address exists already.",
        "Log in with it, or reset its password.",
        "An account with this email address already exists.",
    ),
    ProblemType(
        "unknown_user",
        (400,),
        "No such user",
        "No account has this email address, so it cannot join the team.",
        "Ask them to sign up first.",
        "No account uses this email address.",
    ),
    ProblemType(
        "last_owner",
        (409,),
        "A team keeps an owner",
        "The change would leave the team without an owner.",
        "Make another member an owner first.",
        "A team needs at least one owner.",
    ),
    ProblemType(
        "scope_not_granted",
        (400,),
        "Scope not granted to the app",
        "A key may only carry scopes the app's active subscriptions grant.",
        "Subscribe the app to a plan that grants the scope, or leave it out.",
        "The app's plans do not grant books:write.",
    ),
    ProblemType(
        "invalid_ip_range",
        (400,),
        "Invalid IP range",
        "An allowed IP range is not an IPv4 or IPv6 address or CIDR range.",
        "Give ranges such as `203.0.113.0/24` or `2001:db8::/32`.",
        "Not an IP address or range: 300.1.1.1.",
    ),
    ProblemType(
        "invalid_rate",
        (400,),
        "Invalid rate",
        "A rate tier is not in `count/period` form.",
        "Give tiers such as `10/s`, `600/m` or `1000/h`.",
        "Give a rate such as 10/s or 1000/h.",
    ),
    ProblemType(
        "app_suspended",
        (409,),
        "The app or its team is suspended",
        "Staff suspended the app or its team: every key and token it had was "
        "revoked, and it cannot get new ones until staff reactivate it.",
        "Contact the platform's staff. After reactivation, create new keys.",
        "The app or its team is suspended: it cannot get new keys.",
    ),
    ProblemType(
        "already_suspended",
        (409,),
        "Already suspended",
        "A staff action asked to suspend a user or team that already is.",
        "Nothing to do; reactivate it first if that was the intent.",
        "This team is already suspended.",
    ),
    ProblemType(
        "not_suspended",
        (409,),
        "Not suspended",
        "A staff action asked to reactivate a user or team that is active.",
        "Nothing to do.",
        "This team is not suspended.",
    ),
    ProblemType(
        "self",
        (403,),
        "Not on your own account",
        "Staff cannot suspend their own account.",
        "Ask another staff member.",
        "You cannot suspend yourself.",
    ),
    ProblemType(
        "superuser_protected",
        (403,),
        "Only a superuser may do this to a superuser",
        "A staff member who is not a superuser tried to suspend or change a superuser.",
        "Ask a superuser.",
        "Only a superuser can suspend a superuser.",
    ),
    ProblemType(
        "already_subscribed",
        (409,),
        "Already subscribed",
        "The app is already on this plan, or has a live subscription to the "
        "API (an app holds at most one per API).",
        "Change the plan of the existing subscription instead.",
        "The app is already on the Starter plan.",
    ),
    ProblemType(
        "not_pending",
        (409,),
        "Nothing waits for approval",
        "The subscription has no plan change waiting for a decision.",
        "Read the subscription again: it was decided meanwhile.",
        "Nothing is waiting for approval here.",
    ),
    ProblemType(
        "not_live",
        (409,),
        "The subscription has ended",
        "The subscription was cancelled or rejected.",
        "Subscribe the app again.",
        "This subscription has already ended.",
    ),
    ProblemType(
        "invalid_grant",
        (400,),
        "Unknown grant",
        "The OAuth client's grant is not one the portal offers.",
        "Choose `authorization-code`, `client-credentials` or `device`.",
        "Choose one of authorization-code, client-credentials, device.",
    ),
    ProblemType(
        "public_client_credentials",
        (400,),
        "Public clients cannot use client credentials",
        "The client-credentials grant needs a client secret, which a public "
        "client cannot keep.",
        "Make the client confidential, or use the authorization code or device grant.",
        "A public client cannot use the client-credentials grant.",
    ),
    ProblemType(
        "redirect_uri_required",
        (400,),
        "A redirect URI is required",
        "The authorization-code grant needs at least one redirect URI.",
        "Give the exact https URI (or http loopback URI for native apps) your "
        "app receives codes at.",
        "Give at least one redirect URI.",
    ),
    ProblemType(
        "invalid_redirect_uri",
        (400,),
        "Invalid redirect URI",
        "Redirect URIs must be https, or http on a loopback address "
        "(127.0.0.1, [::1], localhost) for native apps, without wildcards or "
        "fragments.",
        "Fix the URI.",
        "Use https (http only for 127.0.0.1, [::1] or localhost).",
    ),
    ProblemType(
        "not_confidential",
        (409,),
        "The client has no secret",
        "Only a confidential OAuth client has a secret to rotate.",
        "Nothing to rotate for a public client.",
        "This client is public: it has no secret.",
    ),
    ProblemType(
        "limit_reached",
        (409,),
        "A per-account cap is reached",
        "The team, app or account already has as many of these as the portal "
        "allows: active keys per app, apps per team, teams a user owns, "
        "webhook endpoints per team, or accounts created from one network in "
        "a day. The detail names the cap.",
        "Revoke or remove one you no longer use and try again, or ask the "
        "portal's staff whether the cap can be raised.",
        "An app can have at most 50 active keys: revoke one first.",
    ),
)


def problem_type_get(code: str) -> ProblemType | None:
    return PROBLEM_TYPES.get(code)
