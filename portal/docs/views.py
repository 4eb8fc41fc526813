"""The developer docs pages, readable without signing in.

Each API's reference is rendered from its OpenAPI schema (``apis.schema``) by
Swagger UI or Redoc, both from drf-spectacular-sidecar's static files and
started by our own static scripts, so the pages keep the site's content
security policy: no inline script, no CDN. They never hold a key: "Try it
out" uses one the developer pastes into Swagger UI's Authorize dialog.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache

from csp.constants import NONCE, SELF
from csp.decorators import csp_update
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_safe

from apis.schema import (
    ALL_APIS,
    DocumentedApi,
    Operation,
    api_operations,
    documented_api_get,
    documented_apis,
    problem_example,
)
from portal.catalog.selectors import api_list_public
from portal.docs.problem_types import PROBLEM_TYPES, problem_type_get
from portal.docs.selectors import AppHint, KeyHint, app_hints
from portal.docs.snippets import ANONYMOUS_KEY, FirstCall, one_line


def _api_or_404(api_slug: str) -> DocumentedApi:
    api = documented_api_get(api_slug)
    if api is None:
        raise Http404("No such API.")
    return api


@require_safe
def index(request: HttpRequest) -> HttpResponse:
    catalog = {api.slug: api for api in api_list_public()}
    return render(
        request,
        "docs/index.html",
        {
            "apis": [(api, catalog.get(api.slug)) for api in documented_apis()],
            "all_apis": ALL_APIS,
        },
    )


def _hints_for(api: DocumentedApi, apps: list[AppHint]) -> list[AppHint]:
    """The apps whose keys can call ``api``: subscribed to it, with a key."""
    return [app for app in apps if app.keys and api.slug in app.subscribed_apis]


@require_safe
def reference(request: HttpRequest, api_slug: str) -> HttpResponse:
    """Swagger UI, with "Try it out" against this origin."""
    api = _api_or_404(api_slug)
    apps = _hints_for(api, app_hints(user=request.user)) if api.served else []
    return render(request, "docs/swagger.html", {"api": api, "key_apps": apps})


# Redoc styles itself with styled-components, which inserts <style> elements:
# they carry this response's nonce (passed to Redoc by docs-redoc.js), and its
# search index runs in a worker made from a blob: URL. script-src stays 'self'.
@require_safe
@csp_update({"style-src": [NONCE], "worker-src": [SELF, "blob:"]})
def redoc(request: HttpRequest, api_slug: str) -> HttpResponse:
    api = _api_or_404(api_slug)
    return render(request, "docs/redoc.html", {"api": api})


@require_safe
def problem_list(request: HttpRequest) -> HttpResponse:
    problems = sorted(PROBLEM_TYPES.values(), key=lambda p: (p.status, p.code))
    return render(request, "docs/problems.html", {"problems": problems})


@require_safe
def problem_detail(request: HttpRequest, code: str) -> HttpResponse:
    problem = problem_type_get(code)
    if problem is None:
        raise Http404("No such problem type.")
    body = problem_example(code)
    example = json.dumps(body, indent=2, ensure_ascii=False)
    return render(
        request,
        "docs/problem.html",
        {
            "problem": problem,
            "meaning": _with_code(problem.meaning),
            "what_to_do": _with_code(problem.what_to_do),
            "status_line": f"{problem.status} {body['title']}",
            "example": example,
        },
    )


def _with_code(text: str) -> SafeString:
    """``text`` escaped, its `backticked` parts as <code>."""
    return mark_safe(  # noqa: S308 - escaped first; only <code> is added
        re.sub(r"`([^`]+)`", r"<code>\1</code>", escape(text))
    )


# --- getting started ------------------------------------------------------------


@dataclass(frozen=True)
class KeyChoice:
    """A key of one of the developer's apps, and an endpoint it can call."""

    app: AppHint
    key: KeyHint
    api: DocumentedApi
    operation: Operation


@cache
def _simple_reads(api_slug: str) -> tuple[Operation, ...]:
    # The URL configuration does not change while the process runs.
    api = documented_api_get(api_slug)
    return tuple(
        op
        for op in api_operations(api)
        if op.method == "GET" and "{" not in op.path and op.scopes
    )


def _key_choices(apps: list[AppHint]) -> list[KeyChoice]:
    choices = []
    for app in apps:
        for key in app.keys:
            for slug in app.subscribed_apis:
                api = documented_api_get(slug)
                if api is None or not api.served:
                    continue
                operation = next(
                    (
                        op
                        for op in _simple_reads(slug)
                        if set(op.scopes) <= set(key.scopes)
                    ),
                    None,
                )
                if operation is not None:
                    choices.append(KeyChoice(app, key, api, operation))
                    break
    return choices


@require_safe
def getting_started(request: HttpRequest) -> HttpResponse:
    """Create an app, get a key, make a first call: the snippets use the
    signed-in developer's own app and key (its prefix: never the secret)."""
    origin = request.build_absolute_uri("/").rstrip("/")
    apps = app_hints(user=request.user)
    choices = _key_choices(apps)
    wanted = request.GET.get("key", "")
    choice = next((c for c in choices if c.key.lookup_id == wanted), None) or (
        choices[0] if choices else None
    )
    if choice is not None:
        first_call = FirstCall(
            url=origin + choice.operation.path,
            key_placeholder=choice.key.prefix,
            about=one_line(
                f"{choice.app.name} ({choice.app.qualified_slug}), key "
                f'"{choice.key.name}": put its full key, shown once when it was '
                "created, in place of the prefix below."
            ),
        )
    else:
        served = next((api for api in documented_apis() if api.served), None)
        reads = _simple_reads(served.slug) if served else ()
        path = reads[0].path if reads else "/api/"
        first_call = FirstCall(
            url=origin + path,
            key_placeholder=ANONYMOUS_KEY,
            about=f"Replace {ANONYMOUS_KEY} with your app's API key.",
        )
    return render(
        request,
        "docs/getting_started.html",
        {
            "apps": apps,
            "choices": choices,
            "choice": choice,
            "snippets": [
                ("curl", "curl", first_call.curl),
                ("Python (requests)", "python", first_call.python),
                ("JavaScript (fetch)", "javascript", first_call.javascript),
            ],
            "served_apis": [api for api in documented_apis() if api.served],
        },
    )
